//! The library's error type and how each error maps to an exit code.
//!
//! Messages name the file, field, stream or shard and say what to do; the
//! underlying cause is kept as the `source`, not repeated in the text, so
//! `{:#}` prints the whole chain once.

use std::path::PathBuf;

use crate::observation::SnapshotError;
use crate::policy::PolicyError;

/// Process exit codes, as documented in `--help` and the README.
pub mod exit {
    /// Everything asked for was done (or there was nothing to do).
    pub const OK: u8 = 0;
    /// Something failed at run time: an AWS error, a refused stream, a
    /// partly applied plan.
    pub const FAILURE: u8 = 1;
    /// Bad input: usage, policy, snapshot or scenario. Nothing was written
    /// to AWS.
    pub const BAD_INPUT: u8 = 2;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(
        "stream {stream:?} is not named in policy {}; add `- name: {stream}` (or a glob matching it) under `streams`",
        policy.display()
    )]
    StreamNotInPolicy { stream: String, policy: PathBuf },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Policy(_) | Error::Snapshot(_) | Error::StreamNotInPolicy { .. } => {
                exit::BAD_INPUT
            }
            Error::Write { .. } => exit::FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
