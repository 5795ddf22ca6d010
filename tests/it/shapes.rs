//! One JSON shape per command, pinned: whatever the mode, a command prints
//! one object with the same keys (`plan`: `plans`; `simulate`:
//! `scenarios`, each with the same fields). The snapshots hold the shapes
//! (keys and types), not the numbers, so a field renamed, dropped or
//! moved fails here, and a changed number does not. The commands that
//! need the emulators check the same top-level shapes in their own tests
//! (live.rs, hot_keys.rs).

use serde_json::Value;

use crate::support::{bin, json_shape, ok_json};

fn json_of(args: &[&str]) -> Value {
    ok_json(&bin().args(args).output().unwrap())
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(&json_shape(value)).unwrap()
}

const POLICY: &str = "policies/example.yaml";
const SNAPSHOT: &str = "examples/orders-snapshot.json";

#[test]
fn plan_prints_plans_on_a_snapshot_as_on_live_streams() {
    let json = json_of(&[
        "plan",
        "--policy",
        POLICY,
        "--snapshot",
        SNAPSHOT,
        "--output",
        "json",
    ]);
    assert_eq!(keys(&json), ["plans"]);
    insta::assert_snapshot!(pretty(&json));
}

#[test]
fn validate_and_route_print_one_object() {
    let validate = json_of(&["validate", "--policy", POLICY, "--output", "json"]);
    insta::assert_snapshot!("validate", pretty(&validate));
    let route = json_of(&[
        "route",
        "--key",
        "a",
        "--snapshot",
        SNAPSHOT,
        "--output",
        "json",
    ]);
    insta::assert_snapshot!("route", pretty(&route));
}

/// One strategy, `--compare` and a suite print the same object: a
/// `scenarios` array whose entries have the same fields.
#[test]
fn simulate_prints_one_shape_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let trace = std::fs::canonicalize("traces/nyc_taxi.csv").unwrap();
    let mut paths = Vec::new();
    for name in ["a", "b"] {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &path,
            format!(
                "name: {name}\ntrace: {}\npeak: 2MiB/s\nrecord_size: 1KiB\ninitial_shards: 2\nduration: 6h\n",
                trace.display()
            ),
        )
        .unwrap();
        paths.push(path.to_str().unwrap().to_owned());
    }
    let chart = dir.path().join("chart.svg");
    let chart = chart.to_str().unwrap();
    let one = json_of(&[
        "simulate",
        "--scenario",
        &paths[0],
        "--output",
        "json",
        "--chart",
        chart,
    ]);
    let compare = json_of(&[
        "simulate",
        "--compare",
        "--scenario",
        &paths[0],
        "--output",
        "json",
        "--chart",
        chart,
    ]);
    let suite = json_of(&[
        "simulate",
        "--scenario",
        &paths[0],
        "--scenario",
        &paths[1],
        "--output",
        "json",
    ]);
    for json in [&one, &compare, &suite] {
        assert_eq!(keys(json), ["scenarios"]);
        for entry in json["scenarios"].as_array().unwrap() {
            assert_eq!(
                keys(entry),
                [
                    "scenario",
                    "results",
                    "recommendation",
                    "tuned",
                    "chart",
                    "replay"
                ],
            );
        }
    }
    assert_eq!(one["scenarios"][0]["results"].as_array().unwrap().len(), 1);
    assert_eq!(
        one["scenarios"][0]["recommendation"],
        Value::Null,
        "one strategy: nothing to choose"
    );
    assert_eq!(one["scenarios"][0]["chart"], chart);
    assert_eq!(suite["scenarios"].as_array().unwrap().len(), 2);
    assert_eq!(
        suite["scenarios"][0]["chart"],
        Value::Null,
        "a suite draws no chart"
    );
    // Every result has the same fields in every mode.
    let result_shape = |json: &Value| json_shape(&json["scenarios"][0]["results"][0]);
    assert_eq!(result_shape(&one), result_shape(&compare));
    assert_eq!(result_shape(&one), result_shape(&suite));
    insta::assert_snapshot!(pretty(&compare));
}
