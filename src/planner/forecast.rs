//! Seasonal foresight: the stream's load over the next `horizon`, read
//! from the same minutes one season back (`forecast.seasons`), scaled by
//! how today's level compares with that season's at the same hour.
//!
//! The past is stream-level (shards come and go; the stream's series is
//! free and always there), so a shard's forecast is the stream's times
//! the shard's share of the stream's recent load. Each season's forecast
//! for a minute is the past minute times the level ratio (clamped to
//! [1/2, 2]: a quiet or busy morning says something about the afternoon,
//! not everything); the forecast of a minute is the highest season's.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use super::ForecastFact;
use super::measure::{Grid, PER_WRITE_BYTES_MINUTE, PER_WRITE_RECORDS_MINUTE, ShardStats, at};
use crate::model::MetricName;
use crate::model::Shard;
use crate::observe::{Observation, PastWindow, Share, StreamMetrics};
use crate::policy::StreamPolicy;

/// How far the level ratio may scale a season.
const LEVEL_CLAMP: (f64, f64) = (0.5, 2.0);

/// The stream's forecast, and where each of its peaks came from.
#[derive(Clone, Debug)]
pub(super) struct Foresight {
    /// The highest forecast bytes and records per minute over the lead
    /// (up to the minute `lead` after now, included) and over the whole
    /// horizon.
    lead: Peaks,
    horizon: Peaks,
    /// Each shard's share of the stream's recent bytes and records.
    shares: Vec<(f64, f64)>,
    horizon_minutes: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct Peaks {
    bytes: Peak,
    records: Peak,
}

/// The highest value of one forecast series, with its minute.
#[derive(Clone, Copy, Debug, Default)]
struct Peak {
    value: f64,
    /// The forecast minute, and the past minute it was read from.
    at: Option<(DateTime<Utc>, DateTime<Utc>)>,
    season: u32,
}

impl Peak {
    fn take(&mut self, value: f64, at: DateTime<Utc>, seen: DateTime<Utc>, season: u32) {
        if value > self.value {
            *self = Peak {
                value,
                at: Some((at, seen)),
                season,
            };
        }
    }
}

/// One season's forecast of one minute, and the past minute it is read from.
#[derive(Clone, Copy, Debug)]
struct Seen {
    value: f64,
    seen: DateTime<Utc>,
    season: u32,
}

/// Keeps the lower of `slot` and `s`.
fn lower(slot: &mut Option<Seen>, s: Seen) {
    if slot.is_none_or(|old| s.value < old.value) {
        *slot = Some(s);
    }
}

/// The stream-level bytes and records of past minute `t`, if read.
fn past_at(past: &[PastWindow], t: DateTime<Utc>) -> Option<(f64, f64)> {
    let w = past.iter().rev().find(|w| w.start <= t && t < w.end())?;
    let i = (t - w.start).num_minutes() as usize;
    Some((w.incoming_bytes.get(i)?, w.incoming_records.get(i)?))
}

/// Today's recent minutes: the stream-level series, or without them (old
/// snapshots) the shards' sum, compared as a whole.
struct Today {
    /// Bytes and records of each recent minute, where the stream-level
    /// series has both.
    minutes: Vec<Option<(f64, f64)>>,
    /// Whether any recent minute is known on its own.
    by_minute: bool,
    /// Bytes and records of all the recent minutes.
    total: (f64, f64),
}

impl Today {
    fn read(stream: &StreamMetrics, recent: std::ops::Range<i64>, stats: &[ShardStats]) -> Today {
        let minutes: Vec<Option<(f64, f64)>> = recent
            .map(|m| {
                Some((
                    at(&stream[MetricName::IncomingBytes], m)?,
                    at(&stream[MetricName::IncomingRecords], m)?,
                ))
            })
            .collect();
        let by_minute = minutes.iter().any(Option::is_some);
        let total = if by_minute {
            minutes
                .iter()
                .flatten()
                .fold((0.0, 0.0), |(b, r), t| (b + t.0, r + t.1))
        } else {
            stats
                .iter()
                .fold((0.0, 0.0), |(b, r), s| (b + s.recent.0, r + s.recent.1))
        };
        Today {
            minutes,
            by_minute,
            total,
        }
    }

    /// Today's level against a season's, bytes and records, over the
    /// minutes both have (all of today's when only the shards' sum is
    /// known); 1 where the season has none. `then` gives, for each recent
    /// minute, the same minute one season back.
    fn level_against(
        &self,
        past: &[PastWindow],
        then: impl Iterator<Item = DateTime<Utc>>,
    ) -> (f64, f64) {
        let (mut now_bytes, mut now_records) = (0.0, 0.0);
        let (mut past_bytes, mut past_records, mut matched) = (0.0, 0.0, false);
        for (k, t) in then.enumerate() {
            let Some((b, r)) = past_at(past, t) else {
                continue;
            };
            match self.minutes[k] {
                Some((tb, tr)) => {
                    now_bytes += tb;
                    now_records += tr;
                }
                None if self.by_minute => continue,
                None => {}
            }
            past_bytes += b;
            past_records += r;
            matched = true;
        }
        if !self.by_minute {
            (now_bytes, now_records) = self.total;
        }
        let level = |today: f64, then: f64| {
            if matched && then > 0.0 && today > 0.0 {
                (today / then).clamp(LEVEL_CLAMP.0, LEVEL_CLAMP.1)
            } else {
                1.0
            }
        };
        (
            level(now_bytes, past_bytes),
            level(now_records, past_records),
        )
    }
}

/// Each open shard's share of the stream's recent bytes and records
/// (`total`): its own recent sums, or with no datapoint of its own in the
/// recent minutes (a pass that read only the stream-level series) its last
/// measured share, or its share of the key space when the stream wrote
/// nothing.
fn shares(
    open: &[&Shard],
    stats: &[ShardStats],
    measured: &[Option<Share>],
    (bytes_now, records_now): (f64, f64),
) -> Vec<(f64, f64)> {
    open.iter()
        .enumerate()
        .map(|(k, s)| {
            let even = s.range.share_of_key_space();
            let share = |part: f64, whole: f64| if whole > 0.0 { part / whole } else { even };
            match measured[k] {
                Some(m) if stats[k].recent == (0.0, 0.0) => (m.bytes, m.records),
                _ => (
                    share(stats[k].recent.0, bytes_now),
                    share(stats[k].recent.1, records_now),
                ),
            }
        })
        .collect()
}

/// The peaks of the forecast series (bytes, records) within the lead and
/// over the horizon, from minute `first`. A forecast minute counts at the
/// level held from it for `hold` minutes, as the hot rule wants `sustain`
/// hot minutes; only whole holds inside the horizon count, and a missing
/// minute breaks a hold: a gap is no evidence of load.
fn held_peaks(
    [bytes, records]: [&[Option<Seen>]; 2],
    first: DateTime<Utc>,
    hold: usize,
    lead_end: DateTime<Utc>,
) -> (Peaks, Peaks) {
    let mut lead = Peaks::default();
    let mut horizon = Peaks::default();
    let n = bytes.len();
    for j in 0..(n + 1).saturating_sub(hold) {
        let at = first + TimeDelta::minutes(j as i64);
        let held = |series: &[Option<Seen>]| {
            let mut low: Option<Seen> = None;
            for s in &series[j..j + hold] {
                lower(&mut low, (*s)?);
            }
            low
        };
        for (held, lead_peak, horizon_peak) in [
            (held(bytes), &mut lead.bytes, &mut horizon.bytes),
            (held(records), &mut lead.records, &mut horizon.records),
        ] {
            let Some(s) = held else { continue };
            horizon_peak.take(s.value, at, s.seen, s.season);
            if at <= lead_end {
                lead_peak.take(s.value, at, s.seen, s.season);
            }
        }
    }
    (lead, horizon)
}

impl Foresight {
    /// The forecast for `obs` at `now` by `policy.forecast`, or `None`
    /// without one, or when no season has any past minute to go on. A
    /// forecast minute counts at the level held for `scale_up.sustain`.
    pub(super) fn new(
        obs: &Observation,
        policy: &StreamPolicy,
        now: DateTime<Utc>,
        grid: &Grid,
        open: &[&Shard],
        (stats, measured): (&[ShardStats], &[Option<Share>]),
        recent_start: i64,
    ) -> Option<Foresight> {
        let forecast = policy.forecast.as_ref()?;
        if obs.past.is_empty() || grid.newest < 0 {
            return None;
        }
        let minute = |i: i64| obs.metrics.start + TimeDelta::minutes(i);
        // The recent minutes the level and the shares are taken over
        // (each shard's sums come from its measurement).
        let recent = recent_start..grid.newest + 1;
        let today = Today::read(&obs.metrics.stream, recent.clone(), stats);
        let shares = shares(open, stats, measured, today.total);

        let first = minute(grid.newest + 1);
        let now = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
        let lead_end = now + TimeDelta::minutes(i64::from(forecast.lead_minutes));
        let horizon_end = now + TimeDelta::minutes(i64::from(forecast.horizon_minutes));
        let n = (horizon_end - first).num_minutes().max(0) as usize;
        // By forecast minute: the lowest of the seasons' forecasts (a rise
        // both yesterday and a week ago saw, not one spike), bytes and
        // records apart, with the past minute each came from.
        let mut bytes: Vec<Option<Seen>> = vec![None; n];
        let mut records: Vec<Option<Seen>> = vec![None; n];
        let mut any = false;
        for &season in &forecast.seasons {
            let back = TimeDelta::minutes(i64::from(season));
            let recent_minutes = recent.clone().map(|m| minute(m) - back);
            let (bytes_level, records_level) = today.level_against(&obs.past, recent_minutes);
            for j in 0..n {
                let seen = first + TimeDelta::minutes(j as i64) - back;
                if let Some((b, r)) = past_at(&obs.past, seen) {
                    any = true;
                    lower(
                        &mut bytes[j],
                        Seen {
                            value: b * bytes_level,
                            seen,
                            season,
                        },
                    );
                    lower(
                        &mut records[j],
                        Seen {
                            value: r * records_level,
                            seen,
                            season,
                        },
                    );
                }
            }
        }
        let hold = policy.scale_up.sustain_minutes.max(1) as usize;
        let (lead, horizon) = held_peaks([&bytes, &records], first, hold, lead_end);
        any.then_some(Foresight {
            lead,
            horizon,
            shares,
            horizon_minutes: forecast.horizon_minutes,
        })
    }

    /// The stream's highest forecast write rate, MiB/s (bytes over 1 MiB/s
    /// per MiB/s, records over 1,000 a second per MiB/s), within the lead
    /// or over the whole horizon, with its minute and the past minute it
    /// was read from; `None` when no minute was forecast.
    pub(super) fn stream_mib(&self, within_lead: bool) -> Option<super::warm::Peak> {
        let peaks = if within_lead {
            &self.lead
        } else {
            &self.horizon
        };
        let bytes = peaks.bytes.value * PER_WRITE_BYTES_MINUTE;
        let records = peaks.records.value * PER_WRITE_RECORDS_MINUTE;
        let from = if bytes >= records {
            peaks.bytes
        } else {
            peaks.records
        };
        let (at, seen) = from.at?;
        Some((bytes.max(records), Some(at), Some(seen)))
    }

    /// The highest forecast utilization of open shards `shards` together,
    /// within the lead or over the whole horizon.
    pub(super) fn of(&self, shards: &[usize], within_lead: bool) -> ForecastFact {
        let (b, r) = shards.iter().fold((0.0, 0.0), |(b, r), &k| {
            (b + self.shares[k].0, r + self.shares[k].1)
        });
        let peaks = if within_lead {
            &self.lead
        } else {
            &self.horizon
        };
        let by_bytes = b * peaks.bytes.value * PER_WRITE_BYTES_MINUTE;
        let by_records = r * peaks.records.value * PER_WRITE_RECORDS_MINUTE;
        let (peak, from) = if by_bytes >= by_records {
            (by_bytes, peaks.bytes)
        } else {
            (by_records, peaks.records)
        };
        ForecastFact {
            peak,
            at: from.at.map(|(at, _)| at),
            seen_at: from.at.map(|(_, seen)| seen),
            season_minutes: from.season,
            horizon_minutes: self.horizon_minutes,
        }
    }
}
