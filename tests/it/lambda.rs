//! The Lambda handler, invoked directly with a scheduled EventBridge event
//! against the local emulators.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::assert_contains;
use kinesis_autoscaler::apply::{ExecutorConfig, StopKind};
use kinesis_autoscaler::aws::Clients;
use kinesis_autoscaler::lambda::emf::EmfConfig;
use kinesis_autoscaler::lambda::job::PolicySource;
use kinesis_autoscaler::lambda::{EmfSink, Handler};
use kinesis_autoscaler::pass::PassReport;
use kinesis_autoscaler::testkit::{Answer, WebhookReceiver};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;

use crate::emulators::{
    self, cloudwatch, create_stream, kinesis, kinesis_endpoint, open_shards, put_load, unique,
};

/// The event EventBridge sends on a schedule.
fn scheduled_event() -> serde_json::Value {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-26T02:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/kinesis-autoscaler"],
        "detail": {}
    })
}

/// A context whose deadline is `left` from now.
fn context(left: Duration) -> Context {
    let mut ctx = Context::default();
    ctx.request_id = "test-request".into();
    ctx.deadline = (SystemTime::now() + left)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    ctx
}

fn handler(stream: &str) -> Handler {
    handler_with_emf(stream).0
}

/// The handler, writing its EMF lines (namespace `Test/Scaling`, with an
/// `Environment` dimension) where the test reads them.
fn handler_with_emf(stream: &str) -> (Handler, Arc<Mutex<Vec<String>>>) {
    let k = kinesis(&kinesis_endpoint());
    let emf_lines = Arc::new(Mutex::new(Vec::new()));
    let handler = Handler {
        clients: Clients::of(
            k,
            cloudwatch(),
            Arc::new(kinesis_autoscaler::model::ApiLimiter::default()),
        ),
        config: ExecutorConfig {
            poll_initial: Duration::from_millis(200),
            ..ExecutorConfig::default()
        },
        policy: PolicySource::Inline(format!("version: 1\nstreams:\n  - name: {stream}\n")),
        emf: Some(EmfConfig {
            namespace: "Test/Scaling".into(),
            dimensions: vec![("Environment".into(), "test".into())],
        }),
        emf_sink: EmfSink::Memory(emf_lines.clone()),
        notifier: kinesis_autoscaler::notify::Notifier::start(None),
        kept: kinesis_autoscaler::observe::Memory::default(),
    };
    (handler, emf_lines)
}

/// CloudWatch's units, as the EMF specification allows them.
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks `line` against the structure the Embedded Metric Format
/// specification requires, and returns it parsed: one JSON object with
/// `_aws` holding exactly `Timestamp` (milliseconds since the epoch) and
/// `CloudWatchMetrics`; each directive holding exactly `Namespace`,
/// `Dimensions` (sets of at most 30 names, each a string member of the
/// root) and `Metrics` (1 to 100, each a `Name` of a numeric member of the
/// root, with an optional known `Unit`), no metric a dimension too.
fn emf_checked(line: &str) -> serde_json::Value {
    let root: serde_json::Value = serde_json::from_str(line).expect("one JSON document");
    let root = root.as_object().expect("a JSON object");
    let meta = root["_aws"].as_object().expect("_aws is an object");
    let mut keys: Vec<&str> = meta.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["CloudWatchMetrics", "Timestamp"], "{line}");
    let timestamp = meta["Timestamp"].as_i64().expect("an integer timestamp");
    assert!(timestamp > 1_600_000_000_000, "milliseconds: {timestamp}");
    let directives = meta["CloudWatchMetrics"].as_array().unwrap();
    assert!(!directives.is_empty());
    for d in directives {
        let d = d.as_object().unwrap();
        let mut keys: Vec<&str> = d.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["Dimensions", "Metrics", "Namespace"], "{line}");
        let namespace = d["Namespace"].as_str().unwrap();
        assert!((1..=1024).contains(&namespace.len()));
        let mut dimension_names = Vec::new();
        for set in d["Dimensions"].as_array().unwrap() {
            let set = set.as_array().expect("a dimension set is an array");
            assert!(set.len() <= 30);
            for name in set {
                let name = name.as_str().unwrap();
                assert!(
                    root.get(name).is_some_and(|v| v.is_string()),
                    "dimension {name} is a string member of the root: {line}"
                );
                dimension_names.push(name);
            }
        }
        let metrics = d["Metrics"].as_array().unwrap();
        assert!((1..=100).contains(&metrics.len()));
        for m in metrics {
            let m = m.as_object().unwrap();
            assert!(
                m.keys()
                    .all(|k| ["Name", "Unit", "StorageResolution"].contains(&k.as_str()))
            );
            let name = m["Name"].as_str().unwrap();
            assert!(
                !dimension_names.contains(&name),
                "{name} is a metric and a dimension"
            );
            match &root.get(name) {
                Some(serde_json::Value::Number(_)) => {}
                Some(serde_json::Value::Array(values)) => {
                    assert!(values.len() <= 100 && values.iter().all(|v| v.is_number()))
                }
                other => panic!("metric {name} must be a number member of the root, is {other:?}"),
            }
            if let Some(unit) = m.get("Unit") {
                assert!(UNITS.contains(&unit.as_str().unwrap()), "unit {unit}");
            }
        }
    }
    serde_json::Value::Object(root.clone())
}

#[tokio::test]
async fn a_scheduled_invocation_runs_one_pass_and_returns_a_summary() {
    if !emulators::running("a_scheduled_invocation_runs_one_pass_and_returns_a_summary") {
        return;
    }
    let k = kinesis(&kinesis_endpoint());
    let name = unique("lambda");
    create_stream(&k, &name, 2, false).await;
    let shards = open_shards(&k, &name).await;
    put_load(&name, &shards[0].id, 40, 0.95, 0.0).await;
    put_load(&name, &shards[1].id, 40, 0.4, 0.0).await;

    let (first, emf_lines) = handler_with_emf(&name);
    let report = scheduled(&first, Duration::from_secs(600)).await.unwrap();
    assert!(report.succeeded(), "{report:#?}");
    // One EMF line for the stream, valid by the specification.
    let lines = emf_lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = emf_checked(&lines[0]);
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "Test/Scaling"
    );
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["StreamName", "Environment"]])
    );
    assert_eq!(line["StreamName"], name.as_str());
    assert_eq!(line["Environment"], "test");
    assert_eq!(line["OpenShards"], 3.0);
    assert_eq!(line["ActionsApplied"], 1.0);
    assert_eq!(line["ActionsFailed"], 0.0);
    assert_eq!(line["ThrottledRecords"], 0.0);
    let peak = line["PeakUtilization"].as_f64().unwrap();
    assert!((peak - 95.0).abs() < 0.5, "{peak}");
    // No consumer guard in this policy: no lag to report.
    assert!(line.get("ConsumerLag").is_none());
    let summary = serde_json::to_value(&report).unwrap();
    let stream = &summary["streams"][0];
    assert_eq!(stream["stream"], name.as_str());
    assert_eq!(stream["planned_actions"], 1);
    assert_eq!(stream["open_shards_before"], 2);
    assert_eq!(stream["open_shards_after"], 3);
    assert_eq!(stream["apply"]["applied"][0]["type"], "split");
    assert_eq!(
        stream["apply"]["applied"][0]["shard_id"],
        shards[0].id.as_str()
    );
    assert_eq!(open_shards(&k, &name).await.len(), 3);
    let tags = k
        .list_tags_for_stream()
        .stream_name(&name)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "kinesis-autoscaler:last-scale-up")
    );

    // The next invocation finds the cooldown in the tags: nothing to do.
    let again = handler(&name)
        .handle(LambdaEvent::new(
            json!({"any": "payload"}),
            context(Duration::from_secs(600)),
        ))
        .await
        .unwrap();
    assert!(again.succeeded());
    assert_eq!(again.streams[0].planned_actions, 0);
    assert_eq!(open_shards(&k, &name).await.len(), 3);
}

#[tokio::test]
async fn too_short_a_deadline_starts_no_operation() {
    if !emulators::running("too_short_a_deadline_starts_no_operation") {
        return;
    }
    let k = kinesis(&kinesis_endpoint());
    let name = unique("deadline");
    create_stream(&k, &name, 1, false).await;
    let shards = open_shards(&k, &name).await;
    put_load(&name, &shards[0].id, 40, 0.95, 0.0).await;

    // 30 seconds left, less than the 90 an operation is given to finish.
    let report = scheduled(&handler(&name), Duration::from_secs(30))
        .await
        .unwrap();
    let apply = report.streams[0].apply.as_ref().expect("a plan was made");
    assert_eq!(apply.applied, vec![]);
    assert_eq!(apply.not_applied.len(), 1);
    let stop = apply.stop.as_ref().unwrap();
    assert_eq!(stop.kind, StopKind::Deadline);
    assert_contains(&stop.message, "the next run continues");
    assert!(!report.succeeded());
    assert_eq!(open_shards(&k, &name).await.len(), 1, "nothing was started");
    let tags = k
        .list_tags_for_stream()
        .stream_name(&name)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags().is_empty(),
        "and nothing recorded: {:?}",
        tags.tags()
    );
}

#[tokio::test]
async fn a_bad_policy_fails_the_invocation_with_the_reason() {
    if !emulators::running("a_bad_policy_fails_the_invocation_with_the_reason") {
        return;
    }
    let mut h = handler("x");
    h.policy = PolicySource::Inline("version: 1\nstreams: [{name: x, max_shards: 0}]\n".into());
    let err = scheduled(&h, Duration::from_secs(600)).await.unwrap_err();
    assert!(err.to_string().contains("streams[0].max_shards"), "{err}");
}

/// A frozen container delivers nothing: the invocation returns once its
/// notifications are delivered. A warm container remembers what it said;
/// a cold one says it again.
#[tokio::test]
async fn an_invocation_delivers_its_notifications_and_a_warm_container_holds_back_a_repeat() {
    if !emulators::running(
        "an_invocation_delivers_its_notifications_and_a_warm_container_holds_back_a_repeat",
    ) {
        return;
    }
    let k = kinesis(&kinesis_endpoint());
    let name = unique("lambda-stuck");
    create_stream(&k, &name, 2, false).await;
    let shards = open_shards(&k, &name).await;
    put_load(&name, &shards[0].id, 40, 0.95, 30.0).await;
    put_load(&name, &shards[1].id, 40, 0.95, 0.0).await;
    let hook = WebhookReceiver::start(Answer::Ok).await;
    let stuck_handler = || Handler {
        policy: PolicySource::Inline(format!(
            "version: 1\nstreams:\n  - name: {name}\n    max_shards: 2\nnotify:\n  targets: [ {{ webhook: '{}' }} ]\n",
            hook.url
        )),
        ..handler(&name)
    };
    let warm = stuck_handler();
    invoke(&warm).await;
    let said = hook.bodies();
    assert_eq!(said.len(), 1, "delivered before returning: {said:#?}");
    assert_eq!(said[0]["event"], "stuck");
    assert_eq!(said[0]["stream"], name.as_str());
    assert_eq!(said[0]["shard_ids"], json!([shards[0].id.as_str()]));
    invoke(&warm).await;
    assert_eq!(hook.requests(), 1, "held back by the warm container");
    invoke(&stuck_handler()).await;
    assert_eq!(hook.requests(), 2, "said again after a cold start");
}

/// One invocation by the schedule, with `left` before its deadline.
async fn scheduled(handler: &Handler, left: Duration) -> Result<PassReport, lambda_runtime::Error> {
    handler
        .handle(LambdaEvent::new(scheduled_event(), context(left)))
        .await
}

async fn invoke(handler: &Handler) {
    let report = scheduled(handler, Duration::from_secs(600)).await.unwrap();
    assert!(report.succeeded(), "{report:#?}");
}

/// A Lambda Runtime API on 127.0.0.1 that hands out one scheduled event
/// and reports what the function answered (`Ok` its response, `Err` an
/// error it posted); later `next` requests are held open, as Lambda holds
/// them between invocations, until the function goes away.
fn runtime_api() -> (String, std::sync::mpsc::Receiver<Result<String, String>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    let given = Arc::new(AtomicBool::new(false));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let (tx, given) = (tx.clone(), given.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut request = String::new();
                    if reader.read_line(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0;
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).unwrap();
                        if header.trim().is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let body = String::from_utf8_lossy(&body).into_owned();
                    let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
                    if path.ends_with("/invocation/next") {
                        if given.swap(true, Ordering::SeqCst) {
                            // One invocation only: hold this one open
                            // until the function, killed, closes it.
                            let _ = reader.read(&mut [0u8; 1]);
                            return;
                        }
                        let event = scheduled_event().to_string();
                        let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
                            + Duration::from_secs(60);
                        let _ = write!(
                            conn,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: req-1\r\nLambda-Runtime-Deadline-Ms: {}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:kas\r\nLambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\nContent-Length: {}\r\n\r\n{event}",
                            deadline.as_millis(),
                            event.len()
                        );
                    } else {
                        let _ = tx.send(if path.ends_with("/response") {
                            Ok(body)
                        } else {
                            Err(format!("{path}: {body}"))
                        });
                        let _ = write!(conn, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
                    }
                }
            });
        }
    });
    (address, rx)
}

/// The real bootstrap binary under the Lambda Runtime API protocol: with
/// Lambda's default text log format its log lines carry no terminal
/// colour codes (CloudWatch Logs would show them raw), and with
/// `AWS_LAMBDA_LOG_FORMAT=JSON` every line it writes is JSON. The stream's
/// endpoints lead nowhere, so the pass fails and logs why; the invocation
/// answers with the stream's error.
#[test]
fn the_bootstrap_logs_plain_text_or_json_never_colour_codes() {
    for format in [None, Some("JSON")] {
        let (api, answers) = runtime_api();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kinesis-autoscaler-lambda"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &api)
            .env("AWS_LAMBDA_FUNCTION_NAME", "kas")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:9")
            .env("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:9")
            .env("AWS_ENDPOINT_URL_SNS", "http://127.0.0.1:9")
            .env(
                "KAS_POLICY_YAML",
                "version: 1\nstreams: [ { name: orders } ]\n",
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(format) = format {
            cmd.env("AWS_LAMBDA_LOG_FORMAT", format);
        }
        let mut child = cmd.spawn().unwrap();
        let answer = answers.recv_timeout(Duration::from_secs(90));
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        let answer = answer.unwrap_or_else(|e| panic!("no answer ({e}): {stdout}\n{stderr}"));
        // The invocation answers; the stream's entry says why it failed.
        let summary: serde_json::Value =
            serde_json::from_str(&answer.unwrap_or_else(|e| panic!("{e}"))).unwrap();
        assert_eq!(summary["streams"][0]["stream"], "orders");
        assert_contains(
            summary["streams"][0]["error"].as_str().unwrap(),
            "DescribeStreamSummary failed",
        );
        let logs = format!("{stdout}{stderr}");
        assert_contains(&logs, "invoked by EventBridge");
        assert!(
            !logs.contains('\u{1b}'),
            "{format:?}: colour codes in:\n{logs}"
        );
        if format.is_some() {
            for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
                serde_json::from_str::<serde_json::Value>(line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            }
        } else {
            assert_contains(&stdout, " INFO ");
        }
    }
}
