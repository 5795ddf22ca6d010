//! Helpers shared by the integration tests.

use std::path::PathBuf;

use assert_cmd::Command;

/// The built `kinesis-autoscaler` binary, run from the repository root with
/// a clean environment for the variables it reads.
pub(crate) fn bin() -> Command {
    Command::from_std(bin_std())
}

/// [`bin`] as a plain process command, for what `assert_cmd` does not do
/// (spawning a sidecar, reading its output as it comes).
pub(crate) fn bin_std() -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("kinesis-autoscaler"));
    cmd.current_dir(root())
        .env_remove("KAS_POLICY")
        .env_remove("KAS_LOG");
    cmd
}

/// The repository root.
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `tests/`.
pub(crate) fn test_file(rel: &str) -> PathBuf {
    root().join("tests").join(rel)
}

/// Asserts that `text` (a command's output, an error message) says `needle`,
/// showing both when it does not.
#[track_caller]
pub(crate) fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
}

/// The `key` string of each entry of a JSON array.
pub(crate) fn names<'a>(entries: &'a serde_json::Value, key: &str) -> Vec<&'a str> {
    entries
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|e| e[key].as_str().expect("a string"))
        .collect()
}

/// The strategy families `tune` reports, in order.
pub(crate) const FAMILIES: [&str; 5] = [
    "planner",
    "uniform",
    "static",
    "on-demand",
    "on-demand-advantage",
];

/// Asserts the comparison's strategies, in order: planner, uniform, a
/// static stream, On-Demand, On-Demand Advantage.
pub(crate) fn assert_every_strategy(results: &serde_json::Value) {
    let strategies = names(results, "strategy");
    assert_eq!(strategies.len(), 5, "{strategies:?}");
    assert_eq!(strategies[..2], ["planner", "uniform"]);
    assert!(strategies[2].starts_with("static:"), "{strategies:?}");
    assert_eq!(strategies[3..], ["on-demand", "on-demand-advantage"]);
}

/// `cmd` pointed at the local emulators (Kinesis at `kinesis`, CloudWatch
/// at `cloudwatch`) with test credentials, and none of the developer's
/// profile or endpoint settings.
pub(crate) fn at_emulators<'a>(
    cmd: &'a mut std::process::Command,
    kinesis: &str,
    cloudwatch: &str,
) -> &'a mut std::process::Command {
    cmd.env("AWS_ENDPOINT_URL_KINESIS", kinesis)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
}

/// Reads a sidecar's (piped) stderr up to the line that says where it
/// listens, then the rest on a thread, so the child never blocks on a full
/// pipe: its port, and its log from then on once it exits.
pub(crate) fn listening(child: &mut std::process::Child) -> (u16, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, Read};
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr is piped"));
    let mut line = String::new();
    let port: u16 = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the sidecar says where it listens"
        );
        if let Some(rest) = line.split("listening on 127.0.0.1:").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    let logs = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    (port, logs)
}

/// The JSON a command printed, after checking that it exited 0 (showing
/// its stderr if not).
pub(crate) fn ok_json(out: &std::process::Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// The `plans` of what `plan --output json` printed (`{"plans": [...]}`,
/// on a snapshot and on live streams alike).
pub(crate) fn plans_of(stdout: &str) -> serde_json::Value {
    let mut json: serde_json::Value =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let plans = json["plans"].take();
    assert!(plans.is_array(), "no plans array: {stdout}");
    plans
}

/// The one plan of `plan --snapshot ... --output json`.
pub(crate) fn one_plan(stdout: &str) -> serde_json::Value {
    let mut plans = plans_of(stdout);
    assert_eq!(plans.as_array().unwrap().len(), 1, "{stdout}");
    plans[0].take()
}

/// The `scenarios` of what `simulate --output json` printed
/// (`{"scenarios": [...]}` in every mode), after checking that it exited 0.
pub(crate) fn sim_scenarios(out: &std::process::Output) -> serde_json::Value {
    let mut json = ok_json(out);
    let scenarios = json["scenarios"].take();
    assert!(scenarios.is_array(), "no scenarios array: {json}");
    scenarios
}

/// The one scenario's entry of a `simulate --output json` run.
pub(crate) fn sim_one(out: &std::process::Output) -> serde_json::Value {
    let mut scenarios = sim_scenarios(out);
    assert_eq!(scenarios.as_array().unwrap().len(), 1, "{scenarios}");
    scenarios[0].take()
}

/// The one result of a one-strategy `simulate --output json` run.
pub(crate) fn one_result(out: &std::process::Output) -> serde_json::Value {
    let mut results = sim_one(out)["results"].take();
    assert_eq!(results.as_array().unwrap().len(), 1, "{results}");
    results[0].take()
}

/// The shape of a JSON value: its keys and their types, not its values.
/// An object keeps its keys in order, an array the shape of its items
/// merged (an item's key missing elsewhere is kept; differing types are
/// joined with `|`), a scalar becomes its type's name.
pub(crate) fn json_shape(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Null => Value::from("null"),
        Value::Bool(_) => Value::from("bool"),
        Value::Number(_) => Value::from("number"),
        Value::String(_) => Value::from("string"),
        Value::Array(items) => {
            let merged = items.iter().map(json_shape).reduce(merge_shapes);
            Value::Array(merged.into_iter().collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), json_shape(v)))
                .collect(),
        ),
    }
}

fn merge_shapes(a: serde_json::Value, b: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match (a, b) {
        (a, b) if a == b => a,
        (Value::Object(mut a), Value::Object(b)) => {
            for (k, v) in b {
                let merged = match a.remove(&k) {
                    Some(mine) => merge_shapes(mine, v),
                    None => v,
                };
                a.insert(k, merged);
            }
            Value::Object(a)
        }
        (Value::Array(a), Value::Array(b)) => Value::Array(
            a.into_iter()
                .chain(b)
                .reduce(merge_shapes)
                .into_iter()
                .collect(),
        ),
        (a, b) => {
            let name = |v: &Value| {
                v.as_str()
                    .map_or_else(|| "object|array".to_owned(), str::to_owned)
            };
            let mut names: Vec<String> = name(&a)
                .split('|')
                .chain(name(&b).split('|'))
                .map(str::to_owned)
                .collect();
            names.sort();
            names.dedup();
            Value::from(names.join("|"))
        }
    }
}
