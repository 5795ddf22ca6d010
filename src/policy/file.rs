//! The policy file exactly as written: every setting optional, so that a
//! stream entry overrides the `defaults` field by field and the defaults
//! override the built-in values.
//!
//! Values are checked as they are parsed (a threshold outside (0, 1], a
//! window that is not whole minutes), so the parser's error carries the
//! field path and the line and column. Checks that relate several fields
//! happen after merging, in the parent module. The JSON Schema printed by
//! `kinesis-autoscaler schema` is derived from these types.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A kinesis-autoscaler policy: which streams to manage and how.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyFile {
    /// The policy format version; this build reads version 1.
    pub version: u32,
    /// Settings every stream gets unless its own entry overrides them.
    #[serde(default)]
    pub defaults: Settings,
    /// The streams to manage, each with a `name` and any settings that
    /// override the defaults. A stream matching several entries takes the
    /// exact name first, then the first matching glob.
    pub streams: Vec<Settings>,
    /// The account's API quotas, shared by every stream (and every other
    /// tool in the account).
    #[serde(default)]
    pub api: ApiSettings,
    /// Where to say what the controller did, what failed and what it
    /// cannot fix. Off unless written.
    pub notify: Option<super::notify::NotifySettings>,
}

/// How much of the account's API quotas the controller takes.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiSettings {
    /// The share of each quota the controller uses, leaving the rest to
    /// the account's other tools. Default 0.8.
    pub headroom: Option<Fraction>,
    /// Calls per second the account allows, by API (`ListTagsForStream:
    /// 10`), for accounts with raised quotas. Defaults: the documented
    /// quotas (ListStreams 5, DescribeStreamSummary 20, ListTagsForStream
    /// 5, AddTagsToStream 5, DescribeLimits 1, SplitShard 5, MergeShards 5,
    /// GetMetricData 50, ...).
    pub quotas: Option<std::collections::BTreeMap<String, f64>>,
    /// GetMetricData datapoints per second the account allows. Default
    /// 180000.
    pub datapoints_per_second: Option<f64>,
}

/// The settings of one stream entry, or of `defaults`. Every field is
/// optional: a stream's value comes from its entry, else from `defaults`,
/// else from the built-in default.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Exact stream name, stream ARN, or a glob such as `clicks-*`.
    /// Required in every stream entry; not allowed in `defaults`.
    pub name: Option<String>,
    /// Fewest open shards (default 1): the controller never merges below it
    /// and splits the widest shards to reach it.
    pub min_shards: Option<ShardCount>,
    /// Most open shards (default 64): the controller never splits above it
    /// and merges the coolest adjacent pairs to get back under it.
    pub max_shards: Option<ShardCount>,
    /// At most this many splits and merges a day (counted in the stream's
    /// tags over 24 hours from the first); bringing the stream back within
    /// min_shards/max_shards is not held back. Default 0: no cap.
    pub max_reshards_per_day: Option<u32>,
    pub metrics: Option<MetricsSettings>,
    pub scale_up: Option<ScaleUpSettings>,
    pub scale_down: Option<ScaleDownSettings>,
    pub read: Option<ReadSettings>,
    pub forecast: Option<ForecastSettings>,
    pub warm_throughput: Option<WarmThroughputSettings>,
    pub objective: Option<ObjectiveSettings>,
    pub consumers: Option<ConsumersSettings>,
    /// Turn on the shard-level metrics the policy needs when they are off
    /// (EnableEnhancedMonitoring; billed by CloudWatch), instead of stopping
    /// with the command to do it. Only `apply`, `run` and the Lambda do
    /// this; `plan` never writes. Default false.
    pub enable_enhanced_monitoring: Option<bool>,
}

/// How CloudWatch metrics are read.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// The least delay: minutes younger than this are ignored as
    /// incomplete. Windows end at the newest minute CloudWatch has data
    /// for, which is often later than this (1 to 5 minutes). Default 2m.
    pub delay: Option<Span>,
    /// If the newest datapoint of the stream is older than this, the
    /// stream is not planned: CloudWatch is that late, or the stream has
    /// taken no writes since. Default 15m.
    pub max_lag: Option<Span>,
    /// What a stream with no datapoint at all, stream-level or shard-level,
    /// for the whole scale-down window plus `max_lag`, after it was
    /// created, is taken for: `idle` (no writes, so its pairs may merge) or
    /// `unknown` (never merge on silence). Default idle.
    pub silent_stream: Option<SilentStream>,
    /// Every pass reads the stream-level series (free to publish); the
    /// shard-level ones only when a decision may be near (the stream
    /// throttles, a shard's estimated load nears the scale-up threshold,
    /// a pair looks cold), and at least this often otherwise, to keep
    /// each shard's share of the stream's load fresh: between reads, a
    /// shard's load is estimated as its share of the stream's. 1m reads
    /// them every pass. Default 15m; 1m to 1d.
    pub shard_refresh: Option<Span>,
    /// Who keeps the shard-level metrics on: `always` (enhanced monitoring
    /// stays on, enabled by you or by `enable_enhanced_monitoring`, and
    /// CloudWatch bills every hour of it) or `on_demand` (the controller
    /// enables the metrics it needs when a decision may be near, and
    /// disables them once the stream has been calm for `shard_calm`; it
    /// never disables metrics it did not enable itself, which it records
    /// in the stream's tags). Default always.
    pub shard_level: Option<ShardLevel>,
    /// With `shard_level: on_demand`: how long without a decision near
    /// before the controller disables the shard-level metrics it enabled.
    /// CloudWatch bills every hour a metric is published in, so turning
    /// them off sooner than an hour saves nothing when they come back
    /// within it. Default 45m; 5m to 1d.
    pub shard_calm: Option<Span>,
}

/// Who keeps a stream's shard-level (enhanced monitoring) metrics on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShardLevel {
    /// They stay on, enabled outside the controller (or by
    /// `enable_enhanced_monitoring`), and are read when needed.
    Always,
    /// The controller enables them when a decision may be near and
    /// disables them when the stream is calm.
    OnDemand,
}

/// How a stream with no datapoints at all is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SilentStream {
    /// It took no writes: every shard is idle.
    Idle,
    /// Nothing is known: nothing merges.
    Unknown,
}

/// When a shard is hot enough to split.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleUpSettings {
    /// Utilization, as a fraction of one shard's write limit (1 MiB/s or
    /// 1,000 records/s, whichever is nearer), at or above which a minute is
    /// hot. Default 0.8.
    pub threshold: Option<Fraction>,
    /// How many recent complete minutes are examined. Default 5m.
    pub window: Option<Minutes>,
    /// How many minutes of the window must be hot. Default 3m.
    pub sustain: Option<Minutes>,
    /// This many throttled writes in the window also make a shard hot; 0
    /// turns the rule off. Default 1.
    pub throttled_records: Option<u64>,
    /// No split until this long after the last split. Default 5m.
    pub cooldown: Option<Span>,
    /// At most this many SplitShard calls per run. Default 8.
    pub max_splits_per_run: Option<u32>,
    /// Where a hot shard is split: `midpoint` of its hash-key range, or
    /// `traffic`: the shard's records are sampled first (`sample`) and it
    /// is split between the keys that halve its load. Default midpoint.
    pub split_at: Option<SplitAt>,
    /// With `split_at: traffic`: how each pass samples the shards it would
    /// split.
    pub sample: Option<SampleSettings>,
    /// With a sample: a key carrying more than this share of a hot shard's
    /// load (or a shard's worth on its own) is a hot key, and the shard is
    /// not split toward it. Default 0.8.
    pub hot_key_share: Option<Fraction>,
}

/// Where a hot shard is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SplitAt {
    /// The midpoint of its hash-key range.
    #[default]
    Midpoint,
    /// The traffic-weighted median of a sample of its records.
    Traffic,
}

/// How a pass samples the shards it would split (`split_at: traffic`). The
/// read shares each shard's read throughput with its consumers: at most
/// one GetRecords call and 512 KiB a second per shard.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleSettings {
    /// How long each shard is read, from the records of the last minute
    /// on. 1s to 1m. Default 5s.
    pub duration: Option<Span>,
    /// At most this many shards are sampled a pass, hottest first; the
    /// others split at the midpoint. Default 4.
    pub max_shards: Option<u32>,
    /// Fewer records than this are too few to place a split: the midpoint
    /// is used, and the plan says so. Default 100.
    pub min_records: Option<u64>,
}

/// When an adjacent pair of shards is cold enough to merge.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleDownSettings {
    /// Both shards must stay below this utilization in every minute of the
    /// window. Default 0.45.
    pub threshold: Option<Fraction>,
    /// How many recent complete minutes must all be present and cold.
    /// Default 90m.
    pub window: Option<Minutes>,
    /// The pair's combined utilization must stay below this in every
    /// minute, so the merged shard is not hot at once. Default 0.7.
    pub merged_ceiling: Option<Fraction>,
    /// No merge until this long after the last split or merge. Default 1m.
    pub cooldown: Option<Span>,
    /// No merge of two shards split from the same parent until this long
    /// after the stream's last split: it would undo a young split (churn
    /// for every consumer). Above max_shards it does not hold. Default 0s
    /// (off).
    pub min_lifetime: Option<Span>,
    /// At most this many MergeShards calls per run. Default 8.
    pub max_merges_per_run: Option<u32>,
    /// The share of the window's minutes that may have no datapoint
    /// (CloudWatch loses one now and then), in [0, 0.5]. The minutes
    /// present must all be cold; a missing minute never makes a shard
    /// cold. Default 0.1.
    pub max_missing: Option<Share>,
    /// Choose the quiet time before a merge from the stream's own history,
    /// up to `window`. Off unless this block is set.
    pub economic: Option<EconomicSettings>,
}

/// The economic scale-down: how long a pair must be cold before it merges
/// is chosen, pass by pass, from the stream's last days (stream-level
/// series, read as `objective` reads them): each quiet time from
/// `min_window` to `scale_down.window` is replayed over that history, and
/// the one whose shard-hours and reshards cost least wins, among those
/// that throttle no more than `scale_down.window` itself.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EconomicSettings {
    /// Default true once the block is written.
    pub enabled: Option<bool>,
    /// What one reshard (a split or a merge) costs you, in US dollars:
    /// the consumers' hand-overs and lease churn, the new shards' first
    /// hour. 0 to 100. Default 0.05.
    pub reshard_cost: Option<f64>,
    /// The shortest quiet time it may choose, 5m to scale_down.window.
    /// Default 30m.
    pub min_window: Option<Minutes>,
    /// How much per-minute history it replays, 6h to 14d. Default 3d.
    pub history: Option<Minutes>,
}

/// Whether read load counts as utilization too.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadSettings {
    /// Also treat read load (OutgoingBytes against 2 MiB/s) as
    /// utilization. Default false.
    pub enabled: Option<bool>,
    /// Read utilization at or above which a minute is hot. Default 0.8.
    pub threshold: Option<Fraction>,
}

/// The stream's consumers: a merge halves the consumer parallelism of
/// its key range (KCL keeps one worker lease per shard, Lambda 1 to 10
/// batches per shard), so no pair is merged while they are behind. The
/// age is the stream-level GetRecords.IteratorAgeMilliseconds (Maximum),
/// and the shard-level IteratorAgeMilliseconds where enhanced monitoring
/// publishes it. Off unless this block is set.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumersSettings {
    /// Default true once the block is written.
    pub enabled: Option<bool>,
    /// No merge while the iterator age over the scale-down window
    /// exceeds this: per shard where the shard-level metric exists, per
    /// stream otherwise. 1s to 7d. Default 1m.
    pub max_iterator_age: Option<Span>,
    /// Also split the shards with the most read load (OutgoingBytes)
    /// while the iterator age is over the limit and still growing, and
    /// they read at or above `read_threshold`. Helps consumers that run
    /// one worker per shard (KCL, Lambda); not consumers that do not
    /// parallelise per shard. Default false.
    pub scale_up_on_lag: Option<bool>,
    /// Read utilization (OutgoingBytes against 2 MiB/s) at or above
    /// which a lagging shard is split by `scale_up_on_lag`. Default 0.2.
    pub read_threshold: Option<Fraction>,
}

/// Seasonal foresight: the stream-level load of the same minutes 1 and 7
/// days back (CloudWatch keeps per-minute data for 15 days) forecasts the
/// next `horizon`. A shard is split `lead` before its forecast crosses
/// scale_up.threshold, and no pair is merged whose forecast over the
/// horizon would exceed scale_down.merged_ceiling. Off unless this block is
/// set (`enabled: false` turns off one inherited from `defaults`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForecastSettings {
    /// Default true once the block is written.
    pub enabled: Option<bool>,
    /// How far back each season looks, at most 14d. Default [1d, 7d].
    pub seasons: Option<Vec<Minutes>>,
    /// How far ahead the forecast reaches, at most 6h. Default 1h.
    pub horizon: Option<Minutes>,
    /// How long before the forecast rise a shard is split, at most the
    /// horizon. Default 15m.
    pub lead: Option<Minutes>,
}

/// Warm throughput for On-Demand streams in an account with On-Demand
/// Advantage (UpdateStreamWarmThroughput): from the seasonal forecast
/// (`forecast` must be on), raised `lead` before the forecast peak to
/// `headroom` times it, and lowered once the peak over the whole forecast
/// horizon, with the headroom, is at most 80% of what is held. The
/// controller never changes a stream's capacity mode; provisioned streams
/// ignore this block. Off unless this block is set (`enabled: false` turns
/// off one inherited from `defaults`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WarmThroughputSettings {
    /// Default true once the block is written.
    pub enabled: Option<bool>,
    /// How far ahead of a forecast rise the warm throughput is raised, at
    /// most forecast.horizon. Default 30m.
    pub lead: Option<Minutes>,
    /// The warm throughput held, as a multiple of the forecast (or
    /// current) peak, 1 to 4. Default 1.2.
    pub headroom: Option<f64>,
    /// Never less than this many MiB/s. Default 0.
    pub min_mib: Option<u32>,
    /// Never more than this many MiB/s, at most 10240 (10 GiB/s, the
    /// API's limit). Default 10240.
    pub max_mib: Option<u32>,
}

/// Headroom from the stream's own bursts: the scale-up threshold (and the
/// scale-down numbers with it) is derived from how far the stream's load
/// rose within the controller's reaction time over the last `history`,
/// so that the expected share of throttled records stays under
/// `max_throttled`. Off unless this block is set; then it replaces
/// scale_up.threshold.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveSettings {
    /// Default true once the block is written.
    pub enabled: Option<bool>,
    /// The share of records that may be throttled, as "0.1%" or 0.001,
    /// in (0, 10%]. Default 0.1%.
    pub max_throttled: Option<Percent>,
    /// How much per-minute history the burst statistics read, 1h to 14d.
    /// Default 3d.
    pub history: Option<Minutes>,
}

/// A share written as a percentage ("0.1%") or a fraction (0.001), in
/// (0, 0.1].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(pub f64);

struct PercentVisitor;

impl serde::de::Visitor<'_> for PercentVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a percentage such as \"0.1%\", or a fraction such as 0.001")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<f64, E> {
        let number = v.trim().strip_suffix('%').ok_or_else(|| {
            E::custom(format_args!(
                "{v:?} is not a percentage; write it as \"0.1%\" or 0.001"
            ))
        })?;
        number
            .trim()
            .parse::<f64>()
            .map(|p| p / 100.0)
            .map_err(|_| E::custom(format_args!("{v:?} is not a percentage such as \"0.1%\"")))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_any(PercentVisitor)?;
        if value > 0.0 && value <= 0.1 {
            Ok(Percent(value))
        } else {
            Err(serde::de::Error::custom(format_args!(
                "must be in (0%, 10%], got {}%",
                value * 100.0
            )))
        }
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}%", self.0 * 100.0))
    }
}

impl JsonSchema for Percent {
    fn schema_name() -> Cow<'static, str> {
        "Percent".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["string", "number"],
            "description": "A share of records: a percentage such as \"0.1%\", or a fraction such as 0.001, in (0, 10%].",
            "examples": ["0.1%", 0.001]
        })
    }
}

/// A number in (0, 1].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Fraction(pub f64);

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_any(NumberVisitor("a number in (0, 1]"))?;
        if value > 0.0 && value <= 1.0 {
            Ok(Fraction(value))
        } else {
            Err(serde::de::Error::custom(format_args!(
                "must be in (0, 1], got {value}"
            )))
        }
    }
}

impl Serialize for Fraction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0)
    }
}

impl JsonSchema for Fraction {
    fn schema_name() -> Cow<'static, str> {
        "Fraction".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "description": "A fraction of one shard's capacity, in (0, 1]."
        })
    }
}

/// A share in [0, 0.5].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Share(pub f64);

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_any(NumberVisitor("a number in [0, 0.5]"))?;
        if (0.0..=0.5).contains(&value) {
            Ok(Share(value))
        } else {
            Err(serde::de::Error::custom(format_args!(
                "must be in [0, 0.5], got {value}"
            )))
        }
    }
}

impl Serialize for Share {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0)
    }
}

impl JsonSchema for Share {
    fn schema_name() -> Cow<'static, str> {
        "Share".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "number",
            "minimum": 0,
            "maximum": 0.5,
            "description": "A share of a window's minutes, in [0, 0.5]."
        })
    }
}

/// Accepts any number, and says what was expected otherwise.
struct NumberVisitor(&'static str);

impl serde::de::Visitor<'_> for NumberVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
}

/// A shard count, at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ShardCount(pub u32);

impl<'de> Deserialize<'de> for ShardCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value =
            deserializer.deserialize_any(NumberVisitor("a whole number of shards, at least 1"))?;
        match u32::try_from(value as i64) {
            Ok(n) if n >= 1 && value.fract() == 0.0 => Ok(ShardCount(n)),
            _ => Err(serde::de::Error::custom(format_args!(
                "must be a shard count of at least 1, got {value}"
            ))),
        }
    }
}

impl Serialize for ShardCount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

impl JsonSchema for ShardCount {
    fn schema_name() -> Cow<'static, str> {
        "ShardCount".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "minimum": 1 })
    }
}

/// A duration written the humantime way: `90s`, `5m`, `1h 30m`, `0s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

/// A positive whole number of minutes written as a duration: `5m`, `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Minutes(pub u32);

struct DurationVisitor;

impl serde::de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 90s, 5m or 1h")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
        humantime::parse_duration(v.trim()).map_err(|e| {
            E::custom(format_args!(
                "{} is not a duration ({e}); write it like 90s, 5m or 1h",
                crate::input::quote(v)
            ))
        })
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
        Err(E::custom(format_args!(
            "{v} has no unit; write a duration like {v}s or {v}m"
        )))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
        Err(E::custom(format_args!(
            "{v} is not a duration; write it like 90s, 5m or 1h"
        )))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(E::custom(format_args!(
            "{v} is not a duration; write it like 90s, 5m or 1h"
        )))
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor).map(Span)
    }
}

impl<'de> Deserialize<'de> for Minutes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let d = deserializer.deserialize_any(DurationVisitor)?;
        let text = humantime::format_duration(d);
        if d.is_zero() {
            return Err(serde::de::Error::custom("must be at least 1m, got 0s"));
        }
        if d.subsec_nanos() != 0 || d.as_secs() % 60 != 0 {
            return Err(serde::de::Error::custom(format_args!(
                "must be a whole number of minutes (metrics are per minute), got {text}"
            )));
        }
        u32::try_from(d.as_secs() / 60)
            .map(Minutes)
            .map_err(|_| serde::de::Error::custom(format_args!("{text} is too long")))
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_duration(self.0))
    }
}

impl Serialize for Minutes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}m", self.0))
    }
}

impl JsonSchema for Span {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration such as 90s, 5m, 1h 30m.",
            "examples": ["5m", "30m", "1h"]
        })
    }
}

impl JsonSchema for Minutes {
    fn schema_name() -> Cow<'static, str> {
        "Minutes".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A positive whole number of minutes, such as 5m or 1h.",
            "examples": ["5m", "30m"]
        })
    }
}
