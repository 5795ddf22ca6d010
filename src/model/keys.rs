//! The vocabulary of a stream's key space: hash keys, hash-key ranges, shard
//! ids and shards, with the range arithmetic that resharding depends on.
//!
//! Kinesis sends hash keys as decimal strings; they are parsed into
//! [`HashKey`] once, here, and every computation on them (midpoints,
//! adjacency, coverage of the key space) lives on these types. Nothing in
//! this module knows about policies, metrics or AWS.

use std::fmt;
use std::str::FromStr;

use md5::{Digest, Md5};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in the 128-bit key space that partition keys are hashed into.
///
/// The whole space is `0 ..= 2^128 - 1`, so a key fits a `u128` exactly; no
/// arithmetic on keys ever needs more than 128 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HashKey(pub u128);

impl HashKey {
    /// The lowest key of the key space.
    pub const MIN: HashKey = HashKey(0);
    /// The highest key of the key space, 2^128 - 1.
    pub const MAX: HashKey = HashKey(u128::MAX);

    /// The hash key Kinesis routes a record with this partition key to: the
    /// MD5 digest of the key's UTF-8 bytes read as a big-endian integer.
    pub fn of_partition_key(partition_key: &str) -> HashKey {
        let digest: [u8; 16] = Md5::digest(partition_key.as_bytes()).into();
        HashKey(u128::from_be_bytes(digest))
    }
}

/// Why a string is not a hash key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashKeyError {
    #[error("hash key is empty")]
    Empty,
    #[error("hash key {0:?} is negative; hash keys are 0 ..= 2^128-1")]
    Negative(String),
    #[error("hash key {0:?} is not a decimal integer")]
    NotDecimal(String),
    #[error("hash key {0:?} is above the largest hash key 2^128-1")]
    TooLarge(String),
}

impl FromStr for HashKey {
    type Err = HashKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(HashKeyError::Empty);
        }
        if let Some(rest) = s.strip_prefix('-') {
            if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HashKeyError::Negative(s.to_owned()));
            }
            return Err(HashKeyError::NotDecimal(s.to_owned()));
        }
        // `u128::from_str` also accepts a leading '+', which Kinesis never sends.
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HashKeyError::NotDecimal(s.to_owned()));
        }
        s.parse::<u128>()
            .map(HashKey)
            .map_err(|_| HashKeyError::TooLarge(s.to_owned()))
    }
}

impl fmt::Display for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for HashKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Decimal strings, as Kinesis sends them: JSON numbers lose precision
        // above 2^53 in most parsers.
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HashKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An inclusive range of hash keys, `[start, end]`, as a shard owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HashKeyRange {
    start: HashKey,
    end: HashKey,
}

/// A range whose start lies above its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("starting hash key {start} is above ending hash key {end}")]
pub struct InvertedRange {
    pub start: HashKey,
    pub end: HashKey,
}

/// A split key that Kinesis would refuse for this range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("split key {key} is not strictly inside [{}, {}]: it must satisfy start + 1 < key <= end", range.start, range.end)]
pub struct SplitKeyOutOfRange {
    pub range: HashKeyRange,
    pub key: HashKey,
}

impl HashKeyRange {
    /// The whole key space, owned by the single shard of a one-shard stream.
    pub const FULL: HashKeyRange = HashKeyRange {
        start: HashKey::MIN,
        end: HashKey::MAX,
    };

    pub fn new(start: HashKey, end: HashKey) -> Result<Self, InvertedRange> {
        if start > end {
            return Err(InvertedRange { start, end });
        }
        Ok(HashKeyRange { start, end })
    }

    pub fn start(&self) -> HashKey {
        self.start
    }

    pub fn end(&self) -> HashKey {
        self.end
    }

    pub fn contains(&self, key: HashKey) -> bool {
        self.start <= key && key <= self.end
    }

    /// Whether `next` begins right after this range ends, the condition
    /// MergeShards puts on its two shards.
    pub fn is_followed_by(&self, next: &HashKeyRange) -> bool {
        self.end.0.checked_add(1) == Some(next.start.0)
    }

    /// Whether the two ranges are contiguous, in either order.
    pub fn is_adjacent_to(&self, other: &HashKeyRange) -> bool {
        self.is_followed_by(other) || other.is_followed_by(self)
    }

    /// The key that splits the range into two equal halves,
    /// `start + (end - start) / 2 + 1`, or `None` when the range is too
    /// small for Kinesis to split (it needs `start + 1 < key <= end`).
    ///
    /// Written this way so it never overflows and is right for ranges that do
    /// not start at zero (`end / 2` is only right for those that do).
    pub fn midpoint(&self) -> Option<HashKey> {
        let key = (self.start.0 + (self.end.0 - self.start.0) / 2).checked_add(1)?;
        self.check_split_key(HashKey(key)).ok()?;
        Some(HashKey(key))
    }

    /// Whether Kinesis accepts `key` as NewStartingHashKey for this range.
    pub fn check_split_key(&self, key: HashKey) -> Result<(), SplitKeyOutOfRange> {
        let inside = key > self.start && key.0 - self.start.0 >= 2 && key <= self.end;
        if inside {
            Ok(())
        } else {
            Err(SplitKeyOutOfRange { range: *self, key })
        }
    }

    /// The two children SplitShard creates: `[start, key - 1]` and `[key, end]`.
    pub fn split_at(
        &self,
        key: HashKey,
    ) -> Result<(HashKeyRange, HashKeyRange), SplitKeyOutOfRange> {
        self.check_split_key(key)?;
        Ok((
            HashKeyRange {
                start: self.start,
                end: HashKey(key.0 - 1),
            },
            HashKeyRange {
                start: key,
                end: self.end,
            },
        ))
    }

    /// The range MergeShards leaves behind, if the two are adjacent.
    pub fn merge(&self, other: &HashKeyRange) -> Option<HashKeyRange> {
        if self.is_followed_by(other) {
            Some(HashKeyRange {
                start: self.start,
                end: other.end,
            })
        } else if other.is_followed_by(self) {
            Some(HashKeyRange {
                start: other.start,
                end: self.end,
            })
        } else {
            None
        }
    }

    /// The fraction of the whole key space this range owns, in (0, 1].
    pub fn share_of_key_space(&self) -> f64 {
        // (end - start + 1) / 2^128, computed without the +1 overflowing.
        ((self.end.0 - self.start.0) as f64 + 1.0) / 2f64.powi(128)
    }
}

impl fmt::Display for HashKeyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}]", self.start, self.end)
    }
}

/// `n` ranges of (nearly) equal width covering the whole key space, as a
/// new stream or UpdateShardCount lays them out: range `i` starts at
/// `i * floor(2^128 / n)` and the last one takes the remainder.
pub fn uniform_ranges(n: u32) -> Vec<HashKeyRange> {
    assert!(n >= 1, "a stream has at least one shard");
    let n = u128::from(n);
    if n == 1 {
        return vec![HashKeyRange::FULL];
    }
    // floor(2^128 / n) without the 129-bit numerator: 2^128 = MAX + 1.
    let step = u128::MAX / n + (u128::MAX % n + 1) / n;
    (0..n)
        .map(|i| HashKeyRange {
            start: HashKey(i * step),
            end: HashKey(if i + 1 == n {
                u128::MAX
            } else {
                (i + 1) * step - 1
            }),
        })
        .collect()
}

/// A shard's id as Kinesis names it, e.g. `shardId-000000000007`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShardId(pub String);

impl ShardId {
    pub fn new(id: impl Into<String>) -> Self {
        ShardId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ShardId {
    fn from(s: &str) -> Self {
        ShardId(s.to_owned())
    }
}

/// One shard as ListShards describes it, open or closed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ShardRecord", into = "ShardRecord")]
pub struct Shard {
    pub id: ShardId,
    pub range: HashKeyRange,
    pub parent_shard_id: Option<ShardId>,
    pub adjacent_parent_shard_id: Option<ShardId>,
    /// Closed shards (split or merged parents) stay listed until retention
    /// expires; only open shards take writes and count toward capacity.
    pub open: bool,
}

impl Shard {
    /// The parent this shard was split from, while the parent is still
    /// listed (a merge's child has two parents and is no split's).
    pub fn split_parent(&self) -> Option<&ShardId> {
        self.parent_shard_id
            .as_ref()
            .filter(|_| self.adjacent_parent_shard_id.is_none())
    }
}

/// The wire form of a [`Shard`] in snapshots.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShardRecord {
    shard_id: ShardId,
    starting_hash_key: HashKey,
    ending_hash_key: HashKey,
    #[serde(default)]
    parent_shard_id: Option<ShardId>,
    #[serde(default)]
    adjacent_parent_shard_id: Option<ShardId>,
    open: bool,
}

impl TryFrom<ShardRecord> for Shard {
    type Error = InvertedRange;

    fn try_from(r: ShardRecord) -> Result<Self, Self::Error> {
        Ok(Shard {
            range: HashKeyRange::new(r.starting_hash_key, r.ending_hash_key)?,
            id: r.shard_id,
            parent_shard_id: r.parent_shard_id,
            adjacent_parent_shard_id: r.adjacent_parent_shard_id,
            open: r.open,
        })
    }
}

impl From<Shard> for ShardRecord {
    fn from(s: Shard) -> Self {
        ShardRecord {
            shard_id: s.id,
            starting_hash_key: s.range.start,
            ending_hash_key: s.range.end,
            parent_shard_id: s.parent_shard_id,
            adjacent_parent_shard_id: s.adjacent_parent_shard_id,
            open: s.open,
        }
    }
}

/// Something wrong with how a stream's open shards cover the key space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum LayoutProblem {
    /// No open shard owns the keys `from ..= to`.
    Gap { from: HashKey, to: HashKey },
    /// Two open shards both own the keys `from ..= to`.
    Overlap {
        from: HashKey,
        to: HashKey,
        shards: (ShardId, ShardId),
    },
    /// The stream has no open shard at all.
    NoOpenShards,
}

impl fmt::Display for LayoutProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutProblem::Gap { from, to } => {
                write!(f, "no open shard owns hash keys {from}..={to}")
            }
            LayoutProblem::Overlap { from, to, shards } => write!(
                f,
                "open shards {} and {} both own hash keys {from}..={to}",
                shards.0, shards.1
            ),
            LayoutProblem::NoOpenShards => f.write_str("the stream has no open shard"),
        }
    }
}

/// Checks that `open` (sorted by starting hash key) covers `0 ..= 2^128-1`
/// exactly once, and lists every gap and overlap otherwise.
pub fn check_layout<'a>(open: impl IntoIterator<Item = &'a Shard>) -> Vec<LayoutProblem> {
    let mut problems = Vec::new();
    // The first key not yet covered, or None once the end of the space is covered.
    let mut next: Option<u128> = Some(0);
    let mut last: Option<&Shard> = None;
    for shard in open {
        let (start, end) = (shard.range.start.0, shard.range.end.0);
        match next {
            Some(n) if start > n => problems.push(LayoutProblem::Gap {
                from: HashKey(n),
                to: HashKey(start - 1),
            }),
            Some(n) if start < n => {
                let prev = last.expect("an overlap needs a previous shard");
                problems.push(LayoutProblem::Overlap {
                    from: HashKey(start),
                    to: HashKey(end.min(n - 1)),
                    shards: (prev.id.clone(), shard.id.clone()),
                })
            }
            None => {
                let prev = last.expect("covering the end needs a previous shard");
                problems.push(LayoutProblem::Overlap {
                    from: HashKey(start),
                    to: HashKey(end),
                    shards: (prev.id.clone(), shard.id.clone()),
                })
            }
            _ => {}
        }
        let after = end.checked_add(1);
        next = match (next, after) {
            (None, _) | (_, None) => None,
            (Some(n), Some(a)) => Some(n.max(a)),
        };
        if last.is_none_or(|l| l.range.end.0 < end) {
            last = Some(shard);
        }
    }
    match (last, next) {
        (None, _) => problems.push(LayoutProblem::NoOpenShards),
        (Some(_), Some(n)) => problems.push(LayoutProblem::Gap {
            from: HashKey(n),
            to: HashKey::MAX,
        }),
        (Some(_), None) => {}
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u128, end: u128) -> HashKeyRange {
        HashKeyRange::new(HashKey(start), HashKey(end)).unwrap()
    }

    #[test]
    fn uniform_ranges_match_the_layout_kinesis_creates() {
        // First-shard ending keys as CreateStream reports them.
        let first_end = |n| uniform_ranges(n)[0].end.0;
        assert_eq!(first_end(2), 170141183460469231731687303715884105727);
        assert_eq!(first_end(3), 113427455640312821154458202477256070484);
        assert_eq!(first_end(4), 85070591730234615865843651857942052863);
        assert_eq!(uniform_ranges(1), vec![HashKeyRange::FULL]);
        for n in [2, 3, 7, 64, 10_000] {
            let ranges = uniform_ranges(n);
            assert_eq!(ranges.len(), n as usize);
            assert_eq!(ranges[0].start.0, 0);
            assert_eq!(ranges.last().unwrap().end.0, u128::MAX);
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end.0 + 1, pair[1].start.0);
            }
        }
    }

    fn shard(id: &str, start: u128, end: u128) -> Shard {
        Shard {
            id: ShardId::from(id),
            range: range(start, end),
            parent_shard_id: None,
            adjacent_parent_shard_id: None,
            open: true,
        }
    }

    #[test]
    fn parses_the_extremes_of_the_key_space() {
        assert_eq!("0".parse::<HashKey>(), Ok(HashKey(0)));
        assert_eq!(
            "340282366920938463463374607431768211455".parse::<HashKey>(),
            Ok(HashKey::MAX)
        );
    }

    #[test]
    fn rejects_junk_negative_and_too_large_keys() {
        assert_eq!("".parse::<HashKey>(), Err(HashKeyError::Empty));
        assert!(matches!(
            "-1".parse::<HashKey>(),
            Err(HashKeyError::Negative(_))
        ));
        assert!(matches!(
            "12a".parse::<HashKey>(),
            Err(HashKeyError::NotDecimal(_))
        ));
        assert!(matches!(
            "+5".parse::<HashKey>(),
            Err(HashKeyError::NotDecimal(_))
        ));
        assert!(matches!(
            " 5".parse::<HashKey>(),
            Err(HashKeyError::NotDecimal(_))
        ));
        assert!(matches!(
            "1.5".parse::<HashKey>(),
            Err(HashKeyError::NotDecimal(_))
        ));
        assert!(matches!(
            "340282366920938463463374607431768211456".parse::<HashKey>(),
            Err(HashKeyError::TooLarge(_))
        ));
    }

    #[test]
    fn midpoint_of_the_full_range_is_two_to_the_127() {
        let mid = HashKeyRange::FULL.midpoint().unwrap();
        assert_eq!(mid.to_string(), "170141183460469231731687303715884105728");
        assert_eq!(mid.0, 1u128 << 127);
    }

    #[test]
    fn midpoint_of_a_range_not_starting_at_zero_is_not_end_over_two() {
        // The upper half of a two-shard stream.
        let upper = range(1 << 127, u128::MAX);
        let mid = upper.midpoint().unwrap();
        assert_eq!(mid.0, (1u128 << 127) + (1u128 << 126));
        assert_ne!(mid.0, u128::MAX / 2);
        let (low, high) = upper.split_at(mid).unwrap();
        assert_eq!(low, range(1 << 127, mid.0 - 1));
        assert_eq!(high, range(mid.0, u128::MAX));
    }

    #[test]
    fn midpoint_halves_odd_and_even_sized_ranges() {
        // [10, 19]: 10 keys, halves of 5: [10,14] [15,19].
        assert_eq!(range(10, 19).midpoint(), Some(HashKey(15)));
        // [10, 20]: 11 keys: [10,15] [16,20].
        assert_eq!(range(10, 20).midpoint(), Some(HashKey(16)));
    }

    #[test]
    fn tiny_ranges_cannot_be_split() {
        assert_eq!(range(5, 5).midpoint(), None);
        assert_eq!(range(5, 6).midpoint(), None);
        // Three keys: the only key Kinesis accepts is start + 2.
        assert_eq!(range(5, 7).midpoint(), Some(HashKey(7)));
        assert!(range(0, 1).midpoint().is_none());
    }

    #[test]
    fn split_keys_must_lie_strictly_inside() {
        let r = range(100, 200);
        assert!(r.check_split_key(HashKey(100)).is_err());
        assert!(r.check_split_key(HashKey(101)).is_err());
        assert!(r.check_split_key(HashKey(102)).is_ok());
        assert!(r.check_split_key(HashKey(200)).is_ok());
        assert!(r.check_split_key(HashKey(201)).is_err());
        let top = range(u128::MAX - 10, u128::MAX);
        assert!(top.check_split_key(HashKey::MAX).is_ok());
    }

    #[test]
    fn adjacency_needs_contiguous_ranges() {
        assert!(range(0, 9).is_followed_by(&range(10, 20)));
        assert!(range(10, 20).is_adjacent_to(&range(0, 9)));
        assert!(!range(0, 9).is_adjacent_to(&range(11, 20)));
        assert!(!range(0, 10).is_adjacent_to(&range(10, 20)));
        assert!(!range(0, u128::MAX).is_followed_by(&range(0, 1)));
        assert_eq!(range(10, 20).merge(&range(0, 9)), Some(range(0, 20)));
        assert_eq!(range(0, 8).merge(&range(10, 20)), None);
    }

    #[test]
    fn contains_is_inclusive() {
        let r = range(10, 20);
        assert!(r.contains(HashKey(10)) && r.contains(HashKey(20)));
        assert!(!r.contains(HashKey(9)) && !r.contains(HashKey(21)));
    }

    #[test]
    fn share_of_key_space() {
        assert_eq!(HashKeyRange::FULL.share_of_key_space(), 1.0);
        assert_eq!(range(0, (1 << 127) - 1).share_of_key_space(), 0.5);
    }

    #[test]
    fn inverted_ranges_are_rejected() {
        assert!(HashKeyRange::new(HashKey(2), HashKey(1)).is_err());
    }

    #[test]
    fn partition_keys_hash_like_kinesis() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e.
        assert_eq!(
            HashKey::of_partition_key(""),
            HashKey(0xd41d8cd98f00b204e9800998ecf8427e)
        );
        // MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
        assert_eq!(
            HashKey::of_partition_key("a").to_string(),
            u128::from_str_radix("0cc175b9c0f1b6a831c399e269772661", 16)
                .unwrap()
                .to_string()
        );
    }

    #[test]
    fn a_full_cover_has_no_problems() {
        let mid = 1u128 << 127;
        let shards = [shard("a", 0, mid - 1), shard("b", mid, u128::MAX)];
        assert_eq!(check_layout(&shards), vec![]);
        assert_eq!(check_layout(&[shard("only", 0, u128::MAX)]), vec![]);
    }

    #[test]
    fn gaps_and_overlaps_are_reported_with_their_keys() {
        let shards = [
            shard("a", 10, 99),
            shard("b", 90, 199),
            shard("c", 300, u128::MAX - 1),
        ];
        assert_eq!(
            check_layout(&shards),
            vec![
                LayoutProblem::Gap {
                    from: HashKey(0),
                    to: HashKey(9)
                },
                LayoutProblem::Overlap {
                    from: HashKey(90),
                    to: HashKey(99),
                    shards: (ShardId::from("a"), ShardId::from("b")),
                },
                LayoutProblem::Gap {
                    from: HashKey(200),
                    to: HashKey(299)
                },
                LayoutProblem::Gap {
                    from: HashKey::MAX,
                    to: HashKey::MAX
                },
            ]
        );
        assert_eq!(check_layout(&[]), vec![LayoutProblem::NoOpenShards]);
    }

    #[test]
    fn a_shard_nested_in_another_is_an_overlap() {
        let shards = [shard("big", 0, u128::MAX), shard("inner", 5, 6)];
        assert_eq!(
            check_layout(&shards),
            vec![LayoutProblem::Overlap {
                from: HashKey(5),
                to: HashKey(6),
                shards: (ShardId::from("big"), ShardId::from("inner")),
            }]
        );
    }
}
