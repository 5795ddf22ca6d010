//! The AWS adapters and the executor over them, on mocked SDK clients
//! (aws-smithy-mocks): what the requests carry (query batching, paging
//! tokens, filters), how real error responses are classified, and how the
//! executor rides out faults that the local emulators cannot produce on
//! demand: throttling, ResourceInUse, a SplitShard whose reply never comes,
//! a reshard that never finishes, a stream deleted mid-plan.
//!
//! Error answers are HTTP responses run through the SDK's own deserializer
//! (`{"__type": ..., "message": ...}`), so the error code the classifier
//! reads is set exactly as AWS would set it. The SDK's retries are off
//! (`RetryConfig::disabled()`) so that every retry seen is the executor's,
//! and executor tests run on paused tokio time, so backoff and polling cost
//! nothing.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::assert_contains;
use aws_sdk_cloudwatch::operation::get_metric_data::{GetMetricDataInput, GetMetricDataOutput};
use aws_sdk_cloudwatch::types::{MetricDataResult, ScanBy};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::timeout::TimeoutConfig;
use aws_sdk_kinesis::operation::add_tags_to_stream::AddTagsToStreamOutput;
use aws_sdk_kinesis::operation::describe_limits::DescribeLimitsOutput;
use aws_sdk_kinesis::operation::describe_stream_summary::DescribeStreamSummaryOutput;
use aws_sdk_kinesis::operation::list_shards::ListShardsOutput;
use aws_sdk_kinesis::operation::list_tags_for_stream::ListTagsForStreamOutput;
use aws_sdk_kinesis::operation::split_shard::SplitShardOutput;
use aws_sdk_kinesis::primitives::DateTime as AwsDateTime;
use aws_sdk_kinesis::types::{self as k, ShardFilterType};
use aws_smithy_http_client::test_util::NeverClient;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::body::SdkBody;
use chrono::{DateTime, SecondsFormat, Utc};
use kinesis_autoscaler::apply::tags::{LAST_ACTION, LAST_SCALE_DOWN, LAST_SCALE_UP};
use kinesis_autoscaler::apply::{ApplyReport, Event, Executor, ExecutorConfig, StopKind};
use kinesis_autoscaler::aws::{Clients, CloudWatchMetrics, KinesisReader, KinesisWriter};
use kinesis_autoscaler::model::History;
use kinesis_autoscaler::model::{Api, ApiErrorKind, ApiResult, MetricName, StreamId};
use kinesis_autoscaler::model::{HashKey, HashKeyRange, ShardId};
use kinesis_autoscaler::observe::{
    KinesisRead, KinesisWrite, Metrics, MetricsRead, MetricsRequest, TokioClock,
};
use kinesis_autoscaler::planner::plan;
use kinesis_autoscaler::planner::{Action, Plan};
use kinesis_autoscaler::testkit::{OBSERVED_AT, StreamBuilder, shard_id, uniform_ranges};
use tokio::time::Instant;

const STREAM: &str = "orders";
const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/orders";
/// 2^127: where the one shard of a one-shard stream is split.
const MID: u128 = 1 << 127;

// ---------------------------------------------------------------------------
// Mocked clients and canned answers
// ---------------------------------------------------------------------------

/// A Kinesis client answering from `rules` (first match wins), with the
/// SDK's own retries off.
fn kinesis(rules: &[&Rule]) -> Client {
    mock_client!(
        aws_sdk_kinesis,
        RuleMode::MatchAny,
        rules.iter().copied(),
        |b| b.retry_config(RetryConfig::disabled())
    )
}

/// A Kinesis client whose requests are matched against `rules` (so they
/// are counted) but never answered: every call times out after `timeout`.
///
/// The rules must answer with [`never_sent`], not a modeled output: the
/// runtime runs the attempt's finalizers after an operation timeout, and
/// the mock interceptor would put a modeled output there, turning the
/// timeout into a success.
fn kinesis_never_answering(rules: &[&Rule], never: &NeverClient, timeout: Duration) -> Client {
    let never = never.clone();
    mock_client!(
        aws_sdk_kinesis,
        RuleMode::MatchAny,
        rules.iter().copied(),
        move |b| b
            .retry_config(RetryConfig::disabled())
            .http_client(never.clone())
            .timeout_config(TimeoutConfig::builder().operation_timeout(timeout).build())
    )
}

/// An HTTP answer for rules of [`kinesis_never_answering`]; it is never
/// delivered.
fn never_sent() -> HttpResponse {
    HttpResponse::new(200.try_into().expect("valid status"), SdkBody::from("{}"))
}

/// An AWS JSON error answer, as Kinesis sends it.
fn aws_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = serde_json::json!({ "__type": code, "message": message }).to_string();
    HttpResponse::new(
        status.try_into().expect("valid status"),
        SdkBody::from(body),
    )
}

fn rate_exceeded() -> HttpResponse {
    aws_error(
        400,
        "LimitExceededException",
        "Rate exceeded for shard shardId-000000000000 in stream orders under account 123456789012.",
    )
}

fn stream_not_found() -> HttpResponse {
    aws_error(
        400,
        "ResourceNotFoundException",
        "Stream orders under account 123456789012 not found.",
    )
}

fn summary(status: k::StreamStatus) -> DescribeStreamSummaryOutput {
    DescribeStreamSummaryOutput::builder()
        .stream_description_summary(
            k::StreamDescriptionSummary::builder()
                .stream_name(STREAM)
                .stream_arn(ARN)
                .stream_status(status)
                .retention_period_hours(24)
                .stream_creation_timestamp(AwsDateTime::from_secs(1_700_000_000))
                .set_enhanced_monitoring(Some(vec![]))
                .open_shard_count(1)
                .build()
                .expect("all required fields"),
        )
        .build()
}

/// An open shard with decimal hash keys as Kinesis sends them.
fn shard_with_keys(id: &str, start: &str, end: &str) -> k::Shard {
    k::Shard::builder()
        .shard_id(id)
        .hash_key_range(
            k::HashKeyRange::builder()
                .starting_hash_key(start)
                .ending_hash_key(end)
                .build()
                .expect("both keys"),
        )
        .sequence_number_range(
            k::SequenceNumberRange::builder()
                .starting_sequence_number(
                    "49600000000000000000000000000000000000000000000000000000",
                )
                .build()
                .expect("starting number"),
        )
        .build()
        .expect("shard id")
}

fn shard(id: &str, start: u128, end: u128) -> k::Shard {
    shard_with_keys(id, &start.to_string(), &end.to_string())
}

fn shards_page(shards: &[k::Shard], next_token: Option<&str>) -> ListShardsOutput {
    ListShardsOutput::builder()
        .set_shards(Some(shards.to_vec()))
        .set_next_token(next_token.map(str::to_owned))
        .build()
}

/// The one open shard of a one-shard stream.
fn parent() -> Vec<k::Shard> {
    vec![shard("shardId-000000000000", 0, u128::MAX)]
}

/// The open shards after splitting [`parent`] at 2^127.
fn children() -> Vec<k::Shard> {
    vec![
        shard("shardId-000000000001", 0, MID - 1),
        shard("shardId-000000000002", MID, u128::MAX),
    ]
}

fn limits() -> DescribeLimitsOutput {
    DescribeLimitsOutput::builder()
        .shard_limit(500)
        .open_shard_count(10)
        .on_demand_stream_count(0)
        .on_demand_stream_count_limit(50)
        .build()
        .expect("all required fields")
}

fn tag(key: &str, value: &str) -> k::Tag {
    k::Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("key")
}

// ---------------------------------------------------------------------------
// A. CloudWatch
// ---------------------------------------------------------------------------

/// A CloudWatch client answering from `rules`, with the SDK's retries off.
fn cloudwatch(mode: RuleMode, rules: &[&Rule]) -> aws_sdk_cloudwatch::Client {
    mock_client!(aws_sdk_cloudwatch, mode, rules.iter().copied(), |b| b
        .retry_config(RetryConfig::disabled()))
}

fn window_start() -> DateTime<Utc> {
    "2026-11-26T01:00:00Z".parse().unwrap()
}

/// What GetMetricData calls one read of 2,000 shards made: the requests
/// as sent, and the answer.
async fn read_2000_shards(
    wanted: &[MetricName],
    iterator_age: bool,
) -> (Vec<GetMetricDataInput>, Metrics) {
    let requests: Arc<Mutex<Vec<GetMetricDataInput>>> = Arc::default();
    let seen = requests.clone();
    let rule = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(move |req| {
            seen.lock().unwrap().push(req.clone());
            true
        })
        .then_output(|| GetMetricDataOutput::builder().build());
    let metrics = CloudWatchMetrics::new(cloudwatch(RuleMode::MatchAny, &[&rule]));
    let shards: Vec<ShardId> = (0..2000).map(shard_id).collect();
    let request = MetricsRequest {
        iterator_age,
        ..MetricsRequest::new(STREAM, &shards, wanted, window_start(), 10)
    };
    let got = metrics.read_metrics(&request).await.unwrap();
    let requests = requests.lock().unwrap().clone();
    assert_eq!(rule.num_calls(), requests.len());
    (requests, got)
}

#[tokio::test]
async fn a_2000_shard_stream_costs_13_get_metric_data_calls_of_at_most_500_queries() {
    let write = [
        MetricName::IncomingBytes,
        MetricName::IncomingRecords,
        MetricName::WriteProvisionedThroughputExceeded,
    ];
    let guarded = [
        MetricName::IncomingBytes,
        MetricName::IncomingRecords,
        MetricName::WriteProvisionedThroughputExceeded,
        MetricName::IteratorAgeMilliseconds,
    ];
    // ceil((3 stream-level + 2000 * 3) / 500) calls, no more; with the
    // consumer guard, the iterator ages ride in the same batches:
    // ceil((4 + 2000 * 4) / 500).
    for (wanted, iterator_age, calls, stream_names) in [
        (
            &write[..],
            false,
            13,
            &[
                "IncomingBytes",
                "IncomingRecords",
                "WriteProvisionedThroughputExceeded",
            ][..],
        ),
        (
            &guarded[..],
            true,
            17,
            &[
                "IncomingBytes",
                "IncomingRecords",
                "WriteProvisionedThroughputExceeded",
                "GetRecords.IteratorAgeMilliseconds",
            ][..],
        ),
    ] {
        let (requests, got) = read_2000_shards(wanted, iterator_age).await;
        assert_eq!(requests.len(), calls);
        let mut stream_level = Vec::new();
        let mut ids = HashSet::new();
        let mut pairs = HashSet::new();
        for req in requests.iter() {
            let queries = req.metric_data_queries();
            assert!(
                queries.len() <= 500,
                "{} queries in one call",
                queries.len()
            );
            assert_eq!(
                req.start_time().map(|t| t.secs()),
                Some(window_start().timestamp())
            );
            assert_eq!(
                req.end_time().map(|t| t.secs()),
                Some(window_start().timestamp() + 600)
            );
            assert_eq!(req.scan_by(), Some(&ScanBy::TimestampAscending));
            for q in queries {
                let id = q.id().expect("every query has an id");
                assert!(
                    id.starts_with(|c: char| c.is_ascii_lowercase()),
                    "query id {id:?} must start with a lowercase letter"
                );
                assert!(ids.insert(id.to_owned()), "query id {id:?} used twice");
                let stat = q.metric_stat().expect("a metric query, not an expression");
                assert_eq!(stat.period(), Some(60), "{id}");
                let metric = stat.metric().expect("a metric");
                let name = metric.metric_name().unwrap();
                // Ages are Maximums; a sum of ages means nothing.
                let expected = if name.ends_with("IteratorAgeMilliseconds") {
                    "Maximum"
                } else {
                    "Sum"
                };
                assert_eq!(stat.stat(), Some(expected), "{id} {name}");
                assert_eq!(metric.namespace(), Some("AWS/Kinesis"), "{id}");
                let dimensions: Vec<_> = metric
                    .dimensions()
                    .iter()
                    .map(|d| (d.name().unwrap(), d.value().unwrap()))
                    .collect();
                assert_eq!(dimensions[0], ("StreamName", STREAM), "{id}");
                if dimensions.len() == 1 {
                    stream_level.push(name.to_owned());
                    continue;
                }
                assert_eq!(dimensions.len(), 2, "{id}: {dimensions:?}");
                assert_eq!(dimensions[1].0, "ShardId", "{id}");
                assert!(
                    wanted.iter().any(|m| m.as_str() == name),
                    "{id}: {name} was not asked for"
                );
                assert!(
                    pairs.insert((dimensions[1].1.to_owned(), name.to_owned())),
                    "{id}: {} {name} asked twice",
                    dimensions[1].1
                );
            }
        }
        // Every (shard, metric) asked exactly once, and each stream-level
        // series once, in the first call.
        assert_eq!(pairs.len(), 2000 * wanted.len());
        assert_eq!(stream_level, stream_names);
        assert!(
            requests[0].metric_data_queries()[..stream_names.len()]
                .iter()
                .all(|q| {
                    q.metric_stat()
                        .unwrap()
                        .metric()
                        .unwrap()
                        .dimensions()
                        .len()
                        == 1
                })
        );
        // No datapoints came back: everything is missing, nothing is zero.
        assert_eq!(got.shards.len(), 2000);
        assert_eq!(got.stream[MetricName::IncomingRecords].len(), 10);
        assert!(
            got.stream[MetricName::IncomingRecords]
                .iter()
                .all(|v| v.is_none())
        );
        assert_eq!(
            got.stream[MetricName::IteratorAgeMilliseconds].len(),
            if iterator_age { 10 } else { 0 }
        );
        let m = &got.shards[&shard_id(1999)];
        assert_eq!(m[MetricName::IncomingBytes].len(), 10);
        assert!(m[MetricName::IncomingBytes].iter().all(|v| v.is_none()));
        assert!(
            m[MetricName::WriteProvisionedThroughputExceeded]
                .iter()
                .all(|v| v.is_none())
        );
    }
}

/// The id of the query in `req` for the shard-level `metric`.
fn query_id(req: &GetMetricDataInput, metric: &str) -> String {
    query_id_with(req, metric, 2)
}

/// The id of the query in `req` for `metric` with `dimensions` dimensions
/// (1: stream-level, 2: shard-level).
fn query_id_with(req: &GetMetricDataInput, metric: &str, dimensions: usize) -> String {
    req.metric_data_queries()
        .iter()
        .find(|q| {
            let m = q.metric_stat().and_then(|s| s.metric());
            m.and_then(|m| m.metric_name()) == Some(metric)
                && m.is_some_and(|m| m.dimensions().len() == dimensions)
        })
        .and_then(|q| q.id())
        .unwrap_or_else(|| panic!("no query for {metric}"))
        .to_owned()
}

fn result(id: &str, points: &[(i64, f64)]) -> MetricDataResult {
    MetricDataResult::builder()
        .id(id)
        .set_timestamps(Some(
            points
                .iter()
                .map(|(t, _)| AwsDateTime::from_secs(*t))
                .collect(),
        ))
        .set_values(Some(points.iter().map(|(_, v)| *v).collect()))
        .build()
}

#[tokio::test]
async fn datapoints_map_back_by_query_id_into_minutes_and_pages_merge() {
    let s = window_start().timestamp();
    let first_page = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|req| req.next_token().is_none())
        .then_compute_output(move |req| {
            GetMetricDataOutput::builder()
                .metric_data_results(result(
                    &query_id(req, "IncomingBytes"),
                    // A minute before the window, minute 0, minute 2.
                    &[(s - 60, 99.0), (s, 10.0), (s + 120, 30.0)],
                ))
                .metric_data_results(result(
                    &query_id(req, "IncomingRecords"),
                    // A real zero stays zero.
                    &[(s + 60, 7.0), (s + 180, 0.0)],
                ))
                // The stream-level series map back apart from the shard's.
                .metric_data_results(result(
                    &query_id_with(req, "IncomingRecords", 1),
                    &[(s, 70.0), (s + 240, 90.0)],
                ))
                .next_token("page-2")
                .build()
        });
    let second_page = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|req| req.next_token() == Some("page-2"))
        .then_compute_output(move |req| {
            GetMetricDataOutput::builder()
                .metric_data_results(result(
                    &query_id(req, "IncomingBytes"),
                    // Minute 4, then the first minute after the window.
                    &[(s + 240, 50.0), (s + 300, 60.0)],
                ))
                // An id no query has is ignored.
                .metric_data_results(result("zz9", &[(s, 1.0)]))
                .build()
        });
    let metrics = CloudWatchMetrics::new(cloudwatch(
        RuleMode::Sequential,
        &[&first_page, &second_page],
    ));
    let shards = [shard_id(0)];
    let wanted = [
        MetricName::IncomingBytes,
        MetricName::IncomingRecords,
        MetricName::WriteProvisionedThroughputExceeded,
    ];

    let got = metrics
        .read_metrics(&MetricsRequest::new(
            STREAM,
            &shards,
            &wanted,
            window_start(),
            5,
        ))
        .await
        .unwrap();

    assert_eq!((first_page.num_calls(), second_page.num_calls()), (1, 1));
    let series = |s: &kinesis_autoscaler::observe::Series| s.iter().collect::<Vec<_>>();
    assert_eq!(
        series(&got.stream[MetricName::IncomingRecords]),
        [Some(70.0), None, None, None, Some(90.0)]
    );
    assert_eq!(series(&got.stream[MetricName::IncomingBytes]), [None; 5]);
    let m = &got.shards[&shard_id(0)];
    assert_eq!(
        series(&m[MetricName::IncomingBytes]),
        [Some(10.0), None, Some(30.0), None, Some(50.0)]
    );
    assert_eq!(
        series(&m[MetricName::IncomingRecords]),
        [None, Some(7.0), None, Some(0.0), None]
    );
    // Asked for, never answered: five missing minutes.
    assert_eq!(
        series(&m[MetricName::WriteProvisionedThroughputExceeded]),
        [None; 5]
    );
}

#[tokio::test]
async fn cloudwatch_throttling_is_classified_as_throttled() {
    let body = r#"<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
  <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>
  <RequestId>0f5a3e6e-0000-0000-0000-000000000000</RequestId>
</ErrorResponse>"#;
    let rule = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .then_http_response(move || HttpResponse::new(400.try_into().unwrap(), body.into()));
    let metrics = CloudWatchMetrics::new(cloudwatch(RuleMode::MatchAny, &[&rule]));

    let err = metrics
        .read_metrics(&MetricsRequest::new(
            STREAM,
            &[shard_id(0)],
            &[MetricName::IncomingBytes],
            window_start(),
            5,
        ))
        .await
        .unwrap_err();

    assert_eq!(err.kind, ApiErrorKind::Throttled);
    assert_eq!(
        err.to_string(),
        "GetMetricData failed: Throttling: Rate exceeded"
    );
}

// ---------------------------------------------------------------------------
// B. Kinesis adapters
// ---------------------------------------------------------------------------

fn is_at_latest(req: &aws_sdk_kinesis::operation::list_shards::ListShardsInput) -> bool {
    req.shard_filter().map(|f| f.r#type()) == Some(&ShardFilterType::AtLatest)
}

/// What AWS answers a follow-up page that names the stream too.
fn refuses_token_with_stream() -> Rule {
    mock!(Client::list_shards).then_http_response(|| {
        aws_error(
            400,
            "InvalidArgumentException",
            "NextToken and StreamName cannot be provided together.",
        )
    })
}

#[tokio::test]
async fn list_shards_follows_next_token_alone_and_sorts_by_hash_key() {
    let upper = shard("shardId-000000000002", MID, u128::MAX);
    let lower = shard("shardId-000000000001", 0, MID - 1);
    let first = mock!(Client::list_shards)
        .match_requests(|req| {
            req.stream_name() == Some(STREAM)
                && req.stream_arn().is_none()
                && req.next_token().is_none()
                && is_at_latest(req)
        })
        .then_output(move || shards_page(std::slice::from_ref(&upper), Some("token-2")));
    let follow_up = mock!(Client::list_shards)
        .match_requests(|req| {
            req.next_token() == Some("token-2")
                && req.stream_name().is_none()
                && req.stream_arn().is_none()
                && req.shard_filter().is_none()
                && req.exclusive_start_shard_id().is_none()
        })
        .then_output(move || shards_page(std::slice::from_ref(&lower), None));
    let refused = refuses_token_with_stream();
    let reader = KinesisReader::new(kinesis(&[&first, &follow_up, &refused]));

    let shards = reader
        .list_open_shards(&StreamId::named(STREAM))
        .await
        .unwrap();

    assert_eq!(
        (
            first.num_calls(),
            follow_up.num_calls(),
            refused.num_calls()
        ),
        (1, 1, 0)
    );
    let got: Vec<_> = shards.iter().map(|s| (s.id.as_str(), s.range)).collect();
    assert_eq!(
        got,
        [
            (
                "shardId-000000000001",
                HashKeyRange::new(HashKey(0), HashKey(MID - 1)).unwrap()
            ),
            (
                "shardId-000000000002",
                HashKeyRange::new(HashKey(MID), HashKey::MAX).unwrap()
            ),
        ]
    );
    assert!(shards.iter().all(|s| s.open));
}

#[tokio::test]
async fn list_shards_addresses_a_stream_given_by_arn_by_arn_only() {
    let first = mock!(Client::list_shards)
        .match_requests(|req| {
            req.stream_arn() == Some(ARN) && req.stream_name().is_none() && is_at_latest(req)
        })
        .then_output(|| shards_page(&parent(), None));
    let reader = KinesisReader::new(kinesis(&[&first]));

    let shards = reader
        .list_open_shards(&StreamId::from_name_or_arn(ARN))
        .await
        .unwrap();

    assert_eq!(first.num_calls(), 1);
    assert_eq!(shards.len(), 1);
    assert_eq!(shards[0].range, HashKeyRange::FULL);
}

#[tokio::test]
async fn a_non_numeric_hash_key_is_a_clear_error_not_a_panic() {
    let rule = mock!(Client::list_shards).then_output(|| {
        shards_page(
            &[shard_with_keys(
                "shardId-000000000007",
                "0",
                "34028236692093846346337460743176821145x",
            )],
            None,
        )
    });
    let reader = KinesisReader::new(kinesis(&[&rule]));

    let err = reader
        .list_open_shards(&StreamId::named(STREAM))
        .await
        .unwrap_err();

    assert_eq!(err.operation, Api::ListShards);
    assert_eq!(err.kind, ApiErrorKind::Other);
    let text = err.to_string();
    assert!(text.contains("shardId-000000000007"), "{text}");
    assert!(
        text.contains("\"34028236692093846346337460743176821145x\" is not a decimal integer"),
        "{text}"
    );
}

#[tokio::test]
async fn error_responses_are_classified_by_their_aws_code() {
    let cases = [
        (
            400,
            "LimitExceededException",
            "Rate exceeded for shard shardId-000000000000 in stream orders under account 123456789012.",
            ApiErrorKind::Throttled,
        ),
        (
            400,
            "LimitExceededException",
            "This request would exceed the shard limit for the account 123456789012 in us-east-1. Current shard count for the account: 500. Limit: 500.",
            ApiErrorKind::ShardQuota,
        ),
        (
            400,
            "ResourceInUseException",
            "Stream orders under account 123456789012 not ACTIVE, instead in state UPDATING",
            ApiErrorKind::ResourceInUse,
        ),
        (
            400,
            "ResourceNotFoundException",
            "Stream orders under account 123456789012 not found.",
            ApiErrorKind::NotFound,
        ),
        (
            400,
            "InvalidArgumentException",
            "NewStartingHashKey 0 used in SplitShard() on shard shardId-000000000000 in stream orders under account 123456789012 is not both greater than one plus the shard's StartingHashKey 0 and less than the shard's EndingHashKey 340282366920938463463374607431768211455.",
            ApiErrorKind::InvalidArgument,
        ),
        (
            400,
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/autoscaler/x is not authorized to perform: kinesis:SplitShard",
            ApiErrorKind::AccessDenied,
        ),
        (
            500,
            "InternalFailure",
            "The request processing has failed because of an unknown error.",
            ApiErrorKind::Unavailable,
        ),
    ];
    for (status, code, message, kind) in cases {
        let rule =
            mock!(Client::split_shard).then_http_response(move || aws_error(status, code, message));
        let writer = KinesisWriter::new(kinesis(&[&rule]));

        let err = writer
            .split_shard(&StreamId::named(STREAM), &shard_id(0), HashKey(MID))
            .await
            .unwrap_err();

        assert_eq!(err.kind, kind, "{code}");
        assert_eq!(err.operation, Api::SplitShard);
        assert_eq!(err.code.as_deref(), Some(code));
        assert_eq!(
            err.to_string(),
            format!("SplitShard failed: {code}: {message}")
        );
        assert_eq!(rule.num_calls(), 1, "{code}: no SDK retries");
    }
}

#[tokio::test]
async fn an_http_500_without_an_error_code_is_unavailable() {
    let rule = mock!(Client::split_shard)
        .then_http_response(|| HttpResponse::new(500.try_into().unwrap(), SdkBody::empty()));
    let writer = KinesisWriter::new(kinesis(&[&rule]));

    let err = writer
        .split_shard(&StreamId::named(STREAM), &shard_id(0), HashKey(MID))
        .await
        .unwrap_err();

    assert_eq!(err.kind, ApiErrorKind::Unavailable, "{err}");
    assert!(err.kind.is_transient());
}

#[tokio::test]
async fn an_http_503_with_an_unlisted_error_code_is_unavailable() {
    let rule = mock!(Client::split_shard).then_http_response(|| {
        aws_error(
            503,
            "ServiceUnavailableException",
            "Service is temporarily unavailable.",
        )
    });
    let writer = KinesisWriter::new(kinesis(&[&rule]));

    let err = writer
        .split_shard(&StreamId::named(STREAM), &shard_id(0), HashKey(MID))
        .await
        .unwrap_err();

    assert_eq!(err.kind, ApiErrorKind::Unavailable, "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_call_without_an_answer_is_a_timeout() {
    let never = NeverClient::new();
    let rule = mock!(Client::split_shard).then_http_response(never_sent);
    let writer = KinesisWriter::new(kinesis_never_answering(
        &[&rule],
        &never,
        Duration::from_secs(2),
    ));

    let err = writer
        .split_shard(&StreamId::named(STREAM), &shard_id(0), HashKey(MID))
        .await
        .unwrap_err();

    assert_eq!(err.kind, ApiErrorKind::Timeout, "{err}");
    assert_eq!(err.operation, Api::SplitShard);
    assert!(err.to_string().contains("no answer in time"), "{err}");
    assert_eq!(never.num_calls(), 1);
}

#[tokio::test]
async fn the_history_is_read_from_tags_across_pages() {
    let first = mock!(Client::list_tags_for_stream)
        .match_requests(|req| {
            req.stream_name() == Some(STREAM) && req.exclusive_start_tag_key().is_none()
        })
        .then_output(|| {
            ListTagsForStreamOutput::builder()
                .tags(tag("team", "payments"))
                .tags(tag(LAST_SCALE_UP, "2026-11-26T01:00:00Z"))
                .has_more_tags(true)
                .build()
                .unwrap()
        });
    let second = mock!(Client::list_tags_for_stream)
        .match_requests(|req| {
            req.stream_name() == Some(STREAM)
                && req.exclusive_start_tag_key() == Some(LAST_SCALE_UP)
        })
        .then_output(|| {
            ListTagsForStreamOutput::builder()
                .tags(tag(LAST_SCALE_DOWN, "2026-11-25T23:30:00Z"))
                .tags(tag(
                    LAST_ACTION,
                    "merge shardId-000000000003 and shardId-000000000004",
                ))
                .has_more_tags(false)
                .build()
                .unwrap()
        });
    let reader = KinesisReader::new(kinesis(&[&first, &second]));

    let history = reader.read_history(&StreamId::named(STREAM)).await.unwrap();

    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    assert_eq!(
        history,
        History {
            last_scale_up: Some("2026-11-26T01:00:00Z".parse().unwrap()),
            last_scale_down: Some("2026-11-25T23:30:00Z".parse().unwrap()),
            today: None,
            last_action: Some("merge shardId-000000000003 and shardId-000000000004".into()),
            shard_metrics: None,
        }
    );
}

// ---------------------------------------------------------------------------
// C. The executor over the real adapters
// ---------------------------------------------------------------------------

/// What one executor run left for the operator to see.
struct Run {
    report: ApplyReport,
    events: Vec<String>,
    /// Virtual time the run took.
    elapsed: Duration,
    /// The calls the shared limiter counted, per API.
    calls: std::collections::BTreeMap<Api, u64>,
}

/// Applies `plan` through the SDK adapters on `client`, wired as in
/// production: reader, writer and executor share one limiter.
async fn execute(client: Client, plan: &Plan, config: ExecutorConfig) -> Run {
    let clients = Clients::of(
        client,
        cloudwatch(RuleMode::MatchAny, &[]),
        Arc::new(kinesis_autoscaler::model::ApiLimiter::default()),
    );
    execute_with_writer(
        &clients.read,
        &clients.write,
        &clients.limiter,
        plan,
        config,
    )
    .await
}

async fn execute_with_writer<W: KinesisWrite>(
    read: &KinesisReader,
    write: &W,
    limiter: &kinesis_autoscaler::model::ApiLimiter,
    plan: &Plan,
    config: ExecutorConfig,
) -> Run {
    let clock = TokioClock::starting_at(OBSERVED_AT.parse().unwrap());
    let events = Mutex::new(Vec::new());
    let on_event = |e: Event<'_>| {
        let line = match e {
            Event::Starting { index, .. } => format!("starting {index}"),
            Event::Waiting { status, .. } => format!("waiting {status:?}"),
            Event::Retrying { attempt, error, .. } => {
                format!("retry {attempt} {:?}", error.kind)
            }
            Event::Applied { index, .. } => format!("applied {index}"),
            Event::Stopped { stop, .. } => format!("stopped {:?}", stop.kind),
        };
        events.lock().unwrap().push(line);
    };
    let executor = Executor::new(read, write, &clock, limiter)
        .with_config(config)
        .on_event(&on_event);
    let started = Instant::now();
    let report = executor.apply(&StreamId::named(STREAM), plan).await;
    Run {
        report,
        elapsed: started.elapsed(),
        events: events.into_inner().unwrap(),
        calls: limiter.calls(),
    }
}

/// The plan for a one-shard stream at 95%: split shardId-000000000000 at 2^127.
fn one_split() -> Plan {
    let obs = StreamBuilder::new(STREAM, 1).constant(0, 0.95).build();
    let plan = plan(
        &obs,
        &kinesis_autoscaler::testkit::policy(),
        obs.observed_at,
    );
    let [Action::Split(split)] = plan.actions.as_slice() else {
        panic!("one split expected: {:?}", plan.actions)
    };
    assert_eq!(split.shard_id, Some(shard_id(0)));
    assert_eq!(split.new_starting_hash_key, HashKey(MID));
    plan
}

/// The mocked stream an executor test runs against: ACTIVE, with the
/// shards `list` answers, room in the shard quota, and tags recorded.
struct Stream {
    describe: Rule,
    list: Rule,
    limits: Rule,
    /// ListTagsForStream: no cooldown history yet.
    history: Rule,
    tags: Rule,
    /// The tags of every AddTagsToStream call, in order.
    tagged: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

impl Stream {
    fn new(list: Rule) -> Self {
        let tagged: Arc<Mutex<Vec<HashMap<String, String>>>> = Arc::default();
        let seen = tagged.clone();
        Stream {
            describe: mock!(Client::describe_stream_summary)
                .match_requests(|req| req.stream_name() == Some(STREAM))
                .then_output(|| summary(k::StreamStatus::Active)),
            list,
            limits: mock!(Client::describe_limits).then_output(limits),
            history: mock!(Client::list_tags_for_stream).then_output(|| {
                ListTagsForStreamOutput::builder()
                    .set_tags(Some(Vec::new()))
                    .has_more_tags(false)
                    .build()
                    .expect("tags and has_more_tags are set")
            }),
            tags: mock!(Client::add_tags_to_stream)
                .match_requests(|req| req.stream_name() == Some(STREAM))
                .then_compute_output(move |req| {
                    seen.lock()
                        .unwrap()
                        .push(req.tags().cloned().unwrap_or_default());
                    AddTagsToStreamOutput::builder().build()
                }),
            tagged,
        }
    }

    /// A one-shard stream whose listing never changes.
    fn one_shard() -> Self {
        Stream::new(mock!(Client::list_shards).then_output(|| shards_page(&parent(), None)))
    }

    fn describing(mut self, describe: Rule) -> Self {
        self.describe = describe;
        self
    }

    /// A client answering `first` before the stream's own rules.
    fn client(&self, first: &[&Rule]) -> Client {
        let mut rules: Vec<&Rule> = first.to_vec();
        rules.extend([
            &self.describe,
            &self.list,
            &self.limits,
            &self.history,
            &self.tags,
        ]);
        kinesis(&rules)
    }

    fn tagged(&self) -> Vec<HashMap<String, String>> {
        self.tagged.lock().unwrap().clone()
    }
}

/// SplitShard of shardId-000000000000 at 2^127, and nothing else.
fn split_rule() -> aws_smithy_mocks::RuleBuilder<
    aws_sdk_kinesis::operation::split_shard::SplitShardInput,
    SplitShardOutput,
    aws_sdk_kinesis::operation::split_shard::SplitShardError,
> {
    mock!(Client::split_shard).match_requests(|req| {
        req.stream_name() == Some(STREAM)
            && req.shard_to_split() == Some("shardId-000000000000")
            && req.new_starting_hash_key() == Some(MID.to_string().as_str())
    })
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn retries(events: &[String]) -> Vec<&str> {
    events
        .iter()
        .filter(|e| e.starts_with("retry"))
        .map(String::as_str)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn throttled_twice_then_split_and_recorded() {
    let stream = Stream::one_shard();
    let split = split_rule()
        .sequence()
        .http_response(rate_exceeded)
        .times(2)
        .output(|| SplitShardOutput::builder().build())
        .build();
    let client = stream.client(&[&split]);
    let plan = one_split();

    let run = execute(client, &plan, ExecutorConfig::default()).await;

    assert!(run.report.is_complete(), "{:?}", run.report);
    assert_eq!(run.report.applied.len(), 1);
    assert_eq!(run.report.applied[0].action, plan.actions[0]);
    assert_eq!(split.num_calls(), 3);
    // Against AWS one limiter paces every call: each SplitShard sent is
    // counted once (the executor's wait for its slot counts none).
    assert_eq!(run.calls[&Api::SplitShard], 3, "{:?}", run.calls);
    assert_eq!(run.calls[&Api::AddTagsToStream], 1, "{:?}", run.calls);
    assert_eq!(
        retries(&run.events),
        ["retry 1 Throttled", "retry 2 Throttled"]
    );
    // Recorded once, before the first attempt, with the time the split
    // is reported under.
    let tagged = stream.tagged();
    assert_eq!(tagged.len(), 1, "{tagged:?}");
    assert_eq!(
        tagged[0].get(LAST_SCALE_UP),
        Some(&rfc3339(run.report.applied[0].at))
    );
    assert_eq!(
        tagged[0].get(LAST_ACTION).map(String::as_str),
        Some(format!("split shardId-000000000000 at {MID}").as_str())
    );
    assert!(!tagged[0].contains_key(LAST_SCALE_DOWN));
}

#[tokio::test(start_paused = true)]
async fn persistent_throttling_gives_up_after_6_attempts_having_recorded_once() {
    let stream = Stream::one_shard();
    let split = split_rule().then_http_response(rate_exceeded);
    let client = stream.client(&[&split]);
    let plan = one_split();

    let run = execute(client, &plan, ExecutorConfig::default()).await;

    let stop = run.report.stop.clone().expect("stopped");
    assert_eq!(stop.kind, StopKind::Throttled);
    assert!(
        stop.message
            .starts_with("stream orders: gave up after 6 attempts"),
        "{}",
        stop.message
    );
    assert_contains(
        &stop.message,
        "SplitShard failed: LimitExceededException: Rate exceeded for shard shardId-000000000000",
    );
    assert_eq!(run.report.applied, []);
    assert_eq!(run.report.not_applied, plan.actions);
    assert_eq!(split.num_calls(), 6);
    // Recorded once, before the first attempt.
    assert_eq!(stream.tags.num_calls(), 1);
    assert!(
        run.elapsed < Duration::from_secs(120),
        "bounded: {:?}",
        run.elapsed
    );
}

#[tokio::test(start_paused = true)]
async fn the_shard_quota_answer_stops_without_retrying() {
    let stream = Stream::one_shard();
    let split = split_rule().then_http_response(|| {
        aws_error(
            400,
            "LimitExceededException",
            "This request would exceed the shard limit for the account 123456789012 in us-east-1. Current shard count for the account: 500. Limit: 500. Number of additional shards that would have resulted from this request: 1.",
        )
    });
    let client = stream.client(&[&split]);

    let run = execute(client, &one_split(), ExecutorConfig::default()).await;

    let stop = run.report.stop.expect("stopped");
    assert_eq!(stop.kind, StopKind::ShardQuota);
    assert_contains(
        &stop.message,
        "request a higher Kinesis shard limit or lower max_shards",
    );
    assert_eq!(split.num_calls(), 1);
    // The cooldown was recorded before the refused call: a conservative
    // pause, never a missed one.
    assert_eq!(stream.tags.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn access_denied_stops_at_once_and_says_which_permissions() {
    let stream = Stream::one_shard();
    let split = split_rule().then_http_response(|| {
        aws_error(
            400,
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/autoscaler/x is not authorized to perform: kinesis:SplitShard",
        )
    });
    let client = stream.client(&[&split]);

    let run = execute(client, &one_split(), ExecutorConfig::default()).await;

    let stop = run.report.stop.expect("stopped");
    assert_eq!(stop.kind, StopKind::AccessDenied);
    assert_contains(
        &stop.message,
        "not authorized to perform: kinesis:SplitShard",
    );
    assert_contains(&stop.message, "kinesis:SplitShard, MergeShards");
    assert_eq!(split.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn resource_in_use_waits_for_active_then_retries() {
    let describe = mock!(Client::describe_stream_summary)
        .sequence()
        .output(|| summary(k::StreamStatus::Active))
        .output(|| summary(k::StreamStatus::Updating))
        .output(|| summary(k::StreamStatus::Active))
        .repeatedly()
        .build();
    let stream = Stream::one_shard().describing(describe);
    let split = split_rule()
        .sequence()
        .http_response(|| {
            aws_error(
                400,
                "ResourceInUseException",
                "Stream orders under account 123456789012 not ACTIVE, instead in state UPDATING",
            )
        })
        .output(|| SplitShardOutput::builder().build())
        .build();
    let client = stream.client(&[&split]);

    let run = execute(client, &one_split(), ExecutorConfig::default()).await;

    assert!(run.report.is_complete(), "{:?}", run.report);
    assert_eq!(split.num_calls(), 2);
    assert_eq!(retries(&run.events), ["retry 1 ResourceInUse"]);
    // The retry waited for the stream to leave UPDATING.
    let retry = run.events.iter().position(|e| e.starts_with("retry"));
    let waited = run.events.iter().position(|e| e == "waiting Updating");
    assert!(retry.is_some() && waited > retry, "{:?}", run.events);
    assert_eq!(stream.tagged().len(), 1);
}

/// A writer whose SplitShard goes through `split` and everything else
/// through `rest`: both are the real adapter, on different clients.
struct SplitVia {
    split: KinesisWriter,
    rest: KinesisWriter,
}

impl KinesisWrite for SplitVia {
    async fn split_shard(&self, stream: &StreamId, shard: &ShardId, key: HashKey) -> ApiResult<()> {
        self.split.split_shard(stream, shard, key).await
    }

    async fn merge_shards(
        &self,
        stream: &StreamId,
        shard: &ShardId,
        adjacent: &ShardId,
    ) -> ApiResult<()> {
        self.rest.merge_shards(stream, shard, adjacent).await
    }

    async fn write_history(
        &self,
        stream: &StreamId,
        history: &History,
        note: &str,
    ) -> ApiResult<()> {
        self.rest.write_history(stream, history, note).await
    }

    async fn enable_shard_metrics(
        &self,
        stream: &StreamId,
        metrics: &[MetricName],
    ) -> ApiResult<()> {
        self.rest.enable_shard_metrics(stream, metrics).await
    }

    async fn disable_shard_metrics(
        &self,
        stream: &StreamId,
        metrics: &[MetricName],
    ) -> ApiResult<()> {
        self.rest.disable_shard_metrics(stream, metrics).await
    }

    async fn record_shard_metrics(
        &self,
        stream: &StreamId,
        record: &kinesis_autoscaler::model::MetricsRecord,
    ) -> ApiResult<()> {
        self.rest.record_shard_metrics(stream, record).await
    }

    async fn update_warm_throughput(&self, stream: &StreamId, mib: u32) -> ApiResult<()> {
        self.rest.update_warm_throughput(stream, mib).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_split_whose_reply_timed_out_but_took_effect_counts_once() {
    // The first listing shows the parent; once the split is issued, the children.
    let list = mock!(Client::list_shards)
        .sequence()
        .output(|| shards_page(&parent(), None))
        .output(|| shards_page(&children(), None))
        .repeatedly()
        .build();
    let stream = Stream::new(list);
    let split = split_rule().then_http_response(never_sent);
    let never = NeverClient::new();
    let client = stream.client(&[]);
    let writer = SplitVia {
        split: KinesisWriter::new(kinesis_never_answering(
            &[&split],
            &never,
            Duration::from_secs(10),
        )),
        rest: KinesisWriter::new(client.clone()),
    };
    let plan = one_split();

    let run = execute_with_writer(
        &KinesisReader::new(client),
        &writer,
        &kinesis_autoscaler::model::ApiLimiter::default(),
        &plan,
        ExecutorConfig::default(),
    )
    .await;

    assert!(run.report.is_complete(), "{:?}", run.report);
    assert_eq!(run.report.applied.len(), 1);
    assert_eq!(run.report.applied[0].action, plan.actions[0]);
    assert_eq!(retries(&run.events), ["retry 1 Timeout"]);
    // One SplitShard sent; the re-read found the children and did not split
    // again; a last listing, once ACTIVE, names them.
    assert_eq!((split.num_calls(), never.num_calls()), (1, 1));
    assert_eq!(stream.list.num_calls(), 3);
    let made: Vec<String> = run.report.applied[0]
        .children
        .iter()
        .map(ToString::to_string)
        .collect();
    let listed: Vec<String> = children().iter().map(|s| s.shard_id().to_owned()).collect();
    assert_eq!(made, listed);
    let tagged = stream.tagged();
    assert_eq!(tagged.len(), 1);
    assert_eq!(
        tagged[0].get(LAST_SCALE_UP),
        Some(&rfc3339(run.report.applied[0].at))
    );
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_never_becomes_active_times_out_before_any_split() {
    let stream = Stream::one_shard().describing(
        mock!(Client::describe_stream_summary).then_output(|| summary(k::StreamStatus::Updating)),
    );
    let split = split_rule().then_output(|| SplitShardOutput::builder().build());
    let client = stream.client(&[&split]);
    let plan = one_split();
    let config = ExecutorConfig {
        active_timeout: Duration::from_secs(30),
        ..ExecutorConfig::default()
    };

    let run = execute(client, &plan, config).await;

    let stop = run.report.stop.clone().expect("stopped");
    assert_eq!(stop.kind, StopKind::Timeout);
    assert!(
        stop.message
            .starts_with("stream orders did not become ACTIVE within 30s"),
        "{}",
        stop.message
    );
    assert_eq!(run.report.applied, []);
    assert_eq!(run.report.not_applied, plan.actions);
    assert_eq!(
        (
            stream.list.num_calls(),
            split.num_calls(),
            stream.tags.num_calls()
        ),
        (0, 0, 0)
    );
    assert!(run.events.contains(&"waiting Updating".to_owned()));
    assert!(run.elapsed <= Duration::from_secs(30), "{:?}", run.elapsed);
}

#[tokio::test(start_paused = true)]
async fn a_reshard_that_never_finishes_is_applied_and_was_recorded_first() {
    let describe = mock!(Client::describe_stream_summary)
        .sequence()
        .output(|| summary(k::StreamStatus::Active))
        .output(|| summary(k::StreamStatus::Updating))
        .repeatedly()
        .build();
    let stream = Stream::one_shard().describing(describe);
    let split = split_rule().then_output(|| SplitShardOutput::builder().build());
    let client = stream.client(&[&split]);
    let config = ExecutorConfig {
        active_timeout: Duration::from_secs(30),
        ..ExecutorConfig::default()
    };

    let run = execute(client, &one_split(), config).await;

    let stop = run.report.stop.clone().expect("stopped");
    assert_eq!(stop.kind, StopKind::Timeout);
    assert_contains(
        &stop.message,
        "did not become ACTIVE within 30s; the reshard may still finish",
    );
    // The split was issued and is reported; its cooldown was recorded
    // before it was issued, so the next run sees it.
    assert_eq!(run.report.applied.len(), 1);
    assert!(stream.tagged()[0].contains_key(LAST_SCALE_UP));
    assert_eq!(split.num_calls(), 1);
    assert_eq!(stream.tags.num_calls(), 1);
}

/// A plan of two splits, one per shard of a two-shard stream.
fn two_splits() -> Plan {
    let obs = StreamBuilder::new(STREAM, 2).all(0.95).build();
    let plan = plan(
        &obs,
        &kinesis_autoscaler::testkit::policy(),
        obs.observed_at,
    );
    assert_eq!(plan.actions.len(), 2, "{:?}", plan.actions);
    plan
}

/// A request matcher that matches once `flag` is set.
fn once_set<I>(flag: &Arc<AtomicBool>) -> impl Fn(&I) -> bool + Send + Sync + 'static {
    let flag = flag.clone();
    move |_| flag.load(Ordering::SeqCst)
}

#[tokio::test(start_paused = true)]
async fn a_stream_deleted_after_the_first_split_stops_with_what_was_done() {
    let plan = two_splits();
    let ranges = uniform_ranges(2);
    let listed: Vec<k::Shard> = ranges
        .iter()
        .enumerate()
        .map(|(i, r)| shard(shard_id(i).as_str(), r.start().0, r.end().0))
        .collect();
    // Once the first split is accepted, the stream is deleted: every call
    // about it answers ResourceNotFoundException.
    let deleted = Arc::new(AtomicBool::new(false));
    let gone_describe = mock!(Client::describe_stream_summary)
        .match_requests(once_set(&deleted))
        .then_http_response(stream_not_found);
    let gone_list = mock!(Client::list_shards)
        .match_requests(once_set(&deleted))
        .then_http_response(stream_not_found);
    let gone_split = mock!(Client::split_shard)
        .match_requests(once_set(&deleted))
        .then_http_response(stream_not_found);
    let gone_tags = mock!(Client::add_tags_to_stream)
        .match_requests(once_set(&deleted))
        .then_http_response(stream_not_found);
    let delete = deleted.clone();
    let split = mock!(Client::split_shard).then_compute_output(move |_| {
        delete.store(true, Ordering::SeqCst);
        SplitShardOutput::builder().build()
    });
    let stream =
        Stream::new(mock!(Client::list_shards).then_output(move || shards_page(&listed, None)));
    let client = stream.client(&[&gone_describe, &gone_list, &gone_split, &gone_tags, &split]);

    let run = execute(client, &plan, ExecutorConfig::default()).await;

    assert_eq!(run.report.applied.len(), 1);
    assert_eq!(run.report.applied[0].action, plan.actions[0]);
    assert_eq!(run.report.not_applied, plan.actions[1..]);
    let stop = run.report.stop.clone().expect("stopped");
    assert_eq!(stop.kind, StopKind::StreamGone);
    assert!(
        stop.message.starts_with("stream orders: "),
        "{}",
        stop.message
    );
    assert_contains(&stop.message, "ResourceNotFoundException");
    assert_contains(&stop.message, "was the stream deleted?");
    // One split sent; nothing attempted on the deleted stream but the ACTIVE check.
    assert_eq!((split.num_calls(), gone_split.num_calls()), (1, 0));
    assert_eq!(gone_describe.num_calls(), 1);
    // Only the first split's cooldown, written before it was issued.
    assert_eq!(stream.tags.num_calls() + gone_tags.num_calls(), 1);
    assert_eq!(
        run.events.last().map(String::as_str),
        Some("stopped StreamGone")
    );
}

// ---------------------------------------------------------------------------
// Key samples: the reader's pace
// ---------------------------------------------------------------------------

/// A shard whose every GetRecords answer holds `per_page` records of
/// `bytes` under key "a", and a next iterator; each call's (virtual) time
/// and the records it asked for are kept.
/// Each GetRecords call: when it came, and the records it asked for.
type Calls = Arc<Mutex<Vec<(Instant, i32)>>>;

fn endless_shard(per_page: usize, bytes: usize) -> (Client, Rule, Calls) {
    use aws_sdk_kinesis::operation::get_records::GetRecordsOutput;
    use aws_sdk_kinesis::operation::get_shard_iterator::GetShardIteratorOutput;
    let iterator = mock!(Client::get_shard_iterator).then_output(|| {
        GetShardIteratorOutput::builder()
            .shard_iterator("it-0")
            .build()
    });
    let times = Arc::new(Mutex::new(Vec::new()));
    let seen = times.clone();
    let records = mock!(Client::get_records)
        .match_requests(move |req| {
            seen.lock()
                .unwrap()
                .push((Instant::now(), req.limit().unwrap_or(0)));
            true
        })
        .then_output(move || {
            let record = k::Record::builder()
                .sequence_number("1")
                .partition_key("a")
                .data(aws_sdk_kinesis::primitives::Blob::new(vec![0u8; bytes - 1]))
                .build()
                .unwrap();
            GetRecordsOutput::builder()
                .set_records(Some(vec![record; per_page]))
                .next_shard_iterator("it-n")
                .millis_behind_latest(0)
                .build()
                .unwrap()
        });
    let client = kinesis(&[&iterator, &records]);
    (client, records, times)
}

fn one_shard() -> kinesis_autoscaler::model::Shard {
    kinesis_autoscaler::model::Shard {
        id: shard_id(0),
        range: HashKeyRange::FULL,
        parent_shard_id: None,
        adjacent_parent_shard_id: None,
        open: true,
    }
}

/// Samples the endless shard of `per_page` records of `bytes` for 10 s
/// (virtual) at `calls_per_second` and 512 KiB a second: the sample, the
/// GetRecords rule, and each call's time and limit.
async fn sample_endless(
    per_page: usize,
    bytes: usize,
    calls_per_second: f64,
) -> (
    kinesis_autoscaler::observe::ShardSample,
    Rule,
    Vec<(Instant, i32)>,
) {
    use kinesis_autoscaler::observe::{ReadBudget, StartAt, sample_shard};
    let (client, rule, calls) = endless_shard(per_page, bytes);
    let budget = ReadBudget {
        duration: Duration::from_secs(10),
        calls_per_second,
        bytes_per_second: 512.0 * 1024.0,
        ..ReadBudget::default()
    };
    let reader = KinesisReader::new(client);
    let shard = one_shard();
    let sample = sample_shard(
        &reader,
        &StreamId::named(STREAM),
        &shard,
        StartAt::Latest,
        &budget,
        |_| {},
    )
    .await
    .unwrap();
    let calls = calls.lock().unwrap().clone();
    (sample, rule, calls)
}

#[tokio::test(start_paused = true)]
async fn the_sampler_never_exceeds_its_get_records_rate() {
    // Small pages: the call rate binds. 2 calls a second for 10 s.
    let started = Instant::now();
    let (sample, rule, calls) = sample_endless(5, 1024, 2.0).await;
    assert_eq!(rule.num_calls(), 20, "calls at 0, 0.5, ..., 9.5 s");
    assert_eq!(sample.calls, 20);
    assert_eq!(sample.records, 100);
    for pair in calls.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 >= Duration::from_millis(500),
            "{calls:?}"
        );
    }
    assert!(started.elapsed() <= Duration::from_secs(10));
    // It asks for 100 records first, then for what half a second of its
    // 512 KiB a second holds at the records' size (1 KiB): 256.
    let limits: Vec<i32> = calls.iter().map(|t| t.1).collect();
    assert_eq!(limits[0], 100);
    assert!(limits[1..].iter().all(|&l| l == 256), "{limits:?}");
}

#[tokio::test(start_paused = true)]
async fn the_sampler_keeps_its_bytes_per_second_on_large_pages() {
    // 1 MiB pages at 512 KiB a second: a call every 2 s, whatever the
    // call rate allows.
    let (sample, rule, calls) = sample_endless(16, 64 * 1024, 5.0).await;
    assert_eq!(rule.num_calls(), 5, "calls at 0, 2, 4, 6, 8 s");
    for pair in calls.windows(2) {
        assert!(pair[1].0 - pair[0].0 >= Duration::from_secs(2), "{calls:?}");
    }
    // What was read, over the time it took to be allowed to read it.
    assert_eq!(sample.bytes, 5 * 16 * 64 * 1024);
    assert!(sample.bytes as f64 / 10.0 <= 512.0 * 1024.0);
}

// ---------------------------------------------------------------------------
// Warm throughput (On-Demand Advantage): the emulators lack the API
// ---------------------------------------------------------------------------

/// The summary of an On-Demand stream, with a warm throughput when the
/// account has On-Demand Advantage.
fn on_demand_summary(warm: Option<(i32, i32)>) -> DescribeStreamSummaryOutput {
    DescribeStreamSummaryOutput::builder()
        .stream_description_summary(
            k::StreamDescriptionSummary::builder()
                .stream_name(STREAM)
                .stream_arn(ARN)
                .stream_status(k::StreamStatus::Active)
                .stream_mode_details(
                    k::StreamModeDetails::builder()
                        .stream_mode(k::StreamMode::OnDemand)
                        .build()
                        .unwrap(),
                )
                .retention_period_hours(24)
                .stream_creation_timestamp(AwsDateTime::from_secs(1_700_000_000))
                .set_enhanced_monitoring(Some(vec![]))
                .open_shard_count(4)
                .set_warm_throughput(warm.map(|(target, current)| {
                    k::WarmThroughputObject::builder()
                        .target_mibps(target)
                        .current_mibps(current)
                        .build()
                }))
                .build()
                .expect("all required fields"),
        )
        .build()
}

#[tokio::test]
async fn the_summary_gives_an_advantage_stream_s_warm_throughput() {
    let warm =
        mock!(Client::describe_stream_summary).then_output(|| on_demand_summary(Some((40, 25))));
    let cold = mock!(Client::describe_stream_summary).then_output(|| on_demand_summary(None));
    let read = KinesisReader::new(kinesis(&[&warm]));
    let s = read
        .describe_stream(&StreamId::named(STREAM))
        .await
        .unwrap();
    assert_eq!(s.mode, kinesis_autoscaler::model::StreamMode::OnDemand);
    assert_eq!(
        s.warm_throughput,
        Some(kinesis_autoscaler::model::WarmThroughput {
            target_mib: 40,
            current_mib: 25
        })
    );
    let read = KinesisReader::new(kinesis(&[&cold]));
    let s = read
        .describe_stream(&StreamId::named(STREAM))
        .await
        .unwrap();
    assert_eq!(s.warm_throughput, None);
}

/// Sets the warm throughput through the SDK adapters on `client`, on
/// paused time.
async fn set_warm(client: Client, mib: u32) -> Result<u32, kinesis_autoscaler::apply::Stop> {
    let clock = TokioClock::starting_at(OBSERVED_AT.parse().unwrap());
    let limiter = kinesis_autoscaler::model::ApiLimiter::default();
    let (read, write) = (
        KinesisReader::new(client.clone()),
        KinesisWriter::new(client),
    );
    let executor = Executor::new(&read, &write, &clock, &limiter);
    executor
        .set_warm_throughput(&StreamId::named(STREAM), Some(5), mib)
        .await
        .map(|applied| applied.to_mib)
}

#[tokio::test(start_paused = true)]
async fn a_planned_raise_sends_the_exact_warm_throughput_request() {
    use aws_sdk_kinesis::operation::update_stream_warm_throughput::UpdateStreamWarmThroughputOutput;
    // The planner's raise for a stream holding 5 MiB/s whose yesterday
    // rose to 12 MiB/s 15 minutes from now: 14.4 MiB/s, so 16.
    let start =
        OBSERVED_AT.parse::<DateTime<Utc>>().unwrap() - chrono::TimeDelta::minutes(24 * 60 + 30);
    let past: Vec<f64> = (0..120).map(|m| if m < 45 { 4.0 } else { 12.0 }).collect();
    let obs = StreamBuilder::new(STREAM, 1)
        .constant(0, 4.0)
        .stream_totals()
        .stream_only()
        .past(start, &past)
        .warm_throughput(5)
        .build();
    let mut policy = kinesis_autoscaler::testkit::policy();
    policy.forecast = Some(kinesis_autoscaler::policy::Forecast {
        seasons: vec![1440],
        ..Default::default()
    });
    policy.warm_throughput = Some(kinesis_autoscaler::policy::WarmPolicy::default());
    let planned = plan(&obs, &policy, obs.observed_at);
    let mib = planned.warm_throughput.unwrap().set_mib.unwrap();
    assert_eq!(mib, 16);

    let describe =
        mock!(Client::describe_stream_summary).then_output(|| on_demand_summary(Some((5, 5))));
    let update = mock!(Client::update_stream_warm_throughput)
        .match_requests(|r| {
            r.stream_name() == Some(STREAM)
                && r.stream_arn().is_none()
                && r.warm_throughput_mibps() == Some(16)
        })
        .then_output(|| UpdateStreamWarmThroughputOutput::builder().build());
    let set = set_warm(kinesis(&[&describe, &update]), mib).await;
    assert_eq!(set.unwrap(), 16);
    assert_eq!(update.num_calls(), 1);
    // ACTIVE before the call and after it.
    assert_eq!(describe.num_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn warm_throughput_throttling_is_retried_and_a_refusal_names_advantage() {
    use aws_sdk_kinesis::operation::update_stream_warm_throughput::UpdateStreamWarmThroughputOutput;
    let describe =
        mock!(Client::describe_stream_summary).then_output(|| on_demand_summary(Some((5, 5))));
    // Over the 5 calls a second: LimitExceeded, then accepted.
    let throttled = mock!(Client::update_stream_warm_throughput)
        .sequence()
        .http_response(rate_exceeded)
        .output(|| UpdateStreamWarmThroughputOutput::builder().build())
        .build();
    let set = set_warm(kinesis(&[&describe, &throttled]), 15).await;
    assert_eq!(set.unwrap(), 15);
    assert_eq!(throttled.num_calls(), 2);

    // A provisioned stream, or an account without Advantage.
    let refused = mock!(Client::update_stream_warm_throughput).then_http_response(|| {
        aws_error(
            400,
            "ValidationException",
            "Warm throughput is only supported for on-demand streams in accounts with MinimumThroughputBillingCommitment enabled.",
        )
    });
    let stop = set_warm(kinesis(&[&describe, &refused]), 15)
        .await
        .unwrap_err();
    assert_eq!(refused.num_calls(), 1, "a refusal is not retried");
    assert_contains(&stop.message, "stream orders:");
    assert_contains(
        &stop.message,
        "warm throughput needs an On-Demand stream in an account with On-Demand Advantage (UpdateAccountSettings with MinimumThroughputBillingCommitment)",
    );
}
