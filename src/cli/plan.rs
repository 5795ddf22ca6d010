//! `plan`: what the controller would do, on a snapshot or on live streams.
//! Built with read-only capabilities: this path cannot reshard.

use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::aws;
use crate::error::exit;
use crate::input::yaml;
use crate::observe::Memory;
use crate::observe::Observation;
use crate::planner::{Plan, Refusal};
use crate::policy::Policy;
use crate::{Error, pass, planner};

use super::{AwsArgs, EXIT_CODES};
use super::{Output, print_json, render, report_error, write_stdout};
use chrono::DateTime;
use clap::Args;

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub(super) struct PlanArgs {
    /// The policy file (YAML). Without it, `--stream NAME` plans that
    /// stream with the built-in defaults (what `init` writes).
    #[arg(long, env = "KAS_POLICY", value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Plan on this observation snapshot (JSON) instead of live streams.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["stream", "save_snapshot"])]
    snapshot: Option<PathBuf>,
    /// Only this stream (name or ARN); the policy must cover it.
    #[arg(long, value_name = "NAME")]
    stream: Option<String>,
    /// Exit 3 when some stream's plan would act (reshard, or change its
    /// warm throughput), 0 when none would, for scripts.
    #[arg(long)]
    detailed_exitcode: bool,
    /// Also write what was observed, in the snapshot format, for replay
    /// with --snapshot. With several streams, put `{stream}` in the path.
    #[arg(long, value_name = "FILE")]
    save_snapshot: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// With --snapshot: judge cooldowns as of this time (RFC 3339) instead
    /// of the snapshot's observed_at.
    #[arg(long, value_name = "TIME", requires = "snapshot")]
    now: Option<DateTime<Utc>>,
    #[command(flatten)]
    aws: AwsArgs,
}

pub(super) async fn run(args: PlanArgs) -> anyhow::Result<u8> {
    let policy = match (&args.policy, &args.stream) {
        (Some(path), _) => Policy::load(path).map_err(Error::from)?,
        // One stream at the built-in defaults.
        (None, Some(stream)) => {
            let text = super::starter_policy(std::slice::from_ref(stream))?;
            Policy::parse(&text, Path::new("the built-in defaults")).map_err(Error::from)?
        }
        (None, None) => {
            return Err(Error::Usage(
                "plan needs --policy FILE (or KAS_POLICY), or --stream NAME to plan one stream with the built-in defaults".into(),
            )
            .into());
        }
    };
    match &args.snapshot {
        Some(path) => offline(&args, &policy, path),
        None => live(&args, &policy).await,
    }
}

/// Plans on a snapshot file; cooldowns are judged as of its observed_at
/// unless --now says otherwise, so a replay decides as the original did.
fn offline(args: &PlanArgs, policy: &Policy, path: &Path) -> anyhow::Result<u8> {
    let obs = Observation::load(path).map_err(Error::from)?;
    let rule = policy
        .rule_for(&obs.stream_name)
        .ok_or_else(|| Error::StreamNotInPolicy {
            stream: obs.stream_name.clone(),
            policy: policy.source.clone(),
        })?;
    let plan = planner::plan(&obs, &rule.policy, args.now.unwrap_or(obs.observed_at));
    match args.output {
        Output::Table => write_stdout(&render::plan_table(&plan))?,
        Output::Json => print_json(&Plans::of(std::slice::from_ref(&plan)))?,
        Output::Yaml => write_stdout(
            &yaml::to_string(&Plans::of(std::slice::from_ref(&plan)))
                .map_err(|e| anyhow::anyhow!(e.message))?,
        )?,
    }
    Ok(act_code(
        args,
        std::slice::from_ref(&plan),
        refusal_code(std::slice::from_ref(&plan)),
    ))
}

/// What `plan --output json|yaml` prints, on a snapshot or on live streams
/// alike: `{"plans": [...]}`, one plan per stream (`apply` prints the same
/// `plans` beside what it `applied`).
#[derive(serde::Serialize)]
struct Plans<'a> {
    plans: &'a [Plan],
}

impl<'a> Plans<'a> {
    fn of(plans: &'a [Plan]) -> Self {
        Self { plans }
    }
}

/// With --detailed-exitcode and nothing else wrong: 3 if a plan would act.
fn act_code(args: &PlanArgs, plans: &[Plan], code: u8) -> u8 {
    let acts = plans
        .iter()
        .any(|p| !p.actions.is_empty() || p.warm_throughput.as_ref().is_some_and(|w| w.changes()));
    if args.detailed_exitcode && code == exit::OK && acts {
        exit::WOULD_ACT
    } else {
        code
    }
}

/// Exit code 1 if a stream's layout made the planner refuse it.
fn refusal_code(plans: &[Plan]) -> u8 {
    let mut code = exit::OK;
    for plan in plans {
        if let Some(refusal @ Refusal::BrokenLayout { .. }) = &plan.refused {
            super::say(&format!("error: stream {}: {refusal}", plan.stream));
            code = exit::FAILURE;
        }
    }
    code
}

/// Where the snapshot of `stream` goes: `{stream}` in the path is replaced.
fn snapshot_path(template: &Path, stream: &str) -> PathBuf {
    PathBuf::from(template.to_string_lossy().replace("{stream}", stream))
}

async fn live(args: &PlanArgs, policy: &Policy) -> anyhow::Result<u8> {
    let clients = aws::Live::connect(&args.aws.options(), policy.quotas.clone())
        .await
        .clients;
    // Only reading: the writer is never used, and cannot be reached here.
    let (read, metrics) = (&clients.read, &clients.metrics);
    let targets = pass::targets(policy, read, args.stream.as_deref()).await?;
    if let Some(path) = &args.save_snapshot
        && targets.len() > 1
        && !path.to_string_lossy().contains("{stream}")
    {
        return Err(Error::Usage(format!(
            "--save-snapshot {} would hold {} streams; put {{stream}} in the path (e.g. snapshots/{{stream}}.json) or pick one with --stream",
            path.display(),
            targets.len()
        ))
        .into());
    }
    let memory = Memory::default();
    let results = pass::plan_streams(
        read,
        metrics,
        &targets,
        Utc::now(),
        pass::MissingMetrics::Refuse,
        &memory,
    )
    .await;
    let mut plans = Vec::new();
    let mut failed = false;
    for (target, result) in results {
        match result {
            Ok(planned) => {
                if let Some(template) = &args.save_snapshot {
                    let path = snapshot_path(template, &target.stream.name);
                    let text = serde_json::to_string_pretty(&planned.observed.observation)?;
                    std::fs::write(&path, text + "\n")
                        .map_err(|source| Error::Write { path, source })?;
                }
                plans.push(planned.plan);
            }
            Err(e) => {
                report_error(&e);
                failed = true;
            }
        }
    }
    match args.output {
        Output::Table => {
            let tables: Vec<String> = plans.iter().map(render::plan_table).collect();
            write_stdout(&tables.join("\n"))?;
        }
        Output::Json => print_json(&Plans::of(&plans))?,
        Output::Yaml => write_stdout(
            &yaml::to_string(&Plans::of(&plans)).map_err(|e| anyhow::anyhow!(e.message))?,
        )?,
    }
    let code = refusal_code(&plans);
    Ok(if failed {
        exit::FAILURE
    } else {
        act_code(args, &plans, code)
    })
}
