//! Shard-level metrics at stream-level price, on the simulator under
//! paused time: a pass reads the shard-level series only when a decision
//! may be near, yet a shard that starts throttling is split in the same
//! pass as when they are read every pass; with `metrics.shard_level:
//! on_demand` the controller turns enhanced monitoring on when a decision
//! may be near and off once the stream is calm, and never turns off what
//! someone else turned on.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use kinesis_autoscaler::apply::Executor;
use kinesis_autoscaler::apply::shutdown;
use kinesis_autoscaler::model::{HashKey, MetricName, StreamId, StreamMode, uniform_ranges};
use kinesis_autoscaler::observe::{Clock, KinesisRead, TokioClock};
use kinesis_autoscaler::pass::{PassReport, PolicyHandle, Runner, Schedule};
use kinesis_autoscaler::planner::Action;
use kinesis_autoscaler::policy::Policy;
use kinesis_autoscaler::sim::scenario::Scenario;
use kinesis_autoscaler::sim::traffic::{Trace, Traffic};
use kinesis_autoscaler::sim::world::Publishing;
use kinesis_autoscaler::sim::{SimConfig, SimKinesis, SimWorld};

const START: &str = "2026-01-01T00:00:00Z";

/// Four uniform shards at half a shard's worth each for six hours; from
/// 02:00 to 02:30 one partition key, `k`, takes half the stream's writes,
/// which puts its shard at 1.25 shards' worth (throttling) and the others
/// at 0.25. CloudWatch publishes every minute 2 minutes after it ends.
fn world(clock: TokioClock, enabled: &[MetricName]) -> SimWorld<TokioClock> {
    let mut text = String::from("timestamp,value\n");
    for i in 0..=72 {
        let t = DateTime::from_timestamp(1_400_000_000 + i * 300, 0).unwrap();
        text.push_str(&format!("{},100\n", t.format("%Y-%m-%d %H:%M:%S")));
    }
    let trace = Trace::parse(&text, Path::new("flat.csv")).unwrap();
    let scenario = Scenario::parse(
        "stream: s\ntrace: flat.csv\npeak: 2MiB/s\nrecord_size: 2KiB\ninitial_shards: 4\nnoise: 0\nburstiness: 0\nhot_keys: [ { key: k, start: 2h, end: 2h30m, share: 0.5 } ]\n",
        Path::new("t.yaml"),
    )
    .unwrap();
    let traffic = Traffic::new(&scenario, &trace).unwrap();
    let kinesis = SimKinesis::new(clock, SimConfig::default());
    kinesis.create_stream("s", &uniform_ranges(4), StreamMode::Provisioned);
    kinesis.set_initial_metrics("s", enabled);
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

/// What a run did: every reshard applied with the start of its pass, and
/// the shard-level metrics published when each pass started.
struct Run {
    world: SimWorld<TokioClock>,
    applied: Vec<(DateTime<Utc>, Action)>,
    published: Vec<(DateTime<Utc>, Vec<MetricName>)>,
}

impl Run {
    fn splits(&self) -> Vec<(DateTime<Utc>, HashKey)> {
        self.applied
            .iter()
            .filter_map(|(at, a)| match a {
                Action::Split(s) => Some((*at, s.new_starting_hash_key)),
                Action::Merge(_) => None,
            })
            .collect()
    }

    /// Calls made to the simulated Kinesis of `operation`.
    fn calls(&self, operation: &str) -> usize {
        self.world.kinesis.calls(operation)
    }
}

/// Runs the sidecar's loop (a pass a minute) for six hours on stream `s`
/// with `policy` (YAML lines under the stream entry).
async fn run(policy: &str, enabled: &[MetricName]) -> Run {
    let clock = TokioClock::starting_at(START.parse().unwrap());
    let world = world(clock, enabled);
    let policy = PolicyHandle::new(
        Policy::parse(
            &format!("version: 1\nstreams:\n  - name: s\n{policy}"),
            Path::new("p.yaml"),
        )
        .unwrap(),
    );
    let limiter = kinesis_autoscaler::model::ApiLimiter::default();
    let (_trigger, stop) = shutdown::channel();
    let quiet = |_: kinesis_autoscaler::apply::Event<'_>| {};
    let executor = Executor::new(&world, &world, &clock, &limiter).on_event(&quiet);
    let applied = Mutex::new(Vec::new());
    let published = Mutex::new(Vec::new());
    let on_pass = |p: &PassReport| {
        for s in &p.streams {
            for a in s.apply.iter().flat_map(|r| &r.applied) {
                applied
                    .lock()
                    .unwrap()
                    .push((p.started_at, a.action.clone()));
            }
        }
        published.lock().unwrap().push((
            p.started_at,
            world.kinesis.metrics_enabled_at("s", p.started_at),
        ));
    };
    let schedule = Schedule {
        interval: Duration::from_secs(60),
        jitter: 0.0,
    };
    Runner::new(&executor, &world, &policy, &stop, schedule)
        .until(clock.now() + TimeDelta::hours(6))
        .on_pass(&on_pass)
        .run()
        .await;
    Run {
        applied: applied.into_inner().unwrap(),
        published: published.into_inner().unwrap(),
        world,
    }
}

fn at(hhmm: &str) -> DateTime<Utc> {
    format!("2026-01-01T{hhmm}:00Z").parse().unwrap()
}

const WRITE: [MetricName; 3] = [
    MetricName::IncomingBytes,
    MetricName::IncomingRecords,
    MetricName::WriteProvisionedThroughputExceeded,
];

/// The shard that takes key `k`, and its midpoint: where it must split.
fn key_shard_midpoint() -> HashKey {
    let key = HashKey::of_partition_key("k");
    let range = uniform_ranges(4)
        .into_iter()
        .find(|r| r.contains(key))
        .unwrap();
    HashKey(range.start().0 + (range.end().0 - range.start().0) / 2 + 1)
}

#[tokio::test(start_paused = true)]
async fn a_throttling_shard_is_split_in_the_same_pass_as_with_every_pass_reads() {
    // Read every pass (a refresh each minute), as before the shard-level
    // reads were gated, and gated (the default refresh, 15 minutes).
    let every = run("    metrics: { shard_refresh: 1m }\n", &WRITE).await;
    let gated = run("", &WRITE).await;
    // Minute 02:00 throttles; CloudWatch has it at 02:03 (a minute plus its
    // 2-minute delay), and the pass then splits the key's shard at its
    // midpoint: both ways, the same pass.
    let want = [(at("02:03"), key_shard_midpoint())];
    assert_eq!(every.splits()[..1], want[..]);
    assert_eq!(gated.splits()[..1], want[..]);
    assert_eq!(gated.applied, every.applied, "the same reshards, all day");
    // For fewer metrics: the shard-level series are read in the hot half
    // hour, for the merges back, and every 15 minutes otherwise.
    let (e, g) = (
        every.world.metrics_requested(),
        gated.world.metrics_requested(),
    );
    assert!(g * 10 < e * 6, "gated {g} metrics, every pass {e}");
}

#[tokio::test(start_paused = true)]
async fn on_demand_turns_shard_metrics_on_near_a_decision_and_off_when_calm() {
    let policy = "    metrics: { shard_level: on_demand, shard_calm: 15m }\n";
    let r = run(policy, &[]).await;
    // What was published when the last pass at or before `t` started.
    let on = |t: &str| {
        r.published
            .iter()
            .rev()
            .find(|(started, _)| *started <= at(t))
            .map(|(_, m)| m.clone())
            .unwrap()
    };
    // Turned on once the stream-level series show load a shard could be
    // near a split with (at 00:02, when minute 00:00 is published), to
    // measure the shares; off again once calm.
    assert_eq!(on("00:01"), []);
    assert_eq!(on("00:03"), WRITE);
    assert_eq!(on("01:00"), []);
    // The key's shard throttles from 02:00: on again, and split once its
    // datapoints are in, later than with the metrics always on.
    assert_eq!(on("02:10"), WRITE);
    let splits = r.splits();
    assert_eq!(splits[0].1, key_shard_midpoint());
    assert!(
        splits[0].0 > at("02:03") && splits[0].0 <= at("02:10"),
        "{splits:?}"
    );
    // Calm after the key's half hour and the merge back: off by the end.
    assert_eq!(on("05:59"), []);
    assert_eq!(r.calls("EnableEnhancedMonitoring"), 2);
    assert_eq!(r.calls("DisableEnhancedMonitoring"), 2);
    // It recorded what it enabled, and that none is on now.
    let history = r.world.read_history(&StreamId::named("s")).await.unwrap();
    let record = history.shard_metrics.expect("recorded in the tags");
    assert_eq!(record.metrics, []);
    // Billed for fewer hours than always on: not the quiet hour from
    // 01:00 to 02:00 (the merges back after the key's half hour keep them
    // on while the scale-down window is read).
    let always = run("", &WRITE).await;
    let (od, al) = (r.world.metric_hours(), always.world.metric_hours());
    assert!(od < al, "on demand {od} metric-hours, always {al}");
    assert!(r.published.iter().all(|(started, metrics)| {
        !(at("01:00")..at("02:00")).contains(started) || metrics.is_empty()
    }));
}

#[tokio::test(start_paused = true)]
async fn on_demand_never_turns_off_what_someone_else_turned_on() {
    // IncomingBytes was on before the controller ran: it turns on the
    // other two when needed, and only those off again.
    let policy = "    metrics: { shard_level: on_demand, shard_calm: 15m }\n";
    let r = run(policy, &[MetricName::IncomingBytes]).await;
    let last = &r.published.last().unwrap().1;
    assert_eq!(last, &[MetricName::IncomingBytes]);
    assert!(r.calls("DisableEnhancedMonitoring") > 0);
    assert_eq!(
        r.world
            .read_history(&StreamId::named("s"))
            .await
            .unwrap()
            .shard_metrics
            .unwrap()
            .metrics,
        []
    );
    // With everything on from before, nothing is ever turned off.
    let all = run(policy, &WRITE).await;
    assert_eq!(all.calls("DisableEnhancedMonitoring"), 0);
    assert_eq!(all.calls("EnableEnhancedMonitoring"), 0);
    assert_eq!(all.published.last().unwrap().1, WRITE);
}
