//! The long-running controller: a pass over every stream of the policy
//! each interval, until shutdown.
//!
//! Passes run one after another, so two passes never touch a stream at
//! once; a stream still resharding is simply observed again next time.
//! The wait between passes is jittered (so a fleet of controllers does not
//! call AWS in step) and ends at once on shutdown. The policy can be
//! swapped between passes ([`PolicyHandle`], [`watch_policy`]).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::Instrument;

use crate::controller::{PassReport, run_pass};
use crate::executor::Executor;
use crate::policy::Policy;
use crate::ports::{Clock, KinesisRead, KinesisWrite, MetricsRead};
use crate::shutdown::Shutdown;
use crate::status::Status;

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

/// The loop and what it needs.
pub struct Runner<'a, R, W, M, C> {
    pub executor: &'a Executor<'a, R, W, C>,
    pub metrics: &'a M,
    pub policy: &'a PolicyHandle,
    pub status: &'a Status,
    pub shutdown: &'a Shutdown,
    pub schedule: Schedule,
    /// Manage just this stream of the policy (a simulation's).
    pub only: Option<&'a str>,
    /// Stop once the clock reaches this (the end of a simulation).
    pub until: Option<DateTime<Utc>>,
    /// Called with each wait before it starts: a simulation running faster
    /// than real time paces itself here.
    pub pace: Option<&'a (dyn Fn(Duration) + Sync)>,
    /// Called with every finished pass.
    pub on_pass: Option<&'a (dyn Fn(&PassReport) + Sync)>,
}

impl<R: KinesisRead, W: KinesisWrite, M: MetricsRead, C: Clock> Runner<'_, R, W, M, C> {
    /// Runs passes until shutdown (or `until`); returns how many ran.
    pub async fn run(&self) -> u64 {
        let mut passes = 0;
        loop {
            if self.shutdown.is_requested()
                || self.until.is_some_and(|u| self.executor.clock.now() >= u)
            {
                break;
            }
            passes += 1;
            let policy = self.policy.get();
            let report = run_pass(self.executor, self.metrics, &policy, self.only)
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
            self.status.record_pass(&report);
            if let Some(on_pass) = self.on_pass {
                on_pass(&report);
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
        passes
    }
}

/// Reloads the policy when its file changes (checked every `poll`) or when
/// `hangup` is notified (SIGHUP). A changed file is read again until it
/// stays the same for a whole `poll`, so a file caught mid-write is neither
/// loaded nor rejected. An invalid new policy is logged and counted, and
/// the old one keeps running. Returns on shutdown.
pub async fn watch_policy(
    path: PathBuf,
    handle: &PolicyHandle,
    status: &Status,
    poll: Duration,
    hangup: &tokio::sync::Notify,
    shutdown: &Shutdown,
) {
    // `last` is what was last acted on; `seen` is what the previous poll read.
    let mut last = std::fs::read_to_string(&path).ok();
    let mut seen = last.clone();
    loop {
        let forced = tokio::select! {
            () = tokio::time::sleep(poll) => false,
            () = hangup.notified() => true,
            () = shutdown.requested() => return,
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                if forced {
                    status.record_reload("invalid");
                    tracing::error!(policy = %path.display(), error = %e, "cannot read the policy; keeping the one in force");
                }
                continue;
            }
        };
        if !forced {
            let settled = seen.as_deref() == Some(text.as_str());
            let changed = last.as_deref() != Some(text.as_str());
            seen = Some(text.clone());
            if !(changed && settled) {
                continue;
            }
        }
        match Policy::parse(&text, &path) {
            Ok(policy) => {
                handle.set(policy);
                status.record_reload("ok");
                tracing::info!(policy = %path.display(), "policy reloaded");
            }
            Err(e) => {
                status.record_reload("invalid");
                tracing::error!(error = %crate::controller::chain(&e), "new policy rejected; keeping the one in force");
            }
        }
        seen = Some(text.clone());
        last = Some(text);
    }
}
