//! One IMAP watcher task per community inside `praxis serve`: catch up on
//! every UID above the checkpoint in batches, then wait in IDLE (RFC 2177),
//! re-issued before the server's timeout, or poll when the server has no
//! IDLE; reconnect with capped exponential backoff and jitter.
//!
//! Invariants:
//! - A batch of posts and the checkpoint covering them commit in one
//!   transaction; only then are the messages flagged \Seen. A crash anywhere
//!   re-reads at most one uncommitted batch, and dedupe makes that harmless.
//! - On a UIDVALIDITY change the whole folder is scanned again (RFC 4549):
//!   no gaps, and dedupe means no duplicates.
//! - Messages are never deleted; they are flagged \Seen, or moved to
//!   `imap.move_to` when configured, only after they are committed.
//! - A failing community never stalls the others: each has its own task.
//! - One node at a time watches a community's mailbox: the watcher holds
//!   the lease `imap:<slug>` (renewed every third of [`Timings::lease`])
//!   while its session runs, and a node whose lease another holds waits on
//!   standby, trying again every [`Timings::standby`]; when the holder dies
//!   its lease lapses and a standby node takes the watch over within
//!   `lease + standby` (sooner when a live node takes the holder as dead
//!   after three silent heartbeats and drops its leases: `daemon.rs`). Two nodes reading one mailbox at once would still
//!   store each message once (dedupe), but flag and fan out twice the work.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tracing::{debug, info, warn};

use super::imap::{ImapClient, ImapError, Woken};
use super::pipeline::{self, Incoming};
use crate::community::Community;
use crate::config::Config;
use crate::model::Source;
use crate::shutdown::Shutdown;
use crate::store::{Checkpoint, Store, StoreError, now};

/// Messages fetched and committed together.
pub const BATCH: usize = 100;

/// Timings of a watcher; tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// IDLE is re-issued after this long (RFC 2177: servers may drop it after 30 minutes).
    pub idle_renew: Duration,
    /// Poll interval when the server has no IDLE.
    pub poll: Duration,
    /// First reconnect delay.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// How long the watch lease holds unless renewed.
    pub lease: Duration,
    /// How often a node on standby tries to take the lease (`praxis serve`:
    /// once a heartbeat, at most this default).
    pub standby: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            idle_renew: Duration::from_secs(25 * 60),
            poll: Duration::from_secs(60),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            lease: Duration::from_secs(60),
            standby: Duration::from_secs(15),
        }
    }
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Config(String),
    #[error("database task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Watches one community's mailbox until shutdown.
pub async fn watch(
    config: Arc<Config>,
    community: Arc<Community>,
    db: crate::config::Database,
    timings: Timings,
    mut shutdown: Shutdown,
) -> anyhow::Result<()> {
    let key = format!("imap:{}", community.slug());
    let store = Arc::new(Mutex::new(Store::open_database(&db)?));
    let mut delay = timings.backoff_min;
    let node = crate::store::this_node();
    loop {
        if shutdown.is_shutdown() {
            break;
        }
        match take_lease(&store, &key, timings.lease).await {
            Ok(true) => {}
            held => {
                // Another node watches (or the database is away): wait,
                // leaving the health row to the node that watches.
                debug!(community = %community.slug(), ?held, "IMAP watch held elsewhere; on standby");
                tokio::select! {
                    _ = tokio::time::sleep(timings.standby) => continue,
                    _ = shutdown.recv() => break,
                }
            }
        }
        set_health(&store, &key, "connecting", None).await;
        let result = tokio::select! {
            r = session(&config, &community, &store, &key, timings) => r,
            lost = keep_lease(&store, &key, timings.lease) => Err(lost),
            _ = shutdown.recv() => break,
        };
        match result {
            Ok(()) => delay = timings.backoff_min,
            Err(e) => {
                warn!(community = %community.slug(), "IMAP watcher: {e}; retrying in {delay:?}");
                set_health(&store, &key, "failing", Some(&e.to_string())).await;
            }
        }
        // Jitter spreads reconnects of many communities after a server restart.
        let jitter = rand::rng().random_range(0.75..1.25);
        let wait = delay.mul_f64(jitter);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.recv() => break,
        }
        delay = (delay * 2).min(timings.backoff_max);
    }
    set_health(&store, &key, "stopped", None).await;
    let s2 = store.clone();
    let key2 = key.clone();
    let _ = tokio::task::spawn_blocking(move || {
        s2.lock().expect("store lock").release_lease(&key2, node)
    })
    .await;
    Ok(())
}

/// Takes or renews this node's lease on the watch `key`.
async fn take_lease(
    store: &Arc<Mutex<Store>>,
    key: &str,
    ttl: Duration,
) -> Result<bool, SessionError> {
    let (store, key) = (store.clone(), key.to_string());
    Ok(tokio::task::spawn_blocking(move || {
        store.lock().expect("store lock").take_lease(
            &key,
            crate::store::this_node(),
            now(),
            ttl.as_secs() as i64,
        )
    })
    .await??)
}

/// Renews the watch lease every third of its life; returns why the
/// session must end when another node holds it now (this node could not
/// renew in time: the database was away longer than the lease).
async fn keep_lease(store: &Arc<Mutex<Store>>, key: &str, ttl: Duration) -> SessionError {
    loop {
        tokio::time::sleep(ttl / 3).await;
        match take_lease(store, key, ttl).await {
            Ok(true) => {}
            Ok(false) => {
                return SessionError::Config(format!(
                    "another node took the watch of {key} (this node could not renew it in time)"
                ));
            }
            Err(e) => warn!("cannot renew the watch lease {key}: {e}"),
        }
    }
}

async fn set_health(store: &Arc<Mutex<Store>>, key: &str, state: &str, detail: Option<&str>) {
    let store = store.clone();
    let (key, state, detail) = (
        key.to_string(),
        state.to_string(),
        detail.map(str::to_string),
    );
    let r = tokio::task::spawn_blocking(move || {
        store
            .lock()
            .expect("store lock")
            .set_health(&key, &state, detail.as_deref())
    })
    .await;
    if let Ok(Err(e)) = r {
        warn!("cannot record watcher health: {e}");
    }
}

/// One connection's life: catch up, then wait for news, until an error.
async fn session(
    config: &Arc<Config>,
    community: &Arc<Community>,
    store: &Arc<Mutex<Store>>,
    key: &str,
    timings: Timings,
) -> Result<(), SessionError> {
    let id = community.id;
    let imap = community
        .config
        .imap
        .as_ref()
        .ok_or_else(|| SessionError::Config("no [community.imap] section".into()))?;
    let password = imap
        .password()
        .resolve(&format!("community[{}].imap.password", community.slug()))
        .map_err(SessionError::Config)?
        .unwrap_or_default();
    let mut client = ImapClient::connect(imap, &password).await?;
    let selected = client.select(&imap.folder).await?;
    let saved = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.lock().expect("store lock").checkpoint(id))
            .await??
    };
    let mut last_uid = match saved {
        Some(cp) if cp.uidvalidity == selected.uidvalidity && cp.folder == imap.folder => {
            cp.last_uid
        }
        Some(cp) => {
            info!(
                community = %community.slug(),
                "UIDVALIDITY of {} changed ({} → {}): scanning the whole folder again",
                imap.folder, cp.uidvalidity, selected.uidvalidity
            );
            0
        }
        None => 0,
    };
    info!(community = %community.slug(), server = client.server(), folder = %imap.folder,
          last_uid, idle = client.supports_idle(), "IMAP watcher connected");
    loop {
        set_health(store, key, "syncing", None).await;
        loop {
            let fetched = client.fetch_after(last_uid, BATCH).await?;
            if fetched.is_empty() {
                break;
            }
            let uids: Vec<u32> = fetched.iter().map(|f| f.uid).collect();
            let newest = *uids.iter().max().expect("non-empty");
            let cp = Checkpoint {
                community: id,
                folder: imap.folder.clone(),
                uidvalidity: selected.uidvalidity,
                last_uid: newest,
            };
            let store2 = store.clone();
            let c = community.clone();
            let whole = config.clone();
            let counts =
                tokio::task::spawn_blocking(move || -> Result<(usize, usize), StoreError> {
                    let mut guard = store2.lock().expect("store lock");
                    let batch = guard.batch()?;
                    let t = now();
                    let (mut new, mut dup) = (0, 0);
                    let mut outcomes = Vec::with_capacity(fetched.len());
                    for f in &fetched {
                        let o = pipeline::ingest(
                            &batch,
                            &c,
                            Incoming {
                                raw: &f.raw,
                                source: Source::Imap,
                                envelope_to: None,
                                received_at: t,
                            },
                        )?;
                        if o.duplicate() {
                            dup += 1;
                        } else {
                            new += 1;
                        }
                        outcomes.push(o);
                    }
                    batch.save_checkpoint(&cp, t)?;
                    batch.commit()?;
                    // Committed: fan out, acknowledge, run commands.
                    for (f, o) in fetched.iter().zip(&outcomes) {
                        if let Err(e) =
                            crate::effects::after_ingest(&mut guard, &whole, &c, &f.raw, None, o)
                        {
                            crate::effects::log_failure("IMAP: after storing", &e);
                        }
                    }
                    Ok((new, dup))
                })
                .await??;
            debug!(community = %community.slug(), new = counts.0, duplicates = counts.1, last_uid = newest, "batch committed");
            // Committed: now it is safe to tell the server.
            match &imap.move_to {
                Some(folder) => client.move_to(&uids, folder).await?,
                None => client.mark_seen(&uids).await?,
            }
            last_uid = newest;
        }
        // Record the sync time even when nothing was new.
        {
            let store2 = store.clone();
            let cp = Checkpoint {
                community: id,
                folder: imap.folder.clone(),
                uidvalidity: selected.uidvalidity,
                last_uid,
            };
            tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
                let mut guard = store2.lock().expect("store lock");
                let batch = guard.batch()?;
                batch.save_checkpoint(&cp, now())?;
                batch.commit()
            })
            .await??;
        }
        if client.supports_idle() {
            set_health(store, key, "idle", None).await;
            match client.idle(timings.idle_renew).await? {
                Woken::Changed => debug!(community = %community.slug(), "IDLE: new mail"),
                Woken::Timeout => debug!(community = %community.slug(), "IDLE renewed"),
            }
        } else {
            set_health(store, key, "polling", None).await;
            tokio::time::sleep(timings.poll).await;
        }
    }
}
