//! The AWS side: SDK configuration, and the Kinesis and CloudWatch adapters
//! that implement the capability traits of [`crate::observe`].
//!
//! A process acting on AWS builds one [`Live`] from the standard AWS
//! configuration chain (environment, profile, SSO, instance and IRSA
//! roles), with the per-service endpoint variables
//! `AWS_ENDPOINT_URL_KINESIS`, `AWS_ENDPOINT_URL_CLOUDWATCH` and
//! `AWS_ENDPOINT_URL_SNS` honoured: the adapters sharing one limiter, the
//! executor that paces its resharding with that limiter, and the notifier
//! that publishes to SNS. `apply`, the sidecar and the Lambda job all
//! start from it.

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

use crate::apply::{Executor, ExecutorConfig};
use crate::model::{ApiLimiter, Quotas};
use crate::notify::Notifier;
use crate::observe::SystemClock;

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

/// What one process acting on AWS builds once: its SDK configuration and
/// the adapters on it. [`Clients::executor`] and [`Live::notifier`] give the
/// rest.
#[derive(Clone, Debug)]
pub struct Live {
    pub sdk: SdkConfig,
    pub clients: Clients,
}

impl Live {
    /// Loads the SDK configuration (which calls nothing) and builds the
    /// adapters, their calls held to `quotas`.
    pub(crate) async fn connect(options: &AwsOptions, quotas: Quotas) -> Live {
        let sdk = load_config(options).await;
        let clients = Clients::new(&sdk, Arc::new(ApiLimiter::new(quotas)));
        Live { sdk, clients }
    }

    /// A notifier whose SNS targets publish with this configuration.
    pub fn notifier(&self) -> Notifier {
        Notifier::start(Some(sns_publisher(&self.sdk)))
    }
}

/// The adapters one process uses, every call of theirs counted by one
/// limiter and paced within the account's quotas (SplitShard and
/// MergeShards by the executor, before its last read of the tags).
#[derive(Clone, Debug)]
pub struct Clients {
    pub read: KinesisReader,
    pub write: KinesisWriter,
    pub metrics: CloudWatchMetrics,
    pub limiter: Arc<ApiLimiter>,
}

impl Clients {
    pub(crate) fn new(config: &SdkConfig, limiter: Arc<ApiLimiter>) -> Self {
        Clients::of(kinesis_client(config), cloudwatch_client(config), limiter)
    }

    /// The adapters on clients built elsewhere (a test's endpoints).
    pub fn of(
        kinesis: aws_sdk_kinesis::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
        limiter: Arc<ApiLimiter>,
    ) -> Self {
        Clients {
            read: KinesisReader::new(kinesis.clone()).with_limiter(limiter.clone()),
            write: KinesisWriter::new(kinesis).with_limiter(limiter.clone()),
            metrics: CloudWatchMetrics::new(cloudwatch).with_limiter(limiter.clone()),
            limiter,
        }
    }

    /// An executor on these adapters, with `config` and the system clock.
    /// It takes the slots of SplitShard and MergeShards from the limiter
    /// the adapters share, which is what keeps those calls within the
    /// account's rate (the writer leaves them to it).
    pub fn executor(
        &self,
        config: ExecutorConfig,
    ) -> Executor<'_, KinesisReader, KinesisWriter, SystemClock> {
        Executor::new(&self.read, &self.write, &SystemClock, &self.limiter).with_config(config)
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
