//! Two sidecars on the same streams (issue 15: "two replicas, shown
//! safe"): two `kinesis-autoscaler run` processes on the same one-second
//! interval, released at the same moment, so that their first passes
//! observe the same layout and race to apply the same plan, against the
//! local emulators. Checked as a user would: the streams read back through
//! the SDK, both replicas' logs, their health endpoints and exit codes.
//!
//! It caught a race the executor now handles: the replica that lost an
//! operation had recorded it in the tags anyway, and that newer record
//! stopped the winner's next operation, so a planned split or merge
//! waited out the whole cooldown (about one run in five).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kinesis_autoscaler::model::{HashKey, HashKeyRange, check_layout};
use serde_json::Value;

use crate::emulators::{
    self, PrivateEmulator, all_shards, create_stream, kinesis, kinesis_endpoint, open_shards,
    put_metrics_to, unique,
};
use crate::live::{live, policy, run};
use crate::runner::{assert_stops_cleanly_on_sigterm, get};
use crate::support::{at_emulators, bin_std};

/// How long the replicas run once both are ready: several one-second
/// passes each, and longer than the emulator's one-second reshards.
const RUN_FOR: Duration = Duration::from_secs(12);

/// One `kinesis-autoscaler run` process; killed on drop, so that a failed
/// assertion leaves nothing running.
struct Sidecar {
    child: Child,
    /// Where it serves /healthz and /readyz.
    port: u16,
    /// Its log lines (JSON), as they come.
    logs: Arc<Mutex<Vec<Value>>>,
}

impl Sidecar {
    /// The log lines whose message is `message`.
    fn lines(&self, message: &str) -> Vec<Value> {
        let logs = self.logs.lock().unwrap();
        logs.iter()
            .filter(|l| l["message"] == message)
            .cloned()
            .collect()
    }

    fn passes(&self) -> usize {
        self.lines("pass finished").len()
    }

    /// The operations it reports carried out: the executor's `done` lines,
    /// as `split SHARD at KEY` or `merge SHARD and SHARD`.
    fn applied(&self) -> Vec<String> {
        let logs = self.logs.lock().unwrap();
        logs.iter()
            .filter_map(|l| l["message"].as_str())
            .filter_map(|m| m.split_once("] done: ").map(|(_, op)| op.to_owned()))
            .collect()
    }

    /// The actions it planned in its first pass, by stream.
    fn first_plan(&self) -> BTreeMap<String, Vec<String>> {
        let mut plans: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in self.lines("planned") {
            let spans = line["spans"].as_array().cloned().unwrap_or_default();
            let pass = spans.iter().find(|s| s["name"] == "pass");
            let stream = spans.iter().find(|s| s["name"] == "stream");
            if let (Some(pass), Some(stream)) = (pass, stream)
                && pass["n"] == 1
            {
                plans
                    .entry(stream["stream"].as_str().unwrap().to_owned())
                    .or_default()
                    .push(line["action"].as_str().unwrap().to_owned());
            }
        }
        plans
    }

    fn all_logs(&self) -> String {
        let logs = self.logs.lock().unwrap();
        logs.iter().map(|l| format!("{l}\n")).collect()
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kinesis-autoscaler run` on `policy` against the emulators, with
/// a one-second interval, JSON logs and a port of its own on 127.0.0.1.
fn spawn(policy: &std::path::Path, cloudwatch: &str) -> Child {
    let mut cmd = bin_std();
    at_emulators(&mut cmd, &kinesis_endpoint(), cloudwatch)
        .args(["run", "--interval", "1s", "--wait-timeout", "30s"])
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--policy",
        ])
        .arg(policy)
        .env("KAS_LOG", "info")
        .env_remove("KAS_POLICY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

/// Reads `child`'s log until it says where it listens, then keeps reading
/// it in the background (so it never blocks on a full pipe).
fn attach(mut child: Child) -> Sidecar {
    let stderr = child.stderr.take().unwrap();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    {
        let logs = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let json: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "message": line }));
                if let Some(rest) = json["message"]
                    .as_str()
                    .and_then(|m| m.split("listening on 127.0.0.1:").nth(1))
                {
                    let port: u16 = rest.split_whitespace().next().unwrap().parse().unwrap();
                    let _ = port_tx.send(port);
                }
                logs.lock().unwrap().push(json);
            }
        });
    }
    let mut sidecar = Sidecar {
        child,
        port: 0,
        logs,
    };
    match port_rx.recv_timeout(Duration::from_secs(30)) {
        Ok(port) => sidecar.port = port,
        Err(_) => panic!(
            "the sidecar did not say where it listens:\n{}",
            sidecar.all_logs()
        ),
    }
    sidecar
}

/// Starts two replicas on `policy`, released at the same moment: each
/// reads its policy from a named pipe (the first thing `run` does), and the
/// pipes are written only once both replicas wait on them, so the time it
/// takes to load the binary does not set one ahead of the other.
fn spawn_together(dir: &std::path::Path, policy: &std::path::Path, cloudwatch: &str) -> [Child; 2] {
    let text = std::fs::read(policy).unwrap();
    let fifos = ["a", "b"].map(|name| {
        let fifo = dir.join(format!("{name}.yaml"));
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        fifo
    });
    let children = [spawn(&fifos[0], cloudwatch), spawn(&fifos[1], cloudwatch)];
    // Opening a pipe to write waits until its replica opens it to read.
    let mut pipes = fifos.map(|f| std::fs::OpenOptions::new().write(true).open(f).unwrap());
    for pipe in &mut pipes {
        pipe.write_all(&text).unwrap();
    }
    drop(pipes);
    children
}

/// The reshard that closed each closed shard, read from the stream's
/// shard map alone: `split SHARD at KEY` (two children name it as their
/// parent) or `merge SHARD and SHARD` (one child names it as a parent or
/// adjacent parent). Panics if a closed shard was closed by anything but
/// exactly one operation.
fn operations_in_map(all: &[aws_sdk_kinesis::types::Shard], open: &[String]) -> Vec<String> {
    let mut ops = Vec::new();
    for parent in all
        .iter()
        .filter(|s| !open.contains(&s.shard_id().to_owned()))
    {
        let id = parent.shard_id();
        let split_children: Vec<_> = all
            .iter()
            .filter(|c| c.parent_shard_id() == Some(id) && c.adjacent_parent_shard_id().is_none())
            .collect();
        let merged_into: Vec<_> = all
            .iter()
            .filter(|c| {
                c.adjacent_parent_shard_id().is_some()
                    && (c.parent_shard_id() == Some(id) || c.adjacent_parent_shard_id() == Some(id))
            })
            .collect();
        match (split_children.as_slice(), merged_into.as_slice()) {
            ([_, high], []) => ops.push(format!(
                "split {id} at {}",
                high.hash_key_range().unwrap().starting_hash_key()
            )),
            ([], [child]) if child.parent_shard_id() == Some(id) => ops.push(format!(
                "merge {id} and {}",
                child.adjacent_parent_shard_id().unwrap()
            )),
            ([], [_]) => {} // the adjacent parent: counted with the parent
            _ => panic!(
                "{id} was closed by {} split children and {} merges, not by exactly one operation: {all:#?}",
                split_children.len(),
                merged_into.len()
            ),
        }
    }
    ops.sort();
    ops
}

/// The open ranges after `planned` (the JSON actions of `plan`) is applied
/// exactly once to `before`.
fn layout_after(before: &[HashKeyRange], planned: &[Value]) -> Vec<HashKeyRange> {
    let key = |v: &Value| v.as_str().unwrap().parse::<HashKey>().unwrap();
    let range = |a: &Value, start: &str, end: &str| {
        HashKeyRange::new(key(&a[start]), key(&a[end])).unwrap()
    };
    let mut ranges = before.to_vec();
    for action in planned {
        match action["type"].as_str().unwrap() {
            "split" => {
                let parent = range(action, "starting_hash_key", "ending_hash_key");
                let (low, high) = parent
                    .split_at(key(&action["new_starting_hash_key"]))
                    .unwrap();
                ranges.retain(|r| *r != parent);
                ranges.extend([low, high]);
            }
            "merge" => {
                let merged = range(action, "starting_hash_key", "ending_hash_key");
                ranges.retain(|r| !(merged.start() <= r.start() && r.end() <= merged.end()));
                ranges.push(merged);
            }
            other => panic!("unknown action {other}"),
        }
    }
    ranges.sort();
    ranges
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_racing_on_the_same_streams_apply_each_operation_once() {
    if !emulators::running("two_replicas_racing_on_the_same_streams_apply_each_operation_once") {
        return;
    }
    let endpoint = kinesis_endpoint();
    let k = kinesis(&endpoint);
    // `hot`: two hot shards beside two steady ones (two splits); `cold`:
    // four idle shards (two merges).
    let (hot, cold) = (unique("replicas-hot"), unique("replicas-cold"));
    create_stream(&k, &hot, 4, false).await;
    create_stream(&k, &cold, 4, false).await;
    let hot_before = open_shards(&k, &hot).await;
    let cold_before = open_shards(&k, &cold).await;
    // A moto of its own: a pass reads it every second, and a shared one
    // holding every other test's datapoints answers too slowly for that.
    let moto = PrivateEmulator::moto();
    let cw = emulators::cloudwatch_at(&moto.endpoint);
    for (shard, load) in hot_before.iter().zip([0.95, 0.9, 0.5, 0.5]) {
        put_metrics_to(&cw, &hot, Some(&shard.id), 0..40, load, 0.0).await;
    }
    for shard in &cold_before {
        put_metrics_to(&cw, &cold, Some(&shard.id), 0..40, 0.1, 0.0).await;
    }
    // A long scale-down cooldown: one round of merges within the test,
    // so that every operation is one the first plan made.
    let (dir, policy) = policy(&[&hot, &cold], "scale_down: { window: 30m, cooldown: 30m }");

    // What one controller would do: the plan both replicas race to apply.
    let plan = run(live(&endpoint)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", &moto.endpoint)
        .args([
            "plan",
            "--policy",
            policy.to_str().unwrap(),
            "--output",
            "json",
        ]));
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plans = crate::support::plans_of(&plan.stdout);
    let planned = |stream: &str| -> Vec<Value> {
        let p = plans
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["stream"] == stream)
            .unwrap();
        p["actions"].as_array().unwrap().clone()
    };
    let kinds = |actions: &[Value]| -> Vec<String> {
        actions
            .iter()
            .map(|a| a["type"].as_str().unwrap().to_owned())
            .collect()
    };
    let (hot_plan, cold_plan) = (planned(&hot), planned(&cold));
    assert_eq!(kinds(&hot_plan), ["split", "split"], "{}", plan.stdout);
    assert_eq!(kinds(&cold_plan), ["merge", "merge"], "{}", plan.stdout);

    // Both at once, on the same interval: their first passes race.
    let mut replicas = spawn_together(dir.path(), &policy, &moto.endpoint).map(attach);
    let started = Instant::now();
    let bound = Duration::from_secs(60);
    while !replicas.iter().all(|r| get(r.port, "/readyz").0 == 200) {
        assert!(
            started.elapsed() < bound,
            "not both ready within {bound:?}:\n{}\n{}",
            replicas[0].all_logs(),
            replicas[1].all_logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // From then on both stay healthy, ready and running.
    let ready_at = Instant::now();
    while ready_at.elapsed() < RUN_FOR {
        for (i, r) in replicas.iter_mut().enumerate() {
            assert_eq!(r.child.try_wait().unwrap(), None, "replica {i} exited");
            for path in ["/healthz", "/readyz"] {
                assert_eq!(
                    get(r.port, path).0,
                    200,
                    "replica {i} {path}:\n{}",
                    r.all_logs()
                );
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for (i, r) in replicas.iter().enumerate() {
        assert!(r.passes() >= 5, "replica {i}: {} passes", r.passes());
    }
    let logs = format!(
        "replica 0:\n{}\nreplica 1:\n{}",
        replicas[0].all_logs(),
        replicas[1].all_logs()
    );
    // They did race: each planned both streams' whole plan in its first
    // pass, from the same layout.
    for (i, r) in replicas.iter().enumerate() {
        let first = r.first_plan();
        for (stream, plan) in [(&hot, &hot_plan), (&cold, &cold_plan)] {
            assert_eq!(
                first.get(stream.as_str()).map_or(0, Vec::len),
                plan.len(),
                "replica {i} planned {stream} in its first pass: {first:?}\n{logs}"
            );
        }
    }
    // The logs alone say why: every pass, one line per stream summing up
    // its verdicts, and every planned action and every one carried out
    // with its reason.
    for (i, r) in replicas.iter().enumerate() {
        let logs = r.logs.lock().unwrap();
        for stream in [&hot, &cold] {
            let summaries: Vec<&Value> = logs
                .iter()
                .filter(|l| {
                    l["verdicts"].is_string() && l["spans"].to_string().contains(stream.as_str())
                })
                .collect();
            assert!(
                summaries.len() >= 5,
                "replica {i}: {stream}: {} summaries\n{logs:?}",
                summaries.len()
            );
            let first = summaries[0]["verdicts"].as_str().unwrap();
            assert!(first.contains(" open shards: "), "{first}");
        }
        for line in logs.iter().filter(|l| l["message"] == "planned") {
            let because = line["because"].as_str().unwrap_or_default();
            assert!(
                because.starts_with("hot: ") || because.starts_with("merge with "),
                "replica {i}: {line}"
            );
        }
        for line in logs.iter().filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("] done: "))
        }) {
            assert!(line["because"].is_string(), "replica {i}: {line}");
        }
    }
    for r in &mut replicas {
        assert_stops_cleanly_on_sigterm(&mut r.child);
    }

    let mut reported: Vec<String> = replicas.iter().flat_map(Sidecar::applied).collect();
    reported.sort();
    let mut in_maps = Vec::new();
    for (stream, before, plan) in [
        (&hot, &hot_before, &hot_plan),
        (&cold, &cold_before, &cold_plan),
    ] {
        let open = open_shards(&k, stream).await;
        assert!(check_layout(&open).is_empty(), "{stream}: {open:?}");
        let open_ids: Vec<String> = open.iter().map(|s| s.id.to_string()).collect();
        in_maps.extend(operations_in_map(&all_shards(&k, stream).await, &open_ids));
        // Each planned action exactly once: one split per hot reading,
        // one merge per cold pair.
        let ranges: Vec<HashKeyRange> = before.iter().map(|s| s.range).collect();
        let now: Vec<HashKeyRange> = open.iter().map(|s| s.range).collect();
        assert_eq!(now, layout_after(&ranges, plan), "{stream}:\n{logs}");
    }
    in_maps.sort();
    // What the shard maps show is what the replicas reported, each
    // operation by one of them.
    assert_eq!(reported, in_maps, "{logs}");
}
