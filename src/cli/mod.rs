//! The command line: arguments are parsed here, each subcommand is a thin
//! call into the library, and its result is rendered for people (tables)
//! or programs (JSON, YAML) on stdout. Logs and errors go to stderr.

mod render;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use kinesis_autoscaler::error::exit;
use kinesis_autoscaler::model::HashKey;
use kinesis_autoscaler::observation::Observation;
use kinesis_autoscaler::plan::Refusal;
use kinesis_autoscaler::planner;
use kinesis_autoscaler::policy::{self, Policy};
use kinesis_autoscaler::{Error, yaml};

const EXIT_CODES: &str = "\
Exit codes:
  0  success, including a plan with nothing to do
  1  runtime failure: a stream refused (e.g. its shards do not cover the key space), an AWS error
  2  bad input: usage, policy, snapshot; nothing is written to AWS";

/// Autoscaling resharding controller for Amazon Kinesis Data Streams.
#[derive(Debug, Parser)]
#[command(name = "kinesis-autoscaler", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what the controller would do, without changing anything.
    Plan(PlanArgs),
    /// Check a policy file and print what each stream entry resolves to.
    Validate(ValidateArgs),
    /// Print the policy file's JSON Schema (for editor completion).
    Schema,
    /// Print the hash key of a partition key, and the shard that takes it.
    Route(RouteArgs),
}

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
struct PlanArgs {
    /// The policy file (YAML).
    #[arg(long, env = "KAS_POLICY", value_name = "FILE")]
    policy: PathBuf,
    /// Plan on this observation snapshot (JSON) instead of a live stream.
    #[arg(long, value_name = "FILE")]
    snapshot: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Judge cooldowns as of this time (RFC 3339); defaults to the
    /// snapshot's observed_at, so a replay decides as the original did.
    #[arg(long, value_name = "TIME")]
    now: Option<DateTime<Utc>>,
}

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
struct ValidateArgs {
    /// The policy file (YAML).
    #[arg(long, env = "KAS_POLICY", value_name = "FILE")]
    policy: PathBuf,
}

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
struct RouteArgs {
    /// The partition key, as producers send it.
    #[arg(long)]
    key: String,
    /// Also name the open shard of this snapshot that receives the key.
    #[arg(long, value_name = "FILE")]
    snapshot: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
    Yaml,
}

/// Runs the command and returns the exit code; errors are returned for
/// `main` to print once.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Plan(args) => plan(args),
        Command::Validate(args) => validate(args),
        Command::Schema => {
            print_json(&policy::json_schema())?;
            Ok(exit::OK)
        }
        Command::Route(args) => route(args),
    }
}

fn plan(args: PlanArgs) -> anyhow::Result<u8> {
    let policy = Policy::load(&args.policy).map_err(Error::from)?;
    let obs = Observation::load(&args.snapshot).map_err(Error::from)?;
    let rule = policy
        .rule_for(&obs.stream_name)
        .ok_or_else(|| Error::StreamNotInPolicy {
            stream: obs.stream_name.clone(),
            policy: args.policy.clone(),
        })?;
    let now = args.now.unwrap_or(obs.observed_at);
    let plan = planner::plan(&obs, &rule.policy, now);
    match args.output {
        Output::Table => write_stdout(&render::plan_table(&plan))?,
        Output::Json => print_json(&plan)?,
        Output::Yaml => {
            write_stdout(&yaml::to_string(&plan).map_err(|e| anyhow::anyhow!(e.message))?)?
        }
    }
    match &plan.refused {
        Some(refusal @ Refusal::BrokenLayout { .. }) => {
            eprintln!("error: stream {}: {refusal}", plan.stream);
            Ok(exit::FAILURE)
        }
        _ => Ok(exit::OK),
    }
}

fn validate(args: ValidateArgs) -> anyhow::Result<u8> {
    let policy = Policy::load(&args.policy).map_err(Error::from)?;
    write_stdout(&render::policy_table(&policy))?;
    Ok(exit::OK)
}

fn route(args: RouteArgs) -> anyhow::Result<u8> {
    let key = HashKey::of_partition_key(&args.key);
    let mut text = format!("partition key {:?}\nhash key      {key}\n", args.key);
    if let Some(path) = &args.snapshot {
        let obs = Observation::load(path).map_err(Error::from)?;
        let shard = obs
            .open_shards()
            .into_iter()
            .find(|s| s.range.contains(key))
            .with_context(|| {
                format!(
                    "no open shard of {} owns hash key {key}; the snapshot's shards do not cover the key space",
                    path.display()
                )
            })?;
        text.push_str(&format!("shard         {} {}\n", shard.id, shard.range));
    }
    write_stdout(&text)?;
    Ok(exit::OK)
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("cannot serialize output")?;
    text.push('\n');
    write_stdout(&text)
}

fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A closed pipe (`| head`) is not an error worth reporting.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}
