//! A tune: every strategy family searched on the first part of a
//! scenario's traffic, each family's best checked on the held-out rest and
//! on the whole, the frontiers, and the recommendation ([`search`]). The
//! candidates, parts and frontiers it draws on are in [`super::tune`]; the
//! CLI's `tune` and `simulate` render what this returns. Nothing here
//! prints.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::Error;
use crate::policy::StreamPolicy;
use crate::sim::cost::Prices;
use crate::sim::oracle::Oracles;
use crate::sim::recommend::adopt;
use crate::sim::scenario::Scenario;
use crate::sim::strategy::{self, Summary};
use crate::sim::traffic::Traffic;
use crate::sim::tune::{self, Candidate, Family, Objective};

/// What a search tells whoever watches it (a terminal's progress bar).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// This many more candidates are queued.
    Queued(u64),
    /// One candidate was simulated.
    Done,
}

/// Results that differ more than this between the tuning and the
/// validation part (relative) are flagged.
const DISAGREEMENT: f64 = 0.2;

/// Tunes every family on `scenario`: the search on its first part, each
/// family's best checked on the held-out `validate` share and on the
/// whole. Blocks: run it off the async runtime.
pub fn search(
    scenario: &Scenario,
    trace: &crate::sim::traffic::Trace,
    objective: &Objective,
    validate: f64,
    watch: &(dyn Fn(Step) + Sync),
) -> Result<Report, Error> {
    let objective = *objective;
    let traffic = |s: &Scenario| {
        Traffic::new(s, trace)
            .map_err(|message| Error::Usage(format!("scenario {}: {message}", s.name)))
    };
    let whole = traffic(scenario)?;
    let (first, rest) = tune::split(scenario, whole.minutes(), validate).map_err(Error::Usage)?;
    let part = |s: Scenario| traffic(&s).map(|t| Part::new(s, t));
    let tuning = &part(first)?;
    let validation = &part(rest)?;
    let all = &Part::new(scenario.clone(), whole);
    let keys_skewed = !matches!(scenario.keys, crate::sim::scenario::KeyModel::Uniform)
        || !scenario.hot_keys.is_empty();
    let mut tried: Vec<(Candidate, Summary)> = Vec::new();
    let coarse = tune::coarse(&tuning.traffic, scenario.shard_limit);
    tried.extend(run_all(tuning, coarse, watch));
    // One step around the planner's best.
    if let Some(best) = best_of(&tried, Family::Planner, &objective)
        && let Candidate::Planner(settings) = &tried[best].0
    {
        let more: Vec<Candidate> = tune::refine(settings, keys_skewed)
            .into_iter()
            .filter(|c| !tried.iter().any(|(t, _)| t == c))
            .collect();
        tried.extend(run_all(tuning, more, watch));
    }
    let chosen: Vec<(Family, usize)> = Family::ALL
        .into_iter()
        .filter_map(|f| best_of(&tried, f, &objective).map(|i| (f, i)))
        .collect();
    let winners: Vec<Candidate> = chosen.iter().map(|(_, i)| tried[*i].0.clone()).collect();
    let checked: Vec<(Summary, Summary)> = run_all(validation, winners.clone(), watch)
        .into_iter()
        .zip(run_all(all, winners, watch))
        .map(|((_, v), (_, w))| (v, w))
        .collect();
    Ok(Report::new(
        scenario,
        [tuning, validation, all],
        &objective,
        &tried,
        &chosen,
        &checked,
    ))
}

/// A part of the scenario, ready to simulate.
struct Part {
    scenario: Scenario,
    traffic: Traffic,
    oracles: Oracles,
}

impl Part {
    fn new(scenario: Scenario, traffic: Traffic) -> Part {
        let oracles = Oracles::compute(&traffic);
        Part {
            scenario,
            traffic,
            oracles,
        }
    }

    fn days(&self) -> f64 {
        self.traffic.minutes() as f64 / 1440.0
    }
}

/// The best of `family` among `tried`, for `objective`.
fn best_of(tried: &[(Candidate, Summary)], family: Family, objective: &Objective) -> Option<usize> {
    let mine: Vec<usize> = (0..tried.len())
        .filter(|&i| tried[i].0.family() == family)
        .collect();
    let summaries: Vec<&Summary> = mine.iter().map(|&i| &tried[i].1).collect();
    tune::best(&summaries, objective).map(|(k, _)| mine[k])
}

/// Simulates every candidate on `part`, as many at once as there are
/// cores, in order.
fn run_all(
    part: &Part,
    candidates: Vec<Candidate>,
    watch: &(dyn Fn(Step) + Sync),
) -> Vec<(Candidate, Summary)> {
    watch(Step::Queued(candidates.len() as u64));
    let jobs: Vec<(Scenario, StreamPolicy)> = candidates
        .iter()
        .map(|c| (c.scenario(&part.scenario), c.policy()))
        .collect();
    let results: Vec<Mutex<Option<Summary>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(jobs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some((scenario, policy)) = jobs.get(k) else {
                        break;
                    };
                    let outcome = strategy::simulate(
                        scenario,
                        &part.traffic,
                        &part.oracles,
                        policy,
                        candidates[k].strategy(),
                        &|_| {},
                    );
                    *results[k].lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome.summary);
                    watch(Step::Done);
                }
            });
        }
    });
    candidates
        .into_iter()
        .zip(results)
        .map(|(c, r)| {
            let summary = r
                .into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every job ran");
            (c, summary)
        })
        .collect()
}

/// One run, as the report shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Measured {
    pub cost_usd: f64,
    pub cost_usd_per_day: f64,
    pub throttled_fraction: f64,
    pub new_shards_per_day: f64,
    pub shard_hours: f64,
    pub meets_objective: bool,
}

impl Measured {
    fn of(s: &Summary, objective: &Objective) -> Measured {
        Measured {
            cost_usd: s.cost_usd,
            cost_usd_per_day: tune::cost_per_day(s),
            throttled_fraction: s.throttled_fraction,
            new_shards_per_day: s.new_shards_per_day,
            shard_hours: s.shard_hours,
            meets_objective: objective.met_by(s),
        }
    }

    fn cells(&self) -> String {
        format!(
            "${:.2} a day, {:.3}% throttled, {:.1} new shards a day",
            self.cost_usd_per_day,
            self.throttled_fraction * 100.0,
            self.new_shards_per_day
        )
    }
}

/// A family at its best.
#[derive(Debug, Serialize)]
pub struct FamilyResult {
    pub family: Family,
    pub best: Candidate,
    pub tuning: Measured,
    pub validation: Measured,
    pub whole: Measured,
    /// Where the validation part's cost or throttling differs from the
    /// tuning part's by more than 20%.
    pub disagreement: Option<String>,
    /// The settings no other of the family beats on both cost and
    /// throttling, on the tuning part, cheapest first.
    pub frontier: Vec<(Candidate, Measured)>,
    pub tried: usize,
}

impl FamilyResult {
    fn comment(&self, scenario: &Scenario, objective: &Objective) -> Vec<String> {
        vec![
            format!(
                "Tuned by `kinesis-autoscaler tune` on scenario {} ({}), for at most {:.3}% throttled{}.",
                scenario.name,
                scenario.trace.display(),
                objective.max_throttled * 100.0,
                objective
                    .max_new_shards_per_day
                    .map_or(String::new(), |n| format!(" and {n} new shards a day"))
            ),
            format!("Best of {} planner settings: {}.", self.tried, self.best),
            format!("Tuning part: {}.", self.tuning.cells()),
            format!("Validation part: {}.", self.validation.cells()),
            format!(
                "Whole trace: ${:.2}, {:.3}% throttled, {:.1} new shards a day.",
                self.whole.cost_usd,
                self.whole.throttled_fraction * 100.0,
                self.whole.new_shards_per_day
            ),
        ]
    }
}

/// What a tune found.
#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub objective: Objective,
    pub tuning_days: f64,
    pub validation_days: f64,
    pub whole_days: f64,
    pub candidates_simulated: usize,
    pub families: Vec<FamilyResult>,
    pub recommendation: String,
    /// What was read to build the scenario, and what was assumed (none
    /// for a scenario file).
    pub notes: Vec<String>,
}

impl Report {
    fn new(
        scenario: &Scenario,
        [tuning, validation, all]: [&Part; 3],
        objective: &Objective,
        tried: &[(Candidate, Summary)],
        chosen: &[(Family, usize)],
        checked: &[(Summary, Summary)],
    ) -> Report {
        let families: Vec<FamilyResult> = chosen
            .iter()
            .zip(checked)
            .map(|((family, i), (v, w))| {
                let mine: Vec<&(Candidate, Summary)> = tried
                    .iter()
                    .filter(|(c, _)| c.family() == *family)
                    .collect();
                let points: Vec<(f64, f64)> = mine
                    .iter()
                    .map(|(_, s)| (tune::cost_per_day(s), s.throttled_fraction))
                    .collect();
                let frontier = tune::frontier(&points)
                    .into_iter()
                    .map(|k| (mine[k].0.clone(), Measured::of(&mine[k].1, objective)))
                    .collect();
                let tuning = Measured::of(&tried[*i].1, objective);
                let validation = Measured::of(v, objective);
                let mut differs = Vec::new();
                if tune::disagree(
                    tuning.cost_usd_per_day,
                    validation.cost_usd_per_day,
                    DISAGREEMENT,
                    0.01,
                ) {
                    differs.push(format!(
                        "cost ${:.2} a day on the tuning part, ${:.2} on the validation part",
                        tuning.cost_usd_per_day, validation.cost_usd_per_day
                    ));
                }
                if tune::disagree(
                    tuning.throttled_fraction,
                    validation.throttled_fraction,
                    DISAGREEMENT,
                    0.0001,
                ) {
                    differs.push(format!(
                        "throttled {:.3}% on the tuning part, {:.3}% on the validation part",
                        tuning.throttled_fraction * 100.0,
                        validation.throttled_fraction * 100.0
                    ));
                }
                FamilyResult {
                    family: *family,
                    best: tried[*i].0.clone(),
                    tuning,
                    validation,
                    whole: Measured::of(w, objective),
                    disagreement: (!differs.is_empty()).then(|| differs.join("; ")),
                    frontier,
                    tried: mine.len(),
                }
            })
            .collect();
        let recommendation = recommend(&families, objective, &scenario.prices);
        Report {
            scenario: scenario.name.clone(),
            objective: *objective,
            tuning_days: tuning.days(),
            validation_days: validation.days(),
            candidates_simulated: tried.len() + 2 * checked.len(),
            families,
            recommendation,
            whole_days: all.days(),
            notes: Vec::new(),
        }
    }

    /// The recommendation, and the planner's policy file when the
    /// planner is the one recommended.
    pub fn tuned(&self, scenario: &Scenario) -> Tuned {
        let planner_recommended = self.recommendation.starts_with("planner ");
        Tuned {
            recommendation: self.recommendation.clone(),
            candidates_simulated: self.candidates_simulated,
            policy: self
                .planner_policy(scenario)
                .filter(|_| planner_recommended),
        }
    }

    /// The planner's best setting as a policy file for `scenario`'s
    /// stream, with what it was tuned on and measured in its comment.
    pub fn planner_policy(&self, scenario: &Scenario) -> Option<String> {
        let planner = self.families.iter().find(|f| f.family == Family::Planner)?;
        let Candidate::Planner(settings) = &planner.best else {
            return None;
        };
        Some(settings.policy_yaml(
            &scenario.stream,
            &planner.comment(scenario, &self.objective),
        ))
    }

    /// The report as the CLI's table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "scenario {}: tuned on the first {:.1} days, validated on the last {:.1}; objective at most {:.3}% throttled{}; {} simulations\n\n",
            self.scenario,
            self.tuning_days,
            self.validation_days,
            self.objective.max_throttled * 100.0,
            self.objective
                .max_new_shards_per_day
                .map_or(String::new(), |n| format!(", {n} new shards a day")),
            self.candidates_simulated
        );
        for f in &self.families {
            let standing = if f.tuning.meets_objective {
                format!("the cheapest of {} tried that meets the objective", f.tried)
            } else {
                format!(
                    "none of {} tried meets the objective: the least throttled",
                    f.tried
                )
            };
            out.push_str(&format!(
                "{}: {} ({standing})\n  tuning part:     {}\n  validation part: {}\n  whole trace:     ${:.2}, {:.3}% throttled, {:.1} new shards a day\n",
                f.family,
                f.best,
                f.tuning.cells(),
                f.validation.cells(),
                f.whole.cost_usd,
                f.whole.throttled_fraction * 100.0,
                f.whole.new_shards_per_day
            ));
            if let Some(d) = &f.disagreement {
                out.push_str(&format!("  warning: the parts disagree: {d}\n"));
            }
            if f.frontier.len() > 1 {
                out.push_str("  frontier (tuning part, cheapest first):\n");
                for (c, m) in &f.frontier {
                    out.push_str(&format!("    {}: {}\n", c, m.cells()));
                }
            }
        }
        out.push_str(&format!("\nrecommendation: {}\n", self.recommendation));
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }
}

/// What a suite or `simulate --stream` says after tuning every family.
#[derive(Clone, Debug, Serialize)]
pub struct Tuned {
    pub recommendation: String,
    pub candidates_simulated: usize,
    /// The planner's tuned policy file, when the planner is recommended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

impl Tuned {
    /// Lines for a table: the recommendation, then the policy, indented.
    pub fn lines(&self, label: &str) -> String {
        let mut out = format!(
            "{label}recommendation after tuning ({} simulations): {}\n",
            self.candidates_simulated, self.recommendation
        );
        if let Some(policy) = &self.policy {
            for line in policy.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        out
    }
}

/// The cheapest family on the whole trace that meets the objective there,
/// or what to do when none does.
fn recommend(families: &[FamilyResult], objective: &Objective, prices: &Prices) -> String {
    let meeting = families
        .iter()
        .filter(|f| f.whole.meets_objective)
        .min_by(|a, b| a.whole.cost_usd.total_cmp(&b.whole.cost_usd));
    let provisioned_meets = families
        .iter()
        .any(|g| !g.family.is_on_demand() && g.whole.meets_objective);
    if let Some(f) = meeting
        && f.family.is_on_demand()
        && !provisioned_meets
        && let Some(best) = families
            .iter()
            .filter(|g| !g.family.is_on_demand())
            .min_by(|a, b| {
                a.whole
                    .throttled_fraction
                    .total_cmp(&b.whole.throttled_fraction)
            })
    {
        return format!(
            "{}: ${:.2} on the whole trace, {:.3}% throttled; no provisioned setting meets at most {:.3}% (the least throttled is {} ({}) at {:.3}% for ${:.2}): bursts faster than any reactive controller, or a partition key over a shard's worth, need On-Demand or spreading the key (a random suffix, or ExplicitHashKey); {}",
            f.family,
            f.whole.cost_usd,
            f.whole.throttled_fraction * 100.0,
            objective.max_throttled * 100.0,
            best.family,
            best.best,
            best.whole.throttled_fraction * 100.0,
            best.whole.cost_usd,
            adopt(f.family, prices)
        );
    }
    if let Some(f) = meeting {
        let how = match f.family {
            Family::Planner => {
                "run kinesis-autoscaler with this policy (`tune --save-policy FILE` writes it)"
                    .into()
            }
            Family::Uniform => {
                "scale the whole stream with UpdateShardCount at these thresholds".into()
            }
            Family::Static => "keep this many shards".into(),
            Family::OnDemand | Family::OnDemandAdvantage => adopt(f.family, prices),
        };
        return format!(
            "{} ({}): ${:.2} on the whole trace, {:.3}% throttled, the cheapest within the objective; {how}",
            f.family,
            f.best,
            f.whole.cost_usd,
            f.whole.throttled_fraction * 100.0
        );
    }
    let least = families.iter().min_by(|a, b| {
        a.whole
            .throttled_fraction
            .total_cmp(&b.whole.throttled_fraction)
    });
    match least {
        Some(f) => format!(
            "none meets at most {:.3}% throttled on the whole trace; the least throttled is {} ({}) at {:.3}% for ${:.2}. Bursts faster than any reactive controller, or a partition key over a shard's worth, call for On-Demand or for spreading the key (a random suffix, or ExplicitHashKey)",
            objective.max_throttled * 100.0,
            f.family,
            f.best,
            f.whole.throttled_fraction * 100.0,
            f.whole.cost_usd
        ),
        None => "nothing was simulated".into(),
    }
}
