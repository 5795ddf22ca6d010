//! The decision: which shards to split, which adjacent pairs to merge, and
//! why every other shard is left alone.
//!
//! [`plan`] is a pure function of an [`Observation`], a [`StreamPolicy`]
//! and `now`: no I/O, no clock, no logging, and the same input always gives
//! the same plan. Everything it decides is explained in the returned
//! [`Plan`].
//!
//! # Rules
//!
//! The rules, with their reasons and the numbers behind them, are written
//! once, for operators, in `docs/how-it-decides.md`. Where each is
//! implemented: a minute's utilization, hot and cold (`measure.rs`);
//! splits, split points and hot keys (`split.rs`); merges, the merged
//! ceiling and the consumer-lag guard (`merge.rs`); the forecast
//! (`forecast.rs`); the threshold an objective derives (`headroom.rs`);
//! the economic scale-down's quiet time (`economics.rs`); whether a pass
//! needs the shard-level series (`detail.rs`); warm throughput (`warm.rs`);
//! a reason for every shard (`explain.rs`); and the cooldown rule,
//! `cooldown_until` below, for all of them.

mod detail;
mod economics;
mod explain;
mod forecast;
mod headroom;
mod measure;
mod merge;
mod plan;
pub mod remedy;
mod split;
#[cfg(test)]
mod tests;
pub mod warm;

pub use detail::{NEAR_THRESHOLD, monitoring_change, shard_detail, shard_detail_known};
pub use plan::*;

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::MetricName;
use crate::model::{Shard, check_layout};
use crate::model::{StreamMode, StreamStatus};
use crate::observe::{Observation, ShardMetrics};
use crate::policy::StreamPolicy;
use forecast::Foresight;
use measure::{Grid, Reader, ShardStats, Windows};
use split::Piece;

/// Plans one stream. See the module docs for the rules.
pub fn plan(obs: &Observation, policy: &StreamPolicy, now: DateTime<Utc>) -> Plan {
    let open = obs.open_shards();
    let grid = Grid::new(obs, policy, &open);
    let lag = match grid.freshness {
        MetricsFreshness::Newest { lag_seconds, .. } => lag_seconds,
        MetricsFreshness::Silent { .. } => 0,
    };
    let headroom = policy
        .objective
        .as_ref()
        .map(|o| headroom::derive(obs, policy, o, lag));
    let derived;
    let policy = match &headroom {
        Some(h) if h.derived() => {
            derived = h.applied_to(policy);
            &derived
        }
        _ => policy,
    };
    let quiet = policy
        .scale_down
        .economic
        .as_ref()
        .map(|e| economics::derive(obs, policy, e, lag));
    let quieted;
    let policy = match &quiet {
        Some(q) if q.window_minutes != policy.scale_down.window_minutes => {
            quieted = q.applied_to(policy);
            &quieted
        }
        _ => policy,
    };
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
        headroom,
        quiet,
        actions: Vec::new(),
        verdicts: Vec::new(),
        reads: obs.reads.clone(),
        monitoring: None,
        measured_shares: None,
        warm_throughput: warm::plan(obs, policy, now),
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

    let whole = stream_as_shard(obs, &open);
    let mut planner = Planner::new(obs, policy, now, open, grid, whole.as_ref());
    planner.split_hot_shards();
    planner.split_up_to_min_shards();
    planner.merge_cold_pairs();
    plan.measured_shares = planner.measured_shares(obs);
    plan.open_shards_after = planner.open_after as usize;
    plan.verdicts = planner.verdicts();
    plan.actions = planner.actions;
    plan
}

/// The series of a stream's only open shard, when no shard-level series
/// of it was read: its range is the whole key space, so the stream-level
/// IncomingBytes, IncomingRecords and WriteProvisionedThroughputExceeded
/// are its own, exactly (closed parents' minutes included: they were
/// this range's load). A one-shard stream needs no shard-level metric.
fn stream_as_shard(obs: &Observation, open: &[&Shard]) -> Option<ShardMetrics> {
    let [only] = open else { return None };
    let stream = &obs.metrics.stream;
    let own = obs.metrics.shards.get(&only.id);
    let read = own.is_some_and(|m| {
        !m[MetricName::IncomingBytes].is_empty() || !m[MetricName::IncomingRecords].is_empty()
    });
    if read
        || stream[MetricName::IncomingBytes].is_empty()
        || stream[MetricName::IncomingRecords].is_empty()
    {
        return None;
    }
    let mut m = own.cloned().unwrap_or_default();
    m[MetricName::IncomingBytes] = stream[MetricName::IncomingBytes].clone();
    m[MetricName::IncomingRecords] = stream[MetricName::IncomingRecords].clone();
    m[MetricName::WriteProvisionedThroughputExceeded] =
        stream[MetricName::WriteProvisionedThroughputExceeded].clone();
    Some(m)
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

/// Each open shard's consumer lag over the scale-down window: the largest
/// shard-level IteratorAgeMilliseconds where the shard published one,
/// else the stream-level GetRecords.IteratorAgeMilliseconds; none without
/// `consumers`, or where no age was published (no consumer reads).
fn consumer_lags(
    obs: &Observation,
    policy: &StreamPolicy,
    grid: &Grid,
    readers: &[Reader<'_>],
) -> Vec<Option<ConsumerLag>> {
    let Some(consumers) = &policy.consumers else {
        return vec![None; readers.len()];
    };
    let window = grid.window(policy.scale_down.window_minutes);
    let largest = |series: &crate::observe::Series| {
        window
            .clone()
            .filter_map(|m| series.get(usize::try_from(m).ok()?))
            .reduce(f64::max)
    };
    let max_iterator_age_ms = consumers.max_iterator_age.as_millis() as u64;
    let stream = largest(&obs.metrics.stream[MetricName::IteratorAgeMilliseconds]);
    readers
        .iter()
        .map(|r| {
            let own = r
                .metrics
                .and_then(|m| largest(&m[MetricName::IteratorAgeMilliseconds]));
            let (age, scope) = match (own, stream) {
                (Some(age), _) => (age, LagScope::Shard),
                (None, Some(age)) => (age, LagScope::Stream),
                (None, None) => return None,
            };
            Some(ConsumerLag {
                iterator_age_ms: age,
                scope,
                max_iterator_age_ms,
            })
        })
        .collect()
}

/// With `consumers.scale_up_on_lag`, for each open shard whose consumers
/// fall further behind: the iterator age (its own, else the stream's) over
/// the limit at the newest minute of the scale-up window and higher than
/// at its first, while the shard read at or above `read_threshold` for at
/// least `sustain` minutes of it. Its peak read utilization over the
/// threshold, at most just under 2: one split a pass, never deeper.
fn lag_splits(
    obs: &Observation,
    policy: &StreamPolicy,
    grid: &Grid,
    readers: &[Reader<'_>],
) -> Vec<Option<f64>> {
    let Some(consumers) = policy.consumers.as_ref().filter(|c| c.scale_up_on_lag) else {
        return vec![None; readers.len()];
    };
    let window = grid.window(policy.scale_up.window_minutes);
    let at = |series: &crate::observe::Series, m: i64| series.get(usize::try_from(m).ok()?);
    let limit = consumers.max_iterator_age.as_millis() as f64;
    let growing = |series: &crate::observe::Series| {
        let first = window.clone().find_map(|m| at(series, m));
        let last = window.clone().rev().find_map(|m| at(series, m));
        matches!((first, last), (Some(first), Some(last)) if last > limit && last > first)
    };
    let stream_growing = growing(&obs.metrics.stream[MetricName::IteratorAgeMilliseconds]);
    readers
        .iter()
        .map(|r| {
            let m = r.metrics?;
            let own_age = window
                .clone()
                .any(|i| at(&m[MetricName::IteratorAgeMilliseconds], i).is_some());
            let lagging = if own_age {
                growing(&m[MetricName::IteratorAgeMilliseconds])
            } else {
                stream_growing
            };
            if !lagging {
                return None;
            }
            let (busy, peak) = window
                .clone()
                .filter_map(|i| at(&m[MetricName::OutgoingBytes], i))
                .map(|b| b * measure::PER_READ_BYTES_MINUTE)
                .fold((0u32, 0.0f64), |(busy, peak), u| {
                    (busy + u32::from(u >= consumers.read_threshold), peak.max(u))
                });
            (busy >= policy.scale_up.sustain_minutes)
                .then(|| (peak / consumers.read_threshold).clamp(1.0, 1.99))
        })
        .collect()
}

/// `t` plus `span`, or the end of time if that overflows (a policy may
/// set very long cooldowns).
fn later(t: DateTime<Utc>, span: std::time::Duration) -> DateTime<Utc> {
    TimeDelta::from_std(span)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The one cooldown rule, for splits, merges and `min_lifetime` alike: a
/// wait of `span` after `last` (the stream's last split or merge, as its
/// tags or this plan have it) runs at `now` until the returned time; `None`
/// when nothing happened yet or the wait is over.
fn cooldown_until(
    last: Option<DateTime<Utc>>,
    span: std::time::Duration,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    last.map(|t| later(t, span)).filter(|until| now < *until)
}

struct Planner<'a> {
    policy: &'a StreamPolicy,
    history_up: Option<DateTime<Utc>>,
    history_down: Option<DateTime<Utc>>,
    /// Reshards left today under `max_reshards_per_day`, if capped.
    day_left: Option<u32>,
    now: DateTime<Utc>,
    grid: Grid,
    open: Vec<&'a Shard>,
    readers: Vec<Reader<'a>>,
    stats: Vec<ShardStats>,
    /// The seasonal forecast, when the policy asks for one and the past
    /// was read.
    foresight: Option<Foresight>,
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
    /// Each open shard's sample of records, when the policy splits at the
    /// traffic and the pass took one.
    samples: Vec<Option<&'a crate::observe::ShardSample>>,
    /// Each open shard's consumer lag over the scale-down window, with
    /// `consumers` in the policy.
    lags: Vec<Option<ConsumerLag>>,
    /// With `consumers.scale_up_on_lag`, each open shard whose consumers
    /// fall further behind while it reads at or above the read
    /// threshold: its read load over the threshold.
    lag_splits: Vec<Option<f64>>,
}

impl<'a> Planner<'a> {
    fn new(
        obs: &'a Observation,
        policy: &'a StreamPolicy,
        now: DateTime<Utc>,
        open: Vec<&'a Shard>,
        mut grid: Grid,
        whole: Option<&'a ShardMetrics>,
    ) -> Self {
        let readers: Vec<Reader<'_>> = open
            .iter()
            .map(|s| Reader {
                metrics: whole.or_else(|| obs.metrics.shards.get(&s.id)),
                read_enabled: policy.read.enabled,
                share: obs.shares.as_ref().and_then(|shares| shares.of(&s.id)),
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
            grid.fill_in(obs, policy, &readers, windows.lookback.clone(), &lacking);
            for (s, r) in stats.iter_mut().zip(&readers) {
                if s.lacked {
                    *s =
                        ShardStats::measure(*r, &grid, &windows, policy, &mut buffer, &mut lacking);
                }
            }
        }
        let n = open.len();
        let lags = consumer_lags(obs, policy, &grid, &readers);
        let lag_splits = lag_splits(obs, policy, &grid, &readers);
        let shares: Vec<Option<crate::observe::Share>> = readers.iter().map(|r| r.share).collect();
        let foresight = Foresight::new(
            obs,
            policy,
            now,
            &grid,
            &open,
            (&stats, &shares),
            windows.recent,
        );
        Planner {
            foresight,
            lags,
            lag_splits,
            policy,
            history_up: obs.history.last_scale_up,
            history_down: obs.history.last_scale_down,
            day_left: (policy.max_reshards_per_day > 0).then(|| {
                let used = obs.history.day_at(now).map_or(0, |d| d.operations);
                policy.max_reshards_per_day.saturating_sub(used)
            }),
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
            samples: open
                .iter()
                .map(|s| {
                    (policy.scale_up.split_at == crate::policy::SplitAt::Traffic)
                        .then(|| obs.samples.iter().find(|x| x.shard_id == s.id))
                        .flatten()
                })
                .collect(),
            open,
        }
    }

    /// Each open shard's share of the stream's writes over the newest
    /// minutes (up to [`measure::RECENT_MINUTES`]) in which every open
    /// shard had its own datapoints or was idle; `None` without such a
    /// minute, or if the stream took nothing in them.
    fn measured_shares(&self, obs: &Observation) -> Option<MeasuredShares> {
        if obs.metrics.shards.is_empty() {
            return None;
        }
        // The recent minutes every open shard has: usually all of them,
        // and the sums measured in the scan are the shares' (a shard that
        // lacks some, a child younger than them, say: summed again over
        // the minutes all have).
        let common = self.stats.iter().fold(u32::MAX, |m, s| m & s.recent_mask);
        if common == 0 {
            return None;
        }
        let windows = Windows::new(&self.grid, self.policy);
        let sums: Vec<(f64, f64)> = if self.stats.iter().all(|s| s.recent_mask == common) {
            self.stats.iter().map(|s| s.recent).collect()
        } else {
            let minutes = (windows.recent..=self.grid.newest)
                .filter(|m| common & (1 << ((m - windows.recent) & 31)) != 0);
            let mut sums = vec![(0.0, 0.0); self.open.len()];
            for minute in minutes {
                for (sum, r) in sums.iter_mut().zip(&self.readers) {
                    let load = r.load(minute, &self.grid).unwrap_or_default();
                    sum.0 += load.bytes;
                    sum.1 += load.records;
                }
            }
            sums
        };
        let (bytes, records) = sums.iter().fold((0.0, 0.0), |(b, r), s| (b + s.0, r + s.1));
        if bytes <= 0.0 || records <= 0.0 {
            return None;
        }
        Some(MeasuredShares {
            measured_at: obs.metrics.start + TimeDelta::minutes(self.grid.newest + 1),
            minutes: common.count_ones(),
            shares: sums
                .into_iter()
                .map(|(b, r)| crate::observe::Share {
                    bytes: b / bytes,
                    records: r / records,
                })
                .collect(),
        })
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

    /// [`Planner::facts`] of a shard split ahead of its forecast: with the
    /// forecast within the lead, which the split acts on.
    fn pre_split_facts(&self, i: usize) -> Facts {
        Facts {
            forecast_lead: self.foresight.as_ref().map(|f| f.of(&[i], true)),
            ..self.facts(i)
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
            scale_down_estimated_minutes: s.down_estimated,
            scale_up_estimated_minutes: s.up_estimated,
            scale_down_threshold: p.scale_down.threshold,
            scale_down_peak: s.down_peak,
            merged_ceiling: p.scale_down.merged_ceiling,
            min_shards: p.min_shards,
            max_shards: p.max_shards,
            forecast: self.foresight.as_ref().map(|f| f.of(&[i], false)),
            forecast_lead: None,
            consumer_lag: self.lags[i],
        }
    }
}
