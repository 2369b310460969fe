//! `praxis status`: daemon health, queue depths and last sync per community.
//! Exits 1 when a running daemon reports a failing IMAP watcher or its web
//! does not answer `/healthz`, so it serves as a health check.

use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use super::Context;
use super::output::{local_time, rfc3339};
use crate::store::now;

/// A daemon heartbeat older than this means the daemon is not running.
pub const HEARTBEAT_STALE_SECS: i64 = 90;

#[derive(Serialize)]
struct Status {
    database: String,
    database_size: u64,
    schema_version: i64,
    daemon: String,
    /// The web's `/healthz`: "ok", "not running", "not configured", or why it failed.
    web: String,
    /// The `praxis serve` processes heartbeating now (several on
    /// PostgreSQL) and the leases each holds (`imap:<slug>`).
    nodes: Vec<NodeJson>,
    /// The last time a node lost the database and had it back (health row
    /// `database`): who, when, how long, how many attempts.
    database_outage: Option<String>,
    /// The last time a node took silent nodes as dead and their work over
    /// (health row `nodes`).
    nodes_taken_over: Option<String>,
    communities: Vec<CommunityJson>,
}

#[derive(Serialize)]
struct NodeJson {
    name: String,
    host: String,
    pid: i64,
    started_at: String,
    seen_at: String,
    holds: Vec<String>,
}

#[derive(Serialize)]
struct CommunityJson {
    slug: String,
    name: String,
    members: i64,
    imap_state: Option<String>,
    imap_error: Option<String>,
    last_sync: Option<String>,
    held: i64,
    open_queries: i64,
    overdue_queries: i64,
    /// Consolidated Replies scheduled and not yet due, and when the first goes.
    scheduled_replies: i64,
    next_scheduled_at: Option<String>,
    outbox_pending: i64,
    outbox_failed: i64,
    next_digest_at: Option<String>,
}

/// Runs `praxis status`.
pub fn run(ctx: &Context) -> Result<ExitCode> {
    let config = ctx.config()?;
    let store = ctx.store(&config)?;
    let t = now();
    let daemon_running = store
        .health("daemon")?
        .is_some_and(|h| h.state == "running" && t - h.updated_at <= HEARTBEAT_STALE_SECS);
    let nodes = store.nodes(t - HEARTBEAT_STALE_SECS, t)?;
    let outage = store.health("database")?.and_then(|h| h.detail);
    let taken_over = store.health("nodes")?.and_then(|h| h.detail);
    let database = config.database().map_or_else(
        |_| config.database_path().display().to_string(),
        |d| d.to_string(),
    );
    let mut failing = false;
    // The web answers only while the daemon runs; a daemon whose web does
    // not answer is failing.
    let web = match &config.http {
        None => "not configured".to_string(),
        Some(_) if !daemon_running => "not running".to_string(),
        Some(http) => match crate::config::parse_listen(&http.listen)
            .and_then(|l| crate::web::probe(&l, http.public_url.as_deref()))
        {
            Ok(()) => "ok".to_string(),
            Err(e) => {
                failing = true;
                format!("not answering on {}: {e}", http.listen)
            }
        },
    };
    let mut rows = Vec::new();
    for c in &config.communities {
        let row = store.community(&c.slug)?;
        let s = store.community_status(row.id)?;
        let (imap_state, imap_error) = if c.imap.is_none() {
            (None, None)
        } else if !daemon_running {
            (Some("not running".to_string()), None)
        } else {
            match store.health(&format!("imap:{}", c.slug))? {
                Some(h) => {
                    failing |= h.state == "failing";
                    (Some(h.state), h.detail)
                }
                None => (Some("starting".to_string()), None),
            }
        };
        let next_digest = c
            .digest
            .schedule
            .next_after(chrono::Utc::now(), c.timezone)
            .map(|d| d.timestamp());
        rows.push((c, s, imap_state, imap_error, next_digest));
    }

    if ctx.out.json {
        ctx.out.json(&Status {
            database,
            database_size: store.file_size(),
            schema_version: store.schema_version()?,
            daemon: if daemon_running { "running" } else { "stopped" }.into(),
            web,
            nodes: nodes
                .into_iter()
                .map(|n| NodeJson {
                    name: n.name,
                    host: n.host,
                    pid: n.pid,
                    started_at: rfc3339(n.started_at),
                    seen_at: rfc3339(n.seen_at),
                    holds: n.holds,
                })
                .collect(),
            database_outage: outage,
            nodes_taken_over: taken_over,
            communities: rows
                .into_iter()
                .map(|(c, s, imap_state, imap_error, next)| CommunityJson {
                    slug: c.slug.clone(),
                    name: c.name.clone(),
                    members: s.members,
                    imap_state,
                    imap_error,
                    last_sync: s.last_sync.map(rfc3339),
                    held: s.held,
                    open_queries: s.open_queries,
                    overdue_queries: s.overdue_queries,
                    scheduled_replies: s.scheduled_replies,
                    next_scheduled_at: s.next_scheduled_at.map(rfc3339),
                    outbox_pending: s.outbox_pending,
                    outbox_failed: s.outbox_failed,
                    next_digest_at: next.map(rfc3339),
                })
                .collect(),
        })?;
    } else {
        ctx.out.say(format!(
            "database {} ({} KB, schema {}); daemon {}; web {web}",
            database,
            store.file_size() / 1024,
            store.schema_version()?,
            if daemon_running {
                "running"
            } else {
                "not running"
            }
        ));
        for n in &nodes {
            ctx.out.say(format!(
                "node {} seen {}s ago{}",
                n.name,
                (t - n.seen_at).max(0),
                if n.holds.is_empty() {
                    String::new()
                } else {
                    format!(", watching {}", n.holds.join(", "))
                }
            ));
        }
        if let Some(o) = &outage {
            ctx.out.say(format!("database outage: {o}"));
        }
        if let Some(o) = &taken_over {
            ctx.out.say(format!("nodes taken as dead: {o}"));
        }
        ctx.out.table(
            &[
                "community",
                "members",
                "imap",
                "last sync",
                "held",
                "open queries",
                "overdue",
                "scheduled replies",
                "outbox pending",
                "failed",
                "next digest",
            ],
            rows.into_iter()
                .map(|(c, s, imap_state, imap_error, next)| {
                    let tz = c.timezone;
                    vec![
                        c.slug.clone(),
                        s.members.to_string(),
                        match (imap_state, imap_error) {
                            (None, _) => "-".into(),
                            (Some(st), Some(e)) => format!("{st}: {e}"),
                            (Some(st), None) => st,
                        },
                        s.last_sync
                            .map(|x| local_time(x, tz))
                            .unwrap_or_else(|| "never".into()),
                        s.held.to_string(),
                        s.open_queries.to_string(),
                        s.overdue_queries.to_string(),
                        match s.next_scheduled_at {
                            Some(at) => format!(
                                "{} (next {})",
                                s.scheduled_replies,
                                super::output::zoned_time(at, tz)
                            ),
                            None => s.scheduled_replies.to_string(),
                        },
                        s.outbox_pending.to_string(),
                        s.outbox_failed.to_string(),
                        next.map(|x| local_time(x, tz))
                            .unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect(),
        );
    }
    Ok(if failing {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
