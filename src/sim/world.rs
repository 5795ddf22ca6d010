//! The simulated stream with traffic flowing through it: every call first
//! plays the traffic up to the present, minute by minute, against the
//! shard layout of the moment. Each open shard accepts up to 1 MiB/s and
//! 1,000 records/s; the rest is throttled.
//!
//! The per-minute sums are published the way CloudWatch publishes them
//! ([`Publishing`]): each minute appears after its own seeded delay, now
//! and then a shard's datapoint never arrives, and a shard (or stream) that
//! took no records publishes no datapoint at all unless told to publish
//! zeros. Stream-level IncomingBytes and IncomingRecords are published too.
//!
//! [`SimWorld`] implements the same read, write and metrics traits as the
//! AWS adapters, so the controller runs against it unchanged.

use std::sync::Mutex;
use std::time::Duration;

use std::hash::{Hash, Hasher};

use chrono::{DateTime, TimeDelta, Utc};
use rustc_hash::{FxHashMap, FxHashSet, FxHasher};

use super::kinesis::SimKinesis;
use super::traffic::{Offered, Traffic};
use crate::model::History;
use crate::model::{ApiResult, MetricName, ShardQuota, StreamId, StreamListing, StreamSummary};
use crate::model::{
    BYTES_PER_SHARD_MINUTE, HashKey, HashKeyRange, RECORDS_PER_SHARD_MINUTE, Shard, ShardId,
};
use crate::observe::{
    Clock, KinesisRead, KinesisWrite, MetricsRead, MetricsRequest, RecordsPage, RecordsRead,
    StartAt,
};
use crate::observe::{Metrics, ShardMetrics, StreamMetrics};

/// What happened in one simulated minute, stream-wide.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MinuteStats {
    pub offered: Offered,
    pub accepted_bytes: f64,
    pub accepted_records: f64,
    pub throttled_records: f64,
    pub open_shards: u32,
    /// The consumers' largest iterator age at the minute's end, in
    /// milliseconds (0 without a consumer model).
    pub iterator_age_ms: f64,
}

/// One shard's per-minute sums, from the minute it first took traffic.
#[derive(Debug, Clone, Default)]
struct ShardSums {
    first_minute: usize,
    bytes: Vec<f64>,
    records: Vec<f64>,
    throttled: Vec<f64>,
    /// The shard's consumer's iterator age at each minute's end (ms).
    iterator_age: Vec<f64>,
    /// The bytes its consumer read (OutgoingBytes).
    outgoing: Vec<f64>,
    /// Which shard-level metrics enhanced monitoring published for each
    /// minute (bit `i`: `MetricName::ALL[i]`).
    published: Vec<u8>,
    /// The clock hour (since the world's start) each metric was last
    /// billed for: CloudWatch bills a metric for every hour it is
    /// published in.
    billed_hour: [Option<usize>; 7],
}

/// Records a shard's consumer has not processed yet, by the minute they
/// arrived, oldest first: (minute, left, arrived).
type Backlog = std::collections::VecDeque<(usize, f64, f64)>;

impl ShardSums {
    /// Pads every series with missing minutes up to `index` (a shard may
    /// have missed minutes; ids are never reused).
    fn pad(&mut self, index: usize) {
        self.bytes.resize(index, f64::NAN);
        self.records.resize(index, f64::NAN);
        self.throttled.resize(index, f64::NAN);
        self.iterator_age.resize(index, f64::NAN);
        self.outgoing.resize(index, f64::NAN);
        self.published.resize(index, 0);
    }

    /// The metric-hours newly billed by publishing the metrics of
    /// `published` in minute `m`: one per metric per hour it appears in.
    fn bill(&mut self, published: u8, m: usize) -> u64 {
        let mut hours = 0;
        for (bit, billed) in self.billed_hour.iter_mut().enumerate() {
            if published & (1 << bit) != 0 && *billed != Some(m / 60) {
                *billed = Some(m / 60);
                hours += 1;
            }
        }
        hours
    }

    /// Forgets the oldest minutes, a day at a time.
    fn forget_old(&mut self) {
        if self.bytes.len() > KEPT_MINUTES + 1440 {
            let old = self.bytes.len() - KEPT_MINUTES;
            self.bytes.drain(..old);
            self.records.drain(..old);
            self.throttled.drain(..old);
            self.iterator_age.drain(..old);
            self.outgoing.drain(..old);
            self.published.drain(..old);
            self.first_minute += old;
        }
    }
}

#[derive(Debug, Default)]
struct WorldState {
    /// Minutes played so far.
    played: usize,
    sums: FxHashMap<ShardId, ShardSums>,
    stats: Vec<MinuteStats>,
    /// The layout the cached shares belong to, and the minute they were
    /// computed for: shares change only with the layout or a hot key.
    cached: Vec<(Shard, f64)>,
    cached_minute: Option<usize>,
    /// Each shard's consumer backlog, with its range (for the children to
    /// take their part), with a consumer model.
    backlogs: FxHashMap<ShardId, (HashKeyRange, Backlog)>,
    /// Shard-level metric-hours published so far (one metric of one shard
    /// published in some minute of a clock hour is one).
    metric_hours: u64,
}

/// What a minute in which a shard took no records publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdleDatapoints {
    /// No datapoint, as CloudWatch does for idle Kinesis metrics.
    #[default]
    Omit,
    /// A zero.
    Zero,
}

/// How the simulated CloudWatch publishes the per-minute sums.
#[derive(Debug, Clone, PartialEq)]
pub struct Publishing {
    /// Each minute's datapoints appear this long after the minute ends,
    /// drawn per minute, uniformly between the two (seeded).
    pub delay: (Duration, Duration),
    /// The probability that one shard's datapoint for a minute never
    /// arrives.
    pub gaps: f64,
    pub idle: IdleDatapoints,
    pub seed: u64,
    /// How long after EnableEnhancedMonitoring a shard-level metric is
    /// first published: minutes that start at least this long after the
    /// call have datapoints (each still `delay` late).
    pub enable_delay: Duration,
}

impl Publishing {
    /// Every minute `delay` late, nothing lost, idle minutes omitted.
    pub fn after(delay: Duration) -> Self {
        Publishing {
            delay: (delay, delay),
            gaps: 0.0,
            idle: IdleDatapoints::Omit,
            seed: 0,
            enable_delay: Duration::from_secs(60),
        }
    }

    /// A number in [0, 1) that depends only on the seed and `parts`.
    fn draw(&self, parts: impl Hash) -> f64 {
        let mut h = FxHasher::default();
        (self.seed, parts).hash(&mut h);
        spread(h.finish())
    }

    /// Whether `shard`'s datapoint for each of `minutes` is lost (`false`
    /// for `None`): [`Publishing::lost`] for many minutes, hashing the
    /// seed and the shard's id once.
    fn lost_minutes(&self, shard: &ShardId, minutes: &[Option<usize>]) -> Vec<bool> {
        if self.gaps <= 0.0 {
            return vec![false; minutes.len()];
        }
        // Hashing a tuple hashes its fields in order: this prefix, then
        // the minute, is `draw(("gap", shard, m))`.
        let mut prefix = FxHasher::default();
        self.seed.hash(&mut prefix);
        "gap".hash(&mut prefix);
        shard.as_str().hash(&mut prefix);
        minutes
            .iter()
            .map(|m| {
                m.is_some_and(|m| {
                    let mut h = prefix.clone();
                    m.hash(&mut h);
                    spread(h.finish()) < self.gaps
                })
            })
            .collect()
    }

    /// How late minute `m`'s datapoints appear after it ends.
    fn delay_of(&self, m: usize) -> TimeDelta {
        let (low, high) = self.delay;
        let spread = high.saturating_sub(low).as_secs_f64();
        let delay = low.as_secs_f64() + (spread * self.draw(("delay", m))).floor();
        TimeDelta::milliseconds((delay * 1000.0) as i64)
    }

    /// Whether `shard`'s datapoint for minute `m` is lost: the rule
    /// [`Publishing::lost_minutes`] computes faster.
    #[cfg(test)]
    fn lost(&self, shard: &ShardId, m: usize) -> bool {
        self.gaps > 0.0 && self.draw(("gap", shard.as_str(), m)) < self.gaps
    }
}

/// How many minutes of per-shard sums are kept: more than any policy
/// reads (a day's window plus an hour's lag), so memory stays flat however
/// long the simulation runs.
const KEPT_MINUTES: usize = 2 * 1440;

/// A minute with fewer accepted records than this took none (CloudWatch
/// counts whole records; the simulation's are expected values).
const IDLE_RECORDS: f64 = 0.5;

/// A simulated stream with traffic.
#[derive(Debug)]
pub struct SimWorld<C> {
    pub kinesis: SimKinesis<C>,
    clock: C,
    stream: String,
    start: DateTime<Utc>,
    traffic: Traffic,
    publishing: Publishing,
    burstiness: f64,
    /// Records a second each shard's consumer processes, when modelled.
    consumer_rate: Option<f64>,
    state: Mutex<WorldState>,
    /// Metrics requested from the simulated CloudWatch, as AWS bills
    /// GetMetricData.
    metrics_requested: std::sync::atomic::AtomicU64,
}

/// Writes throttled in a minute that offers `offered` against a per-minute
/// `limit`, when per-second rates spread uniformly within ±`burstiness`
/// of the minute's average: the expected excess over the limit.
pub fn throttled(offered: f64, limit: f64, burstiness: f64) -> f64 {
    let (low, high) = (offered * (1.0 - burstiness), offered * (1.0 + burstiness));
    if limit >= high {
        0.0
    } else if limit <= low || high <= low {
        offered - limit
    } else {
        (high - limit).powi(2) / (2.0 * (high - low))
    }
}

impl<C: Clock + Clone> SimWorld<C> {
    /// Metrics requested so far (GetMetricData bills per metric).
    pub fn metrics_requested(&self) -> u64 {
        self.metrics_requested
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Shard-level metric-hours CloudWatch would bill so far: each
    /// metric of each shard, for every clock hour it was published in.
    pub fn metric_hours(&self) -> u64 {
        self.catch_up();
        self.lock().metric_hours
    }

    /// Counts `n` metrics requested by a strategy reading outside
    /// [`MetricsRead`] (the uniform baseline's stream-level reads).
    pub(crate) fn note_metrics_requested(&self, n: usize) {
        self.metrics_requested
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// A world whose traffic starts at `start` on `stream` in `kinesis`.
    pub fn new(
        kinesis: SimKinesis<C>,
        clock: C,
        stream: &str,
        start: DateTime<Utc>,
        traffic: Traffic,
        publishing: Publishing,
        burstiness: f64,
    ) -> Self {
        SimWorld {
            kinesis,
            clock,
            stream: stream.to_owned(),
            start,
            traffic,
            publishing,
            burstiness,
            consumer_rate: None,
            state: Mutex::new(WorldState::default()),
            metrics_requested: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The world with a consumer that processes `records_per_second` of
    /// each open shard (one worker per shard, as KCL and Lambda run) and
    /// publishes its iterator age. A reshard hands a parent's backlog to
    /// its children: a split's children take their parts of it by key
    /// range, a merge's child both parents' whole backlogs. (A real KCL
    /// worker finishes a parent before its children start, so after a
    /// split the lag drains no faster than this.)
    pub fn with_consumer(self, records_per_second: Option<f64>) -> Self {
        SimWorld {
            consumer_rate: records_per_second,
            ..self
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WorldState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When minute `m` starts.
    pub fn minute_start(&self, m: usize) -> DateTime<Utc> {
        self.start + TimeDelta::minutes(m as i64)
    }

    /// Whether minute `m`'s datapoints have been published by `now`.
    fn published(&self, m: usize, now: DateTime<Utc>) -> bool {
        self.minute_start(m) + TimeDelta::minutes(1) + self.publishing.delay_of(m) <= now
    }

    /// The datapoint a sum of `records` accepted records publishes, if any.
    fn datapoint(&self, records: f64, value: f64) -> Option<f64> {
        if records < IDLE_RECORDS {
            match self.publishing.idle {
                IdleDatapoints::Omit => None,
                IdleDatapoints::Zero => Some(0.0),
            }
        } else {
            Some(value)
        }
    }

    /// Plays every minute that has ended by now.
    pub fn catch_up(&self) {
        let now = self.clock.now();
        let ended = ((now - self.start).num_seconds().max(0) / 60) as usize;
        let upto = ended.min(self.traffic.minutes());
        let mut state = self.lock();
        if state.played >= upto {
            return;
        }
        let stream = self.kinesis.stream(&self.stream);
        let open: Vec<Shard> = stream
            .as_ref()
            .map(|s| s.open_shards().cloned().collect())
            .unwrap_or_default();
        // Which metrics were on since when, as bits, newest last.
        let monitoring: Vec<(DateTime<Utc>, u8)> = stream
            .iter()
            .flat_map(|s| &s.monitoring)
            .map(|(since, metrics)| {
                let bits = metrics.iter().fold(0u8, |bits, m| bits | metric_bit(*m));
                (*since, bits)
            })
            .collect();
        while state.played < upto {
            let m = state.played;
            let published = self.published_metrics(&monitoring, m);
            self.play(&mut state, &open, m, published);
            state.played += 1;
        }
        // Forget the sums of shards closed longer ago than any read
        // reaches, so that memory (and every pass) stays flat however
        // long the simulation runs.
        if state.sums.len() > 2 * open.len() + 16 {
            let played = state.played;
            state
                .sums
                .retain(|_, s| s.first_minute + s.bytes.len() + KEPT_MINUTES > played);
        }
    }

    /// The shard-level metrics enhanced monitoring publishes minute `m`
    /// for, as bits of `MetricName::ALL`: those enabled (per `monitoring`,
    /// since when each set was on) when it starts, and `enable_delay`
    /// before.
    fn published_metrics(&self, monitoring: &[(DateTime<Utc>, u8)], m: usize) -> u8 {
        let start = self.minute_start(m);
        let delay = TimeDelta::from_std(self.publishing.enable_delay).unwrap_or(TimeDelta::MAX);
        let bits = |t: DateTime<Utc>| {
            monitoring
                .iter()
                .rev()
                .find(|(since, _)| *since <= t)
                .map_or(0, |(_, bits)| *bits)
        };
        bits(start) & bits(start - delay)
    }

    fn play(&self, state: &mut WorldState, open: &[Shard], m: usize, published: u8) {
        let fresh = state.cached.len() == open.len()
            && state
                .cached
                .iter()
                .zip(open)
                .all(|((a, _), b)| a.id == b.id)
            && state
                .cached_minute
                .is_some_and(|c| self.traffic.same_distribution(c, m));
        if !fresh {
            state.cached = open
                .iter()
                .map(|s| (s.clone(), self.traffic.share(s.range, m)))
                .collect();
            state.cached_minute = Some(m);
        }
        let total = self.traffic.total(m);
        let mut stats = MinuteStats {
            offered: total,
            open_shards: open.len() as u32,
            ..MinuteStats::default()
        };
        let record_size = if total.records > 0.0 {
            total.bytes / total.records
        } else {
            1.0
        };
        let cached = std::mem::take(&mut state.cached);
        for (shard, share) in &cached {
            let offered_records = total.records * share;
            let limit = RECORDS_PER_SHARD_MINUTE.min(BYTES_PER_SHARD_MINUTE / record_size);
            let throttled =
                throttled(offered_records, limit, self.burstiness).clamp(0.0, offered_records);
            let accepted = offered_records - throttled;
            stats.accepted_records += accepted;
            stats.accepted_bytes += accepted * record_size;
            stats.throttled_records += throttled;
            // Looked up before inserting: no key to clone in the
            // common case, a shard seen before.
            if !state.sums.contains_key(&shard.id) {
                state.sums.insert(
                    shard.id.clone(),
                    ShardSums {
                        first_minute: m,
                        ..ShardSums::default()
                    },
                );
            }
            let sums = state.sums.get_mut(&shard.id).expect("inserted above");
            // A shard may have been closed and reopened in between? Never:
            // ids are not reused. Pad in case it missed minutes.
            let index = m - sums.first_minute;
            sums.pad(index);
            sums.published.push(published);
            state.metric_hours += sums.bill(published, m);
            sums.bytes.push(accepted * record_size);
            sums.records.push(accepted);
            sums.throttled.push(throttled);
            let (age, read) = match self.consumer_rate {
                Some(rate) => consume(&mut state.backlogs, shard, m, accepted, rate * 60.0),
                None => (f64::NAN, f64::NAN),
            };
            sums.iterator_age.push(age);
            sums.outgoing.push(read * record_size);
            // Without a consumer the age is NaN, which `max` passes over.
            stats.iterator_age_ms = stats.iterator_age_ms.max(age);
            sums.forget_old();
        }
        state.cached = cached;
        if state.backlogs.len() > open.len() {
            // A reshard: the parents' backlogs went to their children.
            let open: FxHashSet<&ShardId> = open.iter().map(|s| &s.id).collect();
            state.backlogs.retain(|id, _| open.contains(id));
        }
        state.stats.push(stats);
    }

    /// The per-minute stream-wide outcome so far.
    pub fn stats(&self) -> Vec<MinuteStats> {
        self.catch_up();
        self.lock().stats.clone()
    }

    /// Stream-wide accepted bytes and records of the minutes that CloudWatch
    /// would show by now, oldest first, `None` for minutes without a
    /// datapoint (not published yet, or idle and omitted).
    pub fn stream_sums(&self, minutes: usize) -> Vec<Option<(f64, f64)>> {
        self.catch_up();
        let now = self.clock.now();
        let ended = ((now - self.start).num_seconds().max(0) / 60) as usize;
        let state = self.lock();
        (ended.saturating_sub(minutes)..ended)
            .map(|m| {
                let s = state.stats.get(m).filter(|_| self.published(m, now))?;
                let records = s.accepted_records;
                Some((
                    self.datapoint(records, s.accepted_bytes)?,
                    self.datapoint(records, records)?,
                ))
            })
            .collect()
    }

    /// The traffic this world replays.
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }
}

impl<C: Clock + Clone> KinesisRead for SimWorld<C> {
    async fn list_streams(&self) -> ApiResult<Vec<StreamListing>> {
        self.catch_up();
        self.kinesis.list_streams().await
    }

    async fn describe_stream(&self, stream: &StreamId) -> ApiResult<StreamSummary> {
        self.catch_up();
        self.kinesis.describe_stream(stream).await
    }

    async fn list_open_shards(&self, stream: &StreamId) -> ApiResult<Vec<Shard>> {
        self.catch_up();
        self.kinesis.list_open_shards(stream).await
    }

    async fn shard_quota(&self) -> ApiResult<ShardQuota> {
        self.catch_up();
        self.kinesis.shard_quota().await
    }

    async fn read_history(&self, stream: &StreamId) -> ApiResult<History> {
        self.catch_up();
        self.kinesis.read_history(stream).await
    }
}

impl<C: Clock + Clone> KinesisWrite for SimWorld<C> {
    async fn split_shard(&self, stream: &StreamId, shard: &ShardId, key: HashKey) -> ApiResult<()> {
        self.catch_up();
        self.kinesis.split_shard(stream, shard, key).await
    }

    async fn merge_shards(
        &self,
        stream: &StreamId,
        shard: &ShardId,
        adjacent: &ShardId,
    ) -> ApiResult<()> {
        self.catch_up();
        self.kinesis.merge_shards(stream, shard, adjacent).await
    }

    async fn write_history(
        &self,
        stream: &StreamId,
        history: &History,
        note: &str,
    ) -> ApiResult<()> {
        self.kinesis.write_history(stream, history, note).await
    }

    async fn enable_shard_metrics(
        &self,
        stream: &StreamId,
        metrics: &[MetricName],
    ) -> ApiResult<()> {
        self.catch_up();
        self.kinesis.enable_shard_metrics(stream, metrics).await
    }

    async fn record_shard_metrics(
        &self,
        stream: &StreamId,
        record: &crate::model::MetricsRecord,
    ) -> ApiResult<()> {
        self.kinesis.record_shard_metrics(stream, record).await
    }

    async fn disable_shard_metrics(
        &self,
        stream: &StreamId,
        metrics: &[MetricName],
    ) -> ApiResult<()> {
        self.catch_up();
        self.kinesis.disable_shard_metrics(stream, metrics).await
    }

    async fn update_warm_throughput(&self, stream: &StreamId, mib: u32) -> ApiResult<()> {
        self.kinesis.update_warm_throughput(stream, mib).await
    }
}

/// Records drawn from the traffic's key model, as a sample of a shard
/// would read them: a shard iterator is the shard and a position in time,
/// and each GetRecords call returns the records the shard took from there
/// on (its share of the minute's traffic, never past now), up to the
/// limit.
impl<C: Clock + Clone> RecordsRead for SimWorld<C> {
    async fn shard_iterator(
        &self,
        stream: &StreamId,
        shard: &ShardId,
        at: StartAt,
    ) -> ApiResult<String> {
        let now = self.clock.now();
        let from = match at {
            StartAt::Latest => now,
            StartAt::TrimHorizon => self.start.max(now - TimeDelta::days(1)),
            StartAt::At(t) => t.clamp(self.start, now),
        };
        let known = self
            .kinesis
            .stream(&stream.name)
            .is_some_and(|s| s.shards.iter().any(|x| x.id == *shard));
        if !known {
            return Err(crate::model::ApiError::new(
                crate::model::Api::GetShardIterator,
                crate::model::ApiErrorKind::NotFound,
                Some("ResourceNotFoundException"),
                format!(
                    "Shard {shard} in stream {stream} under account 000000000000 does not exist"
                ),
            ));
        }
        Ok(format!(
            "{}|{}|{}",
            stream.name,
            shard,
            from.timestamp_millis()
        ))
    }

    async fn get_records(&self, iterator: &str, limit: u32) -> ApiResult<RecordsPage> {
        let bad = || {
            crate::model::ApiError::new(
                crate::model::Api::GetRecords,
                crate::model::ApiErrorKind::InvalidArgument,
                Some("InvalidArgumentException"),
                format!("invalid shard iterator {iterator:?}"),
            )
        };
        let mut parts = iterator.split('|');
        let (Some(stream), Some(shard), Some(at), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let at = at
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(bad)?;
        let range = self
            .kinesis
            .stream(stream)
            .and_then(|s| {
                s.shards
                    .iter()
                    .find(|x| x.id.as_str() == shard)
                    .map(|x| x.range)
            })
            .ok_or_else(bad)?;
        let now = self.clock.now();
        let minute = ((at - self.start).num_seconds().max(0) / 60) as usize;
        // What the shard accepted: its share of the minute's traffic, up
        // to its write limits (a read returns accepted records only).
        let per_second = if minute < self.traffic.minutes() {
            let offered = self.traffic.offered(range, minute).records / 60.0;
            let size = self.traffic.record_size().max(1.0);
            offered
                .min(crate::model::WRITE_RECORDS_PER_SECOND)
                .min(crate::model::WRITE_BYTES_PER_SECOND / size)
        } else {
            0.0
        };
        // The records written from `at` to now, at most `limit`, and no
        // further than the end of `at`'s minute (the next call reads on).
        let minute_end = self.minute_start(minute + 1);
        let until = now.min(minute_end);
        let span = (until - at).num_milliseconds().max(0) as f64 / 1000.0;
        let n = ((per_second * span).floor() as usize).min(limit as usize);
        let took = if per_second > 0.0 && n == limit as usize {
            TimeDelta::milliseconds((n as f64 / per_second * 1000.0) as i64)
        } else {
            until - at
        };
        let mut rng = fastrand::Rng::with_seed(draw_seed(shard, at.timestamp_millis()));
        let size = self.traffic.record_size() as u64;
        // Arrivals spread evenly over the span the page covers.
        let step = took.num_milliseconds().max(0) / (n.max(1) as i64);
        let records = self
            .traffic
            .draw_keys(range, minute, n, &mut rng)
            .into_iter()
            .enumerate()
            .map(
                |(i, (partition_key, hash_key))| crate::observe::SampledRecord {
                    bytes: size + partition_key.len() as u64,
                    partition_key,
                    arrival: Some(at + TimeDelta::milliseconds(step * i as i64)),
                    hash_key,
                },
            )
            .collect();
        let next = at + took.max(TimeDelta::zero());
        Ok(RecordsPage {
            records,
            next: Some(format!("{stream}|{shard}|{}", next.timestamp_millis())),
            millis_behind_latest: Some((now - next).num_milliseconds().max(0)),
        })
    }
}

/// One minute of `shard`'s consumer: the minute's `accepted` records join
/// its backlog (a new shard first takes its parents' part), `capacity` of
/// the oldest are processed. Returns the age of the oldest left, in
/// milliseconds at the minute's end, and the records processed.
fn consume(
    backlogs: &mut FxHashMap<ShardId, (HashKeyRange, Backlog)>,
    shard: &Shard,
    m: usize,
    accepted: f64,
    capacity: f64,
) -> (f64, f64) {
    if !backlogs.contains_key(&shard.id) {
        let mut inherited = Backlog::new();
        for parent in [&shard.parent_shard_id, &shard.adjacent_parent_shard_id]
            .into_iter()
            .flatten()
        {
            let Some((range, backlog)) = backlogs.get(parent) else {
                continue;
            };
            // A split's child takes its part of the range; a merge's child
            // covers both parents whole.
            let part = (shard.range.share_of_key_space() / range.share_of_key_space()).min(1.0);
            inherited.extend(
                backlog
                    .iter()
                    .map(|&(k, left, n)| (k, left * part, n * part)),
            );
        }
        inherited.make_contiguous().sort_by_key(|&(k, _, _)| k);
        backlogs.insert(shard.id.clone(), (shard.range, inherited));
    }
    let (_, backlog) = backlogs.get_mut(&shard.id).expect("inserted above");
    if accepted > 0.0 {
        backlog.push_back((m, accepted, accepted));
    }
    let mut left_over = capacity;
    while let Some(front) = backlog.front_mut() {
        if front.1 > left_over {
            front.1 -= left_over;
            left_over = 0.0;
            break;
        }
        left_over -= front.1;
        backlog.pop_front();
    }
    let age = match backlog.front() {
        None => 0.0,
        Some(&(k, left, arrived)) => {
            // The oldest record left arrived as far into its minute as the
            // minute's records were processed.
            let done = 1.0 - left / arrived;
            ((m + 1) as f64 - (k as f64 + done)).max(0.0) * 60_000.0
        }
    };
    (age, capacity - left_over)
}

/// A seed for the keys drawn at one position of one shard: the same read
/// draws the same keys.
fn draw_seed(shard: &str, at_millis: i64) -> u64 {
    let mut h = FxHasher::default();
    (shard, at_millis).hash(&mut h);
    h.finish()
}

impl<C: Clock + Clone> MetricsRead for SimWorld<C> {
    async fn read_metrics(&self, request: &MetricsRequest) -> ApiResult<Metrics> {
        let MetricsRequest {
            stream_series,
            shards,
            metrics,
            iterator_age,
            start,
            minutes,
            ..
        } = request;
        // The stream's series, and each shard's.
        let stream_metrics = if *stream_series {
            3 + usize::from(*iterator_age)
        } else {
            0
        };
        self.note_metrics_requested(stream_metrics + shards.len() * metrics.len());
        self.catch_up();
        let now = self.clock.now();
        let state = self.lock();
        let first = (*start - self.start).num_minutes();
        // The simulated minutes of the window that are published by now.
        let published: Vec<Option<usize>> = (0..i64::from(*minutes))
            .map(|i| {
                usize::try_from(first + i)
                    .ok()
                    .filter(|&m| m < state.stats.len() && self.published(m, now))
            })
            .collect();
        let stream = if *stream_series {
            self.stream_series(&state.stats, &published, *iterator_age)
        } else {
            StreamMetrics::default()
        };
        let mut out = FxHashMap::default();
        for id in shards {
            let sums = state.sums.get(id);
            let mut m = ShardMetrics::default();
            let lost = self.publishing.lost_minutes(id, &published);
            for name in metrics {
                m[*name] = published
                    .iter()
                    .zip(&lost)
                    .map(|(minute, lost)| self.shard_datapoint(sums?, *name, (*minute)?, *lost))
                    .collect();
            }
            out.insert(id.clone(), m);
        }
        Ok(Metrics {
            start: *start,
            period_seconds: 60,
            stream,
            shards: out,
        })
    }
}

impl<C: Clock + Clone> SimWorld<C> {
    /// The stream-level series of the `published` minutes (`None`: not
    /// published yet, or outside the simulation).
    fn stream_series(
        &self,
        stats: &[MinuteStats],
        published: &[Option<usize>],
        iterator_age: bool,
    ) -> StreamMetrics {
        let mut stream = StreamMetrics::default();
        for m in published {
            let s = m.map(|m| stats[m]);
            let records = s.map_or(0.0, |s| s.accepted_records);
            stream[MetricName::IncomingBytes]
                .push(s.and_then(|s| self.datapoint(records, s.accepted_bytes)));
            stream[MetricName::IncomingRecords]
                .push(s.and_then(|_| self.datapoint(records, records)));
            stream[MetricName::WriteProvisionedThroughputExceeded].push(s.and_then(|s| {
                // Throttled writes are not idle.
                if s.throttled_records > 0.0 {
                    Some(s.throttled_records)
                } else {
                    self.datapoint(records, 0.0)
                }
            }));
            if iterator_age {
                // Consumers call GetRecords idle or not: no consumer, no
                // datapoint.
                let age = s.filter(|_| self.consumer_rate.is_some());
                stream[MetricName::IteratorAgeMilliseconds].push(age.map(|s| s.iterator_age_ms));
            }
        }
        stream
    }

    /// The datapoint of shard-level `name` in simulated `minute`, as
    /// CloudWatch would give it: only what enhanced monitoring published,
    /// none for an idle shard or a minute `lost`.
    fn shard_datapoint(
        &self,
        sums: &ShardSums,
        name: MetricName,
        minute: usize,
        lost: bool,
    ) -> Option<f64> {
        let index = minute.checked_sub(sums.first_minute)?;
        // Only what enhanced monitoring published.
        if sums.published.get(index)? & metric_bit(name) == 0 {
            return None;
        }
        let values = match name {
            MetricName::IncomingBytes => &sums.bytes,
            MetricName::IncomingRecords => &sums.records,
            MetricName::WriteProvisionedThroughputExceeded => &sums.throttled,
            MetricName::OutgoingBytes => {
                return sums.outgoing.get(index).copied().filter(|v| !v.is_nan());
            }
            MetricName::IteratorAgeMilliseconds => {
                return sums
                    .iterator_age
                    .get(index)
                    .copied()
                    .filter(|v| !v.is_nan());
            }
            _ => return None,
        };
        let value = values.get(index).copied().filter(|v| !v.is_nan())?;
        if lost {
            return None;
        }
        let records = sums.records[index];
        if records < IDLE_RECORDS && sums.throttled[index] > 0.0 {
            return Some(value); // throttled writes are not idle
        }
        self.datapoint(records, value)
    }
}

/// The bit of `metric` in a set of shard-level metrics.
/// (`MetricName::ALL` is in declaration order: bit `i` is `ALL[i]`.)
fn metric_bit(metric: MetricName) -> u8 {
    1 << metric as u8
}

/// A number in [0, 1) from a hash: splitmix64's finalizer spreads
/// FxHash's low-entropy output.
fn spread(hash: u64) -> f64 {
    let mut z = hash.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The ranges of the open shards of a stream, sorted, for tests and charts.
pub fn layout(shards: &[Shard]) -> Vec<HashKeyRange> {
    let mut ranges: Vec<_> = shards.iter().filter(|s| s.open).map(|s| s.range).collect();
    ranges.sort();
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HashKeyRange;
    use crate::testkit::uniform_ranges;

    fn shard(id: &str, range: HashKeyRange, parents: (Option<&str>, Option<&str>)) -> Shard {
        Shard {
            id: ShardId::from(id),
            range,
            parent_shard_id: parents.0.map(ShardId::from),
            adjacent_parent_shard_id: parents.1.map(ShardId::from),
            open: true,
        }
    }

    #[test]
    fn lost_minutes_loses_the_datapoints_lost_loses() {
        let publishing = Publishing {
            gaps: 0.1,
            seed: 7,
            ..Publishing::after(Duration::from_secs(120))
        };
        let minutes: Vec<Option<usize>> = (0..2000).map(Some).chain([None]).collect();
        let mut lost = 0;
        for id in ["shardId-000000000000", "shardId-000000000017", ""] {
            let id = ShardId::from(id);
            let fast = publishing.lost_minutes(&id, &minutes);
            let slow: Vec<bool> = minutes
                .iter()
                .map(|m| m.is_some_and(|m| publishing.lost(&id, m)))
                .collect();
            assert_eq!(fast, slow, "{id}");
            lost += fast.iter().filter(|l| **l).count();
        }
        // About a tenth of 6,000 minutes: the rule does lose some.
        assert!((450..750).contains(&lost), "{lost} lost");
    }

    #[test]
    fn a_consumer_works_its_backlog_oldest_first_and_reports_its_age() {
        let mut backlogs = FxHashMap::default();
        let s = shard("a", HashKeyRange::FULL, (None, None));
        // 120 records arrive in minute 0; 60 are processed: the oldest left
        // arrived half way through minute 0, half a minute before its end.
        assert_eq!(consume(&mut backlogs, &s, 0, 120.0, 60.0), (30_000.0, 60.0));
        // Minute 1 brings 60 more: minute 0's last 60 are processed, and
        // the oldest left is minute 1's first, a minute old at its end.
        assert_eq!(consume(&mut backlogs, &s, 1, 60.0, 60.0), (60_000.0, 60.0));
        // Nothing new: caught up, having processed what was left.
        assert_eq!(consume(&mut backlogs, &s, 2, 0.0, 60.0), (0.0, 60.0));
        assert_eq!(consume(&mut backlogs, &s, 3, 0.0, 60.0), (0.0, 0.0));
    }

    #[test]
    fn a_split_shares_its_backlog_and_a_merge_joins_both() {
        let [low, high] = uniform_ranges(2)[..] else {
            unreachable!()
        };
        let mut backlogs = FxHashMap::default();
        // The parent ends minute 0 with 100 records left.
        let parent = shard("p", HashKeyRange::FULL, (None, None));
        consume(&mut backlogs, &parent, 0, 200.0, 100.0);
        // Its children each take half, and process 50 of it in minute 1
        // with nothing new: the first half of minute 0's records is done.
        let (a, b) = (
            shard("a", low, (Some("p"), None)),
            shard("b", high, (Some("p"), None)),
        );
        assert_eq!(consume(&mut backlogs, &a, 1, 0.0, 0.0), (90_000.0, 0.0));
        assert_eq!(consume(&mut backlogs, &b, 1, 0.0, 25.0), (75_000.0, 25.0));
        // A merge of the two takes both backlogs whole: 50 + 25 records
        // of minute 0, one worker's 25 a minute.
        let merged = shard("m", HashKeyRange::FULL, (Some("a"), Some("b")));
        let (age, done) = consume(&mut backlogs, &merged, 2, 0.0, 25.0);
        assert_eq!(done, 25.0);
        // The worker takes a's part first: 25 of its 100 are left, as of
        // b's, so the oldest left arrived 3/4 of the way through minute 0.
        assert_eq!(age, (3.0 - 0.75) * 60_000.0);
    }
}
