//! Helpers shared by the integration tests.

use std::path::PathBuf;

use assert_cmd::Command;

/// The built `kinesis-autoscaler` binary, run from the repository root with
/// a clean environment for the variables it reads.
pub fn bin() -> Command {
    Command::from_std(bin_std())
}

/// [`bin`] as a plain process command, for what `assert_cmd` does not do
/// (spawning a sidecar, reading its output as it comes).
pub fn bin_std() -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("kinesis-autoscaler"));
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

/// The strategy families `tune` reports, in order.
pub const FAMILIES: [&str; 5] = [
    "planner",
    "uniform",
    "static",
    "on-demand",
    "on-demand-advantage",
];

/// Asserts the comparison's strategies, in order: planner, uniform, a
/// static stream, On-Demand, On-Demand Advantage.
pub fn assert_every_strategy(results: &serde_json::Value) {
    let strategies = names(results, "strategy");
    assert_eq!(strategies.len(), 5, "{strategies:?}");
    assert_eq!(strategies[..2], ["planner", "uniform"]);
    assert!(strategies[2].starts_with("static:"), "{strategies:?}");
    assert_eq!(strategies[3..], ["on-demand", "on-demand-advantage"]);
}

/// `cmd` pointed at the local emulators (Kinesis at `kinesis`, CloudWatch
/// at `cloudwatch`) with test credentials, and none of the developer's
/// profile or endpoint settings.
pub fn at_emulators<'a>(
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
pub fn listening(child: &mut std::process::Child) -> (u16, std::thread::JoinHandle<String>) {
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
pub fn ok_json(out: &std::process::Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}
