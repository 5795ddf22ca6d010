//! Explaining: a verdict, with the numbers behind it, for every open
//! shard, including each one left alone.

use super::{ActionKind, Planner, ShardVerdict, Verdict};

impl Planner<'_> {
    pub(super) fn verdict(&self, i: usize, verdict: Verdict) -> ShardVerdict {
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
    pub(super) fn verdicts(&mut self) -> Vec<ShardVerdict> {
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
