//! `hot-keys` against kinesis-local through the built binary: a skewed key
//! mix is written with PutRecords, and the report must name the heavy key,
//! its share, its hash key and its shard, and print hostile keys escaped.

use std::time::Duration;

use assert_cmd::Command;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use kinesis_autoscaler::model::HashKey;
use serde_json::Value;

use crate::emulators::{self, create_stream, kinesis, kinesis_endpoint, open_shards, unique};
use crate::support::bin;

fn hot_keys(endpoint: &str) -> Command {
    let mut cmd = bin();
    cmd.env("AWS_ENDPOINT_URL_KINESIS", endpoint)
        .env(
            "AWS_ENDPOINT_URL_CLOUDWATCH",
            emulators::cloudwatch_endpoint(),
        )
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("KAS_POLICY")
        .timeout(Duration::from_secs(60))
        .arg("hot-keys");
    cmd
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

    let out = hot_keys(&endpoint)
        .args(["--stream", &name, "--shard", home.id.as_str()])
        .args(["--from", "trim-horizon", "--duration", "3s", "--rate", "5"])
        .args(["--top", "3", "--output", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Value = serde_json::from_str(&stdout).unwrap();
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
    assert!(report["median_hash_key"].as_str().is_some());
    assert!(
        report["get_records_calls"].as_u64().unwrap() <= 16,
        "5 a second for 3 s"
    );

    // The table, over both shards: hostile keys are escaped, never raw.
    let out = hot_keys(&endpoint)
        .args([
            "--stream",
            &name,
            "--from",
            "trim-horizon",
            "--duration",
            "2s",
        ])
        .args(["--rate", "5", "--top", "1000"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}");
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
        // An endpoint nothing listens on: any read would fail differently.
        let out = hot_keys("http://127.0.0.1:9").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
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
    // neighbouring hash keys whose cumulative bytes come nearest half.
    let mut by_hash = std::collections::BTreeMap::<HashKey, u64>::new();
    for (key, size) in &mix {
        *by_hash.entry(HashKey::of_partition_key(key)).or_default() += (size + key.len()) as u64;
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

    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        format!("version: 1\nstreams:\n  - name: {name}\n    scale_up:\n      split_at: traffic\n      sample: {{ duration: 3s }}\n    scale_down: {{ window: 30m }}\n"),
    )
    .unwrap();
    let out = bin()
        .env("AWS_ENDPOINT_URL_KINESIS", &endpoint)
        .env(
            "AWS_ENDPOINT_URL_CLOUDWATCH",
            emulators::cloudwatch_endpoint(),
        )
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .timeout(Duration::from_secs(120))
        .args([
            "apply",
            "--policy",
            policy.to_str().unwrap(),
            "--yes",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = open_shards(&k, &name).await;
    assert_eq!(after.len(), 2, "{stdout}");
    let key = after[1].range.start();
    assert!(
        low < key && key < high,
        "{key} not between {low} and {high}"
    );
    assert_ne!(Some(key), shard.range.midpoint());
    assert!(stdout.contains("\"at\": \"traffic\""), "{stdout}");
    assert!(
        stdout.contains("split at the traffic-weighted median of 1000 sampled records"),
        "{stdout}"
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
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, format!("version: 1\nstreams:\n  - name: {name}\n")).unwrap();

    let out = hot_keys(&endpoint)
        .args([
            "--stream",
            &name,
            "--hot",
            "--policy",
            policy.to_str().unwrap(),
        ])
        .args([
            "--from",
            "trim-horizon",
            "--duration",
            "1s",
            "--rate",
            "5",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Value = serde_json::from_str(&stdout).unwrap();
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
    let out = hot_keys(&endpoint)
        .args(["--stream", &name, "--shard", "shardId-000000000099"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "--shard shardId-000000000099: stream {name} has no open shard with that id; its open shards are shardId-000000000000"
        )),
        "{stderr}"
    );
    let missing = unique("missing");
    let out = hot_keys(&endpoint)
        .args(["--stream", &missing])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("stream {missing}")), "{stderr}");
    assert!(stderr.to_lowercase().contains("not found"), "{stderr}");
}
