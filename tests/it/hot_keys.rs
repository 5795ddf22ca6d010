//! `hot-keys` against kinesis-local through the built binary: a skewed key
//! mix is written with PutRecords, and the report must name the heavy key,
//! its share, its hash key and its shard, and print hostile keys escaped.

use assert_cmd::Command;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use kinesis_autoscaler::model::HashKey;
use serde_json::Value;

use crate::emulators::{self, create_stream, kinesis, kinesis_endpoint, open_shards, unique};
use crate::live::{Run, live, policy, run};
use crate::support::bin;

/// `hot-keys` against the emulators (with no policy from the environment).
fn hot_keys(endpoint: &str) -> Command {
    let mut cmd = live(endpoint);
    cmd.env_remove("KAS_POLICY").arg("hot-keys");
    cmd
}

/// Asserts a run exited 0, showing its output when not.
#[track_caller]
fn ok(run: &Run) {
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}

/// Writes `records` (partition key, payload size) with PutRecords, 500 a call.
async fn put_records(client: &aws_sdk_kinesis::Client, stream: &str, records: &[(String, usize)]) {
    for batch in records.chunks(500) {
        let entries: Vec<PutRecordsRequestEntry> = batch
            .iter()
            .map(|(key, size)| {
                PutRecordsRequestEntry::builder()
                    .partition_key(key)
                    .data(Blob::new(vec![b'x'; *size]))
                    .build()
                    .unwrap()
            })
            .collect();
        let out = client
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .expect("PutRecords");
        assert_eq!(out.failed_record_count(), Some(0));
    }
}

/// 40% of the records on "user-42", the rest on 600 random keys, plus a few
/// records under hostile keys; all of 100 bytes.
fn skewed_mix() -> Vec<(String, usize)> {
    let mut records = Vec::new();
    for i in 0..1000 {
        let key = if i % 5 < 2 {
            "user-42".to_owned()
        } else {
            format!("k-{}", fastrand::u32(..600))
        };
        records.push((key, 100));
    }
    for hostile in ["evil\n\u{1b}[31mred", &"é".repeat(128)] {
        records.push((hostile.to_owned(), 100));
    }
    records
}

#[tokio::test]
async fn the_heavy_key_is_named_with_its_share_hash_key_and_shard() {
    if !emulators::running("the_heavy_key_is_named_with_its_share_hash_key_and_shard") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("hotkeys");
    create_stream(&k, &name, 2, false).await;
    let shards = open_shards(&k, &name).await;
    let mix = skewed_mix();
    put_records(&k, &name, &mix).await;
    let heavy = HashKey::of_partition_key("user-42");
    let home = shards.iter().find(|s| s.range.contains(heavy)).unwrap();
    let in_home: Vec<&(String, usize)> = mix
        .iter()
        .filter(|(key, _)| home.range.contains(HashKey::of_partition_key(key)))
        .collect();
    let expected_share = 400.0 / in_home.len() as f64;

    let out = run(hot_keys(&endpoint)
        .args(["--stream", &name, "--shard", home.id.as_str()])
        .args(["--from", "trim-horizon", "--duration", "3s", "--rate", "5"])
        .args(["--top", "3", "--output", "json"]));
    ok(&out);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["stream"], name.as_str());
    assert_eq!(
        json.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["stream", "shards"]
    );
    let reports = &json["shards"];
    let report = &reports[0];
    assert_eq!(reports.as_array().unwrap().len(), 1);
    assert_eq!(report["shard_id"], home.id.as_str());
    assert_eq!(
        report["records"],
        in_home.len() as u64,
        "every record read back"
    );
    let top = &report["keys"][0];
    assert_eq!(top["key"], "user-42");
    assert_eq!(top["records"], 400);
    let share = top["share"].as_f64().unwrap();
    assert!(
        (share - expected_share).abs() < 0.01,
        "{share} vs {expected_share}"
    );
    assert_eq!(top["hash_key"], heavy.to_string());
    assert_eq!(top["shard_id"], home.id.as_str());
    assert!((report["top_key_share"].as_f64().unwrap() - share).abs() < 1e-12);
    // The median by an independent count: the first hash key at or past
    // which half of the shard's records lie.
    let mut by_hash = std::collections::BTreeMap::<HashKey, u64>::new();
    for (key, _) in &in_home {
        *by_hash.entry(HashKey::of_partition_key(key)).or_default() += 1;
    }
    let mut seen = 0;
    let median = by_hash
        .iter()
        .find(|&(_, n)| {
            seen += n;
            2 * seen >= in_home.len() as u64
        })
        .map(|(h, _)| h.to_string());
    assert_eq!(report["median_hash_key"].as_str(), median.as_deref());
    assert!(
        report["get_records_calls"].as_u64().unwrap() <= 16,
        "5 a second for 3 s"
    );

    // The table, over both shards: hostile keys are escaped, never raw.
    let out = run(hot_keys(&endpoint)
        .args(["--stream", &name, "--from", "trim-horizon"])
        .args(["--duration", "2s", "--rate", "5", "--top", "1000"]));
    ok(&out);
    let table = &out.stdout;
    assert!(table.contains(r#""evil\n\u{1b}[31mred""#), "{table}");
    assert!(
        table.contains(&format!("\"{}\"", "é".repeat(128))),
        "{table}"
    );
    assert!(
        !table.contains('\u{1b}'),
        "a raw escape reached the terminal"
    );
    assert!(
        table.contains("traffic-weighted median hash key"),
        "{table}"
    );
}

#[tokio::test]
async fn a_key_over_a_shard_s_worth_is_told_every_remedy() {
    if !emulators::running("a_key_over_a_shard_s_worth_is_told_every_remedy") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("hotkey-remedy");
    create_stream(&k, &name, 4, false).await;
    let shards = open_shards(&k, &name).await;
    // 6 MiB on one key, in 6 PutRecords calls of 10 records of 100 KiB
    // at once: megabytes a second, more than one shard's 1 MiB (and little
    // enough not to slow the emulator for the tests beside it).
    let batch: Vec<(String, usize)> = (0..10)
        .map(|_| ("user-42".to_owned(), 100 * 1024))
        .collect();
    futures::future::join_all((0..6).map(|_| put_records(&k, &name, &batch))).await;
    let home = shards
        .iter()
        .find(|s| s.range.contains(HashKey::of_partition_key("user-42")))
        .unwrap();
    let out = run(hot_keys(&endpoint)
        .args(["--stream", &name, "--shard", home.id.as_str()])
        .args(["--from", "trim-horizon", "--duration", "3s", "--rate", "5"])
        .args(["--max-bytes-per-second", "2MiB", "--output", "json"]));
    ok(&out);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    let key = &json["shards"][0]["keys"][0];
    let worth = key["shards_worth"].as_f64().unwrap();
    assert!(worth > 1.0, "the key was written too slowly to test: {key}");
    let remedies = &key["remedies"];
    let nothing = remedies["nothing_throttled"].as_f64().unwrap();
    assert!((nothing - (1.0 - 1.0 / worth)).abs() < 1e-9, "{remedies}");
    // Each salted key lands on the open shard its MD5 falls in.
    let salting = &remedies["salting"];
    let n = salting["suffixes"].as_u64().unwrap() as u32;
    let mut per_shard = vec![0u32; shards.len()];
    for i in 0..n {
        let h = HashKey::of_partition_key(&format!("user-42#{i}"));
        per_shard[shards.iter().position(|s| s.range.contains(h)).unwrap()] += 1;
    }
    let landed = per_shard.iter().filter(|&&c| c > 0).count() as u64;
    assert_eq!(salting["shards"], landed, "{salting}");
    let worst = f64::from(*per_shard.iter().max().unwrap()) * worth / f64::from(n);
    assert!(
        (salting["worst_shards_worth"].as_f64().unwrap() - worst).abs() < 1e-9,
        "{salting}"
    );
    assert_eq!(salting["first"], "\"user-42#0\"");
    // The table says it in words (a second sample: its rate, so its
    // number of suffixes, may differ).
    let out = run(hot_keys(&endpoint)
        .args(["--stream", &name, "--shard", home.id.as_str()])
        .args(["--from", "trim-horizon", "--duration", "3s", "--rate", "5"])
        .args(["--max-bytes-per-second", "2MiB"]));
    ok(&out);
    assert!(
        out.stdout.contains("key \"user-42\" writes ")
            && out
                .stdout
                .contains(" suffixes (\"user-42#0\" .. \"user-42#"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("On-Demand with AUTO record distribution spreads its records"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn bad_arguments_exit_2_before_any_read() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["--stream", "s", "--rate", "6"],
            "--rate 6: must be above 0 and at most 5",
        ),
        (
            &["--stream", "s", "--duration", "20m"],
            "--duration 20m: must be from 1s to 10m",
        ),
        (&["--stream", "s", "--hot"], "--hot needs the policy"),
        (
            &["--stream", "s", "--from", "yesterday"],
            "is not latest, trim-horizon or an RFC 3339 time",
        ),
    ];
    for (args, message) in cases {
        // Endpoints nothing listens on: any read would fail differently.
        let out = run(bin()
            .env("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:9")
            .env("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:9")
            .env("AWS_REGION", "us-east-1")
            .env_remove("KAS_POLICY")
            .arg("hot-keys")
            .args(args));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
    }
}

/// `apply` with `split_at: traffic` on a hot one-shard stream: the pass
/// samples the shard's records and splits between the two neighbouring
/// keys that share its load most evenly, not at the midpoint.
#[tokio::test]
async fn apply_with_split_at_traffic_splits_between_the_median_neighbours() {
    if !emulators::running("apply_with_split_at_traffic_splits_between_the_median_neighbours") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("traffic");
    create_stream(&k, &name, 1, false).await;
    let shard = open_shards(&k, &name).await.remove(0);
    emulators::put_load(&name, &shard.id, 40, 0.95, 0.0).await;
    let mix: Vec<(String, usize)> = skewed_mix().into_iter().take(1000).collect();
    put_records(&k, &name, &mix).await;
    // The boundary an independent count puts the split at: between the
    // neighbouring hash keys whose cumulative records come nearest half.
    // (The sample weighs by records: 1,000 records of about 100 bytes are
    // far nearer the shard's 1,000 records a second than its 1 MiB.)
    let mut by_hash = std::collections::BTreeMap::<HashKey, u64>::new();
    for (key, _) in &mix {
        *by_hash.entry(HashKey::of_partition_key(key)).or_default() += 1;
    }
    let total: u64 = by_hash.values().sum();
    let hashes: Vec<(HashKey, u64)> = by_hash.into_iter().collect();
    let (mut below, mut best) = (0u64, (u64::MAX, 0usize));
    for (j, (_, w)) in hashes.iter().enumerate().take(hashes.len() - 1) {
        below += w;
        let d = (2 * below).abs_diff(total);
        if d < best.0 {
            best = (d, j);
        }
    }
    let (low, high) = (hashes[best.1].0, hashes[best.1 + 1].0);

    let (_dir, traffic) = policy(
        &[&name],
        // Long enough to read all 1,000 records even when the emulator is
        // slowed by the tests beside it.
        "scale_up: { split_at: traffic, sample: { duration: 10s } }\nscale_down: { window: 30m }",
    );
    let out = run(live(&endpoint)
        .args(["apply", "--policy", traffic.to_str().unwrap()])
        .args(["--yes", "--output", "json"]));
    ok(&out);
    // The shard map: two children meeting halfway between the neighbours,
    // rounded up (neither neighbour is on the boundary).
    let gap = high.0 - low.0;
    let key = HashKey(low.0 + gap / 2 + gap % 2);
    let (lower, upper) = shard.range.split_at(key).unwrap();
    let after = open_shards(&k, &name).await;
    let ranges: Vec<_> = after.iter().map(|s| s.range).collect();
    assert_eq!(ranges, [lower, upper], "{}", out.stdout);
    assert!(
        after
            .iter()
            .all(|s| s.parent_shard_id.as_ref() == Some(&shard.id))
    );
    assert!(low < key && key < high);
    assert_ne!(Some(key), shard.range.midpoint());
    assert!(out.stdout.contains("\"at\": \"traffic\""), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("split at the traffic-weighted median of 1000 sampled records"),
        "{}",
        out.stdout
    );
}

/// `--hot` samples only the shards the planner calls hot now: shard 0's
/// metrics are hot, shard 1's cold.
#[tokio::test]
async fn hot_samples_only_the_shards_the_planner_calls_hot() {
    if !emulators::running("hot_samples_only_the_shards_the_planner_calls_hot") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("hot");
    create_stream(&k, &name, 2, false).await;
    let shards = open_shards(&k, &name).await;
    emulators::put_load(&name, &shards[0].id, 40, 0.95, 0.0).await;
    emulators::put_load(&name, &shards[1].id, 40, 0.1, 0.0).await;
    put_records(&k, &name, &skewed_mix()).await;
    let (_dir, plain) = policy(&[&name], "");

    let out = run(hot_keys(&endpoint)
        .args([
            "--stream",
            &name,
            "--hot",
            "--policy",
            plain.to_str().unwrap(),
        ])
        .args(["--from", "trim-horizon", "--duration", "1s", "--rate", "5"])
        .args(["--output", "json"]));
    ok(&out);
    let stdout = &out.stdout;
    let json: Value = serde_json::from_str(stdout).unwrap();
    let reports = &json["shards"];
    let sampled: Vec<&str> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["shard_id"].as_str().unwrap())
        .collect();
    assert_eq!(sampled, [shards[0].id.as_str()]);
    // Every record of that shard was read: its keys all hash into it.
    for key in reports[0]["keys"].as_array().unwrap() {
        let hash: HashKey = key["hash_key"].as_str().unwrap().parse().unwrap();
        assert!(shards[0].range.contains(hash));
        assert_eq!(key["shard_id"], shards[0].id.as_str());
    }
}

/// An unknown shard is bad input (exit 2, naming the open shards); an
/// unknown stream is the runtime failure every command reports (exit 1).
#[tokio::test]
async fn an_unknown_shard_or_stream_is_named() {
    if !emulators::running("an_unknown_shard_or_stream_is_named") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    let name = unique("unknown");
    create_stream(&k, &name, 1, false).await;
    let out = run(hot_keys(&endpoint).args(["--stream", &name, "--shard", "shardId-000000000099"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "--shard shardId-000000000099: stream {name} has no open shard with that id; its open shards are shardId-000000000000"
        )),
        "{}",
        out.stderr
    );
    let missing = unique("missing");
    let out = run(hot_keys(&endpoint).args(["--stream", &missing]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("stream {missing}")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.to_lowercase().contains("not found"),
        "{}",
        out.stderr
    );
}
