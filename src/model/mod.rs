//! The vocabulary, with no dependency on the rest of the crate: hash keys
//! and ranges, shards, stream facts (names, status, mode, summaries,
//! metric names, quotas, history), API failures and quotas, the capacity
//! of one shard, and the list prices the controller quotes.

mod api;
mod capacity;
mod keys;
mod price;
mod quota;
mod stream;
mod text;

pub use api::*;
pub use capacity::*;
pub use keys::*;
pub use price::*;
pub use quota::*;
pub use stream::*;
pub(crate) use text::*;
