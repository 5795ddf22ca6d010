//! `simulate`: replay a traffic trace through the controller on a virtual
//! clock and measure it against baselines and oracles. With no arguments it
//! runs the bundled scenario and policy.

use std::io::IsTerminal;

use chrono::DurationRound;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::Error;
use crate::error::exit;
use crate::policy::Policy;
use crate::sim::chart;
use crate::sim::oracle::Oracles;
use crate::sim::scenario::Scenario;
use crate::sim::strategy::{self, Outcome, Strategy, Summary};
use crate::sim::suite::{Prepared, prepare, simulate_all};
use crate::sim::traffic::Trace;

use super::{AwsArgs, EXIT_CODES};
use super::{SimOutput, print_json, write_stdout};
use clap::Args;

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub(super) struct SimulateArgs {
    /// The policy (default: the bundled policies/simulation.yaml).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Print the policy the simulation runs (the bundled one, unless
    /// --policy) and exit: a recommendation to run the planner means this
    /// policy.
    #[arg(long)]
    show_policy: bool,
    /// The scenario (default: the bundled scenarios/diurnal-taxi.yaml).
    /// Repeat it, or give a folder, to run a suite: every scenario with
    /// every strategy, one matrix.
    #[arg(long, value_name = "FILE|FOLDER")]
    scenario: Vec<PathBuf>,
    /// planner (the controller with the policy), uniform (stream-level
    /// thresholds, doubling and halving, like amazon-kinesis-scaling-utils),
    /// on-demand (Kinesis On-Demand mode) or static:N [default: planner].
    #[arg(long, value_parser = parse_strategy)]
    strategy: Option<Strategy>,
    /// Run planner, uniform, a static stream sized for the 99th percentile
    /// and On-Demand on the same traffic, side by side.
    #[arg(long, conflicts_with = "strategy")]
    compare: bool,
    /// With a suite (several scenarios): also tune every family on each
    /// scenario, as `tune` does, and recommend the cheapest at its best
    /// (about ten times the simulations). `--stream` always does.
    #[arg(long, conflicts_with = "stream")]
    tune: bool,
    #[arg(long, value_enum, default_value_t = SimOutput::Table)]
    output: SimOutput,
    /// Where to write the SVG chart (default: kinesis-autoscaler-simulation.svg
    /// in the temporary directory).
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
    /// Replay this stream's own CloudWatch history instead of a scenario:
    /// what each strategy would have cost and throttled, and a
    /// recommendation.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["scenario", "strategy", "compare"])]
    stream: Option<String>,
    /// With --stream: days of history to replay (1 to 15; CloudWatch keeps
    /// one-minute data for 15 days).
    #[arg(long, default_value_t = 14, requires = "stream")]
    days: u32,
    /// With --stream: write the scenario there, and its trace beside it
    /// (the same name, .csv), for offline reuse.
    #[arg(long, value_name = "FILE", requires = "stream")]
    save_scenario: Option<PathBuf>,
    /// With --stream: the most throttling the recommendation accepts, in
    /// percent of writes.
    #[arg(
        long,
        value_name = "PERCENT",
        default_value_t = 0.1,
        requires = "stream"
    )]
    max_throttled_pct: f64,
    #[command(flatten)]
    aws: AwsArgs,
}

fn parse_strategy(text: &str) -> Result<Strategy, String> {
    text.parse()
}

/// The bundled default: a week of taxi demand, and the tuned policy.
const DEFAULT_SCENARIO_PATH: &str = "scenarios/diurnal-taxi.yaml";
const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/diurnal-taxi.yaml");
const DEFAULT_TRACE: &str = include_str!("../../traces/nyc_taxi.csv");
pub(crate) const DEFAULT_POLICY_PATH: &str = "policies/simulation.yaml";
pub(crate) const DEFAULT_POLICY: &str = include_str!("../../policies/simulation.yaml");

pub(super) async fn run(args: SimulateArgs) -> anyhow::Result<u8> {
    let policy = match &args.policy {
        Some(path) => Policy::load(path),
        None => Policy::parse(DEFAULT_POLICY, Path::new(DEFAULT_POLICY_PATH)),
    }
    .map_err(Error::from)?;
    if args.show_policy {
        let text = match &args.policy {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
            None => DEFAULT_POLICY.to_owned(),
        };
        write_stdout(&text)?;
        return Ok(exit::OK);
    }
    if let Some(stream) = &args.stream {
        return replay_stream(&args, &policy, stream).await;
    }
    let paths = scenario_paths(&args.scenario)?;
    if paths.len() > 1 {
        if let Some(strategy) = args.strategy {
            return Err(Error::Usage(format!(
                "--strategy {strategy}: a suite runs every strategy on every scenario; give one --scenario to run one strategy"
            ))
            .into());
        }
        if args.chart.is_some() {
            return Err(Error::Usage(
                "--chart draws one scenario; give one --scenario to draw it".into(),
            )
            .into());
        }
        return suite(&args, &policy, &paths).await;
    }
    if args.tune {
        return Err(Error::Usage(
            "--tune tunes each scenario of a suite; for one scenario, run `tune --scenario FILE`"
                .into(),
        )
        .into());
    }
    simulate_one(&args, &policy, paths.first().map(PathBuf::as_path)).await
}

/// One scenario: one strategy, or every strategy with `--compare` (and
/// then the recommendation), with a progress bar and the chart.
async fn simulate_one(
    args: &SimulateArgs,
    policy: &Policy,
    path: Option<&Path>,
) -> anyhow::Result<u8> {
    let (scenario, trace) = load_scenario(path)?;
    let only = (!args.compare).then(|| args.strategy.unwrap_or(Strategy::Planner));
    let run = prepare(policy, scenario, &trace, only)?;
    let minutes = run.traffic.minutes();
    let bar = progress_bar((minutes * run.strategies.len()) as u64);
    let worker_bar = bar.clone();
    // The simulations block (each on its own virtual-time runtime), so they
    // run on their own threads.
    let (run, mut results) = tokio::task::spawn_blocking(move || {
        let results = simulate_all(std::slice::from_ref(&run), &tick(worker_bar.as_ref()));
        (run, results)
    })
    .await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let (oracles, outcomes) = results.remove(0);
    let scenario = &run.scenario;

    let chart_path = write_chart(args.chart.as_deref(), scenario, &outcomes, &oracles)?;

    let summaries: Vec<&Summary> = outcomes.iter().map(|o| &o.summary).collect();
    let recommendation = args
        .compare
        .then(|| {
            crate::sim::recommend::recommend(&summaries, SUITE_OBJECTIVE, &run.scenario.prices)
        })
        .flatten();
    match args.output {
        SimOutput::Json => print_json(&SimulationJson {
            scenarios: &[ScenarioReport {
                scenario: &scenario.name,
                results: summaries,
                recommendation,
                tuned: None,
                chart: Some(&chart_path),
                replay: None,
            }],
        })?,
        SimOutput::Table => {
            let mut text = super::render::simulation(scenario, &summaries);
            if args.compare {
                if let Some(line) = auto_line(&run, &oracles, &summaries) {
                    text.push_str(&line);
                }
                if let Some(r) = &recommendation {
                    text.push_str(&format!("\n{}\n", r.text));
                }
            }
            text.push_str(&format!("\nchart: {}\n", chart_path.display()));
            write_stdout(&text)?;
        }
    }
    Ok(exit::OK)
}

/// With a key over a shard's worth, what On-Demand with AUTO record
/// distribution would do, against On-Demand with partition keys.
fn auto_line(run: &Prepared, oracles: &Oracles, summaries: &[&Summary]) -> Option<String> {
    let (key_peak, auto) = strategy::auto_distribution(&run.scenario, &run.traffic, oracles)?;
    let keyed = summaries.iter().find(|s| s.strategy == "on-demand")?;
    Some(format!(
        "hot keys: one partition key writes up to {key_peak:.2} shards' worth; On-Demand with AUTO record distribution (no per-key order) would throttle {:.4}% for ${:.2}, against {:.4}% for ${:.2} with partition keys (a key over a shard's worth throttles in every mode but AUTO)\n",
        auto.throttled_fraction * 100.0,
        auto.cost_usd,
        keyed.throttled_fraction * 100.0,
        keyed.cost_usd
    ))
}

/// Draws the strategies' shard counts and throttling over the scenario to
/// `path` (default: `kinesis-autoscaler-simulation.svg` in the temporary
/// directory), and says where.
fn write_chart(
    path: Option<&Path>,
    scenario: &Scenario,
    outcomes: &[Outcome],
    oracles: &Oracles,
) -> anyhow::Result<PathBuf> {
    let path = path.map_or_else(
        || std::env::temp_dir().join("kinesis-autoscaler-simulation.svg"),
        Path::to_path_buf,
    );
    let minutes = outcomes.first().map_or(0, |o| o.minutes.len());
    let title = format!(
        "{}: {} minutes of {}",
        scenario.name,
        minutes,
        scenario
            .trace
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
    );
    let svg = chart::render(&title, outcomes, &oracles.dyadic);
    std::fs::write(&path, svg).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// The scenarios of a suite: each `--scenario` file, or the `.yaml` files
/// of a folder given as one, in name order.
fn scenario_paths(given: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for path in given {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| Error::Usage(format!("cannot read folder {}: {e}", path.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect();
            if found.is_empty() {
                return Err(Error::Usage(format!(
                    "folder {} holds no scenario (*.yaml)",
                    path.display()
                ))
                .into());
            }
            found.sort();
            paths.extend(found);
        } else {
            paths.push(path.clone());
        }
    }
    Ok(paths)
}

/// A suite: every scenario with every strategy, one matrix.
async fn suite(args: &SimulateArgs, policy: &Policy, paths: &[PathBuf]) -> anyhow::Result<u8> {
    let mut runs = Vec::with_capacity(paths.len());
    let mut traces = Vec::with_capacity(paths.len());
    for path in paths {
        let (scenario, trace) = load_scenario(Some(path))?;
        runs.push(prepare(policy, scenario, &trace, None)?);
        traces.push(trace);
    }
    let total: usize = runs
        .iter()
        .map(|r| r.traffic.minutes() * r.strategies.len())
        .sum();
    let bar = progress_bar(total as u64);
    let worker_bar = bar.clone();
    let (runs, results) = tokio::task::spawn_blocking(move || {
        let results = simulate_all(&runs, &tick(worker_bar.as_ref()));
        (runs, results)
    })
    .await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let tuned = if args.tune {
        let scenarios: Vec<(Scenario, Trace)> = runs
            .iter()
            .zip(traces)
            .map(|(r, t)| (r.scenario.clone(), t))
            .collect();
        tokio::task::spawn_blocking(move || {
            scenarios
                .iter()
                .map(|(scenario, trace)| tuned(scenario, trace, SUITE_OBJECTIVE))
                .collect::<Result<Vec<_>, Error>>()
        })
        .await??
    } else {
        Vec::new()
    };
    let rows: Vec<ScenarioReport<'_>> = runs
        .iter()
        .zip(&results)
        .enumerate()
        .map(|(i, (run, (_, outcomes)))| {
            let results: Vec<&Summary> = outcomes.iter().map(|o| &o.summary).collect();
            ScenarioReport {
                scenario: &run.scenario.name,
                recommendation: crate::sim::recommend::recommend(
                    &results,
                    SUITE_OBJECTIVE,
                    &run.scenario.prices,
                ),
                results,
                tuned: tuned.get(i).cloned(),
                chart: None,
                replay: None,
            }
        })
        .collect();
    match args.output {
        SimOutput::Json => print_json(&SimulationJson { scenarios: &rows })?,
        SimOutput::Table => write_stdout(&super::render::suite(&rows))?,
    }
    Ok(exit::OK)
}

/// The throttling objective a suite's recommendations hold to: 0.1% of
/// writes.
const SUITE_OBJECTIVE: f64 = 0.001;

/// What `simulate --output json` prints, in every mode (one strategy,
/// `--compare`, a suite, `--stream`): `{"scenarios": [...]}`, one entry
/// per scenario.
#[derive(serde::Serialize)]
pub(crate) struct SimulationJson<'a> {
    pub scenarios: &'a [ScenarioReport<'a>],
}

/// One scenario's entry: each strategy's summary and the cheapest within
/// the objective. Every field is always there; `null` where the mode has
/// none (a one-strategy run recommends nothing, only `--tune` and
/// `--stream` tune, a suite draws no chart, only `--stream` replays).
#[derive(serde::Serialize)]
pub(crate) struct ScenarioReport<'a> {
    pub scenario: &'a str,
    pub results: Vec<&'a Summary>,
    pub recommendation: Option<crate::sim::recommend::Recommendation>,
    /// Every family tuned, and the cheapest at its best (or why it could
    /// not be tuned).
    pub tuned: Option<TunedOrNot>,
    /// The SVG chart written.
    pub chart: Option<&'a Path>,
    /// With `--stream`: what the history read holds.
    pub replay: Option<ReplayFacts<'a>>,
}

/// What `simulate --stream` read: the stream, the days asked for, how
/// many minutes the replay rests on, and what it assumed.
#[derive(serde::Serialize)]
pub(crate) struct ReplayFacts<'a> {
    pub stream: &'a str,
    pub days: u32,
    pub coverage: &'a crate::sim::replay::Coverage,
    pub notes: &'a [String],
}

/// A recommendation after tuning, or why there is none.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum TunedOrNot {
    Tuned(crate::sim::search::Tuned),
    NotTuned { not_tuned: String },
}

impl TunedOrNot {
    pub(crate) fn lines(&self, label: &str) -> String {
        match self {
            TunedOrNot::Tuned(t) => t.lines(label),
            TunedOrNot::NotTuned { not_tuned } => format!("{label}not tuned: {not_tuned}\n"),
        }
    }
}

/// Every family tuned on `scenario` for at most `max_throttled`, held out
/// 30%: the cheapest at its best, or why the scenario cannot be tuned
/// (too short to split, an objective over 10%). Blocks.
fn tuned(scenario: &Scenario, trace: &Trace, max_throttled: f64) -> Result<TunedOrNot, Error> {
    if !(max_throttled > 0.0 && max_throttled <= 0.1) {
        return Ok(TunedOrNot::NotTuned {
            not_tuned: format!(
                "tuning takes an objective above 0% and at most 10% throttled, not {:.3}%",
                max_throttled * 100.0
            ),
        });
    }
    let objective = crate::sim::tune::Objective {
        max_throttled,
        max_new_shards_per_day: None,
    };
    match crate::sim::search::search(scenario, trace, &objective, 0.3, &|_| {}) {
        Ok(report) => Ok(TunedOrNot::Tuned(report.tuned(scenario))),
        Err(Error::Usage(why)) => Ok(TunedOrNot::NotTuned { not_tuned: why }),
        Err(e) => Err(e),
    }
}

/// The scenario and its trace: from files, or the bundled default.
pub(crate) fn load_scenario(path: Option<&Path>) -> anyhow::Result<(Scenario, Trace)> {
    let scenario_error = Error::File;
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

/// A spinner with `message` on a terminal (stderr), for steps of unknown
/// length; nothing otherwise.
fn spinner(message: String) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(message);
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(spinner)
}

/// What a simulation's progress does to `bar`, if there is one.
fn tick(bar: Option<&ProgressBar>) -> impl Fn(u64) + Sync + '_ {
    move |minutes| {
        if let Some(bar) = bar {
            bar.inc(minutes);
        }
    }
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

/// Reads what a replay of `stream` needs: its open shards, its
/// stream-level load over `days`, and each open shard's IncomingBytes over
/// the last day (the key spread). Reads only.
pub(crate) async fn read_history(
    aws: &AwsArgs,
    policy: &Policy,
    stream: &str,
    days: u32,
) -> anyhow::Result<StreamHistory> {
    use crate::model::{MetricName, StreamId};
    use crate::observe::{KinesisRead, MetricsRead, MetricsRequest, ObserveError};

    let clients = crate::aws::Live::connect(&aws.options(), policy.quotas.clone())
        .await
        .clients;
    let id = StreamId::named(stream);
    let summary = clients
        .read
        .describe_stream(&id)
        .await
        .map_err(|e| ObserveError::stream(stream, e))?;
    let open = clients
        .read
        .list_open_shards(&id)
        .await
        .map_err(|e| ObserveError::stream(stream, e))?;
    // Whole minutes, ending where CloudWatch has surely published.
    let end = chrono::Utc::now()
        .duration_trunc(chrono::TimeDelta::minutes(1))
        .expect("a minute divides any time")
        - chrono::TimeDelta::minutes(5);
    let minutes = days * 1440;
    let start = end - chrono::TimeDelta::minutes(i64::from(minutes));
    let ids: Vec<_> = open.iter().map(|s| s.id.clone()).collect();
    // The load from the free stream-level series over every day; the key
    // spread from each shard's IncomingBytes over the last day only, which
    // is enough to see it and keeps a wide stream's read small (one
    // shard-day is 1,440 datapoints).
    let mut metrics = clients
        .metrics
        .read_metrics(&MetricsRequest::new(stream, &[], &[], start, minutes))
        .await
        .map_err(|e| ObserveError::stream(stream, e))?;
    let spread_minutes = minutes.min(SPREAD_MINUTES);
    let spread_start = end - chrono::TimeDelta::minutes(i64::from(spread_minutes));
    metrics.shards = clients
        .metrics
        .read_metrics(&MetricsRequest::new(
            stream,
            &ids,
            &[MetricName::IncomingBytes],
            spread_start,
            spread_minutes,
        ))
        .await
        .map_err(|e| ObserveError::stream(stream, e))?
        .shards;
    Ok(StreamHistory {
        open,
        metrics,
        created_at: summary.created_at,
    })
}

/// What `simulate --stream` and `tune --stream` read of a stream.
pub(crate) struct StreamHistory {
    pub open: Vec<crate::model::Shard>,
    pub metrics: crate::observe::Metrics,
    /// When the stream was created: history before it is not its own.
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Most days of one-minute history CloudWatch keeps.
const MAX_REPLAY_DAYS: u32 = 15;

/// Refuses a `--days` CloudWatch cannot serve.
pub(crate) fn check_days(days: u32) -> Result<(), Error> {
    if (1..=MAX_REPLAY_DAYS).contains(&days) {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "--days must be between 1 and {MAX_REPLAY_DAYS} (CloudWatch keeps one-minute data for 15 days), got {days}"
    )))
}
/// How much of the history the key spread is measured over.
const SPREAD_MINUTES: u32 = 1440;

/// `simulate --stream`: the stream's own history replayed through every
/// strategy, and the cheapest one within the throttling objective.
async fn replay_stream(args: &SimulateArgs, policy: &Policy, stream: &str) -> anyhow::Result<u8> {
    use crate::sim::replay;

    let objective = check_replay_args(args, policy, stream)?;
    let reading = spinner(format!(
        "reading {} day(s) of stream {stream}'s history from CloudWatch",
        args.days
    ));
    let StreamHistory {
        open,
        metrics,
        created_at,
    } = read_history(&args.aws, policy, stream, args.days).await?;
    if let Some(s) = &reading {
        s.set_message(format!(
            "replaying stream {stream}'s history through every strategy, then tuning each"
        ));
    }
    let (scenario_path, trace_name) = replay_names(args, stream);
    let replay = replay::build(stream, &open, &metrics, created_at, &trace_name)
        .map_err(|e| Error::Usage(e.to_string()))?;
    if let Some(path) = &args.save_scenario {
        for (file, text) in [
            (path.clone(), &replay.scenario_yaml),
            (path.with_extension("csv"), &replay.trace_csv),
        ] {
            std::fs::write(&file, text).map_err(|source| Error::Write { path: file, source })?;
        }
    }
    let scenario = Scenario::parse(&replay.scenario_yaml, &scenario_path).map_err(Error::File)?;
    let trace = Trace::parse(&replay.trace_csv, &scenario.trace).map_err(Error::File)?;
    let run = prepare(policy, scenario, &trace, None)?;
    let (run, mut results) = tokio::task::spawn_blocking(move || {
        let results = simulate_all(std::slice::from_ref(&run), &|_| {});
        (run, results)
    })
    .await?;
    let (oracles, outcomes) = results.remove(0);
    let chart_path = write_chart(args.chart.as_deref(), &run.scenario, &outcomes, &oracles)?;
    let summaries: Vec<&Summary> = outcomes.iter().map(|o| &o.summary).collect();
    let mut recommendation =
        crate::sim::recommend::recommend(&summaries, objective, &run.scenario.prices);
    // Not a money answer on less than a day of the stream's own history.
    if let Some(r) = recommendation.as_mut() {
        r.provisional = replay.coverage.provisional();
        if let Some(why) = &r.provisional {
            r.text = format!("{why}. {}", r.text);
        }
    }
    let tuned = {
        let scenario = run.scenario.clone();
        tokio::task::spawn_blocking(move || tuned(&scenario, &trace, objective)).await??
    };
    if let Some(s) = reading {
        s.finish_and_clear();
    }
    print_replay(
        args,
        stream,
        (&run.scenario, summaries),
        &replay,
        (recommendation, tuned),
        &chart_path,
    )?;
    Ok(exit::OK)
}

/// Refuses `simulate --stream`'s flags that cannot work, before reading
/// anything; returns the objective as a share.
fn check_replay_args(args: &SimulateArgs, policy: &Policy, stream: &str) -> Result<f64, Error> {
    check_days(args.days)?;
    if let Some(path) = &args.save_scenario
        && path.extension().is_some_and(|e| e == "csv")
    {
        return Err(Error::Usage(format!(
            "--save-scenario {}: the trace is written beside the scenario as .csv; name the scenario .yaml",
            path.display()
        )));
    }
    let objective = args.max_throttled_pct / 100.0;
    if !(0.0..=1.0).contains(&objective) {
        return Err(Error::Usage(format!(
            "--max-throttled-pct must be between 0 and 100, got {}",
            args.max_throttled_pct
        )));
    }
    if policy.rule_for(stream).is_none() {
        return Err(Error::StreamNotInPolicy {
            stream: stream.to_owned(),
            policy: policy.source.clone(),
        });
    }
    Ok(objective)
}

/// Where the replayed scenario is said to be (and saved, with
/// `--save-scenario`), and its trace's file name.
fn replay_names(args: &SimulateArgs, stream: &str) -> (PathBuf, String) {
    match &args.save_scenario {
        Some(path) => (
            path.clone(),
            path.with_extension("csv")
                .file_name()
                .map_or_else(|| "replay.csv".into(), |f| f.to_string_lossy().into_owned()),
        ),
        None => (
            PathBuf::from(format!("replay-{stream}.yaml")),
            format!("replay-{stream}.csv"),
        ),
    }
}

/// Prints a replay's report: its results, recommendation and tuning, as
/// JSON or tables.
fn print_replay(
    args: &SimulateArgs,
    stream: &str,
    (scenario, summaries): (&Scenario, Vec<&Summary>),
    replay: &crate::sim::replay::Replay,
    (recommendation, tuned): (Option<crate::sim::recommend::Recommendation>, TunedOrNot),
    chart_path: &Path,
) -> anyhow::Result<()> {
    match args.output {
        SimOutput::Json => print_json(&SimulationJson {
            scenarios: &[ScenarioReport {
                scenario: &scenario.name,
                results: summaries,
                recommendation,
                tuned: Some(tuned),
                chart: Some(chart_path),
                replay: Some(ReplayFacts {
                    stream,
                    days: args.days,
                    coverage: &replay.coverage,
                    notes: &replay.notes,
                }),
            }],
        })?,
        SimOutput::Table => {
            let mut text = super::render::simulation(scenario, &summaries);
            for note in &replay.notes {
                text.push_str(&format!("note: {note}\n"));
            }
            if let Some(r) = &recommendation {
                text.push_str(&format!("\nat defaults: {}\n", r.text));
            }
            text.push_str(&tuned.lines(""));
            if let Some(path) = &args.save_scenario {
                text.push_str(&format!("scenario saved: {}\n", path.display()));
            }
            text.push_str(&format!("chart: {}\n", chart_path.display()));
            write_stdout(&text)?;
        }
    }
    Ok(())
}
