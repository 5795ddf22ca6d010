//! Notifications: what a pass (or a rejected policy reload) should tell
//! people, said once per stream per `notify.repeat_after`, delivered to the
//! policy's webhooks and SNS topics off the scaling path.
//!
//! [`events`] reads a finished pass and [`Event::message`] words an event;
//! both are pure. [`Repeats`] holds back an event type already said about a
//! stream. [`Notifier`] owns the delivery task: handing it events never
//! waits, and a target that fails or hangs only costs its own bounded
//! retries, counted in [`Deliveries`].

mod deliver;

pub use deliver::*;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::apply::{StopKind, describe};
use crate::pass::StreamResult;
use crate::planner::{Action, ShardVerdict, Verdict};

/// What a notification is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Resharding operations were applied.
    Applied,
    /// The executor stopped before the end of a plan.
    Failed,
    /// Shards throttle, and `max_shards` or the account's shard quota
    /// leaves no room to split them.
    Stuck,
    /// A sampled partition key carries a hot shard: no split spreads it.
    HotKey,
    /// A changed policy file was rejected; the old policy keeps running.
    ReloadFailed,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::Applied,
        EventKind::Failed,
        EventKind::Stuck,
        EventKind::HotKey,
        EventKind::ReloadFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Applied => "applied",
            EventKind::Failed => "failed",
            EventKind::Stuck => "stuck",
            EventKind::HotKey => "hot_key",
            EventKind::ReloadFailed => "reload_failed",
        }
    }
}

/// One thing to tell, with the facts a receiver may act on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    pub event: EventKind,
    /// The stream it is about; `None` for a rejected reload.
    pub stream: Option<String>,
    /// For a rejected reload, the policy file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The shards concerned: those resharded, left unsplit or hot.
    pub shard_ids: Vec<String>,
    /// The operations concerned, each as `split SHARD at KEY` or `merge A
    /// and B`.
    pub actions: Vec<String>,
    /// Why, in the planner's or executor's words.
    pub reason: String,
    /// When the pass (or reload) that saw it finished.
    pub time: DateTime<Utc>,
    pub counts: EventCounts,
}

/// The numbers of an event (those that apply to it).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EventCounts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_shards_before: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_shards_after: Option<usize>,
    /// Operations applied, and planned but not applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_applied: Option<usize>,
    /// Throttled writes over the scale-up window, on the shards concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttled_records: Option<u64>,
}

/// What is sent: the event, a one-line `text` (what a Slack incoming
/// webhook shows), and how many events like it were held back since the
/// last message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Message {
    pub text: String,
    #[serde(flatten)]
    pub event: Event,
    /// Events of this type about this stream held back since the last
    /// message (see `notify.repeat_after`).
    pub suppressed: u64,
    pub source: &'static str,
}

impl Message {
    /// The SNS Subject: short, one line, at most 100 characters.
    pub fn subject(&self) -> String {
        let about = self
            .event
            .stream
            .as_deref()
            .or(self.event.policy.as_deref())
            .unwrap_or_default();
        let subject = format!("kinesis-autoscaler: {} {about}", self.event.event.as_str());
        let subject: String = subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(100)
            .collect();
        subject
    }
}

impl Event {
    /// The message for this event, after `suppressed` held back.
    pub fn message(self, suppressed: u64) -> Message {
        Message {
            text: self.text(suppressed),
            event: self,
            suppressed,
            source: "kinesis-autoscaler",
        }
    }

    fn text(&self, suppressed: u64) -> String {
        let c = &self.counts;
        let stream = self.stream.as_deref().unwrap_or_default();
        let shards = |n: Option<usize>| n.map_or("?".to_owned(), |n| n.to_string());
        let mut text = match self.event {
            EventKind::Applied => format!(
                "kinesis-autoscaler: stream {stream}: applied {}{}: {}",
                plural(c.applied.unwrap_or(0), "operation"),
                // An On-Demand stream's shards are AWS's.
                match (c.open_shards_before, c.open_shards_after) {
                    (None, None) => String::new(),
                    (before, after) =>
                        format!(" ({} → {} open shards)", shards(before), shards(after)),
                },
                self.actions.join("; ")
            ),
            EventKind::Failed => format!(
                "kinesis-autoscaler: stream {stream}: resharding stopped after {} of {}: {}",
                c.applied.unwrap_or(0),
                plural(
                    c.applied.unwrap_or(0) + c.not_applied.unwrap_or(0),
                    "operation"
                ),
                self.reason
            ),
            EventKind::Stuck => format!(
                "kinesis-autoscaler: stream {stream}: stuck: {} throttled writes on {} that cannot be split: {}",
                c.throttled_records.unwrap_or(0),
                self.shard_ids.join(", "),
                self.reason
            ),
            EventKind::HotKey => format!(
                "kinesis-autoscaler: stream {stream}: hot key on {}: {}",
                self.shard_ids.join(", "),
                self.reason
            ),
            EventKind::ReloadFailed => format!(
                "kinesis-autoscaler: policy {}: the new policy was rejected and the old one keeps running: {}",
                self.policy.as_deref().unwrap_or_default(),
                self.reason
            ),
        };
        if suppressed > 0 {
            text.push_str(&format!(
                " ({} like it held back since the last message)",
                plural(suppressed as usize, "more event")
            ));
        }
        text
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The events of a finished pass's `streams`, at `time`: per stream, the
/// operations applied, the stop that ended its plan early (not a shutdown
/// or a deadline: the next pass goes on), the shards throttling where no
/// split may go, and the hot keys.
pub fn events(streams: &[StreamResult], time: DateTime<Utc>) -> Vec<Event> {
    let mut out = Vec::new();
    for s in streams {
        if let Some(apply) = &s.apply {
            applied_events(s, apply, time, &mut out);
        }
        alert_events(s, time, &mut out);
    }
    out
}

/// An event of `kind` about stream `s`, with nothing else said yet.
fn stream_event(s: &StreamResult, kind: EventKind, time: DateTime<Utc>) -> Event {
    Event {
        event: kind,
        stream: Some(s.stream.clone()),
        policy: None,
        shard_ids: Vec::new(),
        actions: Vec::new(),
        reason: String::new(),
        time,
        counts: EventCounts::default(),
    }
}

/// What applying `s`'s plan did: the operations applied, the warm
/// throughput set, and the stop that ended the plan early.
fn applied_events(
    s: &StreamResult,
    apply: &crate::apply::ApplyReport,
    time: DateTime<Utc>,
    out: &mut Vec<Event>,
) {
    let event = |kind: EventKind| stream_event(s, kind, time);
    let applied: Vec<&Action> = apply.applied.iter().map(|a| &a.action).collect();
    let counts = EventCounts {
        open_shards_before: s.open_shards_before,
        open_shards_after: s.open_shards_after,
        applied: Some(apply.applied.len()),
        not_applied: Some(apply.not_applied.len()),
        throttled_records: None,
    };
    if !applied.is_empty() {
        out.push(Event {
            shard_ids: applied.iter().flat_map(|a| shard_ids(a)).collect(),
            actions: applied.iter().map(|a| describe(a)).collect(),
            reason: applied
                .iter()
                .map(|a| reason(a))
                .collect::<Vec<_>>()
                .join("; "),
            counts: counts.clone(),
            ..event(EventKind::Applied)
        });
    }
    if let Some(w) = &apply.warm_throughput {
        out.push(Event {
            actions: vec![format!(
                "warm throughput {} -> {} MiB/s",
                w.from_mib.map_or("-".into(), |m| m.to_string()),
                w.to_mib
            )],
            reason: s.warm_throughput.clone().unwrap_or_default(),
            counts: EventCounts {
                applied: Some(1),
                not_applied: Some(0),
                ..EventCounts::default()
            },
            ..event(EventKind::Applied)
        });
    }
    if let Some(stop) = &apply.stop
        && !matches!(stop.kind, StopKind::Shutdown | StopKind::Deadline)
    {
        out.push(Event {
            shard_ids: apply.not_applied.iter().flat_map(shard_ids).collect(),
            actions: apply.not_applied.iter().map(describe).collect(),
            reason: stop.message.clone(),
            counts,
            ..event(EventKind::Failed)
        });
    }
}

/// The shards of `s` throttling where no split may go, and its hot keys.
fn alert_events(s: &StreamResult, time: DateTime<Utc>, out: &mut Vec<Event>) {
    let event = |kind: EventKind| stream_event(s, kind, time);
    let stuck: Vec<&ShardVerdict> = s
        .alerts
        .iter()
        .filter(|v| {
            matches!(
                v.verdict,
                Verdict::AtMaxShards { .. } | Verdict::AtShardQuota { .. }
            ) && v.facts.throttled_records > 0.0
        })
        .collect();
    if !stuck.is_empty() {
        out.push(Event {
            shard_ids: stuck.iter().map(|v| v.shard_id.to_string()).collect(),
            reason: stuck[0].reason(),
            counts: EventCounts {
                open_shards_before: s.open_shards_before,
                throttled_records: Some(
                    stuck.iter().map(|v| v.facts.throttled_records).sum::<f64>() as u64,
                ),
                ..EventCounts::default()
            },
            ..event(EventKind::Stuck)
        });
    }
    let hot: Vec<&ShardVerdict> = s
        .alerts
        .iter()
        .filter(|v| matches!(v.verdict, Verdict::HotKey { .. }))
        .collect();
    if !hot.is_empty() {
        out.push(Event {
            shard_ids: hot.iter().map(|v| v.shard_id.to_string()).collect(),
            reason: hot
                .iter()
                .map(|v| v.reason())
                .collect::<Vec<_>>()
                .join("; "),
            ..event(EventKind::HotKey)
        });
    }
}

/// The event of a rejected policy reload.
pub fn reload_failed(policy: &std::path::Path, error: &str, time: DateTime<Utc>) -> Event {
    Event {
        event: EventKind::ReloadFailed,
        stream: None,
        policy: Some(policy.display().to_string()),
        shard_ids: Vec::new(),
        actions: Vec::new(),
        reason: error.to_owned(),
        time,
        counts: EventCounts::default(),
    }
}

fn shard_ids(action: &Action) -> Vec<String> {
    match action {
        Action::Split(s) => s.shard_id.iter().map(ToString::to_string).collect(),
        Action::Merge(m) => vec![m.shard_id.to_string(), m.adjacent_shard_id.to_string()],
    }
}

fn reason(action: &Action) -> &str {
    match action {
        Action::Split(s) => &s.reason,
        Action::Merge(m) => &m.reason,
    }
}

/// When each event type was last said about each stream (or policy file),
/// and how many like it were held back since.
#[derive(Debug, Default)]
pub struct Repeats {
    said: HashMap<(EventKind, String), (DateTime<Utc>, u64)>,
}

impl Repeats {
    /// The event type and stream (or policy file) `event` is held back by.
    fn key(event: &Event) -> (EventKind, String) {
        let about = event.stream.as_ref().or(event.policy.as_ref());
        (event.event, about.cloned().unwrap_or_default())
    }

    /// Forgets that `event`'s kind was said about its stream: it could not
    /// be queued for any target.
    pub fn forget(&mut self, event: &Event) {
        self.said.remove(&Self::key(event));
    }

    /// Whether `event` is to be sent, given `repeat_after`: `Some(n)` with
    /// the `n` like it held back since the last one sent, or `None` when it
    /// is held back (and counted).
    pub fn admit(&mut self, event: &Event, repeat_after: Duration) -> Option<u64> {
        let key = Self::key(event);
        let window = chrono::TimeDelta::from_std(repeat_after).unwrap_or(chrono::TimeDelta::MAX);
        match self.said.get_mut(&key) {
            Some((last, held)) if event.time < *last + window => {
                *held += 1;
                None
            }
            Some((last, held)) => {
                let n = *held;
                (*last, *held) = (event.time, 0);
                Some(n)
            }
            None => {
                self.said.insert(key, (event.time, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests;
