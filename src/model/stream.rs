//! Facts about streams as the APIs give them: names and ARNs, status and
//! capacity mode, summaries and listings, the account's shard quota, the
//! shard-level metric names, and the cooldown history.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A stream's status as DescribeStreamSummary reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamStatus {
    Creating,
    Deleting,
    Active,
    Updating,
}

impl fmt::Display for StreamStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StreamStatus::Creating => "CREATING",
            StreamStatus::Deleting => "DELETING",
            StreamStatus::Active => "ACTIVE",
            StreamStatus::Updating => "UPDATING",
        })
    }
}

/// A stream's capacity mode: only provisioned streams can be resharded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamMode {
    Provisioned,
    OnDemand,
}

impl fmt::Display for StreamMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StreamMode::Provisioned => "PROVISIONED",
            StreamMode::OnDemand => "ON_DEMAND",
        })
    }
}

/// When the controller last resharded this stream; cooldowns count from here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    #[serde(default, deserialize_with = "optional_rfc3339")]
    pub last_scale_up: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "optional_rfc3339")]
    pub last_scale_down: Option<DateTime<Utc>>,
    /// Reshards counted since the start of the current day's count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub today: Option<DayCount>,
    /// What the last recorded operation was, as its record says it (for
    /// telling another replica's record of the same operation from that of
    /// another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<String>,
    /// The shard-level metrics the controller enabled itself and has not
    /// disabled since (`metrics.shard_level: on_demand`): it disables no
    /// other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_metrics: Option<MetricsRecord>,
}

/// Which shard-level metrics the controller turned on itself, as of when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsRecord {
    /// When it last enabled or disabled any.
    #[serde(deserialize_with = "rfc3339")]
    pub since: DateTime<Utc>,
    /// Those it enabled and has not disabled since.
    pub metrics: Vec<MetricName>,
}

/// Reshard operations counted since `since`; a count older than a day is
/// over, and the next operation starts a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayCount {
    #[serde(deserialize_with = "rfc3339")]
    pub since: DateTime<Utc>,
    pub operations: u32,
}

/// How long one count of reshard operations runs.
pub const DAY: chrono::TimeDelta = chrono::TimeDelta::hours(24);

impl History {
    /// The count running at `now`, if any.
    pub fn day_at(&self, now: DateTime<Utc>) -> Option<DayCount> {
        self.today.filter(|d| now - d.since < DAY)
    }

    /// The count with one more operation at `at`: the running one, or a new
    /// one starting at `at`.
    pub fn counted(&self, at: DateTime<Utc>) -> DayCount {
        match self.day_at(at) {
            Some(d) => DayCount {
                operations: d.operations.saturating_add(1),
                ..d
            },
            None => DayCount {
                since: at,
                operations: 1,
            },
        }
    }
}

/// How API calls address a stream: by name, or by ARN (which also reaches
/// streams of other accounts the credentials may act on).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    /// The stream's name, as metrics dimensions and messages use it.
    pub name: String,
    /// The stream's ARN, when the policy named it by ARN.
    pub arn: Option<String>,
}

impl StreamId {
    pub fn named(name: impl Into<String>) -> Self {
        StreamId {
            name: name.into(),
            arn: None,
        }
    }

    /// A stream given by name, or by ARN (`arn:...:stream/NAME`).
    pub fn from_name_or_arn(text: &str) -> Self {
        match arn_stream_name(text) {
            Some(name) => StreamId {
                name: name.to_owned(),
                arn: Some(text.to_owned()),
            },
            None => StreamId::named(text),
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A stream as ListStreams lists it. Real AWS gives the status, mode and
/// ARN with the name (StreamSummaries); older APIs and emulators may give
/// the name alone.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamListing {
    pub name: String,
    pub arn: Option<String>,
    pub status: Option<StreamStatus>,
    pub mode: Option<StreamMode>,
}

impl StreamListing {
    /// A listing of the name alone.
    pub fn named(name: impl Into<String>) -> Self {
        StreamListing {
            name: name.into(),
            arn: None,
            status: None,
            mode: None,
        }
    }
}

/// What DescribeStreamSummary tells about a stream.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSummary {
    pub name: String,
    pub arn: String,
    pub status: StreamStatus,
    pub mode: StreamMode,
    pub open_shard_count: u32,
    /// Shard-level metrics enabled by enhanced monitoring.
    pub shard_level_metrics: Vec<MetricName>,
    /// StreamCreationTimestamp, when the API gave it.
    pub created_at: Option<DateTime<Utc>>,
    /// Warm throughput, present only for On-Demand streams in accounts
    /// with On-Demand Advantage (a MinimumThroughputBillingCommitment).
    pub warm_throughput: Option<WarmThroughput>,
}

/// An On-Demand stream's warm throughput (DescribeStreamSummary's
/// WarmThroughput), MiB/s of writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmThroughput {
    /// What the stream is scaling to (the last UpdateStreamWarmThroughput).
    pub target_mib: u32,
    /// What it can take now.
    pub current_mib: u32,
}

impl StreamSummary {
    /// The metrics among `needed` that enhanced monitoring does not publish.
    pub fn missing_metrics(&self, needed: &[MetricName]) -> Vec<MetricName> {
        needed
            .iter()
            .copied()
            .filter(|m| !self.shard_level_metrics.contains(m))
            .collect()
    }
}

/// The account's shard quota, from DescribeLimits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardQuota {
    /// Open shards the account may have in this region.
    pub shard_limit: u32,
    /// Open shards the account has now, across all streams.
    pub open_shard_count: u32,
}

impl ShardQuota {
    /// How many more shards the account may open.
    pub fn headroom(&self) -> u32 {
        self.shard_limit.saturating_sub(self.open_shard_count)
    }
}

/// A shard-level CloudWatch metric (in JSON, by its CloudWatch name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MetricName {
    IncomingBytes,
    IncomingRecords,
    WriteProvisionedThroughputExceeded,
    OutgoingBytes,
    OutgoingRecords,
    ReadProvisionedThroughputExceeded,
    IteratorAgeMilliseconds,
}

impl MetricName {
    pub const ALL: [MetricName; 7] = [
        MetricName::IncomingBytes,
        MetricName::IncomingRecords,
        MetricName::WriteProvisionedThroughputExceeded,
        MetricName::OutgoingBytes,
        MetricName::OutgoingRecords,
        MetricName::ReadProvisionedThroughputExceeded,
        MetricName::IteratorAgeMilliseconds,
    ];

    /// The names CloudWatch and EnableEnhancedMonitoring use, in the
    /// order of [`MetricName::ALL`].
    pub const NAMES: [&'static str; 7] = [
        "IncomingBytes",
        "IncomingRecords",
        "WriteProvisionedThroughputExceeded",
        "OutgoingBytes",
        "OutgoingRecords",
        "ReadProvisionedThroughputExceeded",
        "IteratorAgeMilliseconds",
    ];

    /// The name CloudWatch and EnableEnhancedMonitoring use.
    pub fn as_str(self) -> &'static str {
        MetricName::NAMES[self as usize]
    }

    pub fn parse(name: &str) -> Option<MetricName> {
        MetricName::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl fmt::Display for MetricName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stream name inside `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`.
pub(crate) fn arn_stream_name(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")?
        .split_once(":stream/")
        .map(|(_, name)| name)
}

/// A timestamp, with a message that shows the expected form.
pub(crate) fn rfc3339<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            serde::de::Error::custom(format_args!(
                "{} is not an RFC 3339 time ({e}); write it like 2026-11-26T02:00:00Z",
                super::quote(&text)
            ))
        })
}

pub(crate) fn optional_rfc3339<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "rfc3339")] DateTime<Utc>);
    Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(t)| t))
}
