//! The scheduled Lambda job: one pass over the policy's streams per
//! invocation. Build with `cargo lambda build --release --features lambda`.

use kinesis_autoscaler::lambda::Handler;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // JSON logs when AWS_LAMBDA_LOG_FORMAT=JSON, as Lambda's console
    // expects; text without colour codes otherwise.
    kinesis_autoscaler::lambda::init_logs();
    let handler = Handler::from_env().await?;
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move { handler.handle(event).await },
    ))
    .await
}
