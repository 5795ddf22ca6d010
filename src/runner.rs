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
use crate::observe::Memory;
use crate::policy::Policy;
use crate::ports::{Clock, KinesisRead, KinesisWrite, MetricsRead};
use crate::quota::ApiLimiter;
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
    /// The limiter the AWS adapters share, held to the quotas of the policy
    /// in force (they may change on reload).
    pub api: Option<&'a ApiLimiter>,
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
    /// Stop after this many passes in a row that failed for good (every
    /// stream failed for a reason that does not go away by itself); 0
    /// never stops.
    pub give_up_after: u32,
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
        let memory = Memory::default();
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
            self.status.record_pass(&report);
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
        // A run that ended (a simulation's end, shutdown) with every one of
        // its passes failed for good did nothing, and says so.
        let gave_up = (passes > 0 && u64::from(failing) == passes).then(|| {
            format!("all {passes} passes failed, and retrying will not help until something changes: {why_failing}")
        });
        RunEnd { passes, gave_up }
    }
}

/// Reloads the policy when its file changes (checked every `poll`) or when
/// `hangup` is notified (SIGHUP). A changed file is read again until it
/// stays the same for a whole `poll`, so a file caught mid-write is neither
/// loaded nor rejected. An invalid new policy (unparseable, not UTF-8, too
/// large, unreadable) is logged and counted once, and the old one keeps
/// running. Returns on shutdown.
pub async fn watch_policy(
    path: PathBuf,
    handle: &PolicyHandle,
    status: &Status,
    poll: Duration,
    hangup: &tokio::sync::Notify,
    shutdown: &Shutdown,
) {
    // A pipe or a device cannot be polled: each read would wait for a
    // writer, or consume what it gives.
    if std::fs::metadata(&path).is_ok_and(|m| !m.is_file()) {
        tracing::warn!(policy = %path.display(), "the policy is not a regular file: it is not watched or reloaded");
        shutdown.requested().await;
        return;
    }
    // What a read gave: the bytes, or why it failed (compared as text).
    let read = |path: &PathBuf| -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| e.to_string())
    };
    // `last` is what was last acted on; `seen` is what the previous poll read.
    let mut last = Some(read(&path));
    let mut seen = last.clone();
    loop {
        let forced = tokio::select! {
            () = tokio::time::sleep(poll) => false,
            () = hangup.notified() => true,
            () = shutdown.requested() => return,
        };
        let now = read(&path);
        if !forced {
            let settled = seen.as_ref() == Some(&now);
            let changed = last.as_ref() != Some(&now);
            seen = Some(now.clone());
            if !(changed && settled) {
                continue;
            }
        }
        let loaded = match &now {
            Ok(bytes) if bytes.len() as u64 > crate::input::MAX_POLICY_BYTES => Err(format!(
                "{}: larger than the {} bytes a policy may have",
                path.display(),
                crate::input::MAX_POLICY_BYTES
            )),
            Ok(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => Policy::parse(text, &path).map_err(|e| crate::controller::chain(&e)),
                Err(e) => Err(format!(
                    "{}: not UTF-8 text (invalid byte at offset {})",
                    path.display(),
                    e.valid_up_to()
                )),
            },
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        };
        match loaded {
            Ok(policy) => {
                handle.set(policy);
                status.record_reload("ok");
                tracing::info!(policy = %path.display(), "policy reloaded");
            }
            Err(e) => {
                status.record_reload("invalid");
                tracing::error!(error = %e, "new policy rejected; keeping the one in force");
            }
        }
        seen = Some(now.clone());
        last = Some(now);
    }
}
