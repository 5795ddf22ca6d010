//! The command line: arguments are parsed and checked here, each subcommand
//! is a thin call into the library, and results are rendered for people
//! (tables) or programs (JSON, YAML) on stdout. Logs, progress and errors
//! go to stderr.

mod apply;
mod hot_keys;
mod main;
mod plan;
mod progress;
mod render;
mod run;
mod simulate;
mod tune;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

pub use main::main;

use crate::Error;
use crate::aws::{self, AwsOptions};
use crate::error::exit;
use crate::model::HashKey;
use crate::model::StreamId;
use crate::observe::Observation;
use crate::observe::{KinesisRead, ObserveError};
use crate::policy::{self, Policy};

const EXIT_CODES: &str = "\
Exit codes:
  0  success, including a plan with nothing to do
  1  runtime failure: an AWS error, an unknown stream, metrics not enabled, a refused stream,
     a partly applied plan, a `run` whose passes all failed for a reason retrying cannot fix
  2  bad input: usage, policy, snapshot, scenario, trace; nothing is written to AWS
  3  plan --detailed-exitcode: the plan would act (as terraform plan -detailed-exitcode)";

/// `--version`: the release, the commit and the features it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("KAS_BUILD_COMMIT"),
    "; features: ",
    env!("KAS_BUILD_FEATURES"),
    ")"
);

/// Autoscaling resharding controller for Amazon Kinesis Data Streams.
#[derive(Debug, Parser)]
#[command(name = "kinesis-autoscaler", version = VERSION, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    /// Log format on stderr: text (readable) or json (for log collectors).
    #[arg(long, global = true, value_enum, env = "KAS_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// The command reference in Markdown: the program's and every
/// subcommand's `--help`, as clap renders it at 100 columns, with no
/// environment value shown. `docs/reference/commands.md` is this text; a
/// test regenerates it and fails on any difference, so the reference
/// cannot drift from the flags.
pub fn reference_markdown() -> String {
    use clap::CommandFactory;
    fn fixed(cmd: clap::Command) -> clap::Command {
        cmd.term_width(100).mut_args(|a| a.hide_env_values(true))
    }
    let mut top = fixed(Cli::command());
    let mut out = String::from(
        "# Command reference\n\nGenerated from the CLI's own help (`kinesis-autoscaler help COMMAND` prints the same); do not edit: `KAS_UPDATE_DOCS=1 cargo test --test it docs::` regenerates it.\n",
    );
    let block = |title: &str, help: String| {
        format!("\n## `{title}`\n\n```text\n{}\n```\n", help.trim_end())
    };
    out.push_str(&block(
        "kinesis-autoscaler",
        top.render_long_help().to_string(),
    ));
    for sub in top
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
    {
        let title = format!("kinesis-autoscaler {}", sub.get_name());
        let mut sub = fixed(sub.clone().bin_name(&title));
        out.push_str(&block(&title, sub.render_long_help().to_string()));
    }
    out
}

/// Whether `args` (the words after the program's name) is a command line
/// the CLI accepts: every subcommand and flag known, every value of its
/// type. It runs nothing; the docs' examples are checked with it.
pub fn check_args(args: &[&str]) -> Result<(), String> {
    let argv = std::iter::once("kinesis-autoscaler").chain(args.iter().copied());
    Cli::try_parse_from(argv)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

impl Cli {
    /// Whether the command is the long-running sidecar (`run`).
    pub(crate) fn is_sidecar(&self) -> bool {
        matches!(self.command, Command::Run(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what the controller would do, without changing anything. Needs
    /// read permissions only.
    Plan(plan::PlanArgs),
    /// Plan, show the plan, ask, then reshard.
    Apply(apply::ApplyArgs),
    /// Check a policy file and print what each stream entry resolves to.
    Validate(ValidateArgs),
    /// Print the policy file's JSON Schema (for editor completion), or
    /// with --scenario the scenario file's.
    Schema {
        /// The scenario file's schema instead of the policy's.
        #[arg(long)]
        scenario: bool,
    },
    /// Print the hash key of a partition key, and the shard that takes it.
    Route(RouteArgs),
    /// Sample shards' records and name the partition keys that make them
    /// hot, with each shard's traffic-weighted median hash key. Reads only,
    /// at a bounded rate: the read shares each shard's read throughput (5
    /// GetRecords calls and 2 MiB a second) with the stream's consumers.
    HotKeys(hot_keys::HotKeysArgs),
    /// Run as a controller: a pass every interval until stopped, with
    /// health and metrics over HTTP.
    Run(run::RunArgs),
    /// Replay a traffic trace through the controller on a simulated stream
    /// and measure it; with no arguments, the bundled week of taxi demand.
    Simulate(simulate::SimulateArgs),
    /// Find each strategy's cheapest setting for a scenario's traffic and
    /// an objective: the planner, uniform scaling, a static size and
    /// On-Demand, tuned on the first part and checked on the rest.
    Tune(tune::TuneArgs),
    /// Write a commented starter policy for the named streams, for
    /// `validate` and `plan`.
    Init(InitArgs),
    /// Print the shell completion script for SHELL (e.g. `completions bash
    /// > /etc/bash_completion.d/kinesis-autoscaler`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `man -l <(kinesis-autoscaler man)`.
    Man,
}

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
struct InitArgs {
    /// A stream the policy covers (name, ARN or glob such as `clicks-*`);
    /// repeat for more.
    #[arg(long = "stream", value_name = "NAME", required = true)]
    streams: Vec<String>,
}

/// Where and as whom to call AWS. Credentials come from the standard chain
/// (environment, profile, SSO, instance or IRSA role); AWS_ENDPOINT_URL_KINESIS
/// and AWS_ENDPOINT_URL_CLOUDWATCH point the clients elsewhere.
#[derive(Debug, Clone, Args)]
struct AwsArgs {
    /// AWS region (default: AWS_REGION or the profile's).
    #[arg(long)]
    region: Option<String>,
    /// AWS profile (default: AWS_PROFILE or `default`).
    #[arg(long)]
    profile: Option<String>,
}

impl AwsArgs {
    fn options(&self) -> AwsOptions {
        AwsOptions {
            region: self.region.clone(),
            profile: self.profile.clone(),
        }
    }
}

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
struct ValidateArgs {
    /// The policy file (YAML).
    #[arg(long, env = "KAS_POLICY", value_name = "FILE")]
    policy: PathBuf,
    /// table, or json: `{ "policy", "streams": [ { "stream", "settings": {
    /// "shards", "scale up", ... } } ] }` with the table's sentences.
    #[arg(long, value_enum, default_value_t = ApplyOutput::Table)]
    output: ApplyOutput,
}

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
struct RouteArgs {
    /// The partition key, as producers send it.
    #[arg(long)]
    key: String,
    /// Also name the open shard of this snapshot that receives the key.
    #[arg(long, value_name = "FILE", conflicts_with = "stream")]
    snapshot: Option<PathBuf>,
    /// Also name the open shard of this live stream that receives the key.
    #[arg(long, value_name = "NAME")]
    stream: Option<String>,
    /// table, or json: `{ "partition_key", "hash_key", "shard_id",
    /// "starting_hash_key", "ending_hash_key" }` (the shard's only with
    /// --snapshot or --stream).
    #[arg(long, value_enum, default_value_t = ApplyOutput::Table)]
    output: ApplyOutput,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SimOutput {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ApplyOutput {
    Table,
    Json,
}

/// Runs the command and returns the exit code; errors are returned for
/// `main` to print once.
async fn run_command(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Plan(args) => plan::run(args).await,
        Command::Apply(args) => apply::run(args).await,
        Command::Validate(args) => {
            let policy = Policy::load(&args.policy).map_err(Error::from)?;
            match args.output {
                ApplyOutput::Table => write_stdout(&render::policy_table(&policy))?,
                ApplyOutput::Json => {
                    let streams: Vec<serde_json::Value> = render::policy_settings(&policy)
                        .into_iter()
                        .map(|(stream, lines)| {
                            let settings: serde_json::Map<String, serde_json::Value> = lines
                                .into_iter()
                                .map(|(what, how)| (what.to_owned(), how.into()))
                                .collect();
                            serde_json::json!({ "stream": stream, "settings": settings })
                        })
                        .collect();
                    print_json(&serde_json::json!({
                        "policy": policy.source,
                        "streams": streams,
                    }))?
                }
            }
            Ok(exit::OK)
        }
        Command::Schema { scenario: false } => {
            print_json(&policy::json_schema())?;
            Ok(exit::OK)
        }
        Command::Schema { scenario: true } => {
            print_json(&crate::sim::scenario::json_schema())?;
            Ok(exit::OK)
        }
        Command::Init(args) => {
            write_stdout(&starter_policy(&args.streams)?)?;
            Ok(exit::OK)
        }
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "kinesis-autoscaler",
                &mut out,
            );
            write_stdout(&String::from_utf8_lossy(&out))?;
            Ok(exit::OK)
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut out)
                .context("cannot render the man page")?;
            write_stdout(&String::from_utf8_lossy(&out))?;
            Ok(exit::OK)
        }
        Command::Route(args) => route(args).await,
        Command::HotKeys(args) => hot_keys::run(args).await,
        Command::Simulate(args) => simulate::run(args).await,
        Command::Tune(args) => tune::run(args).await,
        Command::Run(args) => run::run(args).await,
    }
}

async fn route(args: RouteArgs) -> anyhow::Result<u8> {
    // As Kinesis does: a partition key is 1 to 256 Unicode characters.
    let chars = args.key.chars().count();
    if !(1..=256).contains(&chars) {
        return Err(Error::Usage(format!(
            "--key: a partition key is 1 to 256 characters (Kinesis refuses others), got {chars}"
        ))
        .into());
    }
    let key = HashKey::of_partition_key(&args.key);
    let mut text = format!("partition key {:?}\nhash key      {key}\n", args.key);
    // Where the open shards come from, if anywhere: a snapshot or a live stream.
    let shards = if let Some(path) = &args.snapshot {
        let obs = Observation::load(path).map_err(Error::from)?;
        Some((
            path.display().to_string(),
            obs.open_shards().into_iter().cloned().collect(),
        ))
    } else if let Some(stream) = &args.stream {
        let read = aws::Live::connect(&args.aws.options(), Default::default())
            .await
            .clients
            .read;
        let id = StreamId::from_name_or_arn(stream);
        let open: Vec<_> = read
            .list_open_shards(&id)
            .await
            .map_err(|e| ObserveError::stream(stream, e))?;
        Some((format!("stream {stream}"), open))
    } else {
        None
    };
    let mut json = serde_json::json!({ "partition_key": args.key, "hash_key": key });
    if let Some((source, open)) = shards {
        let shard = open
            .iter()
            .find(|s| s.range.contains(key))
            .with_context(|| format!("no open shard of {source} owns hash key {key}: its shards do not cover the key space"))?;
        text.push_str(&format!("shard         {} {}\n", shard.id, shard.range));
        json["shard_id"] = serde_json::json!(shard.id);
        json["starting_hash_key"] = serde_json::json!(shard.range.start());
        json["ending_hash_key"] = serde_json::json!(shard.range.end());
    }
    match args.output {
        ApplyOutput::Table => write_stdout(&text)?,
        ApplyOutput::Json => print_json(&json)?,
    }
    Ok(exit::OK)
}

/// The starter policy: the built-in defaults, each written out with what
/// it does, for `streams`. Names are checked as the policy checks them.
fn starter_policy(streams: &[String]) -> anyhow::Result<String> {
    let mut text = String::from(STARTER_POLICY);
    for stream in streams {
        if stream.is_empty() || stream.chars().any(|c| c.is_control() || c == '"') {
            return Err(Error::Usage(format!(
                "--stream {}: a stream name, ARN or glob has no control characters or quotes",
                crate::input::quote(stream)
            ))
            .into());
        }
        text.push_str(&format!("  - name: \"{stream}\"\n"));
    }
    Ok(text)
}

/// The head of `init`'s policy: every setting at its built-in default.
const STARTER_POLICY: &str = "\
# A starter policy (kinesis-autoscaler init). Every setting below is the
# built-in default, written out so you can see and change it; `validate`
# shows what each stream resolves to, `plan` what it would do (read-only).
version: 1

defaults:
  min_shards: 1
  max_shards: 64
  max_reshards_per_day: 0        # 0: no daily cap
  scale_up:
    threshold: 0.8               # a shard is hot at 80% of a write limit ...
    window: 5m
    sustain: 3m                  # ... in 3 of the last 5 minutes
    cooldown: 5m                 # no split until this long after the last one
    max_splits_per_run: 8
  scale_down:
    threshold: 0.45              # a shard is cold below 45% ...
    window: 90m                  # ... for the whole 90 minutes
    merged_ceiling: 0.7          # and a merged pair must stay under 70%
    cooldown: 1m
    max_merges_per_run: 8
  # Off unless written (see docs/notifications.md):
  # forecast: { seasons: [1d, 7d], horizon: 1h, lead: 15m }
  # objective: { max_throttled: 0.1%, history: 3d }
  # warm_throughput: { lead: 30m, headroom: 1.2, min_mib: 4 }   # On-Demand Advantage streams; needs forecast

streams:
";

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

/// Prints a per-stream failure once, with its whole chain.
fn report_error(err: &Error) {
    say(&format!(
        "error: {}",
        crate::input::clip(&crate::error::chain(err), 2000)
    ));
}

/// Writes a line to stderr; a closed stderr (`2>&1 | head`, a log shipper
/// restarting) drops it instead of panicking as `eprintln!` does.
pub(crate) fn say(line: &str) {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}
