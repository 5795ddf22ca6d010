//! `tune`: each family at its best on a bundled scenario, the planner's
//! winning policy written, checked and reproduced, and bad flags refused.

use serde_json::Value;

use crate::support::{assert_contains, bin, names, ok_json as json};

/// `validate` accepts the policy file: exit 0, and one stream entry.
fn assert_valid_policy(policy: &std::path::Path) {
    let out = bin()
        .args(["validate", "--policy"])
        .arg(policy)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!("{}: valid, 1 stream entry", policy.display())),
        "{stdout}"
    );
}

fn family<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["families"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["family"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[test]
fn tuning_writes_a_policy_that_validates_and_reproduces_its_numbers() {
    // The bundled bursty-tweets scenario, its first 4 days (a debug
    // build simulates slowly).
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("bursty-4d.yaml");
    let text = std::fs::read_to_string("scenarios/bursty-tweets.yaml")
        .unwrap()
        .replace("duration: 14d", "duration: 4d")
        .replace(
            "trace: ../traces/",
            &format!("trace: {}/traces/", crate::support::root().display()),
        );
    assert!(text.contains("duration: 4d"), "{text}");
    std::fs::write(&scenario, text).unwrap();
    let policy = dir.path().join("tuned.yaml");
    let chart = dir.path().join("frontiers.svg");
    let run = || {
        bin()
            .args(["tune", "--scenario"])
            .arg(&scenario)
            .arg("--chart")
            .arg(&chart)
            .args([
                "--max-throttled-pct",
                "0.1",
                "--output",
                "json",
                "--save-policy",
            ])
            .arg(&policy)
            .output()
            .unwrap()
    };
    let report = json(&run());
    // Deterministic: the same frontier twice.
    assert_eq!(report, json(&run()));

    // One shape, pinned (keys and types; tune --stream prints the same).
    insta::assert_snapshot!(
        "tune_json_shape",
        serde_json::to_string_pretty(&crate::support::json_shape(&report)).unwrap()
    );
    assert_eq!(report["scenario"], "bursty-tweets");
    assert_eq!(report["tuning_days"], 2.8);
    assert_eq!(report["validation_days"], 1.2);
    assert_eq!(
        names(&report["families"], "family"),
        crate::support::FAMILIES
    );
    // Every frontier is cheapest first and throttles strictly less as it
    // costs more.
    for f in report["families"].as_array().unwrap() {
        let points: Vec<(f64, f64)> = f["frontier"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[1]["cost_usd_per_day"].as_f64().unwrap(),
                    p[1]["throttled_fraction"].as_f64().unwrap(),
                )
            })
            .collect();
        assert!(!points.is_empty());
        for w in points.windows(2) {
            assert!(w[0].0 <= w[1].0 && w[0].1 > w[1].1, "{points:?}");
        }
    }

    // The chart draws every family's frontier.
    let svg = std::fs::read_to_string(&chart).unwrap();
    for name in crate::support::FAMILIES {
        assert_contains(&svg, &format!(">{name}</text>"));
    }

    // The policy file validates ...
    assert_valid_policy(&policy);
    let text = std::fs::read_to_string(&policy).unwrap();
    assert!(
        text.starts_with("# Tuned by `kinesis-autoscaler tune` on scenario bursty-tweets"),
        "{text}"
    );
    // ... and simulating the whole scenario with it gives the numbers the
    // tune reported for the planner's whole-trace run.
    let out = bin()
        .args(["simulate", "--scenario"])
        .arg(&scenario)
        .args(["--strategy", "planner", "--output", "json", "--policy"])
        .arg(&policy)
        .output()
        .unwrap();
    let simulated = crate::support::one_result(&out);
    let whole = &family(&report, "planner")["whole"];
    for (tuned, key) in [
        ("cost_usd", "cost_usd"),
        ("throttled_fraction", "throttled_fraction"),
        ("new_shards_per_day", "new_shards_per_day"),
        ("shard_hours", "shard_hours"),
    ] {
        assert_eq!(whole[tuned], simulated[key], "{key}");
    }
    // On-Demand never throttles; the recommendation names a family.
    assert_eq!(
        family(&report, "on-demand")["whole"]["throttled_fraction"],
        0.0
    );
    assert!(
        report["recommendation"]
            .as_str()
            .unwrap()
            .contains("within the objective")
    );
}

#[test]
fn bad_flags_exit_2_naming_the_flag_before_simulating() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--max-throttled-pct", "20"],
            "--max-throttled-pct must be above 0 and at most 10",
        ),
        (
            &["--max-throttled-pct", "0"],
            "--max-throttled-pct must be above 0",
        ),
        (
            &["--validate-pct", "70"],
            "--validate-pct must be between 10 and 50",
        ),
        (
            &["--max-new-shards-per-day=-1"],
            "--max-new-shards-per-day must be a number of shards, 0 or more, got -1",
        ),
        (&["--scenario", "scenarios/nope.yaml"], "nope.yaml"),
    ];
    for (args, expected) in cases {
        let out = bin().arg("tune").args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_contains(&stderr, expected);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_trace_too_short_to_split_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("short.yaml");
    let trace = crate::support::root().join("traces/nyc_taxi.csv");
    std::fs::write(
        &scenario,
        format!(
            "stream: s\ntrace: {}\npeak: 1MiB/s\nrecord_size: 1KiB\ninitial_shards: 1\nduration: 2d\n",
            trace.display()
        ),
    )
    .unwrap();
    let out = bin()
        .args(["tune", "--scenario"])
        .arg(&scenario)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_contains(
        &stderr,
        "--validate-pct 30: the scenario's 2880 minutes leave 2016 to tune on and 864 to validate on; each part needs at least a day",
    );
}

/// A scenario file in `dir`: the bundled `name`, its first `days` days.
fn shortened(dir: &std::path::Path, name: &str, days: u32) -> std::path::PathBuf {
    let text = std::fs::read_to_string(format!("scenarios/{name}.yaml"))
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("duration:") {
                format!("duration: {days}d")
            } else {
                l.replace(
                    "trace: ../traces/",
                    &format!("trace: {}/traces/", crate::support::root().display()),
                )
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_suite_with_tune_recommends_each_family_at_its_best() {
    let dir = tempfile::tempdir().unwrap();
    let a = shortened(dir.path(), "bursty-tweets", 4);
    let b = shortened(dir.path(), "hot-key", 4);
    let out = bin()
        .args(["simulate", "--tune", "--output", "json", "--scenario"])
        .arg(&a)
        .arg("--scenario")
        .arg(&b)
        .output()
        .unwrap();
    let rows = crate::support::sim_scenarios(&out);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let tuned = &row["tuned"];
        let text = tuned["recommendation"]
            .as_str()
            .unwrap_or_else(|| panic!("{row}"));
        assert!(
            text.contains("the cheapest within the objective") || text.starts_with("none meets"),
            "{text}"
        );
        assert!(
            tuned["candidates_simulated"].as_u64().unwrap() > 30,
            "{tuned}"
        );
        // On these four days a single shard serves the tweets, and the
        // planner is the cheapest for the hot key.
        let expected = match row["scenario"].as_str().unwrap() {
            "bursty-tweets" => "static (1 shard): ",
            "hot-key" => "planner (",
            other => panic!("{other}"),
        };
        assert!(text.starts_with(expected), "{text}");
        // Where the planner is recommended, its policy is printed and valid.
        if text.starts_with("planner ") {
            let policy = dir.path().join("tuned.yaml");
            std::fs::write(&policy, tuned["policy"].as_str().unwrap()).unwrap();
            assert_valid_policy(&policy);
        } else {
            assert!(tuned.get("policy").is_none(), "{tuned}");
        }
    }
    // One scenario is `tune`'s job.
    let out = bin()
        .args(["simulate", "--tune", "--scenario"])
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        "--tune tunes each scenario of a suite; for one scenario, run `tune --scenario FILE`",
    );
}
