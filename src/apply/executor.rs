//! Applies a plan to a stream, one operation at a time, safely.
//!
//! Before each operation the executor waits for the stream to be ACTIVE,
//! re-reads its open shards and checks that the target is still open with
//! the planned range (children from an earlier split are found by range);
//! if not, it stops that stream's plan and says why rather than act on a
//! stale plan. Last, right before recording the operation, it re-reads the
//! cooldown tags, and stops if someone else recorded a reshard since its
//! view of the stream (another replica racing for the same plan), unless
//! that record names this run's own last operation and the shards are
//! exactly as it left them (the record of a replica that lost the race for
//! that operation). Splits check the account's shard quota first. After each
//! operation it waits for ACTIVE again and records the operation in the
//! stream's tags, so a process that dies between operations loses nothing.
//!
//! Errors are handled by kind: throttling backs off with jitter and retries
//! within a bound; ResourceInUse waits for ACTIVE; a timeout or lost reply
//! re-reads the stream to learn whether the call took effect; a refused or
//! missing stream or shard stops the plan with the reason.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::apply::report::{Applied, ApplyReport, Event, Stop, StopKind, WarmApplied, log_event};
use crate::apply::retry::{self, Call, Reaction};
use crate::apply::shutdown::Shutdown;
use crate::apply::tags;
use crate::model::{Api, ApiError, ApiLimiter, ApiResult, StreamId};
use crate::model::{HashKey, HashKeyRange, Shard, ShardId};
use crate::model::{History, StreamStatus};
use crate::observe::{Clock, KinesisRead, KinesisWrite};
use crate::planner::{Action, Plan};

/// Bounds on waiting and retrying.
#[derive(Clone, Debug)]
pub struct ExecutorConfig {
    /// The longest wait for a stream to become ACTIVE.
    pub active_timeout: Duration,
    /// First and longest pause between DescribeStreamSummary polls.
    pub poll_initial: Duration,
    pub poll_max: Duration,
    /// Attempts per operation before giving up on throttling or lost replies.
    pub max_attempts: u32,
    /// First and longest backoff after throttling, before jitter.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// How long one operation takes to issue, finish and record; no
    /// operation starts with less than this left before the deadline.
    pub operation_estimate: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            active_timeout: Duration::from_secs(15 * 60),
            poll_initial: Duration::from_secs(1),
            poll_max: Duration::from_secs(15),
            max_attempts: 6,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            operation_estimate: Duration::from_secs(90),
        }
    }
}

/// What a wait is for, which decides what may cut it short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// Before an operation is issued: shutdown ends it, and so does the
    /// point after which the operation could not finish by the deadline.
    BeforeOperation,
    /// After an operation (already recorded) is issued, for it to finish:
    /// shutdown and the deadline end it.
    AfterOperation,
    /// After a call whose outcome is unknown, to learn what it did: only
    /// the deadline ends it, so a first signal does not leave it unknown.
    Settling,
}

/// The concrete call an action turns into once its target is found.
enum Reshard {
    Split { shard: ShardId, key: HashKey },
    Merge { shard: ShardId, adjacent: ShardId },
}

impl Reshard {
    /// The call that carries it out.
    fn api(&self) -> Api {
        match self {
            Reshard::Split { .. } => Api::SplitShard,
            Reshard::Merge { .. } => Api::MergeShards,
        }
    }
}

/// What re-reading the stream says about an action.
enum Located {
    Ready(Reshard),
    /// The layout already shows the action's result.
    Done,
    Stale(String),
}

/// Where `action` stands among the `open` shards: ready (with the shards
/// it names now), already done, or stale.
fn located_in(open: &[Shard], action: &Action) -> Located {
    let by_range = |range: HashKeyRange| open.iter().find(|s| s.range == range);
    let by_id = |id: &ShardId| open.iter().find(|s| &s.id == id);
    match action {
        Action::Split(split) => {
            let range = split.range();
            let found: Option<&Shard> = match &split.shard_id {
                Some(id) => by_id(id).filter(|s| s.range == range),
                None => by_range(range),
            };
            match found {
                Some(s) => Located::Ready(Reshard::Split {
                    shard: s.id.clone(),
                    key: split.new_starting_hash_key,
                }),
                None => match range.split_at(split.new_starting_hash_key) {
                    Ok((low, high)) if by_range(low).is_some() && by_range(high).is_some() => {
                        Located::Done
                    }
                    _ => Located::Stale(format!(
                        "no open shard owns exactly {range} any more{}",
                        split
                            .shard_id
                            .as_ref()
                            .map(|id| format!(" ({id} was split or merged)"))
                            .unwrap_or_default()
                    )),
                },
            }
        }
        Action::Merge(merge) => {
            let (low, high) = merge.ranges();
            let a = by_id(&merge.shard_id).filter(|s| s.range == low);
            let b = by_id(&merge.adjacent_shard_id).filter(|s| s.range == high);
            match (a, b) {
                (Some(a), Some(b)) => Located::Ready(Reshard::Merge {
                    shard: a.id.clone(),
                    adjacent: b.id.clone(),
                }),
                _ if low.merge(&high).and_then(by_range).is_some() => Located::Done,
                _ => Located::Stale(format!(
                    "{} and {} are no longer both open with their planned ranges",
                    merge.shard_id, merge.adjacent_shard_id
                )),
            }
        }
    }
}

/// What re-reading the stream allows: the operation to carry out, or
/// (`Err` inside) the time it was already carried out at by this run's
/// own call whose reply was lost; or why to stop.
fn ready(
    located: Located,
    issued_at: Option<DateTime<Utc>>,
    stream: &StreamId,
    action: &Action,
) -> Result<Result<Reshard, DateTime<Utc>>, Stop> {
    match (located, issued_at) {
        (Located::Ready(target), _) => Ok(Ok(target)),
        (Located::Done, Some(at)) => Ok(Err(at)),
        (Located::Done, None) => Err(Stop::new(
            StopKind::StalePlan,
            format!(
                "stream {stream}: {} was already carried out (by another process?); not applying it twice",
                describe(action)
            ),
        )),
        (Located::Stale(why), _) => Err(Stop::new(
            StopKind::StalePlan,
            format!("stream {stream}: stale plan: {why}"),
        )),
    }
}

/// Applies plans with the given capabilities. Built with
/// [`Executor::new`] and the `with_*` methods.
pub struct Executor<'a, R, W, C> {
    pub(crate) read: &'a R,
    pub(crate) write: &'a W,
    pub(crate) clock: &'a C,
    /// Paces SplitShard and MergeShards: the limiter the AWS adapters
    /// share, which leave these two calls to the executor (see
    /// [`Executor::new`]).
    limiter: &'a ApiLimiter,
    config: ExecutorConfig,
    /// No operation starts unless it can finish before this.
    deadline: Option<Instant>,
    shutdown: Option<&'a Shutdown>,
    on_event: &'a (dyn Fn(Event<'_>) + Send + Sync),
}

impl<R, W, C> fmt::Debug for Executor<'_, R, W, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<'a, R, W, C> Executor<'a, R, W, C> {
    /// An executor with the default bounds, no deadline, no shutdown
    /// signal, and progress logged through `tracing`.
    ///
    /// `limiter` paces the resharding calls. Against AWS it must be the
    /// limiter the adapters share (`aws::Live` builds it so): the writer
    /// paces every call but SplitShard and MergeShards, whose slot the
    /// executor takes itself, before its last read of the cooldown tags,
    /// so that a replica that recorded the same operation meanwhile is
    /// seen.
    pub fn new(read: &'a R, write: &'a W, clock: &'a C, limiter: &'a ApiLimiter) -> Self {
        Executor {
            read,
            write,
            clock,
            limiter,
            config: ExecutorConfig::default(),
            deadline: None,
            shutdown: None,
            on_event: &log_event,
        }
    }

    pub fn with_config(mut self, config: ExecutorConfig) -> Self {
        self.config = config;
        self
    }

    /// No operation starts unless it can finish before `deadline`.
    pub fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Stops between operations once `shutdown` is requested.
    pub fn with_shutdown(mut self, shutdown: &'a Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Reports progress to `on_event` instead of the log.
    pub fn on_event(mut self, on_event: &'a (dyn Fn(Event<'_>) + Send + Sync)) -> Self {
        self.on_event = on_event;
        self
    }
}

impl<R: KinesisRead, W: KinesisWrite, C: Clock> Executor<'_, R, W, C> {
    /// Applies `plan` to `stream`.
    pub async fn apply(&self, stream: &StreamId, plan: &Plan) -> ApplyReport {
        let mut report = ApplyReport {
            stream: stream.name.clone(),
            applied: Vec::new(),
            warm_throughput: None,
            not_applied: Vec::new(),
            stop: None,
        };
        let total = plan.actions.len();
        let mut since = plan.observed_at;
        // The open ranges this run's last operation left, and its record.
        let mut left: Option<(Vec<HashKeyRange>, String)> = None;
        for (index, action) in plan.actions.iter().enumerate() {
            let result = match self.time_left() {
                Err(stop) => Err(stop),
                Ok(()) => {
                    (self.on_event)(Event::Starting {
                        stream: &stream.name,
                        index,
                        total,
                        action,
                    });
                    let left = left.as_ref().map(|(l, note)| (l.as_slice(), note.as_str()));
                    self.apply_one(stream, plan, action, since, left).await
                }
            };
            let stop = match result {
                Ok((at, after)) => {
                    since = at;
                    left = Some((after, tags::as_recorded(&describe(action))));
                    report.applied.push(Applied {
                        action: action.clone(),
                        at,
                        children: Vec::new(),
                    });
                    (self.on_event)(Event::Applied {
                        stream: &stream.name,
                        index,
                        total,
                        action,
                    });
                    // The operation is recorded already (before it was
                    // issued); waiting for it to finish only tells the
                    // next one, or the person watching, that it did.
                    match self.wait_active(stream, Wait::AfterOperation).await {
                        Ok(()) => {
                            // Which shards it made, for the report: by range.
                            if let Ok(open) = self.read.list_open_shards(stream).await
                                && let Some(applied) = report.applied.last_mut()
                            {
                                applied.children = children_of(action, &open);
                            }
                            continue;
                        }
                        Err(stop) => {
                            report.not_applied = plan.actions[index + 1..].to_vec();
                            stop
                        }
                    }
                }
                Err(stop) => {
                    report.not_applied = plan.actions[index..].to_vec();
                    stop
                }
            };
            (self.on_event)(Event::Stopped {
                stream: &stream.name,
                stop: &stop,
            });
            report.stop = Some(stop);
            break;
        }
        report
    }

    /// Whether another operation may start now.
    fn time_left(&self) -> Result<(), Stop> {
        if self.shutdown.is_some_and(Shutdown::is_requested) {
            return Err(Stop::new(
                StopKind::Shutdown,
                "stopping: shutdown requested",
            ));
        }
        if let Some(deadline) = self.deadline
            && Instant::now() + self.config.operation_estimate > deadline
        {
            return Err(self.deadline_stop());
        }
        Ok(())
    }

    /// Carries out one action, returning when it was issued and the open
    /// ranges it leaves. `since` is when the stream was last known to this
    /// run (the observation, or this run's previous operation): cooldown
    /// tags newer than that were written by someone else. `left` is the
    /// layout this run's previous operation left, if any.
    async fn apply_one(
        &self,
        stream: &StreamId,
        plan: &Plan,
        action: &Action,
        since: DateTime<Utc>,
        left: Option<(&[HashKeyRange], &str)>,
    ) -> Result<(DateTime<Utc>, Vec<HashKeyRange>), Stop> {
        let mut since = since;
        let mut attempt = 0;
        // As read before the first attempt, for the day's count.
        let mut history = History::default();
        // Set after a call whose outcome is unknown (timeout, lost reply).
        let mut issued_at: Option<DateTime<Utc>> = None;
        loop {
            let wait = if issued_at.is_some() {
                Wait::Settling
            } else {
                Wait::BeforeOperation
            };
            self.wait_active(stream, wait).await?;
            let (located, open) = self.locate(stream, plan, action).await?;
            let target = match ready(located, issued_at, stream, action)? {
                Ok(target) => target,
                Err(done_at) => return Ok((done_at, open)),
            };
            if matches!(target, Reshard::Split { .. }) {
                self.check_quota(stream).await?;
            }
            self.limiter.pace(target.api()).await;
            // The last moment to decline: shutdown asked, or too close to
            // the deadline to finish.
            self.time_left()?;
            // Read after every wait, right before the record: another
            // replica that recorded meanwhile is seen, and this one steps
            // aside rather than record (and race for) the same operation.
            if issued_at.is_none() {
                // This run's last operation, if the shards are as it left them.
                let ours = left
                    .filter(|(layout, _)| *layout == open.as_slice())
                    .map(|(_, note)| note);
                history = self.check_history(stream, since, ours).await?;
            }
            attempt += 1;
            let at = self.clock.now();
            // Recorded before it is first issued, so a process that dies
            // right after the call still leaves its cooldown behind.
            if attempt == 1 {
                self.record(stream, action, &history, at).await?;
                since = at;
            }
            // The operation counts from its first attempt, as its cooldown does.
            let at = since;
            let result = self.issue(stream, &target).await;
            let error = match result {
                Ok(()) => return Ok((at, layout_after(&open, action))),
                Err(e) => e,
            };
            let (delay, reread) = self.retry_delay(&error, attempt, stream)?;
            if reread {
                issued_at = Some(at);
            }
            (self.on_event)(Event::Retrying {
                stream: &stream.name,
                attempt,
                delay,
                error: &error,
            });
            let wait = if issued_at.is_some() {
                Wait::Settling
            } else {
                Wait::BeforeOperation
            };
            self.sleep(delay, wait).await?;
        }
    }

    /// Calls SplitShard or MergeShards for `target`.
    async fn issue(&self, stream: &StreamId, target: &Reshard) -> ApiResult<()> {
        match target {
            Reshard::Split { shard, key } => self.write.split_shard(stream, shard, *key).await,
            Reshard::Merge { shard, adjacent } => {
                self.write.merge_shards(stream, shard, adjacent).await
            }
        }
    }

    /// How long to wait before the next attempt after `error` on attempt
    /// `attempt`, and whether the call's outcome is unknown (the stream is
    /// read again before another); or why to stop.
    fn retry_delay(
        &self,
        error: &ApiError,
        attempt: u32,
        stream: &StreamId,
    ) -> Result<(Duration, bool), Stop> {
        match retry::react(error.kind, Call::Reshard, attempt, self.config.max_attempts) {
            Reaction::Stop(_) if attempt >= self.config.max_attempts => Err(Stop::new(
                Stop::from_api(error, stream).kind,
                format!("stream {stream}: gave up after {attempt} attempts: {error}"),
            )),
            Reaction::Stop(_) => Err(Stop::from_api(error, stream)),
            // The loop waits for ACTIVE before trying again.
            Reaction::AwaitActive => Ok((Duration::ZERO, false)),
            Reaction::Backoff => Ok((self.backoff(attempt), false)),
            Reaction::Reread => Ok((self.backoff(attempt), true)),
        }
    }

    /// Sets an On-Demand stream's warm throughput to `mib` MiB/s: waits
    /// for ACTIVE, calls UpdateStreamWarmThroughput (retrying throttling:
    /// setting a value twice is harmless), and waits for ACTIVE again
    /// while the stream scales.
    pub async fn set_warm_throughput(
        &self,
        stream: &StreamId,
        from_mib: Option<u32>,
        mib: u32,
    ) -> Result<WarmApplied, Stop> {
        self.time_left()?;
        self.wait_active(stream, Wait::BeforeOperation).await?;
        self.retrying(stream, Wait::BeforeOperation, || {
            self.write.update_warm_throughput(stream, mib)
        })
        .await?;
        let at = self.clock.now();
        self.wait_active(stream, Wait::AfterOperation).await?;
        Ok(WarmApplied {
            from_mib,
            to_mib: mib,
            at,
        })
    }

    /// Exponential backoff with equal jitter.
    fn backoff(&self, attempt: u32) -> Duration {
        retry::backoff(
            self.config.backoff_initial,
            self.config.backoff_max,
            attempt,
            fastrand::f64(),
        )
    }

    /// Sleeps for `delay`, or less as `wait` allows: shutdown ends every
    /// wait but [`Wait::Settling`], and the deadline ends waits before an
    /// operation early enough to leave it time to finish.
    async fn sleep(&self, delay: Duration, wait: Wait) -> Result<(), Stop> {
        let now = Instant::now();
        let cutoff = match wait {
            Wait::BeforeOperation => self
                .deadline
                .map(|d| d.checked_sub(self.config.operation_estimate).unwrap_or(now)),
            Wait::AfterOperation | Wait::Settling => self.deadline,
        };
        let (until, past_cutoff) = match cutoff {
            Some(c) if now + delay > c => (c.max(now), true),
            _ => (now + delay, false),
        };
        let shutdown = self.shutdown.filter(|_| wait != Wait::Settling);
        match shutdown {
            Some(s) => {
                tokio::select! {
                    () = tokio::time::sleep_until(until) => {}
                    () = s.requested() => return Err(Stop::new(StopKind::Shutdown, "stopping: shutdown requested")),
                }
            }
            None => tokio::time::sleep_until(until).await,
        }
        if past_cutoff {
            return Err(self.deadline_stop());
        }
        Ok(())
    }

    fn deadline_stop(&self) -> Stop {
        Stop::new(
            StopKind::Deadline,
            format!(
                "stopping: less than {} left before the deadline to issue, finish and record another operation; the next run continues",
                humantime::format_duration(self.config.operation_estimate)
            ),
        )
    }

    /// Polls until the stream is ACTIVE, within `active_timeout`.
    async fn wait_active(&self, stream: &StreamId, wait: Wait) -> Result<(), Stop> {
        let started = Instant::now();
        let mut delay = self.config.poll_initial;
        let mut attempt = 0;
        loop {
            match self.read.describe_stream(stream).await {
                Ok(s) if s.status == StreamStatus::Active => return Ok(()),
                Ok(s) if s.status == StreamStatus::Deleting => {
                    return Err(Stop::new(
                        StopKind::StreamGone,
                        format!("stream {stream} is being deleted"),
                    ));
                }
                Ok(s) => (self.on_event)(Event::Waiting {
                    stream: &stream.name,
                    status: s.status,
                }),
                Err(e) => {
                    attempt += 1;
                    let reaction =
                        retry::react(e.kind, Call::Idempotent, attempt, self.config.max_attempts);
                    if let Reaction::Stop(_) = reaction {
                        return Err(Stop::from_api(&e, stream));
                    }
                }
            }
            if started.elapsed() + delay > self.config.active_timeout {
                return Err(Stop::new(
                    StopKind::Timeout,
                    format!(
                        "stream {stream} did not become ACTIVE within {}; the reshard may still finish, the next run continues from there",
                        humantime::format_duration(self.config.active_timeout)
                    ),
                ));
            }
            self.sleep(delay, wait).await?;
            delay = (delay * 2).min(self.config.poll_max);
        }
    }

    /// Finds the open shard(s) an action applies to in the current layout,
    /// and checks the plan's bounds against the layout as it is now. Also
    /// returns the open ranges, sorted.
    async fn locate(
        &self,
        stream: &StreamId,
        plan: &Plan,
        action: &Action,
    ) -> Result<(Located, Vec<HashKeyRange>), Stop> {
        let open = self
            .retrying(stream, Wait::BeforeOperation, || {
                self.read.list_open_shards(stream)
            })
            .await?;
        let mut ranges: Vec<HashKeyRange> = open.iter().map(|s| s.range).collect();
        ranges.sort();
        let count = open.len() as u32;
        match action {
            Action::Split(_) if count >= plan.max_shards => {
                return Ok((
                    Located::Stale(format!(
                        "the stream has {count} open shards now, at or above max_shards {}",
                        plan.max_shards
                    )),
                    ranges,
                ));
            }
            Action::Merge(_) if count <= plan.min_shards => {
                return Ok((
                    Located::Stale(format!(
                        "the stream has {count} open shards now, at or below min_shards {}",
                        plan.min_shards
                    )),
                    ranges,
                ));
            }
            _ => {}
        }
        Ok((located_in(&open, action), ranges))
    }

    async fn check_quota(&self, stream: &StreamId) -> Result<(), Stop> {
        let quota = self
            .retrying(stream, Wait::BeforeOperation, || self.read.shard_quota())
            .await?;
        if quota.headroom() == 0 {
            return Err(Stop::shard_quota(
                stream,
                &format!(
                    "{} of {} open shards",
                    quota.open_shard_count, quota.shard_limit
                ),
            ));
        }
        Ok(())
    }

    /// Stops if the stream's cooldown tags are newer than `since`: someone
    /// else resharded the stream after this plan was made. Unless
    /// `as_left`, the open ranges being exactly those this run's previous
    /// operation left: then the newer record is of no reshard that
    /// happened, the record of another replica that raced this run for
    /// that operation and lost (it records before it issues, then finds the
    /// operation done). Returns the history read.
    async fn check_history(
        &self,
        stream: &StreamId,
        since: DateTime<Utc>,
        ours: Option<&str>,
    ) -> Result<History, Stop> {
        let history = self
            .retrying(stream, Wait::BeforeOperation, || {
                self.read.read_history(stream)
            })
            .await?;
        let latest = history.last_scale_up.max(history.last_scale_down);
        match latest {
            Some(t) if t > since && ours.is_some() && history.last_action.as_deref() == ours => {
                tracing::info!(
                    stream = %stream,
                    "a reshard was recorded after this run's last operation, but the shards are as that operation left them: another replica raced for it and lost; going on"
                );
                Ok(history)
            }
            Some(t) if t > since => Err(Stop::new(
                StopKind::StalePlan,
                format!(
                    "stream {stream}: stale plan: the stream was resharded at {} (by another controller?), after this plan's view of it",
                    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                ),
            )),
            _ => Ok(history),
        }
    }

    /// Records the operation in the stream's tags, before it is issued:
    /// only the time of this kind of operation, so that a concurrent
    /// writer's time for the other kind is never set back.
    async fn record(
        &self,
        stream: &StreamId,
        action: &Action,
        history: &History,
        at: DateTime<Utc>,
    ) -> Result<(), Stop> {
        let note = describe(action);
        // The day's count, from the history just read (a concurrent writer
        // may count the same slot: the cap is kept to within one).
        let today = Some(history.counted(at));
        let update = match action {
            Action::Split(_) => History {
                last_scale_up: Some(at),
                today,
                ..History::default()
            },
            Action::Merge(_) => History {
                last_scale_down: Some(at),
                today,
                ..History::default()
            },
        };
        self.retrying(stream, Wait::BeforeOperation, || {
            self.write.write_history(stream, &update, &note)
        })
        .await
        .map_err(|stop| {
            Stop::new(
                stop.kind,
                format!(
                    "{note} was not applied: its cooldown could not be recorded in the stream's tags first: {}",
                    stop.message
                ),
            )
        })
    }

    /// Runs a read or bookkeeping call, retrying transient errors.
    async fn retrying<T, F, Fut>(
        &self,
        stream: &StreamId,
        wait: Wait,
        mut call: F,
    ) -> Result<T, Stop>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let e = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let delay =
                match retry::react(e.kind, Call::Idempotent, attempt, self.config.max_attempts) {
                    Reaction::Stop(_) => return Err(Stop::from_api(&e, stream)),
                    Reaction::AwaitActive => self.config.poll_initial,
                    Reaction::Backoff | Reaction::Reread => self.backoff(attempt),
                };
            (self.on_event)(Event::Retrying {
                stream: &stream.name,
                attempt,
                delay,
                error: &e,
            });
            self.sleep(delay, wait).await?;
        }
    }
}

/// The open shards `action` made: those owning exactly the ranges it
/// leaves in place of its parents', in key order.
fn children_of(action: &Action, open: &[Shard]) -> Vec<ShardId> {
    let ranges: Vec<HashKeyRange> = match action {
        Action::Split(split) => split
            .range()
            .split_at(split.new_starting_hash_key)
            .map(|(low, high)| vec![low, high])
            .unwrap_or_default(),
        Action::Merge(merge) => {
            let (low, high) = merge.ranges();
            low.merge(&high).into_iter().collect()
        }
    };
    ranges
        .iter()
        .filter_map(|r| open.iter().find(|s| s.range == *r).map(|s| s.id.clone()))
        .collect()
}

/// The open ranges once `action` is carried out on `open` (sorted).
fn layout_after(open: &[HashKeyRange], action: &Action) -> Vec<HashKeyRange> {
    let mut after = open.to_vec();
    match action {
        Action::Split(split) => {
            if let Ok((low, high)) = split.range().split_at(split.new_starting_hash_key) {
                after.retain(|r| *r != split.range());
                after.extend([low, high]);
            }
        }
        Action::Merge(merge) => {
            let (low, high) = merge.ranges();
            if let Some(merged) = low.merge(&high) {
                after.retain(|r| *r != low && *r != high);
                after.push(merged);
            }
        }
    }
    after.sort();
    after
}

pub(crate) use crate::planner::describe;

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use super::*;
    use crate::model::check_layout;
    use crate::model::{ApiErrorKind, Quotas, StreamMode};
    use crate::observe::TokioClock;
    use crate::planner::plan;
    use crate::sim::{SimConfig, SimKinesis};
    use crate::testkit::{OBSERVED_AT, StreamBuilder, assert_contains, uniform_ranges};

    const STREAM: &str = "orders";

    struct Fixture {
        sim: SimKinesis<TokioClock>,
        clock: TokioClock,
        limiter: ApiLimiter,
        config: ExecutorConfig,
        events: StdMutex<Vec<String>>,
        /// Requested when the first operation starts, if set.
        stop_on_start: StdMutex<Option<crate::apply::shutdown::ShutdownTrigger>>,
        shutdown: Option<Shutdown>,
    }

    impl Fixture {
        fn new(shards: u32, sim: SimConfig) -> Self {
            let clock = TokioClock::starting_at(OBSERVED_AT.parse().unwrap());
            let kinesis = SimKinesis::new(clock, sim);
            kinesis.create_stream(STREAM, &uniform_ranges(shards), StreamMode::Provisioned);
            Fixture {
                sim: kinesis,
                clock,
                limiter: ApiLimiter::default(),
                config: ExecutorConfig::default(),
                events: StdMutex::new(Vec::new()),
                stop_on_start: StdMutex::new(None),
                shutdown: None,
            }
        }

        async fn apply(&self, plan: &Plan, deadline: Option<Instant>) -> ApplyReport {
            let on_event = |e: Event<'_>| {
                if let Event::Starting { .. } = e
                    && let Some(trigger) = self.stop_on_start.lock().unwrap().take()
                {
                    trigger.request();
                }
                let line = match e {
                    Event::Starting { index, .. } => format!("starting {index}"),
                    Event::Waiting { status, .. } => format!("waiting {status}"),
                    Event::Retrying { attempt, error, .. } => {
                        format!("retry {attempt} {:?}", error.kind)
                    }
                    Event::Applied { index, .. } => format!("applied {index}"),
                    Event::Stopped { stop, .. } => format!("stopped {:?}", stop.kind),
                };
                self.events.lock().unwrap().push(line);
            };
            let mut executor = Executor::new(&self.sim, &self.sim, &self.clock, &self.limiter)
                .with_config(self.config.clone())
                .with_deadline(deadline)
                .on_event(&on_event);
            if let Some(shutdown) = &self.shutdown {
                executor = executor.with_shutdown(shutdown);
            }
            executor.apply(&StreamId::named(STREAM), plan).await
        }

        fn open_ranges(&self) -> Vec<HashKeyRange> {
            let stream = self.sim.stream(STREAM).unwrap();
            let mut ranges: Vec<_> = stream.open_shards().map(|s| s.range).collect();
            ranges.sort();
            ranges
        }

        fn events(&self) -> Vec<String> {
            self.events.lock().unwrap().clone()
        }
    }

    /// A plan splitting shard 0 of a `shards`-shard stream, three times
    /// with `deep` (a chain into four), once otherwise.
    fn split_plan(shards: u32, deep: bool) -> Plan {
        let builder = StreamBuilder::new(STREAM, shards).all(0.5);
        let obs = if deep {
            builder.records(0, 1.0, 90_000.0).build()
        } else {
            builder.constant(0, 0.95).build()
        };
        plan(&obs, &crate::testkit::policy(), obs.observed_at)
    }

    #[tokio::test(start_paused = true)]
    async fn applies_a_split_chain_in_order_and_records_it() {
        let fx = Fixture::new(2, SimConfig::default());
        let plan = split_plan(2, true);
        assert_eq!(plan.actions.len(), 3);
        let report = fx.apply(&plan, None).await;
        assert!(report.is_complete(), "{report:?}");
        assert_eq!(report.applied.len(), 3);
        let open = fx.open_ranges();
        assert_eq!(open.len(), 5);
        let stream = fx.sim.stream(STREAM).unwrap();
        let mut open: Vec<_> = stream.open_shards().collect();
        open.sort_by_key(|s| s.range);
        assert!(check_layout(open).is_empty());
        // Each operation names the two shards it made, by range: the first
        // split's children, the second and third split's.
        for applied in &report.applied {
            let Action::Split(split) = &applied.action else {
                unreachable!()
            };
            let (low, high) = split.range().split_at(split.new_starting_hash_key).unwrap();
            let made: Vec<HashKeyRange> = applied
                .children
                .iter()
                .map(|id| stream.shards.iter().find(|s| &s.id == id).unwrap().range)
                .collect();
            assert_eq!(made, [low, high], "{applied:?}");
        }
        // Each split waited for the previous one: 30 s of UPDATING each.
        let times: Vec<_> = report.applied.iter().map(|a| a.at).collect();
        assert!(
            times
                .windows(2)
                .all(|w| w[1] - w[0] >= chrono::TimeDelta::seconds(30)),
            "{times:?}"
        );
        // The last split is recorded in the tags.
        assert_eq!(
            stream.tags.get(tags::LAST_SCALE_UP).map(String::as_str),
            Some(
                report.applied[2]
                    .at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    .as_str()
            )
        );
        // And counted in the day's reshards, from the first.
        assert_eq!(
            stream.tags.get(tags::RESHARDS_TODAY).map(String::as_str),
            Some(
                format!(
                    "{} 3",
                    report.applied[0]
                        .at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )
                .as_str()
            )
        );
        // The note names the child by its range, in characters tags allow.
        let Action::Split(last) = &report.applied[2].action else {
            panic!("a split")
        };
        assert_eq!(
            stream.tags[tags::LAST_ACTION],
            format!(
                "split {}-{} at {}",
                last.starting_hash_key, last.ending_hash_key, last.new_starting_hash_key
            )
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_plan_already_carried_out_is_not_applied_twice() {
        let fx = Fixture::new(2, SimConfig::default());
        let plan = split_plan(2, false);
        assert!(fx.apply(&plan, None).await.is_complete());
        let again = fx.apply(&plan, None).await;
        assert_eq!(again.applied, vec![]);
        let stop = again.stop.unwrap();
        assert_eq!(stop.kind, StopKind::StalePlan);
        assert_contains(&stop.message, "already carried out");
        assert_eq!(fx.sim.calls("SplitShard"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_plan_made_stale_by_someone_else_stops() {
        let fx = Fixture::new(2, SimConfig::default());
        let plan = split_plan(2, false);
        // Someone merges the two shards before the plan runs.
        fx.sim
            .merge_shards(
                &StreamId::named(STREAM),
                &"shardId-000000000000".into(),
                &"shardId-000000000001".into(),
            )
            .await
            .unwrap();
        let report = fx.apply(&plan, None).await;
        let stop = report.stop.unwrap();
        assert_eq!(stop.kind, StopKind::StalePlan);
        assert_contains(&stop.message, "shardId-000000000000 was split or merged");
        assert_eq!(report.not_applied, plan.actions);
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_backs_off_and_retries() {
        let fx = Fixture::new(2, SimConfig::default());
        fx.sim
            .fail_next(Api::SplitShard, ApiErrorKind::Throttled, 2);
        let report = fx.apply(&split_plan(2, false), None).await;
        assert!(report.is_complete(), "{report:?}");
        let retries: Vec<_> = fx
            .events()
            .into_iter()
            .filter(|e| e.starts_with("retry"))
            .collect();
        assert_eq!(retries, ["retry 1 Throttled", "retry 2 Throttled"]);
    }

    #[tokio::test(start_paused = true)]
    async fn persistent_throttling_gives_up_cleanly() {
        let fx = Fixture::new(2, SimConfig::default());
        fx.sim
            .fail_next(Api::SplitShard, ApiErrorKind::Throttled, 100);
        let started = Instant::now();
        let report = fx.apply(&split_plan(2, false), None).await;
        let stop = report.stop.unwrap();
        assert_eq!(stop.kind, StopKind::Throttled);
        assert_contains(&stop.message, "gave up after 6 attempts");
        assert_contains(&stop.message, "LimitExceededException");
        // Bounded: the backoffs (1, 2, 4, 8, 16 s before jitter) stay under a minute.
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(fx.open_ranges().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn resource_in_use_waits_for_active_and_retries() {
        let fx = Fixture::new(2, SimConfig::default());
        fx.sim
            .fail_next(Api::MergeShards, ApiErrorKind::ResourceInUse, 1);
        let obs = StreamBuilder::new(STREAM, 2).all(0.1).build();
        let plan = plan(&obs, &crate::testkit::policy(), obs.observed_at);
        let report = fx.apply(&plan, None).await;
        assert!(report.is_complete(), "{report:?}");
        assert_eq!(fx.open_ranges(), vec![HashKeyRange::FULL]);
        assert!(fx.events().contains(&"retry 1 ResourceInUse".to_owned()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_reply_is_recognised_as_applied() {
        let fx = Fixture::new(2, SimConfig::default());
        fx.sim
            .lose_next_reply(Api::SplitShard, ApiErrorKind::Timeout);
        let report = fx.apply(&split_plan(2, false), None).await;
        assert!(report.is_complete(), "{report:?}");
        assert_eq!(report.applied.len(), 1);
        assert_eq!(fx.sim.calls("SplitShard"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_deleted_mid_plan_stops_with_what_was_done() {
        let fx = Fixture::new(2, SimConfig::default());
        let plan = split_plan(2, true);
        let apply = fx.apply(&plan, None);
        let delete = async {
            // The first split has been issued after the first event; delete
            // the stream while it is UPDATING.
            tokio::time::sleep(Duration::from_secs(10)).await;
            fx.sim.delete_stream(STREAM);
        };
        let (report, ()) = tokio::join!(apply, delete);
        assert_eq!(report.applied.len(), 1);
        assert_eq!(report.not_applied.len(), 2);
        let stop = report.stop.unwrap();
        assert_eq!(stop.kind, StopKind::StreamGone);
        assert_contains(&stop.message, "was the stream deleted?");
    }

    #[tokio::test(start_paused = true)]
    async fn the_shard_quota_stops_splitting_before_asking() {
        let fx = Fixture::new(
            2,
            SimConfig {
                shard_limit: 3,
                ..SimConfig::default()
            },
        );
        let report = fx.apply(&split_plan(2, true), None).await;
        assert_eq!(report.applied.len(), 1, "one split fits the quota of 3");
        let stop = report.stop.unwrap();
        assert_eq!(stop.kind, StopKind::ShardQuota);
        assert_contains(&stop.message, "3 of 3 open shards");
    }

    #[tokio::test(start_paused = true)]
    async fn no_operation_starts_too_close_to_the_deadline() {
        let fx = Fixture::new(2, SimConfig::default());
        let deadline = Instant::now() + Duration::from_secs(60);
        let report = fx.apply(&split_plan(2, false), Some(deadline)).await;
        assert_eq!(report.applied, vec![]);
        assert_eq!(report.stop.unwrap().kind, StopKind::Deadline);
        assert_eq!(fx.sim.log(), Vec::<String>::new());
    }

    #[tokio::test(start_paused = true)]
    async fn a_reshard_that_never_finishes_times_out() {
        let mut fx = Fixture::new(
            2,
            SimConfig {
                reshard_duration: Duration::from_secs(3600),
                ..SimConfig::default()
            },
        );
        fx.config.active_timeout = Duration::from_secs(120);
        let report = fx.apply(&split_plan(2, true), None).await;
        let stop = report.stop.unwrap();
        assert_eq!(stop.kind, StopKind::Timeout);
        assert_contains(&stop.message, "did not become ACTIVE within 2m");
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_for_active_that_would_cross_the_deadline_starts_nothing() {
        let fx = Fixture::new(
            2,
            SimConfig {
                reshard_duration: Duration::from_secs(120),
                ..SimConfig::default()
            },
        );
        let plan = split_plan(2, false);
        // Someone else's reshard keeps the stream UPDATING for 120 s; with
        // 150 s left and 90 s needed per operation, waiting it out would
        // leave too little time.
        let other = uniform_ranges(2)[1];
        fx.sim
            .split_shard(
                &StreamId::named(STREAM),
                &"shardId-000000000001".into(),
                other.midpoint().unwrap(),
            )
            .await
            .unwrap();
        let started = Instant::now();
        let report = fx
            .apply(&plan, Some(started + Duration::from_secs(150)))
            .await;
        assert_eq!(report.stop.unwrap().kind, StopKind::Deadline);
        assert_eq!(report.applied, vec![]);
        assert!(
            started.elapsed() <= Duration::from_secs(60),
            "gave up at the cutoff: {:?}",
            started.elapsed()
        );
        assert_eq!(fx.sim.calls("SplitShard"), 1, "only the other reshard");
        assert!(
            fx.sim.stream(STREAM).unwrap().tags.is_empty(),
            "nothing recorded"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_before_an_operation_is_issued_starts_nothing() {
        let mut fx = Fixture::new(2, SimConfig::default());
        let (trigger, stop) = crate::apply::shutdown::channel();
        fx.shutdown = Some(stop);
        *fx.stop_on_start.lock().unwrap() = Some(trigger);
        let report = fx.apply(&split_plan(2, false), None).await;
        assert_eq!(report.stop.unwrap().kind, StopKind::Shutdown);
        assert_eq!(report.applied, vec![]);
        assert_eq!(fx.sim.log(), Vec::<String>::new());
    }

    #[tokio::test(start_paused = true)]
    async fn a_reshard_by_another_controller_after_the_plan_makes_it_stale() {
        let fx = Fixture::new(2, SimConfig::default());
        let plan = split_plan(2, false);
        let later = plan.observed_at + chrono::TimeDelta::minutes(1);
        fx.sim
            .set_tags(STREAM, &[(tags::LAST_SCALE_DOWN, &later.to_rfc3339())]);
        let report = fx.apply(&plan, None).await;
        let stop = report.stop.unwrap();
        assert_eq!(stop.kind, StopKind::StalePlan);
        assert_contains(&stop.message, "was resharded at 2026-11-26T02:01:00Z");
        assert_eq!(fx.sim.log(), Vec::<String>::new());
    }

    /// Two replicas racing for the same plan: the other one records the
    /// split half a second after this plan's view, while this one waits
    /// for its slot to reshard (on AWS, also for DescribeLimits' one call
    /// a second). The tags are read after that wait, to the millisecond:
    /// this one stops without recording or splitting. Read before the
    /// wait, or to the second, they showed nothing, and both replicas
    /// recorded the split: the loser's record, newer than the winner's,
    /// then stopped the winner's next operation as another controller's.
    #[tokio::test(start_paused = true)]
    async fn another_replicas_record_made_while_waiting_to_reshard_stops_the_operation() {
        let mut fx = Fixture::new(2, SimConfig::default());
        fx.limiter = ApiLimiter::new(Quotas {
            rates: [(Api::SplitShard, 1.0)].into(),
            headroom: 1.0,
            ..Quotas::default()
        });
        fx.limiter.acquire(Api::SplitShard).await; // the next slot is a second away
        let plan = split_plan(2, false);
        let theirs = History {
            last_scale_up: Some(plan.observed_at + chrono::TimeDelta::milliseconds(500)),
            ..History::default()
        };
        let theirs = tags::encode(&theirs, &describe(&plan.actions[0]));
        let other_replica = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let pairs: Vec<(&str, &str)> = theirs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            fx.sim.set_tags(STREAM, &pairs);
        };
        let (report, ()) = tokio::join!(fx.apply(&plan, None), other_replica);
        let stop = report.stop.unwrap();
        assert_eq!(stop.kind, StopKind::StalePlan);
        assert_contains(&stop.message, "was resharded at 2026-11-26T02:00:00.500Z");
        assert_eq!(fx.sim.calls("SplitShard"), 0, "{:?}", fx.sim.log());
        let tags = fx.sim.stream(STREAM).unwrap().tags;
        assert_eq!(
            tags.get(tags::LAST_SCALE_UP).map(String::as_str),
            Some("2026-11-26T02:00:00.500Z"),
            "the other replica's record stands"
        );
    }

    /// The other side of that race, when both replicas read the tags
    /// before either wrote them: the loser records this run's first split
    /// after this run did, then finds it done. Its newer record must not
    /// stop this run's next split, which no one would make before the
    /// cooldown ends. With a reshard the layout shows, it still does; and
    /// so does a record of another operation, recorded but not carried out
    /// yet (the layout cannot show it).
    #[tokio::test(start_paused = true)]
    async fn a_replica_that_lost_the_race_for_an_operation_does_not_stop_the_next() {
        for (someone_resharded, theirs_is_ours) in [(false, true), (true, true), (false, false)] {
            let sim = SimConfig {
                reshard_duration: Duration::from_secs(1),
                ..SimConfig::default()
            };
            let mut fx = Fixture::new(2, sim);
            // This run looks again 3 s after its first split; the other
            // reshard, if any, is over by then.
            fx.config.poll_initial = Duration::from_secs(3);
            let plan = split_plan(2, true);
            assert_eq!(plan.actions.len(), 3);
            let first_done = tokio::sync::Notify::new();
            let loser = |e: Event<'_>| {
                if let Event::Applied { index: 0, .. } = e {
                    let late = fx.clock.now() + chrono::TimeDelta::milliseconds(20);
                    let theirs = History {
                        last_scale_up: Some(late),
                        ..History::default()
                    };
                    let note = if theirs_is_ours {
                        describe(&plan.actions[0])
                    } else {
                        "split shardId-000000000001 at 255211775190703847597530955573826158592"
                            .to_owned()
                    };
                    let tags = tags::encode(&theirs, &note);
                    let pairs: Vec<(&str, &str)> =
                        tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    fx.sim.set_tags(STREAM, &pairs);
                    first_done.notify_one();
                }
            };
            let executor = Executor::new(&fx.sim, &fx.sim, &fx.clock, &fx.limiter)
                .with_config(fx.config.clone())
                .on_event(&loser);
            let (stream, shard) = (StreamId::named(STREAM), "shardId-000000000001".into());
            let apply = executor.apply(&stream, &plan);
            let other = async {
                first_done.notified().await;
                if !someone_resharded {
                    return;
                }
                let upper = uniform_ranges(2)[1];
                // Another process's split of shard 1, once the stream is
                // ACTIVE again.
                let key = upper.midpoint().unwrap();
                while fx.sim.split_shard(&stream, &shard, key).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            let (report, ()) = tokio::join!(apply, other);
            if someone_resharded || !theirs_is_ours {
                assert_eq!(report.applied.len(), 1, "{report:?}");
                let stop = report.stop.unwrap();
                assert_eq!(stop.kind, StopKind::StalePlan);
                assert_contains(&stop.message, "(by another controller?)");
                assert_eq!(
                    fx.sim.calls("SplitShard"),
                    1 + usize::from(someone_resharded)
                );
            } else {
                assert!(report.is_complete(), "{report:?}");
                assert_eq!(fx.sim.calls("SplitShard"), 3);
                assert_eq!(fx.open_ranges().len(), 5);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn bounds_are_checked_against_the_stream_as_it_is_when_applying() {
        let fx = Fixture::new(2, SimConfig::default());
        let mut plan = split_plan(2, false);
        plan.max_shards = 3;
        // Someone adds a shard between planning and applying.
        let other = uniform_ranges(2)[1];
        fx.sim
            .split_shard(
                &StreamId::named(STREAM),
                &"shardId-000000000001".into(),
                other.midpoint().unwrap(),
            )
            .await
            .unwrap();
        let report = fx.apply(&plan, None).await;
        let stop = report.stop.unwrap();
        assert_eq!(stop.kind, StopKind::StalePlan);
        assert_contains(&stop.message, "3 open shards now, at or above max_shards 3");
    }

    #[tokio::test(start_paused = true)]
    async fn the_cooldown_is_recorded_before_the_operation_is_issued() {
        let fx = Fixture::new(2, SimConfig::default());
        // The split is refused outright, yet its cooldown was written first:
        // a process killed right after a call leaves its cooldown behind.
        fx.sim
            .fail_next(Api::SplitShard, ApiErrorKind::InvalidArgument, 1);
        let report = fx.apply(&split_plan(2, false), None).await;
        assert_eq!(report.stop.unwrap().kind, StopKind::Rejected);
        let tags = fx.sim.stream(STREAM).unwrap().tags;
        assert!(tags.contains_key(tags::LAST_SCALE_UP), "{tags:?}");
        assert!(
            !tags.contains_key(tags::LAST_SCALE_DOWN),
            "only the performed kind is written"
        );
        // And when the record cannot be written, nothing is issued.
        let fx = Fixture::new(2, SimConfig::default());
        fx.sim
            .fail_next(Api::AddTagsToStream, ApiErrorKind::AccessDenied, 1);
        let report = fx.apply(&split_plan(2, false), None).await;
        let stop = report.stop.unwrap();
        assert_eq!(stop.kind, StopKind::AccessDenied);
        assert_contains(
            &stop.message,
            "was not applied: its cooldown could not be recorded",
        );
        assert_eq!(fx.sim.log(), Vec::<String>::new());
    }

    #[tokio::test(start_paused = true)]
    async fn expired_credentials_stop_with_what_to_do() {
        let fx = Fixture::new(2, SimConfig::default());
        fx.sim
            .fail_next(Api::SplitShard, ApiErrorKind::Credentials, 1);
        let report = fx.apply(&split_plan(2, false), None).await;
        let stop = report.stop.unwrap();
        assert_eq!(stop.kind, StopKind::AccessDenied);
        assert_contains(&stop.message, "credentials are wrong or expired");
        assert!(!stop.message.contains("deleted"), "{}", stop.message);
        assert_eq!(fx.sim.stream(STREAM).unwrap().open_shards().count(), 2);
    }
}
