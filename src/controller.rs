//! One pass over a policy's streams: find the streams it names, observe and
//! plan each, and, when applying, run each plan through the executor.
//!
//! Streams are handled concurrently, a few at a time, and independently:
//! one stream's failure is reported with that stream and does not stop the
//! others. The planning half needs read capabilities only.

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use tracing::Instrument;

use crate::error::{Error, Result};
use crate::executor::{ApplyReport, Executor, Stop, StopKind};
use crate::observe::{Observed, observe};
use crate::plan::Plan;
use crate::planner;
use crate::policy::{Policy, StreamPolicy, StreamSelector};
use crate::ports::{Clock, KinesisRead, KinesisWrite, MetricsRead, StreamId};

/// How many streams are observed, planned or applied at once.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// A stream to manage and the settings that govern it.
#[derive(Clone, Debug)]
pub struct Target {
    pub stream: StreamId,
    /// The `name` of the policy entry that governs it.
    pub entry: String,
    pub policy: StreamPolicy,
}

/// The streams a pass covers: every exact name or ARN in the policy, and
/// every existing stream a glob matches (expanded through ListStreams), each
/// once, under the entry that governs it. With `only`, just that stream,
/// which the policy must cover.
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
        }]);
    }
    let listed = if policy
        .streams
        .iter()
        .any(|r| matches!(r.selector, StreamSelector::Glob(_)))
    {
        read.list_streams().await?
    } else {
        Vec::new()
    };
    let mut out: Vec<Target> = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for rule in &policy.streams {
        let ids: Vec<StreamId> = match &rule.selector {
            StreamSelector::Name(name) => vec![StreamId::from_name_or_arn(name)],
            StreamSelector::Glob(_) => listed
                .iter()
                .filter(|name| policy.rule_for(name).is_some_and(|r| r.name == rule.name))
                .map(StreamId::named)
                .collect(),
        };
        for id in ids {
            if seen.insert(id.name.clone()) {
                out.push(Target {
                    stream: id,
                    entry: rule.name.clone(),
                    policy: rule.policy.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// A stream observed and planned.
#[derive(Clone, Debug)]
pub struct Planned {
    pub target: Target,
    pub observed: Observed,
    pub plan: Plan,
}

/// Observes and plans every target, in order. With
/// `allow_missing_metrics`, a stream without shard-level metrics is planned
/// on no data (for `apply` to enable them when the policy allows).
pub async fn plan_streams<R: KinesisRead, M: MetricsRead>(
    read: &R,
    metrics: &M,
    targets: &[Target],
    now: DateTime<Utc>,
    allow_missing_metrics: bool,
) -> Vec<(Target, Result<Planned>)> {
    let quota = shard_quota(read).await;
    stream::iter(targets)
        .map(|target| async move {
            let result = plan_one(read, metrics, target, quota, now, allow_missing_metrics).await;
            (target.clone(), result)
        })
        .buffered(DEFAULT_CONCURRENCY)
        .collect()
        .await
}

/// The account's shard quota, read once per pass (DescribeLimits allows
/// one call per second); `None`, with a warning, if it cannot be read.
async fn shard_quota<R: KinesisRead>(read: &R) -> Option<crate::ports::ShardQuota> {
    match read.shard_quota().await {
        Ok(q) => Some(q),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the account's shard quota; splits are checked against it before each one");
            None
        }
    }
}

/// Observes and plans one target at `now`.
pub async fn plan_one<R: KinesisRead, M: MetricsRead>(
    read: &R,
    metrics: &M,
    target: &Target,
    quota: Option<crate::ports::ShardQuota>,
    now: DateTime<Utc>,
    allow_missing_metrics: bool,
) -> Result<Planned> {
    let allow = allow_missing_metrics && target.policy.enable_enhanced_monitoring;
    let observed = observe(
        read,
        metrics,
        &target.stream,
        &target.policy,
        quota,
        now,
        allow,
    )
    .await?;
    let plan = planner::plan(&observed.observation, &target.policy, now);
    Ok(Planned {
        target: target.clone(),
        observed,
        plan,
    })
}

/// Applies one planned stream: turns on missing shard-level metrics if the
/// policy allows, then runs the plan.
pub async fn apply_planned<R: KinesisRead, W: KinesisWrite, C: Clock>(
    executor: &Executor<'_, R, W, C>,
    planned: &Planned,
) -> ApplyReport {
    let stream = &planned.target.stream;
    let missing = &planned.observed.missing_metrics;
    if !missing.is_empty() {
        if let Err(e) = executor.write.enable_shard_metrics(stream, missing).await {
            return ApplyReport {
                stream: stream.name.clone(),
                applied: Vec::new(),
                not_applied: planned.plan.actions.clone(),
                stop: Some(Stop {
                    kind: StopKind::Failed,
                    message: format!("stream {stream}: cannot enable shard-level metrics: {e}"),
                }),
            };
        }
        tracing::info!(stream = %stream, metrics = ?missing, "enabled shard-level metrics");
    }
    executor.apply(stream, &planned.plan).await
}

/// Applies every planned stream, a few at a time, in order.
pub async fn apply_streams<R: KinesisRead, W: KinesisWrite, C: Clock>(
    executor: &Executor<'_, R, W, C>,
    planned: &[Planned],
) -> Vec<ApplyReport> {
    stream::iter(planned)
        .map(|p| apply_planned(executor, p))
        .buffered(DEFAULT_CONCURRENCY)
        .collect()
        .await
}

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
    /// Why the planner left the whole stream alone, if it did.
    pub refused: Option<String>,
    pub planned_actions: usize,
    /// What the executor did, when there was something to do.
    pub apply: Option<ApplyReport>,
    /// Why the stream could not be observed or planned.
    pub error: Option<String>,
    /// Whether that error lasts until someone changes something (see
    /// [`Error::is_permanent`]).
    #[serde(skip)]
    pub permanent: bool,
}

impl StreamResult {
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

/// The error's whole chain on one line.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// One pass, as the sidecar and the scheduled job run it: every stream of
/// the policy observed, planned and applied without asking, each
/// independently.
/// With `only`, the pass covers just that stream.
pub async fn run_pass<R, W, M, C>(
    executor: &Executor<'_, R, W, C>,
    metrics: &M,
    policy: &Policy,
    only: Option<&str>,
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
    // Each stream is observed and planned right before it is applied, so
    // no plan waits behind other streams' operations and goes stale.
    let quota = shard_quota(executor.read).await;
    let streams = stream::iter(targets)
        .map(|target| {
            let span = tracing::info_span!("stream", stream = %target.stream);
            async move {
                let now = executor.clock.now();
                match plan_one(executor.read, metrics, &target, quota, now, true).await {
                    Err(e) => {
                        tracing::error!(error = %chain(&e), "cannot plan");
                        StreamResult {
                            stream: target.stream.name.clone(),
                            open_shards_before: None,
                            open_shards_after: None,
                            peak_utilization: None,
                            refused: None,
                            planned_actions: 0,
                            apply: None,
                            error: Some(chain(&e)),
                            permanent: e.is_permanent(),
                        }
                    }
                    Ok(planned) => apply_for_pass(executor, &planned).await,
                }
            }
            .instrument(span)
        })
        .buffered(DEFAULT_CONCURRENCY)
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

async fn apply_for_pass<R: KinesisRead, W: KinesisWrite, C: Clock>(
    executor: &Executor<'_, R, W, C>,
    planned: &Planned,
) -> StreamResult {
    let plan = &planned.plan;
    tracing::debug!(lag_seconds = plan.metrics.lag_seconds(), "{}", plan.metrics);
    if let Some(refusal) = &plan.refused {
        tracing::info!(
            lag_seconds = plan.metrics.lag_seconds(),
            "not planned: {refusal}"
        );
    }
    for action in &plan.actions {
        tracing::info!(action = %crate::executor::describe(action), "planned");
    }
    if plan.actions.is_empty() {
        tracing::debug!("nothing to do");
    }
    let apply = if plan.actions.is_empty() && planned.observed.missing_metrics.is_empty() {
        None
    } else {
        Some(apply_planned(executor, planned).await)
    };
    let mut after = plan.open_shards_before;
    for a in apply.iter().flat_map(|r| &r.applied) {
        match a.action {
            crate::plan::Action::Split(_) => after += 1,
            crate::plan::Action::Merge(_) => after -= 1,
        }
    }
    if let Some(stop) = apply.as_ref().and_then(|r| r.stop.as_ref()) {
        tracing::warn!(kind = ?stop.kind, "{}", stop.message);
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
        refused: plan.refused.as_ref().map(ToString::to_string),
        planned_actions: plan.actions.len(),
        apply,
        error: None,
        permanent: false,
    }
}
