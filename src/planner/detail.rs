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

/// What the shares alone decide, before the stream-level series of this
/// pass are in: `Some` when the shard-level series are read (or done
/// without) whatever they say.
pub fn shard_detail_known(obs: &Observation, policy: &StreamPolicy) -> Option<ShardDetail> {
    let open = obs.open_shards();
    let reads_out = policy.needed_metrics().contains(&MetricName::OutgoingBytes);
    if open.len() <= 1 && !reads_out {
        return Some(ShardDetail::OneShard);
    }
    if reads_out {
        return Some(ShardDetail::ReadLoad);
    }
    let Some(shares) = &obs.shares else {
        return Some(ShardDetail::NoShares);
    };
    let unknown = open.iter().filter(|s| shares.of(&s.id).is_none()).count();
    if unknown > 0 {
        return Some(ShardDetail::NewShards {
            shards: unknown as u32,
        });
    }
    let age_seconds = (obs.observed_at - shares.measured_at).num_seconds();
    let refresh_seconds = policy.shard_refresh.as_secs();
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
    if let Some(known) = shard_detail_known(obs, policy) {
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
            obs.metrics
                .stream
                .write_throttled
                .get(usize::try_from(m).ok()?)
        })
        .sum();
    (rule > 0 && records >= rule as f64).then_some(records)
}
