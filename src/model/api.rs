//! How a call to AWS (or to the simulator) failed, classified by what the
//! caller should do next.

use super::quota::Api;

/// How an API call failed, as far as deciding what to do next goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// LimitExceededException or throttling: back off and retry.
    Throttled,
    /// LimitExceededException for a split that would pass the account's
    /// shard quota: no retry helps until the quota is raised.
    ShardQuota,
    /// ResourceInUseException: the stream is not ACTIVE (a reshard runs).
    ResourceInUse,
    /// ResourceNotFoundException: no such stream (or shard).
    NotFound,
    /// InvalidArgumentException / ValidationException: the request is wrong
    /// for the stream's current state (e.g. a shard already closed).
    InvalidArgument,
    /// AccessDeniedException: the credentials lack a permission.
    AccessDenied,
    /// The credentials themselves are wrong or expired.
    Credentials,
    /// The call timed out; it may or may not have taken effect.
    Timeout,
    /// No usable answer (connection failure, HTTP 5xx, unparseable reply);
    /// the call may or may not have taken effect.
    Unavailable,
    Other,
}

impl ApiErrorKind {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ApiErrorKind::Throttled
                | ApiErrorKind::ResourceInUse
                | ApiErrorKind::Timeout
                | ApiErrorKind::Unavailable
        )
    }
}

/// A failed call to Kinesis or CloudWatch.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {}{message}", code.as_ref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub struct ApiError {
    pub operation: Api,
    pub kind: ApiErrorKind,
    /// The AWS error code, e.g. `LimitExceededException`.
    pub code: Option<String>,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    pub fn new(
        operation: Api,
        kind: ApiErrorKind,
        code: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            operation,
            kind,
            code: code.map(str::to_owned),
            message: message.into(),
            source: None,
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
