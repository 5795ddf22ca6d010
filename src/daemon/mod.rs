//! The long-running controller: [`sidecar::Sidecar`] assembles it from
//! the pass loop ([`crate::pass::Runner`]), health, readiness and metrics
//! ([`status`], served by [`http`]), and policy reload (`watch`).

pub mod http;
pub mod sidecar;
pub mod status;
mod watch;

pub use watch::watch_policy;
