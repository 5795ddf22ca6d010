//! Headroom from the stream's own bursts: the scale-up threshold that
//! keeps the expected share of throttled records under
//! `objective.max_throttled`, given how this stream's load moved over
//! the last days.
//!
//! The controller cannot react faster than its reaction time: the metrics
//! delay, the `sustain` minutes the hot rule waits for, and the reshard
//! itself. Whatever the load rises beyond a shard's limit within that
//! time is throttled. How far it rises is a property of the stream, read
//! from its stream-level per-minute history ([`Observation::past`]).
//!
//! The expected throttled share at a threshold is measured by replaying
//! that history through a model of the planner on a stream whose load is
//! spread evenly over its shards: it splits every shard (deeper where the
//! demand is several times the threshold) once the load it saw `delay`
//! ago was at or above the threshold for `sustain` minutes, the new shards
//! serving a minute later, and merges pairs after `scale_down.window` quiet
//! minutes. The threshold is the highest (in steps of 0.01, between
//! [`LOWEST`] and [`HIGHEST`]) whose replay stays within the objective;
//! the scale-down threshold and the merged ceiling move with it, in the
//! same proportion, so the policy's shape is kept.

use super::Headroom;
use super::measure::Load;
use crate::observe::Observation;
use crate::policy::{Objective, StreamPolicy};

/// The lowest threshold the objective may derive.
pub(crate) const LOWEST: f64 = 0.5;
/// The highest: above it, sub-minute bursts throttle whatever the minutes say.
pub(crate) const HIGHEST: f64 = 0.95;
/// History needed before the threshold is derived at all, in minutes with
/// data.
pub(crate) const MIN_HISTORY_MINUTES: u32 = 360;
/// Minutes from a split call to its children taking writes.
pub(super) const RESHARD_MINUTES: usize = 1;

/// The stream's load in shards' worth per past minute, by stretch.
pub(super) fn stretches(obs: &Observation) -> Vec<Vec<Option<f64>>> {
    obs.past
        .iter()
        .map(|w| {
            (0..w.minutes())
                .map(|i| {
                    let load = Load {
                        bytes: w.incoming_bytes.get(i)?,
                        records: w.incoming_records.get(i)?,
                        out_bytes: 0.0,
                    };
                    Some(load.write_utilization())
                })
                .collect()
        })
        .collect()
}

/// The throttled share of the history's records, replayed through the
/// model with scale-up threshold `up` (and the scale-down numbers scaled
/// with it).
fn replay(
    stretches: &[Vec<Option<f64>>],
    policy: &StreamPolicy,
    up: f64,
    seen_after: usize,
) -> f64 {
    let scale = up / policy.scale_up.threshold;
    replay_model(
        stretches,
        &Model {
            up,
            down: policy.scale_down.threshold * scale,
            ceiling: policy.scale_down.merged_ceiling * scale,
            sustain: policy.scale_up.sustain_minutes.max(1) as usize,
            quiet: policy.scale_down.window_minutes.max(1) as usize,
            seen_after,
        },
    )
    .throttled_share()
}

/// The planner, as the replay models it: thresholds in shards' worth per
/// shard, minutes hot or quiet in a row, and how late a minute is seen.
#[derive(Clone, Copy, Debug)]
pub(super) struct Model {
    pub up: f64,
    pub down: f64,
    pub ceiling: f64,
    pub sustain: usize,
    pub quiet: usize,
    pub seen_after: usize,
}

/// What a replay of the history came to.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Replayed {
    /// Shards' worth the shards could not take, summed over minutes.
    pub throttled: f64,
    /// Shards' worth offered, summed over minutes.
    pub demand: f64,
    /// Shards open, summed over the minutes with data.
    pub shard_minutes: f64,
    /// Splits and merges made (one per shard split, one per pair merged).
    pub reshards: f64,
    /// The minutes (counted over every stretch in turn) a scale-up began.
    pub scale_ups: Vec<usize>,
}

impl Replayed {
    pub(super) fn throttled_share(&self) -> f64 {
        if self.demand > 0.0 {
            self.throttled / self.demand
        } else {
            0.0
        }
    }
}

/// Replays `stretches` through `model` on a stream whose load is spread
/// evenly over its shards: it splits every shard (deeper where the demand
/// is several times the threshold) once the load it saw `seen_after`
/// minutes ago was at or above `up` for `sustain` minutes, the new shards
/// serving a minute later, and merges every pair once the load was below
/// `down` for `quiet` minutes and would be under `ceiling` merged.
pub(super) fn replay_model(stretches: &[Vec<Option<f64>>], model: &Model) -> Replayed {
    let Model {
        up,
        down,
        ceiling,
        sustain,
        quiet: quiet_needed,
        seen_after,
    } = *model;
    let mut out = Replayed::default();
    let mut offset = 0;
    for loads in stretches {
        // Start each stretch with the fewest shards, a power of two, its
        // first known minute needs.
        let first = loads.iter().flatten().next().copied().unwrap_or(0.0);
        let mut shards = 1.0;
        while first / shards >= up {
            shards *= 2.0;
        }
        let mut pending: Option<(usize, f64)> = None;
        let (mut hot, mut quiet) = (0usize, 0usize);
        for t in 0..loads.len() {
            if let Some((at, n)) = pending
                && t >= at
            {
                shards = n;
                pending = None;
            }
            let Some(load) = loads[t] else { continue };
            out.demand += load;
            out.throttled += (load - shards).max(0.0);
            out.shard_minutes += shards;
            // What the controller sees: the minute `seen_after` ago.
            let Some(seen) = t.checked_sub(seen_after).and_then(|s| loads[s]) else {
                continue;
            };
            if pending.is_some() {
                continue;
            }
            let per_shard = seen / shards;
            hot = if per_shard >= up { hot + 1 } else { 0 };
            quiet = if per_shard < down { quiet + 1 } else { 0 };
            if hot >= sustain {
                // Every shard split, deeper while a piece is over the threshold.
                let mut n = shards * 2.0;
                while seen / n >= up {
                    n *= 2.0;
                }
                pending = Some((t + RESHARD_MINUTES, n));
                out.reshards += n - shards;
                out.scale_ups.push(offset + t);
                hot = 0;
            } else if quiet >= quiet_needed && shards >= 2.0 && seen / (shards / 2.0) < ceiling {
                shards /= 2.0;
                out.reshards += shards;
                quiet = 0;
            }
        }
        offset += loads.len();
    }
    out
}

/// Minutes after a minute starts that the controller sees it: once it
/// has ended and CloudWatch has published it (`lag_seconds`, the lag as
/// measured, at least the policy's delay).
pub(super) fn seen_after(policy: &StreamPolicy, lag_seconds: i64) -> usize {
    let lag = (lag_seconds.max(0) as u64).max(policy.metrics_delay.as_secs());
    1 + lag.div_ceil(60) as usize
}

/// The threshold `objective` derives for the stream, or, with too little
/// history, the policy's own with the reason.
///
/// `lag_seconds` is how far the newest minute with data ended before the
/// observation (CloudWatch's delay as measured; at least the policy's).
pub(super) fn derive(
    obs: &Observation,
    policy: &StreamPolicy,
    objective: &Objective,
    lag_seconds: i64,
) -> Headroom {
    let stretches = stretches(obs);
    let history_minutes = stretches
        .iter()
        .map(|s| s.iter().flatten().count() as u32)
        .sum::<u32>();
    // A minute is seen once it has ended and CloudWatch has published it.
    let seen_after = seen_after(policy, lag_seconds);
    let reaction_minutes = (seen_after + RESHARD_MINUTES) as u32 + policy.scale_up.sustain_minutes;
    let mut headroom = Headroom {
        max_throttled: objective.max_throttled,
        policy_threshold: policy.scale_up.threshold,
        threshold: policy.scale_up.threshold,
        history_minutes,
        reaction_minutes,
        expected_throttled: None,
    };
    if history_minutes < MIN_HISTORY_MINUTES {
        return headroom;
    }
    // The highest threshold within the objective (the throttled share
    // grows with the threshold: a binary search); the lowest if none is.
    let steps = ((HIGHEST - LOWEST) * 100.0).round() as u32;
    let at = |k: u32| LOWEST + f64::from(k) / 100.0;
    let mut chosen = None;
    let (mut lo, mut hi) = (0u32, steps + 1); // k < lo: within; k >= hi: not
    while lo < hi {
        let k = (lo + hi) / 2;
        let share = replay(&stretches, policy, at(k), seen_after);
        if share <= objective.max_throttled {
            chosen = Some((at(k), share));
            lo = k + 1;
        } else {
            hi = k;
        }
    }
    let (threshold, share) =
        chosen.unwrap_or_else(|| (LOWEST, replay(&stretches, policy, LOWEST, seen_after)));
    headroom.threshold = threshold;
    headroom.expected_throttled = Some(share);
    headroom
}

impl Headroom {
    /// `policy` with the derived threshold, and the scale-down numbers
    /// moved in the same proportion.
    pub(super) fn applied_to(&self, policy: &StreamPolicy) -> StreamPolicy {
        let mut p = policy.clone();
        let scale = self.threshold / policy.scale_up.threshold;
        p.scale_up.threshold = self.threshold;
        p.scale_down.threshold *= scale;
        p.scale_down.merged_ceiling *= scale;
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::StreamBuilder;
    use chrono::TimeDelta;

    /// Four shards at 0.75 each, and a day of history: 3 shards' worth,
    /// with `burst` shards' worth for 30 minutes in every three hours.
    fn with_history(burst: f64, minutes: usize) -> Observation {
        let day: Vec<f64> = (0..minutes)
            .map(|i| {
                if (90..120).contains(&(i % 180)) {
                    burst
                } else {
                    3.0
                }
            })
            .collect();
        let base = StreamBuilder::new("s", 4).all(0.75).stream_totals().build();
        let from = base.metrics.start - TimeDelta::minutes(minutes as i64);
        StreamBuilder::new("s", 4)
            .all(0.75)
            .stream_totals()
            .past(from, &day)
            .build()
    }

    fn policy() -> StreamPolicy {
        let mut p = crate::testkit::policy();
        p.scale_up.threshold = 0.9;
        p.scale_up.sustain_minutes = 2;
        p.scale_down.threshold = 0.45;
        p.scale_down.merged_ceiling = 0.8;
        p.scale_down.window_minutes = 50;
        p
    }

    #[test]
    fn a_steady_stream_runs_at_the_highest_threshold() {
        let h = derive(
            &with_history(3.0, 1440),
            &policy(),
            &Objective::default(),
            120,
        );
        assert!(h.derived());
        assert_eq!(h.threshold, HIGHEST);
        assert_eq!(h.expected_throttled, Some(0.0));
        // Reaction: the minute ends, 2 minutes of delay, sustain 2, the reshard.
        assert_eq!(h.reaction_minutes, 6);
    }

    #[test]
    fn bursts_lower_the_threshold_until_the_replay_is_within_the_objective() {
        let obs = with_history(4.8, 1440);
        let p = policy();
        let h = derive(&obs, &p, &Objective::default(), 120);
        assert!(h.derived());
        // At the policy's 0.9 the bursts throttle beyond 0.1% ...
        let s = stretches(&obs);
        assert!(replay(&s, &p, 0.9, 3) > 0.001, "{}", replay(&s, &p, 0.9, 3));
        // ... at the derived threshold they do not, and 0.01 higher they do.
        assert!(h.threshold < 0.9, "{h:?}");
        assert!(h.expected_throttled.unwrap() <= 0.001);
        assert!(replay(&s, &p, h.threshold + 0.01, 3) > 0.001);
        // The scale-down numbers move in proportion.
        let applied = h.applied_to(&p);
        let scale = h.threshold / 0.9;
        assert!((applied.scale_down.merged_ceiling - 0.8 * scale).abs() < 1e-12);
        assert!((applied.scale_down.threshold - 0.45 * scale).abs() < 1e-12);
        assert_eq!(
            h.describe(),
            "objective 0.100% throttled: threshold 0.84 (policy 0.9), from 1440 minutes of history and a 6-minute reaction time; expected 0.084%"
        );
        // A looser objective allows a higher threshold.
        let loose = Objective {
            max_throttled: 0.01,
            ..Objective::default()
        };
        assert!(derive(&obs, &p, &loose, 120).threshold > h.threshold);
    }

    #[test]
    fn too_little_history_keeps_the_policys_threshold_and_says_so() {
        let h = derive(
            &with_history(4.8, 300),
            &policy(),
            &Objective::default(),
            120,
        );
        assert!(!h.derived());
        assert_eq!(h.threshold, 0.9);
        assert_eq!(
            h.describe(),
            "objective 0.100% throttled: only 300 minutes of history (at least 360 needed); planned with the policy's threshold 0.9"
        );
    }
}
