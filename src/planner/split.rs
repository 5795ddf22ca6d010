//! Splitting: hot shards at their midpoints, hottest first, deeper where
//! the demand is several times the threshold, and up to `min_shards`.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use chrono::TimeDelta;

use super::explain::{describe_forecast, describe_heat, describe_lag_split};
use super::remedy::Remedies;
use super::{Action, ActionKind, Planner, Split, SplitPointUsed, Trigger, Verdict, cooldown_until};
use crate::model::{HashKey, HashKeyRange};
use crate::observe::{SplitPoint, escape_key};
use crate::policy::SplitAt;

/// A split is lopsided when one child peaks below this fraction of the
/// other: the parent's load sat on a few keys on one side.
const LOPSIDED_SPLIT: f64 = 0.25;

/// A range that may be split: an open shard, or a child planned earlier.
#[derive(Clone, Debug)]
pub(super) struct Piece {
    /// Estimated share of demand over the threshold; split while >= 1.
    pub(super) pressure: f64,
    pub(super) range: HashKeyRange,
    /// Index of the open shard it comes from.
    pub(super) origin: usize,
    /// Whether it is that open shard itself rather than a planned child.
    pub(super) is_open_shard: bool,
    /// What made its open shard split.
    pub(super) trigger: Trigger,
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

impl Planner<'_> {
    /// Splits `piece` at its midpoint, returning its children, or `None`
    /// when the range is too small.
    pub(super) fn split(&mut self, piece: &Piece, trigger: Trigger) -> Option<[Piece; 2]> {
        let (mid, split_point, lower) = self.split_key(piece)?;
        let (low, high) = piece.range.split_at(mid).ok()?;
        let origin = self.open[piece.origin];
        let reason = self.split_reason(piece, trigger, split_point.as_ref());
        // The children share the pressure as the sample shares the load
        // (half each without one); a hot key's split is not taken further
        // in this plan.
        let pressure = if trigger == Trigger::HotKey {
            0.0
        } else {
            piece.pressure
        };
        self.actions.push(Action::Split(Split {
            shard_id: piece.is_open_shard.then(|| origin.id.clone()),
            starting_hash_key: piece.range.start(),
            ending_hash_key: piece.range.end(),
            new_starting_hash_key: mid,
            trigger,
            reason,
            split_point,
        }));
        self.splits_used += 1;
        self.open_after += 1;
        self.splits[piece.origin] += 1;
        // A split overrides whatever held the shard back earlier (a
        // cooldown does not stop a split that brings the stream to min_shards).
        if !matches!(self.decided[piece.origin], Some(Verdict::Split { .. })) {
            self.decided[piece.origin] = Some(Verdict::Split { trigger, splits: 0 });
        }
        let child = |range, share: f64| Piece {
            pressure: pressure * share,
            range,
            origin: piece.origin,
            is_open_shard: false,
            trigger: match trigger {
                Trigger::HotKey => Trigger::Utilization,
                t => t,
            },
        };
        Some([child(low, lower), child(high, 1.0 - lower)])
    }

    /// Why `piece` is split by `trigger`, and where (`split_point`).
    fn split_reason(
        &self,
        piece: &Piece,
        trigger: Trigger,
        split_point: Option<&SplitPointUsed>,
    ) -> String {
        let origin = self.open[piece.origin];
        let reason = match (trigger, piece.is_open_shard) {
            (Trigger::MinShards, _) => format!(
                "below min_shards {}: splitting the widest shard",
                self.policy.min_shards
            ),
            (Trigger::Forecast, true) => describe_forecast(&self.pre_split_facts(piece.origin)),
            (Trigger::ConsumerLag, _) => describe_lag_split(&self.facts(piece.origin), self.policy),
            (Trigger::HotKey, _) => match self.hot_key(piece.origin) {
                Some(Verdict::HotKey {
                    key,
                    share,
                    shards_worth,
                    remedies,
                    ..
                }) => format!(
                    "hot key {key} carries {:.0}% of this shard's sampled load, {shards_worth:.2} shards' worth on its own: no split spreads one key; this split sets it apart from the other keys of the shard ({:.0}% of the load), which are throttled with it. For the key itself, {}",
                    share * 100.0,
                    (1.0 - share) * 100.0,
                    super::remedy::advice(remedies.as_ref())
                ),
                _ => "a hot key shares this shard with other keys: setting it apart".into(),
            },
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
        match split_point {
            None => reason,
            Some(SplitPointUsed::Traffic {
                records,
                lower_share,
            }) => format!(
                "{reason}; split at the traffic-weighted median of {records} sampled records, between keys: the lower child carries {:.0}% of the sampled load",
                lower_share * 100.0
            ),
            Some(SplitPointUsed::MidpointSampleTooSmall { records, needed }) => format!(
                "{reason}; split at the midpoint: the sample holds {records} records in this range, fewer than the {needed} needed to place the split"
            ),
            Some(SplitPointUsed::MidpointNoSample) => {
                format!("{reason}; split at the midpoint: no sample of this shard this pass")
            }
            Some(SplitPointUsed::MidpointOneKey { records }) => format!(
                "{reason}; split at the midpoint: the {records} records sampled in this range are all on one hash key"
            ),
            Some(SplitPointUsed::MidpointExplicitHashKeys { outside, records }) => format!(
                "{reason}; split at the midpoint: {outside} of the {} sampled records hash outside this shard (producers set ExplicitHashKey), so partition keys do not say where its load lies",
                outside + records
            ),
        }
    }

    /// Where to split `piece`: its midpoint, or, with `split_at: traffic`,
    /// between the sampled keys that halve its load (the midpoint, and why,
    /// when the sample cannot place it); and the share of the sampled load
    /// below the key (half, without a sample). A hot key's split sets the
    /// key apart. `None` when the range is too small.
    fn split_key(&self, piece: &Piece) -> Option<(HashKey, Option<SplitPointUsed>, f64)> {
        if piece.trigger == Trigger::HotKey {
            return self.isolating_key(piece.origin).map(|key| (key, None, 0.5));
        }
        let mid = piece.range.midpoint()?;
        if self.policy.scale_up.split_at != SplitAt::Traffic || piece.trigger == Trigger::MinShards
        {
            return Some((mid, None, 0.5));
        }
        let Some(sample) = self.samples[piece.origin] else {
            return Some((mid, Some(SplitPointUsed::MidpointNoSample), 0.5));
        };
        if !sample.placed_by_keys() {
            let (outside, records) = (sample.outside, sample.records);
            let used = SplitPointUsed::MidpointExplicitHashKeys { outside, records };
            return Some((mid, Some(used), 0.5));
        }
        let part = sample.within(piece.range);
        let below = |key| {
            if part.records > 0 {
                part.share_below(key)
            } else {
                0.5
            }
        };
        let needed = self.policy.scale_up.sample.min_records;
        Some(match part.split_point(needed) {
            SplitPoint::Traffic { key, lower_share } => {
                let records = part.records;
                let used = SplitPointUsed::Traffic {
                    records,
                    lower_share,
                };
                (key, Some(used), lower_share)
            }
            SplitPoint::TooSmall { records, needed } => {
                let used = SplitPointUsed::MidpointSampleTooSmall { records, needed };
                (mid, Some(used), below(mid))
            }
            // One key in a deeper part: the midpoint at least splits the
            // range the estimate says is over the threshold.
            SplitPoint::OneKey => {
                let used = SplitPointUsed::MidpointOneKey {
                    records: part.records,
                };
                (mid, Some(used), below(mid))
            }
        })
    }

    /// Where to split open shard `i` to set its hot key apart from the
    /// other sampled keys: at the key's edge with more of their load on the
    /// far side (the key's hash starts the upper child, or ends, with the
    /// next hash key, the lower one). `None` when the others carry under 5%
    /// of the sample (the key is apart already) or the range is too narrow.
    fn isolating_key(&self, i: usize) -> Option<HashKey> {
        let sample = self.samples[i]?;
        let key = sample.keys.first()?;
        let h = key.hash_key;
        let (mut below, mut above) = (0.0, 0.0);
        for k in sample.keys.iter().filter(|k| k.hash_key != h) {
            if k.hash_key < h {
                below += sample.share(k);
            } else {
                above += sample.share(k);
            }
        }
        if below + above < 0.05 {
            return None;
        }
        let range = self.open[i].range;
        let at_key = (range.check_split_key(h).is_ok() && below > 0.0).then_some(h);
        let after_key =
            h.0.checked_add(2)
                .map(HashKey)
                .filter(|&k| range.check_split_key(k).is_ok() && above > 0.0);
        if below >= above {
            at_key.or(after_key)
        } else {
            after_key.or(at_key)
        }
    }

    /// The hot key of open shard `i`, when its sample shows one no split
    /// can spread: a shard's worth on its own, or over `hot_key_share` of
    /// the load, or all of it on one hash key.
    fn hot_key(&self, i: usize) -> Option<Verdict> {
        let sample = self.samples[i]?;
        let needed = self.policy.scale_up.sample.min_records;
        // Too few records, or keys that do not place the load, name no key.
        if sample.records < needed.max(1) || !sample.placed_by_keys() {
            return None;
        }
        let one_key = sample.split_point(needed) == SplitPoint::OneKey;
        let key = match sample.dominant(self.policy.scale_up.hot_key_share) {
            Some(key) => key,
            None if one_key => sample.keys.first()?,
            None => return None,
        };
        let shards_worth = sample.shards_worth(key);
        Some(Verdict::HotKey {
            key: escape_key(&key.key),
            hash_key: key.hash_key,
            share: sample.share(key),
            shards_worth,
            remedies: Remedies::over_a_shard(&key.key, shards_worth, &self.open),
        })
    }

    /// Whether the recent split that made hot shard `i` left its sibling
    /// (the parent's other half, still open) with almost none of the load:
    /// then a few partition keys dominate this range, another split cannot
    /// spread them, and splitting again and again toward them (flapping
    /// with the merges of the cold halves) is the worst thing to do. Demand
    /// of two shards or more is split anyway.
    pub(super) fn dominated_by_few_keys(&self, i: usize) -> Option<Verdict> {
        let shard = self.open[i];
        let parent = shard.split_parent()?;
        // A split's two halves are contiguous, so the sibling, if still
        // open, is a neighbour in hash-key order.
        let is_sibling = |j: usize| self.open[j].split_parent() == Some(parent);
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

    /// The pressure of open shard `i` if its forecast crosses the scale-up
    /// threshold within the lead: it is split now, ahead of the rise.
    fn pre_split(&self, i: usize) -> Option<f64> {
        let forecast = self.foresight.as_ref()?.of(&[i], true);
        let threshold = self.policy.scale_up.threshold;
        (forecast.peak >= threshold).then(|| forecast.peak / threshold)
    }

    pub(super) fn split_hot_shards(&mut self) {
        let mut queue = self.hot_pieces();
        while let Some(piece) = queue.pop() {
            if !piece.is_open_shard && piece.pressure < 1.0 {
                self.child_leaves.push(piece);
                continue;
            }
            if let Some(verdict) = self.split_held() {
                if piece.is_open_shard {
                    self.decide(piece.origin, verdict);
                } else {
                    self.child_leaves.push(piece);
                }
                continue;
            }
            match self.split(&piece, piece.trigger) {
                Some(children) => queue.extend(children),
                None if piece.is_open_shard => self.decide(piece.origin, Verdict::RangeTooSmall),
                None => self.child_leaves.push(piece),
            }
        }
    }

    /// The open shards to split, hottest first, each with what makes it
    /// hot; those held (a cooldown, a hot key no split spreads) are decided
    /// here.
    fn hot_pieces(&mut self) -> BinaryHeap<Piece> {
        let up = &self.policy.scale_up;
        let cooling_until = cooldown_until(self.history_up, up.cooldown, self.now);
        let mut queue = BinaryHeap::new();
        for i in 0..self.open.len() {
            let (pressure, trigger) = match (self.stats[i].hot, self.pre_split(i)) {
                (Some(trigger), _) => (self.stats[i].pressure, trigger),
                (None, Some(pressure)) => (pressure, Trigger::Forecast),
                (None, None) => match self.lag_splits[i] {
                    Some(pressure) => (pressure, Trigger::ConsumerLag),
                    None => continue,
                },
            };
            if let Some(until) = cooling_until {
                let action = ActionKind::Split;
                self.decide(i, Verdict::CoolingDown { action, until });
                continue;
            }
            // A sample of the shard's records says whether one key makes
            // it hot; without one, a lopsided earlier split suggests it.
            let few_keys = match self.samples[i] {
                Some(_) => self.hot_key(i),
                None => self.dominated_by_few_keys(i),
            };
            if let Some(verdict) = few_keys {
                // A hot key no split spreads is set apart from the other
                // keys of its shard, once, so they stop being throttled
                // with it; then the shard is left alone.
                if self.isolating_key(i).is_some() {
                    queue.push(Piece {
                        pressure,
                        range: self.open[i].range,
                        origin: i,
                        is_open_shard: true,
                        trigger: Trigger::HotKey,
                    });
                } else {
                    self.decide(i, verdict);
                }
                continue;
            }
            queue.push(Piece {
                pressure,
                range: self.open[i].range,
                origin: i,
                is_open_shard: true,
                trigger,
            });
        }
        queue
    }

    /// What holds back the next split, if anything: the day's cap, the
    /// run's max_splits_per_run, max_shards, the account's shard quota.
    fn split_held(&self) -> Option<Verdict> {
        let (budget, max_shards) = (
            self.policy.scale_up.max_splits_per_run,
            self.policy.max_shards,
        );
        if self.day_left.is_some_and(|left| self.splits_used >= left) {
            Some(Verdict::DailyCap {
                cap: self.policy.max_reshards_per_day,
            })
        } else if self.splits_used >= budget {
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
        }
    }

    /// Below `min_shards`, splits the widest shards (planned children
    /// included) until the stream reaches it, cooldowns notwithstanding.
    pub(super) fn split_up_to_min_shards(&mut self) {
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
                    trigger: Trigger::MinShards,
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
}
