//! Whole decisions from scenario files: each folder under tests/scenarios/
//! holds a policy, a snapshot and the expected plan (written by
//! tests/scenarios/generate.py, which computes split keys on its own). The
//! binary's JSON plan must match on every field the expectation names.

use serde_json::Value;

use crate::support::{bin, test_file};

#[test]
fn every_scenario_plans_as_expected() {
    let dir = test_file("scenarios");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/scenarios exists")
        .filter_map(|e| {
            let e = e.ok()?;
            e.path()
                .join("expected.json")
                .exists()
                .then(|| e.file_name())
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 10,
        "expected the scenario corpus, found {names:?}"
    );
    for name in names {
        let folder = dir.join(&name);
        let name = name.to_string_lossy();
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(folder.join("expected.json")).unwrap())
                .unwrap();
        let out = bin()
            .arg("plan")
            .arg("--policy")
            .arg(folder.join("policy.yaml"))
            .arg("--snapshot")
            .arg(folder.join("snapshot.json"))
            .args(["--output", "json"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            expected["exit_code"].as_i64().map(|c| c as i32),
            "{name}: exit code; stderr: {stderr}"
        );
        let plan = crate::support::one_plan(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(
            plan["open_shards_after"], expected["open_shards_after"],
            "{name}: open_shards_after"
        );

        let actions = plan["actions"].as_array().unwrap();
        let want = expected["actions"].as_array().unwrap();
        assert_eq!(actions.len(), want.len(), "{name}: actions {actions:#?}");
        for (i, (got, want)) in actions.iter().zip(want).enumerate() {
            for (key, value) in want.as_object().unwrap() {
                assert_eq!(&got[key], value, "{name}: actions[{i}].{key}");
            }
            assert!(
                got["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{name}: actions[{i}] has a reason"
            );
        }

        let verdicts: Vec<&str> = plan["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["verdict"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = expected["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(verdicts, want, "{name}: verdicts");
        if let Some(refused) = expected.get("refused") {
            assert_eq!(&plan["refused"], refused, "{name}: refused");
        }
        if let Some(metrics) = expected.get("metrics") {
            assert_eq!(&plan["metrics"], metrics, "{name}: metrics");
        }
    }
}
