//! How fast the simulator replays traffic through the real controller: one
//! simulated day of a 64-shard stream (diurnal taxi demand at a peak of 60
//! MiB/s over Zipf keys) with the planner strategy, against the same day
//! through a static stream with no controller (the baseline, same run).
//! Target: at least one simulated day per wall-clock second.
//!
//! A second group runs a 2-shard stream for 7 and for 56 simulated days:
//! the simulator's cost must grow linearly with simulated time (target:
//! the 56-day run at most 9 times the 7-day one).
//!
//! Run with `cargo bench --bench simulate`.

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kinesis_autoscaler::policy::StreamPolicy;
use kinesis_autoscaler::sim::oracle::Oracles;
use kinesis_autoscaler::sim::scenario::Scenario;
use kinesis_autoscaler::sim::strategy::{self, Strategy};
use kinesis_autoscaler::sim::traffic::{Trace, Traffic};

/// A scenario (in `scenarios/`, for the trace's relative path), its
/// traffic and oracles, ready to simulate.
fn prepared(yaml: &str) -> (Scenario, Traffic, Oracles) {
    let scenario =
        Scenario::parse(yaml, Path::new("scenarios/bench.yaml")).expect("a valid scenario");
    let trace = Trace::load(&scenario.trace).expect("the bundled trace");
    let traffic = Traffic::new(&scenario, &trace).expect("traffic");
    let oracles = Oracles::compute(&traffic);
    (scenario, traffic, oracles)
}

fn bench(c: &mut Criterion) {
    let (scenario, traffic, oracles) = prepared(
        "stream: big
trace: ../traces/nyc_taxi.csv
peak: 60MiB/s
record_size: 1KiB
keys: { model: zipf, count: 10000, exponent: 0.8, seed: 1 }
initial_shards: 64
duration: 1d
",
    );
    let policy = StreamPolicy {
        max_shards: 128,
        ..StreamPolicy::default()
    };
    let outcome = strategy::simulate(
        &scenario,
        &traffic,
        &oracles,
        &policy,
        Strategy::Planner,
        &|_| {},
    );
    assert!(
        outcome.summary.max_open_shards >= 64,
        "a 64-shard stream or more"
    );

    let mut group = c.benchmark_group("simulate");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    // The baseline, in the same run: the same day replayed through a
    // static 64-shard stream, with no controller at all (the traffic, the
    // simulated Kinesis and CloudWatch alone).
    for (name, strategy) in [
        ("1 day, 64+ shards, planner", Strategy::Planner),
        ("1 day, 64 shards, static (baseline)", Strategy::Static(64)),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| strategy::simulate(&scenario, &traffic, &oracles, &policy, strategy, &|_| {}))
        });
    }
    group.finish();
}

/// Whether the simulator's cost grows linearly with simulated time: the
/// same 2-shard stream for 7 and for 56 days, in the same run. Target: the
/// 56-day run at most 9 times the 7-day one.
fn growth(c: &mut Criterion) {
    let mut group = c.benchmark_group("growth");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let policy = StreamPolicy::default();
    for days in [7, 56] {
        let (scenario, traffic, oracles) = prepared(&format!(
            "stream: growing
trace: ../traces/nyc_taxi.csv
peak: 2MiB/s
record_size: 2KiB
keys: {{ model: uniform, seed: 11 }}
initial_shards: 2
duration: {days}d
metrics_delay: 1m..5m
metrics_gaps: 0.001
"
        ));
        group.bench_function(format!("{days} days, 2+ shards, planner"), |b| {
            b.iter(|| {
                strategy::simulate(
                    &scenario,
                    &traffic,
                    &oracles,
                    &policy,
                    Strategy::Planner,
                    &|_| {},
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, growth);
criterion_main!(benches);
