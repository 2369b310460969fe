//! `praxis serve`: spawns the long-running tasks and owns shutdown.
//!
//! Shutdown is passed in as a future (SIGINT/SIGTERM in production, anything
//! in tests); every task gets a [`Shutdown`] and finishes its current unit of
//! work before returning. The daemon talks to the command line only through
//! the database.

use std::future::Future;

use std::time::Duration;

use anyhow::Result;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::community::Communities;
use crate::config::{Config, Database};
use crate::shutdown::Shutdown;
use crate::store::Store;

/// How often the daemon writes its heartbeat for `praxis status`.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

/// Runs the daemon until `shutdown` resolves, then waits for every task.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    // Poll `shutdown` once first: a signal handler installs itself when first
    // polled, and it must be in place before the heartbeat says `running`,
    // or a SIGTERM right after would kill the process instead of stopping it.
    let mut shutdown = std::pin::pin!(shutdown);
    let stop_at_once = futures::poll!(shutdown.as_mut()).is_ready();
    // The sender refuses to start on a bad DKIM key or a missing secret:
    // better to stop before saying `running` than to send unsigned or not at all.
    let sender = crate::deliver::Sender::with_system_dns(config.clone())?;
    let (trigger, shutdown_view) = crate::shutdown::channel();
    let db = config.database().map_err(anyhow::Error::msg)?;
    // Every community resolved once, for every task: ids, typed config,
    // templates compiled on first use and then shared.
    let mut store = Store::open_database(&db)?;
    let communities = Communities::load(&config, &store)?;
    // This node among the install's (one on SQLite): `praxis status` lists
    // it; its heartbeat keeps it there.
    let node = crate::store::this_node();
    let host = crate::store::host_name();
    let now = crate::store::now();
    // A node of this host whose process is gone (killed, the machine
    // restarted) lets go of its leases and claims now, not when they lapse.
    for gone in store
        .nodes(0, now)?
        .into_iter()
        .filter(|n| n.host == host && n.name != node && !process_alive(n.pid))
    {
        info!(node = %gone.name, "a node of this host is gone: its leases and claims are let go");
        store.unregister_node(&gone.name)?;
    }
    store.register_node(node, &host, i64::from(std::process::id()), now)?;
    drop(store);
    let mut tasks = JoinSet::new();
    tasks.spawn(heartbeat(db.clone(), shutdown_view.clone()));
    for c in communities.iter().filter(|c| c.config.imap.is_some()) {
        // Paths in it (imap.ca_file) were resolved when the config was read.
        let imap = c.config.imap.as_ref();
        tasks.spawn(crate::ingest::watcher::watch(
            std::sync::Arc::new(config.clone()),
            c.clone(),
            db.clone(),
            crate::ingest::watcher::Timings {
                idle_renew: imap.map(|i| i.idle_renew.0).unwrap_or_default(),
                poll: imap.map(|i| i.poll.0).unwrap_or_default(),
                ..crate::ingest::watcher::Timings::default()
            },
            shutdown_view.clone(),
        ));
    }
    let mut stop = shutdown_view.clone();
    tasks.spawn(async move {
        sender.run(async move { stop.recv().await }).await?;
        Ok(())
    });

    tasks.spawn(fanout_sweep(
        config.clone(),
        communities.clone(),
        shutdown_view.clone(),
    ));
    tasks.spawn(moderator_summaries(
        config.clone(),
        communities.clone(),
        shutdown_view.clone(),
    ));
    if let Some(lmtp) = &config.lmtp {
        let listen = crate::config::parse_listen(&lmtp.listen).map_err(anyhow::Error::msg)?;
        let server = crate::ingest::lmtp::LmtpServer::new(
            std::sync::Arc::new(config.clone()),
            communities.clone(),
            &db,
            lmtp.max_size(),
        )?;
        tasks.spawn(server.serve(listen, shutdown_view.clone()));
    }
    if let Some(http) = &config.http {
        let listen = crate::config::parse_listen(&http.listen).map_err(anyhow::Error::msg)?;
        let secret = config
            .delivery
            .link_secret()
            .resolve("delivery.link_secret")
            .map_err(anyhow::Error::msg)?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "[http] needs delivery.link_secret_env or delivery.link_secret_file to check links"
                )
            })?;
        let server = crate::web::WebServer::new(
            communities.clone(),
            &db,
            crate::deliver::links::LinkKey::new(&secret),
            http.public_url.as_deref(),
        )?;
        tasks.spawn(server.serve(listen, shutdown_view.clone()));
    }
    info!(
        database = %db,
        communities = config.communities.len(),
        pid = std::process::id(),
        "praxis serve started"
    );
    if !stop_at_once {
        shutdown.await;
    }
    info!("shutting down: finishing work in progress");
    trigger.fire();
    while let Some(res) = tasks.join_next().await {
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("task ended with an error: {e:#}"),
            Err(e) => warn!("task panicked: {e}"),
        }
    }
    let db2 = db.clone();
    let _ = tokio::task::spawn_blocking(move || {
        let mut s = Store::open_database(&db2)?;
        // Its leases and claims go with it: the other nodes take its work
        // at once rather than when they lapse.
        s.unregister_node(crate::store::this_node())?;
        s.set_health("daemon", "stopped", None)
    })
    .await;
    info!("praxis serve stopped");
    Ok(())
}

/// How often approved posts without a fan-out are looked for.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// How soon a sweep that failed (the database busy past its timeout, say)
/// is tried again: a due digest should not wait a whole interval.
const SWEEP_RETRY: Duration = Duration::from_secs(5);

/// Queues the fan-out of approved posts that were never queued (a process
/// stopped between approving and queueing): at start, then every minute.
/// Fan-out is idempotent, so a post queued meanwhile is not sent twice.
/// A sweep with an error is tried again after `SWEEP_RETRY`.
async fn fanout_sweep(
    config: Config,
    communities: Communities,
    mut shutdown: Shutdown,
) -> Result<()> {
    loop {
        let db = config.database().map_err(anyhow::Error::msg)?;
        let all = communities.clone();
        let public_url = config.http.as_ref().and_then(|h| h.public_url.clone());
        let res = tokio::task::spawn_blocking(move || -> Result<(usize, bool)> {
            let mut store = Store::open_database(&db)?;
            let week_ago = crate::store::now() - 7 * 86_400;
            let ids = store.approved_without_fanout(week_ago, 1000)?;
            for (post, community) in &ids {
                crate::deliver::queue_post(&mut store, all.by_id(*community)?, *post)?;
            }
            // Query reminders ride the same sweep: each is queued once.
            let reminded =
                crate::consolidate::reminders::sweep(&mut store, &all, chrono::Utc::now())?;
            if reminded > 0 {
                info!("queued {reminded} query reminder(s) to moderators");
            }
            // And last month's health report to each community's owners, once.
            let reported = crate::effects::health_report::sweep(
                &mut store,
                &all,
                chrono::Utc::now(),
                public_url.as_deref(),
            )?;
            if reported > 0 {
                info!("queued {reported} monthly health report(s) to owners");
            }
            // Digests too: an issue due at a schedule moment is claimed once.
            let mut digest_failed = false;
            for c in all.iter() {
                match crate::digest::issue::sweep(&mut store, c, chrono::Utc::now()) {
                    Ok(Some(crate::digest::issue::Sent::Queued {
                        selection,
                        recipients,
                        ..
                    })) => info!(
                        "community `{}`: digest Vol {}, Issue {} queued for {recipients} member(s)",
                        c.slug(),
                        selection.volume,
                        selection.number
                    ),
                    Ok(_) => {}
                    Err(e) => {
                        warn!("community `{}`: digest: {e}", c.slug());
                        digest_failed = true;
                    }
                }
            }
            Ok((ids.len(), digest_failed))
        })
        .await?;
        let failed = match res {
            Ok((0, failed)) => failed,
            Ok((n, failed)) => {
                info!("queued the fan-out of {n} approved post(s) that had none");
                failed
            }
            Err(e) => {
                warn!("fan-out sweep: {e:#}");
                true
            }
        };
        let pause = if failed { SWEEP_RETRY } else { SWEEP_INTERVAL };
        tokio::select! {
            _ = shutdown.recv() => return Ok(()),
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Sends each community's daily summary of held posts when due (checked
/// every ten minutes; only communities with `moderator_notices = "daily"`).
async fn moderator_summaries(
    config: Config,
    communities: Communities,
    mut shutdown: Shutdown,
) -> Result<()> {
    loop {
        let db = config.database().map_err(anyhow::Error::msg)?;
        let all = communities.clone();
        let res = tokio::task::spawn_blocking(move || -> Result<()> {
            let mut store = Store::open_database(&db)?;
            for c in all.iter() {
                if crate::effects::daily_summary(&mut store, c)? {
                    info!(community = %c.slug(), "daily summary of held posts sent to the moderators");
                }
            }
            Ok(())
        })
        .await?;
        if let Err(e) = res {
            warn!("moderator summaries: {e:#}");
        }
        tokio::select! {
            _ = shutdown.recv() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
        }
    }
}

/// Writes the daemon's health row and this node's heartbeat now and every
/// [`HEARTBEAT_INTERVAL`].
async fn heartbeat(db: Database, mut shutdown: Shutdown) -> Result<()> {
    loop {
        let path = db.clone();
        let res = tokio::task::spawn_blocking(move || {
            let mut s = Store::open_database(&path)?;
            s.node_seen(crate::store::this_node(), crate::store::now())?;
            s.set_health("daemon", "running", None)
        })
        .await?;
        if let Err(e) = res {
            warn!("cannot write the daemon heartbeat: {e}");
        }
        tokio::select! {
            _ = shutdown.recv() => return Ok(()),
            _ = tokio::time::sleep(HEARTBEAT_INTERVAL) => {}
        }
    }
}

/// Whether process `pid` of this host still runs.
fn process_alive(pid: i64) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 checks only that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
