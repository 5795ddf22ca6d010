//! Samples of a shard's records: which partition keys carry its load, where
//! in its hash-key range that load sits, and whether one key is beyond what
//! any split can spread.
//!
//! [`sample_shard`] reads a shard with GetShardIterator and GetRecords at a
//! bounded rate (the per-shard read limits, 5 calls and 2 MiB a second, are
//! shared with the stream's real consumers). It keeps each record's
//! partition key and size, never its payload. [`ShardSample`] is what it
//! returns, with the analysis: top keys, concentration, the traffic-weighted
//! median hash key and the split point between keys.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::ports::{RecordsRead, StartAt};
use crate::model::{
    ApiResult, HashKey, HashKeyRange, Shard, ShardId, StreamId, WRITE_BYTES_PER_SECOND,
    WRITE_RECORDS_PER_SECOND,
};

/// One partition key's part of a sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyLoad {
    /// The partition key as producers sent it (print it with [`escape_key`]).
    pub key: String,
    /// Its MD5 hash key: where Kinesis routes it.
    pub hash_key: HashKey,
    pub records: u64,
    pub bytes: u64,
}

/// Which of a shard's two write limits its load is nearer: the one a split
/// must share out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weight {
    Bytes,
    Records,
}

/// What a shard's sampled records say about its keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardSample {
    pub shard_id: ShardId,
    pub starting_hash_key: HashKey,
    pub ending_hash_key: HashKey,
    /// The seconds of traffic the sample covers (by arrival time, or the
    /// read's length when arrival times are missing); at least 1.
    pub seconds: f64,
    pub records: u64,
    pub bytes: u64,
    /// Every key seen, the heaviest first (by [`ShardSample::weight`]).
    pub keys: Vec<KeyLoad>,
    /// Records whose partition key hashes outside the shard: written with
    /// an ExplicitHashKey. Not in `records`, `bytes` or `keys`.
    #[serde(default)]
    pub outside: u64,
    /// How many GetRecords calls it took.
    pub calls: u32,
}

/// A sampled record: its partition key, size and arrival.
#[derive(Clone, Debug, PartialEq)]
pub struct SampledRecord {
    pub partition_key: String,
    pub bytes: u64,
    pub arrival: Option<DateTime<Utc>>,
    /// Where the record was routed, when known otherwise than by its
    /// partition key's MD5 (the simulator's background traffic).
    pub hash_key: Option<HashKey>,
}

/// Where a sample says to split its shard.
#[derive(Clone, Debug, PartialEq)]
pub enum SplitPoint {
    /// Between two neighbouring sampled keys, so that the lower child takes
    /// `lower_share` of the sampled load (as near half as the keys allow).
    Traffic { key: HashKey, lower_share: f64 },
    /// Fewer records than `needed`: too few to place the split.
    TooSmall { records: u64, needed: u64 },
    /// All the sampled load is on one hash key: no split spreads it.
    OneKey,
}

impl ShardSample {
    /// Builds the sample of `shard` from its `records`. The seconds they
    /// cover are their arrival span (plus one mean gap); `read_for`, the
    /// read's length, counts instead when arrivals are missing. A reader
    /// that caught up with the shard (`caught_up`) saw all the shard took
    /// while it read, so the sample covers at least `read_for` (and more
    /// when it started in the past, as the planner's does). Records whose hash key
    /// lies outside the shard (producers that set ExplicitHashKey) are not
    /// counted as keys, only in `outside`.
    pub fn from_records(
        shard: &Shard,
        records: &[SampledRecord],
        read_for: Duration,
        caught_up: bool,
        calls: u32,
    ) -> ShardSample {
        let mut by_key: FxHashMap<(&str, HashKey), (u64, u64)> = FxHashMap::default();
        let (mut first, mut last) = (None::<DateTime<Utc>>, None::<DateTime<Utc>>);
        let mut outside = 0u64;
        for r in records {
            let hash = r
                .hash_key
                .unwrap_or_else(|| HashKey::of_partition_key(&r.partition_key));
            if !shard.range.contains(hash) {
                outside += 1;
                continue;
            }
            let e = by_key.entry((r.partition_key.as_str(), hash)).or_default();
            e.0 += 1;
            e.1 += r.bytes;
            if let Some(t) = r.arrival {
                first = Some(first.map_or(t, |f| f.min(t)));
                last = Some(last.map_or(t, |l| l.max(t)));
            }
        }
        let inside: u64 = by_key.values().map(|v| v.0).sum();
        let read_for = read_for.as_secs_f64();
        let spanned = match (first, last) {
            (Some(f), Some(l)) if inside > 1 => {
                let span = (l - f).num_milliseconds() as f64 / 1000.0;
                Some(span + span / (inside - 1) as f64)
            }
            _ => None,
        };
        let seconds = match spanned {
            Some(s) if caught_up => s.max(read_for),
            Some(s) => s,
            None => read_for,
        };
        let mut sample = ShardSample {
            shard_id: shard.id.clone(),
            starting_hash_key: shard.range.start(),
            ending_hash_key: shard.range.end(),
            seconds: seconds.max(1.0),
            records: inside,
            bytes: by_key.values().map(|v| v.1).sum(),
            keys: by_key
                .into_iter()
                .map(|((key, hash_key), (records, bytes))| KeyLoad {
                    key: key.to_owned(),
                    hash_key,
                    records,
                    bytes,
                })
                .collect(),
            outside,
            calls,
        };
        let weight = sample.weight();
        sample.keys.sort_by(|a, b| {
            weight
                .of(b)
                .cmp(&weight.of(a))
                .then_with(|| a.hash_key.cmp(&b.hash_key))
                .then_with(|| a.key.cmp(&b.key))
        });
        sample
    }

    /// Whether the sample says where the shard's load lies: most of its
    /// records hash into the shard. When producers route by
    /// ExplicitHashKey, partition keys say nothing about position.
    pub fn placed_by_keys(&self) -> bool {
        self.outside <= self.records
    }

    /// The part of the sample whose keys fall in `range` (a part of the
    /// shard's range), as a sample of that range.
    pub fn within(&self, range: HashKeyRange) -> ShardSample {
        let keys: Vec<KeyLoad> = self
            .keys
            .iter()
            .filter(|k| range.contains(k.hash_key))
            .cloned()
            .collect();
        ShardSample {
            shard_id: self.shard_id.clone(),
            starting_hash_key: range.start(),
            ending_hash_key: range.end(),
            seconds: self.seconds,
            records: keys.iter().map(|k| k.records).sum(),
            bytes: keys.iter().map(|k| k.bytes).sum(),
            keys,
            outside: 0,
            calls: self.calls,
        }
    }

    /// The shard's hash-key range.
    pub fn range(&self) -> HashKeyRange {
        HashKeyRange::new(self.starting_hash_key, self.ending_hash_key)
            .unwrap_or(HashKeyRange::FULL)
    }

    /// The limit the sampled load is nearer: bytes (1 MiB/s) or records
    /// (1,000/s).
    pub fn weight(&self) -> Weight {
        if self.bytes as f64 / WRITE_BYTES_PER_SECOND
            >= self.records as f64 / WRITE_RECORDS_PER_SECOND
        {
            Weight::Bytes
        } else {
            Weight::Records
        }
    }

    fn total(&self) -> u64 {
        match self.weight() {
            Weight::Bytes => self.bytes,
            Weight::Records => self.records,
        }
    }

    /// `key`'s share of the sampled load, 0..=1.
    pub fn share(&self, key: &KeyLoad) -> f64 {
        let total = self.total();
        if total == 0 {
            0.0
        } else {
            self.weight().of(key) as f64 / total as f64
        }
    }

    /// `key`'s write rate in shards' worth: the larger of its bytes against
    /// 1 MiB/s and its records against 1,000/s.
    pub fn shards_worth(&self, key: &KeyLoad) -> f64 {
        (key.bytes as f64 / self.seconds / WRITE_BYTES_PER_SECOND)
            .max(key.records as f64 / self.seconds / WRITE_RECORDS_PER_SECOND)
    }

    /// The share of the load on the heaviest `n` keys.
    pub fn top_share(&self, n: usize) -> f64 {
        // Folded from +0.0: an empty sum of floats is -0.0.
        self.keys
            .iter()
            .take(n)
            .fold(0.0, |sum, k| sum + self.share(k))
    }

    /// The keys in hash-key order, with equal hash keys (an MD5 collision,
    /// or none) taken together, and their weights.
    fn by_hash_key(&self) -> Vec<(HashKey, u64)> {
        let weight = self.weight();
        let mut keys: Vec<(HashKey, u64)> = self
            .keys
            .iter()
            .map(|k| (k.hash_key, weight.of(k)))
            .collect();
        keys.sort_unstable_by_key(|(h, _)| *h);
        keys.dedup_by(|next, kept| {
            let same = next.0 == kept.0;
            if same {
                kept.1 += next.1;
            }
            same
        });
        keys
    }

    /// The share of the sampled load on hash keys below `key`.
    pub fn share_below(&self, key: HashKey) -> f64 {
        self.keys
            .iter()
            .filter(|k| k.hash_key < key)
            .fold(0.0, |sum, k| sum + self.share(k))
    }

    /// The traffic-weighted median hash key: the first key, in hash-key
    /// order, at or past which half of the sampled load lies.
    pub fn median(&self) -> Option<HashKey> {
        let keys = self.by_hash_key();
        let total: u64 = keys.iter().map(|(_, w)| w).sum();
        let mut seen = 0u64;
        for (h, w) in keys {
            seen += w;
            if 2 * seen >= total {
                return Some(h);
            }
        }
        None
    }

    /// Where to split the shard so that both children carry about half the
    /// load: halfway between the two neighbouring sampled keys that share
    /// the load most evenly. The key lies strictly inside the range (as
    /// SplitShard requires) and never on a sampled key. Fewer than
    /// `min_records` records are too few to place it.
    pub fn split_point(&self, min_records: u64) -> SplitPoint {
        if self.records < min_records.max(1) {
            return SplitPoint::TooSmall {
                records: self.records,
                needed: min_records.max(1),
            };
        }
        let keys = self.by_hash_key();
        let total: u64 = keys.iter().map(|(_, w)| w).sum();
        let mut best: Option<(u64, HashKey, f64)> = None; // (distance from half, key, share)
        let mut below = 0u64;
        for pair in keys.windows(2) {
            let ((low, w), (high, _)) = (pair[0], pair[1]);
            below += w;
            // Halfway between the neighbours, rounded up: `low` stays in
            // the lower child, `high` in the upper, and the key lies on
            // neither unless they are adjacent hash keys.
            let gap = high.0 - low.0;
            let key = HashKey(low.0 + gap / 2 + gap % 2);
            if self.range().check_split_key(key).is_err() {
                continue;
            }
            let distance = (2 * below).abs_diff(total);
            if best.is_none_or(|(d, _, _)| distance < d) {
                best = Some((distance, key, below as f64 / total.max(1) as f64));
            }
        }
        match best {
            Some((_, key, lower_share)) => SplitPoint::Traffic { key, lower_share },
            None => SplitPoint::OneKey,
        }
    }

    /// The key no split can help with, if any: one whose own rate is a
    /// shard's worth or more, or that carries more than `max_share` of the
    /// sampled load.
    pub fn dominant(&self, max_share: f64) -> Option<&KeyLoad> {
        let top = self.keys.first()?;
        (self.shards_worth(top) >= 1.0 || self.share(top) > max_share).then_some(top)
    }
}

impl Weight {
    fn of(self, key: &KeyLoad) -> u64 {
        match self {
            Weight::Bytes => key.bytes,
            Weight::Records => key.records,
        }
    }
}

/// A partition key made safe to print, whole (`model::quote_whole`):
/// keys come from producers, and one must never move a terminal's cursor,
/// recolour its text or reorder it.
pub fn escape_key(key: &str) -> String {
    crate::model::quote_whole(key)
}

/// How a sample may read a shard.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReadBudget {
    /// How long to read.
    pub duration: Duration,
    /// GetRecords calls a second at most (Kinesis allows 5 per shard,
    /// shared with every consumer).
    pub calls_per_second: f64,
    /// Bytes a second at most, averaged (Kinesis allows 2 MiB per shard,
    /// shared).
    pub bytes_per_second: f64,
    /// Stop after this many records.
    pub max_records: u64,
}

impl Default for ReadBudget {
    /// 10 seconds at 1 call and 512 KiB a second, at most 100,000 records:
    /// a fifth of the shard's calls and a quarter of its bytes.
    fn default() -> Self {
        ReadBudget {
            duration: Duration::from_secs(10),
            calls_per_second: 1.0,
            bytes_per_second: 512.0 * 1024.0,
            max_records: 100_000,
        }
    }
}

/// The most records GetRecords returns in one call.
const MAX_RECORDS_PER_CALL: u64 = 10_000;

/// Reads `shard` of `stream` from `at` within `budget`, and builds its
/// sample. `progress` is told the share of the budget's time used after
/// each call. Calls are spaced at least `1 / calls_per_second` apart, and
/// further after a large page so the bytes stay within
/// `bytes_per_second` on average. Stops early when the shard is closed
/// and read to its end, or `max_records` are read.
pub async fn sample_shard<R: RecordsRead>(
    read: &R,
    stream: &StreamId,
    shard: &Shard,
    at: StartAt,
    budget: &ReadBudget,
    mut progress: impl FnMut(f64),
) -> ApiResult<ShardSample> {
    let started = Instant::now();
    let deadline = started + budget.duration;
    let spacing = Duration::from_secs_f64(1.0 / budget.calls_per_second.clamp(0.01, 5.0));
    let mut iterator = Some(read.shard_iterator(stream, &shard.id, at).await?);
    let mut records: Vec<SampledRecord> = Vec::new();
    let (mut calls, mut bytes_read) = (0u32, 0u64);
    let mut caught_up = false;
    let mut next_call = started;
    while let Some(it) = iterator.take() {
        if Instant::now() >= deadline || records.len() as u64 >= budget.max_records {
            break;
        }
        if next_call > Instant::now() {
            tokio::time::sleep_until(next_call.min(deadline)).await;
            if Instant::now() >= deadline {
                break;
            }
        }
        // Ask for about what one spacing's bytes allow, by the mean record
        // size seen so far (a small first call): a page of GetRecords may
        // hold up to 10 MiB, and a large one is paid for by waiting.
        let per_call = match records.len() {
            0 => FIRST_CALL_RECORDS,
            n => {
                let mean = (bytes_read as f64 / n as f64).max(1.0);
                (budget.bytes_per_second * spacing.as_secs_f64() / mean) as u64
            }
        };
        let left = budget.max_records - records.len() as u64;
        let limit = per_call.clamp(1, MAX_RECORDS_PER_CALL).min(left) as u32;
        let called = Instant::now();
        let page = read.get_records(&it, limit).await?;
        calls += 1;
        let bytes: u64 = page.records.iter().map(|r| r.bytes).sum();
        bytes_read += bytes;
        let pause = spacing.max(Duration::from_secs_f64(
            bytes as f64 / budget.bytes_per_second.max(1.0),
        ));
        next_call = called + pause;
        caught_up = page.millis_behind_latest == Some(0);
        records.extend(page.records);
        iterator = page.next;
        progress((started.elapsed().as_secs_f64() / budget.duration.as_secs_f64()).min(1.0));
    }
    progress(1.0);
    // From the trim horizon, the read's length says nothing of when the
    // records were written: they are rated by their arrival times alone.
    let covers_the_read = caught_up && !matches!(at, StartAt::TrimHorizon);
    Ok(ShardSample::from_records(
        shard,
        &records,
        started.elapsed(),
        covers_the_read,
        calls,
    ))
}

/// Records asked for by a sample's first call, before any size is known.
const FIRST_CALL_RECORDS: u64 = 100;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::records;

    fn shard(range: HashKeyRange) -> Shard {
        Shard {
            id: ShardId::new("shardId-000000000000"),
            range,
            parent_shard_id: None,
            adjacent_parent_shard_id: None,
            open: true,
        }
    }

    fn sample(mix: &[(&str, usize, u64)]) -> ShardSample {
        ShardSample::from_records(
            &shard(HashKeyRange::FULL),
            &records(mix),
            Duration::from_secs(10),
            true,
            1,
        )
    }

    #[test]
    fn a_read_that_started_a_minute_back_and_caught_up_covers_the_minute() {
        // 650 records of one key arriving over 65 s, read in 5 s: the
        // planner reads from a minute back and catches up.
        let start: DateTime<Utc> = "2026-11-26T02:00:00Z".parse().unwrap();
        let recs: Vec<SampledRecord> = (0..650)
            .map(|i| SampledRecord {
                arrival: Some(start + chrono::TimeDelta::milliseconds(i * 100)),
                ..records(&[("user-42", 1, 1000)])[0].clone()
            })
            .collect();
        let s = ShardSample::from_records(
            &shard(HashKeyRange::FULL),
            &recs,
            Duration::from_secs(5),
            true,
            7,
        );
        assert!((s.seconds - 65.0).abs() < 0.01, "{}", s.seconds);
        // 10 records a second: 1% of a shard's records, not 13%.
        let key = s.keys[0].clone();
        assert!(
            (s.shards_worth(&key) - 0.01).abs() < 1e-6,
            "{}",
            s.shards_worth(&key)
        );
        // Caught up at once (a read from now): at least the read's length.
        let s = ShardSample::from_records(
            &shard(HashKeyRange::FULL),
            &recs[..20],
            Duration::from_secs(5),
            true,
            7,
        );
        assert_eq!(s.seconds, 5.0);
    }

    #[test]
    fn the_top_key_its_share_and_hash_key() {
        let s = sample(&[
            ("a", 40, 1000),
            ("b", 30, 1000),
            ("c", 20, 1000),
            ("d", 10, 1000),
        ]);
        assert_eq!(s.keys[0].key, "a");
        assert_eq!(s.keys[0].hash_key, HashKey::of_partition_key("a"));
        assert!((s.share(&s.keys[0]) - 0.4).abs() < 1e-12);
        assert!((s.top_share(2) - 0.7).abs() < 1e-12);
        assert!((s.top_share(10) - 1.0).abs() < 1e-12);
        assert_eq!(
            s.weight(),
            Weight::Records,
            "100 records of 1 KB: nearer 1,000/s"
        );
    }

    #[test]
    fn the_split_falls_between_the_neighbours_that_halve_the_load() {
        let s = sample(&[
            ("a", 25, 100),
            ("b", 25, 100),
            ("c", 25, 100),
            ("d", 25, 100),
        ]);
        let mut hashes: Vec<HashKey> = s.keys.iter().map(|k| k.hash_key).collect();
        hashes.sort();
        let SplitPoint::Traffic { key, lower_share } = s.split_point(10) else {
            panic!("{:?}", s.split_point(10));
        };
        assert!((lower_share - 0.5).abs() < 1e-12);
        assert!(
            hashes[1] < key && key < hashes[2],
            "{key} between {hashes:?}"
        );
        let gap = hashes[2].0 - hashes[1].0;
        assert_eq!(key.0, hashes[1].0 + gap / 2 + gap % 2);
        assert!(s.median() == Some(hashes[1]));
    }

    #[test]
    fn one_key_is_no_split() {
        let s = sample(&[("only", 500, 100)]);
        assert_eq!(s.split_point(10), SplitPoint::OneKey);
        assert_eq!(s.dominant(0.8).map(|k| k.key.as_str()), Some("only"));
    }

    #[test]
    fn too_few_records_say_how_many_were_needed() {
        let s = sample(&[("a", 3, 100), ("b", 2, 100)]);
        assert_eq!(
            s.split_point(50),
            SplitPoint::TooSmall {
                records: 5,
                needed: 50
            }
        );
    }

    #[test]
    fn a_key_over_a_shards_worth_dominates_at_any_share() {
        // 12,000 records in 10 s: 1,200 records a second on key "hot".
        let s = sample(&[("hot", 12_000, 10), ("x", 12_000, 10), ("y", 12_000, 10)]);
        assert!(s.shards_worth(&s.keys[0]) >= 1.0);
        assert!(s.share(&s.keys[0]) < 0.4);
        assert!(s.dominant(0.8).is_some());
        let calm = sample(&[("a", 500, 10), ("b", 400, 10)]);
        assert!(calm.dominant(0.8).is_none());
    }

    #[test]
    fn a_sample_survives_a_snapshot_round_trip() {
        let s = sample(&[("a", 4, 100), ("b\n", 2, 50)]);
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains(r#""key":"b\n""#), "{text}");
        let back: ShardSample = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.split_point(1), s.split_point(1));
    }

    #[test]
    fn records_routed_by_explicit_hash_key_are_counted_apart() {
        let lower = HashKeyRange::new(HashKey(0), HashKey(u128::MAX / 2)).unwrap();
        let mut recs = records(&[("a", 10, 100)]); // "a" hashes into the lower half
        recs.extend((0..30).map(|i| SampledRecord {
            partition_key: format!("x{i}"),
            bytes: 100,
            arrival: None,
            hash_key: Some(HashKey(u128::MAX - i)),
        }));
        let s = ShardSample::from_records(&shard(lower), &recs, Duration::from_secs(10), true, 1);
        assert_eq!((s.records, s.outside), (10, 30));
        assert_eq!(s.keys.len(), 1);
        assert!(!s.placed_by_keys());
    }

    #[test]
    fn hostile_keys_print_escaped() {
        assert_eq!(escape_key("a\u{61c}b\u{2028}"), "\"a\\u{61c}b\\u{2028}\"");
        assert_eq!(escape_key("a\nb"), "\"a\\nb\"");
        assert_eq!(escape_key("\u{1b}[31mred"), "\"\\u{1b}[31mred\"");
        assert_eq!(escape_key("x\u{202e}y"), "\"x\\u{202e}y\"");
        assert_eq!(escape_key("q\"\\"), "\"q\\\"\\\\\"");
        let long: String = "é".repeat(128); // 256 bytes of UTF-8
        assert_eq!(escape_key(&long), format!("\"{long}\""));
        assert!(!escape_key("\u{7}\u{0}\u{9b}").chars().any(char::is_control));
    }
}
