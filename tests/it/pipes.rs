//! Closed pipes: every subcommand whose stdout and stderr are read by
//! something that has gone away (`| head -1`, a log shipper restarting)
//! finishes as it would have, with its own exit code, and never panics
//! (101). A sidecar keeps controlling when its log pipe closes.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::bin_std;

/// A 12-hour scenario of the bundled taxi trace, so that the simulating
/// commands finish in seconds.
fn short_scenario(dir: &std::path::Path) -> std::path::PathBuf {
    let trace = std::fs::canonicalize("traces/nyc_taxi.csv").unwrap();
    let path = dir.join("short.yaml");
    std::fs::write(
        &path,
        format!(
            "trace: {}\npeak: 2MiB/s\nrecord_size: 1KiB\ninitial_shards: 2\nduration: 12h\n",
            trace.display()
        ),
    )
    .unwrap();
    path
}

/// Runs `args` with both outputs going into pipes whose readers are
/// closed before the command writes, and returns its exit code.
fn through_closed_pipes(args: &[&str]) -> Option<i32> {
    let mut child = bin_std()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} did not finish within 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn no_subcommand_panics_on_closed_stdout_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = short_scenario(dir.path());
    let scenario = scenario.to_str().unwrap();
    let cases: &[(&[&str], i32)] = &[
        (&["--help"], 0),
        (&["--version"], 0),
        (&["validate", "--policy", "policies/example.yaml"], 0),
        (&["schema"], 0),
        (&["init", "--stream", "orders"], 0),
        (&["completions", "bash"], 0),
        (&["man"], 0),
        (
            &[
                "plan",
                "--policy",
                "policies/example.yaml",
                "--snapshot",
                "examples/orders-snapshot.json",
            ],
            0,
        ),
        (
            &[
                "route",
                "--key",
                "user-42",
                "--snapshot",
                "examples/orders-snapshot.json",
            ],
            0,
        ),
        (&["simulate", "--scenario", scenario], 0),
        (&["simulate", "--compare", "--scenario", scenario], 0),
        (
            &[
                "simulate",
                "--compare",
                "--output",
                "json",
                "--scenario",
                scenario,
            ],
            0,
        ),
        // A sidecar on the simulator, logging every pass into a closed
        // pipe: it controls to the scenario's end.
        (
            &[
                "run",
                "--backend",
                "sim",
                "--scenario",
                scenario,
                "--speed",
                "0",
            ],
            0,
        ),
        // Errors, said on a closed stderr.
        (
            &["validate", "--policy", "tests/bad_input/typo-field.yaml"],
            2,
        ),
        (&["simulate", "--strategy", "static:0"], 2),
    ];
    for (args, code) in cases {
        assert_eq!(
            through_closed_pipes(args),
            Some(*code),
            "{args:?} (101 is a panic)"
        );
    }
}
