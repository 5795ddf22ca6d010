//! A shutdown signal that long waits can watch: the first request lets the
//! operation in flight finish and be recorded, then stops.

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
