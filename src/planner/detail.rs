//! Deciding how much to read: whether a pass that has a stream's
//! stream-level series and each shard's last measured share must read
//! the shard-level series too.
//!
//! The stream-level series are free to publish and cost one GetMetricData
//! metric each a pass; the shard-level ones cost one per metric and shard
//! a pass (and CloudWatch bills them while enhanced monitoring publishes
//! them). So they are read when a decision may be near, which the stream
//! itself says: it throttles, a shard's estimated load (the stream's load
//! times its share) nears the scale-up threshold, or the plan on the
//! estimates would act. Otherwise the plan on estimates stands: an
//! estimate proves a shard cold, never hot, and a merge resting on one
//! waits for shard-level datapoints to confirm it.

use super::{Action, Plan, Trigger, Verdict};
use crate::model::MetricName;
use crate::observe::{Observation, ShardDetail};
use crate::policy::StreamPolicy;

/// A shard whose estimated load reaches this fraction of the scale-up
/// threshold is read in detail: a split may be near. Below it, its share
/// would have to have grown by a quarter since it was measured for the
/// shard to be hot unseen, and then the stream's throttling (read every
/// pass) calls for a read anyway.
pub const NEAR_THRESHOLD: f64 = 0.8;

/// What can be decided before the stream-level series of this pass are
/// in: `Some` when the shard-level series are read (or done without)
/// whatever those say. Where the shard-level series cannot be read now
/// (turned off, on demand: `readable` false), only what needs no read is
/// decided; the stream-level series say whether to turn them on.
pub fn shard_detail_known(
    obs: &Observation,
    policy: &StreamPolicy,
    readable: bool,
) -> Option<ShardDetail> {
    let open = obs.open_shards();
    let reads_out = policy.needed_metrics().contains(&MetricName::OutgoingBytes);
    if open.len() <= 1 && !reads_out {
        return Some(ShardDetail::OneShard);
    }
    if reads_out {
        return Some(ShardDetail::ReadLoad);
    }
    if !readable {
        return None;
    }
    unknown_shares(obs).or_else(|| refresh(obs, policy))
}

/// A read for the shares, if some open shard has none measured.
fn unknown_shares(obs: &Observation) -> Option<ShardDetail> {
    let Some(shares) = &obs.shares else {
        return Some(ShardDetail::NoShares);
    };
    let open = obs.open_shards();
    let unknown = open.iter().filter(|s| shares.of(&s.id).is_none()).count();
    (unknown > 0).then_some(ShardDetail::NewShards {
        shards: unknown as u32,
    })
}

/// A refresh, if the shares are `metrics.shard_refresh` old or older.
/// Each stream at its own 75% to 100% of it (by its name): streams first
/// measured in one pass are not all read again in one pass, and drift
/// further apart each time.
fn refresh(obs: &Observation, policy: &StreamPolicy) -> Option<ShardDetail> {
    let shares = obs.shares.as_ref()?;
    let age_seconds = (obs.observed_at - shares.measured_at).num_seconds();
    let own = {
        use std::hash::{Hash, Hasher};
        let mut h = rustc_hash::FxHasher::default();
        obs.stream_name.hash(&mut h);
        1.0 - 0.25 * (h.finish() >> 11) as f64 / (1u64 << 53) as f64
    };
    let refresh_seconds = (policy.shard_refresh.as_secs() as f64 * own) as u64;
    (age_seconds >= refresh_seconds as i64).then_some(ShardDetail::Refresh {
        age_seconds,
        refresh_seconds,
    })
}

/// Whether the shard-level series must be read, given `estimate`, the
/// plan made on `obs` without them (on the stream-level series and the
/// shares).
pub fn shard_detail(obs: &Observation, estimate: &Plan, policy: &StreamPolicy) -> ShardDetail {
    if estimate.refused.is_some() {
        return ShardDetail::NotPlanned;
    }
    if let Some(known) = shard_detail_known(obs, policy, false) {
        return known;
    }
    if let Some(records) = throttled(obs, estimate, policy) {
        return ShardDetail::Throttled { records };
    }
    let threshold = estimate
        .headroom
        .filter(|h| h.derived())
        .map_or(policy.scale_up.threshold, |h| h.threshold);
    let near = NEAR_THRESHOLD * threshold;
    // No shard carries more than the whole stream: without the shares, a
    // stream under `near` has no shard near a split either.
    let bound = stream_peak(obs, estimate, policy);
    let unknown = unknown_shares(obs);
    if let Some(unknown) = unknown.clone().filter(|_| bound >= near) {
        return unknown;
    }
    let highest = estimate
        .verdicts
        .iter()
        .max_by(|a, b| a.facts.scale_up_peak.total_cmp(&b.facts.scale_up_peak));
    if let Some(v) = highest
        && v.facts.scale_up_peak >= near
    {
        return ShardDetail::NearThreshold {
            shard: v.shard_id.clone(),
            estimate: v.facts.scale_up_peak,
            near,
        };
    }
    let acting = estimate.actions.iter().find(|a| {
        !matches!(
            a,
            Action::Split(s) if s.trigger == Trigger::MinShards
        )
    });
    if let Some(action) = acting {
        return ShardDetail::WouldAct {
            action: super::describe(action),
        };
    }
    if let Some(v) = estimate
        .verdicts
        .iter()
        .find(|v| matches!(v.verdict, Verdict::AwaitingShardMetrics { .. }))
    {
        return ShardDetail::WouldAct {
            action: format!("merge {} once its share is confirmed", v.shard_id),
        };
    }
    if let Some(refresh) = refresh(obs, policy) {
        return refresh;
    }
    if unknown.is_some() {
        return ShardDetail::Calm {
            highest: bound,
            shard: None,
            near,
            shares_age_seconds: 0,
        };
    }
    ShardDetail::Calm {
        highest: highest.map_or(0.0, |v| v.facts.scale_up_peak),
        shard: highest.map(|v| v.shard_id.clone()),
        near,
        shares_age_seconds: obs
            .shares
            .as_ref()
            .map_or(0, |s| (obs.observed_at - s.measured_at).num_seconds()),
    }
}

/// The stream's highest utilization (the larger of bytes and records, in
/// shards' worth) in the scale-up window: a bound on every shard's.
fn stream_peak(obs: &Observation, estimate: &Plan, policy: &StreamPolicy) -> f64 {
    let super::MetricsFreshness::Newest { minute, .. } = estimate.metrics else {
        return 0.0;
    };
    let newest = (minute - obs.metrics.start).num_minutes();
    let window = i64::from(policy.scale_up.window_minutes);
    let stream = &obs.metrics.stream;
    (newest - window + 1..=newest)
        .filter_map(|m| {
            let i = usize::try_from(m).ok()?;
            let bytes = stream[MetricName::IncomingBytes].get(i).unwrap_or(0.0);
            let records = stream[MetricName::IncomingRecords].get(i).unwrap_or(0.0);
            Some(
                (bytes * super::measure::PER_WRITE_BYTES_MINUTE)
                    .max(records * super::measure::PER_WRITE_RECORDS_MINUTE),
            )
        })
        .fold(0.0, f64::max)
}

/// The writes the stream throttled in the scale-up window (stream-level
/// WriteProvisionedThroughputExceeded), if they reach the
/// `scale_up.throttled_records` rule.
fn throttled(obs: &Observation, estimate: &Plan, policy: &StreamPolicy) -> Option<f64> {
    let rule = policy.scale_up.throttled_records;
    let super::MetricsFreshness::Newest { minute, .. } = estimate.metrics else {
        return None;
    };
    let newest = (minute - obs.metrics.start).num_minutes();
    let window = i64::from(policy.scale_up.window_minutes);
    let records: f64 = (newest - window + 1..=newest)
        .filter_map(|m| {
            obs.metrics.stream[MetricName::WriteProvisionedThroughputExceeded]
                .get(usize::try_from(m).ok()?)
        })
        .sum();
    (rule > 0 && records >= rule as f64).then_some(records)
}

/// With `metrics.shard_level: on_demand`, how the stream's enhanced
/// monitoring should change, given why this pass read (or would have read)
/// the shard-level series, the metrics `enabled` now, and how long no
/// decision has been near (`calm`):
/// - enable the metrics the policy needs that are off, when a decision may
///   be near (not merely for a refresh of the shares: that is what
///   turning them on on demand saves);
/// - disable those that are on once the stream has been calm for
///   `metrics.shard_calm` (the executor disables only those the
///   controller's record says it enabled).
pub fn monitoring_change(
    policy: &StreamPolicy,
    detail: &ShardDetail,
    enabled: &[MetricName],
    calm: chrono::TimeDelta,
) -> Option<super::MonitoringChange> {
    if policy.shard_level != crate::policy::ShardLevel::OnDemand {
        return None;
    }
    let needed = policy.needed_metrics();
    match detail {
        ShardDetail::NotPlanned => None,
        ShardDetail::Refresh { .. } => None,
        d if d.read() => {
            let off: Vec<MetricName> = needed
                .into_iter()
                .filter(|m| !enabled.contains(m))
                .collect();
            (!off.is_empty()).then_some(super::MonitoringChange::Enable { metrics: off })
        }
        _ => {
            let on: Vec<MetricName> = needed.into_iter().filter(|m| enabled.contains(m)).collect();
            let calm_enough = calm.to_std().is_ok_and(|c| c >= policy.shard_calm);
            (calm_enough && !on.is_empty()).then_some(super::MonitoringChange::Disable {
                metrics: on,
                calm_seconds: calm.num_seconds(),
            })
        }
    }
}
