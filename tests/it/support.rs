//! Helpers shared by the integration tests.

use std::path::PathBuf;

use assert_cmd::Command;

/// The built `kinesis-autoscaler` binary, run from the repository root with
/// a clean environment for the variables it reads.
pub fn bin() -> Command {
    let mut cmd = Command::cargo_bin("kinesis-autoscaler").expect("binary is built");
    cmd.current_dir(root())
        .env_remove("KAS_POLICY")
        .env_remove("KAS_LOG");
    cmd
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `tests/`.
pub fn test_file(rel: &str) -> PathBuf {
    root().join("tests").join(rel)
}

/// Asserts that `text` (a command's output, an error message) says `needle`,
/// showing both when it does not.
#[track_caller]
pub fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
}

/// The `key` string of each entry of a JSON array.
pub fn names<'a>(entries: &'a serde_json::Value, key: &str) -> Vec<&'a str> {
    entries
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|e| e[key].as_str().expect("a string"))
        .collect()
}

/// Asserts the comparison's strategies, in order: planner, uniform, a
/// static stream, On-Demand.
pub fn assert_every_strategy(results: &serde_json::Value) {
    let strategies = names(results, "strategy");
    assert_eq!(strategies.len(), 4, "{strategies:?}");
    assert_eq!(strategies[..2], ["planner", "uniform"]);
    assert!(strategies[2].starts_with("static:"), "{strategies:?}");
    assert_eq!(strategies[3], "on-demand");
}
