//! Notifications end to end: the built binary against the emulators tells
//! a loopback webhook and moto's SNS what it did, what failed and what it
//! cannot fix, once per stream per `notify.repeat_after`, without a failing
//! or hanging target holding the passes back.

use std::time::{Duration, Instant};

use kinesis_autoscaler::testkit::{Answer, WebhookReceiver};
use serde_json::{Value, json};

use crate::emulators::{
    self, PrivateEmulator, PrivateKinesis, cloudwatch_at, create_stream, kinesis, kinesis_endpoint,
    open_shards, put_load, put_metrics_to, sns, sns_endpoint, unique,
};
use crate::live::{Run, live, policy, run};
use crate::runner::{assert_stops_cleanly_on_sigterm, get, metric};
use crate::support::{assert_contains, at_emulators, bin, bin_std, listening};

/// The `notify:` block for `targets` (each a YAML flow item), with
/// `settings` (`key: value, ...`).
fn notify_block(targets: &[String], settings: &str) -> String {
    let mut text = format!("notify:\n  targets: [ {} ]\n", targets.join(", "));
    for setting in settings.split(',').filter(|s| !s.trim().is_empty()) {
        text.push_str(&format!("  {}\n", setting.trim()));
    }
    text
}

/// A policy file for `streams`, with `extra` per entry and a `notify:`
/// block.
fn policy_with(streams: &[&str], extra: &str, notify: &str) -> (tempfile::TempDir, String) {
    let (dir, path) = policy(streams, extra);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(notify);
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

/// Runs `cmd` off the async runtime, so the loopback receivers keep
/// answering meanwhile.
async fn run_blocking(mut cmd: assert_cmd::Command) -> Run {
    tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .unwrap()
}

/// The key that halves [start, end], computed here on its own.
fn midpoint(shard: &kinesis_autoscaler::Shard) -> String {
    let (s, e) = (shard.range.start().0, shard.range.end().0);
    (s + (e - s) / 2 + 1).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_tells_a_webhook_and_an_sns_topic_what_it_split() {
    if !emulators::running("apply_tells_a_webhook_and_an_sns_topic_what_it_split") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("notify-split");
    create_stream(&k, &name, 2, false).await;
    let before = open_shards(&k, &name).await;
    put_load(&name, &before[0].id, 40, 0.95, 0.0).await;
    put_load(&name, &before[1].id, 40, 0.5, 0.0).await;

    let hook = WebhookReceiver::start(Answer::Ok).await;
    // moto delivers what is published to an http subscription.
    let subscriber = WebhookReceiver::start(Answer::Ok).await;
    let topics = sns(&sns_endpoint());
    let topic = topics
        .create_topic()
        .name(&name)
        .send()
        .await
        .expect("CreateTopic")
        .topic_arn
        .unwrap();
    topics
        .subscribe()
        .topic_arn(&topic)
        .protocol("http")
        .endpoint(&subscriber.url)
        .send()
        .await
        .expect("Subscribe");
    let (_dir, p) = policy_with(
        &[&name],
        "",
        &notify_block(
            &[
                format!("webhook: '{}'", hook.url),
                format!("sns: '{topic}'"),
            ],
            "",
        ),
    );
    let mut cmd = live(&endpoint);
    cmd.args(["apply", "--policy", &p, "--yes"]);
    let apply = run_blocking(cmd).await;
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);

    let split = format!("split {} at {}", before[0].id, midpoint(&before[0]));
    let bodies = hook.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    let message = &bodies[0];
    assert_eq!(
        message["text"],
        format!(
            "kinesis-autoscaler: stream {name}: applied 1 operation (2 → 3 open shards): {split}"
        )
    );
    assert_eq!(message["event"], "applied");
    assert_eq!(message["stream"], name.as_str());
    assert_eq!(message["shard_ids"], json!([before[0].id.as_str()]));
    assert_eq!(message["actions"], json!([split]));
    assert_eq!(
        message["counts"],
        json!({ "open_shards_before": 2, "open_shards_after": 3, "applied": 1, "not_applied": 0 })
    );
    assert_contains(
        message["reason"].as_str().unwrap(),
        "hot: utilization >= 0.8",
    );
    assert_eq!(open_shards(&k, &name).await.len(), 3);

    let delivered = subscriber.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(delivered.len(), 1, "{delivered:#?}");
    let envelope = &delivered[0];
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], topic.as_str());
    assert_eq!(
        envelope["Subject"],
        format!("kinesis-autoscaler: applied {name}")
    );
    let published: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(&published, message, "the same JSON as the webhook's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_the_shard_quota_stops_is_told_as_failed() {
    if !emulators::running("a_split_the_shard_quota_stops_is_told_as_failed") {
        return;
    }
    // A Kinesis of its own: the quota is account-wide. Two streams of two
    // shards leave room for one more shard; both want one.
    let private = PrivateKinesis::start(5);
    let k = kinesis(&private.endpoint);
    let (a, b) = (unique("notify-quota-a"), unique("notify-quota-b"));
    let mut first = Vec::new();
    for name in [&a, &b] {
        create_stream(&k, name, 2, false).await;
        let shards = open_shards(&k, name).await;
        put_load(name, &shards[0].id, 40, 0.95, 0.0).await;
        put_load(name, &shards[1].id, 40, 0.5, 0.0).await;
        first.push(shards[0].clone());
    }
    let hook = WebhookReceiver::start(Answer::Ok).await;
    let (_dir, p) = policy_with(
        &[&a, &b],
        "",
        &notify_block(&[format!("webhook: '{}'", hook.url)], ""),
    );
    let mut cmd = live(&private.endpoint);
    cmd.args(["apply", "--policy", &p, "--yes"]);
    let apply = run_blocking(cmd).await;
    assert_eq!(apply.code, 1, "{}\n{}", apply.stdout, apply.stderr);

    let bodies = hook.wait_for(2, Duration::from_secs(10)).await;
    let mut events: Vec<(&str, &str)> = bodies
        .iter()
        .map(|b| (b["event"].as_str().unwrap(), b["stream"].as_str().unwrap()))
        .collect();
    events.sort();
    let failed = bodies.iter().find(|b| b["event"] == "failed").unwrap();
    let stream = failed["stream"].as_str().unwrap();
    let applied = if stream == a { &b } else { &a };
    assert_eq!(events.len(), 2, "{bodies:#?}");
    assert!(
        events.contains(&("applied", applied.as_str())),
        "{events:?}"
    );
    let shard = &first[if stream == a { 0 } else { 1 }];
    let split = format!("split {} at {}", shard.id, midpoint(shard));
    assert_eq!(failed["shard_ids"], json!([shard.id.as_str()]));
    assert_eq!(failed["actions"], json!([split]));
    assert_eq!(
        failed["counts"],
        json!({ "open_shards_before": 2, "open_shards_after": 2, "applied": 0, "not_applied": 1 })
    );
    let reason = failed["reason"].as_str().unwrap();
    assert_contains(reason, "the account's shard quota is reached");
    assert_eq!(
        failed["text"],
        format!(
            "kinesis-autoscaler: stream {stream}: resharding stopped after 0 of 1 operation: {reason}"
        )
    );
}

/// The sidecar, started on a free port; its logs are kept for the end.
/// Killed if the test ends without stopping it.
struct Sidecar {
    child: std::process::Child,
    port: u16,
    logs: Option<std::thread::JoinHandle<String>>,
}

impl Sidecar {
    /// `run` on `policy`, with CloudWatch and SNS at the moto `moto`.
    fn start(policy: &str, moto: &str) -> Sidecar {
        let mut cmd = bin_std();
        let mut child = at_emulators(&mut cmd, &kinesis_endpoint(), moto)
            .args(["run", "--interval", "1s", "--listen", "127.0.0.1:0"])
            .args(["--policy", policy])
            .env("AWS_ENDPOINT_URL_SNS", moto)
            .env("KAS_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (port, logs) = listening(&mut child);
        Sidecar {
            child,
            port,
            logs: Some(logs),
        }
    }

    /// Stops it with SIGTERM, checks it exits 0 in time; its logs.
    fn stop(&mut self) -> String {
        assert_stops_cleanly_on_sigterm(&mut self.child);
        self.logs.take().unwrap().join().unwrap()
    }

    fn metrics(&self) -> String {
        get(self.port, "/metrics").1
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidecar_says_stuck_once_and_a_rejected_reload_while_a_hanging_webhook_neither_delays_passes_nor_goes_uncounted()
 {
    if !emulators::running(
        "the_sidecar_says_stuck_once_and_a_rejected_reload_while_a_hanging_webhook_neither_delays_passes_nor_goes_uncounted",
    ) {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("notify-stuck");
    create_stream(&k, &name, 2, false).await;
    let shards = open_shards(&k, &name).await;
    // A moto of its own: a pass a second would read the shared one's
    // every datapoint each time, slowing it down for every other test.
    let moto = PrivateEmulator::moto();
    let cloudwatch = cloudwatch_at(&moto.endpoint);
    // Both shards hot, the first throttling: at max_shards 2, stuck.
    put_metrics_to(&cloudwatch, &name, Some(&shards[0].id), 0..40, 0.95, 30.0).await;
    put_metrics_to(&cloudwatch, &name, Some(&shards[1].id), 0..40, 0.95, 0.0).await;
    put_metrics_to(&cloudwatch, &name, None, 0..40, 1.9, 30.0).await;
    let hook = WebhookReceiver::start(Answer::Ok).await;
    let hanging = WebhookReceiver::start(Answer::Hang).await;
    let failing = WebhookReceiver::start(Answer::Status(500)).await;
    let (_dir, p) = policy_with(
        &[&name],
        "max_shards: 2",
        &notify_block(
            &[
                format!("webhook: '{}'", hook.url),
                format!("webhook: '{}'", hanging.url),
                format!("webhook: '{}'", failing.url),
            ],
            "timeout: 1s, attempts: 2",
        ),
    );
    let path = p.clone();
    let endpoint = moto.endpoint.clone();
    let mut sidecar = tokio::task::spawn_blocking(move || Sidecar::start(&p, &endpoint))
        .await
        .unwrap();

    // Passes every second: five of them in 15 s, whatever the hanging
    // webhook does (each of its messages takes 2 attempts of 1 s, and a
    // second between them).
    let started = Instant::now();
    let body = loop {
        let body = sidecar.metrics();
        if metric(&body, "kinesis_autoscaler_passes_total{outcome=\"ok\"}") >= 5.0 {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "fewer than 5 passes in 15 s:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stuck = hook.bodies();
    assert_eq!(stuck.len(), 1, "one message for 5 passes: {stuck:#?}");
    assert_eq!(stuck[0]["event"], "stuck");
    assert_eq!(stuck[0]["stream"], name.as_str());
    assert_eq!(stuck[0]["shard_ids"], json!([shards[0].id.as_str()]));
    assert_eq!(stuck[0]["counts"]["open_shards_before"], 2);
    assert_contains(stuck[0]["text"].as_str().unwrap(), "stuck: ");
    assert_contains(stuck[0]["reason"].as_str().unwrap(), "max_shards");
    assert!(
        metric(
            &body,
            "kinesis_autoscaler_notifications_suppressed_total{event=\"stuck\"}"
        ) >= 4.0,
        "{body}"
    );
    assert_eq!(
        metric(
            &body,
            "kinesis_autoscaler_notifications_sent_total{target=\"notify.targets[0].webhook\"}"
        ),
        1.0
    );
    // Both failing targets were tried twice and counted once.
    for (target, receiver) in [(1, &hanging), (2, &failing)] {
        let deadline = Instant::now() + Duration::from_secs(10);
        let failed = format!(
            "kinesis_autoscaler_notifications_failed_total{{target=\"notify.targets[{target}].webhook\"}}"
        );
        while metric(&sidecar.metrics(), &failed) < 1.0 {
            assert!(Instant::now() < deadline, "{failed} stays 0");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(receiver.requests(), 2, "notify.targets[{target}]");
        assert_eq!(metric(&sidecar.metrics(), &failed), 1.0);
    }
    // A rejected reload is told to the targets of the policy in force.
    std::fs::write(
        &path,
        "version: 1\nstreams: [ { name: x, max_shards: lots } ]\n",
    )
    .unwrap();
    let bodies = hook.wait_for(2, Duration::from_secs(15)).await;
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    assert_eq!(bodies[1]["event"], "reload_failed");
    assert_eq!(bodies[1]["policy"], path.as_str());
    assert_contains(
        bodies[1]["text"].as_str().unwrap(),
        &format!(
            "kinesis-autoscaler: policy {path}: the new policy was rejected and the old one keeps running: {path}:2:"
        ),
    );
    // The webhook URLs never reach the logs.
    let logs = tokio::task::block_in_place(|| sidecar.stop());
    assert_contains(&logs, "notification not delivered");
    assert!(!logs.contains(&hanging.url), "{logs}");
    assert!(!logs.contains("/hook"), "{logs}");
}

#[test]
fn an_unset_webhook_variable_is_bad_input_before_any_aws_call() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(WebhookReceiver::start(Answer::Ok));
    let (_dir, p) = policy_with(
        &["orders"],
        "",
        &notify_block(&["webhook: { url_env: KAS_NOTIFY_TEST_HOOK }".into()], ""),
    );
    let aws_url = aws.url.trim_end_matches("/hook");
    let out = run(bin()
        .args(["apply", "--policy", &p, "--yes"])
        .env_remove("KAS_NOTIFY_TEST_HOOK")
        .env("AWS_ENDPOINT_URL", aws_url)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .timeout(Duration::from_secs(30)));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_contains(
        &out.stderr,
        &format!(
            "{p}: invalid policy:\n  - notify.targets[0].webhook.url_env: the environment variable KAS_NOTIFY_TEST_HOOK is not set; set it to the webhook URL"
        ),
    );
    assert_eq!(aws.requests(), 0, "no AWS call was made");

    // Set, it is a valid policy; its value is never shown.
    let out = run(bin().args(["validate", "--policy", &p]).env(
        "KAS_NOTIFY_TEST_HOOK",
        "https://hooks.example.com/services/T/B/secret",
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains("secret"), "{}", out.stdout);
    let out = run(bin()
        .args(["validate", "--policy", &p])
        .env("KAS_NOTIFY_TEST_HOOK", "ftp://hooks.example.com/secret"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_contains(
        &out.stderr,
        "notify.targets[0].webhook.url_env: the value of KAS_NOTIFY_TEST_HOOK must be an http or https URL, not \"ftp\"",
    );
    assert!(!out.stderr.contains("secret"), "{}", out.stderr);
}
