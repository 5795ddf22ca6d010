//! The `kinesis-autoscaler` command: a thin shell over the library's
//! command line ([`kinesis_autoscaler::cli`]).

fn main() -> std::process::ExitCode {
    kinesis_autoscaler::cli::main()
}
