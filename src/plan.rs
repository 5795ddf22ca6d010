//! The planner's output: the operations to run on one stream, in order, and
//! a verdict with its reason for every open shard.
//!
//! A plan is plain data. The dry-run CLI prints it, the executor applies its
//! actions, the controller logs it and the simulator replays it; none of
//! them needs to re-derive why anything was decided.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{HashKey, HashKeyRange, LayoutProblem, Shard, ShardId};
use crate::observation::{StreamMode, StreamStatus};

/// What the planner decided for one stream.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub stream: String,
    pub stream_status: StreamStatus,
    pub stream_mode: StreamMode,
    pub observed_at: DateTime<Utc>,
    /// The `now` the plan was made for; cooldowns are judged against it.
    pub planned_at: DateTime<Utc>,
    pub min_shards: u32,
    pub max_shards: u32,
    pub open_shards_before: usize,
    pub open_shards_after: usize,
    /// Why the stream gets no action at all, when the planner refused it.
    pub refused: Option<Refusal>,
    /// Operations in the order they must run; a split of a child that does
    /// not exist yet comes after the split that creates it.
    pub actions: Vec<Action>,
    /// One per open shard, in hash-key order.
    pub verdicts: Vec<ShardVerdict>,
}

impl Plan {
    pub fn splits(&self) -> impl Iterator<Item = &Split> {
        self.actions.iter().filter_map(|a| match a {
            Action::Split(s) => Some(s),
            Action::Merge(_) => None,
        })
    }

    pub fn merges(&self) -> impl Iterator<Item = &Merge> {
        self.actions.iter().filter_map(|a| match a {
            Action::Merge(m) => Some(m),
            Action::Split(_) => None,
        })
    }
}

/// Why a whole stream was left alone.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Refusal {
    /// A reshard is in progress (or the stream is being created or deleted).
    NotActive { status: StreamStatus },
    /// ON_DEMAND streams scale themselves and cannot be split or merged.
    NotProvisioned { mode: StreamMode },
    /// The open shards do not cover the key space exactly once, so any
    /// action would rest on a wrong picture of the stream.
    BrokenLayout { problems: Vec<LayoutProblem> },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotActive { status } => write!(
                f,
                "stream is {status}, not ACTIVE: a reshard is in progress or the stream is changing; it is observed again next pass"
            ),
            Refusal::NotProvisioned { mode } => write!(
                f,
                "stream is {mode}: on-demand streams scale themselves and cannot be split or merged"
            ),
            Refusal::BrokenLayout { problems } => {
                f.write_str(
                    "refusing to plan: the open shards do not cover the key space exactly once: ",
                )?;
                for (i, p) in problems.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
        }
    }
}

/// One resharding operation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    Split(Split),
    Merge(Merge),
}

/// SplitShard of the shard owning `[starting_hash_key, ending_hash_key]` at
/// `new_starting_hash_key`, its midpoint.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Split {
    /// The shard to split, or `None` for a child created earlier in this
    /// plan, which the executor finds by its hash-key range.
    pub shard_id: Option<ShardId>,
    pub starting_hash_key: HashKey,
    pub ending_hash_key: HashKey,
    pub new_starting_hash_key: HashKey,
    pub trigger: Trigger,
    pub reason: String,
}

impl Split {
    pub fn range(&self) -> HashKeyRange {
        HashKeyRange::new(self.starting_hash_key, self.ending_hash_key)
            .expect("the planner only splits valid ranges")
    }
}

/// MergeShards of two adjacent open shards: `shard_id` owns the lower
/// range `[starting_hash_key, adjacent_starting_hash_key - 1]`,
/// `adjacent_shard_id` the upper `[adjacent_starting_hash_key,
/// ending_hash_key]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Merge {
    pub shard_id: ShardId,
    pub adjacent_shard_id: ShardId,
    pub starting_hash_key: HashKey,
    pub adjacent_starting_hash_key: HashKey,
    pub ending_hash_key: HashKey,
    /// The pair's highest combined utilization over the scale-down window.
    pub projected_peak: f64,
    pub trigger: Trigger,
    pub reason: String,
}

impl Merge {
    /// The ranges of the lower and the upper shard.
    pub fn ranges(&self) -> (HashKeyRange, HashKeyRange) {
        let lower = HashKeyRange::new(
            self.starting_hash_key,
            HashKey(self.adjacent_starting_hash_key.0 - 1),
        );
        let upper = HashKeyRange::new(self.adjacent_starting_hash_key, self.ending_hash_key);
        (
            lower.expect("the planner only merges valid ranges"),
            upper.expect("the planner only merges valid ranges"),
        )
    }
}

/// What made the planner act.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Utilization at or above the scale-up threshold for long enough.
    Utilization,
    /// Throttled writes in the scale-up window.
    Throttling,
    /// Fewer open shards than `min_shards`.
    MinShards,
    /// More open shards than `max_shards`.
    MaxShards,
    /// Both shards cold for the whole scale-down window.
    Cold,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trigger::Utilization => "utilization",
            Trigger::Throttling => "throttling",
            Trigger::MinShards => "min_shards",
            Trigger::MaxShards => "max_shards",
            Trigger::Cold => "cold",
        })
    }
}

/// The kind of operation a cooldown holds back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Split,
    Merge,
}

/// The decision for one open shard and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShardVerdict {
    pub shard_id: ShardId,
    pub starting_hash_key: HashKey,
    pub ending_hash_key: HashKey,
    pub key_space_share: f64,
    /// Highest utilization over the longest policy window, if any minute
    /// has data.
    pub peak_utilization: Option<f64>,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub reason: String,
}

impl ShardVerdict {
    pub fn new(shard: &Shard, peak: Option<f64>, verdict: Verdict, reason: String) -> Self {
        ShardVerdict {
            shard_id: shard.id.clone(),
            starting_hash_key: shard.range.start(),
            ending_hash_key: shard.range.end(),
            key_space_share: shard.range.share_of_key_space(),
            peak_utilization: peak,
            verdict,
            reason,
        }
    }
}

/// The decision itself, with the numbers behind it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Split, `splits` times counting splits of its children in this plan.
    Split { trigger: Trigger, splits: u32 },
    /// Merged with its adjacent `partner`.
    Merge {
        trigger: Trigger,
        partner: ShardId,
        projected_peak: f64,
    },
    /// Neither hot nor cold: nothing to do.
    Steady,
    /// Would be split or merged, but the last reshard is too recent.
    CoolingDown {
        action: ActionKind,
        until: DateTime<Utc>,
    },
    /// Too few minutes with data to tell.
    NotEnoughData {
        present_minutes: u32,
        window_minutes: u32,
    },
    /// Hot, but the stream already has `max_shards` open shards.
    AtMaxShards { max_shards: u32 },
    /// Cold, but a merge would take the stream below `min_shards`.
    AtMinShards { min_shards: u32 },
    /// Would act, but this run's budget (`limit` = `value`) is spent.
    BudgetUsedUp { limit: &'static str, value: u32 },
    /// Hot, but its hash-key range is too narrow to split.
    RangeTooSmall,
    /// The whole stream was refused (see [`Plan::refused`]).
    Skipped,
}

impl Verdict {
    /// The short name shown in tables, e.g. `cooling_down`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Split { .. } => "split",
            Verdict::Merge { .. } => "merge",
            Verdict::Steady => "steady",
            Verdict::CoolingDown { .. } => "cooling_down",
            Verdict::NotEnoughData { .. } => "not_enough_data",
            Verdict::AtMaxShards { .. } => "at_max_shards",
            Verdict::AtMinShards { .. } => "at_min_shards",
            Verdict::BudgetUsedUp { .. } => "budget_used_up",
            Verdict::RangeTooSmall => "range_too_small",
            Verdict::Skipped => "skipped",
        }
    }
}
