//! Threads: listing them for `praxis threads`, re-marking their kind, and
//! splitting a post and its replies off into a thread of their own.

use serde::Serialize;

use super::engine::{Dialect, Queries, params};
use super::{Result, Store};
use crate::model::{CommunityId, PostId, QueryState, ThreadId, ThreadKind};

/// A thread as `praxis threads` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadRow {
    /// Its id.
    pub id: ThreadId,
    /// The community's slug.
    pub community: String,
    /// The root post's subject.
    pub subject: String,
    /// What the thread is marked as.
    pub kind: ThreadKind,
    /// Approved posts.
    pub posts: i64,
    /// Distinct senders of approved posts.
    pub participants: i64,
    /// Earliest post, Unix seconds.
    pub first_at: i64,
    /// Latest post, Unix seconds.
    pub last_at: i64,
    /// Where it stands as a query (other threads stay open).
    pub state: QueryState,
    /// Approved posts after the first (the responses to a query).
    pub responses: i64,
    /// When the Consolidated Reply is due, for queries.
    pub deadline: Option<i64>,
    /// Responses approved after the Consolidated Reply was published, not
    /// yet in an addendum: the moderator's cue to add one.
    pub late_responses: i64,
    /// Who asked: the root post's author as the member list names them.
    pub asked_by: String,
    /// The asker's organisation ("" when unknown).
    pub asked_by_organisation: String,
    /// Where the asker works ("" when unknown): a query from a district
    /// office reads differently from one from a ministry.
    pub asked_by_place: String,
    /// The first note for moderators on one of its posts (e.g. a digest
    /// reply that could not be placed), so `--flagged` can say why.
    pub flag: Option<String>,
    /// When its Consolidated Reply is scheduled to go out, while that time
    /// is still to come: the thread is `published` in the schema from
    /// `publish --at` on, but shows `scheduled` until the reply is sent.
    pub scheduled_at: Option<i64>,
}

/// Which threads to list.
#[derive(Debug, Clone, Default)]
pub struct ThreadFilter {
    /// Only this community.
    pub community: Option<CommunityId>,
    /// Only queries.
    pub queries: bool,
    /// Only queries past their deadline at this time.
    pub overdue_at: Option<i64>,
    /// Only threads with a post flagged for a moderator.
    pub flagged: bool,
    /// At most this many, newest activity first.
    pub limit: i64,
}

impl Store {
    /// Threads with at least one approved post, newest activity first.
    ///
    /// Read per community through `threads_community_last` (community_id,
    /// last_at, and the rowid): walking that index newest first stops after
    /// `limit` threads, and only those threads' posts are counted, so the
    /// cost follows the limit, not the archive (a million posts list in
    /// milliseconds). Several communities are merged here by the same order.
    pub fn threads(&self, f: &ThreadFilter) -> Result<Vec<ThreadRow>> {
        let communities: Vec<i64> = match f.community {
            Some(c) => vec![c.0],
            None => self
                .conn
                .query_map("SELECT id FROM communities", params![], |r| r.get(0))?,
        };
        // The index is named on SQLite, whose planner might otherwise walk
        // another; PostgreSQL has no such hint and picks it by itself.
        let indexed = match self.dialect() {
            Dialect::Sqlite => "INDEXED BY threads_community_last",
            Dialect::Postgres => "",
        };
        let sql = format!(
            "SELECT t.id, c.slug, t.subject, t.kind, t.first_at, t.last_at, t.state, t.deadline_at,
                    (SELECT COUNT(*) FROM posts p WHERE p.thread_id = t.id AND p.state = 'approved'),
                    (SELECT COUNT(DISTINCT p.from_addr) FROM posts p
                     WHERE p.thread_id = t.id AND p.state = 'approved'),
                    t.late_responses,
                    (SELECT COALESCE(NULLIF(m.name, ''), NULLIF(r.from_name, ''), r.from_addr)
                     FROM posts r LEFT JOIN members m
                       ON m.community_id = r.community_id AND m.email = r.from_addr
                     WHERE r.id = t.root_post_id),
                    (SELECT COALESCE(m.organisation, '') FROM posts r JOIN members m
                       ON m.community_id = r.community_id AND m.email = r.from_addr
                     WHERE r.id = t.root_post_id),
                    (SELECT p.flag FROM posts p WHERE p.thread_id = t.id AND p.flag IS NOT NULL
                     ORDER BY p.id LIMIT 1),
                    (SELECT s.publish_at FROM consolidated_replies s
                     WHERE s.thread_id = t.id AND s.state = 'scheduled' AND s.publish_at > ?6
                     ORDER BY s.id DESC LIMIT 1),
                    (SELECT COALESCE(m.place, '') FROM posts r JOIN members m
                       ON m.community_id = r.community_id AND m.email = r.from_addr
                     WHERE r.id = t.root_post_id)
             FROM threads t {indexed}
             JOIN communities c ON c.id = t.community_id
             WHERE t.community_id = ?1
               AND (?2 = 0 OR t.kind = 'query')
               AND (CAST(?3 AS BIGINT) IS NULL OR (t.kind = 'query' AND t.state <> 'published' AND t.deadline_at < ?3))
               AND EXISTS (SELECT 1 FROM posts p WHERE p.thread_id = t.id AND p.state = 'approved')
               AND (?5 = 0 OR EXISTS (SELECT 1 FROM posts p
                                      WHERE p.thread_id = t.id AND p.flag IS NOT NULL))
             ORDER BY t.last_at DESC, t.id DESC
             LIMIT ?4"
        );
        let mut rows = Vec::new();
        for community in communities {
            let got = self.conn.query_map(
                &sql,
                params![
                    community,
                    f.queries as i64,
                    f.overdue_at,
                    f.limit,
                    f.flagged as i64,
                    super::now()
                ],
                |r| {
                    let posts: i64 = r.get(8)?;
                    Ok(ThreadRow {
                        id: ThreadId(r.get(0)?),
                        community: r.get(1)?,
                        subject: r.get(2)?,
                        kind: r.parse(3)?,
                        first_at: r.get(4)?,
                        last_at: r.get(5)?,
                        state: r.parse(6)?,
                        deadline: r.get(7)?,
                        posts,
                        participants: r.get(9)?,
                        responses: (posts - 1).max(0),
                        late_responses: r.get(10)?,
                        asked_by: r.get::<Option<String>>(11)?.unwrap_or_default(),
                        asked_by_organisation: r.get::<Option<String>>(12)?.unwrap_or_default(),
                        flag: r.get(13)?,
                        scheduled_at: r.get(14)?,
                        asked_by_place: r.get::<Option<String>>(15)?.unwrap_or_default(),
                    })
                },
            )?;
            rows.extend(got);
        }
        rows.sort_by(|a, b| b.last_at.cmp(&a.last_at).then(b.id.cmp(&a.id)));
        rows.truncate(usize::try_from(f.limit).unwrap_or(usize::MAX));
        Ok(rows)
    }
}

/// What [`Store::split_thread`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// The thread the post left.
    pub from: ThreadId,
    /// The thread it now starts.
    pub to: ThreadId,
    /// Posts moved: the split post and its replies.
    pub posts: usize,
}

impl Store {
    /// Marks the thread `post` starts as `kind` (a held root just approved
    /// as a query, say); returns the thread, or `None` when `post` starts
    /// no thread (a reply, or a post outside any thread).
    pub fn mark_root(&mut self, post: PostId, kind: ThreadKind) -> Result<Option<ThreadId>> {
        let Some(thread) = self.post(post)?.thread_id else {
            return Ok(None);
        };
        if self.thread_root(thread)? != Some(post) {
            return Ok(None);
        }
        self.mark_thread(thread, kind)?;
        Ok(Some(thread))
    }

    /// Re-marks a thread's kind; returns the kind it had, or `None` when
    /// there is no such thread.
    pub fn mark_thread(
        &mut self,
        thread: ThreadId,
        kind: ThreadKind,
    ) -> Result<Option<ThreadKind>> {
        let tx = self.conn.transaction()?;
        let found: Option<(ThreadKind, i64)> = tx.query_opt(
            "SELECT kind, community_id FROM threads WHERE id = ?1",
            params![thread.0],
            |r| Ok((r.parse(0)?, r.get(1)?)),
        )?;
        if let Some((was, community)) = found {
            tx.execute(
                "UPDATE threads SET kind = ?2 WHERE id = ?1",
                params![thread.0, kind.as_str()],
            )?;
            super::audit::record(
                &tx,
                &super::audit::Act {
                    community: CommunityId(community),
                    actor: &self.actor,
                    act: "mark",
                    object: Some(("thread", thread.0)),
                    detail: Some(&format!("{was} → {kind}")),
                    at: super::now(),
                },
            )?;
        }
        tx.commit()?;
        Ok(found.map(|(was, _)| was))
    }

    /// Splits `post` and its replies off their thread into a thread of
    /// their own, of `kind`, rooted at `post`, and remembers the split so
    /// later replies stay there (see `thread::after_split`). `None` when
    /// the post is in no thread or already a thread's root (re-mark the
    /// thread instead).
    pub fn split_thread(&mut self, post: PostId, kind: ThreadKind) -> Result<Option<Split>> {
        let tx = self.conn.transaction()?;
        let found: Option<(i64, i64, String, String, i64)> = tx.query_opt(
            "SELECT p.community_id, p.thread_id, p.message_id, p.subject,
                    COALESCE(p.date, p.received_at)
             FROM posts p JOIN threads t ON t.id = p.thread_id
             WHERE p.id = ?1 AND (t.root_post_id IS NULL OR t.root_post_id <> ?1)",
            params![post.0],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let Some((community, from, message_id, subject, date)) = found else {
            return Ok(None);
        };
        // The post and every reply below it, by parent.
        let moved: Vec<(i64, String, i64)> = tx.query_map(
            "WITH RECURSIVE below(id) AS (
                 SELECT CAST(?1 AS BIGINT)
                 UNION SELECT p.id FROM posts p JOIN below b ON p.parent_id = b.id
                 WHERE p.thread_id = ?2)
             SELECT p.id, p.message_id, COALESCE(p.date, p.received_at)
             FROM posts p JOIN below b ON b.id = p.id",
            params![post.0, from],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let last = moved.iter().map(|m| m.2).max().unwrap_or(date);
        let to: i64 = tx.insert_id(
            "INSERT INTO threads (community_id, root_post_id, subject, base_subject, kind,
                                  first_at, last_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            params![
                community,
                post.0,
                subject,
                crate::thread::base_subject(&subject),
                kind.as_str(),
                date,
                last
            ],
        )?;
        for (id, mid, _) in &moved {
            tx.execute(
                "UPDATE posts SET thread_id = ?2 WHERE id = ?1",
                params![id, to],
            )?;
            tx.execute(
                "UPDATE thread_refs SET thread_id = ?3 WHERE community_id = ?1 AND message_id = ?2",
                params![community, mid, to],
            )?;
        }
        // The split post starts its thread: no parent in the one it left.
        tx.execute(
            "UPDATE posts SET parent_id = NULL WHERE id = ?1",
            params![post.0],
        )?;
        tx.execute(
            "INSERT INTO thread_splits (community_id, message_id) VALUES (?1, ?2)
             ON CONFLICT DO NOTHING",
            params![community, message_id],
        )?;
        tx.execute(
            "UPDATE threads SET last_at = COALESCE(
                 (SELECT MAX(COALESCE(date, received_at)) FROM posts WHERE thread_id = ?1), first_at)
             WHERE id = ?1",
            params![from],
        )?;
        super::audit::record(
            &tx,
            &super::audit::Act {
                community: CommunityId(community),
                actor: &self.actor,
                act: "split",
                object: Some(("post", post.0)),
                detail: Some(&format!(
                    "from thread {from} with {} posts into thread {to} ({kind})",
                    moved.len()
                )),
                at: super::now(),
            },
        )?;
        tx.commit()?;
        Ok(Some(Split {
            from: ThreadId(from),
            to: ThreadId(to),
            posts: moved.len(),
        }))
    }

    /// The root post of a thread, if stored.
    pub fn thread_root(&self, thread: ThreadId) -> Result<Option<PostId>> {
        Ok(self
            .conn
            .query_opt(
                "SELECT root_post_id FROM threads WHERE id = ?1",
                params![thread.0],
                |r| r.get::<Option<i64>>(0),
            )?
            .flatten()
            .map(PostId))
    }
}
