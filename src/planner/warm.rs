//! Warm throughput for On-Demand streams in an On-Demand Advantage
//! account (`warm_throughput` in the policy).
//!
//! On-Demand takes twice its previous peak and adapts to more within 15
//! minutes; traffic that more than doubles faster throttles. Warm
//! throughput (UpdateStreamWarmThroughput, MiB/s) is write capacity made
//! ready before the traffic comes. From the seasonal forecast the planner
//! already reads (`forecast`):
//!
//! - **raise** when the forecast peak within `lead`, or the newest
//!   minutes' own peak, times `headroom`, is above what the stream holds:
//!   to what the whole horizon needs (below);
//! - **lower** when the forecast peak over the whole forecast horizon
//!   and the peak of the last `lead` minutes, times `headroom`, are at
//!   most half of what the stream holds: to that, so a capacity kept for a
//!   passing peak is given back once the stream has been quieter for a
//!   whole lead, and never one the next hour needs;
//!
//! Values are powers of two MiB/s (1, 2, 4, ... and `max_mib`): a stream
//! whose peak wanders within a factor of two is not updated every pass.
//! - else **hold**.
//!
//! Always within `min_mib`..`max_mib`. The decision reads only what the
//! pass observed (the stream's warm throughput from DescribeStreamSummary,
//! its stream-level series and its past), so a Lambda run decides as a
//! sidecar does: no memory between passes. A stream whose summary shows
//! no warm throughput is not in an Advantage account: nothing is planned,
//! and the plan says why.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::forecast::Foresight;
use super::measure::{Grid, Windows, at};
use crate::model::MetricName;
use crate::model::{StreamMode, StreamStatus, WRITE_BYTES_PER_SECOND, WRITE_RECORDS_PER_SECOND};
use crate::observe::Observation;
use crate::policy::{StreamPolicy, WarmPolicy};

/// Lowered only when the need is at most this share of what is held (a
/// rung down on the ladder of powers of two).
pub const LOWER_BELOW: f64 = 0.5;
/// The newest minutes whose own peak the warm throughput always covers.
const NEWEST_MINUTES: i64 = 5;

/// The warm-throughput decision for one On-Demand stream.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WarmPlan {
    /// What the stream holds now (its target), MiB/s; `None` outside an
    /// Advantage account.
    pub held_mib: Option<u32>,
    /// The peak to cover within the lead, with the headroom, MiB/s.
    pub need_mib: u32,
    /// The peak over the whole horizon, with the headroom, MiB/s.
    pub keep_mib: u32,
    /// The warm throughput to set, when it changes.
    pub set_mib: Option<u32>,
    /// Why, with the numbers.
    pub reason: String,
}

impl WarmPlan {
    /// Whether this plan calls UpdateStreamWarmThroughput.
    pub fn changes(&self) -> bool {
        self.set_mib.is_some()
    }
}

/// MiB/s of writes a minute's bytes and records stand for: bytes over 1
/// MiB/s per MiB/s, records over 1,000 a second per MiB/s, as for shards.
fn mib_per_second(bytes: f64, records: f64) -> f64 {
    (bytes / 60.0 / WRITE_BYTES_PER_SECOND).max(records / 60.0 / WRITE_RECORDS_PER_SECOND)
}

/// The plan for `obs` under `policy`, when the stream is On-Demand and
/// the policy manages its warm throughput.
pub fn plan(obs: &Observation, policy: &StreamPolicy, now: DateTime<Utc>) -> Option<WarmPlan> {
    let warm = policy.warm_throughput.as_ref()?;
    if obs.stream_mode != StreamMode::OnDemand || obs.stream_status != StreamStatus::Active {
        return None;
    }
    let Some(held) = obs.warm_throughput.map(|w| w.target_mib) else {
        return Some(WarmPlan {
            held_mib: None,
            need_mib: 0,
            keep_mib: 0,
            set_mib: None,
            reason: "warm throughput not managed: DescribeStreamSummary shows none, so the account has no On-Demand Advantage commitment (UpdateAccountSettings with MinimumThroughputBillingCommitment enables it)".into(),
        });
    };
    // The forecast, minute by minute: the lead is the warm lead, and a
    // single forecast minute counts (capacity must take the peak minute).
    let mut seeing = policy.clone();
    if let Some(f) = seeing.forecast.as_mut() {
        f.lead_minutes = warm.lead_minutes;
    }
    seeing.scale_up.sustain_minutes = 1;
    let grid = Grid::new(obs, &seeing, &[]);
    let windows = Windows::new(&grid, &seeing);
    let foresight = Foresight::new(obs, &seeing, now, &grid, &[], (&[], &[]), windows.recent);
    let stream = &obs.metrics.stream;
    let peak_over = |minutes: i64| {
        (grid.newest - minutes + 1..=grid.newest)
            .filter_map(|m| {
                Some(mib_per_second(
                    at(&stream[MetricName::IncomingBytes], m)?,
                    at(&stream[MetricName::IncomingRecords], m)?,
                ))
            })
            .fold(0.0, f64::max)
    };
    let newest = peak_over(NEWEST_MINUTES);
    let (lead, horizon) = match &foresight {
        Some(f) => (f.stream_mib(true), f.stream_mib(false)),
        None => (None, None),
    };
    // Lowered only after a quiet `lead`: what the last `lead` minutes
    // took is kept too, so a raise is not undone by the next lull.
    let lately = peak_over(i64::from(warm.lead_minutes)).max(newest);
    let horizon = Some(horizon.map_or((lately, None, None), |h| {
        if h.0 >= lately {
            h
        } else {
            (lately, None, None)
        }
    }));
    Some(decide(warm, held, newest, lead, horizon))
}

/// A forecast peak: MiB/s, the forecast minute and the past minute it was
/// read from.
pub(super) type Peak = (f64, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The rung of the warm-throughput ladder that holds `mib`: the smallest
/// power of two MiB/s at or above it, within `min_mib`..`max_mib`. Warm
/// throughput moves a rung or more at a time, so a stream whose peak
/// wanders within a rung is not updated every pass.
fn rung(warm: &WarmPolicy, mib: f64) -> u32 {
    let whole = (mib - 1e-9).ceil().max(1.0) as u32;
    whole
        .checked_next_power_of_two()
        .unwrap_or(u32::MAX)
        .clamp(warm.min_mib, warm.max_mib)
}

/// The decision from the numbers: `held` MiB/s now, the newest minutes'
/// peak, and the forecast peaks within the lead and over the horizon.
pub(super) fn decide(
    warm: &WarmPolicy,
    held: u32,
    newest: f64,
    lead: Option<Peak>,
    horizon: Option<Peak>,
) -> WarmPlan {
    let lead_peak = lead.map_or(0.0, |p| p.0);
    let horizon_peak = horizon.map_or(0.0, |p| p.0).max(lead_peak);
    let need = rung(warm, newest.max(lead_peak) * warm.headroom);
    let keep = rung(warm, newest.max(horizon_peak) * warm.headroom);
    let said = |p: Option<Peak>, what: &str| match p {
        Some((mib, Some(at), Some(seen))) => format!(
            "the forecast peak {what} is {mib:.1} MiB/s at {} (read from {})",
            at.format("%H:%M"),
            seen.format("%Y-%m-%d %H:%M")
        ),
        Some((mib, _, _)) => format!("the peak {what} is {mib:.1} MiB/s (the last minutes')"),
        None => format!("no forecast {what} (no past minute to go on)"),
    };
    let numbers = format!(
        "the newest {NEWEST_MINUTES} minutes peak at {newest:.1} MiB/s, {}; with headroom {}",
        said(lead, &format!("within {}m", warm.lead_minutes)),
        warm.headroom
    );
    let (set, reason) = if need > held {
        // To what the whole horizon needs: one raise, not one a minute.
        (
            Some(keep),
            format!(
                "raise warm throughput {held} -> {keep} MiB/s: {numbers}, the lead needs {need} MiB/s and the horizon {keep} MiB/s (powers of two)"
            ),
        )
    } else if f64::from(keep) <= LOWER_BELOW * f64::from(held) {
        (
            Some(keep),
            format!(
                "lower warm throughput {held} -> {keep} MiB/s: {}; {numbers}, the horizon needs {keep} MiB/s (powers of two), at most half of what is held",
                said(horizon, "over the horizon"),
            ),
        )
    } else {
        (
            None,
            format!(
                "hold warm throughput at {held} MiB/s: {numbers}, the lead needs {need} MiB/s and the horizon {keep} MiB/s (powers of two)"
            ),
        )
    };
    WarmPlan {
        held_mib: Some(held),
        need_mib: need,
        keep_mib: keep,
        set_mib: set,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32, m: u32) -> Option<DateTime<Utc>> {
        Some(format!("2026-01-02T{h:02}:{m:02}:00Z").parse().unwrap())
    }

    fn yesterday(h: u32, m: u32) -> Option<DateTime<Utc>> {
        Some(format!("2026-01-01T{h:02}:{m:02}:00Z").parse().unwrap())
    }

    #[test]
    fn the_documented_rules() {
        let warm = WarmPolicy::default();
        struct Case {
            name: &'static str,
            held: u32,
            newest: f64,
            lead: Option<Peak>,
            horizon: Option<Peak>,
            set: Option<u32>,
            reason: &'static str,
        }
        let rise = Some((10.0, at(18, 20), yesterday(18, 20)));
        let later = Some((30.0, at(19, 0), yesterday(19, 0)));
        let cases = [
            Case {
                name: "a forecast rise within the lead raises it, with the headroom, a power of two",
                held: 4,
                newest: 4.0,
                lead: rise,
                horizon: rise,
                set: Some(16),
                reason: "raise warm throughput 4 -> 16 MiB/s: the newest 5 minutes peak at 4.0 MiB/s, the forecast peak within 30m is 10.0 MiB/s at 18:20 (read from 2026-01-01 18:20); with headroom 1.2, the lead needs 16 MiB/s and the horizon 16 MiB/s (powers of two)",
            },
            Case {
                name: "traffic above what is held raises it without a forecast",
                held: 4,
                newest: 9.0,
                lead: None,
                horizon: None,
                set: Some(16),
                reason: "raise warm throughput 4 -> 16 MiB/s: the newest 5 minutes peak at 9.0 MiB/s, no forecast within 30m (no past minute to go on); with headroom 1.2, the lead needs 16 MiB/s and the horizon 16 MiB/s (powers of two)",
            },
            Case {
                name: "a raise covers the whole horizon at once",
                held: 4,
                newest: 4.0,
                lead: rise,
                horizon: later,
                set: Some(64),
                reason: "raise warm throughput 4 -> 64 MiB/s: the newest 5 minutes peak at 4.0 MiB/s, the forecast peak within 30m is 10.0 MiB/s at 18:20 (read from 2026-01-01 18:20); with headroom 1.2, the lead needs 16 MiB/s and the horizon 64 MiB/s (powers of two)",
            },
            Case {
                name: "a rise beyond the lead, held for already, holds",
                held: 64,
                newest: 4.0,
                lead: rise,
                horizon: later,
                set: None,
                reason: "hold warm throughput at 64 MiB/s: the newest 5 minutes peak at 4.0 MiB/s, the forecast peak within 30m is 10.0 MiB/s at 18:20 (read from 2026-01-01 18:20); with headroom 1.2, the lead needs 16 MiB/s and the horizon 64 MiB/s (powers of two)",
            },
            Case {
                name: "a quiet horizon lowers it to what the horizon needs",
                held: 64,
                newest: 4.0,
                lead: rise,
                horizon: rise,
                set: Some(16),
                reason: "lower warm throughput 64 -> 16 MiB/s: the forecast peak over the horizon is 10.0 MiB/s at 18:20 (read from 2026-01-01 18:20); the newest 5 minutes peak at 4.0 MiB/s, the forecast peak within 30m is 10.0 MiB/s at 18:20 (read from 2026-01-01 18:20); with headroom 1.2, the horizon needs 16 MiB/s (powers of two), at most half of what is held",
            },
            Case {
                name: "more than half of what is held is not lowered",
                held: 20,
                newest: 4.0,
                lead: rise,
                horizon: rise,
                set: None,
                reason: "hold warm throughput at 20 MiB/s: the newest 5 minutes peak at 4.0 MiB/s, the forecast peak within 30m is 10.0 MiB/s at 18:20 (read from 2026-01-01 18:20); with headroom 1.2, the lead needs 16 MiB/s and the horizon 16 MiB/s (powers of two)",
            },
        ];
        for c in cases {
            let p = decide(&warm, c.held, c.newest, c.lead, c.horizon);
            assert_eq!(p.set_mib, c.set, "{}", c.name);
            assert_eq!(p.reason, c.reason, "{}", c.name);
        }
    }

    #[test]
    fn min_and_max_bound_every_decision() {
        let warm = WarmPolicy {
            min_mib: 8,
            max_mib: 50,
            ..WarmPolicy::default()
        };
        // A quiet stream is lowered to min_mib, never below it.
        let p = decide(&warm, 40, 0.5, None, None);
        assert_eq!(p.set_mib, Some(8));
        // A huge forecast is capped at max_mib.
        let p = decide(&warm, 20, 1.0, Some((100.0, None, None)), None);
        assert_eq!(p.set_mib, Some(50));
        assert_eq!(p.need_mib, 50);
        // Already at the cap: held.
        assert_eq!(
            decide(&warm, 50, 1.0, Some((100.0, None, None)), None).set_mib,
            None
        );
        // The ladder: 1, 2, 4, ... MiB/s.
        let any = WarmPolicy::default();
        assert_eq!(
            [0.2, 1.0, 1.01, 3.0, 4.0, 4.5, 9000.0, 20000.0].map(|m| rung(&any, m)),
            [1, 1, 2, 4, 4, 8, 10240, 10240]
        );
    }
}
