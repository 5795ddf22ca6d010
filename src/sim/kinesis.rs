//! Simulated Kinesis streams with AWS's resharding rules: keys strictly
//! inside the parent's range, only adjacent open shards merge, the stream is
//! UPDATING for a while after each reshard and refuses another meanwhile,
//! ON_DEMAND streams cannot be resharded, closed parents stay listed with
//! their lineage, and the account has a shard quota.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use rustc_hash::FxHashSet;

use chrono::{DateTime, TimeDelta, Utc};

use crate::apply::tags;
use crate::model::{
    Api, ApiError, ApiErrorKind, ApiResult, MetricName, ShardQuota, StreamId, StreamListing,
    StreamSummary,
};
use crate::model::{HashKey, HashKeyRange, Shard, ShardId};
use crate::model::{History, MetricsRecord, StreamMode, StreamStatus};
use crate::observe::{Clock, KinesisRead, KinesisWrite, RecordsPage, RecordsRead, StartAt};

/// How the simulated account behaves.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// How long a stream stays UPDATING after a split or merge.
    pub reshard_duration: Duration,
    /// The account's open-shard quota across all streams.
    pub shard_limit: u32,
}

/// The most shards UpdateShardCount scales one stream to.
pub(crate) const MAX_UPDATE_SHARD_COUNT: u32 = crate::model::MAX_SHARDS_PER_STREAM;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            reshard_duration: Duration::from_secs(30),
            shard_limit: super::scenario::DEFAULT_SHARD_LIMIT,
        }
    }
}

/// One simulated stream.
#[derive(Clone, Debug)]
pub struct SimStream {
    pub mode: StreamMode,
    /// The shards ListShards can still return: every open one, and those
    /// closed within the retention period (24 hours), in creation order.
    /// Kinesis forgets a closed shard once its records have expired, and
    /// so does the simulation, so that a long one costs the same per day.
    pub shards: Vec<Shard>,
    /// When each shard in `shards` that is closed was closed, oldest first.
    closed_at: std::collections::VecDeque<(DateTime<Utc>, ShardId)>,
    /// The stream is UPDATING until then.
    pub updating_until: Option<DateTime<Utc>>,
    pub tags: BTreeMap<String, String>,
    /// The shard-level metrics enhanced monitoring publishes now.
    pub metrics: Vec<MetricName>,
    /// Every change of `metrics`: from when, which were enabled (the
    /// simulated CloudWatch publishes and bills by it).
    pub monitoring: Vec<(DateTime<Utc>, Vec<MetricName>)>,
    /// When UpdateShardCount was called, for its 10-per-24-hours limit.
    pub shard_count_updates: Vec<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// An On-Demand stream's warm throughput, in an account with
    /// On-Demand Advantage (`None`: not such an account).
    pub warm: Option<crate::model::WarmThroughput>,
    next_shard: usize,
}

/// How long a closed shard stays listed: the default retention period.
const RETENTION: TimeDelta = TimeDelta::hours(24);

impl SimStream {
    pub fn open_shards(&self) -> impl Iterator<Item = &Shard> {
        self.shards.iter().filter(|s| s.open)
    }

    /// How many shards the stream has had, open and closed, expired
    /// included.
    pub fn shards_created(&self) -> usize {
        self.next_shard
    }

    /// Closes the open shards `close` picks, at `now`, and forgets those
    /// closed more than the retention period before.
    fn close(&mut self, now: DateTime<Utc>, close: impl Fn(&Shard) -> bool) {
        for shard in self.shards.iter_mut().filter(|s| s.open && close(s)) {
            shard.open = false;
            self.closed_at.push_back((now, shard.id.clone()));
        }
        let mut expired = FxHashSet::default();
        while let Some((at, _)) = self.closed_at.front()
            && *at + RETENTION < now
        {
            let (_, id) = self.closed_at.pop_front().expect("a front");
            expired.insert(id);
        }
        if !expired.is_empty() {
            self.shards.retain(|s| !expired.contains(&s.id));
        }
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
    operation: Api,
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

fn not_found(operation: Api, stream: &str) -> ApiError {
    ApiError::new(
        operation,
        ApiErrorKind::NotFound,
        Some("ResourceNotFoundException"),
        format!("Stream {stream} under account 000000000000 not found."),
    )
}

fn invalid(operation: Api, message: String) -> ApiError {
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

    /// Puts On-Demand stream `name` in an account with On-Demand
    /// Advantage, holding `mib` MiB/s of warm throughput (its summary
    /// shows it, and UpdateStreamWarmThroughput accepts it).
    pub fn with_advantage(&self, name: &str, mib: u32) {
        if let Some(s) = self.state().streams.get_mut(name) {
            s.warm = Some(crate::model::WarmThroughput {
                target_mib: mib,
                current_mib: mib,
            });
        }
    }

    /// Creates a stream whose open shards own `ranges`, in order.
    pub fn create_stream(&self, name: &str, ranges: &[HashKeyRange], mode: StreamMode) {
        let mut stream = SimStream {
            mode,
            shards: Vec::new(),
            updating_until: None,
            tags: BTreeMap::new(),
            metrics: MetricName::ALL.to_vec(),
            // Enabled long before: the first minutes are published too.
            monitoring: vec![(DateTime::<Utc>::MIN_UTC, MetricName::ALL.to_vec())],
            shard_count_updates: Vec::new(),
            created_at: self.clock.now(),
            closed_at: Default::default(),
            warm: None,
            next_shard: 0,
        };
        for range in ranges {
            stream.add_shard(*range, None, None);
        }
        self.state().streams.insert(name.to_owned(), stream);
    }

    /// Sets the shard-level metrics a stream publishes from its creation,
    /// as someone who enabled them before the controller ran would have.
    pub fn set_initial_metrics(&self, name: &str, metrics: &[MetricName]) {
        if let Some(s) = self.state().streams.get_mut(name) {
            s.metrics = metrics.to_vec();
            s.monitoring = vec![(DateTime::<Utc>::MIN_UTC, metrics.to_vec())];
        }
    }

    /// The shard-level metrics `stream` published at `t`.
    pub fn metrics_enabled_at(&self, name: &str, t: DateTime<Utc>) -> Vec<MetricName> {
        let state = self.state();
        let Some(s) = state.streams.get(name) else {
            return Vec::new();
        };
        s.monitoring
            .iter()
            .rev()
            .find(|(since, _)| *since <= t)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
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

    /// How many `operation` calls (e.g. "SplitShard") have succeeded.
    pub fn calls(&self, operation: &str) -> usize {
        self.state()
            .log
            .iter()
            .filter(|line| line.split(' ').next() == Some(operation))
            .count()
    }

    /// Makes the next `times` calls of `operation` (e.g. `Api::SplitShard`) fail
    /// with `kind`, before any rule is checked.
    pub fn fail_next(&self, operation: Api, kind: ApiErrorKind, times: u32) {
        self.state().faults.push(Fault {
            operation,
            kind,
            remaining: times,
            after_effect: false,
        });
    }

    /// Makes the next call of `operation` take effect and then fail with
    /// `kind`, as when a reply is lost or a call times out after AWS acted.
    pub fn lose_next_reply(&self, operation: Api, kind: ApiErrorKind) {
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
    fn injected_when(state: &mut State, operation: Api, after_effect: bool) -> ApiResult<()> {
        let Some(fault) = state.faults.iter_mut().find(|f| {
            f.operation == operation && f.remaining > 0 && f.after_effect == after_effect
        }) else {
            return Ok(());
        };
        fault.remaining -= 1;
        let code = match fault.kind {
            ApiErrorKind::Throttled | ApiErrorKind::ShardQuota => "LimitExceededException",
            ApiErrorKind::ResourceInUse => "ResourceInUseException",
            ApiErrorKind::NotFound => "ResourceNotFoundException",
            ApiErrorKind::InvalidArgument => "InvalidArgumentException",
            ApiErrorKind::AccessDenied => "AccessDeniedException",
            ApiErrorKind::Credentials => "ExpiredTokenException",
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

    fn injected(state: &mut State, operation: Api) -> ApiResult<()> {
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
        operation: Api,
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

    fn open_shard<'s>(stream: &'s SimStream, operation: Api, id: &ShardId) -> ApiResult<&'s Shard> {
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

    /// UpdateShardCount with uniform scaling: the open shards are replaced
    /// by `target` shards of equal width. AWS allows a target between half
    /// and double the open count, and ten calls per stream per rolling 24
    /// hours.
    pub fn update_shard_count(&self, name: &str, target: u32) -> ApiResult<()> {
        const OP: Api = Api::UpdateShardCount;
        let now = self.clock.now();
        let mut state = self.state();
        Self::injected(&mut state, OP)?;
        let open_total = Self::open_shard_count(&state);
        let until = self.updated_until();
        let limit = self.config.shard_limit;
        let s = self.reshardable(&mut state, OP, name)?;
        let open = s.open_shards().count() as u32;
        if target > MAX_UPDATE_SHARD_COUNT {
            return Err(invalid(
                OP,
                format!(
                    "target shard count {target} is above the {MAX_UPDATE_SHARD_COUNT} shards UpdateShardCount allows per stream"
                ),
            ));
        }
        if target == 0 || target > open * 2 || target * 2 < open {
            return Err(invalid(
                OP,
                format!(
                    "target shard count {target} must be between half and double the current count {open}"
                ),
            ));
        }
        s.shard_count_updates
            .retain(|t| now - *t < TimeDelta::hours(24));
        if s.shard_count_updates.len() >= 10 {
            return Err(ApiError::new(
                OP,
                ApiErrorKind::Throttled,
                Some("LimitExceededException"),
                format!("UpdateShardCount was called 10 times for {name} in the last 24 hours"),
            ));
        }
        if open_total - open + target > limit {
            return Err(ApiError::new(
                OP,
                ApiErrorKind::ShardQuota,
                Some("LimitExceededException"),
                format!("This request would exceed the shard limit for the account ({limit})"),
            ));
        }
        s.close(now, |_| true);
        for range in crate::model::uniform_ranges(target) {
            s.add_shard(range, None, None);
        }
        s.shard_count_updates.push(now);
        s.updating_until = Some(until);
        state.log.push(format!("{OP} {name} {target}"));
        Ok(())
    }

    fn updated_until(&self) -> DateTime<Utc> {
        self.clock.now()
            + TimeDelta::from_std(self.config.reshard_duration).unwrap_or(TimeDelta::MAX)
    }
}

/// The simulated Kinesis alone keeps shards, not records: a sample of
/// records needs the traffic, which [`crate::SimWorld`] has.
impl<C: Clock> RecordsRead for SimKinesis<C> {
    async fn shard_iterator(
        &self,
        stream: &StreamId,
        _shard: &ShardId,
        _at: StartAt,
    ) -> ApiResult<String> {
        Err(invalid(
            Api::GetShardIterator,
            format!(
                "stream {stream}: the simulated Kinesis without traffic keeps no records to read"
            ),
        ))
    }

    async fn get_records(&self, _iterator: &str, _limit: u32) -> ApiResult<RecordsPage> {
        Err(invalid(
            Api::GetRecords,
            "the simulated Kinesis without traffic keeps no records to read".into(),
        ))
    }
}

impl<C: Clock> KinesisRead for SimKinesis<C> {
    async fn list_streams(&self) -> ApiResult<Vec<StreamListing>> {
        let mut state = self.state();
        Self::injected(&mut state, Api::ListStreams)?;
        Ok(state
            .streams
            .iter()
            .map(|(name, s)| StreamListing {
                name: name.clone(),
                arn: Some(format!(
                    "arn:aws:kinesis:us-east-1:000000000000:stream/{name}"
                )),
                status: Some(self.status(s)),
                mode: Some(s.mode),
            })
            .collect())
    }

    async fn describe_stream(&self, stream: &StreamId) -> ApiResult<StreamSummary> {
        let mut state = self.state();
        Self::injected(&mut state, Api::DescribeStreamSummary)?;
        let s = state
            .streams
            .get(&stream.name)
            .ok_or_else(|| not_found(Api::DescribeStreamSummary, &stream.name))?;
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
            created_at: Some(s.created_at),
            warm_throughput: s.warm,
        })
    }

    async fn list_open_shards(&self, stream: &StreamId) -> ApiResult<Vec<Shard>> {
        let mut state = self.state();
        Self::injected(&mut state, Api::ListShards)?;
        let s = state
            .streams
            .get(&stream.name)
            .ok_or_else(|| not_found(Api::ListShards, &stream.name))?;
        Ok(s.open_shards().cloned().collect())
    }

    async fn shard_quota(&self) -> ApiResult<ShardQuota> {
        let mut state = self.state();
        Self::injected(&mut state, Api::DescribeLimits)?;
        Ok(ShardQuota {
            shard_limit: self.config.shard_limit,
            open_shard_count: Self::open_shard_count(&state),
        })
    }

    async fn read_history(&self, stream: &StreamId) -> ApiResult<History> {
        let mut state = self.state();
        Self::injected(&mut state, Api::ListTagsForStream)?;
        let s = state
            .streams
            .get(&stream.name)
            .ok_or_else(|| not_found(Api::ListTagsForStream, &stream.name))?;
        Ok(tags::decode(
            s.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ))
    }
}

impl<C: Clock> KinesisWrite for SimKinesis<C> {
    async fn split_shard(&self, stream: &StreamId, shard: &ShardId, key: HashKey) -> ApiResult<()> {
        const OP: Api = Api::SplitShard;
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
                ApiErrorKind::ShardQuota,
                Some("LimitExceededException"),
                format!("This request would exceed the shard limit for the account ({limit})"),
            ));
        }
        s.close(self.clock.now(), |x| &x.id == shard);
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
        const OP: Api = Api::MergeShards;
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
        s.close(self.clock.now(), |x| &x.id == shard || &x.id == adjacent);
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
        self.change_stream(Api::AddTagsToStream, &stream.name, |s| {
            s.tags.extend(tags::encode(history, note));
        })
    }

    async fn enable_shard_metrics(
        &self,
        stream: &StreamId,
        metrics: &[MetricName],
    ) -> ApiResult<()> {
        self.change_monitoring(Api::EnableEnhancedMonitoring, &stream.name, |on| {
            for m in metrics {
                if !on.contains(m) {
                    on.push(*m);
                }
            }
            on.sort();
        })
    }

    async fn record_shard_metrics(
        &self,
        stream: &StreamId,
        record: &MetricsRecord,
    ) -> ApiResult<()> {
        self.change_stream(Api::AddTagsToStream, &stream.name, |s| {
            s.tags.extend([tags::encode_metrics(record)]);
        })
    }

    async fn disable_shard_metrics(
        &self,
        stream: &StreamId,
        metrics: &[MetricName],
    ) -> ApiResult<()> {
        self.change_monitoring(Api::DisableEnhancedMonitoring, &stream.name, |on| {
            on.retain(|m| !metrics.contains(m));
        })
    }

    /// As AWS documents it: On-Demand streams in Advantage accounts only,
    /// at most 10 GiB/s, UPDATING while it scales.
    async fn update_warm_throughput(&self, stream: &StreamId, mib: u32) -> ApiResult<()> {
        const OP: Api = Api::UpdateStreamWarmThroughput;
        let until = self.updated_until();
        let name = &stream.name;
        self.change_stream(OP, name, |s| {
            let warm = s.warm.as_mut().filter(|_| s.mode == StreamMode::OnDemand);
            let Some(warm) = warm else {
                return Err(ApiError::new(
                    OP,
                    ApiErrorKind::InvalidArgument,
                    Some("ValidationException"),
                    format!(
                        "Warm throughput is supported only for on-demand streams in accounts with MinimumThroughputBillingCommitment enabled; stream {name} is not one"
                    ),
                ));
            };
            if mib > 10 * 1024 {
                return Err(invalid(OP, format!("WarmThroughputMiBps {mib} exceeds 10240")));
            }
            warm.target_mib = mib;
            warm.current_mib = mib;
            s.updating_until = Some(until);
            Ok(())
        })??;
        self.state().log.push(format!("{OP} {name} {mib}"));
        Ok(())
    }
}

impl<C: Clock> SimKinesis<C> {
    /// Runs `change` on stream `name` for `op`, after the fault injection
    /// and the not-found check every simple write shares.
    fn change_stream<T>(
        &self,
        op: Api,
        name: &str,
        change: impl FnOnce(&mut SimStream) -> T,
    ) -> ApiResult<T> {
        let mut state = self.state();
        Self::injected(&mut state, op)?;
        let s = state
            .streams
            .get_mut(name)
            .ok_or_else(|| not_found(op, name))?;
        Ok(change(s))
    }

    /// Changes which shard-level metrics enhanced monitoring publishes,
    /// remembering since when (the simulated CloudWatch publishes and bills
    /// by it), and logs the call.
    fn change_monitoring(
        &self,
        op: Api,
        name: &str,
        change: impl FnOnce(&mut Vec<MetricName>),
    ) -> ApiResult<()> {
        let now = self.clock.now();
        self.change_stream(op, name, |s| {
            change(&mut s.metrics);
            s.monitoring.push((now, s.metrics.clone()));
        })?;
        self.state().log.push(format!("{op} {name}"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::uniform_ranges;
    use crate::observe::TokioClock;

    const S: &str = "s";

    fn sim(config: SimConfig) -> SimKinesis<TokioClock> {
        let clock = TokioClock::starting_at("2026-01-01T00:00:00Z".parse().unwrap());
        let sim = SimKinesis::new(clock, config);
        sim.create_stream(S, &uniform_ranges(2), StreamMode::Provisioned);
        sim
    }

    fn id(n: usize) -> ShardId {
        ShardId(format!("shardId-{n:012}"))
    }

    fn stream() -> StreamId {
        StreamId::named(S)
    }

    async fn kind(result: ApiResult<()>) -> ApiErrorKind {
        result.expect_err("refused").kind
    }

    #[tokio::test(start_paused = true)]
    async fn split_keys_must_lie_strictly_inside_like_aws() {
        let sim = sim(SimConfig::default());
        let r = sim.stream(S).unwrap().shards[0].range;
        for key in [r.start(), HashKey(r.start().0 + 1), HashKey(r.end().0 + 1)] {
            assert_eq!(
                kind(sim.split_shard(&stream(), &id(0), key).await).await,
                ApiErrorKind::InvalidArgument
            );
        }
        assert!(
            sim.split_shard(&stream(), &id(0), HashKey(r.start().0 + 2))
                .await
                .is_ok()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn closed_shards_are_forgotten_a_day_after_they_close() {
        let sim = sim(SimConfig::default());
        let mid = sim.stream(S).unwrap().shards[0].range.midpoint().unwrap();
        sim.split_shard(&stream(), &id(0), mid).await.unwrap();
        let listed = |sim: &SimKinesis<TokioClock>| -> Vec<String> {
            let s = sim.stream(S).unwrap();
            s.shards.iter().map(|s| s.id.to_string()).collect()
        };
        // Closed an hour ago: still listed, with its children's lineage.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        sim.merge_shards(&stream(), &id(2), &id(3)).await.unwrap();
        assert_eq!(
            listed(&sim),
            [
                "shardId-000000000000",
                "shardId-000000000001",
                "shardId-000000000002",
                "shardId-000000000003",
                "shardId-000000000004"
            ]
        );
        // A day later the split's parent has expired; the merge's parents
        // (closed an hour after it) stay until their own day is over.
        tokio::time::sleep(Duration::from_secs(23 * 3600 + 60)).await;
        let mid = sim.stream(S).unwrap().shards[1].range.midpoint().unwrap();
        sim.split_shard(&stream(), &id(1), mid).await.unwrap();
        assert_eq!(
            listed(&sim),
            [
                "shardId-000000000001",
                "shardId-000000000002",
                "shardId-000000000003",
                "shardId-000000000004",
                "shardId-000000000005",
                "shardId-000000000006"
            ]
        );
        assert_eq!(sim.stream(S).unwrap().shards_created(), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reshard_makes_the_stream_updating_and_refuses_another_meanwhile() {
        let sim = sim(SimConfig::default());
        let mid = sim.stream(S).unwrap().shards[0].range.midpoint().unwrap();
        sim.split_shard(&stream(), &id(0), mid).await.unwrap();
        assert_eq!(
            sim.describe_stream(&stream()).await.unwrap().status,
            StreamStatus::Updating
        );
        assert_eq!(
            kind(sim.merge_shards(&stream(), &id(2), &id(3)).await).await,
            ApiErrorKind::ResourceInUse
        );
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(
            sim.describe_stream(&stream()).await.unwrap().status,
            StreamStatus::Active
        );
        // The closed parent stays listed, with its children's lineage.
        let s = sim.stream(S).unwrap();
        assert!(!s.shards[0].open);
        assert_eq!(s.shards[2].parent_shard_id, Some(id(0)));
        assert_eq!(sim.list_open_shards(&stream()).await.unwrap().len(), 3);
        // A closed shard cannot be resharded again.
        assert_eq!(
            kind(sim.split_shard(&stream(), &id(0), mid).await).await,
            ApiErrorKind::InvalidArgument
        );
    }

    #[tokio::test(start_paused = true)]
    async fn only_adjacent_open_shards_merge() {
        let sim = SimKinesis::new(
            TokioClock::starting_at("2026-01-01T00:00:00Z".parse().unwrap()),
            SimConfig::default(),
        );
        sim.create_stream(S, &uniform_ranges(3), StreamMode::Provisioned);
        assert_eq!(
            kind(sim.merge_shards(&stream(), &id(0), &id(2)).await).await,
            ApiErrorKind::InvalidArgument
        );
        sim.merge_shards(&stream(), &id(1), &id(2)).await.unwrap();
        let merged = sim.stream(S).unwrap().shards[3].clone();
        assert_eq!(
            (merged.parent_shard_id, merged.adjacent_parent_shard_id),
            (Some(id(1)), Some(id(2)))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn on_demand_streams_cannot_be_resharded() {
        let sim = sim(SimConfig::default());
        sim.create_stream("od", &uniform_ranges(2), StreamMode::OnDemand);
        let od = StreamId::named("od");
        let mid = uniform_ranges(2)[0].midpoint().unwrap();
        assert_eq!(
            kind(sim.split_shard(&od, &id(0), mid).await).await,
            ApiErrorKind::InvalidArgument
        );
        assert_eq!(
            kind(sim.merge_shards(&od, &id(0), &id(1)).await).await,
            ApiErrorKind::InvalidArgument
        );
        assert!(sim.update_shard_count("od", 4).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn the_shard_quota_is_enforced_across_streams() {
        let sim = sim(SimConfig {
            shard_limit: 4,
            ..SimConfig::default()
        });
        sim.create_stream("other", &uniform_ranges(2), StreamMode::Provisioned);
        let mid = uniform_ranges(2)[0].midpoint().unwrap();
        let err = sim.split_shard(&stream(), &id(0), mid).await.unwrap_err();
        assert_eq!(err.kind, ApiErrorKind::ShardQuota);
        assert!(err.message.contains("shard limit"), "{err}");
        assert_eq!(
            sim.shard_quota().await.unwrap(),
            ShardQuota {
                shard_limit: 4,
                open_shard_count: 4
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn update_shard_count_is_bounded_like_aws() {
        let sim = sim(SimConfig {
            reshard_duration: Duration::from_secs(1),
            ..SimConfig::default()
        });
        // Between half and double the open count.
        assert!(sim.update_shard_count(S, 5).is_err());
        assert!(sim.update_shard_count(S, 0).is_err());
        sim.update_shard_count(S, 4).unwrap();
        assert_eq!(
            crate::sim::world::layout(&sim.stream(S).unwrap().shards),
            uniform_ranges(4)
        );
        // At most ten calls per rolling 24 hours.
        for target in [2, 4, 2, 4, 2, 4, 2, 4, 2] {
            tokio::time::sleep(Duration::from_secs(2)).await;
            sim.update_shard_count(S, target).unwrap();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            sim.update_shard_count(S, 2).unwrap_err().kind,
            ApiErrorKind::Throttled
        );
        tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
        assert!(sim.update_shard_count(S, 2).is_ok());
    }
}
