//! The scheduled job: one pass per invocation, within the invocation's
//! deadline, its settings from the environment ([`job`]); the Lambda
//! handler over it (feature `lambda`), which reports each stream as an
//! Embedded Metric Format line ([`emf`]).

pub mod emf;
#[cfg(feature = "lambda")]
mod handler;
pub mod job;

#[cfg(feature = "lambda")]
pub use handler::*;
