//! The scheduled Lambda job (feature `lambda`): each invocation, from an
//! EventBridge schedule or any JSON, runs one pass over the policy's
//! streams and returns a JSON summary. It starts no operation it cannot
//! finish and record before the invocation's deadline; the next
//! invocation continues from the stream's tags.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;

use crate::apply::ExecutorConfig;
use crate::aws::{AwsOptions, Clients, Live};
use crate::error::chain;
use crate::lambda::emf::{self, EmfConfig};
use crate::lambda::job::{PolicySource, executor_config_from_env, time_left};
use crate::model::Quotas;
use crate::notify::{self, Notifier};
use crate::observe::Memory;
use crate::pass::{PassReport, run_pass};

/// The longest wait for an invocation's notifications.
const NOTIFY_FLUSH: Duration = Duration::from_secs(10);

/// Time kept back from the deadline to return the summary.
pub(crate) const RETURN_MARGIN: Duration = Duration::from_secs(5);

/// The clients and settings, built once per Lambda container.
pub struct Handler {
    /// The adapters, their limiter held to each invocation's policy.
    pub clients: Clients,
    pub config: ExecutorConfig,
    pub policy: PolicySource,
    /// The Embedded Metric Format lines written after each pass, one per
    /// stream; none when `None` (`KAS_EMF=off`).
    pub emf: Option<EmfConfig>,
    pub emf_sink: EmfSink,
    /// Kept with the container: while Lambda reuses it, an event already
    /// told within `notify.repeat_after` is held back; a cold start
    /// forgets.
    pub notifier: Notifier,
    /// Kept with the container too: each shard's last measured share of
    /// its stream's load (so that a pass reads the shard-level series
    /// only when a decision may be near), the stream summaries (read again
    /// after an hour) and, on demand, when a decision was last near. A
    /// cold start reads them once again.
    pub kept: Memory,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("config", &self.config)
            .field("emf", &self.emf)
            .finish_non_exhaustive()
    }
}

/// Where the EMF lines go.
#[derive(Clone, Debug, Default)]
pub enum EmfSink {
    /// Standard output, which Lambda sends to CloudWatch Logs, where the
    /// metrics are extracted.
    #[default]
    Stdout,
    /// Kept, for tests.
    Memory(Arc<Mutex<Vec<String>>>),
}

impl EmfSink {
    fn write(&self, lines: Vec<String>) {
        match self {
            EmfSink::Stdout => {
                let mut out = std::io::stdout().lock();
                for line in lines {
                    if let Err(e) = writeln!(out, "{line}") {
                        tracing::warn!(error = %e, "cannot write the EMF metrics line");
                    }
                }
            }
            EmfSink::Memory(kept) => kept.lock().unwrap_or_else(|e| e.into_inner()).extend(lines),
        }
    }
}

impl Handler {
    /// Clients from the standard AWS configuration, settings from the
    /// environment.
    pub async fn from_env() -> Result<Self, crate::Error> {
        let live = Live::connect(&AwsOptions::default(), Quotas::default()).await;
        Ok(Handler {
            notifier: live.notifier(),
            clients: live.clients,
            config: executor_config_from_env()?,
            policy: PolicySource::Environment,
            emf: EmfConfig::from_env()?,
            emf_sink: EmfSink::Stdout,
            kept: Memory::default(),
        })
    }

    /// One invocation.
    pub async fn handle(
        &self,
        event: LambdaEvent<serde_json::Value>,
    ) -> Result<PassReport, lambda_runtime::Error> {
        let (payload, context) = event.into_parts();
        match serde_json::from_value::<EventBridgeEvent>(payload) {
            Ok(e) => {
                tracing::info!(detail_type = %e.detail_type, source = %e.source, "invoked by EventBridge")
            }
            Err(_) => tracing::info!("invoked"),
        }
        let policy = self.policy.load().map_err(|e| chain(&e))?;
        self.clients.limiter.set_quotas(policy.quotas.clone());
        let left = time_left(context.deadline, SystemTime::now(), RETURN_MARGIN);
        let deadline = left.map(|d| tokio::time::Instant::now() + d);
        let on_event = crate::apply::log_event;
        let executor = self
            .clients
            .executor(self.config.clone())
            .with_deadline(deadline)
            .on_event(&on_event);
        // Cooldowns are read afresh before any action (another process may
        // have changed them); what the container kept only saves reads.
        let memory = self.kept.carried_over();
        let report = run_pass(&executor, &self.clients.metrics, &policy, None, &memory).await;
        self.kept.keep(&memory);
        // A frozen container delivers nothing: the invocation waits for its
        // notifications, within its deadline.
        let events = notify::events(&report.streams, report.finished_at);
        if !events.is_empty() && policy.notify.is_some() {
            self.notifier.send(events, policy.notify.as_ref());
            let left = deadline.map_or(NOTIFY_FLUSH, |d| {
                d.saturating_duration_since(tokio::time::Instant::now())
            });
            if !self.notifier.flush(left.min(NOTIFY_FLUSH)).await {
                // Not sent stale after the container thaws.
                self.notifier.abandon();
            }
        }
        tracing::info!(
            ok = report.succeeded(),
            streams = report.streams.len(),
            "pass finished"
        );
        if let Some(config) = &self.emf {
            self.emf_sink
                .write(emf::lines(&report, config, report.finished_at));
        }
        Ok(report)
    }
}

/// Logs as Lambda expects them: JSON lines when the function's log format
/// is JSON (`AWS_LAMBDA_LOG_FORMAT=JSON`), plain text otherwise, at
/// `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`, or info), on stdout. Unlike the
/// runtime's default subscriber, it writes terminal colour codes only to a
/// terminal: CloudWatch Logs would show them raw, and Logs Insights could
/// not parse the level behind them.
pub fn init_logs() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::filter::LevelFilter;

    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|text| text.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let logs = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(
            EnvFilter::builder()
                .with_default_directive(level.into())
                .from_env_lossy(),
        )
        .with_writer(std::io::stdout)
        .with_ansi(std::io::stdout().is_terminal());
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}
