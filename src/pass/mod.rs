//! One pass over a policy's streams: find the streams it names, observe and
//! plan each, and, when applying, run each plan through the executor.
//!
//! A pass is built for a whole account's fleet within the account's API
//! quotas (every call waits on the shared [`crate::model::ApiLimiter`]):
//! status and mode come from the ListStreams listing, the metrics of all
//! streams are read in shared GetMetricData calls, a stream's cooldown
//! tags are read only when its plan would act, and a sidecar remembers
//! what it can between passes ([`Memory`]). Streams are handled
//! concurrently and independently: one stream's failure is reported with
//! that stream and does not stop the others. The planning half needs read
//! capabilities only.

mod monitoring;
mod plan;
mod report;
mod runner;

use monitoring::*;
pub use plan::*;
pub use report::*;
pub use runner::*;

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use futures::TryFutureExt;
use futures::stream::{self, StreamExt};
use serde::Serialize;
use tracing::Instrument;

use crate::apply::{ApplyReport, Executor, Stop, StopKind};
use crate::error::{Error, Result, chain};
use crate::model::{Shard, ShardId, ShardQuota, StreamId, StreamListing};
use crate::observe::{self, Memory, Observation, ObserveError, Observed, Prepared};
use crate::observe::{Clock, KinesisRead, KinesisWrite, MetricsRead};
use crate::planner;
use crate::planner::{Action, MetricsFreshness, Plan, ShardVerdict, Verdict};
use crate::policy::{Policy, StreamPolicy, StreamSelector};

/// How many streams are observed or applied at once. The limiter, not
/// this, bounds the calls; this only bounds the work in flight.
pub(crate) const CONCURRENCY: usize = 64;

/// How old a plan may be when its stream's turn to be applied comes; an
/// older one is made again first.
pub(crate) const PLAN_SHELF_LIFE: TimeDelta = TimeDelta::minutes(2);

/// A stream to manage and the settings that govern it.
#[derive(Clone, Debug)]
pub struct Target {
    pub stream: StreamId,
    /// The `name` of the policy entry that governs it.
    pub entry: String,
    pub policy: StreamPolicy,
    /// What ListStreams said of it, when the pass listed the account's
    /// streams: its status and mode, without a DescribeStreamSummary.
    pub listing: Option<StreamListing>,
}

/// The streams a pass covers: every exact name or ARN in the policy, and
/// every existing stream a glob matches, each once, under the entry that
/// governs it. The account's streams are listed (ListStreams, 100 a page)
/// when the policy has a glob or more names than that costs calls: the
/// listing's status and mode then spare a DescribeStreamSummary per
/// stream. With `only`, just that stream, which the policy must cover.
pub async fn targets<R: KinesisRead>(
    policy: &Policy,
    read: &R,
    only: Option<&str>,
) -> Result<Vec<Target>> {
    if let Some(only) = only {
        let id = StreamId::from_name_or_arn(only);
        let rule = policy
            .rule_for(&id.name)
            .ok_or_else(|| Error::StreamNotInPolicy {
                stream: only.to_owned(),
                policy: policy.source.clone(),
            })?;
        return Ok(vec![Target {
            stream: id,
            entry: rule.name.clone(),
            policy: rule.policy.clone(),
            listing: None,
        }]);
    }
    let globs = policy
        .streams
        .iter()
        .any(|r| matches!(r.selector, StreamSelector::Glob(_)));
    // A listing page (5 a second) covers 100 streams; a summary (20 a
    // second) one: listing pays from a handful of names on.
    let listed = if globs || policy.streams.len() > 4 {
        read.list_streams().await?
    } else {
        Vec::new()
    };
    let by_name: std::collections::HashMap<&str, &StreamListing> =
        listed.iter().map(|l| (l.name.as_str(), l)).collect();
    let mut out: Vec<Target> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for rule in &policy.streams {
        let ids: Vec<StreamId> = match &rule.selector {
            StreamSelector::Name(name) => vec![StreamId::from_name_or_arn(name)],
            StreamSelector::Glob(_) => listed
                .iter()
                .filter(|l| {
                    policy
                        .rule_for(&l.name)
                        .is_some_and(|r| r.name == rule.name)
                })
                .map(|l| StreamId::named(l.name.as_str()))
                .collect(),
        };
        for id in ids {
            if seen.insert(id.name.clone()) {
                // A stream named by ARN may be in another account: only a
                // listing of this account's stream of that name is its own.
                let listing = by_name
                    .get(id.name.as_str())
                    .filter(|l| id.arn.is_none() || l.arn == id.arn)
                    .map(|l| (*l).clone());
                out.push(Target {
                    stream: id,
                    entry: rule.name.clone(),
                    policy: rule.policy.clone(),
                    listing,
                });
            }
        }
    }
    Ok(out)
}

/// Applies one planned stream: turns on missing shard-level metrics if the
/// policy allows, or those a near decision needs (on demand), then runs
/// the plan, then turns off those a calm stream no longer needs (on
/// demand).
pub(crate) async fn apply_planned<R: KinesisRead, W: KinesisWrite, C: Clock>(
    executor: &Executor<'_, R, W, C>,
    planned: &Planned,
    memory: &Memory,
) -> ApplyReport {
    let stream = &planned.target.stream;
    let change = planned.plan.monitoring.as_ref();
    if let Some(enable @ planner::MonitoringChange::Enable { .. }) = change {
        change_monitoring(executor, planned, memory, enable).await;
    }
    let missing = &planned.observed.missing_metrics;
    if !missing.is_empty() {
        if let Err(e) = executor.write.enable_shard_metrics(stream, missing).await {
            return ApplyReport {
                stream: stream.name.clone(),
                applied: Vec::new(),
                warm_throughput: None,
                not_applied: planned.plan.actions.clone(),
                stop: Some(Stop {
                    kind: StopKind::Failed,
                    message: format!("stream {stream}: cannot enable shard-level metrics: {e}"),
                }),
            };
        }
        tracing::info!(stream = %stream, metrics = ?missing, "enabled shard-level metrics");
    }
    let mut report = executor.apply(stream, &planned.plan).await;
    if let Some(disable @ planner::MonitoringChange::Disable { .. }) = change {
        change_monitoring(executor, planned, memory, disable).await;
    }
    if let Some(warm) = &planned.plan.warm_throughput
        && let Some(mib) = warm.set_mib
        && report.stop.is_none()
    {
        match executor
            .set_warm_throughput(stream, warm.held_mib, mib)
            .await
        {
            Ok(applied) => {
                tracing::info!(stream = %stream, because = %warm.reason, "set warm throughput to {mib} MiB/s");
                report.warm_throughput = Some(applied);
            }
            Err(stop) => report.stop = Some(stop),
        }
    }
    report
}

/// Applies every planned stream, several at a time, in order.
pub(crate) async fn apply_streams<R: KinesisRead, W: KinesisWrite, C: Clock>(
    executor: &Executor<'_, R, W, C>,
    planned: &[Planned],
    memory: &Memory,
) -> Vec<ApplyReport> {
    stream::iter(planned)
        .map(|p| apply_planned(executor, p, memory))
        .buffered(APPLY_CONCURRENCY)
        .collect()
        .await
}

/// How many streams are resharded at once: SplitShard and MergeShards
/// allow 5 calls a second across the account, and each stream waits a
/// while for ACTIVE after each.
pub(crate) const APPLY_CONCURRENCY: usize = 8;

/// Notes in `memory` what an apply did to the stream's cooldowns.
pub(crate) fn remember_applied(memory: &Memory, report: &ApplyReport) {
    let latest = |split: bool| {
        report
            .applied
            .iter()
            .filter(|a| matches!(a.action, Action::Split(_)) == split)
            .map(|a| a.at)
            .max()
    };
    if !report.applied.is_empty() {
        memory.note_reshards(&report.stream, latest(true), latest(false));
    }
}

/// One pass, as the sidecar and the scheduled job run it: every stream of
/// the policy observed and planned (in shared calls), then each plan that
/// acts applied without asking, several streams at a time. A plan that
/// has grown older than [`PLAN_SHELF_LIFE`] by its turn is made again
/// first. With `only`, the pass covers just that stream.
pub(crate) async fn run_pass<R, W, M, C>(
    executor: &Executor<'_, R, W, C>,
    metrics: &M,
    policy: &Policy,
    only: Option<&str>,
    memory: &Memory,
) -> PassReport
where
    R: KinesisRead,
    W: KinesisWrite,
    M: MetricsRead,
    C: Clock,
{
    let started_at = executor.clock.now();
    let targets = match targets(policy, executor.read, only).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %chain(&e), "cannot list the policy's streams");
            return PassReport {
                started_at,
                finished_at: executor.clock.now(),
                error: Some(chain(&e)),
                permanent: e.is_permanent(),
                streams: Vec::new(),
            };
        }
    };
    let planned = plan_streams(
        executor.read,
        metrics,
        &targets,
        started_at,
        MissingMetrics::Enable,
        memory,
    )
    .await;
    let streams = stream::iter(planned)
        .map(|(target, planned)| {
            let span = tracing::info_span!("stream", stream = %target.stream);
            async move {
                match refreshed(executor, metrics, &target, planned, memory).await {
                    Err(e) => {
                        tracing::error!(error = %chain(&e), "cannot plan");
                        StreamResult::failed(&target.stream.name, &e)
                    }
                    Ok(planned) => apply_for_pass(executor, &planned, memory).await,
                }
            }
            .instrument(span)
        })
        .buffered(APPLY_CONCURRENCY)
        .collect()
        .await;
    PassReport {
        started_at,
        finished_at: executor.clock.now(),
        error: None,
        permanent: false,
        streams,
    }
}

/// The plan, made again if it would act but has aged past
/// [`PLAN_SHELF_LIFE`] while other streams were applied.
async fn refreshed<R, W, M, C>(
    executor: &Executor<'_, R, W, C>,
    metrics: &M,
    target: &Target,
    planned: Result<Planned>,
    memory: &Memory,
) -> Result<Planned>
where
    R: KinesisRead,
    W: KinesisWrite,
    M: MetricsRead,
    C: Clock,
{
    match planned {
        Ok(p)
            if !p.plan.actions.is_empty()
                && executor.clock.now() - p.observed.observation.observed_at > PLAN_SHELF_LIFE =>
        {
            plan_one(
                executor.read,
                metrics,
                target,
                p.observed.observation.shard_quota,
                executor.clock.now(),
                MissingMetrics::Enable,
                memory,
            )
            .await
        }
        other => other,
    }
}

impl StreamResult {
    /// The result of a stream that could not be planned.
    fn failed(stream: &str, e: &Error) -> StreamResult {
        StreamResult {
            stream: stream.to_owned(),
            open_shards_before: None,
            open_shards_after: None,
            peak_utilization: None,
            throttled_records: None,
            consumer_lag_ms: None,
            refused: None,
            planned_actions: 0,
            apply: None,
            error: Some(chain(e)),
            warm_throughput: None,
            permanent: e.is_permanent(),
            alerts: Vec::new(),
        }
    }
}

/// Writes throttled over the plan's scale-up window, all open shards
/// together; `None` when no minute of it had the shards' metrics.
fn throttled_records(plan: &Plan) -> Option<f64> {
    let known = plan
        .verdicts
        .iter()
        .any(|v| v.facts.scale_up_present_minutes > 0);
    known.then(|| {
        plan.verdicts
            .iter()
            .map(|v| v.facts.throttled_records)
            .sum()
    })
}

async fn apply_for_pass<R: KinesisRead, W: KinesisWrite, C: Clock>(
    executor: &Executor<'_, R, W, C>,
    planned: &Planned,
    memory: &Memory,
) -> StreamResult {
    let plan = &planned.plan;
    tracing::debug!(lag_seconds = plan.metrics.lag_seconds(), "{}", plan.metrics);
    if let Some(reads) = &plan.reads {
        tracing::debug!(
            metrics_requested = reads.metrics_requested(),
            "{}",
            reads.describe(1440, plan.open_shards_before)
        );
    }
    // One line per stream that says why, whatever was decided.
    let summary = plan.verdict_summary();
    tracing::info!(
        actions = plan.actions.len(),
        lag_seconds = plan.metrics.lag_seconds(),
        verdicts = %summary,
        "{summary}{}",
        if plan.actions.is_empty() && plan.refused.is_none() {
            "; nothing to do"
        } else {
            ""
        }
    );
    for action in &plan.actions {
        tracing::info!(
            action = %crate::apply::describe(action),
            because = action.reason(),
            "planned"
        );
    }
    if let Some(warm) = &plan.warm_throughput {
        tracing::info!(changes = warm.changes(), "{}", warm.reason);
    }
    let apply = if plan.actions.is_empty()
        && planned.observed.missing_metrics.is_empty()
        && plan.monitoring.is_none()
        && !plan.warm_throughput.as_ref().is_some_and(|w| w.changes())
    {
        None
    } else {
        let report = apply_planned(executor, planned, memory).await;
        remember_applied(memory, &report);
        if !planned.observed.missing_metrics.is_empty() {
            memory.forget_summary(&planned.target.stream.name);
        }
        Some(report)
    };
    if let Some(stop) = apply.as_ref().and_then(|r| r.stop.as_ref()) {
        tracing::warn!(kind = ?stop.kind, "{}", stop.message);
    }
    StreamResult::of(plan, apply)
}
