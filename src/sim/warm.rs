//! Warm throughput managed by the controller's own decision
//! ([`crate::planner::warm::plan`]) on a simulated On-Demand Advantage
//! stream: every tick, the stream as a pass would observe it (its
//! accepted writes, published `delay` minutes late, and the same minutes
//! a season back), the plan, and the warm throughput it sets taking
//! effect once the stream has scaled (`settle`).

use chrono::{DateTime, TimeDelta, Utc};

use super::world::MinuteStats;
use crate::model::MetricName;
use crate::model::{StreamMode, StreamStatus, WarmThroughput};
use crate::observe::{Metrics, Observation, PastWindow, Series};
use crate::policy::StreamPolicy;

/// The controller deciding a simulated stream's warm throughput.
pub struct ManagedWarm<'a> {
    policy: &'a StreamPolicy,
    stream: String,
    start: DateTime<Utc>,
    tick: usize,
    delay: usize,
    settle: usize,
    /// What the stream is set to (its target), MiB/s.
    target: u32,
    /// What it holds now, MiB/s.
    held: f64,
    /// A change on its way: from which minute, and to what.
    pending: Option<(usize, u32)>,
    /// MiB/s held, minute by minute.
    pub series: Vec<f64>,
    /// UpdateStreamWarmThroughput calls.
    pub updates: u32,
}

impl std::fmt::Debug for ManagedWarm<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedWarm")
            .field("stream", &self.stream)
            .field("target", &self.target)
            .field("held", &self.held)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl<'a> ManagedWarm<'a> {
    /// A stream named `stream` with no warm throughput, its traffic
    /// starting at `start`, decided every `tick` minutes on minutes
    /// published `delay` minutes late; a change takes effect `settle`
    /// minutes after it is made.
    pub fn new(
        policy: &'a StreamPolicy,
        stream: &str,
        start: DateTime<Utc>,
        (tick, delay, settle): (usize, usize, usize),
    ) -> Self {
        ManagedWarm {
            policy,
            stream: stream.to_owned(),
            start,
            tick: tick.max(1),
            delay,
            settle,
            target: 0,
            held: 0.0,
            pending: None,
            series: Vec::new(),
            updates: 0,
        }
    }

    /// The MiB/s held in `minute`, after the controller's pass at its
    /// start (if one is due), knowing the minutes `played` before it.
    pub fn at(&mut self, minute: usize, played: &[MinuteStats]) -> f64 {
        if let Some((from, mib)) = self.pending
            && from <= minute
        {
            self.held = f64::from(mib);
            self.pending = None;
        }
        if minute.is_multiple_of(self.tick) && self.pending.is_none() {
            let now = self.start + TimeDelta::minutes(minute as i64);
            let obs = self.observe(now, minute, played);
            if let Some(mib) =
                crate::planner::warm::plan(&obs, self.policy, now).and_then(|p| p.set_mib)
            {
                self.target = mib;
                self.updates += 1;
                self.pending = Some((minute + self.settle, mib));
                if self.settle == 0 {
                    self.held = f64::from(mib);
                    self.pending = None;
                }
            }
        }
        self.series.push(self.held);
        self.held
    }

    /// The stream as a pass at `now` (minute `minute`) sees it.
    fn observe(&self, now: DateTime<Utc>, minute: usize, played: &[MinuteStats]) -> Observation {
        let fetch = self.policy.fetch_minutes() as usize;
        let published = minute.saturating_sub(self.delay);
        let series = |from: i64, n: usize, f: fn(&MinuteStats) -> f64| -> Series {
            (0..n as i64)
                .map(|i| {
                    let m = usize::try_from(from + i).ok()?;
                    (m < published).then(|| played.get(m).map(f)).flatten()
                })
                .collect()
        };
        let bytes = |m: &MinuteStats| m.accepted_bytes;
        let records = |m: &MinuteStats| m.accepted_records;
        let first = minute as i64 - fetch as i64;
        let mut metrics = Metrics {
            start: now - TimeDelta::minutes(fetch as i64),
            period_seconds: 60,
            stream: Default::default(),
            shards: Default::default(),
        };
        metrics.stream[MetricName::IncomingBytes] = series(first, fetch, bytes);
        metrics.stream[MetricName::IncomingRecords] = series(first, fetch, records);
        let horizon = self
            .policy
            .forecast
            .as_ref()
            .map_or(0, |f| f.horizon_minutes as i64);
        let mut seasons: Vec<u32> = self
            .policy
            .forecast
            .as_ref()
            .map(|f| f.seasons.clone())
            .unwrap_or_default();
        // Oldest first: windows are sorted by start.
        seasons.sort_unstable_by(|a, b| b.cmp(a));
        let past = seasons
            .iter()
            .filter_map(|&season| {
                let from = first - i64::from(season);
                let n = (fetch as i64 + horizon + 1) as usize;
                (from + n as i64 > 0).then(|| PastWindow {
                    start: now - TimeDelta::minutes(fetch as i64 + i64::from(season)),
                    incoming_bytes: series(from, n, bytes),
                    incoming_records: series(from, n, records),
                })
            })
            .collect();
        Observation {
            stream_name: self.stream.clone(),
            stream_status: StreamStatus::Active,
            stream_mode: StreamMode::OnDemand,
            observed_at: now,
            shards: Vec::new(),
            metrics,
            history: Default::default(),
            cooldowns_read: true,
            shard_quota: None,
            stream_created_at: None,
            past,
            samples: Vec::new(),
            shares: None,
            reads: None,
            warm_throughput: Some(WarmThroughput {
                target_mib: self.target,
                current_mib: self.held as u32,
            }),
        }
    }
}
