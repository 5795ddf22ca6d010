//! What the controller saw of one stream at one moment: its status, its
//! shards, their per-minute CloudWatch series and the cooldown history.
//!
//! This is the planner's whole input besides the policy and the clock, and
//! its serialized form is the snapshot file that `plan --snapshot` replays
//! and `plan --save-snapshot` writes. This module owns the format and its
//! validation; it does not decide anything.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::input::{self, FileError, FileKind};
use crate::model::{History, MetricName, Shard, ShardId, ShardQuota, StreamMode, StreamStatus};

/// One observation of one stream, exactly as a snapshot file holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    pub stream_name: String,
    pub stream_status: StreamStatus,
    pub stream_mode: StreamMode,
    /// When the observation was taken; decides which metric minutes are
    /// complete (see [`Metrics`]).
    #[serde(deserialize_with = "crate::model::rfc3339")]
    pub observed_at: DateTime<Utc>,
    /// Every shard ListShards returned, closed ones included; the planner
    /// looks only at the open ones.
    pub shards: Vec<Shard>,
    pub metrics: Metrics,
    #[serde(default)]
    pub history: History,
    /// Whether `history` was read from the stream's tags (or remembered
    /// from them). A pass reads tags only for streams it would act on: a
    /// plan made without them says so, and has no action.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub cooldowns_read: bool,
    /// The account's shard quota, when it was read (DescribeLimits); splits
    /// beyond it would fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_quota: Option<ShardQuota>,
    /// When the stream was created, when known: silence in the metrics
    /// before that says nothing about idleness.
    #[serde(
        default,
        deserialize_with = "crate::model::optional_rfc3339",
        skip_serializing_if = "Option::is_none"
    )]
    pub stream_created_at: Option<DateTime<Utc>>,
    /// Stream-level series of earlier minutes (the same hours days back,
    /// the last days of bursts), read only for a policy with `forecast` or
    /// `objective`. Windows do not overlap and are sorted by start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub past: Vec<PastWindow>,
    /// Samples of the records of shards the plan would split, taken only
    /// for a policy with `scale_up.split_at: traffic`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<crate::observe::ShardSample>,
    /// Each open shard's share of the stream's writes as last measured
    /// from its shard-level series, when known: a minute a shard has no
    /// datapoint for is estimated as the stream's load beyond the shards
    /// that published, shared by these (an estimate proves a shard cold,
    /// never hot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<Shares>,
    /// What the pass read from CloudWatch for this observation, and why
    /// (absent in snapshots written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<Reads>,
    /// An On-Demand stream's warm throughput (DescribeStreamSummary), in
    /// an account with On-Demand Advantage; read for a policy with
    /// `warm_throughput`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_throughput: Option<crate::model::WarmThroughput>,
}

/// What one pass read of a stream's metrics, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reads {
    /// Stream-level metrics requested (free to publish, billed per read).
    pub stream_metrics: u32,
    /// The shard-level metrics read of each shard, if any were.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shard_metrics: Vec<MetricName>,
    /// How many shards they were read of.
    #[serde(default)]
    pub shards: u32,
    /// Why the shard-level series were read, or done without.
    pub detail: ShardDetail,
    /// The shard-level metrics enhanced monitoring publishes (billed while
    /// it does), when the pass knew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<Vec<MetricName>>,
}

impl Reads {
    /// GetMetricData metrics requested, all together.
    pub fn metrics_requested(&self) -> u32 {
        self.stream_metrics + self.shards * self.shard_metrics.len() as u32
    }

    /// What was read and why, and what it costs a day at `passes` a day if
    /// every pass read as much, at CloudWatch's list price; and, when
    /// known, what the shard-level metrics enhanced monitoring publishes
    /// for `shards` open shards cost a day. For the plan's header and the
    /// controller's log line.
    pub fn describe(&self, passes: u32, shards: usize) -> String {
        let names = |m: &[MetricName]| m.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
        let requested = self.metrics_requested();
        let per_day =
            f64::from(requested) * f64::from(passes) * crate::model::GET_METRIC_DATA_USD_PER_METRIC;
        let shard_level = if self.shard_metrics.is_empty() {
            format!("shard-level not read: {}", self.detail)
        } else {
            format!(
                "shard-level {} of {} shards, because {}",
                names(&self.shard_metrics),
                self.shards,
                self.detail
            )
        };
        let mut out = format!(
            "metrics read: {} stream-level; {shard_level}; {requested} metrics requested, ${per_day:.3} a day at {passes} passes a day",
            self.stream_metrics
        );
        if let Some(enabled) = &self.enabled {
            let metrics = enabled.len() * shards;
            let per_day = metrics as f64 * crate::model::METRIC_MONTH_USD * 24.0
                / crate::model::HOURS_PER_MONTH;
            if enabled.is_empty() {
                out.push_str("; enhanced monitoring off");
            } else {
                out.push_str(&format!(
                    "; enhanced monitoring publishes {} ({metrics} metrics on {shards} shards, ${per_day:.3} a day at ${:.2} a metric-month)",
                    names(enabled),
                    crate::model::METRIC_MONTH_USD
                ));
            }
        }
        out
    }
}

/// Why a pass read a stream's shard-level series, or did without them.
/// Every pass reads the stream-level ones; the shard-level ones cost a
/// GetMetricData metric each per pass, so they are read when a decision
/// may be near, and planned without on estimates otherwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case", deny_unknown_fields)]
pub enum ShardDetail {
    /// Read: no share of the stream's load is known for the shards (a
    /// first pass, or a process that keeps none).
    NoShares,
    /// Read: `shards` open shards have no measured share (new since the
    /// last read).
    NewShards { shards: u32 },
    /// Read: the shares are `age_seconds` old, `metrics.shard_refresh` or
    /// more.
    Refresh {
        age_seconds: i64,
        refresh_seconds: u64,
    },
    /// Read: the stream throttled `records` writes in the scale-up window.
    Throttled { records: f64 },
    /// Read: a shard's estimated load reached `near`, the level at which
    /// a split may be near.
    NearThreshold {
        shard: ShardId,
        estimate: f64,
        near: f64,
    },
    /// Read: on the estimates, the plan would `action` (to confirm it on
    /// the shard-level series).
    WouldAct { action: String },
    /// Read: the policy reads OutgoingBytes, which only shard-level
    /// series tell (`read.enabled`, `consumers.scale_up_on_lag`).
    ReadLoad,
    /// Not read: one open shard, whose series are the stream's own.
    OneShard,
    /// Not read: no decision near; the highest estimate, on `shard`, is
    /// under `near`, and the shares are `shares_age_seconds` old.
    Calm {
        highest: f64,
        shard: Option<ShardId>,
        near: f64,
        shares_age_seconds: i64,
    },
    /// Not read: the stream is not planned this pass (not ACTIVE, not
    /// provisioned, metrics late).
    NotPlanned,
    /// Not read: the shard-level metrics are known to be off.
    Off,
}

impl ShardDetail {
    /// Whether the shard-level series are read for this.
    pub fn read(&self) -> bool {
        !matches!(
            self,
            ShardDetail::OneShard
                | ShardDetail::Calm { .. }
                | ShardDetail::NotPlanned
                | ShardDetail::Off
        )
    }
}

impl fmt::Display for ShardDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let age =
            |s: i64| humantime::format_duration(std::time::Duration::from_secs(s.max(0) as u64));
        match self {
            ShardDetail::NoShares => f.write_str("no shard's share of the load is known yet"),
            ShardDetail::NewShards { shards } => {
                write!(f, "{shards} open shard(s) have no measured share yet")
            }
            ShardDetail::Refresh {
                age_seconds,
                refresh_seconds,
            } => write!(
                f,
                "the shares were measured {} ago, and this stream reads them again every {} (its part of metrics.shard_refresh)",
                age(*age_seconds),
                age(*refresh_seconds as i64)
            ),
            ShardDetail::Throttled { records } => write!(
                f,
                "the stream throttled {records:.0} writes in the scale-up window"
            ),
            ShardDetail::NearThreshold {
                shard,
                estimate,
                near,
            } => write!(
                f,
                "{shard} is estimated at {estimate:.2} of a shard, at or above {near:.2}, near the scale-up threshold"
            ),
            ShardDetail::WouldAct { action } => write!(
                f,
                "on the estimates the plan would {action}: confirmed on the shard-level series"
            ),
            ShardDetail::ReadLoad => f.write_str(
                "the policy reads OutgoingBytes, which only the shard-level series tell",
            ),
            ShardDetail::OneShard => {
                f.write_str("one open shard: the stream-level series are its own")
            }
            ShardDetail::Calm {
                highest,
                shard,
                near,
                shares_age_seconds,
            } => {
                write!(f, "no decision near: the highest estimate is {highest:.2}")?;
                if let Some(shard) = shard {
                    write!(f, " ({shard})")?;
                }
                write!(
                    f,
                    ", under {near:.2}, from shares measured {} ago",
                    age(*shares_age_seconds)
                )
            }
            ShardDetail::NotPlanned => f.write_str("the stream is not planned this pass"),
            ShardDetail::Off => f.write_str("shard-level metrics are off"),
        }
    }
}

/// Each open shard's share of its stream's writes, measured from the
/// shard-level series of the newest minutes every open shard had data for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shares {
    /// The end of the newest minute they were measured over.
    #[serde(deserialize_with = "crate::model::rfc3339")]
    pub measured_at: DateTime<Utc>,
    /// Over how many minutes.
    pub minutes: u32,
    /// Hashed like the metrics (a 20,000-shard stream's shares are built
    /// each pass it reads them); written sorted by shard id.
    #[serde(serialize_with = "sorted")]
    pub shards: FxHashMap<ShardId, Share>,
}

/// One shard's share of its stream's IncomingBytes and IncomingRecords,
/// each in [0, 1].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Share {
    pub bytes: f64,
    pub records: f64,
}

impl Shares {
    /// The share of `shard`, if measured.
    pub fn of(&self, shard: &ShardId) -> Option<Share> {
        self.shards.get(shard).copied()
    }
}

/// A stretch of the stream-level per-minute series from before the
/// current metrics window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PastWindow {
    /// The start of its first minute.
    #[serde(deserialize_with = "crate::model::rfc3339")]
    pub start: DateTime<Utc>,
    #[serde(rename = "IncomingBytes")]
    pub incoming_bytes: Series,
    #[serde(rename = "IncomingRecords")]
    pub incoming_records: Series,
}

impl PastWindow {
    /// The minutes it covers.
    pub fn minutes(&self) -> usize {
        self.incoming_bytes.len().min(self.incoming_records.len())
    }

    /// The start of the minute after its last.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + chrono::TimeDelta::minutes(self.minutes() as i64)
    }
}

impl Observation {
    /// The open shards, sorted by starting hash key.
    pub fn open_shards(&self) -> Vec<&Shard> {
        let mut open: Vec<&Shard> = self.shards.iter().filter(|s| s.open).collect();
        open.sort_by_key(|s| (s.range.start(), s.range.end()));
        open
    }
}

/// Stream-level and per-shard CloudWatch series on a common minute grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// The start of the first minute of every series.
    #[serde(deserialize_with = "crate::model::rfc3339")]
    pub start: DateTime<Utc>,
    /// Always 60: shard-level metrics are per-minute sums.
    pub period_seconds: u32,
    /// The stream-level series (free and always on). They tell an idle
    /// shard, which publishes no datapoint, from a missing datapoint: what
    /// the stream took beyond the shards that published is all the
    /// silent shards can have taken. Empty in snapshots written before
    /// they were read.
    #[serde(default, skip_serializing_if = "StreamMetrics::is_empty")]
    pub stream: StreamMetrics,
    /// Hashed for fast lookup by the planner (FxHash: shard ids are not
    /// attacker-chosen keys); written sorted by shard id so snapshots are
    /// stable.
    #[serde(default, serialize_with = "sorted")]
    pub shards: FxHashMap<ShardId, ShardMetrics>,
}

/// A per-minute series of Sums, where a missing datapoint means "unknown",
/// never zero. In JSON an array of numbers and `null`s.
///
/// Stored densely, NaN marking a missing datapoint: half the memory of
/// `Vec<Option<f64>>`, which matters when a plan reads every minute of
/// 20,000 shards. Metric values are never NaN (they are checked to be
/// finite), so the marker cannot collide with data.
#[derive(Clone, Debug, Default)]
pub struct Series(Vec<f64>);

impl Series {
    /// The datapoint of minute `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<f64> {
        self.0.get(i).copied().filter(|v| !v.is_nan())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Option<f64>> + '_ {
        self.0.iter().map(|v| (!v.is_nan()).then_some(*v))
    }

    /// The datapoints as stored, NaN marking a missing one: for loops over
    /// many minutes that should not branch on `Option` for each.
    pub fn raw(&self) -> &[f64] {
        &self.0
    }

    /// The datapoints of minutes `range` (clamped to the series).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Series {
        let end = range.end.min(self.0.len());
        Series(self.0[range.start.min(end)..end].to_vec())
    }

    pub fn push(&mut self, value: Option<f64>) {
        self.0.push(value.unwrap_or(f64::NAN));
    }
}

impl PartialEq for Series {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl FromIterator<Option<f64>> for Series {
    fn from_iter<I: IntoIterator<Item = Option<f64>>>(iter: I) -> Self {
        Series(iter.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    }
}

impl From<Vec<Option<f64>>> for Series {
    fn from(values: Vec<Option<f64>>) -> Self {
        values.into_iter().collect()
    }
}

impl Serialize for Series {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Series {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Option<f64>>::deserialize(deserializer).map(Series::from)
    }
}

/// The series of one shard, by CloudWatch metric name: any of
/// [`MetricName::ALL`], each under its own name in a snapshot.
pub type ShardMetrics = ByMetric<ShardLevel>;

/// The stream-level series (dimension StreamName only), by CloudWatch
/// metric name: IncomingBytes and IncomingRecords; the writes the stream
/// refused for want of capacity (WriteProvisionedThroughputExceeded, Sum),
/// free like those two, and what tells, every pass and without a
/// shard-level read, that some shard throttles; and the age of the oldest
/// record any consumer's last GetRecords returned (Maximum), read only for
/// a policy with `consumers`, which CloudWatch names
/// GetRecords.IteratorAgeMilliseconds at this level. A series is empty in
/// snapshots written before it was read.
pub type StreamMetrics = ByMetric<StreamLevel>;

/// The stream-level name of the consumers' iterator age (the shard-level
/// metric is plain IteratorAgeMilliseconds).
pub const STREAM_ITERATOR_AGE: &str = "GetRecords.IteratorAgeMilliseconds";

/// Where a [`ByMetric`] was read: which metrics it may hold, and the name
/// CloudWatch (and the snapshot) gives each there.
pub trait Level: Clone + Default + fmt::Debug + PartialEq {
    /// The metrics it holds.
    const METRICS: &'static [MetricName];
    /// Their names at this level, in the same order.
    const NAMES: &'static [&'static str];

    fn name(metric: MetricName) -> &'static str {
        let i = Self::METRICS.iter().position(|m| *m == metric);
        i.map_or(metric.as_str(), |i| Self::NAMES[i])
    }
}

/// A shard's metrics: every metric, under its own name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShardLevel;

impl Level for ShardLevel {
    const METRICS: &'static [MetricName] = &MetricName::ALL;
    const NAMES: &'static [&'static str] = &MetricName::NAMES;
}

/// A stream's metrics: the free stream-level series the planner reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamLevel;

impl Level for StreamLevel {
    const METRICS: &'static [MetricName] = &[
        MetricName::IncomingBytes,
        MetricName::IncomingRecords,
        MetricName::WriteProvisionedThroughputExceeded,
        MetricName::IteratorAgeMilliseconds,
    ];
    const NAMES: &'static [&'static str] = &[
        "IncomingBytes",
        "IncomingRecords",
        "WriteProvisionedThroughputExceeded",
        STREAM_ITERATOR_AGE,
    ];
}

/// Per-minute series stored by metric name, a slot per [`MetricName`]
/// (empty where the metric was not read): `metrics[MetricName::IncomingBytes]`.
/// A new metric needs its name in [`MetricName`], not a field here.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ByMetric<L: Level> {
    series: [Series; MetricName::ALL.len()],
    level: std::marker::PhantomData<L>,
}

impl<L: Level> ByMetric<L> {
    /// The same, with `series` for `metric`.
    pub fn with(mut self, metric: MetricName, series: Series) -> Self {
        self[metric] = series;
        self
    }

    /// Whether no series of this level was read at all.
    pub fn is_empty(&self) -> bool {
        L::METRICS.iter().all(|m| self[*m].is_empty())
    }

    /// Each series this level holds with its CloudWatch name, read or not,
    /// for validation and reports.
    pub fn named_series(&self) -> impl Iterator<Item = (&'static str, &Series)> + '_ {
        L::METRICS.iter().map(|m| (L::name(*m), &self[*m]))
    }
}

impl<L: Level> std::ops::Index<MetricName> for ByMetric<L> {
    type Output = Series;

    fn index(&self, metric: MetricName) -> &Series {
        &self.series[metric as usize]
    }
}

impl<L: Level> std::ops::IndexMut<MetricName> for ByMetric<L> {
    fn index_mut(&mut self, metric: MetricName) -> &mut Series {
        debug_assert!(
            L::METRICS.contains(&metric),
            "{metric} is not a metric of this level"
        );
        &mut self.series[metric as usize]
    }
}

impl<L: Level> Serialize for ByMetric<L> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.named_series().filter(|(_, s)| !s.is_empty()))
    }
}

/// A metric's name as a snapshot's key, refused unless the level holds it.
struct Key<L>(MetricName, std::marker::PhantomData<L>);

impl<'de, L: Level> Deserialize<'de> for Key<L> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        L::METRICS
            .iter()
            .find(|m| L::name(**m) == name)
            .map(|m| Key(*m, std::marker::PhantomData))
            .ok_or_else(|| serde::de::Error::unknown_field(&name, L::NAMES))
    }
}

impl<'de, L: Level> Deserialize<'de> for ByMetric<L> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<L>(std::marker::PhantomData<L>);
        impl<'de, L: Level> serde::de::Visitor<'de> for Visit<L> {
            type Value = ByMetric<L>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from metric names to per-minute series")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut metrics = ByMetric::<L>::default();
                let mut seen = 0u8;
                while let Some(Key(metric, _)) = map.next_key::<Key<L>>()? {
                    let bit = 1 << metric as u8;
                    if seen & bit != 0 {
                        return Err(serde::de::Error::duplicate_field(L::name(metric)));
                    }
                    seen |= bit;
                    metrics[metric] = map.next_value()?;
                }
                Ok(metrics)
            }
        }
        deserializer.deserialize_map(Visit(std::marker::PhantomData))
    }
}

fn sorted<S: serde::Serializer, T: Serialize>(
    map: &FxHashMap<ShardId, T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(map.iter().collect::<BTreeMap<_, _>>())
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// A snapshot that parsed but cannot be planned on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SnapshotProblem {
    /// Where in the snapshot, e.g. `metrics.shards.shardId-000000000001.IncomingBytes[3]`.
    pub path: String,
    pub message: String,
}

impl Observation {
    /// Checks what the JSON types alone cannot: the minute grid, metric
    /// values, and shard ids that are unique and known.
    pub fn validate(&self) -> Result<(), SnapshotProblem> {
        let problem = |path: String, message: String| Err(SnapshotProblem { path, message });
        if self.stream_name.is_empty() {
            return problem("stream_name".into(), "must not be empty".into());
        }
        if self.metrics.period_seconds != 60 {
            return problem(
                "metrics.period_seconds".into(),
                format!(
                    "must be 60 (shard-level metrics are per-minute sums), got {}",
                    self.metrics.period_seconds
                ),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, shard) in self.shards.iter().enumerate() {
            if !seen.insert(&shard.id) {
                return problem(
                    format!("shards[{i}].shard_id"),
                    format!(
                        "shard {} is listed twice",
                        input::yaml_scalar(shard.id.as_str())
                    ),
                );
            }
        }
        check_values("metrics.stream", self.metrics.stream.named_series())?;
        self.validate_past()?;
        self.validate_shares()?;
        for (id, series) in &self.metrics.shards {
            // Ids come from the file: quoted and cut short when odd.
            let shown = input::yaml_scalar(id.as_str());
            if !seen.contains(id) {
                return problem(
                    format!("metrics.shards.{shown}"),
                    "has metrics but is not in `shards`".into(),
                );
            }
            check_values(&format!("metrics.shards.{shown}"), series.named_series())?;
        }
        Ok(())
    }

    /// The past windows: both series over the same minutes, sorted, not
    /// overlapping, every datapoint a non-negative number or null.
    fn validate_past(&self) -> Result<(), SnapshotProblem> {
        let problem = |path: String, message: String| Err(SnapshotProblem { path, message });
        for (w, window) in self.past.iter().enumerate() {
            if window.incoming_bytes.len() != window.incoming_records.len() {
                return problem(
                    format!("past[{w}]"),
                    "IncomingBytes and IncomingRecords must cover the same minutes".into(),
                );
            }
            if w > 0 && window.start < self.past[w - 1].end() {
                return problem(
                    format!("past[{w}].start"),
                    "windows must be sorted by start and must not overlap".into(),
                );
            }
            check_values(
                &format!("past[{w}]"),
                [
                    ("IncomingBytes", &window.incoming_bytes),
                    ("IncomingRecords", &window.incoming_records),
                ],
            )?;
        }
        Ok(())
    }

    /// Each remembered share: between 0 and 1.
    fn validate_shares(&self) -> Result<(), SnapshotProblem> {
        let problem = |path: String, message: String| Err(SnapshotProblem { path, message });
        if let Some(shares) = &self.shares {
            for (id, share) in &shares.shards {
                let shown = input::yaml_scalar(id.as_str());
                for (name, v) in [("bytes", share.bytes), ("records", share.records)] {
                    if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                        return problem(
                            format!("shares.shards.{shown}.{name}"),
                            format!("must be a share between 0 and 1, got {v}"),
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

/// Refuses the first datapoint of `named` series that is not a
/// non-negative finite number, at `{prefix}.{name}[{minute}]`.
fn check_values<'n, 'a>(
    prefix: &str,
    named: impl IntoIterator<Item = (&'n str, &'a Series)>,
) -> Result<(), SnapshotProblem> {
    for (name, values) in named {
        let bad = values
            .iter()
            .enumerate()
            .find_map(|(i, v)| v.filter(|v| !(v.is_finite() && *v >= 0.0)).map(|v| (i, v)));
        if let Some((i, v)) = bad {
            return Err(SnapshotProblem {
                path: format!("{prefix}.{name}[{i}]"),
                message: format!("must be a non-negative number or null, got {v}"),
            });
        }
    }
    Ok(())
}

impl Observation {
    /// Reads and checks a snapshot file.
    pub fn load(path: &Path) -> Result<Observation, FileError> {
        let text = input::read_text(path, FileKind::Snapshot)?;
        Observation::parse(&text, path)
    }

    /// Parses snapshot JSON; `path` only names the source in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Observation, FileError> {
        let obs: Observation = input::parse_file(text, path, FileKind::Snapshot, 5)?;
        obs.validate()
            .map_err(|problem| FileError::invalid(path, FileKind::Snapshot, problem.to_string()))?;
        Ok(obs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[Option<f64>]) -> Series {
        values.to_vec().into()
    }

    /// Every metric at each level, written under CloudWatch's name there,
    /// in MetricName's order, and read back the same.
    #[test]
    fn metrics_are_written_and_read_by_their_cloudwatch_names() {
        let mut shard = ShardMetrics::default();
        let mut stream = StreamMetrics::default();
        for (i, metric) in MetricName::ALL.into_iter().enumerate() {
            shard[metric] = series(&[Some(i as f64), None]);
            if StreamLevel::METRICS.contains(&metric) {
                stream[metric] = series(&[Some(i as f64)]);
            }
        }
        let shard_json = serde_json::to_string(&shard).unwrap();
        assert_eq!(
            shard_json,
            r#"{"IncomingBytes":[0.0,null],"IncomingRecords":[1.0,null],"WriteProvisionedThroughputExceeded":[2.0,null],"OutgoingBytes":[3.0,null],"OutgoingRecords":[4.0,null],"ReadProvisionedThroughputExceeded":[5.0,null],"IteratorAgeMilliseconds":[6.0,null]}"#
        );
        assert_eq!(
            serde_json::from_str::<ShardMetrics>(&shard_json).unwrap(),
            shard
        );
        // The stream level holds four metrics; the iterator age under its
        // stream-level name.
        let stream_json = serde_json::to_string(&stream).unwrap();
        assert_eq!(
            stream_json,
            r#"{"IncomingBytes":[0.0],"IncomingRecords":[1.0],"WriteProvisionedThroughputExceeded":[2.0],"GetRecords.IteratorAgeMilliseconds":[6.0]}"#
        );
        assert_eq!(
            serde_json::from_str::<StreamMetrics>(&stream_json).unwrap(),
            stream
        );
        // A series not read is not written.
        assert_eq!(
            serde_json::to_string(&ShardMetrics::default()).unwrap(),
            "{}"
        );
    }

    #[test]
    fn a_name_the_level_does_not_hold_is_refused_with_the_names_it_does() {
        let e = serde_json::from_str::<StreamMetrics>(r#"{"OutgoingBytes":[1.0]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown field `OutgoingBytes`, expected one of `IncomingBytes`, `IncomingRecords`, `WriteProvisionedThroughputExceeded`, `GetRecords.IteratorAgeMilliseconds` at line 1 column 16"
        );
        let e =
            serde_json::from_str::<ShardMetrics>(r#"{"GetRecords.IteratorAgeMilliseconds":[1.0]}"#)
                .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("unknown field `GetRecords.IteratorAgeMilliseconds`"),
            "{e}"
        );
        let e = serde_json::from_str::<ShardMetrics>(
            // Refused even after an empty first one.
            r#"{"IncomingBytes":[],"IncomingBytes":[2.0]}"#,
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("duplicate field `IncomingBytes`"),
            "{e}"
        );
    }

    #[test]
    fn each_level_names_its_metrics_as_cloudwatch_does() {
        for (i, metric) in MetricName::ALL.into_iter().enumerate() {
            assert_eq!(metric as usize, i, "ALL is in declaration order");
        }
        assert_eq!(
            MetricName::parse("IteratorAgeMilliseconds"),
            Some(MetricName::IteratorAgeMilliseconds)
        );
        assert_eq!(StreamLevel::METRICS.len(), StreamLevel::NAMES.len());
        assert_eq!(
            StreamLevel::name(MetricName::IteratorAgeMilliseconds),
            "GetRecords.IteratorAgeMilliseconds"
        );
        assert_eq!(
            StreamLevel::name(MetricName::IncomingBytes),
            "IncomingBytes"
        );
    }

    /// The bundled snapshot reads and writes back to the same JSON.
    #[test]
    fn the_bundled_snapshot_round_trips() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/orders-snapshot.json");
        let text = std::fs::read_to_string(path).unwrap();
        let obs = Observation::parse(&text, Path::new(path)).unwrap();
        assert_eq!(serde_json::to_string_pretty(&obs).unwrap(), text.trim_end());
    }
}
