//! A whole account's fleet in one pass: 2,000 provisioned streams of 2 to
//! 64 shards behind a fake account that refuses any call over a documented
//! quota (tests/it/fake_account.rs). One pass, observe and plan, through the
//! real AWS adapters and the shared limiter, on tokio's paused clock.
//!
//! It prints the pass's virtual duration (what it would take against AWS,
//! waiting for every quota), the calls per API and the refusals, then
//! measures the wall time one such pass costs the process (criterion).
//!
//! Run with `cargo bench --bench fleet`.

#[path = "../tests/it/fake_account.rs"]
#[allow(dead_code)]
mod fake_account;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use fake_account::FakeAccount;
use kinesis_autoscaler::aws::{CloudWatchMetrics, KinesisReader};
use kinesis_autoscaler::model::ApiLimiter;
use kinesis_autoscaler::observe::Memory;
use kinesis_autoscaler::pass::{self, MissingMetrics};
use kinesis_autoscaler::policy::Policy;

const STREAMS: usize = 2000;
const POLICY: &str = "version: 1\nstreams:\n  - name: \"s-*\"\n";

fn now() -> DateTime<Utc> {
    "2026-11-26T02:00:00Z".parse().unwrap()
}

/// One observe-and-plan pass on a paused clock; its virtual duration, the
/// streams planned, and the limiter.
fn pass(fake: &Arc<FakeAccount>) -> (Duration, usize, Arc<ApiLimiter>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let policy = Policy::parse(POLICY, Path::new("fleet.yaml")).unwrap();
        let limiter = Arc::new(ApiLimiter::new(policy.quotas.clone()));
        let read = KinesisReader::new(fake.kinesis()).with_limiter(limiter.clone());
        let metrics = CloudWatchMetrics::new(fake.cloudwatch()).with_limiter(limiter.clone());
        let started = tokio::time::Instant::now();
        let targets = pass::targets(&policy, &read, None).await.unwrap();
        let planned = pass::plan_streams(
            &read,
            &metrics,
            &targets,
            now(),
            MissingMetrics::Refuse,
            &Memory::default(),
        )
        .await;
        let ok = planned.iter().filter(|(_, p)| p.is_ok()).count();
        (started.elapsed(), ok, limiter)
    })
}

fn bench(c: &mut Criterion) {
    let fake = Arc::new(FakeAccount::new(STREAMS, 7, now() - TimeDelta::minutes(3)));
    let (took, ok, limiter) = pass(&fake);
    let seen = fake.seen.lock().unwrap();
    println!(
        "fleet: {STREAMS} streams, {} shards; pass (observe and plan) {:.1} s of virtual time; {ok} streams planned",
        fake.shard_count(),
        took.as_secs_f64()
    );
    println!("calls per API: {:?}", limiter.calls());
    println!(
        "GetMetricData datapoints asked: {}; ListTagsForStream for {} acting streams",
        limiter.datapoints_requested(),
        seen.tags_read.len()
    );
    println!("refused as over a quota: {:?}", seen.limit_exceeded);
    assert_eq!(ok, STREAMS);
    assert!(seen.limit_exceeded.is_empty());
    drop(seen);
    let mut group = c.benchmark_group("fleet");
    group.sample_size(10);
    group.bench_function("one pass over 2,000 streams (wall time)", |b| {
        b.iter(|| {
            pass(&Arc::new(FakeAccount::new(
                STREAMS,
                7,
                now() - TimeDelta::minutes(3),
            )))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
