//! Runs one strategy over a scenario's traffic on a virtual clock and
//! measures it.
//!
//! The `planner` strategy is the real controller: the sidecar's pass loop
//! ([`Runner`]), with the scenario's tick as its interval and no jitter,
//! observes the simulated stream through the read and metrics traits,
//! plans with the policy, and applies the plan through the executor,
//! exactly as `run` does against AWS. Waits (the stream UPDATING, backoff,
//! the interval after each pass) pass in virtual time, so a week of
//! traffic takes seconds.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use tracing::instrument::WithSubscriber;

use super::cost::{Billing, CostBreakdown, Usage, cost};
use super::kinesis::{MAX_UPDATE_SHARD_COUNT, SimConfig, SimKinesis};
use super::on_demand;
use super::oracle::Oracles;
use super::scenario::{Scenario, UniformSettings};
use super::traffic::Traffic;
use super::world::{MinuteStats, SimWorld};
use crate::apply::Executor;
use crate::apply::shutdown;
use crate::model::StreamId;
use crate::model::StreamMode;
use crate::model::uniform_ranges;
use crate::model::{BYTES_PER_SHARD_MINUTE, RECORDS_PER_SHARD_MINUTE};
use crate::observe::{Clock, KinesisRead, TokioClock};
use crate::pass::{PassReport, PolicyHandle, Runner, Schedule};
use crate::policy::{Policy, StreamPolicy};

/// When every simulation starts, so runs are reproducible.
pub(crate) const EPOCH: &str = "2026-01-01T00:00:00Z";

/// How the stream is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// kinesis-autoscaler with the policy.
    Planner,
    /// Stream-level thresholds, doubling and halving through UpdateShardCount.
    Uniform,
    /// A fixed number of shards.
    Static(u32),
    /// Kinesis On-Demand (Standard): no shards to manage.
    OnDemand,
    /// On-Demand in an account with On-Demand Advantage: no stream-hour,
    /// cheaper data, a minimum throughput commitment, warm throughput.
    Advantage,
}

impl FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "planner" => Ok(Strategy::Planner),
            "uniform" => Ok(Strategy::Uniform),
            "on-demand" => Ok(Strategy::OnDemand),
            "on-demand-advantage" => Ok(Strategy::Advantage),
            _ => match s.strip_prefix("static:").map(str::parse::<u32>) {
                Some(Ok(n)) if (1..=MAX_UPDATE_SHARD_COUNT).contains(&n) => Ok(Strategy::Static(n)),
                _ => Err(format!(
                    "{} is not a strategy; use planner, uniform, on-demand, on-demand-advantage or static:N (1 <= N <= {MAX_UPDATE_SHARD_COUNT} shards)",
                    crate::input::quote(s)
                )),
            },
        }
    }
}

impl Strategy {
    /// Whether AWS manages the capacity (an On-Demand stream).
    pub fn is_on_demand(self) -> bool {
        matches!(self, Strategy::OnDemand | Strategy::Advantage)
    }

    /// Whether the strategy can run on `scenario`'s account.
    pub fn check(&self, scenario: &Scenario) -> Result<(), String> {
        match self {
            Strategy::Static(n) if *n > scenario.shard_limit => Err(format!(
                "{n} shards is more than the scenario's shard_limit ({}); lower N or raise shard_limit",
                scenario.shard_limit
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Planner => f.write_str("planner"),
            Strategy::Uniform => f.write_str("uniform"),
            Strategy::Static(n) => write!(f, "static:{n}"),
            Strategy::OnDemand => f.write_str("on-demand"),
            Strategy::Advantage => f.write_str("on-demand-advantage"),
        }
    }
}

/// How one strategy did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub strategy: String,
    /// The family of the strategy that ran (none for a derived line, such
    /// as On-Demand with AUTO record distribution).
    #[serde(skip)]
    pub family: Option<super::tune::Family>,
    /// Open shards summed over time.
    pub shard_hours: f64,
    pub throttled_records: u64,
    /// Records offered by producers.
    pub total_records: u64,
    pub throttled_fraction: f64,
    pub splits: u32,
    pub merges: u32,
    /// UpdateShardCount calls (the `uniform` strategy's only operation).
    pub shard_count_updates: u32,
    pub max_open_shards: u32,
    pub oracle_dyadic_shard_hours: f64,
    pub oracle_ideal_shard_hours: f64,
    pub simulated_minutes: usize,
    /// Shards created: two per split, one per merge, what Kinesis creates
    /// for an UpdateShardCount. (On-Demand reshards out of sight: 0.)
    pub new_shards: u32,
    pub new_shards_per_day: f64,
    /// Splits, merges and UpdateShardCount calls.
    pub reshard_operations: u32,
    /// UpdateStreamWarmThroughput calls (on-demand-advantage, with the
    /// policy's `warm_throughput`).
    #[serde(skip_serializing_if = "is_zero")]
    pub warm_throughput_updates: u32,
    /// Minutes with any throttled write (at least one record, rounded).
    pub throttled_minutes: u32,
    /// The largest share of a minute's records throttled, over those
    /// minutes.
    pub worst_minute_throttled_fraction: f64,
    /// Everything, in US dollars: the stream, its data, and running the
    /// controller.
    pub cost_usd: f64,
    pub cost_breakdown: CostBreakdown,
    /// Shard-level metric-hours CloudWatch billed: each metric of each
    /// shard, for every clock hour it was published in.
    pub metric_hours: f64,
    /// Metrics requested from GetMetricData a day, on average.
    pub metrics_requested_per_day: f64,
    /// With a consumer model: minutes whose consumers ended more than a
    /// minute behind (iterator age over 60 s), and the largest age.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_lag: Option<LagSummary>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// How far behind a scenario's modelled consumers fell.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LagSummary {
    /// Minutes ending with an iterator age over [`LAG_MINUTE_MS`].
    pub lag_minutes: u32,
    pub max_iterator_age_seconds: f64,
}

/// A minute whose consumers end further behind than this is a lag minute.
pub const LAG_MINUTE_MS: f64 = 60_000.0;

/// A run's summary, its minute-by-minute record (for charts), and the
/// stream as it ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub summary: Summary,
    pub minutes: Vec<MinuteStats>,
    /// The shards the stream lists at the end, with lineage: the open
    /// ones and those closed within the retention period (24 hours).
    pub shards: Vec<crate::model::Shard>,
    /// Every resharding call that succeeded, in order.
    pub log: Vec<String>,
}

/// Runs `strategy` over `traffic`; `progress` is told the simulated minutes
/// done so far.
pub fn simulate(
    scenario: &Scenario,
    traffic: &Traffic,
    oracles: &Oracles,
    policy: &StreamPolicy,
    strategy: Strategy,
    progress: &(dyn Fn(usize) + Sync),
) -> Outcome {
    virtual_time().block_on(replay(
        scenario, traffic, oracles, policy, strategy, progress,
    ))
}

/// A runtime on tokio's paused clock: time moves only when every task
/// waits, straight to the next timer.
pub(crate) fn virtual_time() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds")
}

/// The simulated stream of `scenario`, with `shards` uniform shards, its
/// traffic starting at `start`.
pub fn world(
    scenario: &Scenario,
    traffic: Traffic,
    clock: TokioClock,
    start: DateTime<Utc>,
    shards: u32,
) -> SimWorld<TokioClock> {
    let kinesis = SimKinesis::new(
        clock,
        SimConfig {
            reshard_duration: scenario.reshard_duration,
            shard_limit: scenario.shard_limit,
        },
    );
    kinesis.create_stream(
        &scenario.stream,
        &uniform_ranges(shards),
        StreamMode::Provisioned,
    );
    SimWorld::new(
        kinesis,
        clock,
        &scenario.stream,
        start,
        traffic,
        scenario.publishing(),
        scenario.burstiness,
    )
    .with_consumer(scenario.consumer_records_per_second)
}

/// A run On-Demand: no resharding to drive, only the traffic played
/// against the stream's capacity (and, on Advantage, its warm
/// throughput, fixed or managed by the controller).
fn replay_on_demand(
    scenario: &Scenario,
    traffic: &Traffic,
    oracles: &Oracles,
    policy: &StreamPolicy,
    strategy: Strategy,
    progress: &(dyn Fn(usize) + Sync),
) -> Outcome {
    let (minutes, warm, updates) = match strategy {
        Strategy::Advantage if scenario.warm_throughput_mib > 0.0 => {
            let warm = on_demand::Warm::Fixed(scenario.warm_throughput_mib);
            (
                on_demand::play(traffic, scenario.burstiness, &warm),
                warm,
                0,
            )
        }
        // The controller manages it, as `warm_throughput` asks.
        Strategy::Advantage if policy.warm_throughput.is_some() => {
            let minutes_of = |d: std::time::Duration| d.as_secs().div_ceil(60) as usize;
            let start: DateTime<Utc> = EPOCH.parse().expect("a valid epoch");
            let mut managed = super::warm::ManagedWarm::new(
                policy,
                &scenario.stream,
                start,
                (
                    minutes_of(scenario.tick),
                    minutes_of(scenario.metrics_delay.1),
                    minutes_of(scenario.reshard_duration),
                ),
            );
            let minutes = on_demand::play_deciding(traffic, scenario.burstiness, |m, played| {
                managed.at(m, played)
            });
            let updates = managed.updates;
            (minutes, on_demand::Warm::Each(managed.series), updates)
        }
        _ => {
            let warm = on_demand::Warm::None;
            (
                on_demand::play(traffic, scenario.burstiness, &warm),
                warm,
                0,
            )
        }
    };
    progress(traffic.minutes());
    let usage = Usage {
        consumers: scenario.consumers,
        efo_consumers: scenario.efo_consumers,
        ..advantage_usage(scenario, strategy, &minutes, &warm)
    };
    let mut summary = summarize(
        scenario,
        strategy,
        oracles,
        &minutes,
        Churn::default(),
        usage,
    );
    summary.warm_throughput_updates = updates;
    Outcome {
        summary,
        minutes,
        shards: Vec::new(),
        log: Vec::new(),
    }
}

/// Drives the simulated stream by `strategy` until `end`: the
/// controller's passes, or the uniform baseline's checks (nothing for a
/// static stream). `on_pass` is called after each.
async fn drive(
    scenario: &Scenario,
    policy: &StreamPolicy,
    strategy: Strategy,
    (world, clock): (&SimWorld<TokioClock>, &TokioClock),
    end: DateTime<Utc>,
    on_pass: &(dyn Fn() + Sync),
) {
    match strategy {
        Strategy::Planner => {
            // The sidecar's loop, on the virtual clock: the same passes,
            // memory and schedule as `run`, without jitter.
            let policy = PolicyHandle::new(Policy::single(
                Path::new("the simulation's policy"),
                &scenario.stream,
                policy.clone(),
            ));
            let (_never, stop) = shutdown::channel();
            // The account's resharding quotas, with the headroom the
            // controller keeps on AWS, on the virtual clock.
            let limiter = crate::model::ApiLimiter::default();
            let quiet = |_: crate::apply::Event<'_>| {};
            let executor = Executor::new(world, world, clock, &limiter).on_event(&quiet);
            let schedule = Schedule {
                interval: scenario.tick,
                jitter: 0.0,
            };
            let on_pass = |_: &PassReport| on_pass();
            // A simulation reports its outcome, not a log line per pass.
            Runner::new(&executor, world, &policy, &stop, schedule)
                .only(&scenario.stream)
                .until(end)
                .on_pass(&on_pass)
                .run()
                .with_subscriber(tracing::subscriber::NoSubscriber::default())
                .await;
        }
        Strategy::Uniform => {
            let mut state = UniformState::default();
            let mut ticks = Ticks::new(scenario.uniform.check_interval);
            while clock.now() < end {
                uniform_check(
                    world,
                    clock,
                    &scenario.uniform,
                    &scenario.stream,
                    &mut state,
                )
                .await;
                on_pass();
                ticks.wait().await;
            }
        }
        Strategy::Static(_) | Strategy::OnDemand | Strategy::Advantage => {}
    }
}

async fn replay(
    scenario: &Scenario,
    traffic: &Traffic,
    oracles: &Oracles,
    policy: &StreamPolicy,
    strategy: Strategy,
    progress: &(dyn Fn(usize) + Sync),
) -> Outcome {
    if strategy.is_on_demand() {
        return replay_on_demand(scenario, traffic, oracles, policy, strategy, progress);
    }
    let start: DateTime<Utc> = EPOCH.parse().expect("a valid epoch");
    let clock = TokioClock::starting_at(start);
    let initial = match strategy {
        Strategy::Static(n) => n,
        _ => scenario.initial_shards,
    };
    let world = world(scenario, traffic.clone(), clock, start, initial);
    // Shard-level metrics are published (and billed) only for the planner,
    // and only those its policy has enabled from the start.
    let enabled = match strategy {
        Strategy::Planner => policy.initial_shard_metrics(),
        _ => Vec::new(),
    };
    world
        .kinesis
        .set_initial_metrics(&scenario.stream, &enabled);
    let end = start + TimeDelta::minutes(traffic.minutes() as i64);
    let done = |clock: &TokioClock| {
        ((clock.now() - start).num_minutes().max(0) as usize).min(traffic.minutes())
    };
    // Controller passes (or the baseline's checks), for the host's cost.
    let passes = std::sync::atomic::AtomicU64::new(0);
    let count_pass = || passes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);

    let on_pass = || {
        count_pass();
        progress(done(&clock));
    };
    drive(scenario, policy, strategy, (&world, &clock), end, &on_pass).await;
    tokio::time::sleep_until(clock.instant_at(end)).await;
    progress(traffic.minutes());

    let minutes = world.stats();
    let count = |op: &str| world.kinesis.calls(op) as u32;
    let (created, shards) = world
        .kinesis
        .stream(&scenario.stream)
        .map_or((0, Vec::new()), |s| (s.shards_created(), s.shards));
    let churn = Churn {
        splits: count("SplitShard"),
        merges: count("MergeShards"),
        shard_count_updates: count("UpdateShardCount"),
        new_shards: created.saturating_sub(initial as usize) as u32,
    };
    let usage = Usage {
        metric_hours: world.metric_hours() as f64,
        metrics_requested: world.metrics_requested() as f64,
        passes_per_hour: passes.load(std::sync::atomic::Ordering::Relaxed) as f64
            / (traffic.minutes() as f64 / 60.0),
        consumers: scenario.consumers,
        efo_consumers: scenario.efo_consumers,
        ..Usage::default()
    };
    Outcome {
        summary: summarize(scenario, strategy, oracles, &minutes, churn, usage),
        minutes,
        shards,
        log: world.kinesis.log(),
    }
}

/// What On-Demand with AUTO record distribution would do for a scenario
/// whose partition keys are held to a shard's worth: the most one key
/// writes, in shards' worth, and the On-Demand (Standard) run with
/// records spread evenly whatever their keys. `None` when no key ever
/// writes more than a shard's worth.
pub fn auto_distribution(
    scenario: &Scenario,
    traffic: &Traffic,
    oracles: &Oracles,
) -> Option<(f64, Summary)> {
    let key_peak = (0..traffic.minutes())
        .map(|m| {
            let offered = traffic.total(m);
            let whole = (offered.bytes / BYTES_PER_SHARD_MINUTE)
                .max(offered.records / RECORDS_PER_SHARD_MINUTE);
            traffic.single_key_shares(m).into_iter().fold(0.0, f64::max) * whole
        })
        .fold(0.0, f64::max);
    if key_peak <= 1.0 {
        return None;
    }
    let minutes = on_demand::play_auto(traffic, scenario.burstiness);
    let usage = Usage {
        consumers: scenario.consumers,
        efo_consumers: scenario.efo_consumers,
        ..Usage::default()
    };
    let mut summary = summarize(
        scenario,
        Strategy::OnDemand,
        oracles,
        &minutes,
        Churn::default(),
        usage,
    );
    summary.strategy = "on-demand (AUTO distribution)".into();
    Some((key_peak, summary))
}

/// What an Advantage account bills beyond the data: the hours' unwritten
/// share of the commitment and the warm throughput held (nothing for
/// other strategies).
fn advantage_usage(
    scenario: &Scenario,
    strategy: Strategy,
    minutes: &[MinuteStats],
    warm: &on_demand::Warm,
) -> Usage {
    if strategy != Strategy::Advantage {
        return Usage::default();
    }
    let record_size = scenario.record_size as f64;
    let written: Vec<f64> = minutes
        .iter()
        .map(|m| super::cost::metered_gb(m.accepted_records, record_size))
        .collect();
    Usage {
        unused_commitment_gb: super::cost::unused_commitment_gb(
            &written,
            scenario.prices.committed_gb_per_hour(),
        ),
        warm_mib_hours: warm.mib_hours(minutes.len()),
        ..Usage::default()
    }
}

/// The resharding a strategy did.
#[derive(Debug, Clone, Copy, Default)]
struct Churn {
    splits: u32,
    merges: u32,
    shard_count_updates: u32,
    new_shards: u32,
}

/// The summary of a run: throttling, churn and cost. `usage` holds what
/// the minutes do not (metrics, reads, a controller); the rest is filled
/// in here.
fn summarize(
    scenario: &Scenario,
    strategy: Strategy,
    oracles: &Oracles,
    minutes: &[MinuteStats],
    churn: Churn,
    usage: Usage,
) -> Summary {
    let total_records: f64 = minutes.iter().map(|m| m.offered.records).sum();
    let throttled: f64 = minutes.iter().map(|m| m.throttled_records).sum();
    let shard_hours = minutes
        .iter()
        .map(|m| f64::from(m.open_shards))
        .sum::<f64>()
        / 60.0;
    let days = minutes.len() as f64 / 1440.0;
    let (usage, breakdown) = priced(scenario, strategy, minutes, shard_hours, usage);
    // A minute throttled at least one write (half a record, rounded):
    // the simulation computes expected, fractional, excesses.
    let throttled_minute = |m: &&MinuteStats| m.throttled_records >= 0.5;
    let fraction = |m: &MinuteStats| m.throttled_records / m.offered.records;
    Summary {
        strategy: strategy.to_string(),
        family: Some(super::tune::Family::of(strategy)),
        shard_hours,
        throttled_records: throttled.round() as u64,
        total_records: total_records.round() as u64,
        throttled_fraction: if total_records > 0.0 {
            throttled / total_records
        } else {
            0.0
        },
        splits: churn.splits,
        merges: churn.merges,
        shard_count_updates: churn.shard_count_updates,
        max_open_shards: minutes.iter().map(|m| m.open_shards).max().unwrap_or(0),
        oracle_dyadic_shard_hours: oracles.dyadic_shard_hours(),
        oracle_ideal_shard_hours: oracles.ideal_shard_hours(),
        simulated_minutes: minutes.len(),
        new_shards: churn.new_shards,
        new_shards_per_day: if days > 0.0 {
            f64::from(churn.new_shards) / days
        } else {
            0.0
        },
        reshard_operations: churn.splits + churn.merges + churn.shard_count_updates,
        warm_throughput_updates: 0,
        throttled_minutes: minutes.iter().filter(throttled_minute).count() as u32,
        worst_minute_throttled_fraction: minutes
            .iter()
            .filter(throttled_minute)
            .map(fraction)
            .fold(0.0, f64::max),
        cost_usd: breakdown.total(),
        cost_breakdown: breakdown,
        metric_hours: usage.metric_hours,
        metrics_requested_per_day: if days > 0.0 {
            usage.metrics_requested / days
        } else {
            0.0
        },
        // On-Demand is played without shards, so without their consumers.
        consumer_lag: (scenario.consumer_records_per_second.is_some() && !strategy.is_on_demand())
            .then(|| lag_summary(minutes)),
    }
}

/// The run's usage and what it costs, as `strategy` is billed.
fn priced(
    scenario: &Scenario,
    strategy: Strategy,
    minutes: &[MinuteStats],
    shard_hours: f64,
    usage: Usage,
) -> (Usage, CostBreakdown) {
    let usage = Usage {
        hours: minutes.len() as f64 / 60.0,
        shard_hours,
        records: minutes.iter().map(|m| m.accepted_records).sum(),
        record_size: scenario.record_size as f64,
        ..usage
    };
    let billing = match strategy {
        Strategy::OnDemand => Billing::OnDemand,
        Strategy::Advantage => Billing::Advantage,
        _ => Billing::Provisioned,
    };
    let breakdown = cost(billing, &usage, &scenario.prices);
    (usage, breakdown)
}

/// How far behind the consumers fell: the minutes they lagged, and the
/// oldest record's age.
fn lag_summary(minutes: &[MinuteStats]) -> LagSummary {
    LagSummary {
        lag_minutes: minutes
            .iter()
            .filter(|m| m.iterator_age_ms > LAG_MINUTE_MS)
            .count() as u32,
        max_iterator_age_seconds: minutes
            .iter()
            .map(|m| m.iterator_age_ms / 1000.0)
            .fold(0.0, f64::max),
    }
}

/// A fixed schedule of passes: a pass that overruns its interval delays
/// the next one rather than overlapping it.
struct Ticks {
    interval: std::time::Duration,
    next: tokio::time::Instant,
}

impl Ticks {
    fn new(interval: std::time::Duration) -> Self {
        Ticks {
            interval,
            next: tokio::time::Instant::now(),
        }
    }

    /// Sleeps until the next scheduled pass.
    async fn wait(&mut self) {
        let now = tokio::time::Instant::now();
        self.next += self.interval;
        while self.next < now {
            self.next += self.interval;
        }
        tokio::time::sleep_until(self.next).await;
    }
}

/// What the `uniform` baseline remembers between checks.
#[derive(Debug, Default)]
struct UniformState {
    last_scale_down: Option<DateTime<Utc>>,
}

/// One check of the amazon-kinesis-scaling-utils-like baseline. Its known
/// behaviours are kept on purpose: stream-level utilization (the larger of
/// the stream's bytes and records averages, so a hot shard goes unseen),
/// minutes without data counted as low, no cool-off on scaling up.
async fn uniform_check(
    world: &SimWorld<TokioClock>,
    clock: &TokioClock,
    settings: &UniformSettings,
    stream: &str,
    state: &mut UniformState,
) {
    let Ok(summary) = world.describe_stream(&StreamId::named(stream)).await else {
        return;
    };
    let n = summary.open_shard_count.max(1);
    let window = settings
        .scale_up_after_minutes
        .max(settings.scale_down_after_minutes) as usize;
    let (mut high, mut low) = (0u32, 0u32);
    // IncomingBytes and IncomingRecords, read each check.
    world.note_metrics_requested(2);
    for minute in world.stream_sums(window) {
        match minute {
            None => low += 1,
            Some((bytes, records)) => {
                let pct = (bytes / (f64::from(n) * BYTES_PER_SHARD_MINUTE))
                    .max(records / (f64::from(n) * RECORDS_PER_SHARD_MINUTE));
                if pct > settings.scale_up_threshold {
                    high += 1;
                } else if pct < settings.scale_down_threshold {
                    low += 1;
                }
            }
        }
    }
    let now = clock.now();
    if high >= settings.scale_up_after_minutes {
        let target = (n + (n * settings.scale_up_pct).div_ceil(100)).min(n * 2);
        let _ = world.kinesis.update_shard_count(stream, target);
    } else if low >= settings.scale_down_after_minutes && n > 1 {
        let cooled = state.last_scale_down.is_none_or(|t| {
            now - t >= TimeDelta::from_std(settings.cool_off).unwrap_or(TimeDelta::MAX)
        });
        if cooled {
            let target = (n - n * settings.scale_down_pct / 100)
                .max(n.div_ceil(2))
                .max(1);
            if world.kinesis.update_shard_count(stream, target).is_ok() {
                state.last_scale_down = Some(now);
            }
        }
    }
}

/// Offered load of a minute in shards' worth.
pub(crate) fn offered_shards(m: &MinuteStats) -> f64 {
    (m.offered.bytes / BYTES_PER_SHARD_MINUTE).max(m.offered.records / RECORDS_PER_SHARD_MINUTE)
}
