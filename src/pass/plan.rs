//! The planning half of a pass: observe each stream (its metrics in shared
//! calls), decide whether it needs its shard-level series, plan it, and
//! sample the shards a traffic split needs. Read capabilities only.

use super::*;

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
    let prepared = prepare_all(read, metrics, targets, now, memory).await;
    // The metrics of every prepared stream, in shared calls; each stream is
    // planned (its tags read, if it would act) as soon as its metrics are
    // in, while the others are still read.
    let mut prepared: Vec<Option<Result<Prepared>>> = prepared.into_iter().map(Some).collect();
    let mut planned: Vec<Option<Result<Planned>>> = targets.iter().map(|_| None).collect();
    let (requests, of_request, unread) = metrics_requests(targets, &mut prepared);
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

/// Each target's status, mode and shards (or why not), and the past days
/// its forecast or economic rule reads.
async fn prepare_all<R: KinesisRead, M: MetricsRead>(
    read: &R,
    metrics: &M,
    targets: &[Target],
    now: DateTime<Utc>,
    memory: &Memory,
) -> Vec<Result<Prepared>> {
    let quota = shard_quota(read).await;
    let mut prepared: Vec<Result<Prepared>> = stream::iter(targets)
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
    prepared
}

/// The metrics request of each prepared stream (once what can be decided
/// before its answer is decided), with the index of the target each
/// request is for, and the prepared streams with nothing to read.
fn metrics_requests(
    targets: &[Target],
    prepared: &mut [Option<Result<Prepared>>],
) -> (Vec<observe::MetricsRequest>, Vec<usize>, Vec<usize>) {
    let mut requests = Vec::new();
    let mut of_request: Vec<usize> = Vec::new();
    let mut unread = Vec::new();
    for (i, (t, p)) in targets.iter().zip(prepared).enumerate() {
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
    (requests, of_request, unread)
}

/// Decides, for a prepared stream, what can be decided before its
/// stream-level series are in: whether its shard-level series are read
/// with them (no shares known, or due for a refresh), or never this pass
/// (one shard, the metrics known off, the stream not plannable).
pub(super) fn decide_detail_upfront(prepared: &mut Prepared, policy: &StreamPolicy) {
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
pub(super) async fn observe_stream<R: KinesisRead, M: MetricsRead>(
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
pub(super) async fn plan_observed<R: KinesisRead>(
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
pub(super) fn shards_to_sample(
    plan: &Plan,
    obs: &Observation,
    policy: &StreamPolicy,
) -> Vec<Shard> {
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
pub(super) async fn sample_shards<R: KinesisRead>(
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
pub(super) async fn shard_quota<R: KinesisRead>(read: &R) -> Option<ShardQuota> {
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
