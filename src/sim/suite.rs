//! A suite: scenarios checked against a policy and the strategies asked
//! for ([`prepare`]), then every strategy of every scenario simulated, one
//! per core ([`simulate_all`]). The CLI's `simulate` renders what this
//! returns; nothing here prints.

use crate::Error;
use crate::policy::Policy;
use crate::sim::oracle::Oracles;
use crate::sim::scenario::Scenario;
use crate::sim::strategy::{self, Outcome, Strategy};
use crate::sim::traffic::{Trace, Traffic};

/// One scenario ready to simulate: its traffic, policy and strategies.
#[derive(Debug)]
pub struct Prepared {
    pub scenario: Scenario,
    pub traffic: Traffic,
    pub policy: crate::policy::StreamPolicy,
    pub strategies: Vec<Strategy>,
}

/// Checks `scenario` against `policy` and the strategies asked for, and
/// builds its traffic: everything that can be refused is refused before
/// any simulation starts.
pub fn prepare(
    policy: &Policy,
    scenario: Scenario,
    trace: &Trace,
    only: Option<Strategy>,
) -> Result<Prepared, Error> {
    let rule = policy
        .rule_for(&scenario.stream)
        .ok_or_else(|| Error::StreamNotInPolicy {
            stream: scenario.stream.clone(),
            policy: policy.source.clone(),
        })?;
    let traffic = Traffic::new(&scenario, trace)
        .map_err(|message| Error::Usage(format!("scenario {}: {message}", scenario.name)))?;
    let strategies = match only {
        Some(strategy) => vec![strategy],
        None => vec![
            Strategy::Planner,
            Strategy::Uniform,
            Strategy::Static(static_shards(&traffic).min(scenario.shard_limit)),
            Strategy::OnDemand,
            Strategy::Advantage,
        ],
    };
    for strategy in &strategies {
        strategy.check(&scenario).map_err(|m| {
            Error::Usage(format!(
                "scenario {}: --strategy {strategy}: {m}",
                scenario.name
            ))
        })?;
    }
    Ok(Prepared {
        policy: rule.policy.clone(),
        scenario,
        traffic,
        strategies,
    })
}

/// Runs every strategy of every prepared scenario, as many at once as the
/// machine has cores, and returns each scenario's oracles and outcomes in
/// order. `progress` is told each batch of simulated minutes as it is
/// done (a terminal's progress bar; or nothing).
pub fn simulate_all(
    runs: &[Prepared],
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<(Oracles, Vec<Outcome>)> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let oracles: Vec<Oracles> = runs.iter().map(|r| Oracles::compute(&r.traffic)).collect();
    let jobs: Vec<(usize, usize)> = runs
        .iter()
        .enumerate()
        .flat_map(|(i, r)| (0..r.strategies.len()).map(move |j| (i, j)))
        .collect();
    let outcomes: Vec<Mutex<Option<Outcome>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(jobs.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(i, j)) = jobs.get(k) else { break };
                    let run = &runs[i];
                    let last = AtomicUsize::new(0);
                    let progress = |done: usize| {
                        let before = last.swap(done, Ordering::Relaxed);
                        progress(done.saturating_sub(before) as u64);
                    };
                    let outcome = strategy::simulate(
                        &run.scenario,
                        &run.traffic,
                        &oracles[i],
                        &run.policy,
                        run.strategies[j],
                        &progress,
                    );
                    *outcomes[k].lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
                }
            });
        }
    });
    let mut outcomes = outcomes.into_iter().map(|o| {
        o.into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .expect("every job ran")
    });
    runs.iter()
        .zip(oracles)
        .map(|(run, oracles)| {
            let mine = outcomes.by_ref().take(run.strategies.len()).collect();
            (oracles, mine)
        })
        .collect()
}

/// The static baseline's size: enough shards for the 99th percentile of
/// the offered load, what someone sizing by hand from a week of graphs
/// would pick.
pub fn static_shards(traffic: &Traffic) -> u32 {
    let p99 = crate::sim::tune::need_at(traffic, 990);
    (p99.ceil() as u32).max(1)
}
