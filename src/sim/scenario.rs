//! The scenario file: which traffic to replay and how the simulated stream
//! behaves. Parsed at the edge into a validated [`Scenario`]; a bad value is
//! an error naming the file, line and field, like the policy's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::cost::Prices;
use super::world::{IdleDatapoints, Publishing};
pub use crate::input::FileError;
use crate::input::{self, FileKind};
use crate::model::{HashKey, HashKeyRange, WRITE_BYTES_PER_SECOND, WRITE_RECORDS_PER_SECOND};

/// A scenario as written; see `scenarios/` for commented examples.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: Option<String>,
    /// The simulated stream's name, as the policy matches it.
    stream: Option<String>,
    trace: PathBuf,
    peak: Rate,
    record_size: Bytes,
    #[serde(default)]
    keys: KeysFile,
    #[serde(default)]
    hot_keys: Vec<HotKeyFile>,
    initial_shards: u32,
    duration: Option<Span>,
    #[serde(default)]
    trace_offset: Option<Span>,
    reshard_duration: Option<Span>,
    metrics_delay: Option<DelayRange>,
    metrics_gaps: Option<f64>,
    idle_datapoints: Option<IdleDatapointsName>,
    /// How long after enhanced monitoring is enabled its first minute is
    /// published.
    metrics_enable_delay: Option<Span>,
    tick: Option<Span>,
    noise: Option<f64>,
    burstiness: Option<f64>,
    shard_limit: Option<u32>,
    #[serde(default)]
    uniform: UniformFile,
    /// Consumers reading every record (On-Demand bills each one's reads).
    consumers: Option<u32>,
    /// Records a second each shard's consumer processes (one worker per
    /// shard, as KCL and Lambda run); no consumer model without it.
    consumer_records_per_second: Option<f64>,
    /// Enhanced fan-out consumers, each reading every record on top of
    /// `consumers`.
    efo_consumers: Option<u32>,
    /// On-Demand Advantage: warm throughput held ready, like 20MiB/s.
    warm_throughput: Option<Rate>,
    /// Overrides of the us-east-1 list prices.
    #[serde(default)]
    prices: Prices,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    model: KeyModelName,
    count: Option<u32>,
    exponent: Option<f64>,
    /// `model: measured`: each range's share of the writes.
    ranges: Option<Vec<RangeShareFile>>,
    #[serde(default)]
    seed: u64,
}

/// A hash-key range and the share of writes it took, as a replay measures
/// it from a stream's shard-level metrics.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RangeShareFile {
    start: String,
    end: String,
    share: f64,
}

impl Default for KeysFile {
    fn default() -> Self {
        KeysFile {
            model: KeyModelName::Uniform,
            count: None,
            exponent: None,
            ranges: None,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum KeyModelName {
    Uniform,
    Zipf,
    Measured,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct HotKeyFile {
    key: String,
    start: Span,
    end: Span,
    share: f64,
}

/// Overrides of the `uniform` baseline's settings.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct UniformFile {
    scale_up_threshold: Option<f64>,
    scale_up_after: Option<Span>,
    scale_up_pct: Option<u32>,
    scale_down_threshold: Option<f64>,
    scale_down_after: Option<Span>,
    scale_down_pct: Option<u32>,
    cool_off: Option<Span>,
    check_interval: Option<Span>,
}

/// A duration such as `30s`, `2d6h`.
#[derive(Debug, Clone, Copy)]
struct Span(Duration);

/// A string-valued scenario type's JSON Schema: a pattern-free string with
/// a description and examples.
macro_rules! string_schema {
    ($ty:ty, $name:literal, $description:literal, [$($example:literal),*]) => {
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "description": $description,
                    "examples": [$($example),*]
                })
            }
        }
    };
}

string_schema!(
    Span,
    "Span",
    "A duration, such as 30s, 5m or 2d6h.",
    ["30s", "2d6h"]
);
string_schema!(
    DelayRange,
    "DelayRange",
    "A delay such as 2m, or a range such as 1m..5m.",
    ["2m", "1m..5m"]
);
string_schema!(
    Bytes,
    "Bytes",
    "A size, such as 1KiB or 6MiB.",
    ["1KiB", "30KiB"]
);
string_schema!(
    Rate,
    "Rate",
    "Bytes per second, such as 6MiB/s.",
    ["6MiB/s", "512KiB/s"]
);

/// The scenario file's JSON Schema (for editor completion), as
/// `schema --scenario` prints it.
pub fn json_schema() -> schemars::Schema {
    schemars::schema_for!(ScenarioFile)
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map(Span)
            .map_err(|e| {
                serde::de::Error::custom(format_args!(
                    "{} is not a duration ({e}); write it like 30s, 5m or 2d6h",
                    input::quote(&text)
                ))
            })
    }
}

/// A delay such as `2m`, or a range such as `1m..5m`.
#[derive(Debug, Clone, Copy)]
struct DelayRange(Duration, Duration);

impl<'de> Deserialize<'de> for DelayRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let parse = |part: &str| {
            humantime::parse_duration(part.trim()).map_err(|e| {
                serde::de::Error::custom(format_args!(
                    "{} is not a delay ({e}); write it like 2m, or a range like 1m..5m",
                    input::quote(&text)
                ))
            })
        };
        let (low, high) = match text.split_once("..") {
            Some((low, high)) => (parse(low)?, parse(high)?),
            None => {
                let d = parse(&text)?;
                (d, d)
            }
        };
        if high < low {
            return Err(serde::de::Error::custom(format_args!(
                "{}: the range must go from the shorter delay to the longer",
                input::quote(&text)
            )));
        }
        Ok(DelayRange(low, high))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum IdleDatapointsName {
    Omit,
    Zero,
}

/// A size such as `1KiB`.
#[derive(Debug, Clone, Copy)]
struct Bytes(u64);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_bytes(&text)
            .map(Bytes)
            .map_err(serde::de::Error::custom)
    }
}

/// A rate such as `6MiB/s`.
#[derive(Debug, Clone, Copy)]
struct Rate(u64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let Some(size) = text.trim().strip_suffix("/s") else {
            return Err(serde::de::Error::custom(format_args!(
                "{} is not a rate; write bytes per second like 6MiB/s",
                input::quote(&text)
            )));
        };
        parse_bytes(size)
            .map(Rate)
            .map_err(serde::de::Error::custom)
    }
}

fn parse_bytes(text: &str) -> Result<u64, String> {
    let size: bytesize::ByteSize = text.trim().parse().map_err(|e| {
        format!(
            "{} is not a size ({e}); write it like 1KiB or 6MiB",
            input::quote(text)
        )
    })?;
    match size.as_u64() {
        0 => Err(format!("{} must be more than 0 bytes", input::quote(text))),
        n => Ok(n),
    }
}

/// How partition keys spread over the key space.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyModel {
    /// Every hash key equally likely.
    Uniform,
    /// `count` keys, the i-th (from 1) carrying weight 1/i^exponent, each
    /// at the MD5 hash of its name.
    Zipf { count: u32, exponent: f64 },
    /// Ranges covering the key space, each taking a share of the writes,
    /// spread evenly inside it (measured from a stream's shards).
    Measured(Vec<(HashKeyRange, f64)>),
}

/// A key that carries `share` of all traffic between two offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct HotKey {
    pub key: String,
    pub start: Duration,
    pub end: Duration,
    pub share: f64,
}

/// The amazon-kinesis-scaling-utils-like baseline: stream-level utilization
/// against thresholds held for some minutes, scaling the whole stream.
#[derive(Debug, Clone, PartialEq)]
pub struct UniformSettings {
    pub scale_up_threshold: f64,
    pub scale_up_after_minutes: u32,
    /// Percent of the current shard count added when scaling up.
    pub scale_up_pct: u32,
    pub scale_down_threshold: f64,
    pub scale_down_after_minutes: u32,
    /// Percent of the current shard count removed when scaling down.
    pub scale_down_pct: u32,
    /// No scale-down within this long of the last one.
    pub cool_off: Duration,
    pub check_interval: Duration,
}

impl Default for UniformSettings {
    /// The values of scaling-utils' documented example configuration
    /// (scale up above 80% for 10 minutes, down below 20% for 60 minutes
    /// with a 120-minute cool-off, 45-second checks), doubling and halving.
    fn default() -> Self {
        UniformSettings {
            scale_up_threshold: 0.8,
            scale_up_after_minutes: 10,
            scale_up_pct: 100,
            scale_down_threshold: 0.2,
            scale_down_after_minutes: 60,
            scale_down_pct: 50,
            cool_off: Duration::from_secs(120 * 60),
            check_interval: Duration::from_secs(45),
        }
    }
}

/// The most ranges a measured key model may have (a stream's open shards).
const MAX_MEASURED_RANGES: usize = 20_000;

/// Checks measured ranges: in key order, covering the whole key space
/// without gap or overlap, shares 0 or more; the shares are normalized.
fn measured_ranges(ranges: &[RangeShareFile]) -> Result<Vec<(HashKeyRange, f64)>, String> {
    if ranges.is_empty() || ranges.len() > MAX_MEASURED_RANGES {
        return Err(format!(
            "keys.ranges: model: measured needs 1 ..= {MAX_MEASURED_RANGES} ranges, got {}",
            ranges.len()
        ));
    }
    let mut out = Vec::with_capacity(ranges.len());
    for (i, r) in ranges.iter().enumerate() {
        let key = |text: &str, field: &str| {
            text.trim()
                .parse::<HashKey>()
                .map_err(|e| format!("keys.ranges[{i}].{field}: {e}"))
        };
        let range = HashKeyRange::new(key(&r.start, "start")?, key(&r.end, "end")?)
            .map_err(|e| format!("keys.ranges[{i}]: {e}"))?;
        if !(r.share.is_finite() && r.share >= 0.0) {
            return Err(format!(
                "keys.ranges[{i}].share: must be a number >= 0, got {}",
                r.share
            ));
        }
        let expected = match out.last() {
            None => HashKey::MIN,
            Some((prev, _)) => match HashKeyRange::end(prev).0.checked_add(1) {
                Some(next) => HashKey(next),
                None => {
                    return Err(format!(
                        "keys.ranges[{i}]: the ranges before it already reach the largest hash key"
                    ));
                }
            },
        };
        if range.start() != expected {
            return Err(format!(
                "keys.ranges[{i}].start: must be {expected}, where the range before it ends (the ranges cover the key space in order, without gaps)"
            ));
        }
        out.push((range, r.share));
    }
    if out.last().is_some_and(|(r, _)| r.end() != HashKey::MAX) {
        return Err(format!(
            "keys.ranges: the last range must end at the largest hash key {}",
            HashKey::MAX
        ));
    }
    let total: f64 = out.iter().map(|(_, s)| s).sum();
    if total <= 0.0 {
        return Err(
            "keys.ranges: the shares add up to 0; at least one range must take writes".into(),
        );
    }
    for (_, share) in &mut out {
        *share /= total;
    }
    Ok(out)
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// CloudWatch's delay when a scenario does not say: 1 to 5 minutes,
/// varying from minute to minute.
pub(crate) const DEFAULT_METRICS_DELAY: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(300));
/// The most Zipf keys a scenario may place (each is hashed and kept).
pub(crate) const MAX_ZIPF_KEYS: u32 = 200_000;

/// The account's shard quota when a scenario does not say: AWS's default
/// in us-east-1, us-west-2 and eu-west-1 (1,000 or 6,000 in other
/// regions; DescribeLimits says what an account has).
pub(crate) const DEFAULT_SHARD_LIMIT: u32 = 20_000;
/// The largest account shard quota a scenario may simulate (AWS's default
/// in its largest regions).
pub(crate) const MAX_SHARD_LIMIT: u32 = 20_000;

/// The most consumers a scenario may have read the stream (AWS allows 20
/// enhanced fan-out consumers per stream).
pub(crate) const MAX_CONSUMERS: u32 = 20;

/// The most enhanced fan-out consumers a scenario may register (AWS's
/// per-stream quota for provisioned and On-Demand Standard streams; check
/// the quotas page, Advantage allows more).
pub(crate) const MAX_EFO_CONSUMERS: u32 = 20;

/// The most warm throughput UpdateStreamWarmThroughput allows, MiB/s.
pub(crate) const MAX_WARM_THROUGHPUT_MIB: f64 = 10.0 * 1024.0;

/// The share of shard datapoints lost when a scenario does not say.
pub(crate) const DEFAULT_METRICS_GAPS: f64 = 0.001;

/// How long after EnableEnhancedMonitoring the first shard-level minute
/// is published, when a scenario does not say: the first whole minute
/// after the call, and a minute more (each minute is then `metrics_delay`
/// late, as every other).
pub(crate) const DEFAULT_METRICS_ENABLE_DELAY: Duration = Duration::from_secs(60);

impl Scenario {
    /// How the simulated CloudWatch publishes this scenario's metrics.
    pub fn publishing(&self) -> Publishing {
        Publishing {
            delay: self.metrics_delay,
            gaps: self.metrics_gaps,
            idle: self.idle_datapoints,
            seed: self.seed,
            enable_delay: self.metrics_enable_delay,
        }
    }
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub stream: String,
    /// The trace file, resolved against the scenario's folder.
    pub trace: PathBuf,
    /// Bytes per second at the trace's maximum.
    pub peak_bytes_per_second: f64,
    pub record_size: u64,
    pub keys: KeyModel,
    pub seed: u64,
    pub hot_keys: Vec<HotKey>,
    pub initial_shards: u32,
    /// How much to simulate; `None` is the whole trace.
    pub duration: Option<Duration>,
    /// Where in the trace to start.
    pub trace_offset: Duration,
    pub reshard_duration: Duration,
    /// Each minute's datapoints appear after a delay drawn per minute from
    /// this range (seeded).
    pub metrics_delay: (Duration, Duration),
    /// The probability that one shard's datapoint for a minute is lost.
    pub metrics_gaps: f64,
    /// What a shard that took no records publishes.
    pub idle_datapoints: IdleDatapoints,
    /// How long after enhanced monitoring is enabled its first minute is
    /// published.
    pub metrics_enable_delay: Duration,
    /// How often the controller runs.
    pub tick: Duration,
    /// Per-minute multiplicative noise on the trace, as a fraction.
    pub noise: f64,
    /// How far per-second rates stray from the minute's average (uniformly
    /// within ± this fraction): Kinesis enforces its limits per second, so
    /// a minute averaging just under capacity still throttles some writes.
    pub burstiness: f64,
    pub shard_limit: u32,
    pub uniform: UniformSettings,
    /// Consumers reading every record.
    pub consumers: u32,
    /// Records a second each shard's consumer processes, when modelled:
    /// the lag it falls behind by is published as the iterator age.
    pub consumer_records_per_second: Option<f64>,
    /// Enhanced fan-out consumers.
    pub efo_consumers: u32,
    /// On-Demand Advantage: warm throughput held, MiB/s (0: none).
    pub warm_throughput_mib: f64,
    pub prices: Prices,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, FileError> {
        let text = input::read_text(path, FileKind::Scenario)?;
        Scenario::parse(&text, path)
    }

    /// Parses scenario text; a relative trace path is resolved against
    /// `path`'s folder.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, FileError> {
        let f: ScenarioFile = input::parse_file(text, path, FileKind::Scenario, 4)?;
        let invalid = |message: String| FileError::invalid(path, FileKind::Scenario, message);
        let keys = key_model(&f.keys).map_err(invalid)?;
        let hot_keys = hot_keys(&f.hot_keys).map_err(invalid)?;
        let trace = if f.trace.is_absolute() {
            f.trace.clone()
        } else {
            tidy(&path.parent().unwrap_or(Path::new(".")).join(&f.trace))
        };
        let mut scenario = Scenario {
            name: f.name.clone().unwrap_or_else(|| {
                path.file_stem()
                    .map_or("scenario".into(), |s| s.to_string_lossy().into_owned())
            }),
            stream: f.stream.clone().unwrap_or_else(|| "simulated".into()),
            trace,
            peak_bytes_per_second: f.peak.0 as f64,
            record_size: f.record_size.0,
            keys,
            seed: f.keys.seed,
            hot_keys,
            initial_shards: f.initial_shards,
            duration: f.duration.map(|s| s.0),
            trace_offset: f.trace_offset.map_or(Duration::ZERO, |s| s.0),
            reshard_duration: f.reshard_duration.map_or(Duration::from_secs(30), |s| s.0),
            metrics_delay: f
                .metrics_delay
                .map_or(DEFAULT_METRICS_DELAY, |d| (d.0, d.1)),
            metrics_gaps: f.metrics_gaps.unwrap_or(DEFAULT_METRICS_GAPS),
            metrics_enable_delay: f
                .metrics_enable_delay
                .map_or(DEFAULT_METRICS_ENABLE_DELAY, |s| s.0),
            idle_datapoints: match f.idle_datapoints {
                Some(IdleDatapointsName::Zero) => IdleDatapoints::Zero,
                Some(IdleDatapointsName::Omit) | None => IdleDatapoints::Omit,
            },
            tick: f.tick.map_or(Duration::from_secs(60), |s| s.0),
            noise: f.noise.unwrap_or(0.02),
            burstiness: f.burstiness.unwrap_or(0.1),
            shard_limit: f.shard_limit.unwrap_or(DEFAULT_SHARD_LIMIT),
            uniform: UniformSettings::default(),
            consumers: f.consumers.unwrap_or(1),
            consumer_records_per_second: f.consumer_records_per_second,
            efo_consumers: f.efo_consumers.unwrap_or(0),
            warm_throughput_mib: f.warm_throughput.map_or(0.0, |r| r.0 as f64 / 1_048_576.0),
            prices: f.prices.clone(),
        };
        scenario.check_account().map_err(invalid)?;
        scenario.check_simulation().map_err(invalid)?;
        scenario.uniform = uniform_settings(&f.uniform).map_err(invalid)?;
        Ok(scenario)
    }

    /// The simulated account: its shard quota and the stream's shards,
    /// consumers, warm throughput and prices.
    fn check_account(&self) -> Result<(), String> {
        let shard_limit = self.shard_limit;
        if !(1..=MAX_SHARD_LIMIT).contains(&shard_limit) {
            return Err(format!(
                "shard_limit: must be in 1 ..= {MAX_SHARD_LIMIT} (the largest account quota simulated), got {shard_limit}"
            ));
        }
        if !(1..=shard_limit).contains(&self.initial_shards) {
            return Err(format!(
                "initial_shards: must be in 1 ..= shard_limit ({shard_limit}), got {}",
                self.initial_shards
            ));
        }
        let consumers = self.consumers;
        if !(1..=MAX_CONSUMERS).contains(&consumers) {
            return Err(format!(
                "consumers: must be in 1 ..= {MAX_CONSUMERS}, got {consumers}"
            ));
        }
        if let Some(rate) = self.consumer_records_per_second
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(format!(
                "consumer_records_per_second: must be a number of records above 0, got {rate}"
            ));
        }
        let efo_consumers = self.efo_consumers;
        if efo_consumers > MAX_EFO_CONSUMERS {
            return Err(format!(
                "efo_consumers: must be in 0 ..= {MAX_EFO_CONSUMERS} (enhanced fan-out consumers a stream may register), got {efo_consumers}"
            ));
        }
        let warm_throughput_mib = self.warm_throughput_mib;
        if warm_throughput_mib > MAX_WARM_THROUGHPUT_MIB {
            return Err(format!(
                "warm_throughput: must be at most {MAX_WARM_THROUGHPUT_MIB} MiB/s (10 GiB/s, UpdateStreamWarmThroughput's limit), got {warm_throughput_mib} MiB/s"
            ));
        }
        if let Some((name, value)) = self.prices.invalid() {
            return Err(format!(
                "prices.{name}: must be a price in US dollars, 0 or more, got {value}"
            ));
        }
        if self.prices.advantage_commitment_share > 1.0 {
            return Err(format!(
                "prices.advantage_commitment_share: must be a share in [0, 1] of the account's commitment, got {}",
                self.prices.advantage_commitment_share
            ));
        }
        Ok(())
    }

    /// The simulated traffic, CloudWatch and clock.
    fn check_simulation(&self) -> Result<(), String> {
        let noise = self.noise;
        if !(0.0..0.5).contains(&noise) {
            return Err(format!("noise: must be in [0, 0.5), got {noise}"));
        }
        let burstiness = self.burstiness;
        if !(0.0..1.0).contains(&burstiness) {
            return Err(format!("burstiness: must be in [0, 1), got {burstiness}"));
        }
        if self.metrics_delay.1 > Duration::from_secs(3600) {
            return Err(format!(
                "metrics_delay: at most 1h, got {}",
                humantime::format_duration(self.metrics_delay.1)
            ));
        }
        let metrics_gaps = self.metrics_gaps;
        if !(0.0..=0.5).contains(&metrics_gaps) {
            return Err(format!(
                "metrics_gaps: must be a probability in [0, 0.5], got {metrics_gaps}"
            ));
        }
        // Kinesis takes records of up to 1 MiB; and the load a simulation
        // offers is bounded so that its oracles stay cheap to compute.
        if self.record_size > 1024 * 1024 {
            return Err(format!(
                "record_size: Kinesis records are at most 1MiB, got {} bytes",
                self.record_size
            ));
        }
        let peak = self.peak_bytes_per_second;
        let shards_worth = (peak / WRITE_BYTES_PER_SECOND)
            .max(peak / self.record_size as f64 / WRITE_RECORDS_PER_SECOND);
        if shards_worth > f64::from(MAX_SHARD_LIMIT) {
            return Err(format!(
                "peak: {peak} bytes/s in {}-byte records is {shards_worth:.0} shards' worth; a simulation offers at most {MAX_SHARD_LIMIT}",
                self.record_size
            ));
        }
        if self.metrics_enable_delay > Duration::from_secs(3600) {
            return Err(format!(
                "metrics_enable_delay: at most 1h, got {}",
                humantime::format_duration(self.metrics_enable_delay)
            ));
        }
        for (field, span, min, max) in [
            ("tick", self.tick, 1, 86_400),
            ("reshard_duration", self.reshard_duration, 0, 86_400),
        ] {
            if span < Duration::from_secs(min) || span > Duration::from_secs(max) {
                return Err(format!(
                    "{field}: must be between {} and 1day, got {}",
                    humantime::format_duration(Duration::from_secs(min)),
                    humantime::format_duration(span)
                ));
            }
        }
        Ok(())
    }
}

/// The key model `keys` names, checked.
fn key_model(keys: &KeysFile) -> Result<KeyModel, String> {
    let model = match keys.model {
        _ if keys.ranges.is_some() && keys.model != KeyModelName::Measured => {
            return Err("keys: ranges apply to model: measured only".into());
        }
        KeyModelName::Uniform | KeyModelName::Measured
            if keys.count.is_some() || keys.exponent.is_some() =>
        {
            return Err("keys: count and exponent apply to model: zipf only".into());
        }
        KeyModelName::Uniform => KeyModel::Uniform,
        KeyModelName::Measured => {
            KeyModel::Measured(measured_ranges(keys.ranges.as_deref().unwrap_or_default())?)
        }
        KeyModelName::Zipf => {
            let count = keys.count.unwrap_or(10_000);
            let exponent = keys.exponent.unwrap_or(1.0);
            if count == 0 || count > MAX_ZIPF_KEYS {
                return Err(format!(
                    "keys.count: must be in 1 ..= {MAX_ZIPF_KEYS}, got {count}"
                ));
            }
            if !(exponent.is_finite() && exponent >= 0.0) {
                return Err(format!(
                    "keys.exponent: must be a number >= 0, got {exponent}"
                ));
            }
            KeyModel::Zipf { count, exponent }
        }
    };
    Ok(model)
}

/// The hot keys, checked: each share in (0, 1), and all of them below 1.
fn hot_keys(hot: &[HotKeyFile]) -> Result<Vec<HotKey>, String> {
    let mut hot_total = 0.0;
    let mut hot_keys = Vec::new();
    for (i, h) in hot.iter().enumerate() {
        if !(h.share > 0.0 && h.share < 1.0) {
            return Err(format!(
                "hot_keys[{i}].share: must be in (0, 1), got {}",
                h.share
            ));
        }
        if h.end.0 <= h.start.0 {
            return Err(format!("hot_keys[{i}]: end must come after start"));
        }
        hot_total += h.share;
        hot_keys.push(HotKey {
            key: h.key.clone(),
            start: h.start.0,
            end: h.end.0,
            share: h.share,
        });
    }
    if hot_total >= 1.0 {
        return Err(format!(
            "hot_keys: the shares add up to {hot_total}, which leaves nothing for the other keys; keep the sum below 1"
        ));
    }
    Ok(hot_keys)
}

/// The uniform baseline's settings: the defaults, with what `file` sets,
/// checked.
fn uniform_settings(file: &UniformFile) -> Result<UniformSettings, String> {
    let d = UniformSettings::default();
    let minutes = |s: Span| (s.0.as_secs() / 60).max(1) as u32;
    let uniform = UniformSettings {
        scale_up_threshold: file.scale_up_threshold.unwrap_or(d.scale_up_threshold),
        scale_up_after_minutes: file
            .scale_up_after
            .map_or(d.scale_up_after_minutes, minutes),
        scale_up_pct: file.scale_up_pct.unwrap_or(d.scale_up_pct),
        scale_down_threshold: file.scale_down_threshold.unwrap_or(d.scale_down_threshold),
        scale_down_after_minutes: file
            .scale_down_after
            .map_or(d.scale_down_after_minutes, minutes),
        scale_down_pct: file.scale_down_pct.unwrap_or(d.scale_down_pct),
        cool_off: file.cool_off.map_or(d.cool_off, |s| s.0),
        check_interval: file.check_interval.map_or(d.check_interval, |s| s.0),
    };
    let u = &uniform;
    for (field, v) in [
        ("uniform.scale_up_threshold", u.scale_up_threshold),
        ("uniform.scale_down_threshold", u.scale_down_threshold),
    ] {
        if !(v > 0.0 && v <= 1.0) {
            return Err(format!("{field}: must be in (0, 1], got {v}"));
        }
    }
    if !(1..=1000).contains(&u.scale_up_pct) {
        return Err(format!(
            "uniform.scale_up_pct: must be in 1 ..= 1000, got {}",
            u.scale_up_pct
        ));
    }
    if !(1..=99).contains(&u.scale_down_pct) {
        return Err(format!(
            "uniform.scale_down_pct: must be in 1 ..= 99, got {}",
            u.scale_down_pct
        ));
    }
    if u.check_interval < Duration::from_secs(1) || u.check_interval > Duration::from_secs(86_400) {
        return Err("uniform.check_interval: must be between 1s and 1day".into());
    }
    if u.cool_off > Duration::from_secs(7 * 86_400) {
        return Err("uniform.cool_off: must be at most 7days".into());
    }
    Ok(uniform)
}
