//! kinesis-autoscaler: an autoscaling resharding controller for Amazon
//! Kinesis Data Streams.
//!
//! For each stream a policy names, the controller **observes** the open
//! shards and their per-shard CloudWatch metrics, **plans** in a pure
//! function which hot shards to split at their midpoint and which cold
//! adjacent pairs to merge, and **applies** the plan one operation at a time.
//!
//! # Layout
//! - [`model`]: hash keys, hash-key ranges, shards, and the key-space
//!   arithmetic (midpoints, adjacency, coverage).
//! - [`observation`]: what was seen of one stream; its JSON form is the
//!   snapshot file.
//! - [`policy`]: the YAML policy, validated and resolved per stream.
//! - [`planner`]: the pure decision, `plan(&Observation, &StreamPolicy, now)`.
//! - [`plan`]: the decision as data: actions and a verdict per shard.
//! - [`ports`]: the capabilities the controller needs from outside
//!   (reading and writing Kinesis, metrics, the clock), as traits.
//! - [`observe`]: builds an observation through the read capabilities.
//! - [`executor`]: applies a plan one operation at a time, safely.
//! - [`controller`]: one pass over a policy's streams.
//! - [`runner`]: passes on a schedule until shutdown, with policy reload;
//!   [`status`] and [`http`]: health, readiness and metrics endpoints.
//! - [`aws`]: the SDK adapters; [`sim`]: the simulated Kinesis.
//! - [`job`]: the scheduled job's settings; `lambda` (feature `lambda`):
//!   the Lambda handler over it.
//! - [`tags`]: the cooldown history kept in stream tags.
//! - [`quota`]: the account's API quotas and the limiter every call waits
//!   on.
//! - [`shutdown`]: the signal long waits watch.
//! - [`error`]: the error type and the exit codes.
//! - [`yaml`]: the only module that parses YAML; [`input`]: size, depth
//!   and quoting limits on everything a user hands in.
//! - [`testkit`]: builders for observations, for tests and benchmarks.

pub mod aws;
pub mod controller;
pub mod error;
pub mod executor;
pub mod http;
pub mod input;
pub mod job;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod model;
pub mod observation;
pub mod observe;
pub mod plan;
pub mod planner;
pub mod policy;
pub mod ports;
pub mod quota;
pub mod runner;
pub mod shutdown;
pub mod sim;
pub mod status;
pub mod tags;
pub mod testkit;
pub mod yaml;

pub use error::{Error, Result};
