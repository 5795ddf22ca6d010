//! Explaining: a verdict, with the numbers behind it, for every open
//! shard, including each one left alone, and the sentence (`reason`) and
//! JSON each verdict is shown as.

use chrono::SecondsFormat;
use serde::Serialize;

use super::{ActionKind, Facts, ForecastFact, Planner, ShardVerdict, Trigger, Verdict};
use crate::model::{HashKey, ShardId};

impl Planner<'_> {
    pub(super) fn verdict(&self, i: usize, verdict: Verdict) -> ShardVerdict {
        let shard = self.open[i];
        let facts = match verdict {
            Verdict::Split {
                trigger: Trigger::Forecast,
                ..
            } => self.pre_split_facts(i),
            _ => self.facts(i),
        };
        ShardVerdict {
            shard_id: shard.id.clone(),
            range: shard.range,
            peak_utilization: self.stats[i].peak,
            verdict,
            facts,
        }
    }

    /// One verdict per open shard: the decision made, or why none was.
    pub(super) fn verdicts(&mut self) -> Vec<ShardVerdict> {
        let policy = self.policy;
        (0..self.open.len())
            .map(|i| {
                let s = &self.stats[i];
                let verdict = match self.decided[i].take() {
                    Some(Verdict::Split { trigger, .. }) => Verdict::Split {
                        trigger,
                        splits: self.splits[i],
                    },
                    Some(decided) => decided,
                    None if s.cold => Verdict::Steady,
                    None if s.hot_unknown(policy) || s.cold_unknown(policy) => {
                        let (present_minutes, window_minutes, needed, to) = if s.hot_unknown(policy)
                        {
                            (
                                s.up_present,
                                policy.scale_up.window_minutes,
                                policy.scale_up.sustain_minutes,
                                ActionKind::Split,
                            )
                        } else {
                            (
                                s.down_present,
                                policy.scale_down.window_minutes,
                                policy.scale_down_minutes_needed(),
                                ActionKind::Merge,
                            )
                        };
                        match &self.open[i].parent_shard_id {
                            Some(parent) => Verdict::NewShard {
                                parent: parent.clone(),
                                present_minutes,
                                window_minutes,
                                needed_minutes: needed,
                            },
                            None => Verdict::NotEnoughData {
                                present_minutes,
                                window_minutes,
                                to,
                            },
                        }
                    }
                    None => Verdict::Steady,
                };
                self.verdict(i, verdict)
            })
            .collect()
    }
}

impl ShardVerdict {
    pub fn key_space_share(&self) -> f64 {
        self.range.share_of_key_space()
    }

    /// Why the shard got its verdict, with the numbers.
    pub fn reason(&self) -> String {
        use ActionKind::{Merge, Split};
        let group = match &self.verdict {
            Verdict::Split { .. } | Verdict::Merge { .. } => Self::acting_reason,
            Verdict::CoolingDown { action: Split, .. }
            | Verdict::NotEnoughData { to: Split, .. }
            | Verdict::AtMaxShards { .. }
            | Verdict::AtShardQuota { .. }
            | Verdict::RangeTooSmall
            | Verdict::HotKeys { .. }
            | Verdict::HotKey { .. } => Self::hot_held_reason,
            Verdict::CoolingDown { action: Merge, .. }
            | Verdict::NotEnoughData { to: Merge, .. }
            | Verdict::SplitFirst { .. }
            | Verdict::YoungSplit { .. }
            | Verdict::ForecastRise { .. }
            | Verdict::ConsumersBehind { .. }
            | Verdict::AwaitingShardMetrics { .. }
            | Verdict::AtMinShards { .. } => Self::cold_held_reason,
            Verdict::Steady if self.facts.cold => Self::cold_held_reason,
            Verdict::DailyCap { .. }
            | Verdict::NewShard { .. }
            | Verdict::BudgetUsedUp { .. }
            | Verdict::Steady
            | Verdict::Skipped { .. } => Self::other_reason,
        };
        group(self)
    }

    /// "cold (peak 0.12 over 30 minutes; ...)".
    fn cold(&self) -> String {
        let f = &self.facts;
        format!(
            "cold (peak {:.2} over {} minutes{})",
            f.scale_down_peak,
            f.scale_down_window_minutes,
            self.inferred()
        )
    }

    /// The minutes counted without a datapoint of the shard's own, if any.
    fn inferred(&self) -> String {
        let f = &self.facts;
        let estimated = f.scale_down_estimated_minutes;
        match f.scale_down_inferred_minutes - estimated {
            0 if estimated == 0 => String::new(),
            0 => format!(
                "; {estimated} estimated from the stream-level metrics and its last measured share"
            ),
            other if estimated == 0 => format!(
                "; {other} without a datapoint, idle or bounded by the stream-level metrics"
            ),
            other => format!(
                "; {estimated} estimated from the stream-level metrics and its last measured share, {other} idle or bounded by them"
            ),
        }
    }

    /// Why a split or a merge is planned.
    fn acting_reason(&self) -> String {
        let f = &self.facts;
        let hot = || describe_heat(f);
        match &self.verdict {
            Verdict::Split {
                trigger: Trigger::MinShards,
                splits,
            } => format!(
                "below min_shards {}: split {splits} time(s), widest shards first",
                f.min_shards
            ),
            Verdict::Split {
                trigger: Trigger::Forecast,
                splits,
            } => format!(
                "{}: {splits} split(s) into {} shards",
                describe_forecast(f),
                splits + 1
            ),
            Verdict::Split {
                trigger: Trigger::ConsumerLag,
                splits,
            } => format!(
                "{}: {splits} split(s) into {} shards",
                describe_lag_split_facts(f),
                splits + 1
            ),
            Verdict::Split { splits, .. } => format!(
                "{}; estimated demand {:.2}x the threshold: {splits} split(s) into {} shards",
                hot(),
                f.estimated_demand,
                splits + 1
            ),
            Verdict::Merge {
                trigger,
                partner,
                projected_peak,
            } => {
                let why = match trigger {
                    Trigger::MaxShards => format!("above max_shards {}", f.max_shards),
                    _ => format!(
                        "below {} in all of the last {} minutes (peak {:.2}{})",
                        f.scale_down_threshold,
                        f.scale_down_window_minutes,
                        f.scale_down_peak,
                        self.inferred()
                    ),
                };
                format!(
                    "merge with {partner}: {why}; merged peak {projected_peak:.2} stays under merged_ceiling {}",
                    f.merged_ceiling
                )
            }
            other => unreachable!("reason() words {other:?} elsewhere"),
        }
    }

    /// Why a hot shard is left unsplit.
    fn hot_held_reason(&self) -> String {
        let f = &self.facts;
        let hot = || describe_heat(f);
        match &self.verdict {
            Verdict::CoolingDown {
                action: ActionKind::Split,
                until,
            } => format!(
                "{}, but the split cooldown runs until {}",
                hot(),
                until.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            Verdict::NotEnoughData {
                present_minutes,
                window_minutes,
                to: ActionKind::Split,
            } => format!(
                "not enough data: {present_minutes} of the last {window_minutes} minutes have datapoints, {} hot minutes needed",
                f.sustain_minutes
            ),
            Verdict::AtMaxShards { max_shards } => {
                format!("{}, but the stream is at max_shards {max_shards}", hot())
            }
            Verdict::AtShardQuota { shard_limit } => format!(
                "{}, but the account's shard quota ({shard_limit} open shards) leaves no room; request a higher limit",
                hot()
            ),
            Verdict::RangeTooSmall => format!(
                "{}, but its hash-key range {} is too small to split",
                hot(),
                self.range
            ),
            Verdict::HotKeys {
                sibling,
                sibling_ratio,
            } => format!(
                "{}, but splitting its parent recently left {sibling} only {:.0}% of this shard's demand: a few partition keys dominate this range and another split would not spread them; spread those keys (a suffix on the partition key) or expect throttling",
                hot(),
                sibling_ratio * 100.0
            ),
            Verdict::HotKey {
                key,
                share,
                shards_worth,
                remedies,
                ..
            } => format!(
                "{}, but a sample of its records shows partition key {key} carrying {:.0}% of its load, {shards_worth:.2} shards' worth on its own: no split spreads one key, so none is made; {}",
                hot(),
                share * 100.0,
                super::remedy::advice(remedies.as_ref())
            ),
            other => unreachable!("reason() words {other:?} elsewhere"),
        }
    }

    /// Why a cold shard is left unmerged.
    fn cold_held_reason(&self) -> String {
        let f = &self.facts;
        match &self.verdict {
            Verdict::CoolingDown {
                action: ActionKind::Merge,
                until,
            } => format!(
                "{}, but the merge cooldown runs until {}",
                self.cold(),
                until.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            Verdict::SplitFirst { until } => format!(
                "{}, but this plan splits another shard first, and no merge follows a split within scale_down.cooldown (merges wait until {})",
                self.cold(),
                until.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            Verdict::YoungSplit { until } => format!(
                "{}, but a shard of its pair was made by a split less than scale_down.min_lifetime ago; merging it before {} would undo a young split",
                self.cold(),
                until.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            Verdict::NotEnoughData {
                present_minutes,
                window_minutes,
                to: ActionKind::Merge,
            } => format!(
                "not enough data to merge: {present_minutes} of the last {window_minutes} minutes have datapoints or a known load, {} needed",
                f.scale_down_minutes_needed
            ),
            Verdict::ForecastRise { forecast } => format!(
                "{}, but held: {}, above merged_ceiling {}",
                self.cold(),
                carried(forecast, "this pair"),
                f.merged_ceiling
            ),
            Verdict::ConsumersBehind { lag } => format!(
                "{}, but held: {}; a merge would halve their parallelism here",
                self.cold(),
                describe_lag(lag)
            ),
            Verdict::AwaitingShardMetrics { estimated_minutes } => format!(
                "{}, but {estimated_minutes} of those minutes are estimates, and its newest minutes have no shard-level datapoints to confirm its share: merged once they do",
                self.cold()
            ),
            Verdict::AtMinShards { min_shards } => {
                format!(
                    "{}, but a merge would go below min_shards {min_shards}",
                    self.cold()
                )
            }
            Verdict::Steady if f.cold => format!(
                "{}, but no adjacent cold shard keeps the merged peak under merged_ceiling {}",
                self.cold(),
                f.merged_ceiling
            ),
            other => unreachable!("reason() words {other:?} elsewhere"),
        }
    }

    /// The other verdicts: the daily cap, a new shard, a used-up budget, a steady or skipped shard.
    fn other_reason(&self) -> String {
        let f = &self.facts;
        let hot = || describe_heat(f);
        match &self.verdict {
            Verdict::DailyCap { cap } => format!(
                "{}, but max_reshards_per_day {cap} is used up for the day (counted in the stream's tags)",
                if f.hot.is_some() { hot() } else { self.cold() }
            ),
            Verdict::NewShard {
                parent,
                present_minutes,
                window_minutes,
                needed_minutes,
            } => format!(
                "new shard, made by a reshard of {parent}: {present_minutes} of the last {window_minutes} minutes are its own so far; it is judged once {needed_minutes} are"
            ),
            Verdict::BudgetUsedUp { action, value } => {
                let state = match action {
                    ActionKind::Split => hot(),
                    ActionKind::Merge => self.cold(),
                };
                format!(
                    "{state}, but {} {value} is used up this run",
                    action.budget_field()
                )
            }
            Verdict::Steady => format!(
                "steady: peak {:.2}{}, neither hot (>= {} in {} of {} minutes) nor cold (< {} for {} minutes)",
                self.peak_utilization.unwrap_or(0.0),
                if f.scale_up_estimated_minutes + f.scale_down_estimated_minutes > 0 {
                    " (partly estimated from the stream-level metrics and its last measured share)"
                } else {
                    ""
                },
                f.scale_up_threshold,
                f.sustain_minutes,
                f.scale_up_window_minutes,
                f.scale_down_threshold,
                f.scale_down_window_minutes
            ),
            Verdict::Skipped { because } => because.clone(),
            other => unreachable!("reason() words {other:?} elsewhere"),
        }
    }
}

/// What a forecast read, e.g. "yesterday at 18:20 this range carried
/// 1.40 shards' worth (forecast for 18:35)".
fn carried(f: &ForecastFact, what: &str) -> String {
    format!(
        "{} {what} carried {:.2} shards' worth{}",
        seen(f),
        f.peak,
        f.at.map(|t| format!(" (forecast for {})", t.format("%H:%M")))
            .unwrap_or_default()
    )
}

/// When a forecast's minute was seen, e.g. "yesterday at 18:20".
fn seen(f: &ForecastFact) -> String {
    let when = match f.season_minutes {
        1440 => "yesterday".to_owned(),
        m if m % 1440 == 0 => format!("{} days ago", m / 1440),
        m => format!(
            "{} ago",
            humantime::format_duration(std::time::Duration::from_secs(u64::from(m) * 60))
        ),
    };
    match f.seen_at {
        Some(t) => format!("{when} at {}", t.format("%H:%M")),
        None => when,
    }
}

/// Why a shard is split ahead of its forecast, e.g. "pre-split: yesterday
/// at 18:20 this range carried 1.40 shards' worth (forecast for 18:35),
/// at or above the threshold 0.8".
pub(super) fn describe_forecast(f: &Facts) -> String {
    let Some(lead) = &f.forecast_lead else {
        return "pre-split".into();
    };
    format!(
        "pre-split: {}, at or above the threshold {}",
        carried(lead, "this range"),
        f.scale_up_threshold
    )
}

/// What made a shard hot, e.g. "hot: utilization >= 0.8 in 4 of the last 5
/// minutes (peak 0.93), 120 throttled records".
pub(super) fn describe_heat(f: &Facts) -> String {
    let mut text = match f.hot {
        Some(Trigger::Throttling) => format!(
            "hot: {} throttled records in the last {} minutes (rule: {}), peak {:.2}",
            f.throttled_records,
            f.scale_up_window_minutes,
            f.throttled_records_rule,
            f.scale_up_peak
        ),
        _ => format!(
            "hot: utilization >= {} in {} of the last {} minutes (peak {:.2})",
            f.scale_up_threshold, f.hot_minutes, f.scale_up_window_minutes, f.scale_up_peak
        ),
    };
    if f.hot == Some(Trigger::Utilization) && f.throttled_records > 0.0 {
        text.push_str(&format!(", {} throttled records", f.throttled_records));
    }
    text
}

impl Serialize for ShardVerdict {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            shard_id: &'a ShardId,
            starting_hash_key: HashKey,
            ending_hash_key: HashKey,
            key_space_share: f64,
            peak_utilization: Option<f64>,
            #[serde(flatten)]
            verdict: &'a Verdict,
            reason: String,
            facts: &'a Facts,
        }
        View {
            shard_id: &self.shard_id,
            starting_hash_key: self.range.start(),
            ending_hash_key: self.range.end(),
            key_space_share: self.key_space_share(),
            peak_utilization: self.peak_utilization,
            verdict: &self.verdict,
            reason: self.reason(),
            facts: &self.facts,
        }
        .serialize(serializer)
    }
}

/// How far behind the consumers are, against the limit.
fn describe_lag(lag: &super::ConsumerLag) -> String {
    let age = |ms: f64| {
        humantime::format_duration(std::time::Duration::from_secs((ms / 1000.0).round() as u64))
            .to_string()
    };
    let source = match lag.scope {
        super::LagScope::Shard => "shard-level IteratorAgeMilliseconds",
        super::LagScope::Stream => "stream-level GetRecords.IteratorAgeMilliseconds",
    };
    format!(
        "consumers are {} behind ({source}), over consumers.max_iterator_age {}",
        age(lag.iterator_age_ms),
        age(lag.max_iterator_age_ms as f64)
    )
}

/// Why a shard is split for its consumers' lag (`scale_up_on_lag`).
pub(super) fn describe_lag_split(f: &Facts, policy: &crate::policy::StreamPolicy) -> String {
    let threshold = policy.consumers.as_ref().map_or(0.0, |c| c.read_threshold);
    format!(
        "{}, and the shard read at or above consumers.read_threshold {threshold} for {}+ minutes: a split gives its range a second consumer",
        describe_lag_split_facts(f),
        f.sustain_minutes
    )
}

/// The lag a split for consumers acts on.
fn describe_lag_split_facts(f: &Facts) -> String {
    let lag = f
        .consumer_lag
        .as_ref()
        .map_or_else(String::new, |lag| format!(": {}", describe_lag(lag)));
    format!("consumers falling further behind{lag}")
}
