//! What the long-running controller reports about itself: health,
//! readiness, and counters in the Prometheus text format. Updated by the
//! loop after every pass; read by the HTTP endpoints, which change nothing.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::apply::StopKind;
use crate::notify::{Deliveries, EventKind};
use crate::pass::PassReport;
use crate::planner::Action;

/// Counters and gauges, by name and labels.
#[derive(Debug, Default)]
struct Registry {
    passes: BTreeMap<&'static str, u64>,
    actions: BTreeMap<(&'static str, &'static str), u64>,
    errors: BTreeMap<String, u64>,
    reloads: BTreeMap<&'static str, u64>,
    open_shards: BTreeMap<String, u64>,
    peak_utilization: BTreeMap<String, f64>,
    last_success: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    /// When the last pass completed, whatever its outcome.
    last_pass: Option<Instant>,
    /// When the loop last showed progress inside a pass (an operation
    /// started, finished, or waited): a long pass is alive too.
    last_activity: Option<Instant>,
    shutting_down: bool,
    registry: Registry,
}

/// Shared between the loop and the endpoints.
#[derive(Debug)]
pub struct Status {
    /// The limiter whose call counts `/metrics` shows, once set.
    api: std::sync::OnceLock<std::sync::Arc<crate::model::ApiLimiter>>,
    /// The notifier whose deliveries `/metrics` shows, once set.
    notifications: std::sync::OnceLock<std::sync::Arc<Deliveries>>,
    /// The wall-clock time between passes (the interval, or the interval
    /// divided by the speed-up of a simulation).
    expected_interval: Duration,
    inner: Mutex<Inner>,
}

impl Status {
    pub fn new(expected_interval: Duration) -> Self {
        Status {
            api: std::sync::OnceLock::new(),
            notifications: std::sync::OnceLock::new(),
            expected_interval,
            inner: Mutex::new(Inner {
                started: Instant::now(),
                last_pass: None,
                last_activity: None,
                shutting_down: false,
                registry: Registry::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Healthy while passes keep completing, or a long one keeps making
    /// progress: the last sign of life (or the start) is at most three
    /// intervals ago.
    pub fn healthy(&self) -> bool {
        self.healthy_at(Instant::now())
    }

    fn healthy_at(&self, now: Instant) -> bool {
        let inner = self.lock();
        let last = inner
            .last_pass
            .max(inner.last_activity)
            .unwrap_or(inner.started);
        now.saturating_duration_since(last) <= self.expected_interval * 3
    }

    /// Notes progress within a pass.
    pub fn alive(&self) {
        self.lock().last_activity = Some(Instant::now());
    }

    /// Ready once a pass has completed, until shutdown begins.
    pub fn ready(&self) -> bool {
        let inner = self.lock();
        inner.last_pass.is_some() && !inner.shutting_down
    }

    pub fn shutting_down(&self) {
        self.lock().shutting_down = true;
    }

    /// Shows the calls `limiter` counts in `/metrics`.
    pub fn count_api_calls(&self, limiter: std::sync::Arc<crate::model::ApiLimiter>) {
        let _ = self.api.set(limiter);
    }

    /// Shows the notifications `deliveries` counts in `/metrics`.
    pub fn count_notifications(&self, deliveries: std::sync::Arc<Deliveries>) {
        let _ = self.notifications.set(deliveries);
    }

    /// Counts a policy reload, `ok` or `invalid`.
    pub fn record_reload(&self, outcome: &'static str) {
        *self.lock().registry.reloads.entry(outcome).or_default() += 1;
    }

    /// Folds a finished pass into the counters.
    pub fn record_pass(&self, pass: &PassReport) {
        let mut inner = self.lock();
        inner.last_pass = Some(Instant::now());
        let r = &mut inner.registry;
        let outcome = if pass.succeeded() { "ok" } else { "failed" };
        *r.passes.entry(outcome).or_default() += 1;
        if pass.succeeded() {
            r.last_success = Some(pass.finished_at);
        }
        if pass.error.is_some() {
            *r.errors.entry("list_streams".into()).or_default() += 1;
        }
        for s in &pass.streams {
            if let Some(n) = s.open_shards_after {
                r.open_shards.insert(s.stream.clone(), n as u64);
            }
            if let Some(p) = s.peak_utilization {
                r.peak_utilization.insert(s.stream.clone(), p);
            }
            if s.error.is_some() {
                *r.errors.entry("observe".into()).or_default() += 1;
            }
            let Some(apply) = &s.apply else { continue };
            let kind = |a: &Action| match a {
                Action::Split(_) => "split",
                Action::Merge(_) => "merge",
            };
            for a in &apply.applied {
                *r.actions.entry((kind(&a.action), "applied")).or_default() += 1;
            }
            for a in &apply.not_applied {
                *r.actions.entry((kind(a), "not_applied")).or_default() += 1;
            }
            if let Some(stop) = &apply.stop
                && stop.kind != StopKind::Shutdown
            {
                *r.errors
                    .entry(format!("{:?}", stop.kind).to_lowercase())
                    .or_default() += 1;
            }
        }
    }

    /// The counters in the Prometheus text exposition format.
    pub fn prometheus(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        pass_families(&mut out, &inner.registry);
        stream_families(&mut out, &inner.registry);
        if let Some(n) = self.notifications.get() {
            notification_families(&mut out, n);
        }
        if let Some(api) = self.api.get() {
            api_families(&mut out, api);
        }
        out
    }
}

/// The passes, the resharding operations, the failures and the policy
/// reloads, counted.
fn pass_families(out: &mut String, r: &Registry) {
    let count = |map: &BTreeMap<&'static str, u64>, key: &'static str| {
        (key, map.get(key).copied().unwrap_or(0))
    };
    labelled(
        out,
        ("kinesis_autoscaler_passes_total", "counter"),
        "Passes over the policy's streams, by outcome.",
        "outcome",
        ["ok", "failed"].map(|o| count(&r.passes, o)),
    );
    family(
        out,
        "kinesis_autoscaler_actions_total",
        "counter",
        "Resharding operations, by type and outcome.",
    );
    for kind in ["split", "merge"] {
        for outcome in ["applied", "not_applied"] {
            let n = r.actions.get(&(kind, outcome)).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "kinesis_autoscaler_actions_total{{type=\"{kind}\",outcome=\"{outcome}\"}} {n}"
            );
        }
    }
    labelled(
        out,
        ("kinesis_autoscaler_errors_total", "counter"),
        "Failures, by kind.",
        "kind",
        &r.errors,
    );
    labelled(
        out,
        ("kinesis_autoscaler_policy_reloads_total", "counter"),
        "Policy reloads, by outcome.",
        "outcome",
        ["ok", "invalid"].map(|o| count(&r.reloads, o)),
    );
}

/// Each stream's open shards and peak utilization at the last pass, and
/// when the last pass without failures finished.
fn stream_families(out: &mut String, r: &Registry) {
    labelled(
        out,
        ("kinesis_autoscaler_open_shards", "gauge"),
        "Open shards per stream after the last pass.",
        "stream",
        &r.open_shards,
    );
    labelled(
        out,
        ("kinesis_autoscaler_peak_shard_utilization", "gauge"),
        "The highest shard utilization per stream at the last pass (1 = a shard's write limit).",
        "stream",
        &r.peak_utilization,
    );
    family(
        out,
        "kinesis_autoscaler_last_successful_pass_timestamp_seconds",
        "gauge",
        "When the last pass without failures finished (Unix time).",
    );
    let t = r.last_success.map_or(0, |t| t.timestamp());
    let _ = writeln!(
        out,
        "kinesis_autoscaler_last_successful_pass_timestamp_seconds {t}"
    );
}

/// The calls made to Kinesis and CloudWatch, and the datapoints asked of
/// GetMetricData.
fn api_families(out: &mut String, api: &crate::model::ApiLimiter) {
    labelled(
        out,
        ("kinesis_autoscaler_api_calls_total", "counter"),
        "Kinesis and CloudWatch calls made, by API (each waits for its slot within the account's quota).",
        "api",
        api.calls().into_iter().map(|(a, n)| (a.as_str(), n)),
    );
    family(
        out,
        "kinesis_autoscaler_metric_datapoints_requested_total",
        "counter",
        "Datapoints asked of GetMetricData (queries times minutes).",
    );
    let _ = writeln!(
        out,
        "kinesis_autoscaler_metric_datapoints_requested_total {}",
        api.datapoints_requested()
    );
}

/// The notification counters: sent and failed by target (its policy
/// field), held back by event type.
fn notification_families(out: &mut String, n: &Deliveries) {
    labelled(
        out,
        ("kinesis_autoscaler_notifications_sent_total", "counter"),
        "Notifications delivered, by target (the policy field that names it).",
        "target",
        n.sent(),
    );
    labelled(
        out,
        ("kinesis_autoscaler_notifications_failed_total", "counter"),
        "Notifications not delivered after every attempt (or dropped from a full queue), by target.",
        "target",
        n.failed(),
    );
    let suppressed = n.suppressed();
    labelled(
        out,
        (
            "kinesis_autoscaler_notifications_suppressed_total",
            "counter",
        ),
        "Events not sent because one of the same type about the same stream was sent within notify.repeat_after, by type.",
        "event",
        EventKind::ALL.map(|kind| (kind.as_str(), suppressed.get(&kind).copied().unwrap_or(0))),
    );
}

/// A metric family (`name`, `kind`) with one sample per label value,
/// each value escaped.
fn labelled<K: AsRef<str>, V: std::fmt::Display>(
    out: &mut String,
    (name, kind): (&str, &str),
    help: &str,
    label: &str,
    samples: impl IntoIterator<Item = (K, V)>,
) {
    family(out, name, kind, help);
    for (value, n) in samples {
        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {n}", escape(value.as_ref()));
    }
}

/// The `# HELP` and `# TYPE` lines of a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value with backslashes, quotes and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn metrics_count_the_calls_per_api() {
        let status = Status::new(Duration::from_secs(60));
        assert!(!status.prometheus().contains("api_calls_total"));
        let limiter = std::sync::Arc::new(crate::model::ApiLimiter::unlimited());
        status.count_api_calls(limiter.clone());
        limiter.acquire(crate::model::Api::ListShards).await;
        limiter.acquire(crate::model::Api::ListShards).await;
        limiter.acquire_metrics(4600).await;
        let text = status.prometheus();
        assert!(
            text.contains("kinesis_autoscaler_api_calls_total{api=\"ListShards\"} 2"),
            "{text}"
        );
        assert!(text.contains("kinesis_autoscaler_api_calls_total{api=\"GetMetricData\"} 1"));
        assert!(text.contains("kinesis_autoscaler_api_calls_total{api=\"ListTagsForStream\"} 0"));
        assert!(text.contains("kinesis_autoscaler_metric_datapoints_requested_total 4600"));
    }

    #[test]
    fn a_long_pass_that_makes_progress_stays_healthy() {
        let interval = Duration::from_secs(60);
        let status = Status::new(interval);
        let later = Instant::now() + interval * 4;
        assert!(status.healthy_at(Instant::now()));
        assert!(
            !status.healthy_at(later),
            "no pass and no progress for 4 intervals"
        );
        status.alive();
        let soon_after = Instant::now() + interval * 2;
        assert!(status.healthy_at(soon_after), "progress 2 intervals ago");
        assert!(!status.healthy_at(soon_after + interval * 2));
    }
}
