//! Turns SDK errors into [`ApiError`]s classified by what the caller should
//! do next (see [`ApiErrorKind`]).

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::ports::{ApiError, ApiErrorKind};

/// The kind of a service error, from its AWS error code.
pub fn kind_of_code(code: &str) -> ApiErrorKind {
    match code {
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

/// Classifies a failed SDK call of `operation`.
pub fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code();
            let mut kind = code.map_or(ApiErrorKind::Other, kind_of_code);
            // An unlisted code on a 5xx, or no code at all, is the service
            // failing rather than refusing: worth retrying.
            let server_error = err
                .raw_response()
                .is_some_and(|r| r.status().is_server_error());
            if kind == ApiErrorKind::Other && (code.is_none() || server_error) {
                kind = ApiErrorKind::Unavailable;
            }
            let message = e
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
            ApiError::new(operation, kind, code, message)
        }
        SdkError::TimeoutError(_) => ApiError::new(
            operation,
            ApiErrorKind::Timeout,
            None,
            format!("no answer in time ({})", DisplayErrorContext(&err)),
        ),
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_timeout() {
                ApiErrorKind::Timeout
            } else {
                ApiErrorKind::Unavailable
            };
            ApiError::new(operation, kind, None, DisplayErrorContext(&err).to_string())
        }
        SdkError::ResponseError(_) => ApiError::new(
            operation,
            ApiErrorKind::Unavailable,
            None,
            DisplayErrorContext(&err).to_string(),
        ),
        _ => ApiError::new(
            operation,
            ApiErrorKind::Other,
            None,
            DisplayErrorContext(&err).to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_what_to_do_next() {
        assert_eq!(
            kind_of_code("LimitExceededException"),
            ApiErrorKind::Throttled
        );
        assert_eq!(
            kind_of_code("ResourceInUseException"),
            ApiErrorKind::ResourceInUse
        );
        assert_eq!(
            kind_of_code("ResourceNotFoundException"),
            ApiErrorKind::NotFound
        );
        assert_eq!(
            kind_of_code("InvalidArgumentException"),
            ApiErrorKind::InvalidArgument
        );
        assert_eq!(
            kind_of_code("AccessDeniedException"),
            ApiErrorKind::AccessDenied
        );
        assert_eq!(
            kind_of_code("ExpiredTokenException"),
            ApiErrorKind::Credentials
        );
        assert_eq!(kind_of_code("Mystery"), ApiErrorKind::Other);
    }
}
