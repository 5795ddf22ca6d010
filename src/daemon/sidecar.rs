//! The sidecar controller, assembled: a pass over the policy's streams
//! every interval ([`Runner`]), HTTP health and metrics ([`http`]), policy
//! reload on SIGHUP or when the file changes ([`watch_policy`]), the
//! notifications, and a graceful stop. Against AWS, or with
//! [`Backend::Sim`] the same loop drives the simulator, so that the
//! endpoints and logs can be watched without an account. The CLI's `run`
//! checks its flags, binds the listener and calls [`Sidecar::run`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::Error;
use crate::apply::shutdown::Shutdown;
use crate::apply::{Executor, ExecutorConfig};
use crate::aws::{self, KinesisReader};
use crate::daemon::http;
use crate::daemon::status::Status;
use crate::daemon::watch_policy;
use crate::model::ApiLimiter;
use crate::notify::{self, Notifier};
use crate::observe::KinesisRead;
use crate::observe::TokioClock;
use crate::pass::{PassReport, PolicyHandle, RunEnd, Runner, Schedule};
use crate::policy::Policy;

/// The longest wait at shutdown for notifications still in delivery.
const NOTIFY_FLUSH: Duration = Duration::from_secs(5);

/// How often the policy file is checked for changes.
const POLICY_POLL: Duration = Duration::from_secs(2);

/// What the passes act on.
#[derive(Debug)]
pub enum Backend {
    /// The account the SDK configuration reaches.
    Aws,
    /// A simulated stream replaying `traffic`, on a virtual clock paced to
    /// `speed` times real time (0: as fast as it goes).
    Sim(Box<Simulated>),
}

/// The simulated stream a [`Backend::Sim`] drives.
#[derive(Debug)]
pub struct Simulated {
    pub scenario: crate::sim::Scenario,
    pub traffic: crate::sim::traffic::Traffic,
    /// Times real time; 0 runs as fast as it goes.
    pub speed: f64,
}

/// A sidecar, ready to run.
#[derive(Debug)]
pub struct Sidecar {
    pub policy: Policy,
    /// The file the policy came from, watched for changes (none: the
    /// built-in simulation policy).
    pub policy_file: Option<PathBuf>,
    pub backend: Backend,
    /// The AWS adapters, and what the SNS targets of notifications publish
    /// with (with either backend).
    pub live: aws::Live,
    /// Where /healthz, /readyz and /metrics are served.
    pub listener: tokio::net::TcpListener,
    pub interval: Duration,
    pub wait_timeout: Duration,
    /// Stop after this many failed passes in a row (0: never).
    pub give_up_after: u32,
}

impl Sidecar {
    /// Runs passes until `stop` is requested (or, on the simulator, the
    /// traffic ends, or `give_up_after` passes fail in a row); `hup`
    /// reloads the policy. Refuses to start, against AWS, on a policy that
    /// names no existing stream.
    pub async fn run(
        self,
        stop: Shutdown,
        hup: tokio::signal::unix::Signal,
    ) -> Result<RunEnd, Error> {
        let Sidecar {
            policy,
            policy_file,
            backend,
            live,
            listener,
            interval,
            wait_timeout,
            give_up_after,
        } = self;
        let expected = match &backend {
            // In range: at most a day over a thousandth.
            Backend::Sim(sim) if sim.speed > 0.0 => interval.div_f64(sim.speed),
            Backend::Sim(_) => Duration::from_millis(100),
            Backend::Aws => interval,
        };
        let loop_ = Loop {
            status: Arc::new(Status::new(expected)),
            handle: Arc::new(PolicyHandle::new(policy)),
            notifier: Arc::new(live.notifier()),
            stop,
            config: ExecutorConfig {
                active_timeout: wait_timeout,
                ..ExecutorConfig::default()
            },
            schedule: Schedule {
                interval,
                jitter: 0.1,
            },
            give_up_after,
        };
        loop_
            .status
            .count_notifications(loop_.notifier.deliveries());
        let background = Background::start(&loop_, listener, policy_file, hup);
        let end = match backend {
            Backend::Aws => match loop_.on_aws(&live).await {
                Ok(end) => end,
                Err(e) => {
                    background.abort();
                    return Err(e);
                }
            },
            Backend::Sim(sim) => loop_.on_simulator(*sim).await,
        };
        tracing::info!(passes = end.passes, "stopped");
        loop_.status.shutting_down();
        loop_.notifier.flush(NOTIFY_FLUSH).await;
        background.abort();
        Ok(end)
    }
}

/// What the loop of passes shares with the tasks around it.
struct Loop {
    status: Arc<Status>,
    handle: Arc<PolicyHandle>,
    notifier: Arc<Notifier>,
    stop: Shutdown,
    config: ExecutorConfig,
    schedule: Schedule,
    give_up_after: u32,
}

impl Loop {
    /// Passes against the account `live` reaches, once the policy is
    /// known to name a stream there.
    async fn on_aws(&self, live: &aws::Live) -> Result<RunEnd, Error> {
        let clients = &live.clients;
        self.status.count_api_calls(clients.limiter.clone());
        check_targets(&self.handle.get(), &clients.read).await?;
        let on_event = log_and_note_progress(&self.status);
        let executor = live
            .clients
            .executor(self.config.clone())
            .with_shutdown(&self.stop)
            .on_event(&on_event);
        let record = record_and_notify(&self.status, &self.notifier, &self.handle);
        let runner = Runner::new(
            &executor,
            &clients.metrics,
            &self.handle,
            &self.stop,
            self.schedule,
        )
        .limiting(&clients.limiter)
        .on_pass(&record)
        .give_up_after(self.give_up_after);
        Ok(runner.run().await)
    }

    /// Passes against a simulated stream, on a thread of their own (the
    /// simulator's clock is a runtime of its own).
    async fn on_simulator(&self, sim: Simulated) -> RunEnd {
        let Simulated {
            scenario,
            traffic,
            speed,
        } = sim;
        let (handle, status, stop, notifier) = (
            self.handle.clone(),
            self.status.clone(),
            self.stop.clone(),
            self.notifier.clone(),
        );
        let schedule = Schedule {
            interval: scenario.tick,
            ..self.schedule
        };
        let (config, give_up_after) = (self.config.clone(), self.give_up_after);
        let simulation = tokio::task::spawn_blocking(move || {
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
        });
        match simulation.await {
            Ok(end) => end,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

/// The tasks beside the passes: the HTTP endpoints, the policy watcher,
/// SIGHUP, and the status's shutting-down flag.
struct Background {
    server: tokio::task::AbortHandle,
    watcher: Option<tokio::task::AbortHandle>,
}

impl Background {
    fn start(
        loop_: &Loop,
        listener: tokio::net::TcpListener,
        policy_file: Option<PathBuf>,
        mut hup: tokio::signal::unix::Signal,
    ) -> Background {
        {
            let (status, stop) = (loop_.status.clone(), loop_.stop.clone());
            tokio::spawn(async move {
                stop.requested().await;
                status.shutting_down();
            });
        }
        // SIGHUP reloads the policy (one that came before the watcher
        // started is kept for it).
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
            loop_.status.clone(),
            http::on_shutdown(loop_.stop.clone()),
        ))
        .abort_handle();
        let watcher = policy_file.map(|path| {
            let (handle, status, stop, notifier) = (
                loop_.handle.clone(),
                loop_.status.clone(),
                loop_.stop.clone(),
                loop_.notifier.clone(),
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
            .abort_handle()
        });
        Background { server, watcher }
    }

    fn abort(self) {
        if let Some(w) = self.watcher {
            w.abort();
        }
        self.server.abort();
    }
}

/// Refuses to start on a policy that names no stream to act on: its globs
/// match none of the account's streams, or none of the streams it names
/// exists.
async fn check_targets(policy: &Policy, read: &KinesisReader) -> Result<(), Error> {
    let targets = crate::pass::targets(policy, read, None).await?;
    if targets.is_empty() {
        return Err(Error::Usage(format!(
            "policy {} names no stream to act on: its globs match none of the account's streams; check the names, or --region / AWS_REGION",
            policy.source.display()
        )));
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
    )))
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
        // The account's resharding quotas, with the headroom the
        // controller keeps on AWS, on the virtual clock.
        let limiter = ApiLimiter::default();
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
