//! `tune`: each strategy family at its best on a scenario's traffic, the
//! cheapest that meets an objective, and the planner's winning policy.
//! Everything runs in the simulator: it writes nothing on AWS, and reads
//! only with `--stream` (what `simulate --stream` reads).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::Error;
use crate::error::exit;
use crate::sim::scenario::Scenario;
use crate::sim::search::{Report, Step, search};
use crate::sim::tune::Objective;

use super::{AwsArgs, EXIT_CODES};
use super::{SimOutput, print_json, write_stdout};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub(super) struct TuneArgs {
    /// The scenario to tune on (default: the bundled scenarios/diurnal-taxi.yaml).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Tune on this stream's own CloudWatch history instead, read as
    /// `simulate --stream` reads it (reads only).
    #[arg(long, value_name = "NAME", conflicts_with = "scenario")]
    stream: Option<String>,
    /// With --stream: days of history (1 to 15).
    #[arg(long, default_value_t = 14, requires = "stream")]
    days: u32,
    /// The most throttling a setting may have, in percent of writes
    /// (above 0, at most 10).
    #[arg(long, value_name = "PERCENT", default_value_t = 0.1)]
    max_throttled_pct: f64,
    /// The most new shards a day a setting may make (consumers hand over
    /// at every reshard).
    #[arg(long, value_name = "N")]
    max_new_shards_per_day: Option<f64>,
    /// The last part of the traffic kept to validate on, in percent (10 to
    /// 50); the settings are chosen on the rest.
    #[arg(long, value_name = "PERCENT", default_value_t = 30.0)]
    validate_pct: f64,
    /// Write the planner's best setting there as a policy file.
    #[arg(long, value_name = "FILE")]
    save_policy: Option<PathBuf>,
    /// Where to write the SVG chart of the frontiers (default:
    /// kinesis-autoscaler-tune.svg in the temporary directory).
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = SimOutput::Table)]
    output: SimOutput,
    #[command(flatten)]
    aws: AwsArgs,
}

pub(super) async fn run(args: TuneArgs) -> anyhow::Result<u8> {
    let objective = objective(&args)?;
    let validate = args.validate_pct / 100.0;
    if !(0.1..=0.5).contains(&validate) {
        return Err(Error::Usage(format!(
            "--validate-pct must be between 10 and 50 (percent of the traffic kept to validate on), got {}",
            args.validate_pct
        ))
        .into());
    }
    let mut notes = Vec::new();
    let (scenario, trace) = match &args.stream {
        Some(stream) => {
            let (scenario, trace, read) = from_stream(&args, stream).await?;
            notes = read;
            (scenario, trace)
        }
        None => super::simulate::load_scenario(args.scenario.as_deref())?,
    };
    let bar = progress_bar();
    let (mut report, scenario) = tokio::task::spawn_blocking({
        let bar = bar.clone();
        move || {
            let watch = |step| {
                if let Some(bar) = &bar {
                    match step {
                        Step::Queued(n) => bar.inc_length(n),
                        Step::Done => bar.inc(1),
                    }
                }
            };
            search(&scenario, &trace, &objective, validate, &watch).map(|r| (r, scenario))
        }
    })
    .await??;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    report.notes = notes;
    if let Some(path) = &args.save_policy {
        let text = report
            .planner_policy(&scenario)
            .expect("the planner is always tuned");
        std::fs::write(path, text).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
    }
    let chart_path = write_frontiers(&args, &scenario, &report, objective.max_throttled)?;
    match args.output {
        SimOutput::Json => print_json(&Printed {
            report: &report,
            chart: &chart_path,
            policy_file: args.save_policy.as_deref(),
        })?,
        SimOutput::Table => {
            let mut text = report.table();
            text.push_str(&format!("chart: {}\n", chart_path.display()));
            if let Some(path) = &args.save_policy {
                text.push_str(&format!("\nplanner policy written to {}\n", path.display()));
            }
            write_stdout(&text)?;
        }
    }
    Ok(exit::OK)
}

/// Draws each family's frontier on the tuning part, where `--chart` says
/// or in the temporary folder, and returns where.
fn write_frontiers(
    args: &TuneArgs,
    scenario: &Scenario,
    report: &Report,
    max_throttled: f64,
) -> anyhow::Result<PathBuf> {
    let chart_path = args
        .chart
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("kinesis-autoscaler-tune.svg"));
    let lines: Vec<(String, Vec<(f64, f64)>)> = report
        .families
        .iter()
        .map(|f| {
            let points = f
                .frontier
                .iter()
                .map(|(_, m)| (m.cost_usd_per_day, m.throttled_fraction))
                .collect();
            (f.family.to_string(), points)
        })
        .collect();
    let title = format!(
        "{}: each family's frontier on the tuning part ({:.1} days)",
        scenario.name, report.tuning_days
    );
    let svg = crate::sim::chart::frontiers(&title, &lines, max_throttled);
    std::fs::write(&chart_path, svg).map_err(|source| Error::Write {
        path: chart_path.clone(),
        source,
    })?;
    Ok(chart_path)
}

/// The scenario of `stream`'s own history, as `simulate --stream` builds
/// it, and what was said of it: what the reads cost, what was assumed.
async fn from_stream(
    args: &TuneArgs,
    stream: &str,
) -> anyhow::Result<(Scenario, crate::sim::traffic::Trace, Vec<String>)> {
    use super::simulate::{DEFAULT_POLICY, DEFAULT_POLICY_PATH};
    super::simulate::check_days(args.days)?;
    // Only its API quotas are used: the built-in ones.
    let policy =
        crate::policy::Policy::parse(DEFAULT_POLICY, std::path::Path::new(DEFAULT_POLICY_PATH))
            .map_err(Error::from)?;
    let super::simulate::StreamHistory {
        open,
        metrics,
        created_at,
    } = super::simulate::read_history(&args.aws, &policy, stream, args.days).await?;
    let trace_name = format!("replay-{stream}.csv");
    let replay = crate::sim::replay::build(stream, &open, &metrics, created_at, &trace_name)
        .map_err(|e| Error::Usage(e.to_string()))?;
    let path = PathBuf::from(format!("replay-{stream}.yaml"));
    let scenario = Scenario::parse(&replay.scenario_yaml, &path).map_err(Error::File)?;
    let trace = crate::sim::traffic::Trace::parse(&replay.trace_csv, &scenario.trace)
        .map_err(Error::File)?;
    let requested = 2 + open.len();
    let mut notes = vec![format!(
        "read {} days of stream {stream}: {requested} metrics requested from GetMetricData (${:.4}); nothing written",
        args.days,
        requested as f64 * crate::model::GET_METRIC_DATA_USD_PER_METRIC
    )];
    notes.extend(replay.notes);
    Ok((scenario, trace, notes))
}

fn objective(args: &TuneArgs) -> Result<Objective, Error> {
    let max_throttled = args.max_throttled_pct / 100.0;
    if !(max_throttled > 0.0 && max_throttled <= 0.1) {
        return Err(Error::Usage(format!(
            "--max-throttled-pct must be above 0 and at most 10 (percent of writes), got {}",
            args.max_throttled_pct
        )));
    }
    if let Some(n) = args.max_new_shards_per_day
        && !(n.is_finite() && n >= 0.0)
    {
        return Err(Error::Usage(format!(
            "--max-new-shards-per-day must be a number of shards, 0 or more, got {n}"
        )));
    }
    Ok(Objective {
        max_throttled,
        max_new_shards_per_day: args.max_new_shards_per_day,
    })
}

fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("tuning {bar:30} {pos}/{len} candidates ({elapsed} elapsed)")
            .expect("a valid template"),
    );
    Some(bar)
}

/// What `tune --output json` prints, with `--scenario` or `--stream`: the
/// report, the chart written and the policy file written (or `null`).
#[derive(Serialize)]
struct Printed<'a> {
    #[serde(flatten)]
    report: &'a Report,
    chart: &'a std::path::Path,
    policy_file: Option<&'a std::path::Path>,
}
