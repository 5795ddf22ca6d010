//! kinesis-autoscaler: an autoscaling resharding controller for Amazon
//! Kinesis Data Streams.
//!
//! For each stream a policy names, the controller **observes** the open
//! shards and their per-shard CloudWatch metrics, **plans** in a pure
//! function which hot shards to split at their midpoint and which cold
//! adjacent pairs to merge, and **applies** the plan one operation at a time.
//!
//! # Layout
//! One pass is **observe → plan → apply**. Each folder has one role, and
//! imports only from the layers below it (checked by `tests/it/layers.rs`):
//!
//! | layer | module | role |
//! |---|---|---|
//! | 0 | [`model`] | the vocabulary, with no dependencies: hash keys and ranges, shards, stream facts, metric names, API failures and quotas, shard capacity |
//! | 1 | [`input`] | size, depth and quoting limits on everything a user hands in; the one YAML parser; `parse_file` and `FileError`, for every kind of file |
//! | 2 | [`policy`] | the YAML policy, validated and resolved per stream |
//! | 3 | [`observe`] | what was seen of a stream (the snapshot format), the capabilities needed from outside as traits, collecting it, reading the stream's past, and sampling a shard's partition keys |
//! | 4 | [`planner`] | the pure decision, by phase (measure, forecast, headroom, economics, split, merge, explain), and the [`Plan`] it returns |
//! | 4 | [`error`] | the error type and the exit codes |
//! | 4 | `testkit` | builders for observations, for tests and benchmarks (feature `testkit`; not in a release build) |
//! | 5 | [`apply`] | the [`Executor`], its retry policy, the cooldown tags, shutdown |
//! | 6 | [`pass`] | one pass over a policy's streams, and the loop of passes ([`Runner`]) |
//! | 7 | [`sim`] | the simulated Kinesis and CloudWatch, traffic, consumers, oracles and strategies |
//! | 7 | [`notify`] | what a pass tells people, held back once said, delivered to webhooks and SNS off the scaling path |
//! | 8 | [`aws`] | the SDK adapters sharing one limiter, and [`aws::Live`], which builds them, the executor and the notifier once per process |
//! | 9 | [`daemon`] | the sidecar, assembled (`Sidecar::run`), its status, HTTP endpoints and policy reload |
//! | 9 | [`lambda`] | the scheduled job, its handler (feature `lambda`) and its Embedded Metric Format lines |
//! | 10 | [`cli`] | the command line, thin over the rest (`src/main.rs` calls [`cli::main`]) |
//!
//! # Public API
//! Modules are public so that the binaries, benchmarks and integration
//! tests can reach what they need; inside them, helpers are `pub(crate)`.
//! What a library user needs most is re-exported here: [`plan`] with its
//! inputs and output, the capability traits, the [`Executor`] and the
//! [`Runner`], and the simulated backends.

// The line limit (clippy.toml) holds for the library; the crate's own
// tests, built only with cfg(test), may run longer.
#![cfg_attr(test, allow(clippy::too_many_lines))]

pub mod apply;
pub mod aws;
pub mod cli;
pub mod daemon;
pub mod error;
pub mod input;
pub mod lambda;
pub mod model;
pub mod notify;
pub mod observe;
pub mod pass;
pub mod planner;
pub mod policy;
pub mod sim;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use apply::{ApplyReport, Executor, ExecutorConfig};
pub use error::{Error, Result, exit};
pub use model::{HashKey, HashKeyRange, Shard, ShardId, StreamId};
pub use observe::{Clock, KinesisRead, KinesisWrite, MetricsRead, Observation};
pub use pass::{PassReport, PolicyHandle, Runner, Schedule};
pub use planner::{Action, Plan, ShardVerdict, Verdict, plan};
pub use policy::{Policy, StreamPolicy};
pub use sim::{Scenario, SimKinesis, SimWorld};
