//! A whole account's fleet: 2,000 provisioned streams of 2 to 64 shards
//! behind a fake account that refuses any call over a documented quota
//! (tests/it/fake_account.rs). Passes (observe and plan) through the real
//! AWS adapters and the shared limiter, on tokio's paused clock, as a
//! sidecar makes them: a first pass with nothing remembered, then a pass a
//! minute for 45 minutes, in which each stream's shares come due for a
//! refresh at its own time.
//!
//! It prints each pass's virtual duration (what it would take against AWS,
//! waiting for every quota), the calls per API, the metrics requested and
//! the refusals; then what the controller costs a month (its
//! GetMetricData reads and the shard-level metrics CloudWatch bills)
//! beside the shards it manages, for `metrics.shard_level: always` and
//! `on_demand`; then measures the wall time one first pass costs the
//! process (criterion).
//!
//! Run with `cargo bench --bench fleet`.

#[path = "../tests/it/fake_account.rs"]
#[allow(clippy::too_many_lines)] // a test helper, as in tests/it
#[allow(dead_code)]
mod fake_account;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use fake_account::FakeAccount;
use kinesis_autoscaler::aws::{CloudWatchMetrics, KinesisReader};
use kinesis_autoscaler::model::{
    ApiLimiter, GET_METRIC_DATA_USD_PER_METRIC, HOURS_PER_MONTH, METRIC_MONTH_USD,
};
use kinesis_autoscaler::observe::{Memory, ShardDetail};
use kinesis_autoscaler::pass::{self, MissingMetrics, Planned};
use kinesis_autoscaler::policy::Policy;

const STREAMS: usize = 2000;
const SEED: u64 = 7;
const POLICY: &str = "version: 1\nstreams:\n  - name: \"s-*\"\n";
const ON_DEMAND: &str =
    "version: 1\nstreams:\n  - name: \"s-*\"\n    metrics: { shard_level: on_demand }\n";
/// Shard-level metrics a stream's shards publish: the three the policy
/// reads.
const SHARD_METRICS: f64 = 3.0;
/// List prices (us-east-1): a provisioned shard-hour, and CloudWatch's
/// metric tiers after the first 10,000 (the first is METRIC_MONTH_USD).
const SHARD_HOUR_USD: f64 = 0.015;
const METRIC_TIERS: [(f64, f64); 4] = [
    (0.0, METRIC_MONTH_USD),
    (10_000.0, 0.10),
    (250_000.0, 0.05),
    (1_000_000.0, 0.02),
];

fn now() -> DateTime<Utc> {
    "2026-11-26T02:00:00Z".parse().unwrap()
}

/// The fleet as seen at `at`: its datapoints end 3 minutes before.
fn fleet(at: DateTime<Utc>) -> Arc<FakeAccount> {
    Arc::new(FakeAccount::new(STREAMS, SEED, at - TimeDelta::minutes(3)))
}

/// What one pass did.
struct Pass {
    took: Duration,
    planned: Vec<Planned>,
    limiter: Arc<ApiLimiter>,
    refused: usize,
    tags_read: usize,
}

impl Pass {
    /// GetMetricData metrics the pass requested, from what each plan says
    /// it read.
    fn metrics(&self) -> u64 {
        self.planned
            .iter()
            .filter_map(|p| p.plan.reads.as_ref())
            .map(|r| u64::from(r.metrics_requested()))
            .sum()
    }

    /// Shards of the streams near a decision this pass (what on demand
    /// keeps the shard-level metrics on for).
    fn shards_near(&self) -> usize {
        self.planned
            .iter()
            .filter(|p| {
                p.plan.reads.as_ref().is_some_and(|r| {
                    matches!(
                        r.detail,
                        ShardDetail::Throttled { .. }
                            | ShardDetail::NearThreshold { .. }
                            | ShardDetail::WouldAct { .. }
                    )
                })
            })
            .map(|p| p.plan.open_shards_before)
            .sum()
    }

    fn print(&self, what: &str) {
        println!(
            "  {what}: {:.1} s of virtual time; {} streams planned; {} metrics requested, {} datapoints; calls {:?}; tags read {}; refused {}",
            self.took.as_secs_f64(),
            self.planned.len(),
            self.metrics(),
            self.limiter.datapoints_requested(),
            self.limiter
                .calls()
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(a, n)| format!("{a} {n}"))
                .collect::<Vec<_>>(),
            self.tags_read,
            self.refused,
        );
    }
}

/// One observe-and-plan pass at `at` with `memory`, on a paused clock.
fn pass(policy: &str, memory: &Memory, at: DateTime<Utc>) -> Pass {
    let fake = fleet(at);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let (took, planned, limiter) = runtime.block_on(async {
        let policy = Policy::parse(policy, Path::new("fleet.yaml")).unwrap();
        let limiter = Arc::new(ApiLimiter::new(policy.quotas.clone()));
        let read = KinesisReader::new(fake.kinesis()).with_limiter(limiter.clone());
        let metrics = CloudWatchMetrics::new(fake.cloudwatch()).with_limiter(limiter.clone());
        let started = tokio::time::Instant::now();
        let targets = pass::targets(&policy, &read, None).await.unwrap();
        let planned = pass::plan_streams(
            &read,
            &metrics,
            &targets,
            at,
            MissingMetrics::Refuse,
            memory,
        )
        .await;
        let planned: Vec<Planned> = planned.into_iter().filter_map(|(_, p)| p.ok()).collect();
        (started.elapsed(), planned, limiter)
    });
    let seen = fake.seen.lock().unwrap();
    Pass {
        took,
        planned,
        limiter,
        refused: seen.limit_exceeded.values().sum::<u64>() as usize,
        tags_read: seen.tags_read.len(),
    }
}

/// What holding `metrics` metrics for a month costs at CloudWatch's tiers.
fn metric_months(metrics: f64) -> f64 {
    METRIC_TIERS
        .iter()
        .enumerate()
        .map(|(i, &(floor, price))| {
            let ceiling = METRIC_TIERS.get(i + 1).map_or(f64::INFINITY, |t| t.0);
            (metrics.min(ceiling) - floor).max(0.0) * price
        })
        .sum()
}

fn bench(c: &mut Criterion) {
    let shards = fleet(now()).shard_count();
    println!("fleet: {STREAMS} streams, {shards} shards");

    println!("metrics.shard_level: always (the default)");
    let memory = Memory::lasting();
    let first = pass(POLICY, &memory, now());
    first.print("first pass (nothing remembered)");
    let later: Vec<Pass> = (1..=45)
        .map(|m| pass(POLICY, &memory, now() + TimeDelta::minutes(m)))
        .collect();
    let steady = &later[0];
    steady.print("steady pass, a minute later");
    let slowest = later.iter().max_by_key(|p| p.took).unwrap();
    slowest.print("slowest of the 45 passes after the first (refreshes)");

    println!("metrics.shard_level: on_demand");
    let on_demand = Memory::lasting();
    let od_first = pass(ON_DEMAND, &on_demand, now());
    od_first.print("first pass (nothing remembered)");
    let od_steady = pass(ON_DEMAND, &on_demand, now() + TimeDelta::minutes(1));
    od_steady.print("steady pass, a minute later");

    for p in later.iter().chain([&first, &od_first, &od_steady]) {
        assert_eq!(p.planned.len(), STREAMS);
        assert_eq!(p.refused, 0, "calls over a quota");
    }

    // A month at a pass a minute: always, the 45 passes after the first
    // (refreshes included) as an average pass.
    let passes_a_day = 1440.0;
    let days = HOURS_PER_MONTH / 24.0;
    let shard_metrics = shards as f64 * SHARD_METRICS;
    let capacity = shards as f64 * SHARD_HOUR_USD * HOURS_PER_MONTH;
    let average = later.iter().map(Pass::metrics).sum::<u64>() as f64 / later.len() as f64;
    let always_a_day = average * passes_a_day;
    // On demand, the metrics are on for the streams near a decision (as
    // the steady pass finds them: the fake fleet's hot and cold streams
    // stay so), and read every pass while they are; the calm streams'
    // shares are not refreshed while their metrics are off.
    let held = steady.shards_near() as f64 * SHARD_METRICS;
    let on_demand_a_day = steady.metrics() as f64 * passes_a_day;
    println!(
        "a month ({days:.1} days) at a pass a minute; shards {shards} x ${SHARD_HOUR_USD} x {HOURS_PER_MONTH} h = ${capacity:.0}"
    );
    for (name, a_day, held) in [
        ("always", always_a_day, shard_metrics),
        ("on_demand", on_demand_a_day, held),
    ] {
        let reads = a_day * days * GET_METRIC_DATA_USD_PER_METRIC;
        let metrics = metric_months(held);
        let total = reads + metrics;
        println!(
            "  {name:9}: {:.0} metrics requested a day (${reads:.0} a month), {held:.0} shard-level metrics held (${metrics:.0} a month): ${total:.0} a month, {:.2}% of the shards' ${capacity:.0}",
            a_day,
            100.0 * total / capacity
        );
    }

    let mut group = c.benchmark_group("fleet");
    group.sample_size(10);
    group.bench_function("first pass over 2,000 streams (wall time)", |b| {
        b.iter(|| pass(POLICY, &Memory::default(), now()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
