//! Integration tests: one crate, a module per area.

// The line limit (clippy.toml) is for the code a reader maintains; a
// test's table of cases may run longer.
#![allow(clippy::too_many_lines)]

mod bad_input;
mod cli;
mod deploy;
mod docs;
mod emulators;
mod fake_account;
mod fleet;
mod fuzz;
mod hot_keys;
#[cfg(feature = "lambda")]
mod lambda;
mod layers;
mod live;
mod mocked;
mod notify;
mod pipes;
mod properties;
mod replicas;
mod runner;
mod scenarios;
mod shapes;
mod shard_metrics;
mod simulate;
mod support;
mod tune;
