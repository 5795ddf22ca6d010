//! `run`: the sidecar controller. A pass over the policy's streams every
//! interval, HTTP health and metrics, policy reload on SIGHUP or when the
//! file changes, and a graceful stop on SIGTERM or Ctrl-C (a second signal
//! quits at once). With `--backend sim` the same loop drives the simulator,
//! so the endpoints and logs can be watched without AWS.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::Error;
use crate::apply::shutdown::{self, Shutdown};
use crate::apply::{Executor, ExecutorConfig, RateLimiter};
use crate::aws::{self, KinesisReader};
use crate::daemon::http;
use crate::daemon::status::Status;
use crate::daemon::watch_policy;
use crate::error::exit;
use crate::model::ApiLimiter;
use crate::notify::{self, Notifier};
use crate::observe::KinesisRead;
use crate::observe::{SystemClock, TokioClock};
use crate::pass::{PassReport, PolicyHandle, RunEnd, Runner, Schedule};
use crate::policy::Policy;

use super::simulate::{DEFAULT_POLICY, DEFAULT_POLICY_PATH, load_scenario};
use super::{Backend, RunArgs};

/// The longest wait at shutdown for notifications still in delivery.
const NOTIFY_FLUSH: Duration = Duration::from_secs(5);

/// How often the policy file is checked for changes.
const POLICY_POLL: Duration = Duration::from_secs(2);

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
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
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
    for (flag, span) in [
        ("--interval", args.interval),
        ("--wait-timeout", args.wait_timeout),
    ] {
        if span < Duration::from_secs(1) || span > MAX_SPAN {
            return Err(Error::Usage(format!(
                "{flag} must be between 1s and 1day, got {}",
                humantime::format_duration(span)
            ))
            .into());
        }
    }
    if !(args.speed == 0.0 || SPEEDS.contains(&args.speed)) {
        return Err(Error::Usage(format!(
            "--speed must be 0 (as fast as possible) or between {} and {} times real time, got {:?}",
            SPEEDS.start(),
            SPEEDS.end(),
            args.speed
        ))
        .into());
    }
    // With --backend sim, the simulation is checked, and its stream looked
    // up in the policy, before anything starts.
    let simulation = match args.backend {
        Backend::Aws => None,
        Backend::Sim => {
            let (scenario, trace) = load_scenario(args.scenario.as_deref())?;
            if policy.rule_for(&scenario.stream).is_none() {
                return Err(Error::StreamNotInPolicy {
                    stream: scenario.stream.clone(),
                    policy: policy.source.clone(),
                }
                .into());
            }
            let traffic = crate::sim::traffic::Traffic::new(&scenario, &trace)
                .map_err(|m| Error::Usage(format!("scenario {}: {m}", scenario.name)))?;
            Some((scenario, traffic))
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening on {address} for /healthz, /readyz and /metrics");

    let expected = match args.backend {
        // In range: at most a day over a thousandth.
        Backend::Sim if args.speed > 0.0 => args.interval.div_f64(args.speed),
        Backend::Sim => Duration::from_millis(100),
        Backend::Aws => args.interval,
    };
    let status = Arc::new(Status::new(expected));
    let handle = Arc::new(PolicyHandle::new(policy));
    // Building the SDK configuration calls nothing: the simulator's loop
    // needs it only for the SNS targets its notifications may have.
    let sdk = aws::load_config(&args.aws.options()).await;
    let notifier = Arc::new(Notifier::start(Some(aws::sns_client(&sdk))));
    status.count_notifications(notifier.deliveries());
    {
        let (status, stop) = (status.clone(), stop.clone());
        tokio::spawn(async move {
            stop.requested().await;
            status.shutting_down();
        });
    }
    // SIGHUP reloads the policy (one that came before the watcher started
    // is kept for it).
    let hangup = Arc::new(tokio::sync::Notify::new());
    {
        let hangup = hangup.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                hangup.notify_one();
            }
        });
    }
    let server = tokio::spawn(http::serve(
        listener,
        status.clone(),
        http::on_shutdown(stop.clone()),
    ));
    let watcher = args.policy.clone().map(|path| {
        let (handle, status, hangup, stop, notifier) = (
            handle.clone(),
            status.clone(),
            hangup.clone(),
            stop.clone(),
            notifier.clone(),
        );
        tokio::spawn(async move {
            watch_policy(
                path,
                &handle,
                &status,
                POLICY_POLL,
                &hangup,
                &stop,
                Some(&notifier),
            )
            .await
        })
    });
    let config = ExecutorConfig {
        active_timeout: args.wait_timeout,
        ..ExecutorConfig::default()
    };
    let schedule = Schedule {
        interval: args.interval,
        jitter: 0.1,
    };

    let end = match simulation {
        None => {
            let clients =
                aws::Clients::new(&sdk, Arc::new(ApiLimiter::new(handle.get().quotas.clone())));
            status.count_api_calls(clients.limiter.clone());
            let (read, write, metrics) = (&clients.read, &clients.write, &clients.metrics);
            check_targets(&handle.get(), read).await?;
            let limiter = RateLimiter::for_reshards();
            let on_event = log_and_note_progress(&status);
            let executor = Executor::new(read, write, &SystemClock, &limiter)
                .with_config(config)
                .with_shutdown(&stop)
                .on_event(&on_event);
            let record = record_and_notify(&status, &notifier, &handle);
            let runner = Runner::new(&executor, metrics, &handle, &stop, schedule)
                .limiting(&clients.limiter)
                .on_pass(&record)
                .give_up_after(args.give_up_after);
            runner.run().await
        }
        Some((scenario, traffic)) => {
            let (handle, status, stop, speed, notifier) = (
                handle.clone(),
                status.clone(),
                stop.clone(),
                args.speed,
                notifier.clone(),
            );
            let give_up_after = args.give_up_after;
            let schedule = Schedule {
                interval: scenario.tick,
                ..schedule
            };
            tokio::task::spawn_blocking(move || {
                simulate_loop(
                    &scenario,
                    traffic,
                    &handle,
                    &status,
                    &notifier,
                    &stop,
                    schedule,
                    config,
                    speed,
                    give_up_after,
                )
            })
            .await?
        }
    };
    tracing::info!(passes = end.passes, "stopped");
    status.shutting_down();
    notifier.flush(NOTIFY_FLUSH).await;
    if let Some(w) = watcher {
        w.abort();
    }
    server.abort();
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

/// Refuses to start on a policy that names no stream to act on: its globs
/// match none of the account's streams, or none of the streams it names
/// exists.
async fn check_targets(policy: &Policy, read: &KinesisReader) -> anyhow::Result<()> {
    let targets = crate::pass::targets(policy, read, None).await?;
    if targets.is_empty() {
        return Err(Error::Usage(format!(
            "policy {} names no stream to act on: its globs match none of the account's streams; check the names, or --region / AWS_REGION",
            policy.source.display()
        ))
        .into());
    }
    let mut missing = Vec::new();
    for target in &targets {
        match read.describe_stream(&target.stream).await {
            Ok(_) => return Ok(()),
            Err(e) if e.kind == crate::model::ApiErrorKind::NotFound => {
                missing.push(target.stream.name.clone());
            }
            // Anything else (throttling, a network blip) the passes will
            // meet and report.
            Err(_) => return Ok(()),
        }
    }
    Err(Error::Usage(format!(
        "policy {} names no stream that exists in this account and region ({}); check the names, or --region / AWS_REGION",
        policy.source.display(),
        missing
            .iter()
            .take(5)
            .map(|m| crate::input::quote(m))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .into())
}

/// What the loop does with each finished pass: counts it for `/metrics`,
/// and hands what it should tell to the notifier (which never waits).
fn record_and_notify<'a>(
    status: &'a Status,
    notifier: &'a Notifier,
    handle: &'a PolicyHandle,
) -> impl Fn(&PassReport) + Sync + 'a {
    move |report| {
        status.record_pass(report);
        let events = notify::events(&report.streams, report.finished_at);
        notifier.send(events, handle.get().notify.as_ref());
    }
}

/// Logs the executor's events and counts each as a sign of life for
/// /healthz.
fn log_and_note_progress(status: &Status) -> impl Fn(crate::apply::Event<'_>) + Sync + '_ {
    move |e| {
        status.alive();
        crate::apply::log_event(e);
    }
}

/// The sidecar loop against a simulated stream, on a virtual clock paced
/// to `speed` times real time.
#[allow(clippy::too_many_arguments)]
fn simulate_loop(
    scenario: &crate::sim::Scenario,
    traffic: crate::sim::traffic::Traffic,
    handle: &PolicyHandle,
    status: &Status,
    notifier: &Notifier,
    stop: &Shutdown,
    schedule: Schedule,
    config: ExecutorConfig,
    speed: f64,
    give_up_after: u32,
) -> RunEnd {
    crate::sim::strategy::virtual_time().block_on(async {
        let start = crate::sim::strategy::EPOCH.parse().expect("a valid epoch");
        let clock = TokioClock::starting_at(start);
        let minutes = traffic.minutes();
        let world =
            crate::sim::strategy::world(scenario, traffic, clock, start, scenario.initial_shards);
        let limiter = RateLimiter::for_reshards();
        let on_event = log_and_note_progress(status);
        let executor = Executor::new(&world, &world, &clock, &limiter)
            .with_config(config)
            .with_shutdown(stop)
            .on_event(&on_event);
        let pace = |wait: Duration| {
            if speed > 0.0 {
                let mut left = wait.div_f64(speed);
                while !left.is_zero() && !stop.is_requested() {
                    let step = left.min(Duration::from_millis(50));
                    std::thread::sleep(step);
                    left -= step;
                }
            }
        };
        let record = record_and_notify(status, notifier, handle);
        let runner = Runner::new(&executor, &world, handle, stop, schedule)
            .only(&scenario.stream)
            .until(start + chrono::TimeDelta::minutes(minutes as i64))
            .pacing(&pace)
            .on_pass(&record)
            .give_up_after(give_up_after);
        runner.run().await
    })
}
