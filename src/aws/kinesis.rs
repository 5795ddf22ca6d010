//! Kinesis through aws-sdk-kinesis: [`KinesisReader`] can only read, and
//! [`KinesisWriter`] reshards and tags. The `plan` command is built with a
//! reader alone.

use std::sync::Arc;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::{self as k, ShardFilter, ShardFilterType};

use super::errors::{classify_at, endpoint_for};
use crate::apply::tags;
use crate::model::{Api, ApiLimiter};
use crate::model::{
    ApiError, ApiErrorKind, ApiResult, MetricName, ShardQuota, StreamId, StreamListing,
    StreamSummary,
};
use crate::model::{HashKey, HashKeyRange, Shard, ShardId};
use crate::model::{History, MetricsRecord, StreamMode, StreamStatus, WarmThroughput};
use crate::observe::{KinesisRead, KinesisWrite, RecordsPage, RecordsRead, SampledRecord, StartAt};

/// Read-only Kinesis: streams, shards, limits and the controller's tags.
#[derive(Clone, Debug)]
pub struct KinesisReader {
    client: Client,
    /// Where calls go, for messages about calls that got no answer.
    endpoint: String,
    /// Every call waits here for its slot within the account's quotas.
    limiter: Arc<ApiLimiter>,
}

/// Resharding and tagging.
#[derive(Clone, Debug)]
pub struct KinesisWriter {
    client: Client,
    endpoint: String,
    limiter: Arc<ApiLimiter>,
}

fn kinesis_endpoint(client: &Client) -> String {
    endpoint_for(
        "KINESIS",
        "kinesis",
        client.config().region().map(|r| r.as_ref()),
    )
}

impl KinesisReader {
    /// A reader whose calls are counted but not paced; see
    /// [`KinesisReader::with_limiter`].
    pub fn new(client: Client) -> Self {
        KinesisReader {
            endpoint: kinesis_endpoint(&client),
            client,
            limiter: Arc::new(ApiLimiter::unlimited()),
        }
    }

    /// The same reader, its calls paced by `limiter` (shared by everything
    /// that calls the account).
    pub fn with_limiter(self, limiter: Arc<ApiLimiter>) -> Self {
        KinesisReader { limiter, ..self }
    }
}

impl KinesisWriter {
    /// A writer whose calls are counted but not paced; see
    /// [`KinesisWriter::with_limiter`].
    pub fn new(client: Client) -> Self {
        KinesisWriter {
            endpoint: kinesis_endpoint(&client),
            client,
            limiter: Arc::new(ApiLimiter::unlimited()),
        }
    }

    pub fn with_limiter(self, limiter: Arc<ApiLimiter>) -> Self {
        KinesisWriter { limiter, ..self }
    }
}

/// Addresses the request to the stream by ARN when there is one, else by name.
macro_rules! on_stream {
    ($builder:expr, $stream:expr) => {
        match &$stream.arn {
            Some(arn) => $builder.stream_arn(arn),
            None => $builder.stream_name(&$stream.name),
        }
    };
}

/// Resharding calls are made once by the SDK: the executor retries them
/// itself, re-reading the stream in between, so that a call that took
/// effect but lost its reply is recognised instead of repeated blindly.
fn single_attempt() -> aws_sdk_kinesis::config::Builder {
    aws_sdk_kinesis::config::Builder::default()
        .retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
}

fn unexpected(operation: Api, message: String) -> ApiError {
    ApiError::new(operation, ApiErrorKind::Other, None, message)
}

fn status(s: &k::StreamStatus) -> Option<StreamStatus> {
    Some(match s {
        k::StreamStatus::Active => StreamStatus::Active,
        k::StreamStatus::Creating => StreamStatus::Creating,
        k::StreamStatus::Deleting => StreamStatus::Deleting,
        k::StreamStatus::Updating => StreamStatus::Updating,
        _ => return None,
    })
}

fn shard(operation: Api, s: &k::Shard) -> ApiResult<Shard> {
    let keys = s.hash_key_range().ok_or_else(|| {
        unexpected(
            operation,
            format!("shard {} has no hash-key range", s.shard_id()),
        )
    })?;
    let parse = |text: &str| {
        text.parse::<HashKey>()
            .map_err(|e| unexpected(operation, format!("shard {}: {e}", s.shard_id())))
    };
    let range = HashKeyRange::new(
        parse(keys.starting_hash_key())?,
        parse(keys.ending_hash_key())?,
    )
    .map_err(|e| unexpected(operation, format!("shard {}: {e}", s.shard_id())))?;
    Ok(Shard {
        id: ShardId::new(s.shard_id()),
        range,
        parent_shard_id: s.parent_shard_id().map(ShardId::new),
        adjacent_parent_shard_id: s.adjacent_parent_shard_id().map(ShardId::new),
        // Only AT_LATEST listings are read, and they hold open shards only.
        open: true,
    })
}

impl KinesisRead for KinesisReader {
    async fn list_streams(&self) -> ApiResult<Vec<StreamListing>> {
        const OP: Api = Api::ListStreams;
        let mut listings: Vec<StreamListing> = Vec::new();
        let mut token: Option<String> = None;
        let mut after: Option<String> = None;
        loop {
            self.limiter.acquire(Api::ListStreams).await;
            let out = self
                .client
                .list_streams()
                .limit(100)
                .set_next_token(token.take())
                .set_exclusive_start_stream_name(after.take())
                .send()
                .await
                .map_err(|e| classify_at(OP, &self.endpoint, e))?;
            let before = listings.len();
            if out.stream_summaries().is_empty() {
                listings.extend(out.stream_names().iter().map(|name| StreamListing {
                    name: name.clone(),
                    arn: None,
                    status: None,
                    mode: None,
                }));
            } else {
                listings.extend(out.stream_summaries().iter().map(|s| StreamListing {
                    name: s.stream_name().to_owned(),
                    arn: Some(s.stream_arn().to_owned()),
                    status: status(s.stream_status()),
                    mode: Some(match s.stream_mode_details().map(|d| d.stream_mode()) {
                        Some(k::StreamMode::OnDemand) => StreamMode::OnDemand,
                        _ => StreamMode::Provisioned,
                    }),
                }));
            }
            // AWS pages with NextToken; kinesis-local says HasMoreStreams
            // without one, and is continued from the last name instead.
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ if out.has_more_streams() && listings.len() > before => {
                    after = listings.last().map(|l| l.name.clone());
                }
                _ => break,
            }
        }
        listings.sort_by(|a, b| a.name.cmp(&b.name));
        listings.dedup_by(|a, b| a.name == b.name);
        Ok(listings)
    }

    async fn describe_stream(&self, stream: &StreamId) -> ApiResult<StreamSummary> {
        const OP: Api = Api::DescribeStreamSummary;
        self.limiter.acquire(Api::DescribeStreamSummary).await;
        let out = on_stream!(self.client.describe_stream_summary(), stream)
            .send()
            .await
            .map_err(|e| classify_at(OP, &self.endpoint, e))?;
        let s = out
            .stream_description_summary()
            .ok_or_else(|| unexpected(OP, format!("no summary for stream {stream}")))?;
        let status = status(s.stream_status()).ok_or_else(|| {
            unexpected(
                OP,
                format!("stream {stream} has unknown status {}", s.stream_status()),
            )
        })?;
        let mode = match s.stream_mode_details().map(|d| d.stream_mode()) {
            Some(k::StreamMode::OnDemand) => StreamMode::OnDemand,
            _ => StreamMode::Provisioned,
        };
        let mut metrics = Vec::new();
        for m in s
            .enhanced_monitoring()
            .iter()
            .flat_map(|e| e.shard_level_metrics())
        {
            match m {
                k::MetricsName::All => metrics.extend(MetricName::ALL),
                other => metrics.extend(MetricName::parse(other.as_str())),
            }
        }
        Ok(StreamSummary {
            name: s.stream_name().to_owned(),
            arn: s.stream_arn().to_owned(),
            status,
            mode,
            open_shard_count: u32::try_from(s.open_shard_count()).unwrap_or(0),
            shard_level_metrics: metrics,
            created_at: {
                let t = s.stream_creation_timestamp();
                chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
            },
            warm_throughput: s.warm_throughput().map(|w| {
                let mib = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
                WarmThroughput {
                    target_mib: mib(w.target_mibps()),
                    current_mib: mib(w.current_mibps()),
                }
            }),
        })
    }

    async fn list_open_shards(&self, stream: &StreamId) -> ApiResult<Vec<Shard>> {
        const OP: Api = Api::ListShards;
        let filter = ShardFilter::builder()
            .r#type(ShardFilterType::AtLatest)
            .build()
            .map_err(|e| unexpected(OP, e.to_string()))?;
        self.limiter.acquire(Api::ListShards).await;
        let mut out = on_stream!(self.client.list_shards(), stream)
            .shard_filter(filter)
            .max_results(1000)
            .send()
            .await
            .map_err(|e| classify_at(OP, &self.endpoint, e))?;
        let mut shards = Vec::new();
        loop {
            for s in out.shards() {
                shards.push(shard(OP, s)?);
            }
            match out.next_token() {
                // Follow-up pages carry the token alone: AWS refuses a
                // stream name or filter next to it.
                Some(token) if !token.is_empty() => {
                    self.limiter.acquire(Api::ListShards).await;
                    out = self
                        .client
                        .list_shards()
                        .next_token(token)
                        .max_results(1000)
                        .send()
                        .await
                        .map_err(|e| classify_at(OP, &self.endpoint, e))?;
                }
                _ => break,
            }
        }
        shards.sort_by_key(|s| s.range);
        Ok(shards)
    }

    async fn shard_quota(&self) -> ApiResult<ShardQuota> {
        self.limiter.acquire(Api::DescribeLimits).await;
        let out = self
            .client
            .describe_limits()
            .send()
            .await
            .map_err(|e| classify_at(Api::DescribeLimits, &self.endpoint, e))?;
        Ok(ShardQuota {
            shard_limit: u32::try_from(out.shard_limit()).unwrap_or(0),
            open_shard_count: u32::try_from(out.open_shard_count()).unwrap_or(0),
        })
    }

    async fn read_history(&self, stream: &StreamId) -> ApiResult<History> {
        const OP: Api = Api::ListTagsForStream;
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut start: Option<String> = None;
        loop {
            self.limiter.acquire(Api::ListTagsForStream).await;
            let out = on_stream!(self.client.list_tags_for_stream(), stream)
                .set_exclusive_start_tag_key(start.take())
                .limit(50)
                .send()
                .await
                .map_err(|e| classify_at(OP, &self.endpoint, e))?;
            for tag in out.tags() {
                pairs.push((
                    tag.key().to_owned(),
                    tag.value().unwrap_or_default().to_owned(),
                ));
            }
            match out.tags().last() {
                Some(last) if out.has_more_tags() => start = Some(last.key().to_owned()),
                _ => break,
            }
        }
        Ok(tags::decode(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ))
    }
}

/// Reads records for key samples. Only each record's partition key, size
/// and arrival time are kept: the payload is dropped here, never logged.
impl RecordsRead for KinesisReader {
    async fn shard_iterator(
        &self,
        stream: &StreamId,
        shard: &ShardId,
        at: StartAt,
    ) -> ApiResult<String> {
        const OP: Api = Api::GetShardIterator;
        self.limiter.acquire(OP).await;
        let request = on_stream!(self.client.get_shard_iterator(), stream).shard_id(shard.as_str());
        let request = match at {
            StartAt::Latest => request.shard_iterator_type(k::ShardIteratorType::Latest),
            StartAt::TrimHorizon => request.shard_iterator_type(k::ShardIteratorType::TrimHorizon),
            StartAt::At(t) => request
                .shard_iterator_type(k::ShardIteratorType::AtTimestamp)
                .timestamp(aws_smithy_types::DateTime::from_millis(
                    t.timestamp_millis(),
                )),
        };
        let out = request
            .send()
            .await
            .map_err(|e| classify_at(OP, &self.endpoint, e))?;
        out.shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| unexpected(OP, format!("no shard iterator for shard {shard}")))
    }

    async fn get_records(&self, iterator: &str, limit: u32) -> ApiResult<RecordsPage> {
        const OP: Api = Api::GetRecords;
        self.limiter.acquire(OP).await;
        let out = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| classify_at(OP, &self.endpoint, e))?;
        let records = out
            .records()
            .iter()
            .map(|r| SampledRecord {
                partition_key: r.partition_key().unwrap_or_default().to_owned(),
                bytes: (r.data().as_ref().len() + r.partition_key().map_or(0, str::len)) as u64,
                arrival: r
                    .approximate_arrival_timestamp()
                    .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
                // GetRecords does not say whether the producer set an
                // ExplicitHashKey: the partition key's MD5 is assumed.
                hash_key: None,
            })
            .collect();
        Ok(RecordsPage {
            records,
            next: out.next_shard_iterator().map(str::to_owned),
            millis_behind_latest: out.millis_behind_latest(),
        })
    }
}

/// Every call waits for its slot in the shared limiter, except SplitShard
/// and MergeShards, which are only counted here: the executor waits for
/// their slot in the same limiter before its last read of the cooldown
/// tags (see `Executor::new`), and a second wait here would let a racing
/// replica record unseen.
impl KinesisWrite for KinesisWriter {
    async fn split_shard(&self, stream: &StreamId, shard: &ShardId, key: HashKey) -> ApiResult<()> {
        self.limiter.count(Api::SplitShard);
        on_stream!(self.client.split_shard(), stream)
            .shard_to_split(shard.as_str())
            .new_starting_hash_key(key.to_string())
            .customize()
            .config_override(single_attempt())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify_at(Api::SplitShard, &self.endpoint, e))
    }

    async fn merge_shards(
        &self,
        stream: &StreamId,
        shard: &ShardId,
        adjacent: &ShardId,
    ) -> ApiResult<()> {
        self.limiter.count(Api::MergeShards);
        on_stream!(self.client.merge_shards(), stream)
            .shard_to_merge(shard.as_str())
            .adjacent_shard_to_merge(adjacent.as_str())
            .customize()
            .config_override(single_attempt())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify_at(Api::MergeShards, &self.endpoint, e))
    }

    async fn write_history(
        &self,
        stream: &StreamId,
        history: &History,
        note: &str,
    ) -> ApiResult<()> {
        let mut request = on_stream!(self.client.add_tags_to_stream(), stream);
        for (key, value) in tags::encode(history, note) {
            request = request.tags(key, value);
        }
        self.limiter.acquire(Api::AddTagsToStream).await;
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify_at(Api::AddTagsToStream, &self.endpoint, e))
    }

    async fn enable_shard_metrics(
        &self,
        stream: &StreamId,
        metrics: &[MetricName],
    ) -> ApiResult<()> {
        let mut request = on_stream!(self.client.enable_enhanced_monitoring(), stream);
        for m in metrics {
            request = request.shard_level_metrics(k::MetricsName::from(m.as_str()));
        }
        self.limiter.acquire(Api::EnableEnhancedMonitoring).await;
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify_at(Api::EnableEnhancedMonitoring, &self.endpoint, e))
    }

    async fn record_shard_metrics(
        &self,
        stream: &StreamId,
        record: &MetricsRecord,
    ) -> ApiResult<()> {
        let (key, value) = tags::encode_metrics(record);
        let request = on_stream!(self.client.add_tags_to_stream(), stream).tags(key, value);
        self.limiter.acquire(Api::AddTagsToStream).await;
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify_at(Api::AddTagsToStream, &self.endpoint, e))
    }

    async fn disable_shard_metrics(
        &self,
        stream: &StreamId,
        metrics: &[MetricName],
    ) -> ApiResult<()> {
        let mut request = on_stream!(self.client.disable_enhanced_monitoring(), stream);
        for m in metrics {
            request = request.shard_level_metrics(k::MetricsName::from(m.as_str()));
        }
        self.limiter.acquire(Api::DisableEnhancedMonitoring).await;
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify_at(Api::DisableEnhancedMonitoring, &self.endpoint, e))
    }

    async fn update_warm_throughput(&self, stream: &StreamId, mib: u32) -> ApiResult<()> {
        let request = on_stream!(self.client.update_stream_warm_throughput(), stream)
            .warm_throughput_mibps(i32::try_from(mib).unwrap_or(i32::MAX));
        self.limiter.acquire(Api::UpdateStreamWarmThroughput).await;
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify_at(Api::UpdateStreamWarmThroughput, &self.endpoint, e))
    }
}
