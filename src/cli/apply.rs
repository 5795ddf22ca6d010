//! `apply`: plan, show the plan, ask (unless --yes), then reshard, showing
//! progress, and print what was and was not done.

use std::io::{BufRead, IsTerminal, Write};

use chrono::Utc;

use crate::Error;
use crate::apply::ExecutorConfig;
use crate::apply::shutdown;
use crate::aws;
use crate::error::exit;
use crate::notify::{self, Notifier};
use crate::observe::Memory;
use crate::pass::{self, Planned, StreamResult};
use crate::policy::Policy;

use super::progress::Progress;
use super::{ApplyOutput, print_json, render, report_error, write_stdout};
use super::{AwsArgs, EXIT_CODES};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub(super) struct ApplyArgs {
    /// The policy file (YAML).
    #[arg(long, env = "KAS_POLICY", value_name = "FILE")]
    policy: PathBuf,
    /// Only this stream (name or ARN); the policy must cover it.
    #[arg(long, value_name = "NAME")]
    stream: Option<String>,
    /// Apply without asking (needed when stdin is not a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
    /// `json` prints the plans and what was done as JSON instead of tables.
    #[arg(long, value_enum, default_value_t = ApplyOutput::Table)]
    output: ApplyOutput,
    /// The longest wait for a stream to become ACTIVE after a reshard.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = humantime::parse_duration)]
    wait_timeout: std::time::Duration,
    #[command(flatten)]
    aws: AwsArgs,
}

pub(super) async fn run(args: ApplyArgs) -> anyhow::Result<u8> {
    let policy = Policy::load(&args.policy).map_err(Error::from)?;
    let live = aws::Live::connect(&args.aws.options(), policy.quotas.clone()).await;
    let (read, metrics) = (&live.clients.read, &live.clients.metrics);

    let targets = pass::targets(&policy, read, args.stream.as_deref()).await?;
    let memory = Memory::default();
    let plan_all = || {
        pass::plan_streams(
            read,
            metrics,
            &targets,
            Utc::now(),
            pass::MissingMetrics::Enable,
            &memory,
        )
    };
    let (planned, failed) = planned_or_reported(plan_all().await);
    if args.output == ApplyOutput::Table {
        let tables: Vec<String> = planned.iter().map(render::planned_table).collect();
        write_stdout(&tables.join("\n"))?;
    }
    let operations = operations(&planned);
    let notifier = policy.notify.as_ref().map(|_| live.notifier());
    if operations == 0 && !enables_metrics(&planned) {
        return nothing_to_do(args.output, &planned, notifier.as_ref(), &policy, failed).await;
    }
    if !args.yes {
        if !confirm(operations, planned.len())? {
            super::say("not applied");
            return Ok(exit::FAILURE);
        }
        // The answer may have taken a while: plan again, and apply only if
        // the streams still call for exactly what was shown.
        if !unchanged(&plan_all().await, &planned) {
            super::say(
                "not applied: the streams changed while waiting for the answer, and so did the plan; run apply again to see the new one",
            );
            return Ok(exit::FAILURE);
        }
    }

    let stop = shutdown::on_signals(|| {
        super::say(
            "interrupted: finishing the operation in progress, then stopping (press Ctrl-C again to quit at once)",
        )
    })?;
    let progress = Progress::new(operations);
    let on_event = |e: crate::apply::Event<'_>| progress.event(e);
    let config = ExecutorConfig {
        active_timeout: args.wait_timeout,
        ..ExecutorConfig::default()
    };
    let executor = live
        .clients
        .executor(config)
        .with_shutdown(&stop)
        .on_event(&on_event);
    let reports = pass::apply_streams(&executor, &planned, &memory).await;
    progress.finish();
    print_applied(args.output, &planned, &reports)?;
    let results: Vec<_> = planned
        .iter()
        .zip(&reports)
        .map(|(p, r)| StreamResult::of(&p.plan, Some(r.clone())))
        .collect();
    tell(notifier.as_ref(), &policy, &results).await;
    let complete = reports.iter().all(|r| r.is_complete());
    Ok(if failed || !complete {
        exit::FAILURE
    } else {
        exit::OK
    })
}

/// The plans made, with each stream that could not be planned reported;
/// and whether any could not.
fn planned_or_reported<T>(results: Vec<(T, crate::Result<Planned>)>) -> (Vec<Planned>, bool) {
    let mut planned: Vec<Planned> = Vec::new();
    let mut failed = false;
    for (_, result) in results {
        match result {
            Ok(p) => planned.push(p),
            Err(e) => {
                report_error(&e);
                failed = true;
            }
        }
    }
    (planned, failed)
}

/// Prints what was applied, as tables or beside the plans as JSON.
fn print_applied(
    output: ApplyOutput,
    planned: &[Planned],
    reports: &[crate::apply::ApplyReport],
) -> anyhow::Result<()> {
    match output {
        ApplyOutput::Table => write_stdout(&render::reports(reports))?,
        ApplyOutput::Json => print_json(&serde_json::json!({
            "plans": planned.iter().map(|p| &p.plan).collect::<Vec<_>>(),
            "applied": reports,
        }))?,
    }
    Ok(())
}

/// Says there is nothing to do (and tells the notification targets what
/// was found); the exit code.
async fn nothing_to_do(
    output: ApplyOutput,
    planned: &[Planned],
    notifier: Option<&Notifier>,
    policy: &Policy,
    failed: bool,
) -> anyhow::Result<u8> {
    match output {
        ApplyOutput::Json => print_applied(output, planned, &[])?,
        ApplyOutput::Table => write_stdout("\nnothing to do\n")?,
    }
    let results: Vec<_> = planned
        .iter()
        .map(|p| StreamResult::of(&p.plan, None))
        .collect();
    tell(notifier, policy, &results).await;
    Ok(if failed { exit::FAILURE } else { exit::OK })
}

/// The operations the plans call for: reshards, and warm throughput
/// changes.
fn operations(planned: &[Planned]) -> usize {
    planned
        .iter()
        .map(|p| {
            p.plan.actions.len()
                + usize::from(p.plan.warm_throughput.as_ref().is_some_and(|w| w.changes()))
        })
        .sum()
}

/// Whether applying would turn on shard-level metrics on some stream.
fn enables_metrics(planned: &[Planned]) -> bool {
    planned
        .iter()
        .any(|p| !p.observed.missing_metrics.is_empty() || p.plan.monitoring.is_some())
}

/// Whether the plans made `again` call for exactly what was `shown`: the
/// same warm throughput and the same operations, in the same order.
fn unchanged<T>(again: &[(T, crate::Result<Planned>)], shown: &[Planned]) -> bool {
    again.len() == shown.len()
        && again.iter().zip(shown).all(|((_, now), shown)| {
            now.as_ref().is_ok_and(|now| {
                now.plan.warm_throughput.as_ref().and_then(|w| w.set_mib)
                    == shown.plan.warm_throughput.as_ref().and_then(|w| w.set_mib)
                    && now.plan.actions.len() == shown.plan.actions.len()
                    && now
                        .plan
                        .actions
                        .iter()
                        .zip(&shown.plan.actions)
                        .all(|(a, b)| a.same_operation(b))
            })
        })
}

/// Tells the policy's notification targets what this run did and found,
/// waiting for them at most [`NOTIFY_FLUSH`]. A process of its own, `apply`
/// remembers nothing of earlier runs: each run says what it finds.
async fn tell(notifier: Option<&Notifier>, policy: &Policy, results: &[StreamResult]) {
    let Some(notifier) = notifier else { return };
    let events = notify::events(results, Utc::now());
    if !events.is_empty() {
        notifier.send(events, policy.notify.as_ref());
        notifier.flush(NOTIFY_FLUSH).await;
    }
}

/// The longest wait for this run's notifications before exiting.
const NOTIFY_FLUSH: std::time::Duration = std::time::Duration::from_secs(10);

/// Asks on the terminal; refuses to guess when there is none.
fn confirm(operations: usize, streams: usize) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "not applying: stdin is not a terminal to confirm on; pass --yes to apply without asking".into(),
        )
        .into());
    }
    eprint!("\napply {operations} operation(s) to {streams} stream(s)? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
