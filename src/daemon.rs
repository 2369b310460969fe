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

/// The first pause before trying the database again after a heartbeat
/// failed; it doubles up to the heartbeat interval.
const OUTAGE_RETRY_FIRST: Duration = Duration::from_secs(1);

/// While the database is unreachable, a warning at most this often.
const OUTAGE_WARN_EVERY: Duration = Duration::from_secs(60);

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
    tasks.spawn(heartbeat(
        db.clone(),
        config.database.heartbeat.0,
        config.database.dead_after(),
        shutdown_view.clone(),
    ));
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
                // A node on standby tries for the watch once a heartbeat
                // (at most every 15 s): the watch of a node taken as dead
                // is taken over within about a heartbeat of that.
                standby: config
                    .database
                    .heartbeat
                    .0
                    .min(crate::ingest::watcher::Timings::default().standby),
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

/// How soon a sweep that failed (the database busy past its timeout, or
/// unreachable) is tried again: a due digest should not wait a whole
/// interval. It doubles while the sweeps keep failing, up to
/// [`SWEEP_INTERVAL`].
const SWEEP_RETRY: Duration = Duration::from_secs(5);

/// Queues the fan-out of approved posts that were never queued (a process
/// stopped between approving and queueing): at start, then every minute.
/// Fan-out is idempotent, so a post queued meanwhile is not sent twice.
/// A sweep with an error is tried again after `SWEEP_RETRY`, doubling.
async fn fanout_sweep(
    config: Config,
    communities: Communities,
    mut shutdown: Shutdown,
) -> Result<()> {
    let mut retry = SWEEP_RETRY;
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
        let pause = if failed {
            let pause = retry;
            retry = (retry * 2).min(SWEEP_INTERVAL);
            pause
        } else {
            retry = SWEEP_RETRY;
            SWEEP_INTERVAL
        };
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

/// A spell without the database, as the heartbeat saw it.
struct Outage {
    /// When the first heartbeat failed, Unix seconds.
    since: i64,
    /// Heartbeats tried and failed since.
    attempts: u32,
    /// When the last warning was logged.
    warned_at: std::time::Instant,
}

/// Writes the daemon's health row and this node's heartbeat now and every
/// `beat`, and takes the nodes silent for longer than `dead_after` as dead
/// (their delivery claims and leases let go, so this node takes their work
/// over). It judges others only once its own heartbeats have gone through
/// for a whole `dead_after`: after the database was away, every node gets
/// that long to beat again before any is judged.
///
/// When the database is unreachable it tries again after 1 s, doubling up
/// to `beat`; once back, it logs the outage and records it in the health
/// row `database` for `praxis status` (when it was lost, how long, how
/// many attempts).
async fn heartbeat(
    db: Database,
    beat: Duration,
    dead_after: Duration,
    mut shutdown: Shutdown,
) -> Result<()> {
    let dead_after = dead_after.as_secs().max(1) as i64;
    let mut beating_since: Option<i64> = None;
    let mut outage: Option<Outage> = None;
    let mut retry = OUTAGE_RETRY_FIRST;
    loop {
        let now = crate::store::now();
        let judge = beating_since.is_some_and(|t| now - t >= dead_after);
        let back = outage.as_ref().map(|o| (o.since, o.attempts));
        let path = db.clone();
        let res =
            tokio::task::spawn_blocking(move || beat_once(&path, now, judge, dead_after, back))
                .await?;
        let pause = match res {
            Ok(()) => {
                beating_since.get_or_insert(now);
                if let Some(o) = outage.take() {
                    info!(
                        database = %db,
                        "the database is back after {}s and {} failed attempts",
                        now - o.since,
                        o.attempts
                    );
                }
                retry = OUTAGE_RETRY_FIRST;
                beat
            }
            Err(e) => {
                beating_since = None;
                let o = outage.get_or_insert_with(|| Outage {
                    since: now,
                    attempts: 0,
                    warned_at: std::time::Instant::now(),
                });
                o.attempts += 1;
                if o.attempts == 1 || o.warned_at.elapsed() >= OUTAGE_WARN_EVERY {
                    warn!(
                        "cannot reach the database for the heartbeat ({} attempts since {}): {e:#}; trying again in {retry:?}",
                        o.attempts,
                        crate::cli::output::rfc3339(o.since)
                    );
                    o.warned_at = std::time::Instant::now();
                }
                let pause = retry;
                retry = (retry * 2).min(beat);
                pause
            }
        };
        tokio::select! {
            _ = shutdown.recv() => return Ok(()),
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// One heartbeat: this node's row (registered again if another node took
/// it as dead meanwhile), the daemon's health row, the outage just ended
/// (`back`: since when, how many attempts), and, when `judge`, the nodes
/// silent for `dead_after` seconds taken as dead.
fn beat_once(
    db: &Database,
    now: i64,
    judge: bool,
    dead_after: i64,
    back: Option<(i64, u32)>,
) -> Result<()> {
    let node = crate::store::this_node();
    let mut s = Store::open_database(db)?;
    if !s.node_seen(node, now)? {
        warn!(
            node,
            "this node was taken as dead by another (silent too long): registering again"
        );
        s.register_node(
            node,
            &crate::store::host_name(),
            i64::from(std::process::id()),
            now,
        )?;
    }
    s.set_health("daemon", "running", None)?;
    if let Some((since, attempts)) = back {
        let rfc = crate::cli::output::rfc3339;
        s.set_health(
            "database",
            "back",
            Some(&format!(
                "node {node} lost the database at {} and had it back at {} ({}s, {attempts} failed attempts)",
                rfc(since),
                rfc(now),
                now - since
            )),
        )?;
    }
    if judge {
        let dead = s.take_dead_nodes(now - dead_after, node)?;
        for d in &dead {
            warn!(
                node = %d.name,
                silent = now - d.seen_at,
                claims = d.claims,
                leases = %d.leases.join(","),
                "a node silent for longer than {dead_after}s is taken as dead: its deliveries and watches are let go"
            );
        }
        if !dead.is_empty() {
            let said: Vec<String> = dead
                .iter()
                .map(|d| {
                    format!(
                        "{} (last seen {}, {} claims{})",
                        d.name,
                        crate::cli::output::rfc3339(d.seen_at),
                        d.claims,
                        if d.leases.is_empty() {
                            String::new()
                        } else {
                            format!(", {}", d.leases.join(", "))
                        }
                    )
                })
                .collect();
            s.set_health(
                "nodes",
                "took over",
                Some(&format!(
                    "node {node} took {} as dead at {} and let go of its work",
                    said.join("; "),
                    crate::cli::output::rfc3339(now)
                )),
            )?;
        }
    }
    Ok(())
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
