//! The audit log: one row per moderator act (who, how, when, community,
//! what it touched), written in the same transaction as the act, and read
//! back for `praxis audit`.

use super::engine::{Queries, params};
use serde::Serialize;

use super::{Result, Store};
use crate::model::CommunityId;

/// How an act reached praxis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum How {
    /// A `praxis` command on the server.
    Cli,
    /// A mail command or a moderator's reply by mail.
    Email,
    /// The web interface (one-click leaving, later moderation).
    Web,
    /// praxis itself: the daemon's sweeps, scheduled digests, bounces.
    System,
}

impl How {
    /// The word stored in `decisions.how`.
    pub fn as_str(self) -> &'static str {
        match self {
            How::Cli => "cli",
            How::Email => "email",
            How::Web => "web",
            How::System => "system",
        }
    }
}

/// Who acts on a store and how: set once by the entry point
/// ([`Store::act_as`]) so store functions can record acts without every
/// caller passing a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The person: a moderator's login or configured name, or a member's
    /// address for mail; "praxis" for the daemon itself.
    pub who: String,
    /// How they reached praxis.
    pub how: How,
}

impl Default for Actor {
    fn default() -> Self {
        Actor {
            who: "praxis".into(),
            how: How::System,
        }
    }
}

/// One act as [`record`] writes it.
#[derive(Debug, Clone)]
pub struct Act<'a> {
    /// The community it happened in.
    pub community: CommunityId,
    /// Who did it, and how.
    pub actor: &'a Actor,
    /// The verb: consolidate, publish, schedule, cancel, mark, approve,
    /// reject, discard, digest, member-add, member-remove, member-set,
    /// outbox-retry, ...
    pub act: &'a str,
    /// What it touched: ("post" | "thread" | "query" | "member" | "reply" |
    /// "digest" | "outbox", id).
    pub object: Option<(&'a str, i64)>,
    /// A short detail (a version number, a time, an address).
    pub detail: Option<&'a str>,
    /// When, Unix seconds.
    pub at: i64,
}

/// Writes one audit row on `conn`: pass the act's own transaction, so the
/// act and its record commit together or not at all.
pub fn record(conn: &impl Queries, a: &Act<'_>) -> Result<()> {
    let post = a.object.filter(|(k, _)| *k == "post").map(|(_, id)| id);
    conn.execute(
        "INSERT INTO decisions (community_id, post_id, actor, action, detail, at, how,
                                object_kind, object_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            a.community.0,
            post,
            a.actor.who,
            a.act,
            a.detail,
            a.at,
            a.actor.how.as_str(),
            a.object.map(|(k, _)| k),
            a.object.map(|(_, id)| id)
        ],
    )?;
    Ok(())
}

/// How a row written by the older `log_decision` was done, from its actor.
pub(super) fn how_of(actor: &str) -> How {
    match actor {
        "praxis" | "system" => How::System,
        "email" => How::Email,
        "one-click" | "web" => How::Web,
        _ => How::Cli,
    }
}

/// Which audit rows to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this community.
    pub community: Option<CommunityId>,
    /// Only acts at or after this time, Unix seconds.
    pub since: Option<i64>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// One row of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    /// When, Unix seconds.
    pub at: i64,
    /// The community's slug.
    pub community: String,
    /// Who.
    pub actor: String,
    /// How: cli, email, web or system.
    pub how: String,
    /// What was done.
    pub action: String,
    /// What it touched, e.g. "query 7" ("" when nothing in particular).
    pub object: String,
    /// Why (a rejection's reason), when given.
    pub reason: Option<String>,
    /// A short detail.
    pub detail: Option<String>,
}

impl Store {
    /// Sets who acts on this store from now on, and how (see [`Actor`]).
    pub fn act_as(&mut self, actor: Actor) {
        self.actor = actor;
    }

    /// Who acts on this store.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The audit log, newest first.
    pub fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditRow>> {
        self.conn.query_map(
            "SELECT d.at, c.slug, d.actor, d.how, d.action,
                    COALESCE(d.object_kind || ' ' || d.object_id, ''), d.reason, d.detail
             FROM decisions d JOIN communities c ON c.id = d.community_id
             WHERE (CAST(?1 AS BIGINT) IS NULL OR d.community_id = ?1)
               AND (CAST(?2 AS BIGINT) IS NULL OR d.at >= ?2)
             ORDER BY d.at DESC, d.id DESC LIMIT ?3",
            params![f.community.map(|c| c.0), f.since, f.limit],
            |r| {
                Ok(AuditRow {
                    at: r.get(0)?,
                    community: r.get(1)?,
                    actor: r.get(2)?,
                    how: r.get(3)?,
                    action: r.get(4)?,
                    object: r.get(5)?,
                    reason: r.get(6)?,
                    detail: r.get(7)?,
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_act_is_read_back_with_who_how_and_object() {
        let s = Store::open_in_memory().unwrap();
        s.sqlite().unwrap()
            .execute("INSERT INTO communities (id, slug, name, address, created_at) VALUES (1, 'health', 'Health', 'h@example.test', 0)", rusqlite::params![])
            .unwrap();
        let moderator = Actor {
            who: "meera".into(),
            how: How::Cli,
        };
        for (at, act) in [(100, "consolidate"), (200, "publish")] {
            record(
                &s.conn,
                &Act {
                    community: CommunityId(1),
                    actor: &moderator,
                    act,
                    object: Some(("query", 7)),
                    detail: Some("version 1"),
                    at,
                },
            )
            .unwrap();
        }
        let rows = s
            .audit(&AuditFilter {
                community: Some(CommunityId(1)),
                since: Some(150),
                limit: 10,
            })
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].action, "publish");
        assert_eq!(rows[0].actor, "meera");
        assert_eq!(rows[0].how, "cli");
        assert_eq!(rows[0].object, "query 7");
        assert_eq!(how_of("praxis"), How::System);
    }
}
