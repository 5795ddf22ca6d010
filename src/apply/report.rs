//! What applying a plan reports: the operations applied, why it stopped
//! early, and the events a watcher sees while it runs (and their log
//! lines).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::apply::retry;
use crate::model::{Api, ApiError, ApiErrorKind, ShardId, StreamId, StreamStatus};
use crate::planner::{Action, describe};

/// Why the executor stopped before the end of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopKind {
    /// The stream no longer looks like the plan assumed (another process or
    /// person resharded it).
    StalePlan,
    /// The account's shard quota leaves no room for a split.
    ShardQuota,
    /// Still throttled after the last attempt.
    Throttled,
    /// The stream was deleted.
    StreamGone,
    /// Kinesis refused the request (InvalidArgument, Validation).
    Rejected,
    AccessDenied,
    /// The stream did not become ACTIVE in time.
    Timeout,
    /// Too little time left before the invocation's deadline.
    Deadline,
    /// The process was asked to stop.
    Shutdown,
    Failed,
}

/// A stop, and what it means for the operator.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stop {
    pub kind: StopKind,
    pub message: String,
}

impl Stop {
    pub(crate) fn new(kind: StopKind, message: impl Into<String>) -> Self {
        Stop {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn from_api(e: &ApiError, stream: &StreamId) -> Self {
        let kind = retry::stop_kind(e.kind);
        if kind == StopKind::ShardQuota {
            return Stop::shard_quota(stream, &e.to_string());
        }
        let hint = match e.kind {
            ApiErrorKind::AccessDenied if e.operation == Api::UpdateStreamWarmThroughput => {
                "; the controller needs kinesis:UpdateStreamWarmThroughput to manage warm throughput (see deploy/iam)"
            }
            ApiErrorKind::AccessDenied => {
                "; the controller needs kinesis:SplitShard, MergeShards, AddTagsToStream and the read permissions (see deploy/iam)"
            }
            ApiErrorKind::InvalidArgument if e.operation == Api::UpdateStreamWarmThroughput => {
                "; warm throughput needs an On-Demand stream in an account with On-Demand Advantage (UpdateAccountSettings with MinimumThroughputBillingCommitment); or set warm_throughput.enabled: false"
            }
            ApiErrorKind::Credentials => {
                "; the AWS credentials are wrong or expired: renew them (aws sso login, or the role's session)"
            }
            // A missing stream, not a missing shard (which is a stale plan).
            ApiErrorKind::NotFound
                if !matches!(e.operation, Api::SplitShard | Api::MergeShards) =>
            {
                "; was the stream deleted?"
            }
            _ => "",
        };
        let text = e.to_string();
        let text = if hint.is_empty() {
            text.as_str()
        } else {
            text.trim_end_matches('.')
        };
        Stop::new(kind, format!("stream {stream}: {text}{hint}"))
    }

    /// The account's shard quota leaves no room: `detail` says how it is
    /// known.
    pub(crate) fn shard_quota(stream: &StreamId, detail: &str) -> Self {
        Stop::new(
            StopKind::ShardQuota,
            format!(
                "stream {stream}: the account's shard quota is reached ({detail}); request a higher Kinesis shard limit or lower max_shards"
            ),
        )
    }
}

/// A warm throughput that was set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WarmApplied {
    pub from_mib: Option<u32>,
    pub to_mib: u32,
    pub at: DateTime<Utc>,
}

/// An operation that was carried out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Applied {
    #[serde(flatten)]
    pub action: Action,
    pub at: DateTime<Utc>,
    /// The shards it made (two for a split, one for a merge), as listed
    /// once the stream was ACTIVE again; empty if that listing failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ShardId>,
}

/// What happened to one stream's plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApplyReport {
    pub stream: String,
    pub applied: Vec<Applied>,
    /// The warm throughput set (UpdateStreamWarmThroughput), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_throughput: Option<WarmApplied>,
    /// The actions not carried out, in plan order.
    pub not_applied: Vec<Action>,
    pub stop: Option<Stop>,
}

impl ApplyReport {
    /// Whether every action of the plan was carried out.
    pub fn is_complete(&self) -> bool {
        self.stop.is_none() && self.not_applied.is_empty()
    }
}

/// Progress, for a progress bar or log lines.
#[derive(Debug)]
pub enum Event<'a> {
    Starting {
        stream: &'a str,
        index: usize,
        total: usize,
        action: &'a Action,
    },
    Waiting {
        stream: &'a str,
        status: StreamStatus,
    },
    Retrying {
        stream: &'a str,
        attempt: u32,
        delay: Duration,
        error: &'a ApiError,
    },
    Applied {
        stream: &'a str,
        index: usize,
        total: usize,
        action: &'a Action,
    },
    Stopped {
        stream: &'a str,
        stop: &'a Stop,
    },
}

impl fmt::Display for Event<'_> {
    /// One line for a person watching: `orders: [1/2] split ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Starting {
                stream,
                index,
                total,
                action,
            } => write!(f, "{stream}: [{}/{total}] {}", index + 1, describe(action)),
            Event::Waiting { stream, status } => {
                write!(f, "{stream}: waiting for ACTIVE (now {status})")
            }
            Event::Retrying {
                stream,
                attempt,
                delay,
                error,
            } => write!(
                f,
                "{stream}: attempt {attempt} failed ({error}); retrying in {}",
                humantime::format_duration(Duration::from_millis(delay.as_millis() as u64))
            ),
            Event::Applied {
                stream,
                index,
                total,
                action,
            } => write!(
                f,
                "{stream}: [{}/{total}] done: {}",
                index + 1,
                describe(action)
            ),
            Event::Stopped { stream, stop } => write!(f, "{stream}: stopped: {}", stop.message),
        }
    }
}

/// Logs the executor's progress through `tracing`, for the sidecar and the
/// scheduled job (which have no terminal to draw on).
pub(crate) fn log_event(event: Event<'_>) {
    match event {
        Event::Starting { stream, .. } => tracing::info!(stream, "{event}"),
        Event::Applied { stream, action, .. } => {
            tracing::info!(stream, because = action.reason(), "{event}")
        }
        Event::Waiting { stream, .. } => tracing::debug!(stream, "{event}"),
        Event::Retrying { stream, .. } => tracing::warn!(stream, "{event}"),
        Event::Stopped { stream, stop } => tracing::warn!(stream, kind = ?stop.kind, "{event}"),
    }
}
