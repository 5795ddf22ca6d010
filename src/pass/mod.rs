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

mod runner;

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

/// A stream observed and planned.
#[derive(Clone, Debug)]
pub struct Planned {
    pub target: Target,
    pub observed: Observed,
    pub plan: Plan,
}

/// What becomes of a stream whose shard-level metrics are not enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingMetrics {
    /// It is refused with [`ObserveError::MetricsNotEnabled`] (a dry run:
    /// nothing will enable them).
    Refuse,
    /// Where its policy has `enable_enhanced_monitoring`, it is planned on
    /// no data and the pass enables them; elsewhere it is refused.
    Enable,
}

impl MissingMetrics {
    fn allowed(self, policy: &StreamPolicy) -> bool {
        self == MissingMetrics::Enable && policy.enable_enhanced_monitoring
    }
}

/// Observes and plans every target, in order: status, mode and shards per
/// stream, then the metrics of all of them in shared GetMetricData calls,
/// then each plan, reading a stream's cooldown tags only when its plan
/// would act. `missing` says what becomes of a stream without shard-level
/// metrics. `memory` carries what a sidecar learnt in earlier passes.
pub async fn plan_streams<R: KinesisRead, M: MetricsRead>(
    read: &R,
    metrics: &M,
    targets: &[Target],
    now: DateTime<Utc>,
    missing: MissingMetrics,
    memory: &Memory,
) -> Vec<(Target, Result<Planned>)> {
    let quota = shard_quota(read).await;
    let prepared: Vec<Result<Prepared>> = stream::iter(targets)
        .map(|t| {
            observe::prepare(
                read,
                &t.stream,
                t.listing.as_ref(),
                &t.policy,
                quota,
                memory,
                now,
            )
            .map_err(Error::from)
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut prepared = prepared;
    observe::past::read_past(
        metrics,
        targets
            .iter()
            .zip(prepared.iter_mut())
            .filter_map(|(t, p)| Some((&t.policy, p.as_mut().ok()?)))
            .collect(),
        memory,
    )
    .await;
    // The metrics of every prepared stream, in shared calls; each stream is
    // planned (its tags read, if it would act) as soon as its metrics are
    // in, while the others are still read.
    let mut requests = Vec::new();
    let mut of_request: Vec<usize> = Vec::new();
    let mut prepared: Vec<Option<Result<Prepared>>> = prepared.into_iter().map(Some).collect();
    let mut planned: Vec<Option<Result<Planned>>> = targets.iter().map(|_| None).collect();
    let mut unread = Vec::new(); // prepared streams with nothing to read
    for (i, (t, p)) in targets.iter().zip(&mut prepared).enumerate() {
        if let Some(Ok(p)) = p {
            decide_detail_upfront(p, &t.policy);
            match p.metrics_request(&t.policy) {
                Some(r) => {
                    of_request.push(i);
                    requests.push(r);
                }
                None => unread.push(i),
            }
        }
    }
    let (done, answers) = tokio::sync::mpsc::unbounded_channel();
    let reading = metrics.read_metrics_streamed(&requests, done);
    let answers = stream::unfold(answers, |mut rx| async move {
        rx.recv().await.map(|answer| (answer, rx))
    })
    .map(|(k, answer)| (of_request[k], Some(answer)))
    .chain(stream::iter(unread.into_iter().map(|i| (i, None))));
    let taken: Vec<_> = prepared.iter_mut().map(Option::take).collect();
    let taken = std::sync::Mutex::new(taken);
    let planning = answers
        .map(|(i, answer)| {
            let target = &targets[i];
            let prepared = taken.lock().unwrap_or_else(|e| e.into_inner())[i].take();
            async move {
                let result = async {
                    let prepared = prepared.expect("each stream is answered once")?;
                    let first = answer
                        .transpose()
                        .map_err(|e| ObserveError::stream(&target.stream.name, e))?;
                    let observed = observe_stream(
                        read, metrics, target, prepared, first, now, missing, memory,
                    )
                    .await?;
                    plan_observed(read, target, observed, now, memory).await
                }
                .await;
                (i, result)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>();
    let ((), results) = tokio::join!(reading, planning);
    for (i, result) in results {
        planned[i] = Some(result);
    }
    // Streams that could not even be prepared keep their error.
    for (i, p) in taken
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .enumerate()
    {
        if let Some(Err(e)) = p {
            planned[i] = Some(Err(e));
        }
    }
    targets
        .iter()
        .zip(planned)
        .map(|(t, p)| {
            (
                t.clone(),
                p.unwrap_or_else(|| {
                    Err(Error::Usage(format!(
                        "stream {}: no metrics answer came back",
                        t.stream
                    )))
                }),
            )
        })
        .collect()
}

/// Decides, for a prepared stream, what can be decided before its
/// stream-level series are in: whether its shard-level series are read
/// with them (no shares known, or due for a refresh), or never this pass
/// (one shard, the metrics known off, the stream not plannable).
fn decide_detail_upfront(prepared: &mut Prepared, policy: &StreamPolicy) {
    let off = prepared.missing.as_ref().is_some_and(|m| !m.is_empty());
    prepared.detail = if !prepared.plannable {
        Some(observe::ShardDetail::NotPlanned)
    } else if off
        && !prepared.stream_series_suffice()
        && policy.shard_level != crate::policy::ShardLevel::OnDemand
    {
        Some(observe::ShardDetail::Off)
    } else {
        // On demand, the stream-level series decide even a first read:
        // they may show no shard near a decision, and the metrics can stay
        // off (or go off).
        let readable = prepared.reads_shard_series()
            && policy.shard_level != crate::policy::ShardLevel::OnDemand;
        planner::shard_detail_known(&prepared.observation, policy, readable)
    };
}

/// Completes a prepared stream with the answer to its first read: where
/// the shares alone did not decide it, plans on the stream-level series
/// and the shares to see whether a decision may be near, and if so reads
/// the shard-level series; then checks that enhanced monitoring publishes
/// what was read.
#[allow(clippy::too_many_arguments)]
async fn observe_stream<R: KinesisRead, M: MetricsRead>(
    read: &R,
    metrics: &M,
    target: &Target,
    mut prepared: Prepared,
    first: Option<observe::Metrics>,
    now: DateTime<Utc>,
    missing: MissingMetrics,
    memory: &Memory,
) -> Result<Observed> {
    if let Some(m) = first {
        prepared.take_metrics(m);
    }
    if prepared.detail.is_none() {
        let estimate = planner::plan(&prepared.observation, &target.policy, now);
        let detail = planner::shard_detail(&prepared.observation, &estimate, &target.policy);
        if detail.read() && prepared.reads_shard_series() {
            let shards = metrics
                .read_metrics(&prepared.shard_request(&target.policy))
                .await
                .map_err(|e| ObserveError::stream(&target.stream.name, e))?;
            prepared.take_shard_series(shards);
        }
        prepared.detail = Some(detail);
    }
    let allow = missing.allowed(&target.policy);
    Ok(observe::complete(read, prepared, &target.policy, memory, allow).await?)
}

/// Plans an observed stream; reads its cooldown tags and plans again if
/// the plan would act without them, and its creation time if it would
/// merge a silent stream without knowing it.
async fn plan_observed<R: KinesisRead>(
    read: &R,
    target: &Target,
    mut observed: Observed,
    now: DateTime<Utc>,
    memory: &Memory,
) -> Result<Planned> {
    let mut plan = planner::plan(&observed.observation, &target.policy, now);
    if plan.metrics == (MetricsFreshness::Silent { idle: true })
        && !plan.actions.is_empty()
        && observed.observation.stream_created_at.is_none()
    {
        observed = observe::with_creation_time(read, observed, &target.stream, memory).await?;
        plan = planner::plan(&observed.observation, &target.policy, now);
    }
    // With `split_at: traffic`, the shards the plan would split are
    // sampled, and planned again on their keys.
    let to_sample = shards_to_sample(&plan, &observed.observation, &target.policy);
    if !to_sample.is_empty() {
        observed.observation.samples =
            sample_shards(read, &target.stream, &to_sample, &target.policy, now).await;
        plan = planner::plan(&observed.observation, &target.policy, now);
    }
    // Acting on cooldowns remembered is acting on what may have changed:
    // before any action, the tags are read.
    if !plan.actions.is_empty() {
        let before = observed.observation.history.clone();
        let was_read = observed.observation.cooldowns_read;
        observed = observe::with_history(read, observed, &target.stream, memory).await?;
        if !was_read || observed.observation.history != before {
            plan = planner::plan(&observed.observation, &target.policy, now);
        }
    }
    if let Some(shares) = plan.shares() {
        memory.remember_shares(&target.stream.name, &shares);
    }
    plan.monitoring = monitoring_change(read, target, &observed, memory, now).await?;
    Ok(Planned {
        target: target.clone(),
        observed,
        plan,
    })
}

/// The open shards whose split a sample would place, hottest first, at
/// most `scale_up.sample.max_shards`: those the plan splits, and those it
/// holds back only on the inference that a few keys dominate them.
fn shards_to_sample(plan: &Plan, obs: &Observation, policy: &StreamPolicy) -> Vec<Shard> {
    if policy.scale_up.split_at != crate::policy::SplitAt::Traffic || !obs.samples.is_empty() {
        return Vec::new();
    }
    let split: Vec<&ShardId> = plan
        .splits()
        .filter(|s| s.trigger != planner::Trigger::MinShards)
        .filter_map(|s| s.shard_id.as_ref())
        .collect();
    let mut candidates: Vec<&ShardVerdict> = plan
        .verdicts
        .iter()
        .filter(|v| split.contains(&&v.shard_id) || matches!(v.verdict, Verdict::HotKeys { .. }))
        .collect();
    // Hottest first: the estimated demand over the threshold.
    candidates.sort_by(|a, b| {
        b.facts
            .estimated_demand
            .total_cmp(&a.facts.estimated_demand)
    });
    let mut ids: Vec<&ShardId> = candidates.iter().map(|v| &v.shard_id).collect();
    ids.truncate(policy.scale_up.sample.max_shards as usize);
    ids.iter()
        .filter_map(|id| obs.shards.iter().find(|s| s.open && &s.id == *id).cloned())
        .collect()
}

/// Samples `shards` at once, each from the records of the last minute
/// (the newest traffic, read as fast as the budget allows) for
/// `scale_up.sample.duration`, at one GetRecords call and 512 KiB a
/// second. A shard that cannot be read is split at its midpoint, and the
/// plan says it had no sample.
async fn sample_shards<R: KinesisRead>(
    read: &R,
    stream: &StreamId,
    shards: &[Shard],
    policy: &StreamPolicy,
    now: DateTime<Utc>,
) -> Vec<observe::ShardSample> {
    let from = observe::StartAt::At(now - TimeDelta::minutes(1));
    let budget = observe::ReadBudget {
        duration: policy.scale_up.sample.duration,
        ..observe::ReadBudget::default()
    };
    let samples = futures::future::join_all(
        shards
            .iter()
            .map(|s| observe::sample_shard(read, stream, s, from, &budget, |_| {})),
    )
    .await;
    shards
        .iter()
        .zip(samples)
        .filter_map(|(shard, sample)| match sample {
            Ok(sample) => Some(sample),
            Err(e) => {
                tracing::warn!(stream = %stream, shard = %shard.id, error = %e, "cannot sample the shard's records; it splits at its midpoint");
                None
            }
        })
        .collect()
}

/// The account's shard quota, read once per pass (DescribeLimits allows
/// one call per second); `None`, with a warning, if it cannot be read.
async fn shard_quota<R: KinesisRead>(read: &R) -> Option<ShardQuota> {
    match read.shard_quota().await {
        Ok(q) => Some(q),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the account's shard quota; splits are checked against it before each one");
            None
        }
    }
}

/// Observes and plans one target at `now`, on its own (as before applying
/// a plan that has grown old).
pub(crate) async fn plan_one<R: KinesisRead, M: MetricsRead>(
    read: &R,
    metrics: &M,
    target: &Target,
    quota: Option<ShardQuota>,
    now: DateTime<Utc>,
    missing: MissingMetrics,
    memory: &Memory,
) -> Result<Planned> {
    let mut prepared = observe::prepare(
        read,
        &target.stream,
        target.listing.as_ref(),
        &target.policy,
        quota,
        memory,
        now,
    )
    .await?;
    observe::past::read_past(metrics, vec![(&target.policy, &mut prepared)], memory).await;
    decide_detail_upfront(&mut prepared, &target.policy);
    let first = match prepared.metrics_request(&target.policy) {
        Some(r) => Some(
            metrics
                .read_metrics(&r)
                .await
                .map_err(|e| ObserveError::stream(&target.stream.name, e))?,
        ),
        None => None,
    };
    let observed =
        observe_stream(read, metrics, target, prepared, first, now, missing, memory).await?;
    plan_observed(read, target, observed, now, memory).await
}

/// With `metrics.shard_level: on_demand`, how the stream's enhanced
/// monitoring changes after this plan: on when a decision may be near, off
/// after `metrics.shard_calm` without one, if they are the controller's
/// own. How long the stream has been calm is remembered; whose the
/// metrics on are is learnt from the controller's record in the stream's
/// tags, once, by a process that has not turned them on itself (a few
/// streams a pass: a fleet someone else turned them on for is read over
/// several passes), and a calm it has not watched counts from the record.
async fn monitoring_change<R: KinesisRead>(
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
async fn change_monitoring<R: KinesisRead, W: KinesisWrite, C: Clock>(
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
                let planned = match planned {
                    Ok(p)
                        if !p.plan.actions.is_empty()
                            && executor.clock.now() - p.observed.observation.observed_at
                                > PLAN_SHELF_LIFE =>
                    {
                        plan_one(
                            executor.read,
                            metrics,
                            &target,
                            p.observed.observation.shard_quota,
                            executor.clock.now(),
                            MissingMetrics::Enable,
                            memory,
                        )
                        .await
                    }
                    other => other,
                };
                match planned {
                    Err(e) => {
                        tracing::error!(error = %chain(&e), "cannot plan");
                        StreamResult {
                            stream: target.stream.name.clone(),
                            open_shards_before: None,
                            open_shards_after: None,
                            peak_utilization: None,
                            throttled_records: None,
                            consumer_lag_ms: None,
                            refused: None,
                            planned_actions: 0,
                            apply: None,
                            error: Some(chain(&e)),
                            warm_throughput: None,
                            permanent: e.is_permanent(),
                            alerts: Vec::new(),
                        }
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
