//! An in-process Kinesis: streams that follow the same resharding rules as
//! AWS, behind the same traits the AWS adapters implement, on whatever
//! clock it is given.
//!
//! The executor's and controller's tests run against it on paused tokio
//! time, and the simulator replays traffic through it.

pub mod chart;
pub mod cost;
pub mod kinesis;
pub mod on_demand;
pub mod oracle;
pub mod recommend;
pub mod replay;
pub mod scenario;
pub mod search;
pub mod strategy;
pub mod suite;
pub mod traffic;
pub mod tune;
pub mod warm;
pub mod world;

pub use kinesis::{SimConfig, SimKinesis};
pub use scenario::Scenario;
pub use world::SimWorld;
