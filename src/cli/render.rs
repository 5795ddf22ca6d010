//! Tables for people. Programs should use `--output json`, whose shape is
//! the library's serialized types; these tables may change freely.

use std::fmt::Write;

use chrono::SecondsFormat;
use comfy_table::{ContentArrangement, Table, presets};

use crate::apply::{ApplyReport, describe};
use crate::pass::Planned;
use crate::planner::{Action, Plan};
use crate::policy::{Policy, StreamPolicy};

/// The table's lines without the padding comfy-table leaves at line ends.
fn lines(t: &Table) -> String {
    t.lines()
        .map(|l| l.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    t
}

/// Passes a day the plan's reads are priced at: one a minute, as the
/// sidecar's default interval and the scheduled job's schedule.
const PASSES_A_DAY: u32 = 1440;

/// One line about the stream, one row per open shard, then the actions.
pub(super) fn plan_table(plan: &Plan) -> String {
    let mut out = plan_header(plan);
    let _ = writeln!(out, "\n{}", lines(&verdict_table(plan)));
    if plan.refused.is_none() {
        out.push_str(&actions(plan));
    }
    out
}

/// The stream's line, and what the plan says of the stream as a whole.
fn plan_header(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "stream {}: {} {}, observed {}; {}; open shards {} -> {} (min {}, max {})",
        plan.stream,
        plan.stream_status,
        plan.stream_mode,
        plan.observed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        plan.metrics,
        plan.open_shards_before,
        plan.open_shards_after,
        plan.min_shards,
        plan.max_shards,
    );
    if let Some(refusal) = &plan.refused {
        let _ = writeln!(out, "no actions: {refusal}");
    }
    if let Some(headroom) = &plan.headroom {
        let _ = writeln!(out, "{}", headroom.describe());
    }
    if let Some(quiet) = &plan.quiet {
        let _ = writeln!(out, "{}", quiet.describe());
    }
    if let Some(reads) = &plan.reads {
        let _ = writeln!(
            out,
            "{}",
            reads.describe(PASSES_A_DAY, plan.open_shards_before)
        );
    }
    if let Some(change) = &plan.monitoring {
        let _ = writeln!(out, "on demand: {change}");
    }
    if let Some(warm) = &plan.warm_throughput {
        let _ = writeln!(out, "warm throughput: {}", warm.reason);
    }
    if !plan.cooldowns_read {
        let _ = writeln!(
            out,
            "cooldowns not checked: nothing here would act, and the stream's last reshards (kept in its tags) are read only before an action"
        );
    }
    out
}

/// One row per open shard: its keys, peak, verdict and why.
fn verdict_table(plan: &Plan) -> Table {
    // PEAK is over the longest window the policy looks at; a reason's own
    // peak is over its rule's window.
    let window = plan.verdicts.first().map_or(0, |v| {
        v.facts
            .scale_up_window_minutes
            .max(v.facts.scale_down_window_minutes)
    });
    let peak = format!("PEAK {window}M");
    let mut t = table(&["SHARD", "KEYS", &peak, "VERDICT", "REASON"]);
    for v in &plan.verdicts {
        t.add_row(vec![
            v.shard_id.to_string(),
            format!("{:.2}%", v.key_space_share() * 100.0),
            v.peak_utilization.map_or("-".into(), |p| format!("{p:.2}")),
            v.verdict.name().to_owned(),
            v.reason(),
        ]);
    }
    t
}

/// The plan's actions, in order.
fn actions(plan: &Plan) -> String {
    let mut out = String::from("\n");
    if plan.actions.is_empty() {
        out.push_str("no actions\n");
    } else {
        out.push_str("actions, in order:\n");
    }
    for (n, action) in plan.actions.iter().enumerate() {
        let _ = match action {
            Action::Split(s) => writeln!(
                out,
                "{:>3}. split {} [{}, {}] at {} ({})",
                n + 1,
                s.shard_id
                    .as_ref()
                    .map_or("(child)".into(), |id| id.to_string()),
                s.starting_hash_key,
                s.ending_hash_key,
                s.new_starting_hash_key,
                s.trigger,
            ),
            Action::Merge(m) => writeln!(
                out,
                "{:>3}. merge {} + {} (projected peak {:.2}, {})",
                n + 1,
                m.shard_id,
                m.adjacent_shard_id,
                m.projected_peak,
                m.trigger,
            ),
        };
    }
    out
}

/// Each stream entry's resolved settings, as (what, how) lines: every
/// setting, as `validate` shows it and its JSON gives it.
pub(crate) fn policy_settings(policy: &Policy) -> Vec<(String, Vec<(&'static str, String)>)> {
    policy
        .streams
        .iter()
        .map(|rule| (rule.name.clone(), stream_settings(&rule.policy)))
        .collect()
}

fn duration(t: std::time::Duration) -> String {
    humantime::format_duration(t).to_string()
}

/// One stream's settings, as (what, how) lines.
fn stream_settings(p: &StreamPolicy) -> Vec<(&'static str, String)> {
    let mut lines = vec![
        (
            "shards",
            format!(
                "{} to {}; {}",
                p.min_shards,
                p.max_shards,
                match p.max_reshards_per_day {
                    0 => "no daily cap on reshards".to_owned(),
                    n => format!("at most {n} reshards a day"),
                }
            ),
        ),
        ("scale up", scale_up_line(p)),
        ("scale down", scale_down_line(p)),
        ("metrics", metrics_line(p)),
        (
            "read",
            if p.read.enabled {
                format!("split at read >= {}", p.read.threshold)
            } else {
                "off".into()
            },
        ),
    ];
    if let Some(o) = &p.objective {
        lines.push((
            "objective",
            format!(
                "threshold derived for {}% throttled over {}m",
                o.max_throttled * 100.0,
                o.history_minutes
            ),
        ));
    }
    if let Some(f) = &p.forecast {
        lines.push((
            "forecast",
            format!(
                "from {} back, {}m ahead, {}m lead",
                f.seasons
                    .iter()
                    .map(|m| format!("{m}m"))
                    .collect::<Vec<_>>()
                    .join(" and "),
                f.horizon_minutes,
                f.lead_minutes
            ),
        ));
    }
    if let Some(w) = &p.warm_throughput {
        lines.push((
            "warm throughput",
            format!(
                "On-Demand Advantage streams: {}m ahead, x{}, {} to {} MiB/s",
                w.lead_minutes, w.headroom, w.min_mib, w.max_mib
            ),
        ));
    }
    lines
}

fn scale_up_line(p: &StreamPolicy) -> String {
    let (up, d) = (&p.scale_up, duration);
    format!(
        "hot at >= {} for {}m of {}m, or {} throttled record(s); cooldown {}; at most {} splits a pass{}{}",
        up.threshold,
        up.sustain_minutes,
        up.window_minutes,
        up.throttled_records,
        d(up.cooldown),
        up.max_splits_per_run,
        match up.split_at {
            crate::policy::SplitAt::Midpoint => "; split at the midpoint".to_owned(),
            crate::policy::SplitAt::Traffic => format!(
                "; split at the traffic (sample {} of at most {} shards, at least {} records; hot key over {})",
                d(up.sample.duration),
                up.sample.max_shards,
                up.sample.min_records,
                up.hot_key_share
            ),
        },
        match &p.consumers {
            Some(c) if c.scale_up_on_lag => format!(
                "; or consumers falling behind while read >= {}",
                c.read_threshold
            ),
            _ => String::new(),
        }
    )
}

fn scale_down_line(p: &StreamPolicy) -> String {
    let (down, d) = (&p.scale_down, duration);
    format!(
        "cold at < {} for {}m (at most {}% of its minutes missing), merged < {}; cooldown {}; min lifetime {}; at most {} merges a pass{}{}",
        down.threshold,
        down.window_minutes,
        down.max_missing * 100.0,
        down.merged_ceiling,
        d(down.cooldown),
        d(down.min_lifetime),
        down.max_merges_per_run,
        down.economic.as_ref().map_or(String::new(), |e| format!(
            "; economic: reshard cost ${}, quiet time {}m to the window, from {}m of history",
            e.reshard_cost, e.min_window_minutes, e.history_minutes
        )),
        p.consumers.as_ref().map_or(String::new(), |c| format!(
            "; held while consumers are over {} behind",
            d(c.max_iterator_age)
        ))
    )
}

fn metrics_line(p: &StreamPolicy) -> String {
    let d = duration;
    format!(
        "delay {}, max lag {}; shard-level {}{}",
        d(p.metrics_delay),
        d(p.metrics_max_lag),
        match p.shard_level {
            crate::policy::ShardLevel::Always => format!(
                "always on, read near a decision and every {}",
                d(p.shard_refresh)
            ),
            crate::policy::ShardLevel::OnDemand => format!(
                "on demand, off after {} calm, read near a decision and every {} while on",
                d(p.shard_calm),
                d(p.shard_refresh)
            ),
        },
        if p.enable_enhanced_monitoring {
            "; turned on by apply, run and the Lambda when off"
        } else {
            ""
        }
    )
}

pub(crate) fn policy_table(policy: &Policy) -> String {
    let n = policy.streams.len();
    let mut out = format!(
        "{}: valid, {n} stream {}\n",
        policy.source.display(),
        if n == 1 { "entry" } else { "entries" }
    );
    for (stream, lines) in policy_settings(policy) {
        out.push_str(&format!("\nstream {stream}\n"));
        for (what, how) in lines {
            out.push_str(&format!("  {what:<16} {how}\n"));
        }
    }
    if let Some(n) = &policy.notify {
        // Destinations print redacted: a webhook URL is a secret.
        out.push_str(&format!(
            "\nnotify: each event once per stream per {}; {} attempt(s) of at most {} each\n",
            humantime::format_duration(n.repeat_after),
            n.attempts,
            humantime::format_duration(n.timeout)
        ));
        for d in &n.destinations {
            out.push_str(&format!("  {d:?}\n"));
        }
    }
    out
}

/// A plan, with a note when `apply` will first enable missing metrics.
pub(crate) fn planned_table(planned: &Planned) -> String {
    let mut out = plan_table(&planned.plan);
    let missing = &planned.observed.missing_metrics;
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|m| m.as_str()).collect();
        let _ = writeln!(
            out,
            "first: enable shard-level metrics {} (enable_enhanced_monitoring: true); they have no data yet",
            names.join(", ")
        );
    }
    out
}

/// What was and was not done, per stream.
pub(super) fn reports(reports: &[ApplyReport]) -> String {
    let mut out = String::from("\n");
    for r in reports {
        let status = match &r.stop {
            None => "done".to_owned(),
            Some(stop) => format!("stopped ({:?})", stop.kind).to_lowercase(),
        };
        let _ = writeln!(out, "stream {}: {status}", r.stream);
        for a in &r.applied {
            let made: Vec<String> = a.children.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "  applied      {} at {}{}",
                describe(&a.action),
                a.at.to_rfc3339_opts(SecondsFormat::Secs, true),
                if made.is_empty() {
                    String::new()
                } else {
                    format!(": made {}", made.join(" and "))
                }
            );
        }
        for a in &r.not_applied {
            let _ = writeln!(out, "  not applied  {}", describe(a));
        }
        if let Some(w) = &r.warm_throughput {
            let _ = writeln!(
                out,
                "  applied      warm throughput {} -> {} MiB/s at {}",
                w.from_mib.map_or("-".into(), |m| m.to_string()),
                w.to_mib,
                w.at.to_rfc3339_opts(SecondsFormat::Secs, true)
            );
        }
        if let Some(stop) = &r.stop {
            let _ = writeln!(out, "  why: {}", stop.message);
        }
    }
    out
}

/// The simulation results, one row per strategy.
pub(super) fn simulation(
    scenario: &crate::sim::Scenario,
    summaries: &[&crate::sim::strategy::Summary],
) -> String {
    let Some(first) = summaries.first() else {
        return String::new();
    };
    let mut out = format!(
        "scenario {}: {} minutes ({:.1} days) of {}, peak {:.1} MiB/s\noracles: ideal {:.1} shard-hours, dyadic {:.1} shard-hours\n\n",
        scenario.name,
        first.simulated_minutes,
        first.simulated_minutes as f64 / 1440.0,
        scenario.trace.display(),
        scenario.peak_bytes_per_second / 1_048_576.0,
        first.oracle_ideal_shard_hours,
        first.oracle_dyadic_shard_hours,
    );
    let mut t = table(&[
        "STRATEGY",
        "COST $",
        "CONTROLLER $",
        "SHARD-HOURS",
        "VS DYADIC",
        "THROTTLED %",
        "THROTTLED MIN",
        "WORST MIN %",
        "NEW SHARDS/DAY",
        "RESHARDS",
        "MAX SHARDS",
    ]);
    for s in summaries {
        t.add_row(vec![
            s.strategy.clone(),
            format!("{:.2}", s.cost_usd),
            format!("{:.2}", s.cost_breakdown.controller_total()),
            format!("{:.1}", s.shard_hours),
            format!("{:.2}x", s.shard_hours / s.oracle_dyadic_shard_hours),
            format!("{:.4}%", s.throttled_fraction * 100.0),
            s.throttled_minutes.to_string(),
            format!("{:.1}%", s.worst_minute_throttled_fraction * 100.0),
            format!("{:.1}", s.new_shards_per_day),
            s.reshard_operations.to_string(),
            s.max_open_shards.to_string(),
        ]);
    }
    out.push_str(&lines(&t));
    out.push('\n');
    if let Some(line) = consumer_lag(scenario, summaries) {
        out.push_str(&line);
        out.push('\n');
    }
    if summaries
        .iter()
        .any(|s| s.strategy.starts_with("on-demand"))
    {
        out.push_str("on-demand, on-demand-advantage: shard-hours are the write capacity AWS holds for the stream, in shards' worth; it reshards out of sight, so its new shards are not counted\n");
    }
    out
}

/// How far behind the scenario's modelled consumers fell under each
/// strategy, if it models them.
fn consumer_lag(
    scenario: &crate::sim::Scenario,
    summaries: &[&crate::sim::strategy::Summary],
) -> Option<String> {
    let rate = scenario.consumer_records_per_second?;
    let each: Vec<String> = summaries
        .iter()
        .filter_map(|s| {
            let lag = s.consumer_lag?;
            let worst = std::time::Duration::from_secs(lag.max_iterator_age_seconds.round() as u64);
            Some(format!(
                "{} {} (at most {} behind)",
                s.strategy,
                lag.lag_minutes,
                humantime::format_duration(worst)
            ))
        })
        .collect();
    Some(format!(
        "consumers ({rate} records/s a shard): minutes more than 1m behind: {}",
        each.join(", ")
    ))
}

/// A suite's matrix: a row per scenario and strategy.
pub(crate) fn suite(rows: &[super::simulate::ScenarioReport<'_>]) -> String {
    let mut t = table(&[
        "SCENARIO",
        "DAYS",
        "STRATEGY",
        "COST $",
        "CONTROLLER $",
        "VS DYADIC",
        "THROTTLED %",
        "NEW SHARDS/DAY",
        "RESHARDS",
    ]);
    for row in rows {
        for s in &row.results {
            t.add_row(vec![
                row.scenario.to_owned(),
                format!("{:.1}", s.simulated_minutes as f64 / 1440.0),
                s.strategy.clone(),
                format!("{:.2}", s.cost_usd),
                format!("{:.2}", s.cost_breakdown.controller_total()),
                format!("{:.2}x", s.shard_hours / s.oracle_dyadic_shard_hours),
                format!("{:.4}%", s.throttled_fraction * 100.0),
                format!("{:.1}", s.new_shards_per_day),
                s.reshard_operations.to_string(),
            ]);
        }
    }
    let mut out = lines(&t);
    out.push_str(
        "\non-demand, on-demand-advantage: VS DYADIC is the capacity AWS holds, in shards' worth, against the oracle\n\n",
    );
    for row in rows {
        if let Some(r) = &row.recommendation {
            out.push_str(&format!("{}: {}\n", row.scenario, r.text));
        }
        if let Some(t) = &row.tuned {
            out.push_str(&t.lines(&format!("{}: ", row.scenario)));
        }
    }
    out
}
