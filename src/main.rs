//! The `kinesis-autoscaler` command: a thin shell over the library.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use kinesis_autoscaler::error::exit;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("KAS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,kinesis_autoscaler=info"));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal());
    match args.log_format {
        cli::LogFormat::Json => logs.json().flatten_event(true).init(),
        cli::LogFormat::Text => logs.init(),
    }
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
