//! kinesis-autoscaler: an autoscaling resharding controller for Amazon
//! Kinesis Data Streams.
//!
//! For each stream a policy names, the controller **observes** the open
//! shards and their per-shard CloudWatch metrics, **plans** in a pure
//! function which hot shards to split at their midpoint and which cold
//! adjacent pairs to merge, and **applies** the plan one operation at a time.
//!
//! # Layout
//! Each folder has one role; dependencies point one way, from the entry
//! points down to the vocabulary:
//!
//! `model` ← `input` ← `policy` ← `observe` ← `planner` ← `apply` ← `pass`
//! ← (`aws`, `sim`) ← (`daemon`, `lambda`, the command line)
//!
//! - [`model`]: the vocabulary, with no dependencies: hash keys and ranges,
//!   shards, stream facts, API failures and quotas, shard capacity.
//! - [`input`]: size, depth and quoting limits on everything a user hands
//!   in, and the one YAML parser.
//! - [`policy`]: the YAML policy, validated and resolved per stream.
//! - [`observe`]: what was seen of a stream (the snapshot format), the
//!   capabilities needed from outside as traits, and collecting it.
//! - [`planner`]: the pure decision, `plan(&Observation, &StreamPolicy,
//!   now)`, and the plan it returns.
//! - [`apply`]: the executor, the cooldown tags, shutdown.
//! - [`pass`]: one pass over a policy's streams, and the loop of passes.
//! - [`aws`]: the SDK adapters, built once ([`aws::Clients`]).
//! - [`sim`]: the simulated Kinesis and CloudWatch, traffic, oracles and
//!   strategies.
//! - [`daemon`]: the sidecar's health, metrics and policy reload.
//! - [`lambda`]: the scheduled job and its handler (feature `lambda`).
//! - [`cli`]: the command line, thin over the rest (`src/main.rs` calls
//!   [`cli::main`]).
//! - [`error`]: the error type and the exit codes.
//! - [`testkit`]: builders for observations, for tests and benchmarks.

pub mod apply;
pub mod aws;
pub mod cli;
pub mod daemon;
pub mod error;
pub mod input;
pub mod lambda;
pub mod model;
pub mod observe;
pub mod pass;
pub mod planner;
pub mod policy;
pub mod sim;
pub mod testkit;

pub use error::{Error, Result};
