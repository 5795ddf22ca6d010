//! What a pass reports: per stream, its plan's outcome and what was
//! applied; for the pass, when it ran and how it went.

use super::*;

/// What one pass did to one stream.
#[derive(Clone, Debug, Serialize)]
pub struct StreamResult {
    pub stream: String,
    /// Open shards when observed.
    pub open_shards_before: Option<usize>,
    /// Open shards after the operations that were applied.
    pub open_shards_after: Option<usize>,
    /// The highest shard utilization observed, over the longest window.
    pub peak_utilization: Option<f64>,
    /// Writes throttled over the scale-up window, all shards together,
    /// when any shard published the metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttled_records: Option<f64>,
    /// How far behind the consumers were (the largest iterator age over
    /// the scale-down window), with `consumers` in the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_lag_ms: Option<f64>,
    /// Why the planner left the whole stream alone, if it did.
    pub refused: Option<String>,
    pub planned_actions: usize,
    /// What the executor did, when there was something to do.
    pub apply: Option<ApplyReport>,
    /// Why the stream could not be observed or planned.
    pub error: Option<String>,
    /// With `warm_throughput`, on an On-Demand stream: the warm-throughput
    /// decision and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_throughput: Option<String>,
    /// Whether that error lasts until someone changes something (see
    /// [`Error::is_permanent`]).
    #[serde(skip)]
    pub permanent: bool,
    /// The shards the plan could not help that someone should hear of:
    /// hot at `max_shards` or at the account's shard quota, or carrying a
    /// hot key (what notifications say).
    #[serde(skip)]
    pub alerts: Vec<ShardVerdict>,
}

impl StreamResult {
    /// What became of `plan`, with what the executor did of it (`apply`).
    pub(crate) fn of(plan: &Plan, apply: Option<ApplyReport>) -> StreamResult {
        let mut after = plan.open_shards_before;
        for a in apply.iter().flat_map(|r| &r.applied) {
            match a.action {
                Action::Split(_) => after += 1,
                Action::Merge(_) => after -= 1,
            }
        }
        StreamResult {
            stream: plan.stream.clone(),
            open_shards_before: Some(plan.open_shards_before),
            open_shards_after: Some(after),
            peak_utilization: plan
                .verdicts
                .iter()
                .filter_map(|v| v.peak_utilization)
                .reduce(f64::max),
            throttled_records: throttled_records(plan),
            consumer_lag_ms: plan
                .verdicts
                .iter()
                .filter_map(|v| v.facts.consumer_lag)
                .map(|l| l.iterator_age_ms)
                .reduce(f64::max),
            refused: plan.refused.as_ref().map(ToString::to_string),
            planned_actions: plan.actions.len(),
            apply,
            error: None,
            warm_throughput: plan.warm_throughput.as_ref().map(|w| w.reason.clone()),
            permanent: false,
            alerts: plan
                .verdicts
                .iter()
                .filter(|v| {
                    matches!(
                        v.verdict,
                        Verdict::AtMaxShards { .. }
                            | Verdict::AtShardQuota { .. }
                            | Verdict::HotKey { .. }
                    )
                })
                .cloned()
                .collect(),
        }
    }

    /// Whether the pass did everything it set out to for this stream.
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.apply.as_ref().is_none_or(ApplyReport::is_complete)
    }
}

/// What one pass over a policy's streams did.
#[derive(Clone, Debug, Serialize)]
pub struct PassReport {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Why the pass could not even list its streams.
    pub error: Option<String>,
    /// Whether that error lasts until someone changes something.
    #[serde(skip)]
    pub permanent: bool,
    pub streams: Vec<StreamResult>,
}

impl PassReport {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.streams.iter().all(StreamResult::succeeded)
    }

    /// Why the whole pass failed for good, if it did: it could not list its
    /// streams, or every stream failed, each for a reason that does not go
    /// away by itself.
    pub fn failed_for_good(&self) -> Option<&str> {
        if let Some(e) = &self.error {
            return self.permanent.then_some(e.as_str());
        }
        let all = !self.streams.is_empty()
            && self
                .streams
                .iter()
                .all(|s| s.permanent && s.error.is_some());
        all.then(|| self.streams[0].error.as_deref().unwrap_or_default())
    }
}
