//! The `kinesis-autoscaler` command: a thin shell over the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use kinesis_autoscaler::error::exit;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KAS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match cli::run(args).await {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            let code = err
                .downcast_ref::<kinesis_autoscaler::Error>()
                .map_or(exit::FAILURE, kinesis_autoscaler::Error::exit_code);
            ExitCode::from(code)
        }
    }
}
