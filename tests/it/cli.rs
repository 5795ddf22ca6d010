//! The command line as a user meets it: output shapes, the table people
//! read, exit codes and help.

use serde_json::Value;

use crate::support::{assert_contains, bin, one_plan};

const POLICY: &str = "policies/example.yaml";
const SNAPSHOT: &str = "examples/orders-snapshot.json";

fn stdout_of(args: &[&str]) -> String {
    let out = bin().args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn plan_json_has_the_documented_shape() {
    let text = stdout_of(&[
        "plan",
        "--policy",
        POLICY,
        "--snapshot",
        SNAPSHOT,
        "--output",
        "json",
    ]);
    let plan = one_plan(&text);
    assert_eq!(plan["stream"], "orders");
    assert_eq!(plan["open_shards_before"], 4);
    assert_eq!(plan["open_shards_after"], 5);
    // The hot shard [0, 2^126 - 1] is split at 2^125.
    assert_eq!(
        plan["actions"][0],
        serde_json::json!({
            "type": "split",
            "shard_id": "shardId-000000000002",
            "starting_hash_key": "0",
            "ending_hash_key": "85070591730234615865843651857942052863",
            "new_starting_hash_key": "42535295865117307932921825928971026432",
            "trigger": "utilization",
            "reason": plan["actions"][0]["reason"],
        })
    );
    // The cold pair waits: a merge right after a split would break the
    // merge cooldown, which counts from the last split, and this plan's
    // split is the only one holding it back.
    assert_eq!(plan["actions"].as_array().unwrap().len(), 1);
    for cold in [2, 3] {
        assert_eq!(plan["verdicts"][cold]["verdict"], "split_first");
        assert_eq!(plan["verdicts"][cold]["until"], "2026-11-26T02:01:00Z");
    }
    // One verdict per open shard; the two closed parents get none.
    let ids: Vec<&str> = plan["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["shard_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "shardId-000000000002",
            "shardId-000000000003",
            "shardId-000000000004",
            "shardId-000000000005"
        ]
    );
}

#[test]
fn plan_yaml_matches_the_json() {
    let json: Value = serde_json::from_str(&stdout_of(&[
        "plan",
        "--policy",
        POLICY,
        "--snapshot",
        SNAPSHOT,
        "--output",
        "json",
    ]))
    .unwrap();
    let yaml: Value = serde_yaml::from_str(&stdout_of(&[
        "plan",
        "--policy",
        POLICY,
        "--snapshot",
        SNAPSHOT,
        "--output",
        "yaml",
    ]))
    .unwrap();
    assert_eq!(yaml, json);
}

#[test]
fn plan_table() {
    insta::assert_snapshot!(stdout_of(&[
        "plan",
        "--policy",
        POLICY,
        "--snapshot",
        SNAPSHOT
    ]));
}

#[test]
fn plan_table_in_cooldown() {
    // Ten minutes after a split, the same snapshot holds the hot shard back.
    let out = bin()
        .args([
            "plan",
            "--policy",
            POLICY,
            "--snapshot",
            "tests/scenarios/split-cooldown/snapshot.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!(String::from_utf8(out.stdout).unwrap());
}

#[test]
fn now_moves_the_cooldown() {
    let snapshot = "tests/scenarios/split-cooldown/snapshot.json";
    let policy = "tests/scenarios/split-cooldown/policy.yaml";
    let verdict = |now: &str| {
        let text = stdout_of(&[
            "plan",
            "--policy",
            policy,
            "--snapshot",
            snapshot,
            "--output",
            "json",
            "--now",
            now,
        ]);
        let plan = one_plan(&text);
        plan["verdicts"][0]["verdict"].as_str().unwrap().to_owned()
    };
    // The last split was at 01:57 and the cooldown is 5 minutes.
    assert_eq!(verdict("2026-11-26T02:01:59Z"), "cooling_down");
    assert_eq!(verdict("2026-11-26T02:02:00Z"), "split");
}

#[test]
fn broken_layout_exits_1_and_names_the_keys() {
    let out = bin()
        .args([
            "plan",
            "--policy",
            "tests/scenarios/overlapping-layout-refused/policy.yaml",
            "--snapshot",
            "tests/scenarios/overlapping-layout-refused/snapshot.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "open shards shardId-000000000000 and shardId-000000000001 both own hash keys \
             170141183460469231731687303715884105728..=170141183460469231731687303715884105738"
        ),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no actions: refusing to plan"));
}

#[test]
fn validate_prints_the_resolved_settings() {
    let text = stdout_of(&["validate", "--policy", POLICY]);
    assert!(
        text.starts_with("policies/example.yaml: valid, 2 stream entries"),
        "{text}"
    );
    // Every setting, one line each, under its stream.
    let clicks = text.split("stream clicks-*\n").nth(1).unwrap();
    assert_contains(
        clicks,
        "  shards           1 to 256; no daily cap on reshards\n",
    );
    assert_contains(clicks, "hot at >= 0.7 for 3m of 5m");
    assert_contains(
        clicks,
        "(at most 10% of its minutes missing), merged < 0.5; cooldown 1m; min lifetime 0s",
    );
    assert_contains(clicks, "  metrics          delay 2m, max lag 15m;");
    assert!(text.lines().all(|l| l.len() < 200), "{text}");
    // The same, as JSON.
    let json: Value = serde_json::from_str(&stdout_of(&[
        "validate", "--policy", POLICY, "--output", "json",
    ]))
    .unwrap();
    assert_eq!(json["policy"], POLICY);
    assert_eq!(json["streams"][1]["stream"], "clicks-*");
    assert_eq!(
        json["streams"][1]["settings"]["shards"],
        "1 to 256; no daily cap on reshards"
    );
    // One entry is an entry.
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.yaml");
    std::fs::write(&one, "version: 1\nstreams: [ { name: orders } ]\n").unwrap();
    assert_contains(
        &stdout_of(&["validate", "--policy", one.to_str().unwrap()]),
        ": valid, 1 stream entry\n",
    );
    // The notification targets, with no webhook secret.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.yaml");
    std::fs::write(
        &path,
        "version: 1\nstreams: [ { name: orders } ]\nnotify:\n  targets:\n    - webhook: https://hooks.example.com/services/T000/B000/SECRET\n    - sns: arn:aws:sns:us-east-1:123456789012:alerts\n",
    )
    .unwrap();
    let text = stdout_of(&["validate", "--policy", path.to_str().unwrap()]);
    assert_contains(
        &text,
        "notify: each event once per stream per 1h; 3 attempt(s) of at most 5s each\n  notify.targets[0].webhook: https://hooks.example.com/…\n  notify.targets[1].sns: arn:aws:sns:us-east-1:123456789012:alerts\n",
    );
    assert!(!text.contains("SECRET"), "{text}");
    // The consumer guard, where a policy has it.
    let text = stdout_of(&["validate", "--policy", "policies/consumers.yaml"]);
    assert!(
        text.contains("or consumers falling behind while read >= 0.2")
            && text.contains("held while consumers are over 1m behind"),
        "{text}"
    );
}

#[test]
fn every_shipped_policy_is_valid() {
    for entry in std::fs::read_dir(crate::support::root().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            stdout_of(&["validate", "--policy", path.to_str().unwrap()]);
        }
    }
}

#[test]
fn schema_describes_the_policy() {
    let schema: Value = serde_json::from_str(&stdout_of(&["schema"])).unwrap();
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["additionalProperties"], false);
    assert!(
        schema["required"]
            .as_array()
            .unwrap()
            .contains(&"version".into())
    );
    let settings = &schema["$defs"]["Settings"]["properties"];
    for field in [
        "name",
        "min_shards",
        "max_shards",
        "metrics",
        "scale_up",
        "scale_down",
        "read",
        "consumers",
    ] {
        assert!(
            settings.get(field).is_some(),
            "Settings.{field} in {settings}"
        );
    }
    let up = &schema["$defs"]["ScaleUpSettings"];
    assert_eq!(up["additionalProperties"], false);
    assert_eq!(schema["$defs"]["Fraction"]["maximum"], 1);
}

#[test]
fn route_prints_the_md5_hash_key_and_the_shard() {
    let text = stdout_of(&["route", "--key", "a"]);
    // MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
    let hash = u128::from_str_radix("0cc175b9c0f1b6a831c399e269772661", 16).unwrap();
    assert_eq!(text, format!("partition key \"a\"\nhash key      {hash}\n"));

    let text = stdout_of(&["route", "--key", "a", "--snapshot", SNAPSHOT]);
    // 0x0cc1... is below 2^126, the end of the first open shard.
    assert!(hash < 1 << 126);
    assert!(
        text.ends_with(
            "shard         shardId-000000000002 [0, 85070591730234615865843651857942052863]\n"
        ),
        "{text}"
    );
    // The same as JSON, with the same names.
    let json: Value = serde_json::from_str(&stdout_of(&[
        "route",
        "--key",
        "a",
        "--snapshot",
        SNAPSHOT,
        "--output",
        "json",
    ]))
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "partition_key": "a",
            "hash_key": hash.to_string(),
            "shard_id": "shardId-000000000002",
            "starting_hash_key": "0",
            "ending_hash_key": "85070591730234615865843651857942052863",
        })
    );
}

#[test]
fn help_documents_the_exit_codes() {
    for args in [&["--help"][..], &["plan", "--help"]] {
        let text = stdout_of(args);
        assert!(text.contains("Exit codes:"), "{args:?}");
        assert!(text.contains("2  bad input"), "{args:?}");
    }
}

/// `plan --detailed-exitcode`: 3 when a plan would act, 0 when none would,
/// for scripts (as `terraform plan -detailed-exitcode`); without the flag,
/// 0 either way.
#[test]
fn plan_says_in_its_exit_code_whether_it_would_act() {
    let code = |args: &[&str]| bin().args(args).output().unwrap().status.code();
    let acting = ["plan", "--policy", POLICY, "--snapshot", SNAPSHOT];
    assert_eq!(code(&acting), Some(0));
    let mut detailed = acting.to_vec();
    detailed.push("--detailed-exitcode");
    assert_eq!(code(&detailed), Some(3));
    // A calm two-shard stream: nothing to do.
    let dir = tempfile::tempdir().unwrap();
    let calm = dir.path().join("calm.json");
    let obs = kinesis_autoscaler::testkit::StreamBuilder::new("orders", 2)
        .all(0.6)
        .build();
    std::fs::write(&calm, serde_json::to_string(&obs).unwrap()).unwrap();
    let calm = calm.to_str().unwrap();
    assert_eq!(
        code(&[
            "plan",
            "--policy",
            POLICY,
            "--snapshot",
            calm,
            "--detailed-exitcode"
        ]),
        Some(0)
    );
}

/// `route` refuses what Kinesis refuses: a partition key of 0 or more than
/// 256 characters.
#[test]
fn route_refuses_a_partition_key_kinesis_would() {
    for (key, chars) in [(String::new(), 0), ("é".repeat(257), 257)] {
        let out = bin().args(["route", "--key", &key]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert_contains(
            &String::from_utf8_lossy(&out.stderr),
            &format!(
                "--key: a partition key is 1 to 256 characters (Kinesis refuses others), got {chars}"
            ),
        );
    }
    stdout_of(&["route", "--key", &"é".repeat(256)]);
}

/// `--version` says the release, the commit and the features built in.
#[test]
fn version_names_the_commit_and_the_features() {
    let text = stdout_of(&["--version"]);
    let line = text.trim_end();
    assert!(
        line.starts_with(&format!(
            "kinesis-autoscaler {} (",
            env!("CARGO_PKG_VERSION")
        )),
        "{line}"
    );
    // Built from this checkout: its commit, in short.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_owned());
    if let Some(head) = head {
        assert_contains(line, &head);
    }
    assert!(line.contains("; features: "), "{line}");
}

/// `init` writes a policy that `validate` accepts and that resolves to the
/// built-in defaults it claims to spell out.
#[test]
fn init_writes_a_starter_policy_at_the_built_in_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let starter = dir.path().join("starter.yaml");
    let minimal = dir.path().join("minimal.yaml");
    let text = stdout_of(&["init", "--stream", "orders", "--stream", "clicks-*"]);
    std::fs::write(&starter, &text).unwrap();
    std::fs::write(
        &minimal,
        "version: 1\nstreams:\n  - name: \"orders\"\n  - name: \"clicks-*\"\n",
    )
    .unwrap();
    let resolved = |path: &std::path::Path| {
        let text = stdout_of(&["validate", "--policy", path.to_str().unwrap()]);
        // Past the first line, which names the file.
        text.split_once('\n').unwrap().1.to_owned()
    };
    assert_eq!(resolved(&starter), resolved(&minimal));
    assert_contains(&text, "# forecast: ");
    // A name with a quote is refused, not written into broken YAML.
    let out = bin().args(["init", "--stream", "a\"b"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The completions and the man page are generated from the command line's
/// own definition: every subcommand is in them.
#[test]
fn completions_and_the_man_page_list_every_subcommand() {
    let subcommands = [
        "plan",
        "apply",
        "validate",
        "schema",
        "route",
        "hot-keys",
        "run",
        "simulate",
        "tune",
        "init",
        "completions",
        "man",
    ];
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout_of(&["completions", shell]);
        for sub in subcommands {
            assert_contains(&script, sub);
        }
    }
    let man = stdout_of(&["man"]);
    assert!(man.contains(".TH kinesis-autoscaler 1"), "{man}");
    for sub in subcommands {
        assert_contains(&man, &sub.replace('-', "\\-"));
    }
}

/// A plain `--compare` ends with the recommendation, and the policy it
/// means when it names the planner can be printed.
#[test]
fn compare_recommends_and_the_simulated_policy_can_be_printed() {
    let text = stdout_of(&[
        "simulate",
        "--compare",
        "--scenario",
        "scenarios/hot-key.yaml",
    ]);
    assert_contains(
        &text,
        "\nrecommendation: uniform ($12.19, 0.074% throttled): the cheapest within the objective of 0.100% throttled",
    );
    let bundled = stdout_of(&["simulate", "--show-policy"]);
    assert_eq!(
        bundled,
        std::fs::read_to_string(crate::support::root().join("policies/simulation.yaml")).unwrap()
    );
    let mine = stdout_of(&["simulate", "--show-policy", "--policy", POLICY]);
    assert_eq!(
        mine,
        std::fs::read_to_string(crate::support::root().join(POLICY)).unwrap()
    );
}

/// `plan` with neither a policy nor a stream says what it needs.
#[test]
fn plan_without_a_policy_or_a_stream_says_what_it_needs() {
    let out = bin().args(["plan"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        "plan needs --policy FILE (or KAS_POLICY), or --stream NAME to plan one stream with the built-in defaults",
    );
}

/// `schema --scenario` describes the scenario file: exactly the fields
/// the parser accepts (as a misspelt field's error lists them), the
/// required ones required, nothing else allowed.
#[test]
fn the_scenario_schema_has_exactly_the_fields_the_parser_takes() {
    let schema: Value = serde_json::from_str(&stdout_of(&["schema", "--scenario"])).unwrap();
    assert_eq!(schema["additionalProperties"], false);
    let mut properties: Vec<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    properties.sort_unstable();
    let out = bin()
        .args([
            "simulate",
            "--scenario",
            "tests/bad_input/scenario-typo-field.yaml",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let listed = stderr
        .split("expected one of ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    let mut fields: Vec<&str> = listed.split('`').skip(1).step_by(2).collect();
    fields.sort_unstable();
    assert_eq!(properties, fields);
    assert_eq!(
        schema["required"],
        serde_json::json!(["trace", "peak", "record_size", "initial_shards"])
    );
}
