//! Notifications published to SNS topics: the [`Publish`] port over the
//! SDK's Publish call, one attempt per call (the notifier's own bounded
//! attempts sit on top), with the refusals no retry mends told apart.

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_sdk_sns::error::ProvideErrorMetadata;
use futures::future::BoxFuture;

use crate::observe::{Publication, Publish, PublishError};

/// Publishes with an SNS client.
#[derive(Clone, Debug)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
}

impl SnsPublisher {
    /// A publisher for `config`'s account and region, making one attempt
    /// per call.
    pub fn new(config: &SdkConfig) -> SnsPublisher {
        let config = aws_sdk_sns::config::Builder::from(config)
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .build();
        SnsPublisher {
            client: aws_sdk_sns::Client::from_conf(config),
        }
    }
}

/// SNS error codes that another attempt cannot mend.
const PERMANENT: [&str; 4] = [
    "AuthorizationError",
    "NotFound",
    "InvalidParameter",
    "InvalidParameterValue",
];

impl Publish for SnsPublisher {
    fn publish<'a>(&'a self, message: Publication<'a>) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            let mut request = self
                .client
                .publish()
                .topic_arn(message.topic)
                .subject(message.subject)
                .message(message.body);
            if let Some((group, dedup)) = message.fifo {
                request = request
                    .message_group_id(group)
                    .message_deduplication_id(dedup);
            }
            match request.send().await {
                Ok(_) => Ok(()),
                Err(e) => {
                    let code = e.code().unwrap_or_default().to_owned();
                    Err(PublishError {
                        message: format!(
                            "SNS Publish to {} failed: {}",
                            message.topic,
                            crate::error::chain(&e)
                        ),
                        retry: !PERMANENT.contains(&code.as_str()),
                    })
                }
            }
        })
    }
}
