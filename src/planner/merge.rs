//! Merging: adjacent cold pairs, coolest first, never overlapping, and
//! down to `max_shards`.

use super::measure::{ShardStats, larger};
use super::{
    Action, ActionKind, ConsumerLag, ForecastFact, Merge, Planner, Trigger, Verdict, cooldown_until,
};

impl Planner<'_> {
    /// The lag of the pair at `i` and `i + 1` that holds it, if its
    /// consumers are behind: the further behind of the two.
    fn behind(&self, i: usize) -> Option<ConsumerLag> {
        [self.lags[i], self.lags[i + 1]]
            .into_iter()
            .flatten()
            .filter(ConsumerLag::behind)
            .max_by(|a, b| a.iterator_age_ms.total_cmp(&b.iterator_age_ms))
    }

    /// The estimated minutes of the pair at `i` and `i + 1` (the larger
    /// count) if it is cold only on estimates not yet confirmed by the
    /// newest minutes' own datapoints.
    fn unconfirmed(&self, i: usize) -> Option<u32> {
        let (a, b) = (&self.stats[i], &self.stats[i + 1]);
        let estimated = a.down_estimated.max(b.down_estimated);
        (estimated > 0 && !(a.confirmed && b.confirmed)).then_some(estimated)
    }

    pub(super) fn merge_cold_pairs(&mut self) {
        let gates = self.merge_gates();
        let over_max = self.open_after.saturating_sub(self.policy.max_shards);
        let mut merged = vec![false; self.open.len()];
        let mut held: Vec<(usize, Verdict)> = Vec::new();
        let mut done = 0u32;
        for (i, projected, forecast) in self.merge_candidates(over_max) {
            if merged[i] || merged[i + 1] {
                continue;
            }
            let both_cold = self.stats[i].cold && self.stats[i + 1].cold;
            let for_bounds = done < over_max;
            if !for_bounds && !both_cold {
                continue;
            }
            if let Some(verdict) = self.merge_held(i, forecast, for_bounds, done, &gates) {
                // Said only of shards no later pair merges.
                held.push((i, verdict.clone()));
                held.push((i + 1, verdict));
                continue;
            }
            merged[i] = true;
            merged[i + 1] = true;
            done += 1;
            let trigger = if for_bounds {
                Trigger::MaxShards
            } else {
                Trigger::Cold
            };
            self.merge(i, projected, trigger);
        }
        for (j, verdict) in held {
            if !merged[j] {
                self.decide(j, verdict);
            }
        }
    }

    /// What may hold a merge back this pass, whichever pair it is.
    fn merge_gates(&self) -> MergeGates {
        let down = &self.policy.scale_down;
        // Splits planned in this run count as the last split: merging right
        // after them would break the merge cooldown by a few seconds.
        let last_split = if self.splits_used > 0 {
            Some(self.now)
        } else {
            self.history_up
        };
        let cooling_until =
            cooldown_until(last_split.max(self.history_down), down.cooldown, self.now);
        // Whether only this plan's splits hold merges back: no earlier
        // reshard's cooldown runs now.
        let split_first = cooling_until.is_some()
            && cooldown_until(
                self.history_up.max(self.history_down),
                down.cooldown,
                self.now,
            )
            .is_none();
        MergeGates {
            room: self.open_after.saturating_sub(self.policy.min_shards),
            cooling_until,
            split_first,
            // Until when a split's children are not merged: any split of
            // the stream may be theirs, so the last one counts.
            young_until: cooldown_until(last_split, down.min_lifetime, self.now),
        }
    }

    /// The pairs that may merge (lower index, projected peak, forecast):
    /// both with enough minutes, neither hot nor split in this plan, both
    /// cold (or the stream over max_shards), and their merged peak under
    /// merged_ceiling. Those whose forecast stays lowest first (they stay
    /// merged the longest), then the coolest.
    fn merge_candidates(&self, over_max: u32) -> Vec<(usize, f64, Option<ForecastFact>)> {
        let down = &self.policy.scale_down;
        let window = self.grid.window(down.window_minutes);
        let mut pairs: Vec<(usize, f64, Option<ForecastFact>)> = Vec::new();
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
                let forecast = self.foresight.as_ref().map(|f| f.of(&[i, i + 1], false));
                pairs.push((i, projected, forecast));
            }
        }
        let forecast_peak = |f: &Option<ForecastFact>| f.map_or(0.0, |f| f.peak);
        pairs.sort_by(|x, y| {
            forecast_peak(&x.2)
                .total_cmp(&forecast_peak(&y.2))
                .then(x.1.total_cmp(&y.1))
                .then(x.0.cmp(&y.0))
        });
        pairs
    }

    /// Why the pair at `i` and `i + 1` is not merged, if it is not, after
    /// `done` merges this pass: the most lasting reason first (at
    /// min_shards no cooldown's end would let it merge). A merge to get
    /// under max_shards (`for_bounds`) waits only for min_shards and the
    /// run's budget.
    fn merge_held(
        &self,
        i: usize,
        forecast: Option<ForecastFact>,
        for_bounds: bool,
        done: u32,
        gates: &MergeGates,
    ) -> Option<Verdict> {
        let down = &self.policy.scale_down;
        if done >= gates.room {
            Some(Verdict::AtMinShards {
                min_shards: self.policy.min_shards,
            })
        } else if let (Some(estimated_minutes), false) = (self.unconfirmed(i), for_bounds) {
            Some(Verdict::AwaitingShardMetrics { estimated_minutes })
        } else if let (Some(lag), false) = (self.behind(i), for_bounds) {
            Some(Verdict::ConsumersBehind { lag })
        } else if let (Some(forecast), false) = (forecast, for_bounds)
            && forecast.peak >= down.merged_ceiling
        {
            Some(Verdict::ForecastRise { forecast })
        } else if let (Some(until), false, true) = (
            gates.young_until,
            for_bounds,
            self.open[i].split_parent().is_some() || self.open[i + 1].split_parent().is_some(),
        ) {
            Some(Verdict::YoungSplit { until })
        } else if let (Some(until), false) = (gates.cooling_until, for_bounds) {
            Some(if gates.split_first {
                Verdict::SplitFirst { until }
            } else {
                Verdict::CoolingDown {
                    action: ActionKind::Merge,
                    until,
                }
            })
        } else if let (Some(left), false) = (self.day_left, for_bounds)
            && self.splits_used + done >= left
        {
            Some(Verdict::DailyCap {
                cap: self.policy.max_reshards_per_day,
            })
        } else if done >= down.max_merges_per_run {
            Some(Verdict::BudgetUsedUp {
                action: ActionKind::Merge,
                value: down.max_merges_per_run,
            })
        } else {
            None
        }
    }

    /// Plans the merge of the pair at `i` and `i + 1`, and says so of both.
    fn merge(&mut self, i: usize, projected: f64, trigger: Trigger) {
        self.open_after -= 1;
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

/// What holds back any merge this pass.
struct MergeGates {
    /// Merges left before min_shards.
    room: u32,
    /// The end of the merge cooldown, if it runs.
    cooling_until: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether only this plan's splits hold merges back.
    split_first: bool,
    /// The end of the last split's min_lifetime, if it runs.
    young_until: Option<chrono::DateTime<chrono::Utc>>,
}
