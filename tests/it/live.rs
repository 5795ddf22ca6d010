//! End to end against the local emulators, through the built binary, each
//! result checked by reading the stream back through the SDK.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::assert_contains;
use assert_cmd::Command;
use chrono::{TimeDelta, Utc};
use kinesis_autoscaler::apply::tags;
use kinesis_autoscaler::model::{HashKey, HashKeyRange, check_layout};
use serde_json::Value;

use crate::emulators::{
    self, PrivateKinesis, all_shards, cloudwatch_endpoint, create_stream, kinesis,
    kinesis_endpoint, open_shards, put_iterator_age, put_load, put_metrics, put_metrics_to, unique,
};
use crate::support::{
    assert_every_strategy, at_emulators, bin, bin_std, names, one_plan, plans_of,
};

/// The one scenario's entry of what `simulate --output json` printed.
fn sim_one_of(stdout: &str) -> Value {
    let mut json: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(
        json["scenarios"].as_array().map(Vec::len),
        Some(1),
        "{stdout}"
    );
    json["scenarios"][0].take()
}

/// The binary, pointed at the emulators, bounded in time.
pub(crate) fn live(kinesis_endpoint: &str) -> Command {
    let mut cmd = bin_std();
    at_emulators(&mut cmd, kinesis_endpoint, &cloudwatch_endpoint())
        .env("AWS_ENDPOINT_URL_SNS", emulators::sns_endpoint());
    let mut cmd = Command::from_std(cmd);
    cmd.timeout(Duration::from_secs(180));
    cmd
}

/// A policy file naming `streams`, with `extra` YAML for each entry.
pub(crate) fn policy(streams: &[&str], extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("version: 1\nstreams:\n");
    for s in streams {
        text.push_str(&format!("  - name: {s}\n"));
        for line in extra.lines() {
            text.push_str(&format!("    {line}\n"));
        }
    }
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub(crate) fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The key that halves [start, end], computed here on its own.
fn midpoint(range: HashKeyRange) -> HashKey {
    let (s, e) = (range.start().0, range.end().0);
    HashKey(s + (e - s) / 2 + 1)
}

#[tokio::test]
async fn a_hot_shard_is_planned_then_split_at_its_exact_midpoint() {
    if !emulators::running("a_hot_shard_is_planned_then_split_at_its_exact_midpoint") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("hot");
    create_stream(&k, &name, 4, false).await;
    let before = open_shards(&k, &name).await;
    put_load(&name, &before[0].id, 40, 0.95, 0.0).await;
    for s in &before[1..] {
        put_load(&name, &s.id, 40, 0.5, 0.0).await;
    }
    let (_dir, policy) = policy(&[&name], "");
    let p = policy.to_str().unwrap();

    let plan = run(live(&endpoint).args(["plan", "--policy", p, "--output", "json"]));
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plans = plans_of(&plan.stdout);
    let target = before[0].range;
    let mid = midpoint(target);
    assert_eq!(
        plans[0]["actions"],
        serde_json::json!([{
            "type": "split",
            "shard_id": before[0].id.as_str(),
            "starting_hash_key": target.start().to_string(),
            "ending_hash_key": target.end().to_string(),
            "new_starting_hash_key": mid.to_string(),
            "trigger": "utilization",
            "reason": plans[0]["actions"][0]["reason"],
        }])
    );
    assert_eq!(open_shards(&k, &name).await, before, "plan changed nothing");

    let apply = run(live(&endpoint).args(["apply", "--policy", p, "--yes"]));
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert_contains(
        &apply.stdout,
        &format!("applied      split {} at {mid}", before[0].id),
    );
    let after = open_shards(&k, &name).await;
    assert!(check_layout(&after).is_empty(), "{after:?}");
    let ranges: Vec<_> = after.iter().map(|s| s.range).collect();
    let (low, high) = target.split_at(mid).unwrap();
    let mut want = vec![low, high];
    want.extend(before[1..].iter().map(|s| s.range));
    assert_eq!(ranges, want);
}

#[tokio::test]
async fn a_cold_adjacent_pair_is_merged() {
    if !emulators::running("a_cold_adjacent_pair_is_merged") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("cold");
    create_stream(&k, &name, 2, false).await;
    let before = open_shards(&k, &name).await;
    for s in &before {
        put_load(&name, &s.id, 40, 0.1, 0.0).await;
    }
    // 40 minutes published: a 30-minute scale-down window covers them.
    let (_dir, policy) = policy(&[&name], "scale_down: { window: 30m }");
    let apply = run(live(&endpoint).args(["apply", "--policy", policy.to_str().unwrap(), "--yes"]));
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let after = open_shards(&k, &name).await;
    assert_eq!(after.len(), 1);
    assert_eq!(
        after[0].range,
        before[0].range.merge(&before[1].range).unwrap()
    );
    assert_eq!(after[0].parent_shard_id.as_ref(), Some(&before[0].id));
    assert_eq!(
        after[0].adjacent_parent_shard_id.as_ref(),
        Some(&before[1].id)
    );
}

/// CloudWatch late and an idle shard: the newest 3 minutes are not
/// published at all, and shard 1 took no records, so it has no datapoint,
/// while the stream-level metrics show the others' traffic. The windows end
/// at the newest minute with data, shard 1 counts as idle, and the cold
/// pair merges.
#[tokio::test]
async fn a_late_cloudwatch_and_an_idle_shard_still_merge_the_cold_pair() {
    if !emulators::running("a_late_cloudwatch_and_an_idle_shard_still_merge_the_cold_pair") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("late");
    create_stream(&k, &name, 3, false).await;
    let before = open_shards(&k, &name).await;
    // Published: the minutes from 4 to 44 minutes ago; nothing newer.
    let published = 4..45;
    put_metrics(&name, Some(&before[0].id), published.clone(), 0.1, 0.0).await;
    put_metrics(&name, Some(&before[2].id), published.clone(), 0.6, 0.0).await;
    put_metrics(&name, None, published, 0.7, 0.0).await;
    let (_dir, policy) = policy(&[&name], "scale_down: { window: 30m }");
    let p = policy.to_str().unwrap();

    let plan = run(live(&endpoint).args(["plan", "--policy", p, "--output", "json"]));
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    let plans = plans_of(&plan.stdout);
    let lag = plans[0]["metrics"]["lag_seconds"].as_i64().unwrap();
    // The newest published minute ended 3 minutes before the current one
    // began: 3 to 4 minutes before now (a minute more if the clock turned).
    assert!((180..300).contains(&lag), "lag {lag}s: {}", plan.stdout);
    let verdicts: Vec<&str> = plans[0]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["merge", "merge", "steady"], "{}", plan.stdout);
    assert_contains(
        plans[0]["verdicts"][1]["reason"].as_str().unwrap(),
        "30 without a datapoint, idle or bounded by the stream-level metrics",
    );

    let apply = run(live(&endpoint).args(["apply", "--policy", p, "--yes"]));
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let after = open_shards(&k, &name).await;
    assert_eq!(after.len(), 2);
    assert_eq!(
        after[0].range,
        before[0].range.merge(&before[1].range).unwrap()
    );
    assert_eq!(after[1].range, before[2].range);
}

#[tokio::test]
async fn consumers_behind_hold_the_cold_pair_with_the_measured_age() {
    if !emulators::running("consumers_behind_hold_the_cold_pair_with_the_measured_age") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("lagging");
    create_stream(&k, &name, 3, false).await;
    let before = open_shards(&k, &name).await;
    // Shards 0 and 1 are a cold pair; the stream's consumers are four
    // minutes behind over the whole window.
    put_metrics(&name, Some(&before[0].id), 0..40, 0.1, 0.0).await;
    put_metrics(&name, Some(&before[1].id), 0..40, 0.1, 0.0).await;
    put_metrics(&name, Some(&before[2].id), 0..40, 0.6, 0.0).await;
    put_metrics(&name, None, 0..40, 0.8, 0.0).await;
    put_iterator_age(&name, None, 0..40, 240_000.0).await;
    let (_dir, guarded) = policy(
        &[&name],
        "scale_down: { window: 30m }\nconsumers: { max_iterator_age: 1m }",
    );
    let p = guarded.to_str().unwrap();

    let plan = run(live(&endpoint).args(["plan", "--policy", p, "--output", "json"]));
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    let plans = plans_of(&plan.stdout);
    let verdicts = &plans[0]["verdicts"];
    let names: Vec<&str> = (0..3)
        .map(|i| verdicts[i]["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["consumers_behind", "consumers_behind", "steady"],
        "{}",
        plan.stdout
    );
    // The Maximum of the minute's datapoints (240000 and 120000): not
    // their Sum, not their Average.
    let lag = &verdicts[0]["facts"]["consumer_lag"];
    assert_eq!(lag["iterator_age_ms"], 240_000.0, "{}", plan.stdout);
    assert_eq!(lag["scope"], "stream");
    assert_eq!(lag["max_iterator_age_ms"], 60_000);
    assert_contains(
        verdicts[0]["reason"].as_str().unwrap(),
        "but held: consumers are 4m behind (stream-level GetRecords.IteratorAgeMilliseconds), over consumers.max_iterator_age 1m; a merge would halve their parallelism here",
    );
    assert_eq!(plans[0]["actions"], serde_json::json!([]));

    let apply = run(live(&endpoint).args(["apply", "--policy", p, "--yes"]));
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert_eq!(
        open_shards(&k, &name).await,
        before,
        "no merge: {}",
        apply.stdout
    );

    // Without the guard, the same metrics merge the pair.
    let (_dir, unguarded) = policy(&[&name], "scale_down: { window: 30m }");
    let apply =
        run(live(&endpoint).args(["apply", "--policy", unguarded.to_str().unwrap(), "--yes"]));
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let after = open_shards(&k, &name).await;
    assert_eq!(
        after.iter().map(|s| s.range).collect::<Vec<_>>(),
        [
            before[0].range.merge(&before[1].range).unwrap(),
            before[2].range
        ]
    );
}

#[tokio::test]
async fn the_cooldown_kept_in_tags_holds_back_a_second_apply_from_a_new_process() {
    if !emulators::running("the_cooldown_kept_in_tags_holds_back_a_second_apply_from_a_new_process")
    {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("cooldown");
    create_stream(&k, &name, 4, false).await;
    let before = open_shards(&k, &name).await;
    put_load(&name, &before[0].id, 40, 0.97, 0.0).await;
    put_load(&name, &before[1].id, 40, 0.95, 0.0).await;
    let (_dir, policy) = policy(&[&name], "scale_up: { max_splits_per_run: 1 }");
    let p = policy.to_str().unwrap();

    let first = run(live(&endpoint).args(["apply", "--policy", p, "--yes"]));
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(open_shards(&k, &name).await.len(), 5);
    let tags = k
        .list_tags_for_stream()
        .stream_name(&name)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "kinesis-autoscaler:last-scale-up"),
        "{:?}",
        tags.tags()
    );

    let again = run(live(&endpoint).args(["plan", "--policy", p, "--output", "json"]));
    assert_eq!(again.code, 0, "{}", again.stderr);
    let plans = plans_of(&again.stdout);
    assert_eq!(plans[0]["actions"], serde_json::json!([]));
    let shard1 = plans[0]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["shard_id"] == before[1].id.as_str())
        .unwrap();
    assert_eq!(shard1["verdict"], "cooling_down", "{shard1}");
    let second = run(live(&endpoint).args(["apply", "--policy", p, "--yes"]));
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_contains(&second.stdout, "nothing to do");
    assert_eq!(open_shards(&k, &name).await.len(), 5);
}

/// `plan --stream NAME` without a policy plans that stream with the
/// built-in defaults.
#[tokio::test]
async fn plan_without_a_policy_uses_the_built_in_defaults() {
    if !emulators::running("plan_without_a_policy_uses_the_built_in_defaults") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("nopolicy");
    create_stream(&k, &name, 2, false).await;
    let out = run(live(&endpoint).args(["plan", "--stream", &name, "--output", "json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plans = plans_of(&out.stdout);
    assert_eq!(plans[0]["stream"], name.as_str());
    assert_eq!(plans[0]["min_shards"], 1);
    assert_eq!(plans[0]["max_shards"], 64);
    assert_eq!(plans[0]["verdicts"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_on_demand_stream_is_skipped_with_a_reason() {
    if !emulators::running("an_on_demand_stream_is_skipped_with_a_reason") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("ondemand");
    create_stream(&k, &name, 0, true).await;
    let (_dir, policy) = policy(&[&name], "");
    let plan = run(live(&endpoint).args([
        "plan",
        "--policy",
        policy.to_str().unwrap(),
        "--output",
        "json",
    ]));
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plans = plans_of(&plan.stdout);
    assert_eq!(plans[0]["refused"]["why"], "not_provisioned");
    assert_eq!(plans[0]["actions"], serde_json::json!([]));
    for v in plans[0]["verdicts"].as_array().unwrap() {
        assert_eq!(v["verdict"], "skipped");
        assert!(v["reason"].as_str().unwrap().contains("ON_DEMAND"), "{v}");
    }
    assert!(plans[0].get("warm_throughput").is_none(), "{}", plans[0]);

    // Under `warm_throughput`, the stream's summary is read for its warm
    // throughput; kinesis-local, like an account without On-Demand
    // Advantage, shows none, and the plan says so; apply writes nothing.
    let (_warm_dir, warm_policy) = self::policy(
        &[&name],
        "forecast: { seasons: [1d] }\nwarm_throughput: { lead: 30m }",
    );
    let policy = warm_policy.to_str().unwrap();
    let plan = run(live(&endpoint).args(["plan", "--policy", policy, "--output", "json"]));
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plans = plans_of(&plan.stdout);
    let warm = &plans[0]["warm_throughput"];
    assert_eq!(warm["held_mib"], Value::Null, "{warm}");
    assert_eq!(warm["set_mib"], Value::Null, "{warm}");
    assert!(
        warm["reason"]
            .as_str()
            .unwrap()
            .starts_with("warm throughput not managed: DescribeStreamSummary shows none"),
        "{warm}"
    );
    let table = run(live(&endpoint).args(["plan", "--policy", policy]));
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert_contains(
        &table.stdout,
        "warm throughput: warm throughput not managed: DescribeStreamSummary shows none, so the account has no On-Demand Advantage commitment",
    );
    let apply = run(live(&endpoint).args(["apply", "--policy", policy, "--yes"]));
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert_contains(&apply.stdout, "nothing to do");
}

#[tokio::test]
async fn an_unknown_stream_fails_while_the_others_are_still_handled() {
    if !emulators::running("an_unknown_stream_fails_while_the_others_are_still_handled") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("known");
    create_stream(&k, &name, 1, false).await;
    let before = open_shards(&k, &name).await;
    put_load(&name, &before[0].id, 40, 0.95, 0.0).await;
    let missing = unique("missing");
    let (_dir, policy) = policy(&[&missing, &name], "");
    let apply = run(live(&endpoint).args(["apply", "--policy", policy.to_str().unwrap(), "--yes"]));
    assert_eq!(apply.code, 1, "{}\n{}", apply.stdout, apply.stderr);
    assert_contains(
        &apply.stderr,
        &format!("error: stream {missing} does not exist in this account and region"),
    );
    assert_eq!(
        open_shards(&k, &name).await.len(),
        2,
        "the known stream was still split"
    );
}

#[tokio::test]
async fn the_shard_quota_stops_splitting_cleanly() {
    if !emulators::running("the_shard_quota_stops_splitting_cleanly") {
        return;
    }
    // A Kinesis of its own: the quota is account-wide. Two streams of two
    // shards leave room for one more shard; both want one.
    let private = PrivateKinesis::start(5);
    let k = kinesis(&private.endpoint);
    let (a, b) = (unique("quota-a"), unique("quota-b"));
    for name in [&a, &b] {
        create_stream(&k, name, 2, false).await;
        let shards = open_shards(&k, name).await;
        put_load(name, &shards[0].id, 40, 0.95, 0.0).await;
        put_load(name, &shards[1].id, 40, 0.5, 0.0).await;
    }
    let (_dir, policy) = policy(&[&a, &b], "");
    let apply =
        run(live(&private.endpoint).args(["apply", "--policy", policy.to_str().unwrap(), "--yes"]));
    assert_eq!(apply.code, 1, "{}\n{}", apply.stdout, apply.stderr);
    assert_contains(&apply.stdout, "stopped (shardquota)");
    assert_contains(&apply.stdout, "the account's shard quota is reached");
    let counts = [open_shards(&k, &a).await, open_shards(&k, &b).await];
    let mut sizes: Vec<usize> = counts.iter().map(Vec::len).collect();
    sizes.sort();
    assert_eq!(sizes, [2, 3], "exactly one split fit");
    for shards in &counts {
        assert!(check_layout(shards).is_empty());
    }
}

#[tokio::test]
async fn two_applies_at_once_leave_a_valid_layout_and_apply_nothing_twice() {
    if !emulators::running("two_applies_at_once_leave_a_valid_layout_and_apply_nothing_twice") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("race");
    create_stream(&k, &name, 1, false).await;
    let before = open_shards(&k, &name).await;
    // Throttling shows several shards of demand: a chain of splits.
    put_load(&name, &before[0].id, 40, 1.0, 90_000.0).await;
    let (_dir, policy) = policy(&[&name], "");
    let p = policy.to_str().unwrap();
    let spawn = || {
        at_emulators(&mut bin_std(), &endpoint, &cloudwatch_endpoint())
            .args(["apply", "--policy", p, "--yes", "--output", "json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (one, two) = (spawn(), spawn());
    let outputs = [
        one.wait_with_output().unwrap(),
        two.wait_with_output().unwrap(),
    ];
    let mut applied = 0;
    let mut planned = Vec::new();
    for out in &outputs {
        let json: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        // A process that plans after the other has begun resharding finds
        // the stream busy, plans nothing and reports no apply at all.
        applied += json["applied"]
            .get(0)
            .map_or(0, |report| report["applied"].as_array().unwrap().len());
        planned.push(json["plans"][0]["actions"].as_array().unwrap().len());
    }
    // The first to plan sees the whole chain; the other plans the same
    // chain, or what is left of it, or nothing while the stream is UPDATING.
    let chain = planned.iter().copied().max().unwrap();
    assert!(chain >= 3, "a chain of splits was planned: {planned:?}");
    let open = open_shards(&k, &name).await;
    assert!(check_layout(&open).is_empty(), "{open:?}");
    let all = all_shards(&k, &name).await;
    let closed: Vec<_> = all
        .iter()
        .filter(|s| open.iter().all(|o| o.id.as_str() != s.shard_id()))
        .collect();
    for parent in &closed {
        let children = all
            .iter()
            .filter(|s| s.parent_shard_id() == Some(parent.shard_id()))
            .count();
        assert_eq!(children, 2, "{} was split exactly once", parent.shard_id());
    }
    let logs: Vec<String> = outputs
        .iter()
        .map(|o| {
            format!(
                "{}\n{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        })
        .collect();
    // Each split happened at most once, and is reported by exactly one
    // process. Both may stop before the end of the chain: a process records
    // its operation in the tags before issuing it, so the loser's record of
    // a split it then finds done looks, to the winner, like another
    // controller's reshard (safe; the next pass goes on from the layout).
    assert!(
        (1..=planned.iter().sum()).contains(&closed.len()),
        "{} splits happened, of {planned:?} planned: {logs:#?}",
        closed.len(),
    );
    assert_eq!(
        applied,
        closed.len(),
        "each split is reported by exactly one process: {logs:#?}"
    );
}

#[tokio::test]
async fn a_saved_snapshot_replays_to_the_same_plan() {
    if !emulators::running("a_saved_snapshot_replays_to_the_same_plan") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("snap");
    create_stream(&k, &name, 2, false).await;
    let shards = open_shards(&k, &name).await;
    put_load(&name, &shards[0].id, 40, 0.95, 12.0).await;
    put_load(&name, &shards[1].id, 40, 0.2, 0.0).await;
    let (dir, policy) = policy(&[&name], "");
    let p = policy.to_str().unwrap();
    let template = dir.path().join("{stream}.json");
    let live_plan = run(live(&endpoint).args([
        "plan",
        "--policy",
        p,
        "--output",
        "json",
        "--save-snapshot",
        template.to_str().unwrap(),
    ]));
    assert_eq!(live_plan.code, 0, "{}", live_plan.stderr);
    let saved = dir.path().join(format!("{name}.json"));
    let replay = run(bin().args([
        "plan",
        "--policy",
        p,
        "--output",
        "json",
        "--snapshot",
        saved.to_str().unwrap(),
    ]));
    assert_eq!(replay.code, 0, "{}", replay.stderr);
    let live_plans = plans_of(&live_plan.stdout);
    let replayed = one_plan(&replay.stdout);
    assert_eq!(
        live_plans[0], replayed,
        "the replay decides exactly as the live plan did"
    );
    assert_eq!(replayed["actions"][0]["type"], "split");
    // The snapshot holds what was observed: the open shards and their series.
    let snapshot: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(snapshot["stream_name"], name.as_str());
    assert_eq!(snapshot["shards"].as_array().unwrap().len(), 2);
    let series =
        &snapshot["metrics"]["shards"][shards[0].id.as_str()]["WriteProvisionedThroughputExceeded"];
    assert!(
        series
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(12.0)),
        "{series}"
    );
}

#[tokio::test]
async fn save_snapshot_of_several_streams_needs_a_stream_placeholder() {
    if !emulators::running("save_snapshot_of_several_streams_needs_a_stream_placeholder") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let (dir, policy) = policy(&["a", "b"], "");
    let out = run(live(&endpoint).args([
        "plan",
        "--policy",
        policy.to_str().unwrap(),
        "--save-snapshot",
        dir.path().join("snap.json").to_str().unwrap(),
    ]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_contains(&out.stderr, "put {stream} in the path");
}

#[tokio::test]
async fn route_names_the_live_shard_that_takes_a_key() {
    if !emulators::running("route_names_the_live_shard_that_takes_a_key") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("route");
    create_stream(&k, &name, 4, false).await;
    let key = "user-42";
    let put = k
        .put_record()
        .stream_name(&name)
        .partition_key(key)
        .data(aws_sdk_kinesis::primitives::Blob::new("x"))
        .send()
        .await
        .unwrap();
    let out = run(live(&endpoint).args(["route", "--key", key, "--stream", &name]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let hash = HashKey::of_partition_key(key);
    assert_contains(&out.stdout, &format!("hash key      {hash}"));
    assert!(
        out.stdout
            .contains(&format!("shard         {} ", put.shard_id())),
        "the shard Kinesis routed the record to: {}\n{}",
        put.shard_id(),
        out.stdout
    );
}

#[tokio::test]
async fn missing_shard_metrics_are_named_with_the_command_to_enable_them() {
    if !emulators::running("missing_shard_metrics_are_named_with_the_command_to_enable_them") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("nometrics");
    // Two shards: a one-shard stream needs no shard-level metric (below).
    emulators::create_bare_stream(&k, &name, 2, false).await;
    let (_dir, plain) = policy(&[&name], "");
    let out = run(live(&endpoint).args(["plan", "--policy", plain.to_str().unwrap()]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_contains(
        &out.stderr,
        &format!(
            "aws kinesis enable-enhanced-monitoring --stream-name {name} --shard-level-metrics IncomingBytes IncomingRecords WriteProvisionedThroughputExceeded"
        ),
    );
    // With the policy's permission, apply turns them on itself.
    let (_dir2, enabling) = policy(&[&name], "enable_enhanced_monitoring: true");
    let out = run(live(&endpoint).args(["apply", "--policy", enabling.to_str().unwrap(), "--yes"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let summary = k
        .describe_stream_summary()
        .stream_name(&name)
        .send()
        .await
        .unwrap();
    let enabled: Vec<String> = summary
        .stream_description_summary()
        .unwrap()
        .enhanced_monitoring()
        .iter()
        .flat_map(|e| e.shard_level_metrics())
        .map(|m| m.as_str().to_owned())
        .collect();
    for m in [
        "IncomingBytes",
        "IncomingRecords",
        "WriteProvisionedThroughputExceeded",
    ] {
        assert!(enabled.iter().any(|e| e == m), "{m} enabled: {enabled:?}");
    }
    // And plan now works (no data yet: nothing to do, but no error).
    let out = run(live(&endpoint).args(["plan", "--policy", plain.to_str().unwrap()]));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[tokio::test]
async fn a_one_shard_stream_is_planned_on_its_stream_level_metrics_alone() {
    if !emulators::running("a_one_shard_stream_is_planned_on_its_stream_level_metrics_alone") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("oneshard");
    // No enhanced monitoring, and only the stream-level metrics published:
    // the only shard's range is the whole key space, so they are its own.
    emulators::create_bare_stream(&k, &name, 1, false).await;
    put_metrics(&name, None, 0..40, 0.95, 0.0).await;
    let (_dir, plain) = policy(&[&name], "");
    let out = run(live(&endpoint).args([
        "plan",
        "--policy",
        plain.to_str().unwrap(),
        "--output",
        "json",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plans = plans_of(&out.stdout);
    let plan = &plans[0];
    assert_eq!(plan["reads"]["detail"]["why"], "one_shard", "{plan:#}");
    assert_eq!(plan["reads"]["stream_metrics"], 3, "{plan:#}");
    assert_eq!(plan["reads"]["shards"], 0, "{plan:#}");
    let only = &open_shards(&k, &name).await[0];
    let split = &plan["actions"][0];
    assert_eq!(split["type"], "split", "{plan:#}");
    assert_eq!(split["shard_id"], only.id.as_str(), "{plan:#}");
    assert_eq!(
        split["new_starting_hash_key"],
        midpoint(only.range).to_string(),
        "{plan:#}"
    );
}

#[tokio::test]
async fn globs_expand_through_list_streams_and_arns_address_streams() {
    if !emulators::running("globs_expand_through_list_streams_and_arns_address_streams") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let prefix = unique("glob");
    let (a, b, c) = (
        format!("{prefix}-a"),
        format!("{prefix}-b"),
        unique("byarn"),
    );
    for name in [&a, &b, &c] {
        create_stream(&k, name, 1, false).await;
    }
    let arn = k
        .describe_stream_summary()
        .stream_name(&c)
        .send()
        .await
        .unwrap()
        .stream_description_summary()
        .unwrap()
        .stream_arn()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(
        &path,
        format!("version: 1\nstreams:\n  - name: \"{prefix}-*\"\n  - name: {arn}\n"),
    )
    .unwrap();
    let out = run(live(&endpoint).args([
        "plan",
        "--policy",
        path.to_str().unwrap(),
        "--output",
        "json",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plans = plans_of(&out.stdout);
    let mut streams: Vec<&str> = plans
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["stream"].as_str().unwrap())
        .collect();
    streams.sort();
    let mut want = vec![a.as_str(), b.as_str(), c.as_str()];
    want.sort();
    assert_eq!(streams, want);
}

#[tokio::test]
async fn apply_without_a_terminal_needs_yes() {
    if !emulators::running("apply_without_a_terminal_needs_yes") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("confirm");
    create_stream(&k, &name, 1, false).await;
    let shards = open_shards(&k, &name).await;
    put_load(&name, &shards[0].id, 40, 0.95, 0.0).await;
    let (_dir, policy) = policy(&[&name], "");
    let out = run(live(&endpoint)
        .args(["apply", "--policy", policy.to_str().unwrap()])
        .write_stdin(""));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_contains(&out.stderr, "pass --yes to apply without asking");
    assert_eq!(open_shards(&k, &name).await.len(), 1, "nothing was written");
}

#[tokio::test]
async fn a_stream_outside_the_policy_is_bad_input() {
    if !emulators::running("a_stream_outside_the_policy_is_bad_input") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let (_dir, policy) = policy(&["orders"], "");
    let out = run(live(&endpoint).args([
        "plan",
        "--policy",
        policy.to_str().unwrap(),
        "--stream",
        "payments",
    ]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_contains(&out.stderr, "stream \"payments\" is not named in policy");
}

#[tokio::test]
async fn apply_on_a_terminal_asks_and_applies_on_yes() {
    if !emulators::running("apply_on_a_terminal_asks_and_applies_on_yes") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("tty");
    create_stream(&k, &name, 1, false).await;
    let shards = open_shards(&k, &name).await;
    put_load(&name, &shards[0].id, 40, 0.95, 0.0).await;
    let (_dir, policy) = policy(&[&name], "");
    let bin = assert_cmd::cargo::cargo_bin("kinesis-autoscaler");
    // `script` gives the command a terminal to ask on.
    let command = format!("{} apply --policy {}", bin.display(), policy.display());
    let mut script = Command::new("script");
    script
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("AWS_ENDPOINT_URL_KINESIS", &endpoint)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch_endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .write_stdin("y\n")
        .timeout(Duration::from_secs(120));
    let out = run(&mut script);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_contains(&out.stdout, "apply 1 operation(s) to 1 stream(s)? [y/N]");
    assert_contains(&out.stdout, "applied      split");
    assert_eq!(open_shards(&k, &name).await.len(), 2);
}

/// kinesis-local pages ListStreams by 100 and says HasMoreStreams without
/// a NextToken: the SDK's paginator stopped there, so a glob over 130
/// streams planned 100 and said nothing of the rest. Every one is planned.
#[tokio::test]
async fn a_glob_over_more_than_100_streams_plans_every_one() {
    if !emulators::running("a_glob_over_more_than_100_streams_plans_every_one") {
        return;
    }
    let private = PrivateKinesis::start(1000);
    let k = kinesis(&private.endpoint);
    let names: Vec<String> = (0..130).map(|i| format!("fleet-{i:03}")).collect();
    // Kinesis creates at most 5 streams at once.
    for batch in names.chunks(5) {
        futures::future::join_all(
            batch
                .iter()
                .map(|name| k.create_stream().stream_name(name).shard_count(1).send()),
        )
        .await
        .into_iter()
        .for_each(|r| {
            r.expect("CreateStream");
        });
        for name in batch {
            emulators::wait_active(&k, name).await;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    // A 30-minute scale-down window: the listing is the subject here, and
    // moto answers a longer read of 260 series too slowly.
    std::fs::write(
        &policy,
        "version: 1\nstreams:\n  - name: \"fleet-*\"\n    scale_down: { window: 30m }\n",
    )
    .unwrap();
    let out = run(live(&private.endpoint).args([
        "plan",
        "--policy",
        policy.to_str().unwrap(),
        "--output",
        "json",
    ]));
    // No shard-level metrics: each stream is named, as an error.
    let plans: Value = serde_json::from_str::<Value>(&out.stdout)
        .map_or(Value::Array(vec![]), |mut json| json["plans"].take());
    let planned = plans.as_array().map_or(0, Vec::len);
    let errors = out.stderr.matches("shard-level metrics").count();
    assert_eq!(planned + errors, 130, "{}\n{}", out.stdout, out.stderr);
    for name in ["fleet-000", "fleet-099", "fleet-100", "fleet-129"] {
        assert!(
            out.stdout.contains(&format!("\"{name}\""))
                || out.stderr.contains(&format!("stream {name}:")),
            "{name} is not covered"
        );
    }
}

/// One controller per account and region (deploy/README.md): on EKS the
/// sidecar's credentials come from IRSA, a web identity token exchanged at
/// STS (AssumeRoleWithWebIdentity). Here moto's STS answers the exchange:
/// with no other credentials in reach, `plan` works only if it goes through
/// STS, and fails naming the credentials when STS cannot be reached.
#[tokio::test]
async fn irsa_credentials_come_from_sts_web_identity() {
    if !emulators::running("irsa_credentials_come_from_sts_web_identity") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("irsa");
    create_stream(&k, &name, 2, false).await;
    let (dir, policy) = policy(&[&name], "");
    let token = dir.path().join("token");
    std::fs::write(
        &token,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2ln",
    )
    .unwrap();
    let irsa = |sts: &str| {
        let mut cmd = bin();
        cmd.env("AWS_ENDPOINT_URL_KINESIS", &endpoint)
            .env("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch_endpoint())
            .env("AWS_ENDPOINT_URL_STS", sts)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
            .env(
                "AWS_ROLE_ARN",
                "arn:aws:iam::123456789012:role/kinesis-autoscaler",
            )
            .env("AWS_ROLE_SESSION_NAME", "kinesis-autoscaler")
            // Nothing else to fall back on.
            .env("HOME", dir.path())
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .args([
                "plan",
                "--policy",
                policy.to_str().unwrap(),
                "--output",
                "json",
            ])
            .timeout(Duration::from_secs(120));
        run(&mut cmd)
    };
    let ok = irsa(&cloudwatch_endpoint());
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    let plans = plans_of(&ok.stdout);
    assert_eq!(plans[0]["stream"], name.as_str());
    let unreachable = irsa("http://127.0.0.1:9");
    assert_eq!(unreachable.code, 1, "{}", unreachable.stderr);
    assert_contains(&unreachable.stderr, "credentials");
}

/// A two-shard stream named from `prefix`, with `2 * days` days of
/// stream-level history in a moto of its own (thousands of datapoints
/// would slow every read of the shared one): a shard's worth and a half a
/// minute for the first `days` days, half a shard's worth since, in 2 KiB
/// records. Returns its name, the moto and a CloudWatch client on it.
async fn stream_with_history(
    k: &aws_sdk_kinesis::Client,
    prefix: &str,
    days: i64,
) -> (
    String,
    emulators::PrivateEmulator,
    aws_sdk_cloudwatch::Client,
) {
    let name = unique(prefix);
    create_stream(k, &name, 2, false).await;
    let moto = emulators::PrivateEmulator::moto();
    let cw = emulators::cloudwatch_at(&moto.endpoint);
    let day = 1440;
    put_metrics_to(&cw, &name, None, days * day..2 * days * day, 1.5, 0.0).await;
    put_metrics_to(&cw, &name, None, 0..days * day, 0.5, 0.0).await;
    (name, moto, cw)
}

/// `tune --stream`: four days of a stream's own history, read as
/// `simulate --stream` reads it, tuned on the first 70% and checked on the
/// rest; it says what its reads cost, writes nothing, and a stream that
/// does not exist is named.
#[tokio::test]
async fn a_stream_is_tuned_on_its_own_history() {
    if !emulators::running("a_stream_is_tuned_on_its_own_history") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    // Four days: a shard's worth and a half for the first two, half a
    // shard's worth since.
    let (name, moto, _) = stream_with_history(&k, "tune", 2).await;
    let before = open_shards(&k, &name).await;

    let out = run(live(&endpoint)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", &moto.endpoint)
        .args(["tune", "--stream", &name, "--days", "4", "--output", "json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    // The shape `tune --scenario` prints (tests/it/tune.rs pins it).
    assert_eq!(
        report.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "scenario",
            "objective",
            "tuning_days",
            "validation_days",
            "whole_days",
            "candidates_simulated",
            "families",
            "recommendation",
            "notes",
            "chart",
            "policy_file"
        ],
        "{report}"
    );
    assert_eq!(report["scenario"], format!("replay-{name}").as_str());
    // About 4 days (less the newest minutes CloudWatch may not have yet):
    // 70% to tune on, 30% to validate on.
    let days = |key: &str| report[key].as_f64().unwrap();
    let whole = days("whole_days");
    assert!((3.9..=4.0).contains(&whole), "{whole} days replayed");
    assert!((days("tuning_days") + days("validation_days") - whole).abs() < 1e-9);
    assert!(
        (days("validation_days") - 0.3 * whole).abs() < 0.001,
        "{report}"
    );
    assert_eq!(
        names(&report["families"], "family"),
        crate::support::FAMILIES
    );
    let notes = report["notes"].to_string();
    // Two stream-level metrics and one per open shard.
    assert_contains(
        &notes,
        "4 metrics requested from GetMetricData ($0.0000); nothing written",
    );
    // Without shard-level history the keys are assumed uniform, and it says so.
    assert_contains(&notes, "uniform");
    // Nothing was resharded.
    assert_eq!(open_shards(&k, &name).await.len(), before.len());

    let missing = run(live(&endpoint).args(["tune", "--stream", "no-such-stream", "--days", "4"]));
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert_contains(&missing.stderr, "stream no-such-stream does not exist");
}

/// `simulate --stream`: two days of a stream's stream-level metrics and a
/// day of its shard-level ones in CloudWatch, replayed through every
/// strategy with the measured key spread and a recommendation; the saved
/// scenario replays to the same numbers offline.
#[tokio::test]
async fn a_streams_own_history_is_replayed_with_a_recommendation() {
    if !emulators::running("a_streams_own_history_is_replayed_with_a_recommendation") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    // Two days: a shard's worth and a half in the first, half a shard's
    // worth in the second.
    let (name, moto, cw) = stream_with_history(&k, "replay", 1).await;
    // Over the last day, the lower shard took three times the upper one's
    // writes: the replay measures that spread.
    let shards = open_shards(&k, &name).await;
    put_metrics_to(&cw, &name, Some(&shards[0].id), 0..1440, 0.375, 0.0).await;
    put_metrics_to(&cw, &name, Some(&shards[1].id), 0..1440, 0.125, 0.0).await;
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("mine.yaml");
    let chart = dir.path().join("replay.svg");

    let out = run(live(&endpoint)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", &moto.endpoint)
        .args([
            "simulate", "--stream", &name, "--days", "2", "--output", "json",
        ])
        .arg("--save-scenario")
        .arg(&saved)
        .arg("--chart")
        .arg(&chart));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json = sim_one_of(&out.stdout);
    assert_eq!(json["replay"]["stream"], name.as_str());
    assert_eq!(json["replay"]["days"], 2);
    // `--chart` with `--stream` draws the replay, and says where.
    assert_eq!(json["chart"], chart.to_str().unwrap());
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    for strategy in ["planner", "uniform", "on-demand"] {
        assert_contains(&svg, strategy);
    }
    assert_every_strategy(&json["results"]);
    let results = json["results"].as_array().unwrap();
    let strategies = names(&json["results"], "strategy");
    // The replayed load is what was published: 2 days minus the 5 newest
    // minutes, less the ones before the history, in 2 KiB records.
    let records = results[0]["total_records"].as_f64().unwrap();
    let per_minute = 60.0 * 1_048_576.0 / 2048.0;
    let published = per_minute * (1440.0 * 1.5 + 1435.0 * 0.5);
    assert!(
        (records - published).abs() / published < 0.01,
        "{records} records replayed, {published} published"
    );
    // The spread is measured, not assumed.
    assert!(
        !json["replay"]["notes"]
            .to_string()
            .contains("assumed uniform"),
        "{}",
        json["replay"]["notes"]
    );
    let saved_text = std::fs::read_to_string(&saved).unwrap();
    assert_contains(&saved_text, "model: measured");
    let scenario =
        kinesis_autoscaler::sim::Scenario::load(&saved).unwrap_or_else(|e| panic!("{e}"));
    let kinesis_autoscaler::sim::scenario::KeyModel::Measured(ranges) = &scenario.keys else {
        panic!("{:?}", scenario.keys)
    };
    assert_eq!(ranges.len(), 2);
    assert!((ranges[0].1 - 0.75).abs() < 0.01, "{ranges:?}");
    let recommendation = &json["recommendation"];
    let chosen = recommendation["strategy"].as_str().unwrap();
    assert!(strategies.contains(&chosen), "{recommendation}");
    if recommendation["meets_objective"] == true {
        // The cheapest of those within 0.1% throttled.
        let cost_of = |r: &Value| r["cost_usd"].as_f64().unwrap();
        let chosen_cost = cost_of(results.iter().find(|r| r["strategy"] == chosen).unwrap());
        for r in results {
            if r["throttled_fraction"].as_f64().unwrap() <= 0.001 {
                assert!(chosen_cost <= cost_of(r), "{recommendation} vs {r}");
            }
        }
    }
    assert_contains(recommendation["text"].as_str().unwrap(), "recommendation: ");
    // Two days are too short to tune on and validate: it says so.
    assert_contains(
        json["tuned"]["not_tuned"].as_str().unwrap(),
        "each part needs at least a day",
    );

    // Offline, from the saved files, the same numbers.
    assert!(saved.with_extension("csv").exists());
    let offline = run(bin()
        .args(["simulate", "--compare", "--output", "json", "--scenario"])
        .arg(&saved));
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    let again = sim_one_of(&offline.stdout);
    assert_eq!(&again["results"], &json["results"]);
    // The same shape as any simulate's: only the replay's facts are filled
    // in as well.
    let fields = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(fields(&json), fields(&again));
    assert!(again["replay"].is_null() && json["replay"].is_object());

    // A stream that does not exist is named.
    let missing =
        run(live(&endpoint).args(["simulate", "--stream", "no-such-stream", "--days", "1"]));
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert_contains(&missing.stderr, "stream no-such-stream does not exist");
}

/// A young stream (three hours of history, `--days 1`): `simulate
/// --stream` replays the three hours it has, not a day padded with
/// invented zeros, says so, and marks its recommendation provisional.
#[tokio::test]
async fn a_young_stream_is_replayed_on_what_it_has_and_not_recommended_on() {
    if !emulators::running("a_young_stream_is_replayed_on_what_it_has_and_not_recommended_on") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("young");
    create_stream(&k, &name, 2, false).await;
    let moto = emulators::PrivateEmulator::moto();
    let cw = emulators::cloudwatch_at(&moto.endpoint);
    put_metrics_to(&cw, &name, None, 0..180, 0.5, 0.0).await;
    let out = run(live(&endpoint)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", &moto.endpoint)
        .args([
            "simulate", "--stream", &name, "--days", "1", "--output", "json",
        ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json = sim_one_of(&out.stdout);
    let coverage = &json["replay"]["coverage"];
    assert_eq!(coverage["requested_minutes"], 1440, "{coverage}");
    // The 180 minutes put, less the 5 newest a replay leaves to CloudWatch.
    let replayed = coverage["replayed_minutes"].as_u64().unwrap();
    assert!((174..=176).contains(&replayed), "{coverage}");
    assert_eq!(coverage["minutes_with_data"], replayed, "{coverage}");
    assert_eq!(
        json["results"][0]["simulated_minutes"].as_u64().unwrap(),
        replayed,
        "only what it has is replayed"
    );
    let notes = json["replay"]["notes"].to_string();
    assert_contains(
        &notes,
        "1440 minutes were asked for, but the stream's history starts",
    );
    let recommendation = &json["recommendation"];
    assert!(
        recommendation["provisional"]
            .as_str()
            .unwrap()
            .starts_with("provisional: the replay covers"),
        "{recommendation}"
    );
    assert!(
        recommendation["text"]
            .as_str()
            .unwrap()
            .starts_with("provisional: "),
        "{recommendation}"
    );
}

/// Seasonal foresight against the emulators: yesterday the stream rose
/// from 0.8 to 2.4 shards' worth at what is 10 minutes from now; today
/// it runs as yesterday did before the rise. `plan` reads yesterday's
/// window from CloudWatch and pre-splits both shards, naming it.
#[tokio::test]
async fn yesterdays_ramp_is_pre_split_by_plan() {
    if !emulators::running("yesterdays_ramp_is_pre_split_by_plan") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("ramp");
    create_stream(&k, &name, 2, false).await;
    let shards = open_shards(&k, &name).await;
    // Today: 0.4 a shard, 0.8 for the stream.
    for s in &shards {
        put_load(&name, &s.id, 40, 0.4, 0.0).await;
    }
    put_metrics(&name, None, 0..40, 0.8, 0.0).await;
    // Yesterday: the same level, then the rise 10 minutes ahead of now.
    put_metrics(&name, None, 1440 - 9..1440 + 50, 0.8, 0.0).await;
    put_metrics(&name, None, 1440 - 70..1440 - 9, 2.4, 0.0).await;
    let extra = "forecast:\n  seasons: [1d]\n  horizon: 1h\n  lead: 15m";
    let (_dir, forecasting) = policy(&[&name], extra);
    let p = forecasting.to_str().unwrap();

    let plan = run(live(&endpoint).args(["plan", "--policy", p, "--output", "json"]));
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plans = plans_of(&plan.stdout);
    let actions = plans[0]["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 2, "{}", plans[0]);
    for (action, shard) in actions.iter().zip(&shards) {
        assert_eq!(action["type"], "split");
        assert_eq!(action["trigger"], "forecast");
        assert_eq!(action["shard_id"], shard.id.as_str());
        assert_eq!(
            action["new_starting_hash_key"],
            midpoint(shard.range).to_string()
        );
        // Half of yesterday's 2.4 on each range.
        assert_contains(
            action["reason"].as_str().unwrap(),
            "pre-split: yesterday at ",
        );
        assert_contains(
            action["reason"].as_str().unwrap(),
            "this range carried 1.20 shards' worth",
        );
    }
    assert_eq!(plans[0]["verdicts"][0]["verdict"], "split");
    assert_eq!(plans[0]["verdicts"][0]["trigger"], "forecast");
    // Without the forecast, the same stream is steady.
    let (_plain_dir, plain) = policy(&[&name], "");
    let plan = run(live(&endpoint).args([
        "plan",
        "--policy",
        plain.to_str().unwrap(),
        "--output",
        "json",
    ]));
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plans = plans_of(&plan.stdout);
    assert_eq!(plans[0]["actions"], serde_json::json!([]));
    assert_eq!(open_shards(&k, &name).await, shards, "plan changed nothing");
}

/// The shard-level metrics enhanced monitoring publishes for `name`.
async fn enabled_metrics(k: &aws_sdk_kinesis::Client, name: &str) -> Vec<String> {
    let summary = k
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .unwrap();
    let mut enabled: Vec<String> = summary
        .stream_description_summary()
        .unwrap()
        .enhanced_monitoring()
        .iter()
        .flat_map(|e| e.shard_level_metrics())
        .map(|m| m.as_str().to_owned())
        .collect();
    enabled.sort();
    enabled
}

/// The value of the stream's tag `key`, if any.
async fn tag(k: &aws_sdk_kinesis::Client, name: &str, key: &str) -> Option<String> {
    let out = k
        .list_tags_for_stream()
        .stream_name(name)
        .send()
        .await
        .unwrap();
    out.tags()
        .iter()
        .find(|t| t.key() == key)
        .and_then(|t| t.value().map(str::to_owned))
}

const WRITE_METRICS: [&str; 3] = [
    "IncomingBytes",
    "IncomingRecords",
    "WriteProvisionedThroughputExceeded",
];

#[tokio::test]
async fn on_demand_turns_shard_metrics_on_near_a_decision_and_off_once_calm() {
    if !emulators::running("on_demand_turns_shard_metrics_on_near_a_decision_and_off_once_calm") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let on_demand = "metrics: { shard_level: on_demand, shard_calm: 5m }";

    // Busy enough that a shard could be near a split (1.5 shards' worth
    // on two), and no share known: plan says it would turn them on, and
    // writes nothing; apply does, recording them as its own.
    let busy = unique("ondemand-on");
    emulators::create_bare_stream(&k, &busy, 2, false).await;
    put_metrics(&busy, None, 0..40, 1.5, 0.0).await;
    let (_dir, p) = policy(&[&busy], on_demand);
    let p = p.to_str().unwrap();
    let out = run(live(&endpoint).args(["plan", "--policy", p, "--output", "json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plans = plans_of(&out.stdout);
    assert_eq!(
        plans[0]["monitoring"],
        serde_json::json!({ "change": "enable", "metrics": WRITE_METRICS }),
        "{:#}",
        plans[0]
    );
    assert_eq!(plans[0]["reads"]["detail"]["why"], "no_shares");
    assert!(
        enabled_metrics(&k, &busy).await.is_empty(),
        "plan wrote nothing"
    );
    let out = run(live(&endpoint).args(["apply", "--policy", p, "--yes"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(enabled_metrics(&k, &busy).await, WRITE_METRICS);
    let record = tag(&k, &busy, tags::SHARD_METRICS).await.expect("recorded");
    assert!(
        record.ends_with(" IncomingBytes IncomingRecords WriteProvisionedThroughputExceeded"),
        "{record}"
    );

    // Calm (0.1 shards' worth), and turned on by the controller 20
    // minutes ago, longer than shard_calm: apply turns them off again.
    let calm = unique("ondemand-off");
    emulators::create_bare_stream(&k, &calm, 2, false).await;
    put_metrics(&calm, None, 0..40, 0.1, 0.0).await;
    let enable = |name: &str| {
        let mut request = k.enable_enhanced_monitoring().stream_name(name);
        for m in WRITE_METRICS {
            request = request.shard_level_metrics(aws_sdk_kinesis::types::MetricsName::from(m));
        }
        request.send()
    };
    enable(&calm).await.unwrap();
    let since = (Utc::now() - TimeDelta::minutes(20)).format("%Y-%m-%dT%H:%M:%SZ");
    k.add_tags_to_stream()
        .stream_name(&calm)
        .tags(
            tags::SHARD_METRICS,
            format!("{since} IncomingBytes IncomingRecords WriteProvisionedThroughputExceeded"),
        )
        .send()
        .await
        .unwrap();
    // Someone else turned them on for a third stream: they stay on.
    let theirs = unique("ondemand-theirs");
    emulators::create_bare_stream(&k, &theirs, 2, false).await;
    put_metrics(&theirs, None, 0..40, 0.1, 0.0).await;
    enable(&theirs).await.unwrap();
    let (_dir2, p2) = policy(&[&calm, &theirs], on_demand);
    let out = run(live(&endpoint).args(["apply", "--policy", p2.to_str().unwrap(), "--yes"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        enabled_metrics(&k, &calm).await.is_empty(),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    let record = tag(&k, &calm, tags::SHARD_METRICS).await.unwrap();
    assert!(record.ends_with(" none"), "{record}");
    assert_eq!(enabled_metrics(&k, &theirs).await, WRITE_METRICS);
    assert_eq!(tag(&k, &theirs, tags::SHARD_METRICS).await, None);
}
