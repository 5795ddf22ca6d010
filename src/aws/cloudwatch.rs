//! Per-shard metrics through CloudWatch GetMetricData: Sum, 60-second
//! period, at most 500 queries per call (the API's limit, which the local
//! emulator does not enforce), following NextToken, with missing datapoints
//! kept missing.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, MessageData, Metric, MetricDataQuery, MetricStat, ScanBy, StatusCode,
};
use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use super::errors::classify;
use crate::model::ShardId;
use crate::observation::{Series, ShardMetrics};
use crate::ports::{ApiError, ApiErrorKind, ApiResult, MetricName, MetricsRead};

/// GetMetricData accepts at most this many queries per call.
pub const MAX_QUERIES_PER_CALL: usize = 500;

/// Shard-level Kinesis metrics from CloudWatch.
#[derive(Clone, Debug)]
pub struct CloudWatchMetrics {
    client: Client,
}

impl CloudWatchMetrics {
    pub fn new(client: Client) -> Self {
        CloudWatchMetrics { client }
    }
}

fn query(id: usize, stream: &str, shard: &ShardId, metric: MetricName) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace("AWS/Kinesis")
        .metric_name(metric.as_str())
        .dimensions(
            Dimension::builder()
                .name("StreamName")
                .value(stream)
                .build(),
        )
        .dimensions(
            Dimension::builder()
                .name("ShardId")
                .value(shard.as_str())
                .build(),
        )
        .build();
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
    async fn shard_metrics(
        &self,
        stream: &str,
        shards: &[ShardId],
        metrics: &[MetricName],
        start: DateTime<Utc>,
        minutes: u32,
    ) -> ApiResult<FxHashMap<ShardId, ShardMetrics>> {
        let start_secs = start.timestamp();
        let end_secs = start_secs + i64::from(minutes) * 60;
        // Every needed series, all minutes missing until a datapoint says otherwise.
        let mut values: Vec<Vec<Option<f64>>> =
            vec![vec![None; minutes as usize]; shards.len() * metrics.len()];
        let pairs: Vec<(usize, usize)> = (0..shards.len())
            .flat_map(|s| (0..metrics.len()).map(move |m| (s, m)))
            .collect();
        for (batch_no, batch) in pairs.chunks(MAX_QUERIES_PER_CALL).enumerate() {
            let offset = batch_no * MAX_QUERIES_PER_CALL;
            let queries: Vec<MetricDataQuery> = batch
                .iter()
                .enumerate()
                .map(|(i, &(s, m))| query(offset + i, stream, &shards[s], metrics[m]))
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
                    .map_err(|e| classify("GetMetricData", e))?;
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
        let mut by_shard: FxHashMap<ShardId, ShardMetrics> = FxHashMap::default();
        for (index, series) in values.into_iter().enumerate() {
            let (s, m) = (index / metrics.len(), index % metrics.len());
            let entry = by_shard.entry(shards[s].clone()).or_default();
            *metrics[m].series_mut(entry) = Series::from(series);
        }
        Ok(by_shard)
    }
}
