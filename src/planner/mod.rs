//! The decision: which shards to split, which adjacent pairs to merge, and
//! why every other shard is left alone.
//!
//! [`plan`] is a pure function of an [`Observation`], a [`StreamPolicy`]
//! and `now`: no I/O, no clock, no logging, and the same input always gives
//! the same plan. Everything it decides is explained in the returned
//! [`Plan`].
//!
//! # Rules
//! - A minute's utilization is the larger of IncomingBytes against 1 MiB/s
//!   and IncomingRecords against 1,000 records/s (and, with `read.enabled`,
//!   OutgoingBytes against 2 MiB/s). A minute has data only if every metric
//!   it needs has a datapoint: a missing datapoint is unknown, never zero.
//! - The newest complete minute is the last one that ended at least
//!   `metrics.delay` before the observation; windows end there.
//! - Hot: at least `sustain` minutes of the scale-up window at or above the
//!   threshold, or at least `throttled_records` throttled writes in it. A
//!   hot shard is split at its midpoint; where the estimated demand (accepted
//!   plus throttled) is several times the threshold, its children are split
//!   too, until each piece's share is under the threshold.
//! - Cold: every minute of the scale-down window present and below the
//!   threshold. Adjacent cold pairs whose combined utilization stays under
//!   `merged_ceiling` in every minute are merged, coolest first.
//! - Cooldowns, `min_shards`/`max_shards` and the per-run budgets bound all
//!   of it; a stream outside its bounds is brought back inside them.
//! - A hot shard whose recent split left its sibling with under a quarter
//!   of its demand is not split again while its demand is under two
//!   shards: a few hot keys dominate it, which no split spreads (it would
//!   only split toward them again and again).

mod plan;

pub use plan::*;

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::ops::Range;

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::{HashKeyRange, Shard, check_layout};
use crate::model::{READ_BYTES_PER_SECOND, WRITE_BYTES_PER_SECOND, WRITE_RECORDS_PER_SECOND};
use crate::model::{StreamMode, StreamStatus};
use crate::observe::{Observation, Series, ShardMetrics};
use crate::policy::{SilentStream, StreamPolicy};

const SECONDS_PER_MINUTE: f64 = 60.0;
/// A split is lopsided when one child peaks below this fraction of the
/// other: the parent's load sat on a few keys on one side.
const LOPSIDED_SPLIT: f64 = 0.25;

/// Plans one stream. See the module docs for the rules.
pub fn plan(obs: &Observation, policy: &StreamPolicy, now: DateTime<Utc>) -> Plan {
    let open = obs.open_shards();
    let grid = Grid::new(obs, policy, &open);
    let mut plan = Plan {
        stream: obs.stream_name.clone(),
        stream_status: obs.stream_status,
        stream_mode: obs.stream_mode,
        observed_at: obs.observed_at,
        planned_at: now,
        min_shards: policy.min_shards,
        max_shards: policy.max_shards,
        open_shards_before: open.len(),
        open_shards_after: open.len(),
        metrics: grid.freshness,
        cooldowns_read: obs.cooldowns_read,
        refused: None,
        actions: Vec::new(),
        verdicts: Vec::new(),
    };
    if let Some(refusal) = refusal(obs, &open, &grid, policy) {
        let because = refusal.to_string();
        plan.verdicts = open
            .iter()
            .map(|s| ShardVerdict {
                shard_id: s.id.clone(),
                range: s.range,
                peak_utilization: None,
                verdict: Verdict::Skipped {
                    because: because.clone(),
                },
                facts: Facts::default(),
            })
            .collect();
        plan.refused = Some(refusal);
        return plan;
    }

    let mut planner = Planner::new(obs, policy, now, open, grid);
    planner.split_hot_shards();
    planner.split_up_to_min_shards();
    planner.merge_cold_pairs();
    plan.open_shards_after = planner.open_after as usize;
    plan.verdicts = planner.verdicts();
    plan.actions = planner.actions;
    plan
}

fn refusal(
    obs: &Observation,
    open: &[&Shard],
    grid: &Grid,
    policy: &StreamPolicy,
) -> Option<Refusal> {
    if obs.stream_status != StreamStatus::Active {
        return Some(Refusal::NotActive {
            status: obs.stream_status,
        });
    }
    if obs.stream_mode != StreamMode::Provisioned {
        return Some(Refusal::NotProvisioned {
            mode: obs.stream_mode,
        });
    }
    let problems = check_layout(open.iter().copied());
    if !problems.is_empty() {
        return Some(Refusal::BrokenLayout { problems });
    }
    let max_lag = policy.metrics_max_lag.as_secs() as i64;
    match grid.freshness {
        MetricsFreshness::Newest {
            minute,
            lag_seconds,
        } if lag_seconds > max_lag => Some(Refusal::MetricsLate {
            newest_minute: minute,
            lag_seconds,
            max_lag_seconds: max_lag,
        }),
        _ => None,
    }
}

/// `t` plus `span`, or the end of time if that overflows (a policy may
/// set very long cooldowns).
fn later(t: DateTime<Utc>, span: std::time::Duration) -> DateTime<Utc> {
    TimeDelta::from_std(span)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Where the windows end, and what a missing datapoint means in each
/// minute.
struct Grid {
    /// Index of the newest minute the windows end at: the newest with any
    /// datapoint of the stream, never newer than `metrics.delay` allows.
    /// Negative when there is none.
    newest: i64,
    /// Index of the newest minute `metrics.delay` allows.
    complete: i64,
    /// How recent the stream's data is.
    freshness: MetricsFreshness,
    /// By minute index: what a shard without a datapoint took. Empty
    /// until a shard lacks one ([`Grid::fill_in`]).
    fill: Vec<Fill>,
}

/// What a shard without a datapoint in some minute took.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fill {
    /// Nothing is known.
    Unknown,
    /// Nothing: the stream-level metrics account for every record the
    /// stream took, or (without them) other shards published that minute.
    Idle,
    /// At most this: what the stream took beyond the shards that published.
    AtMost(Load),
}

/// A minute whose records the shards that published leave unaccounted
/// for by less than this (in shards' worth) counts as idle for the rest.
const IDLE_RESIDUAL: f64 = 0.01;

impl Grid {
    fn new(obs: &Observation, policy: &StreamPolicy, open: &[&Shard]) -> Grid {
        let delay = TimeDelta::from_std(policy.metrics_delay).unwrap_or(TimeDelta::MAX);
        // Minute i is complete when start + 60(i + 1) + delay <= observed_at.
        let elapsed = (obs.observed_at - obs.metrics.start)
            .checked_sub(&delay)
            .unwrap_or(TimeDelta::MIN);
        let complete = elapsed.num_milliseconds().div_euclid(60_000) - 1;
        let stream = &obs.metrics.stream;
        let newest_of =
            |present: &dyn Fn(usize) -> bool| (0..=complete).rev().find(|&i| present(i as usize));
        let stream_newest = newest_of(&|i| {
            stream.incoming_records.get(i).is_some() || stream.incoming_bytes.get(i).is_some()
        });
        // Usually the newest complete minute itself: one look per shard.
        let shards_newest = open
            .iter()
            .filter_map(|s| obs.metrics.shards.get(&s.id))
            .filter_map(|m| {
                newest_of(&|i| {
                    m.incoming_records.get(i).is_some() || m.incoming_bytes.get(i).is_some()
                })
            })
            .max();
        let newest = stream_newest.max(shards_newest);
        let minute_end = |i: i64| obs.metrics.start + TimeDelta::minutes(i + 1);
        let freshness = match newest {
            Some(i) => MetricsFreshness::Newest {
                minute: minute_end(i) - TimeDelta::minutes(1),
                lag_seconds: (obs.observed_at - minute_end(i)).num_seconds(),
            },
            None => {
                // Silent: idle only if the silence covers the scale-down
                // window and max_lag, all of it after the stream was created.
                let lag = policy.metrics_max_lag.as_secs().div_ceil(60) as i64;
                let span = complete + 1;
                let long_enough = span >= i64::from(policy.scale_down.window_minutes) + lag;
                let existed = obs.stream_created_at.is_none_or(|t| t <= obs.metrics.start);
                MetricsFreshness::Silent {
                    idle: policy.silent_stream == SilentStream::Idle && long_enough && existed,
                }
            }
        };
        let mut grid = Grid {
            newest: newest.unwrap_or(complete),
            complete,
            freshness,
            fill: Vec::new(),
        };
        if let MetricsFreshness::Silent { idle: true } = grid.freshness {
            grid.fill = vec![Fill::Idle; complete.max(0) as usize + 1];
        }
        grid
    }

    /// The last `minutes` minutes up to the newest with data.
    fn window(&self, minutes: u32) -> Range<i64> {
        self.newest - i64::from(minutes) + 1..self.newest + 1
    }

    /// Works out, for the minutes of `minutes` that some shard lacks a
    /// datapoint for (`lacking`), what such a shard took.
    fn fill_in(
        &mut self,
        obs: &Observation,
        readers: &[Reader],
        minutes: Range<i64>,
        lacking: &[bool],
    ) {
        if !self.fill.is_empty() {
            return;
        }
        let len = (self.newest.max(self.complete) + 1).max(0) as usize;
        self.fill = vec![Fill::Unknown; len];
        let stream = &obs.metrics.stream;
        let has_stream = !stream.is_empty();
        for (k, minute) in minutes.enumerate() {
            if !lacking[k] || minute < 0 || minute as usize >= len {
                continue;
            }
            let i = minute as usize;
            let mut published = Load::default();
            let mut any = false;
            for r in readers {
                if let Some(load) = r.datapoints(minute) {
                    published = published.plus(load);
                    any = true;
                }
            }
            self.fill[i] = if has_stream {
                match (stream.incoming_bytes.get(i), stream.incoming_records.get(i)) {
                    (Some(bytes), Some(records)) => {
                        let rest = Load {
                            bytes: (bytes - published.bytes).max(0.0),
                            records: (records - published.records).max(0.0),
                            out_bytes: 0.0,
                        };
                        if rest.write_utilization() <= IDLE_RESIDUAL {
                            Fill::Idle
                        } else {
                            Fill::AtMost(rest)
                        }
                    }
                    _ => Fill::Unknown,
                }
            } else if any {
                Fill::Idle
            } else {
                Fill::Unknown
            };
        }
    }

    fn fill_at(&self, minute: i64) -> Fill {
        usize::try_from(minute)
            .ok()
            .and_then(|i| self.fill.get(i))
            .copied()
            .unwrap_or(Fill::Unknown)
    }
}

/// One minute of one shard (or of a pair summed).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Load {
    bytes: f64,
    records: f64,
    /// Zero unless read load counts.
    out_bytes: f64,
}

// Per-minute sums to shards' worth, as multiplications: a plan of a large
// stream converts hundreds of thousands of minutes, and divisions dominate.
const PER_WRITE_BYTES_MINUTE: f64 = 1.0 / (SECONDS_PER_MINUTE * WRITE_BYTES_PER_SECOND);
const PER_WRITE_RECORDS_MINUTE: f64 = 1.0 / (SECONDS_PER_MINUTE * WRITE_RECORDS_PER_SECOND);
const PER_READ_BYTES_MINUTE: f64 = 1.0 / (SECONDS_PER_MINUTE * READ_BYTES_PER_SECOND);

/// The larger of two numbers that are never NaN: cheaper than `f64::max`,
/// which must handle NaN, in the planner's hot loops.
fn larger(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

impl Load {
    fn write_utilization(&self) -> f64 {
        larger(
            self.bytes * PER_WRITE_BYTES_MINUTE,
            self.records * PER_WRITE_RECORDS_MINUTE,
        )
    }

    fn read_utilization(&self) -> f64 {
        self.out_bytes * PER_READ_BYTES_MINUTE
    }

    fn utilization(&self) -> f64 {
        larger(self.write_utilization(), self.read_utilization())
    }

    /// Write demand including `throttled` rejected records, in shards'
    /// worth: they are added to the records, and to the bytes at the
    /// minute's average record size.
    fn write_demand(&self, throttled: f64) -> f64 {
        let records = self.records + throttled;
        let bytes = if self.records > 0.0 {
            self.bytes * records / self.records
        } else {
            self.bytes
        };
        (bytes * PER_WRITE_BYTES_MINUTE).max(records * PER_WRITE_RECORDS_MINUTE)
    }

    fn plus(self, other: Load) -> Load {
        Load {
            bytes: self.bytes + other.bytes,
            records: self.records + other.records,
            out_bytes: self.out_bytes + other.out_bytes,
        }
    }
}

fn at(series: &Series, minute: i64) -> Option<f64> {
    series.get(usize::try_from(minute).ok()?)
}

/// A shard's series, read the way the policy needs them.
#[derive(Clone, Copy)]
struct Reader<'a> {
    metrics: Option<&'a ShardMetrics>,
    read_enabled: bool,
}

impl Reader<'_> {
    /// The minute's load from the shard's own datapoints, or `None` if any
    /// metric it needs is missing.
    fn datapoints(&self, minute: i64) -> Option<Load> {
        let m = self.metrics?;
        Some(Load {
            bytes: at(&m.incoming_bytes, minute)?,
            records: at(&m.incoming_records, minute)?,
            out_bytes: if self.read_enabled {
                at(&m.outgoing_bytes, minute)?
            } else {
                0.0
            },
        })
    }

    /// The minute's load, or an upper bound on it where the shard has no
    /// datapoint but the stream-level metrics bound it; `None` if unknown.
    fn load(&self, minute: i64, grid: &Grid) -> Option<Load> {
        self.datapoints(minute)
            .or_else(|| match grid.fill_at(minute) {
                Fill::Idle => Some(Load::default()),
                // The bound says nothing about reads.
                Fill::AtMost(bound) if !self.read_enabled => Some(bound),
                _ => None,
            })
    }
}

/// What one shard's metrics say, measured once.
#[derive(Clone, Debug, Default)]
struct ShardStats {
    up_present: u32,
    hot_minutes: u32,
    throttled: f64,
    /// Highest utilization in the scale-up window.
    up_peak: f64,
    /// Estimated demand over the threshold (1.0 = exactly at threshold):
    /// the level held for `sustain` minutes, or the peak when throttling
    /// alone made the shard hot.
    pressure: f64,
    /// Minutes of the scale-down window whose load is known or bounded.
    down_present: u32,
    /// Of those, the minutes without a datapoint of the shard's own (idle,
    /// or bounded by the stream-level metrics).
    down_inferred: u32,
    /// Highest utilization (or bound on it) among the present minutes of
    /// the scale-down window.
    down_peak: f64,
    /// Highest utilization over the longest window, if any minute has data.
    peak: Option<f64>,
    hot: Option<Trigger>,
    cold: bool,
    /// Throttled writes in the scale-down window: a shard that throttled
    /// (even in sub-minute bursts) is not cold, whatever its averages.
    down_throttled: f64,
    /// Whether some minute of the longest window had no datapoint.
    lacked: bool,
}

/// The windows and thresholds one scan holds every minute against.
struct Windows {
    up: Range<i64>,
    down: Range<i64>,
    lookback: Range<i64>,
    up_threshold: f64,
    read_threshold: f64,
}

impl Windows {
    fn new(grid: &Grid, policy: &StreamPolicy) -> Self {
        Windows {
            up: grid.window(policy.scale_up.window_minutes),
            down: grid.window(policy.scale_down.window_minutes),
            lookback: grid.window(policy.lookback_minutes()),
            up_threshold: policy.scale_up.threshold,
            read_threshold: policy.read.threshold,
        }
    }
}

impl ShardStats {
    /// Measures one shard. Minutes it has no datapoint for count as
    /// `grid.fill` says; while that is not worked out yet, they are marked
    /// in `lacking` (by position in the longest window).
    fn measure(
        reader: Reader,
        grid: &Grid,
        w: &Windows,
        policy: &StreamPolicy,
        pressures: &mut Vec<f64>,
        lacking: &mut [bool],
    ) -> Self {
        let mut s = ShardStats::default();
        s.scan(reader, grid, w, pressures, lacking);
        let sustain = policy.scale_up.sustain_minutes as usize;
        let rule = policy.scale_up.throttled_records;
        pressures.sort_by(|a, b| b.total_cmp(a));
        if s.hot_minutes as usize >= sustain {
            s.hot = Some(Trigger::Utilization);
            s.pressure = pressures[sustain - 1];
        } else if rule > 0 && s.throttled >= rule as f64 {
            s.hot = Some(Trigger::Throttling);
            s.pressure = pressures.first().copied().unwrap_or(0.0);
        }
        s.cold = s.down_present >= policy.scale_down_minutes_needed()
            && s.down_peak < policy.scale_down.threshold
            && s.down_throttled == 0.0;
        s
    }

    /// One pass over the longest window. This is the planner's hot loop (a
    /// 20,000-shard stream has 600,000 minutes in 30): it walks the raw
    /// slices, and a minute with any NaN (missing) datapoint leaves the
    /// fast path.
    fn scan(
        &mut self,
        reader: Reader,
        grid: &Grid,
        w: &Windows,
        pressures: &mut Vec<f64>,
        lacking: &mut [bool],
    ) {
        pressures.clear();
        let empty = Series::default();
        let m = reader.metrics;
        let series = |f: fn(&ShardMetrics) -> &Series| m.map_or(&empty, f).raw();
        let throttled = series(|m| &m.write_throttled);
        let throttled_at = |minute: i64| {
            usize::try_from(minute)
                .ok()
                .and_then(|i| throttled.get(i))
                .filter(|v| !v.is_nan())
                .copied()
                .unwrap_or(0.0)
        };
        self.throttled = w.up.clone().map(throttled_at).sum();
        self.down_throttled = w.down.clone().map(throttled_at).sum();

        let (bytes, records) = (
            series(|m| &m.incoming_bytes),
            series(|m| &m.incoming_records),
        );
        let out = reader.read_enabled.then(|| series(|m| &m.outgoing_bytes));
        // Minutes past the end of any needed series are missing.
        let mut len = bytes.len().min(records.len());
        if let Some(out) = out {
            len = len.min(out.len());
        }
        let first = w.lookback.start.max(0);
        let end = w.lookback.end.min(len as i64).max(first);
        let mut peak = f64::NEG_INFINITY;
        for minute in first..end {
            let i = minute as usize;
            let load = Load {
                bytes: bytes[i],
                records: records[i],
                out_bytes: out.map_or(0.0, |o| o[i]),
            };
            // NaN marks a missing datapoint, and a sum with one is NaN.
            if (load.bytes + load.records + load.out_bytes).is_nan() {
                self.missing(
                    minute,
                    reader,
                    grid,
                    w,
                    pressures,
                    &mut peak,
                    lacking,
                    throttled_at(minute),
                );
                continue;
            }
            self.add(minute, load, throttled_at(minute), w, pressures, &mut peak);
        }
        for minute in end..w.lookback.end {
            self.missing(
                minute,
                reader,
                grid,
                w,
                pressures,
                &mut peak,
                lacking,
                throttled_at(minute),
            );
        }
        self.peak = (peak >= 0.0).then_some(peak);
    }

    /// Counts a minute of known load.
    fn add(
        &mut self,
        minute: i64,
        load: Load,
        throttled: f64,
        w: &Windows,
        pressures: &mut Vec<f64>,
        peak: &mut f64,
    ) {
        // Plain comparisons rather than f64::max: no value here is NaN.
        let util = load.utilization();
        if util > *peak {
            *peak = util;
        }
        if minute >= w.up.start {
            self.up_present += 1;
            if util > self.up_peak {
                self.up_peak = util;
            }
            let read_pressure = load.read_utilization() / w.read_threshold;
            if load.write_utilization() >= w.up_threshold || read_pressure >= 1.0 {
                self.hot_minutes += 1;
            }
            let write_pressure = load.write_demand(throttled) / w.up_threshold;
            pressures.push(write_pressure.max(read_pressure));
        }
        if minute >= w.down.start {
            self.down_present += 1;
            if util > self.down_peak {
                self.down_peak = util;
            }
        }
    }

    /// Counts a minute the shard has no datapoint for, as the grid says.
    #[allow(clippy::too_many_arguments)]
    fn missing(
        &mut self,
        minute: i64,
        reader: Reader,
        grid: &Grid,
        w: &Windows,
        pressures: &mut Vec<f64>,
        peak: &mut f64,
        lacking: &mut [bool],
        throttled: f64,
    ) {
        if minute < 0 {
            return; // before the metrics that were read
        }
        self.lacked = true;
        match grid.fill_at(minute) {
            Fill::Idle => {
                self.add(minute, Load::default(), throttled, w, pressures, peak);
                if minute >= w.down.start {
                    self.down_inferred += 1;
                }
            }
            // An upper bound proves a minute cold, or not hot; it measures
            // nothing, so it counts toward no peak or demand. It says
            // nothing about reads.
            Fill::AtMost(bound) if !reader.read_enabled => {
                let util = bound.write_utilization();
                if minute >= w.up.start && util < w.up_threshold {
                    self.up_present += 1;
                }
                if minute >= w.down.start {
                    self.down_present += 1;
                    self.down_inferred += 1;
                    if util > self.down_peak {
                        self.down_peak = util;
                    }
                }
            }
            _ => {
                if grid.fill.is_empty()
                    && let Some(k) = usize::try_from(minute - w.lookback.start)
                        .ok()
                        .filter(|&k| k < lacking.len())
                {
                    lacking[k] = true;
                }
            }
        }
    }

    /// Whether the missing minutes of the scale-up window could have made
    /// the shard hot.
    fn hot_unknown(&self, policy: &StreamPolicy) -> bool {
        let missing = policy.scale_up.window_minutes - self.up_present;
        self.hot.is_none() && self.hot_minutes + missing >= policy.scale_up.sustain_minutes
    }

    /// Whether the missing minutes of the scale-down window are all that
    /// keeps the shard from being cold.
    fn cold_unknown(&self, policy: &StreamPolicy) -> bool {
        !self.cold
            && self.down_present < policy.scale_down_minutes_needed()
            && self.down_peak < policy.scale_down.threshold
            && self.down_throttled == 0.0
    }
}

/// A range that may be split: an open shard, or a child planned earlier.
#[derive(Clone, Debug)]
struct Piece {
    /// Estimated share of demand over the threshold; split while >= 1.
    pressure: f64,
    range: HashKeyRange,
    /// Index of the open shard it comes from.
    origin: usize,
    /// Whether it is that open shard itself rather than a planned child.
    is_open_shard: bool,
}

impl PartialEq for Piece {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Piece {}
impl PartialOrd for Piece {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Piece {
    /// Highest pressure first; among equals, the lowest hash key first, so
    /// plans are deterministic.
    fn cmp(&self, other: &Self) -> Ordering {
        self.pressure
            .total_cmp(&other.pressure)
            .then_with(|| other.range.start().cmp(&self.range.start()))
    }
}

struct Planner<'a> {
    policy: &'a StreamPolicy,
    history_up: Option<DateTime<Utc>>,
    history_down: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    grid: Grid,
    open: Vec<&'a Shard>,
    readers: Vec<Reader<'a>>,
    stats: Vec<ShardStats>,
    /// Decisions made so far, by open-shard index.
    decided: Vec<Option<Verdict>>,
    /// Splits planned per open shard, children included.
    splits: Vec<u32>,
    /// Planned children that were not split further.
    child_leaves: Vec<Piece>,
    actions: Vec<Action>,
    splits_used: u32,
    open_after: u32,
    quota: Option<crate::model::ShardQuota>,
    /// The most open shards the account's quota allows this stream.
    quota_ceiling: Option<u32>,
}

impl<'a> Planner<'a> {
    fn new(
        obs: &'a Observation,
        policy: &'a StreamPolicy,
        now: DateTime<Utc>,
        open: Vec<&'a Shard>,
        mut grid: Grid,
    ) -> Self {
        let readers: Vec<Reader> = open
            .iter()
            .map(|s| Reader {
                metrics: obs.metrics.shards.get(&s.id),
                read_enabled: policy.read.enabled,
            })
            .collect();
        let windows = Windows::new(&grid, policy);
        let mut buffer = Vec::new();
        let mut lacking = vec![false; policy.lookback_minutes() as usize];
        let mut stats: Vec<ShardStats> = readers
            .iter()
            .map(|r| ShardStats::measure(*r, &grid, &windows, policy, &mut buffer, &mut lacking))
            .collect();
        // Shards without a datapoint in some minute: work out what they
        // took from the stream-level metrics and the other shards, then
        // measure them again.
        if grid.fill.is_empty() && lacking.contains(&true) {
            grid.fill_in(obs, &readers, windows.lookback.clone(), &lacking);
            for (s, r) in stats.iter_mut().zip(&readers) {
                if s.lacked {
                    *s =
                        ShardStats::measure(*r, &grid, &windows, policy, &mut buffer, &mut lacking);
                }
            }
        }
        let n = open.len();
        Planner {
            policy,
            history_up: obs.history.last_scale_up,
            history_down: obs.history.last_scale_down,
            now,
            grid,
            readers,
            stats,
            decided: vec![None; n],
            splits: vec![0; n],
            child_leaves: Vec::new(),
            actions: Vec::new(),
            splits_used: 0,
            open_after: n as u32,
            quota: obs.shard_quota,
            quota_ceiling: obs
                .shard_quota
                .map(|q| (n as u32).saturating_add(q.headroom())),
            open,
        }
    }

    /// Whether the account's shard quota leaves no room for another split.
    fn at_quota(&self) -> bool {
        self.quota_ceiling
            .is_some_and(|ceiling| self.open_after >= ceiling)
    }

    fn quota_limit(&self) -> u32 {
        self.quota.map_or(0, |q| q.shard_limit)
    }

    /// Records a decision unless one was made already.
    fn decide(&mut self, i: usize, verdict: Verdict) {
        if self.decided[i].is_none() {
            self.decided[i] = Some(verdict);
        }
    }

    /// The measurements of open shard `i` with the policy numbers they are
    /// held against.
    fn facts(&self, i: usize) -> Facts {
        let (s, p) = (&self.stats[i], self.policy);
        Facts {
            hot: s.hot,
            cold: s.cold,
            scale_up_window_minutes: p.scale_up.window_minutes,
            scale_up_present_minutes: s.up_present,
            hot_minutes: s.hot_minutes,
            sustain_minutes: p.scale_up.sustain_minutes,
            scale_up_threshold: p.scale_up.threshold,
            scale_up_peak: s.up_peak,
            throttled_records: s.throttled,
            throttled_records_rule: p.scale_up.throttled_records,
            estimated_demand: s.pressure,
            scale_down_window_minutes: p.scale_down.window_minutes,
            scale_down_present_minutes: s.down_present,
            scale_down_minutes_needed: p.scale_down_minutes_needed(),
            scale_down_inferred_minutes: s.down_inferred,
            scale_down_threshold: p.scale_down.threshold,
            scale_down_peak: s.down_peak,
            merged_ceiling: p.scale_down.merged_ceiling,
            min_shards: p.min_shards,
            max_shards: p.max_shards,
        }
    }

    /// Splits `piece` at its midpoint, returning its children, or `None`
    /// when the range is too small.
    fn split(&mut self, piece: &Piece, trigger: Trigger) -> Option<[Piece; 2]> {
        let mid = piece.range.midpoint()?;
        let (low, high) = piece.range.split_at(mid).ok()?;
        let origin = self.open[piece.origin];
        let reason = match (trigger, piece.is_open_shard) {
            (Trigger::MinShards, _) => format!(
                "below min_shards {}: splitting the widest shard",
                self.policy.min_shards
            ),
            (_, true) => format!(
                "{}; estimated demand {:.2}x the threshold",
                describe_heat(&self.facts(piece.origin)),
                piece.pressure
            ),
            (_, false) => format!(
                "deeper split of {}: this part of it carries an estimated {:.2}x the threshold",
                origin.id, piece.pressure
            ),
        };
        self.actions.push(Action::Split(Split {
            shard_id: piece.is_open_shard.then(|| origin.id.clone()),
            starting_hash_key: piece.range.start(),
            ending_hash_key: piece.range.end(),
            new_starting_hash_key: mid,
            trigger,
            reason,
        }));
        self.splits_used += 1;
        self.open_after += 1;
        self.splits[piece.origin] += 1;
        // A split overrides whatever held the shard back earlier (a
        // cooldown does not stop a split that brings the stream to min_shards).
        if !matches!(self.decided[piece.origin], Some(Verdict::Split { .. })) {
            self.decided[piece.origin] = Some(Verdict::Split { trigger, splits: 0 });
        }
        let child = |range| Piece {
            pressure: piece.pressure / 2.0,
            range,
            origin: piece.origin,
            is_open_shard: false,
        };
        Some([child(low), child(high)])
    }

    /// Whether the recent split that made hot shard `i` left its sibling
    /// (the parent's other half, still open) with almost none of the load:
    /// then a few partition keys dominate this range, another split cannot
    /// spread them, and splitting again and again toward them (flapping
    /// with the merges of the cold halves) is the worst thing to do. Demand
    /// of two shards or more is split anyway.
    fn dominated_by_few_keys(&self, i: usize) -> Option<Verdict> {
        let shard = self.open[i];
        let parent = shard
            .parent_shard_id
            .as_ref()
            .filter(|_| shard.adjacent_parent_shard_id.is_none())?;
        // A split's two halves are contiguous, so the sibling, if still
        // open, is a neighbour in hash-key order.
        let is_sibling = |j: usize| {
            self.open[j].parent_shard_id.as_ref() == Some(parent)
                && self.open[j].adjacent_parent_shard_id.is_none()
        };
        let j = [
            i.checked_sub(1),
            Some(i + 1).filter(|&j| j < self.open.len()),
        ]
        .into_iter()
        .flatten()
        .find(|&j| is_sibling(j))?;
        let (this, sibling) = (&self.stats[i], &self.stats[j]);
        // Demand beyond two shards (accepted plus throttled) may still be
        // spread by splitting; and only a recent split says anything about
        // today's keys.
        let demand = this.pressure * self.policy.scale_up.threshold;
        let horizon = TimeDelta::minutes(i64::from(self.policy.scale_down.window_minutes))
            + TimeDelta::from_std(self.policy.scale_up.cooldown * 2).unwrap_or(TimeDelta::MAX);
        let recent = self
            .history_up
            .is_some_and(|t| self.now.signed_duration_since(t) <= horizon);
        if !recent
            || demand >= 2.0
            || this.up_present == 0
            || sibling.up_present == 0
            || demand <= 0.0
        {
            return None;
        }
        let ratio = sibling.up_peak / demand;
        (ratio < LOPSIDED_SPLIT).then(|| Verdict::HotKeys {
            sibling: self.open[j].id.clone(),
            sibling_ratio: ratio,
        })
    }

    fn split_hot_shards(&mut self) {
        let up = &self.policy.scale_up;
        let cooling_until = self
            .history_up
            .map(|t| later(t, up.cooldown))
            .filter(|until| self.now < *until);
        let mut queue = BinaryHeap::new();
        for i in 0..self.open.len() {
            if self.stats[i].hot.is_none() {
                continue;
            }
            if let Some(until) = cooling_until {
                let action = ActionKind::Split;
                self.decide(i, Verdict::CoolingDown { action, until });
                continue;
            }
            if let Some(verdict) = self.dominated_by_few_keys(i) {
                self.decide(i, verdict);
                continue;
            }
            queue.push(Piece {
                pressure: self.stats[i].pressure,
                range: self.open[i].range,
                origin: i,
                is_open_shard: true,
            });
        }
        let (budget, max_shards) = (
            self.policy.scale_up.max_splits_per_run,
            self.policy.max_shards,
        );
        while let Some(piece) = queue.pop() {
            if !piece.is_open_shard && piece.pressure < 1.0 {
                self.child_leaves.push(piece);
                continue;
            }
            let blocked = if self.splits_used >= budget {
                Some(Verdict::BudgetUsedUp {
                    action: ActionKind::Split,
                    value: budget,
                })
            } else if self.open_after >= max_shards {
                Some(Verdict::AtMaxShards { max_shards })
            } else if self.at_quota() {
                Some(Verdict::AtShardQuota {
                    shard_limit: self.quota_limit(),
                })
            } else {
                None
            };
            if let Some(verdict) = blocked {
                if piece.is_open_shard {
                    self.decide(piece.origin, verdict);
                } else {
                    self.child_leaves.push(piece);
                }
                continue;
            }
            let trigger = self.stats[piece.origin]
                .hot
                .expect("only hot shards are queued");
            match self.split(&piece, trigger) {
                Some(children) => queue.extend(children),
                None if piece.is_open_shard => self.decide(piece.origin, Verdict::RangeTooSmall),
                None => self.child_leaves.push(piece),
            }
        }
    }

    /// Below `min_shards`, splits the widest shards (planned children
    /// included) until the stream reaches it, cooldowns notwithstanding.
    fn split_up_to_min_shards(&mut self) {
        let min = self.policy.min_shards;
        if self.open_after >= min {
            return;
        }
        let mut pieces: Vec<Piece> = std::mem::take(&mut self.child_leaves);
        pieces.extend(
            (0..self.open.len())
                .filter(|&i| self.splits[i] == 0)
                .map(|i| Piece {
                    pressure: 0.0,
                    range: self.open[i].range,
                    origin: i,
                    is_open_shard: true,
                }),
        );
        // Widest first; among equals, the lowest hash key.
        let key = |k: usize, p: &Piece| {
            let r = p.range;
            (r.end().0 - r.start().0, Reverse(r.start().0), k)
        };
        let mut widest: BinaryHeap<_> = pieces.iter().enumerate().map(|(k, p)| key(k, p)).collect();
        while self.open_after < min
            && self.splits_used < self.policy.scale_up.max_splits_per_run
            && !self.at_quota()
        {
            let Some((_, _, k)) = widest.pop() else {
                break;
            };
            let piece = pieces[k].clone();
            for child in self.split(&piece, Trigger::MinShards).into_iter().flatten() {
                widest.push(key(pieces.len(), &child));
                pieces.push(child);
            }
        }
    }

    fn merge_cold_pairs(&mut self) {
        let down = &self.policy.scale_down;
        let window = self.grid.window(down.window_minutes);
        let over_max = self.open_after.saturating_sub(self.policy.max_shards);
        let room = self.open_after.saturating_sub(self.policy.min_shards);
        // Splits planned in this run count as the last split: merging right
        // after them would break the merge cooldown by a few seconds.
        let last_split = if self.splits_used > 0 {
            Some(self.now)
        } else {
            self.history_up
        };
        let cooling_until = last_split
            .max(self.history_down)
            .map(|t| later(t, down.cooldown))
            .filter(|until| self.now < *until);

        // Candidate pairs (lower index, projected peak), coolest first.
        let mut pairs: Vec<(usize, f64)> = Vec::new();
        let needed = self.policy.scale_down_minutes_needed();
        for i in 0..self.open.len().saturating_sub(1) {
            let (a, b) = (&self.stats[i], &self.stats[i + 1]);
            let enough = |s: &ShardStats| s.down_present >= needed;
            if self.splits[i] > 0 || self.splits[i + 1] > 0 || !enough(a) || !enough(b) {
                continue;
            }
            // A hot shard is never merged, not even to get under
            // max_shards: that would be a split undone at once (flapping).
            if a.hot.is_some() || b.hot.is_some() || (!(a.cold && b.cold) && over_max == 0) {
                continue;
            }
            let projected = window
                .clone()
                .filter_map(|m| {
                    let (a, b) = (&self.readers[i], &self.readers[i + 1]);
                    Some(a.load(m, &self.grid)?.plus(b.load(m, &self.grid)?))
                })
                .map(|l| l.utilization())
                .fold(0.0, larger);
            if projected < down.merged_ceiling {
                pairs.push((i, projected));
            }
        }
        pairs.sort_by(|x, y| x.1.total_cmp(&y.1).then(x.0.cmp(&y.0)));

        let mut merged = vec![false; self.open.len()];
        let mut done = 0u32;
        for (i, projected) in pairs {
            if merged[i] || merged[i + 1] {
                continue;
            }
            let both_cold = self.stats[i].cold && self.stats[i + 1].cold;
            let for_bounds = done < over_max;
            // The most lasting reason first: at min_shards no cooldown's
            // end would let the pair merge.
            let blocked = if !for_bounds && !both_cold {
                continue;
            } else if done >= room {
                Some(Verdict::AtMinShards {
                    min_shards: self.policy.min_shards,
                })
            } else if let (Some(until), false) = (cooling_until, for_bounds) {
                Some(Verdict::CoolingDown {
                    action: ActionKind::Merge,
                    until,
                })
            } else if done >= down.max_merges_per_run {
                Some(Verdict::BudgetUsedUp {
                    action: ActionKind::Merge,
                    value: down.max_merges_per_run,
                })
            } else {
                None
            };
            if let Some(verdict) = blocked {
                self.decide(i, verdict.clone());
                self.decide(i + 1, verdict);
                continue;
            }
            merged[i] = true;
            merged[i + 1] = true;
            done += 1;
            self.open_after -= 1;
            let trigger = if for_bounds {
                Trigger::MaxShards
            } else {
                Trigger::Cold
            };
            let (lower, upper) = (self.open[i], self.open[i + 1]);
            let verdicts = [(i, upper), (i + 1, lower)].map(|(j, partner)| {
                let verdict = Verdict::Merge {
                    trigger,
                    partner: partner.id.clone(),
                    projected_peak: projected,
                };
                (j, verdict)
            });
            let reason = self.verdict(verdicts[0].0, verdicts[0].1.clone()).reason();
            self.actions.push(Action::Merge(Merge {
                shard_id: lower.id.clone(),
                adjacent_shard_id: upper.id.clone(),
                starting_hash_key: lower.range.start(),
                adjacent_starting_hash_key: upper.range.start(),
                ending_hash_key: upper.range.end(),
                projected_peak: projected,
                trigger,
                reason,
            }));
            for (j, verdict) in verdicts {
                self.decide(j, verdict);
            }
        }
    }

    fn verdict(&self, i: usize, verdict: Verdict) -> ShardVerdict {
        let shard = self.open[i];
        ShardVerdict {
            shard_id: shard.id.clone(),
            range: shard.range,
            peak_utilization: self.stats[i].peak,
            verdict,
            facts: self.facts(i),
        }
    }

    /// One verdict per open shard: the decision made, or why none was.
    fn verdicts(&mut self) -> Vec<ShardVerdict> {
        let policy = self.policy;
        (0..self.open.len())
            .map(|i| {
                let s = &self.stats[i];
                let verdict = match self.decided[i].take() {
                    Some(Verdict::Split { trigger, .. }) => Verdict::Split {
                        trigger,
                        splits: self.splits[i],
                    },
                    Some(decided) => decided,
                    None if s.cold => Verdict::Steady,
                    None if s.hot_unknown(policy) => Verdict::NotEnoughData {
                        present_minutes: s.up_present,
                        window_minutes: policy.scale_up.window_minutes,
                        to: ActionKind::Split,
                    },
                    None if s.cold_unknown(policy) => Verdict::NotEnoughData {
                        present_minutes: s.down_present,
                        window_minutes: policy.scale_down.window_minutes,
                        to: ActionKind::Merge,
                    },
                    None => Verdict::Steady,
                };
                self.verdict(i, verdict)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HashKey, LayoutProblem};
    use crate::policy::SilentStream;
    use crate::testkit::{StreamBuilder, assert_contains, shard_id, uniform_ranges};

    fn now_of(obs: &Observation) -> DateTime<Utc> {
        obs.observed_at
    }

    fn run(obs: &Observation, policy: &StreamPolicy) -> Plan {
        plan(obs, policy, now_of(obs))
    }

    fn verdicts(plan: &Plan) -> Vec<&'static str> {
        plan.verdicts.iter().map(|v| v.verdict.name()).collect()
    }

    fn splits(plan: &Plan) -> Vec<&Split> {
        plan.splits().collect()
    }

    fn minutes(n: i64) -> TimeDelta {
        TimeDelta::minutes(n)
    }

    /// A case where what matters is the verdict of every shard and how many
    /// splits and merges are planned.
    struct Case {
        name: &'static str,
        obs: Observation,
        policy: StreamPolicy,
        verdicts: Vec<&'static str>,
        splits: usize,
        merges: usize,
    }

    #[test]
    fn verdict_table() {
        let p = StreamPolicy::default;
        let with = |f: fn(&mut StreamPolicy)| {
            let mut policy = StreamPolicy::default();
            f(&mut policy);
            policy
        };
        let hot_then_cool = |u| {
            let mut v = vec![Some(0.5); 30];
            v[27] = Some(u);
            v[28] = Some(u);
            v[29] = Some(u);
            v
        };
        let cases: Vec<Case> = vec![
            Case {
                name: "one hot shard among steady ones",
                obs: StreamBuilder::new("s", 3)
                    .all(0.5)
                    .constant(1, 0.95)
                    .build(),
                policy: p(),
                verdicts: vec!["steady", "split", "steady"],
                splits: 1,
                merges: 0,
            },
            Case {
                name: "exactly at the threshold for exactly `sustain` minutes is hot",
                obs: StreamBuilder::new("s", 1)
                    .utilization(0, &hot_then_cool(0.8))
                    .build(),
                policy: p(),
                verdicts: vec!["split"],
                splits: 1,
                merges: 0,
            },
            Case {
                name: "just under the threshold is not hot",
                obs: StreamBuilder::new("s", 1)
                    .utilization(0, &hot_then_cool(0.79))
                    .build(),
                policy: p(),
                verdicts: vec!["steady"],
                splits: 0,
                merges: 0,
            },
            Case {
                name: "hot during the split cooldown",
                obs: StreamBuilder::new("s", 2)
                    .all(0.95)
                    .last_scale_up(minutes(3))
                    .build(),
                policy: p(),
                verdicts: vec!["cooling_down", "cooling_down"],
                splits: 0,
                merges: 0,
            },
            Case {
                name: "hot after the split cooldown",
                obs: StreamBuilder::new("s", 2)
                    .all(0.95)
                    .last_scale_up(minutes(5))
                    .build(),
                policy: p(),
                verdicts: vec!["split", "split"],
                splits: 2,
                merges: 0,
            },
            Case {
                name: "throttling alone makes a shard hot",
                obs: StreamBuilder::new("s", 2)
                    .all(0.5)
                    .throttled(1, 3.0, 1)
                    .build(),
                policy: p(),
                verdicts: vec!["steady", "split"],
                splits: 1,
                merges: 0,
            },
            Case {
                name: "the throttling rule can be turned off",
                obs: StreamBuilder::new("s", 2)
                    .all(0.5)
                    .throttled(1, 3.0, 1)
                    .build(),
                policy: with(|p| p.scale_up.throttled_records = 0),
                verdicts: vec!["steady", "steady"],
                splits: 0,
                merges: 0,
            },
            Case {
                name: "throttling older than the window does not count",
                obs: StreamBuilder::new("s", 1)
                    .utilization(0, &{
                        let mut v = vec![Some(0.5); 30];
                        v[0] = Some(0.5);
                        v
                    })
                    .throttled(0, 0.0, 30)
                    .build(),
                policy: p(),
                verdicts: vec!["steady"],
                splits: 0,
                merges: 0,
            },
            Case {
                name: "hot at max_shards",
                obs: StreamBuilder::new("s", 4).all(0.95).build(),
                policy: with(|p| p.max_shards = 4),
                verdicts: vec!["at_max_shards"; 4],
                splits: 0,
                merges: 0,
            },
            Case {
                name: "hot with room for one more shard",
                obs: StreamBuilder::new("s", 4).all(0.95).build(),
                policy: with(|p| p.max_shards = 5),
                verdicts: vec!["split", "at_max_shards", "at_max_shards", "at_max_shards"],
                splits: 1,
                merges: 0,
            },
            Case {
                name: "hot with room for one more shard in the account's quota",
                obs: StreamBuilder::new("s", 2)
                    .all(0.95)
                    .shard_quota(10, 9)
                    .build(),
                policy: p(),
                verdicts: vec!["split", "at_shard_quota"],
                splits: 1,
                merges: 0,
            },
            Case {
                name: "split budget used up",
                obs: StreamBuilder::new("s", 3).all(0.95).build(),
                policy: with(|p| p.scale_up.max_splits_per_run = 2),
                verdicts: vec!["split", "split", "budget_used_up"],
                splits: 2,
                merges: 0,
            },
            Case {
                name: "cold adjacent pair merges",
                obs: StreamBuilder::new("s", 2).all(0.1).build(),
                policy: p(),
                verdicts: vec!["merge", "merge"],
                splits: 0,
                merges: 1,
            },
            Case {
                name: "cold pair whose merged peak reaches the ceiling stays",
                obs: StreamBuilder::new("s", 2).all(0.28).build(),
                policy: with(|p| p.scale_down.merged_ceiling = 0.5),
                verdicts: vec!["steady", "steady"],
                splits: 0,
                merges: 0,
            },
            Case {
                name: "cold pair at min_shards",
                obs: StreamBuilder::new("s", 2).all(0.1).build(),
                policy: with(|p| p.min_shards = 2),
                verdicts: vec!["at_min_shards", "at_min_shards"],
                splits: 0,
                merges: 0,
            },
            Case {
                name: "cold pair in the merge cooldown after a split",
                obs: StreamBuilder::new("s", 2)
                    .all(0.1)
                    .last_scale_up(minutes(29))
                    .build(),
                policy: p(),
                verdicts: vec!["cooling_down", "cooling_down"],
                splits: 0,
                merges: 0,
            },
            Case {
                name: "cold pair in the merge cooldown after a merge",
                obs: StreamBuilder::new("s", 2)
                    .all(0.1)
                    .last_scale_down(minutes(10))
                    .build(),
                policy: p(),
                verdicts: vec!["cooling_down", "cooling_down"],
                splits: 0,
                merges: 0,
            },
            Case {
                name: "cold pair after both cooldowns",
                obs: StreamBuilder::new("s", 2)
                    .all(0.1)
                    .last_scale_up(minutes(31))
                    .last_scale_down(minutes(30))
                    .build(),
                policy: p(),
                verdicts: vec!["merge", "merge"],
                splits: 0,
                merges: 1,
            },
            Case {
                name: "no merge in a plan that splits (the merge cooldown follows a split)",
                obs: StreamBuilder::new("s", 3)
                    .constant(0, 0.95)
                    .constant(1, 0.1)
                    .constant(2, 0.1)
                    .build(),
                policy: p(),
                verdicts: vec!["split", "cooling_down", "cooling_down"],
                splits: 1,
                merges: 0,
            },
            Case {
                name: "merge budget used up",
                obs: StreamBuilder::new("s", 4).all(0.1).build(),
                policy: with(|p| p.scale_down.max_merges_per_run = 1),
                verdicts: vec!["merge", "merge", "budget_used_up", "budget_used_up"],
                splits: 0,
                merges: 1,
            },
            Case {
                name: "a cold shard next to a warm one has no partner",
                obs: StreamBuilder::new("s", 2)
                    .constant(0, 0.1)
                    .constant(1, 0.5)
                    .build(),
                policy: p(),
                verdicts: vec!["steady", "steady"],
                splits: 0,
                merges: 0,
            },
            Case {
                name: "no metrics at all",
                obs: StreamBuilder::new("s", 2).build(),
                policy: p(),
                verdicts: vec!["not_enough_data", "not_enough_data"],
                splits: 0,
                merges: 0,
            },
            Case {
                name: "read load counts only when enabled",
                obs: StreamBuilder::new("s", 1)
                    .constant(0, 0.1)
                    .reads(0, 0.9)
                    .build(),
                policy: p(),
                verdicts: vec!["steady"],
                splits: 0,
                merges: 0,
            },
            Case {
                name: "read load above the read threshold splits when enabled",
                obs: StreamBuilder::new("s", 1)
                    .constant(0, 0.1)
                    .reads(0, 0.9)
                    .build(),
                policy: with(|p| p.read.enabled = true),
                verdicts: vec!["split"],
                splits: 1,
                merges: 0,
            },
            Case {
                name: "records, not bytes, can make a shard hot",
                obs: StreamBuilder::new("s", 1).records(0, 0.85, 0.0).build(),
                policy: p(),
                verdicts: vec!["split"],
                splits: 1,
                merges: 0,
            },
        ];
        for Case {
            name,
            obs,
            policy,
            verdicts: expected,
            splits: n_splits,
            merges: n_merges,
        } in cases
        {
            let plan = run(&obs, &policy);
            assert_eq!(verdicts(&plan), expected, "{name}");
            assert_eq!(plan.splits().count(), n_splits, "{name}: splits");
            assert_eq!(plan.merges().count(), n_merges, "{name}: merges");
            assert_eq!(
                plan.open_shards_after,
                plan.open_shards_before + n_splits - n_merges,
                "{name}: open_shards_after"
            );
        }
    }

    #[test]
    fn splits_the_full_range_at_two_to_the_127() {
        let obs = StreamBuilder::new("orders", 1).constant(0, 0.9).build();
        let plan = run(&obs, &StreamPolicy::default());
        let s = splits(&plan);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].shard_id, Some(shard_id(0)));
        assert_eq!(
            s[0].new_starting_hash_key.to_string(),
            "170141183460469231731687303715884105728"
        );
        assert_eq!(s[0].trigger, Trigger::Utilization);
    }

    #[test]
    fn splits_a_shard_that_does_not_start_at_zero_at_its_own_midpoint() {
        let ranges = uniform_ranges(4);
        let obs = StreamBuilder::new("s", 4).all(0.5).constant(2, 0.9).build();
        let plan = run(&obs, &StreamPolicy::default());
        let s = splits(&plan);
        assert_eq!(s.len(), 1);
        let r = ranges[2];
        assert_eq!(s[0].shard_id, Some(shard_id(2)));
        assert_eq!(
            (s[0].starting_hash_key, s[0].ending_hash_key),
            (r.start(), r.end())
        );
        assert_eq!(
            s[0].new_starting_hash_key.0,
            r.start().0 + (r.end().0 - r.start().0) / 2 + 1
        );
    }

    #[test]
    fn heavy_throttling_splits_deeper_in_one_plan() {
        // Records-bound at 100% with three times as many records throttled:
        // demand is 4 shards' worth, 5x the 0.8 threshold, so the shard is
        // split into 8 pieces of 0.625x each: 1 + 2 + 4 = 7 splits.
        let obs = StreamBuilder::new("s", 1)
            .records(0, 1.0, 180_000.0)
            .build();
        let plan = run(&obs, &StreamPolicy::default());
        let s = splits(&plan);
        assert_eq!(s.len(), 7);
        assert_eq!(plan.open_shards_after, 8);
        assert_eq!(s[0].shard_id, Some(shard_id(0)));
        assert!(
            s[1..].iter().all(|s| s.shard_id.is_none()),
            "children are addressed by range"
        );
        assert_eq!(s[0].trigger, Trigger::Utilization);
        // Every child split addresses a range an earlier split created.
        let mut layout = vec![HashKeyRange::FULL];
        for split in &s {
            let i = layout
                .iter()
                .position(|r| *r == split.range())
                .expect("split of an existing range");
            let (lo, hi) = split.range().split_at(split.new_starting_hash_key).unwrap();
            layout.splice(i..=i, [lo, hi]);
        }
        assert_eq!(layout, uniform_ranges_by_halving(3));
        assert_eq!(
            plan.verdicts[0].verdict,
            Verdict::Split {
                trigger: Trigger::Utilization,
                splits: 7
            }
        );
    }

    /// The layout after splitting the full range `depth` times at midpoints.
    fn uniform_ranges_by_halving(depth: u32) -> Vec<HashKeyRange> {
        let mut layout = vec![HashKeyRange::FULL];
        for _ in 0..depth {
            layout = layout
                .iter()
                .flat_map(|r| {
                    let (a, b) = r.split_at(r.midpoint().unwrap()).unwrap();
                    [a, b]
                })
                .collect();
        }
        layout
    }

    #[test]
    fn deep_splits_stop_at_the_budget_and_at_max_shards() {
        let obs = StreamBuilder::new("s", 1)
            .records(0, 1.0, 180_000.0)
            .build();
        let mut policy = StreamPolicy::default();
        policy.scale_up.max_splits_per_run = 3;
        assert_eq!(run(&obs, &policy).splits().count(), 3);
        policy.scale_up.max_splits_per_run = 8;
        policy.max_shards = 5;
        let plan = run(&obs, &policy);
        assert_eq!(plan.splits().count(), 4);
        assert_eq!(plan.open_shards_after, 5);
    }

    #[test]
    fn the_hottest_pieces_are_split_first() {
        // Shard 1's demand is 2.5x the threshold, shard 0's 1.2x. Shard 1 is
        // split first; its halves (1.25x each) are still hotter than shard 0,
        // so with a budget of 2 the second split goes to one of them.
        let obs = StreamBuilder::new("s", 2)
            .records(0, 0.96, 0.0)
            .records(1, 1.0, 60_000.0)
            .build();
        let mut policy = StreamPolicy::default();
        policy.scale_up.max_splits_per_run = 2;
        let plan = run(&obs, &policy);
        let s = splits(&plan);
        assert_eq!(s[0].shard_id, Some(shard_id(1)));
        assert_eq!(s[1].shard_id, None);
        assert_eq!(
            s[1].starting_hash_key, s[0].starting_hash_key,
            "the lower half goes first on a tie"
        );
        assert_eq!(verdicts(&plan), vec!["budget_used_up", "split"]);
        let held = &plan.verdicts[0];
        let json = serde_json::to_value(held).unwrap();
        assert_eq!(json["verdict"], "budget_used_up");
        assert_eq!(json["limit"], "max_splits_per_run");
        assert_eq!(json["value"], 2);
        assert!(
            held.reason()
                .ends_with("but max_splits_per_run 2 is used up this run"),
            "{}",
            held.reason()
        );
    }

    #[test]
    fn cooldown_verdict_says_until_when() {
        let obs = StreamBuilder::new("s", 1)
            .constant(0, 0.95)
            .last_scale_up(minutes(2))
            .build();
        let plan = run(&obs, &StreamPolicy::default());
        let until = obs.observed_at + minutes(3);
        assert_eq!(
            plan.verdicts[0].verdict,
            Verdict::CoolingDown {
                action: ActionKind::Split,
                until
            }
        );
        assert_contains(&plan.verdicts[0].reason(), "2026-11-26T02:03:00Z");
    }

    #[test]
    fn missing_minutes_beyond_max_missing_never_count_as_cold() {
        // Shard 1 lost 4 of its 30 minutes, and so did the stream-level
        // series: nothing bounds what it took then. 26 < 27 needed.
        let obs = StreamBuilder::new("s", 2)
            .all(0.05)
            .stream_totals()
            .drop_minutes(1, &[5, 12, 13, 20])
            .drop_stream_minutes(&[5, 12, 13, 20])
            .build();
        let plan = run(&obs, &StreamPolicy::default());
        assert_eq!(plan.merges().count(), 0);
        assert_eq!(
            plan.verdicts[1].verdict,
            Verdict::NotEnoughData {
                present_minutes: 26,
                window_minutes: 30,
                to: ActionKind::Merge,
            }
        );
        assert_contains(
            &plan.verdicts[1].reason(),
            "26 of the last 30 minutes have datapoints or a known load, 27 needed",
        );
        assert_eq!(
            plan.verdicts[0].verdict,
            Verdict::Steady,
            "cold but no partner with enough data"
        );
        // Three lost minutes are within max_missing (10% of 30): the 27
        // present are all cold, so the pair merges.
        let tolerated = StreamBuilder::new("s", 2)
            .all(0.05)
            .stream_totals()
            .drop_minutes(1, &[5, 12, 20])
            .drop_stream_minutes(&[5, 12, 20])
            .build();
        assert_eq!(
            run(&tolerated, &StreamPolicy::default()).merges().count(),
            1
        );
        // With max_missing 0, every minute must be there.
        let mut strict = StreamPolicy::default();
        strict.scale_down.max_missing = 0.0;
        assert_eq!(run(&tolerated, &strict).merges().count(), 0);
    }

    #[test]
    fn a_lost_datapoint_is_bounded_by_the_stream_level_metrics_never_trusted() {
        // Shard 1 carries 0.5 except in minute 12, whose datapoint was lost
        // while the stream-level series kept its records: the bound (0.5)
        // is not cold, so the loss cannot make the shard cold.
        let mut minutes = vec![Some(0.05); 30];
        minutes[12] = Some(0.5);
        let obs = StreamBuilder::new("s", 2)
            .constant(0, 0.05)
            .utilization(1, &minutes)
            .stream_totals()
            .drop_minutes(1, &[12])
            .build();
        let plan = run(&obs, &StreamPolicy::default());
        assert_eq!(plan.merges().count(), 0);
        assert!(!plan.verdicts[1].facts.cold);
        assert!((plan.verdicts[1].facts.scale_down_peak - 0.5).abs() < 1e-9);
        // Lost where it was quiet, the bound is quiet too: cold, and the
        // reason says one minute was inferred.
        let quiet = StreamBuilder::new("s", 2)
            .all(0.05)
            .stream_totals()
            .drop_minutes(1, &[12])
            .build();
        let plan = run(&quiet, &StreamPolicy::default());
        assert_eq!(plan.merges().count(), 1);
        assert_eq!(plan.verdicts[1].facts.scale_down_inferred_minutes, 1);
        assert_contains(
            &plan.verdicts[1].reason(),
            "1 without a datapoint, idle or bounded by the stream-level metrics",
        );
    }

    #[test]
    fn a_shard_missing_only_while_its_neighbours_publish_is_idle() {
        // Shard 1 took no records, so CloudWatch published nothing for it.
        let silent_neighbour = || {
            StreamBuilder::new("s", 3)
                .constant(0, 0.1)
                .constant(2, 0.5)
                .drop_minutes(1, &(0..30).collect::<Vec<_>>())
        };
        // Without stream-level series, the neighbours' datapoints say so.
        let plan = run(&silent_neighbour().build(), &StreamPolicy::default());
        assert_eq!(verdicts(&plan), vec!["merge", "merge", "steady"]);
        assert_eq!(plan.verdicts[1].peak_utilization, Some(0.0));
        assert_eq!(plan.verdicts[1].facts.scale_down_inferred_minutes, 30);
        // With them, the records the stream took are all accounted for.
        let plan = run(
            &silent_neighbour().stream_totals().build(),
            &StreamPolicy::default(),
        );
        assert_eq!(verdicts(&plan), vec!["merge", "merge", "steady"]);
        // But where the stream took more than the publishing shards, the
        // silent one is not idle: bounded by the rest, 0.4 here, not cold.
        let busy = silent_neighbour()
            .constant(1, 0.4)
            .stream_totals()
            .drop_minutes(1, &(0..30).collect::<Vec<_>>())
            .build();
        let plan = run(&busy, &StreamPolicy::default());
        assert_eq!(plan.merges().count(), 0);
        assert!((plan.verdicts[1].facts.scale_down_peak - 0.4).abs() < 1e-9);
    }

    #[test]
    fn windows_end_at_the_newest_minute_with_data_and_the_lag_is_reported() {
        // CloudWatch 1 to 5 minutes late; the policy's least delay is 1m.
        for lag in 1..=5 {
            let obs = StreamBuilder::new("s", 2)
                .all(0.1)
                .stream_totals()
                .lag(minutes(lag))
                .build();
            let policy = StreamPolicy {
                metrics_delay: std::time::Duration::from_secs(60),
                ..Default::default()
            };
            let plan = run(&obs, &policy);
            assert_eq!(plan.metrics.lag_seconds(), Some(lag * 60), "lag {lag}m");
            assert_eq!(
                plan.merges().count(),
                1,
                "lag {lag}m: {:?}",
                plan.verdicts[0]
            );
            assert_eq!(
                plan.metrics,
                MetricsFreshness::Newest {
                    minute: obs.observed_at - minutes(lag + 1),
                    lag_seconds: lag * 60
                }
            );
        }
    }

    #[test]
    fn metrics_later_than_max_lag_refuse_the_stream_with_the_reason() {
        let obs = StreamBuilder::new("s", 2)
            .all(0.95)
            .lag(minutes(16))
            .build();
        let plan = run(&obs, &StreamPolicy::default());
        assert!(plan.actions.is_empty());
        assert_eq!(
            plan.refused,
            Some(Refusal::MetricsLate {
                newest_minute: obs.observed_at - minutes(17),
                lag_seconds: 16 * 60,
                max_lag_seconds: 15 * 60,
            })
        );
        assert_contains(
            &plan.verdicts[0].reason(),
            "the newest datapoint of the stream, for 2026-11-26T01:43:00Z, is 16m old, more than metrics.max_lag 15m",
        );
        let patient = StreamPolicy {
            metrics_max_lag: std::time::Duration::from_secs(20 * 60),
            ..Default::default()
        };
        assert_eq!(run(&obs, &patient).splits().count(), 2);
    }

    #[test]
    fn a_stream_silent_for_the_window_and_max_lag_is_idle() {
        // No datapoint anywhere for 45 minutes (30 + 15), stream-level
        // included, by a stream created a day ago.
        let silent = |minutes: usize| {
            StreamBuilder::new("s", 4)
                .minutes(minutes)
                .created(TimeDelta::days(1))
        };
        let plan = run(&silent(45).build(), &StreamPolicy::default());
        assert_eq!(plan.metrics, MetricsFreshness::Silent { idle: true });
        assert_eq!(plan.merges().count(), 2);
        assert!(plan.merges().all(|m| m.projected_peak == 0.0));
        // Silent for less than that: CloudWatch may be down; nothing merges.
        let plan = run(&silent(44).build(), &StreamPolicy::default());
        assert_eq!(plan.metrics, MetricsFreshness::Silent { idle: false });
        assert_eq!(plan.merges().count(), 0);
        assert_eq!(verdicts(&plan), vec!["not_enough_data"; 4]);
        // Created 40 minutes ago: silence before that says nothing.
        let young = StreamBuilder::new("s", 4)
            .minutes(45)
            .created(minutes(40))
            .build();
        assert_eq!(run(&young, &StreamPolicy::default()).merges().count(), 0);
        // And a policy may refuse to read silence as idleness.
        let cautious = StreamPolicy {
            silent_stream: SilentStream::Unknown,
            ..Default::default()
        };
        assert_eq!(run(&silent(45).build(), &cautious).merges().count(), 0);
    }

    #[test]
    fn a_child_without_history_is_bounded_by_what_the_stream_took() {
        // Shards 1 and 2 came from a merge 20 minutes ago and have only 18
        // minutes of datapoints (two more in the delay); before that, the
        // stream-level series show the whole stream quiet.
        let young: Vec<usize> = (0..12).collect();
        let obs = StreamBuilder::new("s", 4)
            .all(0.05)
            .stream_totals()
            .drop_minutes(1, &young)
            .drop_minutes(2, &young)
            .build();
        let plan = run(&obs, &StreamPolicy::default());
        assert_eq!(plan.merges().count(), 2, "{:?}", verdicts(&plan));
        assert_eq!(plan.verdicts[1].facts.scale_down_inferred_minutes, 12);
    }

    #[test]
    fn missing_minutes_never_count_as_hot() {
        // Two hot minutes, two missing and the newest present: sustain 3
        // cannot be decided.
        let mut minutes = vec![Some(0.5); 30];
        minutes[25] = Some(0.95);
        minutes[26] = Some(0.95);
        minutes[27] = None;
        minutes[28] = None;
        let obs = StreamBuilder::new("s", 1).utilization(0, &minutes).build();
        let plan = run(&obs, &StreamPolicy::default());
        assert_eq!(plan.actions, vec![]);
        assert_eq!(
            plan.verdicts[0].verdict,
            Verdict::NotEnoughData {
                present_minutes: 3,
                window_minutes: 5,
                to: ActionKind::Split,
            }
        );
    }

    #[test]
    fn the_newest_minutes_inside_the_delay_are_ignored() {
        let mut minutes = vec![Some(0.5); 30];
        minutes[27] = Some(0.95);
        minutes[28] = Some(0.95);
        minutes[29] = Some(0.95);
        let obs = StreamBuilder::new("s", 1).utilization(0, &minutes).build();
        let mut policy = StreamPolicy::default();
        assert_eq!(run(&obs, &policy).splits().count(), 1);
        // With a 3-minute delay the newest hot minute is not complete yet.
        policy.metrics_delay = std::time::Duration::from_secs(180);
        assert_eq!(verdicts(&run(&obs, &policy)), vec!["steady"]);
    }

    #[test]
    fn the_coolest_pairs_merge_first_without_overlapping() {
        let obs = StreamBuilder::new("s", 4)
            .constant(0, 0.20)
            .constant(1, 0.05)
            .constant(2, 0.06)
            .constant(3, 0.20)
            .build();
        let plan = run(&obs, &StreamPolicy::default());
        let merges: Vec<_> = plan.merges().collect();
        assert_eq!(merges.len(), 1);
        assert_eq!(
            (&merges[0].shard_id, &merges[0].adjacent_shard_id),
            (&shard_id(1), &shard_id(2))
        );
        assert!((merges[0].projected_peak - 0.11).abs() < 1e-9);
        assert_eq!(verdicts(&plan), vec!["steady", "merge", "merge", "steady"]);
        let ranges = uniform_ranges(4);
        assert_eq!(merges[0].ranges(), (ranges[1], ranges[2]));
    }

    #[test]
    fn merged_peak_sums_the_pair_minute_by_minute() {
        // Each shard peaks at 0.29 but in different minutes: the merged
        // shard never exceeds 0.29 + 0.05.
        let a: Vec<_> = (0..30)
            .map(|m| Some(if m % 2 == 0 { 0.29 } else { 0.05 }))
            .collect();
        let b: Vec<_> = (0..30)
            .map(|m| Some(if m % 2 == 1 { 0.29 } else { 0.05 }))
            .collect();
        let obs = StreamBuilder::new("s", 2)
            .utilization(0, &a)
            .utilization(1, &b)
            .build();
        let mut policy = StreamPolicy::default();
        policy.scale_down.merged_ceiling = 0.4;
        let plan = run(&obs, &policy);
        let m = plan.merges().next().expect("a merge");
        assert!(
            (m.projected_peak - 0.34).abs() < 1e-9,
            "{}",
            m.projected_peak
        );
    }

    #[test]
    fn below_min_shards_splits_the_widest_even_in_cooldown() {
        let obs = StreamBuilder::new("s", 1)
            .constant(0, 0.1)
            .last_scale_up(minutes(1))
            .build();
        let policy = StreamPolicy {
            min_shards: 4,
            ..Default::default()
        };
        let plan = run(&obs, &policy);
        assert_eq!(plan.open_shards_after, 4);
        let mut layout = vec![HashKeyRange::FULL];
        for s in plan.splits() {
            assert_eq!(s.trigger, Trigger::MinShards);
            let i = layout.iter().position(|r| *r == s.range()).unwrap();
            let (lo, hi) = s.range().split_at(s.new_starting_hash_key).unwrap();
            layout.splice(i..=i, [lo, hi]);
        }
        assert_eq!(layout, uniform_ranges_by_halving(2));
        assert_eq!(plan.merges().count(), 0, "never merge below min_shards");
    }

    #[test]
    fn above_max_shards_merges_the_coolest_pairs_that_fit_even_in_cooldown() {
        let obs = StreamBuilder::new("s", 6)
            .constant(0, 0.30)
            .constant(1, 0.25)
            .constant(2, 0.25)
            .constant(3, 0.20)
            .constant(4, 0.5)
            .constant(5, 0.5)
            .last_scale_down(minutes(1))
            .build();
        let policy = StreamPolicy {
            max_shards: 4,
            ..Default::default()
        };
        let plan = run(&obs, &policy);
        let merges: Vec<_> = plan.merges().collect();
        assert_eq!(merges.len(), 2);
        assert!(merges.iter().all(|m| m.trigger == Trigger::MaxShards));
        assert_eq!(merges[0].shard_id, shard_id(2), "coolest pair first: 0.45");
        assert_eq!(
            merges[1].shard_id,
            shard_id(0),
            "then 0.55; 0.50 overlaps the first"
        );
        assert_eq!(
            verdicts(&plan),
            vec!["merge", "merge", "merge", "merge", "steady", "steady"]
        );
        assert_eq!(plan.open_shards_after, 4);
    }

    #[test]
    fn streams_that_are_not_active_or_not_provisioned_are_skipped() {
        for (obs, want) in [
            (
                StreamBuilder::new("s", 2)
                    .all(0.95)
                    .status(StreamStatus::Updating)
                    .build(),
                "UPDATING",
            ),
            (
                StreamBuilder::new("s", 2)
                    .all(0.95)
                    .mode(StreamMode::OnDemand)
                    .build(),
                "ON_DEMAND",
            ),
        ] {
            let plan = run(&obs, &StreamPolicy::default());
            assert!(plan.actions.is_empty());
            assert_eq!(verdicts(&plan), vec!["skipped", "skipped"]);
            assert!(plan.refused.as_ref().unwrap().to_string().contains(want));
            assert!(plan.verdicts[0].reason().contains(want));
        }
    }

    #[test]
    fn a_layout_with_a_gap_is_refused_with_the_missing_keys() {
        let ranges = uniform_ranges(3);
        let obs = StreamBuilder::with_ranges("s", &[ranges[0], ranges[2]])
            .all(0.95)
            .build();
        let plan = run(&obs, &StreamPolicy::default());
        assert!(plan.actions.is_empty());
        assert_eq!(
            plan.refused,
            Some(Refusal::BrokenLayout {
                problems: vec![LayoutProblem::Gap {
                    from: ranges[1].start(),
                    to: ranges[1].end()
                }]
            })
        );
    }

    #[test]
    fn closed_shards_are_ignored() {
        let obs = StreamBuilder::new("s", 2)
            .all(0.1)
            .closed(HashKeyRange::FULL)
            .build();
        let plan = run(&obs, &StreamPolicy::default());
        assert_eq!(plan.refused, None);
        assert_eq!(plan.open_shards_before, 2);
        assert_eq!(plan.verdicts.len(), 2);
        assert_eq!(plan.merges().count(), 1);
    }

    #[test]
    fn a_range_too_small_to_split_says_so() {
        let tiny = HashKeyRange::new(HashKey(0), HashKey(1)).unwrap();
        let rest = HashKeyRange::new(HashKey(2), HashKey::MAX).unwrap();
        let obs = StreamBuilder::with_ranges("s", &[tiny, rest])
            .constant(0, 0.95)
            .constant(1, 0.5)
            .build();
        let plan = run(&obs, &StreamPolicy::default());
        assert_eq!(verdicts(&plan), vec!["range_too_small", "steady"]);
        assert!(plan.actions.is_empty());
    }

    #[test]
    fn a_hot_shard_whose_split_left_its_sibling_idle_is_not_split_again() {
        // Shards 0 and 1 are the halves of a split made 10 minutes ago;
        // nearly all of the parent's load landed on shard 0.
        let halves = |this: f64, sibling: f64| {
            StreamBuilder::new("s", 3)
                .constant(0, this)
                .constant(1, sibling)
                .constant(2, 0.5)
                .parent(0, "shardId-000000000099")
                .parent(1, "shardId-000000000099")
        };
        let lopsided = halves(0.95, 0.1).last_scale_up(minutes(10)).build();
        let plan = run(&lopsided, &StreamPolicy::default());
        assert_eq!(plan.actions, vec![]);
        assert_eq!(plan.verdicts[0].verdict.name(), "hot_keys");
        let reason = plan.verdicts[0].reason();
        assert!(
            reason.contains("left shardId-000000000001 only 11% of this shard's demand"),
            "{reason}"
        );
        // An even split says nothing about hot keys: split as usual.
        let even = halves(0.95, 0.6).last_scale_up(minutes(10)).build();
        assert_eq!(run(&even, &StreamPolicy::default()).splits().count(), 1);
        // Nor does a split long ago.
        let old = halves(0.95, 0.1).last_scale_up(minutes(600)).build();
        assert_eq!(run(&old, &StreamPolicy::default()).splits().count(), 1);
        // And demand of two shards or more (throttled) is split anyway.
        let heavy = halves(1.0, 0.1)
            .records(0, 1.0, 90_000.0)
            .last_scale_up(minutes(10))
            .build();
        assert!(run(&heavy, &StreamPolicy::default()).splits().count() >= 1);
    }

    #[test]
    fn a_shard_that_throttled_in_the_scale_down_window_is_not_cold() {
        // Both quiet on average, but shard 1 throttled in a sub-minute burst
        // twenty minutes ago (outside the scale-up window): merging it
        // would make the burst worse.
        let mut obs = StreamBuilder::new("s", 2).all(0.1).build();
        let mut burst = vec![Some(0.0); 30];
        burst[10] = Some(40.0);
        obs.metrics
            .shards
            .get_mut(&shard_id(1))
            .unwrap()
            .write_throttled = burst.into();
        let plan = run(&obs, &StreamPolicy::default());
        assert_eq!(plan.merges().count(), 0);
        assert_eq!(verdicts(&plan), vec!["steady", "steady"]);
    }

    #[test]
    fn plans_are_deterministic() {
        let obs = StreamBuilder::new("s", 16)
            .all(0.1)
            .constant(3, 0.95)
            .records(7, 1.0, 50_000.0)
            .build();
        let policy = StreamPolicy::default();
        assert_eq!(run(&obs, &policy), run(&obs, &policy));
    }
}
