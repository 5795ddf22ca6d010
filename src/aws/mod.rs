//! The AWS side: SDK configuration, and the Kinesis and CloudWatch adapters
//! that implement the capability traits of [`crate::observe`].
//!
//! Clients are built once (in `main`) from the standard AWS configuration
//! chain (environment, profile, SSO, instance and IRSA roles), with the
//! per-service endpoint variables `AWS_ENDPOINT_URL_KINESIS`,
//! `AWS_ENDPOINT_URL_CLOUDWATCH` and `AWS_ENDPOINT_URL_SNS` honoured, and
//! passed in.

pub mod cloudwatch;
pub mod errors;
pub mod kinesis;
pub mod sns;

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::sync::Arc;
use std::time::Duration;

use crate::model::ApiLimiter;

pub use cloudwatch::CloudWatchMetrics;
pub use kinesis::{KinesisReader, KinesisWriter};

/// Where and as whom to call AWS; `None` leaves it to the usual chain.
#[derive(Clone, Debug, Default)]
pub(crate) struct AwsOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
}

/// Loads the SDK configuration. The SDK retries throttling and transient
/// errors itself (3 attempts); the executor's own, longer retries sit on
/// top, for resharding calls only.
pub(crate) async fn load_config(options: &AwsOptions) -> SdkConfig {
    let region = RegionProviderChain::first_try(options.region.clone().map(Region::new))
        .or_default_provider();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(20))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    loader.load().await
}

/// The adapters one process uses, built once from the SDK configuration,
/// every call of theirs paced by one limiter within the account's quotas.
#[derive(Clone, Debug)]
pub(crate) struct Clients {
    pub read: KinesisReader,
    pub write: KinesisWriter,
    pub metrics: CloudWatchMetrics,
    pub limiter: Arc<ApiLimiter>,
}

impl Clients {
    pub(crate) fn new(config: &SdkConfig, limiter: Arc<ApiLimiter>) -> Self {
        let kinesis = kinesis_client(config);
        Clients {
            read: KinesisReader::new(kinesis.clone()).with_limiter(limiter.clone()),
            write: KinesisWriter::new(kinesis).with_limiter(limiter.clone()),
            metrics: CloudWatchMetrics::new(cloudwatch_client(config))
                .with_limiter(limiter.clone()),
            limiter,
        }
    }
}

/// The Kinesis client for `config`.
pub(crate) fn kinesis_client(config: &SdkConfig) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::new(config)
}

/// What notifications publish to SNS with, for `config`'s account and
/// region.
pub fn sns_publisher(config: &SdkConfig) -> Arc<dyn crate::observe::Publish> {
    Arc::new(sns::SnsPublisher::new(config))
}

/// The CloudWatch client for `config`.
pub(crate) fn cloudwatch_client(config: &SdkConfig) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(config)
}
