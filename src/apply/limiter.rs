//! Spacing the resharding calls across every stream of the process.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spaces SplitShard and MergeShards calls across all streams to stay
/// within the account's 5 transactions per second for each.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

/// The account's rate for SplitShard, and for MergeShards.
pub(crate) const RESHARD_CALLS_PER_SECOND: u32 = 5;

impl RateLimiter {
    /// A limiter at the account's resharding rate.
    pub fn for_reshards() -> Self {
        RateLimiter::per_second(RESHARD_CALLS_PER_SECOND)
    }

    pub fn per_second(calls: u32) -> Self {
        RateLimiter {
            interval: Duration::from_secs(1) / calls.max(1),
            next: Mutex::new(None),
        }
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}
