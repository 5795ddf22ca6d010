//! The economic scale-down: how long a pair must be cold before it
//! merges, chosen from the stream's own last days.
//!
//! A fixed quiet window gives back a lone spike's shards late (they are
//! paid for the whole window after it), and gives back a recurring
//! burst's shards just before the next burst needs them (a merge and a
//! split, each a reshard its consumers hand over for, and the throttling
//! while the split is pending). Which of the two a stream suffers from is
//! in its history. Each quiet time from `min_window` to the policy's
//! `scale_down.window` is replayed over the stream-level history (the
//! model `objective` uses: [`super::headroom::replay_model`]), and
//! priced: shard-hours at the shard's list price, reshards at the
//! policy's `reshard_cost`. The cheapest wins among those that throttle
//! no more (within 5%) than the policy's window itself, so a shorter
//! quiet time never buys its savings with throttling; ties go to the
//! longer one.

use super::QuietTime;
use super::headroom::{MIN_HISTORY_MINUTES, Model, Replayed, replay_model, seen_after, stretches};
use super::plan::QuietOutcome;
use crate::model::SHARD_HOUR_USD;
use crate::observe::Observation;
use crate::policy::{Economic, StreamPolicy};

/// The quiet times tried, in minutes, besides `min_window` and the
/// policy's window (those within the two).
const CANDIDATES: [u32; 13] = [10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 720, 1440];

/// How much more than the policy's window a quiet time may throttle
/// (relative), and at least (absolute, as a share of the records): the
/// replay's noise, not a trade.
const THROTTLE_SLACK: f64 = 0.05;
const THROTTLE_FLOOR: f64 = 1e-6;

/// The quiet time `economic` chooses for the stream, or, with too little
/// history, the policy's window with the reason. `policy` is the one
/// planned with (a derived threshold applied).
pub(super) fn derive(
    obs: &Observation,
    policy: &StreamPolicy,
    economic: &Economic,
    lag_seconds: i64,
) -> QuietTime {
    let stretches = stretches(obs);
    let history_minutes = stretches
        .iter()
        .map(|s| s.iter().flatten().count() as u32)
        .sum::<u32>();
    let down = &policy.scale_down;
    let mut quiet = QuietTime {
        reshard_cost: economic.reshard_cost,
        policy_window_minutes: down.window_minutes,
        window_minutes: down.window_minutes,
        history_minutes,
        chosen: None,
        at_policy: None,
        shortest: None,
        bursts: 0,
        burst_every_minutes: None,
    };
    if history_minutes < MIN_HISTORY_MINUTES {
        return quiet;
    }
    let days = f64::from(history_minutes) / 1440.0;
    let model = |minutes: u32| Model {
        up: policy.scale_up.threshold,
        down: down.threshold,
        ceiling: down.merged_ceiling,
        sustain: policy.scale_up.sustain_minutes.max(1) as usize,
        quiet: minutes.max(1) as usize,
        seen_after: seen_after(policy, lag_seconds),
    };
    let outcome = |minutes: u32, r: &Replayed| {
        let shard_hours_per_day = r.shard_minutes / 60.0 / days;
        let reshards_per_day = r.reshards / days;
        QuietOutcome {
            window_minutes: minutes,
            shard_hours_per_day,
            reshards_per_day,
            throttled_share: r.throttled_share(),
            usd_per_day: shard_hours_per_day * SHARD_HOUR_USD
                + reshards_per_day * economic.reshard_cost,
        }
    };
    let windows = candidate_windows(
        economic.min_window_minutes.min(down.window_minutes),
        down.window_minutes,
    );
    let replays: Vec<(u32, Replayed)> = windows
        .iter()
        .map(|&m| (m, replay_model(&stretches, &model(m))))
        .collect();
    let outcomes: Vec<QuietOutcome> = replays.iter().map(|(m, r)| outcome(*m, r)).collect();
    let at_policy = outcomes
        .last()
        .cloned()
        .expect("the policy's window is a candidate");
    let chosen = cheapest(&outcomes, &at_policy);
    // The bursts, as the shortest quiet time meets them: it gives back
    // what each took, so each next one is a scale-up.
    let (_, shortest_replay) = &replays[0];
    quiet.bursts = shortest_replay.scale_ups.len() as u32;
    quiet.burst_every_minutes = median_gap(&shortest_replay.scale_ups);
    quiet.window_minutes = chosen.window_minutes;
    quiet.shortest = outcomes.first().cloned();
    quiet.chosen = Some(chosen);
    quiet.at_policy = Some(at_policy);
    quiet
}

/// The quiet times tried, shortest first: the candidates between
/// `shortest` and the policy's `window`, both included.
fn candidate_windows(shortest: u32, window: u32) -> Vec<u32> {
    let mut windows: Vec<u32> = CANDIDATES
        .into_iter()
        .chain([shortest, window])
        .filter(|m| (shortest..=window).contains(m))
        .collect();
    windows.sort_unstable();
    windows.dedup();
    windows
}

/// The cheapest outcome that throttles no more than the policy's window
/// (`at_policy`, within the replay's noise); the longest of equals (a scan
/// from the longest, replaced only by a strictly cheaper one).
fn cheapest(outcomes: &[QuietOutcome], at_policy: &QuietOutcome) -> QuietOutcome {
    let allowed = at_policy.throttled_share * (1.0 + THROTTLE_SLACK) + THROTTLE_FLOOR;
    outcomes
        .iter()
        .rev()
        .filter(|o| o.throttled_share <= allowed)
        .fold(None::<&QuietOutcome>, |best, o| match best {
            Some(b) if b.usd_per_day <= o.usd_per_day => Some(b),
            _ => Some(o),
        })
        .cloned()
        .unwrap_or_else(|| at_policy.clone())
}

/// The median of the gaps between successive minutes, if there are two.
fn median_gap(minutes: &[usize]) -> Option<u32> {
    let mut gaps: Vec<usize> = minutes.windows(2).map(|w| w[1] - w[0]).collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    Some(gaps[gaps.len() / 2] as u32)
}

impl QuietTime {
    /// `policy` with the chosen quiet time as its scale-down window.
    pub(super) fn applied_to(&self, policy: &StreamPolicy) -> StreamPolicy {
        let mut p = policy.clone();
        p.scale_down.window_minutes = self.window_minutes;
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::StreamBuilder;
    use chrono::TimeDelta;

    /// Two shards at 0.3 each, and three days of history at 0.6 shards'
    /// worth with a burst to 1.2 for `length` minutes at each of `at`
    /// (minutes into the history).
    fn with_bursts(at: &[usize], length: usize) -> Observation {
        let minutes = 3 * 1440;
        let history: Vec<f64> = (0..minutes)
            .map(|i| {
                if at.iter().any(|&a| (a..a + length).contains(&i)) {
                    1.2
                } else {
                    0.6
                }
            })
            .collect();
        let base = StreamBuilder::new("s", 2).all(0.3).stream_totals().build();
        let from = base.metrics.start - TimeDelta::minutes(minutes as i64);
        StreamBuilder::new("s", 2)
            .all(0.3)
            .stream_totals()
            .past(from, &history)
            .build()
    }

    fn policy() -> StreamPolicy {
        let mut p = crate::testkit::policy();
        p.scale_up.threshold = 0.8;
        p.scale_up.sustain_minutes = 3;
        p.scale_down.threshold = 0.45;
        p.scale_down.merged_ceiling = 0.7;
        p.scale_down.window_minutes = 180;
        p.scale_down.economic = Some(Economic {
            min_window_minutes: 15,
            ..Economic::default()
        });
        p
    }

    fn derived(obs: &Observation) -> QuietTime {
        let p = policy();
        derive(obs, &p, p.scale_down.economic.as_ref().unwrap(), 120)
    }

    #[test]
    fn a_lone_spike_is_given_back_after_the_shortest_quiet_time() {
        let q = derived(&with_bursts(&[2000], 30));
        assert_eq!(q.window_minutes, 15);
        assert_eq!(q.bursts, 1);
        assert_eq!(q.burst_every_minutes, None);
        let (chosen, at_policy) = (q.chosen.clone().unwrap(), q.at_policy.clone().unwrap());
        // The same reshards either way (a split to two shards, and a
        // merge back to one); 165 fewer minutes of the second shard, over
        // three days.
        assert_eq!(chosen.reshards_per_day, at_policy.reshards_per_day);
        let saved = (at_policy.shard_hours_per_day - chosen.shard_hours_per_day) * 3.0;
        assert!((saved - 165.0 / 60.0).abs() < 1e-9, "{saved}");
        assert_eq!(chosen.throttled_share, at_policy.throttled_share);
        assert_eq!(
            q.describe(),
            "scale-down after 15m quiet (scale_down.economic; the policy's window 180m), from 4320 minutes of history: 1 burst in them; at 15m $0.40 a day (24.2 shard-hours, 0.7 reshards at $0.05) against $0.41 at 180m; throttled 0.046% (0.046% at 180m)"
        );
    }

    #[test]
    fn bursts_that_recur_within_the_window_are_held() {
        // A burst every 2 hours: merging after 15 or 60 quiet minutes
        // merges before each next burst, and splits again for it.
        let at: Vec<usize> = (0..36).map(|k| 60 + k * 120).collect();
        let q = derived(&with_bursts(&at, 20));
        assert_eq!(q.window_minutes, 180);
        assert_eq!(q.bursts, 36);
        assert_eq!(q.burst_every_minutes, Some(120));
        let shortest = q.shortest.clone().unwrap();
        assert_eq!(shortest.window_minutes, 15);
        assert!(shortest.reshards_per_day > 20.0, "{shortest:?}");
        assert!(shortest.throttled_share > q.chosen.clone().unwrap().throttled_share);
        assert_eq!(
            q.describe(),
            "scale-down after 180m quiet (scale_down.economic; the policy's window 180m), from 4320 minutes of history: 36 bursts in them (as a 15m quiet time meets them), one every 2h on median; at 180m $0.73 a day (47.6 shard-hours, 0.3 reshards at $0.05) against $0.73 at 180m and $1.66 at 15m (24.0 reshards, 1.429% throttled); throttled 0.040% (0.040% at 180m)"
        );
    }

    #[test]
    fn too_little_history_keeps_the_policys_window_and_says_so() {
        let base = StreamBuilder::new("s", 2).all(0.3).stream_totals().build();
        let from = base.metrics.start - TimeDelta::minutes(300);
        let obs = StreamBuilder::new("s", 2)
            .all(0.3)
            .stream_totals()
            .past(from, &[0.6; 300])
            .build();
        let q = derived(&obs);
        assert_eq!(q.window_minutes, 180);
        assert_eq!(q.chosen, None);
        assert_eq!(
            q.describe(),
            "scale-down after 180m quiet (the policy's window): scale_down.economic has only 300 minutes of history (at least 360 needed)"
        );
    }
}
