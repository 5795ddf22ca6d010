//! The capabilities the controller needs from the outside world, as small
//! traits: reading Kinesis, writing to Kinesis, reading metrics, and the
//! clock. The AWS adapters ([`crate::aws`]) and the simulator
//! ([`crate::sim`]) implement them.
//!
//! Reading and writing are separate traits so that a code path given only a
//! [`KinesisRead`] (the `plan` command) cannot reshard by construction.

use std::fmt;
use std::future::Future;

use chrono::{DateTime, Utc};

use crate::model::{HashKey, Shard, ShardId};
use crate::observation::{History, Metrics, ShardMetrics, StreamMode, StreamStatus};

/// How API calls address a stream: by name, or by ARN (which also reaches
/// streams of other accounts the credentials may act on).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    /// The stream's name, as metrics dimensions and messages use it.
    pub name: String,
    /// The stream's ARN, when the policy named it by ARN.
    pub arn: Option<String>,
}

impl StreamId {
    pub fn named(name: impl Into<String>) -> Self {
        StreamId {
            name: name.into(),
            arn: None,
        }
    }

    /// A stream given by name, or by ARN (`arn:...:stream/NAME`).
    pub fn from_name_or_arn(text: &str) -> Self {
        match crate::policy::arn_stream_name(text) {
            Some(name) => StreamId {
                name: name.to_owned(),
                arn: Some(text.to_owned()),
            },
            None => StreamId::named(text),
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A stream as ListStreams lists it. Real AWS gives the status, mode and
/// ARN with the name (StreamSummaries); older APIs and emulators may give
/// the name alone.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamListing {
    pub name: String,
    pub arn: Option<String>,
    pub status: Option<StreamStatus>,
    pub mode: Option<StreamMode>,
}

impl StreamListing {
    /// A listing of the name alone.
    pub fn named(name: impl Into<String>) -> Self {
        StreamListing {
            name: name.into(),
            arn: None,
            status: None,
            mode: None,
        }
    }
}

/// What DescribeStreamSummary tells about a stream.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSummary {
    pub name: String,
    pub arn: String,
    pub status: StreamStatus,
    pub mode: StreamMode,
    pub open_shard_count: u32,
    /// Shard-level metrics enabled by enhanced monitoring.
    pub shard_level_metrics: Vec<MetricName>,
    /// StreamCreationTimestamp, when the API gave it.
    pub created_at: Option<DateTime<Utc>>,
}

impl StreamSummary {
    /// The metrics among `needed` that enhanced monitoring does not publish.
    pub fn missing_metrics(&self, needed: &[MetricName]) -> Vec<MetricName> {
        needed
            .iter()
            .copied()
            .filter(|m| !self.shard_level_metrics.contains(m))
            .collect()
    }
}

/// The account's shard quota, from DescribeLimits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardQuota {
    /// Open shards the account may have in this region.
    pub shard_limit: u32,
    /// Open shards the account has now, across all streams.
    pub open_shard_count: u32,
}

impl ShardQuota {
    /// How many more shards the account may open.
    pub fn headroom(&self) -> u32 {
        self.shard_limit.saturating_sub(self.open_shard_count)
    }
}

/// A shard-level CloudWatch metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricName {
    IncomingBytes,
    IncomingRecords,
    WriteProvisionedThroughputExceeded,
    OutgoingBytes,
    OutgoingRecords,
    ReadProvisionedThroughputExceeded,
    IteratorAgeMilliseconds,
}

impl MetricName {
    pub const ALL: [MetricName; 7] = [
        MetricName::IncomingBytes,
        MetricName::IncomingRecords,
        MetricName::WriteProvisionedThroughputExceeded,
        MetricName::OutgoingBytes,
        MetricName::OutgoingRecords,
        MetricName::ReadProvisionedThroughputExceeded,
        MetricName::IteratorAgeMilliseconds,
    ];

    /// The name CloudWatch and EnableEnhancedMonitoring use.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricName::IncomingBytes => "IncomingBytes",
            MetricName::IncomingRecords => "IncomingRecords",
            MetricName::WriteProvisionedThroughputExceeded => "WriteProvisionedThroughputExceeded",
            MetricName::OutgoingBytes => "OutgoingBytes",
            MetricName::OutgoingRecords => "OutgoingRecords",
            MetricName::ReadProvisionedThroughputExceeded => "ReadProvisionedThroughputExceeded",
            MetricName::IteratorAgeMilliseconds => "IteratorAgeMilliseconds",
        }
    }

    pub fn parse(name: &str) -> Option<MetricName> {
        MetricName::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// The series of `metrics` this metric is stored in.
    pub fn series_mut(self, metrics: &mut ShardMetrics) -> &mut crate::observation::Series {
        match self {
            MetricName::IncomingBytes => &mut metrics.incoming_bytes,
            MetricName::IncomingRecords => &mut metrics.incoming_records,
            MetricName::WriteProvisionedThroughputExceeded => &mut metrics.write_throttled,
            MetricName::OutgoingBytes => &mut metrics.outgoing_bytes,
            MetricName::OutgoingRecords => &mut metrics.outgoing_records,
            MetricName::ReadProvisionedThroughputExceeded => &mut metrics.read_throttled,
            MetricName::IteratorAgeMilliseconds => &mut metrics.iterator_age_ms,
        }
    }
}

impl fmt::Display for MetricName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an API call failed, as far as deciding what to do next goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// LimitExceededException or throttling: back off and retry. (AWS also
    /// uses LimitExceededException when a split would pass the account's
    /// shard quota.)
    Throttled,
    /// ResourceInUseException: the stream is not ACTIVE (a reshard runs).
    ResourceInUse,
    /// ResourceNotFoundException: no such stream (or shard).
    NotFound,
    /// InvalidArgumentException / ValidationException: the request is wrong
    /// for the stream's current state (e.g. a shard already closed).
    InvalidArgument,
    /// AccessDeniedException: the credentials lack a permission.
    AccessDenied,
    /// The credentials themselves are wrong or expired.
    Credentials,
    /// The call timed out; it may or may not have taken effect.
    Timeout,
    /// No usable answer (connection failure, HTTP 5xx, unparseable reply);
    /// the call may or may not have taken effect.
    Unavailable,
    Other,
}

impl ApiErrorKind {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ApiErrorKind::Throttled
                | ApiErrorKind::ResourceInUse
                | ApiErrorKind::Timeout
                | ApiErrorKind::Unavailable
        )
    }
}

/// A failed call to Kinesis or CloudWatch.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {}{message}", code.as_ref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub struct ApiError {
    pub operation: &'static str,
    pub kind: ApiErrorKind,
    /// The AWS error code, e.g. `LimitExceededException`.
    pub code: Option<String>,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    pub fn new(
        operation: &'static str,
        kind: ApiErrorKind,
        code: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            operation,
            kind,
            code: code.map(str::to_owned),
            message: message.into(),
            source: None,
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Reading a stream's state. Everything `plan` needs, and nothing more.
pub trait KinesisRead: Send + Sync {
    /// All streams in the account and region, sorted by name.
    fn list_streams(&self) -> impl Future<Output = ApiResult<Vec<StreamListing>>> + Send;
    fn describe_stream(
        &self,
        stream: &StreamId,
    ) -> impl Future<Output = ApiResult<StreamSummary>> + Send;
    /// The open shards only (closed parents stay listed on AWS until
    /// retention expires and must never be counted).
    fn list_open_shards(
        &self,
        stream: &StreamId,
    ) -> impl Future<Output = ApiResult<Vec<Shard>>> + Send;
    fn shard_quota(&self) -> impl Future<Output = ApiResult<ShardQuota>> + Send;
    /// The cooldown history the controller keeps on the stream.
    fn read_history(&self, stream: &StreamId) -> impl Future<Output = ApiResult<History>> + Send;
}

/// Changing a stream: resharding, and recording what was done.
pub trait KinesisWrite: Send + Sync {
    fn split_shard(
        &self,
        stream: &StreamId,
        shard: &ShardId,
        new_starting_hash_key: HashKey,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    fn merge_shards(
        &self,
        stream: &StreamId,
        shard: &ShardId,
        adjacent: &ShardId,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// Stores the cooldown history on the stream, with a note saying what
    /// was last done.
    fn write_history(
        &self,
        stream: &StreamId,
        history: &History,
        note: &str,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    fn enable_shard_metrics(
        &self,
        stream: &StreamId,
        metrics: &[MetricName],
    ) -> impl Future<Output = ApiResult<()>> + Send;
}

/// The metrics of one stream a pass reads: what [`MetricsRead::read_metrics`]
/// takes, so that requests for many streams can share calls.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsRequest {
    pub stream: String,
    pub shards: Vec<ShardId>,
    pub metrics: Vec<MetricName>,
    pub start: DateTime<Utc>,
    pub minutes: u32,
}

/// Where [`MetricsRead::read_metrics_streamed`] sends each request's answer.
pub type MetricsSender = tokio::sync::mpsc::UnboundedSender<(usize, ApiResult<Metrics>)>;

/// Reading CloudWatch metrics.
pub trait MetricsRead: Send + Sync {
    /// Reads the metrics of every request, sending each answer (with the
    /// request's index) on `done` as soon as it is complete, so the caller
    /// goes on with a stream while others are read. Requests with the same
    /// window may share calls: GetMetricData takes 500 queries a call,
    /// whatever stream they are for.
    fn read_metrics_streamed(
        &self,
        requests: &[MetricsRequest],
        done: MetricsSender,
    ) -> impl Future<Output = ()> + Send {
        async move {
            for (i, r) in requests.iter().enumerate() {
                let answer = self
                    .read_metrics(&r.stream, &r.shards, &r.metrics, r.start, r.minutes)
                    .await;
                let _ = done.send((i, answer));
            }
        }
    }

    /// Per-minute Sums over the `minutes` minutes starting at `start`
    /// (minute-aligned): the stream-level IncomingBytes and IncomingRecords
    /// of `stream`, and `metrics` for each of `shards`, read together in as
    /// few calls as the API allows. A missing datapoint stays missing.
    fn read_metrics(
        &self,
        stream: &str,
        shards: &[ShardId],
        metrics: &[MetricName],
        start: DateTime<Utc>,
        minutes: u32,
    ) -> impl Future<Output = ApiResult<Metrics>> + Send;
}

/// Wall-clock time. Waits use `tokio::time`, so tests can pause and advance it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that follows `tokio::time` from a fixed start, so that with
/// paused time (tests, the simulator) wall-clock time advances exactly as
/// fast as the waits do.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    origin: DateTime<Utc>,
    started: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(origin: DateTime<Utc>) -> Self {
        TokioClock {
            origin,
            started: tokio::time::Instant::now(),
        }
    }
}

impl TokioClock {
    /// The tokio instant at which this clock reads `t`.
    pub fn instant_at(&self, t: DateTime<Utc>) -> tokio::time::Instant {
        let offset = (t - self.origin).to_std().unwrap_or_default();
        self.started + offset
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.started;
        self.origin + chrono::TimeDelta::from_std(elapsed).unwrap_or(chrono::TimeDelta::MAX)
    }
}

impl<T: Clock + ?Sized> Clock for &T {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<T: Clock + ?Sized> Clock for std::sync::Arc<T> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}
