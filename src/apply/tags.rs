//! How the cooldown history is kept in the stream's own tags, so that a
//! stateless scheduled job remembers its last reshard: every invocation
//! reads it at observe time, and the executor reads it again right before
//! each operation and writes it before issuing it. Times are kept to the
//! millisecond, so that two replicas acting within one second see each
//! other.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

use crate::model::{DayCount, History, MetricName, MetricsRecord};

/// Every tag the controller writes starts with this.
pub const PREFIX: &str = "kinesis-autoscaler:";
pub const LAST_SCALE_UP: &str = "kinesis-autoscaler:last-scale-up";
pub const LAST_SCALE_DOWN: &str = "kinesis-autoscaler:last-scale-down";
/// What was done last, for people reading the tags in the console.
pub const LAST_ACTION: &str = "kinesis-autoscaler:last-action";
/// The day's count of reshards, for `max_reshards_per_day`: when the count
/// started and how many, e.g. `2026-12-01T14:00:00Z 17`.
pub const RESHARDS_TODAY: &str = "kinesis-autoscaler:reshards-today";

/// The shard-level metrics the controller enabled itself
/// (`metrics.shard_level: on_demand`) and when it last changed them, e.g.
/// `2026-12-01T14:00:00Z IncomingBytes IncomingRecords`, or `... none`.
pub const SHARD_METRICS: &str = "kinesis-autoscaler:shard-metrics";

/// Kinesis limits tag values to 256 characters.
const MAX_VALUE_LEN: usize = 256;

/// The tags that record `history`, with `note` as the last action.
pub fn encode(history: &History, note: &str) -> Vec<(String, String)> {
    let mut tags = Vec::new();
    // To the millisecond: replicas that act within the same second must
    // see each other's records (whole seconds keep their short form).
    let time = |t: DateTime<Utc>| {
        t.trunc_subsecs(3)
            .to_rfc3339_opts(SecondsFormat::AutoSi, true)
    };
    if let Some(t) = history.last_scale_up {
        tags.push((LAST_SCALE_UP.to_owned(), time(t)));
    }
    if let Some(t) = history.last_scale_down {
        tags.push((LAST_SCALE_DOWN.to_owned(), time(t)));
    }
    if let Some(d) = history.today {
        tags.push((
            RESHARDS_TODAY.to_owned(),
            format!("{} {}", time(d.since), d.operations),
        ));
    }
    if let Some(record) = &history.shard_metrics {
        tags.push(encode_metrics(record));
    }
    if !note.is_empty() {
        tags.push((LAST_ACTION.to_owned(), as_recorded(note)));
    }
    tags
}

/// The tag that records which shard-level metrics the controller enabled.
pub fn encode_metrics(record: &MetricsRecord) -> (String, String) {
    let metrics = if record.metrics.is_empty() {
        "none".to_owned()
    } else {
        record
            .metrics
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    (
        SHARD_METRICS.to_owned(),
        format!(
            "{} {metrics}",
            record
                .since
                .trunc_subsecs(3)
                .to_rfc3339_opts(SecondsFormat::AutoSi, true)
        ),
    )
}

/// `note` as the last-action tag records it: tag-safe, at most 256 bytes.
pub(crate) fn as_recorded(note: &str) -> String {
    let mut note = tag_safe(note);
    if note.len() > MAX_VALUE_LEN {
        let mut end = MAX_VALUE_LEN;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
    }
    note
}

/// `text` with only the characters Kinesis allows in tag values (letters,
/// digits, spaces and `_ . : / = + - @`): a range `[a, b]` becomes `a-b`.
fn tag_safe(text: &str) -> String {
    text.replace(", ", "-")
        .chars()
        .filter(|c| !matches!(c, '[' | ']'))
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The history recorded in a stream's tags. Tags that are absent or do not
/// parse (edited by hand, say) count as no history for that direction.
pub(crate) fn decode<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> History {
    let mut history = History::default();
    for (key, value) in tags {
        let time = DateTime::parse_from_rfc3339(value)
            .ok()
            .map(|t| t.with_timezone(&Utc));
        match key {
            LAST_SCALE_UP => history.last_scale_up = time,
            LAST_SCALE_DOWN => history.last_scale_down = time,
            LAST_ACTION => history.last_action = Some(value.to_owned()),
            SHARD_METRICS => {
                history.shard_metrics = value.split_once(' ').and_then(|(since, metrics)| {
                    Some(MetricsRecord {
                        since: DateTime::parse_from_rfc3339(since)
                            .ok()?
                            .with_timezone(&Utc),
                        metrics: match metrics {
                            "none" => Vec::new(),
                            names => names
                                .split(' ')
                                .map(MetricName::parse)
                                .collect::<Option<Vec<_>>>()?,
                        },
                    })
                })
            }
            RESHARDS_TODAY => {
                history.today = value.split_once(' ').and_then(|(since, count)| {
                    Some(DayCount {
                        since: DateTime::parse_from_rfc3339(since)
                            .ok()?
                            .with_timezone(&Utc),
                        operations: count.parse().ok()?,
                    })
                })
            }
            _ => {}
        }
    }
    history
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_round_trips_through_tags() {
        let history = History {
            last_scale_up: Some("2026-11-26T02:00:00Z".parse().unwrap()),
            last_scale_down: None,
            today: Some(DayCount {
                since: "2026-11-25T20:00:00Z".parse().unwrap(),
                operations: 17,
            }),
            last_action: None,
            shard_metrics: None,
        };
        let tags = encode(&history, "split shardId-000000000001");
        assert_eq!(
            tags,
            vec![
                (LAST_SCALE_UP.to_owned(), "2026-11-26T02:00:00Z".to_owned()),
                (
                    RESHARDS_TODAY.to_owned(),
                    "2026-11-25T20:00:00Z 17".to_owned()
                ),
                (
                    LAST_ACTION.to_owned(),
                    "split shardId-000000000001".to_owned()
                ),
            ]
        );
        let back = decode(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(
            back,
            History {
                last_action: Some("split shardId-000000000001".into()),
                ..history
            }
        );
    }

    #[test]
    fn the_metrics_the_controller_enabled_round_trip_through_a_tag() {
        let since = "2026-12-01T14:00:00Z".parse().unwrap();
        for metrics in [
            vec![MetricName::IncomingBytes, MetricName::IncomingRecords],
            Vec::new(),
        ] {
            let history = History {
                shard_metrics: Some(MetricsRecord {
                    since,
                    metrics: metrics.clone(),
                }),
                ..History::default()
            };
            let tags = encode(&history, "");
            let back = decode(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            assert_eq!(back, history);
        }
        let (key, value) = encode_metrics(&MetricsRecord {
            since,
            metrics: vec![MetricName::IncomingBytes, MetricName::IncomingRecords],
        });
        assert_eq!(key, SHARD_METRICS);
        assert_eq!(value, "2026-12-01T14:00:00Z IncomingBytes IncomingRecords");
        // A record edited into something else is no record: nothing is
        // taken for the controller's own.
        let edited = decode([(SHARD_METRICS, "2026-12-01T14:00:00Z Everything")]);
        assert_eq!(edited.shard_metrics, None);
    }

    #[test]
    fn times_are_kept_to_the_millisecond() {
        let history = History {
            last_scale_down: Some("2026-11-26T02:00:00.123456Z".parse().unwrap()),
            ..History::default()
        };
        let tags = encode(&history, "");
        assert_eq!(tags[0].1, "2026-11-26T02:00:00.123Z");
        let back = decode(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(
            back.last_scale_down,
            Some("2026-11-26T02:00:00.123Z".parse().unwrap())
        );
    }

    #[test]
    fn unreadable_tags_are_no_history() {
        let history = decode([
            (LAST_SCALE_UP, "yesterday"),
            (RESHARDS_TODAY, "17"),
            ("team", "data"),
        ]);
        assert_eq!(history, History::default());
    }

    #[test]
    fn notes_keep_to_the_characters_tags_allow() {
        let tags = encode(&History::default(), "split [0, 17] at 9; merge a,b");
        assert_eq!(tags[0].1, "split 0-17 at 9_ merge a_b");
    }

    #[test]
    fn long_notes_are_cut_to_the_tag_limit() {
        let tags = encode(&History::default(), &"é".repeat(200));
        assert!(tags[0].1.len() <= 256);
    }
}
