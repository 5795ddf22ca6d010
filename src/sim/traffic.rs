//! Synthetic write traffic from a real trace: the trace scaled so its
//! maximum is the scenario's peak, interpolated per minute, with seeded
//! noise, cut into records of one size and spread over the key space by a
//! key model plus hot-key events. Deterministic for a given scenario.

use std::path::Path;

use chrono::NaiveDateTime;

use super::scenario::{FileError, KeyModel, Scenario};
use crate::input::{self, FileKind};
use crate::model::{HashKey, HashKeyRange};

/// A trace: its rows, normalized so the maximum is 1, read per minute by
/// linear interpolation. Nothing per minute is allocated here: a trace may
/// span centuries, and only the minutes a simulation plays are ever
/// expanded ([`Trace::minutes_from`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// (seconds since the epoch, value / maximum), sorted by time, one per
    /// time.
    points: Vec<(i64, f64)>,
}

/// A trace's timestamp, in Unix seconds: see [`Trace::parse`].
fn parse_time(text: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp());
        }
    }
    // Unix seconds: digits only (a value column is never mistaken for it:
    // this is the first field).
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

impl Trace {
    pub fn load(path: &Path) -> Result<Trace, FileError> {
        let text = input::read_text(path, FileKind::Trace)?;
        Trace::parse(&text, path)
    }

    /// Parses CSV `timestamp,value` rows, in any order, with or without a
    /// header line (any first line whose fields are not a time and a
    /// number). A timestamp is `2014-07-01 00:00:00` (UTC), RFC 3339 /
    /// ISO 8601 (`2014-07-01T00:00:00Z`, `2014-07-01T02:00:00+02:00`, or
    /// without a zone, UTC), or Unix seconds (`1404172800`).
    pub fn parse(text: &str, path: &Path) -> Result<Trace, FileError> {
        let invalid = |message: String| FileError::invalid(path, FileKind::Trace, message);
        let mut points: Vec<(i64, f64)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (time, value) = line.split_once(',').ok_or_else(|| {
                invalid(format!(
                    "line {}: expected `timestamp,value`, got {}",
                    i + 1,
                    input::quote(line)
                ))
            })?;
            let parsed = parse_time(time.trim());
            // A header: the first line, neither a time nor a number.
            if i == 0 && parsed.is_none() && value.trim().parse::<f64>().is_err() {
                continue;
            }
            let time = parsed.ok_or_else(|| {
                invalid(format!(
                    "line {}: {} is not a time; write 2014-07-01 00:00:00 (UTC), 2014-07-01T00:00:00Z (RFC 3339, any offset) or Unix seconds",
                    i + 1,
                    input::quote(time)
                ))
            })?;
            let value: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    invalid(format!(
                        "line {}: {} is not a number >= 0",
                        i + 1,
                        input::quote(value)
                    ))
                })?;
            points.push((time, value));
        }
        points.sort_by_key(|p| p.0);
        points.dedup_by_key(|p| p.0);
        if points.len() < 2 {
            return Err(invalid("a trace needs at least two rows".into()));
        }
        let max = points.iter().map(|p| p.1).fold(0.0, f64::max);
        if max <= 0.0 {
            return Err(invalid(
                "every value is 0: nothing to scale to the peak".into(),
            ));
        }
        for p in &mut points {
            p.1 /= max;
        }
        Ok(Trace { points })
    }

    /// How many minutes the trace spans, its first and last row included.
    pub fn len(&self) -> u64 {
        let (first, last) = (self.points[0].0, self.points[self.points.len() - 1].0);
        ((last - first) / 60) as u64 + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The normalized values of `count` minutes from minute `offset`,
    /// interpolated between rows.
    pub fn minutes_from(&self, offset: u64, count: usize) -> Vec<f64> {
        let first = self.points[0].0;
        let last = self.points.len() - 1;
        let mut out = Vec::with_capacity(count);
        let mut j = 0;
        for m in 0..count as u64 {
            let t = first + ((offset + m) * 60) as i64;
            while j + 1 < last && self.points[j + 1].0 <= t {
                j += 1;
            }
            let (t0, v0) = self.points[j];
            let (t1, v1) = self.points[(j + 1).min(last)];
            out.push(if t1 > t0 {
                let f = ((t - t0) as f64 / (t1 - t0) as f64).clamp(0.0, 1.0);
                v0 + (v1 - v0) * f
            } else {
                v0
            });
        }
        out
    }
}

/// The most minutes one simulation plays: a year and a day. Memory grows
/// with them (a few dozen bytes a minute), not with the trace's span.
pub(crate) const MAX_SIMULATED_MINUTES: u64 = 366 * 1440;

/// Where the traffic falls in the key space.
#[derive(Debug, Clone)]
enum KeySpace {
    /// Single keys, sorted by hash so a range's share is two binary
    /// searches; `prefix[i]` is the share of the keys before `hashes[i]`,
    /// and the last entry is 1.
    Points {
        hashes: Vec<u128>,
        prefix: Vec<f64>,
        /// The partition key of each hash, in the same order.
        names: Vec<String>,
    },
    /// Ranges in key order covering the key space, each with its share,
    /// spread evenly inside it.
    Ranges(Vec<(HashKeyRange, f64)>),
}

impl KeySpace {
    fn zipf(count: u32, exponent: f64, seed: u64) -> Self {
        let mut keys: Vec<(u128, f64, String)> = (1..=count)
            .map(|i| {
                let name = format!("key-{seed}-{i}");
                (
                    HashKey::of_partition_key(&name).0,
                    1.0 / f64::from(i).powf(exponent),
                    name,
                )
            })
            .collect();
        keys.sort_by_key(|k| k.0);
        let total: f64 = keys.iter().map(|k| k.1).sum();
        let mut prefix = Vec::with_capacity(keys.len() + 1);
        let mut acc = 0.0;
        prefix.push(0.0);
        for k in &keys {
            acc += k.1 / total;
            prefix.push(acc);
        }
        KeySpace::Points {
            hashes: keys.iter().map(|k| k.0).collect(),
            names: keys.into_iter().map(|k| k.2).collect(),
            prefix,
        }
    }

    /// The share of the heaviest single key (none is known in ranges).
    fn heaviest(&self) -> f64 {
        match self {
            KeySpace::Points { prefix, .. } => {
                prefix.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
            }
            KeySpace::Ranges(_) => 0.0,
        }
    }

    fn share(&self, range: HashKeyRange) -> f64 {
        match self {
            KeySpace::Points { hashes, prefix, .. } => {
                let lo = hashes.partition_point(|h| *h < range.start().0);
                let hi = hashes.partition_point(|h| *h <= range.end().0);
                prefix[hi] - prefix[lo]
            }
            KeySpace::Ranges(ranges) => {
                let width = |lo: u128, hi: u128| (hi - lo) as f64 + 1.0;
                let first = ranges.partition_point(|(r, _)| r.end() < range.start());
                ranges[first..]
                    .iter()
                    .take_while(|(r, _)| r.start() <= range.end())
                    .map(|(r, share)| {
                        let lo = r.start().0.max(range.start().0);
                        let hi = r.end().0.min(range.end().0);
                        share * width(lo, hi) / width(r.start().0, r.end().0)
                    })
                    .sum()
            }
        }
    }
}

/// A hot key, in simulation minutes.
#[derive(Debug, Clone)]
struct Hot {
    key: String,
    hash: HashKey,
    start: usize,
    end: usize,
    share: f64,
}

/// Offered write load of one range in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Offered {
    pub bytes: f64,
    pub records: f64,
}

/// The traffic of a whole simulation.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// Offered bytes per minute, for each simulated minute.
    bytes_per_minute: Vec<f64>,
    record_size: f64,
    keys: Option<KeySpace>,
    hot: Vec<Hot>,
}

impl Traffic {
    /// The traffic `scenario` describes over `trace`.
    pub fn new(scenario: &Scenario, trace: &Trace) -> Result<Traffic, String> {
        let offset = scenario.trace_offset.as_secs() / 60;
        if offset >= trace.len() {
            return Err(format!(
                "trace_offset is past the end of the trace ({} minutes long)",
                trace.len()
            ));
        }
        let available = trace.len() - offset;
        let minutes = match scenario.duration {
            Some(d) => (d.as_secs() / 60).min(available),
            None => available,
        };
        if minutes == 0 {
            return Err("duration: must be at least 1m".into());
        }
        if minutes > MAX_SIMULATED_MINUTES {
            return Err(format!(
                "the simulation would play {minutes} minutes ({:.0} days) of the trace; one simulation plays at most {MAX_SIMULATED_MINUTES} minutes (366 days): set `duration` (and `trace_offset`) to pick part of the trace",
                minutes as f64 / 1440.0
            ));
        }
        let mut rng = fastrand::Rng::with_seed(scenario.seed);
        let bytes_per_minute = trace
            .minutes_from(offset, minutes as usize)
            .iter()
            .map(|v| {
                let noise = 1.0 + scenario.noise * (2.0 * rng.f64() - 1.0);
                v * scenario.peak_bytes_per_second * 60.0 * noise
            })
            .collect();
        let keys = match &scenario.keys {
            KeyModel::Uniform => None,
            KeyModel::Zipf { count, exponent } => {
                Some(KeySpace::zipf(*count, *exponent, scenario.seed))
            }
            KeyModel::Measured(ranges) => Some(KeySpace::Ranges(ranges.clone())),
        };
        let hot = scenario
            .hot_keys
            .iter()
            .map(|h| Hot {
                key: h.key.clone(),
                hash: HashKey::of_partition_key(&h.key),
                start: (h.start.as_secs() / 60) as usize,
                end: (h.end.as_secs() / 60) as usize,
                share: h.share,
            })
            .collect();
        Ok(Traffic {
            bytes_per_minute,
            record_size: scenario.record_size as f64,
            keys,
            hot,
        })
    }

    /// How many minutes the traffic lasts.
    pub fn minutes(&self) -> usize {
        self.bytes_per_minute.len()
    }

    /// The whole stream's offered load in `minute`.
    pub fn total(&self, minute: usize) -> Offered {
        let bytes = self.bytes_per_minute[minute];
        Offered {
            bytes,
            records: bytes / self.record_size,
        }
    }

    /// The fraction of all traffic whose keys fall in `range` in `minute`.
    pub fn share(&self, range: HashKeyRange, minute: usize) -> f64 {
        let mut hot_total = 0.0;
        let mut hot_inside = 0.0;
        for h in self
            .hot
            .iter()
            .filter(|h| h.start <= minute && minute < h.end)
        {
            hot_total += h.share;
            if range.contains(h.hash) {
                hot_inside += h.share;
            }
        }
        let base = match &self.keys {
            Some(keys) => keys.share(range),
            None => range.share_of_key_space(),
        };
        (1.0 - hot_total) * base + hot_inside
    }

    /// The shares of all traffic in `minute` that single partition keys
    /// carry, for the keys heavy enough to matter: each hot key, and the
    /// heaviest key of a Zipf key set. Uniform keys carry none (each is a
    /// vanishing share).
    pub fn single_key_shares(&self, minute: usize) -> Vec<f64> {
        let active: Vec<f64> = self
            .hot
            .iter()
            .filter(|h| h.start <= minute && minute < h.end)
            .map(|h| h.share)
            .collect();
        let rest = 1.0 - active.iter().sum::<f64>();
        let mut shares = active;
        if let Some(keys) = &self.keys {
            shares.push(rest * keys.heaviest());
        }
        shares
    }

    /// The size of every record, in bytes.
    pub fn record_size(&self) -> f64 {
        self.record_size
    }

    /// Whether the key distribution changes between `a` and `b` (a hot key
    /// starts or ends), so cached shares must be recomputed.
    pub fn same_distribution(&self, a: usize, b: usize) -> bool {
        self.hot
            .iter()
            .all(|h| (h.start <= a && a < h.end) == (h.start <= b && b < h.end))
    }

    /// The partition keys of `n` records written to `range` in `minute`,
    /// drawn from the key model: each hot key and Zipf key by its share,
    /// and the rest (uniform or measured traffic) as fresh keys that hash
    /// into the range (or, in a range too narrow to find one soon, a fresh
    /// key with a hash key in the range, as ExplicitHashKey would give).
    /// What a sample of the shard's records would show.
    pub fn draw_keys(
        &self,
        range: HashKeyRange,
        minute: usize,
        n: usize,
        rng: &mut fastrand::Rng,
    ) -> Vec<(String, Option<HashKey>)> {
        let active: Vec<&Hot> = self
            .hot
            .iter()
            .filter(|h| h.start <= minute && minute < h.end)
            .collect();
        let rest = 1.0 - active.iter().map(|h| h.share).sum::<f64>();
        // The range's parts: each hot key in it, then the key model's.
        let mut parts: Vec<(f64, Option<&str>)> = active
            .iter()
            .filter(|h| range.contains(h.hash))
            .map(|h| (h.share, Some(h.key.as_str())))
            .collect();
        let (points, base) = match &self.keys {
            Some(KeySpace::Points {
                hashes,
                prefix,
                names,
            }) => {
                let lo = hashes.partition_point(|h| *h < range.start().0);
                let hi = hashes.partition_point(|h| *h <= range.end().0);
                for i in lo..hi {
                    parts.push((rest * (prefix[i + 1] - prefix[i]), Some(names[i].as_str())));
                }
                (true, 0.0)
            }
            Some(keys) => (false, rest * keys.share(range)),
            None => (false, rest * range.share_of_key_space()),
        };
        if !points && base > 0.0 {
            parts.push((base, None));
        }
        let total: f64 = parts.iter().map(|p| p.0).sum();
        if total <= 0.0 {
            return Vec::new();
        }
        (0..n)
            .map(|_| {
                let mut x = rng.f64() * total;
                let part = parts
                    .iter()
                    .find(|p| {
                        x -= p.0;
                        x < 0.0
                    })
                    .unwrap_or(&parts[parts.len() - 1]);
                match part.1 {
                    Some(key) => (key.to_owned(), None),
                    None => fresh_key(range, rng),
                }
            })
            .collect()
    }

    /// The offered load of `range` in `minute`.
    pub fn offered(&self, range: HashKeyRange, minute: usize) -> Offered {
        let total = self.total(minute);
        let share = self.share(range, minute);
        Offered {
            bytes: total.bytes * share,
            records: total.records * share,
        }
    }
}

/// Tries at finding a random partition key that hashes into a range.
const FRESH_KEY_TRIES: usize = 256;

/// A random partition key that hashes into `range`, drawn until one does
/// (about 1 / its share of the key space tries); in a range narrower than
/// about 1/256 of the key space, a random key with a random hash key in
/// the range instead.
fn fresh_key(range: HashKeyRange, rng: &mut fastrand::Rng) -> (String, Option<HashKey>) {
    for _ in 0..FRESH_KEY_TRIES {
        let key = format!("k-{:016x}", rng.u64(..));
        if range.contains(HashKey::of_partition_key(&key)) {
            return (key, None);
        }
    }
    let hash = HashKey(rng.u128(range.start().0..=range.end().0));
    (format!("k-{:032x}", hash.0), Some(hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_take_the_usual_timestamp_formats_and_any_header() {
        let parse = |text: &str| Trace::parse(text, Path::new("t.csv"));
        let expected =
            parse("timestamp,value\n2026-01-01 00:00:00,1\n2026-01-01 00:05:00,3\n").unwrap();
        for text in [
            // RFC 3339 / ISO 8601, a header of the user's own.
            "time,bytes\n2026-01-01T00:00:00Z,1\n2026-01-01T00:05:00Z,3\n",
            // Another offset: the same instants.
            "2026-01-01T02:00:00+02:00,1\n2026-01-01T02:05:00+02:00,3\n",
            // No zone: UTC.
            "ts,v\n2026-01-01T00:00:00,1\n2026-01-01T00:05:00,3\n",
            // Unix seconds.
            "epoch,requests\n1767225600,1\n1767225900,3\n",
        ] {
            assert_eq!(parse(text).unwrap(), expected, "{text}");
        }
        // A bad time past the first line is an error naming the formats.
        let e = parse("time,bytes\n2026-01-01T00:00:00Z,1\nyesterday,3\n").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("line 3: \"yesterday\" is not a time"),
            "{text}"
        );
        assert!(text.contains("RFC 3339"), "{text}");
    }

    #[test]
    fn measured_ranges_spread_their_share_evenly_inside() {
        let halves = crate::model::uniform_ranges(2);
        let keys = KeySpace::Ranges(vec![(halves[0], 0.9), (halves[1], 0.1)]);
        let quarters = crate::model::uniform_ranges(4);
        let shares: Vec<f64> = quarters.iter().map(|q| keys.share(*q)).collect();
        for (got, want) in shares.iter().zip([0.45, 0.45, 0.05, 0.05]) {
            assert!((got - want).abs() < 1e-12, "{shares:?}");
        }
        assert!((keys.share(HashKeyRange::FULL) - 1.0).abs() < 1e-12);
        assert_eq!(keys.heaviest(), 0.0);
    }

    #[test]
    fn traces_are_interpolated_per_minute_and_normalized() {
        let trace = Trace::parse(
            "timestamp,value\n2014-07-01 00:00:00,10\n2014-07-01 00:05:00,20\n2014-07-01 00:10:00,5\n",
            Path::new("t.csv"),
        )
        .unwrap();
        assert_eq!(trace.len(), 11);
        let minutes = trace.minutes_from(0, 11);
        assert_eq!(minutes[0], 0.5);
        assert_eq!(minutes[5], 1.0);
        assert!((minutes[2] - 0.7).abs() < 1e-12);
        assert_eq!(minutes[10], 0.25);
        assert_eq!(trace.minutes_from(9, 2), [minutes[9], minutes[10]]);
    }

    #[test]
    fn a_trace_spanning_millennia_allocates_only_what_is_played() {
        let trace = Trace::parse(
            "1970-01-01 00:00:00,1\n9999-12-31 00:00:00,2\n",
            Path::new("t.csv"),
        )
        .unwrap();
        assert_eq!(trace.len(), 4_223_370_241);
        let minutes = trace.minutes_from(0, 3);
        assert_eq!(minutes.len(), 3);
        assert!(
            minutes.iter().all(|v| (v - 0.5).abs() < 1e-9),
            "{minutes:?}"
        );
    }

    #[test]
    fn bad_rows_are_named_by_line() {
        let err = Trace::parse(
            "timestamp,value\n2014-07-01 00:00:00,x\n",
            Path::new("t.csv"),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("line 2: \"x\" is not a number"),
            "{err}"
        );
    }

    #[test]
    fn zipf_shares_add_up_over_the_key_space() {
        let ks = KeySpace::zipf(1000, 1.1, 7);
        assert!((ks.share(HashKeyRange::FULL) - 1.0).abs() < 1e-9);
        let (lo, hi) = HashKeyRange::FULL
            .split_at(HashKeyRange::FULL.midpoint().unwrap())
            .unwrap();
        assert!((ks.share(lo) + ks.share(hi) - 1.0).abs() < 1e-9);
    }
}
