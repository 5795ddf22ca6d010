//! `main`: logging, the runtime, and the one place errors are printed.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use super::{Cli, LogFormat, run_command};
use crate::error::exit;

/// The longest error message printed, in bytes.
const MAX_ERROR_BYTES: usize = 2000;

/// The command's entry point: parses the arguments, sets up logging and the
/// async runtime, runs the subcommand and prints its error once.
pub fn main() -> ExitCode {
    let args = Cli::parse();
    if args.is_sidecar() {
        // A supervisor may send SIGHUP (reload) the moment it starts the
        // sidecar. Its default action kills the process, so until `run`
        // installs its handler, a SIGHUP is ignored (the policy is read
        // fresh anyway).
        // SAFETY: setting a signal's disposition to SIG_IGN, before any
        // thread is started, has no memory-safety requirements. The
        // project's one unsafe block (`unsafe_code` is denied elsewhere).
        #[allow(unsafe_code)]
        unsafe {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            super::say(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::from(exit::FAILURE);
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Cli) -> ExitCode {
    // The SDK's own warnings (credential providers tried in turn) repeat, as
    // debug dumps, what the error message says.
    const DEFAULT_LOG: &str = "warn,kinesis_autoscaler=info,aws_config=error";
    let (filter, bad_filter) = match std::env::var("KAS_LOG") {
        Ok(text) => match tracing_subscriber::EnvFilter::try_new(&text) {
            Ok(filter) => (filter, None),
            Err(e) => (
                tracing_subscriber::EnvFilter::new(DEFAULT_LOG),
                Some(format!(
                    "KAS_LOG={} is not a log filter ({e}); using the default, {DEFAULT_LOG}",
                    crate::input::quote(&text)
                )),
            ),
        },
        Err(_) => (tracing_subscriber::EnvFilter::new(DEFAULT_LOG), None),
    };
    // A closed log pipe (a log shipper restarting, `2>&1 | head`) drops
    // log lines; it never stops the controller.
    let logs = tracing_subscriber::fmt()
        .log_internal_errors(false)
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal());
    match args.log_format {
        LogFormat::Json => logs.json().flatten_event(true).init(),
        LogFormat::Text => logs.init(),
    }
    if let Some(warning) = bad_filter {
        tracing::warn!("{warning}");
    }
    match run_command(args).await {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // Whatever the error quotes of the input, the message stays short.
            let message = crate::input::clip(&format!("{err:#}"), MAX_ERROR_BYTES);
            super::say(&format!("error: {message}"));
            let code = err
                .downcast_ref::<crate::Error>()
                .map_or(exit::FAILURE, crate::Error::exit_code);
            ExitCode::from(code)
        }
    }
}
