//! Delivery: a task of its own takes messages from a bounded queue and
//! sends each to every target at once, each target with its own bounded
//! attempts, each attempt bounded by `notify.timeout`. The pass hands
//! events over without waiting; a full queue drops the message (counted
//! as failed), so a hanging target never holds a pass back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{Event, EventKind, Message, Repeats};
use crate::policy::{Destination, Notify};

/// Messages waiting for delivery at most; more are dropped.
const QUEUE: usize = 64;
/// The wait after a failed attempt, doubled after each.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_secs(1);

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
        notify: Arc<Notify>,
    },
    /// Answered once every job before it is done.
    Flush(oneshot::Sender<()>),
}

/// Hands events to the delivery task. Held for the life of the process (a
/// sidecar, a warm Lambda container), so that what was said is remembered.
#[derive(Debug)]
pub struct Notifier {
    queue: mpsc::Sender<Job>,
    repeats: Mutex<Repeats>,
    deliveries: Arc<Deliveries>,
    worker: tokio::task::JoinHandle<()>,
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
    /// Starts the delivery task (on the current tokio runtime). `sns` is
    /// the client SNS targets publish with; without one they fail.
    pub fn start(sns: Option<aws_sdk_sns::Client>) -> Notifier {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let deliveries = Arc::new(Deliveries::default());
        let http = reqwest::Client::builder()
            .user_agent(concat!("kinesis-autoscaler/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the TLS configuration is built in");
        let worker = tokio::spawn(work(jobs, http, sns, deliveries.clone()));
        Notifier {
            queue,
            repeats: Mutex::new(Repeats::default()),
            deliveries,
            worker,
        }
    }

    /// The counts `/metrics` shows.
    pub fn deliveries(&self) -> Arc<Deliveries> {
        self.deliveries.clone()
    }

    /// Queues a message for each of `events` not held back by
    /// `repeat_after`, for the targets of `notify` (nothing without a
    /// `notify:` block). Never waits.
    pub fn send(&self, events: Vec<Event>, notify: Option<&Notify>) {
        let Some(notify) = notify else { return };
        if notify.destinations.is_empty() {
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
            let job = Job::Send {
                message,
                notify: notify.clone(),
            };
            if let Err(e) = self.queue.try_send(job) {
                let job = match e {
                    mpsc::error::TrySendError::Full(j) | mpsc::error::TrySendError::Closed(j) => j,
                };
                if let Job::Send { message, notify } = job {
                    tracing::warn!(
                        event = message.event.event.as_str(),
                        "notification dropped: {QUEUE} messages are already waiting for delivery"
                    );
                    for d in &notify.destinations {
                        self.deliveries.count(d.name(), false);
                    }
                }
            }
        }
    }

    /// Waits until every message queued so far is delivered or given up,
    /// at most `bound`; whether it finished in time.
    pub async fn flush(&self, bound: Duration) -> bool {
        let (done, finished) = oneshot::channel();
        let wait =
            async { self.queue.send(Job::Flush(done)).await.is_ok() && finished.await.is_ok() };
        match tokio::time::timeout(bound, wait).await {
            Ok(flushed) => flushed,
            Err(_) => {
                tracing::warn!(
                    "notifications still in delivery after {}; not waiting for them",
                    humantime::format_duration(bound)
                );
                false
            }
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

async fn work(
    mut jobs: mpsc::Receiver<Job>,
    http: reqwest::Client,
    sns: Option<aws_sdk_sns::Client>,
    deliveries: Arc<Deliveries>,
) {
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Flush(done) => {
                let _ = done.send(());
            }
            Job::Send { message, notify } => {
                let sends = notify
                    .destinations
                    .iter()
                    .map(|d| deliver(d, &message, &notify, &http, sns.as_ref(), &deliveries));
                futures::future::join_all(sends).await;
            }
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
    sns: Option<&aws_sdk_sns::Client>,
    deliveries: &Deliveries,
) {
    let mut backoff = FIRST_BACKOFF;
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
                tokio::time::sleep(backoff).await;
                backoff *= 2;
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
    sns: Option<&aws_sdk_sns::Client>,
    topic: &crate::policy::notify::TopicArn,
    message: &Message,
) -> Result<(), AttemptError> {
    use aws_sdk_sns::error::ProvideErrorMetadata;
    let Some(sns) = sns else {
        return Err(AttemptError {
            message: "no SNS client in this process".into(),
            retry: false,
        });
    };
    let body = serde_json::to_string(message).expect("a message is plain JSON");
    let mut request = sns
        .publish()
        .topic_arn(&topic.0)
        .subject(message.subject())
        .message(&body);
    if topic.is_fifo() {
        use md5::Digest;
        let group = message
            .event
            .stream
            .as_deref()
            .unwrap_or("kinesis-autoscaler");
        let digest = md5::Md5::digest(body.as_bytes());
        let dedup: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        request = request
            .message_group_id(group)
            .message_deduplication_id(dedup);
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let code = e.code().unwrap_or_default().to_owned();
            let permanent = matches!(
                code.as_str(),
                "AuthorizationError" | "NotFound" | "InvalidParameter" | "InvalidParameterValue"
            );
            Err(AttemptError {
                message: format!(
                    "SNS Publish to {} failed: {}",
                    topic.0,
                    crate::error::chain(&e)
                ),
                retry: !permanent,
            })
        }
    }
}
