//! Why a live stream could not be observed.

use crate::model::{Api, ApiError, ApiErrorKind, MetricName};

/// A stream that could not be observed, or a call about the account that
/// failed.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
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
}

impl ObserveError {
    /// A failed call about `stream`, with a plainer message when the
    /// stream simply does not exist.
    pub fn stream(stream: &str, source: ApiError) -> Self {
        if source.kind == ApiErrorKind::NotFound && source.operation == Api::DescribeStreamSummary {
            ObserveError::UnknownStream {
                stream: stream.to_owned(),
            }
        } else {
            ObserveError::Stream {
                stream: stream.to_owned(),
                source,
            }
        }
    }

    /// Whether retrying later cannot help until someone changes something:
    /// a stream that does not exist, metrics not enabled, a permission or
    /// credentials the account lacks.
    pub fn is_permanent(&self) -> bool {
        match self {
            ObserveError::UnknownStream { .. } | ObserveError::MetricsNotEnabled { .. } => true,
            ObserveError::Stream { source, .. } | ObserveError::Api(source) => matches!(
                source.kind,
                ApiErrorKind::NotFound
                    | ApiErrorKind::AccessDenied
                    | ApiErrorKind::Credentials
                    | ApiErrorKind::InvalidArgument
            ),
        }
    }
}
