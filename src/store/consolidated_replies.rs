//! Queries and their Consolidated Replies: deadlines, late responses,
//! drafts and their versions, offline responses, publication and reminders.
//!
//! Long because a query's whole lifecycle writes here, each act in one
//! transaction with its audit row, and splitting it would scatter the SQL
//! that keeps a reply's state and its thread's state in step.

use serde::Serialize;

use super::engine::{Queries, Row, params};
use super::{Result, Store};
use crate::mail::parse::Attachment;
use crate::model::{CommunityId, PostId, QueryState, ReplyState, ThreadId, ThreadKind};

impl Store {
    /// When `post` is the approved root of a query whose deadline is unset,
    /// the time it was approved (Unix seconds); otherwise `None`.
    pub fn query_root_awaiting_deadline(&self, post: PostId) -> Result<Option<i64>> {
        self.conn.query_opt(
            "SELECT COALESCE(p.approved_at, p.received_at)
                 FROM posts p JOIN threads t ON t.id = p.thread_id
                 WHERE p.id = ?1 AND p.state = 'approved' AND t.root_post_id = p.id
                   AND t.kind = 'query' AND t.deadline_at IS NULL",
            params![post.0],
            |r| r.get(0),
        )
    }

    /// When `post` is an approved response to a query whose Consolidated
    /// Reply is already published: counts it on the thread and flags the post
    /// for moderators. Returns the thread id when it did.
    pub fn flag_late_response(&mut self, post: PostId) -> Result<Option<ThreadId>> {
        let tx = self.conn.transaction()?;
        let thread: Option<ThreadId> = tx.query_opt(
            "SELECT t.id FROM posts p JOIN threads t ON t.id = p.thread_id
                 WHERE p.id = ?1 AND p.state = 'approved' AND t.kind = 'query'
                   AND t.state = 'published' AND t.root_post_id <> p.id",
            params![post.0],
            |r| r.get(0).map(ThreadId),
        )?;
        // A response to a cross-posted copy counts on the query itself,
        // whose moderators compile the addendum.
        let thread = match thread {
            Some(t) => Some(
                tx.query_opt(
                    "SELECT query_id FROM crossposts WHERE thread_id = ?1",
                    params![t.0],
                    |r| r.get(0).map(ThreadId),
                )?
                .unwrap_or(t),
            ),
            None => None,
        };
        if let Some(t) = thread {
            tx.execute(
                "UPDATE threads SET late_responses = late_responses + 1 WHERE id = ?1",
                params![t.0],
            )?;
            tx.execute(
                "UPDATE posts SET flag = ?2 WHERE id = ?1",
                params![
                    post.0,
                    format!("{LATE_FLAG}; `praxis consolidate {t}` starts an addendum")
                ],
            )?;
        }
        tx.commit()?;
        Ok(thread)
    }

    /// When the Consolidated Reply of `thread` is due, if it is a query with
    /// a deadline.
    pub fn query_deadline(&self, thread: ThreadId) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_opt(
                "SELECT deadline_at FROM threads WHERE id = ?1",
                params![thread.0],
                |r| r.get(0),
            )?
            .flatten())
    }

    /// Sets the deadline of the query whose root is `post`, once: a deadline
    /// already set is kept.
    pub fn set_query_deadline(&mut self, post: PostId, at: i64) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE threads SET deadline_at = ?2
             WHERE root_post_id = ?1 AND kind = 'query' AND deadline_at IS NULL",
            params![post.0, at],
        )?;
        Ok(n > 0)
    }
}

/// The community of a Consolidated Reply, for its audit rows.
fn reply_community(conn: &impl Queries, reply: i64) -> Result<CommunityId> {
    Ok(CommunityId(conn.query_one(
        "SELECT community_id FROM consolidated_replies WHERE id = ?1",
        params![reply],
        |r| r.get(0),
    )?))
}

/// Puts a published reply in the search index (FTS5's table on SQLite,
/// the searchable copy on PostgreSQL).
fn index_reply(db: &impl Queries, id: i64, subject: &str, body: &str) -> Result<()> {
    let sql = match db.on().dialect() {
        super::Dialect::Sqlite => {
            "INSERT INTO consolidated_fts (rowid, subject, body) VALUES (?1, ?2, ?3)"
        }
        super::Dialect::Postgres => {
            "INSERT INTO consolidated_search (reply_id, subject, body) VALUES (?1, ?2, ?3)"
        }
    };
    db.execute(sql, params![id, subject, body])?;
    Ok(())
}

/// Takes published replies out of the search index: those whose id is
/// `which` (an SQL condition on `?1`, bound to `id`).
fn unindex_replies(db: &impl Queries, which: &str, id: i64) -> Result<()> {
    let sql = match db.on().dialect() {
        super::Dialect::Sqlite => format!("DELETE FROM consolidated_fts WHERE rowid {which}"),
        super::Dialect::Postgres => {
            format!("DELETE FROM consolidated_search WHERE reply_id {which}")
        }
    };
    db.execute(&sql, params![id])?;
    Ok(())
}

/// How a response approved after publication is flagged (the start of
/// posts.flag): such posts go into the addendum.
const LATE_FLAG: &str = "arrived after the Consolidated Reply was published";

/// One approved post of a query thread, with its author as the member list
/// knows them (what a Consolidated Reply credits).
#[derive(Debug, Clone, Serialize)]
pub struct QueryPost {
    /// The post's id.
    pub id: PostId,
    /// Message-ID, for threading the published reply.
    pub message_id: String,
    /// Sender address.
    pub email: String,
    /// The member's name, else the From display name, else the address.
    pub name: String,
    /// The member's organisation ("" when unknown).
    pub organisation: String,
    /// The member's place ("" when unknown).
    pub place: String,
    /// Date header (or receipt), Unix seconds.
    pub date: i64,
    /// The text body as received (quotes and signatures still in).
    pub text: String,
    /// Attachment names, credited as resources.
    pub attachments: Vec<String>,
    /// When it was approved (reached the list), Unix seconds: responses
    /// approved after a publication belong in the addendum.
    pub approved_at: i64,
    /// Approved after the query's reply was published (flagged so).
    pub late: bool,
    /// Added by a moderator (`--add-response`), not posted to the list.
    pub offline: bool,
    /// The community it was posted in, when that is not the query's own:
    /// a response to the query's cross-posted copy there.
    pub community: Option<String>,
}

/// A query with everything a draft is made from.
#[derive(Debug, Clone)]
pub struct Query {
    /// Thread id (the QUERY of `consolidate` and `publish`).
    pub thread: ThreadId,
    /// Its community.
    pub community: CommunityId,
    /// The community's slug.
    pub slug: String,
    /// The thread's subject.
    pub subject: String,
    /// What the thread is marked as (any thread with a root post loads).
    pub kind: ThreadKind,
    /// Where the query stands.
    pub state: QueryState,
    /// The root post: the question.
    pub root: QueryPost,
    /// Approved responses, oldest first (those to its cross-posted copies
    /// too, marked with their community).
    pub responses: Vec<QueryPost>,
    /// The names of the other communities it was cross-posted to.
    pub shared_with: Vec<String>,
}

/// The current draft of a query's Consolidated Reply.
#[derive(Debug, Clone)]
pub struct Draft {
    /// consolidated_replies id.
    pub reply: i64,
    /// Where it stands: only a draft takes new versions or can be published.
    pub state: ReplyState,
    /// The latest version number (1, 2, …).
    pub version: i64,
    /// Markdown.
    pub body: String,
    /// When a scheduled reply goes out.
    pub publish_at: Option<i64>,
    /// When it was published (or is scheduled to be).
    pub published_at: Option<i64>,
    /// The reply this one adds to, when it carries responses that arrived
    /// after that one was published.
    pub addendum_to: Option<i64>,
}

/// One stored version of a Consolidated Reply draft, as
/// `praxis consolidate QUERY --versions` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct DraftVersion {
    /// The consolidated_replies id it belongs to (an addendum is another reply).
    pub reply: i64,
    /// Its number within that reply (1, 2, …): what `--diff A B` names.
    pub version: i64,
    /// When it was stored, Unix seconds.
    pub created_at: i64,
    /// Who stored it (the moderator's name or login).
    pub author: String,
    /// Its length in bytes, to see at a glance what an edit added or cut.
    pub size: i64,
    /// Its text, for `--diff`.
    #[serde(skip)]
    pub body: String,
}

/// An earlier published Consolidated Reply, suggested as related.
#[derive(Debug, Clone, Serialize)]
pub struct RelatedReply {
    /// consolidated_replies id.
    pub id: i64,
    /// Its query's thread (the QUERY of `/c/SLUG/replies/QUERY`).
    pub thread: ThreadId,
    /// Its subject.
    pub subject: String,
    /// When it was published, Unix seconds.
    pub published_at: i64,
}

fn query_post(r: &Row<'_>) -> Result<QueryPost> {
    let attachments: String = r.get(8)?;
    let attachments: Vec<Attachment> = serde_json::from_str(&attachments).unwrap_or_default();
    let email: String = r.get(2)?;
    let member_name: Option<String> = r.get(3)?;
    let from_name: String = r.get(4)?;
    let name = member_name
        .filter(|n| !n.is_empty())
        .or(Some(from_name).filter(|n| !n.is_empty()))
        .unwrap_or_else(|| email.clone());
    Ok(QueryPost {
        id: PostId(r.get(0)?),
        message_id: r.get(1)?,
        email,
        name,
        organisation: r.get::<Option<String>>(5)?.unwrap_or_default(),
        place: r.get::<Option<String>>(6)?.unwrap_or_default(),
        date: r.get(7)?,
        text: r.get(9)?,
        attachments: attachments.into_iter().map(|a| a.name).collect(),
        approved_at: r.get(10)?,
        late: r.get(11)?,
        offline: false,
        community: r.get(12)?,
    })
}

impl Store {
    /// A query (any thread with a root post) and its approved responses;
    /// `None` when there is no such thread.
    pub fn query(&self, thread: ThreadId) -> Result<Option<Query>> {
        let head = self.conn.query_opt(
            "SELECT t.community_id, c.slug, t.subject, t.kind, t.state, t.root_post_id
                 FROM threads t JOIN communities c ON c.id = t.community_id WHERE t.id = ?1",
            params![thread.0],
            |r| {
                Ok((
                    CommunityId(r.get(0)?),
                    r.get::<String>(1)?,
                    r.get::<String>(2)?,
                    r.parse::<ThreadKind>(3)?,
                    r.parse::<QueryState>(4)?,
                    r.get::<Option<i64>>(5)?,
                ))
            },
        )?;
        let Some((community, slug, subject, kind, state, Some(root_id))) = head else {
            return Ok(None);
        };
        // The thread's own posts, then the responses to its cross-posted
        // copies in other communities (their questions left out), credited
        // with the community they came through.
        let mut posts = self.conn.query_map(
            "SELECT p.id, p.message_id, p.from_addr, m.name, p.from_name, m.organisation, m.place,
                    COALESCE(p.date, p.received_at), p.attachments, p.text,
                    COALESCE(p.approved_at, p.received_at),
                    COALESCE(substr(p.flag, 1, length(CAST(?2 AS TEXT))) = ?2, FALSE), NULL
             FROM posts p
             LEFT JOIN members m ON m.community_id = p.community_id AND m.email = p.from_addr
             WHERE p.thread_id = ?1 AND p.state = 'approved'
             UNION ALL
             SELECT p.id, p.message_id, p.from_addr, m.name, p.from_name, m.organisation, m.place,
                    COALESCE(p.date, p.received_at), p.attachments, p.text,
                    COALESCE(p.approved_at, p.received_at),
                    COALESCE(substr(p.flag, 1, length(CAST(?2 AS TEXT))) = ?2, FALSE), c.name
             FROM crossposts x JOIN posts p ON p.thread_id = x.thread_id AND p.id <> x.post_id
             JOIN communities c ON c.id = x.community_id
             LEFT JOIN members m ON m.community_id = p.community_id AND m.email = p.from_addr
             WHERE x.query_id = ?1 AND p.state = 'approved'
             ORDER BY 8, 1",
            params![thread.0, LATE_FLAG],
            query_post,
        )?;
        // A response sent to two of the lists is credited once, at home.
        let home: std::collections::HashSet<String> = posts
            .iter()
            .filter(|p| p.community.is_none())
            .map(|p| p.message_id.clone())
            .collect();
        let mut seen = std::collections::HashSet::new();
        posts.retain(|p| {
            (p.community.is_none() || !home.contains(&p.message_id))
                && seen.insert((p.community.is_none(), p.message_id.clone()))
        });
        let (roots, mut responses): (Vec<_>, Vec<_>) =
            posts.into_iter().partition(|p| p.id.0 == root_id);
        let offline = self.conn.query_map(
            "SELECT o.id, m.email, m.name, m.organisation, m.place, o.added_at, o.text,
                    EXISTS (SELECT 1 FROM consolidated_replies r WHERE r.thread_id = o.thread_id
                              AND r.state = 'published' AND r.published_at <= o.added_at)
             FROM offline_responses o JOIN members m ON m.id = o.member_id
             WHERE o.thread_id = ?1 ORDER BY o.added_at, o.id",
            params![thread.0],
            |r| {
                let email: String = r.get(1)?;
                let name: String = r.get(2)?;
                Ok(QueryPost {
                    id: PostId(0),
                    message_id: String::new(),
                    name: if name.is_empty() { email.clone() } else { name },
                    email,
                    organisation: r.get(3)?,
                    place: r.get(4)?,
                    date: r.get(5)?,
                    text: r.get(6)?,
                    attachments: Vec::new(),
                    approved_at: r.get(5)?,
                    late: r.get(7)?,
                    offline: true,
                    community: None,
                })
            },
        )?;
        responses.extend(offline);
        responses.sort_by_key(|p| p.date);
        let Some(root) = roots.into_iter().next() else {
            return Ok(None);
        };
        let shared_with = self.conn.query_map(
            "SELECT c.name FROM crossposts x JOIN communities c ON c.id = x.community_id
             WHERE x.query_id = ?1 ORDER BY x.id",
            params![thread.0],
            |r| r.get(0),
        )?;
        Ok(Some(Query {
            thread,
            community,
            slug,
            subject,
            kind,
            state,
            root,
            responses,
            shared_with,
        }))
    }

    /// The current (latest) Consolidated Reply of a thread and its latest
    /// version, if any draft was stored.
    pub fn current_draft(&self, thread: ThreadId) -> Result<Option<Draft>> {
        self.conn.query_opt(
            "SELECT r.id, r.state, v.version, v.body, r.publish_at, r.published_at, r.addendum_to
                 FROM consolidated_replies r JOIN draft_versions v ON v.reply_id = r.id
                 WHERE r.thread_id = ?1
                 ORDER BY r.id DESC, v.version DESC LIMIT 1",
            params![thread.0],
            |r| {
                Ok(Draft {
                    reply: r.get(0)?,
                    state: r.parse(1)?,
                    version: r.get(2)?,
                    body: r.get(3)?,
                    publish_at: r.get(4)?,
                    published_at: r.get(5)?,
                    addendum_to: r.get(6)?,
                })
            },
        )
    }

    /// Every stored version of the thread's current (latest) Consolidated
    /// Reply, oldest first; empty when no draft was stored.
    pub fn draft_versions(&self, thread: ThreadId) -> Result<Vec<DraftVersion>> {
        self.conn.query_map(
            "SELECT v.reply_id, v.version, v.created_at, v.author, octet_length(v.body), v.body
             FROM draft_versions v
             WHERE v.reply_id = (SELECT MAX(id) FROM consolidated_replies WHERE thread_id = ?1)
             ORDER BY v.version",
            params![thread.0],
            |r| {
                Ok(DraftVersion {
                    reply: r.get(0)?,
                    version: r.get(1)?,
                    created_at: r.get(2)?,
                    author: r.get(3)?,
                    size: r.get(4)?,
                    body: r.get(5)?,
                })
            },
        )
    }

    /// Stores `body` as the next version of the thread's unpublished
    /// Consolidated Reply (creating it, as an addendum when one was already
    /// published), and moves an open thread to drafting. Returns (reply id,
    /// version). With `base` (the version the author started from, 0 for
    /// none), refuses when someone stored another version meanwhile, so two
    /// moderators editing at once cannot overwrite each other unawares.
    pub fn save_draft(
        &mut self,
        thread: ThreadId,
        subject: &str,
        body: &str,
        author: &str,
        at: i64,
        base: Option<i64>,
    ) -> Result<(i64, i64)> {
        let tx = self.conn.transaction()?;
        let current: Option<(i64, ReplyState)> = tx
            .query_opt(
                "SELECT id, state FROM consolidated_replies WHERE thread_id = ?1 ORDER BY id DESC LIMIT 1",
                params![thread.0],
                |r| Ok((r.get(0)?, r.parse(1)?)))?;
        let reply = match current {
            Some((id, state)) if state != ReplyState::Published => id,
            other => {
                tx.query_one(
                    "INSERT INTO consolidated_replies (community_id, thread_id, addendum_to, subject, created_at)
                     SELECT community_id, id, ?2, ?3, ?4 FROM threads WHERE id = ?1
                     RETURNING id",
                    params![thread.0, other.map(|(id, _)| id), subject, at],
                    |r| r.get(0),
                )?
            }
        };
        let version: i64 = tx.query_one(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM draft_versions WHERE reply_id = ?1",
            params![reply],
            |r| r.get(0),
        )?;
        let started_new = !matches!(current, Some((id, _)) if id == reply);
        let latest = if started_new { 0 } else { version - 1 };
        if let Some(base) = base.filter(|b| *b != latest) {
            let by: Option<(String, i64)> = tx
                .query_opt(
                    "SELECT author, created_at FROM draft_versions WHERE reply_id = ?1 AND version = ?2",
                    params![reply, latest],
                    |r| Ok((r.get(0)?, r.get(1)?)))?;
            return Err(super::StoreError::Conflict(match by {
                Some((who, when)) => format!(
                    "version {latest} of this draft was saved by {who} at {} while you edited {}",
                    chrono::DateTime::from_timestamp(when, 0)
                        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                        .unwrap_or_default(),
                    if base == 0 {
                        "a new draft".to_string()
                    } else {
                        format!("version {base}")
                    }
                ),
                None => format!(
                    "the draft you edited (version {base}) was published meanwhile; what you write now is an addendum"
                ),
            }));
        }
        tx.execute(
            "INSERT INTO draft_versions (reply_id, version, body, author, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![reply, version, body, author, at],
        )?;
        tx.execute(
            "UPDATE threads SET state = 'drafting' WHERE id = ?1 AND state = 'open'",
            params![thread.0],
        )?;
        let actor = super::audit::Actor {
            who: author.to_string(),
            how: self.actor.how,
        };
        super::audit::record(
            &tx,
            &super::audit::Act {
                community: reply_community(&tx, reply)?,
                actor: &actor,
                act: "consolidate",
                object: Some(("query", thread.0)),
                detail: Some(&format!(
                    "consolidated reply {reply} version {version} ({} bytes)",
                    body.len()
                )),
                at,
            },
        )?;
        tx.commit()?;
        Ok((reply, version))
    }
}

/// A reply ready to go out, as `publish` stores it.
#[derive(Debug, Clone)]
pub struct Publication<'a> {
    /// The consolidated_replies id.
    pub reply: i64,
    /// Its thread.
    pub thread: ThreadId,
    /// The subject as sent, for the archive and `praxis outbox`.
    pub subject: &'a str,
    /// The Markdown as published, for the archive's full-text index.
    pub body: &'a str,
    /// The message's Message-ID.
    pub message_id: &'a str,
    /// When it goes out: `None` now, else scheduled.
    pub at: Option<i64>,
}

/// The copy of a reply published in a community its query was
/// cross-posted to: its own reply row there (shared from the original),
/// its own message (that community's prefix, footer and headers) and its
/// audience (without the members who have the reply through another).
#[derive(Debug, Clone)]
pub struct SharedCopy<'a> {
    /// The query's copy thread in that community.
    pub thread: ThreadId,
    /// That community.
    pub community: CommunityId,
    /// The subject as sent there.
    pub subject: &'a str,
    /// The copy's Message-ID.
    pub message_id: &'a str,
    /// Its message (`reply` is set when stored).
    pub msg: super::NewOutbox<'a>,
    /// Its recipients.
    pub audience: super::Audience<'a>,
}

impl Store {
    /// In one transaction: queues `msg` for `audience`, marks the reply
    /// published (or scheduled), the thread published, and indexes the reply
    /// in the archive; the same for each of `copies`, the reply as shared
    /// with the communities the query was cross-posted to. Refuses a reply
    /// already published or scheduled.
    pub fn publish_reply(
        &mut self,
        p: &Publication<'_>,
        msg: &super::NewOutbox<'_>,
        audience: &super::Audience<'_>,
        copies: &[SharedCopy<'_>],
        now: i64,
    ) -> Result<super::Queued> {
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE consolidated_replies
             SET state = CASE WHEN CAST(?2 AS BIGINT) IS NULL THEN 'published' ELSE 'scheduled' END,
                 publish_at = ?2, published_at = COALESCE(?2, ?3), message_id = ?4, subject = ?5
             WHERE id = ?1 AND state = 'draft'",
            params![p.reply, p.at, now, p.message_id, p.subject],
        )?;
        if n == 0 {
            return Err(super::StoreError::Conflict(format!(
                "consolidated reply {} is already published or scheduled; `praxis publish {} --cancel` unschedules it",
                p.reply, p.thread
            )));
        }
        let id = super::outbox::insert_outbox(&tx, msg, now)?;
        super::outbox::insert_audience(&tx, id, audience)?;
        let mut members = super::outbox::audience_size(&tx, id)?;
        tx.execute(
            "UPDATE threads SET state = 'published', late_responses = 0 WHERE id = ?1",
            params![p.thread.0],
        )?;
        index_reply(&tx, p.reply, p.subject, p.body)?;
        let mut shared = Vec::new();
        for c in copies {
            let copy: i64 = tx.query_one(
                "INSERT INTO consolidated_replies (community_id, thread_id, addendum_to, state,
                     subject, publish_at, published_at, message_id, created_at, shared_from)
                 VALUES (?1, ?2,
                     (SELECT MAX(id) FROM consolidated_replies WHERE thread_id = ?2
                        AND state IN ('published', 'scheduled')),
                     CASE WHEN CAST(?3 AS BIGINT) IS NULL THEN 'published' ELSE 'scheduled' END,
                     ?4, ?3, COALESCE(?3, ?5), ?6, ?5, ?7)
                 RETURNING id",
                params![
                    c.community.0,
                    c.thread.0,
                    p.at,
                    c.subject,
                    now,
                    c.message_id,
                    p.reply
                ],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO draft_versions (reply_id, version, body, author, created_at)
                 SELECT ?2, 1, ?3, COALESCE((SELECT author FROM draft_versions
                     WHERE reply_id = ?1 ORDER BY version DESC LIMIT 1), ''), ?4",
                params![p.reply, copy, p.body, now],
            )?;
            let mut msg = c.msg.clone();
            msg.reply = Some(copy);
            let out = super::outbox::insert_outbox(&tx, &msg, now)?;
            super::outbox::insert_audience(&tx, out, &c.audience)?;
            let n = super::outbox::audience_size(&tx, out)?;
            members += n;
            tx.execute(
                "UPDATE threads SET state = 'published', late_responses = 0 WHERE id = ?1",
                params![c.thread.0],
            )?;
            index_reply(&tx, copy, c.subject, p.body)?;
            let slug: String = tx.query_one(
                "SELECT slug FROM communities WHERE id = ?1",
                params![c.community.0],
                |r| r.get(0),
            )?;
            shared.push(format!("`{slug}` as reply {copy} ({n} more)"));
        }
        let shared = if shared.is_empty() {
            String::new()
        } else {
            format!(", shared with {}", shared.join(", "))
        };
        super::audit::record(
            &tx,
            &super::audit::Act {
                community: reply_community(&tx, p.reply)?,
                actor: &self.actor,
                act: if p.at.is_some() {
                    "schedule"
                } else {
                    "publish"
                },
                object: Some(("query", p.thread.0)),
                detail: Some(&match p.at {
                    Some(at) => format!(
                        "consolidated reply {} for {}{shared}",
                        p.reply,
                        chrono::DateTime::from_timestamp(at, 0)
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_default()
                    ),
                    None => format!(
                        "consolidated reply {} to {} members{shared}",
                        p.reply, members
                    ),
                }),
                at: now,
            },
        )?;
        tx.commit()?;
        Ok(super::Queued {
            id,
            recipients: Some(members),
            created: true,
        })
    }

    /// Unschedules the thread's scheduled reply before any copy was sent:
    /// its outbox message and deliveries go, the reply is a draft again, the
    /// thread drafting, the archive entry removed. Returns the reply id.
    pub fn cancel_scheduled(&mut self, thread: ThreadId) -> Result<i64> {
        let tx = self.conn.transaction()?;
        let reply: Option<i64> = tx.query_opt(
            "SELECT id FROM consolidated_replies WHERE thread_id = ?1 AND state = 'scheduled'
                 ORDER BY id DESC LIMIT 1",
            params![thread.0],
            |r| r.get(0),
        )?;
        let Some(reply) = reply else {
            return Err(super::StoreError::Conflict(format!(
                "query {thread} has no scheduled Consolidated Reply to cancel; `praxis threads --queries` shows its state"
            )));
        };
        let sent: i64 = tx.query_one(
            "SELECT COUNT(*) FROM deliveries d JOIN outbox o ON o.id = d.outbox_id
             WHERE o.reply_id = ?1 AND d.state <> 'pending'",
            params![reply],
            |r| r.get(0),
        )?;
        if sent > 0 {
            return Err(super::StoreError::Conflict(format!(
                "consolidated reply {reply} is already going out ({sent} copies sent or failed); it can no longer be cancelled"
            )));
        }
        // Its copies in the communities the query was cross-posted to go
        // with it, and their threads wait for the reply again.
        tx.execute(
            "DELETE FROM outbox WHERE reply_id IN
                 (SELECT id FROM consolidated_replies WHERE shared_from = ?1)",
            params![reply],
        )?;
        unindex_replies(
            &tx,
            "IN (SELECT id FROM consolidated_replies WHERE shared_from = ?1)",
            reply,
        )?;
        tx.execute(
            "UPDATE threads SET state = 'open' WHERE id IN
                 (SELECT thread_id FROM consolidated_replies WHERE shared_from = ?1)
               AND NOT EXISTS (SELECT 1 FROM consolidated_replies o
                 WHERE o.thread_id = threads.id AND o.state = 'published')",
            params![reply],
        )?;
        tx.execute(
            "DELETE FROM consolidated_replies WHERE shared_from = ?1",
            params![reply],
        )?;
        tx.execute("DELETE FROM outbox WHERE reply_id = ?1", params![reply])?;
        tx.execute(
            "UPDATE consolidated_replies SET state = 'draft', publish_at = NULL, published_at = NULL
             WHERE id = ?1",
            params![reply])?;
        tx.execute(
            "UPDATE threads SET state = 'drafting' WHERE id = ?1",
            params![thread.0],
        )?;
        unindex_replies(&tx, "= ?1", reply)?;
        super::audit::record(
            &tx,
            &super::audit::Act {
                community: reply_community(&tx, reply)?,
                actor: &self.actor,
                act: "cancel",
                object: Some(("query", thread.0)),
                detail: Some(&format!("consolidated reply {reply} unscheduled")),
                at: super::now(),
            },
        )?;
        tx.commit()?;
        Ok(reply)
    }
}

impl Store {
    /// Adds a response a moderator received outside the list, credited to
    /// `member`; returns its id.
    pub fn add_offline_response(
        &mut self,
        thread: ThreadId,
        member: crate::model::MemberId,
        text: &str,
        by: &str,
        at: i64,
    ) -> Result<i64> {
        self.conn.query_one(
            "INSERT INTO offline_responses (thread_id, member_id, text, added_by, added_at)
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
            params![thread.0, member.0, text, by, at],
            |r| r.get(0),
        )
    }
}

/// An open query with a deadline, as the reminder sweep sees it.
#[derive(Debug, Clone)]
pub struct OpenQuery {
    /// Thread id.
    pub thread: ThreadId,
    /// Its subject.
    pub subject: String,
    /// Its deadline, Unix seconds.
    pub deadline: i64,
}

impl Store {
    /// Queries of a community not yet published that have a deadline.
    pub fn open_queries(&self, community: CommunityId) -> Result<Vec<OpenQuery>> {
        self.conn.query_map(
            "SELECT id, subject, deadline_at FROM threads
             WHERE community_id = ?1 AND kind = 'query' AND state <> 'published'
               AND deadline_at IS NOT NULL
             ORDER BY deadline_at, id",
            params![community.0],
            |r| {
                Ok(OpenQuery {
                    thread: ThreadId(r.get(0)?),
                    subject: r.get(1)?,
                    deadline: r.get(2)?,
                })
            },
        )
    }

    /// Queues a reminder for `thread` at `threshold` (due_soon or overdue)
    /// unless one was already queued: the record and the message are written
    /// in one transaction, so each threshold reminds exactly once. Returns
    /// whether it queued one.
    pub fn queue_reminder(
        &mut self,
        thread: ThreadId,
        threshold: &str,
        msg: &super::NewOutbox<'_>,
        recipients: &[super::NewRecipient],
        now: i64,
    ) -> Result<bool> {
        super::outbox::queue_once(
            &mut self.conn,
            "INSERT INTO query_reminders (thread_id, threshold, sent_at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            super::engine::params![thread.0, threshold, now],
            msg,
            recipients,
            now,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MemberId;

    /// A query (post 1, approved at 1050) with two responses, one late
    /// (approved after a published reply would be), and a member to credit.
    fn query(store: &Store) {
        store.fixture(
            "INSERT INTO communities (id, slug, name, address, created_at)
                 VALUES (1, 'health', 'Health', 'list@example.test', 0);
             INSERT INTO members (id, community_id, email, name, organisation, place, joined_at) VALUES
                 (1, 1, 'asha@example.org', 'Asha', 'Clinic', 'Pune', 0),
                 (2, 1, 'ravi@example.org', '', 'NGO', 'Delhi', 0);
             INSERT INTO threads (id, community_id, root_post_id, subject, kind, state, first_at, last_at)
                 VALUES (1, 1, 1, 'Boat clinics?', 'query', 'open', 1000, 1200);
             INSERT INTO posts (id, community_id, message_id, sha256, raw, size, source, received_at,
                                class, state, from_addr, from_name, subject, date, thread_id, approved_at, text, flag) VALUES
                 (1, 1, 'q1@x', x'01', x'00', 1, 'lmtp', 1000, 'post', 'approved', 'asha@example.org', 'A', 'Boat clinics?', 1000, 1, 1050, 'Has anyone?', NULL),
                 (2, 1, 'r1@x', x'02', x'00', 1, 'lmtp', 1100, 'post', 'approved', 'RAVI@example.org', 'Ravi K', 'Re', 1100, 1, 1110, 'Yes, in Assam.', NULL),
                 (3, 1, 'r2@x', x'03', x'00', 1, 'lmtp', 1200, 'post', 'held', 'x@example.org', '', 'Re', 1200, 1, NULL, 'Held.', NULL);",
        );
    }

    #[test]
    fn a_query_is_read_with_its_responses_and_credits() {
        Store::each_engine(|mut s| {
            query(&s);
            assert_eq!(
                s.query_root_awaiting_deadline(PostId(1)).unwrap(),
                Some(1050)
            );
            assert_eq!(s.query_root_awaiting_deadline(PostId(2)).unwrap(), None);
            assert!(s.set_query_deadline(PostId(1), 5000).unwrap());
            assert!(!s.set_query_deadline(PostId(1), 6000).unwrap(), "set once");
            assert_eq!(s.query_deadline(ThreadId(1)).unwrap(), Some(5000));
            assert_eq!(s.query_root_awaiting_deadline(PostId(1)).unwrap(), None);
            let offline = s
                .add_offline_response(ThreadId(1), MemberId(1), "By phone.", "mod", 1300)
                .unwrap();
            assert!(offline > 0);
            let q = s.query(ThreadId(1)).unwrap().unwrap();
            assert_eq!((q.slug.as_str(), q.kind), ("health", ThreadKind::Query));
            assert_eq!(q.root.id, PostId(1));
            assert_eq!(q.root.name, "Asha");
            // The held post is left out; the member's address matches in
            // any case; a member without a name is credited by From's name.
            let names: Vec<_> = q.responses.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, ["Ravi K", "Asha"]);
            assert_eq!(q.responses[0].organisation, "NGO");
            assert!(!q.responses[0].late);
            assert!(q.responses[1].offline);
            assert!(s.query(ThreadId(99)).unwrap().is_none());
            let open = s.open_queries(CommunityId(1)).unwrap();
            assert_eq!(open.len(), 1);
            assert_eq!(open[0].deadline, 5000);
        });
    }

    #[test]
    fn drafts_are_versioned_and_concurrent_edits_refused() {
        Store::each_engine(|mut s| {
            query(&s);
            assert!(s.current_draft(ThreadId(1)).unwrap().is_none());
            let (reply, v1) = s
                .save_draft(ThreadId(1), "CR", "One é", "meera", 2000, Some(0))
                .unwrap();
            assert_eq!(v1, 1);
            let (same, v2) = s
                .save_draft(ThreadId(1), "CR", "Two", "ravi", 2100, Some(1))
                .unwrap();
            assert_eq!((same, v2), (reply, 2));
            // Someone saved version 2 while this author edited version 1.
            let err = s
                .save_draft(ThreadId(1), "CR", "Three", "meera", 2200, Some(1))
                .unwrap_err();
            assert!(err.to_string().contains("saved by ravi"), "{err}");
            let versions = s.draft_versions(ThreadId(1)).unwrap();
            assert_eq!(versions.len(), 2);
            // Sizes in bytes, not characters.
            assert_eq!(versions[0].size, 6);
            assert_eq!(versions[1].author, "ravi");
            let d = s.current_draft(ThreadId(1)).unwrap().unwrap();
            assert_eq!((d.reply, d.version, d.body.as_str()), (reply, 2, "Two"));
            assert_eq!(d.state, ReplyState::Draft);
            let q = s.query(ThreadId(1)).unwrap().unwrap();
            assert_eq!(q.state, QueryState::Drafting);
        });
    }

    #[test]
    fn a_response_after_publication_is_flagged_late_and_a_schedule_cancelled() {
        Store::each_engine(|mut s| {
            query(&s);
            assert_eq!(
                s.flag_late_response(PostId(2)).unwrap(),
                None,
                "not published"
            );
            s.fixture(
                "UPDATE threads SET state = 'published' WHERE id = 1;
                 INSERT INTO consolidated_replies (id, community_id, thread_id, state, subject, publish_at, created_at)
                     VALUES (7, 1, 1, 'scheduled', 'CR', 9000, 1500);
                 INSERT INTO draft_versions (reply_id, version, body, author, created_at)
                     VALUES (7, 1, 'Body', 'meera', 1500);",
            );
            assert_eq!(s.flag_late_response(PostId(2)).unwrap(), Some(ThreadId(1)));
            let q = s.query(ThreadId(1)).unwrap().unwrap();
            assert!(q.responses[0].late, "flagged as late");
            assert_eq!(s.cancel_scheduled(ThreadId(1)).unwrap(), 7);
            let d = s.current_draft(ThreadId(1)).unwrap().unwrap();
            assert_eq!((d.state, d.publish_at), (ReplyState::Draft, None));
            assert!(
                s.cancel_scheduled(ThreadId(1)).is_err(),
                "nothing scheduled now"
            );
        });
    }

    /// Publishing queues the reply for its audience, marks reply and
    /// thread published and indexes the reply for search, once.
    #[test]
    fn a_reply_is_published_once_and_found() {
        use crate::model::{Delivery, OutboxKind};
        Store::each_engine(|mut s| {
            query(&s);
            let (reply, _) = s
                .save_draft(ThreadId(1), "CR", "Boats worked well.", "meera", 2000, None)
                .unwrap();
            let p = Publication {
                reply,
                thread: ThreadId(1),
                subject: "Consolidated Reply: Boat clinics?",
                body: "Boats worked well.",
                message_id: "cr1@x",
                at: None,
            };
            let msg = super::super::NewOutbox::new(
                Some(CommunityId(1)),
                OutboxKind::ConsolidatedReply,
                p.subject,
                b"message",
            );
            let audience = super::super::Audience {
                community: CommunityId(1),
                modes: &[Delivery::Each, Delivery::Consolidated],
                author: None,
                digest_format: None,
                exclude: &[],
            };
            let queued = s.publish_reply(&p, &msg, &audience, &[], 3000).unwrap();
            assert_eq!(queued.recipients, Some(2), "both active members");
            let d = s.current_draft(ThreadId(1)).unwrap().unwrap();
            assert_eq!(
                (d.state, d.published_at),
                (ReplyState::Published, Some(3000))
            );
            assert_eq!(
                s.query(ThreadId(1)).unwrap().unwrap().state,
                QueryState::Published
            );
            assert!(
                s.publish_reply(&p, &msg, &audience, &[], 3001).is_err(),
                "once"
            );
            let q = crate::search_query::SearchQuery::parse("boats kind:reply").unwrap();
            let scope = crate::store::SearchScope {
                community: None,
                zone: chrono_tz::UTC,
                now: 4000,
            };
            let page = s
                .search_archive(
                    &q,
                    &scope,
                    crate::store::PageRequest {
                        page: 1,
                        per_page: 5,
                    },
                )
                .unwrap();
            assert_eq!(page.replies, 1);
            assert_eq!(page.hits[0].id, reply);
            assert_eq!(page.hits[0].author, "meera");
        });
    }
}
