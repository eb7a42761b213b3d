//! Whether this instance is shutting down. From the moment it is told to stop, readiness
//! answers 503 and event streams end with a retry hint, so that load balancers and clients move
//! to another instance while this one still serves what it accepted.

use tokio::sync::watch;

/// The switch that starts draining, held by whoever handles the termination signal.
#[derive(Debug)]
pub struct DrainSwitch(watch::Sender<bool>);

impl DrainSwitch {
    /// Starts draining (idempotent).
    pub fn drain(&self) {
        self.0.send_replace(true);
    }
}

/// Whether draining has started, as the request handlers see it.
#[derive(Debug, Clone)]
pub struct Draining(watch::Receiver<bool>);

impl Draining {
    /// A switch and the view of it that every HTTP worker's state shares.
    pub fn new() -> (DrainSwitch, Self) {
        let (switch, view) = watch::channel(false);
        (DrainSwitch(switch), Self(view))
    }

    /// Whether the instance is shutting down.
    pub fn is_draining(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once draining starts; never, if the switch is gone without draining.
    pub async fn started(&self) {
        let mut view = self.0.clone();
        if view.wait_for(|draining| *draining).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
