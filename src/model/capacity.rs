//! The write and read capacity of one provisioned shard: every computation
//! of utilization, in the planner, the simulator and the reports, uses these.

/// Write capacity of one shard, bytes per second.
pub const WRITE_BYTES_PER_SECOND: f64 = 1_048_576.0;
/// Write capacity of one shard, records per second.
pub const WRITE_RECORDS_PER_SECOND: f64 = 1_000.0;
/// Shared read capacity of one shard, bytes per second.
pub const READ_BYTES_PER_SECOND: f64 = 2_097_152.0;
/// Write capacity of one shard per minute, bytes (Kinesis enforces it per
/// second).
pub(crate) const BYTES_PER_SHARD_MINUTE: f64 = 60.0 * WRITE_BYTES_PER_SECOND;
/// Write capacity of one shard per minute, records.
pub(crate) const RECORDS_PER_SHARD_MINUTE: f64 = 60.0 * WRITE_RECORDS_PER_SECOND;

/// The most shards one stream may hold (AWS's per-stream maximum; the
/// account's quota, from DescribeLimits, may be lower).
pub const MAX_SHARDS_PER_STREAM: u32 = 10_000;
/// How often a stream's capacity mode may be switched: twice per rolling
/// 24 hours.
pub const CAPACITY_MODE_SWITCHES_PER_DAY: u32 = 2;
