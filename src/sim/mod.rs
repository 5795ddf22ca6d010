//! An in-process Kinesis: streams that follow the same resharding rules as
//! AWS, behind the same traits the AWS adapters implement, on whatever
//! clock it is given.
//!
//! The executor's and controller's tests run against it on paused tokio
//! time, and the simulator replays traffic through it.

pub mod kinesis;

pub use kinesis::{SimConfig, SimKinesis};
