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
                "; did you mean `threshold`?",
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
            "warm-without-forecast.yaml",
            &[
                "invalid policy",
                "defaults: warm_throughput: needs forecast (the peak ahead comes from it); add forecast: {} or set warm_throughput.enabled: false",
            ],
        ),
        (
            "max-above-stream-maximum.yaml",
            &[
                "invalid policy",
                "defaults: max_shards: 12000 is more than a stream may hold (10000, AWS's per-stream maximum); lower it",
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
            "shard-level-unknown.yaml",
            &[
                "shard-level-unknown.yaml:5:20",
                "streams[0].metrics.shard_level",
                "unknown variant `sometimes`",
                "expected `always` or `on_demand`",
            ],
        ),
        (
            "shard-refresh-out-of-range.yaml",
            &[
                "defaults: metrics.shard_refresh: 30s is outside 1m..1d",
                "metrics.shard_calm: 2days is outside 5m..1d",
            ],
        ),
        (
            "economic-out-of-range.yaml",
            &[
                "defaults: scale_down.economic.reshard_cost: -1 is outside 0..100",
                "scale_down.economic.min_window: 120m is outside 5m..scale_down.window (90m)",
                "scale_down.economic.history: 60m is outside 6h..14d",
            ],
        ),
        (
            "economic-unknown-field.yaml",
            &[
                "economic-unknown-field.yaml:5",
                "streams[0].scale_down.economic",
                "unknown field `reshard_price`",
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
        &["plan needs --policy FILE (or KAS_POLICY)"],
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

// ---------------------------------------------------------------------------
// Hostile input: each case a reproducer that once panicked, aborted, hung,
// echoed megabytes or exited 0 having done nothing. Each must end with its
// exit code, a short message, and quickly (the bound below only catches
// a hang or a quadratic blow-up in a debug build; docs/commands.md gives
// the release timings).
// ---------------------------------------------------------------------------

/// The longest any hostile case may take in a debug build.
const HANG: std::time::Duration = std::time::Duration::from_secs(30);
/// The longest error message a hostile case may print.
const SHORT: usize = 500;

/// Runs the binary; checks the exit code, that stderr is short, holds
/// `expected`, and that it all took less than [`HANG`].
fn hostile(args: &[&str], code: i32, expected: &[&str]) -> String {
    let started = std::time::Instant::now();
    let out = bin().args(args).timeout(HANG).output().expect("runs");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let shown: String = stderr.chars().take(600).collect();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {shown}");
    assert!(took < HANG, "{args:?} took {took:?}");
    assert!(
        stderr.len() < SHORT,
        "{args:?}: {} bytes on stderr: {shown}",
        stderr.len()
    );
    for piece in expected {
        assert!(
            stderr.contains(piece),
            "{args:?}: stderr lacks {piece:?}: {shown}"
        );
    }
    stderr
}

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

fn path_str(p: &std::path::Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[test]
fn a_tiny_speed_is_refused_not_a_panic() {
    for speed in ["1e-20", "1e-18", "1e-300", "-1", "NaN", "inf"] {
        let speed = format!("--speed={speed}");
        hostile(
            &["run", "--backend", "sim", &speed, "--listen", "127.0.0.1:0"],
            2,
            &["--speed must be 0 (as fast as possible) or between 0.001 and 1000000"],
        );
    }
    hostile(
        &[
            "run",
            "--backend",
            "sim",
            "--interval",
            "100000years",
            "--listen",
            "127.0.0.1:0",
        ],
        2,
        &["--interval must be between 1s and 1day"],
    );
    hostile(
        &[
            "run",
            "--backend",
            "sim",
            "--scenario",
            "tests/bad_input/scenario-tick-too-long.yaml",
            "--policy",
            "tests/bad_input/policy-for-simulated.yaml",
        ],
        2,
        &["tick: must be between 1s and 1day"],
    );
    hostile(
        &[
            "simulate",
            "--scenario",
            "tests/bad_input/scenario-consumer-rate-zero.yaml",
        ],
        2,
        &[
            "tests/bad_input/scenario-consumer-rate-zero.yaml",
            "consumer_records_per_second: must be a number of records above 0, got 0",
        ],
    );
    for (file, message) in [
        (
            "tests/bad_input/scenario-typo-field.yaml",
            "`warm_throughput`, `prices`; did you mean `burstiness`?",
        ),
        (
            "tests/bad_input/scenario-commitment-share-above-one.yaml",
            "prices.advantage_commitment_share: must be a share in [0, 1] of the account's commitment, got 1.5",
        ),
        (
            "tests/bad_input/scenario-warm-throughput-too-high.yaml",
            "warm_throughput: must be at most 10240 MiB/s (10 GiB/s, UpdateStreamWarmThroughput's limit), got 20480 MiB/s",
        ),
    ] {
        hostile(
            &[
                "simulate",
                "--strategy",
                "on-demand-advantage",
                "--scenario",
                file,
            ],
            2,
            &[file, message],
        );
    }
}

#[test]
fn a_44_byte_trace_spanning_8000_years_is_refused_before_allocating() {
    let scenario = "tests/bad_input/scenario-trace-1970-to-9999.yaml";
    let policy = "tests/bad_input/policy-for-simulated.yaml";
    let expected = [
        "the simulation would play 4223370241 minutes",
        "at most 527040 minutes (366 days)",
        "set `duration`",
    ];
    hostile(
        &["simulate", "--scenario", scenario, "--policy", policy],
        2,
        &expected,
    );
    hostile(
        &[
            "run",
            "--backend",
            "sim",
            "--scenario",
            scenario,
            "--policy",
            policy,
        ],
        2,
        &expected,
    );
    // Cut to a duration, the same trace runs.
    let dir = scratch();
    let cut = dir.path().join("cut.yaml");
    let text = std::fs::read_to_string(scenario).unwrap().replace(
        "trace: trace-1970-to-9999.csv",
        &format!(
            "trace: {}\nduration: 1h",
            super::support::test_file("bad_input/trace-1970-to-9999.csv").display()
        ),
    );
    std::fs::write(&cut, text).unwrap();
    hostile(
        &[
            "simulate",
            "--scenario",
            path_str(&cut),
            "--policy",
            policy,
            "--output",
            "json",
        ],
        0,
        &[],
    );
}

#[test]
fn shard_counts_are_bounded_by_the_shard_limit() {
    let policy = "tests/bad_input/policy-for-simulated.yaml";
    hostile(
        &[
            "simulate",
            "--scenario",
            "tests/bad_input/scenario-initial-shards-4294967295.yaml",
            "--policy",
            policy,
        ],
        2,
        &["initial_shards: must be in 1 ..= shard_limit (20000), got 4294967295"],
    );
    hostile(
        &[
            "simulate",
            "--scenario",
            "tests/bad_input/scenario-initial-shards-above-shard-limit.yaml",
            "--policy",
            policy,
        ],
        2,
        &["initial_shards: must be in 1 ..= shard_limit (500), got 5000"],
    );
    for n in ["4294967295", "99999999", "10001"] {
        hostile(
            &["simulate", "--strategy", &format!("static:{n}")],
            2,
            &["static:N (1 <= N <= 10000 shards)"],
        );
    }
    hostile(
        &[
            "simulate",
            "--strategy",
            "static:501",
            "--scenario",
            "tests/bad_input/scenario-shard-limit-500.yaml",
        ],
        2,
        &["501 shards is more than the scenario's shard_limit (500)"],
    );
}

#[test]
fn deep_nesting_is_refused_before_parsing() {
    // The reproducer as found: 40,000 levels took 11 s to reject.
    hostile(
        &[
            "validate",
            "--policy",
            "tests/bad_input/policy-nested-40000.yaml",
        ],
        2,
        &["policy-nested-40000.yaml:1:1: nested deeper than 32 levels"],
    );
    let dir = scratch();
    for (levels, file) in [
        (40_000, "nested-40000.yaml"),
        (100_000, "nested-100000.yaml"),
    ] {
        let path = dir.path().join(file);
        std::fs::write(&path, "{a: ".repeat(levels)).unwrap();
        hostile(
            &["validate", "--policy", path_str(&path)],
            2,
            &[file, ":1:1: nested deeper than 32 levels"],
        );
        hostile(
            &["simulate", "--scenario", path_str(&path)],
            2,
            &[file, ":1:1: nested deeper than 32 levels"],
        );
        let json = dir.path().join(format!("{file}.json"));
        std::fs::write(&json, "[".repeat(levels)).unwrap();
        hostile(
            &[
                "plan",
                "--policy",
                EXAMPLE_POLICY,
                "--snapshot",
                path_str(&json),
            ],
            2,
            &["nested deeper than 32 levels"],
        );
    }
}

#[test]
fn a_policy_of_100000_streams_validates_in_linear_time() {
    let dir = scratch();
    let path = dir.path().join("many.yaml");
    let mut text = String::from("version: 1\nstreams:\n");
    for i in 0..100_000 {
        text.push_str(&format!("  - name: stream-{i}\n"));
    }
    std::fs::write(&path, &text).unwrap();
    let started = std::time::Instant::now();
    let out = bin()
        .args(["validate", "--policy", path_str(&path)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("valid, 100000 stream entries"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
    );
    assert!(started.elapsed() < HANG, "took {:?}", started.elapsed());
    // Every entry a duplicate of the first: 99,999 problems, 10 listed.
    text = text
        .replace("stream-", "same-")
        .lines()
        .map(|l| {
            if l.starts_with("  - name: same-") {
                "  - name: same\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&path, &text).unwrap();
    hostile(
        &["validate", "--policy", path_str(&path)],
        2,
        &[
            "streams[1].name: \"same\" is already listed as streams[0]",
            "… and 99994 more",
        ],
    );
}

#[test]
fn run_refuses_a_policy_that_does_not_name_its_stream() {
    hostile(
        &[
            "run",
            "--backend",
            "sim",
            "--policy",
            "policies/bursty.yaml",
            "--listen",
            "127.0.0.1:0",
        ],
        2,
        &["stream \"taxi-rides\" is not named in policy policies/bursty.yaml"],
    );
}

#[test]
fn messages_quote_at_most_80_characters_of_a_bad_value() {
    let dir = scratch();
    let path = dir.path().join("big.yaml");
    let value = "x".repeat(1_000_000);
    std::fs::write(
        &path,
        format!("version: 1\nstreams:\n  - name: a\n    max_shards: {value}\n"),
    )
    .unwrap();
    let stderr = hostile(
        &["validate", "--policy", path_str(&path)],
        2,
        &["streams[0].max_shards"],
    );
    assert!(
        stderr.contains(&format!("\"{}…\"", "x".repeat(80))),
        "{stderr}"
    );
    std::fs::write(
        &path,
        format!("version: 1\nstreams:\n  - name: a\n    scale_up: {{ cooldown: {value} }}\n"),
    )
    .unwrap();
    hostile(
        &["validate", "--policy", path_str(&path)],
        2,
        &["is not a duration"],
    );
    // A 10 MB stream name in a snapshot.
    let snapshot = std::fs::read_to_string(EXAMPLE_SNAPSHOT).unwrap().replacen(
        "\"stream_name\": \"orders\"",
        &format!("\"stream_name\": \"{}\"", "n".repeat(10_000_000)),
        1,
    );
    let json = dir.path().join("long-name.json");
    std::fs::write(&json, snapshot).unwrap();
    hostile(
        &[
            "plan",
            "--policy",
            EXAMPLE_POLICY,
            "--snapshot",
            path_str(&json),
        ],
        2,
        &["is not named in policy", "nnnnnnnn…\""],
    );
    // A 10 kB shard id under `metrics.shards` (found by the fuzzer).
    let snapshot = std::fs::read_to_string(EXAMPLE_SNAPSHOT).unwrap().replacen(
        "\"shardId-000000000002\": {",
        &format!("\"{}\": {{", "[".repeat(10_000)),
        1,
    );
    std::fs::write(&json, snapshot).unwrap();
    let stderr = hostile(
        &[
            "plan",
            "--policy",
            EXAMPLE_POLICY,
            "--snapshot",
            path_str(&json),
        ],
        2,
        &["has metrics but is not in `shards`", "[[[[…\""],
    );
    assert!(stderr.len() < 1000, "{} bytes: {stderr}", stderr.len());
    // Control characters in a value are escaped, not printed.
    std::fs::write(
        &path,
        "version: 1\nstreams:\n  - name: a\n    scale_up: { cooldown: \"\\e[31mred\\n\" }\n",
    )
    .unwrap();
    let stderr = hostile(
        &["validate", "--policy", path_str(&path)],
        2,
        &["is not a duration"],
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[test]
fn messages_give_the_cause_a_read_failed_with() {
    let dir = scratch();
    let scenario = dir.path().join("s.yaml");
    std::fs::write(
        &scenario,
        "trace: missing.csv\npeak: 1MiB/s\nrecord_size: 1KiB\ninitial_shards: 1\n",
    )
    .unwrap();
    hostile(
        &["simulate", "--scenario", path_str(&scenario)],
        2,
        &[
            "cannot read trace",
            "missing.csv: No such file or directory (os error 2)",
        ],
    );
    hostile(
        &[
            "validate",
            "--policy",
            "tests/bad_input/no-such-policy.yaml",
        ],
        2,
        &["cannot read policy tests/bad_input/no-such-policy.yaml: No such file or directory"],
    );
    let binary = dir.path().join("binary.yaml");
    std::fs::write(&binary, b"version: 1\nstreams:\n  - name: \xff\xfe\n").unwrap();
    hostile(
        &["validate", "--policy", path_str(&binary)],
        2,
        &["is not UTF-8 text (invalid byte at offset 30)"],
    );
}

#[test]
fn an_unreachable_endpoint_is_named_without_the_sdks_debug_dump() {
    let stderr = hostile_env(
        &[
            "plan",
            "--policy",
            "tests/bad_input/policy-for-simulated.yaml",
        ],
        &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9")],
        1,
        &[
            "stream simulated: DescribeStreamSummary failed",
            "Connection refused",
            "(endpoint http://127.0.0.1:9)",
        ],
    );
    assert!(!stderr.contains("DispatchFailure {"), "{stderr}");
    assert!(!stderr.contains("ConnectorError"), "{stderr}");
}

/// [`hostile`] with extra environment variables (dummy credentials and a
/// region always).
fn hostile_env(args: &[&str], env: &[(&str, &str)], code: i32, expected: &[&str]) -> String {
    let mut cmd = bin();
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_ENDPOINT_URL_KINESIS")
        .env_remove("AWS_ENDPOINT_URL_CLOUDWATCH")
        .env_remove("AWS_PROFILE")
        .timeout(HANG);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let shown: String = stderr.chars().take(600).collect();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {shown}");
    // The warnings logged on the way may be long; the error line is short.
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(error.len() < SHORT, "{args:?}: {error}");
    for piece in expected {
        assert!(
            error.contains(piece),
            "{args:?}: the error lacks {piece:?}: {shown}"
        );
    }
    stderr
}
