//! AWS's list prices the controller quotes (us-east-1, as published in
//! 2025; the simulator's `prices:` block overrides them, and docs/simulator.md
//! says where they come from): CloudWatch's, for the controller's own
//! reads and metrics, and a provisioned shard-hour, for what a merge saves.

/// A provisioned shard for an hour.
pub const SHARD_HOUR_USD: f64 = 0.015;

/// GetMetricData, per metric requested (whatever the window).
pub const GET_METRIC_DATA_USD_PER_METRIC: f64 = 0.01 / 1000.0;
/// A metric for a month, for an account's first 10,000 metrics (shard-level
/// Kinesis metrics are billed so for every hour they are published).
pub const METRIC_MONTH_USD: f64 = 0.30;
/// The hours CloudWatch prorates a metric-month over.
pub const HOURS_PER_MONTH: f64 = 730.0;
