//! Kinesis On-Demand (Standard) capacity, as AWS documents it, for the
//! `on-demand` strategy: no shards to manage, a write capacity that follows
//! the stream's own peak.
//!
//! The model, per minute:
//! - a new stream takes [`INITIAL_BYTES_PER_SECOND`] and
//!   [`INITIAL_RECORDS_PER_SECOND`] of writes;
//! - the write capacity is twice the highest write rate the stream accepted
//!   during the previous 30 days, and never less than the initial one;
//! - AWS takes up to 15 minutes to adapt, so a minute's capacity counts the
//!   peak only up to 15 minutes before it: traffic that more than doubles
//!   within 15 minutes throttles;
//! - one partition key still cannot take more than one shard's 1 MiB/s and
//!   1,000 records/s;
//! - limits hold per second, so a minute whose average is under them still
//!   throttles its bursts (the scenario's `burstiness`, as for shards);
//! - in an On-Demand Advantage account, warm throughput (MiB/s) is write
//!   capacity held ready: a minute's capacity is never less than it, at
//!   1,000 records/s per MiB/s as for shards.

use std::collections::VecDeque;

use super::traffic::{Offered, Traffic};
use super::world::{MinuteStats, throttled};
use crate::model::{BYTES_PER_SHARD_MINUTE, RECORDS_PER_SHARD_MINUTE};

/// A new On-Demand stream's write capacity, bytes per second.
pub const INITIAL_BYTES_PER_SECOND: f64 = 4.0 * 1_048_576.0;
/// A new On-Demand stream's write capacity, records per second.
pub const INITIAL_RECORDS_PER_SECOND: f64 = 4_000.0;
/// How far back the peak that sets the capacity is looked for.
const PEAK_WINDOW_MINUTES: usize = 30 * 24 * 60;
/// How long AWS takes to adapt to a new peak.
const ADAPT_MINUTES: usize = 15;

/// Plays `traffic` on an On-Demand stream that has been running before:
/// one day like the trace's first, so its capacity starts at twice that
/// day's peak (a stream new to On-Demand would first double its way up;
/// the provisioned strategies start from a working shard count too).
/// Per-second rates stray within ±`burstiness` of each minute's average,
/// as for provisioned shards. `open_shards` in each minute is the stream's
/// write capacity in shards' worth (rounded up), so that its "shard-hours"
/// show the headroom AWS keeps.
pub fn play(traffic: &Traffic, burstiness: f64, warm: &Warm) -> Vec<MinuteStats> {
    play_deciding(traffic, burstiness, |m, _| warm.at(m))
}

/// [`play`] with the warm throughput decided minute by minute, knowing
/// the minutes played (see `play_with`).
pub fn play_deciding(
    traffic: &Traffic,
    burstiness: f64,
    warm: impl FnMut(usize, &[MinuteStats]) -> f64,
) -> Vec<MinuteStats> {
    play_keys(traffic, burstiness, true, warm)
}

/// [`play`] with AUTO record distribution: records spread evenly over the
/// stream whatever their partition keys, so no key is held to one
/// shard's worth.
pub fn play_auto(traffic: &Traffic, burstiness: f64) -> Vec<MinuteStats> {
    play_keys(traffic, burstiness, false, |_, _| 0.0)
}

fn play_keys(
    traffic: &Traffic,
    burstiness: f64,
    by_key: bool,
    warm: impl FnMut(usize, &[MinuteStats]) -> f64,
) -> Vec<MinuteStats> {
    let minutes = (0..traffic.minutes())
        .map(|m| {
            let keys = if by_key {
                traffic.single_key_shares(m)
            } else {
                Vec::new()
            };
            (traffic.total(m), keys)
        })
        .collect::<Vec<_>>();
    let prior_peak = minutes
        .iter()
        .take(1440)
        .map(|(o, _)| o.records)
        .fold(0.0, f64::max);
    play_with(
        &minutes,
        traffic.record_size(),
        prior_peak,
        burstiness,
        warm,
    )
}

/// Warm throughput held on an On-Demand stream, MiB/s, minute by minute.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Warm {
    /// None (On-Demand Standard, or an Advantage stream left cold).
    #[default]
    None,
    /// The same all along.
    Fixed(f64),
    /// One value a minute; after the last, the last.
    Each(Vec<f64>),
}

impl Warm {
    /// MiB/s held in `minute`.
    pub fn at(&self, minute: usize) -> f64 {
        match self {
            Warm::None => 0.0,
            Warm::Fixed(mib) => *mib,
            Warm::Each(v) => v.get(minute).or(v.last()).copied().unwrap_or(0.0),
        }
    }

    /// MiB/s held, summed over hours, for `minutes` minutes.
    pub fn mib_hours(&self, minutes: usize) -> f64 {
        (0..minutes).map(|m| self.at(m)).sum::<f64>() / 60.0
    }
}

/// [`play`] over explicit minutes: each minute's offered load and the
/// shares single partition keys carry of it, after a peak of `prior_peak`
/// records a minute accepted before the first (0: a new stream).
#[cfg(test)]
pub(crate) fn play_minutes(
    minutes: &[(Offered, Vec<f64>)],
    record_size: f64,
    prior_peak: f64,
    burstiness: f64,
    warm: &Warm,
) -> Vec<MinuteStats> {
    play_with(minutes, record_size, prior_peak, burstiness, |m, _| {
        warm.at(m)
    })
}

/// [`play_minutes`] with the warm throughput of each minute decided as
/// the minutes are played: `warm(minute, played)` gives the MiB/s held in
/// `minute`, knowing the minutes before it.
pub(crate) fn play_with(
    minutes: &[(Offered, Vec<f64>)],
    record_size: f64,
    prior_peak: f64,
    burstiness: f64,
    mut warm: impl FnMut(usize, &[MinuteStats]) -> f64,
) -> Vec<MinuteStats> {
    // The most records one key takes in a minute: one shard's worth.
    let key_limit = RECORDS_PER_SHARD_MINUTE.min(BYTES_PER_SHARD_MINUTE / record_size);
    let initial =
        (INITIAL_RECORDS_PER_SECOND * 60.0).min(INITIAL_BYTES_PER_SECOND * 60.0 / record_size);
    let mut peaks = SlidingMax::default();
    let mut out: Vec<MinuteStats> = Vec::with_capacity(minutes.len());
    for (minute, (offered, keys)) in minutes.iter().enumerate() {
        // The peak accepted from 30 days to 15 minutes ago, and before the
        // first minute.
        if minute >= ADAPT_MINUTES {
            let visible = minute - ADAPT_MINUTES;
            peaks.push(visible, out[visible].accepted_records);
        }
        peaks.forget_before(minute.saturating_sub(PEAK_WINDOW_MINUTES));
        let before = if minute < PEAK_WINDOW_MINUTES {
            prior_peak
        } else {
            0.0
        };
        let mib = warm(minute, &out);
        let held = (mib * 1000.0 * 60.0).min(mib * 1_048_576.0 * 60.0 / record_size);
        let capacity = initial.max(2.0 * peaks.max().max(before)).max(held);
        let key_throttled: f64 = keys
            .iter()
            .map(|share| throttled(share * offered.records, key_limit, burstiness))
            .sum();
        let rest = offered.records - key_throttled;
        let throttled = key_throttled + throttled(rest, capacity, burstiness);
        let accepted = offered.records - throttled;
        let worth = (capacity / RECORDS_PER_SHARD_MINUTE)
            .max(capacity * record_size / BYTES_PER_SHARD_MINUTE)
            .ceil();
        out.push(MinuteStats {
            offered: *offered,
            accepted_bytes: accepted * record_size,
            accepted_records: accepted,
            throttled_records: throttled,
            open_shards: worth as u32,
            ..MinuteStats::default()
        });
    }
    out
}

/// The largest value pushed since a given minute, amortized O(1).
#[derive(Default)]
struct SlidingMax {
    /// (minute, value), values decreasing.
    queue: VecDeque<(usize, f64)>,
}

impl SlidingMax {
    fn push(&mut self, minute: usize, value: f64) {
        while self.queue.back().is_some_and(|&(_, v)| v <= value) {
            self.queue.pop_back();
        }
        self.queue.push_back((minute, value));
    }

    fn forget_before(&mut self, minute: usize) {
        while self.queue.front().is_some_and(|&(m, _)| m < minute) {
            self.queue.pop_front();
        }
    }

    fn max(&self) -> f64 {
        self.queue.front().map_or(0.0, |&(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1_048_576.0;
    /// 2 KiB records: bytes, not records, bind a stream's capacity.
    const RECORD: f64 = 2048.0;

    /// `minutes` of `mib_per_second` in 2 KiB records, no heavy key.
    fn flat(mib_per_second: f64, minutes: usize) -> Vec<(Offered, Vec<f64>)> {
        let bytes = mib_per_second * MIB * 60.0;
        vec![
            (
                Offered {
                    bytes,
                    records: bytes / RECORD,
                },
                Vec::new(),
            );
            minutes
        ]
    }

    fn throttled_minutes(stats: &[MinuteStats]) -> Vec<usize> {
        stats
            .iter()
            .enumerate()
            .filter(|(_, m)| m.throttled_records > 1e-9)
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn the_model_follows_the_documented_rules() {
        struct Case {
            name: &'static str,
            minutes: Vec<(Offered, Vec<f64>)>,
            throttled: std::ops::Range<usize>,
            fraction_in_first: f64,
        }
        // 3 MiB/s for a day, then 7.5 MiB/s: more than double within a
        // minute, so 15 minutes throttle, the first at 1 - 6/7.5.
        let mut doubling = flat(3.0, 1440);
        doubling.extend(flat(7.5, 60));
        // 5% more every 15 minutes from 3 MiB/s to ~40 MiB/s.
        let ramp: Vec<_> = (0..800)
            .flat_map(|step| flat(3.0 * 1.05f64.powi(step / 15), 1))
            .take(800)
            .collect();
        // 2 MiB/s, one key taking three quarters: 1.5 MiB/s, over one
        // shard's 1 MiB/s whatever the stream's size; a third of it throttles.
        let mut hot = flat(2.0, 60);
        for minute in &mut hot {
            minute.1 = vec![0.75];
        }
        let cases = [
            Case {
                name: "a new stream takes 4 MiB/s",
                minutes: flat(3.9, 120),
                throttled: 0..0,
                fraction_in_first: 0.0,
            },
            Case {
                name: "a new stream at 6 MiB/s throttles until it has adapted",
                minutes: flat(6.0, 120),
                throttled: 0..15,
                fraction_in_first: 1.0 - 4.0 / 6.0,
            },
            Case {
                name: "more than double the peak within 15 minutes",
                minutes: doubling,
                throttled: 1440..1455,
                fraction_in_first: 1.0 - 6.0 / 7.5,
            },
            Case {
                name: "a slow ramp never throttles",
                minutes: ramp,
                throttled: 0..0,
                fraction_in_first: 0.0,
            },
            Case {
                name: "a hot key is held to one shard's worth",
                minutes: hot,
                throttled: 0..60,
                fraction_in_first: 0.25,
            },
        ];
        for case in cases {
            let stats = play_minutes(&case.minutes, RECORD, 0.0, 0.0, &Warm::None);
            let throttled = throttled_minutes(&stats);
            assert_eq!(
                throttled,
                case.throttled.clone().collect::<Vec<_>>(),
                "{}",
                case.name
            );
            if let Some(&first) = throttled.first() {
                let m = &stats[first];
                let fraction = m.throttled_records / m.offered.records;
                assert!(
                    (fraction - case.fraction_in_first).abs() < 1e-9,
                    "{}: {fraction}",
                    case.name
                );
            }
            for m in &stats {
                assert!(
                    (m.accepted_records + m.throttled_records - m.offered.records).abs() < 1e-6,
                    "{}: conservation",
                    case.name
                );
            }
        }
    }

    #[test]
    fn a_stream_that_ran_before_starts_at_twice_its_old_peak() {
        // 6 MiB/s from the first minute: a new stream throttles for 15
        // minutes, one that took 6 MiB/s before does not.
        let minutes = flat(6.0, 60);
        let old_peak = minutes[0].0.records;
        assert!(
            !throttled_minutes(&play_minutes(&minutes, RECORD, 0.0, 0.0, &Warm::None)).is_empty()
        );
        assert!(
            throttled_minutes(&play_minutes(&minutes, RECORD, old_peak, 0.0, &Warm::None))
                .is_empty()
        );
    }

    #[test]
    fn bursts_within_a_minute_throttle_under_the_average() {
        // 3.9 MiB/s on a new stream's 4 MiB/s: fine on average, but with
        // per-second rates ±10% around it some seconds go over.
        let minutes = flat(3.9, 10);
        assert!(
            throttled_minutes(&play_minutes(&minutes, RECORD, 0.0, 0.0, &Warm::None)).is_empty()
        );
        assert_eq!(
            throttled_minutes(&play_minutes(&minutes, RECORD, 0.0, 0.1, &Warm::None)),
            (0..10).collect::<Vec<_>>()
        );
    }

    #[test]
    fn warm_throughput_is_capacity_held_before_the_traffic_comes() {
        // 3 MiB/s for a day, then 20 MiB/s: without warm throughput the
        // stream doubles its way up (6, 12, then 24 MiB/s) and throttles
        // for 30 minutes; warmed to 20 MiB/s it takes the jump at once.
        let mut minutes = flat(3.0, 1440);
        minutes.extend(flat(20.0, 60));
        let cold = play_minutes(&minutes, RECORD, 0.0, 0.0, &Warm::None);
        assert_eq!(throttled_minutes(&cold), (1440..1470).collect::<Vec<_>>());
        let warm = play_minutes(&minutes, RECORD, 0.0, 0.0, &Warm::Fixed(20.0));
        assert!(throttled_minutes(&warm).is_empty());
        assert_eq!(warm[0].open_shards, 20, "20 MiB/s is 20 shards' worth");
        // Warmed only from the jump's minute: the same.
        let mut each = vec![0.0; 1440];
        each.push(20.0);
        let timed = play_minutes(&minutes, RECORD, 0.0, 0.0, &Warm::Each(each.clone()));
        assert!(throttled_minutes(&timed).is_empty());
        // A minute too late: that minute throttles as a cold stream's would.
        each.insert(0, 0.0);
        let late = play_minutes(&minutes, RECORD, 0.0, 0.0, &Warm::Each(each));
        assert_eq!(throttled_minutes(&late), vec![1440]);
        assert!((Warm::Fixed(20.0).mib_hours(90) - 30.0).abs() < 1e-9);
        // Small records: 1,000 records/s per MiB/s binds, as for shards.
        let small = 512.0;
        let rate = 5_000.0 * 60.0;
        let records = vec![
            (
                Offered {
                    bytes: rate * small,
                    records: rate,
                },
                Vec::new(),
            );
            10
        ];
        let five = play_minutes(&records, small, 0.0, 0.0, &Warm::Fixed(5.0));
        assert!(throttled_minutes(&five).is_empty());
        let four = play_minutes(&records, small, 0.0, 0.0, &Warm::Fixed(4.5));
        assert_eq!(throttled_minutes(&four), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn the_peak_is_forgotten_after_30_days() {
        // 20 MiB/s for an hour (a new stream doubles its way up: 4, 8, 16,
        // then 32 MiB/s after 45 minutes), then 30 days and more of 1
        // MiB/s, then 12 MiB/s: within 30 days the capacity is 40 MiB/s;
        // after, it is back to the initial 4 MiB/s, and the jump throttles
        // for 30 minutes (4, then 8, then 16 MiB/s).
        let mut minutes = flat(20.0, 60);
        minutes.extend(flat(1.0, PEAK_WINDOW_MINUTES + 120));
        minutes.extend(flat(12.0, 30));
        let stats = play_minutes(&minutes, RECORD, 0.0, 0.0, &Warm::None);
        let jump = 60 + PEAK_WINDOW_MINUTES + 120;
        assert_eq!(stats[100].open_shards, 40, "capacity in shards' worth");
        assert_eq!(stats[jump - 1].open_shards, 4);
        assert!(stats[jump].throttled_records > 0.0);
        assert_eq!(
            throttled_minutes(&stats),
            (0..45).chain(jump..jump + 30).collect::<Vec<_>>()
        );
    }
}
