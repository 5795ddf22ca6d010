//! Stream-level and per-shard metrics through CloudWatch GetMetricData:
//! Sum, 60-second period, at most 500 queries per call (the API's limit,
//! which the local emulator does not enforce), following NextToken, with
//! missing datapoints kept missing. The two stream-level queries ride in
//! the first call with the shard queries.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, MessageData, Metric, MetricDataQuery, MetricStat, ScanBy, StatusCode,
};
use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use super::errors::{classify_at, endpoint_for};
use crate::model::ShardId;
use crate::observation::{Metrics, Series, ShardMetrics, StreamMetrics};
use crate::ports::{ApiError, ApiErrorKind, ApiResult, MetricName, MetricsRead};

/// GetMetricData accepts at most this many queries per call.
pub const MAX_QUERIES_PER_CALL: usize = 500;

/// Shard-level Kinesis metrics from CloudWatch.
#[derive(Clone, Debug)]
pub struct CloudWatchMetrics {
    client: Client,
    /// Where calls go, for messages about calls that got no answer.
    endpoint: String,
}

impl CloudWatchMetrics {
    pub fn new(client: Client) -> Self {
        let endpoint = endpoint_for(
            "CLOUDWATCH",
            "monitoring",
            client.config().region().map(|r| r.as_ref()),
        );
        CloudWatchMetrics { client, endpoint }
    }
}

/// The stream-level metrics read with the shard-level ones.
const STREAM_METRICS: [MetricName; 2] = [MetricName::IncomingBytes, MetricName::IncomingRecords];

/// Query `id` for `metric` of `shard`, or of the whole stream.
fn query(id: usize, stream: &str, shard: Option<&ShardId>, metric: MetricName) -> MetricDataQuery {
    let mut builder = Metric::builder()
        .namespace("AWS/Kinesis")
        .metric_name(metric.as_str())
        .dimensions(
            Dimension::builder()
                .name("StreamName")
                .value(stream)
                .build(),
        );
    if let Some(shard) = shard {
        builder = builder.dimensions(
            Dimension::builder()
                .name("ShardId")
                .value(shard.as_str())
                .build(),
        );
    }
    let metric = builder.build();
    MetricDataQuery::builder()
        // Ids must start with a lowercase letter.
        .id(format!("q{id}"))
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(60)
                .stat("Sum")
                .build(),
        )
        .return_data(true)
        .build()
}

/// CloudWatch's messages about one result, for an error.
fn messages(messages: &[MessageData]) -> String {
    let texts: Vec<&str> = messages.iter().filter_map(|m| m.value()).collect();
    if texts.is_empty() {
        "CloudWatch could not return the shard metrics".into()
    } else {
        texts.join("; ")
    }
}

impl MetricsRead for CloudWatchMetrics {
    async fn read_metrics(
        &self,
        stream: &str,
        shards: &[ShardId],
        metrics: &[MetricName],
        start: DateTime<Utc>,
        minutes: u32,
    ) -> ApiResult<Metrics> {
        let start_secs = start.timestamp();
        let end_secs = start_secs + i64::from(minutes) * 60;
        // Every series: the stream-level ones first, then each shard's. All
        // minutes are missing until a datapoint says otherwise.
        let series: Vec<(Option<&ShardId>, MetricName)> = STREAM_METRICS
            .iter()
            .map(|&m| (None, m))
            .chain(
                shards
                    .iter()
                    .flat_map(|s| metrics.iter().map(move |&m| (Some(s), m))),
            )
            .collect();
        let mut values: Vec<Vec<Option<f64>>> = vec![vec![None; minutes as usize]; series.len()];
        for (batch_no, batch) in series.chunks(MAX_QUERIES_PER_CALL).enumerate() {
            let offset = batch_no * MAX_QUERIES_PER_CALL;
            let queries: Vec<MetricDataQuery> = batch
                .iter()
                .enumerate()
                .map(|(i, &(shard, m))| query(offset + i, stream, shard, m))
                .collect();
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .client
                    .get_metric_data()
                    .set_metric_data_queries(Some(queries.clone()))
                    .start_time(AwsDateTime::from_secs(start_secs))
                    .end_time(AwsDateTime::from_secs(end_secs))
                    .scan_by(ScanBy::TimestampAscending)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| classify_at("GetMetricData", &self.endpoint, e))?;
                for result in out.metric_data_results() {
                    // A query CloudWatch could not answer must not pass for
                    // missing datapoints.
                    match result.status_code() {
                        Some(StatusCode::Forbidden) => {
                            return Err(ApiError::new(
                                "GetMetricData",
                                ApiErrorKind::AccessDenied,
                                Some("Forbidden"),
                                messages(result.messages()),
                            ));
                        }
                        Some(StatusCode::InternalError) => {
                            return Err(ApiError::new(
                                "GetMetricData",
                                ApiErrorKind::Unavailable,
                                Some("InternalError"),
                                messages(result.messages()),
                            ));
                        }
                        _ => {}
                    }
                    let Some(index) = result
                        .id()
                        .and_then(|id| id.strip_prefix('q'))
                        .and_then(|n| n.parse::<usize>().ok())
                        .filter(|&n| n < values.len())
                    else {
                        continue;
                    };
                    for (t, v) in result.timestamps().iter().zip(result.values()) {
                        let minute = (t.secs() - start_secs).div_euclid(60);
                        if let Ok(minute) = usize::try_from(minute)
                            && minute < minutes as usize
                        {
                            values[index][minute] = Some(*v);
                        }
                    }
                }
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => break,
                }
            }
        }
        let mut out = Metrics {
            start,
            period_seconds: 60,
            stream: StreamMetrics::default(),
            shards: FxHashMap::default(),
        };
        for ((shard, metric), values) in series.into_iter().zip(values) {
            let values = Series::from(values);
            match (shard, metric) {
                (None, MetricName::IncomingBytes) => out.stream.incoming_bytes = values,
                (None, MetricName::IncomingRecords) => out.stream.incoming_records = values,
                (None, _) => {} // not among STREAM_METRICS
                (Some(shard), _) => {
                    let entry: &mut ShardMetrics = out.shards.entry(shard.clone()).or_default();
                    *metric.series_mut(entry) = values;
                }
            }
        }
        Ok(out)
    }
}
