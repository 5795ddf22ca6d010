//! Simulated Kinesis streams with AWS's resharding rules: keys strictly
//! inside the parent's range, only adjacent open shards merge, the stream is
//! UPDATING for a while after each reshard and refuses another meanwhile,
//! ON_DEMAND streams cannot be resharded, closed parents stay listed with
//! their lineage, and the account has a shard quota.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::{HashKey, HashKeyRange, Shard, ShardId};
use crate::observation::{History, StreamMode, StreamStatus};
use crate::ports::{
    ApiError, ApiErrorKind, ApiResult, Clock, KinesisRead, KinesisWrite, MetricName, ShardQuota,
    StreamId, StreamSummary,
};
use crate::tags;

/// How the simulated account behaves.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// How long a stream stays UPDATING after a split or merge.
    pub reshard_duration: Duration,
    /// The account's open-shard quota across all streams.
    pub shard_limit: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            reshard_duration: Duration::from_secs(30),
            shard_limit: 500,
        }
    }
}

/// One simulated stream.
#[derive(Clone, Debug)]
pub struct SimStream {
    pub mode: StreamMode,
    /// Every shard ever created, open and closed, in creation order.
    pub shards: Vec<Shard>,
    /// The stream is UPDATING until then.
    pub updating_until: Option<DateTime<Utc>>,
    pub tags: BTreeMap<String, String>,
    pub metrics: Vec<MetricName>,
    next_shard: usize,
}

impl SimStream {
    pub fn open_shards(&self) -> impl Iterator<Item = &Shard> {
        self.shards.iter().filter(|s| s.open)
    }

    fn add_shard(
        &mut self,
        range: HashKeyRange,
        parent: Option<ShardId>,
        adjacent: Option<ShardId>,
    ) -> ShardId {
        let id = ShardId(format!("shardId-{:012}", self.next_shard));
        self.next_shard += 1;
        self.shards.push(Shard {
            id: id.clone(),
            range,
            parent_shard_id: parent,
            adjacent_parent_shard_id: adjacent,
            open: true,
        });
        id
    }
}

/// An operation name and how many more times it must fail, for tests of
/// what the executor does with errors the rules never produce.
#[derive(Debug)]
struct Fault {
    operation: &'static str,
    kind: ApiErrorKind,
    remaining: u32,
    /// Whether the call takes effect before failing (a lost reply).
    after_effect: bool,
}

#[derive(Debug, Default)]
struct State {
    streams: BTreeMap<String, SimStream>,
    faults: Vec<Fault>,
    /// Every successful write, in order, e.g. `SplitShard orders shardId-000000000000`.
    log: Vec<String>,
}

/// A simulated Kinesis account in one region.
#[derive(Debug)]
pub struct SimKinesis<C> {
    clock: C,
    config: SimConfig,
    state: Mutex<State>,
}

fn not_found(operation: &'static str, stream: &str) -> ApiError {
    ApiError::new(
        operation,
        ApiErrorKind::NotFound,
        Some("ResourceNotFoundException"),
        format!("Stream {stream} under account 000000000000 not found."),
    )
}

fn invalid(operation: &'static str, message: String) -> ApiError {
    ApiError::new(
        operation,
        ApiErrorKind::InvalidArgument,
        Some("InvalidArgumentException"),
        message,
    )
}

impl<C: Clock> SimKinesis<C> {
    pub fn new(clock: C, config: SimConfig) -> Self {
        SimKinesis {
            clock,
            config,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a stream whose open shards own `ranges`, in order.
    pub fn create_stream(&self, name: &str, ranges: &[HashKeyRange], mode: StreamMode) {
        let mut stream = SimStream {
            mode,
            shards: Vec::new(),
            updating_until: None,
            tags: BTreeMap::new(),
            metrics: Vec::new(),
            next_shard: 0,
        };
        for range in ranges {
            stream.add_shard(*range, None, None);
        }
        self.state().streams.insert(name.to_owned(), stream);
    }

    pub fn delete_stream(&self, name: &str) {
        self.state().streams.remove(name);
    }

    /// A copy of the stream as it is now.
    pub fn stream(&self, name: &str) -> Option<SimStream> {
        self.state().streams.get(name).cloned()
    }

    /// The successful writes so far, e.g. `SplitShard orders shardId-000000000000`.
    pub fn log(&self) -> Vec<String> {
        self.state().log.clone()
    }

    /// Makes the next `times` calls of `operation` (e.g. "SplitShard") fail
    /// with `kind`, before any rule is checked.
    pub fn fail_next(&self, operation: &'static str, kind: ApiErrorKind, times: u32) {
        self.state().faults.push(Fault {
            operation,
            kind,
            remaining: times,
            after_effect: false,
        });
    }

    /// Makes the next call of `operation` take effect and then fail with
    /// `kind`, as when a reply is lost or a call times out after AWS acted.
    pub fn lose_next_reply(&self, operation: &'static str, kind: ApiErrorKind) {
        self.state().faults.push(Fault {
            operation,
            kind,
            remaining: 1,
            after_effect: true,
        });
    }

    pub fn set_tags(&self, name: &str, tags: &[(&str, &str)]) {
        if let Some(s) = self.state().streams.get_mut(name) {
            for (k, v) in tags {
                s.tags.insert((*k).to_owned(), (*v).to_owned());
            }
        }
    }

    /// Fails the call if a fault is pending for it (`after_effect` selects
    /// the faults that strike after the call took effect).
    fn injected_when(
        state: &mut State,
        operation: &'static str,
        after_effect: bool,
    ) -> ApiResult<()> {
        let Some(fault) = state.faults.iter_mut().find(|f| {
            f.operation == operation && f.remaining > 0 && f.after_effect == after_effect
        }) else {
            return Ok(());
        };
        fault.remaining -= 1;
        let code = match fault.kind {
            ApiErrorKind::Throttled => "LimitExceededException",
            ApiErrorKind::ResourceInUse => "ResourceInUseException",
            ApiErrorKind::NotFound => "ResourceNotFoundException",
            ApiErrorKind::InvalidArgument => "InvalidArgumentException",
            ApiErrorKind::AccessDenied => "AccessDeniedException",
            ApiErrorKind::Timeout | ApiErrorKind::Unavailable | ApiErrorKind::Other => {
                "InternalFailure"
            }
        };
        Err(ApiError::new(
            operation,
            fault.kind,
            Some(code),
            "injected fault",
        ))
    }

    fn injected(state: &mut State, operation: &'static str) -> ApiResult<()> {
        Self::injected_when(state, operation, false)
    }

    fn status(&self, stream: &SimStream) -> StreamStatus {
        match stream.updating_until {
            Some(until) if self.clock.now() < until => StreamStatus::Updating,
            _ => StreamStatus::Active,
        }
    }

    fn open_shard_count(state: &State) -> u32 {
        state
            .streams
            .values()
            .map(|s| s.open_shards().count() as u32)
            .sum()
    }

    /// Checks what every reshard needs and returns the stream to change.
    fn reshardable<'s>(
        &self,
        state: &'s mut State,
        operation: &'static str,
        name: &str,
    ) -> ApiResult<&'s mut SimStream> {
        let now = self.clock.now();
        let stream = state
            .streams
            .get_mut(name)
            .ok_or_else(|| not_found(operation, name))?;
        if stream.mode == StreamMode::OnDemand {
            return Err(ApiError::new(
                operation,
                ApiErrorKind::InvalidArgument,
                Some("ValidationException"),
                format!("{operation} is not supported for ON_DEMAND stream {name}"),
            ));
        }
        if stream.updating_until.is_some_and(|u| now < u) {
            return Err(ApiError::new(
                operation,
                ApiErrorKind::ResourceInUse,
                Some("ResourceInUseException"),
                format!(
                    "Stream {name} under account 000000000000 not ACTIVE, instead in state UPDATING"
                ),
            ));
        }
        Ok(stream)
    }

    fn open_shard<'s>(
        stream: &'s SimStream,
        operation: &'static str,
        id: &ShardId,
    ) -> ApiResult<&'s Shard> {
        let shard = stream.shards.iter().find(|s| &s.id == id).ok_or_else(|| {
            ApiError::new(
                operation,
                ApiErrorKind::NotFound,
                Some("ResourceNotFoundException"),
                format!("Could not find shard {id}"),
            )
        })?;
        if !shard.open {
            return Err(invalid(
                operation,
                format!("Shard {id} is not open: it was split or merged before"),
            ));
        }
        Ok(shard)
    }

    fn updated_until(&self) -> DateTime<Utc> {
        self.clock.now()
            + TimeDelta::from_std(self.config.reshard_duration).unwrap_or(TimeDelta::MAX)
    }
}

impl<C: Clock> KinesisRead for SimKinesis<C> {
    async fn list_streams(&self) -> ApiResult<Vec<String>> {
        let mut state = self.state();
        Self::injected(&mut state, "ListStreams")?;
        Ok(state.streams.keys().cloned().collect())
    }

    async fn describe_stream(&self, stream: &StreamId) -> ApiResult<StreamSummary> {
        let mut state = self.state();
        Self::injected(&mut state, "DescribeStreamSummary")?;
        let s = state
            .streams
            .get(&stream.name)
            .ok_or_else(|| not_found("DescribeStreamSummary", &stream.name))?;
        Ok(StreamSummary {
            name: stream.name.clone(),
            arn: format!(
                "arn:aws:kinesis:us-east-1:000000000000:stream/{}",
                stream.name
            ),
            status: self.status(s),
            mode: s.mode,
            open_shard_count: s.open_shards().count() as u32,
            shard_level_metrics: s.metrics.clone(),
        })
    }

    async fn list_open_shards(&self, stream: &StreamId) -> ApiResult<Vec<Shard>> {
        let mut state = self.state();
        Self::injected(&mut state, "ListShards")?;
        let s = state
            .streams
            .get(&stream.name)
            .ok_or_else(|| not_found("ListShards", &stream.name))?;
        Ok(s.open_shards().cloned().collect())
    }

    async fn shard_quota(&self) -> ApiResult<ShardQuota> {
        let mut state = self.state();
        Self::injected(&mut state, "DescribeLimits")?;
        Ok(ShardQuota {
            shard_limit: self.config.shard_limit,
            open_shard_count: Self::open_shard_count(&state),
        })
    }

    async fn read_history(&self, stream: &StreamId) -> ApiResult<History> {
        let mut state = self.state();
        Self::injected(&mut state, "ListTagsForStream")?;
        let s = state
            .streams
            .get(&stream.name)
            .ok_or_else(|| not_found("ListTagsForStream", &stream.name))?;
        Ok(tags::decode(
            s.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ))
    }
}

impl<C: Clock> KinesisWrite for SimKinesis<C> {
    async fn split_shard(&self, stream: &StreamId, shard: &ShardId, key: HashKey) -> ApiResult<()> {
        const OP: &str = "SplitShard";
        let mut state = self.state();
        Self::injected(&mut state, OP)?;
        let open_total = Self::open_shard_count(&state);
        let until = self.updated_until();
        let limit = self.config.shard_limit;
        let s = self.reshardable(&mut state, OP, &stream.name)?;
        let range = Self::open_shard(s, OP, shard)?.range;
        let (low, high) = range
            .split_at(key)
            .map_err(|e| invalid(OP, e.to_string()))?;
        if open_total + 1 > limit {
            return Err(ApiError::new(
                OP,
                ApiErrorKind::Throttled,
                Some("LimitExceededException"),
                format!("This request would exceed the shard limit for the account ({limit})"),
            ));
        }
        for parent in s.shards.iter_mut().filter(|x| &x.id == shard) {
            parent.open = false;
        }
        s.add_shard(low, Some(shard.clone()), None);
        s.add_shard(high, Some(shard.clone()), None);
        s.updating_until = Some(until);
        state
            .log
            .push(format!("{OP} {} {shard} {key}", stream.name));
        Self::injected_when(&mut state, OP, true)
    }

    async fn merge_shards(
        &self,
        stream: &StreamId,
        shard: &ShardId,
        adjacent: &ShardId,
    ) -> ApiResult<()> {
        const OP: &str = "MergeShards";
        let mut state = self.state();
        Self::injected(&mut state, OP)?;
        let until = self.updated_until();
        let s = self.reshardable(&mut state, OP, &stream.name)?;
        let a = Self::open_shard(s, OP, shard)?.range;
        let b = Self::open_shard(s, OP, adjacent)?.range;
        let merged = a.merge(&b).ok_or_else(|| {
            invalid(
                OP,
                format!("Shards {shard} and {adjacent} are not adjacent"),
            )
        })?;
        for s in s
            .shards
            .iter_mut()
            .filter(|x| &x.id == shard || &x.id == adjacent)
        {
            s.open = false;
        }
        s.add_shard(merged, Some(shard.clone()), Some(adjacent.clone()));
        s.updating_until = Some(until);
        state
            .log
            .push(format!("{OP} {} {shard} {adjacent}", stream.name));
        Self::injected_when(&mut state, OP, true)
    }

    async fn write_history(
        &self,
        stream: &StreamId,
        history: &History,
        note: &str,
    ) -> ApiResult<()> {
        const OP: &str = "AddTagsToStream";
        let mut state = self.state();
        Self::injected(&mut state, OP)?;
        let s = state
            .streams
            .get_mut(&stream.name)
            .ok_or_else(|| not_found(OP, &stream.name))?;
        for (k, v) in tags::encode(history, note) {
            s.tags.insert(k, v);
        }
        Ok(())
    }

    async fn enable_shard_metrics(
        &self,
        stream: &StreamId,
        metrics: &[MetricName],
    ) -> ApiResult<()> {
        const OP: &str = "EnableEnhancedMonitoring";
        let mut state = self.state();
        Self::injected(&mut state, OP)?;
        let s = state
            .streams
            .get_mut(&stream.name)
            .ok_or_else(|| not_found(OP, &stream.name))?;
        for m in metrics {
            if !s.metrics.contains(m) {
                s.metrics.push(*m);
            }
        }
        state.log.push(format!("{OP} {}", stream.name));
        Ok(())
    }
}
