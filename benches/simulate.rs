//! How fast the simulator replays traffic through the real controller: one
//! simulated day of a 64-shard stream (diurnal taxi demand at a peak of 60
//! MiB/s over Zipf keys) with the planner strategy, against the same day
//! through a static stream with no controller (the baseline, same run).
//! Target: at least one simulated day per wall-clock second.
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

fn bench(c: &mut Criterion) {
    let scenario = Scenario::parse(
        "stream: big
trace: ../traces/nyc_taxi.csv
peak: 60MiB/s
record_size: 1KiB
keys: { model: zipf, count: 10000, exponent: 0.8, seed: 1 }
initial_shards: 64
duration: 1d
",
        Path::new("scenarios/bench.yaml"),
    )
    .expect("a valid scenario");
    let trace = Trace::load(&scenario.trace).expect("the bundled trace");
    let traffic = Traffic::new(&scenario, &trace).expect("traffic");
    let oracles = Oracles::compute(&traffic);
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

criterion_group!(benches, bench);
criterion_main!(benches);
