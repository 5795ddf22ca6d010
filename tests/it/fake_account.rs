//! A fake AWS account behind the SDK (aws-smithy-mocks): a fleet of
//! provisioned streams with per-shard CloudWatch metrics, answering the
//! calls a pass makes, and enforcing each documented per-account quota by
//! replying LimitExceeded (Throttling for CloudWatch) to any call over it,
//! measured over the trailing second of tokio time (so a test on paused
//! time measures virtual time).
//!
//! Shared by the fleet tests (tests/it/fleet.rs) and the fleet benchmark
//! (benches/fleet.rs).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudwatch::operation::get_metric_data::{GetMetricDataInput, GetMetricDataOutput};
use aws_sdk_cloudwatch::primitives::DateTime as CwDateTime;
use aws_sdk_cloudwatch::types::{MetricDataResult, StatusCode};
use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::operation::describe_limits::DescribeLimitsOutput;
use aws_sdk_kinesis::operation::describe_stream_summary::DescribeStreamSummaryOutput;
use aws_sdk_kinesis::operation::list_shards::ListShardsOutput;
use aws_sdk_kinesis::operation::list_streams::ListStreamsOutput;
use aws_sdk_kinesis::operation::list_tags_for_stream::ListTagsForStreamOutput;
use aws_sdk_kinesis::primitives::DateTime as KDateTime;
use aws_sdk_kinesis::types as k;
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use aws_smithy_types::body::SdkBody;
use chrono::{DateTime, Utc};
use kinesis_autoscaler::model::uniform_ranges;
use tokio::time::Instant;

/// One stream of the fleet.
#[derive(Clone, Debug)]
pub(crate) struct FakeStream {
    pub name: String,
    /// (shard id, starting hash key, ending hash key).
    pub shards: Vec<(String, u128, u128)>,
    /// Each shard's utilization, the same every minute.
    pub load: Vec<f64>,
}

/// The documented quotas the fake enforces, calls per second.
pub(crate) fn quota(api: &str) -> usize {
    match api {
        "ListStreams" | "ListTagsForStream" | "AddTagsToStream" => 5,
        "DescribeStreamSummary" => 20,
        "DescribeLimits" => 1,
        "GetMetricData" => 50,
        // ListShards: 1,000 per stream; counted per stream below.
        _ => 1000,
    }
}

/// GetMetricData datapoints per second.
pub(crate) const DATAPOINTS_PER_SECOND: u64 = 180_000;

/// What the fake saw.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Calls answered, by API.
    pub calls: BTreeMap<String, u64>,
    /// Calls refused for being over a quota, by API.
    pub limit_exceeded: BTreeMap<String, u64>,
    /// The streams whose tags were read.
    pub tags_read: Vec<String>,
}

#[derive(Debug, Default)]
struct Windows {
    /// Per API (and stream, for ListShards), when recent calls were
    /// answered, with their cost (datapoints for GetMetricData).
    recent: HashMap<String, VecDeque<(Instant, u64)>>,
}

/// A fleet of streams behind mocked Kinesis and CloudWatch clients.
#[derive(Debug)]
pub(crate) struct FakeAccount {
    pub streams: Vec<FakeStream>,
    by_name: HashMap<String, usize>,
    /// Datapoints exist for minutes that ended this long before `now`.
    pub newest_minute: DateTime<Utc>,
    windows: Mutex<Windows>,
    pub seen: Mutex<Seen>,
}

/// splitmix64, for a fleet that is the same for a seed.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(state: &mut u64) -> f64 {
    (next(state) >> 11) as f64 / (1u64 << 53) as f64
}

impl FakeAccount {
    /// `n` streams named `s-00000`..., of 2 to 64 shards each, drawn
    /// log-uniformly (many small streams, a few large ones, as fleets are).
    /// Most shards run at 45-62%, steady under the built-in policy
    /// (neither cold, under 45%, nor near a split, at 80% of the 80%
    /// threshold), as a fleet the controller has settled is; one stream in
    /// 50 has a hot shard (95%), one in 50 is cold throughout (5%): about
    /// one stream in 25 calls for an action in a given minute. Datapoints
    /// exist up to `newest_minute`.
    pub(crate) fn new(n: usize, seed: u64, newest_minute: DateTime<Utc>) -> Self {
        let mut state = seed;
        let streams: Vec<FakeStream> = (0..n)
            .map(|i| {
                let count = (2f64.ln() + unit(&mut state) * (64f64.ln() - 2f64.ln()))
                    .exp()
                    .round() as u32;
                let shards = uniform_ranges(count)
                    .into_iter()
                    .enumerate()
                    .map(|(j, r)| (format!("shardId-{j:012}"), r.start().0, r.end().0))
                    .collect();
                let kind = unit(&mut state);
                let load = (0..count)
                    .map(|j| {
                        if kind < 0.02 {
                            0.05
                        } else if kind > 0.98 && j == 0 {
                            0.95
                        } else {
                            0.45 + 0.17 * unit(&mut state)
                        }
                    })
                    .collect();
                FakeStream {
                    name: format!("s-{i:05}"),
                    shards,
                    load,
                }
            })
            .collect();
        let by_name = streams
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        FakeAccount {
            streams,
            by_name,
            newest_minute,
            windows: Mutex::default(),
            seen: Mutex::default(),
        }
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.streams.iter().map(|s| s.shards.len()).sum()
    }

    /// Whether a call of `api` (on `key`, for per-stream quotas) costing
    /// `cost` fits its quota now; counts it either way.
    fn admit(&self, api: &str, key: &str, cost: u64) -> bool {
        let now = Instant::now();
        let mut w = self.windows.lock().unwrap();
        let lane = w.recent.entry(format!("{api}/{key}")).or_default();
        while lane
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= Duration::from_secs(1))
        {
            lane.pop_front();
        }
        let fits = lane.len() < quota(api)
            && (api != "GetMetricData"
                || lane.iter().map(|(_, c)| c).sum::<u64>() + cost <= DATAPOINTS_PER_SECOND);
        if fits {
            lane.push_back((now, cost));
        }
        drop(w);
        let mut seen = self.seen.lock().unwrap();
        let counter = if fits {
            &mut seen.calls
        } else {
            &mut seen.limit_exceeded
        };
        *counter.entry(api.to_owned()).or_default() += 1;
        fits
    }

    fn stream(&self, name: Option<&str>) -> Option<&FakeStream> {
        name.and_then(|n| self.by_name.get(n))
            .map(|&i| &self.streams[i])
    }

    /// A Kinesis client answering from this account.
    pub(crate) fn kinesis(self: &Arc<Self>) -> aws_sdk_kinesis::Client {
        let rules = self.kinesis_rules();
        // The mocks cannot answer a retry (its input is gone): a refusal
        // reaches the adapter as it is.
        mock_client!(aws_sdk_kinesis, RuleMode::MatchAny, rules.iter(), |b| {
            b.retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
        })
    }

    /// A CloudWatch client answering from this account.
    pub(crate) fn cloudwatch(self: &Arc<Self>) -> aws_sdk_cloudwatch::Client {
        let rules = [self.get_metric_data_rule()];
        mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, rules.iter(), |b| b
            .retry_config(
                aws_sdk_cloudwatch::config::retry::RetryConfig::disabled()
            ))
    }

    fn kinesis_rules(self: &Arc<Self>) -> Vec<Rule> {
        let fake = self.clone();
        let list_streams =
            mock!(aws_sdk_kinesis::Client::list_streams).then_compute_response(move |req| {
                if !fake.admit("ListStreams", "", 1) {
                    return MockResponse::Http(limit_exceeded());
                }
                let from = req
                    .next_token()
                    .and_then(|t| t.parse::<usize>().ok())
                    .unwrap_or(0);
                let page = req.limit().unwrap_or(100).clamp(1, 100) as usize;
                let to = (from + page).min(fake.streams.len());
                let mut out =
                    ListStreamsOutput::builder().has_more_streams(to < fake.streams.len());
                for s in &fake.streams[from..to] {
                    out = out.stream_names(&s.name).stream_summaries(
                        k::StreamSummary::builder()
                            .stream_name(&s.name)
                            .stream_arn(arn(&s.name))
                            .stream_status(k::StreamStatus::Active)
                            .stream_mode_details(provisioned())
                            .build()
                            .unwrap(),
                    );
                }
                if to < fake.streams.len() {
                    out = out.next_token(to.to_string());
                }
                MockResponse::Output(out.build().unwrap())
            });
        let fake = self.clone();
        let list_shards =
            mock!(aws_sdk_kinesis::Client::list_shards).then_compute_response(move |req| {
                let Some(s) = fake.stream(req.stream_name()) else {
                    return MockResponse::Http(not_found());
                };
                if !fake.admit("ListShards", &s.name, 1) {
                    return MockResponse::Http(limit_exceeded());
                }
                let mut out = ListShardsOutput::builder();
                for (id, start, end) in &s.shards {
                    out = out.shards(
                        k::Shard::builder()
                            .shard_id(id)
                            .hash_key_range(
                                k::HashKeyRange::builder()
                                    .starting_hash_key(start.to_string())
                                    .ending_hash_key(end.to_string())
                                    .build()
                                    .unwrap(),
                            )
                            .sequence_number_range(
                                k::SequenceNumberRange::builder()
                                    .starting_sequence_number("0")
                                    .build()
                                    .unwrap(),
                            )
                            .build()
                            .unwrap(),
                    );
                }
                MockResponse::Output(out.build())
            });
        let fake = self.clone();
        let describe = mock!(aws_sdk_kinesis::Client::describe_stream_summary)
            .then_compute_response(move |req| {
                let Some(s) = fake.stream(req.stream_name()) else {
                    return MockResponse::Http(not_found());
                };
                if !fake.admit("DescribeStreamSummary", "", 1) {
                    return MockResponse::Http(limit_exceeded());
                }
                MockResponse::Output(
                    DescribeStreamSummaryOutput::builder()
                        .stream_description_summary(
                            k::StreamDescriptionSummary::builder()
                                .stream_name(&s.name)
                                .stream_arn(arn(&s.name))
                                .stream_status(k::StreamStatus::Active)
                                .stream_mode_details(provisioned())
                                .retention_period_hours(24)
                                .stream_creation_timestamp(KDateTime::from_secs(1_700_000_000))
                                .enhanced_monitoring(
                                    k::EnhancedMetrics::builder()
                                        .shard_level_metrics(k::MetricsName::All)
                                        .build(),
                                )
                                .open_shard_count(s.shards.len() as i32)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
            });
        let fake = self.clone();
        let limits =
            mock!(aws_sdk_kinesis::Client::describe_limits).then_compute_response(move |_| {
                if !fake.admit("DescribeLimits", "", 1) {
                    return MockResponse::Http(limit_exceeded());
                }
                MockResponse::Output(
                    DescribeLimitsOutput::builder()
                        .shard_limit(200_000)
                        .open_shard_count(fake.shard_count() as i32)
                        .on_demand_stream_count(0)
                        .on_demand_stream_count_limit(50)
                        .build()
                        .unwrap(),
                )
            });
        let fake = self.clone();
        let tags = mock!(aws_sdk_kinesis::Client::list_tags_for_stream).then_compute_response(
            move |req| {
                if !fake.admit("ListTagsForStream", "", 1) {
                    return MockResponse::Http(limit_exceeded());
                }
                fake.seen
                    .lock()
                    .unwrap()
                    .tags_read
                    .push(req.stream_name().unwrap_or_default().to_owned());
                MockResponse::Output(
                    ListTagsForStreamOutput::builder()
                        .set_tags(Some(Vec::new()))
                        .has_more_tags(false)
                        .build()
                        .unwrap(),
                )
            },
        );
        vec![list_streams, list_shards, describe, limits, tags]
    }

    fn get_metric_data_rule(self: &Arc<Self>) -> Rule {
        let fake = self.clone();
        mock!(aws_sdk_cloudwatch::Client::get_metric_data)
            .then_compute_response(move |req| fake.get_metric_data(req))
    }

    fn get_metric_data(
        &self,
        req: &GetMetricDataInput,
    ) -> MockResponse<
        GetMetricDataOutput,
        aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataError,
    > {
        let start = req.start_time().map_or(0, |t| t.secs());
        let end = req.end_time().map_or(0, |t| t.secs());
        let minutes = ((end - start) / 60).max(0);
        let queries = req.metric_data_queries();
        if !self.admit("GetMetricData", "", queries.len() as u64 * minutes as u64) {
            return MockResponse::Http(throttling());
        }
        let newest = self.newest_minute.timestamp();
        let mut out = GetMetricDataOutput::builder();
        for q in queries {
            let metric = q.metric_stat().and_then(|s| s.metric());
            let dims: HashMap<&str, &str> = metric
                .map(|m| m.dimensions())
                .unwrap_or_default()
                .iter()
                .filter_map(|d| Some((d.name()?, d.value()?)))
                .collect();
            let name = metric.and_then(|m| m.metric_name()).unwrap_or_default();
            let Some(s) = self.stream(dims.get("StreamName").copied()) else {
                continue;
            };
            let utilization: f64 = match dims.get("ShardId") {
                Some(id) => s
                    .shards
                    .iter()
                    .position(|(sid, _, _)| sid == id)
                    .map_or(0.0, |j| s.load[j]),
                None => s.load.iter().sum(),
            };
            let bytes = utilization * 60.0 * 1_048_576.0;
            let value = match name {
                "IncomingBytes" => bytes,
                "IncomingRecords" => bytes / 2048.0,
                _ => 0.0,
            };
            let times: Vec<i64> = (0..minutes)
                .map(|m| start + m * 60)
                .filter(|t| *t <= newest)
                .collect();
            out = out.metric_data_results(
                MetricDataResult::builder()
                    .id(q.id().unwrap_or_default())
                    .status_code(StatusCode::Complete)
                    .set_timestamps(Some(
                        times.iter().map(|t| CwDateTime::from_secs(*t)).collect(),
                    ))
                    .set_values(Some(vec![value; times.len()]))
                    .build(),
            );
        }
        MockResponse::Output(out.build())
    }
}

fn arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:123456789012:stream/{name}")
}

fn json_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = serde_json::json!({ "__type": code, "message": message }).to_string();
    HttpResponse::new(status.try_into().unwrap(), SdkBody::from(body))
}

fn limit_exceeded() -> HttpResponse {
    json_error(
        400,
        "LimitExceededException",
        "Rate exceeded for account 123456789012.",
    )
}

fn not_found() -> HttpResponse {
    json_error(400, "ResourceNotFoundException", "Stream not found.")
}

fn throttling() -> HttpResponse {
    let body = r#"<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
  <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>
  <RequestId>0f5a3e6e-0000-0000-0000-000000000000</RequestId>
</ErrorResponse>"#;
    HttpResponse::new(400.try_into().unwrap(), SdkBody::from(body))
}

/// Every fake stream is provisioned.
fn provisioned() -> k::StreamModeDetails {
    k::StreamModeDetails::builder()
        .stream_mode(k::StreamMode::Provisioned)
        .build()
        .unwrap()
}
