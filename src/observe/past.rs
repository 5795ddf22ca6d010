//! The stream-level series of earlier days that `forecast` and `objective`
//! read: the same minutes one season back, and the last days of bursts.
//!
//! GetMetricData is billed per metric read, not per datapoint, so a week
//! of one series costs what five minutes of it cost. Still, the two ways
//! the controller runs read differently:
//! - a one-shot pass (the Lambda, `plan`) reads exactly the windows the
//!   policy needs, two metrics each, in calls shared across streams;
//! - a long-running one (the sidecar, [`Memory::lasting`]) reads the whole
//!   span once, keeps it, and reads on only when a window passes the end
//!   of what it holds: about once a day per stream for `seasons: [1d]`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::ApiResult;
use crate::model::MetricName;
use crate::observe::{Memory, MetricsRead, Prepared};
use crate::observe::{Metrics, MetricsRequest, PastWindow};
use crate::policy::StreamPolicy;

/// A stretch of past minutes a policy needs. It may be taken up to
/// `slack` minutes earlier than asked (burst statistics do not need the
/// very last hours; seasonal windows must be exact).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Need {
    pub start: DateTime<Utc>,
    pub minutes: u32,
    pub slack: u32,
}

impl Need {
    fn end(&self) -> DateTime<Utc> {
        self.start + TimeDelta::minutes(i64::from(self.minutes))
    }
}

/// What `policy` needs of the past, for a pass whose metrics window starts
/// at `metrics_start`: per season, the current window and the forecast
/// horizon one season back; for the objective, its history up to the
/// current window (or up to a day earlier).
pub(crate) fn needs(policy: &StreamPolicy, metrics_start: DateTime<Utc>) -> Vec<Need> {
    let mut out = Vec::new();
    if let Some(f) = &policy.forecast {
        for &season in &f.seasons {
            out.push(Need {
                start: metrics_start - TimeDelta::minutes(i64::from(season)),
                minutes: policy.fetch_minutes() + f.horizon_minutes,
                slack: 0,
            });
        }
    }
    // The objective and the economic scale-down read the same kind of
    // history, up to the current window: the longer of the two serves both.
    let history = [
        policy.objective.as_ref().map(|o| o.history_minutes),
        policy
            .scale_down
            .economic
            .as_ref()
            .map(|e| e.history_minutes),
    ]
    .into_iter()
    .flatten()
    .max();
    if let Some(minutes) = history {
        out.push(Need {
            start: metrics_start - TimeDelta::minutes(i64::from(minutes)),
            minutes,
            slack: 1440,
        });
    }
    out.sort_by_key(|n| n.start);
    out
}

/// How long the cache keeps a stream no pass has asked for (one deleted,
/// or whose policy no longer forecasts).
const UNUSED_TTL: TimeDelta = TimeDelta::days(1);

/// The stream-level history a long-running controller keeps, by stream,
/// with the metrics start of the pass that last used it.
#[derive(Debug, Default)]
pub(crate) struct PastCache {
    streams: Mutex<HashMap<String, Held>>,
}

/// A stream's span, and when a pass last asked for it.
type Held = (Arc<PastWindow>, DateTime<Utc>);

impl PastCache {
    fn get(&self, stream: &str, at: DateTime<Utc>) -> Option<Arc<PastWindow>> {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let (window, used) = streams.get_mut(stream)?;
        *used = at;
        Some(window.clone())
    }

    /// Forgets the streams no pass has asked for since `at - UNUSED_TTL`.
    fn expire(&self, at: DateTime<Utc>) {
        self.streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, (_, used)| at - *used <= UNUSED_TTL);
    }

    fn put(&self, stream: &str, window: Arc<PastWindow>, at: DateTime<Utc>) {
        self.streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(stream.to_owned(), (window, at));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.streams.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// How a pass gets a stream's past: the reads to make (none when the
/// cache holds it all), and how to put the answers together.
#[derive(Clone, Debug)]
pub(crate) struct PastPlan {
    stream: String,
    /// The metrics start of the pass.
    at: DateTime<Utc>,
    needs: Vec<Need>,
    /// The cached span, when there is one.
    cached: Option<Arc<PastWindow>>,
    pub requests: Vec<MetricsRequest>,
}

/// What to read of `stream`'s past for `needs`, given what `cache` holds
/// (`None`: a one-shot pass, which reads only the windows).
pub(crate) fn plan_reads(
    stream: &str,
    needs: Vec<Need>,
    metrics_start: DateTime<Utc>,
    cache: Option<&PastCache>,
) -> PastPlan {
    let request =
        |start: DateTime<Utc>, minutes: u32| MetricsRequest::new(stream, &[], &[], start, minutes);
    let mut plan = PastPlan {
        stream: stream.to_owned(),
        at: metrics_start,
        cached: None,
        requests: Vec::new(),
        needs,
    };
    let Some(first) = plan.needs.iter().map(|n| n.start).min() else {
        return plan;
    };
    let Some(cache) = cache else {
        // The windows themselves, overlapping ones read as one.
        for (start, end) in union(plan.needs.iter().map(|n| (n.start, n.end()))) {
            plan.requests
                .push(request(start, (end - start).num_minutes() as u32));
        }
        return plan;
    };
    plan.cached = cache.get(stream, metrics_start);
    let covered = |w: &PastWindow| plan.needs.iter().all(|n| slice_of(w, n).is_some());
    let from = match &plan.cached {
        Some(w) if covered(w) => return plan,
        // Read on from where the cache ends.
        Some(w) if w.start <= first && w.end() >= first => w.end(),
        _ => {
            plan.cached = None;
            first
        }
    };
    if from < metrics_start {
        let minutes = (metrics_start - from).num_minutes() as u32;
        plan.requests.push(request(from, minutes));
    }
    plan
}

impl PastPlan {
    /// The windows for the observation, from the answers to `requests` (in
    /// order); a lasting memory's `cache` is extended with them (the same
    /// cache [`plan_reads`] was given).
    pub(crate) fn assemble(
        self,
        answers: Vec<Metrics>,
        cache: Option<&PastCache>,
    ) -> Vec<PastWindow> {
        let read: Vec<PastWindow> = answers
            .into_iter()
            .map(|mut m| PastWindow {
                start: m.start,
                incoming_bytes: std::mem::take(&mut m.stream[MetricName::IncomingBytes]),
                incoming_records: std::mem::take(&mut m.stream[MetricName::IncomingRecords]),
            })
            .collect();
        let held: Vec<Arc<PastWindow>> = if let Some(cache) = cache {
            // What a need may still be taken from, its slack included.
            let first = self
                .needs
                .iter()
                .map(|n| n.start - TimeDelta::minutes(i64::from(n.slack)))
                .min();
            let mut span = match (self.cached, read.into_iter().next()) {
                (Some(cached), Some(more)) => Arc::new(joined(&cached, more)),
                (Some(cached), None) => cached,
                (None, Some(more)) => Arc::new(more),
                (None, None) => return Vec::new(),
            };
            if let Some(first) = first.filter(|&f| span.start < f) {
                span = Arc::new(cut(&span, first, span.end()));
            }
            cache.put(&self.stream, span.clone(), self.at);
            vec![span]
        } else {
            read.into_iter().map(Arc::new).collect()
        };
        // Each need cut from what is held, overlapping cuts as one.
        let spans: Vec<(DateTime<Utc>, DateTime<Utc>, usize)> = self
            .needs
            .iter()
            .filter_map(|n| {
                held.iter().enumerate().find_map(|(k, w)| {
                    let (start, end) = slice_of(w, n)?;
                    Some((start, end, k))
                })
            })
            .collect();
        let mut out: Vec<PastWindow> = Vec::new();
        for (k, window) in held.iter().enumerate() {
            let ranges = union(
                spans
                    .iter()
                    .filter(|s| s.2 == k)
                    .map(|&(start, end, _)| (start, end)),
            );
            for (start, end) in ranges {
                out.push(cut(window, start, end));
            }
        }
        out.sort_by_key(|w| w.start);
        out
    }
}

/// Where `need` lies in `w`, shifted back by up to its slack when `w`
/// ends too early.
fn slice_of(w: &PastWindow, need: &Need) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let shift = (need.end() - w.end()).max(TimeDelta::zero());
    if shift > TimeDelta::minutes(i64::from(need.slack)) {
        return None;
    }
    let (start, end) = (need.start - shift, need.end() - shift);
    (start >= w.start).then_some((start, end))
}

/// Sorted, disjoint ranges covering the given ones.
fn union(
    ranges: impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut ranges: Vec<_> = ranges.collect();
    ranges.sort();
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (start, end) in ranges {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// The minutes of `w` in `[start, end)`.
fn cut(w: &PastWindow, start: DateTime<Utc>, end: DateTime<Utc>) -> PastWindow {
    let from = (start - w.start).num_minutes().max(0) as usize;
    let to = ((end - w.start).num_minutes().max(0) as usize).min(w.minutes());
    PastWindow {
        start: w.start + TimeDelta::minutes(from as i64),
        incoming_bytes: w.incoming_bytes.slice(from..to),
        incoming_records: w.incoming_records.slice(from..to),
    }
}

/// `earlier` followed by `later`, which starts where `earlier` ends.
fn joined(earlier: &PastWindow, later: PastWindow) -> PastWindow {
    let keep = earlier.end().min(later.start);
    let mut w = cut(earlier, earlier.start, keep);
    let gap = (later.start - w.end()).num_minutes().max(0);
    for _ in 0..gap {
        w.incoming_bytes.push(None);
        w.incoming_records.push(None);
    }
    for (b, r) in later
        .incoming_bytes
        .iter()
        .zip(later.incoming_records.iter())
    {
        w.incoming_bytes.push(b);
        w.incoming_records.push(r);
    }
    w
}

/// Reads what the policies of `streams` need of their past, in calls
/// shared across streams, into their observations. A stream whose past
/// cannot be read is planned without it, with a warning: forecasts and
/// burst statistics only ever add to what the current window shows.
pub(crate) async fn read_past<M: MetricsRead>(
    metrics: &M,
    streams: Vec<(&StreamPolicy, &mut Prepared)>,
    memory: &Memory,
) {
    let cache = memory.past_cache();
    if let (Some(cache), Some(at)) = (
        cache,
        streams
            .iter()
            .map(|(_, p)| p.observation.metrics.start)
            .max(),
    ) {
        cache.expire(at);
    }
    let mut plans = Vec::new();
    let mut requests = Vec::new();
    for (policy, prepared) in streams {
        if !prepared.plannable && !prepared.warm_managed {
            continue;
        }
        let start = prepared.observation.metrics.start;
        let needs = needs(policy, start);
        if needs.is_empty() {
            continue;
        }
        let plan = plan_reads(&prepared.observation.stream_name, needs, start, cache);
        let first = requests.len();
        requests.extend(plan.requests.iter().cloned());
        plans.push((prepared, plan, first));
    }
    if plans.is_empty() {
        return;
    }
    let (done, mut answers) = tokio::sync::mpsc::unbounded_channel();
    metrics.read_metrics_streamed(&requests, done).await;
    let mut read: Vec<Option<ApiResult<Metrics>>> = requests.iter().map(|_| None).collect();
    while let Ok((i, answer)) = answers.try_recv() {
        read[i] = Some(answer);
    }
    for (prepared, plan, first) in plans {
        let mut got = Vec::new();
        let mut failed = None;
        for answer in read[first..first + plan.requests.len()].iter_mut() {
            match answer.take() {
                Some(Ok(m)) => got.push(m),
                Some(Err(e)) => failed = Some(e.to_string()),
                None => failed = Some("no answer came back".into()),
            }
        }
        if let Some(error) = failed {
            tracing::warn!(
                stream = %prepared.observation.stream_name,
                %error,
                "cannot read the stream's past metrics; planning without forecast or burst statistics"
            );
            continue;
        }
        prepared.observation.past = plan.assemble(got, cache);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::Series;
    use crate::policy::{Forecast, Objective};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn answer(start: DateTime<Utc>, minutes: u32) -> Metrics {
        let first = start.timestamp() / 60;
        let values = |k: f64| -> Series {
            (0..i64::from(minutes))
                .map(|i| Some(k * (first + i) as f64))
                .collect()
        };
        Metrics {
            start,
            period_seconds: 60,
            stream: crate::observe::StreamMetrics::default()
                .with(MetricName::IncomingBytes, values(1.0))
                .with(MetricName::IncomingRecords, values(0.001)),
            shards: Default::default(),
        }
    }

    fn forecast_policy() -> StreamPolicy {
        StreamPolicy {
            forecast: Some(Forecast::default()),
            ..crate::testkit::policy()
        }
    }

    #[test]
    fn a_one_shot_pass_reads_each_season_window_and_nothing_else() {
        let policy = forecast_policy();
        let start = at("2026-11-26T18:00:00Z");
        let needs = needs(&policy, start);
        let plan = plan_reads("orders", needs, start, None);
        let windows: Vec<_> = plan.requests.iter().map(|r| (r.start, r.minutes)).collect();
        // 46 minutes of the current window + the 60-minute horizon, 7 and 1 day back.
        assert_eq!(
            windows,
            vec![
                (at("2026-11-19T18:00:00Z"), 106),
                (at("2026-11-25T18:00:00Z"), 106)
            ]
        );
        assert!(plan.requests.iter().all(|r| r.shards.is_empty()));
        let answers = plan
            .requests
            .iter()
            .map(|r| answer(r.start, r.minutes))
            .collect();
        let past = plan.assemble(answers, None);
        assert_eq!(past.len(), 2);
        assert_eq!(past[0].start, at("2026-11-19T18:00:00Z"));
        assert_eq!(past[0].minutes(), 106);
        assert_eq!(past[1].start, at("2026-11-25T18:00:00Z"));
        assert_eq!(past[1].minutes(), 106);
        // The values are the minute's own: nothing shifted.
        let minute = at("2026-11-25T18:00:00Z").timestamp() as f64 / 60.0;
        assert_eq!(past[1].incoming_bytes.get(0), Some(minute));
    }

    #[test]
    fn a_lasting_memory_reads_the_span_once_and_then_only_when_a_day_has_passed() {
        let policy = StreamPolicy {
            forecast: Some(Forecast {
                seasons: vec![1440],
                ..Forecast::default()
            }),
            objective: Some(Objective::default()),
            ..crate::testkit::policy()
        };
        let cache = PastCache::default();
        let read = |start: DateTime<Utc>| {
            let plan = plan_reads("orders", needs(&policy, start), start, Some(&cache));
            let requests: Vec<_> = plan.requests.iter().map(|r| (r.start, r.minutes)).collect();
            let answers = plan
                .requests
                .iter()
                .map(|r| answer(r.start, r.minutes))
                .collect();
            (requests, plan.assemble(answers, Some(&cache)))
        };
        let t0 = at("2026-11-26T18:00:00Z");
        let (first, past) = read(t0);
        // Three days of history up to the current window, in one read.
        assert_eq!(first, vec![(t0 - TimeDelta::days(3), 3 * 1440)]);
        assert_eq!(past.len(), 1, "the season window lies inside the history");
        // For almost a day, nothing more is read.
        for hours in [1, 6, 12, 22] {
            let now = t0 + TimeDelta::hours(hours);
            let (again, past) = read(now);
            assert_eq!(again, vec![], "{hours}h later");
            // One window: the three days of history, taken up to `hours`
            // early (its slack), which hold the season's 106 minutes.
            assert_eq!(past.len(), 1, "{hours}h later");
            assert_eq!(past[0].start, t0 - TimeDelta::days(3), "{hours}h later");
            assert_eq!(past[0].end(), t0, "{hours}h later");
            let season = now - TimeDelta::days(1);
            assert!(past[0].start <= season && season + TimeDelta::minutes(106) <= past[0].end());
        }
        // Then the season's window passes the end of what is held.
        let later = t0 + TimeDelta::hours(23);
        let (more, past) = read(later);
        assert_eq!(more, vec![(t0, 23 * 60)]);
        let season = past
            .iter()
            .find(|w| w.start <= later - TimeDelta::days(1) && w.end() >= later)
            .unwrap();
        let minute = (later - TimeDelta::days(1)).timestamp() / 60;
        let i = (later - TimeDelta::days(1) - season.start).num_minutes() as usize;
        assert_eq!(season.incoming_bytes.get(i), Some(minute as f64));
        // A stream no pass asks for any more is forgotten after a day.
        cache.expire(later + TimeDelta::hours(24));
        assert_eq!(cache.len(), 1);
        cache.expire(later + TimeDelta::hours(25));
        assert_eq!(cache.len(), 0, "orders was last used 25 hours earlier");
    }
}
