//! Shutdown as a leaf every long-running task shares: a [`Shutdown`] that
//! resolves once for everyone, the signal that starts it, and the accept
//! loop the listeners (LMTP, HTTP) stop with it.
//!
//! A leaf: it imports nothing of praxis but `config::Listen`, so the
//! listeners below the daemon need not import the daemon to stop with it.

use std::future::Future;

use anyhow::Result;
use tokio::sync::watch;
use tracing::{info, warn};

/// Starts shutdown for every [`Shutdown`] made from it: kept by the daemon.
pub struct Trigger {
    /// Set to true once, when shutdown starts.
    tx: watch::Sender<bool>,
}

impl Trigger {
    /// Starts shutdown; every [`Shutdown::recv`] resolves.
    pub fn fire(&self) {
        let _ = self.tx.send(true);
    }
}

/// A trigger and the first of the views it controls.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger { tx }, Shutdown { rx })
}

/// A task's view of shutdown: cheap to clone, resolves once for everyone.
#[derive(Clone)]
pub struct Shutdown {
    /// Flips to true once, when shutdown starts.
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// Whether shutdown has started.
    pub fn is_shutdown(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves when shutdown starts (at once if it already has).
    pub async fn recv(&mut self) {
        // An error means the sender is gone: that is shutdown too.
        let _ = self.rx.wait_for(|v| *v).await;
    }
}

/// A connection a listener accepted: TCP or a Unix socket.
pub type Accepted = tokio_util::either::Either<tokio::net::TcpStream, tokio::net::UnixStream>;

/// Binds `listen` (a loopback address or `unix:/path`) and hands each
/// connection to `handle` on a task of its own, until shutdown. `what` names
/// the listener ("LMTP", "HTTP") in logs and errors, `key` the config key
/// that sets the address. Shared by the LMTP listener and the one-click
/// endpoint.
pub async fn accept_loop<F, Fut>(
    listen: crate::config::Listen,
    what: &str,
    key: &str,
    mut shutdown: Shutdown,
    handle: F,
) -> Result<()>
where
    F: Fn(Accepted) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    use crate::config::Listen;
    use tokio_util::either::Either;
    match listen {
        Listen::Tcp(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                anyhow::anyhow!("cannot listen for {what} on {addr}: {e}; change {key}")
            })?;
            info!(%addr, "{what} listener ready");
            loop {
                tokio::select! {
                    r = listener.accept() => {
                        let (sock, peer) = r?;
                        tracing::debug!(%peer, "{what} connection");
                        tokio::spawn(handle(Either::Left(sock)));
                    }
                    _ = shutdown.recv() => break,
                }
            }
        }
        Listen::Unix(path) => {
            let _ = std::fs::remove_file(&path);
            let listener = tokio::net::UnixListener::bind(&path).map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen for {what} on unix:{}: {e}; change {key}",
                    path.display()
                )
            })?;
            info!(path = %path.display(), "{what} listener ready");
            loop {
                tokio::select! {
                    r = listener.accept() => {
                        let (sock, _) = r?;
                        tokio::spawn(handle(Either::Right(sock)));
                    }
                    _ = shutdown.recv() => break,
                }
            }
            let _ = std::fs::remove_file(&path);
        }
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => info!("SIGINT received"),
                    _ = term.recv() => info!("SIGTERM received"),
                }
            }
            Err(e) => {
                warn!("cannot listen for SIGTERM ({e}); only SIGINT stops the daemon");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
