//! What the archive's reading pages read: threads by last activity (paged
//! on `threads_community_last`), one thread's approved posts (on
//! `posts_thread`), a post by Message-ID (on the unique (community,
//! message_id) index), the published Consolidated Replies, stored raw
//! messages for the mbox and raw views, and a kept attachment as a
//! community's archive may serve it. Only approved posts are ever returned;
//! every read is bound to one community, so ids of another never leak.

use super::engine::{Dialect, Queries, Row, params};
use super::{PostAttachment, Result, Store};
use crate::model::{CommunityId, PostId, QueryState, ThreadId, ThreadKind};

/// A Consolidated Reply is visible once published, or once its scheduled
/// time has come (now is bound as `?3` by each statement).
const REPLY_VISIBLE: &str =
    "(r.state = 'published' OR (r.state = 'scheduled' AND r.publish_at <= ?3))";

/// SQLite's hint naming the index a statement walks (its planner has no
/// statistics here); nothing on PostgreSQL, which has no such hint and
/// plans from its statistics.
fn indexed_by(dialect: Dialect, index: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!("INDEXED BY {index}"),
        Dialect::Postgres => String::new(),
    }
}

/// A thread as the archive lists it.
#[derive(Debug, Clone)]
pub struct ArchiveThread {
    /// Its id, for the link.
    pub id: ThreadId,
    /// Its subject.
    pub subject: String,
    /// What it is marked as (query, discussion, announcement).
    pub kind: ThreadKind,
    /// Where it stands as a query (other threads stay open).
    pub state: QueryState,
    /// Approved posts.
    pub posts: i64,
    /// Distinct senders of approved posts.
    pub participants: i64,
    /// When it started, Unix seconds.
    pub first_at: i64,
    /// Its last activity, Unix seconds (the list's order).
    pub last_at: i64,
    /// When its Consolidated Reply is due (queries), Unix seconds.
    pub deadline: Option<i64>,
}

/// One approved post as the archive shows it: the author as the member list
/// names them, never their address.
#[derive(Debug, Clone)]
pub struct ArchivePost {
    /// Its id.
    pub id: PostId,
    /// Its Message-ID (no angle brackets): the permalink.
    pub message_id: String,
    /// Its thread.
    pub thread: ThreadId,
    /// The thread's subject, for the permalink page's link back.
    pub thread_subject: String,
    /// Its subject.
    pub subject: String,
    /// The member's name, else the From display name ("" when neither).
    pub name: String,
    /// The member's organisation ("" when unknown).
    pub organisation: String,
    /// The member's place ("" when unknown).
    pub place: String,
    /// Its Date (or receipt time), Unix seconds.
    pub date: i64,
    /// Its text body as stored.
    pub text: String,
    /// What it carried, in order.
    pub attachments: Vec<PostAttachment>,
}

/// A published Consolidated Reply (or an addendum to one).
#[derive(Debug, Clone)]
pub struct ArchiveReply {
    /// consolidated_replies id.
    pub id: i64,
    /// Its query (thread).
    pub thread: ThreadId,
    /// The subject it went out with (the thread's when empty).
    pub subject: String,
    /// When it was published, Unix seconds.
    pub published_at: i64,
    /// The reply it adds to, for an addendum.
    pub addendum_to: Option<i64>,
    /// Its Markdown as published (the last version).
    pub markdown: String,
}

/// A stored message as received, for mbox and raw views.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// The sender's address (envelope-ish, for the mbox `From ` line).
    pub from: String,
    /// Its Date (or receipt time), Unix seconds.
    pub date: i64,
    /// The bytes as received.
    pub raw: Vec<u8>,
}

/// A kept attachment a community's archive may serve.
#[derive(Debug, Clone)]
pub struct ArchiveFile {
    /// The name it was posted under (the asked-for one when a post used it).
    pub name: String,
    /// The type it was sent with.
    pub content_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

fn archive_post(r: &Row<'_>) -> Result<ArchivePost> {
    Ok(ArchivePost {
        id: PostId(r.get(0)?),
        message_id: r.get(1)?,
        thread: ThreadId(r.get(2)?),
        thread_subject: r.get::<Option<String>>(3)?.unwrap_or_default(),
        subject: r.get(4)?,
        name: r.get::<Option<String>>(5)?.unwrap_or_default(),
        organisation: r.get::<Option<String>>(6)?.unwrap_or_default(),
        place: r.get::<Option<String>>(7)?.unwrap_or_default(),
        date: r.get(8)?,
        text: r.get(9)?,
        attachments: Vec::new(),
    })
}

/// The columns [`archive_post`] reads, from `posts p`, `threads t` and
/// `members m`.
const POST_COLUMNS: &str = "p.id, p.message_id, p.thread_id, t.subject, p.subject,
    COALESCE(NULLIF(m.name, ''), p.from_name), m.organisation, m.place,
    COALESCE(p.date, p.received_at), p.text";

impl Store {
    /// Threads of `community` with at least one approved post, by last
    /// activity (newest first): `limit` of them after skipping `offset`.
    /// Walks `threads_community_last` newest first, so a page costs its
    /// offset plus its length, not the archive.
    pub fn archive_threads(
        &self,
        community: CommunityId,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ArchiveThread>> {
        let sql = format!(
            "SELECT t.id, t.subject, t.kind, t.state, t.first_at, t.last_at, t.deadline_at,
                    (SELECT COUNT(*) FROM posts p WHERE p.thread_id = t.id AND p.state = 'approved'),
                    (SELECT COUNT(DISTINCT p.from_addr) FROM posts p
                     WHERE p.thread_id = t.id AND p.state = 'approved')
             FROM threads t {}
             WHERE t.community_id = ?1
               AND EXISTS (SELECT 1 FROM posts p WHERE p.thread_id = t.id AND p.state = 'approved')
             ORDER BY t.last_at DESC, t.id DESC
             LIMIT ?2 OFFSET ?3",
            indexed_by(self.dialect(), "threads_community_last")
        );
        self.conn
            .query_map(&sql, params![community.0, limit, offset], |r| {
                Ok(ArchiveThread {
                    id: ThreadId(r.get(0)?),
                    subject: r.get(1)?,
                    kind: r.parse(2)?,
                    state: r.parse(3)?,
                    first_at: r.get(4)?,
                    last_at: r.get(5)?,
                    deadline: r.get(6)?,
                    posts: r.get(7)?,
                    participants: r.get(8)?,
                })
            })
    }

    /// How many threads [`Store::archive_threads`] pages through.
    pub fn archive_thread_count(&self, community: CommunityId) -> Result<i64> {
        self.conn.query_one(
            &format!(
                "SELECT COUNT(*) FROM threads t {}
                 WHERE t.community_id = ?1
                   AND EXISTS (SELECT 1 FROM posts p WHERE p.thread_id = t.id AND p.state = 'approved')",
                indexed_by(self.dialect(), "threads_community_last")
            ),
            params![community.0],
            |r| r.get(0),
        )
    }

    /// One thread of `community` (None when it has no approved post, or
    /// belongs to another community).
    pub fn archive_thread(
        &self,
        community: CommunityId,
        thread: ThreadId,
    ) -> Result<Option<ArchiveThread>> {
        Ok(self.conn.query_opt(
                "SELECT t.id, t.subject, t.kind, t.state, t.first_at, t.last_at, t.deadline_at,
                        (SELECT COUNT(*) FROM posts p WHERE p.thread_id = t.id AND p.state = 'approved'),
                        (SELECT COUNT(DISTINCT p.from_addr) FROM posts p
                         WHERE p.thread_id = t.id AND p.state = 'approved')
                 FROM threads t WHERE t.id = ?1 AND t.community_id = ?2",
                params![thread.0, community.0],
                |r| {
                    Ok(ArchiveThread {
                        id: ThreadId(r.get(0)?),
                        subject: r.get(1)?,
                        kind: r.parse(2)?,
                        state: r.parse(3)?,
                        first_at: r.get(4)?,
                        last_at: r.get(5)?,
                        deadline: r.get(6)?,
                        posts: r.get(7)?,
                        participants: r.get(8)?,
                    })
                },
            )?
            .filter(|t| t.posts > 0))
    }

    /// A thread's approved posts in order (date, then arrival), with their
    /// attachments; only that thread's rows are read (`posts_thread`, named:
    /// without statistics the planner took `posts_state` and read every
    /// approved post of the community, each past its raw message's overflow
    /// pages, 50 ms for a thread of ten on linux-man).
    pub fn archive_posts(
        &self,
        community: CommunityId,
        thread: ThreadId,
    ) -> Result<Vec<ArchivePost>> {
        let sql = format!(
            "SELECT {POST_COLUMNS}
             FROM posts p {} JOIN threads t ON t.id = p.thread_id
             LEFT JOIN members m ON m.community_id = p.community_id AND m.email = p.from_addr
             WHERE p.thread_id = ?1 AND p.community_id = ?2 AND p.state = 'approved'
             ORDER BY COALESCE(p.date, p.received_at), p.id",
            indexed_by(self.dialect(), "posts_thread")
        );
        let mut posts = self
            .conn
            .query_map(&sql, params![thread.0, community.0], archive_post)?;
        for p in &mut posts {
            p.attachments = self.post_attachments(p.id)?;
        }
        Ok(posts)
    }

    /// An approved post of `community` by its Message-ID (no angle
    /// brackets), with its attachments.
    pub fn archive_post(
        &self,
        community: CommunityId,
        message_id: &str,
    ) -> Result<Option<ArchivePost>> {
        let sql = format!(
            "SELECT {POST_COLUMNS}
             FROM posts p JOIN threads t ON t.id = p.thread_id
             LEFT JOIN members m ON m.community_id = p.community_id AND m.email = p.from_addr
             WHERE p.community_id = ?1 AND p.message_id = ?2 AND p.state = 'approved'"
        );
        let post = self
            .conn
            .query_opt(&sql, params![community.0, message_id], archive_post)?;
        let Some(mut post) = post else {
            return Ok(None);
        };
        post.attachments = self.post_attachments(post.id)?;
        Ok(Some(post))
    }

    /// The stored message of an approved post of `community`.
    pub fn archive_raw(
        &self,
        community: CommunityId,
        message_id: &str,
    ) -> Result<Option<RawMessage>> {
        self.conn.query_opt(
            "SELECT from_addr, COALESCE(date, received_at), raw FROM posts
             WHERE community_id = ?1 AND message_id = ?2 AND state = 'approved'",
            params![community.0, message_id],
            |r| {
                Ok(RawMessage {
                    from: r.get(0)?,
                    date: r.get(1)?,
                    raw: r.get(2)?,
                })
            },
        )
    }

    /// The stored messages of a thread's approved posts, in the thread's
    /// order (the mbox).
    pub fn archive_thread_raw(
        &self,
        community: CommunityId,
        thread: ThreadId,
    ) -> Result<Vec<RawMessage>> {
        self.conn.query_map(
            "SELECT from_addr, COALESCE(date, received_at), raw FROM posts
             WHERE thread_id = ?1 AND community_id = ?2 AND state = 'approved'
             ORDER BY COALESCE(date, received_at), id",
            params![thread.0, community.0],
            |r| {
                Ok(RawMessage {
                    from: r.get(0)?,
                    date: r.get(1)?,
                    raw: r.get(2)?,
                })
            },
        )
    }

    /// A thread's visible Consolidated Replies, the first one first and
    /// its addenda after it.
    pub fn archive_thread_replies(
        &self,
        community: CommunityId,
        thread: ThreadId,
        now: i64,
    ) -> Result<Vec<ArchiveReply>> {
        let sql = format!(
            "SELECT r.id, r.thread_id, COALESCE(NULLIF(r.subject, ''), t.subject),
                    COALESCE(r.published_at, r.publish_at, r.created_at), r.addendum_to,
                    COALESCE((SELECT v.body FROM draft_versions v WHERE v.reply_id = r.id
                              ORDER BY v.version DESC LIMIT 1), '')
             FROM consolidated_replies r JOIN threads t ON t.id = r.thread_id
             WHERE r.thread_id = ?1 AND r.community_id = ?2 AND {REPLY_VISIBLE}
             ORDER BY r.id"
        );
        self.conn
            .query_map(&sql, params![thread.0, community.0, now], reply_row)
    }

    /// The latest visible Consolidated Replies of `community` (not
    /// addenda), newest first; their Markdown is left empty.
    pub fn archive_latest_replies(
        &self,
        community: CommunityId,
        limit: i64,
        now: i64,
    ) -> Result<Vec<ArchiveReply>> {
        let sql = format!(
            "SELECT r.id, r.thread_id, COALESCE(NULLIF(r.subject, ''), t.subject),
                    COALESCE(r.published_at, r.publish_at, r.created_at), r.addendum_to, ''
             FROM consolidated_replies r JOIN threads t ON t.id = r.thread_id
             WHERE r.community_id = ?1 AND r.addendum_to IS NULL AND {REPLY_VISIBLE}
             ORDER BY COALESCE(r.published_at, r.publish_at) DESC, r.id DESC
             LIMIT ?2"
        );
        self.conn
            .query_map(&sql, params![community.0, limit, now], reply_row)
    }

    /// A kept file that an approved post of `community` carried (None
    /// otherwise: files are global, but each archive serves only its own).
    /// `name` picks the name it is served under when a post used it.
    pub fn archive_file(
        &self,
        community: CommunityId,
        sha256: &str,
        name: &str,
    ) -> Result<Option<ArchiveFile>> {
        let sql = format!(
            "SELECT pa.name, a.content_type, a.bytes
             FROM post_attachments pa {}
             JOIN posts p ON p.id = pa.post_id
             JOIN attachments a ON a.sha256 = pa.sha256
             WHERE pa.sha256 = ?1 AND pa.kept = 1
               AND p.community_id = ?2 AND p.state = 'approved'
             ORDER BY pa.name = ?3 DESC, pa.post_id LIMIT 1",
            indexed_by(self.dialect(), "post_attachments_by_sha256")
        );
        self.conn
            .query_opt(&sql, params![sha256, community.0, name], |r| {
                Ok(ArchiveFile {
                    name: r.get(0)?,
                    content_type: r.get(1)?,
                    bytes: r.get(2)?,
                })
            })
    }
}

fn reply_row(r: &Row<'_>) -> Result<ArchiveReply> {
    Ok(ArchiveReply {
        id: r.get(0)?,
        thread: ThreadId(r.get(1)?),
        subject: r.get(2)?,
        published_at: r.get(3)?,
        addendum_to: r.get(4)?,
        markdown: r.get(5)?,
    })
}
