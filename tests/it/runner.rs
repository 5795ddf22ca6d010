//! The sidecar: the loop under paused tokio time on the simulator, policy
//! reload, and the binary's HTTP endpoints scraped over loopback.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use crate::support::assert_contains;
use chrono::{DateTime, TimeDelta, Utc};
use kinesis_autoscaler::apply::shutdown::{self, ShutdownTrigger};
use kinesis_autoscaler::apply::tags;
use kinesis_autoscaler::apply::{Event, Executor, ExecutorConfig};
use kinesis_autoscaler::daemon::status::Status;
use kinesis_autoscaler::daemon::watch_policy;
use kinesis_autoscaler::model::StreamMode;
use kinesis_autoscaler::model::uniform_ranges;
use kinesis_autoscaler::observe::TokioClock;
use kinesis_autoscaler::pass::PassReport;
use kinesis_autoscaler::pass::{PolicyHandle, RunEnd, Runner, Schedule};
use kinesis_autoscaler::policy::Policy;
use kinesis_autoscaler::sim::scenario::Scenario;
use kinesis_autoscaler::sim::traffic::{Trace, Traffic};
use kinesis_autoscaler::sim::world::Publishing;
use kinesis_autoscaler::sim::{SimConfig, SimKinesis, SimWorld};

use crate::support::{bin_std, listening, root};

const POLICY: &str = "version: 1\nstreams:\n  - name: s\n";

/// A simulated stream of two shards under a flat load of `shards` shards'
/// worth, spread uniformly.
fn world(clock: TokioClock, load_in_shards: f64) -> SimWorld<TokioClock> {
    let mut text = String::from("timestamp,value\n");
    for i in 0..=300 {
        let t = DateTime::from_timestamp(1_400_000_000 + i * 300, 0).unwrap();
        text.push_str(&format!("{},100\n", t.format("%Y-%m-%d %H:%M:%S")));
    }
    let trace = Trace::parse(&text, Path::new("flat.csv")).unwrap();
    let scenario = Scenario::parse(
        &format!(
            "stream: s\ntrace: flat.csv\npeak: {}KiB/s\nrecord_size: 2KiB\ninitial_shards: 2\nnoise: 0\nburstiness: 0\n",
            (load_in_shards * 1024.0) as u64
        ),
        Path::new("t.yaml"),
    )
    .unwrap();
    let traffic = Traffic::new(&scenario, &trace).unwrap();
    let kinesis = SimKinesis::new(clock, SimConfig::default());
    kinesis.create_stream("s", &uniform_ranges(2), StreamMode::Provisioned);
    SimWorld::new(
        kinesis,
        clock,
        "s",
        clock.now(),
        traffic,
        Publishing::after(Duration::from_secs(120)),
        0.0,
    )
}

use kinesis_autoscaler::observe::Clock;

struct Harness {
    clock: TokioClock,
    world: SimWorld<TokioClock>,
    limiter: kinesis_autoscaler::model::ApiLimiter,
    config: ExecutorConfig,
    status: Status,
    policy: PolicyHandle,
    passes: Mutex<Vec<(DateTime<Utc>, DateTime<Utc>)>>,
    give_up_after: u32,
}

impl Harness {
    fn new(load: f64) -> Self {
        let clock = TokioClock::starting_at("2026-01-01T00:00:00Z".parse().unwrap());
        Harness {
            clock,
            world: world(clock, load),
            limiter: kinesis_autoscaler::model::ApiLimiter::default(),
            config: ExecutorConfig::default(),
            status: Status::new(Duration::from_secs(60)),
            policy: PolicyHandle::new(Policy::parse(POLICY, Path::new("p.yaml")).unwrap()),
            passes: Mutex::new(Vec::new()),
            give_up_after: 0,
        }
    }

    /// Runs the loop (1-minute interval, `jitter`) until `minutes` of
    /// virtual time pass or `stop` is asked for; `on_event` sees the
    /// executor's events.
    async fn run(
        &self,
        minutes: i64,
        jitter: f64,
        stop: &shutdown::Shutdown,
        on_event: &(dyn Fn(Event<'_>) + Send + Sync),
    ) -> u64 {
        self.run_to_end(minutes, jitter, stop, on_event)
            .await
            .passes
    }

    /// [`Harness::run`], saying how the loop ended.
    async fn run_to_end(
        &self,
        minutes: i64,
        jitter: f64,
        stop: &shutdown::Shutdown,
        on_event: &(dyn Fn(Event<'_>) + Send + Sync),
    ) -> RunEnd {
        let executor = Executor::new(&self.world, &self.world, &self.clock, &self.limiter)
            .with_config(self.config.clone())
            .with_shutdown(stop)
            .on_event(on_event);
        let on_pass = |p: &PassReport| {
            self.status.record_pass(p);
            self.passes
                .lock()
                .unwrap()
                .push((p.started_at, p.finished_at))
        };
        let schedule = Schedule {
            interval: Duration::from_secs(60),
            jitter,
        };
        let runner = Runner::new(&executor, &self.world, &self.policy, stop, schedule)
            .until(self.clock.now() + TimeDelta::minutes(minutes))
            .on_pass(&on_pass)
            .give_up_after(self.give_up_after);
        runner.run().await
    }
}

fn quiet(_: Event<'_>) {}

/// A policy that names only a stream that does not exist: every pass fails
/// the same way, and retrying cannot help until someone changes something.
#[tokio::test(start_paused = true)]
async fn passes_that_all_fail_for_good_give_up_with_the_reason() {
    let mut h = Harness::new(0.5);
    h.policy = PolicyHandle::new(
        Policy::parse(
            "version: 1\nstreams:\n  - name: gone\n",
            Path::new("p.yaml"),
        )
        .unwrap(),
    );
    h.give_up_after = 3;
    let (_trigger, stop) = shutdown::channel();
    let end = h.run_to_end(600, 0.0, &stop, &quiet).await;
    assert_eq!(end.passes, 3);
    let why = end.gave_up.expect("gives up");
    assert_contains(&why, "the last 3 passes all failed");
    assert_contains(&why, "stream gone does not exist");
    // With giving up off, a run that ends (a simulation's end) with every
    // pass failed still says so.
    h.give_up_after = 0;
    let end = h.run_to_end(10, 0.0, &stop, &quiet).await;
    assert_eq!(end.passes, 10);
    assert_contains(&end.gave_up.expect("says so"), "all 10 passes failed");
    // One the user stopped (Ctrl-C) after three failed passes did not
    // give up.
    let (trigger, stopped) = shutdown::channel();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(150)).await;
        trigger.request();
    });
    let end = h.run_to_end(10, 0.0, &stopped, &quiet).await;
    assert_eq!(end.passes, 3);
    assert_eq!(end.gave_up, None);
    // A stream that does exist beside it keeps the loop going.
    h.policy = PolicyHandle::new(
        Policy::parse(
            "version: 1\nstreams:\n  - name: gone\n  - name: s\n",
            Path::new("p.yaml"),
        )
        .unwrap(),
    );
    h.give_up_after = 3;
    let end = h.run_to_end(10, 0.0, &stop, &quiet).await;
    assert_eq!((end.passes, end.gave_up), (10, None));
}

/// The sidecar's loop on an On-Demand stream in an Advantage account,
/// under `warm_throughput`: the pass reads its summary and stream-level
/// series (never its shards), plans a raise from the newest minutes, and
/// the executor sets it once; later passes hold it.
#[tokio::test(start_paused = true)]
async fn the_loop_warms_an_on_demand_stream_once_and_then_holds() {
    let mut h = Harness::new(1.6);
    h.policy = PolicyHandle::new(
        Policy::parse(
            "version: 1\nstreams:\n  - name: s\n    forecast: { seasons: [1d] }\n    warm_throughput: { lead: 30m }\n",
            Path::new("p.yaml"),
        )
        .unwrap(),
    );
    // The same stream, On-Demand, in an Advantage account holding 1 MiB/s.
    let kinesis = &h.world.kinesis;
    let ranges = uniform_ranges(2);
    kinesis.create_stream("s", &ranges, StreamMode::OnDemand);
    kinesis.with_advantage("s", 1);
    let (_trigger, stop) = shutdown::channel();
    h.run(20, 0.0, &stop, &quiet).await;
    // 1.6 MiB/s with headroom 1.2: 1.92, so 2 MiB/s, the next power of two.
    assert_eq!(kinesis.calls("UpdateStreamWarmThroughput"), 1);
    let warm = kinesis.stream("s").unwrap().warm.unwrap();
    assert_eq!((warm.target_mib, warm.current_mib), (2, 2));
    assert_eq!(
        kinesis.calls("SplitShard") + kinesis.calls("MergeShards"),
        0
    );
    assert_eq!(kinesis.calls("ListShards"), 0, "its shards are AWS's");
}

#[tokio::test(start_paused = true)]
async fn passes_happen_on_schedule_and_never_overlap() {
    // 1.7 shards' worth on two shards: a pass that splits both takes as
    // long as the interval (each split waits for the stream to be ACTIVE
    // again), so passes started on a timer would overlap.
    let h = Harness::new(1.7);
    let (_trigger, stop) = shutdown::channel();
    let passes = h.run(30, 0.1, &stop, &quiet).await;
    let times = h.passes.lock().unwrap().clone();
    assert_eq!(times.len() as u64, passes);
    let longest = times.iter().map(|(s, e)| *e - *s).max().unwrap();
    assert!(
        longest >= TimeDelta::seconds(60),
        "a pass lasted the interval: {longest}"
    );
    for pair in times.windows(2) {
        let ((_, end_a), (start_b, _)) = (pair[0], pair[1]);
        assert!(start_b >= end_a, "passes never overlap");
        let wait = (start_b - end_a).num_milliseconds();
        assert!(
            (54_000..=66_000).contains(&wait),
            "each wait is the interval within its jitter: {wait} ms"
        );
    }
    assert!(passes >= 15, "about one pass a minute: {passes}");
    assert!(h.status.ready() && h.status.healthy());
    assert!(h.status.prometheus().contains(&format!(
        "kinesis_autoscaler_passes_total{{outcome=\"ok\"}} {passes}"
    )));
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_a_wait_returns_promptly() {
    let h = Harness::new(0.5);
    let (trigger, stop) = shutdown::channel();
    let asked = Mutex::new(None);
    let run = h.run(600, 0.0, &stop, &quiet);
    let ask = async {
        // Mid-wait: the first pass ran at 0 s, the next is due at 60 s.
        tokio::time::sleep(Duration::from_secs(90)).await;
        *asked.lock().unwrap() = Some(tokio::time::Instant::now());
        trigger.request();
    };
    let (passes, ()) = tokio::join!(run, ask);
    let waited = asked.lock().unwrap().unwrap().elapsed();
    assert_eq!(passes, 2);
    assert!(
        waited < Duration::from_secs(1),
        "returned {waited:?} after the request"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_an_operation_lets_it_finish_and_be_recorded() {
    // Two shards at 1.7 shards' worth: both hot, a plan of two splits, of
    // which only the first may run.
    let h = Harness::new(1.7);
    let (trigger, stop) = shutdown::channel();
    let trigger: Mutex<Option<ShutdownTrigger>> = Mutex::new(Some(trigger));
    // Ask to stop while the first split is in flight: its call has
    // returned and the stream is UPDATING (once the metrics show the heat,
    // a few passes in).
    let asked_in_pass = Mutex::new(None);
    let on_event = |e: Event<'_>| {
        if let Event::Applied { .. } = e
            && let Some(t) = trigger.lock().unwrap().take()
        {
            *asked_in_pass.lock().unwrap() = Some(h.passes.lock().unwrap().len() as u64 + 1);
            t.request();
        }
    };
    let passes = h.run(600, 0.0, &stop, &on_event).await;
    assert_eq!(
        Some(passes),
        *asked_in_pass.lock().unwrap(),
        "no pass after the stop"
    );
    assert_eq!(
        h.world.kinesis.calls("SplitShard"),
        1,
        "only the first split: {:?}",
        h.world.kinesis.log()
    );
    let stream = h.world.kinesis.stream("s").unwrap();
    assert!(
        stream.tags.contains_key(tags::LAST_SCALE_UP),
        "the operation in flight is recorded: {:?}",
        stream.tags
    );
    assert_eq!(stream.open_shards().count(), 3);
}

#[tokio::test(start_paused = true)]
async fn shutdown_before_an_operation_is_issued_starts_none() {
    let h = Harness::new(1.7);
    let (trigger, stop) = shutdown::channel();
    let trigger: Mutex<Option<ShutdownTrigger>> = Mutex::new(Some(trigger));
    // The signal comes as the first operation is about to start.
    let on_event = |e: Event<'_>| {
        if let Event::Starting { .. } = e
            && let Some(t) = trigger.lock().unwrap().take()
        {
            t.request();
        }
    };
    h.run(600, 0.0, &stop, &on_event).await;
    assert!(
        h.world
            .kinesis
            .log()
            .iter()
            .all(|l| !l.starts_with("SplitShard")),
        "{:?}",
        h.world.kinesis.log()
    );
    assert!(h.world.kinesis.stream("s").unwrap().tags.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_policy_file_caught_mid_write_is_neither_loaded_nor_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, POLICY).unwrap();
    let handle = PolicyHandle::new(Policy::load(&path).unwrap());
    let status = Status::new(Duration::from_secs(60));
    let hangup = tokio::sync::Notify::new();
    let (trigger, stop) = shutdown::channel();
    let poll = Duration::from_millis(20);
    let watcher = watch_policy(path.clone(), &handle, &status, poll, &hangup, &stop, None);
    let max = |h: &PolicyHandle| h.get().rule_for("s").unwrap().policy.max_shards;
    let reloads = |outcome: &str| -> u32 {
        let series = format!("kinesis_autoscaler_policy_reloads_total{{outcome=\"{outcome}\"}} ");
        let text = status.prometheus();
        let line = text.lines().find(|l| l.starts_with(&series));
        line.map_or(0, |l| l[series.len()..].parse().unwrap())
    };
    // On the paused clock the watcher polls at 20, 40, 60 ms; the script
    // acts at 0, 30, 50 and 70 ms.
    let script = async {
        // An editor has written the first half of `max_shards: 12`: valid
        // YAML that would cap the stream at one shard.
        std::fs::write(
            &path,
            "version: 1\nstreams:\n  - name: s\n    max_shards: 1",
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        std::fs::write(
            &path,
            "version: 1\nstreams:\n  - name: s\n    max_shards: 12\n",
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            max(&handle),
            64,
            "nothing is loaded before the file settles"
        );
        assert_eq!((reloads("ok"), reloads("invalid")), (0, 0));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(max(&handle), 12);
        assert_eq!((reloads("ok"), reloads("invalid")), (1, 0));
        trigger.request();
    };
    tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(watcher, script)
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn a_valid_policy_change_takes_effect_and_an_invalid_one_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, POLICY).unwrap();
    let handle = PolicyHandle::new(Policy::load(&path).unwrap());
    let status = Status::new(Duration::from_secs(60));
    let hangup = tokio::sync::Notify::new();
    let (trigger, stop) = shutdown::channel();
    let watcher = watch_policy(
        path.clone(),
        &handle,
        &status,
        Duration::from_millis(20),
        &hangup,
        &stop,
        None,
    );
    let max = |h: &PolicyHandle| h.get().rule_for("s").unwrap().policy.max_shards;
    let script = async {
        assert_eq!(max(&handle), 64);
        std::fs::write(
            &path,
            "version: 1\nstreams:\n  - name: s\n    max_shards: 12\n",
        )
        .unwrap();
        eventually(|| max(&handle) == 12).await;
        std::fs::write(
            &path,
            "version: 1\nstreams:\n  - name: s\n    max_shards: lots\n",
        )
        .unwrap();
        eventually(|| {
            status
                .prometheus()
                .contains("policy_reloads_total{outcome=\"invalid\"} 1")
        })
        .await;
        assert_eq!(max(&handle), 12, "the old policy keeps running");
        // SIGHUP reloads even an unchanged file.
        std::fs::write(
            &path,
            "version: 1\nstreams:\n  - name: s\n    max_shards: 20\n",
        )
        .unwrap();
        eventually(|| max(&handle) == 20).await;
        hangup.notify_one();
        eventually(|| {
            status
                .prometheus()
                .contains("policy_reloads_total{outcome=\"ok\"} 3")
        })
        .await;
        trigger.request();
    };
    tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(watcher, script)
    })
    .await
    .expect("bounded");
}

async fn eventually(mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within 5 s");
}

/// GET `path` over loopback; returns the status code and body.
pub(crate) fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let code = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

pub(crate) fn metric(body: &str, name: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} in\n{body}"))
}

/// The metric names in `expr`.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("kinesis_autoscaler_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// The Grafana dashboard and the Prometheus alert rules in `deploy/` parse,
/// and name only metrics the sidecar's `/metrics` (`body`) declares.
fn dashboards_name_only_exported_metrics(body: &str) {
    let exported: std::collections::BTreeSet<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/kinesis-autoscaler.json")).unwrap(),
    )
    .unwrap();
    let mut exprs: Vec<String> = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"].as_str() {
            exprs.push(query.to_owned());
        }
    }
    let rules: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("deploy/prometheus/alerts.yaml")).unwrap(),
    )
    .unwrap();
    let mut alerts = 0;
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            assert!(rule["alert"].as_str().is_some(), "{rule:?}");
            assert!(
                rule["annotations"]["summary"].as_str().is_some(),
                "{rule:?}"
            );
            exprs.push(rule["expr"].as_str().unwrap().to_owned());
            alerts += 1;
        }
    }
    assert!(alerts >= 4);
    let mut named = 0;
    for expr in &exprs {
        for name in metric_names(expr) {
            assert!(
                exported.contains(name.as_str()),
                "{name} (in {expr}) is not exported: {exported:?}"
            );
            named += 1;
        }
    }
    assert!(named >= 10, "{exprs:?}");
}

#[test]
fn the_sidecar_serves_health_and_metrics_reloads_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::copy(root().join("policies/simulation.yaml"), &policy).unwrap();
    let mut child = bin_std()
        .args([
            "run",
            "--backend",
            "sim",
            "--speed",
            "1200",
            "--listen",
            "127.0.0.1:0",
            "--policy",
        ])
        .arg(&policy)
        .env("KAS_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (port, logs) = listening(&mut child);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (code, body) = get(port, "/metrics");
        assert_eq!(code, 200);
        if metric(
            &body,
            "kinesis_autoscaler_actions_total{type=\"merge\",outcome=\"applied\"}",
        ) >= 1.0
        {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no merge within 30 s:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(metric(&body, "kinesis_autoscaler_passes_total{outcome=\"ok\"}") >= 1.0);
    assert!(
        metric(
            &body,
            "kinesis_autoscaler_open_shards{stream=\"taxi-rides\"}"
        ) < 4.0
    );
    assert!(body.contains("kinesis_autoscaler_peak_shard_utilization{stream=\"taxi-rides\"}"));
    assert!(
        metric(
            &body,
            "kinesis_autoscaler_last_successful_pass_timestamp_seconds"
        ) > 0.0
    );
    assert_eq!(get(port, "/healthz").0, 200);
    assert_eq!(get(port, "/readyz").0, 200);
    dashboards_name_only_exported_metrics(&body);

    // An invalid policy is rejected and counted; the loop goes on.
    std::fs::write(
        &policy,
        "version: 1\nstreams: [ { name: taxi-rides, max_shards: lots } ]\n",
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, body) = get(port, "/metrics");
        if metric(
            &body,
            "kinesis_autoscaler_policy_reloads_total{outcome=\"invalid\"}",
        ) >= 1.0
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the invalid policy was not noticed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(get(port, "/healthz").0, 200);

    // So is a policy file that is not UTF-8 text, once, and logged.
    std::fs::write(&policy, b"version: 1\nstreams: [ { name: \xff } ]\n").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, body) = get(port, "/metrics");
        if metric(
            &body,
            "kinesis_autoscaler_policy_reloads_total{outcome=\"invalid\"}",
        ) >= 2.0
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the non-UTF-8 policy was not counted"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Polled again and again, it is counted only once.
    std::thread::sleep(Duration::from_secs(5));
    let (_, body) = get(port, "/metrics");
    assert_eq!(
        metric(
            &body,
            "kinesis_autoscaler_policy_reloads_total{outcome=\"invalid\"}"
        ),
        2.0
    );

    assert_stops_cleanly_on_sigterm(&mut child);
    let logs = logs.join().unwrap();
    assert!(
        logs.contains("new policy rejected; keeping the one in force"),
        "{logs}"
    );
    assert!(
        logs.contains("not UTF-8 text (invalid byte at offset 30)"),
        "{logs}"
    );
    assert!(logs.contains("shutting down"), "{logs}");
}

/// A SIGHUP (a reload request) that arrives while the sidecar is still
/// starting, here while it reads its policy from a pipe, must not kill it
/// (it did: the handlers were installed after the policy was read).
#[test]
fn a_sighup_during_start_up_does_not_kill_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("policy.yaml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let policy = std::fs::read_to_string(root().join("policies/simulation.yaml")).unwrap();
    let mut child = bin_std()
        .args([
            "run",
            "--backend",
            "sim",
            "--speed",
            "1200",
            "--listen",
            "127.0.0.1:0",
            "--policy",
        ])
        .arg(&fifo)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Opening the pipe for writing waits until the sidecar opens it to
    // read: it has started, and reading the policy is the first thing it
    // does.
    let mut pipe = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let pid = child.id().to_string();
    for _ in 0..3 {
        assert!(
            std::process::Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success()
        );
    }
    // Give the signals time to arrive before the read finishes.
    std::thread::sleep(Duration::from_millis(100));
    pipe.write_all(policy.as_bytes()).unwrap();
    drop(pipe);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        child.try_wait().unwrap(),
        None,
        "the sidecar died of the SIGHUP"
    );
    assert_stops_cleanly_on_sigterm(&mut child);
}

/// A log filter that does not parse is said at start, not ignored.
#[test]
fn a_bad_log_filter_is_a_warning_at_start() {
    let out = crate::support::bin()
        .args(["validate", "--policy", "policies/example.yaml"])
        .env("KAS_LOG", "kinesis_autoscaler=loudest[")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("KAS_LOG=\"kinesis_autoscaler=loudest[\" is not a log filter"),
        "{stderr}"
    );
    assert!(
        stderr.contains("using the default, warn,kinesis_autoscaler=info"),
        "{stderr}"
    );
}

/// Sends SIGTERM to the sidecar and asserts it exits 0 within 15 s.
pub(crate) fn assert_stops_cleanly_on_sigterm(child: &mut std::process::Child) {
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
}
