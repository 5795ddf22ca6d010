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
use super::measure::{PER_WRITE_BYTES_MINUTE, PER_WRITE_RECORDS_MINUTE, larger};
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
const RESHARD_MINUTES: usize = 1;

/// The stream's load in shards' worth per past minute, by stretch.
fn stretches(obs: &Observation) -> Vec<Vec<Option<f64>>> {
    obs.past
        .iter()
        .map(|w| {
            (0..w.minutes())
                .map(|i| {
                    let b = w.incoming_bytes.get(i)?;
                    let r = w.incoming_records.get(i)?;
                    Some(larger(
                        b * PER_WRITE_BYTES_MINUTE,
                        r * PER_WRITE_RECORDS_MINUTE,
                    ))
                })
                .collect()
        })
        .collect()
}

/// The throttled share of the history's records, replayed through the
/// model with scale-up threshold `up` (and the scale-down numbers scaled
/// with it).
fn replay(stretches: &[Vec<Option<f64>>], policy: &StreamPolicy, up: f64) -> f64 {
    let scale = up / policy.scale_up.threshold;
    let down = policy.scale_down.threshold * scale;
    let ceiling = policy.scale_down.merged_ceiling * scale;
    let delay = policy.metrics_delay.as_secs().div_ceil(60) as usize;
    let sustain = policy.scale_up.sustain_minutes.max(1) as usize;
    let quiet_needed = policy.scale_down.window_minutes.max(1) as usize;
    let (mut throttled, mut demand) = (0.0, 0.0);
    for loads in stretches {
        // Start each stretch sized for its first known minute.
        let first = loads.iter().flatten().next().copied().unwrap_or(0.0);
        let mut shards = (first / up).ceil().max(1.0);
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
            demand += load;
            throttled += (load - shards).max(0.0);
            // What the controller sees: the minute `delay` ago.
            let Some(seen) = t.checked_sub(delay).and_then(|s| loads[s]) else {
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
                hot = 0;
            } else if quiet >= quiet_needed && shards >= 2.0 && seen / (shards / 2.0) < ceiling {
                shards /= 2.0;
                quiet = 0;
            }
        }
    }
    if demand > 0.0 {
        throttled / demand
    } else {
        0.0
    }
}

/// The threshold `objective` derives for the stream, or, with too little
/// history, the policy's own with the reason.
pub(super) fn derive(obs: &Observation, policy: &StreamPolicy, objective: &Objective) -> Headroom {
    let stretches = stretches(obs);
    let history_minutes = stretches
        .iter()
        .map(|s| s.iter().flatten().count() as u32)
        .sum::<u32>();
    let reaction_minutes = policy.metrics_delay.as_secs().div_ceil(60) as u32
        + policy.scale_up.sustain_minutes
        + RESHARD_MINUTES as u32;
    let mut headroom = Headroom {
        max_throttled: objective.max_throttled,
        policy_threshold: policy.scale_up.threshold,
        threshold: policy.scale_up.threshold,
        derived: false,
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
    let mut chosen = (LOWEST, replay(&stretches, policy, LOWEST));
    let (mut lo, mut hi) = (0u32, steps + 1); // k < lo: within; k >= hi: not
    while lo < hi {
        let k = (lo + hi) / 2;
        let share = replay(&stretches, policy, at(k));
        if share <= objective.max_throttled {
            chosen = (at(k), share);
            lo = k + 1;
        } else {
            hi = k;
        }
    }
    headroom.threshold = chosen.0;
    headroom.expected_throttled = Some(chosen.1);
    headroom.derived = true;
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
