//! Builds [`Observation`]s of live streams through the read-only
//! capabilities, in as few calls as the account's quotas make worthwhile.
//!
//! Observing is split in two so that a pass can read the metrics of all its
//! streams in shared GetMetricData calls:
//! 1. [`prepare`]: status and mode (from the ListStreams listing where
//!    there is one, else DescribeStreamSummary), and the open shards;
//! 2. [`complete`]: the metrics read for it, and the enhanced-monitoring
//!    state checked only where the metrics leave it in doubt.
//!
//! Cooldown history is not read here: the controller reads a stream's tags
//! only when its plan would act ([`with_history`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::model::{History, StreamMode, StreamStatus};
use crate::model::{MetricName, ShardQuota, StreamId, StreamListing, StreamSummary};
use crate::observe::past::PastCache;
use crate::observe::{KinesisRead, MetricsRequest, ObserveError};
use crate::observe::{Metrics, Observation, Reads, ShardDetail, Shares};
use crate::policy::{ShardLevel, StreamPolicy};

/// An observation, and the shard-level metrics enhanced monitoring lacks.
#[derive(Clone, Debug)]
pub struct Observed {
    pub observation: Observation,
    /// Needed metrics that are not enabled; the observation then has no
    /// shard-level metrics at all.
    pub missing_metrics: Vec<MetricName>,
}

/// The minute-aligned start and length of the metrics window for `policy`
/// at `now`: the longest rule window, ending as late as `metrics.max_lag`
/// allows (windows end at the newest minute CloudWatch has data for), plus
/// the minute in progress.
pub(crate) fn metrics_window(policy: &StreamPolicy, now: DateTime<Utc>) -> (DateTime<Utc>, u32) {
    let end = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
    let minutes = policy.fetch_minutes();
    (end - TimeDelta::minutes(i64::from(minutes)), minutes)
}

/// How long a sidecar trusts a stream's DescribeStreamSummary (its
/// enhanced-monitoring state and creation time) before reading it again.
pub(crate) const SUMMARY_TTL: Duration = Duration::from_secs(3600);

/// What a long-running controller remembers between passes, so that each
/// pass makes fewer calls: stream summaries (refreshed hourly, or when
/// something changes), and the cooldown history of streams it has read or
/// written. A one-shot command starts with an empty one.
#[derive(Debug, Default)]
pub struct Memory {
    summaries: Mutex<HashMap<String, (StreamSummary, DateTime<Utc>)>>,
    histories: Mutex<HashMap<String, History>>,
    /// The stream-level past a long-running controller keeps; `None` in
    /// a one-shot pass, which reads only the windows it needs.
    past: Option<PastCache>,
    /// Each stream's shards' shares of its writes, as last measured: with
    /// them, a pass reads the shard-level series only when a decision may
    /// be near.
    shares: Mutex<HashMap<String, Shares>>,
    /// Per stream, for `metrics.shard_level: on_demand`: when a decision
    /// was last near, and whether the metrics on are someone else's.
    on_demand: Mutex<HashMap<String, OnDemand>>,
    /// The pass (by its start) and how many streams' tags it read to learn
    /// whose shard-level metrics are on.
    owner_reads: Mutex<(Option<DateTime<Utc>>, u32)>,
}

/// How many streams a pass reads the tags of to learn whether the
/// shard-level metrics on are the controller's (on demand, in a process
/// that has not seen them turned on): a quarter of a one-minute pass's
/// ListTagsForStream quota. A fleet whose metrics someone else turned on
/// learns it over several passes, not in one long pass.
const OWNER_READS_PER_PASS: u32 = 60;

/// What a controller remembers of a stream whose shard-level metrics it
/// turns on and off.
#[derive(Clone, Copy, Debug, Default)]
struct OnDemand {
    near_at: Option<DateTime<Utc>>,
    /// Whether the shard-level metrics on are the controller's own (its
    /// record in the stream's tags names them), when known.
    own: Option<bool>,
}

impl Memory {
    /// The memory of a long-running controller: it also keeps the
    /// streams' past metrics between passes.
    pub fn lasting() -> Self {
        Memory {
            past: Some(PastCache::default()),
            ..Memory::default()
        }
    }

    pub(crate) fn past_cache(&self) -> Option<&PastCache> {
        self.past.as_ref()
    }

    /// The stream's summary, if read within `SUMMARY_TTL` of `now`, less
    /// up to a quarter of it, by the stream's name: summaries first read in
    /// one pass are read again over a quarter of an hour, not all in one
    /// pass (DescribeStreamSummary allows 20 calls a second).
    pub fn summary(&self, stream: &str, now: DateTime<Utc>) -> Option<StreamSummary> {
        let spread = {
            use std::hash::{Hash, Hasher};
            let mut h = rustc_hash::FxHasher::default();
            stream.hash(&mut h);
            Duration::from_secs(h.finish() % (SUMMARY_TTL.as_secs() / 4))
        };
        let ttl = TimeDelta::from_std(SUMMARY_TTL - spread).unwrap_or(TimeDelta::MAX);
        let summaries = self.summaries.lock().unwrap_or_else(|e| e.into_inner());
        summaries
            .get(stream)
            .filter(|(_, at)| now - *at < ttl)
            .map(|(s, _)| s.clone())
    }

    pub fn remember_summary(&self, summary: &StreamSummary, now: DateTime<Utc>) {
        self.summaries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(summary.name.clone(), (summary.clone(), now));
    }

    /// Forgets the stream's summary (its metrics were just enabled).
    pub fn forget_summary(&self, stream: &str) {
        self.summaries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(stream);
    }

    /// Notes in the remembered summary, if any, that `on` were just
    /// enabled and `off` disabled.
    pub fn note_metrics_changed(&self, stream: &str, on: &[MetricName], off: &[MetricName]) {
        let mut summaries = self.summaries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, _)) = summaries.get_mut(stream) {
            let metrics = &mut s.shard_level_metrics;
            metrics.retain(|m| !off.contains(m));
            for m in on {
                if !metrics.contains(m) {
                    metrics.push(*m);
                }
            }
            metrics.sort();
        }
    }

    /// Notes whether this pass found a decision near, and returns how long
    /// none has been since one was, if this memory saw one (`None`: it
    /// never did, and counts from now on).
    pub fn note_decision_near(
        &self,
        stream: &str,
        near: bool,
        now: DateTime<Utc>,
    ) -> Option<TimeDelta> {
        let mut state = self.on_demand.lock().unwrap_or_else(|e| e.into_inner());
        let s = state.entry(stream.to_owned()).or_default();
        let seen = s.near_at;
        if near || seen.is_none() {
            s.near_at = Some(now);
        }
        seen.filter(|_| !near).map(|t| now - t)
    }

    /// Whether the shard-level metrics on for the stream are the
    /// controller's own (it turned them on, or its record in the tags
    /// names them) or someone else's, when known: calm passes read the
    /// tags to learn it only once.
    pub fn metrics_own(&self, stream: &str) -> Option<bool> {
        self.on_demand
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(stream)
            .and_then(|s| s.own)
    }

    /// Whether the pass started at `pass` may read one more stream's tags
    /// to learn whose shard-level metrics are on (counted if so).
    pub fn may_read_owner(&self, pass: DateTime<Utc>) -> bool {
        let mut state = self.owner_reads.lock().unwrap_or_else(|e| e.into_inner());
        if state.0 != Some(pass) {
            *state = (Some(pass), 0);
        }
        state.1 += 1;
        state.1 <= OWNER_READS_PER_PASS
    }

    /// Notes whose the shard-level metrics on are (`None`: not known, as
    /// after the controller turned its own off).
    pub fn note_metrics_own(&self, stream: &str, own: Option<bool>) {
        self.on_demand
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(stream.to_owned())
            .or_default()
            .own = own;
    }

    /// The shares of the stream's shards, as last measured.
    pub fn shares(&self, stream: &str) -> Option<Shares> {
        self.shares
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(stream)
            .cloned()
    }

    pub fn remember_shares(&self, stream: &str, shares: &Shares) {
        self.shares
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(stream.to_owned(), shares.clone());
    }

    /// A memory for the next invocation of a scheduled job: the shares,
    /// when a decision was last near, and the stream summaries (read again
    /// after an hour, as in a sidecar), which save reads and metric-hours
    /// but decide no reshard (cooldowns are read again before any action,
    /// as another process may have changed them).
    pub fn carried_over(&self) -> Memory {
        fn copy<T: Clone>(m: &Mutex<T>) -> Mutex<T> {
            Mutex::new(m.lock().unwrap_or_else(|e| e.into_inner()).clone())
        }
        Memory {
            summaries: copy(&self.summaries),
            shares: copy(&self.shares),
            on_demand: copy(&self.on_demand),
            ..Memory::default()
        }
    }

    /// Keeps what [`Memory::carried_over`] carries from `later`, a memory
    /// used since.
    pub fn keep(&self, later: &Memory) {
        let carried = later.carried_over();
        *self.shares.lock().unwrap_or_else(|e| e.into_inner()) = carried
            .shares
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        *self.on_demand.lock().unwrap_or_else(|e| e.into_inner()) = carried
            .on_demand
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        *self.summaries.lock().unwrap_or_else(|e| e.into_inner()) = carried
            .summaries
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
    }

    /// The cooldown history last read from, or written to, the stream.
    pub fn history(&self, stream: &str) -> Option<History> {
        self.histories
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(stream)
            .cloned()
    }

    pub fn remember_history(&self, stream: &str, history: &History) {
        self.histories
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(stream.to_owned(), history.clone());
    }

    /// Notes operations this controller carried out at the given times.
    pub fn note_reshards(
        &self,
        stream: &str,
        up: Option<DateTime<Utc>>,
        down: Option<DateTime<Utc>>,
    ) {
        let mut histories = self.histories.lock().unwrap_or_else(|e| e.into_inner());
        let h = histories.entry(stream.to_owned()).or_default();
        h.last_scale_up = h.last_scale_up.max(up);
        h.last_scale_down = h.last_scale_down.max(down);
    }
}

/// A stream as far as it is observed before its metrics are read.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The observation so far: no metrics yet, and the history remembered
    /// (or none, with `cooldowns_read` false).
    pub observation: Observation,
    pub stream: StreamId,
    /// The shard-level metrics the policy needs.
    pub needed: Vec<MetricName>,
    /// Which of them are not enabled, when the enhanced-monitoring state is
    /// known; `None` when it was not read (a listed stream whose summary
    /// is not remembered): the metrics show whether it must be.
    pub missing: Option<Vec<MetricName>>,
    /// The shard-level metrics enhanced monitoring publishes, when the
    /// summary was read.
    pub enabled: Option<Vec<MetricName>>,
    /// Whether status and mode allow planning at all (ACTIVE, PROVISIONED).
    pub plannable: bool,
    /// Whether the stream is an ACTIVE On-Demand one whose warm throughput
    /// the policy manages: its stream-level series and past are read.
    pub warm_managed: bool,
    /// Whether, and why, the shard-level series are read this pass, once
    /// decided: before the stream-level series are in, when the shares
    /// alone decide it, else after (`crate::planner::shard_detail`).
    pub detail: Option<ShardDetail>,
    /// Whether the shard-level series were read (asked for, at least).
    pub shard_series_read: bool,
}

impl Prepared {
    /// Whether the stream-level series tell all the planner needs: a
    /// stream with one open shard, whose stream-level series are its own
    /// (unless the policy reads OutgoingBytes, which has no stream-level
    /// twin). Its shard-level metrics are neither read nor needed.
    pub fn stream_series_suffice(&self) -> bool {
        self.observation.open_shards().len() == 1
            && !self.needed.contains(&MetricName::OutgoingBytes)
    }

    /// Whether this pass can read shard-level series of the stream at all:
    /// not where the stream-level ones suffice, nor where they are known
    /// to be off.
    pub fn reads_shard_series(&self) -> bool {
        let off = self.missing.as_ref().is_some_and(|m| !m.is_empty());
        self.plannable && !self.stream_series_suffice() && !off
    }

    /// Whether the shard-level series go with the stream-level ones in the
    /// first read: `detail` is decided already, and calls for them.
    fn shard_series_first(&self) -> bool {
        self.reads_shard_series() && self.detail.as_ref().is_some_and(ShardDetail::read)
    }

    /// The shard-level metrics read of each shard: the needed ones, and
    /// those the policy can do without unless known off.
    fn shard_metrics(&self, policy: &StreamPolicy) -> Vec<MetricName> {
        let mut metrics = self.needed.clone();
        metrics.extend(
            policy
                .wanted_metrics()
                .into_iter()
                .filter(|m| self.enabled.as_ref().is_none_or(|on| on.contains(m))),
        );
        metrics
    }

    /// The first read of this stream, if any: the stream-level series
    /// (free, and they tell a silent stream from a busy one), and the
    /// shard-level ones too where [`Prepared::detail`] already calls for
    /// them.
    pub fn metrics_request(&self, policy: &StreamPolicy) -> Option<MetricsRequest> {
        if !self.plannable && !self.warm_managed {
            return None;
        }
        let (start, minutes) = (self.observation.metrics.start, policy.fetch_minutes());
        let mut request = self.shard_request(policy);
        if !self.shard_series_first() {
            request.shards.clear();
        }
        Some(MetricsRequest {
            stream_series: true,
            iterator_age: policy.consumers.is_some(),
            start,
            minutes,
            ..request
        })
    }

    /// A read of the shard-level series alone, after the stream-level ones
    /// showed a decision may be near.
    pub fn shard_request(&self, policy: &StreamPolicy) -> MetricsRequest {
        MetricsRequest {
            stream: self.observation.stream_name.clone(),
            stream_series: false,
            shards: self
                .observation
                .shards
                .iter()
                .filter(|s| s.open)
                .map(|s| s.id.clone())
                .collect(),
            metrics: self.shard_metrics(policy),
            iterator_age: false,
            start: self.observation.metrics.start,
            minutes: policy.fetch_minutes(),
        }
    }

    /// Takes the answer to [`Prepared::metrics_request`].
    pub fn take_metrics(&mut self, metrics: Metrics) {
        self.shard_series_read = self.shard_series_first();
        self.observation.metrics = metrics;
    }

    /// Takes the answer to [`Prepared::shard_request`].
    pub fn take_shard_series(&mut self, metrics: Metrics) {
        self.shard_series_read = true;
        self.observation.metrics.shards = metrics.shards;
    }

    /// What this pass read, for the plan to say.
    fn reads(&self, policy: &StreamPolicy) -> Reads {
        let shard_metrics = if self.shard_series_read {
            self.shard_metrics(policy)
        } else {
            Vec::new()
        };
        Reads {
            stream_metrics: 3 + u32::from(policy.consumers.is_some()),
            shards: if shard_metrics.is_empty() {
                0
            } else {
                self.observation.open_shards().len() as u32
            },
            shard_metrics,
            detail: self.detail.clone().unwrap_or(if self.shard_series_read {
                ShardDetail::NoShares
            } else {
                ShardDetail::Off
            }),
            enabled: self.enabled.clone(),
        }
    }
}

/// Observes `stream` up to its metrics: status and mode from `listing`
/// when ListStreams gave them (else DescribeStreamSummary, or the summary
/// `memory` holds), and its open shards. Cooldown history comes from
/// `memory`, if it has it; else it is left unread.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn prepare<R: KinesisRead>(
    read: &R,
    stream: &StreamId,
    listing: Option<&StreamListing>,
    policy: &StreamPolicy,
    quota: Option<ShardQuota>,
    memory: &Memory,
    now: DateTime<Utc>,
) -> Result<Prepared, ObserveError> {
    let in_stream = |e| ObserveError::stream(&stream.name, e);
    let (summary, status, mode) = summary(read, stream, listing, policy, memory, now).await?;
    let needed = policy.needed_metrics();
    let plannable = status == StreamStatus::Active && mode == StreamMode::Provisioned;
    // An On-Demand stream whose warm throughput the policy manages: its
    // stream-level series and past are read, its shards never.
    let warm_managed = status == StreamStatus::Active
        && mode == StreamMode::OnDemand
        && policy.warm_throughput.is_some();
    let shards = if plannable {
        read.list_open_shards(stream).await.map_err(in_stream)?
    } else {
        // The planner refuses such streams anyway: spare the calls.
        Vec::new()
    };
    let history = memory.history(&stream.name);
    let (start, _) = metrics_window(policy, now);
    let observation = Observation {
        stream_name: stream.name.clone(),
        stream_status: status,
        stream_mode: mode,
        observed_at: now,
        shards,
        metrics: Metrics {
            start,
            period_seconds: 60,
            stream: Default::default(),
            shards: Default::default(),
        },
        cooldowns_read: history.is_some(),
        history: history.unwrap_or_default(),
        shard_quota: quota,
        stream_created_at: summary.as_ref().and_then(|s| s.created_at),
        past: Vec::new(),
        samples: Vec::new(),
        shares: memory.shares(&stream.name),
        reads: None,
        warm_throughput: summary.as_ref().and_then(|s| s.warm_throughput),
    };
    Ok(Prepared {
        missing: summary.as_ref().map(|s| s.missing_metrics(&needed)),
        enabled: summary.as_ref().map(|s| s.shard_level_metrics.clone()),
        observation,
        stream: stream.clone(),
        needed,
        plannable,
        warm_managed,
        detail: None,
        shard_series_read: false,
    })
}

/// The stream's status and mode, and its summary when read (or
/// remembered): from the listing and memory where they suffice, from
/// DescribeStreamSummary otherwise.
async fn summary<R: KinesisRead>(
    read: &R,
    stream: &StreamId,
    listing: Option<&StreamListing>,
    policy: &StreamPolicy,
    memory: &Memory,
    now: DateTime<Utc>,
) -> Result<(Option<StreamSummary>, StreamStatus, StreamMode), ObserveError> {
    let in_stream = |e| ObserveError::stream(&stream.name, e);
    let remembered = memory.summary(&stream.name, now);
    let listed = listing.and_then(|l| Some((l.status?, l.mode?)));
    // An On-Demand stream's warm throughput changes with every update:
    // with `warm_throughput`, its summary is read each pass.
    let warm_read = policy.warm_throughput.is_some()
        && (listed.is_some_and(|(_, mode)| mode == StreamMode::OnDemand)
            || remembered
                .as_ref()
                .is_some_and(|s| s.mode == StreamMode::OnDemand));
    if !warm_read {
        match (remembered, listed) {
            // Status and mode change; the summary's other facts hardly do.
            (Some(s), Some((status, mode))) => return Ok((Some(s), status, mode)),
            // Turning metrics on and off on demand needs to know which are on.
            (None, Some((status, mode))) if policy.shard_level != ShardLevel::OnDemand => {
                return Ok((None, status, mode));
            }
            _ => {}
        }
    }
    let s = read.describe_stream(stream).await.map_err(in_stream)?;
    memory.remember_summary(&s, now);
    let (status, mode) = (s.status, s.mode);
    Ok((Some(s), status, mode))
}

/// Completes a prepared observation with the metrics read for it (taken
/// with [`Prepared::take_metrics`] and [`Prepared::take_shard_series`]).
/// Where shard-level series were read, the enhanced-monitoring state was
/// not, and they hold no datapoint at all, DescribeStreamSummary says
/// whether the metrics are off. With `allow_missing_metrics`, a stream
/// whose shard-level metrics are off is observed without them instead of
/// failing (for `apply` to turn them on).
pub async fn complete<R: KinesisRead>(
    read: &R,
    mut prepared: Prepared,
    policy: &StreamPolicy,
    memory: &Memory,
    allow_missing_metrics: bool,
) -> Result<Observed, ObserveError> {
    let stream = prepared.stream.clone();
    let in_stream = |e| ObserveError::stream(&stream.name, e);
    let now = prepared.observation.observed_at;
    prepared.observation.reads = Some(prepared.reads(policy));
    if !prepared.plannable {
        return Ok(Observed {
            observation: prepared.observation,
            missing_metrics: Vec::new(),
        });
    }
    let no_shard_data = prepared.observation.metrics.shards.values().all(|m| {
        m[MetricName::IncomingRecords].iter().all(|v| v.is_none())
            && m[MetricName::IncomingBytes].iter().all(|v| v.is_none())
    });
    let suffice = prepared.stream_series_suffice();
    let missing = match prepared.missing.take() {
        // Needed only once the stream has shards to tell apart.
        _ if suffice => Vec::new(),
        // Turned on when needed (`crate::planner::monitoring_change`).
        _ if policy.shard_level == ShardLevel::OnDemand => Vec::new(),
        Some(missing) => missing,
        // Not read this pass: nothing says they are off.
        None if !prepared.shard_series_read => Vec::new(),
        // Not read, and the metrics leave it in doubt: idle, or off?
        None if no_shard_data => {
            let s = read.describe_stream(&stream).await.map_err(in_stream)?;
            memory.remember_summary(&s, now);
            prepared.observation.stream_created_at = s.created_at;
            s.missing_metrics(&prepared.needed)
        }
        None => Vec::new(),
    };
    if !missing.is_empty() {
        if !allow_missing_metrics {
            return Err(ObserveError::MetricsNotEnabled {
                stream: stream.name.clone(),
                missing,
            });
        }
        // Whatever shard series were read are absent, not zero.
        prepared.observation.metrics.shards.clear();
    }
    Ok(Observed {
        observation: prepared.observation,
        missing_metrics: missing,
    })
}

/// The observation with its cooldown history read from the stream's tags
/// (and remembered).
pub(crate) async fn with_history<R: KinesisRead>(
    read: &R,
    mut observed: Observed,
    stream: &StreamId,
    memory: &Memory,
) -> Result<Observed, ObserveError> {
    let history = read
        .read_history(stream)
        .await
        .map_err(|e| ObserveError::stream(&stream.name, e))?;
    memory.remember_history(&stream.name, &history);
    observed.observation.history = history;
    observed.observation.cooldowns_read = true;
    Ok(observed)
}

/// Reads the creation time of a stream whose summary was not read, for the
/// silent-stream rule.
pub(crate) async fn with_creation_time<R: KinesisRead>(
    read: &R,
    mut observed: Observed,
    stream: &StreamId,
    memory: &Memory,
) -> Result<Observed, ObserveError> {
    let s = read
        .describe_stream(stream)
        .await
        .map_err(|e| ObserveError::stream(&stream.name, e))?;
    memory.remember_summary(&s, observed.observation.observed_at);
    observed.observation.stream_created_at = s.created_at;
    Ok(observed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_summary_is_read_again_after_an_hour() {
        let memory = Memory::default();
        let at: DateTime<Utc> = "2026-11-26T02:00:00Z".parse().unwrap();
        let summary = StreamSummary {
            name: "orders".into(),
            arn: "arn:aws:kinesis:us-east-1:1:stream/orders".into(),
            status: StreamStatus::Active,
            mode: StreamMode::Provisioned,
            open_shard_count: 2,
            shard_level_metrics: MetricName::ALL.to_vec(),
            created_at: None,
            warm_throughput: None,
        };
        memory.remember_summary(&summary, at);
        assert_eq!(
            memory.summary("orders", at + TimeDelta::minutes(44)),
            Some(summary)
        );
        assert_eq!(memory.summary("orders", at + TimeDelta::minutes(60)), None);
        memory.remember_summary(
            &StreamSummary {
                name: "x".into(),
                ..memory_summary()
            },
            at,
        );
        memory.forget_summary("x");
        assert_eq!(memory.summary("x", at), None);
        // Cooldowns noted only move forward.
        memory.note_reshards("orders", Some(at), None);
        memory.note_reshards("orders", Some(at - TimeDelta::minutes(5)), Some(at));
        let h = memory.history("orders").unwrap();
        assert_eq!((h.last_scale_up, h.last_scale_down), (Some(at), Some(at)));
    }

    fn memory_summary() -> StreamSummary {
        StreamSummary {
            name: String::new(),
            arn: String::new(),
            status: StreamStatus::Active,
            mode: StreamMode::Provisioned,
            open_shard_count: 1,
            shard_level_metrics: Vec::new(),
            created_at: None,
            warm_throughput: None,
        }
    }

    #[test]
    fn the_window_covers_the_longest_rule_and_the_delay() {
        let policy = crate::testkit::policy();
        let now: DateTime<Utc> = "2026-11-26T02:00:30Z".parse().unwrap();
        let (start, minutes) = metrics_window(&policy, now);
        // 30-minute window + 15-minute max lag + the minute in progress.
        assert_eq!(minutes, 46);
        assert_eq!(
            start,
            "2026-11-26T01:14:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        // The oldest newest-minute max_lag allows is 01:45 (it ends at
        // 01:46:00, 14m30s before now): its 30-minute window, from 01:16,
        // is inside what is read.
        let window_start: DateTime<Utc> = "2026-11-26T01:16:00Z".parse().unwrap();
        assert!(start <= window_start);
    }
}
