//! Policy reload for the long-running controller: on SIGHUP, or when the
//! file changes and settles.

use std::path::PathBuf;
use std::time::Duration;

use crate::apply::shutdown::Shutdown;
use crate::daemon::status::Status;
use crate::notify::{self, Notifier};
use crate::pass::PolicyHandle;
use crate::policy::Policy;

/// Reloads the policy when its file changes (checked every `poll`) or when
/// `hangup` is notified (SIGHUP). A changed file is read again until it
/// stays the same for a whole `poll`, so a file caught mid-write is neither
/// loaded nor rejected. An invalid new policy (unparseable, not UTF-8, too
/// large, unreadable) is logged and counted once, told through
/// `notifier` to the targets of the policy in force, and the old one keeps
/// running. Returns on shutdown.
pub async fn watch_policy(
    path: PathBuf,
    handle: &PolicyHandle,
    status: &Status,
    poll: Duration,
    hangup: &tokio::sync::Notify,
    shutdown: &Shutdown,
    notifier: Option<&Notifier>,
) {
    // A pipe or a device cannot be polled: each read would wait for a
    // writer, or consume what it gives.
    if std::fs::metadata(&path).is_ok_and(|m| !m.is_file()) {
        tracing::warn!(policy = %path.display(), "the policy is not a regular file: it is not watched or reloaded");
        shutdown.requested().await;
        return;
    }
    // What a read gave: the bytes, or why it failed (compared as text).
    let read = |path: &PathBuf| -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| e.to_string())
    };
    // `last` is what was last acted on; `seen` is what the previous poll read.
    let mut last = Some(read(&path));
    let mut seen = last.clone();
    loop {
        let forced = tokio::select! {
            () = tokio::time::sleep(poll) => false,
            () = hangup.notified() => true,
            () = shutdown.requested() => return,
        };
        let now = read(&path);
        if !forced {
            let settled = seen.as_ref() == Some(&now);
            let changed = last.as_ref() != Some(&now);
            seen = Some(now.clone());
            if !(changed && settled) {
                continue;
            }
        }
        let loaded = match &now {
            Ok(bytes) if bytes.len() as u64 > crate::input::MAX_POLICY_BYTES => Err(format!(
                "{}: larger than the {} bytes a policy may have",
                path.display(),
                crate::input::MAX_POLICY_BYTES
            )),
            Ok(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => Policy::parse(text, &path).map_err(|e| crate::error::chain(&e)),
                Err(e) => Err(format!(
                    "{}: not UTF-8 text (invalid byte at offset {})",
                    path.display(),
                    e.valid_up_to()
                )),
            },
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        };
        match loaded {
            Ok(policy) => {
                handle.set(policy);
                status.record_reload("ok");
                tracing::info!(policy = %path.display(), "policy reloaded");
            }
            Err(e) => {
                status.record_reload("invalid");
                tracing::error!(error = %e, "new policy rejected; keeping the one in force");
                if let Some(notifier) = notifier {
                    let event = notify::reload_failed(&path, &e, chrono::Utc::now());
                    notifier.send(vec![event], handle.get().notify.as_ref());
                }
            }
        }
        seen = Some(now.clone());
        last = Some(now);
    }
}
