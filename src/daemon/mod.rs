//! The long-running controller's surroundings: health, readiness and
//! metrics ([`status`], served by [`http`]), and policy reload (`watch`).
//! The pass loop itself is [`crate::pass::Runner`].

pub mod http;
pub mod status;
mod watch;

pub use watch::watch_policy;
