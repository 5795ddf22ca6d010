//! A policy file turned into validated, fully resolved settings per stream.
//!
//! Loading goes file text → `file::PolicyFile` (typed, every field
//! optional, per-value checks with line and column) → [`Policy`] (each entry
//! merged over `defaults` over the built-in values, then checked as a
//! whole). Nothing downstream ever sees an invalid or partial setting.

pub mod file;
mod layer;
pub mod notify;
mod validate;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobMatcher};

use crate::input::{self, FileError, FileKind};
use crate::model::MetricName;
pub(crate) use crate::model::arn_stream_name;
use crate::model::{Api, Quotas};
use file::PolicyFile;
pub use file::{ShardLevel, SilentStream, SplitAt};
pub use notify::{Destination, Notify};

/// The policy format version this build reads.
pub(crate) const POLICY_VERSION: u32 = 1;

/// The longest scale-up or scale-down window, in minutes (one day).
pub(crate) const MAX_WINDOW_MINUTES: u32 = 1440;
/// The longest metrics delay.
const MAX_DELAY: Duration = Duration::from_secs(3600);
/// The longest cooldown (a week).
const MAX_COOLDOWN: Duration = Duration::from_secs(7 * 86_400);

/// Resolved settings for one stream; every field has its final value.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPolicy {
    pub min_shards: u32,
    pub max_shards: u32,
    /// At most this many splits and merges a day, bounds aside (0: no cap).
    pub max_reshards_per_day: u32,
    /// Minutes younger than this are ignored as incomplete: the least
    /// delay. Windows end at the newest minute with data, often later.
    pub metrics_delay: Duration,
    /// A stream whose newest datapoint is older than this is not planned.
    pub metrics_max_lag: Duration,
    /// What a stream with no datapoints at all is taken for.
    pub silent_stream: SilentStream,
    /// The longest a pass goes without reading the shard-level series
    /// while it plans on the stream-level ones and each shard's share.
    pub shard_refresh: Duration,
    /// Who keeps the shard-level metrics on.
    pub shard_level: ShardLevel,
    /// With `on_demand`: how long without a decision near before the
    /// metrics the controller enabled are disabled.
    pub shard_calm: Duration,
    pub scale_up: ScaleUp,
    pub scale_down: ScaleDown,
    pub read: ReadLoad,
    /// Seasonal foresight, when on.
    pub forecast: Option<Forecast>,
    /// Warm throughput managed for On-Demand Advantage streams, when on.
    pub warm_throughput: Option<WarmPolicy>,
    /// The throttling objective the scale-up threshold is derived from,
    /// when on.
    pub objective: Option<Objective>,
    /// The consumer-lag guard, when on.
    pub consumers: Option<Consumers>,
    /// Whether the controller may turn on missing shard-level metrics.
    pub enable_enhanced_monitoring: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScaleUp {
    pub threshold: f64,
    pub window_minutes: u32,
    pub sustain_minutes: u32,
    /// 0 turns the throttling rule off.
    pub throttled_records: u64,
    pub cooldown: Duration,
    pub max_splits_per_run: u32,
    pub split_at: SplitAt,
    pub sample: Sample,
    /// A sampled key over this share of a hot shard is a hot key.
    pub hot_key_share: f64,
}

/// How a pass samples the shards it would split (see
/// [`file::SampleSettings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub duration: Duration,
    pub max_shards: u32,
    pub min_records: u64,
}

impl Default for Sample {
    fn default() -> Self {
        Sample {
            duration: Duration::from_secs(5),
            max_shards: 4,
            min_records: 100,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScaleDown {
    pub threshold: f64,
    pub window_minutes: u32,
    pub merged_ceiling: f64,
    pub cooldown: Duration,
    /// No merge of a split's two children until this long after the
    /// stream's last split (zero: off).
    pub min_lifetime: Duration,
    pub max_merges_per_run: u32,
    /// The share of the window's minutes that may lack a datapoint.
    pub max_missing: f64,
    /// The economic scale-down, when on: the window is then the longest
    /// quiet time it may choose.
    pub economic: Option<Economic>,
}

/// The economic scale-down (see [`file::EconomicSettings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Economic {
    /// US dollars a reshard costs.
    pub reshard_cost: f64,
    pub min_window_minutes: u32,
    pub history_minutes: u32,
}

impl Default for Economic {
    fn default() -> Self {
        Economic {
            reshard_cost: 0.05,
            min_window_minutes: 30,
            history_minutes: 3 * 1440,
        }
    }
}

/// Seasonal foresight (see [`file::ForecastSettings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// How far back each season looks, in minutes.
    pub seasons: Vec<u32>,
    pub horizon_minutes: u32,
    pub lead_minutes: u32,
}

impl Default for Forecast {
    fn default() -> Self {
        Forecast {
            seasons: vec![1440, 7 * 1440],
            horizon_minutes: 60,
            lead_minutes: 15,
        }
    }
}

/// Warm throughput management (see [`file::WarmThroughputSettings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct WarmPolicy {
    pub lead_minutes: u32,
    pub headroom: f64,
    pub min_mib: u32,
    pub max_mib: u32,
}

/// UpdateStreamWarmThroughput's largest value, MiB/s (10 GiB/s).
pub const MAX_WARM_MIB: u32 = 10 * 1024;

impl Default for WarmPolicy {
    fn default() -> Self {
        WarmPolicy {
            lead_minutes: 30,
            headroom: 1.2,
            min_mib: 0,
            max_mib: MAX_WARM_MIB,
        }
    }
}

/// The throttling objective (see [`file::ObjectiveSettings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// The share of records that may be throttled.
    pub max_throttled: f64,
    /// Minutes of per-minute history the burst statistics read.
    pub history_minutes: u32,
}

impl Default for Objective {
    fn default() -> Self {
        Objective {
            max_throttled: 0.001,
            history_minutes: 3 * 1440,
        }
    }
}

/// The longest season or burst history: CloudWatch keeps per-minute data
/// for 15 days, and a season's window reaches a horizon past it.
pub(crate) const MAX_SEASON_MINUTES: u32 = 14 * 1440;
/// The longest forecast horizon.
const MAX_HORIZON_MINUTES: u32 = 360;

/// The consumer-lag guard (see `file::ConsumersSettings`).
#[derive(Debug, Clone, PartialEq)]
pub struct Consumers {
    pub max_iterator_age: Duration,
    pub scale_up_on_lag: bool,
    pub read_threshold: f64,
}

impl Default for Consumers {
    fn default() -> Self {
        Consumers {
            max_iterator_age: Duration::from_secs(60),
            scale_up_on_lag: false,
            read_threshold: 0.2,
        }
    }
}

/// The longest `consumers.max_iterator_age`: a stream keeps records for
/// at most a year, but a week behind is already a consumer to fix.
const MAX_ITERATOR_AGE: Duration = Duration::from_secs(7 * 86_400);

#[derive(Debug, Clone, PartialEq)]
pub struct ReadLoad {
    pub enabled: bool,
    pub threshold: f64,
}

impl Default for StreamPolicy {
    /// The built-in values, used where neither a stream entry nor
    /// `defaults` sets a field.
    fn default() -> Self {
        StreamPolicy {
            min_shards: 1,
            max_shards: 64,
            max_reshards_per_day: 0,
            metrics_delay: Duration::from_secs(120),
            metrics_max_lag: Duration::from_secs(15 * 60),
            silent_stream: SilentStream::Idle,
            shard_refresh: Duration::from_secs(15 * 60),
            shard_level: ShardLevel::Always,
            shard_calm: Duration::from_secs(45 * 60),
            scale_up: ScaleUp {
                threshold: 0.8,
                window_minutes: 5,
                sustain_minutes: 3,
                throttled_records: 1,
                cooldown: Duration::from_secs(5 * 60),
                max_splits_per_run: 8,
                split_at: SplitAt::Midpoint,
                sample: Sample::default(),
                hot_key_share: 0.8,
            },
            // Tuned on the whole simulator suite (docs/results.md):
            // merging later and less cuts churn and throttling on spiky
            // traffic; a merged shard is bounded by its parents at once, so
            // the cooldown after a reshard only delays the way down.
            scale_down: ScaleDown {
                threshold: 0.45,
                window_minutes: 90,
                merged_ceiling: 0.7,
                cooldown: Duration::from_secs(60),
                min_lifetime: Duration::ZERO,
                max_merges_per_run: 8,
                max_missing: 0.1,
                economic: None,
            },
            read: ReadLoad {
                enabled: false,
                threshold: 0.8,
            },
            forecast: None,
            warm_throughput: None,
            objective: None,
            consumers: None,
            enable_enhanced_monitoring: false,
        }
    }
}

impl StreamPolicy {
    /// The shard-level metrics the rules read.
    pub fn needed_metrics(&self) -> Vec<MetricName> {
        let mut m = vec![
            MetricName::IncomingBytes,
            MetricName::IncomingRecords,
            MetricName::WriteProvisionedThroughputExceeded,
        ];
        if self.read.enabled || self.consumers.as_ref().is_some_and(|c| c.scale_up_on_lag) {
            m.push(MetricName::OutgoingBytes);
        }
        m
    }

    /// The shard-level metrics read where enhanced monitoring publishes
    /// them, and done without where it does not.
    pub fn wanted_metrics(&self) -> Vec<MetricName> {
        match self.consumers {
            Some(_) => vec![MetricName::IteratorAgeMilliseconds],
            None => Vec::new(),
        }
    }

    /// The shard-level metrics a stream governed by this policy publishes
    /// before the controller first runs: with `always`, every metric it
    /// reads, enabled by the operator; with `on_demand`, none.
    pub fn initial_shard_metrics(&self) -> Vec<MetricName> {
        if self.shard_level == ShardLevel::OnDemand {
            return Vec::new();
        }
        let mut m = self.needed_metrics();
        m.extend(self.wanted_metrics());
        m.sort();
        m
    }

    /// Whether the controller may enable shard-level metrics: on demand, or
    /// missing ones with `enable_enhanced_monitoring`.
    pub fn enables_shard_metrics(&self) -> bool {
        self.enable_enhanced_monitoring || self.shard_level == ShardLevel::OnDemand
    }

    /// The minutes of metrics a pass reads: the longest rule window, ending
    /// as late as `metrics.max_lag` allows, plus the minute in progress.
    pub fn fetch_minutes(&self) -> u32 {
        let lag = self.metrics_max_lag.as_secs().div_ceil(60) as u32;
        self.lookback_minutes() + lag + 1
    }

    /// The minutes of the scale-down window that must have a known load
    /// (a datapoint, or a bound from the stream-level metrics) for a shard
    /// to count as cold: all but `max_missing` of them.
    pub fn scale_down_minutes_needed(&self) -> u32 {
        let window = self.scale_down.window_minutes;
        let allowed = (f64::from(window) * self.scale_down.max_missing).floor() as u32;
        window - allowed.min(window.saturating_sub(1))
    }

    /// The longest stretch of metrics any rule looks at, in minutes.
    pub fn lookback_minutes(&self) -> u32 {
        self.scale_up
            .window_minutes
            .max(self.scale_down.window_minutes)
    }
}

/// How a policy entry picks its streams.
#[derive(Debug, Clone)]
pub enum StreamSelector {
    /// An exact stream name or ARN.
    Name(String),
    /// A glob over stream names, expanded through ListStreams.
    Glob(GlobMatcher),
}

impl StreamSelector {
    fn parse(name: &str) -> Result<Self, String> {
        if name.is_empty() {
            return Err("must not be empty".into());
        }
        if !name.contains(['*', '?', '[', '{']) {
            return Ok(StreamSelector::Name(name.to_owned()));
        }
        Glob::new(name)
            .map(|g| StreamSelector::Glob(g.compile_matcher()))
            .map_err(|e| format!("{} is not a valid glob: {}", input::quote(name), e.kind()))
    }

    pub fn matches(&self, stream: &str) -> bool {
        match self {
            StreamSelector::Name(n) => n == stream || arn_stream_name(n) == Some(stream),
            StreamSelector::Glob(g) => g.is_match(stream),
        }
    }
}

/// One `streams` entry with its resolved settings.
#[derive(Debug, Clone)]
pub struct StreamRule {
    /// The entry's `name` as written.
    pub name: String,
    pub selector: StreamSelector,
    pub policy: StreamPolicy,
}

/// A loaded, valid policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Where it was read from, for messages.
    pub source: PathBuf,
    pub streams: Vec<StreamRule>,
    /// The entries with an exact name, by stream name (an ARN's too), so
    /// that matching 100,000 entries is not quadratic.
    exact: HashMap<String, usize>,
    /// The entries with a glob, in file order.
    globs: Vec<usize>,
    /// The account's API quotas and the share of them to use.
    pub quotas: Quotas,
    /// Where notifications go, when the policy has a `notify:` block.
    pub notify: Option<Notify>,
}

impl Policy {
    pub fn load(path: &Path) -> Result<Policy, FileError> {
        let text = input::read_text(path, FileKind::Policy)?;
        Policy::parse(&text, path)
    }

    /// Parses policy text; `path` only names the source in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Policy, FileError> {
        let file: PolicyFile = input::parse_file(text, path, FileKind::Policy, 6)?;
        let quotas = Policy::quotas(&file.api);
        let notify = file
            .notify
            .as_ref()
            .map(|n| n.resolve(|var| std::env::var(var).ok()))
            .transpose();
        let (streams, quotas, notify) = match (Policy::resolve(file), quotas, notify) {
            (Ok(streams), Ok(quotas), Ok(notify)) => (streams, quotas, notify),
            (streams, quotas, notify) => {
                let mut problems = streams.err().unwrap_or_default();
                problems.extend(quotas.err().unwrap_or_default());
                problems.extend(notify.err().unwrap_or_default());
                return Err(FileError::Invalid {
                    path: path.to_owned(),
                    kind: FileKind::Policy,
                    problems,
                });
            }
        };
        let mut policy = Policy::new(path.to_owned(), streams, quotas);
        policy.notify = notify;
        Ok(policy)
    }

    /// A policy of these `streams`, already resolved.
    fn new(source: PathBuf, streams: Vec<StreamRule>, quotas: Quotas) -> Policy {
        let mut exact = HashMap::new();
        let mut globs = Vec::new();
        for (i, rule) in streams.iter().enumerate() {
            match &rule.selector {
                StreamSelector::Name(name) => {
                    let stream = arn_stream_name(name).unwrap_or(name);
                    exact.entry(stream.to_owned()).or_insert(i);
                    exact.entry(name.clone()).or_insert(i);
                }
                StreamSelector::Glob(_) => globs.push(i),
            }
        }
        Policy {
            source,
            streams,
            exact,
            globs,
            quotas,
            notify: None,
        }
    }

    /// A policy for one stream, named exactly, with the default quotas (a
    /// simulation's). `source` names it in messages.
    pub fn single(source: &Path, stream: &str, policy: StreamPolicy) -> Policy {
        let rule = StreamRule {
            name: stream.to_owned(),
            selector: StreamSelector::Name(stream.to_owned()),
            policy,
        };
        Policy::new(source.to_owned(), vec![rule], Quotas::default())
    }

    /// The quotas the `api` block sets over the documented ones.
    fn quotas(api: &file::ApiSettings) -> Result<Quotas, Vec<String>> {
        let mut quotas = Quotas::default();
        let mut problems = Vec::new();
        if let Some(h) = api.headroom {
            quotas.headroom = h.0;
        }
        for (name, rate) in api.quotas.iter().flatten() {
            match Api::parse(name) {
                None => problems.push(format!(
                    "api.quotas.{}: not an API the controller calls; one of {}",
                    input::quote(name),
                    Api::ALL.map(Api::as_str).join(", ")
                )),
                Some(_) if !(rate.is_finite() && *rate > 0.0 && *rate <= 100_000.0) => problems
                    .push(format!(
                        "api.quotas.{name}: must be a rate in (0, 100000] calls per second, got {rate}"
                    )),
                Some(a) => {
                    quotas.rates.insert(a, *rate);
                }
            }
        }
        if let Some(dps) = api.datapoints_per_second {
            if (1000.0..=100_000_000.0).contains(&dps) {
                quotas.datapoints_per_second = dps;
            } else {
                problems.push(format!(
                    "api.datapoints_per_second: must be in [1000, 100000000], got {dps}"
                ));
            }
        }
        if problems.is_empty() {
            Ok(quotas)
        } else {
            Err(problems)
        }
    }

    /// Merges every entry over the defaults and checks the result, listing
    /// all problems rather than stopping at the first.
    fn resolve(file: PolicyFile) -> Result<Vec<StreamRule>, Vec<String>> {
        let mut problems = Vec::new();
        if file.version != POLICY_VERSION {
            problems.push(format!(
                "version: this build reads policy version {POLICY_VERSION}, got {}",
                file.version
            ));
        }
        if file.defaults.name.is_some() {
            problems.push("defaults.name: not allowed; name streams under `streams`".into());
        }
        let defaults = StreamPolicy::default().overridden_by(&file.defaults);
        let default_problems = defaults.problems();
        problems.extend(default_problems.iter().map(|p| format!("defaults: {p}")));
        if file.streams.is_empty() {
            problems.push("streams: lists no stream; add at least one `- name: STREAM`".into());
        }

        let mut rules: Vec<StreamRule> = Vec::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, entry) in file.streams.iter().enumerate() {
            let Some(name) = &entry.name else {
                problems.push(format!(
                    "streams[{i}].name: missing; every stream entry needs a name"
                ));
                continue;
            };
            let selector = match StreamSelector::parse(name) {
                Ok(s) => s,
                Err(why) => {
                    problems.push(format!("streams[{i}].name: {why}"));
                    continue;
                }
            };
            if let Some(j) = seen.get(name.as_str()) {
                problems.push(format!(
                    "streams[{i}].name: {} is already listed as streams[{j}]",
                    input::quote(name)
                ));
            } else {
                seen.insert(name, i);
            }
            let policy = defaults.overridden_by(entry);
            // Problems the defaults already have are reported once, above.
            for p in policy.problems() {
                if !default_problems.contains(&p) {
                    problems.push(format!("streams[{i}] ({name}): {p}"));
                }
            }
            rules.push(StreamRule {
                name: name.clone(),
                selector,
                policy,
            });
        }
        if problems.is_empty() {
            Ok(rules)
        } else {
            Err(problems)
        }
    }

    /// The entry that governs `stream`: an exact name wins over globs, and
    /// among globs the first in the file wins.
    pub fn rule_for(&self, stream: &str) -> Option<&StreamRule> {
        let exact = self.exact.get(stream).map(|&i| &self.streams[i]);
        exact.or_else(|| {
            self.globs
                .iter()
                .map(|&i| &self.streams[i])
                .find(|r| r.selector.matches(stream))
        })
    }
}

/// The JSON Schema of the policy file, for editor completion.
pub(crate) fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(PolicyFile)).expect("a schema is plain JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, FileError> {
        Policy::parse(text, Path::new("p.yaml"))
    }

    #[test]
    fn forecast_and_objective_are_off_until_written_and_layer_like_the_rest() {
        let policy = parse(
            "version: 1
defaults:
  forecast: { lead: 10m }
  objective: { max_throttled: 0.5% }
streams:
  - name: orders
  - name: clicks
    forecast: { enabled: false }
    objective: { max_throttled: 0.002, history: 1d }
  - name: ledger
    forecast: { seasons: [1d], horizon: 2h }
",
        )
        .unwrap();
        let of = |s: &str| policy.rule_for(s).unwrap().policy.clone();
        assert_eq!(StreamPolicy::default().forecast, None);
        assert_eq!(StreamPolicy::default().objective, None);
        assert_eq!(
            of("orders").forecast,
            Some(Forecast {
                seasons: vec![1440, 10_080],
                horizon_minutes: 60,
                lead_minutes: 10,
            })
        );
        assert_eq!(
            of("orders").objective,
            Some(Objective {
                max_throttled: 0.005,
                history_minutes: 3 * 1440,
            })
        );
        assert_eq!(of("clicks").forecast, None);
        assert_eq!(
            of("clicks").objective,
            Some(Objective {
                max_throttled: 0.002,
                history_minutes: 1440,
            })
        );
        let ledger = of("ledger").forecast.unwrap();
        assert_eq!(
            (ledger.seasons, ledger.horizon_minutes, ledger.lead_minutes),
            (vec![1440], 120, 10)
        );
    }

    #[test]
    fn the_consumer_guard_is_off_until_written_and_layers_like_the_rest() {
        let policy = parse(
            "version: 1
defaults:
  consumers: { max_iterator_age: 2m }
streams:
  - name: orders
  - name: clicks
    consumers: { enabled: false }
  - name: ledger
    consumers: { scale_up_on_lag: true, read_threshold: 0.6 }
",
        )
        .unwrap();
        let of = |s: &str| policy.rule_for(s).unwrap().policy.clone();
        assert_eq!(StreamPolicy::default().consumers, None);
        assert_eq!(
            of("orders").consumers,
            Some(Consumers {
                max_iterator_age: Duration::from_secs(120),
                scale_up_on_lag: false,
                read_threshold: 0.2,
            })
        );
        assert_eq!(of("clicks").consumers, None);
        assert_eq!(
            of("ledger").consumers,
            Some(Consumers {
                max_iterator_age: Duration::from_secs(120),
                scale_up_on_lag: true,
                read_threshold: 0.6,
            })
        );
        // The shard-level age is read where published, never required;
        // splitting on lag needs the read load.
        assert_eq!(
            of("orders").wanted_metrics(),
            [MetricName::IteratorAgeMilliseconds]
        );
        assert!(
            !of("orders")
                .needed_metrics()
                .contains(&MetricName::OutgoingBytes)
        );
        assert!(
            of("ledger")
                .needed_metrics()
                .contains(&MetricName::OutgoingBytes)
        );
        assert_eq!(of("clicks").wanted_metrics(), []);
    }

    #[test]
    fn impossible_forecasts_and_objectives_are_refused_naming_the_field() {
        let problem = |settings: &str| {
            let text = format!("version: 1\nstreams:\n  - name: s\n    {settings}\n");
            parse(&text).unwrap_err().to_string()
        };
        let cases = [
            (
                "forecast: { seasons: [15d] }",
                "forecast.seasons: 21600m is outside 1h..14d",
            ),
            ("forecast: { seasons: [] }", "forecast.seasons: is empty"),
            (
                "forecast: { horizon: 7h }",
                "forecast.horizon: 420m is longer than the longest horizon, 6h",
            ),
            (
                "forecast: { horizon: 30m, lead: 45m }",
                "forecast.lead: 45m is longer than forecast.horizon 30m",
            ),
            (
                "forecast: { seasons: [1h] }",
                "forecast.seasons: 60m is shorter than the minutes a pass reads (106m) plus forecast.horizon (60m)",
            ),
            (
                "objective: { history: 30m }",
                "objective.history: 30m is outside 1h..14d",
            ),
            (
                "objective: { max_throttled: 20% }",
                "max_throttled: must be in (0%, 10%], got 20%",
            ),
            (
                "objective: { max_throttled: 0.1 percent }",
                "is not a percentage; write it as \"0.1%\" or 0.001",
            ),
            ("forecast: { leed: 5m }", "unknown field `leed`"),
            (
                "consumers: { max_iterator_age: 8d }",
                "consumers.max_iterator_age: 8days is outside 1s..7d",
            ),
            (
                "consumers: { max_iterator_age: 0s }",
                "consumers.max_iterator_age: 0s is outside 1s..7d",
            ),
            (
                "consumers: { read_threshold: 1.5 }",
                "consumers.read_threshold",
            ),
            (
                "consumers: { max_iterator_age: soon }",
                "consumers.max_iterator_age",
            ),
            ("consumers: { max_age: 1m }", "unknown field `max_age`"),
        ];
        for (settings, expected) in cases {
            let message = problem(settings);
            assert!(
                message.contains(expected),
                "{settings}: expected {expected:?} in {message}"
            );
        }
    }

    #[test]
    fn an_entry_overrides_defaults_field_by_field_over_the_built_ins() {
        let policy = parse(
            "version: 1
defaults:
  max_shards: 100
  scale_up: { threshold: 0.75, window: 10m }
streams:
  - name: orders
  - name: clicks-*
    max_shards: 256
    scale_up: { threshold: 0.85 }
    read: { enabled: true }
",
        )
        .unwrap();
        let orders = &policy.rule_for("orders").unwrap().policy;
        let clicks = &policy.rule_for("clicks-eu").unwrap().policy;
        let builtin = StreamPolicy::default();
        assert_eq!(orders.max_shards, 100);
        assert_eq!(orders.scale_up.threshold, 0.75);
        assert_eq!(orders.scale_up.window_minutes, 10);
        assert_eq!(
            orders.scale_up.sustain_minutes,
            builtin.scale_up.sustain_minutes
        );
        assert_eq!(clicks.max_shards, 256);
        assert_eq!(clicks.scale_up.threshold, 0.85);
        assert_eq!(
            clicks.scale_up.window_minutes, 10,
            "the rest of scale_up still comes from defaults"
        );
        assert!(clicks.read.enabled);
        assert_eq!(clicks.read.threshold, builtin.read.threshold);
        assert_eq!(clicks.scale_down, builtin.scale_down);
    }

    #[test]
    fn exact_names_win_over_globs_and_the_first_glob_wins() {
        let policy = parse(
            "version: 1
streams:
  - name: 'clicks-*'
    max_shards: 10
  - name: 'clicks-e?'
    max_shards: 20
  - name: clicks-eu
    max_shards: 30
  - name: arn:aws:kinesis:eu-west-1:123456789012:stream/payments
    max_shards: 40
",
        )
        .unwrap();
        let max = |s| policy.rule_for(s).map(|r| r.policy.max_shards);
        assert_eq!(max("clicks-eu"), Some(30));
        assert_eq!(max("clicks-es"), Some(10));
        assert_eq!(max("payments"), Some(40));
        assert_eq!(max("orders"), None);
    }

    #[test]
    fn parse_errors_carry_the_field_path_and_position() {
        let err =
            parse("version: 1\nstreams:\n  - name: a\n    scale_down:\n      merged_ceiling: 0\n")
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.yaml:5:7: streams[0].scale_down.merged_ceiling: must be in (0, 1], got 0"
        );
    }

    #[test]
    fn all_whole_policy_problems_are_listed_at_once() {
        let err = parse(
            "version: 1
defaults:
  scale_up: { threshold: 0.5 }
streams:
  - name: a
    min_shards: 9
    max_shards: 3
  - name: b
    scale_down: { merged_ceiling: 0.5 }
",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("p.yaml: invalid policy:\n"), "{text}");
        assert!(
            text.contains("  - streams[0] (a): min_shards: 9 is above max_shards 3"),
            "{text}"
        );
        assert!(
            text.contains("  - streams[1] (b): scale_down.merged_ceiling: 0.5 must be below scale_up.threshold 0.5"),
            "{text}"
        );
        // The defaults' own problem (the built-in ceiling 0.7 >= threshold
        // 0.5) is reported once.
        assert_eq!(text.matches("merged_ceiling: 0.7").count(), 1, "{text}");
    }

    #[test]
    fn arn_names_expose_the_stream_name() {
        assert_eq!(
            arn_stream_name("arn:aws:kinesis:us-east-1:1:stream/orders"),
            Some("orders")
        );
        assert_eq!(arn_stream_name("orders"), None);
    }

    #[test]
    fn split_at_traffic_layers_and_bad_samples_are_refused_naming_the_field() {
        let policy = parse(
            "version: 1
defaults:
  scale_up: { split_at: traffic, sample: { duration: 10s } }
streams:
  - name: a
  - name: b
    scale_up: { sample: { max_shards: 2 }, hot_key_share: 0.6 }
  - name: c
    scale_up: { split_at: midpoint }
",
        )
        .unwrap();
        let a = &policy.rule_for("a").unwrap().policy.scale_up;
        let b = &policy.rule_for("b").unwrap().policy.scale_up;
        let c = &policy.rule_for("c").unwrap().policy.scale_up;
        assert_eq!(a.split_at, SplitAt::Traffic);
        assert_eq!(a.sample.duration, Duration::from_secs(10));
        assert_eq!((a.sample.max_shards, a.sample.min_records), (4, 100));
        assert_eq!(a.hot_key_share, 0.8);
        assert_eq!(b.split_at, SplitAt::Traffic);
        assert_eq!(
            (b.sample.duration, b.sample.max_shards),
            (Duration::from_secs(10), 2)
        );
        assert_eq!(b.hot_key_share, 0.6);
        assert_eq!(c.split_at, SplitAt::Midpoint);
        assert_eq!(StreamPolicy::default().scale_up.split_at, SplitAt::Midpoint);

        let problem = |settings: &str| {
            let text = format!("version: 1\nstreams:\n  - name: s\n    {settings}\n");
            parse(&text).unwrap_err().to_string()
        };
        for (settings, expected) in [
            (
                "scale_up: { split_at: sideways }",
                "streams[0].scale_up.split_at: unknown variant `sideways`, expected `midpoint` or `traffic`",
            ),
            (
                "scale_up: { sample: { duration: 2m } }",
                "scale_up.sample.duration: 2m is outside 1s..1m",
            ),
            (
                "scale_up: { sample: { max_shards: 0 } }",
                "scale_up.sample.max_shards: must be at least 1",
            ),
            (
                "scale_up: { sample: { min_records: 0 } }",
                "scale_up.sample.min_records: must be at least 1",
            ),
            (
                "scale_up: { hot_key_share: 1.5 }",
                "streams[0].scale_up.hot_key_share: must be in (0, 1], got 1.5",
            ),
            ("scale_up: { sample: { rate: 5 } }", "unknown field `rate`"),
        ] {
            let message = problem(settings);
            assert!(
                message.contains(expected),
                "{settings}: expected {expected:?} in {message}"
            );
        }
    }
}
