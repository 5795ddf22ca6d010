//! `run`: the sidecar controller ([`crate::daemon::sidecar`]). This checks
//! the flags, loads the policy (and with `--backend sim` the scenario),
//! binds the listener, and stops gracefully on SIGTERM or Ctrl-C (a second
//! signal quits at once).

use std::path::Path;
use std::time::Duration;

use crate::Error;
use crate::apply::shutdown;
use crate::aws;
use crate::daemon::sidecar::{self, Sidecar};
use crate::error::exit;
use crate::policy::Policy;
use crate::sim::Scenario;
use crate::sim::strategy::Strategy;
use crate::sim::traffic::Traffic;

use super::simulate::{DEFAULT_POLICY, DEFAULT_POLICY_PATH, load_scenario};
use super::{AwsArgs, EXIT_CODES};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub(super) struct RunArgs {
    /// The policy file (YAML); reloaded on SIGHUP and when it changes.
    /// With --backend sim it defaults to the bundled simulation policy.
    #[arg(long, env = "KAS_POLICY", value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Time between passes (jittered by up to 10%).
    #[arg(long, env = "KAS_INTERVAL", default_value = "1m", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Address for /healthz, /readyz and /metrics.
    #[arg(long, env = "KAS_LISTEN", default_value = "127.0.0.1:9090")]
    listen: std::net::SocketAddr,
    /// aws (the streams of the account), or sim (a simulated stream).
    #[arg(long, value_enum, default_value_t = Backend::Aws)]
    backend: Backend,
    /// With --backend sim: the scenario (default: the bundled one).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// With --backend sim: how many times faster than real time (0: as fast
    /// as possible). The scenario's tick is the interval.
    #[arg(long, default_value_t = 60.0)]
    speed: f64,
    /// The longest wait for a stream to become ACTIVE after a reshard.
    #[arg(long, env = "KAS_WAIT_TIMEOUT", value_name = "DURATION", default_value = "15m", value_parser = humantime::parse_duration)]
    wait_timeout: Duration,
    /// Stop, with exit code 1, after this many passes in a row in which
    /// every stream failed for a reason retrying cannot fix (the stream does
    /// not exist, access denied, bad credentials, not in the policy); 0
    /// never stops.
    #[arg(
        long,
        env = "KAS_GIVE_UP_AFTER",
        value_name = "PASSES",
        default_value_t = 10
    )]
    give_up_after: u32,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Backend {
    Aws,
    Sim,
}

/// The longest interval between passes, and the longest wait timeout.
const MAX_SPAN: Duration = Duration::from_secs(86_400);
/// `--speed` other than 0 must lie in this range.
const SPEEDS: std::ops::RangeInclusive<f64> = 0.001..=1_000_000.0;

pub(super) async fn run(args: RunArgs) -> anyhow::Result<u8> {
    // First of all, so that a signal sent right after the start is handled
    // rather than killing the process with the signal's default action.
    let stop = shutdown::on_signals(|| {
        tracing::warn!(
            "shutting down: finishing the operation in progress (signal again to quit at once)"
        )
    })?;
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let policy = match (&args.policy, args.backend) {
        (Some(path), _) => Policy::load(path),
        (None, Backend::Sim) => Policy::parse(DEFAULT_POLICY, Path::new(DEFAULT_POLICY_PATH)),
        (None, Backend::Aws) => {
            return Err(Error::Usage(
                "run --backend aws needs --policy FILE (or KAS_POLICY)".into(),
            )
            .into());
        }
    }
    .map_err(Error::from)?;
    check_spans_and_speed(&args)?;
    // With --backend sim, the simulation is checked, and its stream looked
    // up in the policy, before anything starts.
    let simulation = match args.backend {
        Backend::Aws => None,
        Backend::Sim => Some(simulation(&args, &policy)?),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening on {address} for /healthz, /readyz and /metrics");

    // Building the SDK configuration calls nothing: the simulator's loop
    // needs it only for the SNS targets its notifications may have.
    let live = aws::Live::connect(&args.aws.options(), policy.quotas.clone()).await;
    let backend = match simulation {
        None => sidecar::Backend::Aws,
        Some((scenario, traffic)) => sidecar::Backend::Sim(Box::new(sidecar::Simulated {
            scenario,
            traffic,
            speed: args.speed,
        })),
    };
    let sidecar = Sidecar {
        policy,
        policy_file: args.policy.clone(),
        backend,
        live,
        listener,
        interval: args.interval,
        wait_timeout: args.wait_timeout,
        give_up_after: args.give_up_after,
    };
    let end = sidecar.run(stop, hup).await?;
    match end.gave_up {
        Some(why) => {
            super::say(&format!(
                "error: gave up: {}",
                crate::input::clip(&why, 400)
            ));
            Ok(exit::FAILURE)
        }
        None => Ok(exit::OK),
    }
}

/// Refuses an interval, wait timeout or speed out of range.
fn check_spans_and_speed(args: &RunArgs) -> Result<(), Error> {
    for (flag, span) in [
        ("--interval", args.interval),
        ("--wait-timeout", args.wait_timeout),
    ] {
        if span < Duration::from_secs(1) || span > MAX_SPAN {
            return Err(Error::Usage(format!(
                "{flag} must be between 1s and 1day, got {}",
                humantime::format_duration(span)
            )));
        }
    }
    if !(args.speed == 0.0 || SPEEDS.contains(&args.speed)) {
        return Err(Error::Usage(format!(
            "--speed must be 0 (as fast as possible) or between {} and {} times real time, got {:?}",
            SPEEDS.start(),
            SPEEDS.end(),
            args.speed
        )));
    }
    Ok(())
}

/// The scenario `--backend sim` replays and its traffic, checked, its
/// stream looked up in the policy.
fn simulation(args: &RunArgs, policy: &Policy) -> anyhow::Result<(Scenario, Traffic)> {
    let (scenario, trace) = load_scenario(args.scenario.as_deref())?;
    let prepared = crate::sim::suite::prepare(policy, scenario, &trace, Some(Strategy::Planner))?;
    Ok((prepared.scenario, prepared.traffic))
}
