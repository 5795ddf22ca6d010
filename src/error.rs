//! The library's error type and how each error maps to an exit code.
//!
//! Messages name the file, field, stream or shard and say what to do; the
//! underlying cause is kept as the `source`, not repeated in the text, so
//! `{:#}` prints the whole chain once.

use std::path::PathBuf;

use crate::model::{Api, ApiError, ApiErrorKind, MetricName};
use crate::observe::SnapshotError;
use crate::policy::PolicyError;
use crate::sim::scenario::ScenarioError;

/// Process exit codes, as documented in `--help` and the README.
pub mod exit {
    /// Everything asked for was done (or there was nothing to do).
    pub const OK: u8 = 0;
    /// Something failed at run time: an AWS error, a refused stream, a
    /// partly applied plan.
    pub const FAILURE: u8 = 1;
    /// Bad input: usage, policy, snapshot or scenario. Nothing was written
    /// to AWS.
    pub const BAD_INPUT: u8 = 2;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(
        "stream {} is not named in policy {}; add `- name: {}` (or a glob matching it) under `streams`",
        crate::input::quote(stream),
        policy.display(),
        crate::input::yaml_scalar(stream)
    )]
    StreamNotInPolicy { stream: String, policy: PathBuf },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A call about one stream failed.
    #[error("stream {stream}")]
    Stream {
        stream: String,
        #[source]
        source: ApiError,
    },
    /// A call not about any one stream failed (ListStreams, DescribeLimits).
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(
        "stream {stream} does not exist in this account and region; check its name in the policy, or --region / AWS_REGION"
    )]
    UnknownStream { stream: String },
    #[error(
        "stream {stream}: shard-level metrics {} are not enabled, so there is nothing to scale on; enable them with\n  aws kinesis enable-enhanced-monitoring --stream-name {stream} --shard-level-metrics {}\nor set `enable_enhanced_monitoring: true` in the policy to let apply, run and the Lambda job do it",
        missing.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", "),
        missing.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(" ")
    )]
    MetricsNotEnabled {
        stream: String,
        missing: Vec<MetricName>,
    },
    /// Something the user asked for that cannot be done as asked.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Policy(_)
            | Error::Snapshot(_)
            | Error::Scenario(_)
            | Error::StreamNotInPolicy { .. }
            | Error::Usage(_) => exit::BAD_INPUT,
            Error::Write { .. }
            | Error::Stream { .. }
            | Error::Api(_)
            | Error::UnknownStream { .. }
            | Error::MetricsNotEnabled { .. } => exit::FAILURE,
        }
    }
}

impl Error {
    /// Whether retrying later cannot help until someone changes something:
    /// a stream that does not exist or that the policy does not name, a
    /// permission or credentials the account lacks, bad input. A sidecar
    /// whose every stream fails this way pass after pass gives up.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Policy(_)
            | Error::Snapshot(_)
            | Error::Scenario(_)
            | Error::StreamNotInPolicy { .. }
            | Error::Usage(_)
            | Error::UnknownStream { .. }
            | Error::MetricsNotEnabled { .. } => true,
            Error::Stream { source, .. } | Error::Api(source) => matches!(
                source.kind,
                ApiErrorKind::NotFound
                    | ApiErrorKind::AccessDenied
                    | ApiErrorKind::Credentials
                    | ApiErrorKind::InvalidArgument
            ),
            Error::Write { .. } => false,
        }
    }

    /// A failed call about `stream`, with a plainer message when the
    /// stream simply does not exist.
    pub fn stream(stream: &str, source: ApiError) -> Self {
        if source.kind == ApiErrorKind::NotFound && source.operation == Api::DescribeStreamSummary {
            Error::UnknownStream {
                stream: stream.to_owned(),
            }
        } else {
            Error::Stream {
                stream: stream.to_owned(),
                source,
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error's whole chain on one line.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }

    text
}
