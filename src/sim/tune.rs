//! Tuning: each strategy family at its best on one stream's traffic.
//!
//! A family (the planner, uniform scaling, a static size, On-Demand) is
//! judged at the setting that suits the stream, not at its defaults. The
//! settings are searched on the first part of the traffic (a coarse grid,
//! then one step around the planner's best in every direction), each
//! family's best is checked on the rest (the validation part: a setting
//! that only fits the first part's noise shows there), and on the whole.
//!
//! This module holds the pure parts: the candidates, the split of a
//! scenario into parts, the frontier and the choice; `sim::search` runs
//! the simulations.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::scenario::{Scenario, UniformSettings};
use super::strategy::{Strategy, Summary};
use super::traffic::Traffic;
use crate::policy::{Economic, Forecast, ShardLevel, SplitAt, StreamPolicy};

/// A strategy family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    Planner,
    Uniform,
    Static,
    OnDemand,
    OnDemandAdvantage,
}

impl Family {
    /// The family `strategy` belongs to.
    pub fn of(strategy: Strategy) -> Family {
        match strategy {
            Strategy::Planner => Family::Planner,
            Strategy::Uniform => Family::Uniform,
            Strategy::Static(_) => Family::Static,
            Strategy::OnDemand => Family::OnDemand,
            Strategy::Advantage => Family::OnDemandAdvantage,
        }
    }

    pub const ALL: [Family; 5] = [
        Family::Planner,
        Family::Uniform,
        Family::Static,
        Family::OnDemand,
        Family::OnDemandAdvantage,
    ];

    /// Whether AWS manages the capacity.
    pub fn is_on_demand(self) -> bool {
        matches!(self, Family::OnDemand | Family::OnDemandAdvantage)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Planner => "planner",
            Family::Uniform => "uniform",
            Family::Static => "static",
            Family::OnDemand => "on-demand",
            Family::OnDemandAdvantage => "on-demand-advantage",
        })
    }
}

/// The planner's settings a tune searches; everything else is the
/// built-in default.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlannerSettings {
    pub threshold: f64,
    pub sustain_minutes: u32,
    pub scale_down_window_minutes: u32,
    pub economic: bool,
    pub forecast: bool,
    pub split_at_traffic: bool,
    /// `metrics.shard_level: on_demand`.
    pub metrics_on_demand: bool,
    /// The scenario's shard limit: the built-in 64 would cap a larger
    /// stream, and tuning would blame the planner for it.
    pub max_shards: u32,
}

impl PlannerSettings {
    /// The scale-down numbers that go with a scale-up threshold: the
    /// built-in ones, lowered with a threshold of 0.8 or less so that a
    /// merged pair stays under it.
    fn scale_down(&self) -> (f64, f64) {
        let ceiling = (self.threshold - 0.1).min(0.7);
        let cold = (ceiling * 0.65).min(0.45);
        (round2(cold), round2(ceiling))
    }

    /// The policy these settings make.
    pub fn policy(&self) -> StreamPolicy {
        let mut p = StreamPolicy {
            max_shards: self.max_shards,
            ..StreamPolicy::default()
        };
        let (cold, ceiling) = self.scale_down();
        p.scale_up.threshold = self.threshold;
        p.scale_up.sustain_minutes = self.sustain_minutes;
        p.scale_down.threshold = cold;
        p.scale_down.merged_ceiling = ceiling;
        p.scale_down.window_minutes = self.scale_down_window_minutes;
        p.scale_down.economic = self.economic.then(Economic::default);
        p.forecast = self.forecast.then(Forecast::default);
        if self.split_at_traffic {
            p.scale_up.split_at = SplitAt::Traffic;
        }
        if self.metrics_on_demand {
            p.shard_level = ShardLevel::OnDemand;
        }
        p
    }

    /// The policy file these settings make, for `stream`, with `comment`
    /// (lines without the `#`) at the top.
    pub fn policy_yaml(&self, stream: &str, comment: &[String]) -> String {
        let (cold, ceiling) = self.scale_down();
        let mut out = String::new();
        for line in comment {
            out.push_str(&format!("# {line}\n"));
        }
        out.push_str("version: 1\ndefaults:\n");
        out.push_str(&format!("  max_shards: {}\n", self.max_shards));
        if self.metrics_on_demand {
            out.push_str("  metrics: { shard_level: on_demand }\n");
        }
        out.push_str("  scale_up:\n");
        out.push_str(&format!("    threshold: {}\n", self.threshold));
        out.push_str(&format!("    sustain: {}m\n", self.sustain_minutes));
        if self.split_at_traffic {
            out.push_str("    split_at: traffic\n");
        }
        out.push_str("  scale_down:\n");
        out.push_str(&format!("    threshold: {cold}\n"));
        out.push_str(&format!("    merged_ceiling: {ceiling}\n"));
        out.push_str(&format!(
            "    window: {}m\n",
            self.scale_down_window_minutes
        ));
        if self.economic {
            out.push_str("    economic: { enabled: true }\n");
        }
        if self.forecast {
            out.push_str("  forecast: { enabled: true }\n");
        }
        out.push_str(&format!(
            "streams:\n  - name: {}\n",
            serde_json::to_string(stream).expect("a string serializes")
        ));
        out
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl fmt::Display for PlannerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "threshold {}, sustain {}m, scale-down after {}m",
            self.threshold, self.sustain_minutes, self.scale_down_window_minutes
        )?;
        if self.economic {
            f.write_str(", economic")?;
        }
        if self.forecast {
            f.write_str(", forecast")?;
        }
        if self.split_at_traffic {
            f.write_str(", split at traffic")?;
        }
        if self.metrics_on_demand {
            f.write_str(", shard metrics on demand")?;
        }
        Ok(())
    }
}

/// One setting of one family.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "family", rename_all = "kebab-case")]
pub enum Candidate {
    Planner(PlannerSettings),
    Uniform {
        scale_up_threshold: f64,
        scale_down_threshold: f64,
    },
    Static {
        shards: u32,
    },
    OnDemand,
    OnDemandAdvantage,
}

impl Candidate {
    pub fn family(&self) -> Family {
        Family::of(self.strategy())
    }

    pub fn strategy(&self) -> Strategy {
        match self {
            Candidate::Planner(_) => Strategy::Planner,
            Candidate::Uniform { .. } => Strategy::Uniform,
            Candidate::Static { shards } => Strategy::Static(*shards),
            Candidate::OnDemand => Strategy::OnDemand,
            Candidate::OnDemandAdvantage => Strategy::Advantage,
        }
    }

    /// The policy the planner runs with (the built-in one for the others,
    /// which do not read it).
    pub fn policy(&self) -> StreamPolicy {
        match self {
            Candidate::Planner(p) => p.policy(),
            _ => StreamPolicy::default(),
        }
    }

    /// `scenario` with this candidate's uniform settings.
    pub fn scenario(&self, scenario: &Scenario) -> Scenario {
        let mut s = scenario.clone();
        if let Candidate::Uniform {
            scale_up_threshold,
            scale_down_threshold,
        } = self
        {
            s.uniform = UniformSettings {
                scale_up_threshold: *scale_up_threshold,
                scale_down_threshold: *scale_down_threshold,
                ..scenario.uniform.clone()
            };
        }
        s
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Candidate::Planner(p) => p.fmt(f),
            Candidate::Uniform {
                scale_up_threshold,
                scale_down_threshold,
            } => write!(
                f,
                "up above {scale_up_threshold}, down below {scale_down_threshold}"
            ),
            Candidate::Static { shards: 1 } => f.write_str("1 shard"),
            Candidate::Static { shards } => write!(f, "{shards} shards"),
            Candidate::OnDemand => f.write_str("On-Demand"),
            Candidate::OnDemandAdvantage => f.write_str("On-Demand Advantage"),
        }
    }
}

/// The planner's coarse grid.
const THRESHOLDS: [f64; 4] = [0.6, 0.7, 0.8, 0.9];
const SCALE_DOWN_WINDOWS: [u32; 3] = [30, 90, 180];

/// The first round: the planner on a coarse grid, uniform on its two
/// thresholds, static sizes for percentiles of the offered load, and
/// On-Demand.
pub fn coarse(traffic: &Traffic, shard_limit: u32) -> Vec<Candidate> {
    let mut out = Vec::new();
    for threshold in THRESHOLDS {
        for window in SCALE_DOWN_WINDOWS {
            out.push(Candidate::Planner(PlannerSettings {
                threshold,
                sustain_minutes: 2,
                scale_down_window_minutes: window,
                economic: false,
                forecast: false,
                split_at_traffic: false,
                metrics_on_demand: false,
                max_shards: shard_limit.clamp(1, crate::model::MAX_SHARDS_PER_STREAM),
            }));
        }
    }
    for up in [0.4, 0.5, 0.6, 0.7, 0.8] {
        for down in [0.2, 0.3] {
            out.push(Candidate::Uniform {
                scale_up_threshold: up,
                scale_down_threshold: down,
            });
        }
    }
    for shards in static_sizes(traffic, shard_limit) {
        out.push(Candidate::Static { shards });
    }
    out.push(Candidate::OnDemand);
    out.push(Candidate::OnDemandAdvantage);
    out
}

/// Static sizes: enough shards for the 50th, 90th, 99th and 99.9th
/// percentile of the offered load, for its peak, and for 1.5 and 2 times
/// its peak (per-second bursts and hot keys throttle below it).
pub fn static_sizes(traffic: &Traffic, shard_limit: u32) -> Vec<u32> {
    let at = |per_mille: usize| need_at(traffic, per_mille);
    let peak = at(1000);
    let mut sizes: Vec<u32> = [500, 900, 990, 999]
        .into_iter()
        .map(at)
        .chain([peak, 1.5 * peak, 2.0 * peak])
        .map(|need| (need.ceil() as u32).clamp(1, shard_limit.max(1)))
        .collect();
    sizes.dedup();
    sizes
}

/// The shards' worth the offered load needs at its `per_mille`th
/// per-mille minute (1000: its peak), the larger of bytes and records.
pub fn need_at(traffic: &Traffic, per_mille: usize) -> f64 {
    let mut needs: Vec<f64> = (0..traffic.minutes())
        .map(|m| {
            let t = traffic.total(m);
            (t.bytes / crate::model::BYTES_PER_SHARD_MINUTE)
                .max(t.records / crate::model::RECORDS_PER_SHARD_MINUTE)
        })
        .collect();
    if needs.is_empty() {
        return 0.0;
    }
    needs.sort_by(f64::total_cmp);
    needs[(needs.len() - 1) * per_mille.min(1000) / 1000]
}

/// The second round: one step from the planner's best in every
/// direction the grid did not try.
pub fn refine(best: &PlannerSettings, keys_skewed: bool) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut push = |f: &dyn Fn(&mut PlannerSettings)| {
        let mut s = best.clone();
        f(&mut s);
        if s != *best {
            out.push(Candidate::Planner(s));
        }
    };
    for delta in [-0.05, 0.05] {
        push(&|s| s.threshold = round2((s.threshold + delta).clamp(0.5, 0.95)));
    }
    for sustain in [1, 3] {
        push(&|s| s.sustain_minutes = sustain);
    }
    push(&|s| s.economic = !s.economic);
    push(&|s| s.forecast = !s.forecast);
    push(&|s| s.metrics_on_demand = !s.metrics_on_demand);
    if keys_skewed {
        push(&|s| s.split_at_traffic = !s.split_at_traffic);
    }
    out
}

/// What a tune asks of a setting.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Objective {
    /// The share of writes that may be throttled.
    pub max_throttled: f64,
    /// New shards a day at most, if asked.
    pub max_new_shards_per_day: Option<f64>,
}

impl Objective {
    pub fn met_by(&self, s: &Summary) -> bool {
        s.throttled_fraction <= self.max_throttled
            && self
                .max_new_shards_per_day
                .is_none_or(|max| s.new_shards_per_day <= max)
    }
}

/// The US dollars a day a run cost.
pub fn cost_per_day(s: &Summary) -> f64 {
    if s.simulated_minutes == 0 {
        0.0
    } else {
        s.cost_usd / (s.simulated_minutes as f64 / 1440.0)
    }
}

/// The indices of `points` (cost, throttled share) that no other beats on
/// both (at least as good on each, better on one), cheapest first; of
/// equal points, the first.
pub fn frontier(points: &[(f64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        points[a]
            .0
            .total_cmp(&points[b].0)
            .then(points[a].1.total_cmp(&points[b].1))
            .then(a.cmp(&b))
    });
    let mut out = Vec::new();
    let mut least_throttled = f64::INFINITY;
    for i in order {
        // Sorted by cost: a point is on the frontier when it throttles
        // strictly less than every cheaper one.
        if points[i].1 < least_throttled {
            least_throttled = points[i].1;
            out.push(i);
        }
    }
    out
}

/// The best of `summaries` for `objective`: the cheapest (a day) that
/// meets it, else the least throttled; `true` when it meets it.
pub fn best(summaries: &[&Summary], objective: &Objective) -> Option<(usize, bool)> {
    let meeting = summaries
        .iter()
        .enumerate()
        .filter(|(_, s)| objective.met_by(s))
        .min_by(|(a, x), (b, y)| cost_per_day(x).total_cmp(&cost_per_day(y)).then(a.cmp(b)));
    if let Some((i, _)) = meeting {
        return Some((i, true));
    }
    summaries
        .iter()
        .enumerate()
        .min_by(|(a, x), (b, y)| {
            x.throttled_fraction
                .total_cmp(&y.throttled_fraction)
                .then(cost_per_day(x).total_cmp(&cost_per_day(y)))
                .then(a.cmp(b))
        })
        .map(|(i, _)| (i, false))
}

/// The shortest part a tune accepts, tuning or validating.
pub const MIN_PART_MINUTES: usize = 1440;

/// `scenario` (of `minutes` minutes) as its tuning part (the first
/// `1 - validate` of it) and its validation part (the rest), hot keys
/// moved with their part.
pub fn split(
    scenario: &Scenario,
    minutes: usize,
    validate: f64,
) -> Result<(Scenario, Scenario), String> {
    let validating = (minutes as f64 * validate).round() as usize;
    let tuning = minutes.saturating_sub(validating);
    if validating < MIN_PART_MINUTES || tuning < MIN_PART_MINUTES {
        return Err(format!(
            "--validate-pct {:.0}: the scenario's {} minutes leave {tuning} to tune on and {validating} to validate on; each part needs at least a day ({MIN_PART_MINUTES} minutes): use a longer trace or another share",
            validate * 100.0,
            minutes
        ));
    }
    let minute = |m: usize| Duration::from_secs(m as u64 * 60);
    let mut first = scenario.clone();
    first.duration = Some(minute(tuning));
    let mut rest = scenario.clone();
    rest.trace_offset = scenario.trace_offset + minute(tuning);
    rest.duration = Some(minute(validating));
    let shift = minute(tuning);
    rest.hot_keys = scenario
        .hot_keys
        .iter()
        .filter(|h| h.end > shift)
        .map(|h| super::scenario::HotKey {
            start: h.start.saturating_sub(shift),
            end: h.end - shift,
            ..h.clone()
        })
        .collect();
    Ok((first, rest))
}

/// Whether two results disagree: a relative difference over `tolerance`
/// (0.2: 20%), with differences under `floor` in absolute terms ignored.
pub fn disagree(a: f64, b: f64, tolerance: f64, floor: f64) -> bool {
    let diff = (a - b).abs();
    diff > floor && diff > tolerance * a.abs().max(b.abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use std::path::Path;

    #[test]
    fn the_frontier_keeps_what_no_other_beats_on_cost_and_throttling() {
        let points = [
            (10.0, 0.010), // 0: beaten by 3 (cheaper, throttles less)
            (5.0, 0.050),  // 1: cheapest
            (20.0, 0.0),   // 2: the only one that never throttles
            (8.0, 0.005),  // 3
            (8.0, 0.005),  // 4: the same as 3: the first is kept
            (12.0, 0.005), // 5: dearer than 3 for the same
        ];
        assert_eq!(frontier(&points), [1, 3, 2]);
        assert_eq!(frontier(&[]), Vec::<usize>::new());
    }

    fn summary(cost: f64, throttled: f64, new_shards: f64) -> Summary {
        Summary {
            cost_usd: cost,
            throttled_fraction: throttled,
            new_shards_per_day: new_shards,
            simulated_minutes: 2 * 1440,
            ..Summary::default()
        }
    }

    #[test]
    fn the_best_is_the_cheapest_within_the_objective_else_the_least_throttled() {
        let (a, b, c) = (
            summary(10.0, 0.0005, 20.0),
            summary(6.0, 0.002, 4.0),
            summary(8.0, 0.0009, 4.0),
        );
        let all = [&a, &b, &c];
        let mut objective = Objective {
            max_throttled: 0.001,
            max_new_shards_per_day: None,
        };
        assert_eq!(best(&all, &objective), Some((2, true)));
        assert_eq!(cost_per_day(&c), 4.0);
        objective.max_new_shards_per_day = Some(5.0);
        assert_eq!(best(&all, &objective), Some((2, true)));
        objective.max_throttled = 0.0001;
        assert_eq!(best(&all, &objective), Some((0, false)));
    }

    #[test]
    fn a_scenario_splits_into_a_tuning_and_a_validation_part_with_its_hot_keys() {
        let text = "stream: s
trace: t.csv
peak: 1MiB/s
record_size: 1KiB
initial_shards: 1
hot_keys:
  - { key: a, start: 1d, end: 1d6h, share: 0.2 }
  - { key: b, start: 8d, end: 9d, share: 0.3 }
";
        let scenario = Scenario::parse(text, Path::new("s.yaml")).unwrap();
        let (first, rest) = split(&scenario, 10 * 1440, 0.3).unwrap();
        assert_eq!(first.duration, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(first.trace_offset, Duration::ZERO);
        assert_eq!(first.hot_keys.len(), 2);
        assert_eq!(rest.trace_offset, Duration::from_secs(7 * 86_400));
        assert_eq!(rest.duration, Some(Duration::from_secs(3 * 86_400)));
        assert_eq!(rest.hot_keys.len(), 1);
        assert_eq!(rest.hot_keys[0].key, "b");
        assert_eq!(rest.hot_keys[0].start, Duration::from_secs(86_400));
        assert_eq!(rest.hot_keys[0].end, Duration::from_secs(2 * 86_400));
        // A part shorter than a day is refused, naming the flag.
        let err = split(&scenario, 2 * 1440, 0.3).unwrap_err();
        assert!(err.starts_with("--validate-pct 30: the scenario's 2880 minutes leave 2016 to tune on and 864 to validate on"), "{err}");
    }

    #[test]
    fn a_planner_setting_writes_a_policy_that_validates_to_the_same_policy() {
        for threshold in THRESHOLDS {
            let settings = PlannerSettings {
                threshold,
                sustain_minutes: 3,
                scale_down_window_minutes: 180,
                economic: true,
                forecast: true,
                split_at_traffic: true,
                metrics_on_demand: true,
                max_shards: 500,
            };
            let text = settings.policy_yaml("orders", &["tuned on a test".into()]);
            assert!(
                text.starts_with("# tuned on a test\nversion: 1\n"),
                "{text}"
            );
            let policy = Policy::parse(&text, Path::new("tuned.yaml"))
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            let rule = policy.rule_for("orders").expect("names the stream");
            assert_eq!(rule.policy, settings.policy(), "{text}");
        }
    }

    #[test]
    fn refining_steps_once_in_every_direction_from_the_best() {
        let best = PlannerSettings {
            threshold: 0.9,
            sustain_minutes: 2,
            scale_down_window_minutes: 90,
            economic: false,
            forecast: false,
            split_at_traffic: false,
            metrics_on_demand: false,
            max_shards: 500,
        };
        let labels: Vec<String> = refine(&best, false).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            labels,
            [
                "threshold 0.85, sustain 2m, scale-down after 90m",
                "threshold 0.95, sustain 2m, scale-down after 90m",
                "threshold 0.9, sustain 1m, scale-down after 90m",
                "threshold 0.9, sustain 3m, scale-down after 90m",
                "threshold 0.9, sustain 2m, scale-down after 90m, economic",
                "threshold 0.9, sustain 2m, scale-down after 90m, forecast",
                "threshold 0.9, sustain 2m, scale-down after 90m, shard metrics on demand",
            ]
        );
        assert_eq!(refine(&best, true).len(), 8);
    }
}
