//! The library's error type and how each error maps to an exit code.
//!
//! Messages name the file, field, stream or shard and say what to do; the
//! underlying cause is kept as the `source`, not repeated in the text, so
//! `{:#}` prints the whole chain once.

use std::path::PathBuf;

use crate::input::FileError;
use crate::model::ApiError;
use crate::observe::ObserveError;

/// Process exit codes, as documented in `--help` and docs/commands.md.
pub mod exit {
    /// Everything asked for was done (or there was nothing to do).
    pub const OK: u8 = 0;
    /// Something failed at run time: an AWS error, a refused stream, a
    /// partly applied plan.
    pub const FAILURE: u8 = 1;
    /// Bad input: usage, policy, snapshot or scenario. Nothing was written
    /// to AWS.
    pub const BAD_INPUT: u8 = 2;
    /// `plan --detailed-exitcode`: the plan would act (reshard, or change
    /// an On-Demand stream's warm throughput), for scripts.
    pub const WOULD_ACT: u8 = 3;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A policy, scenario, trace or snapshot that cannot be used.
    #[error(transparent)]
    File(#[from] FileError),
    #[error(
        "stream {} is not named in policy {}; add `- name: {}` (or a glob matching it) under `streams`",
        crate::input::quote(stream),
        policy.display(),
        crate::input::yaml_scalar(stream)
    )]
    StreamNotInPolicy { stream: String, policy: PathBuf },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A stream that could not be observed, or a failed call about the
    /// account.
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// Something the user asked for that cannot be done as asked.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::File(_) | Error::StreamNotInPolicy { .. } | Error::Usage(_) => exit::BAD_INPUT,
            Error::Write { .. } | Error::Observe(_) => exit::FAILURE,
        }
    }
}

impl Error {
    /// Whether retrying later cannot help until someone changes something:
    /// a stream that does not exist or that the policy does not name, a
    /// permission or credentials the account lacks, bad input. A sidecar
    /// whose every stream fails this way pass after pass gives up.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::File(_) | Error::StreamNotInPolicy { .. } | Error::Usage(_) => true,
            Error::Observe(e) => e.is_permanent(),
            Error::Write { .. } => false,
        }
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Observe(ObserveError::Api(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error's whole chain on one line.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }

    text
}
