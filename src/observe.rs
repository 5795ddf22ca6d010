//! Builds an [`Observation`] of one live stream through the read-only
//! capabilities: its status and mode, its open shards, the cooldown history
//! kept in its tags, and the per-shard metrics the policy needs over a
//! minute-aligned window long enough for every rule.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::error::{Error, Result};
use crate::observation::{Metrics, Observation, StreamMode, StreamStatus};
use crate::policy::StreamPolicy;
use crate::ports::{KinesisRead, MetricName, MetricsRead, ShardQuota, StreamId};

/// An observation, and the shard-level metrics enhanced monitoring lacks.
#[derive(Clone, Debug)]
pub struct Observed {
    pub observation: Observation,
    /// Needed metrics that are not enabled; the observation then has no
    /// metrics at all.
    pub missing_metrics: Vec<MetricName>,
}

/// The minute-aligned start and length of the metrics window for `policy`
/// at `now`: the longest rule window, ending as late as `metrics.max_lag`
/// allows (windows end at the newest minute CloudWatch has data for), plus
/// the minute in progress.
pub fn metrics_window(policy: &StreamPolicy, now: DateTime<Utc>) -> (DateTime<Utc>, u32) {
    let end = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
    let minutes = policy.fetch_minutes();
    (end - TimeDelta::minutes(i64::from(minutes)), minutes)
}

/// Observes `stream` at `now`. With `allow_missing_metrics`, a stream whose
/// shard-level metrics are off is observed without metrics instead of
/// failing (for `apply` to turn them on).
pub async fn observe<R: KinesisRead, M: MetricsRead>(
    read: &R,
    metrics: &M,
    stream: &StreamId,
    policy: &StreamPolicy,
    quota: Option<ShardQuota>,
    now: DateTime<Utc>,
    allow_missing_metrics: bool,
) -> Result<Observed> {
    let in_stream = |e| Error::stream(&stream.name, e);
    let summary = read.describe_stream(stream).await.map_err(in_stream)?;
    let shards = read.list_open_shards(stream).await.map_err(in_stream)?;
    let history = read.read_history(stream).await.map_err(in_stream)?;
    let (start, minutes) = metrics_window(policy, now);
    let mut observation = Observation {
        stream_name: summary.name.clone(),
        stream_status: summary.status,
        stream_mode: summary.mode,
        observed_at: now,
        shards,
        metrics: Metrics {
            start,
            period_seconds: 60,
            stream: Default::default(),
            shards: Default::default(),
        },
        history,
        shard_quota: quota,
        stream_created_at: summary.created_at,
    };
    // The planner refuses such streams anyway: spare the metric calls.
    if summary.mode != StreamMode::Provisioned || summary.status != StreamStatus::Active {
        return Ok(Observed {
            observation,
            missing_metrics: Vec::new(),
        });
    }
    let needed = policy.needed_metrics();
    let missing = summary.missing_metrics(&needed);
    if !missing.is_empty() && !allow_missing_metrics {
        return Err(Error::MetricsNotEnabled {
            stream: stream.name.clone(),
            missing,
        });
    }
    // Without shard-level metrics only the stream-level ones are read: they
    // are free, and they tell a silent stream from a busy one.
    let ids: Vec<_> = if missing.is_empty() {
        observation.shards.iter().map(|s| s.id.clone()).collect()
    } else {
        Vec::new()
    };
    observation.metrics = metrics
        .read_metrics(&summary.name, &ids, &needed, start, minutes)
        .await
        .map_err(in_stream)?;
    Ok(Observed {
        observation,
        missing_metrics: missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_covers_the_longest_rule_and_the_delay() {
        let policy = StreamPolicy::default();
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
