//! Builders that make observations read like the scenario they set up:
//!
//! ```
//! use kinesis_autoscaler::testkit::StreamBuilder;
//! let obs = StreamBuilder::new("orders", 4).constant(0, 0.95).build();
//! assert_eq!(obs.open_shards().len(), 4);
//! ```
//!
//! Used by unit tests, integration tests, property tests and benchmarks;
//! nothing in the controller depends on it.

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::MetricName;
use crate::model::{HashKeyRange, Shard, ShardId};
use crate::model::{History, StreamMode, StreamStatus};
use crate::model::{WRITE_BYTES_PER_SECOND, WRITE_RECORDS_PER_SECOND};
use crate::observe::{Metrics, Observation, ShardMetrics};

/// The observation time builders use unless told otherwise.
pub const OBSERVED_AT: &str = "2026-11-26T02:00:00Z";

pub use crate::model::uniform_ranges;

/// The policy tests plan with: the built-in defaults, but with the short
/// scale-down they were written against (both shards under 30% for 30
/// minutes, under 60% together, 30 minutes after a reshard, 4 merges a
/// run), so that a test's observation of an hour or less covers it. The
/// built-in scale-down (90 minutes) is tuned on the simulator's suite.
pub fn policy() -> crate::policy::StreamPolicy {
    let mut p = crate::policy::StreamPolicy::default();
    p.scale_down.threshold = 0.3;
    p.scale_down.window_minutes = 30;
    p.scale_down.merged_ceiling = 0.6;
    p.scale_down.cooldown = std::time::Duration::from_secs(30 * 60);
    p.scale_down.max_merges_per_run = 4;
    p
}

/// Sampled records: for each `(partition key, records, bytes per record)`,
/// that many records, routed by the key's MD5, arrival unknown.
pub fn records(mix: &[(&str, usize, u64)]) -> Vec<crate::observe::SampledRecord> {
    mix.iter()
        .flat_map(|&(key, n, bytes)| {
            (0..n).map(move |_| crate::observe::SampledRecord {
                partition_key: key.to_owned(),
                bytes,
                arrival: None,
                hash_key: None,
            })
        })
        .collect()
}

/// The AWS-style id of the shard numbered `n`.
pub fn shard_id(n: usize) -> ShardId {
    ShardId(format!("shardId-{n:012}"))
}

/// Per-minute IncomingBytes that make `utilization` of one shard.
pub(crate) fn bytes_for(utilization: f64) -> f64 {
    utilization * 60.0 * WRITE_BYTES_PER_SECOND
}

/// Builds an [`Observation`] of a stream with open shards over given ranges
/// and per-minute loads expressed as utilization.
#[derive(Clone, Debug)]
pub struct StreamBuilder {
    obs: Observation,
    minutes: usize,
}

impl StreamBuilder {
    /// A stream of `shards` uniform open shards, ACTIVE and PROVISIONED,
    /// with 30 complete minutes of metrics (for a 2-minute metrics delay)
    /// and no datapoints yet.
    pub fn new(name: &str, shards: u32) -> Self {
        Self::with_ranges(name, &uniform_ranges(shards))
    }

    /// A stream whose open shards own exactly `ranges`, in order.
    pub fn with_ranges(name: &str, ranges: &[HashKeyRange]) -> Self {
        let observed_at: DateTime<Utc> = OBSERVED_AT.parse().expect("valid timestamp");
        let shards = ranges
            .iter()
            .enumerate()
            .map(|(i, r)| Shard {
                id: shard_id(i),
                range: *r,
                parent_shard_id: None,
                adjacent_parent_shard_id: None,
                open: true,
            })
            .collect();
        let mut builder = StreamBuilder {
            obs: Observation {
                stream_name: name.to_owned(),
                stream_status: StreamStatus::Active,
                stream_mode: StreamMode::Provisioned,
                observed_at,
                shards,
                metrics: Metrics {
                    start: observed_at,
                    period_seconds: 60,
                    stream: Default::default(),
                    shards: Default::default(),
                },
                history: History::default(),
                cooldowns_read: true,
                shard_quota: None,
                stream_created_at: None,
                past: Vec::new(),
                samples: Vec::new(),
                shares: None,
                reads: None,
                warm_throughput: None,
            },
            minutes: 0,
        };
        builder = builder.minutes(30);
        builder
    }

    /// How many complete minutes the series hold (for a 2-minute delay).
    pub fn minutes(mut self, minutes: usize) -> Self {
        self.minutes = minutes;
        self.obs.metrics.start = self.obs.observed_at - TimeDelta::minutes(minutes as i64 + 2);
        self
    }

    /// The series end `lag` before the observation (2 minutes unless told):
    /// CloudWatch publishing that late.
    pub fn lag(mut self, lag: TimeDelta) -> Self {
        self.obs.metrics.start =
            self.obs.observed_at - TimeDelta::minutes(self.minutes as i64) - lag;
        self
    }

    /// The stream was created `ago` before the observation.
    pub fn created(mut self, ago: TimeDelta) -> Self {
        self.obs.stream_created_at = Some(self.obs.observed_at - ago);
        self
    }

    /// Sets the stream-level series to the sums of the shards' datapoints,
    /// minute by minute, as CloudWatch reports them when every shard that
    /// took records published: a minute no shard published for has no
    /// stream-level datapoint either. Set the shards' loads first.
    pub fn stream_totals(mut self) -> Self {
        let mut bytes = vec![None; self.minutes];
        let mut records = vec![None; self.minutes];
        let mut throttled = vec![None; self.minutes];
        for m in self.obs.metrics.shards.values() {
            for (total, series) in [
                (&mut bytes, &m[MetricName::IncomingBytes]),
                (&mut records, &m[MetricName::IncomingRecords]),
                (
                    &mut throttled,
                    &m[MetricName::WriteProvisionedThroughputExceeded],
                ),
            ] {
                for (t, v) in total.iter_mut().zip(series.iter()) {
                    if let Some(v) = v {
                        *t = Some(t.unwrap_or(0.0) + v);
                    }
                }
            }
        }
        self.obs.metrics.stream[MetricName::IncomingBytes] = bytes.into();
        self.obs.metrics.stream[MetricName::IncomingRecords] = records.into();
        self.obs.metrics.stream[MetricName::WriteProvisionedThroughputExceeded] = throttled.into();
        self
    }

    /// Each shard's measured share of the stream's writes (bytes and
    /// records alike), by shard index, measured `ago` before the
    /// observation.
    pub fn shares(mut self, shares: &[f64], ago: TimeDelta) -> Self {
        self.obs.shares = Some(crate::observe::Shares {
            measured_at: self.obs.observed_at - ago,
            minutes: 15,
            shards: self
                .obs
                .shards
                .iter()
                .zip(shares)
                .map(|(s, &share)| {
                    (
                        s.id.clone(),
                        crate::observe::Share {
                            bytes: share,
                            records: share,
                        },
                    )
                })
                .collect(),
        });
        self
    }

    /// Drops every shard-level series, keeping the stream-level ones: what
    /// a pass that reads only the stream-level series sees. Set the
    /// stream-level series first ([`StreamBuilder::stream_totals`]).
    pub fn stream_only(mut self) -> Self {
        self.obs.metrics.shards.clear();
        self
    }

    /// Removes shard `shard`'s datapoints for `minutes` (oldest is 0),
    /// leaving the stream-level series as they are: datapoints CloudWatch
    /// lost, or never published for an idle shard.
    pub fn drop_minutes(mut self, shard: usize, minutes: &[usize]) -> Self {
        let n = self.minutes;
        let m = self.metrics(shard);
        for metric in [
            MetricName::IncomingBytes,
            MetricName::IncomingRecords,
            MetricName::WriteProvisionedThroughputExceeded,
        ] {
            let series = &mut m[metric];
            let mut values: Vec<Option<f64>> = series.iter().collect();
            values.resize(n, None);
            for &i in minutes {
                values[i] = None;
            }
            *series = values.into();
        }
        self
    }

    /// Removes the stream-level datapoints for `minutes` (oldest is 0).
    pub fn drop_stream_minutes(mut self, minutes: &[usize]) -> Self {
        let stream = &mut self.obs.metrics.stream;
        for metric in [MetricName::IncomingBytes, MetricName::IncomingRecords] {
            let series = &mut stream[metric];
            let mut values: Vec<Option<f64>> = series.iter().collect();
            for &i in minutes {
                values[i] = None;
            }
            *series = values.into();
        }
        self
    }

    fn metrics(&mut self, shard: usize) -> &mut ShardMetrics {
        let id = self.obs.shards[shard].id.clone();
        self.obs.metrics.shards.entry(id).or_default()
    }

    /// Sets the shard's load minute by minute, oldest first (the last value
    /// is the newest complete minute): IncomingBytes at that utilization,
    /// IncomingRecords at 2 KiB per record (so bytes are the binding limit),
    /// no throttling. `None` leaves a
    /// minute missing.
    pub fn utilization(mut self, shard: usize, minutes: &[Option<f64>]) -> Self {
        assert_eq!(minutes.len(), self.minutes, "one value per minute");
        let m = self.metrics(shard);
        m[MetricName::IncomingBytes] = minutes.iter().map(|u| u.map(bytes_for)).collect();
        m[MetricName::IncomingRecords] = minutes
            .iter()
            .map(|u| u.map(|u| bytes_for(u) / 2048.0))
            .collect();
        m[MetricName::WriteProvisionedThroughputExceeded] =
            minutes.iter().map(|u| u.map(|_| 0.0)).collect();
        self
    }

    /// The same utilization in every minute.
    pub fn constant(self, shard: usize, utilization: f64) -> Self {
        let minutes = vec![Some(utilization); self.minutes];
        self.utilization(shard, &minutes)
    }

    /// Sets the same utilization on every shard.
    pub fn all(mut self, utilization: f64) -> Self {
        for i in 0..self.obs.shards.len() {
            self = self.constant(i, utilization);
        }
        self
    }

    /// Records-bound load: IncomingRecords at `utilization` of 1,000/s with
    /// tiny records, plus `throttled` rejected records, in every minute.
    pub fn records(mut self, shard: usize, utilization: f64, throttled: f64) -> Self {
        let n = self.minutes;
        let m = self.metrics(shard);
        let records = utilization * 60.0 * WRITE_RECORDS_PER_SECOND;
        m[MetricName::IncomingRecords] = vec![Some(records); n].into();
        m[MetricName::IncomingBytes] = vec![Some(records * 100.0); n].into();
        m[MetricName::WriteProvisionedThroughputExceeded] = vec![Some(throttled); n].into();
        self
    }

    /// Throttled writes in the newest `minutes` minutes.
    pub fn throttled(mut self, shard: usize, per_minute: f64, minutes: usize) -> Self {
        let n = self.minutes;
        let m = self.metrics(shard);
        m[MetricName::WriteProvisionedThroughputExceeded] = (0..n)
            .map(|i| Some(if i >= n - minutes { per_minute } else { 0.0 }))
            .collect();
        self
    }

    /// The stream-level consumer iterator age (GetRecords.
    /// IteratorAgeMilliseconds), `ms` in every minute.
    pub fn stream_iterator_age(mut self, ms: f64) -> Self {
        self.obs.metrics.stream[MetricName::IteratorAgeMilliseconds] =
            vec![Some(ms); self.minutes].into();
        self
    }

    /// The stream-level consumer iterator age minute by minute, oldest
    /// first.
    pub fn stream_iterator_ages(mut self, ms: &[f64]) -> Self {
        assert_eq!(ms.len(), self.minutes, "one value per minute");
        self.obs.metrics.stream[MetricName::IteratorAgeMilliseconds] =
            ms.iter().map(|&v| Some(v)).collect();
        self
    }

    /// Shard `shard`'s own IteratorAgeMilliseconds, `ms` in every minute.
    pub fn iterator_age(mut self, shard: usize, ms: f64) -> Self {
        let n = self.minutes;
        self.metrics(shard)[MetricName::IteratorAgeMilliseconds] = vec![Some(ms); n].into();
        self
    }

    /// Read load (OutgoingBytes) at `utilization` of 2 MiB/s in every minute.
    pub fn reads(mut self, shard: usize, utilization: f64) -> Self {
        let n = self.minutes;
        self.metrics(shard)[MetricName::OutgoingBytes] =
            vec![Some(utilization * 60.0 * 2.0 * WRITE_BYTES_PER_SECOND); n].into();
        self
    }

    pub fn status(mut self, status: StreamStatus) -> Self {
        self.obs.stream_status = status;
        self
    }

    pub fn mode(mut self, mode: StreamMode) -> Self {
        self.obs.stream_mode = mode;
        self
    }

    /// An On-Demand stream in an Advantage account, holding `mib` MiB/s
    /// of warm throughput.
    pub fn warm_throughput(mut self, mib: u32) -> Self {
        self.obs.stream_mode = StreamMode::OnDemand;
        self.obs.warm_throughput = Some(crate::model::WarmThroughput {
            target_mib: mib,
            current_mib: mib,
        });
        self
    }

    /// The last split happened `ago` before the observation.
    pub fn last_scale_up(mut self, ago: TimeDelta) -> Self {
        self.obs.history.last_scale_up = Some(self.obs.observed_at - ago);
        self
    }

    /// The day's count of reshards began `ago` before the observation and
    /// stands at `operations`.
    pub fn reshards_today(mut self, ago: TimeDelta, operations: u32) -> Self {
        self.obs.history.today = Some(crate::model::DayCount {
            since: self.obs.observed_at - ago,
            operations,
        });
        self
    }

    /// The last merge happened `ago` before the observation.
    pub fn last_scale_down(mut self, ago: TimeDelta) -> Self {
        self.obs.history.last_scale_down = Some(self.obs.observed_at - ago);
        self
    }

    /// The account may have `limit` open shards and has `open` now.
    pub fn shard_quota(mut self, limit: u32, open: u32) -> Self {
        self.obs.shard_quota = Some(crate::model::ShardQuota {
            shard_limit: limit,
            open_shard_count: open,
        });
        self
    }

    /// Marks open shard `shard` as a child of a split of `parent`.
    pub fn parent(mut self, shard: usize, parent: &str) -> Self {
        self.obs.shards[shard].parent_shard_id = Some(ShardId::new(parent));
        self
    }

    /// Adds a closed shard (a former parent) that must be ignored.
    pub fn closed(mut self, range: HashKeyRange) -> Self {
        let n = self.obs.shards.len();
        self.obs.shards.push(Shard {
            id: shard_id(1000 + n),
            range,
            parent_shard_id: None,
            adjacent_parent_shard_id: None,
            open: false,
        });
        self
    }

    /// Adds a stretch of the stream-level past from `start`, a value per
    /// minute, as the stream's total utilization (in shards' worth:
    /// IncomingBytes, with 2 KiB records). Add stretches in time order.
    pub fn past(mut self, start: DateTime<Utc>, utilization: &[f64]) -> Self {
        self.obs.past.push(crate::observe::PastWindow {
            start,
            incoming_bytes: utilization.iter().map(|&u| Some(bytes_for(u))).collect(),
            incoming_records: utilization
                .iter()
                .map(|&u| Some(bytes_for(u) / 2048.0))
                .collect(),
        });
        self
    }

    /// Adds a sample of open shard `shard`'s records over 10 seconds: for
    /// each `(partition key, records, bytes per record)`, that many records.
    pub fn sample(mut self, shard: usize, mix: &[(&str, usize, u64)]) -> Self {
        let open: Vec<Shard> = self.obs.shards.iter().filter(|s| s.open).cloned().collect();
        self.obs
            .samples
            .push(crate::observe::ShardSample::from_records(
                &open[shard],
                &records(mix),
                std::time::Duration::from_secs(10),
                true,
                10,
            ));
        self
    }

    pub fn build(self) -> Observation {
        self.obs
    }
}

/// Asserts that `text` (a command's output, an error message) says `needle`,
/// showing both when it does not.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
}

/// How a [`WebhookReceiver`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// 200, at once.
    Ok,
    /// This status, at once.
    Status(u16),
    /// Never: the request hangs until the receiver stops.
    Hang,
}

/// A webhook on 127.0.0.1 that keeps the JSON bodies POSTed to it and
/// counts every request; stopped when dropped.
#[derive(Debug)]
pub struct WebhookReceiver {
    pub url: String,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// Starts one answering `answer` (on the current tokio runtime).
    pub async fn start(answer: Answer) -> WebhookReceiver {
        use axum::http::StatusCode;
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (kept, counted) = (bodies.clone(), requests.clone());
        let hook = move |body: String| async move {
            counted.fetch_add(1, Ordering::SeqCst);
            if let Ok(json) = serde_json::from_str(&body) {
                kept.lock().unwrap().push(json);
            }
            match answer {
                Answer::Ok => StatusCode::OK,
                Answer::Status(code) => StatusCode::from_u16(code).expect("a valid status"),
                Answer::Hang => std::future::pending().await,
            }
        };
        let app = axum::Router::new().route("/hook", axum::routing::post(hook));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver {
            url,
            bodies,
            requests,
            server,
        }
    }

    /// The JSON bodies received so far, in order.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }

    /// Every request received so far, answered or not.
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits up to `within` for `n` requests; the bodies then.
    pub async fn wait_for(&self, n: usize, within: std::time::Duration) -> Vec<serde_json::Value> {
        let end = tokio::time::Instant::now() + within;
        while self.requests() < n && tokio::time::Instant::now() < end {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.bodies()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}
