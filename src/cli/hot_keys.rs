//! `hot-keys`: samples shards' records and names the partition keys that
//! carry their load, the traffic-weighted median hash key of each shard,
//! and how concentrated it is. Reads only.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::aws;
use crate::error::exit;
use crate::model::{HashKey, Shard, ShardId, StreamId};
use crate::observe::{
    KinesisRead, Memory, ObserveError, ReadBudget, ShardSample, StartAt, escape_key, sample_shard,
};
use crate::planner::remedy::Remedies;
use crate::policy::Policy;
use crate::{Error, pass};

use super::{AwsArgs, EXIT_CODES};
use super::{SimOutput, print_json, write_stdout};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub(super) struct HotKeysArgs {
    /// The stream (name or ARN).
    #[arg(long, value_name = "NAME")]
    stream: String,
    /// Only this open shard (default: every open shard).
    #[arg(long, value_name = "ID", conflicts_with = "hot")]
    shard: Option<String>,
    /// Only the shards the planner calls hot now (needs --policy).
    #[arg(long)]
    hot: bool,
    /// With --hot: the policy that says what is hot.
    #[arg(long, env = "KAS_POLICY", value_name = "FILE")]
    policy: Option<PathBuf>,
    /// How long to read each shard (shards are read at the same time).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    duration: std::time::Duration,
    /// Where to start reading: latest (records written from now on),
    /// trim-horizon (the oldest kept), or a time (RFC 3339).
    #[arg(long, default_value = "latest", value_parser = parse_start)]
    from: StartAt,
    /// How many keys to list per shard.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// GetRecords calls per second per shard, at most 5. The read shares
    /// the shard's 5 calls a second with its consumers: keep it low.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Bytes read per second per shard, on average, at most 2 MiB (shared
    /// with the shard's consumers).
    #[arg(long, default_value = "512KiB")]
    max_bytes_per_second: bytesize::ByteSize,
    #[arg(long, value_enum, default_value_t = SimOutput::Table)]
    output: SimOutput,
    #[command(flatten)]
    aws: AwsArgs,
}

/// Shards sampled at once: each has its own read limits.
const CONCURRENCY: usize = 8;

/// One key of a report, as JSON gives it.
#[derive(Debug, Serialize)]
struct KeyRow {
    /// As producers sent it (JSON escapes only C0 control characters).
    key: String,
    /// The key as the table prints it: quoted, with every control,
    /// separator and text-reordering character escaped.
    printable: String,
    records: u64,
    bytes: u64,
    /// Of the shard's sampled load (by `weight`).
    share: f64,
    /// Its own write rate, in shards' worth.
    shards_worth: f64,
    hash_key: HashKey,
    /// The open shard that takes the key now.
    shard_id: Option<ShardId>,
    /// Over a shard's worth: what salting it, On-Demand with AUTO record
    /// distribution, or nothing would do on this stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    remedies: Option<Remedies>,
}

/// What `hot-keys --output json` prints: `{"stream", "shards": [...]}`,
/// one report per shard sampled (none when no shard was hot).
#[derive(Debug, Serialize)]
struct Report<'a> {
    stream: &'a str,
    shards: &'a [ShardReport],
}

impl<'a> Report<'a> {
    fn of(stream: &'a str, shards: &'a [ShardReport]) -> Self {
        Self { stream, shards }
    }
}

/// One shard's report.
#[derive(Debug, Serialize)]
struct ShardReport {
    stream: String,
    #[serde(flatten)]
    sample: SampleFacts,
    median_hash_key: Option<HashKey>,
    top_key_share: f64,
    top_10_share: f64,
    keys: Vec<KeyRow>,
}

#[derive(Debug, Serialize)]
struct SampleFacts {
    shard_id: ShardId,
    starting_hash_key: HashKey,
    ending_hash_key: HashKey,
    seconds: f64,
    records: u64,
    bytes: u64,
    get_records_calls: u32,
    weight: crate::observe::Weight,
    /// Records whose partition key hashes outside the shard (written with
    /// ExplicitHashKey), not counted in the shares.
    outside_records: u64,
}

/// Parses `--from`: latest, trim-horizon, or an RFC 3339 time.
pub(super) fn parse_start(text: &str) -> Result<StartAt, String> {
    match text {
        "latest" => Ok(StartAt::Latest),
        "trim-horizon" => Ok(StartAt::TrimHorizon),
        t => t.parse::<DateTime<Utc>>().map(StartAt::At).map_err(|_| {
            format!(
                "{t:?} is not latest, trim-horizon or an RFC 3339 time such as 2026-12-01T18:00:00Z"
            )
        }),
    }
}

pub(super) async fn run(args: HotKeysArgs) -> anyhow::Result<u8> {
    let max_bytes = check_budget(&args)?;
    let policy = match (&args.policy, args.hot) {
        (Some(path), true) => Some(Policy::load(path).map_err(Error::from)?),
        (None, true) => {
            return Err(Error::Usage(
                "--hot needs the policy that says what is hot: pass --policy FILE (or set KAS_POLICY)".into(),
            )
            .into());
        }
        _ => None,
    };
    let quotas = policy
        .as_ref()
        .map(|p| p.quotas.clone())
        .unwrap_or_default();
    let clients = aws::Live::connect(&args.aws.options(), quotas)
        .await
        .clients;
    let read = &clients.read;
    let stream = StreamId::from_name_or_arn(&args.stream);
    // With --hot, the plan's own observation gives the open shards: the
    // stream is listed once.
    let (open, hot) = match &policy {
        Some(policy) => hot_shards(&clients, policy, &args.stream).await?,
        None => {
            let open = read
                .list_open_shards(&stream)
                .await
                .map_err(|e| ObserveError::stream(&args.stream, e))?;
            (open, Vec::new())
        }
    };
    let chosen = chosen_shards(&args, &open, &hot)?;
    if chosen.is_empty() {
        super::say(&format!(
            "stream {}: no shard is hot now; nothing to sample",
            args.stream
        ));
        if args.output == SimOutput::Json {
            print_json(&Report::of(&args.stream, &[]))?;
        }
        return Ok(exit::OK);
    }
    let budget = ReadBudget {
        duration: args.duration,
        calls_per_second: args.rate,
        bytes_per_second: max_bytes as f64,
        ..ReadBudget::default()
    };
    let samples = sample_all(read, &stream, &args, &chosen, budget).await?;
    let reports: Vec<ShardReport> = samples
        .iter()
        .map(|s| report(&args.stream, s, &open, args.top))
        .collect();
    match args.output {
        SimOutput::Json => print_json(&Report::of(&args.stream, &reports))?,
        SimOutput::Table => write_stdout(&tables(&reports))?,
    }
    Ok(exit::OK)
}

/// Refuses a read budget over what a shard allows, and returns the bytes
/// a second.
fn check_budget(args: &HotKeysArgs) -> Result<u64, Error> {
    if !(args.rate > 0.0 && args.rate <= 5.0) {
        return Err(Error::Usage(format!(
            "--rate {}: must be above 0 and at most 5 GetRecords calls a second (the per-shard limit, shared with consumers)",
            args.rate
        )));
    }
    if !(1..=600).contains(&args.duration.as_secs()) {
        return Err(Error::Usage(format!(
            "--duration {}: must be from 1s to 10m",
            humantime::format_duration(args.duration)
        )));
    }
    let max_bytes = args.max_bytes_per_second.as_u64();
    if max_bytes == 0 || max_bytes > 2 * 1024 * 1024 {
        return Err(Error::Usage(format!(
            "--max-bytes-per-second {}: must be above 0 and at most 2 MiB (the per-shard read limit, shared with consumers)",
            args.max_bytes_per_second
        )));
    }
    Ok(max_bytes)
}

/// The shards to sample: `--shard`, or with `--hot` those the policy calls hot, or
/// every open shard.
fn chosen_shards(args: &HotKeysArgs, open: &[Shard], hot: &[ShardId]) -> Result<Vec<Shard>, Error> {
    Ok(match (&args.shard, args.hot) {
        (Some(id), _) => {
            let shard = open.iter().find(|s| s.id.as_str() == id).ok_or_else(|| {
                Error::Usage(format!(
                    "--shard {id}: stream {} has no open shard with that id; its open shards are {}",
                    args.stream,
                    open.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ")
                ))
            })?;
            vec![shard.clone()]
        }
        (None, true) => open
            .iter()
            .filter(|s| hot.contains(&s.id))
            .cloned()
            .collect(),
        (None, false) => open.to_vec(),
    })
}

/// Samples each of `chosen` within `budget`, a few shards at a time, with
/// a progress bar on a terminal.
async fn sample_all(
    read: &aws::KinesisReader,
    stream: &StreamId,
    args: &HotKeysArgs,
    chosen: &[Shard],
    budget: ReadBudget,
) -> anyhow::Result<Vec<ShardSample>> {
    let (name, from) = (args.stream.as_str(), args.from);
    let bar = progress_bar(chosen.len());
    let done = Arc::new(Mutex::new(vec![0.0; chosen.len()]));
    let samples: Vec<ShardSample> = futures::stream::iter(chosen.iter().enumerate())
        .map(|(i, shard)| {
            let (bar, done, stream) = (bar.clone(), done.clone(), stream);
            async move {
                sample_shard(read, stream, shard, from, &budget, |f| {
                    if let Some(bar) = &bar {
                        let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
                        done[i] = f;
                        bar.set_position((done.iter().sum::<f64>() * 100.0) as u64);
                    }
                })
                .await
                .map_err(|e| ObserveError::stream(name, e))
            }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(samples)
}

/// The open shards of `stream` and those the planner calls hot now, under
/// `policy`.
async fn hot_shards(
    clients: &aws::Clients,
    policy: &Policy,
    stream: &str,
) -> anyhow::Result<(Vec<Shard>, Vec<ShardId>)> {
    let mut target = pass::targets(policy, &clients.read, Some(stream))
        .await?
        .pop()
        .expect("a target for the one stream asked for");
    // Which shards are hot needs no sample of their records (this command
    // takes its own): plan them at the midpoint.
    target.policy.scale_up.split_at = crate::policy::SplitAt::Midpoint;
    let planned = pass::plan_one(
        &clients.read,
        &clients.metrics,
        &target,
        None,
        Utc::now(),
        pass::MissingMetrics::Refuse,
        &Memory::default(),
    )
    .await?;
    let open = planned
        .observed
        .observation
        .open_shards()
        .into_iter()
        .cloned()
        .collect();
    let hot = planned
        .plan
        .verdicts
        .iter()
        .filter(|v| v.facts.hot.is_some())
        .map(|v| v.shard_id.clone())
        .collect();
    Ok((open, hot))
}

fn progress_bar(shards: usize) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(shards as u64 * 100);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} sampling {msg}")
            .expect("a valid template"),
    );
    bar.set_message(format!("{shards} shard(s)"));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}

fn report(stream: &str, s: &ShardSample, open: &[Shard], top: usize) -> ShardReport {
    let owner = |h: HashKey| {
        open.iter()
            .find(|o| o.range.contains(h))
            .map(|o| o.id.clone())
    };
    ShardReport {
        stream: stream.to_owned(),
        sample: SampleFacts {
            shard_id: s.shard_id.clone(),
            starting_hash_key: s.starting_hash_key,
            ending_hash_key: s.ending_hash_key,
            seconds: s.seconds,
            records: s.records,
            bytes: s.bytes,
            get_records_calls: s.calls,
            weight: s.weight(),
            outside_records: s.outside,
        },
        median_hash_key: s.median(),
        top_key_share: s.top_share(1),
        top_10_share: s.top_share(10),
        keys: s
            .keys
            .iter()
            .take(top)
            .map(|k| KeyRow {
                key: k.key.clone(),
                printable: escape_key(&k.key),
                records: k.records,
                bytes: k.bytes,
                share: s.share(k),
                shards_worth: s.shards_worth(k),
                hash_key: k.hash_key,
                shard_id: owner(k.hash_key),
                remedies: Remedies::over_a_shard(&k.key, s.shards_worth(k), open),
            })
            .collect(),
    }
}

fn tables(reports: &[ShardReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let s = &r.sample;
        out.push_str(&format!(
            "stream {}, shard {} [{}, {}]: {} records, {} in {:.0}s ({:.0} records/s, {}/s), {} GetRecords calls\n",
            r.stream,
            s.shard_id,
            s.starting_hash_key,
            s.ending_hash_key,
            s.records,
            bytesize::ByteSize(s.bytes),
            s.seconds,
            s.records as f64 / s.seconds,
            bytesize::ByteSize((s.bytes as f64 / s.seconds) as u64),
            s.get_records_calls,
        ));
        match r.median_hash_key {
            Some(m) => out.push_str(&format!(
                "traffic-weighted median hash key {m}; top key {:.1}% of the load ({}), top 10 keys {:.1}%\n",
                r.top_key_share * 100.0,
                match s.weight {
                    crate::observe::Weight::Bytes => "by bytes",
                    crate::observe::Weight::Records => "by records",
                },
                r.top_10_share * 100.0
            )),
            None => out.push_str("no records sampled\n"),
        }
        if s.outside_records > 0 {
            out.push_str(&format!(
                "{} records hash outside the shard (written with ExplicitHashKey) and are not counted\n",
                s.outside_records
            ));
        }
        if !r.keys.is_empty() {
            let mut table = super::render::table(&[
                "KEY",
                "RECORDS",
                "BYTES",
                "SHARE",
                "SHARDS' WORTH",
                "HASH KEY",
                "SHARD",
            ]);
            for k in &r.keys {
                table.add_row(vec![
                    escape_key(&k.key),
                    k.records.to_string(),
                    k.bytes.to_string(),
                    format!("{:.1}%", k.share * 100.0),
                    format!("{:.3}", k.shards_worth),
                    k.hash_key.to_string(),
                    k.shard_id.as_ref().map_or("-".into(), |id| id.to_string()),
                ]);
            }
            out.push('\n');
            out.push_str(&table.to_string());
            out.push('\n');
            for k in &r.keys {
                if let Some(remedies) = &k.remedies {
                    out.push_str(&format!(
                        "key {} writes {:.2} shards' worth on its own, more than one shard takes: {}\n",
                        k.printable,
                        k.shards_worth,
                        remedies.describe()
                    ));
                }
            }
        }
        out.push('\n');
    }
    out
}
