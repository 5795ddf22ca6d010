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
