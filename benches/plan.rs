//! How long one plan takes for a very large stream: 20,000 open shards with
//! 30 minutes of IncomingBytes, IncomingRecords and
//! WriteProvisionedThroughputExceeded each, and split lineage, against a
//! baseline measured in the same run: a plain scan that reads every
//! datapoint of the same observation once. The plan's time is judged as a
//! multiple of the scan's, which does not vary between machines the way
//! absolute times do.
//!
//! A third measure plans the same observation with `forecast` and
//! `objective`, over the past they read (a week-old window and three days
//! of the stream's series, which the first plan ignores): the bound is 3
//! scans. A fourth plans it with `scale_down.economic`, which replays
//! the same three days for each quiet time it weighs. All run on the one
//! observation: a copy of it lies
//! differently in memory, and scanning the copy alone was measured 55%
//! slower.
//!
//! Run with `cargo bench --bench plan`.

use std::hint::black_box;

use chrono::TimeDelta;
use criterion::{Criterion, criterion_group, criterion_main};
use kinesis_autoscaler::planner::plan;
use kinesis_autoscaler::policy::StreamPolicy;
use kinesis_autoscaler::testkit::StreamBuilder;

const SHARDS: u32 = 20_000;

fn large_stream() -> kinesis_autoscaler::observe::Observation {
    let mut builder = StreamBuilder::new("large", SHARDS).minutes(30);
    for i in 0..SHARDS as usize {
        // A mix: mostly steady, some cold runs, a few hot or throttled shards.
        let minutes: Vec<Option<f64>> = (0..30)
            .map(|m| {
                let base = match i % 10 {
                    0 | 1 => 0.1,
                    9 if i % 100 == 9 => 0.95,
                    _ => 0.5,
                };
                Some(base * (1.0 + 0.05 * (((i * 31 + m * 7) % 13) as f64 / 13.0)))
            })
            .collect();
        builder = builder.utilization(i, &minutes);
        if i % 500 == 3 {
            builder = builder.throttled(i, 40.0, 2);
        }
        // Every shard came from a split, as in a stream resharded for a while.
        builder = builder.parent(i, &format!("shardId-9{:011}", i / 2));
    }
    // The past a policy with `forecast: { seasons: [1d, 7d] }` and
    // `objective` (three days) reads: the week-old window and three days
    // of the stream-level series, with a daily swing. A plan without them
    // in the policy does not look at it.
    let start = builder.clone().build().metrics.start;
    let load = |minute: i64| {
        9_000.0 * (1.0 + 0.3 * ((minute as f64) * std::f64::consts::TAU / 1440.0).sin())
    };
    let week: Vec<f64> = (0..106).map(load).collect();
    let days: Vec<f64> = (0..3 * 1440).map(load).collect();
    builder
        .stream_totals()
        .past(start - TimeDelta::days(7), &week)
        .past(start - TimeDelta::days(3), &days)
        .build()
}

fn bench(c: &mut Criterion) {
    let obs = large_stream();
    // The tests' policy: its 30-minute scale-down window is what the
    // observation holds (the built-in one is 90 minutes).
    let policy = StreamPolicy {
        max_shards: 25_000,
        ..kinesis_autoscaler::testkit::policy()
    };
    let now = obs.observed_at;
    let p = plan(&obs, &policy, now);
    assert_eq!(p.verdicts.len(), SHARDS as usize);
    assert!(
        !p.actions.is_empty(),
        "the benchmark should exercise splits and merges"
    );
    c.bench_function("plan 20k shards x 30 min x 3 metrics", |b| {
        b.iter(|| plan(black_box(&obs), black_box(&policy), now))
    });
    let foreseeing = StreamPolicy {
        forecast: Some(kinesis_autoscaler::policy::Forecast::default()),
        objective: Some(kinesis_autoscaler::policy::Objective::default()),
        ..policy.clone()
    };
    let p = plan(&obs, &foreseeing, now);
    assert!(p.headroom.is_some_and(|h| h.derived()));
    assert!(p.verdicts[0].facts.forecast.is_some());
    c.bench_function(
        "plan 20k shards x 30 min x 3 metrics, with forecast and objective",
        |b| b.iter(|| plan(black_box(&obs), black_box(&foreseeing), now)),
    );
    // The economic scale-down on the same three days: a replay of them
    // for each quiet time from 5 minutes to the policy's window.
    let mut economic = policy.clone();
    economic.scale_down.economic = Some(kinesis_autoscaler::policy::Economic {
        min_window_minutes: 5,
        ..Default::default()
    });
    let p = plan(&obs, &economic, now);
    assert!(p.quiet.as_ref().is_some_and(|q| q.chosen.is_some()));
    c.bench_function(
        "plan 20k shards x 30 min x 3 metrics, with scale_down.economic",
        |b| b.iter(|| plan(black_box(&obs), black_box(&economic), now)),
    );
    c.bench_function("scan 20k shards x 30 min x 3 metrics (baseline)", |b| {
        b.iter(|| scan(black_box(&obs)))
    });
}

/// Reads every datapoint of `obs` once, by shard id as the planner finds
/// them: the least any plan must do.
fn scan(obs: &kinesis_autoscaler::observe::Observation) -> f64 {
    let mut total = 0.0;
    for shard in &obs.shards {
        if let Some(m) = obs.metrics.shards.get(&shard.id) {
            for (_, series) in m.named_series() {
                total += series.raw().iter().filter(|v| !v.is_nan()).sum::<f64>();
            }
        }
    }
    total
}

criterion_group!(benches, bench);
criterion_main!(benches);
