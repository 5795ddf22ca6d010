//! Turning a stream's shard-level metrics on or off, when its plan says
//! so (`enable_enhanced_monitoring`, `metrics.shard_level: on_demand`).

use super::*;

/// With `metrics.shard_level: on_demand`, how the stream's enhanced
/// monitoring changes after this plan: on when a decision may be near, off
/// after `metrics.shard_calm` without one, if they are the controller's
/// own. How long the stream has been calm is remembered; whose the
/// metrics on are is learnt from the controller's record in the stream's
/// tags, once, by a process that has not turned them on itself (a few
/// streams a pass: a fleet someone else turned them on for is read over
/// several passes), and a calm it has not watched counts from the record.
pub(super) async fn monitoring_change<R: KinesisRead>(
    read: &R,
    target: &Target,
    observed: &Observed,
    memory: &Memory,
    now: DateTime<Utc>,
) -> Result<Option<planner::MonitoringChange>> {
    use observe::ShardDetail::{NearThreshold, NewShards, NoShares, Throttled, WouldAct};
    let policy = &target.policy;
    if policy.shard_level != crate::policy::ShardLevel::OnDemand {
        return Ok(None);
    }
    let Some(reads) = observed.observation.reads.as_ref() else {
        return Ok(None);
    };
    let name = &target.stream.name;
    let near = matches!(
        reads.detail,
        Throttled { .. } | NearThreshold { .. } | WouldAct { .. } | NoShares | NewShards { .. }
    );
    let enabled = reads.enabled.as_deref().unwrap_or_default();
    let on = policy.needed_metrics().iter().any(|m| enabled.contains(m));
    let mut calm = memory.note_decision_near(name, near, now);
    if !near && on && memory.metrics_own(name).is_none() && memory.may_read_owner(now) {
        let history = read
            .read_history(&target.stream)
            .await
            .map_err(|e| ObserveError::stream(name, e))?;
        let record = history.shard_metrics.filter(|r| !r.metrics.is_empty());
        memory.note_metrics_own(name, Some(record.is_some()));
        if let Some(record) = record {
            calm = Some(calm.unwrap_or_default().max(now - record.since));
        }
    }
    let change =
        planner::monitoring_change(policy, &reads.detail, enabled, calm.unwrap_or_default());
    Ok(change.filter(|change| {
        !matches!(change, planner::MonitoringChange::Disable { .. })
            || memory.metrics_own(name) == Some(true)
    }))
}

/// Carries out the plan's change of the stream's enhanced monitoring
/// (`metrics.shard_level: on_demand`). Enabling records the metrics in the
/// stream's tags as the controller's own first; disabling turns off only
/// those the record names, so metrics someone else turned on stay on. A
/// failure is logged and tried again next pass: resharding does not wait
/// for it.
pub(super) async fn change_monitoring<R: KinesisRead, W: KinesisWrite, C: Clock>(
    executor: &Executor<'_, R, W, C>,
    planned: &Planned,
    memory: &Memory,
    change: &planner::MonitoringChange,
) {
    let stream = &planned.target.stream;
    let now = executor.clock.now();
    let result = async {
        let record = executor.read.read_history(stream).await?.shard_metrics;
        let mut ours = record.map(|r| r.metrics).unwrap_or_default();
        match change {
            planner::MonitoringChange::Enable { metrics } => {
                for m in metrics {
                    if !ours.contains(m) {
                        ours.push(*m);
                    }
                }
                ours.sort();
                let record = crate::model::MetricsRecord {
                    since: now,
                    metrics: ours,
                };
                executor.write.record_shard_metrics(stream, &record).await?;
                executor.write.enable_shard_metrics(stream, metrics).await?;
                memory.note_metrics_changed(&stream.name, metrics, &[]);
                memory.note_metrics_own(&stream.name, Some(true));
                let why = planned.plan.reads.as_ref().map(|r| r.detail.to_string());
                tracing::info!(stream = %stream, metrics = ?metrics, because = why.unwrap_or_default(), "enabled shard-level metrics on demand");
            }
            planner::MonitoringChange::Disable { metrics, .. } => {
                let off: Vec<_> = metrics
                    .iter()
                    .filter(|m| ours.contains(m))
                    .copied()
                    .collect();
                if off.is_empty() {
                    memory.note_metrics_own(&stream.name, Some(false));
                    tracing::info!(stream = %stream, metrics = ?metrics, "shard-level metrics left on: the controller did not enable them (no record in its tags)");
                    return Ok(());
                }
                executor.write.disable_shard_metrics(stream, &off).await?;
                ours.retain(|m| !off.contains(m));
                let record = crate::model::MetricsRecord {
                    since: now,
                    metrics: ours,
                };
                executor.write.record_shard_metrics(stream, &record).await?;
                memory.note_metrics_changed(&stream.name, &[], &off);
                // Whoever turns them on next, the record will say.
                memory.note_metrics_own(&stream.name, None);
                tracing::info!(stream = %stream, metrics = ?off, "disabled the shard-level metrics the controller enabled: {change}");
            }
        }
        Ok::<(), crate::model::ApiError>(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(stream = %stream, error = %e, "cannot {change}; tried again next pass");
    }
}
