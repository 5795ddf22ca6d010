//! The account's API quotas, and one limiter that keeps every Kinesis and
//! CloudWatch call of the process within them.
//!
//! Kinesis and CloudWatch quotas are per account and region, shared by
//! every stream and by every other tool in the account. One
//! [`ApiLimiter`] is shared by all the streams of a pass (all the passes of
//! a sidecar): each call waits for its slot, spaced evenly at a fraction
//! (`headroom`, default 80%) of the documented rate, so no window of a
//! second ever holds more calls than the quota and the rest is left to the
//! account's other tools. GetMetricData is limited by datapoints per second
//! too. A LimitExceeded reply still backs off (the SDK's retry and the
//! executor's), since other tools may take more than their share.
//!
//! The limiter also counts calls per API, for `/metrics` and reports.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// An API call the controller makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    ListStreams,
    DescribeStreamSummary,
    ListShards,
    DescribeLimits,
    ListTagsForStream,
    AddTagsToStream,
    SplitShard,
    MergeShards,
    EnableEnhancedMonitoring,
    DisableEnhancedMonitoring,
    GetMetricData,
    /// Uniform scaling, used by the simulator's baseline strategy.
    UpdateShardCount,
    /// Reading records, for samples of a shard's partition keys.
    GetShardIterator,
    GetRecords,
    /// Warm throughput of an On-Demand stream (On-Demand Advantage).
    UpdateStreamWarmThroughput,
}

impl Api {
    pub const ALL: [Api; 15] = [
        Api::ListStreams,
        Api::DescribeStreamSummary,
        Api::ListShards,
        Api::DescribeLimits,
        Api::ListTagsForStream,
        Api::AddTagsToStream,
        Api::SplitShard,
        Api::MergeShards,
        Api::EnableEnhancedMonitoring,
        Api::DisableEnhancedMonitoring,
        Api::GetMetricData,
        Api::UpdateShardCount,
        Api::GetShardIterator,
        Api::GetRecords,
        Api::UpdateStreamWarmThroughput,
    ];

    /// The operation's name, as AWS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::ListStreams => "ListStreams",
            Api::DescribeStreamSummary => "DescribeStreamSummary",
            Api::ListShards => "ListShards",
            Api::DescribeLimits => "DescribeLimits",
            Api::ListTagsForStream => "ListTagsForStream",
            Api::AddTagsToStream => "AddTagsToStream",
            Api::SplitShard => "SplitShard",
            Api::MergeShards => "MergeShards",
            Api::EnableEnhancedMonitoring => "EnableEnhancedMonitoring",
            Api::DisableEnhancedMonitoring => "DisableEnhancedMonitoring",
            Api::GetMetricData => "GetMetricData",
            Api::UpdateShardCount => "UpdateShardCount",
            Api::GetShardIterator => "GetShardIterator",
            Api::GetRecords => "GetRecords",
            Api::UpdateStreamWarmThroughput => "UpdateStreamWarmThroughput",
        }
    }

    pub fn parse(name: &str) -> Option<Api> {
        Api::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The documented per-account, per-region quota, calls per second.
    /// ListShards' quota is per stream (1,000/s): the same figure
    /// account-wide keeps one process from flooding the service.
    pub fn default_rate(self) -> f64 {
        match self {
            Api::ListStreams => 5.0,
            Api::DescribeStreamSummary => 20.0,
            Api::ListShards => 1000.0,
            Api::DescribeLimits => 1.0,
            Api::ListTagsForStream => 5.0,
            Api::AddTagsToStream => 5.0,
            Api::SplitShard => 5.0,
            Api::MergeShards => 5.0,
            Api::EnableEnhancedMonitoring | Api::DisableEnhancedMonitoring => 5.0,
            Api::GetMetricData => 50.0,
            // No per-second quota is documented; the 10 calls per stream
            // per rolling 24 hours bind long before this.
            Api::UpdateShardCount => 2.0,
            // Both are 5 a second per shard, shared with the stream's
            // consumers: the sampler paces itself per shard (far below
            // that); the account-wide figure keeps one process from
            // flooding the service.
            Api::GetShardIterator => 1000.0,
            Api::GetRecords => 1000.0,
            Api::UpdateStreamWarmThroughput => 5.0,
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// GetMetricData's datapoint quota: per second, for windows starting within
/// the last three hours.
pub(crate) const DEFAULT_DATAPOINTS_PER_SECOND: f64 = 180_000.0;
/// The share of each quota the controller takes by default.
pub(crate) const DEFAULT_HEADROOM: f64 = 0.8;

/// The quotas the limiter holds calls to.
#[derive(Clone, Debug, PartialEq)]
pub struct Quotas {
    /// Calls per second, per API, as the account has them.
    pub rates: BTreeMap<Api, f64>,
    /// GetMetricData datapoints per second.
    pub datapoints_per_second: f64,
    /// The share of each quota this controller may use.
    pub headroom: f64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            rates: Api::ALL.iter().map(|a| (*a, a.default_rate())).collect(),
            datapoints_per_second: DEFAULT_DATAPOINTS_PER_SECOND,
            headroom: DEFAULT_HEADROOM,
        }
    }
}

impl Quotas {
    /// The rate the controller keeps to for `api`.
    pub fn rate(&self, api: Api) -> f64 {
        self.rates.get(&api).copied().unwrap_or(api.default_rate()) * self.headroom
    }
}

/// One evenly spaced lane: calls (or datapoints) at a fixed rate.
#[derive(Debug)]
struct Lane {
    /// (time one unit takes, when the next unit may go).
    state: Mutex<(Duration, Option<Instant>)>,
}

fn per_unit(per_second: f64) -> Duration {
    Duration::from_secs_f64(1.0 / per_second.max(1e-6))
}

impl Lane {
    fn new(per_second: f64) -> Self {
        Lane {
            state: Mutex::new((per_unit(per_second), None)),
        }
    }

    fn set_rate(&self, per_second: f64) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0 = per_unit(per_second);
    }

    /// Takes `units` and returns when the caller may go: the first caller
    /// at once, each next one a unit's time after the previous one's units.
    fn reserve(&self, units: u64) -> Instant {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let slot = state.1.map_or(now, |n| n.max(now));
        let span = state
            .0
            .saturating_mul(units.min(u64::from(u32::MAX)) as u32);
        state.1 = Some(slot + span);
        slot
    }
}

/// GetMetricData's datapoints, held to a budget over every rolling second:
/// the calls' sizes differ (a call of 500 queries over 106 minutes asks
/// for 53,000), so spacing them evenly would let a second hold a call's
/// worth more than the budget.
#[derive(Debug)]
struct Window {
    /// (datapoints a second, the calls reserved within the last second of
    /// the latest one: when, and how many datapoints).
    state: Mutex<(f64, std::collections::VecDeque<(Instant, u64)>)>,
}

impl Window {
    fn new(per_second: f64) -> Self {
        Window {
            state: Mutex::new((per_second, std::collections::VecDeque::new())),
        }
    }

    fn set_rate(&self, per_second: f64) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0 = per_second;
    }

    /// The earliest time from `earliest` on, and no earlier than any call
    /// reserved before, at which `units` more keep every second within the
    /// budget; reserved. A call larger than the budget goes alone.
    fn reserve(&self, units: u64, earliest: Instant) -> Instant {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (budget, recent) = &mut *state;
        let second = Duration::from_secs(1);
        let mut slot = recent.back().map_or(earliest, |(t, _)| (*t).max(earliest));
        loop {
            // Reservations a second or more before the slot share no second
            // with it, nor with any later one.
            while recent.front().is_some_and(|(t, _)| *t + second <= slot) {
                recent.pop_front();
            }
            let used: u64 = recent.iter().map(|(_, n)| n).sum();
            match recent.front() {
                Some((oldest, _)) if used as f64 + units as f64 > *budget => {
                    slot = *oldest + second;
                }
                _ => break,
            }
        }
        recent.push_back((slot, units));
        slot
    }
}

/// Keeps every call within the account's quotas, and counts them.
#[derive(Debug)]
pub struct ApiLimiter {
    quotas: Mutex<Quotas>,
    lanes: BTreeMap<Api, Lane>,
    datapoints: Window,
    calls: BTreeMap<Api, AtomicU64>,
    datapoints_requested: AtomicU64,
    /// Whether calls wait at all (false for tests that count without
    /// pacing).
    pacing: bool,
}

impl ApiLimiter {
    pub fn new(quotas: Quotas) -> Self {
        let lanes = Api::ALL
            .iter()
            .map(|a| (*a, Lane::new(quotas.rate(*a))))
            .collect();
        let datapoints = Window::new(quotas.datapoints_per_second * quotas.headroom);
        ApiLimiter {
            quotas: Mutex::new(quotas),
            lanes,
            datapoints,
            calls: Api::ALL.iter().map(|a| (*a, AtomicU64::new(0))).collect(),
            datapoints_requested: AtomicU64::new(0),
            pacing: true,
        }
    }

    /// A limiter that counts calls but never makes one wait.
    pub fn unlimited() -> Self {
        ApiLimiter {
            pacing: false,
            ..ApiLimiter::new(Quotas::default())
        }
    }

    pub fn quotas(&self) -> Quotas {
        self.quotas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Holds calls to new quotas from now on (a policy reloaded).
    pub fn set_quotas(&self, quotas: Quotas) {
        for (api, lane) in &self.lanes {
            lane.set_rate(quotas.rate(*api));
        }
        self.datapoints
            .set_rate(quotas.datapoints_per_second * quotas.headroom);
        *self.quotas.lock().unwrap_or_else(|e| e.into_inner()) = quotas;
    }

    /// Waits for a slot for one call of `api`, and counts the call.
    pub async fn acquire(&self, api: Api) {
        self.count(api);
        self.pace(api).await;
    }

    /// Waits for a slot for one call of `api` without counting it: for a
    /// caller that may still decline the call after the wait (the
    /// executor, before its last read of the cooldown tags); whoever
    /// makes the call counts it ([`ApiLimiter::count`]).
    pub async fn pace(&self, api: Api) {
        if self.pacing {
            let slot = self.lanes[&api].reserve(1);
            tokio::time::sleep_until(slot).await;
        }
    }

    /// Counts one call of `api` made.
    pub fn count(&self, api: Api) {
        self.calls[&api].fetch_add(1, Ordering::Relaxed);
    }

    /// Waits for a slot for one GetMetricData call asking for `datapoints`
    /// datapoints (queries times minutes).
    pub async fn acquire_metrics(&self, datapoints: u64) {
        self.datapoints_requested
            .fetch_add(datapoints, Ordering::Relaxed);
        self.calls[&Api::GetMetricData].fetch_add(1, Ordering::Relaxed);
        if self.pacing {
            // One slot for both: the call goes when both its call and its
            // datapoints fit, and both count from then.
            let slot = {
                let calls = &self.lanes[&Api::GetMetricData];
                let mut call = calls.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let earliest = call.1.map_or(now, |n| n.max(now));
                let slot = self.datapoints.reserve(datapoints, earliest);
                call.1 = Some(slot + call.0);
                slot
            };
            tokio::time::sleep_until(slot).await;
        }
    }

    /// Calls made so far, per API.
    pub fn calls(&self) -> BTreeMap<Api, u64> {
        self.calls
            .iter()
            .map(|(a, n)| (*a, n.load(Ordering::Relaxed)))
            .collect()
    }

    /// GetMetricData datapoints asked for so far.
    pub fn datapoints_requested(&self) -> u64 {
        self.datapoints_requested.load(Ordering::Relaxed)
    }
}

impl Default for ApiLimiter {
    fn default() -> Self {
        ApiLimiter::new(Quotas::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_at_the_headroom_rate() {
        let limiter = ApiLimiter::default();
        let start = Instant::now();
        for _ in 0..9 {
            limiter.acquire(Api::ListTagsForStream).await;
        }
        // 5/s at 80% is one call every 250 ms: the ninth goes at 2 s.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(limiter.calls()[&Api::ListTagsForStream], 9);
        // Another API has its own lane.
        let other = Instant::now();
        limiter.acquire(Api::DescribeStreamSummary).await;
        assert_eq!(other.elapsed(), Duration::ZERO);
    }

    use proptest::prelude::*;

    /// Calls of each API that start within any second (half-open), and
    /// GetMetricData datapoints asked within any second.
    fn busiest_second(times: &[(Api, Duration, u64)]) -> (BTreeMap<Api, usize>, u64) {
        let mut calls = BTreeMap::new();
        let mut points = 0;
        for (i, (_, t, _)) in times.iter().enumerate() {
            let window =
                |(_, u, _): &&(Api, Duration, u64)| *u >= *t && *u < *t + Duration::from_secs(1);
            for api in Api::ALL {
                let n = times[i..]
                    .iter()
                    .filter(window)
                    .filter(|(a, _, _)| *a == api)
                    .count();
                let e = calls.entry(api).or_insert(0);
                *e = (*e).max(n);
            }
            let p: u64 = times[i..].iter().filter(window).map(|(_, _, d)| d).sum();
            points = points.max(p);
        }
        (calls, points)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever bursts of callers arrive, no second ever holds more calls
        /// of an API than its quota at the headroom (rounded up), nor more
        /// datapoints than the datapoint quota at the headroom (a call
        /// larger than that goes alone).
        #[test]
        fn the_limiter_never_exceeds_its_rate(
            bursts in prop::collection::vec(
                (0u64..3_000, prop::sample::select(Api::ALL.to_vec()), 1usize..30, 0u64..=23_000),
                1..12,
            ),
            headroom in prop_oneof![Just(0.8), 0.1f64..=1.0],
        ) {
            let quotas = Quotas { headroom, ..Quotas::default() };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            let times = runtime.block_on(async {
                let limiter = std::sync::Arc::new(ApiLimiter::new(quotas.clone()));
                let start = Instant::now();
                let mut tasks = Vec::new();
                for (at, api, calls, datapoints) in bursts {
                    for _ in 0..calls {
                        let limiter = limiter.clone();
                        tasks.push(tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(at)).await;
                            if api == Api::GetMetricData {
                                limiter.acquire_metrics(datapoints).await;
                            } else {
                                limiter.acquire(api).await;
                            }
                            (api, start.elapsed(), if api == Api::GetMetricData { datapoints } else { 0 })
                        }));
                    }
                }
                let mut times = Vec::new();
                for t in tasks {
                    times.push(t.await.unwrap());
                }
                times.sort_by_key(|(_, t, _)| *t);
                times
            });
            let (calls, points) = busiest_second(&times);
            for (api, n) in calls {
                let allowed = (quotas.rate(api) - 1e-9).ceil() as usize;
                prop_assert!(n <= allowed.max(1), "{api}: {n} calls in one second, {allowed} allowed");
            }
            let allowed = (quotas.datapoints_per_second * headroom).max(23_000.0);
            prop_assert!(points as f64 <= allowed, "{points} datapoints in one second, {allowed} allowed");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn get_metric_data_waits_for_datapoints_too() {
        let limiter = ApiLimiter::default();
        let start = Instant::now();
        // 144,000 datapoints a second at 80%: three calls of 144,000 each
        // go at 0 s, 1 s and 2 s, though 40 calls a second would allow more.
        for _ in 0..3 {
            limiter.acquire_metrics(144_000).await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(limiter.datapoints_requested(), 432_000);
    }
}
