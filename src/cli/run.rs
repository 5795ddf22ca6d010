//! `run`: the sidecar controller. A pass over the policy's streams every
//! interval, HTTP health and metrics, policy reload on SIGHUP or when the
//! file changes, and a graceful stop on SIGTERM or Ctrl-C (a second signal
//! quits at once). With `--backend sim` the same loop drives the simulator,
//! so the endpoints and logs can be watched without AWS.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kinesis_autoscaler::aws::{self, CloudWatchMetrics, KinesisReader, KinesisWriter};
use kinesis_autoscaler::error::exit;
use kinesis_autoscaler::executor::{Executor, ExecutorConfig, RateLimiter};
use kinesis_autoscaler::policy::Policy;
use kinesis_autoscaler::ports::{SystemClock, TokioClock};
use kinesis_autoscaler::runner::{PolicyHandle, Runner, Schedule, watch_policy};
use kinesis_autoscaler::shutdown::{self, Shutdown, ShutdownTrigger};
use kinesis_autoscaler::status::Status;
use kinesis_autoscaler::{Error, http};

use super::simulate::{DEFAULT_POLICY, DEFAULT_POLICY_PATH, load_scenario};
use super::{Backend, RunArgs};

/// How often the policy file is checked for changes.
const POLICY_POLL: Duration = Duration::from_secs(2);

pub async fn run(args: RunArgs) -> anyhow::Result<u8> {
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
    if args.interval < Duration::from_secs(1) {
        return Err(Error::Usage(format!(
            "--interval must be at least 1s, got {}",
            humantime::format_duration(args.interval)
        ))
        .into());
    }
    if args.speed < 0.0 || !args.speed.is_finite() {
        return Err(Error::Usage(format!(
            "--speed must be 0 (as fast as possible) or more, got {}",
            args.speed
        ))
        .into());
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening on {address} for /healthz, /readyz and /metrics");

    let expected = match args.backend {
        Backend::Sim if args.speed > 0.0 => args.interval.div_f64(args.speed),
        Backend::Sim => Duration::from_millis(100),
        Backend::Aws => args.interval,
    };
    let status = Arc::new(Status::new(expected));
    let handle = Arc::new(PolicyHandle::new(policy));
    let (trigger, stop) = shutdown::channel();
    let hangup = Arc::new(tokio::sync::Notify::new());
    spawn_signal_handlers(trigger, status.clone(), hangup.clone())?;
    let server = tokio::spawn(http::serve(
        listener,
        status.clone(),
        http::on_shutdown(stop.clone()),
    ));
    let watcher = args.policy.clone().map(|path| {
        let (handle, status, hangup, stop) =
            (handle.clone(), status.clone(), hangup.clone(), stop.clone());
        tokio::spawn(async move {
            watch_policy(path, &handle, &status, POLICY_POLL, &hangup, &stop).await
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

    let passes = match args.backend {
        Backend::Aws => {
            let sdk = aws::load_config(&args.aws.options()).await;
            let client = aws::kinesis_client(&sdk);
            let (read, write) = (
                KinesisReader::new(client.clone()),
                KinesisWriter::new(client),
            );
            let metrics = CloudWatchMetrics::new(aws::cloudwatch_client(&sdk));
            let limiter = RateLimiter::for_reshards();
            let on_event = log_and_note_progress(&status);
            let executor = Executor {
                read: &read,
                write: &write,
                clock: &SystemClock,
                limiter: &limiter,
                config: &config,
                deadline: None,
                shutdown: Some(&stop),
                on_event: &on_event,
            };
            let runner = Runner {
                executor: &executor,
                metrics: &metrics,
                policy: &handle,
                status: &status,
                shutdown: &stop,
                schedule,
                only: None,
                until: None,
                pace: None,
                on_pass: None,
            };
            runner.run().await
        }
        Backend::Sim => {
            let (scenario, trace) = load_scenario(args.scenario.as_deref())?;
            let traffic = kinesis_autoscaler::sim::traffic::Traffic::new(&scenario, &trace)
                .map_err(|m| Error::Usage(format!("scenario {}: {m}", scenario.name)))?;
            let (handle, status, stop, speed) =
                (handle.clone(), status.clone(), stop.clone(), args.speed);
            let schedule = Schedule {
                interval: scenario.tick,
                ..schedule
            };
            tokio::task::spawn_blocking(move || {
                simulate_loop(
                    &scenario, traffic, &handle, &status, &stop, schedule, config, speed,
                )
            })
            .await?
        }
    };
    tracing::info!(passes, "stopped");
    status.shutting_down();
    if let Some(w) = watcher {
        w.abort();
    }
    server.abort();
    Ok(exit::OK)
}

/// Logs the executor's events and counts each as a sign of life for
/// /healthz.
fn log_and_note_progress(
    status: &Status,
) -> impl Fn(kinesis_autoscaler::executor::Event<'_>) + Sync + '_ {
    move |e| {
        status.alive();
        kinesis_autoscaler::executor::log_event(e);
    }
}

/// The sidecar loop against a simulated stream, on a virtual clock paced
/// to `speed` times real time.
#[allow(clippy::too_many_arguments)]
fn simulate_loop(
    scenario: &kinesis_autoscaler::sim::Scenario,
    traffic: kinesis_autoscaler::sim::traffic::Traffic,
    handle: &PolicyHandle,
    status: &Status,
    stop: &Shutdown,
    schedule: Schedule,
    config: ExecutorConfig,
    speed: f64,
) -> u64 {
    kinesis_autoscaler::sim::run::virtual_time().block_on(async {
        let start = kinesis_autoscaler::sim::run::EPOCH
            .parse()
            .expect("a valid epoch");
        let clock = TokioClock::starting_at(start);
        let minutes = traffic.minutes();
        let world = kinesis_autoscaler::sim::run::world(
            scenario,
            traffic,
            clock,
            start,
            scenario.initial_shards,
        );
        let limiter = RateLimiter::for_reshards();
        let on_event = log_and_note_progress(status);
        let executor = Executor {
            read: &world,
            write: &world,
            clock: &clock,
            limiter: &limiter,
            config: &config,
            deadline: None,
            shutdown: Some(stop),
            on_event: &on_event,
        };
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
        let runner = Runner {
            executor: &executor,
            metrics: &world,
            policy: handle,
            status,
            shutdown: stop,
            schedule,
            only: Some(&scenario.stream),
            until: Some(start + chrono::TimeDelta::minutes(minutes as i64)),
            pace: Some(&pace),
            on_pass: None,
        };
        runner.run().await
    })
}

/// SIGTERM/SIGINT: the first stops after the operation in flight, the
/// second exits at once. SIGHUP: reload the policy.
fn spawn_signal_handlers(
    trigger: ShutdownTrigger,
    status: Arc<Status>,
    hangup: Arc<tokio::sync::Notify>,
) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        let mut signals = 0;
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            signals += 1;
            if signals == 1 {
                tracing::warn!(
                    "shutting down: finishing the operation in progress (signal again to quit at once)"
                );
                status.shutting_down();
                trigger.request();
            } else {
                tracing::warn!("second signal: quitting now");
                std::process::exit(130);
            }
        }
    });
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            hangup.notify_one();
        }
    });
    Ok(())
}
