//! The planner's unit tests: the verdict table and one test per rule.

use super::*;
use crate::model::{HashKey, HashKeyRange, LayoutProblem, MetricName};
use crate::policy::SilentStream;
use crate::testkit::{StreamBuilder, assert_contains, shard_id, uniform_ranges};

fn now_of(obs: &Observation) -> DateTime<Utc> {
    obs.observed_at
}

fn run(obs: &Observation, policy: &StreamPolicy) -> Plan {
    plan(obs, policy, now_of(obs))
}

fn verdicts(plan: &Plan) -> Vec<&'static str> {
    plan.verdicts.iter().map(|v| v.verdict.name()).collect()
}

fn splits(plan: &Plan) -> Vec<&Split> {
    plan.splits().collect()
}

fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

/// A case where what matters is the verdict of every shard and how many
/// splits and merges are planned.
struct Case {
    name: &'static str,
    obs: Observation,
    policy: StreamPolicy,
    verdicts: Vec<&'static str>,
    splits: usize,
    merges: usize,
}

#[test]
fn verdict_table() {
    let p = crate::testkit::policy;
    let with = |f: fn(&mut StreamPolicy)| {
        let mut policy = crate::testkit::policy();
        f(&mut policy);
        policy
    };
    let hot_then_cool = |u| {
        let mut v = vec![Some(0.5); 30];
        v[27] = Some(u);
        v[28] = Some(u);
        v[29] = Some(u);
        v
    };
    let cases: Vec<Case> = vec![
        Case {
            name: "one hot shard among steady ones",
            obs: StreamBuilder::new("s", 3)
                .all(0.5)
                .constant(1, 0.95)
                .build(),
            policy: p(),
            verdicts: vec!["steady", "split", "steady"],
            splits: 1,
            merges: 0,
        },
        Case {
            name: "exactly at the threshold for exactly `sustain` minutes is hot",
            obs: StreamBuilder::new("s", 1)
                .utilization(0, &hot_then_cool(0.8))
                .build(),
            policy: p(),
            verdicts: vec!["split"],
            splits: 1,
            merges: 0,
        },
        Case {
            name: "just under the threshold is not hot",
            obs: StreamBuilder::new("s", 1)
                .utilization(0, &hot_then_cool(0.79))
                .build(),
            policy: p(),
            verdicts: vec!["steady"],
            splits: 0,
            merges: 0,
        },
        Case {
            name: "hot during the split cooldown",
            obs: StreamBuilder::new("s", 2)
                .all(0.95)
                .last_scale_up(minutes(3))
                .build(),
            policy: p(),
            verdicts: vec!["cooling_down", "cooling_down"],
            splits: 0,
            merges: 0,
        },
        Case {
            name: "hot after the split cooldown",
            obs: StreamBuilder::new("s", 2)
                .all(0.95)
                .last_scale_up(minutes(5))
                .build(),
            policy: p(),
            verdicts: vec!["split", "split"],
            splits: 2,
            merges: 0,
        },
        Case {
            name: "throttling alone makes a shard hot",
            obs: StreamBuilder::new("s", 2)
                .all(0.5)
                .throttled(1, 3.0, 1)
                .build(),
            policy: p(),
            verdicts: vec!["steady", "split"],
            splits: 1,
            merges: 0,
        },
        Case {
            name: "the throttling rule can be turned off",
            obs: StreamBuilder::new("s", 2)
                .all(0.5)
                .throttled(1, 3.0, 1)
                .build(),
            policy: with(|p| p.scale_up.throttled_records = 0),
            verdicts: vec!["steady", "steady"],
            splits: 0,
            merges: 0,
        },
        Case {
            name: "throttling older than the window does not count",
            obs: StreamBuilder::new("s", 1)
                .utilization(0, &{
                    let mut v = vec![Some(0.5); 30];
                    v[0] = Some(0.5);
                    v
                })
                .throttled(0, 0.0, 30)
                .build(),
            policy: p(),
            verdicts: vec!["steady"],
            splits: 0,
            merges: 0,
        },
        Case {
            name: "hot at max_shards",
            obs: StreamBuilder::new("s", 4).all(0.95).build(),
            policy: with(|p| p.max_shards = 4),
            verdicts: vec!["at_max_shards"; 4],
            splits: 0,
            merges: 0,
        },
        Case {
            name: "hot with room for one more shard",
            obs: StreamBuilder::new("s", 4).all(0.95).build(),
            policy: with(|p| p.max_shards = 5),
            verdicts: vec!["split", "at_max_shards", "at_max_shards", "at_max_shards"],
            splits: 1,
            merges: 0,
        },
        Case {
            name: "hot with room for one more shard in the account's quota",
            obs: StreamBuilder::new("s", 2)
                .all(0.95)
                .shard_quota(10, 9)
                .build(),
            policy: p(),
            verdicts: vec!["split", "at_shard_quota"],
            splits: 1,
            merges: 0,
        },
        Case {
            name: "split budget used up",
            obs: StreamBuilder::new("s", 3).all(0.95).build(),
            policy: with(|p| p.scale_up.max_splits_per_run = 2),
            verdicts: vec!["split", "split", "budget_used_up"],
            splits: 2,
            merges: 0,
        },
        Case {
            name: "cold adjacent pair merges",
            obs: StreamBuilder::new("s", 2).all(0.1).build(),
            policy: p(),
            verdicts: vec!["merge", "merge"],
            splits: 0,
            merges: 1,
        },
        Case {
            name: "cold pair whose merged peak reaches the ceiling stays",
            obs: StreamBuilder::new("s", 2).all(0.28).build(),
            policy: with(|p| p.scale_down.merged_ceiling = 0.5),
            verdicts: vec!["steady", "steady"],
            splits: 0,
            merges: 0,
        },
        Case {
            name: "cold pair at min_shards",
            obs: StreamBuilder::new("s", 2).all(0.1).build(),
            policy: with(|p| p.min_shards = 2),
            verdicts: vec!["at_min_shards", "at_min_shards"],
            splits: 0,
            merges: 0,
        },
        Case {
            name: "cold pair in the merge cooldown after a split",
            obs: StreamBuilder::new("s", 2)
                .all(0.1)
                .last_scale_up(minutes(29))
                .build(),
            policy: p(),
            verdicts: vec!["cooling_down", "cooling_down"],
            splits: 0,
            merges: 0,
        },
        Case {
            name: "cold pair in the merge cooldown after a merge",
            obs: StreamBuilder::new("s", 2)
                .all(0.1)
                .last_scale_down(minutes(10))
                .build(),
            policy: p(),
            verdicts: vec!["cooling_down", "cooling_down"],
            splits: 0,
            merges: 0,
        },
        Case {
            name: "cold pair after both cooldowns",
            obs: StreamBuilder::new("s", 2)
                .all(0.1)
                .last_scale_up(minutes(31))
                .last_scale_down(minutes(30))
                .build(),
            policy: p(),
            verdicts: vec!["merge", "merge"],
            splits: 0,
            merges: 1,
        },
        Case {
            name: "no merge in a plan that splits (the merge cooldown follows a split)",
            obs: StreamBuilder::new("s", 3)
                .constant(0, 0.95)
                .constant(1, 0.1)
                .constant(2, 0.1)
                .build(),
            policy: p(),
            verdicts: vec!["split", "split_first", "split_first"],
            splits: 1,
            merges: 0,
        },
        Case {
            name: "merge budget used up",
            obs: StreamBuilder::new("s", 4).all(0.1).build(),
            policy: with(|p| p.scale_down.max_merges_per_run = 1),
            verdicts: vec!["merge", "merge", "budget_used_up", "budget_used_up"],
            splits: 0,
            merges: 1,
        },
        Case {
            name: "a cold shard next to a warm one has no partner",
            obs: StreamBuilder::new("s", 2)
                .constant(0, 0.1)
                .constant(1, 0.5)
                .build(),
            policy: p(),
            verdicts: vec!["steady", "steady"],
            splits: 0,
            merges: 0,
        },
        Case {
            name: "no metrics at all",
            obs: StreamBuilder::new("s", 2).build(),
            policy: p(),
            verdicts: vec!["not_enough_data", "not_enough_data"],
            splits: 0,
            merges: 0,
        },
        Case {
            name: "read load counts only when enabled",
            obs: StreamBuilder::new("s", 1)
                .constant(0, 0.1)
                .reads(0, 0.9)
                .build(),
            policy: p(),
            verdicts: vec!["steady"],
            splits: 0,
            merges: 0,
        },
        Case {
            name: "read load above the read threshold splits when enabled",
            obs: StreamBuilder::new("s", 1)
                .constant(0, 0.1)
                .reads(0, 0.9)
                .build(),
            policy: with(|p| p.read.enabled = true),
            verdicts: vec!["split"],
            splits: 1,
            merges: 0,
        },
        Case {
            name: "records, not bytes, can make a shard hot",
            obs: StreamBuilder::new("s", 1).records(0, 0.85, 0.0).build(),
            policy: p(),
            verdicts: vec!["split"],
            splits: 1,
            merges: 0,
        },
    ];
    for Case {
        name,
        obs,
        policy,
        verdicts: expected,
        splits: n_splits,
        merges: n_merges,
    } in cases
    {
        let plan = run(&obs, &policy);
        assert_eq!(verdicts(&plan), expected, "{name}");
        assert_eq!(plan.splits().count(), n_splits, "{name}: splits");
        assert_eq!(plan.merges().count(), n_merges, "{name}: merges");
        assert_eq!(
            plan.open_shards_after,
            plan.open_shards_before + n_splits - n_merges,
            "{name}: open_shards_after"
        );
    }
}

#[test]
fn splits_the_full_range_at_two_to_the_127() {
    let obs = StreamBuilder::new("orders", 1).constant(0, 0.9).build();
    let plan = run(&obs, &crate::testkit::policy());
    let s = splits(&plan);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].shard_id, Some(shard_id(0)));
    assert_eq!(
        s[0].new_starting_hash_key.to_string(),
        "170141183460469231731687303715884105728"
    );
    assert_eq!(s[0].trigger, Trigger::Utilization);
}

#[test]
fn splits_a_shard_that_does_not_start_at_zero_at_its_own_midpoint() {
    let ranges = uniform_ranges(4);
    let obs = StreamBuilder::new("s", 4).all(0.5).constant(2, 0.9).build();
    let plan = run(&obs, &crate::testkit::policy());
    let s = splits(&plan);
    assert_eq!(s.len(), 1);
    let r = ranges[2];
    assert_eq!(s[0].shard_id, Some(shard_id(2)));
    assert_eq!(
        (s[0].starting_hash_key, s[0].ending_hash_key),
        (r.start(), r.end())
    );
    assert_eq!(
        s[0].new_starting_hash_key.0,
        r.start().0 + (r.end().0 - r.start().0) / 2 + 1
    );
}

#[test]
fn heavy_throttling_splits_deeper_in_one_plan() {
    // Records-bound at 100% with three times as many records throttled:
    // demand is 4 shards' worth, 5x the 0.8 threshold, so the shard is
    // split into 8 pieces of 0.625x each: 1 + 2 + 4 = 7 splits.
    let obs = StreamBuilder::new("s", 1)
        .records(0, 1.0, 180_000.0)
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    let s = splits(&plan);
    assert_eq!(s.len(), 7);
    assert_eq!(plan.open_shards_after, 8);
    assert_eq!(s[0].shard_id, Some(shard_id(0)));
    assert!(
        s[1..].iter().all(|s| s.shard_id.is_none()),
        "children are addressed by range"
    );
    assert_eq!(s[0].trigger, Trigger::Utilization);
    // Every child split addresses a range an earlier split created.
    let mut layout = vec![HashKeyRange::FULL];
    for split in &s {
        let i = layout
            .iter()
            .position(|r| *r == split.range())
            .expect("split of an existing range");
        let (lo, hi) = split.range().split_at(split.new_starting_hash_key).unwrap();
        layout.splice(i..=i, [lo, hi]);
    }
    assert_eq!(layout, uniform_ranges_by_halving(3));
    assert_eq!(
        plan.verdicts[0].verdict,
        Verdict::Split {
            trigger: Trigger::Utilization,
            splits: 7
        }
    );
}

/// The layout after splitting the full range `depth` times at midpoints.
fn uniform_ranges_by_halving(depth: u32) -> Vec<HashKeyRange> {
    let mut layout = vec![HashKeyRange::FULL];
    for _ in 0..depth {
        layout = layout
            .iter()
            .flat_map(|r| {
                let (a, b) = r.split_at(r.midpoint().unwrap()).unwrap();
                [a, b]
            })
            .collect();
    }
    layout
}

#[test]
fn deep_splits_stop_at_the_budget_and_at_max_shards() {
    let obs = StreamBuilder::new("s", 1)
        .records(0, 1.0, 180_000.0)
        .build();
    let mut policy = crate::testkit::policy();
    policy.scale_up.max_splits_per_run = 3;
    assert_eq!(run(&obs, &policy).splits().count(), 3);
    policy.scale_up.max_splits_per_run = 8;
    policy.max_shards = 5;
    let plan = run(&obs, &policy);
    assert_eq!(plan.splits().count(), 4);
    assert_eq!(plan.open_shards_after, 5);
}

#[test]
fn the_hottest_pieces_are_split_first() {
    // Shard 1's demand is 2.5x the threshold, shard 0's 1.2x. Shard 1 is
    // split first; its halves (1.25x each) are still hotter than shard 0,
    // so with a budget of 2 the second split goes to one of them.
    let obs = StreamBuilder::new("s", 2)
        .records(0, 0.96, 0.0)
        .records(1, 1.0, 60_000.0)
        .build();
    let mut policy = crate::testkit::policy();
    policy.scale_up.max_splits_per_run = 2;
    let plan = run(&obs, &policy);
    let s = splits(&plan);
    assert_eq!(s[0].shard_id, Some(shard_id(1)));
    assert_eq!(s[1].shard_id, None);
    assert_eq!(
        s[1].starting_hash_key, s[0].starting_hash_key,
        "the lower half goes first on a tie"
    );
    assert_eq!(verdicts(&plan), vec!["budget_used_up", "split"]);
    let held = &plan.verdicts[0];
    let json = serde_json::to_value(held).unwrap();
    assert_eq!(json["verdict"], "budget_used_up");
    assert_eq!(json["limit"], "max_splits_per_run");
    assert_eq!(json["value"], 2);
    assert!(
        held.reason()
            .ends_with("but max_splits_per_run 2 is used up this run"),
        "{}",
        held.reason()
    );
}

#[test]
fn cooldown_verdict_says_until_when() {
    let obs = StreamBuilder::new("s", 1)
        .constant(0, 0.95)
        .last_scale_up(minutes(2))
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    let until = obs.observed_at + minutes(3);
    assert_eq!(
        plan.verdicts[0].verdict,
        Verdict::CoolingDown {
            action: ActionKind::Split,
            until
        }
    );
    assert_contains(&plan.verdicts[0].reason(), "2026-11-26T02:03:00Z");
}

#[test]
fn missing_minutes_beyond_max_missing_never_count_as_cold() {
    // Shard 1 lost 4 of its 30 minutes, and so did the stream-level
    // series: nothing bounds what it took then. 26 < 27 needed.
    let obs = StreamBuilder::new("s", 2)
        .all(0.05)
        .stream_totals()
        .drop_minutes(1, &[5, 12, 13, 20])
        .drop_stream_minutes(&[5, 12, 13, 20])
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    assert_eq!(plan.merges().count(), 0);
    assert_eq!(
        plan.verdicts[1].verdict,
        Verdict::NotEnoughData {
            present_minutes: 26,
            window_minutes: 30,
            to: ActionKind::Merge,
        }
    );
    assert_contains(
        &plan.verdicts[1].reason(),
        "26 of the last 30 minutes have datapoints or a known load, 27 needed",
    );
    assert_eq!(
        plan.verdicts[0].verdict,
        Verdict::Steady,
        "cold but no partner with enough data"
    );
    // Three lost minutes are within max_missing (10% of 30): the 27
    // present are all cold, so the pair merges.
    let tolerated = StreamBuilder::new("s", 2)
        .all(0.05)
        .stream_totals()
        .drop_minutes(1, &[5, 12, 20])
        .drop_stream_minutes(&[5, 12, 20])
        .build();
    assert_eq!(
        run(&tolerated, &crate::testkit::policy()).merges().count(),
        1
    );
    // With max_missing 0, every minute must be there.
    let mut strict = crate::testkit::policy();
    strict.scale_down.max_missing = 0.0;
    assert_eq!(run(&tolerated, &strict).merges().count(), 0);
}

#[test]
fn a_lost_datapoint_is_bounded_by_the_stream_level_metrics_never_trusted() {
    // Shard 1 carries 0.5 except in minute 12, whose datapoint was lost
    // while the stream-level series kept its records: the bound (0.5)
    // is not cold, so the loss cannot make the shard cold.
    let mut minutes = vec![Some(0.05); 30];
    minutes[12] = Some(0.5);
    let obs = StreamBuilder::new("s", 2)
        .constant(0, 0.05)
        .utilization(1, &minutes)
        .stream_totals()
        .drop_minutes(1, &[12])
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    assert_eq!(plan.merges().count(), 0);
    assert!(!plan.verdicts[1].facts.cold);
    assert!((plan.verdicts[1].facts.scale_down_peak - 0.5).abs() < 1e-9);
    // Lost where it was quiet, the bound is quiet too: cold, and the
    // reason says one minute was inferred.
    let quiet = StreamBuilder::new("s", 2)
        .all(0.05)
        .stream_totals()
        .drop_minutes(1, &[12])
        .build();
    let plan = run(&quiet, &crate::testkit::policy());
    assert_eq!(plan.merges().count(), 1);
    assert_eq!(plan.verdicts[1].facts.scale_down_inferred_minutes, 1);
    assert_contains(
        &plan.verdicts[1].reason(),
        "1 without a datapoint, idle or bounded by the stream-level metrics",
    );
}

#[test]
fn a_shard_missing_only_while_its_neighbours_publish_is_idle() {
    // Shard 1 took no records, so CloudWatch published nothing for it.
    let silent_neighbour = || {
        StreamBuilder::new("s", 3)
            .constant(0, 0.1)
            .constant(2, 0.5)
            .drop_minutes(1, &(0..30).collect::<Vec<_>>())
    };
    // Without stream-level series, the neighbours' datapoints say so.
    let plan = run(&silent_neighbour().build(), &crate::testkit::policy());
    assert_eq!(verdicts(&plan), vec!["merge", "merge", "steady"]);
    assert_eq!(plan.verdicts[1].peak_utilization, Some(0.0));
    assert_eq!(plan.verdicts[1].facts.scale_down_inferred_minutes, 30);
    // With them, the records the stream took are all accounted for.
    let plan = run(
        &silent_neighbour().stream_totals().build(),
        &crate::testkit::policy(),
    );
    assert_eq!(verdicts(&plan), vec!["merge", "merge", "steady"]);
    // But where the stream took more than the publishing shards, the
    // silent one is not idle: bounded by the rest, 0.4 here, not cold.
    let busy = silent_neighbour()
        .constant(1, 0.4)
        .stream_totals()
        .drop_minutes(1, &(0..30).collect::<Vec<_>>())
        .build();
    let plan = run(&busy, &crate::testkit::policy());
    assert_eq!(plan.merges().count(), 0);
    assert!((plan.verdicts[1].facts.scale_down_peak - 0.4).abs() < 1e-9);
}

#[test]
fn windows_end_at_the_newest_minute_with_data_and_the_lag_is_reported() {
    // CloudWatch 1 to 5 minutes late; the policy's least delay is 1m.
    for lag in 1..=5 {
        let obs = StreamBuilder::new("s", 2)
            .all(0.1)
            .stream_totals()
            .lag(minutes(lag))
            .build();
        let policy = StreamPolicy {
            metrics_delay: std::time::Duration::from_secs(60),
            ..crate::testkit::policy()
        };
        let plan = run(&obs, &policy);
        assert_eq!(plan.metrics.lag_seconds(), Some(lag * 60), "lag {lag}m");
        assert_eq!(
            plan.merges().count(),
            1,
            "lag {lag}m: {:?}",
            plan.verdicts[0]
        );
        assert_eq!(
            plan.metrics,
            MetricsFreshness::Newest {
                minute: obs.observed_at - minutes(lag + 1),
                lag_seconds: lag * 60
            }
        );
    }
}

#[test]
fn metrics_later_than_max_lag_refuse_the_stream_with_the_reason() {
    let obs = StreamBuilder::new("s", 2)
        .all(0.95)
        .lag(minutes(16))
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    assert!(plan.actions.is_empty());
    assert_eq!(
        plan.refused,
        Some(Refusal::MetricsLate {
            newest_minute: obs.observed_at - minutes(17),
            lag_seconds: 16 * 60,
            max_lag_seconds: 15 * 60,
        })
    );
    assert_contains(
        &plan.verdicts[0].reason(),
        "the newest datapoint of the stream, for 2026-11-26T01:43:00Z, is 16m old, more than metrics.max_lag 15m",
    );
    let patient = StreamPolicy {
        metrics_max_lag: std::time::Duration::from_secs(20 * 60),
        ..crate::testkit::policy()
    };
    assert_eq!(run(&obs, &patient).splits().count(), 2);
}

#[test]
fn a_stream_silent_for_the_window_and_max_lag_is_idle() {
    // No datapoint anywhere in a read reaching 45 minutes back (30 + 15),
    // stream-level included, by a stream created a day ago. (The builder
    // counts complete minutes; the last 2 are inside the delay.)
    let silent = |covered: usize| {
        StreamBuilder::new("s", 4)
            .minutes(covered - 2)
            .created(TimeDelta::days(1))
    };
    // What a pass reads with the default policy is long enough: the
    // window, max_lag and the minute in progress.
    let read = crate::testkit::policy().fetch_minutes() as usize;
    let plan = run(&silent(read).build(), &crate::testkit::policy());
    assert_eq!(plan.metrics, MetricsFreshness::Silent { idle: true });
    let plan = run(&silent(45).build(), &crate::testkit::policy());
    assert_eq!(plan.metrics, MetricsFreshness::Silent { idle: true });
    assert_eq!(plan.merges().count(), 2);
    assert!(plan.merges().all(|m| m.projected_peak == 0.0));
    // Silent for less than that: CloudWatch may be down; nothing merges.
    let plan = run(&silent(44).build(), &crate::testkit::policy());
    assert_eq!(plan.metrics, MetricsFreshness::Silent { idle: false });
    assert_eq!(plan.merges().count(), 0);
    assert_eq!(verdicts(&plan), vec!["not_enough_data"; 4]);
    // Created 40 minutes ago: silence before that says nothing.
    let young = StreamBuilder::new("s", 4)
        .minutes(43)
        .created(minutes(40))
        .build();
    assert_eq!(run(&young, &crate::testkit::policy()).merges().count(), 0);
    // And a policy may refuse to read silence as idleness.
    let cautious = StreamPolicy {
        silent_stream: SilentStream::Unknown,
        ..crate::testkit::policy()
    };
    assert_eq!(run(&silent(45).build(), &cautious).merges().count(), 0);
}

#[test]
fn a_child_without_history_is_bounded_by_what_the_stream_took() {
    // Shards 1 and 2 came from a merge 20 minutes ago and have only 18
    // minutes of datapoints (two more in the delay); before that, the
    // stream-level series show the whole stream quiet.
    let young: Vec<usize> = (0..12).collect();
    let obs = StreamBuilder::new("s", 4)
        .all(0.05)
        .stream_totals()
        .drop_minutes(1, &young)
        .drop_minutes(2, &young)
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    assert_eq!(plan.merges().count(), 2, "{:?}", verdicts(&plan));
    assert_eq!(plan.verdicts[1].facts.scale_down_inferred_minutes, 12);
}

#[test]
fn missing_minutes_never_count_as_hot() {
    // Two hot minutes, two missing and the newest present: sustain 3
    // cannot be decided.
    let mut minutes = vec![Some(0.5); 30];
    minutes[25] = Some(0.95);
    minutes[26] = Some(0.95);
    minutes[27] = None;
    minutes[28] = None;
    let obs = StreamBuilder::new("s", 1).utilization(0, &minutes).build();
    let plan = run(&obs, &crate::testkit::policy());
    assert_eq!(plan.actions, vec![]);
    assert_eq!(
        plan.verdicts[0].verdict,
        Verdict::NotEnoughData {
            present_minutes: 3,
            window_minutes: 5,
            to: ActionKind::Split,
        }
    );
}

#[test]
fn the_newest_minutes_inside_the_delay_are_ignored() {
    let mut minutes = vec![Some(0.5); 30];
    minutes[27] = Some(0.95);
    minutes[28] = Some(0.95);
    minutes[29] = Some(0.95);
    let obs = StreamBuilder::new("s", 1).utilization(0, &minutes).build();
    let mut policy = crate::testkit::policy();
    assert_eq!(run(&obs, &policy).splits().count(), 1);
    // With a 3-minute delay the newest hot minute is not complete yet.
    policy.metrics_delay = std::time::Duration::from_secs(180);
    assert_eq!(verdicts(&run(&obs, &policy)), vec!["steady"]);
}

#[test]
fn the_coolest_pairs_merge_first_without_overlapping() {
    let obs = StreamBuilder::new("s", 4)
        .constant(0, 0.20)
        .constant(1, 0.05)
        .constant(2, 0.06)
        .constant(3, 0.20)
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    let merges: Vec<_> = plan.merges().collect();
    assert_eq!(merges.len(), 1);
    assert_eq!(
        (&merges[0].shard_id, &merges[0].adjacent_shard_id),
        (&shard_id(1), &shard_id(2))
    );
    assert!((merges[0].projected_peak - 0.11).abs() < 1e-9);
    assert_eq!(verdicts(&plan), vec!["steady", "merge", "merge", "steady"]);
    let ranges = uniform_ranges(4);
    assert_eq!(merges[0].ranges(), (ranges[1], ranges[2]));
}

#[test]
fn merged_peak_sums_the_pair_minute_by_minute() {
    // Each shard peaks at 0.29 but in different minutes: the merged
    // shard never exceeds 0.29 + 0.05.
    let a: Vec<_> = (0..30)
        .map(|m| Some(if m % 2 == 0 { 0.29 } else { 0.05 }))
        .collect();
    let b: Vec<_> = (0..30)
        .map(|m| Some(if m % 2 == 1 { 0.29 } else { 0.05 }))
        .collect();
    let obs = StreamBuilder::new("s", 2)
        .utilization(0, &a)
        .utilization(1, &b)
        .build();
    let mut policy = crate::testkit::policy();
    policy.scale_down.merged_ceiling = 0.4;
    let plan = run(&obs, &policy);
    let m = plan.merges().next().expect("a merge");
    assert!(
        (m.projected_peak - 0.34).abs() < 1e-9,
        "{}",
        m.projected_peak
    );
}

#[test]
fn below_min_shards_splits_the_widest_even_in_cooldown() {
    let obs = StreamBuilder::new("s", 1)
        .constant(0, 0.1)
        .last_scale_up(minutes(1))
        .build();
    let policy = StreamPolicy {
        min_shards: 4,
        ..crate::testkit::policy()
    };
    let plan = run(&obs, &policy);
    assert_eq!(plan.open_shards_after, 4);
    let mut layout = vec![HashKeyRange::FULL];
    for s in plan.splits() {
        assert_eq!(s.trigger, Trigger::MinShards);
        let i = layout.iter().position(|r| *r == s.range()).unwrap();
        let (lo, hi) = s.range().split_at(s.new_starting_hash_key).unwrap();
        layout.splice(i..=i, [lo, hi]);
    }
    assert_eq!(layout, uniform_ranges_by_halving(2));
    assert_eq!(plan.merges().count(), 0, "never merge below min_shards");
}

#[test]
fn above_max_shards_merges_the_coolest_pairs_that_fit_even_in_cooldown() {
    let obs = StreamBuilder::new("s", 6)
        .constant(0, 0.30)
        .constant(1, 0.25)
        .constant(2, 0.25)
        .constant(3, 0.20)
        .constant(4, 0.5)
        .constant(5, 0.5)
        .last_scale_down(minutes(1))
        .build();
    let policy = StreamPolicy {
        max_shards: 4,
        ..crate::testkit::policy()
    };
    let plan = run(&obs, &policy);
    let merges: Vec<_> = plan.merges().collect();
    assert_eq!(merges.len(), 2);
    assert!(merges.iter().all(|m| m.trigger == Trigger::MaxShards));
    assert_eq!(merges[0].shard_id, shard_id(2), "coolest pair first: 0.45");
    assert_eq!(
        merges[1].shard_id,
        shard_id(0),
        "then 0.55; 0.50 overlaps the first"
    );
    assert_eq!(
        verdicts(&plan),
        vec!["merge", "merge", "merge", "merge", "steady", "steady"]
    );
    assert_eq!(plan.open_shards_after, 4);
}

#[test]
fn streams_that_are_not_active_or_not_provisioned_are_skipped() {
    for (obs, want) in [
        (
            StreamBuilder::new("s", 2)
                .all(0.95)
                .status(StreamStatus::Updating)
                .build(),
            "UPDATING",
        ),
        (
            StreamBuilder::new("s", 2)
                .all(0.95)
                .mode(StreamMode::OnDemand)
                .build(),
            "ON_DEMAND",
        ),
    ] {
        let plan = run(&obs, &crate::testkit::policy());
        assert!(plan.actions.is_empty());
        assert_eq!(verdicts(&plan), vec!["skipped", "skipped"]);
        assert!(plan.refused.as_ref().unwrap().to_string().contains(want));
        assert!(plan.verdicts[0].reason().contains(want));
    }
}

#[test]
fn a_layout_with_a_gap_is_refused_with_the_missing_keys() {
    let ranges = uniform_ranges(3);
    let obs = StreamBuilder::with_ranges("s", &[ranges[0], ranges[2]])
        .all(0.95)
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    assert!(plan.actions.is_empty());
    assert_eq!(
        plan.refused,
        Some(Refusal::BrokenLayout {
            problems: vec![LayoutProblem::Gap {
                from: ranges[1].start(),
                to: ranges[1].end()
            }]
        })
    );
}

#[test]
fn closed_shards_are_ignored() {
    let obs = StreamBuilder::new("s", 2)
        .all(0.1)
        .closed(HashKeyRange::FULL)
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    assert_eq!(plan.refused, None);
    assert_eq!(plan.open_shards_before, 2);
    assert_eq!(plan.verdicts.len(), 2);
    assert_eq!(plan.merges().count(), 1);
}

#[test]
fn a_range_too_small_to_split_says_so() {
    let tiny = HashKeyRange::new(HashKey(0), HashKey(1)).unwrap();
    let rest = HashKeyRange::new(HashKey(2), HashKey::MAX).unwrap();
    let obs = StreamBuilder::with_ranges("s", &[tiny, rest])
        .constant(0, 0.95)
        .constant(1, 0.5)
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    assert_eq!(verdicts(&plan), vec!["range_too_small", "steady"]);
    assert!(plan.actions.is_empty());
}

#[test]
fn a_hot_shard_whose_split_left_its_sibling_idle_is_not_split_again() {
    // Shards 0 and 1 are the halves of a split made 10 minutes ago;
    // nearly all of the parent's load landed on shard 0.
    let halves = |this: f64, sibling: f64| {
        StreamBuilder::new("s", 3)
            .constant(0, this)
            .constant(1, sibling)
            .constant(2, 0.5)
            .parent(0, "shardId-000000000099")
            .parent(1, "shardId-000000000099")
    };
    let lopsided = halves(0.95, 0.1).last_scale_up(minutes(10)).build();
    let plan = run(&lopsided, &crate::testkit::policy());
    assert_eq!(plan.actions, vec![]);
    assert_eq!(plan.verdicts[0].verdict.name(), "hot_keys");
    let reason = plan.verdicts[0].reason();
    assert!(
        reason.contains("left shardId-000000000001 only 11% of this shard's demand"),
        "{reason}"
    );
    // An even split says nothing about hot keys: split as usual.
    let even = halves(0.95, 0.6).last_scale_up(minutes(10)).build();
    assert_eq!(run(&even, &crate::testkit::policy()).splits().count(), 1);
    // Nor does a split long ago.
    let old = halves(0.95, 0.1).last_scale_up(minutes(600)).build();
    assert_eq!(run(&old, &crate::testkit::policy()).splits().count(), 1);
    // And demand of two shards or more (throttled) is split anyway.
    let heavy = halves(1.0, 0.1)
        .records(0, 1.0, 90_000.0)
        .last_scale_up(minutes(10))
        .build();
    assert!(run(&heavy, &crate::testkit::policy()).splits().count() >= 1);
}

#[test]
fn a_shard_that_throttled_in_the_scale_down_window_is_not_cold() {
    // Both quiet on average, but shard 1 throttled in a sub-minute burst
    // twenty minutes ago (outside the scale-up window): merging it
    // would make the burst worse.
    let mut obs = StreamBuilder::new("s", 2).all(0.1).build();
    let mut burst = vec![Some(0.0); 30];
    burst[10] = Some(40.0);
    obs.metrics.shards.get_mut(&shard_id(1)).unwrap()
        [MetricName::WriteProvisionedThroughputExceeded] = burst.into();
    let plan = run(&obs, &crate::testkit::policy());
    assert_eq!(plan.merges().count(), 0);
    assert_eq!(verdicts(&plan), vec!["steady", "steady"]);
}

#[test]
fn plans_are_deterministic() {
    let obs = StreamBuilder::new("s", 16)
        .all(0.1)
        .constant(3, 0.95)
        .records(7, 1.0, 50_000.0)
        .build();
    let policy = crate::testkit::policy();
    let plan = run(&obs, &policy);
    assert!(
        !plan.actions.is_empty(),
        "the test needs a plan that acts: {plan:?}"
    );
    // The same stream as another listing and reading would give it: the
    // shards in reverse order, the metrics map built in another order.
    let mut other = obs.clone();
    other.shards.reverse();
    let mut entries: Vec<_> = obs.metrics.shards.clone().into_iter().collect();
    entries.sort_by(|a, b| b.0.cmp(&a.0));
    let mut metrics = obs.metrics.shards.clone();
    metrics.clear();
    metrics.reserve(1000);
    metrics.extend(entries);
    other.metrics.shards = metrics;
    let again = run(&other, &policy);
    assert_eq!(again.actions, plan.actions);
    let by_shard = |p: &Plan| {
        let mut v: Vec<_> = p
            .verdicts
            .iter()
            .map(|v| (v.shard_id.clone(), v.reason()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(by_shard(&again), by_shard(&plan));
}

#[test]
fn a_young_splits_children_are_not_merged_back() {
    // Shards 0 and 1 are the two children of one split 2 hours ago; 2 and
    // 3 are old. All four are cold: only the old pair may merge.
    let obs = |since_split: TimeDelta| {
        StreamBuilder::new("s", 4)
            .all(0.05)
            .parent(0, "shardId-000000000009")
            .parent(1, "shardId-000000000009")
            .last_scale_up(since_split)
            .build()
    };
    let mut policy = crate::testkit::policy();
    policy.scale_down.min_lifetime = std::time::Duration::from_secs(6 * 3600);
    let plan = run(&obs(minutes(120)), &policy);
    let merged: Vec<_> = plan.merges().map(|m| m.shard_id.clone()).collect();
    assert_eq!(merged, [shard_id(2)], "only the old pair merges");
    assert_eq!(verdicts(&plan)[..2], ["young_split", "young_split"]);
    assert_contains(
        &plan.verdicts[0].reason(),
        "a shard of its pair was made by a split less than scale_down.min_lifetime ago; merging it before 2026-",
    );
    // Past the lifetime, or with it off, both pairs merge.
    let plan = run(&obs(minutes(7 * 60)), &policy);
    assert_eq!(plan.merges().count(), 2);
    policy.scale_down.min_lifetime = std::time::Duration::ZERO;
    assert_eq!(run(&obs(minutes(120)), &policy).merges().count(), 2);
}

#[test]
fn the_daily_cap_holds_back_what_the_day_has_no_room_for() {
    // Three hot shards, and a cold pair that this plan's own split holds
    // back (merge cooldown); 9 of 10 reshards used today.
    let obs = |counted_since: TimeDelta| {
        StreamBuilder::new("s", 5)
            .constant(0, 0.95)
            .constant(1, 0.96)
            .constant(2, 0.97)
            .constant(3, 0.05)
            .constant(4, 0.05)
            .reshards_today(counted_since, 9)
            .build()
    };
    let mut policy = StreamPolicy {
        max_reshards_per_day: 10,
        ..crate::testkit::policy()
    };
    let plan = run(&obs(minutes(600)), &policy);
    assert_eq!(plan.actions.len(), 1, "{:?}", plan.actions);
    assert_eq!(splits(&plan)[0].shard_id, Some(shard_id(2)), "the hottest");
    let capped: Vec<_> = plan
        .verdicts
        .iter()
        .filter(|v| v.verdict.name() == "daily_cap")
        .map(|v| v.shard_id.clone())
        .collect();
    assert_eq!(capped, [shard_id(0), shard_id(1)]);
    assert_contains(
        &plan.verdicts[0].reason(),
        "but max_reshards_per_day 10 is used up for the day",
    );
    // A count older than a day is over: all three split.
    let plan = run(&obs(minutes(25 * 60)), &policy);
    assert_eq!(plan.splits().count(), 3);
    // Without a cap the count does not matter.
    policy.max_reshards_per_day = 0;
    assert_eq!(run(&obs(minutes(600)), &policy).splits().count(), 3);
    // A cold stream within the cap merges; the cap counts merges too.
    let cold = StreamBuilder::new("s", 6)
        .all(0.05)
        .reshards_today(minutes(60), 8)
        .build();
    policy.max_reshards_per_day = 10;
    let plan = run(&cold, &policy);
    assert_eq!(plan.merges().count(), 2);
    assert_eq!(verdicts(&plan)[4..], ["daily_cap", "daily_cap"]);
}

fn forecasting(lead: u32, horizon: u32) -> StreamPolicy {
    StreamPolicy {
        forecast: Some(crate::policy::Forecast {
            seasons: vec![1440],
            horizon_minutes: horizon,
            lead_minutes: lead,
        }),
        ..crate::testkit::policy()
    }
}

/// `shards` shards at `per_shard` each, the stream-level series their
/// sum, and yesterday's series: `before` shards' worth until `step_in`
/// minutes after now (one day earlier), then `after`, through the
/// current window and two hours past now.
fn yesterday_step(
    shards: u32,
    per_shard: f64,
    before: f64,
    after: f64,
    step_in: i64,
) -> Observation {
    let base = || {
        StreamBuilder::new("s", shards)
            .all(per_shard)
            .stream_totals()
    };
    let probe = base().build();
    let now = now_of(&probe);
    let from = probe.metrics.start - TimeDelta::days(1);
    let day: Vec<f64> = (0..(now - probe.metrics.start).num_minutes() + 120)
        .map(|m| {
            let t = from + TimeDelta::minutes(m) + TimeDelta::days(1);
            if t >= now + TimeDelta::minutes(step_in) {
                after
            } else {
                before
            }
        })
        .collect();
    base().past(from, &day).build()
}

/// Two shards at 0.5 each (a stream of 1.0 shards' worth) whose day
/// yesterday was the same until `ramp_in` minutes after now, then rose to
/// 3.0 shards' worth.
fn yesterday_ramp(ramp_in: i64) -> Observation {
    yesterday_step(2, 0.5, 1.0, 3.0, ramp_in)
}

#[test]
fn a_pre_split_comes_lead_minutes_before_yesterdays_ramp() {
    let policy = forecasting(15, 60);
    // Both shards split exactly when the ramp is 15 minutes or less away.
    for ramp_in in 0..40 {
        let plan = run(&yesterday_ramp(ramp_in), &policy);
        let expected = if ramp_in <= 15 { 2 } else { 0 };
        assert_eq!(plan.splits().count(), expected, "ramp in {ramp_in}m");
    }
    let obs = yesterday_ramp(15);
    let plan = run(&obs, &policy);
    assert_eq!(verdicts(&plan), ["split", "split"]);
    assert_eq!(
        plan.verdicts[0].verdict,
        Verdict::Split {
            trigger: Trigger::Forecast,
            splits: 1
        }
    );
    // Yesterday's 3.0 shards' worth, half of it on each range.
    let at = now_of(&obs) + minutes(15);
    let seen = (at - TimeDelta::days(1)).format("%H:%M").to_string();
    assert_eq!(
        plan.verdicts[0].reason(),
        format!(
            "pre-split: yesterday at {seen} this range carried 1.50 shards' worth (forecast for {}), at or above the threshold 0.8: 1 split(s) into 2 shards",
            at.format("%H:%M")
        )
    );
    // The action says the same, and splits at the midpoint.
    let split = splits(&plan)[0];
    assert_eq!(split.trigger, Trigger::Forecast);
    assert_contains(&split.reason, &format!("yesterday at {seen}"));
    assert_eq!(
        split.new_starting_hash_key,
        plan.verdicts[0].range.midpoint().unwrap()
    );
    // Without a forecast in the policy, nothing happens.
    assert_eq!(run(&obs, &crate::testkit::policy()).actions, vec![]);
    // Nor without the past read.
    let mut unread = obs.clone();
    unread.past.clear();
    assert_eq!(run(&unread, &policy).actions, vec![]);
}

#[test]
fn the_forecast_follows_todays_level() {
    // Today runs at half of yesterday's level (0.25 per shard against 1.0
    // for the stream): yesterday's 3.0 becomes 1.5, 0.75 per shard, under
    // the threshold.
    let base = yesterday_ramp(10);
    let mut quiet = StreamBuilder::new("s", 2).all(0.25).stream_totals().build();
    quiet.past = base.past.clone();
    assert_eq!(run(&quiet, &forecasting(15, 60)).actions, vec![]);
    let facts = run(&quiet, &forecasting(15, 60)).verdicts[0].facts;
    let forecast = facts.forecast.unwrap();
    assert!((forecast.peak - 0.75).abs() < 1e-9, "{forecast:?}");
    assert_eq!(facts.forecast_lead, None, "only a pre-split shows the lead");
}

#[test]
fn no_merge_before_a_forecast_rise() {
    // Four cold shards (0.1 each); yesterday the stream rose to 2.8
    // shards' worth `rise_in` minutes from now (0.7 a shard: no pre-split).
    let obs = |rise_in: i64| yesterday_step(4, 0.1, 0.4, 2.8, rise_in);
    let policy = forecasting(15, 60);
    // Within the horizon, no pair merges: each would carry 1.4. (A rise
    // counts once held for `sustain` minutes inside the horizon.)
    for rise_in in [5, 30, 57] {
        let plan = run(&obs(rise_in), &policy);
        assert_eq!(plan.merges().count(), 0, "rise in {rise_in}m");
        assert_eq!(verdicts(&plan), ["forecast_rise"; 4], "rise in {rise_in}m");
    }
    let plan = run(&obs(30), &policy);
    let at = now_of(&obs(30)) + minutes(30);
    assert_contains(
        &plan.verdicts[0].reason(),
        &format!(
            "but held: yesterday at {} this pair carried 1.40 shards' worth (forecast for {}), above merged_ceiling 0.6",
            (at - TimeDelta::days(1)).format("%H:%M"),
            at.format("%H:%M")
        ),
    );
    // Beyond the horizon, or without a forecast, both pairs merge.
    assert_eq!(run(&obs(90), &policy).merges().count(), 2);
    assert_eq!(run(&obs(30), &crate::testkit::policy()).merges().count(), 2);
}

#[test]
fn merges_prefer_the_pair_whose_forecast_stays_lowest() {
    // All four shards are cold. Pair (0, 1) is the coolest by its peak
    // (0.15 each, steady); pair (2, 3) peaked at 0.28 each 20 minutes ago
    // but carries the least now (0.05 each), so its share of yesterday's
    // steady day forecasts it lowest. With one merge allowed, it merges.
    let mut spike = vec![Some(0.05); 30];
    spike[5] = Some(0.28);
    let base = StreamBuilder::new("s", 4)
        .constant(0, 0.15)
        .constant(1, 0.15)
        .utilization(2, &spike)
        .utilization(3, &spike)
        .stream_totals();
    let probe = base.clone().build();
    let from = probe.metrics.start - TimeDelta::days(1);
    let day = vec![0.4; (now_of(&probe) - probe.metrics.start).num_minutes() as usize + 120];
    let obs = base.past(from, &day).build();
    let mut policy = forecasting(15, 60);
    policy.scale_down.max_merges_per_run = 1;
    let merged = |policy: &StreamPolicy| -> Vec<crate::model::ShardId> {
        run(&obs, policy)
            .merges()
            .map(|m| m.shard_id.clone())
            .collect()
    };
    assert_eq!(merged(&policy), [shard_id(2)]);
    // Without the forecast, the coolest peak goes first.
    policy.forecast = None;
    assert_eq!(merged(&policy), [shard_id(0)]);
}

/// Applies `f` to both of yesterday's series at the minute `at` (today's
/// time; the minute one day earlier is edited).
fn edit_yesterday(
    obs: &mut Observation,
    at: DateTime<Utc>,
    f: impl Fn(Option<f64>) -> Option<f64>,
) {
    let w = &mut obs.past[0];
    let i = (at - TimeDelta::days(1) - w.start).num_minutes() as usize;
    for series in [&mut w.incoming_bytes, &mut w.incoming_records] {
        let mut values: Vec<Option<f64>> = series.iter().collect();
        values[i] = f(values[i]);
        *series = values.into();
    }
}

#[test]
fn a_gap_yesterday_is_no_evidence_of_load() {
    // Yesterday: 1.0 shards' worth, and 2.0 (1.0 a shard) for the three
    // minutes from 10 minutes after now (one day earlier). Held for 3
    // minutes (the default sustain), that splits both shards ahead of it.
    let spike = |lost: &[i64]| {
        let mut obs = yesterday_step(2, 0.5, 1.0, 1.0, 0);
        let now = now_of(&obs);
        for m in 10..13 {
            edit_yesterday(&mut obs, now + minutes(m), |v| v.map(|v| v * 2.0));
        }
        for &m in lost {
            edit_yesterday(&mut obs, now + minutes(m), |_| None);
        }
        obs
    };
    let policy = forecasting(15, 60);
    assert_eq!(run(&spike(&[]), &policy).splits().count(), 2);
    // With the two minutes after the first lost, one minute is all that
    // was seen: no split.
    assert_eq!(run(&spike(&[11, 12]), &policy).splits().count(), 0);
}

#[test]
fn the_level_compares_only_minutes_both_days_have() {
    // Today 1.0 for the stream, yesterday 1.0 too but with most of the
    // recent minutes lost: the level is still 1, and yesterday's rise to
    // 1.5 (0.75 a shard) stays under the threshold.
    let mut obs = yesterday_step(2, 0.5, 1.0, 1.5, 5);
    let newest = obs.metrics.start + minutes(29);
    for m in 0..12 {
        edit_yesterday(&mut obs, newest - minutes(m), |_| None);
    }
    let plan = run(&obs, &forecasting(15, 60));
    assert_eq!(plan.actions, vec![]);
    let peak = plan.verdicts[0].facts.forecast.unwrap().peak;
    assert!((peak - 0.75).abs() < 1e-9, "{peak}");
}

// ---------------------------------------------------------------------------
// split_at: traffic
// ---------------------------------------------------------------------------

fn by_traffic() -> StreamPolicy {
    let mut p = crate::testkit::policy();
    p.scale_up.split_at = crate::policy::SplitAt::Traffic;
    p
}

/// A mix of six keys, 700 of its 1,100 records on the two lowest hash keys.
fn lopsided_mix() -> Vec<(&'static str, usize, u64)> {
    let mut keys = ["a", "b", "c", "d", "e", "f"];
    keys.sort_by_key(|k| HashKey::of_partition_key(k));
    vec![
        (keys[0], 350, 1000),
        (keys[1], 350, 1000),
        (keys[2], 100, 1000),
        (keys[3], 100, 1000),
        (keys[4], 100, 1000),
        (keys[5], 100, 1000),
    ]
}

#[test]
fn a_traffic_split_falls_between_the_keys_that_halve_the_load() {
    let mix = lopsided_mix();
    let obs = StreamBuilder::new("s", 1)
        .constant(0, 0.95)
        .sample(0, &mix)
        .build();
    let plan = run(&obs, &by_traffic());
    let split = plan.splits().next().expect("a split");
    let hashes: Vec<HashKey> = mix.iter().map(|m| HashKey::of_partition_key(m.0)).collect();
    // Between the second and third lowest keys: 700 of 1,100 records below.
    let key = split.new_starting_hash_key;
    assert!(hashes[1] < key && key < hashes[2], "{key}");
    assert_ne!(Some(key), HashKeyRange::FULL.midpoint());
    assert_eq!(
        split.split_point,
        Some(SplitPointUsed::Traffic {
            records: 1100,
            lower_share: 700.0 / 1100.0
        })
    );
    assert_contains(
        &split.reason,
        "split at the traffic-weighted median of 1100 sampled records, between keys: the lower child carries 64% of the sampled load",
    );
    // The same sample under the default policy: the midpoint, as always.
    let plan = run(&obs, &crate::testkit::policy());
    let split = plan.splits().next().unwrap();
    assert_eq!(
        Some(split.new_starting_hash_key),
        HashKeyRange::FULL.midpoint()
    );
    assert_eq!(split.split_point, None);
}

#[test]
fn one_key_is_a_hot_key_not_a_split() {
    let obs = StreamBuilder::new("s", 2)
        .constant(0, 0.95)
        .constant(1, 0.2)
        // The key hashes into the lower half: shard 0.
        .sample(0, &[("user-\u{1b}[1m43\n", 900, 1000)])
        .build();
    let plan = run(&obs, &by_traffic());
    assert_eq!(plan.splits().count(), 0);
    let v = &plan.verdicts[0];
    assert_eq!(v.verdict.name(), "hot_key");
    let Verdict::HotKey { key, share, .. } = &v.verdict else {
        unreachable!()
    };
    assert_eq!(key, "\"user-\\u{1b}[1m43\\n\"");
    assert_eq!(*share, 1.0);
    let reason = v.reason();
    assert_contains(
        &reason,
        "partition key \"user-\\u{1b}[1m43\\n\" carrying 100% of its load",
    );
    assert_contains(
        &reason,
        "spread the key (a random suffix on the partition key) or route its records with ExplicitHashKey",
    );
    assert!(!reason.contains('\u{1b}'));
}

#[test]
fn a_hot_key_among_others_is_set_apart_once_then_left_alone() {
    let mut keys = ["x", "y", "z"];
    keys.sort_by_key(|k| HashKey::of_partition_key(k));
    let hot = HashKey::of_partition_key(keys[0]);
    // The hot key is the lowest of the three: the other 15% lie above it.
    let obs = StreamBuilder::new("s", 1)
        .constant(0, 0.95)
        .sample(
            0,
            &[
                (keys[0], 850, 1000),
                (keys[1], 100, 1000),
                (keys[2], 50, 1000),
            ],
        )
        .build();
    let plan = run(&obs, &by_traffic());
    assert_eq!(plan.splits().count(), 1, "one split, no deeper ones");
    let split = plan.splits().next().unwrap();
    assert_eq!(split.trigger, Trigger::HotKey);
    // The key ends the lower child [0, hot + 1]; the others go above.
    assert_eq!(split.new_starting_hash_key, HashKey(hot.0 + 2));
    assert_contains(
        &split.reason,
        &format!(
            "hot key \"{}\" carries 85% of this shard's sampled load",
            keys[0]
        ),
    );
    assert_contains(
        &split.reason,
        "sets it apart from the other keys of the shard (15% of the load)",
    );
    assert_contains(&split.reason, "ExplicitHashKey");
    // Once apart (the others under 5% of its sample), the shard is left
    // alone with the hot_key verdict.
    let apart = StreamBuilder::new("s", 1)
        .constant(0, 0.95)
        .sample(0, &[(keys[0], 980, 1000), (keys[1], 20, 1000)])
        .build();
    assert_eq!(verdicts(&run(&apart, &by_traffic())), ["hot_key"]);
    // Under a higher hot_key_share, 85% is no hot key: a traffic split.
    let mut lenient = by_traffic();
    lenient.scale_up.hot_key_share = 0.9;
    let plan = run(&obs, &lenient);
    assert_eq!(plan.splits().next().unwrap().trigger, Trigger::Utilization);
}

#[test]
fn a_small_or_missing_sample_splits_at_the_midpoint_and_says_why() {
    let obs = StreamBuilder::new("s", 2)
        .constant(0, 0.95)
        .constant(1, 0.95)
        // "a" and "c" hash into the lower half: shard 0.
        .sample(0, &[("a", 30, 1000), ("c", 20, 1000)])
        .build();
    let plan = run(&obs, &by_traffic());
    let splits: Vec<_> = plan.splits().collect();
    assert_eq!(splits.len(), 2);
    for s in &splits {
        assert_eq!(Some(s.new_starting_hash_key), s.range().midpoint());
    }
    assert_eq!(
        splits[0].split_point,
        Some(SplitPointUsed::MidpointSampleTooSmall {
            records: 50,
            needed: 100
        })
    );
    assert_contains(
        &splits[0].reason,
        "split at the midpoint: the sample holds 50 records in this range, fewer than the 100 needed",
    );
    assert_eq!(
        splits[1].split_point,
        Some(SplitPointUsed::MidpointNoSample)
    );
    assert_contains(
        &splits[1].reason,
        "split at the midpoint: no sample of this shard this pass",
    );
}

#[test]
fn a_tiny_sample_names_no_hot_key_and_splits_at_the_midpoint() {
    let obs = StreamBuilder::new("s", 1)
        .constant(0, 0.95)
        .sample(0, &[("only", 3, 100_000)])
        .build();
    let plan = run(&obs, &by_traffic());
    let split = plan.splits().next().expect("a split, not hot_key");
    assert_eq!(
        Some(split.new_starting_hash_key),
        HashKeyRange::FULL.midpoint()
    );
    assert_eq!(
        split.split_point,
        Some(SplitPointUsed::MidpointSampleTooSmall {
            records: 3,
            needed: 100
        })
    );
}

#[test]
fn a_deeper_part_with_no_sampled_load_is_not_split_further() {
    // Throttling says 3.5x the threshold; all the sampled load sits on two
    // keys in the lower half: the upper half is not split again.
    let mut keys = ["a", "c"];
    keys.sort_by_key(|k| HashKey::of_partition_key(k));
    let obs = StreamBuilder::new("s", 1)
        .records(0, 1.0, 0.0)
        .throttled(0, 150_000.0, 5)
        .sample(0, &[(keys[0], 500, 1000), (keys[1], 500, 1000)])
        .build();
    let plan = run(&obs, &by_traffic());
    let upper = HashKeyRange::FULL.split_at(plan.splits().next().unwrap().new_starting_hash_key);
    let (low, high) = upper.unwrap();
    assert!(
        plan.splits().any(|s| s.range() == low),
        "the loaded lower half is split again: {:#?}",
        plan.actions
    );
    assert!(
        plan.splits().all(|s| s.range() != high),
        "{:#?}",
        plan.actions
    );
}

/// The test policy with the consumer-lag guard at its default, 1 minute.
fn guarded() -> StreamPolicy {
    StreamPolicy {
        consumers: Some(crate::policy::Consumers::default()),
        ..crate::testkit::policy()
    }
}

#[test]
fn no_merge_while_the_consumers_are_behind() {
    // Four cold shards; the stream's consumers are 5 minutes behind.
    let behind = StreamBuilder::new("s", 4)
        .all(0.1)
        .stream_totals()
        .stream_iterator_age(300_000.0)
        .build();
    let plan = run(&behind, &guarded());
    assert_eq!(plan.merges().count(), 0);
    assert_eq!(verdicts(&plan), ["consumers_behind"; 4]);
    assert_contains(
        &plan.verdicts[0].reason(),
        "but held: consumers are 5m behind (stream-level GetRecords.IteratorAgeMilliseconds), over consumers.max_iterator_age 1m; a merge would halve their parallelism here",
    );
    let lag = plan.verdicts[0].facts.consumer_lag.unwrap();
    assert_eq!(
        (lag.iterator_age_ms, lag.scope, lag.max_iterator_age_ms),
        (300_000.0, LagScope::Stream, 60_000)
    );
    // The same stream without the guard merges both pairs; with consumers
    // caught up (under a minute), the guard lets them merge too.
    assert_eq!(run(&behind, &crate::testkit::policy()).merges().count(), 2);
    let caught_up = StreamBuilder::new("s", 4)
        .all(0.1)
        .stream_totals()
        .stream_iterator_age(60_000.0)
        .build();
    let plan = run(&caught_up, &guarded());
    assert_eq!(plan.merges().count(), 2);
    assert_eq!(
        plan.verdicts[0].facts.consumer_lag.map(|l| l.behind()),
        Some(false)
    );
}

#[test]
fn the_shard_level_age_holds_only_its_own_pair() {
    // Shard 0 is 3 minutes behind; the others are current. The
    // stream-level age (the furthest behind) would hold every pair.
    let obs = StreamBuilder::new("s", 4)
        .all(0.1)
        .stream_totals()
        .stream_iterator_age(180_000.0)
        .iterator_age(0, 180_000.0)
        .iterator_age(1, 1_000.0)
        .iterator_age(2, 1_000.0)
        .iterator_age(3, 0.0)
        .build();
    let plan = run(&obs, &guarded());
    // Shard 1, held with shard 0, merges with shard 2 instead: its own
    // consumers are current. Its verdict says so, not the held pair's.
    assert_eq!(
        verdicts(&plan),
        ["consumers_behind", "merge", "merge", "steady"]
    );
    let merge = plan.merges().next().unwrap();
    assert_eq!(
        (&merge.shard_id, &merge.adjacent_shard_id),
        (&shard_id(1), &shard_id(2))
    );
    assert_eq!(
        plan.verdicts[0].verdict,
        Verdict::ConsumersBehind {
            lag: ConsumerLag {
                iterator_age_ms: 180_000.0,
                scope: LagScope::Shard,
                max_iterator_age_ms: 60_000,
            }
        }
    );
    let lag = plan.verdicts[1].facts.consumer_lag.unwrap();
    assert_eq!((lag.iterator_age_ms, lag.scope), (1_000.0, LagScope::Shard));
}

#[test]
fn a_pair_behind_at_shard_level_is_held_by_the_further_behind() {
    let obs = StreamBuilder::new("s", 2)
        .all(0.1)
        .stream_totals()
        .iterator_age(0, 90_000.0)
        .iterator_age(1, 240_000.0)
        .build();
    let plan = run(&obs, &guarded());
    assert_eq!(plan.merges().count(), 0);
    // Both are held by the further-behind shard's own metric.
    for v in &plan.verdicts {
        assert_eq!(
            v.verdict,
            Verdict::ConsumersBehind {
                lag: ConsumerLag {
                    iterator_age_ms: 240_000.0,
                    scope: LagScope::Shard,
                    max_iterator_age_ms: 60_000,
                }
            }
        );
    }
    assert_contains(
        &plan.verdicts[0].reason(),
        "consumers are 4m behind (shard-level IteratorAgeMilliseconds)",
    );
}

#[test]
fn above_max_shards_the_lag_does_not_hold_the_merge() {
    // Back within max_shards first: the guard only holds merges for cold.
    let obs = StreamBuilder::new("s", 4)
        .all(0.1)
        .stream_totals()
        .stream_iterator_age(600_000.0)
        .build();
    let policy = StreamPolicy {
        max_shards: 3,
        ..guarded()
    };
    let plan = run(&obs, &policy);
    assert_eq!(plan.merges().count(), 1);
    assert_eq!(plan.merges().next().unwrap().trigger, Trigger::MaxShards);
    assert_eq!(
        verdicts(&plan)
            .iter()
            .filter(|v| **v == "consumers_behind")
            .count(),
        2
    );
}

#[test]
fn consumers_falling_behind_split_the_shard_they_read_hardest() {
    // The age grows a minute a minute, to 30 minutes behind: consumers
    // that cannot keep up. Shard 0 is read at 70% of its 2 MiB/s, shard 1
    // at 10%, under consumers.read_threshold (0.2).
    let growing: Vec<f64> = (1..=30).map(|m| f64::from(m) * 60_000.0).collect();
    let obs = |ages: &[f64]| {
        StreamBuilder::new("s", 2)
            .all(0.3)
            .reads(0, 0.7)
            .reads(1, 0.1)
            .stream_totals()
            .stream_iterator_ages(ages)
            .build()
    };
    let on_lag = StreamPolicy {
        consumers: Some(crate::policy::Consumers {
            scale_up_on_lag: true,
            ..Default::default()
        }),
        ..crate::testkit::policy()
    };
    let plan = run(&obs(&growing), &on_lag);
    let [split] = splits(&plan)[..] else {
        panic!("one split: {:?}", plan.actions)
    };
    assert_eq!(split.shard_id, Some(shard_id(0)));
    assert_eq!(split.trigger, Trigger::ConsumerLag);
    // At the midpoint of the lower half of the key space.
    assert_eq!(split.new_starting_hash_key.0, 1 << 126);
    assert_contains(
        &split.reason,
        "consumers falling further behind: consumers are 30m behind (stream-level GetRecords.IteratorAgeMilliseconds), over consumers.max_iterator_age 1m, and the shard read at or above consumers.read_threshold 0.2 for 3+ minutes: a split gives its range a second consumer",
    );
    assert_eq!(verdicts(&plan), ["split", "steady"]);
    // A lag that stays level (consumers keeping pace, however late), or
    // the guard without scale_up_on_lag, splits nothing.
    assert_eq!(run(&obs(&[600_000.0; 30]), &on_lag).actions, vec![]);
    assert_eq!(run(&obs(&growing), &guarded()).actions, vec![]);
}

// Planning on the stream-level series and each shard's last measured
// share: what a pass sees when it reads only the stream-level series.

#[test]
fn a_one_shard_stream_splits_on_its_stream_level_series_alone() {
    // No shard-level series at all: the only shard's range is the whole
    // key space, so the stream's series are its own, exactly.
    let obs = StreamBuilder::new("s", 1)
        .constant(0, 0.95)
        .stream_totals()
        .stream_only()
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    assert_eq!(plan.splits().count(), 1);
    assert_eq!(
        splits(&plan)[0].new_starting_hash_key,
        HashKey(1u128 << 127)
    );
    assert_eq!(plan.verdicts[0].facts.scale_up_estimated_minutes, 0);
    // Throttled writes at stream level are the shard's own too.
    let throttling = StreamBuilder::new("s", 1)
        .constant(0, 0.5)
        .throttled(0, 40.0, 1)
        .stream_totals()
        .stream_only()
        .build();
    let plan = run(&throttling, &crate::testkit::policy());
    assert_eq!(splits(&plan)[0].trigger, Trigger::Throttling);
    assert_eq!(
        shard_detail(&throttling, &plan, &crate::testkit::policy()),
        crate::observe::ShardDetail::OneShard
    );
}

#[test]
fn an_estimate_is_never_hot() {
    // Shard 0 carries 90% of a stream at 1.05 shards' worth: its estimate,
    // 0.945, is over the threshold, but only a datapoint makes a shard hot.
    let obs = StreamBuilder::new("s", 2)
        .constant(0, 0.945)
        .constant(1, 0.105)
        .stream_totals()
        .stream_only()
        .shares(&[0.9, 0.1], minutes(5))
        .build();
    let policy = crate::testkit::policy();
    let plan = run(&obs, &policy);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(verdicts(&plan), ["not_enough_data", "steady"]);
    let facts = &plan.verdicts[0].facts;
    assert_eq!(facts.scale_up_estimated_minutes, 5);
    assert!((facts.scale_up_peak - 0.945).abs() < 1e-9);
    // So the pass reads the shard-level series before anything is decided.
    assert_eq!(
        shard_detail(&obs, &plan, &policy),
        crate::observe::ShardDetail::NearThreshold {
            shard: shard_id(0),
            estimate: facts.scale_up_peak,
            near: NEAR_THRESHOLD * 0.8,
        }
    );
}

#[test]
fn a_pair_cold_on_estimates_waits_for_shard_level_datapoints() {
    let quiet = || {
        StreamBuilder::new("s", 4)
            .all(0.1)
            .stream_totals()
            .shares(&[0.25; 4], minutes(5))
    };
    let policy = crate::testkit::policy();
    let estimated = quiet().stream_only().build();
    let plan = run(&estimated, &policy);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(verdicts(&plan), ["awaiting_shard_metrics"; 4]);
    assert_eq!(plan.verdicts[0].facts.scale_down_estimated_minutes, 30);
    assert_contains(
        &plan.verdicts[0].reason(),
        "cold (peak 0.10 over 30 minutes; 30 estimated from the stream-level metrics and its last measured share), but 30 of those minutes are estimates",
    );
    assert!(matches!(
        shard_detail(&estimated, &plan, &policy),
        crate::observe::ShardDetail::WouldAct { .. }
    ));
    // Read: the same stream merges on its datapoints, as it always did.
    let plan = run(&quiet().build(), &policy);
    assert_eq!(plan.merges().count(), 2);
    // Datapoints only in the newest 7 minutes: turned on on demand 7
    // minutes ago, the minutes before are estimated, the newest confirm
    // the shares, and the pairs merge.
    let mut recent = vec![None; 23];
    recent.extend([Some(0.1); 7]);
    let mut builder = quiet();
    for shard in 0..4 {
        builder = builder.utilization(shard, &recent);
    }
    let mut on_demand = policy.clone();
    on_demand.shard_level = crate::policy::ShardLevel::OnDemand;
    let plan = run(&builder.clone().build(), &on_demand);
    assert_eq!(plan.merges().count(), 2);
    assert_eq!(plan.verdicts[0].facts.scale_down_estimated_minutes, 23);
    // With shard-level metrics always on, those minutes were lost or not
    // yet published: bounded as before shares were known, never estimated.
    let plan = run(&builder.build(), &policy);
    assert_eq!(plan.verdicts[0].facts.scale_down_estimated_minutes, 0);
}

#[test]
fn the_shard_level_series_are_read_only_when_a_decision_may_be_near() {
    use crate::observe::ShardDetail;
    let policy = crate::testkit::policy();
    let detail = |obs: &Observation| shard_detail(obs, &run(obs, &policy), &policy);
    let steady = || {
        StreamBuilder::new("s", 2)
            .constant(0, 0.5)
            .constant(1, 0.3)
            .stream_totals()
            .stream_only()
    };
    // Calm: the highest estimate, 0.5, is under 0.8 of the threshold.
    match detail(&steady().shares(&[0.625, 0.375], minutes(5)).build()) {
        ShardDetail::Calm {
            highest,
            shard,
            near,
            shares_age_seconds,
        } => {
            assert!((highest - 0.5).abs() < 1e-9, "{highest}");
            assert_eq!(shard, Some(shard_id(0)));
            assert!((near - 0.64).abs() < 1e-9);
            assert_eq!(shares_age_seconds, 300);
        }
        other => panic!("{other:?}"),
    }
    // The stream throttles: some shard does.
    let throttling = StreamBuilder::new("s", 2)
        .constant(0, 0.5)
        .constant(1, 0.3)
        .throttled(0, 3.0, 2)
        .stream_totals()
        .stream_only()
        .shares(&[0.625, 0.375], minutes(5))
        .build();
    assert_eq!(detail(&throttling), ShardDetail::Throttled { records: 6.0 });
    // No shares, a shard without one, shares too old.
    assert_eq!(detail(&steady().build()), ShardDetail::NoShares);
    let mut one_unknown = steady().shares(&[0.625, 0.375], minutes(5)).build();
    one_unknown
        .shares
        .as_mut()
        .unwrap()
        .shards
        .remove(&shard_id(1));
    assert_eq!(detail(&one_unknown), ShardDetail::NewShards { shards: 1 });
    // Due at 15 minutes, at the latest: each stream at its own 75% to
    // 100% of metrics.shard_refresh, so that streams measured together
    // are not all read again together.
    match detail(&steady().shares(&[0.625, 0.375], minutes(15)).build()) {
        ShardDetail::Refresh {
            age_seconds,
            refresh_seconds,
        } => {
            assert_eq!(age_seconds, 900);
            assert!((675..=900).contains(&refresh_seconds), "{refresh_seconds}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        detail(&steady().shares(&[0.625, 0.375], minutes(11)).build()),
        ShardDetail::Calm { .. }
    ));
}

#[test]
fn shares_are_measured_over_the_newest_minutes_every_shard_published() {
    let obs = StreamBuilder::new("s", 2)
        .constant(0, 0.3)
        .constant(1, 0.1)
        .stream_totals()
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    let shares = plan.shares().expect("measured");
    assert_eq!(shares.minutes, 15);
    // The newest complete minute ends 2 minutes before the observation.
    assert_eq!(shares.measured_at, obs.observed_at - minutes(2));
    let of = |n| shares.of(&shard_id(n)).unwrap();
    assert!((of(0).bytes - 0.75).abs() < 1e-9 && (of(0).records - 0.75).abs() < 1e-9);
    assert!((of(1).bytes - 0.25).abs() < 1e-9);
    // Planned on estimates, nothing is measured.
    let estimated = StreamBuilder::new("s", 2)
        .all(0.2)
        .stream_totals()
        .stream_only()
        .shares(&[0.5, 0.5], minutes(1))
        .build();
    assert_eq!(
        run(&estimated, &crate::testkit::policy()).measured_shares,
        None
    );
}

#[test]
fn on_demand_turns_metrics_on_near_a_decision_and_off_after_shard_calm() {
    use crate::observe::ShardDetail;
    let mut policy = crate::testkit::policy();
    policy.shard_level = crate::policy::ShardLevel::OnDemand;
    let write = policy.needed_metrics();
    let near = ShardDetail::Throttled { records: 12.0 };
    let calm = ShardDetail::Calm {
        highest: 0.3,
        shard: None,
        near: 0.64,
        shares_age_seconds: 60,
    };
    let refresh = ShardDetail::Refresh {
        age_seconds: 900,
        refresh_seconds: 900,
    };
    let change = |detail: &ShardDetail, enabled: &[MetricName], calm_for: i64| {
        monitoring_change(&policy, detail, enabled, minutes(calm_for))
    };
    // Near a decision: on, those that are off.
    assert_eq!(
        change(&near, &[], 0),
        Some(MonitoringChange::Enable {
            metrics: write.clone()
        })
    );
    assert_eq!(
        change(&near, &[MetricName::IncomingBytes], 0),
        Some(MonitoringChange::Enable {
            metrics: write[1..].to_vec()
        })
    );
    assert_eq!(change(&near, &write, 0), None);
    // A refresh of the shares alone does not turn them on.
    assert_eq!(change(&refresh, &[], 120), None);
    // Calm: off once shard_calm (45m) has passed, and only if on.
    assert_eq!(change(&calm, &write, 44), None);
    assert_eq!(
        change(&calm, &write, 45),
        Some(MonitoringChange::Disable {
            metrics: write.clone(),
            calm_seconds: 45 * 60
        })
    );
    assert_eq!(change(&calm, &[], 120), None);
    assert_eq!(change(&ShardDetail::NotPlanned, &[], 0), None);
    // Always: never.
    let always = crate::testkit::policy();
    assert_eq!(monitoring_change(&always, &near, &[], minutes(0)), None);
    assert_eq!(
        monitoring_change(&always, &calm, &write, minutes(600)),
        None
    );
}

/// Two shards that carried half a shard's worth each until 40 minutes
/// ago and a tenth since, with three days of stream-level history of a
/// fifth of a shard's worth and bursts to 1.2 shards' worth for 20
/// minutes at each of `bursts` (minutes into the history).
fn quiet_for_40_minutes(bursts: &[usize]) -> (Observation, StreamPolicy) {
    let recent: Vec<Option<f64>> = (0..180)
        .map(|m| Some(if m < 140 { 0.5 } else { 0.1 }))
        .collect();
    let base = StreamBuilder::new("s", 2).minutes(180).build();
    let history: Vec<f64> = (0..3 * 1440)
        .map(|m| {
            if bursts.iter().any(|&b| (b..b + 20).contains(&m)) {
                1.2
            } else {
                0.2
            }
        })
        .collect();
    let obs = StreamBuilder::new("s", 2)
        .minutes(180)
        .utilization(0, &recent)
        .utilization(1, &recent)
        .stream_totals()
        .past(base.metrics.start - minutes(3 * 1440), &history)
        .build();
    let mut policy = crate::testkit::policy();
    policy.scale_down.window_minutes = 180;
    policy.scale_down.economic = Some(crate::policy::Economic::default());
    (obs, policy)
}

#[test]
fn economic_scale_down_gives_a_lone_spike_back_after_30_quiet_minutes() {
    let (obs, policy) = quiet_for_40_minutes(&[2000]);
    let plan = run(&obs, &policy);
    let quiet = plan
        .quiet
        .clone()
        .expect("the policy has scale_down.economic");
    assert_eq!(quiet.window_minutes, 30);
    assert_eq!(verdicts(&plan), ["merge", "merge"]);
    assert_eq!(plan.merges().count(), 1);
    // Without it, the policy's 180 minutes hold the pair: it was warm
    // 40 minutes ago.
    let mut fixed = policy.clone();
    fixed.scale_down.economic = None;
    let plan = run(&obs, &fixed);
    assert_eq!(verdicts(&plan), ["steady", "steady"]);
}

#[test]
fn economic_scale_down_holds_bursts_that_recur_every_two_hours() {
    let bursts: Vec<usize> = (0..36).map(|k| 30 + k * 120).collect();
    let (obs, policy) = quiet_for_40_minutes(&bursts);
    let plan = run(&obs, &policy);
    let quiet = plan
        .quiet
        .clone()
        .expect("the policy has scale_down.economic");
    assert_eq!(quiet.window_minutes, 180);
    assert_eq!(quiet.bursts, 36);
    assert_eq!(quiet.burst_every_minutes, Some(120));
    assert_eq!(verdicts(&plan), ["steady", "steady"]);
    assert_contains(
        &plan.verdicts[0].reason(),
        "nor cold (< 0.3 for 180 minutes)",
    );
    assert_contains(
        &quiet.describe(),
        "36 bursts in them (as a 30m quiet time meets them), one every 2h on median",
    );
}

#[test]
fn a_key_over_a_shard_s_worth_is_told_every_remedy_with_its_numbers() {
    // A key in the first of 4 shards writing 2,500 records/s: 2.5 shards'
    // worth, of which one throttles nothing and 60% throttles.
    let first = uniform_ranges(4)[0];
    let key = (0..)
        .map(|i| format!("user-{i}"))
        .find(|k| first.contains(HashKey::of_partition_key(k)))
        .unwrap();
    let obs = StreamBuilder::new("s", 4)
        .constant(0, 0.95)
        .constant(1, 0.2)
        .constant(2, 0.2)
        .constant(3, 0.2)
        .sample(0, &[(key.as_str(), 25_000, 100)])
        .build();
    let plan = run(&obs, &by_traffic());
    assert_eq!(plan.splits().count(), 0);
    let v = &plan.verdicts[0];
    let Verdict::HotKey {
        shards_worth,
        remedies: Some(remedies),
        ..
    } = &v.verdict
    else {
        panic!("{:?}", v.verdict)
    };
    assert!((shards_worth - 2.5).abs() < 1e-9);
    assert!((remedies.nothing_throttled - 0.6).abs() < 1e-9);
    // The salted keys land where their MD5 says, on the stream's 4 shards.
    let s = &remedies.salting;
    let open: Vec<HashKeyRange> = uniform_ranges(4);
    let mut per_shard = [0u32; 4];
    for i in 0..s.suffixes {
        let h = HashKey::of_partition_key(&format!("{key}#{i}"));
        per_shard[open.iter().position(|r| r.contains(h)).unwrap()] += 1;
    }
    let worst = f64::from(*per_shard.iter().max().unwrap()) * 2.5 / f64::from(s.suffixes);
    assert!((s.worst_shards_worth - worst).abs() < 1e-9, "{s:?}");
    let reason = v.reason();
    assert_contains(&reason, "doing nothing throttles 60% of this key's writes");
    assert_contains(
        &reason,
        &format!(
            "salting it into {} suffixes (\"{key}#0\" .. \"{key}#{}\")",
            s.suffixes,
            s.suffixes - 1
        ),
    );
    assert_contains(&reason, "On-Demand with AUTO record distribution");
    // JSON carries the numbers.
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json["verdicts"][0]["remedies"]["salting"]["suffixes"],
        s.suffixes
    );
}

/// An On-Demand stream at 4 MiB/s whose yesterday rose to 12 MiB/s 15
/// minutes from now, holding 5 MiB/s of warm throughput.
fn rising_on_demand(held: Option<u32>) -> (Observation, StreamPolicy) {
    let start = crate::testkit::OBSERVED_AT
        .parse::<DateTime<Utc>>()
        .unwrap()
        - TimeDelta::days(1)
        - TimeDelta::minutes(30);
    let past: Vec<f64> = (0..120).map(|m| if m < 45 { 4.0 } else { 12.0 }).collect();
    let mut builder = StreamBuilder::new("s", 1)
        .constant(0, 4.0)
        .stream_totals()
        .stream_only()
        .past(start, &past)
        .mode(StreamMode::OnDemand);
    if let Some(mib) = held {
        builder = builder.warm_throughput(mib);
    }
    let mut policy = crate::testkit::policy();
    policy.forecast = Some(crate::policy::Forecast {
        seasons: vec![1440],
        ..Default::default()
    });
    policy.warm_throughput = Some(crate::policy::WarmPolicy::default());
    (builder.build(), policy)
}

#[test]
fn an_on_demand_stream_is_warmed_before_yesterday_s_rise() {
    let (obs, policy) = rising_on_demand(Some(5));
    let plan = run(&obs, &policy);
    // Its shards are AWS's: no split, no merge.
    assert!(plan.actions.is_empty());
    assert!(
        plan.refused
            .as_ref()
            .unwrap()
            .to_string()
            .contains("ON_DEMAND")
    );
    let warm = plan
        .warm_throughput
        .as_ref()
        .expect("a warm-throughput plan");
    // 12 MiB/s forecast, with headroom 1.2: 14.4, so 16 MiB/s (a power
    // of two).
    assert_eq!(warm.set_mib, Some(16), "{}", warm.reason);
    assert_contains(&warm.reason, "raise warm throughput 5 -> 16 MiB/s");
    assert_contains(&warm.reason, "the forecast peak within 30m is 12.0 MiB/s");
    // Held at 16 already: nothing to do.
    let (obs, policy) = rising_on_demand(Some(16));
    let warm = run(&obs, &policy).warm_throughput.unwrap();
    assert_eq!(warm.set_mib, None, "{}", warm.reason);
    // Without the block, On-Demand streams are left alone as before.
    let (obs, mut policy) = rising_on_demand(Some(5));
    policy.warm_throughput = None;
    assert_eq!(run(&obs, &policy).warm_throughput, None);
}

#[test]
fn an_on_demand_stream_outside_advantage_is_refused_with_the_reason() {
    let (obs, policy) = rising_on_demand(None);
    let warm = run(&obs, &policy).warm_throughput.unwrap();
    assert_eq!(warm.set_mib, None);
    assert_eq!(warm.held_mib, None);
    assert_contains(
        &warm.reason,
        "warm throughput not managed: DescribeStreamSummary shows none, so the account has no On-Demand Advantage commitment",
    );
}

#[test]
fn a_plan_sums_up_its_verdicts_in_one_line_with_the_reason_for_holding_back() {
    let obs = StreamBuilder::new("s", 4)
        .constant(0, 0.95)
        .constant(1, 0.5)
        .constant(2, 0.5)
        .constant(3, 0.95)
        .last_scale_up(TimeDelta::minutes(1))
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    let summary = plan.verdict_summary();
    let held = plan
        .verdicts
        .iter()
        .find(|v| v.verdict.name() == "cooling_down")
        .expect("a shard held by the split cooldown");
    assert_eq!(
        summary,
        format!(
            "4 open shards: 2 cooling_down ({}: {}), 2 steady",
            held.shard_id,
            held.reason()
        )
    );
    assert_contains(&summary, "but the split cooldown runs until");
    // Without the cooldown: the splits and the steady, counted.
    let obs = StreamBuilder::new("s", 4)
        .constant(0, 0.95)
        .constant(1, 0.5)
        .constant(2, 0.5)
        .constant(3, 0.95)
        .build();
    assert_eq!(
        run(&obs, &crate::testkit::policy()).verdict_summary(),
        "4 open shards: 2 split, 2 steady"
    );
}

#[test]
fn a_cold_pair_held_back_by_this_plan_s_split_says_so() {
    // A fresh stream, never resharded: shard 0 hot, shards 2 and 3 cold.
    let obs = StreamBuilder::new("s", 4)
        .constant(0, 0.95)
        .constant(1, 0.5)
        .constant(2, 0.05)
        .constant(3, 0.05)
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    assert_eq!(plan.splits().count(), 1);
    let names: Vec<&str> = plan.verdicts.iter().map(|v| v.verdict.name()).collect();
    assert_eq!(names, ["split", "steady", "split_first", "split_first"]);
    let reason = plan.verdicts[2].reason();
    assert_contains(
        &reason,
        "but this plan splits another shard first, and no merge follows a split within scale_down.cooldown",
    );
    assert!(!reason.contains("cooldown runs until"), "{reason}");
    // After an earlier reshard, the cooldown is that reshard's.
    let obs = StreamBuilder::new("s", 4)
        .constant(0, 0.95)
        .constant(1, 0.5)
        .constant(2, 0.05)
        .constant(3, 0.05)
        .last_scale_down(TimeDelta::seconds(30))
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    assert_eq!(plan.verdicts[2].verdict.name(), "cooling_down");
}

#[test]
fn a_new_child_shard_short_of_data_is_new_not_a_fault() {
    // Shards 0 and 1 were split from shard 9 a few minutes ago: only the
    // last 10 of the 30 minutes are theirs. Cold, but too young to judge.
    let young: Vec<usize> = (0..20).collect();
    let obs = StreamBuilder::new("s", 2)
        .minutes(30)
        .constant(0, 0.1)
        .constant(1, 0.1)
        .drop_minutes(0, &young)
        .drop_minutes(1, &young)
        .parent(0, "shardId-000000000009")
        .parent(1, "shardId-000000000009")
        .build();
    let plan = run(&obs, &crate::testkit::policy());
    assert_eq!(verdicts(&plan), vec!["new_shard", "new_shard"]);
    assert_eq!(
        plan.verdicts[0].reason(),
        "new shard, made by a reshard of shardId-000000000009: 10 of the last 30 minutes are its own so far; it is judged once 27 are"
    );
}
