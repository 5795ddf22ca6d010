//! Carrying out a plan: the executor applies it one operation at a time,
//! safely under throttling, faults, other writers and restarts; the
//! cooldown history is kept in the stream's tags; and a shutdown signal
//! stops it between operations.

mod executor;
mod report;
mod retry;
pub mod shutdown;
pub mod tags;

pub use executor::*;
pub use report::*;
pub(crate) use retry::backoff;
