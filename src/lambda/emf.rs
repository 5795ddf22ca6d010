//! CloudWatch Embedded Metric Format (EMF) lines: what a scheduled job
//! reports about each stream after its pass, as log lines CloudWatch Logs
//! turns into metrics. One line per stream per invocation:
//!
//! - `OpenShards` (Count): after the pass's operations;
//! - `PeakUtilization` (Percent): the busiest shard, over the longest
//!   window, against its write limit;
//! - `ActionsApplied` and `ActionsFailed` (Count): operations carried
//!   out, and those a failure stopped (not those left for the next run by
//!   the deadline or a shutdown); a stream that could not be observed or
//!   planned counts one failure and no other metric;
//! - `ThrottledRecords` (Count): writes throttled over the scale-up window;
//! - `ConsumerLag` (Milliseconds): the consumers' largest iterator age,
//!   with `consumers` in the policy.
//!
//! A metric with no value this pass (no shard published it) is left out,
//! not sent as zero. The namespace and the dimensions are configurable:
//! every line has the `StreamName` dimension, and the fixed dimensions of
//! [`EmfConfig::dimensions`] (such as `Environment=prod`) with it.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::apply::StopKind;
use crate::error::Error;
use crate::pass::{PassReport, StreamResult};

/// The namespace metrics go to unless `KAS_EMF_NAMESPACE` says otherwise.
pub const DEFAULT_NAMESPACE: &str = "KinesisAutoscaler";

/// Where and how the lines are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmfConfig {
    pub namespace: String,
    /// Fixed dimensions, by name, added to `StreamName` on every line.
    pub dimensions: Vec<(String, String)>,
}

impl Default for EmfConfig {
    fn default() -> Self {
        EmfConfig {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            dimensions: Vec::new(),
        }
    }
}

/// CloudWatch allows 30 dimensions a metric; one is `StreamName`.
const MAX_FIXED_DIMENSIONS: usize = 29;

impl EmfConfig {
    /// From the environment: `KAS_EMF` (`off` writes no line),
    /// `KAS_EMF_NAMESPACE` and `KAS_EMF_DIMENSIONS` (`Name=value` pairs,
    /// comma-separated). `None` when off.
    pub fn from_env() -> Result<Option<Self>, Error> {
        let var = |name: &str| std::env::var(name).ok();
        Self::from_vars(
            var("KAS_EMF").as_deref(),
            var("KAS_EMF_NAMESPACE").as_deref(),
            var("KAS_EMF_DIMENSIONS").as_deref(),
        )
    }

    fn from_vars(
        switch: Option<&str>,
        namespace: Option<&str>,
        dimensions: Option<&str>,
    ) -> Result<Option<Self>, Error> {
        match switch.map(str::trim) {
            None | Some("" | "on") => {}
            Some("off") => return Ok(None),
            Some(other) => {
                return Err(Error::Usage(format!(
                    "KAS_EMF: {other:?} is neither on nor off"
                )));
            }
        }
        let namespace = namespace.map_or(DEFAULT_NAMESPACE, str::trim);
        // CloudWatch's rule for namespaces: 1 to 255 of these characters,
        // and not starting with "AWS/".
        let allowed = |c: char| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#' | ':' | ' ')
        };
        if namespace.is_empty()
            || namespace.len() > 255
            || !namespace.chars().all(allowed)
            || namespace.starts_with("AWS/")
        {
            return Err(Error::Usage(format!(
                "KAS_EMF_NAMESPACE: {namespace:?} is not a CloudWatch namespace: 1 to 255 letters, digits and . - _ / # : or spaces, not starting with AWS/"
            )));
        }
        let mut fixed: Vec<(String, String)> = Vec::new();
        for pair in dimensions.unwrap_or("").split(',').map(str::trim) {
            if pair.is_empty() {
                continue;
            }
            let Some((name, value)) = pair.split_once('=').map(|(n, v)| (n.trim(), v.trim()))
            else {
                return Err(Error::Usage(format!(
                    "KAS_EMF_DIMENSIONS: {pair:?} is not Name=value; write them like Environment=prod,Team=data"
                )));
            };
            let reserved = name == "StreamName" || name == "_aws" || METRICS.contains(&name);
            if name.is_empty()
                || value.is_empty()
                || reserved
                || name.len() > 255
                || value.len() > 1024
            {
                return Err(Error::Usage(format!(
                    "KAS_EMF_DIMENSIONS: {pair:?}: a dimension needs a name (not StreamName, _aws or a metric's) and a value"
                )));
            }
            if fixed.iter().any(|(n, _)| n == name) {
                return Err(Error::Usage(format!(
                    "KAS_EMF_DIMENSIONS: {name:?} is given twice"
                )));
            }
            fixed.push((name.to_owned(), value.to_owned()));
        }
        if fixed.len() > MAX_FIXED_DIMENSIONS {
            return Err(Error::Usage(format!(
                "KAS_EMF_DIMENSIONS: {} dimensions; CloudWatch takes at most {MAX_FIXED_DIMENSIONS} besides StreamName",
                fixed.len()
            )));
        }
        Ok(Some(EmfConfig {
            namespace: namespace.to_owned(),
            dimensions: fixed,
        }))
    }
}

/// The metric names, as the lines give them.
const METRICS: [&str; 6] = [
    "OpenShards",
    "PeakUtilization",
    "ActionsApplied",
    "ActionsFailed",
    "ThrottledRecords",
    "ConsumerLag",
];

/// One EMF line per stream of `report`, stamped `at`.
pub fn lines(report: &PassReport, config: &EmfConfig, at: DateTime<Utc>) -> Vec<String> {
    report
        .streams
        .iter()
        .map(|s| line(s, config, at).to_string())
        .collect()
}

/// The metrics of one stream's pass, with their units.
fn metrics(s: &StreamResult) -> Vec<(&'static str, &'static str, f64)> {
    let Some(open) = s.open_shards_after else {
        // Not observed or not planned: one failure, nothing measured.
        return vec![("ActionsFailed", "Count", 1.0)];
    };
    let applied = s.apply.as_ref().map_or(0, |a| a.applied.len());
    let failed = s
        .apply
        .as_ref()
        .filter(|a| {
            a.stop
                .as_ref()
                .is_some_and(|stop| !matches!(stop.kind, StopKind::Deadline | StopKind::Shutdown))
        })
        .map_or(0, |a| a.not_applied.len().max(1));
    let mut out = vec![
        ("OpenShards", "Count", open as f64),
        ("ActionsApplied", "Count", applied as f64),
        ("ActionsFailed", "Count", failed as f64),
    ];
    if let Some(peak) = s.peak_utilization {
        out.push(("PeakUtilization", "Percent", peak * 100.0));
    }
    if let Some(throttled) = s.throttled_records {
        out.push(("ThrottledRecords", "Count", throttled));
    }
    if let Some(lag) = s.consumer_lag_ms {
        out.push(("ConsumerLag", "Milliseconds", lag));
    }
    out
}

fn line(s: &StreamResult, config: &EmfConfig, at: DateTime<Utc>) -> Value {
    let metrics = metrics(s);
    let mut dimension_set = vec![Value::from("StreamName")];
    dimension_set.extend(
        config
            .dimensions
            .iter()
            .map(|(n, _)| Value::from(n.as_str())),
    );
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": config.namespace,
                "Dimensions": [dimension_set],
                "Metrics": metrics
                    .iter()
                    .map(|(name, unit, _)| json!({ "Name": name, "Unit": unit }))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    root.insert("StreamName".into(), Value::from(s.stream.as_str()));
    for (name, value) in &config.dimensions {
        root.insert(name.clone(), Value::from(value.as_str()));
    }
    for (name, _, value) in metrics {
        root.insert(name.into(), json!(value));
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_names_the_namespace_and_fixed_dimensions() {
        assert_eq!(
            EmfConfig::from_vars(None, None, None).unwrap(),
            Some(EmfConfig::default())
        );
        assert_eq!(EmfConfig::from_vars(Some("off"), None, None).unwrap(), None);
        assert_eq!(
            EmfConfig::from_vars(
                None,
                Some("Streams/Scaling"),
                Some(" Environment=prod, Team = data ")
            )
            .unwrap(),
            Some(EmfConfig {
                namespace: "Streams/Scaling".into(),
                dimensions: vec![
                    ("Environment".into(), "prod".into()),
                    ("Team".into(), "data".into())
                ],
            })
        );
        let refused = |switch, namespace, dimensions| {
            EmfConfig::from_vars(switch, namespace, dimensions)
                .unwrap_err()
                .to_string()
        };
        for (message, expected) in [
            (
                refused(Some("maybe"), None, None),
                "KAS_EMF: \"maybe\" is neither on nor off",
            ),
            (
                refused(None, Some("AWS/Kinesis"), None),
                "KAS_EMF_NAMESPACE: \"AWS/Kinesis\" is not a CloudWatch namespace",
            ),
            (
                refused(None, Some(""), None),
                "KAS_EMF_NAMESPACE: \"\" is not",
            ),
            (
                refused(None, None, Some("prod")),
                "KAS_EMF_DIMENSIONS: \"prod\" is not Name=value",
            ),
            (
                refused(None, None, Some("StreamName=x")),
                "a dimension needs a name (not StreamName",
            ),
            (refused(None, None, Some("OpenShards=3")), "a metric's"),
            (refused(None, None, Some("A=1,A=2")), "\"A\" is given twice"),
        ] {
            assert!(message.contains(expected), "{message}");
        }
        let thirty: Vec<String> = (0..30).map(|i| format!("D{i}=v")).collect();
        assert!(
            refused(None, None, Some(&thirty.join(","))).contains("at most 29 besides StreamName")
        );
    }

    fn stream(name: &str) -> StreamResult {
        StreamResult {
            stream: name.into(),
            open_shards_before: Some(2),
            open_shards_after: Some(3),
            peak_utilization: Some(0.95),
            throttled_records: None,
            consumer_lag_ms: None,
            refused: None,
            planned_actions: 0,
            apply: None,
            error: None,
            warm_throughput: None,
            permanent: false,
            alerts: Vec::new(),
        }
    }

    #[test]
    fn a_metric_without_a_value_is_left_out_and_a_failed_stream_counts_one_failure() {
        let at: DateTime<Utc> = "2026-11-26T02:00:00Z".parse().unwrap();
        let config = EmfConfig::default();
        let line: Value = serde_json::from_str(
            &lines(
                &PassReport {
                    started_at: at,
                    finished_at: at,
                    error: None,
                    permanent: false,
                    streams: vec![stream("orders")],
                },
                &config,
                at,
            )[0],
        )
        .unwrap();
        let names: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "OpenShards",
                "ActionsApplied",
                "ActionsFailed",
                "PeakUtilization"
            ]
        );
        assert_eq!(line["PeakUtilization"], 95.0);
        assert!(line.get("ThrottledRecords").is_none());
        assert_eq!(line["_aws"]["Timestamp"], 1_795_658_400_000_i64);

        let failed = StreamResult {
            open_shards_before: None,
            open_shards_after: None,
            peak_utilization: None,
            error: Some("stream orders: not found".into()),
            warm_throughput: None,
            ..stream("orders")
        };
        assert_eq!(metrics(&failed), [("ActionsFailed", "Count", 1.0)]);

        // Throttled writes and the consumers' lag, when measured; a plan
        // stopped by a failure counts what it left undone, one left for
        // the next run by the deadline does not.
        let hot = crate::testkit::StreamBuilder::new("orders", 1)
            .constant(0, 0.9)
            .build();
        let split = crate::planner::plan(&hot, &crate::testkit::policy(), hot.observed_at).actions
            [0]
        .clone();
        let stopped = |kind| crate::apply::ApplyReport {
            stream: "orders".into(),
            applied: Vec::new(),
            warm_throughput: None,
            not_applied: vec![split.clone(); 2],
            stop: Some(crate::apply::Stop {
                kind,
                message: String::new(),
            }),
        };
        let measured = StreamResult {
            throttled_records: Some(12.0),
            consumer_lag_ms: Some(240_000.0),
            apply: Some(stopped(StopKind::Throttled)),
            ..stream("orders")
        };
        assert_eq!(
            metrics(&measured),
            [
                ("OpenShards", "Count", 3.0),
                ("ActionsApplied", "Count", 0.0),
                ("ActionsFailed", "Count", 2.0),
                ("PeakUtilization", "Percent", 95.0),
                ("ThrottledRecords", "Count", 12.0),
                ("ConsumerLag", "Milliseconds", 240_000.0),
            ]
        );
        let deadline = StreamResult {
            apply: Some(stopped(StopKind::Deadline)),
            ..stream("orders")
        };
        assert_eq!(metrics(&deadline)[2], ("ActionsFailed", "Count", 0.0));
    }
}
