//! The simulated stream with traffic flowing through it: every call first
//! plays the traffic up to the present, minute by minute, against the
//! shard layout of the moment. Each open shard accepts up to 1 MiB/s and
//! 1,000 records/s; the rest is throttled. The per-minute sums become
//! CloudWatch-like metrics, visible only `metrics_delay` after the minute.
//!
//! [`SimWorld`] implements the same read, write and metrics traits as the
//! AWS adapters, so the controller runs against it unchanged.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rustc_hash::FxHashMap;

use super::kinesis::SimKinesis;
use super::traffic::{Offered, Traffic};
use crate::model::{HashKey, HashKeyRange, Shard, ShardId};
use crate::observation::{History, Series, ShardMetrics};
use crate::ports::{
    ApiResult, Clock, KinesisRead, KinesisWrite, MetricName, MetricsRead, ShardQuota, StreamId,
    StreamSummary,
};

/// Write capacity of one shard per minute (Kinesis enforces it per second).
pub const BYTES_PER_SHARD_MINUTE: f64 = 60.0 * 1_048_576.0;
pub const RECORDS_PER_SHARD_MINUTE: f64 = 60.0 * 1_000.0;

/// What happened in one simulated minute, stream-wide.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MinuteStats {
    pub offered: Offered,
    pub accepted_bytes: f64,
    pub accepted_records: f64,
    pub throttled_records: f64,
    pub open_shards: u32,
}

/// One shard's per-minute sums, from the minute it first took traffic.
#[derive(Debug, Clone, Default)]
struct ShardSums {
    first_minute: usize,
    bytes: Vec<f64>,
    records: Vec<f64>,
    throttled: Vec<f64>,
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
}

/// A simulated stream with traffic.
#[derive(Debug)]
pub struct SimWorld<C> {
    pub kinesis: SimKinesis<C>,
    clock: C,
    stream: String,
    start: DateTime<Utc>,
    traffic: Traffic,
    metrics_delay: TimeDelta,
    burstiness: f64,
    state: Mutex<WorldState>,
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
    /// A world whose traffic starts at `start` on `stream` in `kinesis`.
    pub fn new(
        kinesis: SimKinesis<C>,
        clock: C,
        stream: &str,
        start: DateTime<Utc>,
        traffic: Traffic,
        metrics_delay: Duration,
        burstiness: f64,
    ) -> Self {
        SimWorld {
            kinesis,
            clock,
            stream: stream.to_owned(),
            start,
            traffic,
            metrics_delay: TimeDelta::from_std(metrics_delay).unwrap_or(TimeDelta::MAX),
            burstiness,
            state: Mutex::new(WorldState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WorldState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When minute `m` starts.
    pub fn minute_start(&self, m: usize) -> DateTime<Utc> {
        self.start + TimeDelta::minutes(m as i64)
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
        let open: Vec<Shard> = self
            .kinesis
            .stream(&self.stream)
            .map(|s| s.open_shards().cloned().collect())
            .unwrap_or_default();
        while state.played < upto {
            let m = state.played;
            self.play(&mut state, &open, m);
            state.played += 1;
        }
    }

    fn play(&self, state: &mut WorldState, open: &[Shard], m: usize) {
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
            let sums = state
                .sums
                .entry(shard.id.clone())
                .or_insert_with(|| ShardSums {
                    first_minute: m,
                    ..ShardSums::default()
                });
            // A shard may have been closed and reopened in between? Never:
            // ids are not reused. Pad in case it missed minutes.
            let index = m - sums.first_minute;
            sums.bytes.resize(index, f64::NAN);
            sums.records.resize(index, f64::NAN);
            sums.throttled.resize(index, f64::NAN);
            sums.bytes.push(accepted * record_size);
            sums.records.push(accepted);
            sums.throttled.push(throttled);
        }
        state.cached = cached;
        state.stats.push(stats);
    }

    /// The per-minute stream-wide outcome so far.
    pub fn stats(&self) -> Vec<MinuteStats> {
        self.catch_up();
        self.lock().stats.clone()
    }

    /// Stream-wide accepted bytes and records of the minutes that CloudWatch
    /// would show by now, oldest first, `None` for minutes not visible yet.
    pub fn stream_sums(&self, minutes: usize) -> Vec<Option<(f64, f64)>> {
        self.catch_up();
        let now = self.clock.now();
        let ended = ((now - self.start).num_seconds().max(0) / 60) as usize;
        let state = self.lock();
        (ended.saturating_sub(minutes)..ended)
            .map(|m| {
                let visible =
                    self.minute_start(m) + TimeDelta::minutes(1) + self.metrics_delay <= now;
                state
                    .stats
                    .get(m)
                    .filter(|_| visible)
                    .map(|s| (s.accepted_bytes, s.accepted_records))
            })
            .collect()
    }

    /// The traffic this world replays.
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }
}

impl<C: Clock + Clone> KinesisRead for SimWorld<C> {
    async fn list_streams(&self) -> ApiResult<Vec<String>> {
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
        self.kinesis.enable_shard_metrics(stream, metrics).await
    }
}

impl<C: Clock + Clone> MetricsRead for SimWorld<C> {
    async fn shard_metrics(
        &self,
        _stream: &str,
        shards: &[ShardId],
        metrics: &[MetricName],
        start: DateTime<Utc>,
        minutes: u32,
    ) -> ApiResult<FxHashMap<ShardId, ShardMetrics>> {
        self.catch_up();
        let now = self.clock.now();
        let state = self.lock();
        let first = (start - self.start).num_minutes();
        let mut out = FxHashMap::default();
        for id in shards {
            let sums = state.sums.get(id);
            let mut m = ShardMetrics::default();
            for name in metrics {
                let series: Series = (0..i64::from(minutes))
                    .map(|i| {
                        let minute = usize::try_from(first + i).ok()?;
                        let visible =
                            self.minute_start(minute) + TimeDelta::minutes(1) + self.metrics_delay
                                <= now;
                        let sums = sums.filter(|_| visible)?;
                        let index = minute.checked_sub(sums.first_minute)?;
                        let values = match name {
                            MetricName::IncomingBytes => &sums.bytes,
                            MetricName::IncomingRecords => &sums.records,
                            MetricName::WriteProvisionedThroughputExceeded => &sums.throttled,
                            _ => return None,
                        };
                        values.get(index).copied().filter(|v| !v.is_nan())
                    })
                    .collect();
                *name.series_mut(&mut m) = series;
            }
            out.insert(id.clone(), m);
        }
        Ok(out)
    }
}

/// The ranges of the open shards of a stream, sorted, for tests and charts.
pub fn layout(shards: &[Shard]) -> Vec<HashKeyRange> {
    let mut ranges: Vec<_> = shards.iter().filter(|s| s.open).map(|s| s.range).collect();
    ranges.sort();
    ranges
}
