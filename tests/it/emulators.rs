//! The local AWS emulators for the end-to-end tests: kinesis-local for
//! Kinesis and moto for CloudWatch, on 127.0.0.1 only.
//!
//! `scripts/test` (the README's test command) starts one shared pair and
//! says where through `KAS_TEST_KINESIS_ENDPOINT`,
//! `KAS_TEST_CLOUDWATCH_ENDPOINT` and `KAS_TEST_SNS_ENDPOINT` (moto's SNS); a test that needs its own Kinesis (a
//! small shard quota, say) starts a private one with `scripts/emulators`,
//! stopped when the guard drops.

use std::process::Command;
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime as CwDateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::types::{
    MetricsName, ShardFilter, ShardFilterType, StreamMode, StreamModeDetails, StreamStatus,
};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use kinesis_autoscaler::model::{HashKey, HashKeyRange, Shard, ShardId};

use crate::support::root;

/// Set by `scripts/test`: a test that needs the emulators fails rather
/// than skips when they are not there.
const REQUIRED: &str = "KAS_REQUIRE_EMULATORS";

/// Whether the shared emulators are running. When they are not (a plain
/// `cargo test` on a fresh clone), the calling test says it is skipped and
/// should return; under `scripts/test` it fails instead.
pub(crate) fn running(test: &str) -> bool {
    let set = ["KAS_TEST_KINESIS_ENDPOINT", "KAS_TEST_CLOUDWATCH_ENDPOINT"]
        .iter()
        .all(|v| std::env::var_os(v).is_some());
    if !set {
        assert!(
            std::env::var_os(REQUIRED).is_none(),
            "{test}: {REQUIRED} is set but the emulator endpoints are not; run `scripts/test`"
        );
        // Once, past the test harness's capture, so a plain `cargo test`
        // says what it did not run.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "note: the tests against the local emulators (live::*, lambda::*) are skipped; run `scripts/test` to start the emulators and run everything"
            );
        });
        eprintln!("skipped {test}: it needs the local emulators");
    }
    set
}

/// The shared emulator endpoint in `var`, or a clear failure.
fn shared(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the whole suite with `scripts/test`, which starts the local emulators")
    })
}

pub(crate) fn kinesis_endpoint() -> String {
    shared("KAS_TEST_KINESIS_ENDPOINT")
}

pub(crate) fn cloudwatch_endpoint() -> String {
    shared("KAS_TEST_CLOUDWATCH_ENDPOINT")
}

/// moto's SNS: `KAS_TEST_SNS_ENDPOINT`, else the moto that serves
/// CloudWatch (it serves SNS too).
pub(crate) fn sns_endpoint() -> String {
    std::env::var("KAS_TEST_SNS_ENDPOINT").unwrap_or_else(|_| cloudwatch_endpoint())
}

/// An SNS client for the moto at `endpoint`.
pub(crate) fn sns(endpoint: &str) -> aws_sdk_sns::Client {
    let config = aws_sdk_sns::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

/// An emulator of a test's own, stopped on drop.
pub(crate) struct PrivateEmulator {
    pub endpoint: String,
    pid: String,
}

/// A kinesis-local of a test's own (a small shard quota, say).
pub(crate) type PrivateKinesis = PrivateEmulator;

impl PrivateEmulator {
    /// A kinesis-local with an account shard quota of `shard_limit`.
    pub(crate) fn start(shard_limit: u32) -> Self {
        Self::start_with(&["start-kinesis"], &[&shard_limit.to_string()])
    }

    /// A moto of its own, for a test whose CloudWatch data would slow the
    /// shared one down for everyone (moto scans all its datapoints on every
    /// read).
    pub(crate) fn moto() -> Self {
        Self::start_with(&["start-moto"], &[])
    }

    fn start_with(command: &[&str], extra: &[&str]) -> Self {
        let script = root().join("scripts/emulators");
        let port = Command::new(&script)
            .arg("free-port")
            .output()
            .expect("scripts/emulators runs");
        let port = String::from_utf8(port.stdout).unwrap().trim().to_owned();
        let out = Command::new(&script)
            .args(command)
            .arg(&port)
            .args(extra)
            .output()
            .expect("scripts/emulators runs");
        assert!(
            out.status.success(),
            "cannot start a private emulator ({command:?}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PrivateEmulator {
            endpoint: format!("http://127.0.0.1:{port}"),
            pid: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        }
    }
}

impl Drop for PrivateEmulator {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/emulators"))
            .args(["stop", &self.pid])
            .status();
    }
}

/// A Kinesis client for a test's own setup and checks.
pub(crate) fn kinesis(endpoint: &str) -> aws_sdk_kinesis::Client {
    let config = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_kinesis::Client::from_conf(config)
}

pub(crate) fn cloudwatch() -> aws_sdk_cloudwatch::Client {
    cloudwatch_at(&cloudwatch_endpoint())
}

/// A CloudWatch client for the moto at `endpoint`.
pub(crate) fn cloudwatch_at(endpoint: &str) -> aws_sdk_cloudwatch::Client {
    let config = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_cloudwatch::Client::from_conf(config)
}

/// A stream name no other test uses.
pub(crate) fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), fastrand::u32(..))
}

/// Creates a stream with the shard-level write metrics on, and waits until
/// it is ACTIVE.
pub(crate) async fn create_stream(
    client: &aws_sdk_kinesis::Client,
    name: &str,
    shards: i32,
    on_demand: bool,
) {
    create_bare_stream(client, name, shards, on_demand).await;
    client
        .enable_enhanced_monitoring()
        .stream_name(name)
        .shard_level_metrics(MetricsName::IncomingBytes)
        .shard_level_metrics(MetricsName::IncomingRecords)
        .shard_level_metrics(MetricsName::WriteProvisionedThroughputExceeded)
        .send()
        .await
        .expect("EnableEnhancedMonitoring");
    wait_active(client, name).await;
}

/// Creates a stream without shard-level metrics, and waits until it is ACTIVE.
pub(crate) async fn create_bare_stream(
    client: &aws_sdk_kinesis::Client,
    name: &str,
    shards: i32,
    on_demand: bool,
) {
    let mut request = client.create_stream().stream_name(name);
    if on_demand {
        let mode = StreamModeDetails::builder()
            .stream_mode(StreamMode::OnDemand)
            .build()
            .unwrap();
        request = request.stream_mode_details(mode);
    } else {
        request = request.shard_count(shards);
    }
    request.send().await.expect("CreateStream");
    wait_active(client, name).await;
}

pub(crate) async fn wait_active(client: &aws_sdk_kinesis::Client, name: &str) {
    for _ in 0..100 {
        let out = client
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .unwrap();
        if out.stream_description_summary().unwrap().stream_status() == &StreamStatus::Active {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("stream {name} did not become ACTIVE");
}

/// Every shard of the stream, open and closed, as ListShards reports it.
pub(crate) async fn all_shards(
    client: &aws_sdk_kinesis::Client,
    name: &str,
) -> Vec<aws_sdk_kinesis::types::Shard> {
    client
        .list_shards()
        .stream_name(name)
        .send()
        .await
        .expect("ListShards")
        .shards()
        .to_vec()
}

/// The open shards, sorted by hash key.
pub(crate) async fn open_shards(client: &aws_sdk_kinesis::Client, name: &str) -> Vec<Shard> {
    let filter = ShardFilter::builder()
        .r#type(ShardFilterType::AtLatest)
        .build()
        .unwrap();
    let out = client
        .list_shards()
        .stream_name(name)
        .shard_filter(filter)
        .send()
        .await
        .expect("ListShards");
    let mut shards: Vec<Shard> = out
        .shards()
        .iter()
        .map(|s| {
            let r = s.hash_key_range().unwrap();
            Shard {
                id: ShardId::new(s.shard_id()),
                range: HashKeyRange::new(
                    r.starting_hash_key().parse::<HashKey>().unwrap(),
                    r.ending_hash_key().parse::<HashKey>().unwrap(),
                )
                .unwrap(),
                parent_shard_id: s.parent_shard_id().map(ShardId::new),
                adjacent_parent_shard_id: s.adjacent_parent_shard_id().map(ShardId::new),
                open: true,
            }
        })
        .collect();
    shards.sort_by_key(|s| s.range);
    shards
}

/// The start of the current minute.
pub(crate) fn this_minute() -> DateTime<Utc> {
    Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap()
}

/// Writes `minutes` per-minute datapoints of the three write metrics for
/// one shard, ending with the current minute (so the newest complete minute
/// is covered even if the clock turns a minute before the binary looks):
/// `utilization` of the byte limit (2 KiB records) and `throttled` rejected
/// records a minute. The stream-level datapoints get the same, as Kinesis
/// publishes them too: CloudWatch sums what several calls put on one
/// stream's minute, so the stream-level series are the shards' sum.
pub(crate) async fn put_load(
    stream: &str,
    shard: &ShardId,
    minutes: i64,
    utilization: f64,
    throttled: f64,
) {
    put_metrics(stream, Some(shard), 0..minutes, utilization, throttled).await;
    put_metrics(stream, None, 0..minutes, utilization, throttled).await;
}

/// Writes per-minute datapoints for the minutes `minutes_ago` before the
/// current one (0 is the current minute) of the three write metrics, for
/// `shard` or for the whole stream (`None`): IncomingBytes at
/// `utilization` of a shard's byte limit, IncomingRecords of 2 KiB
/// records, and `throttled` WriteProvisionedThroughputExceeded.
pub(crate) async fn put_metrics(
    stream: &str,
    shard: Option<&ShardId>,
    minutes_ago: std::ops::Range<i64>,
    utilization: f64,
    throttled: f64,
) {
    put_metrics_to(
        &cloudwatch(),
        stream,
        shard,
        minutes_ago,
        utilization,
        throttled,
    )
    .await;
}

/// Writes the consumers' iterator age for the minutes `minutes_ago`:
/// for the whole stream (`None`) as GetRecords.IteratorAgeMilliseconds,
/// for `shard` as IteratorAgeMilliseconds. Each minute gets two
/// datapoints, `ms` and half of it, as two consumers would publish: only
/// the Maximum statistic reads `ms`.
pub(crate) async fn put_iterator_age(
    stream: &str,
    shard: Option<&ShardId>,
    minutes_ago: std::ops::Range<i64>,
    ms: f64,
) {
    let newest = this_minute();
    let name = match shard {
        None => "GetRecords.IteratorAgeMilliseconds",
        Some(_) => "IteratorAgeMilliseconds",
    };
    let mut data = Vec::new();
    for m in minutes_ago {
        let t = CwDateTime::from_secs((newest - TimeDelta::minutes(m)).timestamp());
        for value in [ms, ms / 2.0] {
            data.push(datum(
                stream,
                shard,
                (name, value, StandardUnit::Milliseconds),
                t,
            ));
        }
    }
    put_data(&cloudwatch(), &data).await;
}

/// One datapoint of `metric` (name, value, unit) at `t`, for `shard` or
/// (`None`) the whole stream.
fn datum(
    stream: &str,
    shard: Option<&ShardId>,
    (name, value, unit): (&str, f64, StandardUnit),
    t: CwDateTime,
) -> MetricDatum {
    let mut datum = MetricDatum::builder().metric_name(name).dimensions(
        Dimension::builder()
            .name("StreamName")
            .value(stream)
            .build(),
    );
    if let Some(shard) = shard {
        datum = datum.dimensions(
            Dimension::builder()
                .name("ShardId")
                .value(shard.as_str())
                .build(),
        );
    }
    datum.timestamp(t).value(value).unit(unit).build()
}

/// Puts `data` in the namespace AWS/Kinesis, 500 datapoints a call.
async fn put_data(client: &aws_sdk_cloudwatch::Client, data: &[MetricDatum]) {
    for chunk in data.chunks(500) {
        client
            .put_metric_data()
            .namespace("AWS/Kinesis")
            .set_metric_data(Some(chunk.to_vec()))
            .send()
            .await
            .expect("PutMetricData");
    }
}

/// [`put_metrics`] into the CloudWatch `client` talks to.
pub(crate) async fn put_metrics_to(
    client: &aws_sdk_cloudwatch::Client,
    stream: &str,
    shard: Option<&ShardId>,
    minutes_ago: std::ops::Range<i64>,
    utilization: f64,
    throttled: f64,
) {
    let newest = this_minute();
    let bytes = utilization * 60.0 * 1_048_576.0;
    let mut data = Vec::new();
    for m in minutes_ago {
        let t = CwDateTime::from_secs((newest - TimeDelta::minutes(m)).timestamp());
        let metrics = [
            ("IncomingBytes", bytes, StandardUnit::Bytes),
            ("IncomingRecords", bytes / 2048.0, StandardUnit::Count),
            (
                "WriteProvisionedThroughputExceeded",
                throttled,
                StandardUnit::Count,
            ),
        ];
        for metric in metrics {
            data.push(datum(stream, shard, metric, t));
        }
    }
    put_data(client, &data).await;
}
