//! The bad-input corpus (tests/bad_input/): every malformed policy,
//! snapshot or command line exits with code 2, prints nothing on stdout, and
//! says on stderr where the problem is and what is wrong.

use crate::support::bin;

const EXAMPLE_POLICY: &str = "policies/example.yaml";
const EXAMPLE_SNAPSHOT: &str = "examples/orders-snapshot.json";

/// Runs the binary and checks the exit code, the silence on stdout and
/// each expected piece of the error message.
fn assert_bad_input(args: &[&str], expected: &[&str]) {
    let out = bin().args(args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?}: exit code; stderr: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{args:?}: stdout should be empty, got {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    for piece in expected {
        assert!(
            stderr.contains(piece),
            "{args:?}: stderr lacks {piece:?}:\n{stderr}"
        );
    }
}

fn bad_policy(file: &str, expected: &[&str]) {
    let path = format!("tests/bad_input/{file}");
    assert_bad_input(&["validate", "--policy", &path], expected);
    // `plan` rejects the policy the same way before reading anything else.
    assert_bad_input(
        &["plan", "--policy", &path, "--snapshot", EXAMPLE_SNAPSHOT],
        expected,
    );
}

fn bad_snapshot(file: &str, expected: &[&str]) {
    let path = format!("tests/bad_input/{file}");
    assert_bad_input(
        &["plan", "--policy", EXAMPLE_POLICY, "--snapshot", &path],
        expected,
    );
}

#[test]
fn policies() {
    let cases: &[(&str, &[&str])] = &[
        (
            "typo-field.yaml",
            &[
                "typo-field.yaml:4:5",
                "defaults.scale_up.treshold",
                "unknown field `treshold`",
                "`threshold`",
            ],
        ),
        (
            "wrong-type.yaml",
            &[
                "wrong-type.yaml:4:17",
                "streams[0].max_shards",
                "\"lots\"",
                "whole number of shards",
            ],
        ),
        (
            "threshold-out-of-range.yaml",
            &[
                "threshold-out-of-range.yaml:6:",
                "streams[1].scale_up.threshold: must be in (0, 1], got 1.7",
            ],
        ),
        (
            "min-above-max.yaml",
            &[
                "invalid policy",
                "defaults: min_shards: 10 is above max_shards 4",
            ],
        ),
        (
            "sustain-longer-than-window.yaml",
            &["streams[0] (orders): scale_up.sustain: 3m is longer than scale_up.window 2m"],
        ),
        (
            "ceiling-not-below-threshold.yaml",
            &["defaults: scale_down.merged_ceiling: 0.7 must be below scale_up.threshold 0.6"],
        ),
        (
            "cold-threshold-not-below-hot.yaml",
            &[
                "streams[0] (orders): scale_down.threshold: 0.5 must be below scale_up.threshold 0.5",
            ],
        ),
        (
            "zero-window.yaml",
            &[
                "zero-window.yaml:5:",
                "streams[0].scale_down.window: must be at least 1m",
            ],
        ),
        (
            "window-not-whole-minutes.yaml",
            &[
                "streams[0].scale_up.window",
                "whole number of minutes",
                "1m 30s",
            ],
        ),
        (
            "duration-without-unit.yaml",
            &["streams[0].scale_up.cooldown", "300 has no unit", "300s"],
        ),
        (
            "duration-junk.yaml",
            &["streams[0].metrics.delay", "\"soon\" is not a duration"],
        ),
        (
            "broken-yaml.yaml",
            &["broken-yaml.yaml:5:1", "did not find expected ',' or '}'"],
        ),
        ("missing-version.yaml", &["missing field `version`"]),
        (
            "wrong-version.yaml",
            &["version: this build reads policy version 1, got 2"],
        ),
        ("no-streams.yaml", &["streams: lists no stream"]),
        ("missing-name.yaml", &["streams[0].name: missing"]),
        (
            "duplicate-stream.yaml",
            &["streams[1].name: \"orders\" is already listed as streams[0]"],
        ),
        ("name-in-defaults.yaml", &["defaults.name: not allowed"]),
        ("bad-glob.yaml", &["streams[0].name", "not a valid glob"]),
        (
            "negative-min-shards.yaml",
            &["streams[0].min_shards", "at least 1, got -1"],
        ),
        (
            "zero-max-shards.yaml",
            &["streams[0].max_shards", "at least 1, got 0"],
        ),
        (
            "fractional-shards.yaml",
            &["streams[0].max_shards", "got 2.5"],
        ),
        (
            "not-a-mapping.yaml",
            &["not-a-mapping.yaml:1:1", "invalid type: sequence"],
        ),
        (
            "budget-negative.yaml",
            &["streams[0].scale_down.max_merges_per_run", "-2"],
        ),
        (
            "absurd-durations.yaml",
            &[
                "streams[0] (orders): scale_up.window: 2880m is longer than the longest window, 1d",
                "metrics.delay: 2h is longer than the longest allowed, 1h",
                "scale_up.cooldown: 300000years is longer than the longest allowed, 7days",
            ],
        ),
        (
            "does-not-exist.yaml",
            &[
                "cannot read policy tests/bad_input/does-not-exist.yaml",
                "No such file",
            ],
        ),
    ];
    for (file, expected) in cases {
        bad_policy(file, expected);
    }
}

#[test]
fn snapshots() {
    let cases: &[(&str, &[&str])] = &[
        (
            "snapshot-junk-hash-key.json",
            &[
                "snapshot-junk-hash-key.json:25:",
                "shards[2].starting_hash_key",
                "\"12abc\" is not a decimal integer",
            ],
        ),
        (
            "snapshot-negative-hash-key.json",
            &["shards[2].ending_hash_key", "\"-5\" is negative"],
        ),
        (
            "snapshot-hash-key-too-large.json",
            &[
                "shards[5].ending_hash_key",
                "above the largest hash key 2^128-1",
            ],
        ),
        (
            "snapshot-inverted-range.json",
            &["shards[3]", "is above ending hash key 5"],
        ),
        (
            "snapshot-unknown-status.json",
            &["stream_status", "unknown variant `RESHARDING`", "`ACTIVE`"],
        ),
        (
            "snapshot-period.json",
            &["metrics.period_seconds: must be 60", "got 300"],
        ),
        (
            "snapshot-negative-metric.json",
            &[
                "metrics.shards.shardId-000000000003.IncomingBytes[7]",
                "non-negative",
                "got -1",
            ],
        ),
        (
            "snapshot-metrics-unknown-shard.json",
            &["metrics.shards.shardId-000000000099", "not in `shards`"],
        ),
        (
            "snapshot-unknown-metric.json",
            &[
                "metrics.shards.shardId-000000000003.IncomingByte",
                "unknown field `IncomingByte`",
                "`IncomingBytes`",
            ],
        ),
        (
            "snapshot-missing-stream-name.json",
            &["missing field `stream_name`"],
        ),
        (
            "snapshot-duplicate-shard.json",
            &["shards[4].shard_id", "shardId-000000000003 is listed twice"],
        ),
        (
            "snapshot-bad-time.json",
            &[
                "observed_at",
                "\"yesterday\" is not an RFC 3339 time",
                "2026-11-26T02:00:00Z",
            ],
        ),
        (
            "snapshot-metric-wrong-type.json",
            &[
                "metrics.shards.shardId-000000000003.IncomingRecords[0]",
                "\"many\"",
            ],
        ),
        (
            "snapshot-broken-json.json",
            &["snapshot-broken-json.json:29:", "while parsing a string"],
        ),
        (
            "snapshot-stream-not-in-policy.json",
            &[
                "stream \"payments\" is not named in policy policies/example.yaml",
                "- name: payments",
            ],
        ),
        (
            "does-not-exist.json",
            &["cannot read snapshot tests/bad_input/does-not-exist.json"],
        ),
    ];
    for (file, expected) in cases {
        bad_snapshot(file, expected);
    }
}

#[test]
fn usage() {
    assert_bad_input(
        &["plan", "--snapshot", EXAMPLE_SNAPSHOT],
        &["--policy <FILE>"],
    );
    assert_bad_input(
        &[
            "plan",
            "--policy",
            EXAMPLE_POLICY,
            "--snapshot",
            EXAMPLE_SNAPSHOT,
            "--output",
            "xml",
        ],
        &["invalid value 'xml'", "table, json, yaml"],
    );
    assert_bad_input(
        &[
            "plan",
            "--policy",
            EXAMPLE_POLICY,
            "--snapshot",
            EXAMPLE_SNAPSHOT,
            "--now",
            "later",
        ],
        &["--now", "later"],
    );
    assert_bad_input(&["frobnicate"], &["unrecognized subcommand 'frobnicate'"]);
    assert_bad_input(&["route"], &["--key <KEY>"]);
    assert_bad_input(
        &[
            "route",
            "--key",
            "k",
            "--snapshot",
            "tests/bad_input/snapshot-junk-hash-key.json",
        ],
        &["\"12abc\" is not a decimal integer"],
    );
}
