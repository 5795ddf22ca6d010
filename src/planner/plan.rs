//! The planner's output: the operations to run on one stream, in order, and
//! a verdict with its reason for every open shard.
//!
//! A plan is plain data. The dry-run CLI prints it, the executor applies its
//! actions, the controller logs it and the simulator replays it; none of
//! them needs to re-derive why anything was decided.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::model::{HashKey, HashKeyRange, LayoutProblem, MetricName, ShardId};
use crate::model::{StreamMode, StreamStatus};

/// What the planner decided for one stream.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub stream: String,
    pub stream_status: StreamStatus,
    pub stream_mode: StreamMode,
    pub observed_at: DateTime<Utc>,
    /// The `now` the plan was made for; cooldowns are judged against it.
    pub planned_at: DateTime<Utc>,
    pub min_shards: u32,
    pub max_shards: u32,
    pub open_shards_before: usize,
    pub open_shards_after: usize,
    /// How recent the stream's CloudWatch data was: the windows end at the
    /// newest minute with data.
    pub metrics: MetricsFreshness,
    /// Whether the cooldown history was read. A pass reads a stream's tags
    /// only when its plan would act; without them no cooldown is known, and
    /// such a plan has no action.
    pub cooldowns_read: bool,
    /// Why the stream gets no action at all, when the planner refused it.
    pub refused: Option<Refusal>,
    /// The threshold `objective` derived from the stream's bursts, when
    /// the policy has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headroom: Option<Headroom>,
    /// The quiet time `scale_down.economic` chose from the stream's
    /// history, when the policy has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet: Option<QuietTime>,
    /// Operations in the order they must run; a split of a child that does
    /// not exist yet comes after the split that creates it.
    pub actions: Vec<Action>,
    /// One per open shard, in hash-key order.
    pub verdicts: Vec<ShardVerdict>,
    /// What the pass read of the stream's metrics, and why it read the
    /// shard-level series or did without them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reads: Option<crate::observe::Reads>,
    /// With `metrics.shard_level: on_demand`: the shard-level metrics the
    /// controller turns on (a decision may be near: `reads` says why) or
    /// off (the stream has been calm for `metrics.shard_calm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<MonitoringChange>,
    /// With `warm_throughput`, on an On-Demand stream: its warm
    /// throughput, held, raised or lowered, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_throughput: Option<super::warm::WarmPlan>,
    /// Each open shard's share of the stream's writes, measured from the
    /// shard-level series this plan had: what the next passes estimate
    /// shards by when they read only the stream-level ones.
    #[serde(skip)]
    pub measured_shares: Option<MeasuredShares>,
}

/// Each open shard's share of the stream's writes, in the order of the
/// plan's verdicts (kept apart from the shard ids, which the verdicts
/// hold: a 20,000-shard plan builds no map it may not need).
#[derive(Clone, Debug, PartialEq)]
pub struct MeasuredShares {
    /// The end of the newest minute they were measured over.
    pub measured_at: DateTime<Utc>,
    /// Over how many minutes.
    pub minutes: u32,
    pub shares: Vec<crate::observe::Share>,
}

impl Plan {
    /// The shares this plan measured, by shard, as the next passes
    /// estimate by them.
    pub fn shares(&self) -> Option<crate::observe::Shares> {
        let m = self.measured_shares.as_ref()?;
        Some(crate::observe::Shares {
            measured_at: m.measured_at,
            minutes: m.minutes,
            shards: self
                .verdicts
                .iter()
                .zip(&m.shares)
                .map(|(v, s)| (v.shard_id.clone(), *s))
                .collect(),
        })
    }
}

impl Plan {
    /// The verdicts in one line, for a pass's log: how many shards got
    /// each, in the order they first appear, and for verdicts that hold a
    /// shard back (all but `steady`, `split` and `merge`) the first such
    /// shard's reason, e.g. "4 open shards: 1 split, 2 steady, 1
    /// cooling_down (shardId-000000000003: cold ..., but the merge
    /// cooldown runs until 04:10)".
    pub fn verdict_summary(&self) -> String {
        let mut counts: Vec<(&'static str, usize, Option<&ShardVerdict>)> = Vec::new();
        for v in &self.verdicts {
            let name = v.verdict.name();
            match counts.iter_mut().find(|(n, _, _)| *n == name) {
                Some((_, count, _)) => *count += 1,
                None => counts.push((name, 1, Some(v))),
            }
        }
        let parts: Vec<String> = counts
            .iter()
            .map(|(name, count, first)| match first {
                Some(v) if !matches!(*name, "steady" | "split" | "merge" | "skipped") => {
                    format!("{count} {name} ({}: {})", v.shard_id, v.reason())
                }
                _ => format!("{count} {name}"),
            })
            .collect();
        let mut text = format!(
            "{} open shards: {}",
            self.open_shards_before,
            parts.join(", ")
        );
        if let Some(refused) = &self.refused {
            text.push_str(&format!("; not planned: {refused}"));
        }
        text
    }

    pub fn splits(&self) -> impl Iterator<Item = &Split> {
        self.actions.iter().filter_map(|a| match a {
            Action::Split(s) => Some(s),
            Action::Merge(_) => None,
        })
    }

    pub fn merges(&self) -> impl Iterator<Item = &Merge> {
        self.actions.iter().filter_map(|a| match a {
            Action::Merge(m) => Some(m),
            Action::Split(_) => None,
        })
    }
}

/// How recent a stream's CloudWatch data is.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MetricsFreshness {
    /// The newest minute with any datapoint of the stream (stream-level or
    /// shard-level), which the windows end at, and how long before the
    /// observation it ended: CloudWatch's lag as detected.
    Newest {
        minute: DateTime<Utc>,
        lag_seconds: i64,
    },
    /// No datapoint at all. `idle`: the stream is taken to have had no
    /// writes (silent for the scale-down window plus `metrics.max_lag`,
    /// after its creation, and `metrics.silent_stream: idle`); otherwise
    /// nothing is known.
    Silent { idle: bool },
}

impl MetricsFreshness {
    /// The detected lag, if there was data.
    pub fn lag_seconds(&self) -> Option<i64> {
        match self {
            MetricsFreshness::Newest { lag_seconds, .. } => Some(*lag_seconds),
            MetricsFreshness::Silent { .. } => None,
        }
    }
}

impl fmt::Display for MetricsFreshness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsFreshness::Newest {
                minute,
                lag_seconds,
            } => write!(
                f,
                "metrics lag {} (newest minute {})",
                humantime::format_duration(std::time::Duration::from_secs(
                    (*lag_seconds).max(0) as u64
                )),
                minute.format("%H:%MZ")
            ),
            MetricsFreshness::Silent { idle: true } => {
                f.write_str("metrics silent: no datapoint at all, taken as idle")
            }
            MetricsFreshness::Silent { idle: false } => {
                f.write_str("metrics silent: no datapoint at all")
            }
        }
    }
}

/// Why a whole stream was left alone.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Refusal {
    /// A reshard is in progress (or the stream is being created or deleted).
    NotActive { status: StreamStatus },
    /// ON_DEMAND streams scale themselves and cannot be split or merged.
    NotProvisioned { mode: StreamMode },
    /// The open shards do not cover the key space exactly once, so any
    /// action would rest on a wrong picture of the stream.
    BrokenLayout { problems: Vec<LayoutProblem> },
    /// The stream's newest datapoint is older than `metrics.max_lag`.
    MetricsLate {
        newest_minute: DateTime<Utc>,
        lag_seconds: i64,
        max_lag_seconds: i64,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotActive { status } => write!(
                f,
                "stream is {status}, not ACTIVE: a reshard is in progress or the stream is changing; it is observed again next pass"
            ),
            Refusal::NotProvisioned { mode } => write!(
                f,
                "stream is {mode}: on-demand streams scale themselves and cannot be split or merged"
            ),
            Refusal::MetricsLate {
                newest_minute,
                lag_seconds,
                max_lag_seconds,
            } => {
                let span = |s: i64| {
                    humantime::format_duration(std::time::Duration::from_secs(s.max(0) as u64))
                };
                write!(
                    f,
                    "the newest datapoint of the stream, for {}, is {} old, more than metrics.max_lag {}: CloudWatch is that late, or the stream has taken no writes since; it is planned again once data arrives, or as idle once silent for the scale-down window plus max_lag",
                    newest_minute.to_rfc3339_opts(SecondsFormat::Secs, true),
                    span(*lag_seconds),
                    span(*max_lag_seconds)
                )
            }
            Refusal::BrokenLayout { problems } => {
                f.write_str(
                    "refusing to plan: the open shards do not cover the key space exactly once: ",
                )?;
                for (i, p) in problems.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
        }
    }
}

/// One resharding operation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    Split(Split),
    Merge(Merge),
}

impl Action {
    /// Why the planner chose it, with the numbers.
    pub fn reason(&self) -> &str {
        match self {
            Action::Split(s) => &s.reason,
            Action::Merge(m) => &m.reason,
        }
    }

    /// Whether `other` is the same operation on the same shards, whatever
    /// the numbers and reasons that led to it.
    pub fn same_operation(&self, other: &Action) -> bool {
        match (self, other) {
            (Action::Split(a), Action::Split(b)) => {
                (
                    &a.shard_id,
                    a.starting_hash_key,
                    a.ending_hash_key,
                    a.new_starting_hash_key,
                ) == (
                    &b.shard_id,
                    b.starting_hash_key,
                    b.ending_hash_key,
                    b.new_starting_hash_key,
                )
            }
            (Action::Merge(a), Action::Merge(b)) => {
                (
                    &a.shard_id,
                    &a.adjacent_shard_id,
                    a.starting_hash_key,
                    a.adjacent_starting_hash_key,
                    a.ending_hash_key,
                ) == (
                    &b.shard_id,
                    &b.adjacent_shard_id,
                    b.starting_hash_key,
                    b.adjacent_starting_hash_key,
                    b.ending_hash_key,
                )
            }
            _ => false,
        }
    }
}

/// A change of a stream's enhanced monitoring (`metrics.shard_level:
/// on_demand`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum MonitoringChange {
    /// Turn these on: a decision may be near.
    Enable { metrics: Vec<MetricName> },
    /// Turn these off, if the controller turned them on (its record in
    /// the stream's tags says so): no decision has been near for
    /// `calm_seconds`.
    Disable {
        metrics: Vec<MetricName>,
        calm_seconds: i64,
    },
}

impl fmt::Display for MonitoringChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |metrics: &[MetricName]| {
            metrics
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            MonitoringChange::Enable { metrics } => {
                write!(f, "enable shard-level metrics {}", names(metrics))
            }
            MonitoringChange::Disable {
                metrics,
                calm_seconds,
            } => write!(
                f,
                "disable shard-level metrics {} (those the controller enabled): no decision near for {}",
                names(metrics),
                humantime::format_duration(std::time::Duration::from_secs(
                    (*calm_seconds).max(0) as u64
                ))
            ),
        }
    }
}

/// A short description of an action, for tags and messages.
pub fn describe(action: &Action) -> String {
    match action {
        Action::Split(s) => format!(
            "split {} at {}",
            s.shard_id
                .as_ref()
                .map_or_else(|| s.range().to_string(), ShardId::to_string),
            s.new_starting_hash_key
        ),
        Action::Merge(m) => format!("merge {} and {}", m.shard_id, m.adjacent_shard_id),
    }
}

/// SplitShard of the shard owning `[starting_hash_key, ending_hash_key]` at
/// `new_starting_hash_key`, its midpoint.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Split {
    /// The shard to split, or `None` for a child created earlier in this
    /// plan, which the executor finds by its hash-key range.
    pub shard_id: Option<ShardId>,
    pub starting_hash_key: HashKey,
    pub ending_hash_key: HashKey,
    pub new_starting_hash_key: HashKey,
    pub trigger: Trigger,
    pub reason: String,
    /// Where the split key came from, with `scale_up.split_at: traffic`
    /// (absent with the default, the midpoint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_point: Option<SplitPointUsed>,
}

/// Which split point a split with `split_at: traffic` used, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "at", rename_all = "snake_case")]
pub enum SplitPointUsed {
    /// Between sampled keys: the lower child carries `lower_share` of the
    /// `records` sampled in this range.
    Traffic { records: u64, lower_share: f64 },
    /// The midpoint: the sample held `records`, fewer than `needed`.
    MidpointSampleTooSmall { records: u64, needed: u64 },
    /// The midpoint: no sample of this shard was taken this pass.
    MidpointNoSample,
    /// The midpoint: the `records` sampled in this part of the range are
    /// all on one hash key.
    MidpointOneKey { records: u64 },
    /// The midpoint: most sampled records (`outside` of them) hash outside
    /// the shard: producers route with ExplicitHashKey, so partition keys
    /// do not say where the load lies.
    MidpointExplicitHashKeys { outside: u64, records: u64 },
}

impl Split {
    pub fn range(&self) -> HashKeyRange {
        HashKeyRange::new(self.starting_hash_key, self.ending_hash_key)
            .expect("the planner only splits valid ranges")
    }
}

/// MergeShards of two adjacent open shards: `shard_id` owns the lower
/// range `[starting_hash_key, adjacent_starting_hash_key - 1]`,
/// `adjacent_shard_id` the upper `[adjacent_starting_hash_key,
/// ending_hash_key]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Merge {
    pub shard_id: ShardId,
    pub adjacent_shard_id: ShardId,
    pub starting_hash_key: HashKey,
    pub adjacent_starting_hash_key: HashKey,
    pub ending_hash_key: HashKey,
    /// The pair's highest combined utilization over the scale-down window.
    pub projected_peak: f64,
    pub trigger: Trigger,
    pub reason: String,
}

impl Merge {
    /// The ranges of the lower and the upper shard.
    pub fn ranges(&self) -> (HashKeyRange, HashKeyRange) {
        let lower = HashKeyRange::new(
            self.starting_hash_key,
            HashKey(self.adjacent_starting_hash_key.0 - 1),
        );
        let upper = HashKeyRange::new(self.adjacent_starting_hash_key, self.ending_hash_key);
        (
            lower.expect("the planner only merges valid ranges"),
            upper.expect("the planner only merges valid ranges"),
        )
    }
}

/// What made the planner act.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Utilization at or above the scale-up threshold for long enough.
    Utilization,
    /// Throttled writes in the scale-up window.
    Throttling,
    /// Fewer open shards than `min_shards`.
    MinShards,
    /// More open shards than `max_shards`.
    MaxShards,
    /// Both shards cold for the whole scale-down window.
    Cold,
    /// The seasonal forecast crosses the threshold within `forecast.lead`.
    Forecast,
    /// A sampled hot key shares its shard with other keys: the split sets
    /// it apart, so they stop being throttled with it.
    HotKey,
    /// The consumers are behind and falling further while the shard reads
    /// at or above `consumers.read_threshold` (`scale_up_on_lag`): a split
    /// gives its range a second consumer.
    ConsumerLag,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trigger::Utilization => "utilization",
            Trigger::Throttling => "throttling",
            Trigger::MinShards => "min_shards",
            Trigger::MaxShards => "max_shards",
            Trigger::Cold => "cold",
            Trigger::Forecast => "forecast",
            Trigger::HotKey => "hot_key",
            Trigger::ConsumerLag => "consumer_lag",
        })
    }
}

/// The kind of operation a cooldown holds back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Split,
    Merge,
}

impl ActionKind {
    /// The policy field that bounds this kind of operation per run.
    pub fn budget_field(self) -> &'static str {
        match self {
            ActionKind::Split => "max_splits_per_run",
            ActionKind::Merge => "max_merges_per_run",
        }
    }
}

fn budget_field<S: serde::Serializer>(action: &ActionKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(action.budget_field())
}

/// The decision for one open shard, with the measurements behind it.
///
/// The human-readable reason is rendered from these on demand
/// ([`ShardVerdict::reason`], and the `reason` field of the JSON), so that
/// planning a stream of 20,000 shards does not format 20,000 sentences.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardVerdict {
    pub shard_id: ShardId,
    pub range: HashKeyRange,
    /// Highest utilization over the longest policy window, if any minute
    /// has data.
    pub peak_utilization: Option<f64>,
    pub verdict: Verdict,
    pub facts: Facts,
}

/// What the metrics said about one shard, and the policy numbers they were
/// held against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Facts {
    /// Which rule made the shard hot, if any.
    pub hot: Option<Trigger>,
    /// Whether enough minutes of the scale-down window were present, and
    /// all of them cold.
    pub cold: bool,
    pub scale_up_window_minutes: u32,
    /// Minutes of the scale-up window with every needed datapoint.
    pub scale_up_present_minutes: u32,
    /// Minutes of the scale-up window at or above the threshold.
    pub hot_minutes: u32,
    pub sustain_minutes: u32,
    pub scale_up_threshold: f64,
    /// Highest utilization in the scale-up window.
    pub scale_up_peak: f64,
    /// Throttled writes in the scale-up window.
    pub throttled_records: f64,
    /// The `throttled_records` rule (0 = off).
    pub throttled_records_rule: u64,
    /// Estimated demand, accepted plus throttled, over the threshold.
    pub estimated_demand: f64,
    pub scale_down_window_minutes: u32,
    /// Minutes of the scale-down window whose load is known: a datapoint,
    /// or no datapoint in a minute the stream-level metrics (or, without
    /// them, the other shards) show the shard idle or bound its load.
    pub scale_down_present_minutes: u32,
    /// How many present minutes a cold shard needs (`max_missing`).
    pub scale_down_minutes_needed: u32,
    /// Of the present minutes, those without a datapoint of the shard's own.
    pub scale_down_inferred_minutes: u32,
    /// Of those, the minutes estimated as the shard's last measured share
    /// of the stream-level load.
    pub scale_down_estimated_minutes: u32,
    /// Minutes of the scale-up window estimated so (never hot).
    pub scale_up_estimated_minutes: u32,
    pub scale_down_threshold: f64,
    /// Highest utilization among the present minutes of the scale-down window.
    pub scale_down_peak: f64,
    pub merged_ceiling: f64,
    pub min_shards: u32,
    pub max_shards: u32,
    /// The shard's seasonal forecast over the horizon, when the policy has
    /// `forecast` and the past was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ForecastFact>,
    /// The same within `forecast.lead`, for a shard split ahead of its
    /// forecast: what the pre-split acts on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast_lead: Option<ForecastFact>,
    /// How far behind the consumers of the shard's range are, when the
    /// policy has `consumers` and an iterator age was published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_lag: Option<ConsumerLag>,
}

/// The consumers' largest iterator age over the scale-down window, and
/// which metric it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ConsumerLag {
    pub iterator_age_ms: f64,
    /// `shard` (IteratorAgeMilliseconds of the shard itself) or `stream`
    /// (GetRecords.IteratorAgeMilliseconds: the furthest-behind shard of
    /// the stream, which may be another one).
    pub scope: LagScope,
    /// `consumers.max_iterator_age`, in milliseconds.
    pub max_iterator_age_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LagScope {
    Shard,
    Stream,
}

impl ConsumerLag {
    /// Whether the consumers are further behind than the policy allows.
    pub fn behind(&self) -> bool {
        self.iterator_age_ms > self.max_iterator_age_ms as f64
    }
}

/// What `objective` made of the stream's history.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Headroom {
    /// The share of records the policy allows to be throttled.
    pub max_throttled: f64,
    /// The scale-up threshold the policy sets.
    pub policy_threshold: f64,
    /// The threshold planned with: derived, or the policy's when there is
    /// too little history.
    pub threshold: f64,
    /// Past minutes with data the statistics were drawn from.
    pub history_minutes: u32,
    /// Metrics delay + sustain + the reshard, in minutes.
    pub reaction_minutes: u32,
    /// The throttled share the history replayed at `threshold` gives;
    /// `None` when there was too little history to derive it.
    pub expected_throttled: Option<f64>,
}

/// The quiet time the economic scale-down chose (`scale_down.economic`),
/// and what the stream's history priced it at.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuietTime {
    /// US dollars a reshard is priced at.
    pub reshard_cost: f64,
    /// The policy's `scale_down.window`: the longest quiet time allowed.
    pub policy_window_minutes: u32,
    /// The scale-down window planned with.
    pub window_minutes: u32,
    /// Past minutes with data the replay ran over.
    pub history_minutes: u32,
    /// The replay at the chosen window, at the policy's and at the
    /// shortest allowed; `None` with too little history.
    pub chosen: Option<QuietOutcome>,
    pub at_policy: Option<QuietOutcome>,
    pub shortest: Option<QuietOutcome>,
    /// Scale-ups in the replay at the shortest window (which gives back
    /// what each burst took, so that each next one scales up), and the
    /// median time between them.
    pub bursts: u32,
    pub burst_every_minutes: Option<u32>,
}

/// A quiet time replayed over the stream's history, per day.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuietOutcome {
    pub window_minutes: u32,
    pub shard_hours_per_day: f64,
    pub reshards_per_day: f64,
    pub throttled_share: f64,
    /// Shard-hours at the list price plus reshards at `reshard_cost`.
    pub usd_per_day: f64,
}

impl QuietTime {
    /// One line for the plan's header.
    pub fn describe(&self) -> String {
        let (Some(chosen), Some(at_policy)) = (&self.chosen, &self.at_policy) else {
            return format!(
                "scale-down after {}m quiet (the policy's window): scale_down.economic has only {} minutes of history (at least {} needed)",
                self.window_minutes,
                self.history_minutes,
                super::headroom::MIN_HISTORY_MINUTES
            );
        };
        let met = self
            .shortest
            .as_ref()
            .map_or(self.window_minutes, |s| s.window_minutes);
        let bursts = match (self.bursts, self.burst_every_minutes) {
            (0, _) => "no burst in them".to_owned(),
            (1, _) => "1 burst in them".to_owned(),
            (n, Some(every)) => format!(
                "{n} bursts in them (as a {met}m quiet time meets them), one every {} on median",
                humantime::format_duration(std::time::Duration::from_secs(u64::from(every) * 60))
            ),
            (n, None) => format!("{n} bursts in them"),
        };
        let mut line = format!(
            "scale-down after {}m quiet (scale_down.economic; the policy's window {}m), from {} minutes of history: {bursts}; at {}m ${:.2} a day ({:.1} shard-hours, {:.1} reshards at ${}) against ${:.2} at {}m",
            self.window_minutes,
            self.policy_window_minutes,
            self.history_minutes,
            chosen.window_minutes,
            chosen.usd_per_day,
            chosen.shard_hours_per_day,
            chosen.reshards_per_day,
            self.reshard_cost,
            at_policy.usd_per_day,
            at_policy.window_minutes,
        );
        if let Some(shortest) = &self.shortest
            && shortest.window_minutes != chosen.window_minutes
            && shortest.window_minutes != at_policy.window_minutes
        {
            line += &format!(
                " and ${:.2} at {}m ({:.1} reshards, {:.3}% throttled)",
                shortest.usd_per_day,
                shortest.window_minutes,
                shortest.reshards_per_day,
                shortest.throttled_share * 100.0
            );
        }
        line += &format!(
            "; throttled {:.3}% ({:.3}% at {}m)",
            chosen.throttled_share * 100.0,
            at_policy.throttled_share * 100.0,
            at_policy.window_minutes
        );
        line
    }
}

impl Headroom {
    /// Whether the threshold was derived (there was history enough).
    pub fn derived(&self) -> bool {
        self.expected_throttled.is_some()
    }

    /// One line for the plan's header.
    pub fn describe(&self) -> String {
        match self.expected_throttled {
            Some(share) => format!(
                "objective {:.3}% throttled: threshold {:.2} (policy {}), from {} minutes of history and a {}-minute reaction time; expected {:.3}%",
                self.max_throttled * 100.0,
                self.threshold,
                self.policy_threshold,
                self.history_minutes,
                self.reaction_minutes,
                share * 100.0
            ),
            _ => format!(
                "objective {:.3}% throttled: only {} minutes of history (at least {} needed); planned with the policy's threshold {}",
                self.max_throttled * 100.0,
                self.history_minutes,
                super::headroom::MIN_HISTORY_MINUTES,
                self.policy_threshold
            ),
        }
    }
}

/// The highest forecast utilization of a range (a shard, or a pair), and
/// what it was read from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ForecastFact {
    /// In shards' worth (1.0 = one shard's write limit).
    pub peak: f64,
    /// The forecast minute of the peak.
    pub at: Option<DateTime<Utc>>,
    /// The past minute it was read from.
    pub seen_at: Option<DateTime<Utc>>,
    /// How far back that minute is, in minutes (1440 = yesterday).
    pub season_minutes: u32,
    pub horizon_minutes: u32,
}

/// The decision itself, with the numbers behind it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Split, `splits` times counting splits of its children in this plan.
    Split { trigger: Trigger, splits: u32 },
    /// Merged with its adjacent `partner`.
    Merge {
        trigger: Trigger,
        partner: ShardId,
        projected_peak: f64,
    },
    /// Neither hot nor cold: nothing to do.
    Steady,
    /// Would be split or merged, but the last reshard is too recent.
    CoolingDown {
        action: ActionKind,
        until: DateTime<Utc>,
    },
    /// Cold, but this plan splits another shard of the stream, and no merge
    /// follows a split within `scale_down.cooldown` (no earlier reshard
    /// holds it back).
    SplitFirst { until: DateTime<Utc> },
    /// Cold, but it or its partner was made by a split, and the stream's
    /// last split is younger than `scale_down.min_lifetime`: merging now
    /// would undo a young split.
    YoungSplit { until: DateTime<Utc> },
    /// Would act, but `max_reshards_per_day` (`cap`) is used up for the
    /// day's count.
    DailyCap { cap: u32 },
    /// Too few minutes with data to tell whether it should be split (or
    /// merged).
    NotEnoughData {
        present_minutes: u32,
        window_minutes: u32,
        to: ActionKind,
    },
    /// Made by a recent reshard (its parent still listed): too few minutes
    /// of its own yet to judge, which is expected, not a fault.
    NewShard {
        parent: ShardId,
        present_minutes: u32,
        window_minutes: u32,
        needed_minutes: u32,
    },
    /// Hot, but the stream already has `max_shards` open shards.
    AtMaxShards { max_shards: u32 },
    /// Hot, but the account's shard quota leaves no room for a split.
    AtShardQuota { shard_limit: u32 },
    /// Cold, but the pair's forecast over the horizon would put the merged
    /// shard above `merged_ceiling`: merging now would be split again.
    ForecastRise { forecast: ForecastFact },
    /// Cold, but a merge would take the stream below `min_shards`.
    AtMinShards { min_shards: u32 },
    /// Cold on minutes estimated from its last measured share of the
    /// stream-level load, but its newest minutes have no shard-level
    /// datapoints to confirm the share with: merged once they do.
    AwaitingShardMetrics { estimated_minutes: u32 },
    /// Cold, but the consumers of its range (or of the stream, without
    /// the shard-level metric) are further behind than
    /// `consumers.max_iterator_age`: a merge would halve their
    /// parallelism here and make the lag worse.
    ConsumersBehind { lag: ConsumerLag },
    /// Would act, but this run's budget for `action` (`value` operations)
    /// is spent. Shown as the policy field, `limit`.
    BudgetUsedUp {
        #[serde(rename = "limit", serialize_with = "budget_field")]
        action: ActionKind,
        value: u32,
    },
    /// Hot, but its hash-key range is too narrow to split.
    RangeTooSmall,
    /// Hot, but the split that made it left its `sibling` with only
    /// `sibling_ratio` of its load: a few hot keys dominate the range
    /// (inferred; without a sample of its records).
    HotKeys {
        sibling: ShardId,
        sibling_ratio: f64,
    },
    /// Hot, and a sample of its records shows one partition `key` (escaped
    /// for printing) carrying `share` of its load, `shards_worth` on its
    /// own: no split spreads one key.
    HotKey {
        key: String,
        hash_key: HashKey,
        share: f64,
        shards_worth: f64,
        /// Over a shard's worth: what salting it, On-Demand with AUTO
        /// distribution, or nothing would do.
        #[serde(skip_serializing_if = "Option::is_none")]
        remedies: Option<super::remedy::Remedies>,
    },
    /// The whole stream was refused (see [`Plan::refused`]).
    Skipped {
        #[serde(skip)]
        because: String,
    },
}

impl Verdict {
    /// The short name shown in tables, e.g. `cooling_down`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Split { .. } => "split",
            Verdict::Merge { .. } => "merge",
            Verdict::Steady => "steady",
            Verdict::CoolingDown { .. } => "cooling_down",
            Verdict::SplitFirst { .. } => "split_first",
            Verdict::YoungSplit { .. } => "young_split",
            Verdict::DailyCap { .. } => "daily_cap",
            Verdict::ForecastRise { .. } => "forecast_rise",
            Verdict::NotEnoughData { .. } => "not_enough_data",
            Verdict::NewShard { .. } => "new_shard",
            Verdict::AtMaxShards { .. } => "at_max_shards",
            Verdict::AtMinShards { .. } => "at_min_shards",
            Verdict::AwaitingShardMetrics { .. } => "awaiting_shard_metrics",
            Verdict::ConsumersBehind { .. } => "consumers_behind",
            Verdict::AtShardQuota { .. } => "at_shard_quota",
            Verdict::BudgetUsedUp { .. } => "budget_used_up",
            Verdict::RangeTooSmall => "range_too_small",
            Verdict::HotKeys { .. } => "hot_keys",
            Verdict::HotKey { .. } => "hot_key",
            Verdict::Skipped { .. } => "skipped",
        }
    }
}
