//! What each remedy for a hot partition key would do on this stream.
//!
//! One partition key writing more than a shard's worth throttles whatever
//! the controller does: every record of a key hashes to one hash key, so
//! to one shard. The controller never changes a stream's keys, capacity
//! mode or record distribution itself; it says, with numbers an operator
//! can check, what each remedy would do:
//!
//! - **nothing**: the shard takes one shard's worth of the key, the rest
//!   throttles (before the shard's other keys, which throttle with it);
//! - **salting** the key into N suffixes (`key#0` .. `key#N-1`) on this
//!   provisioned stream: each suffix hashes (MD5) to its own hash key, so
//!   the suffixes land on the open shards computed here, each carrying a
//!   share of the key; readers lose the key's order across suffixes;
//! - **On-Demand with AUTO record distribution**: records spread evenly
//!   over the stream whatever their keys, so no key throttles while the
//!   stream's capacity holds; no per-key order at all, and the capacity
//!   mode may be switched twice per rolling 24 hours.

use std::borrow::Borrow;

use serde::Serialize;

use crate::model::{HashKey, Shard};
use crate::observe::escape_key;

/// What to do about a key under a shard's worth that dominates a shard
/// (the split that sets it apart already helps).
pub const HOT_KEY_FIX: &str = "spread the key (a random suffix on the partition key) or route its records with ExplicitHashKey";

/// The most a suffix of a salted key should carry, in shards' worth: half
/// a shard leaves the other half to the shard's other keys.
pub const SALT_TARGET: f64 = 0.5;
/// The most suffixes considered: readers query every one.
pub const MAX_SALT_SUFFIXES: u32 = 64;

/// What each remedy would do for one hot key.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Remedies {
    /// The key's own write rate, in shards' worth.
    pub shards_worth: f64,
    /// Doing nothing: the share of the key's writes that throttles.
    pub nothing_throttled: f64,
    pub salting: Salting,
    /// On-Demand with AUTO distribution: the share of the key's writes
    /// that throttles (none, while the stream's capacity holds).
    pub auto_throttled: f64,
}

/// Salting the key into `suffixes` suffixes, on the open shards as they are.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Salting {
    pub suffixes: u32,
    /// The first and last salted keys, printable.
    pub first: String,
    pub last: String,
    /// Open shards the suffixes land on.
    pub shards: u32,
    /// The most of the key one shard takes, in shards' worth.
    pub worst_shards_worth: f64,
    /// The share of the key's writes that still throttles (before the
    /// shards' other keys).
    pub throttled: f64,
}

impl Remedies {
    /// The remedies for `key`, when it writes more than a shard's worth
    /// (`shards_worth`) on a stream whose open shards are `open`.
    pub fn over_a_shard<S: Borrow<Shard>>(
        key: &str,
        shards_worth: f64,
        open: &[S],
    ) -> Option<Remedies> {
        (shards_worth > 1.0).then(|| Remedies::for_key(key, shards_worth, open))
    }

    /// The remedies for `key`, writing `shards_worth` shards' worth, on a
    /// stream whose open shards are `open`.
    pub fn for_key<S: Borrow<Shard>>(key: &str, shards_worth: f64, open: &[S]) -> Remedies {
        let nothing_throttled = throttled_share(&[shards_worth], shards_worth);
        let wanted = ((shards_worth / SALT_TARGET).ceil() as u32).clamp(2, MAX_SALT_SUFFIXES);
        // The fewest suffixes, from the number a perfect spread needs,
        // whose landing keeps every shard's part within the target; else
        // the spread of the most suffixes considered.
        let salting = (wanted..=MAX_SALT_SUFFIXES)
            .map(|n| salt(key, n, shards_worth, open))
            .find(|s| s.worst_shards_worth <= SALT_TARGET + 1e-9)
            .unwrap_or_else(|| salt(key, MAX_SALT_SUFFIXES, shards_worth, open));
        Remedies {
            shards_worth,
            nothing_throttled,
            salting,
            auto_throttled: 0.0,
        }
    }

    /// Each remedy in a sentence, for a reason or a report.
    pub fn describe(&self) -> String {
        let s = &self.salting;
        let salted = format!(
            "salting it into {} suffixes ({} .. {}) lands them on {} of the open shards, at most {:.2} shards' worth of the key on one{}, and its order holds only within a suffix",
            s.suffixes,
            s.first,
            s.last,
            s.shards,
            s.worst_shards_worth,
            if s.throttled > 0.0 {
                format!(
                    ", so {:.0}% of its writes still throttle: split the shards it lands on first",
                    s.throttled * 100.0
                )
            } else {
                String::new()
            }
        );
        format!(
            "doing nothing throttles {:.0}% of this key's writes; {salted}; On-Demand with AUTO record distribution spreads its records over the whole stream ({:.0}% throttled while the stream's capacity holds), without any per-key order (capacity mode may be switched twice per rolling 24 hours)",
            self.nothing_throttled * 100.0,
            self.auto_throttled * 100.0
        )
    }
}

/// What to do about a hot key: each remedy with its numbers when it
/// writes over a shard's worth, else how to spread it.
pub fn advice(remedies: Option<&Remedies>) -> String {
    remedies.map_or_else(|| HOT_KEY_FIX.to_owned(), Remedies::describe)
}

/// `key` salted into `n` suffixes, each carrying `shards_worth / n`, on
/// the open shards `open`.
fn salt<S: Borrow<Shard>>(key: &str, n: u32, shards_worth: f64, open: &[S]) -> Salting {
    let each = shards_worth / f64::from(n);
    let mut landed: Vec<(usize, u32)> = Vec::new();
    for i in 0..n {
        let hash = HashKey::of_partition_key(&format!("{key}#{i}"));
        let shard = open.iter().position(|s| s.borrow().range.contains(hash));
        // A layout with a gap (refused elsewhere) counts the suffix alone.
        let at = shard.unwrap_or(usize::MAX - i as usize);
        match landed.iter_mut().find(|(s, _)| *s == at) {
            Some((_, count)) => *count += 1,
            None => landed.push((at, 1)),
        }
    }
    let loads: Vec<f64> = landed.iter().map(|&(_, k)| f64::from(k) * each).collect();
    Salting {
        suffixes: n,
        first: escape_key(&format!("{key}#0")),
        last: escape_key(&format!("{key}#{}", n - 1)),
        shards: landed.len() as u32,
        worst_shards_worth: loads.iter().copied().fold(0.0, f64::max),
        throttled: throttled_share(&loads, shards_worth),
    }
}

/// The share of `total` shards' worth over one shard's worth on each part.
fn throttled_share(parts: &[f64], total: f64) -> f64 {
    if total <= 0.0 {
        return 0.0;
    }
    parts.iter().map(|p| (p - 1.0).max(0.0)).sum::<f64>() / total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HashKeyRange, ShardId, uniform_ranges};

    fn shard(i: usize, range: HashKeyRange) -> Shard {
        Shard {
            id: ShardId::new(format!("shardId-{i:012}")),
            range,
            parent_shard_id: None,
            adjacent_parent_shard_id: None,
            open: true,
        }
    }

    fn shards(n: u32) -> Vec<Shard> {
        uniform_ranges(n)
            .into_iter()
            .enumerate()
            .map(|(i, range)| shard(i, range))
            .collect()
    }

    /// Where each suffix lands, by hand: the shard whose range holds the
    /// MD5 of `key#i`.
    fn landing(key: &str, n: u32, open: &[Shard]) -> Vec<usize> {
        (0..n)
            .map(|i| {
                let h = HashKey::of_partition_key(&format!("{key}#{i}"));
                open.iter().position(|s| s.range.contains(h)).unwrap()
            })
            .collect()
    }

    #[test]
    fn doing_nothing_throttles_all_but_one_shard_s_worth() {
        let r = Remedies::for_key("user-42", 2.5, &shards(8));
        assert!((r.nothing_throttled - 0.6).abs() < 1e-12);
        assert_eq!(r.auto_throttled, 0.0);
        // Under a shard's worth, nothing throttles (before other keys):
        // no remedies are offered.
        assert_eq!(
            Remedies::for_key("user-42", 0.9, &shards(8)).nothing_throttled,
            0.0
        );
        assert_eq!(Remedies::over_a_shard("user-42", 0.9, &shards(8)), None);
    }

    #[test]
    fn salting_counts_where_each_suffix_lands() {
        let open = shards(16);
        let r = Remedies::for_key("user-42", 2.5, &open);
        let s = &r.salting;
        assert!(s.suffixes >= 5, "2.5 shards' worth at 0.5 each: {s:?}");
        let landed = landing("user-42", s.suffixes, &open);
        let mut per_shard = vec![0u32; open.len()];
        for i in &landed {
            per_shard[*i] += 1;
        }
        let worst = *per_shard.iter().max().unwrap();
        assert_eq!(
            s.shards as usize,
            per_shard.iter().filter(|&&k| k > 0).count()
        );
        assert!(
            (s.worst_shards_worth - f64::from(worst) * 2.5 / f64::from(s.suffixes)).abs() < 1e-12
        );
        assert!(s.worst_shards_worth <= SALT_TARGET);
        assert_eq!(s.throttled, 0.0);
        // Fewer suffixes would have put more than half a shard on one.
        if s.suffixes > 5 {
            let fewer = salt("user-42", s.suffixes - 1, 2.5, &open);
            assert!(fewer.worst_shards_worth > SALT_TARGET, "{fewer:?}");
        }
    }

    #[test]
    fn on_one_shard_salting_cannot_spread_the_key() {
        // Every suffix lands on the only shard: it still takes 3 shards'
        // worth, two thirds of which throttle.
        let one = vec![shard(0, HashKeyRange::FULL)];
        let r = Remedies::for_key("k", 3.0, &one);
        assert_eq!(r.salting.suffixes, MAX_SALT_SUFFIXES);
        assert_eq!(r.salting.shards, 1);
        assert!((r.salting.worst_shards_worth - 3.0).abs() < 1e-12);
        assert!((r.salting.throttled - 2.0 / 3.0).abs() < 1e-12);
        let text = r.describe();
        assert!(text.starts_with("doing nothing throttles 67% of this key's writes; salting it into 64 suffixes (\"k#0\" .. \"k#63\") lands them on 1 of the open shards, at most 3.00 shards' worth of the key on one, so 67% of its writes still throttle: split the shards it lands on first"), "{text}");
        assert!(text.ends_with("On-Demand with AUTO record distribution spreads its records over the whole stream (0% throttled while the stream's capacity holds), without any per-key order (capacity mode may be switched twice per rolling 24 hours)"), "{text}");
    }
}
