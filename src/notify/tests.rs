//! The notifications' unit tests: which events a pass gives, their exact
//! JSON and text, what is held back, and delivery to a loopback webhook
//! that answers, fails or hangs.

use std::time::{Duration, Instant};

use serde_json::json;

use super::deliver::FIRST_BACKOFF;
use super::*;
use crate::apply::{Applied, ApplyReport, Stop};
use crate::daemon::status::Status;
use crate::planner::{Plan, plan};
use crate::policy::{Destination, Notify, SplitAt, StreamPolicy};
use crate::testkit::{Answer, StreamBuilder, WebhookReceiver, assert_contains, policy, shard_id};

fn planned(obs: &crate::Observation, policy: &StreamPolicy) -> Plan {
    plan(obs, policy, obs.observed_at)
}

fn time() -> DateTime<Utc> {
    crate::testkit::OBSERVED_AT.parse().unwrap()
}

fn with_max_shards(max: u32) -> StreamPolicy {
    let mut p = policy();
    p.max_shards = max;
    p
}

/// A plan splitting shard 0 of a two-shard stream.
fn split_plan() -> Plan {
    let obs = StreamBuilder::new("orders", 2).constant(0, 0.95).build();
    let plan = planned(&obs, &policy());
    assert_eq!(plan.actions.len(), 1);
    plan
}

fn only(events: Vec<Event>) -> serde_json::Value {
    assert_eq!(events.len(), 1, "{events:#?}");
    serde_json::to_value(events.into_iter().next().unwrap().message(0)).unwrap()
}

#[test]
fn an_applied_split_says_what_was_split_and_the_shard_counts() {
    let plan = split_plan();
    let action = plan.actions[0].clone();
    let Action::Split(split) = &action else {
        unreachable!()
    };
    let report = ApplyReport {
        stream: "orders".into(),
        applied: vec![Applied {
            action: action.clone(),
            at: time(),
            children: Vec::new(),
        }],
        not_applied: Vec::new(),
        warm_throughput: None,
        stop: None,
    };
    let result = StreamResult::of(&plan, Some(report));
    let message = only(events(&[result], time()));
    let described = format!(
        "split shardId-000000000000 at {}",
        split.new_starting_hash_key
    );
    assert_eq!(
        message,
        json!({
            "text": format!("kinesis-autoscaler: stream orders: applied 1 operation (2 → 3 open shards): {described}"),
            "event": "applied",
            "stream": "orders",
            "shard_ids": ["shardId-000000000000"],
            "actions": [described],
            "reason": split.reason,
            "time": "2026-11-26T02:00:00Z",
            "counts": {
                "open_shards_before": 2,
                "open_shards_after": 3,
                "applied": 1,
                "not_applied": 0,
            },
            "suppressed": 0,
            "source": "kinesis-autoscaler",
        })
    );
}

#[test]
fn a_warm_throughput_set_says_from_what_to_what_and_why() {
    let obs = StreamBuilder::new("orders", 1)
        .constant(0, 9.0)
        .stream_totals()
        .stream_only()
        .warm_throughput(4)
        .build();
    let mut p = policy();
    p.forecast = Some(crate::policy::Forecast::default());
    p.warm_throughput = Some(crate::policy::WarmPolicy::default());
    let plan = planned(&obs, &p);
    let warm = plan.warm_throughput.clone().unwrap();
    assert_eq!(warm.set_mib, Some(16), "{}", warm.reason);
    let report = ApplyReport {
        stream: "orders".into(),
        applied: Vec::new(),
        not_applied: Vec::new(),
        warm_throughput: Some(crate::apply::WarmApplied {
            from_mib: Some(4),
            to_mib: 16,
            at: time(),
        }),
        stop: None,
    };
    let result = StreamResult::of(&plan, Some(report));
    let message = only(events(&[result], time()));
    assert_eq!(
        message["text"],
        "kinesis-autoscaler: stream orders: applied 1 operation: warm throughput 4 -> 16 MiB/s"
    );
    assert_eq!(message["event"], "applied");
    assert_eq!(message["reason"], warm.reason.as_str());
    assert!(
        warm.reason
            .starts_with("raise warm throughput 4 -> 16 MiB/s"),
        "{}",
        warm.reason
    );
}

#[test]
fn a_stopped_plan_is_a_failure_but_a_shutdown_or_deadline_is_not() {
    let plan = split_plan();
    let stopped = |kind: StopKind| {
        let report = ApplyReport {
            stream: "orders".into(),
            applied: Vec::new(),
            warm_throughput: None,
            not_applied: plan.actions.clone(),
            stop: Some(Stop {
                kind,
                message: "stream orders: the account's shard quota is reached".into(),
            }),
        };
        events(&[StreamResult::of(&plan, Some(report))], time())
    };
    let described = describe(&plan.actions[0]);
    assert_eq!(
        only(stopped(StopKind::ShardQuota)),
        json!({
            "text": "kinesis-autoscaler: stream orders: resharding stopped after 0 of 1 operation: stream orders: the account's shard quota is reached",
            "event": "failed",
            "stream": "orders",
            "shard_ids": ["shardId-000000000000"],
            "actions": [described],
            "reason": "stream orders: the account's shard quota is reached",
            "time": "2026-11-26T02:00:00Z",
            "counts": {
                "open_shards_before": 2,
                "open_shards_after": 2,
                "applied": 0,
                "not_applied": 1,
            },
            "suppressed": 0,
            "source": "kinesis-autoscaler",
        })
    );
    assert_eq!(stopped(StopKind::Shutdown), Vec::new());
    assert_eq!(stopped(StopKind::Deadline), Vec::new());
}

#[test]
fn a_stream_throttling_at_max_shards_is_stuck_and_a_hot_one_without_throttling_is_not() {
    let throttling = StreamBuilder::new("orders", 2)
        .all(0.95)
        .throttled(1, 40.0, 5)
        .build();
    let plan = planned(&throttling, &with_max_shards(2));
    let stuck = plan.verdicts[1].clone();
    assert_eq!(stuck.verdict.name(), "at_max_shards");
    let message = only(events(&[StreamResult::of(&plan, None)], time()));
    assert_eq!(
        message,
        json!({
            "text": format!(
                "kinesis-autoscaler: stream orders: stuck: 200 throttled writes on shardId-000000000001 that cannot be split: {}",
                stuck.reason()
            ),
            "event": "stuck",
            "stream": "orders",
            "shard_ids": ["shardId-000000000001"],
            "actions": [],
            "reason": stuck.reason(),
            "time": "2026-11-26T02:00:00Z",
            "counts": { "open_shards_before": 2, "throttled_records": 200 },
            "suppressed": 0,
            "source": "kinesis-autoscaler",
        })
    );
    assert_contains(&stuck.reason(), "max_shards");

    let hot = StreamBuilder::new("orders", 2).all(0.95).build();
    let plan = planned(&hot, &with_max_shards(2));
    assert_eq!(plan.verdicts[0].verdict.name(), "at_max_shards");
    assert_eq!(events(&[StreamResult::of(&plan, None)], time()), Vec::new());
}

#[test]
fn a_stream_throttling_at_the_accounts_shard_quota_is_stuck() {
    let obs = StreamBuilder::new("orders", 2)
        .all(0.95)
        .throttled(0, 10.0, 5)
        .shard_quota(2, 2)
        .build();
    let plan = planned(&obs, &policy());
    assert_eq!(plan.verdicts[0].verdict.name(), "at_shard_quota");
    let message = only(events(&[StreamResult::of(&plan, None)], time()));
    assert_eq!(message["event"], "stuck");
    assert_eq!(message["shard_ids"], json!(["shardId-000000000000"]));
    assert_eq!(message["counts"]["throttled_records"], 50);
}

#[test]
fn a_sampled_hot_key_is_told_with_its_key() {
    let obs = StreamBuilder::new("orders", 2)
        .constant(0, 0.95)
        .constant(1, 0.2)
        .sample(0, &[("user-42", 900, 1000)])
        .build();
    let mut by_traffic = policy();
    by_traffic.scale_up.split_at = SplitAt::Traffic;
    let plan = planned(&obs, &by_traffic);
    let hot = plan.verdicts[0].clone();
    assert_eq!(hot.verdict.name(), "hot_key");
    let message = only(events(&[StreamResult::of(&plan, None)], time()));
    assert_eq!(message["event"], "hot_key");
    assert_eq!(message["shard_ids"], json!(["shardId-000000000000"]));
    assert_eq!(message["reason"], hot.reason());
    assert_eq!(
        message["text"],
        format!(
            "kinesis-autoscaler: stream orders: hot key on shardId-000000000000: {}",
            hot.reason()
        )
    );
    assert_contains(message["text"].as_str().unwrap(), "\"user-42\"");
}

#[test]
fn a_rejected_reload_names_the_policy_and_says_how_many_were_held_back() {
    let event = reload_failed(
        std::path::Path::new("/etc/kas/policy.yaml"),
        "policy.yaml:3:5: unknown field `nme`",
        time(),
    );
    let message = event.message(2);
    assert_eq!(
        message.text,
        "kinesis-autoscaler: policy /etc/kas/policy.yaml: the new policy was rejected and the old one keeps running: policy.yaml:3:5: unknown field `nme` (2 more events like it held back since the last message)"
    );
    assert_eq!(
        message.subject(),
        "kinesis-autoscaler: reload_failed /etc/kas/policy.yaml"
    );
    let json = serde_json::to_value(&message).unwrap();
    assert_eq!(json["stream"], serde_json::Value::Null);
    assert_eq!(json["policy"], "/etc/kas/policy.yaml");
    assert_eq!(json["suppressed"], 2);
}

#[test]
fn an_sns_subject_is_one_line_of_at_most_100_characters() {
    let mut event = reload_failed(std::path::Path::new("p.yaml"), "x", time());
    event.policy = Some(format!("a\nb{}", "c".repeat(200)));
    let subject = event.message(0).subject();
    assert_eq!(subject.chars().count(), 100);
    assert!(subject.starts_with("kinesis-autoscaler: reload_failed a b"));
}

fn stuck_event(stream: &str, minutes: i64) -> Event {
    Event {
        event: EventKind::Stuck,
        stream: Some(stream.into()),
        policy: None,
        shard_ids: vec![shard_id(0).to_string()],
        actions: Vec::new(),
        reason: "at max_shards".into(),
        time: time() + chrono::TimeDelta::minutes(minutes),
        counts: EventCounts::default(),
    }
}

#[test]
fn an_event_type_is_said_once_per_stream_per_repeat_after_and_counts_the_rest() {
    let mut repeats = Repeats::default();
    let hour = Duration::from_secs(3600);
    assert_eq!(repeats.admit(&stuck_event("orders", 0), hour), Some(0));
    assert_eq!(repeats.admit(&stuck_event("orders", 1), hour), None);
    assert_eq!(repeats.admit(&stuck_event("orders", 59), hour), None);
    // Another stream, another type: said at once.
    assert_eq!(repeats.admit(&stuck_event("clicks", 1), hour), Some(0));
    let mut failed = stuck_event("orders", 2);
    failed.event = EventKind::Failed;
    assert_eq!(repeats.admit(&failed, hour), Some(0));
    // An hour after the last message: said again, with the two held back.
    assert_eq!(repeats.admit(&stuck_event("orders", 60), hour), Some(2));
    assert_eq!(repeats.admit(&stuck_event("orders", 61), hour), None);
    // 0s sends every one.
    let mut every = Repeats::default();
    for m in 0..3 {
        assert_eq!(
            every.admit(&stuck_event("orders", m), Duration::ZERO),
            Some(0)
        );
    }
}

fn to_webhook(url: &str, attempts: u32, timeout: Duration) -> Notify {
    Notify {
        destinations: vec![Destination::Webhook {
            name: "notify.targets[0].webhook".into(),
            url: url.parse().unwrap(),
        }],
        repeat_after: Duration::from_secs(3600),
        timeout,
        attempts,
    }
}

const TARGET: &str = "notify.targets[0].webhook";

#[tokio::test]
async fn a_webhook_receives_the_message_once_and_a_repeat_is_held_back() {
    let hook = WebhookReceiver::start(Answer::Ok).await;
    let notifier = Notifier::start(None);
    let notify = to_webhook(&hook.url, 3, Duration::from_secs(2));
    notifier.send(vec![stuck_event("orders", 0)], Some(&notify));
    notifier.send(vec![stuck_event("orders", 1)], Some(&notify));
    assert!(notifier.flush(Duration::from_secs(5)).await);
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    assert_eq!(
        bodies[0],
        serde_json::to_value(stuck_event("orders", 0).message(0)).unwrap()
    );
    let deliveries = notifier.deliveries();
    assert_eq!(deliveries.sent()[TARGET], 1);
    assert_eq!(deliveries.failed()[TARGET], 0);
    assert_eq!(deliveries.suppressed()[&EventKind::Stuck], 1);
}

#[tokio::test]
async fn a_webhook_answering_500_is_tried_attempts_times_off_the_pass_and_counted() {
    let hook = WebhookReceiver::start(Answer::Status(500)).await;
    let notifier = Notifier::start(None);
    let status = Status::new(Duration::from_secs(60));
    status.count_notifications(notifier.deliveries());
    let notify = to_webhook(&hook.url, 2, Duration::from_secs(2));
    let handing = Instant::now();
    notifier.send(vec![stuck_event("orders", 0)], Some(&notify));
    assert!(
        handing.elapsed() < Duration::from_millis(50),
        "handing over waited {:?}",
        handing.elapsed()
    );
    assert!(notifier.flush(Duration::from_secs(5)).await);
    // Two attempts, a second apart.
    assert!(
        handing.elapsed() >= FIRST_BACKOFF,
        "{:?}",
        handing.elapsed()
    );
    assert_eq!(hook.requests(), 2);
    let metrics = status.prometheus();
    assert_contains(
        &metrics,
        "kinesis_autoscaler_notifications_failed_total{target=\"notify.targets[0].webhook\"} 1",
    );
    assert_contains(
        &metrics,
        "kinesis_autoscaler_notifications_sent_total{target=\"notify.targets[0].webhook\"} 0",
    );
}

#[tokio::test]
async fn a_refusing_webhook_is_not_tried_again() {
    let hook = WebhookReceiver::start(Answer::Status(404)).await;
    let notifier = Notifier::start(None);
    let notify = to_webhook(&hook.url, 3, Duration::from_secs(2));
    notifier.send(vec![stuck_event("orders", 0)], Some(&notify));
    assert!(notifier.flush(Duration::from_secs(5)).await);
    assert_eq!(hook.requests(), 1);
    assert_eq!(notifier.deliveries().failed()[TARGET], 1);
}

#[tokio::test]
async fn a_hanging_webhook_times_out_each_attempt_and_a_flush_waits_no_longer_than_its_bound() {
    let hook = WebhookReceiver::start(Answer::Hang).await;
    let notifier = Notifier::start(None);
    let notify = to_webhook(&hook.url, 2, Duration::from_millis(300));
    notifier.send(vec![stuck_event("orders", 0)], Some(&notify));
    let flushing = Instant::now();
    assert!(!notifier.flush(Duration::from_millis(200)).await);
    let waited = flushing.elapsed();
    assert!(
        (Duration::from_millis(200)..Duration::from_millis(400)).contains(&waited),
        "{waited:?}"
    );
    // Two attempts of 300 ms, a second apart.
    assert!(notifier.flush(Duration::from_secs(5)).await);
    assert_eq!(hook.requests(), 2);
    assert_eq!(notifier.deliveries().failed()[TARGET], 1);
}

#[tokio::test]
async fn without_a_notify_block_nothing_is_sent_or_counted() {
    let notifier = Notifier::start(None);
    notifier.send(vec![stuck_event("orders", 0)], None);
    assert!(notifier.flush(Duration::from_secs(1)).await);
    assert!(notifier.deliveries().sent().is_empty());
    assert!(notifier.deliveries().suppressed().is_empty());
}

#[tokio::test]
async fn an_sns_target_without_a_client_fails_and_is_counted() {
    let notifier = Notifier::start(None);
    let notify = Notify {
        destinations: vec![Destination::Sns {
            name: "notify.targets[0].sns".into(),
            topic: crate::policy::notify::TopicArn("arn:aws:sns:us-east-1:123456789012:t".into()),
        }],
        ..to_webhook("http://127.0.0.1:9/", 3, Duration::from_secs(1))
    };
    notifier.send(vec![stuck_event("orders", 0)], Some(&notify));
    assert!(notifier.flush(Duration::from_secs(2)).await);
    assert_eq!(notifier.deliveries().failed()["notify.targets[0].sns"], 1);
}

#[tokio::test]
async fn a_hanging_target_holds_back_no_other_target() {
    let hanging = WebhookReceiver::start(Answer::Hang).await;
    let healthy = WebhookReceiver::start(Answer::Ok).await;
    let notifier = Notifier::start(None);
    let mut notify = to_webhook(&hanging.url, 3, Duration::from_secs(2));
    notify.destinations.push(Destination::Webhook {
        name: "notify.targets[1].webhook".into(),
        url: healthy.url.parse().unwrap(),
    });
    // Two messages: the hanging target spends up to 9 s on each.
    notifier.send(vec![stuck_event("orders", 0)], Some(&notify));
    notifier.send(vec![stuck_event("clicks", 0)], Some(&notify));
    let deadline = Instant::now() + Duration::from_secs(2);
    while healthy.requests() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(healthy.requests(), 2, "the healthy target got both at once");
    assert_eq!(notifier.deliveries().sent()["notify.targets[1].webhook"], 2);
    // Given up before its retries end (a Lambda container about to be
    // frozen): nothing more is tried, and a later flush has nothing to wait for.
    assert!(!notifier.flush(Duration::from_millis(100)).await);
    notifier.abandon();
    let tried = hanging.requests();
    assert!(notifier.flush(Duration::from_millis(100)).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(hanging.requests(), tried, "no attempt after abandon");
}

#[tokio::test]
async fn an_event_no_target_could_queue_is_not_held_back() {
    let hanging = WebhookReceiver::start(Answer::Hang).await;
    let notifier = Notifier::start(None);
    let notify = to_webhook(&hanging.url, 1, Duration::from_secs(30));
    // 64 waiting (the test's one thread has not let the delivery task
    // start): the queue is full.
    for i in 0..64 {
        notifier.send(vec![stuck_event(&format!("s{i}"), 0)], Some(&notify));
    }
    notifier.send(vec![stuck_event("orders", 0)], Some(&notify));
    assert_eq!(
        notifier.deliveries().failed()[TARGET],
        1,
        "dropped and counted"
    );
    notifier.abandon();
    // The dropped one was said to nobody: the next pass says it.
    notifier.send(vec![stuck_event("orders", 1)], Some(&notify));
    assert_eq!(
        notifier.deliveries().suppressed().get(&EventKind::Stuck),
        None
    );
    notifier.abandon();
}
