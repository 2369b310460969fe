//! Posts: storing an ingested message (dedupe, thread placement, hold,
//! checkpoint) in one transaction, and reading posts back.
//!
//! A [`Batch`] is one transaction: the IMAP watcher commits a batch of UIDs
//! together with its checkpoint, `import` commits every few hundred
//! messages, the pipe and LMTP commit each message.
//!
//! Long because storing a post is one transaction (dedupe, thread
//! placement with its merges, hold, checkpoint) that must read as a whole.

use serde::Serialize;

use super::engine::{Dialect, Queries, Tx, params};
use super::{Result, Store, StoreError};
use crate::mail::parse::{Attachment, Parsed};
use crate::model::{
    CommunityId, MemberId, PostClass, PostId, PostState, Source, ThreadId, ThreadKind,
};
use crate::thread::{self, Placement};

/// The flag of a reply to a digest whose thread could not be found: a
/// moderator places it (`praxis threads --flagged` lists them).
pub const DIGEST_REPLY_UNPLACED: &str = "digest reply: the thread it answers could not be found";

/// A message ready to store: the pipeline's decisions and the parsed fields.
#[derive(Debug, Clone)]
pub struct NewPost<'a> {
    /// The community it was sent to.
    pub community: CommunityId,
    /// The bytes as received.
    pub raw: &'a [u8],
    /// SHA-256 of `raw`.
    pub sha256: [u8; 32],
    /// Where it came from.
    pub source: Source,
    /// The envelope recipient, when known.
    pub envelope_to: Option<&'a str>,
    /// When praxis received it.
    pub received_at: i64,
    /// The classifier's verdict.
    pub class: PostClass,
    /// The policy's verdict.
    pub state: PostState,
    /// Why it is held, when `state` is held.
    pub hold_reason: Option<&'a str>,
    /// Parsed fields; `None` for an unparseable message.
    pub parsed: Option<&'a Parsed>,
    /// Message-ID (synthetic when missing or unparseable).
    pub message_id: &'a str,
    /// The sender, when a member.
    pub member_id: Option<MemberId>,
    /// Kind of a thread this post starts.
    pub new_thread_kind: ThreadKind,
    /// How recent a thread must be to be joined by subject, in seconds.
    pub subject_window_secs: i64,
}

/// Where an IMAP watcher is in its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The community.
    pub community: CommunityId,
    /// The folder watched.
    pub folder: String,
    /// The folder's UIDVALIDITY.
    pub uidvalidity: u32,
    /// The highest UID committed.
    pub last_uid: u32,
}

/// What storing a message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A new post.
    New {
        /// Its id.
        post: PostId,
        /// Its thread, for posts.
        thread: Option<ThreadId>,
        /// Whether it started that thread.
        new_thread: bool,
    },
    /// Seen before in this community (same Message-ID, or same bytes).
    Duplicate(PostId),
}

/// One transaction of ingest work.
pub struct Batch<'a> {
    /// The open transaction; dropped without commit, it rolls back.
    pub(super) tx: Tx<'a>,
    /// An import's batch: the search index rows written in bulk
    /// (`store/bulk.rs`), not by the insert trigger post by post.
    pub(super) deferred_fts: Option<super::bulk::DeferredFts>,
}

impl Store {
    /// Starts a transaction for storing posts.
    pub fn batch(&mut self) -> Result<Batch<'_>> {
        Ok(Batch {
            tx: self.conn.transaction()?,
            deferred_fts: None,
        })
    }

    /// The IMAP checkpoint of a community.
    pub fn checkpoint(&self, community: CommunityId) -> Result<Option<Checkpoint>> {
        self.conn.query_opt(
            "SELECT folder, uidvalidity, last_uid FROM imap_checkpoints WHERE community_id = ?1",
            params![community.0],
            |r| {
                Ok(Checkpoint {
                    community,
                    folder: r.get(0)?,
                    uidvalidity: r.get::<i64>(1)? as u32,
                    last_uid: r.get::<i64>(2)? as u32,
                })
            },
        )
    }

    /// Number of posts of a community (every class and state).
    pub fn post_count(&self, community: CommunityId) -> Result<i64> {
        self.conn.query_one(
            "SELECT COUNT(*) FROM posts WHERE community_id = ?1",
            params![community.0],
            |r| r.get(0),
        )
    }

    /// Number of threads of a community.
    pub fn thread_count(&self, community: CommunityId) -> Result<i64> {
        self.conn.query_one(
            "SELECT COUNT(*) FROM threads WHERE community_id = ?1",
            params![community.0],
            |r| r.get(0),
        )
    }

    /// How many times each Message-ID is stored in a community, for tests
    /// that prove nothing was stored twice: (distinct ids, rows).
    pub fn message_id_counts(&self, community: CommunityId) -> Result<(i64, i64)> {
        self.conn.query_one(
            "SELECT COUNT(DISTINCT message_id), COUNT(*) FROM posts WHERE community_id = ?1",
            params![community.0],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Every Message-ID stored in a community.
    pub fn message_ids(&self, community: CommunityId) -> Result<Vec<String>> {
        self.conn.query_map(
            "SELECT message_id FROM posts WHERE community_id = ?1 ORDER BY id",
            params![community.0],
            |r| r.get(0),
        )
    }

    /// Approved live posts (not imported history) approved since `since`
    /// that have no fan-out yet: what a crash between approval and queueing
    /// left behind.
    pub fn approved_without_fanout(
        &self,
        since: i64,
        limit: i64,
    ) -> Result<Vec<(PostId, CommunityId)>> {
        self.conn.query_map(
            "SELECT p.id, p.community_id FROM posts p
             WHERE p.state = 'approved' AND p.class = 'post' AND p.source <> 'import'
               AND p.approved_at >= ?1
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.kind = 'post' AND o.post_id = p.id)
             ORDER BY p.id LIMIT ?2",
            params![since, limit],
            |r| Ok((PostId(r.get(0)?), CommunityId(r.get(1)?))),
        )
    }

    /// The raw bytes of a post.
    pub fn raw(&self, post: PostId) -> Result<Vec<u8>> {
        self.conn
            .query_opt(
                "SELECT raw FROM posts WHERE id = ?1",
                params![post.0],
                |r| r.get(0),
            )?
            .ok_or_else(|| no_post(post))
    }

    /// One post with what `praxis show` needs.
    pub fn post(&self, post: PostId) -> Result<PostView> {
        self.conn
            .query_opt(
                "SELECT p.id, c.slug, p.message_id, p.from_addr, p.from_name, p.subject, p.date,
                        p.received_at, p.class, p.state, p.thread_id, p.parent_id, h.reason, p.text,
                        p.attachments, p.size, p.source, p.flag, p.in_reply_to, t.subject,
                        (SELECT COUNT(*) FROM posts q WHERE q.thread_id = p.thread_id),
                        (SELECT COUNT(*) FROM posts q WHERE q.thread_id = p.thread_id
                           AND (q.date < p.date OR (q.date = p.date AND q.id < p.id))) + 1,
                        m.name, m.organisation
                 FROM posts p JOIN communities c ON c.id = p.community_id
                 LEFT JOIN holds h ON h.post_id = p.id AND h.decided_at IS NULL
                 LEFT JOIN threads t ON t.id = p.thread_id
                 LEFT JOIN members m ON m.id = p.member_id
                 WHERE p.id = ?1",
                params![post.0],
                |r| {
                    let attachments: String = r.get(14)?;
                    Ok(PostView {
                        id: PostId(r.get(0)?),
                        community: r.get(1)?,
                        message_id: r.get(2)?,
                        from: r.get(3)?,
                        from_name: r.get(4)?,
                        subject: r.get(5)?,
                        date: r.get(6)?,
                        received_at: r.get(7)?,
                        class: r.get::<String>(8)?.parse().unwrap_or(PostClass::Post),
                        state: r.get::<String>(9)?.parse().unwrap_or(PostState::Held),
                        thread_id: r.get::<Option<i64>>(10)?.map(ThreadId),
                        parent_id: r.get::<Option<i64>>(11)?.map(PostId),
                        hold_reason: r.get(12)?,
                        text: r.get(13)?,
                        attachments: serde_json::from_str(&attachments).unwrap_or_default(),
                        size: r.get(15)?,
                        source: r.get(16)?,
                        flag: r.get(17)?,
                        in_reply_to: r.get(18)?,
                        thread_subject: r.get(19)?,
                        thread_posts: r.get(20)?,
                        thread_position: r.get(21)?,
                        member_name: r.get(22)?,
                        member_organisation: r.get(23)?,
                    })
                },
            )?
            .ok_or_else(|| no_post(post))
    }
}

pub(super) fn no_post(post: PostId) -> StoreError {
    StoreError::NotFound(format!(
        "post {post} does not exist; `praxis queue` and `praxis threads` list posts"
    ))
}

/// A post as `praxis show` presents it.
#[derive(Debug, Clone, Serialize)]
pub struct PostView {
    /// Its id.
    pub id: PostId,
    /// The community's slug.
    pub community: String,
    /// Message-ID.
    pub message_id: String,
    /// Sender address.
    pub from: String,
    /// Sender display name.
    pub from_name: String,
    /// Subject.
    pub subject: String,
    /// Date header (or receipt time), Unix seconds.
    pub date: Option<i64>,
    /// When received, Unix seconds.
    pub received_at: i64,
    /// The classifier's verdict.
    pub class: PostClass,
    /// Moderation state.
    pub state: PostState,
    /// Thread.
    pub thread_id: Option<ThreadId>,
    /// Parent post in the thread.
    pub parent_id: Option<PostId>,
    /// Why it is held, while held.
    pub hold_reason: Option<String>,
    /// Text body.
    pub text: String,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// Raw size in bytes.
    pub size: i64,
    /// Where it came from.
    pub source: String,
    /// A note for moderators.
    pub flag: Option<String>,
    /// In-Reply-To.
    pub in_reply_to: Option<String>,
    /// The thread's subject.
    pub thread_subject: Option<String>,
    /// Posts in the thread.
    pub thread_posts: i64,
    /// This post's place in the thread by date (1 = first).
    pub thread_position: i64,
    /// Member name, when the sender is a member.
    pub member_name: Option<String>,
    /// Member organisation, when the sender is a member.
    pub member_organisation: Option<String>,
}

impl Batch<'_> {
    /// Commits the batch (an import's batch writes its search index rows
    /// and restores the insert trigger first, in the same transaction).
    pub fn commit(self) -> Result<()> {
        self.finish_deferred_fts()?;
        self.tx.commit()
    }

    /// How many messages from `from` this community stored since `since`
    /// (Unix seconds), for the per-sender flood limit.
    pub fn recent_from(&self, community: CommunityId, from: &str, since: i64) -> Result<u64> {
        if from.is_empty() {
            return Ok(0);
        }
        let n: i64 = self.tx.query_one(
            "SELECT COUNT(*) FROM posts
             WHERE community_id = ?1 AND from_addr = ?2 AND received_at >= ?3",
            params![community.0, from, since],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// The post already stored with this Message-ID or these bytes.
    pub fn find_duplicate(
        &self,
        community: CommunityId,
        message_id: &str,
        sha256: &[u8; 32],
    ) -> Result<Option<PostId>> {
        let by_id: Option<i64> = self.tx.query_opt(
            "SELECT id FROM posts WHERE community_id = ?1 AND message_id = ?2",
            params![community.0, message_id],
            |r| r.get(0),
        )?;
        if let Some(id) = by_id {
            return Ok(Some(PostId(id)));
        }
        let by_hash: Option<i64> = self.tx.query_opt(
            "SELECT id FROM posts WHERE community_id = ?1 AND sha256 = ?2 LIMIT 1",
            params![community.0, &sha256[..]],
            |r| r.get(0),
        )?;
        Ok(by_hash.map(PostId))
    }

    /// Records where an IMAP watcher is, in this transaction.
    pub fn save_checkpoint(&self, cp: &Checkpoint, synced_at: i64) -> Result<()> {
        self.tx.execute(
            "INSERT INTO imap_checkpoints (community_id, folder, uidvalidity, last_uid, last_sync_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (community_id) DO UPDATE SET folder = excluded.folder,
                uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,
                last_sync_at = excluded.last_sync_at",
            params![
                cp.community.0,
                cp.folder,
                cp.uidvalidity as i64,
                cp.last_uid as i64,
                synced_at
            ],
        )?;
        Ok(())
    }

    /// The member with this address, with the facts the policy needs.
    pub fn sender(
        &self,
        community: CommunityId,
        email: &str,
    ) -> Result<Option<(MemberId, crate::moderation::policy::SenderFacts)>> {
        if email.is_empty() {
            return Ok(None);
        }
        let row: Option<(i64, String, String, i64)> = self.tx.query_opt(
            "SELECT id, moderation, status, posts_approved FROM members
             WHERE community_id = ?1 AND email = ?2",
            params![community.0, email.to_ascii_lowercase()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        Ok(row.map(|(id, moderation, status, posts)| {
            (
                MemberId(id),
                crate::moderation::policy::SenderFacts {
                    moderation: moderation
                        .parse()
                        .unwrap_or(crate::model::Moderation::Default),
                    status: status.parse().unwrap_or(crate::model::MemberStatus::Active),
                    posts_approved: posts,
                },
            )
        }))
    }

    /// Stores a message that is not a duplicate (call [`Batch::find_duplicate`] first).
    pub fn store_post(&self, p: &NewPost<'_>) -> Result<Stored> {
        let tx = &self.tx;
        let date = p.parsed.and_then(|x| x.date).unwrap_or(p.received_at);
        let empty = Parsed::default();
        let parsed = p.parsed.unwrap_or(&empty);
        let is_post = p.class == PostClass::Post && p.parsed.is_some();

        let mut thread_id = None;
        let mut new_thread = false;
        let mut parent = None;
        let mut flag = None;
        let mut awaited = false;
        if is_post {
            let placed = self.place(p, parsed, date)?;
            thread_id = Some(placed.thread);
            new_thread = placed.created;
            flag = placed.flag;
            awaited = placed.awaited;
            parent = thread::parent_id(&parsed.references, parsed.in_reply_to.as_deref(), |id| {
                self.post_id_by_message_id(p.community, id)
                    .ok()
                    .flatten()
                    .is_some()
            })
            .and_then(|id| self.post_id_by_message_id(p.community, id).ok().flatten());
        }

        let attachments =
            serde_json::to_string(&parsed.attachments).unwrap_or_else(|_| "[]".into());
        let refs = serde_json::to_string(&parsed.references).unwrap_or_else(|_| "[]".into());
        let approved_at = (p.state == PostState::Approved).then_some(p.received_at);
        let post = PostId(tx.insert_id(
            "INSERT INTO posts (community_id, message_id, sha256, raw, size, source, envelope_to,
                received_at, class, state, from_addr, from_name, subject, date, in_reply_to, refs,
                list_id, text, attachments, member_id, thread_id, parent_id, approved_at, flag)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                ?18, ?19, ?20, ?21, ?22, ?23, ?24)
             RETURNING id",
            params![
                p.community.0,
                p.message_id,
                &p.sha256[..],
                p.raw,
                p.raw.len() as i64,
                p.source.as_str(),
                p.envelope_to,
                p.received_at,
                p.class.as_str(),
                p.state.as_str(),
                parsed.from_addr,
                parsed.from_name,
                parsed.subject,
                date,
                parsed.in_reply_to,
                refs,
                parsed.list_id,
                parsed.text,
                attachments,
                p.member_id.map(|m| m.0),
                thread_id.map(|t: ThreadId| t.0),
                parent.map(|x: PostId| x.0),
                approved_at,
                flag,
            ],
        )?);

        if let Some(t) = thread_id {
            // Children that arrived before this post now have their parent
            // (only if one named it: see `Placed::awaited`).
            if awaited {
                // The last reference: SQLite's JSON path, PostgreSQL's
                // negative array index (both from the array's end).
                let sql = match tx.db().dialect() {
                    Dialect::Sqlite => {
                        "UPDATE posts SET parent_id = ?1
                         WHERE thread_id = ?2 AND parent_id IS NULL AND id <> ?1
                           AND (json_extract(refs, '$[#-1]') = ?3 OR (refs = '[]' AND in_reply_to = ?3))"
                    }
                    Dialect::Postgres => {
                        "UPDATE posts SET parent_id = ?1
                         WHERE thread_id = ?2 AND parent_id IS NULL AND id <> ?1
                           AND ((CAST(refs AS json) ->> -1) = ?3 OR (refs = '[]' AND in_reply_to = ?3))"
                    }
                };
                tx.execute(sql, params![post.0, t.0, p.message_id])?;
            }
            let sql = match tx.db().dialect() {
                Dialect::Sqlite => {
                    "UPDATE threads SET first_at = MIN(first_at, ?2), last_at = MAX(last_at, ?2),
                        root_post_id = CASE WHEN ?3 IS NULL AND (root_post_id IS NULL OR ?2 < first_at)
                                            THEN ?4 ELSE root_post_id END,
                        subject = CASE WHEN ?3 IS NULL AND (root_post_id IS NULL OR ?2 < first_at)
                                       THEN ?5 ELSE subject END
                     WHERE id = ?1"
                }
                Dialect::Postgres => {
                    "UPDATE threads SET first_at = LEAST(first_at, ?2), last_at = GREATEST(last_at, ?2),
                        root_post_id = CASE WHEN CAST(?3 AS BIGINT) IS NULL
                                             AND (root_post_id IS NULL OR ?2 < first_at)
                                            THEN ?4 ELSE root_post_id END,
                        subject = CASE WHEN CAST(?3 AS BIGINT) IS NULL
                                        AND (root_post_id IS NULL OR ?2 < first_at)
                                       THEN ?5 ELSE subject END
                     WHERE id = ?1"
                }
            };
            tx.execute(
                sql,
                params![t.0, date, parent.map(|x| x.0), post.0, parsed.subject],
            )?;
        }
        if p.state == PostState::Held {
            tx.execute(
                "INSERT INTO holds (post_id, community_id, reason, held_at) VALUES (?1, ?2, ?3, ?4)",
                params![
                    post.0,
                    p.community.0,
                    p.hold_reason.unwrap_or("held"),
                    p.received_at
                ],
            )?;
        }
        if p.state == PostState::Approved
            && let Some(m) = p.member_id
        {
            tx.execute(
                "UPDATE members SET posts_approved = posts_approved + 1 WHERE id = ?1",
                params![m.0],
            )?;
        }
        Ok(Stored::New {
            post,
            thread: thread_id,
            new_thread,
        })
    }

    fn post_id_by_message_id(&self, community: CommunityId, id: &str) -> Result<Option<PostId>> {
        Ok(self
            .tx
            .query_opt(
                "SELECT id FROM posts WHERE community_id = ?1 AND message_id = ?2",
                params![community.0, id],
                |r| r.get(0),
            )?
            .map(PostId))
    }

    /// Finds or makes the thread for a post.
    fn place(&self, p: &NewPost<'_>, parsed: &Parsed, date: i64) -> Result<Placed> {
        let tx = &self.tx;
        let keys = thread::thread_keys(
            p.message_id,
            &parsed.references,
            parsed.in_reply_to.as_deref(),
        );
        // A thread a moderator split stays split: ids before a split post
        // are not this message's ancestry any more.
        let mut splits = std::collections::HashSet::new();
        for k in keys.iter().skip(1) {
            if tx
                .query_opt(
                    "SELECT 1 FROM thread_splits WHERE community_id = ?1 AND message_id = ?2",
                    params![p.community.0, k],
                    |_| Ok(()),
                )?
                .is_some()
            {
                splits.insert(*k);
            }
        }
        let keys = thread::after_split(keys, |k| splits.contains(k));
        // Ids of praxis's own digests: a reply to an issue, not to a thread.
        // They are never thread keys (every reply to the issue would meet in
        // one thread); the digest-reply rule below places the message.
        let mut digests = Vec::new();
        for k in keys.iter().skip(1) {
            if let Some(d) = tx.query_opt(
                "SELECT digest_id FROM digest_messages WHERE community_id = ?1 AND message_id = ?2",
                params![p.community.0, k],
                |r| r.get::<i64>(0),
            )? {
                digests.push((*k, d));
            }
        }
        let keys: Vec<&str> = keys
            .into_iter()
            .filter(|k| !digests.iter().any(|(d, _)| d == k))
            .collect();
        // Each key's thread as stored now: a key already in the thread the
        // message joins is not written again below.
        let mut known: Vec<Option<ThreadId>> = Vec::with_capacity(keys.len());
        for k in &keys {
            known.push(
                tx.query_opt(
                    "SELECT thread_id FROM thread_refs WHERE community_id = ?1 AND message_id = ?2",
                    params![p.community.0, k],
                    |r| r.get::<i64>(0),
                )?
                .map(ThreadId),
            );
        }
        let found: Vec<ThreadId> = known.iter().flatten().copied().collect();
        let base = thread::base_subject(&parsed.subject);
        let mut flag = None;
        let mut subject_thread = None;
        if found.is_empty() && !digests.is_empty() {
            // A reply to a digest (by its References): by the quoted text,
            // else by subject among the threads, else flagged.
            subject_thread = self.thread_by_quote(p.community, &parsed.text)?;
            if subject_thread.is_none() && !base.is_empty() {
                for (_, d) in &digests {
                    subject_thread = tx
                        .query_opt(
                            "SELECT t.id FROM digest_posts dp JOIN posts q ON q.id = dp.post_id
                             JOIN threads t ON t.id = q.thread_id
                             WHERE dp.digest_id = ?1 AND t.base_subject = ?2
                             ORDER BY t.last_at DESC LIMIT 1",
                            params![d, base],
                            |r| r.get::<i64>(0),
                        )?
                        .map(ThreadId);
                    if subject_thread.is_some() {
                        break;
                    }
                }
            }
            if subject_thread.is_none() {
                flag = Some(DIGEST_REPLY_UNPLACED.to_string());
            }
        } else if found.is_empty()
            && !base.is_empty()
            && thread::may_join_by_subject(
                &parsed.references,
                parsed.in_reply_to.as_deref(),
                &parsed.subject,
            )
        {
            if thread::is_digest_reply(&parsed.subject) {
                subject_thread = self.thread_by_quote(p.community, &parsed.text)?;
                if subject_thread.is_none() {
                    flag = Some(DIGEST_REPLY_UNPLACED.to_string());
                }
            } else {
                // Typed: PostgreSQL cannot infer `?3 - ?4` from the
                // parameters alone.
                subject_thread = tx
                    .query_opt(
                        "SELECT id FROM threads WHERE community_id = ?1 AND base_subject = ?2
                           AND last_at >= CAST(?3 AS BIGINT) - CAST(?4 AS BIGINT)
                           AND first_at <= CAST(?3 AS BIGINT) + CAST(?4 AS BIGINT)
                         ORDER BY last_at DESC LIMIT 1",
                        params![p.community.0, base, date, p.subject_window_secs],
                        |r| r.get::<i64>(0),
                    )?
                    .map(ThreadId);
            }
        }
        let (t, created) = match thread::place(&found, subject_thread) {
            Placement::Join(t) => (t, false),
            Placement::New => {
                let kind = if parsed.references.is_empty() && parsed.in_reply_to.is_none() {
                    p.new_thread_kind
                } else {
                    ThreadKind::Discussion
                };
                let id = tx.insert_id(
                    "INSERT INTO threads (community_id, subject, base_subject, kind, first_at, last_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING id",
                    params![p.community.0, parsed.subject, base, kind.as_str(), date],
                )?;
                (ThreadId(id), true)
            }
            Placement::Merge { keep, absorb } => {
                for a in absorb {
                    self.merge_thread(keep, a)?;
                }
                (keep, false)
            }
        };
        // `known` was read in this transaction, under the writers' lock:
        // a key it lacks has no row, and one it has keeps its row. (An
        // upsert would do both, but SQLite runs its DO UPDATE as a second
        // write, and journals every page the statement changes first.)
        for (k, was) in keys.iter().zip(&known) {
            match was {
                None => {
                    tx.execute(
                        "INSERT INTO thread_refs (community_id, message_id, thread_id)
                         VALUES (?1, ?2, ?3)",
                        params![p.community.0, k, t.0],
                    )?;
                }
                Some(was) if *was != t => {
                    tx.execute(
                        "UPDATE thread_refs SET thread_id = ?3
                         WHERE community_id = ?1 AND message_id = ?2",
                        params![p.community.0, k, t.0],
                    )?;
                }
                Some(_) => {}
            }
        }
        Ok(Placed {
            thread: t,
            created,
            flag,
            // Every placed post records each of its keys (its references
            // included) in thread_refs, and no row there is ever deleted:
            // a post stored earlier that names this one as its parent
            // left this message's id there.
            awaited: keys.first() != Some(&p.message_id)
                || known.first().is_some_and(Option::is_some),
        })
    }

    /// Moves everything of thread `from` into `into` and deletes `from`.
    fn merge_thread(&self, into: ThreadId, from: ThreadId) -> Result<()> {
        let tx = &self.tx;
        tx.execute(
            "UPDATE posts SET thread_id = ?1 WHERE thread_id = ?2",
            params![into.0, from.0],
        )?;
        tx.execute(
            "UPDATE thread_refs SET thread_id = ?1 WHERE thread_id = ?2",
            params![into.0, from.0],
        )?;
        tx.execute(
            "UPDATE consolidated_replies SET thread_id = ?1 WHERE thread_id = ?2",
            params![into.0, from.0],
        )?;
        // A cross-posted query, or its copy, keeps its link when merged
        // (a row whose move would break a unique key stays as it is:
        // SQLite's UPDATE OR IGNORE, PostgreSQL's NOT EXISTS of that key).
        let (threads, queries, span) = match tx.db().dialect() {
            Dialect::Sqlite => (
                "UPDATE OR IGNORE crossposts SET thread_id = ?1 WHERE thread_id = ?2",
                "UPDATE OR IGNORE crossposts SET query_id = ?1 WHERE query_id = ?2",
                "UPDATE threads SET
                    first_at = MIN(first_at, (SELECT first_at FROM threads WHERE id = ?2)),
                    last_at = MAX(last_at, (SELECT last_at FROM threads WHERE id = ?2)),
                    kind = CASE WHEN (SELECT kind FROM threads WHERE id = ?2) = 'query' THEN 'query' ELSE kind END
                 WHERE id = ?1",
            ),
            Dialect::Postgres => (
                "UPDATE crossposts SET thread_id = ?1 WHERE thread_id = ?2
                   AND NOT EXISTS (SELECT 1 FROM crossposts c WHERE c.thread_id = ?1)",
                "UPDATE crossposts SET query_id = ?1 WHERE query_id = ?2
                   AND NOT EXISTS (SELECT 1 FROM crossposts c
                                   WHERE c.query_id = ?1 AND c.community_id = crossposts.community_id)",
                "UPDATE threads SET
                    first_at = LEAST(first_at, (SELECT first_at FROM threads WHERE id = ?2)),
                    last_at = GREATEST(last_at, (SELECT last_at FROM threads WHERE id = ?2)),
                    kind = CASE WHEN (SELECT kind FROM threads WHERE id = ?2) = 'query' THEN 'query' ELSE kind END
                 WHERE id = ?1",
            ),
        };
        tx.execute(threads, params![into.0, from.0])?;
        tx.execute(queries, params![into.0, from.0])?;
        // The surviving thread spans both; its root is the earliest parentless post.
        tx.execute(span, params![into.0, from.0])?;
        tx.execute("DELETE FROM threads WHERE id = ?1", params![from.0])?;
        let root: Option<(i64, String)> = tx.query_opt(
            "SELECT id, subject FROM posts WHERE thread_id = ?1 AND parent_id IS NULL
             ORDER BY date, id LIMIT 1",
            params![into.0],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if let Some((root, subject)) = root {
            tx.execute(
                "UPDATE threads SET root_post_id = ?2, subject = ?3 WHERE id = ?1",
                params![into.0, root, subject],
            )?;
        }
        Ok(())
    }

    /// The thread of the post whose text contains the longest quoted line.
    fn thread_by_quote(&self, community: CommunityId, text: &str) -> Result<Option<ThreadId>> {
        // An import's batch indexes its posts at commit: the ones stored
        // so far must be searchable before the index is asked.
        self.index_pending()?;
        for line in thread::quoted_lines(text).into_iter().take(5) {
            let words: Vec<&str> = crate::search_query::words(&line).take(12).collect();
            if words.len() < 4 {
                continue;
            }
            let phrase = format!("\"{}\"", words.join(" "));
            // The same phrase query on PostgreSQL's search column (its
            // web-search syntax reads a quoted phrase as FTS5 does).
            let sql = match self.tx.db().dialect() {
                Dialect::Sqlite => {
                    "SELECT p.thread_id FROM posts_fts f JOIN posts p ON p.id = f.rowid
                     WHERE posts_fts MATCH ?1 AND p.community_id = ?2 AND p.thread_id IS NOT NULL
                     ORDER BY p.date LIMIT 1"
                }
                Dialect::Postgres => {
                    "SELECT p.thread_id FROM posts p
                     WHERE p.search @@ websearch_to_tsquery('simple', ?1)
                       AND p.community_id = ?2 AND p.thread_id IS NOT NULL
                     ORDER BY p.date LIMIT 1"
                }
            };
            let t: Option<i64> = self
                .tx
                .query_opt(sql, params![phrase, community.0], |r| r.get(0))?;
            if let Some(t) = t {
                return Ok(Some(ThreadId(t)));
            }
        }
        Ok(None)
    }
}

/// Where [`Batch::place`] put a post.
struct Placed {
    /// Its thread.
    thread: ThreadId,
    /// Whether that thread is new.
    created: bool,
    /// Why a moderator should look at the placement, if they should.
    flag: Option<String>,
    /// Whether a post stored before may name this one as its parent (its
    /// Message-ID was already among the thread keys): only then is the
    /// thread searched for children waiting for it (that search was about
    /// a twentieth of an import's statement time).
    awaited: bool,
}
