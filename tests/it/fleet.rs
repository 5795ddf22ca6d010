//! A whole account's fleet in one pass, within every API quota: the real
//! adapters and pass over a fake account (tests/it/fake_account.rs) that
//! replies LimitExceeded to any call over a documented quota, on paused
//! tokio time (so the pass's duration is virtual time, and waiting costs
//! nothing). The full-size run (2,000 streams) is the benchmark
//! `benches/fleet.rs`; docs/fleet.md gives its figures.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use kinesis_autoscaler::aws::{CloudWatchMetrics, KinesisReader};
use kinesis_autoscaler::model::{Api, ApiLimiter};
use kinesis_autoscaler::observe::Memory;
use kinesis_autoscaler::pass::{self, MissingMetrics, Planned};
use kinesis_autoscaler::planner::LagScope;
use kinesis_autoscaler::policy::Policy;
use tokio::time::Instant;

use crate::fake_account::FakeAccount;

fn now() -> DateTime<Utc> {
    "2026-11-26T02:00:00Z".parse().unwrap()
}

/// One pass (observe and plan) over every stream of `fake` with `policy`;
/// returns the plans, how long the pass took, and the limiter.
async fn pass(fake: &Arc<FakeAccount>, policy: &str) -> (Vec<Planned>, Duration, Arc<ApiLimiter>) {
    let (planned, took, limiter) = try_pass(fake, policy).await;
    let planned = planned
        .into_iter()
        .map(|p| p.unwrap_or_else(|e| panic!("{e}")))
        .collect();
    (planned, took, limiter)
}

/// [`pass`], with each stream's failure as it came.
async fn try_pass(
    fake: &Arc<FakeAccount>,
    policy: &str,
) -> (Vec<Result<Planned, String>>, Duration, Arc<ApiLimiter>) {
    try_pass_at(fake, policy, &Memory::default(), now()).await
}

/// [`try_pass`] at `at`, with what `memory` holds from earlier passes.
async fn try_pass_at(
    fake: &Arc<FakeAccount>,
    policy: &str,
    memory: &Memory,
    at: DateTime<Utc>,
) -> (Vec<Result<Planned, String>>, Duration, Arc<ApiLimiter>) {
    let policy = Policy::parse(policy, Path::new("fleet.yaml")).unwrap();
    let limiter = Arc::new(ApiLimiter::new(policy.quotas.clone()));
    let read = KinesisReader::new(fake.kinesis()).with_limiter(limiter.clone());
    let metrics = CloudWatchMetrics::new(fake.cloudwatch()).with_limiter(limiter.clone());
    let started = Instant::now();
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
    let took = started.elapsed();
    let planned = planned
        .into_iter()
        .map(|(t, p)| p.map_err(|e| format!("{}: {:#}", t.stream, anyhow::Error::from(e))))
        .collect();
    (planned, took, limiter)
}

const GLOB: &str = "version: 1\nstreams:\n  - name: \"s-*\"\n";

#[tokio::test(start_paused = true)]
async fn a_pass_over_200_streams_stays_within_every_quota() {
    let fake = Arc::new(FakeAccount::new(200, 7, now() - TimeDelta::minutes(3)));
    let (planned, took, limiter) = pass(&fake, GLOB).await;
    assert_eq!(planned.len(), 200);
    let seen = fake.seen.lock().unwrap();
    assert!(
        seen.limit_exceeded.is_empty(),
        "calls over a quota: {:?}",
        seen.limit_exceeded
    );
    // Every stream was planned on its data, at the detected lag.
    assert!(
        planned
            .iter()
            .all(|p| p.plan.metrics.lag_seconds() == Some(120))
    );
    let acting: Vec<&str> = planned
        .iter()
        .filter(|p| !p.plan.actions.is_empty())
        .map(|p| p.plan.stream.as_str())
        .collect();
    assert!(!acting.is_empty(), "the fleet has hot and cold streams");
    // Calls per API: 2 listing pages, a shard listing per stream, the
    // metrics in calls of 500 queries (a first pass knows no shard's
    // share, so it reads the three stream-level and the three shard-level
    // write metrics of every stream), tags only of the acting streams,
    // and no DescribeStreamSummary (the listing gives status and mode, the
    // metrics show the shard-level ones on).
    let queries = 200 * 3 + fake.shard_count() * 3;
    let calls = limiter.calls();
    assert_eq!(calls[&Api::ListStreams], 2);
    assert_eq!(calls[&Api::ListShards], 200);
    assert_eq!(calls[&Api::DescribeLimits], 1);
    assert_eq!(calls[&Api::DescribeStreamSummary], 0);
    assert_eq!(calls[&Api::GetMetricData] as usize, queries.div_ceil(500));
    assert_eq!(calls[&Api::ListTagsForStream] as usize, acting.len());
    let mut read: Vec<&str> = seen.tags_read.iter().map(String::as_str).collect();
    read.sort();
    assert_eq!(read, acting, "tags are read of the acting streams alone");
    // The pass is paced by its quotas, at 80% of each: GetMetricData's
    // datapoints (180,000 a second; each query reads the 106 minutes the
    // built-in 90-minute scale-down window needs) and ListTagsForStream (5
    // a second) for the acting streams. It takes no longer than those
    // two, plus 2 s for everything else.
    let datapoints = limiter.datapoints_requested();
    assert_eq!(datapoints as usize, queries * 106);
    let paced = Duration::from_secs_f64(datapoints as f64 / 144_000.0 + acting.len() as f64 / 4.0);
    assert!(
        took <= paced + Duration::from_secs(2),
        "the pass took {took:?}, its quotas pace it to {paced:?}"
    );
}

/// The same fleet with quotas the account does not have (twice the
/// documented ones, all of them used): the fake refuses calls, and the
/// streams whose metrics it refused fail (the SDK's retries are off here).
/// The fake can fail the test above.
#[tokio::test(start_paused = true)]
async fn claiming_quotas_the_account_lacks_meets_limit_exceeded() {
    let fake = Arc::new(FakeAccount::new(200, 7, now() - TimeDelta::minutes(3)));
    let policy = format!(
        "{GLOB}api:\n  headroom: 1.0\n  datapoints_per_second: 360000\n  quotas: {{ GetMetricData: 100, ListStreams: 10 }}\n"
    );
    let (planned, _, _) = try_pass(&fake, &policy).await;
    let failed: Vec<&String> = planned.iter().filter_map(|p| p.as_ref().err()).collect();
    let seen = fake.seen.lock().unwrap();
    let refused = seen
        .limit_exceeded
        .get("GetMetricData")
        .copied()
        .unwrap_or(0);
    assert!(refused > 0, "{:?}", seen.limit_exceeded);
    assert!(
        failed
            .iter()
            .any(|e| e.contains("GetMetricData failed: Throttling")),
        "{failed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn only_the_stream_whose_plan_acts_has_its_tags_read() {
    // Ten streams; the fake makes s-00004 cold throughout and the rest busy.
    let mut fake = FakeAccount::new(10, 7, now() - TimeDelta::minutes(3));
    for (i, s) in fake.streams.iter_mut().enumerate() {
        let level = if i == 4 { 0.05 } else { 0.5 };
        s.load.iter_mut().for_each(|l| *l = level);
    }
    let fake = Arc::new(fake);
    let (planned, _, limiter) = pass(&fake, GLOB).await;
    let acting: Vec<&str> = planned
        .iter()
        .filter(|p| !p.plan.actions.is_empty())
        .map(|p| p.plan.stream.as_str())
        .collect();
    assert_eq!(acting, ["s-00004"]);
    assert_eq!(fake.seen.lock().unwrap().tags_read, ["s-00004"]);
    assert_eq!(limiter.calls()[&Api::ListTagsForStream], 1);
    // The others were planned without their tags, and say so.
    let quiet = planned.iter().find(|p| p.plan.stream == "s-00000").unwrap();
    assert!(!quiet.plan.cooldowns_read);
    assert!(planned[4].plan.cooldowns_read);
}

/// One stream of 2,000 shards.
fn wide_stream() -> Arc<FakeAccount> {
    let mut fake = FakeAccount::new(1, 7, now() - TimeDelta::minutes(3));
    let stream = &mut fake.streams[0];
    stream.shards = kinesis_autoscaler::model::uniform_ranges(2_000)
        .into_iter()
        .enumerate()
        .map(|(j, r)| (format!("shardId-{j:012}"), r.start().0, r.end().0))
        .collect();
    stream.load = vec![0.5; 2_000];
    Arc::new(fake)
}

/// One wide stream: 2,000 shards planned in one pass read their three
/// shard-level metrics, and the stream's two, in GetMetricData calls of
/// 500 queries: 13 calls, within the quota.
#[tokio::test(start_paused = true)]
async fn a_pass_over_2000_shards_counts_its_get_metric_data_calls() {
    let fake = wide_stream();
    let (planned, _, limiter) = pass(
        &fake,
        "version: 1\nstreams:\n  - name: \"s-*\"\n    max_shards: 4000\n",
    )
    .await;
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0].plan.open_shards_before, 2_000);
    let calls = limiter.calls();
    assert_eq!(calls[&Api::GetMetricData], (3 + 2_000 * 3u64).div_ceil(500));
    assert_eq!(calls[&Api::GetMetricData], 13);
    assert!(fake.seen.lock().unwrap().limit_exceeded.is_empty());
}

/// With the consumer guard, the stream's iterator age and each shard's
/// (read unless known off: this listing does not say) ride in the same
/// calls: (3 + 2,000 × 4) queries in 500s, 17 calls.
#[tokio::test(start_paused = true)]
async fn the_consumer_guard_reads_its_ages_in_the_same_get_metric_data_calls() {
    let fake = wide_stream();
    let (planned, _, limiter) = pass(
        &fake,
        "version: 1\nstreams:\n  - name: \"s-*\"\n    max_shards: 4000\n    consumers: { max_iterator_age: 1m }\n",
    )
    .await;
    assert_eq!(planned[0].plan.open_shards_before, 2_000);
    let calls = limiter.calls();
    assert_eq!(calls[&Api::GetMetricData], (3 + 2_000 * 4u64).div_ceil(500));
    assert_eq!(calls[&Api::GetMetricData], 17);
    assert!(fake.seen.lock().unwrap().limit_exceeded.is_empty());
    // The fake's consumers are current (every age 0), read per shard.
    for v in &planned[0].plan.verdicts {
        let lag = v.facts.consumer_lag.expect("an age was read");
        assert_eq!((lag.iterator_age_ms, lag.scope), (0.0, LagScope::Shard));
    }
}

/// With `forecast` (a day and a week back) and `objective` (three days of
/// bursts), the same stream's past is two more metrics per window. A
/// one-shot pass (the Lambda, `plan`) reads the windows: the week-old one,
/// and the three days that hold yesterday's: 2 more calls, 15. A sidecar
/// reads the whole week in one call on its first pass (14), then nothing
/// more for the rest of the day.
#[tokio::test(start_paused = true)]
async fn forecasts_add_a_bounded_number_of_get_metric_data_calls() {
    let policy = "version: 1\nstreams:\n  - name: \"s-*\"\n    max_shards: 4000\n    forecast: { seasons: [1d, 7d] }\n    objective: { max_throttled: 0.1% }\n";
    let calls = |limiter: &ApiLimiter| limiter.calls()[&Api::GetMetricData];

    let fake = wide_stream();
    let (planned, _, limiter) = try_pass_at(&fake, policy, &Memory::default(), now()).await;
    assert!(planned[0].is_ok(), "{:?}", planned[0].as_ref().err());
    assert_eq!(calls(&limiter), 13 + 2);
    assert!(fake.seen.lock().unwrap().limit_exceeded.is_empty());

    let sidecar = Memory::lasting();
    let mut seen = Vec::new();
    for minutes in [0, 1, 60, 12 * 60] {
        let fake = wide_stream();
        let at = now() + TimeDelta::minutes(minutes);
        let (planned, _, limiter) = try_pass_at(&fake, policy, &sidecar, at).await;
        assert!(planned[0].is_ok(), "{:?}", planned[0].as_ref().err());
        seen.push(calls(&limiter));
    }
    // The past is read once; the 2,000 shards' series with it (no share
    // known yet), and again whenever the shares are older than
    // metrics.shard_refresh (15m): a pass a minute later reads only the
    // stream-level series, in one call.
    assert_eq!(seen, [14, 1, 13, 13]);
}

/// A sidecar's second pass, a minute after its first: every stream's three
/// stream-level series, and the shard-level ones only of the streams with
/// a decision near (a hot shard, or a cold one that would merge); the
/// streams that run steady between the thresholds read 3 metrics each.
#[tokio::test(start_paused = true)]
async fn a_steady_pass_reads_shard_level_series_only_near_a_decision() {
    let sidecar = Memory::lasting();
    let fake = Arc::new(FakeAccount::new(200, 7, now() - TimeDelta::minutes(3)));
    let (first, _, _) = try_pass_at(&fake, GLOB, &sidecar, now()).await;
    assert!(
        first
            .iter()
            .all(|p| p.as_ref().unwrap().plan.reads.as_ref().unwrap().shards > 0)
    );
    let at = now() + TimeDelta::minutes(1);
    let fake = Arc::new(FakeAccount::new(200, 7, at - TimeDelta::minutes(3)));
    let (second, _, limiter) = try_pass_at(&fake, GLOB, &sidecar, at).await;
    let mut near = 0;
    let mut metrics = 0;
    for (p, s) in second.iter().zip(&fake.streams) {
        let reads = p.as_ref().unwrap().plan.reads.clone().unwrap();
        metrics += reads.metrics_requested();
        let hot_or_cold = s.load.iter().any(|&u| !(0.45..0.64).contains(&u));
        assert_eq!(
            reads.shards > 0,
            hot_or_cold,
            "{}: {}",
            s.name,
            reads.detail
        );
        if hot_or_cold {
            near += 1;
            assert_eq!(reads.shards as usize, s.shards.len());
        } else {
            assert_eq!(reads.metrics_requested(), 3, "{}", reads.detail);
        }
    }
    assert!(near > 0 && near < 30, "{near} streams near a decision");
    // The stream-level series in shared calls; each near stream's shard
    // series in a call of its own.
    let shared = (200 * 3usize).div_ceil(500) as u64;
    assert_eq!(limiter.calls()[&Api::GetMetricData], shared + near);
    assert!(metrics < 200 * 3 + fake.shard_count() as u32 * 3 / 4);
}
