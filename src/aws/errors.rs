//! Turns SDK errors into [`ApiError`]s classified by what the caller should
//! do next (see [`ApiErrorKind`]).

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};

use crate::model::{Api, ApiError, ApiErrorKind};

/// The kind of a service error, from its AWS error code and message.
pub(crate) fn kind_of_error(code: &str, message: &str) -> ApiErrorKind {
    match code {
        // Kinesis refuses a split past the account's shard quota with the
        // throttling code; only the message tells them apart.
        "LimitExceededException" if message.to_lowercase().contains("shard limit") => {
            ApiErrorKind::ShardQuota
        }
        "LimitExceededException"
        | "ThrottlingException"
        | "Throttling"
        | "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException" => ApiErrorKind::Throttled,
        "ResourceInUseException" => ApiErrorKind::ResourceInUse,
        "ResourceNotFoundException" => ApiErrorKind::NotFound,
        "InvalidArgumentException"
        | "ValidationException"
        | "InvalidParameterValue"
        | "InvalidParameterCombination" => ApiErrorKind::InvalidArgument,
        "AccessDeniedException" | "AccessDenied" => ApiErrorKind::AccessDenied,
        "UnrecognizedClientException"
        | "ExpiredTokenException"
        | "ExpiredToken"
        | "InvalidSignatureException"
        | "IncompleteSignature" => ApiErrorKind::Credentials,
        "InternalFailure"
        | "InternalFailureException"
        | "ServiceUnavailable"
        | "InternalServiceFault" => ApiErrorKind::Unavailable,
        _ => ApiErrorKind::Other,
    }
}

/// The error's causes, each said once, without the debug dump the SDK's
/// own rendering appends.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Whether the call failed before it was sent, for want of credentials (a
/// profile, web identity or instance role that would not give any).
fn loading_credentials_failed(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<aws_credential_types::provider::error::CredentialsError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// Where an adapter's calls go, for messages about calls that got no
/// answer: the per-service endpoint variable (`AWS_ENDPOINT_URL_{service}`),
/// the general one, or AWS's regional endpoint `https://{host}.{region}...`.
pub(crate) fn endpoint_for(service: &str, host: &str, region: Option<&str>) -> String {
    std::env::var(format!("AWS_ENDPOINT_URL_{service}"))
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|_| match region {
            Some(region) => format!("https://{host}.{region}.amazonaws.com"),
            None => format!("the AWS {host} endpoint (no region set)"),
        })
}

/// [`classify`], naming `endpoint` when the call got no answer from it.
pub(crate) fn classify_at<E>(
    operation: Api,
    endpoint: &str,
    err: SdkError<E, HttpResponse>,
) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut e = classify(operation, err);
    if e.code.is_none() && matches!(e.kind, ApiErrorKind::Unavailable | ApiErrorKind::Timeout) {
        e.message = format!("{} (endpoint {endpoint})", e.message);
    }
    e
}

/// Classifies a failed SDK call of `operation`.
pub(crate) fn classify<E>(operation: Api, err: SdkError<E, HttpResponse>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code();
            let message = e.message().map(str::to_owned);
            let mut kind = code.map_or(ApiErrorKind::Other, |code| {
                kind_of_error(code, message.as_deref().unwrap_or_default())
            });
            // An unlisted code on a 5xx, or no code at all, is the service
            // failing rather than refusing: worth retrying.
            let server_error = err
                .raw_response()
                .is_some_and(|r| r.status().is_server_error());
            if kind == ApiErrorKind::Other && (code.is_none() || server_error) {
                kind = ApiErrorKind::Unavailable;
            }
            let message = message.unwrap_or_else(|| causes(&err));
            ApiError::new(operation, kind, code, message)
        }
        SdkError::TimeoutError(_) => ApiError::new(
            operation,
            ApiErrorKind::Timeout,
            None,
            format!("no answer in time ({})", causes(&err)),
        ),
        SdkError::DispatchFailure(d) => {
            let kind = if loading_credentials_failed(&err) {
                // No request left the process: nothing to retry soon.
                ApiErrorKind::Credentials
            } else if d.is_timeout() {
                ApiErrorKind::Timeout
            } else {
                ApiErrorKind::Unavailable
            };
            ApiError::new(operation, kind, None, causes(&err))
        }
        SdkError::ResponseError(_) => {
            ApiError::new(operation, ApiErrorKind::Unavailable, None, causes(&err))
        }
        _ => ApiError::new(operation, ApiErrorKind::Other, None, causes(&err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_what_to_do_next() {
        assert_eq!(
            kind_of_error("LimitExceededException", "Rate exceeded for stream orders"),
            ApiErrorKind::Throttled
        );
        assert_eq!(
            kind_of_error(
                "LimitExceededException",
                "This request would exceed the shard limit for the account 123456789012 in us-east-1. Current shard count for the account: 500. Limit: 500."
            ),
            ApiErrorKind::ShardQuota
        );
        assert_eq!(
            kind_of_error("ResourceInUseException", ""),
            ApiErrorKind::ResourceInUse
        );
        assert_eq!(
            kind_of_error("ResourceNotFoundException", ""),
            ApiErrorKind::NotFound
        );
        assert_eq!(
            kind_of_error("InvalidArgumentException", ""),
            ApiErrorKind::InvalidArgument
        );
        assert_eq!(
            kind_of_error("AccessDeniedException", ""),
            ApiErrorKind::AccessDenied
        );
        assert_eq!(
            kind_of_error("ExpiredTokenException", ""),
            ApiErrorKind::Credentials
        );
        assert_eq!(kind_of_error("Mystery", ""), ApiErrorKind::Other);
    }
}
