//! What an omniscient controller would need, minute by minute, from the
//! offered load alone: the yardsticks the strategies are measured against.
//!
//! - *ideal*: the fewest shards that could carry the minute if split points
//!   were free: the larger of bytes and records over one shard's capacity,
//!   rounded up.
//! - *dyadic*: the fewest shards of a midpoint-split tree (the layouts a
//!   splitting controller can reach) in which no shard exceeds capacity,
//!   given where the keys fall.

use super::traffic::Traffic;
use crate::model::HashKeyRange;
use crate::model::{BYTES_PER_SHARD_MINUTE, RECORDS_PER_SHARD_MINUTE};

/// Shards needed per minute.
#[derive(Debug, Clone, PartialEq)]
pub struct Oracles {
    pub ideal: Vec<u32>,
    pub dyadic: Vec<u32>,
}

impl Oracles {
    pub fn compute(traffic: &Traffic) -> Oracles {
        let minutes = traffic.minutes();
        let mut ideal = Vec::with_capacity(minutes);
        let mut dyadic = Vec::with_capacity(minutes);
        for m in 0..minutes {
            let total = traffic.total(m);
            let need = (total.bytes / BYTES_PER_SHARD_MINUTE)
                .max(total.records / RECORDS_PER_SHARD_MINUTE);
            ideal.push((need.ceil() as u32).max(1));
            dyadic.push(dyadic_shards(traffic, HashKeyRange::FULL, m));
        }
        Oracles { ideal, dyadic }
    }

    pub fn ideal_shard_hours(&self) -> f64 {
        self.ideal.iter().map(|&n| f64::from(n)).sum::<f64>() / 60.0
    }

    pub fn dyadic_shard_hours(&self) -> f64 {
        self.dyadic.iter().map(|&n| f64::from(n)).sum::<f64>() / 60.0
    }
}

/// The fewest midpoint-split pieces of `range` that each fit one shard in
/// `minute`; a range too narrow to split counts as one however hot.
fn dyadic_shards(traffic: &Traffic, range: HashKeyRange, minute: usize) -> u32 {
    let load = traffic.offered(range, minute);
    // A relative tolerance keeps float rounding from splitting a range
    // that is exactly at capacity.
    let fits = load.bytes <= BYTES_PER_SHARD_MINUTE * (1.0 + 1e-9)
        && load.records <= RECORDS_PER_SHARD_MINUTE * (1.0 + 1e-9);
    match range.midpoint().filter(|_| !fits) {
        None => 1,
        Some(mid) => {
            let (low, high) = range.split_at(mid).expect("a midpoint splits its range");
            dyadic_shards(traffic, low, minute) + dyadic_shards(traffic, high, minute)
        }
    }
}
