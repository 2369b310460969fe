//! Cross-posts: one query sent to other communities. Each copy is that
//! community's own approved post and query thread (the same Message-ID, so
//! replies to it thread there), recorded against the query in its home
//! community; the copy and its fan-out are written in one transaction.
//!
//! Invariants:
//! - A query is cross-posted to a community once (`UNIQUE (query_id,
//!   community_id)`), and a copy is never itself cross-posted: the home
//!   query is the one the Consolidated Reply is compiled for.
//! - A copy's fan-out is queued with the copy, so the daemon's sweep of
//!   approved posts without fan-out never sends it without its exclusions.
//! - A copy thread has no deadline of its own: reminders go to the home
//!   community's moderators, who compile the one reply.
//!
//! [`Store::crosspost`] still opens rusqlite's transaction (SQLite only):
//! the outbox's `insert_outbox`/`insert_audience` it calls take one. Its
//! statements are written for both engines already.

use serde::Serialize;

use super::engine::{Dialect, Queries, params};

use super::{Audience, NewOutbox, Result, Store, StoreError};
use crate::model::{CommunityId, OutboxId, PostId, ThreadId};

/// One copy of a query in another community.
#[derive(Debug, Clone, Serialize)]
pub struct CrossPost {
    /// The community it was sent to.
    pub community: CommunityId,
    /// That community's slug, for links and the command line.
    pub slug: String,
    /// That community's name, for attributions.
    pub name: String,
    /// The copy's thread there (where its responses arrive).
    pub thread: ThreadId,
    /// The question as stored there.
    pub post: PostId,
    /// Who cross-posted it.
    pub by: String,
    /// When, Unix seconds.
    pub at: i64,
}

/// What [`Store::crosspost`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrossPosted {
    /// The question was copied and its fan-out queued.
    Copied {
        /// The copy's thread.
        thread: ThreadId,
        /// The copied post.
        post: PostId,
        /// Its fan-out to the community's members.
        outbox: OutboxId,
    },
    /// The community already had the question (it was sent to both lists):
    /// its thread there is linked to the query, nothing is sent again.
    Linked {
        /// The thread it was already in.
        thread: ThreadId,
    },
}

/// Where a cross-posted copy came from.
#[derive(Debug, Clone)]
pub struct HomeQuery {
    /// The query in its home community.
    pub query: ThreadId,
    /// That community.
    pub community: CommunityId,
    /// Its slug.
    pub slug: String,
    /// Its name.
    pub name: String,
}

impl Store {
    /// Copies query `query` (its root post `root`) into community `to` as an
    /// approved query thread there and queues `msg` to `audience` (that
    /// community's members, without those who have it already), with an
    /// audit record, in one transaction. A community that already holds the
    /// question (same Message-ID) is linked instead, and nothing is queued.
    pub fn crosspost(
        &mut self,
        query: ThreadId,
        root: PostId,
        to: CommunityId,
        msg: &NewOutbox<'_>,
        audience: &Audience<'_>,
        now: i64,
    ) -> Result<CrossPosted> {
        let dialect = self.dialect();
        let tx = self.conn.transaction()?;
        // The engine interface over it (rusqlite's own methods would shadow it).
        let db = tx.db();
        let done: Option<i64> = db.query_opt(
            "SELECT thread_id FROM crossposts WHERE query_id = ?1 AND community_id = ?2",
            params![query.0, to.0],
            |r| r.get(0),
        )?;
        if let Some(t) = done {
            return Err(StoreError::Conflict(format!(
                "query {query} is already cross-posted to that community (its thread {t} there)"
            )));
        }
        let existing: Option<(i64, Option<i64>, String)> = db.query_opt(
            "SELECT c.id, c.thread_id, c.state FROM posts c JOIN posts q ON q.id = ?1
             WHERE c.community_id = ?2 AND c.message_id = q.message_id",
            params![root.0, to.0],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let outcome = match existing {
            Some((post, Some(thread), state)) if state == "approved" => {
                db.execute(
                    "UPDATE threads SET kind = 'query' WHERE id = ?1",
                    params![thread],
                )?;
                insert_row(&db, query, to, thread, post, &self.actor.who, now)?;
                CrossPosted::Linked {
                    thread: ThreadId(thread),
                }
            }
            Some((post, _, state)) => {
                return Err(StoreError::Conflict(format!(
                    "that community already has this question as post {post} ({state}); \
                     decide it there (`praxis approve {post}`) instead of cross-posting"
                )));
            }
            None => {
                let thread: i64 = db.query_one(
                    "INSERT INTO threads (community_id, subject, base_subject, kind, state,
                                          first_at, last_at)
                     SELECT ?2, subject, base_subject, 'query', 'open', ?3, ?3
                     FROM threads WHERE id = ?1
                     RETURNING id",
                    params![query.0, to.0, now],
                    |r| r.get(0),
                )?;
                // The member by address ignoring case: both columns are
                // SQLite's NOCASE, PostgreSQL's CITEXT.
                let copy = "INSERT INTO posts (community_id, message_id, sha256, raw, size, source,
                        received_at, class, state, from_addr, from_name, subject, date,
                        in_reply_to, refs, list_id, text, attachments, member_id, thread_id,
                        approved_at)
                     SELECT ?2, p.message_id, p.sha256, p.raw, p.size, p.source, ?4, p.class,
                        'approved', p.from_addr, p.from_name, p.subject, p.date, p.in_reply_to,
                        p.refs, p.list_id, p.text, p.attachments,
                        (SELECT m.id FROM members m WHERE m.community_id = ?2
                           AND m.email = p.from_addr),
                        ?3, ?4
                     FROM posts p WHERE p.id = ?1
                     RETURNING id";
                let post: i64 =
                    db.query_one(copy, params![root.0, to.0, thread, now], |r| r.get(0))?;
                db.execute(
                    "INSERT INTO post_attachments (post_id, position, name, sha256, size, kept)
                     SELECT ?2, position, name, sha256, size, kept
                     FROM post_attachments WHERE post_id = ?1",
                    params![root.0, post],
                )?;
                db.execute(
                    "UPDATE threads SET root_post_id = ?2 WHERE id = ?1",
                    params![thread, post],
                )?;
                // Replies find the copy's thread by the question's
                // Message-ID and References, as they find any thread (the
                // references array read by each engine's JSON function).
                let refs = match dialect {
                    Dialect::Sqlite => {
                        "INSERT INTO thread_refs (community_id, message_id, thread_id)
                         SELECT ?2, message_id, ?3 FROM posts WHERE id = ?1
                         UNION SELECT ?2, r.value, ?3 FROM posts p, json_each(p.refs) r WHERE p.id = ?1
                         ON CONFLICT (community_id, message_id) DO UPDATE SET thread_id = excluded.thread_id"
                    }
                    Dialect::Postgres => {
                        "INSERT INTO thread_refs (community_id, message_id, thread_id)
                         SELECT CAST(?2 AS BIGINT), message_id, CAST(?3 AS BIGINT) FROM posts WHERE id = ?1
                         UNION SELECT ?2, r.value, ?3
                           FROM posts p, json_array_elements_text(CAST(p.refs AS json)) r(value)
                           WHERE p.id = ?1
                         ON CONFLICT (community_id, message_id) DO UPDATE SET thread_id = excluded.thread_id"
                    }
                };
                db.execute(refs, params![root.0, to.0, thread])?;
                insert_row(&db, query, to, thread, post, &self.actor.who, now)?;
                let mut msg = msg.clone();
                msg.post = Some(PostId(post));
                let outbox = super::outbox::insert_outbox(&tx, &msg, now)?;
                super::outbox::insert_audience(&tx, outbox, audience)?;
                CrossPosted::Copied {
                    thread: ThreadId(thread),
                    post: PostId(post),
                    outbox,
                }
            }
        };
        let (thread, detail) = match &outcome {
            CrossPosted::Copied { thread, .. } => (*thread, "copied"),
            CrossPosted::Linked { thread } => (*thread, "linked (the list had it already)"),
        };
        let slug: String = db.query_one(
            "SELECT slug FROM communities WHERE id = ?1",
            params![to.0],
            |r| r.get(0),
        )?;
        let home: i64 = db.query_one(
            "SELECT community_id FROM threads WHERE id = ?1",
            params![query.0],
            |r| r.get(0),
        )?;
        super::audit::record(
            &db,
            &super::audit::Act {
                community: CommunityId(home),
                actor: &self.actor,
                act: "crosspost",
                object: Some(("query", query.0)),
                detail: Some(&format!("to `{slug}` as thread {thread}, {detail}")),
                at: now,
            },
        )?;
        tx.commit()?;
        Ok(outcome)
    }

    /// The copies of query `query` in other communities, oldest first.
    pub fn crossposts(&self, query: ThreadId) -> Result<Vec<CrossPost>> {
        self.conn.query_map(
            "SELECT x.community_id, c.slug, c.name, x.thread_id, x.post_id, x.by, x.at
             FROM crossposts x JOIN communities c ON c.id = x.community_id
             WHERE x.query_id = ?1 ORDER BY x.id",
            params![query.0],
            |r| {
                Ok(CrossPost {
                    community: CommunityId(r.get(0)?),
                    slug: r.get(1)?,
                    name: r.get(2)?,
                    thread: ThreadId(r.get(3)?),
                    post: PostId(r.get(4)?),
                    by: r.get(5)?,
                    at: r.get(6)?,
                })
            },
        )
    }

    /// The home query of `thread` when it is a cross-posted copy; `None`
    /// for any other thread.
    pub fn home_query(&self, thread: ThreadId) -> Result<Option<HomeQuery>> {
        self.conn.query_opt(
            "SELECT x.query_id, t.community_id, c.slug, c.name
             FROM crossposts x JOIN threads t ON t.id = x.query_id
             JOIN communities c ON c.id = t.community_id
             WHERE x.thread_id = ?1",
            params![thread.0],
            |r| {
                Ok(HomeQuery {
                    query: ThreadId(r.get(0)?),
                    community: CommunityId(r.get(1)?),
                    slug: r.get(2)?,
                    name: r.get(3)?,
                })
            },
        )
    }
}

impl Store {
    /// The names of the other communities a query's reply is shared with,
    /// seen from `thread` (the query or one of its copies): every community
    /// involved but `thread`'s own, the query's home first.
    pub fn shared_with(&self, thread: ThreadId) -> Result<Vec<String>> {
        self.conn.query_map(
            "WITH home(q) AS (SELECT COALESCE(
                 (SELECT query_id FROM crossposts WHERE thread_id = ?1), ?1)),
             involved(community, n) AS (
                 SELECT t.community_id, 0 FROM threads t, home WHERE t.id = home.q
                 UNION ALL
                 SELECT x.community_id, x.id FROM crossposts x, home WHERE x.query_id = home.q)
             SELECT c.name FROM involved i JOIN communities c ON c.id = i.community
             WHERE i.community <> (SELECT community_id FROM threads WHERE id = ?1)
               AND EXISTS (SELECT 1 FROM crossposts x, home WHERE x.query_id = home.q)
             ORDER BY i.n",
            params![thread.0],
            |r| r.get(0),
        )
    }
}

fn insert_row(
    tx: &impl Queries,
    query: ThreadId,
    to: CommunityId,
    thread: i64,
    post: i64,
    by: &str,
    now: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO crossposts (query_id, community_id, thread_id, post_id, by, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![query.0, to.0, thread, post, by, now],
    )?;
    Ok(())
}
