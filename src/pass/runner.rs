//! The long-running controller: a pass over every stream of the policy
//! each interval, until shutdown.
//!
//! Passes run one after another, so two passes never touch a stream at
//! once; a stream still resharding is simply observed again next time.
//! The wait between passes is jittered (so a fleet of controllers does not
//! call AWS in step) and ends at once on shutdown. The policy can be
//! swapped between passes ([`PolicyHandle`], [`watch_policy`]).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::Instrument;

use crate::apply::Executor;
use crate::apply::shutdown::Shutdown;
use crate::model::ApiLimiter;
use crate::observe::Memory;
use crate::observe::{Clock, KinesisRead, KinesisWrite, MetricsRead};
use crate::pass::{PassReport, run_pass};
use crate::policy::Policy;

/// The policy in force, replaceable while the loop runs.
#[derive(Debug)]
pub struct PolicyHandle {
    current: RwLock<Arc<Policy>>,
}

impl PolicyHandle {
    pub fn new(policy: Policy) -> Self {
        PolicyHandle {
            current: RwLock::new(Arc::new(policy)),
        }
    }

    pub fn get(&self) -> Arc<Policy> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set(&self, policy: Policy) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
    }
}

/// When passes happen.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub interval: Duration,
    /// Each wait is the interval times 1 ± up to this fraction.
    pub jitter: f64,
}

impl Schedule {
    fn next_wait(&self) -> Duration {
        let factor = 1.0 + self.jitter * (2.0 * fastrand::f64() - 1.0);
        self.interval.mul_f64(factor.max(0.0))
    }
}

/// The loop and what it needs. Built with [`Runner::new`] and the
/// builder methods.
pub struct Runner<'a, R, W, M, C> {
    executor: &'a Executor<'a, R, W, C>,
    metrics: &'a M,
    /// The limiter the AWS adapters share, held to the quotas of the policy
    /// in force (they may change on reload).
    api: Option<&'a ApiLimiter>,
    policy: &'a PolicyHandle,
    shutdown: &'a Shutdown,
    schedule: Schedule,
    /// Manage just this stream of the policy (a simulation's).
    only: Option<&'a str>,
    /// Stop once the clock reaches this (the end of a simulation).
    until: Option<DateTime<Utc>>,
    /// Called with each wait before it starts: a simulation running faster
    /// than real time paces itself here.
    pace: Option<&'a (dyn Fn(Duration) + Sync)>,
    /// Called with every finished pass.
    on_pass: Option<&'a (dyn Fn(&PassReport) + Sync)>,
    /// Stop after this many passes in a row that failed for good (every
    /// stream failed for a reason that does not go away by itself); 0
    /// never stops.
    give_up_after: u32,
}

impl<R, W, M, C> std::fmt::Debug for Runner<'_, R, W, M, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}

impl<'a, R, W, M, C> Runner<'a, R, W, M, C> {
    /// Passes on `schedule` over the streams of `policy`, each applied by
    /// `executor` with metrics from `metrics`, until `shutdown`.
    pub fn new(
        executor: &'a Executor<'a, R, W, C>,
        metrics: &'a M,
        policy: &'a PolicyHandle,
        shutdown: &'a Shutdown,
        schedule: Schedule,
    ) -> Self {
        Runner {
            executor,
            metrics,
            api: None,
            policy,
            shutdown,
            schedule,
            only: None,
            until: None,
            pace: None,
            on_pass: None,
            give_up_after: 0,
        }
    }

    /// Holds `api` to the quotas of the policy in force.
    pub fn limiting(mut self, api: &'a ApiLimiter) -> Self {
        self.api = Some(api);
        self
    }

    /// Manages just `stream` of the policy.
    pub fn only(mut self, stream: &'a str) -> Self {
        self.only = Some(stream);
        self
    }

    /// Stops once the clock reaches `until`.
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// Calls `pace` with each wait before it starts.
    pub fn pacing(mut self, pace: &'a (dyn Fn(Duration) + Sync)) -> Self {
        self.pace = Some(pace);
        self
    }

    /// Calls `on_pass` with every finished pass (the sidecar's status
    /// records it).
    pub fn on_pass(mut self, on_pass: &'a (dyn Fn(&PassReport) + Sync)) -> Self {
        self.on_pass = Some(on_pass);
        self
    }

    /// Stops after `passes` passes in a row that failed for good; 0 (the
    /// default) never stops.
    pub fn give_up_after(mut self, passes: u32) -> Self {
        self.give_up_after = passes;
        self
    }
}

/// How a run of the loop ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunEnd {
    pub passes: u64,
    /// Why the loop gave up, if it did (see [`Runner::give_up_after`]).
    pub gave_up: Option<String>,
}

impl<R: KinesisRead, W: KinesisWrite, M: MetricsRead, C: Clock> Runner<'_, R, W, M, C> {
    /// Runs passes until shutdown, `until`, or giving up.
    pub async fn run(&self) -> RunEnd {
        let mut passes = 0;
        let mut failing = 0u32;
        // What passes learn for the next ones: summaries, cooldowns.
        let memory = Memory::lasting();
        let mut why_failing = String::new();
        loop {
            if self.shutdown.is_requested()
                || self.until.is_some_and(|u| self.executor.clock.now() >= u)
            {
                break;
            }
            passes += 1;
            let policy = self.policy.get();
            if let Some(api) = self.api
                && api.quotas() != policy.quotas
            {
                api.set_quotas(policy.quotas.clone());
            }
            let report = run_pass(self.executor, self.metrics, &policy, self.only, &memory)
                .instrument(tracing::info_span!("pass", n = passes))
                .await;
            let applied: usize = report
                .streams
                .iter()
                .filter_map(|s| s.apply.as_ref())
                .map(|a| a.applied.len())
                .sum();
            tracing::info!(
                pass = passes,
                streams = report.streams.len(),
                applied,
                ok = report.succeeded(),
                "pass finished"
            );
            if let Some(on_pass) = self.on_pass {
                on_pass(&report);
            }
            match report.failed_for_good() {
                Some(why) => {
                    failing += 1;
                    why_failing = why.to_owned();
                    if self.give_up_after > 0 && failing >= self.give_up_after {
                        return RunEnd {
                            passes,
                            gave_up: Some(format!(
                                "the last {failing} passes all failed, and retrying will not help until something changes: {why}"
                            )),
                        };
                    }
                }
                None => failing = 0,
            }
            let wait = self.schedule.next_wait();
            if let Some(pace) = self.pace {
                pace(wait);
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.shutdown.requested() => break,
            }
        }
        // A run that ended (a simulation's end) with every one of its
        // passes failed for good did nothing, and says so; one the user
        // stopped did not give up.
        let stopped = self.shutdown.is_requested();
        let gave_up = (!stopped && passes > 0 && u64::from(failing) == passes).then(|| {
            format!("all {passes} passes failed, and retrying will not help until something changes: {why_failing}")
        });
        RunEnd { passes, gave_up }
    }
}
