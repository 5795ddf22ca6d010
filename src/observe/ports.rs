//! The capabilities the controller needs from the outside world, as small
//! traits: reading Kinesis, writing to Kinesis, reading metrics, and the
//! clock. The AWS adapters ([`crate::aws`]) and the simulator
//! ([`crate::sim`]) implement them.
//!
//! Reading and writing are separate traits so that a code path given only a
//! [`KinesisRead`] (the `plan` command) cannot reshard by construction.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::model::{
    ApiResult, HashKey, History, MetricName, MetricsRecord, Shard, ShardId, ShardQuota, StreamId,
    StreamListing, StreamSummary,
};
use crate::observe::Metrics;

/// Reading a stream's state. Everything `plan` needs, and nothing more:
/// with `split_at: traffic`, that includes samples of a shard's records.
pub trait KinesisRead: RecordsRead + Send + Sync {
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

/// Publishing a notification to a topic (SNS, in `aws/`): the notifier's
/// one way out of the process besides webhooks. Object-safe, so that the
/// notifier holds whichever the runtime built, or none.
pub trait Publish: Send + Sync + std::fmt::Debug {
    fn publish<'a>(
        &'a self,
        message: Publication<'a>,
    ) -> futures::future::BoxFuture<'a, Result<(), PublishError>>;
}

/// One message for a topic.
#[derive(Clone, Copy, Debug)]
pub struct Publication<'a> {
    /// The topic's ARN.
    pub topic: &'a str,
    pub subject: &'a str,
    /// The message, JSON.
    pub body: &'a str,
    /// For a FIFO topic: the message group and the deduplication id.
    pub fifo: Option<(&'a str, &'a str)>,
}

/// Why a publication failed, and whether another attempt may succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishError {
    pub message: String,
    pub retry: bool,
}

/// Changing a stream: resharding, and recording what was done.
pub trait KinesisWrite: Send + Sync {
    /// Splits `shard`. Not paced by the implementation: the caller (the
    /// executor) waits for the account's SplitShard rate first.
    fn split_shard(
        &self,
        stream: &StreamId,
        shard: &ShardId,
        new_starting_hash_key: HashKey,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// Merges two adjacent shards. Not paced by the implementation, as
    /// [`KinesisWrite::split_shard`].
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
    /// Records, in the stream's tags, which shard-level metrics the
    /// controller enabled itself (and so may disable), and nothing else.
    fn record_shard_metrics(
        &self,
        stream: &StreamId,
        record: &MetricsRecord,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// Stops enhanced monitoring of `metrics` (DisableEnhancedMonitoring):
    /// CloudWatch bills shard-level metrics for the hours they are
    /// published.
    fn disable_shard_metrics(
        &self,
        stream: &StreamId,
        metrics: &[MetricName],
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// Sets an On-Demand stream's warm throughput, MiB/s
    /// (UpdateStreamWarmThroughput; On-Demand Advantage accounts only). The
    /// stream is UPDATING until it has scaled.
    fn update_warm_throughput(
        &self,
        stream: &StreamId,
        mib: u32,
    ) -> impl Future<Output = ApiResult<()>> + Send;
}

/// The metrics of one stream a pass reads: what [`MetricsRead::read_metrics`]
/// takes, so that requests for many streams can share calls.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsRequest {
    pub stream: String,
    /// Whether to read the stream-level series (IncomingBytes,
    /// IncomingRecords, WriteProvisionedThroughputExceeded): every pass
    /// does, but a second read for shard detail.
    pub stream_series: bool,
    pub shards: Vec<ShardId>,
    /// The shard-level metrics of each of `shards`.
    pub metrics: Vec<MetricName>,
    /// Whether to read the stream-level GetRecords.IteratorAgeMilliseconds
    /// (Maximum) too, beside the other stream-level series.
    pub iterator_age: bool,
    pub start: DateTime<Utc>,
    pub minutes: u32,
}

impl MetricsRequest {
    /// The stream-level IncomingBytes, IncomingRecords and
    /// WriteProvisionedThroughputExceeded of `stream`, and `metrics` of
    /// each of `shards`, over `minutes` minutes from `start`.
    pub fn new(
        stream: &str,
        shards: &[ShardId],
        metrics: &[MetricName],
        start: DateTime<Utc>,
        minutes: u32,
    ) -> Self {
        MetricsRequest {
            stream: stream.to_owned(),
            stream_series: true,
            shards: shards.to_vec(),
            metrics: metrics.to_vec(),
            iterator_age: false,
            start,
            minutes,
        }
    }
}

/// Where [`MetricsRead::read_metrics_streamed`] sends each request's answer.
pub(crate) type MetricsSender = tokio::sync::mpsc::UnboundedSender<(usize, ApiResult<Metrics>)>;

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
                let _ = done.send((i, self.read_metrics(r).await));
            }
        }
    }

    /// Per-minute Sums over the request's `minutes` minutes starting at
    /// `start` (minute-aligned): the stream-level series (unless
    /// `stream_series` is off), and the shard-level `metrics` of each of `shards`,
    /// read together in as few calls as the API allows. Iterator ages are
    /// per-minute Maximums. A missing datapoint stays missing.
    fn read_metrics(
        &self,
        request: &MetricsRequest,
    ) -> impl Future<Output = ApiResult<Metrics>> + Send;
}

/// Where a read of a shard starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// Records written from now on.
    Latest,
    /// The oldest record the stream keeps.
    TrimHorizon,
    /// The first record written at or after this time.
    At(DateTime<Utc>),
}

/// One GetRecords answer: the records' keys and sizes (never payloads),
/// and where to read next (`None`: the shard is closed and read to its end).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordsPage {
    pub records: Vec<crate::observe::SampledRecord>,
    pub next: Option<String>,
    pub millis_behind_latest: Option<i64>,
}

/// Reading a shard's records, for samples of its partition keys.
pub trait RecordsRead: Send + Sync {
    /// A shard iterator (GetShardIterator) for `shard` from `at`.
    fn shard_iterator(
        &self,
        stream: &StreamId,
        shard: &ShardId,
        at: StartAt,
    ) -> impl Future<Output = ApiResult<String>> + Send;
    /// Up to `limit` records from `iterator` (GetRecords).
    fn get_records(
        &self,
        iterator: &str,
        limit: u32,
    ) -> impl Future<Output = ApiResult<RecordsPage>> + Send;
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
