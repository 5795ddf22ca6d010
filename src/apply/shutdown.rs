//! A shutdown signal that long waits can watch: the first request lets the
//! operation in flight finish and be recorded, then stops. [`on_signals`]
//! wires it to SIGTERM and SIGINT for `apply` and `run`.

use tokio::sync::watch;

/// Cloned into every task that should stop when asked.
#[derive(Clone, Debug)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// Asks everything holding a [`Shutdown`] to stop.
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

/// A trigger and the signal it sets.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger { tx }, Shutdown { rx })
}

impl ShutdownTrigger {
    pub fn request(&self) {
        let _ = self.tx.send(true);
    }
}

impl Shutdown {
    pub fn is_requested(&self) -> bool {
        *self.rx.borrow()
    }

    /// Completes once shutdown is requested; never, if the trigger is
    /// dropped without asking.
    pub async fn requested(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Listens for SIGTERM and SIGINT (Ctrl-C): the first calls `on_first`
/// and requests a graceful stop, the second exits at once with status 130.
/// Call it early: a signal that arrives before is handled the default way.
pub fn on_signals(on_first: impl FnOnce() + Send + 'static) -> std::io::Result<Shutdown> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (trigger, shutdown) = channel();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        on_first();
        trigger.request();
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second signal: quitting now");
        std::process::exit(130);
    });
    Ok(shutdown)
}
