//! Stream-level and per-shard metrics through CloudWatch GetMetricData:
//! Sum, 60-second period, at most 500 queries per call (the API's limit,
//! which the local emulator does not enforce), following NextToken, with
//! missing datapoints kept missing. The stream-level queries ride in the
//! first call with the shard queries.

use std::sync::Arc;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, MessageData, Metric, MetricDataQuery, MetricDataResult, MetricStat, ScanBy,
    StatusCode,
};
use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use super::errors::{classify_at, endpoint_for};
use crate::model::Api;
use crate::model::ApiLimiter;
use crate::model::ShardId;
use crate::model::{ApiError, ApiErrorKind, ApiResult, MetricName};
use crate::observe::{
    Level, Metrics, Series, ShardLevel, ShardMetrics, StreamLevel, StreamMetrics,
};
use crate::observe::{MetricsRead, MetricsRequest, MetricsSender};

/// GetMetricData accepts at most this many queries per call.
pub(crate) const MAX_QUERIES_PER_CALL: usize = 500;

/// Shard-level Kinesis metrics from CloudWatch.
#[derive(Clone, Debug)]
pub struct CloudWatchMetrics {
    client: Client,
    /// Where calls go, for messages about calls that got no answer.
    endpoint: String,
    /// Every call waits here for its slot within the account's quotas.
    limiter: Arc<ApiLimiter>,
}

impl CloudWatchMetrics {
    /// An adapter whose calls are counted but not paced; see
    /// [`CloudWatchMetrics::with_limiter`].
    pub fn new(client: Client) -> Self {
        let endpoint = endpoint_for(
            "CLOUDWATCH",
            "monitoring",
            client.config().region().map(|r| r.as_ref()),
        );
        CloudWatchMetrics {
            client,
            endpoint,
            limiter: Arc::new(ApiLimiter::unlimited()),
        }
    }

    pub fn with_limiter(self, limiter: Arc<ApiLimiter>) -> Self {
        CloudWatchMetrics { limiter, ..self }
    }
}

/// The stream-level metrics a request reads (unless it asks for none, as
/// a second read of shard detail does); the iterator age only when asked
/// for.
const STREAM_METRICS: &[MetricName] = StreamLevel::METRICS;

/// Query `id` for `metric` of `shard`, or of the whole stream: a
/// per-minute Sum, or for an iterator age the Maximum (a sum of ages
/// means nothing). The stream-level iterator age is published as
/// GetRecords.IteratorAgeMilliseconds.
fn query(id: usize, stream: &str, shard: Option<&ShardId>, metric: MetricName) -> MetricDataQuery {
    let name = match shard {
        None => StreamLevel::name(metric),
        Some(_) => ShardLevel::name(metric),
    };
    let stat = match metric {
        MetricName::IteratorAgeMilliseconds => "Maximum",
        _ => "Sum",
    };
    let mut builder = Metric::builder()
        .namespace("AWS/Kinesis")
        .metric_name(name)
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
                .stat(stat)
                .build(),
        )
        .return_data(true)
        .build()
}

/// One request's metrics from its series.
fn assemble(
    start: DateTime<Utc>,
    wanted: &[Wanted<'_>],
    values: &mut [Vec<Option<f64>>],
) -> Metrics {
    let mut m = Metrics {
        start,
        period_seconds: 60,
        stream: StreamMetrics::default(),
        shards: FxHashMap::default(),
    };
    for (w, values) in wanted.iter().zip(values) {
        let values = Series::from(std::mem::take(values));
        match w.shard {
            None => m.stream[w.metric] = values,
            Some(shard) => {
                let entry: &mut ShardMetrics = m.shards.entry(shard.clone()).or_default();
                entry[w.metric] = values;
            }
        }
    }
    m
}

/// The same error, for each request a failed call served.
fn copy(e: &ApiError) -> ApiError {
    ApiError::new(e.operation, e.kind, e.code.as_deref(), e.message.clone())
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

/// One series a batch reads: which request, which shard (or the whole
/// stream), which metric.
struct Wanted<'a> {
    request: usize,
    shard: Option<&'a ShardId>,
    metric: MetricName,
}

impl CloudWatchMetrics {
    /// Reads every series of `requests`, which share one window, in calls of
    /// at most 500 queries whatever stream they are for, following
    /// NextToken. Each request's answer goes to `on_done` (with its index)
    /// as soon as the call with its last query is answered, so the caller
    /// can go on with that stream while the others are read.
    async fn read_window(
        &self,
        requests: &[&MetricsRequest],
        start: DateTime<Utc>,
        minutes: u32,
        on_done: &mut (dyn FnMut(usize, ApiResult<Metrics>) + Send),
    ) {
        // Every series: per request, the stream-level ones first, then each
        // shard's. All minutes are missing until a datapoint says otherwise.
        let wanted: Vec<Wanted<'_>> = requests
            .iter()
            .enumerate()
            .flat_map(|(request, r)| {
                STREAM_METRICS
                    .iter()
                    .filter(move |_| r.stream_series)
                    .filter(move |&&m| m != MetricName::IteratorAgeMilliseconds || r.iterator_age)
                    .map(move |&metric| Wanted {
                        request,
                        shard: None,
                        metric,
                    })
                    .chain(r.shards.iter().flat_map(move |s| {
                        r.metrics.iter().map(move |&metric| Wanted {
                            request,
                            shard: Some(s),
                            metric,
                        })
                    }))
            })
            .collect();
        let mut values: Vec<Vec<Option<f64>>> = vec![vec![None; minutes as usize]; wanted.len()];
        // A failed call fails the requests it had queries of, and no other.
        let mut failed: Vec<Option<ApiError>> = requests.iter().map(|_| None).collect();
        // Where each request's series end in `wanted`: it is answered once
        // the call with its last one is.
        let (mut begins, mut ends) = (
            vec![usize::MAX; requests.len()],
            vec![0usize; requests.len()],
        );
        for (i, w) in wanted.iter().enumerate() {
            begins[w.request] = begins[w.request].min(i);
            ends[w.request] = i + 1;
        }
        let mut next = 0; // the first request not yet answered
        for (batch_no, batch) in wanted.chunks(MAX_QUERIES_PER_CALL).enumerate() {
            if let Err(e) = self
                .read_batch(requests, batch, batch_no, start, minutes, &mut values)
                .await
            {
                // A failed call fails the requests it had queries of.
                for w in batch {
                    failed[w.request].get_or_insert_with(|| copy(&e));
                }
            }
            let read = (batch_no + 1) * MAX_QUERIES_PER_CALL;
            while next < requests.len() && ends[next] <= read {
                let begin = begins[next].min(ends[next]);
                let answer = match failed[next].take() {
                    Some(e) => Err(e),
                    None => Ok(assemble(
                        start,
                        &wanted[begin..ends[next]],
                        &mut values[begin..ends[next]],
                    )),
                };
                on_done(next, answer);
                next += 1;
            }
        }
    }

    /// One call's worth of queries (at most 500), following NextToken,
    /// into `values`.
    async fn read_batch(
        &self,
        requests: &[&MetricsRequest],
        batch: &[Wanted<'_>],
        batch_no: usize,
        start: DateTime<Utc>,
        minutes: u32,
        values: &mut [Vec<Option<f64>>],
    ) -> ApiResult<()> {
        let start_secs = start.timestamp();
        let end_secs = start_secs + i64::from(minutes) * 60;
        let offset = batch_no * MAX_QUERIES_PER_CALL;
        let queries: Vec<MetricDataQuery> = batch
            .iter()
            .enumerate()
            .map(|(i, w)| query(offset + i, &requests[w.request].stream, w.shard, w.metric))
            .collect();
        // The datapoints are reserved once: the pages of a call split them,
        // and each later page waits only for its call slot.
        let mut datapoints = (queries.len() as u64) * u64::from(minutes);
        let mut token: Option<String> = None;
        loop {
            self.limiter.acquire_metrics(datapoints).await;
            datapoints = 0;
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
                .map_err(|e| classify_at(Api::GetMetricData, &self.endpoint, e))?;
            for result in out.metric_data_results() {
                record(result, start_secs, minutes, values)?;
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(())
    }
}

/// Puts one query's datapoints in its series, minute by minute from
/// `start_secs`; refuses a query CloudWatch could not answer.
fn record(
    result: &MetricDataResult,
    start_secs: i64,
    minutes: u32,
    values: &mut [Vec<Option<f64>>],
) -> ApiResult<()> {
    // A query CloudWatch could not answer must not pass for
    // missing datapoints.
    match result.status_code() {
        Some(StatusCode::Forbidden) => {
            return Err(ApiError::new(
                Api::GetMetricData,
                ApiErrorKind::AccessDenied,
                Some("Forbidden"),
                messages(result.messages()),
            ));
        }
        Some(StatusCode::InternalError) => {
            return Err(ApiError::new(
                Api::GetMetricData,
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
        return Ok(());
    };
    for (t, v) in result.timestamps().iter().zip(result.values()) {
        let minute = (t.secs() - start_secs).div_euclid(60);
        if let Ok(minute) = usize::try_from(minute)
            && minute < minutes as usize
        {
            values[index][minute] = Some(*v);
        }
    }
    Ok(())
}

impl MetricsRead for CloudWatchMetrics {
    async fn read_metrics(&self, request: &MetricsRequest) -> ApiResult<Metrics> {
        let mut answer = None;
        let (start, minutes) = (request.start, request.minutes);
        self.read_window(&[request], start, minutes, &mut |_, r| answer = Some(r))
            .await;
        answer.expect("one answer per request")
    }

    /// Requests with the same window share calls; a failed call fails the
    /// requests it had queries of.
    async fn read_metrics_streamed(&self, requests: &[MetricsRequest], done: MetricsSender) {
        let mut windows: Vec<(DateTime<Utc>, u32)> =
            requests.iter().map(|r| (r.start, r.minutes)).collect();
        windows.sort();
        windows.dedup();
        for (start, minutes) in windows {
            let members: Vec<usize> = (0..requests.len())
                .filter(|&i| (requests[i].start, requests[i].minutes) == (start, minutes))
                .collect();
            let group: Vec<&MetricsRequest> = members.iter().map(|&i| &requests[i]).collect();
            let mut send = |k: usize, r: ApiResult<Metrics>| {
                let _ = done.send((members[k], r));
            };
            self.read_window(&group, start, minutes, &mut send).await;
        }
    }
}
