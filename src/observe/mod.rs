//! What the controller sees of a stream, and how it comes to see it.
//!
//! - `snapshot`: the [`Observation`] of one stream at one moment (its
//!   shards, metrics and history), whose JSON form is the snapshot file;
//! - `ports`: the capabilities the controller needs from outside (reading
//!   and writing Kinesis, reading metrics, the clock), as traits the AWS
//!   adapters and the simulator implement;
//! - `collect`: building observations of live streams through them, and
//!   [`ObserveError`], why one could not be built;
//! - `past`: the stream-level series of earlier days that forecasts and
//!   burst statistics read, and how a sidecar keeps them;
//! - `sample`: reading a shard's records at a bounded rate, and what its
//!   partition keys say (top keys, the traffic-weighted split point).

mod collect;
mod error;
pub(crate) mod past;
mod ports;
mod sample;
mod snapshot;

pub use collect::*;
pub use error::ObserveError;
pub use ports::*;
pub use sample::*;
pub use snapshot::*;
