//! Measuring: each open shard's load minute by minute on the window grid
//! (a missing datapoint is unknown, never zero), and the statistics the
//! rules look at. A minute a shard has no datapoint for is idle, bounded
//! or estimated from the stream-level series where they tell (see
//! [`Fill`]); an estimate proves a shard cold, never hot.

use std::ops::Range;

use chrono::TimeDelta;

use super::{MetricsFreshness, Trigger};
use crate::model::MetricName;
use crate::model::Shard;
use crate::model::{READ_BYTES_PER_SECOND, WRITE_BYTES_PER_SECOND, WRITE_RECORDS_PER_SECOND};
use crate::observe::{Observation, Series, ShardMetrics, Share};
use crate::policy::{ShardLevel, SilentStream, StreamPolicy};

const SECONDS_PER_MINUTE: f64 = 60.0;

/// Where the windows end, and what a missing datapoint means in each
/// minute.
pub(super) struct Grid {
    /// Index of the newest minute the windows end at: the newest with any
    /// datapoint of the stream, never newer than `metrics.delay` allows.
    /// Negative when there is none.
    pub(super) newest: i64,
    /// Index of the newest minute `metrics.delay` allows.
    pub(super) complete: i64,
    /// How recent the stream's data is.
    pub(super) freshness: MetricsFreshness,
    /// By minute index: what a shard without a datapoint took. Empty
    /// until a shard lacks one ([`Grid::fill_in`]).
    pub(super) fill: Vec<Fill>,
    /// By minute index, for minutes no open shard published in: the
    /// summed shares of the open shards, when every one has a measured
    /// share (what [`Fill::AtMost`]'s rest, the stream's whole load then,
    /// is shared by).
    pub(super) silent_shares: Vec<Option<Share>>,
}

/// What a shard without a datapoint in some minute took.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Fill {
    /// Nothing is known.
    Unknown,
    /// Nothing: the stream-level metrics account for every record the
    /// stream took, or (without them) other shards published that minute.
    Idle,
    /// At most this: what the stream took beyond the shards that published.
    AtMost(Load),
    /// About this, for one shard, in a minute no shard published in: the
    /// stream's load shared by the shards' last measured shares. It proves
    /// a minute cold, or not hot; never hot.
    Estimate(Load),
}

/// A minute whose records the shards that published leave unaccounted
/// for by less than this (in shards' worth) counts as idle for the rest.
pub(super) const IDLE_RESIDUAL: f64 = 0.01;

impl Grid {
    pub(super) fn new(obs: &Observation, policy: &StreamPolicy, open: &[&Shard]) -> Grid {
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
            stream[MetricName::IncomingRecords].get(i).is_some()
                || stream[MetricName::IncomingBytes].get(i).is_some()
        });
        // Usually the newest complete minute itself: one look per shard.
        let shards_newest = open
            .iter()
            .filter_map(|s| obs.metrics.shards.get(&s.id))
            .filter_map(|m| {
                newest_of(&|i| {
                    m[MetricName::IncomingRecords].get(i).is_some()
                        || m[MetricName::IncomingBytes].get(i).is_some()
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
                // The read covers the window and max_lag when it reaches
                // back that far from the observation: a datapoint newer
                // than max_lag may still come, one older would be here.
                let lag = policy.metrics_max_lag.as_secs().div_ceil(60) as i64;
                let covered = (obs.observed_at - obs.metrics.start).num_minutes();
                let long_enough = covered >= i64::from(policy.scale_down.window_minutes) + lag;
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
            silent_shares: Vec::new(),
        };
        if let MetricsFreshness::Silent { idle: true } = grid.freshness {
            grid.fill = vec![Fill::Idle; complete.max(0) as usize + 1];
        }
        grid
    }

    /// The last `minutes` minutes up to the newest with data.
    pub(super) fn window(&self, minutes: u32) -> Range<i64> {
        self.newest - i64::from(minutes) + 1..self.newest + 1
    }

    /// Works out, for the minutes of `minutes` that some shard lacks a
    /// datapoint for (`lacking`), what such a shard took.
    pub(super) fn fill_in(
        &mut self,
        obs: &Observation,
        policy: &StreamPolicy,
        readers: &[Reader<'_>],
        minutes: Range<i64>,
        lacking: &[bool],
    ) {
        if !self.fill.is_empty() {
            return;
        }
        let len = (self.newest.max(self.complete) + 1).max(0) as usize;
        self.fill = vec![Fill::Unknown; len];
        self.silent_shares = vec![None; len];
        // Shares estimate only where the shard-level series tell nothing:
        // they were not read, or (turned on on demand) were not published
        // then.
        let estimating =
            obs.metrics.shards.is_empty() || policy.shard_level == ShardLevel::OnDemand;
        let stream = &obs.metrics.stream;
        let has_stream = !stream.is_empty();
        for (k, minute) in minutes.enumerate() {
            if !lacking[k] || minute < 0 || minute as usize >= len {
                continue;
            }
            let i = minute as usize;
            let mut published = Load::default();
            let mut any = false;
            let mut silent = Some(Share::default());
            for r in readers {
                if let Some(load) = r.datapoints(minute) {
                    published = published.plus(load);
                    any = true;
                } else {
                    silent = silent.zip(r.share).map(|(sum, s)| Share {
                        bytes: sum.bytes + s.bytes,
                        records: sum.records + s.records,
                    });
                }
            }
            // A shard missing among shards that published is bounded, as
            // before shares were known (a split's children before they
            // existed: by their parent's load).
            self.silent_shares[i] = silent.filter(|_| !any && estimating);
            self.fill[i] = if has_stream {
                match (
                    stream[MetricName::IncomingBytes].get(i),
                    stream[MetricName::IncomingRecords].get(i),
                ) {
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

    #[inline]
    pub(super) fn fill_at(&self, minute: i64) -> Fill {
        usize::try_from(minute)
            .ok()
            .and_then(|i| self.fill.get(i))
            .copied()
            .unwrap_or(Fill::Unknown)
    }

    #[inline]
    fn silent_shares_at(&self, minute: i64) -> Option<Share> {
        usize::try_from(minute)
            .ok()
            .and_then(|i| self.silent_shares.get(i).copied().flatten())
    }
}

/// One minute of one shard (or of a pair summed).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Load {
    pub(super) bytes: f64,
    pub(super) records: f64,
    /// Zero unless read load counts.
    pub(super) out_bytes: f64,
}

// Per-minute sums to shards' worth, as multiplications: a plan of a large
// stream converts hundreds of thousands of minutes, and divisions dominate.
pub(super) const PER_WRITE_BYTES_MINUTE: f64 = 1.0 / (SECONDS_PER_MINUTE * WRITE_BYTES_PER_SECOND);
pub(super) const PER_WRITE_RECORDS_MINUTE: f64 =
    1.0 / (SECONDS_PER_MINUTE * WRITE_RECORDS_PER_SECOND);
pub(super) const PER_READ_BYTES_MINUTE: f64 = 1.0 / (SECONDS_PER_MINUTE * READ_BYTES_PER_SECOND);

/// The larger of two numbers that are never NaN: cheaper than `f64::max`,
/// which must handle NaN, in the planner's hot loops.
pub(super) fn larger(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

impl Load {
    pub(super) fn write_utilization(&self) -> f64 {
        larger(
            self.bytes * PER_WRITE_BYTES_MINUTE,
            self.records * PER_WRITE_RECORDS_MINUTE,
        )
    }

    pub(super) fn read_utilization(&self) -> f64 {
        self.out_bytes * PER_READ_BYTES_MINUTE
    }

    pub(super) fn utilization(&self) -> f64 {
        larger(self.write_utilization(), self.read_utilization())
    }

    /// Write demand including `throttled` rejected records, in shards'
    /// worth: they are added to the records, and to the bytes at the
    /// minute's average record size.
    pub(super) fn write_demand(&self, throttled: f64) -> f64 {
        let records = self.records + throttled;
        let bytes = if self.records > 0.0 {
            self.bytes * records / self.records
        } else {
            self.bytes
        };
        (bytes * PER_WRITE_BYTES_MINUTE).max(records * PER_WRITE_RECORDS_MINUTE)
    }

    pub(super) fn plus(self, other: Load) -> Load {
        Load {
            bytes: self.bytes + other.bytes,
            records: self.records + other.records,
            out_bytes: self.out_bytes + other.out_bytes,
        }
    }
}

pub(super) fn at(series: &Series, minute: i64) -> Option<f64> {
    series.get(usize::try_from(minute).ok()?)
}

/// A shard's series, read the way the policy needs them.
#[derive(Clone, Copy)]
pub(super) struct Reader<'a> {
    pub(super) metrics: Option<&'a ShardMetrics>,
    pub(super) read_enabled: bool,
    /// The shard's last measured share of the stream's writes, if known.
    pub(super) share: Option<Share>,
}

impl Reader<'_> {
    /// The minute's load from the shard's own datapoints, or `None` if any
    /// metric it needs is missing.
    #[inline]
    pub(super) fn datapoints(&self, minute: i64) -> Option<Load> {
        let m = self.metrics?;
        Some(Load {
            bytes: at(&m[MetricName::IncomingBytes], minute)?,
            records: at(&m[MetricName::IncomingRecords], minute)?,
            out_bytes: if self.read_enabled {
                at(&m[MetricName::OutgoingBytes], minute)?
            } else {
                0.0
            },
        })
    }

    /// The minute's load, or an estimate of it or an upper bound on it
    /// where the shard has no datapoint but the stream-level metrics tell;
    /// `None` if unknown.
    #[inline]
    pub(super) fn load(&self, minute: i64, grid: &Grid) -> Option<Load> {
        self.datapoints(minute)
            .or_else(|| match self.fill(minute, grid) {
                Fill::Idle => Some(Load::default()),
                // Neither says anything about reads.
                Fill::AtMost(load) | Fill::Estimate(load) if !self.read_enabled => Some(load),
                _ => None,
            })
    }

    /// What this shard took in a minute it has no datapoint for: the
    /// grid's fill, or where the grid bounds the silent shards together
    /// and every one has a measured share, this shard's part of the bound.
    #[inline]
    pub(super) fn fill(&self, minute: i64, grid: &Grid) -> Fill {
        match (
            grid.fill_at(minute),
            self.share,
            grid.silent_shares_at(minute),
        ) {
            (Fill::AtMost(rest), Some(own), Some(all)) if all.bytes > 0.0 && all.records > 0.0 => {
                Fill::Estimate(Load {
                    bytes: rest.bytes * (own.bytes / all.bytes).min(1.0),
                    records: rest.records * (own.records / all.records).min(1.0),
                    out_bytes: 0.0,
                })
            }
            (fill, _, _) => fill,
        }
    }
}

/// What one shard's metrics say, measured once.
#[derive(Clone, Debug, Default)]
pub(super) struct ShardStats {
    pub(super) up_present: u32,
    pub(super) hot_minutes: u32,
    pub(super) throttled: f64,
    /// Highest utilization in the scale-up window.
    pub(super) up_peak: f64,
    /// Estimated demand over the threshold (1.0 = exactly at threshold):
    /// the level held for `sustain` minutes, or the peak when throttling
    /// alone made the shard hot.
    pub(super) pressure: f64,
    /// Minutes of the scale-down window whose load is known or bounded.
    pub(super) down_present: u32,
    /// Of those, the minutes without a datapoint of the shard's own (idle,
    /// or bounded or estimated by the stream-level metrics).
    pub(super) down_inferred: u32,
    /// Of those, the minutes estimated from the shard's share.
    pub(super) down_estimated: u32,
    /// Minutes of the scale-up window estimated from the shard's share.
    pub(super) up_estimated: u32,
    /// Whether the newest [`CONFIRM_MINUTES`] minutes have the shard's own
    /// datapoints (or it was idle): what a merge resting on estimated
    /// minutes needs, so that the share it estimated by is fresh.
    pub(super) confirmed: bool,
    /// How many of those newest minutes are known so.
    confirm_known: u32,
    /// Highest utilization (or bound on it) among the present minutes of
    /// the scale-down window.
    pub(super) down_peak: f64,
    /// Highest utilization over the longest window, if any minute has data.
    pub(super) peak: Option<f64>,
    pub(super) hot: Option<Trigger>,
    pub(super) cold: bool,
    /// Throttled writes in the scale-down window: a shard that throttled
    /// (even in sub-minute bursts) is not cold, whatever its averages.
    pub(super) down_throttled: f64,
    /// Whether some minute of the longest window had no datapoint.
    pub(super) lacked: bool,
    /// IncomingBytes and IncomingRecords summed over the recent minutes
    /// (from `Windows::recent`), for the shard's share of the stream.
    pub(super) recent: (f64, f64),
    /// Which of the recent minutes those sums hold (bit `k`: the `k`th),
    /// each a datapoint of the shard's own or idle.
    pub(super) recent_mask: u32,
}

/// How many of the newest minutes a forecast compares today's level and
/// each shard's share over.
pub(super) const RECENT_MINUTES: i64 = 15;

/// How many of the newest minutes a shard cold on estimated minutes must
/// have measured before it is merged.
pub(super) const CONFIRM_MINUTES: i64 = 5;

/// The windows and thresholds one scan holds every minute against.
pub(super) struct Windows {
    /// The first of the recent minutes a forecast takes shares over.
    pub(super) recent: i64,
    /// The first of the newest minutes a merge on estimates needs measured.
    pub(super) confirm: i64,
    pub(super) up: Range<i64>,
    pub(super) down: Range<i64>,
    pub(super) lookback: Range<i64>,
    pub(super) up_threshold: f64,
    pub(super) read_threshold: f64,
}

impl Windows {
    pub(super) fn new(grid: &Grid, policy: &StreamPolicy) -> Self {
        let lookback = grid.window(policy.lookback_minutes());
        Windows {
            recent: (grid.newest - RECENT_MINUTES + 1).max(lookback.start),
            confirm: grid.newest - CONFIRM_MINUTES + 1,
            up: grid.window(policy.scale_up.window_minutes),
            down: grid.window(policy.scale_down.window_minutes),
            lookback,
            up_threshold: policy.scale_up.threshold,
            read_threshold: policy.read.threshold,
        }
    }
}

impl ShardStats {
    /// Measures one shard. Minutes it has no datapoint for count as
    /// `grid.fill` says; while that is not worked out yet, they are marked
    /// in `lacking` (by position in the longest window).
    pub(super) fn measure(
        reader: Reader<'_>,
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
        s.confirmed = i64::from(s.confirm_known) >= CONFIRM_MINUTES;
        s
    }

    /// One pass over the longest window. This is the planner's hot loop (a
    /// 20,000-shard stream has 600,000 minutes in 30): it walks the raw
    /// slices, and a minute with any NaN (missing) datapoint leaves the
    /// fast path.
    pub(super) fn scan(
        &mut self,
        reader: Reader<'_>,
        grid: &Grid,
        w: &Windows,
        pressures: &mut Vec<f64>,
        lacking: &mut [bool],
    ) {
        pressures.clear();
        let empty = Series::default();
        let m = reader.metrics;
        let series = |f: fn(&ShardMetrics) -> &Series| m.map_or(&empty, f).raw();
        let throttled = series(|m| &m[MetricName::WriteProvisionedThroughputExceeded]);
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
            series(|m| &m[MetricName::IncomingBytes]),
            series(|m| &m[MetricName::IncomingRecords]),
        );
        let out = reader
            .read_enabled
            .then(|| series(|m| &m[MetricName::OutgoingBytes]));
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
    #[inline]
    pub(super) fn add(
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
        if minute >= w.recent {
            self.recent.0 += load.bytes;
            self.recent.1 += load.records;
            self.recent_mask |= 1 << ((minute - w.recent) & 31);
        }
        if minute >= w.confirm {
            self.confirm_known += 1;
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
    pub(super) fn missing(
        &mut self,
        minute: i64,
        reader: Reader<'_>,
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
        match reader.fill(minute, grid) {
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
            // An estimate proves a minute cold, or not hot, like a bound,
            // and is the shard's likely load: it counts toward its peaks
            // (the verdict says they are estimated), never toward heat or
            // demand.
            Fill::Estimate(estimate) if !reader.read_enabled => {
                let util = estimate.write_utilization();
                if util > *peak {
                    *peak = util;
                }
                if minute >= w.up.start {
                    self.up_estimated += 1;
                    if util < w.up_threshold {
                        self.up_present += 1;
                    }
                    if util > self.up_peak {
                        self.up_peak = util;
                    }
                }
                if minute >= w.down.start {
                    self.down_present += 1;
                    self.down_inferred += 1;
                    self.down_estimated += 1;
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
    pub(super) fn hot_unknown(&self, policy: &StreamPolicy) -> bool {
        let missing = policy.scale_up.window_minutes - self.up_present;
        self.hot.is_none() && self.hot_minutes + missing >= policy.scale_up.sustain_minutes
    }

    /// Whether the missing minutes of the scale-down window are all that
    /// keeps the shard from being cold.
    pub(super) fn cold_unknown(&self, policy: &StreamPolicy) -> bool {
        !self.cold
            && self.down_present < policy.scale_down_minutes_needed()
            && self.down_peak < policy.scale_down.threshold
            && self.down_throttled == 0.0
    }
}
