//! Delivery: each target has a bounded queue and a task of its own that
//! sends its messages in order, each with bounded attempts, each attempt
//! bounded by `notify.timeout`. The pass hands events over without
//! waiting; a full queue drops the message for that target (counted as
//! failed), so a hanging target never holds a pass, or another target,
//! back.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{Event, EventKind, Message, Repeats};
use crate::observe::{Publication, Publish};
use crate::policy::{Destination, Notify};

/// Messages waiting for delivery at most; more are dropped.
const QUEUE: usize = 64;
/// The wait after a failed attempt, doubled after each.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Messages sent and failed, by target (its policy field, never its URL),
/// and events held back, by type: what the sidecar's `/metrics` shows.
#[derive(Debug, Default)]
pub struct Deliveries {
    inner: Mutex<Tally>,
}

#[derive(Debug, Default, Clone)]
struct Tally {
    sent: BTreeMap<String, u64>,
    failed: BTreeMap<String, u64>,
    suppressed: BTreeMap<EventKind, u64>,
}

impl Deliveries {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `target` show in the counts (at 0) before its first message.
    fn know(&self, target: &str) {
        let mut t = self.tally();
        t.sent.entry(target.to_owned()).or_default();
        t.failed.entry(target.to_owned()).or_default();
    }

    fn count(&self, target: &str, sent: bool) {
        let mut t = self.tally();
        let map = if sent { &mut t.sent } else { &mut t.failed };
        *map.entry(target.to_owned()).or_default() += 1;
    }

    /// Messages sent, by target.
    pub fn sent(&self) -> BTreeMap<String, u64> {
        self.tally().sent.clone()
    }

    /// Messages that could not be delivered, by target.
    pub fn failed(&self) -> BTreeMap<String, u64> {
        self.tally().failed.clone()
    }

    /// Events held back by `notify.repeat_after`, by type.
    pub fn suppressed(&self) -> BTreeMap<EventKind, u64> {
        self.tally().suppressed.clone()
    }
}

enum Job {
    Send {
        message: Arc<Message>,
        to: Destination,
        notify: Arc<Notify>,
    },
    /// Answered once every job before it is done.
    Flush(oneshot::Sender<()>),
}

/// One target's queue and the task that delivers from it: a slow or
/// hanging target delays only its own messages.
#[derive(Debug)]
struct Lane {
    queue: mpsc::Sender<Job>,
    worker: tokio::task::JoinHandle<()>,
}

/// Hands events to the delivery tasks, one per target. Held for the life
/// of the process (a sidecar, a warm Lambda container), so that what was
/// said is remembered.
#[derive(Debug)]
pub struct Notifier {
    /// By target, as its policy field and redacted address show it.
    lanes: Mutex<HashMap<String, Lane>>,
    repeats: Mutex<Repeats>,
    deliveries: Arc<Deliveries>,
    http: reqwest::Client,
    sns: Option<Arc<dyn Publish>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Job::Send { message, .. } => write!(f, "Send({:?})", message.event.event),
            Job::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl Notifier {
    /// A notifier whose delivery tasks start (on the current tokio runtime)
    /// with their targets' first messages. `sns` is what SNS targets
    /// publish with (`aws::sns_publisher`); without one they fail.
    pub fn start(sns: Option<Arc<dyn Publish>>) -> Notifier {
        let http = reqwest::Client::builder()
            .user_agent(concat!("kinesis-autoscaler/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the TLS configuration is built in");
        Notifier {
            lanes: Mutex::new(HashMap::new()),
            repeats: Mutex::new(Repeats::default()),
            deliveries: Arc::new(Deliveries::default()),
            http,
            sns,
        }
    }

    /// The counts `/metrics` shows.
    pub fn deliveries(&self) -> Arc<Deliveries> {
        self.deliveries.clone()
    }

    fn lanes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lane>> {
        self.lanes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job` for `to`, starting its lane if need be; whether it was
    /// queued (a full queue drops it).
    fn queue(&self, to: &Destination, job: Job) -> bool {
        let mut lanes = self.lanes();
        let lane = lanes.entry(format!("{to:?}")).or_insert_with(|| {
            let (queue, jobs) = mpsc::channel(QUEUE);
            let worker = tokio::spawn(work(
                jobs,
                self.http.clone(),
                self.sns.clone(),
                self.deliveries.clone(),
            ));
            Lane { queue, worker }
        });
        lane.queue.try_send(job).is_ok()
    }

    /// Queues a message for each of `events` not held back by
    /// `repeat_after`, for the targets of `notify` (nothing without a
    /// `notify:` block). Never waits.
    pub fn send(&self, events: Vec<Event>, notify: Option<&Notify>) {
        let Some(notify) = notify else { return };
        if events.is_empty() {
            return;
        }
        for d in &notify.destinations {
            self.deliveries.know(d.name());
        }
        let notify = Arc::new(notify.clone());
        for event in events {
            let admitted = self
                .repeats
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .admit(&event, notify.repeat_after);
            let Some(suppressed) = admitted else {
                tracing::debug!(event = event.event.as_str(), stream = ?event.stream, "notification held back: said within notify.repeat_after");
                *self
                    .deliveries
                    .tally()
                    .suppressed
                    .entry(event.event)
                    .or_default() += 1;
                continue;
            };
            let message = Arc::new(event.message(suppressed));
            let mut queued = false;
            for to in &notify.destinations {
                let job = Job::Send {
                    message: message.clone(),
                    to: to.clone(),
                    notify: notify.clone(),
                };
                if self.queue(to, job) {
                    queued = true;
                } else {
                    tracing::warn!(
                        target_name = to.name(),
                        event = message.event.event.as_str(),
                        "notification dropped: {QUEUE} messages are already waiting for this target"
                    );
                    self.deliveries.count(to.name(), false);
                }
            }
            if !queued {
                // Said to nobody: the next pass may say it.
                self.repeats
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .forget(&message.event);
            }
        }
    }

    /// Waits until every message queued so far is delivered or given up,
    /// at most `bound`; whether it finished in time.
    pub async fn flush(&self, bound: Duration) -> bool {
        let queues: Vec<mpsc::Sender<Job>> =
            self.lanes().values().map(|l| l.queue.clone()).collect();
        let wait = futures::future::join_all(queues.into_iter().map(|queue| async move {
            let (done, finished) = oneshot::channel();
            queue.send(Job::Flush(done)).await.is_ok() && finished.await.is_ok()
        }));
        match tokio::time::timeout(bound, wait).await {
            Ok(flushed) => flushed.into_iter().all(|ok| ok),
            Err(_) => {
                tracing::warn!(
                    "notifications still in delivery after {}; not waiting for them",
                    humantime::format_duration(bound)
                );
                false
            }
        }
    }

    /// Gives up every message not delivered yet, and the attempts in
    /// flight: for a Lambda container about to be frozen, which would
    /// otherwise send them stale when it thaws. Later messages start
    /// afresh.
    pub fn abandon(&self) {
        for (_, lane) in self.lanes().drain() {
            lane.worker.abort();
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.abandon();
    }
}

async fn work(
    mut jobs: mpsc::Receiver<Job>,
    http: reqwest::Client,
    sns: Option<Arc<dyn Publish>>,
    deliveries: Arc<Deliveries>,
) {
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Flush(done) => {
                let _ = done.send(());
            }
            Job::Send {
                message,
                to,
                notify,
            } => deliver(&to, &message, &notify, &http, sns.as_deref(), &deliveries).await,
        }
    }
}

/// Why one attempt failed, and whether another may succeed.
#[derive(Debug)]
struct AttemptError {
    message: String,
    retry: bool,
}

/// Sends `message` to `to`, up to `notify.attempts` times, and counts the
/// outcome.
async fn deliver(
    to: &Destination,
    message: &Message,
    notify: &Notify,
    http: &reqwest::Client,
    sns: Option<&dyn Publish>,
    deliveries: &Deliveries,
) {
    let mut last = None;
    for attempt in 1..=notify.attempts {
        let once = async {
            match to {
                Destination::Webhook { url, .. } => post(http, url, message).await,
                Destination::Sns { topic, .. } => publish(sns, topic, message).await,
            }
        };
        let result = match tokio::time::timeout(notify.timeout, once).await {
            Ok(result) => result,
            Err(_) => Err(AttemptError {
                message: format!(
                    "no answer within notify.timeout ({})",
                    humantime::format_duration(notify.timeout)
                ),
                retry: true,
            }),
        };
        match result {
            Ok(()) => {
                deliveries.count(to.name(), true);
                tracing::info!(target_name = to.name(), event = message.event.event.as_str(), stream = ?message.event.stream, attempt, "notification sent");
                return;
            }
            Err(e) => {
                let retry = e.retry && attempt < notify.attempts;
                tracing::debug!(target_name = to.name(), attempt, error = %e.message, retry, "notification attempt failed");
                last = Some(e);
                if !retry {
                    break;
                }
                // Doubling from a second, at most half a minute.
                tokio::time::sleep(crate::apply::backoff(
                    FIRST_BACKOFF,
                    MAX_BACKOFF,
                    attempt,
                    1.0,
                ))
                .await;
            }
        }
    }
    deliveries.count(to.name(), false);
    let error = last.map(|e| e.message).unwrap_or_default();
    tracing::warn!(target_name = to.name(), event = message.event.event.as_str(), stream = ?message.event.stream, %error, "notification not delivered");
}

async fn post(
    http: &reqwest::Client,
    url: &url::Url,
    message: &Message,
) -> Result<(), AttemptError> {
    let answer = http
        .post(url.clone())
        .json(message)
        .send()
        .await
        // Without the URL: it may hold the webhook's secret.
        .map_err(|e| AttemptError {
            message: format!("cannot reach the webhook: {}", e.without_url()),
            retry: true,
        })?;
    let status = answer.status();
    if status.is_success() {
        return Ok(());
    }
    Err(AttemptError {
        message: format!("the webhook answered {status}"),
        // A refusal (400, 403, 404) stays a refusal; a busy or failing
        // receiver may answer next time.
        retry: status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS,
    })
}

async fn publish(
    sns: Option<&dyn Publish>,
    topic: &crate::policy::notify::TopicArn,
    message: &Message,
) -> Result<(), AttemptError> {
    let Some(sns) = sns else {
        return Err(AttemptError {
            message: "no SNS client in this process".into(),
            retry: false,
        });
    };
    let body = serde_json::to_string(message).expect("a message is plain JSON");
    // A FIFO topic keeps each stream's messages in order, and drops a
    // message it was already given (the same body).
    let dedup = topic.is_fifo().then(|| {
        use md5::Digest;
        let digest = md5::Md5::digest(body.as_bytes());
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    });
    let group = message
        .event
        .stream
        .as_deref()
        .unwrap_or("kinesis-autoscaler");
    let subject = message.subject();
    sns.publish(Publication {
        topic: &topic.0,
        subject: &subject,
        body: &body,
        fifo: dedup.as_deref().map(|d| (group, d)),
    })
    .await
    .map_err(|e| AttemptError {
        message: e.message,
        retry: e.retry,
    })
}
