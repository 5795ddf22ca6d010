//! `simulate`: replay a traffic trace through the controller on a virtual
//! clock and measure it against baselines and oracles. With no arguments it
//! runs the bundled scenario and policy.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::Error;
use crate::error::exit;
use crate::policy::Policy;
use crate::sim::chart;
use crate::sim::oracle::Oracles;
use crate::sim::scenario::Scenario;
use crate::sim::strategy::{self, Outcome, Strategy, Summary};
use crate::sim::traffic::{Trace, Traffic};

use super::{SimOutput, SimulateArgs, print_json, write_stdout};

/// The bundled default: a week of taxi demand, and the tuned policy.
const DEFAULT_SCENARIO_PATH: &str = "scenarios/diurnal-taxi.yaml";
const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/diurnal-taxi.yaml");
const DEFAULT_TRACE: &str = include_str!("../../traces/nyc_taxi.csv");
pub(crate) const DEFAULT_POLICY_PATH: &str = "policies/simulation.yaml";
pub(crate) const DEFAULT_POLICY: &str = include_str!("../../policies/simulation.yaml");

pub async fn run(args: SimulateArgs) -> anyhow::Result<u8> {
    let policy = match &args.policy {
        Some(path) => Policy::load(path),
        None => Policy::parse(DEFAULT_POLICY, Path::new(DEFAULT_POLICY_PATH)),
    }
    .map_err(Error::from)?;
    let (scenario, trace) = load_scenario(args.scenario.as_deref())?;
    let rule = policy
        .rule_for(&scenario.stream)
        .ok_or_else(|| Error::StreamNotInPolicy {
            stream: scenario.stream.clone(),
            policy: policy.source.clone(),
        })?;
    let traffic = Traffic::new(&scenario, &trace)
        .map_err(|message| Error::Usage(format!("scenario {}: {message}", scenario.name)))?;
    let strategies = if args.compare {
        vec![
            Strategy::Planner,
            Strategy::Uniform,
            Strategy::Static(static_shards(&traffic).min(scenario.shard_limit)),
        ]
    } else {
        vec![args.strategy]
    };
    for strategy in &strategies {
        strategy
            .check(&scenario)
            .map_err(|m| Error::Usage(format!("--strategy {strategy}: {m}")))?;
    }

    let stream_policy = rule.policy.clone();
    let minutes = traffic.minutes();
    let bar = progress_bar((minutes * strategies.len()) as u64);
    let worker_bar = bar.clone();
    // The simulations block (each on its own virtual-time runtime), so they
    // run on their own threads, one per strategy.
    let (scenario, oracles, outcomes) = tokio::task::spawn_blocking(move || {
        let bar = &worker_bar;
        let oracles = Oracles::compute(&traffic);
        let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
            let handles: Vec<_> = strategies
                .iter()
                .map(|&strategy| {
                    let (scenario, traffic, oracles, policy) =
                        (&scenario, &traffic, &oracles, &stream_policy);
                    scope.spawn(move || {
                        let last = std::sync::atomic::AtomicUsize::new(0);
                        let progress = |done: usize| {
                            let before = last.swap(done, std::sync::atomic::Ordering::Relaxed);
                            if let Some(bar) = bar {
                                bar.inc(done.saturating_sub(before) as u64);
                            }
                        };
                        strategy::simulate(scenario, traffic, oracles, policy, strategy, &progress)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a simulation thread finished"))
                .collect()
        });
        (scenario, oracles, outcomes)
    })
    .await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }

    let chart_path = args
        .chart
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("kinesis-autoscaler-simulation.svg"));
    let title = format!(
        "{}: {} minutes of {}",
        scenario.name,
        minutes,
        scenario
            .trace
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
    );
    let svg = chart::render(&title, &outcomes, &oracles.dyadic);
    std::fs::write(&chart_path, svg).map_err(|source| Error::Write {
        path: chart_path.clone(),
        source,
    })?;

    let summaries: Vec<&Summary> = outcomes.iter().map(|o| &o.summary).collect();
    match args.output {
        SimOutput::Json if args.compare => print_json(&summaries)?,
        SimOutput::Json => print_json(summaries[0])?,
        SimOutput::Table => {
            let mut text = super::render::simulation(&scenario, &summaries);
            text.push_str(&format!("\nchart: {}\n", chart_path.display()));
            write_stdout(&text)?;
        }
    }
    Ok(exit::OK)
}

/// The scenario and its trace: from files, or the bundled default.
pub(crate) fn load_scenario(path: Option<&Path>) -> anyhow::Result<(Scenario, Trace)> {
    let scenario_error = Error::Scenario;
    match path {
        Some(path) => {
            let scenario = Scenario::load(path).map_err(scenario_error)?;
            let trace = Trace::load(&scenario.trace).map_err(scenario_error)?;
            Ok((scenario, trace))
        }
        None => {
            let scenario = Scenario::parse(DEFAULT_SCENARIO, Path::new(DEFAULT_SCENARIO_PATH))
                .map_err(scenario_error)?;
            let trace = Trace::parse(DEFAULT_TRACE, &PathBuf::from("traces/nyc_taxi.csv"))
                .map_err(scenario_error)?;
            Ok((scenario, trace))
        }
    }
}

/// The static baseline's size: enough shards for the 99th percentile of
/// the offered load, what someone sizing by hand from a week of graphs
/// would pick.
fn static_shards(traffic: &Traffic) -> u32 {
    let mut needs: Vec<f64> = (0..traffic.minutes())
        .map(|m| {
            let t = traffic.total(m);
            (t.bytes / crate::model::BYTES_PER_SHARD_MINUTE)
                .max(t.records / crate::model::RECORDS_PER_SHARD_MINUTE)
        })
        .collect();
    needs.sort_by(f64::total_cmp);
    let p99 = needs[(needs.len() - 1) * 99 / 100];
    (p99.ceil() as u32).max(1)
}

fn progress_bar(total: u64) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("simulating {bar:30} {percent}% ({elapsed} elapsed)")
            .expect("a valid template"),
    );
    Some(bar)
}
