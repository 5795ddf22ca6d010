//! A scenario built from a live stream's own CloudWatch history, so that
//! an operator can see what each strategy would have cost and throttled on
//! their real traffic.
//!
//! - Load: the stream-level IncomingBytes and IncomingRecords per minute
//!   (free, kept at one minute for 15 days).
//! - Key spread: each open shard's share of IncomingBytes (over the last
//!   day, as the replay reads it), where shard-level metrics are enabled;
//!   otherwise uniform keys, and the replay says so.
//!
//! The result is the text of a scenario file and of its trace, so that
//! `--save-scenario` writes exactly what was simulated.

use std::fmt::Write;

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::MetricName;
use crate::model::Shard;
use crate::observe::Metrics;

/// A replay's scenario and trace, as file texts, and what it assumed.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub scenario_yaml: String,
    pub trace_csv: String,
    /// Said to the operator: what could not be measured and was assumed.
    pub notes: Vec<String>,
    pub coverage: Coverage,
}

/// How much of the history asked for the replay rests on.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Coverage {
    /// The minutes asked for (`--days`).
    pub requested_minutes: usize,
    /// The minutes replayed: from the stream's creation, or its first
    /// datapoint if earlier, to the end of the history read.
    pub replayed_minutes: usize,
    /// Of those, the minutes CloudWatch has a datapoint for (the others
    /// took no writes: CloudWatch publishes nothing for an idle minute).
    pub minutes_with_data: usize,
    /// When the stream was created, when known.
    pub created_at: Option<DateTime<Utc>>,
    /// The first minute replayed.
    pub starts_at: DateTime<Utc>,
}

/// A replay shorter than this has not seen a whole day of the stream: its
/// recommendation is provisional.
pub const MIN_MINUTES_TO_RECOMMEND: usize = 1440;

impl Coverage {
    /// Why a recommendation from this replay is provisional, if it is.
    pub fn provisional(&self) -> Option<String> {
        (self.replayed_minutes < MIN_MINUTES_TO_RECOMMEND).then(|| {
            format!(
                "provisional: the replay covers {} minutes ({:.1} hours), less than the day a recommendation needs to have seen the stream's daily cycle",
                self.replayed_minutes,
                self.replayed_minutes as f64 / 60.0
            )
        })
    }

    /// The coverage in one sentence.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} of {} minutes replayed have data (the others took no writes)",
            self.minutes_with_data, self.replayed_minutes
        );
        if self.replayed_minutes < self.requested_minutes {
            let at = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%MZ").to_string();
            let _ = write!(
                text,
                "; {} minutes were asked for, but the stream's history starts {}{}: the minutes before are not its history",
                self.requested_minutes,
                at(self.starts_at),
                self.created_at
                    .map_or(String::new(), |t| format!(" (it was created {})", at(t)))
            );
        }
        text
    }
}

/// Why a stream's history cannot be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream {stream}: {reason}")]
pub struct NotReplayable {
    pub stream: String,
    pub reason: String,
}

/// Builds the replay of `stream` from `metrics` (stream-level series, and
/// shard-level IncomingBytes of `open` shards where read), from when it was
/// created (`created_at`, when known). `trace_file` is the name the
/// scenario gives its trace.
pub fn build(
    stream: &str,
    open: &[Shard],
    metrics: &Metrics,
    created_at: Option<DateTime<Utc>>,
    trace_file: &str,
) -> Result<Replay, NotReplayable> {
    let refuse = |reason: String| NotReplayable {
        stream: stream.to_owned(),
        reason,
    };
    let bytes = &metrics.stream[MetricName::IncomingBytes];
    let records = &metrics.stream[MetricName::IncomingRecords];
    let read = bytes.len().min(records.len());
    let skip = first_minute(metrics.start, created_at, bytes, read);
    let minutes = read - skip;
    // A minute without a datapoint took no writes (CloudWatch publishes
    // none for an idle stream).
    let bytes_at = |i: usize| bytes.get(skip + i).unwrap_or(0.0);
    let total_bytes: f64 = (0..minutes).map(bytes_at).sum();
    let total_records: f64 = (0..minutes)
        .map(|i| records.get(skip + i).unwrap_or(0.0))
        .sum();
    let coverage = Coverage {
        requested_minutes: read,
        replayed_minutes: minutes,
        minutes_with_data: (0..minutes)
            .filter(|&i| bytes.get(skip + i).is_some())
            .count(),
        created_at,
        starts_at: metrics.start + TimeDelta::minutes(skip as i64),
    };
    if minutes < 60 {
        return Err(refuse(format!(
            "{}; a replay needs at least 60 minutes",
            coverage.describe()
        )));
    }
    if total_bytes <= 0.0 || total_records <= 0.0 {
        return Err(refuse(format!(
            "took no writes in the {minutes} minutes of history read; nothing to replay"
        )));
    }
    let peak_per_minute = (0..minutes).map(bytes_at).fold(0.0, f64::max);
    let peak_per_second = (peak_per_minute / 60.0).ceil().max(1.0) as u64;
    let record_size = (total_bytes / total_records).ceil().max(1.0) as u64;

    let trace_csv = trace_csv(coverage.starts_at, (0..minutes).map(bytes_at));

    let mut notes = vec![coverage.describe()];
    let keys = keys_yaml(open, metrics, &mut notes);
    notes.push(
        "On-Demand's reads are priced for one consumer; set `consumers:` in a saved scenario (--save-scenario) to price more".to_owned(),
    );
    let scenario_yaml = scenario_yaml(
        stream,
        minutes,
        trace_file,
        (peak_per_second, record_size),
        &keys,
        open.len(),
    );
    Ok(Replay {
        scenario_yaml,
        trace_csv,
        notes,
        coverage,
    })
}

/// The replay's scenario: `minutes` of `stream` at `peak_per_second` bytes
/// a second in records of `record_size`, keyed by `keys`, from as many
/// shards as it has open (`open_shards`).
fn scenario_yaml(
    stream: &str,
    minutes: usize,
    trace_file: &str,
    (peak_per_second, record_size): (u64, u64),
    keys: &str,
    open_shards: usize,
) -> String {
    let days = minutes as f64 / 1440.0;
    format!(
        "# What stream {stream} took over {days:.1} days, from its CloudWatch history.\n\
         name: replay-{stream}\n\
         stream: {stream}\n\
         trace: {trace}\n\
         peak: {peak_per_second}B/s\n\
         record_size: {record_size}B\n\
         {keys}\
         initial_shards: {shards}\n\
         noise: 0\n\
         shard_limit: {limit}\n",
        // Quoted: a file name is any text.
        trace = serde_json::to_string(trace_file).expect("a string serializes"),
        shards = open_shards.max(1),
        limit = (open_shards * 4).clamp(500, 20_000),
    )
}

/// The first minute of the replay, of the `read` minutes from `start`:
/// minutes before the stream existed are not its history, so the replay
/// starts at its creation, or at its first datapoint if that is earlier
/// (the metrics of an earlier stream of the same name, or an emulator's).
fn first_minute(
    start: DateTime<Utc>,
    created_at: Option<DateTime<Utc>>,
    bytes: &crate::observe::Series,
    read: usize,
) -> usize {
    let created = created_at.map(|t| {
        let since = (t - start).num_seconds();
        // The first whole minute it existed in.
        usize::try_from((since + 59).div_euclid(60)).unwrap_or(0)
    });
    let first_data = (0..read).find(|&i| bytes.get(i).is_some());
    match (created, first_data) {
        (Some(c), Some(d)) => c.min(d),
        (Some(c), None) => c,
        (None, _) => 0,
    }
    .min(read)
}

/// The scenario's `keys:`: the shards' measured spread, or uniform keys
/// (said in `notes`) without shard-level IncomingBytes.
fn keys_yaml(open: &[Shard], metrics: &Metrics, notes: &mut Vec<String>) -> String {
    match measured_spread(open, metrics) {
        Some(ranges) => {
            let mut text = String::from("keys:\n  model: measured\n  ranges:\n");
            for (shard, share) in ranges {
                let _ = writeln!(
                    text,
                    "    - {{ start: \"{}\", end: \"{}\", share: {share} }}   # {}",
                    shard.range.start(),
                    shard.range.end(),
                    shard.id
                );
            }
            text
        }
        None => {
            notes.push(
                "shard-level IncomingBytes is not enabled (or took nothing): keys are assumed uniform, so a hot shard in the real stream is not replayed".to_owned(),
            );
            "keys: { model: uniform }\n".to_owned()
        }
    }
}

/// The trace: each minute's bytes from `start` on, as the simulator reads
/// traces.
fn trace_csv(start: DateTime<Utc>, bytes: impl Iterator<Item = f64>) -> String {
    let mut csv = String::from("timestamp,value\n");
    for (i, b) in bytes.enumerate() {
        let t = start + TimeDelta::minutes(i as i64);
        let _ = writeln!(csv, "{},{}", t.format("%Y-%m-%d %H:%M:%S"), b);
    }
    csv
}

/// Each open shard with its share of the writes, in key order, when every
/// one of them has shard-level IncomingBytes and they took something.
fn measured_spread<'a>(open: &'a [Shard], metrics: &Metrics) -> Option<Vec<(&'a Shard, f64)>> {
    let mut shards: Vec<&Shard> = open.iter().collect();
    shards.sort_by_key(|s| s.range.start());
    // Each shard's rate while it existed: from its first datapoint on (a
    // shard made during the day has none before), a missing minute is an
    // idle one (CloudWatch publishes nothing for those).
    let rates: Vec<f64> = shards
        .iter()
        .map(|s| {
            let series = &metrics.shards.get(&s.id)?[MetricName::IncomingBytes];
            let first = series
                .iter()
                .position(|v| v.is_some())
                .unwrap_or(series.len());
            let span = series.len() - first;
            Some(if span == 0 {
                0.0
            } else {
                series.iter().skip(first).flatten().sum::<f64>() / span as f64
            })
        })
        .collect::<Option<_>>()?;
    let total: f64 = rates.iter().sum();
    (total > 0.0).then(|| {
        shards
            .into_iter()
            .zip(rates)
            .map(|(s, rate)| (s, rate / total))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ShardId, uniform_ranges};
    use crate::observe::{Series, ShardMetrics, StreamMetrics};
    use crate::sim::scenario::{KeyModel, Scenario};
    use crate::sim::traffic::{Trace, Traffic};

    fn metrics(minutes: usize, shard_bytes: Option<[f64; 2]>) -> (Vec<Shard>, Metrics) {
        let open: Vec<Shard> = uniform_ranges(2)
            .into_iter()
            .enumerate()
            .map(|(i, range)| Shard {
                id: ShardId::new(format!("shardId-00000000000{i}")),
                range,
                parent_shard_id: None,
                adjacent_parent_shard_id: None,
                open: true,
            })
            .collect();
        // 2 MiB a minute of 2 KiB records, 6 MiB in minute 30.
        let bytes: Series = (0..minutes)
            .map(|i| Some(if i == 30 { 6.0 } else { 2.0 } * 1_048_576.0))
            .collect();
        let records: Series = bytes.iter().map(|b| b.map(|b| b / 2048.0)).collect();
        let mut shards = rustc_hash::FxHashMap::default();
        if let Some([a, b]) = shard_bytes {
            for (shard, per_minute) in open.iter().zip([a, b]) {
                let m = ShardMetrics::default().with(
                    MetricName::IncomingBytes,
                    (0..minutes).map(|_| Some(per_minute)).collect(),
                );
                shards.insert(shard.id.clone(), m);
            }
        }
        let metrics = Metrics {
            start: "2026-11-29T00:00:00Z".parse().unwrap(),
            period_seconds: 60,
            stream: StreamMetrics::default()
                .with(MetricName::IncomingBytes, bytes)
                .with(MetricName::IncomingRecords, records),
            shards,
        };
        (open, metrics)
    }

    #[test]
    fn a_replay_is_a_scenario_of_the_streams_own_load_and_spread() {
        let (open, m) = metrics(120, Some([3.0, 1.0]));
        let replay = build("orders", &open, &m, None, "replay-orders.csv").unwrap();
        assert!(
            replay.notes.iter().all(|n| !n.contains("assumed uniform")),
            "{:?}",
            replay.notes
        );
        let scenario = Scenario::parse(&replay.scenario_yaml, std::path::Path::new("r.yaml"))
            .unwrap_or_else(|e| panic!("{e}\n{}", replay.scenario_yaml));
        assert_eq!(scenario.stream, "orders");
        assert_eq!(scenario.initial_shards, 2);
        assert_eq!(scenario.record_size, 2048);
        // The peak minute, per second.
        assert_eq!(
            scenario.peak_bytes_per_second,
            (6.0 * 1_048_576.0 / 60.0f64).ceil()
        );
        let KeyModel::Measured(ranges) = &scenario.keys else {
            panic!("{:?}", scenario.keys)
        };
        assert_eq!(ranges.len(), 2);
        assert!((ranges[0].1 - 0.75).abs() < 1e-12);
        // The trace replays the same bytes per minute.
        let trace = Trace::parse(&replay.trace_csv, std::path::Path::new("t.csv")).unwrap();
        let traffic = Traffic::new(&scenario, &trace).unwrap();
        assert_eq!(traffic.minutes(), 120);
        for minute in [0, 30, 119] {
            let want = m.stream[MetricName::IncomingBytes].get(minute).unwrap();
            let got = traffic.total(minute).bytes;
            assert!(
                (got - want).abs() / want < 1e-3,
                "minute {minute}: {got} != {want}"
            );
        }
    }

    #[test]
    fn a_shard_made_during_the_day_counts_at_its_rate_while_it_existed() {
        let (open, mut m) = metrics(120, Some([1.0, 1.0]));
        // The upper shard appeared at minute 60, and took as much a minute
        // as the lower one since; an idle minute after that counts as 0.
        let upper = m.shards.get_mut(&open[1].id).unwrap();
        upper[MetricName::IncomingBytes] = (0..120)
            .map(|i| match i {
                0..60 => None,
                90 => None,
                _ => Some(1.0),
            })
            .collect();
        let spread = measured_spread(&open, &m).unwrap();
        let upper_rate = 59.0 / 60.0;
        assert!(
            (spread[1].1 - upper_rate / (1.0 + upper_rate)).abs() < 1e-12,
            "{spread:?}"
        );
    }

    #[test]
    fn without_shard_metrics_keys_are_uniform_and_it_says_so() {
        let (open, m) = metrics(120, None);
        let replay = build("orders", &open, &m, None, "t.csv").unwrap();
        assert!(replay.scenario_yaml.contains("keys: { model: uniform }"));
        assert!(
            replay
                .notes
                .iter()
                .any(|n| n.contains("keys are assumed uniform")),
            "{:?}",
            replay.notes
        );
    }

    #[test]
    fn a_stream_that_took_nothing_is_not_replayed() {
        let (open, mut m) = metrics(120, None);
        m.stream[MetricName::IncomingBytes] = (0..120).map(|_| None).collect();
        let e = build("orders", &open, &m, None, "t.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "stream orders: took no writes in the 120 minutes of history read; nothing to replay"
        );
    }

    #[test]
    fn a_young_stream_is_replayed_from_its_creation_and_says_how_much() {
        // 1,440 minutes read; the stream was created 199 minutes before the
        // end (at 20:41:30, so its first whole minute is 20:42), and wrote
        // from its creation on.
        let (open, mut m) = metrics(1440, None);
        let created: DateTime<Utc> = "2026-11-29T20:41:30Z".parse().unwrap();
        let first = 20 * 60 + 42;
        m.stream[MetricName::IncomingBytes] = (0..1440)
            .map(|i| (i >= first).then_some(2.0 * 1_048_576.0))
            .collect();
        m.stream[MetricName::IncomingRecords] = m.stream[MetricName::IncomingBytes]
            .iter()
            .map(|b| b.map(|b| b / 2048.0))
            .collect();
        let replay = build("orders", &open, &m, Some(created), "t.csv").unwrap();
        let c = replay.coverage;
        assert_eq!(
            (c.requested_minutes, c.replayed_minutes, c.minutes_with_data),
            (1440, 1440 - first, 1440 - first)
        );
        assert_eq!(
            replay.notes[0],
            "198 of 198 minutes replayed have data (the others took no writes); 1440 minutes were asked for, but the stream's history starts 2026-11-29 20:42Z (it was created 2026-11-29 20:41Z): the minutes before are not its history"
        );
        // The trace holds only what the stream had: no invented zeros.
        assert_eq!(replay.trace_csv.lines().count(), 1 + 198);
        assert!(
            replay
                .trace_csv
                .lines()
                .nth(1)
                .unwrap()
                .starts_with("2026-11-29 20:42:00,")
        );
        assert_eq!(
            c.provisional().unwrap(),
            "provisional: the replay covers 198 minutes (3.3 hours), less than the day a recommendation needs to have seen the stream's daily cycle"
        );
        // History older than the stream (an earlier stream of the same
        // name, an emulator's) is replayed from its first datapoint.
        let (open, m) = metrics(1440, None);
        let replay = build("orders", &open, &m, Some(created), "t.csv").unwrap();
        assert_eq!(replay.coverage.replayed_minutes, 1440);
        assert_eq!(replay.coverage.provisional(), None);
    }
}
