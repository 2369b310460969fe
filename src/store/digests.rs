//! Digest issues: what has accrued since the last issue (candidates for the
//! pure selection in `digest::select`) and creating an issue exactly once.
//!
//! Invariant: an issue's `digests` row, its `digest_posts`, the community's
//! volume and its outbox messages (one per digest format) are written in one
//! transaction; a post is in at most one issue, and an issue claimed for a
//! scheduled moment (`due_at`) is never created twice.

use super::engine::{Dialect, Queries, params};
use super::outbox::{Audience, NewOutbox, insert_audience, insert_outbox};
use super::{Result, Store};
use crate::digest::select::{Candidates, LastIssue, PostItem, QueryItem, ReplyItem};
use crate::model::{CommunityId, Delivery, DigestFormat, ThreadId};

/// A new issue as `create_digest` writes it.
#[derive(Debug, Clone)]
pub struct NewDigest<'a> {
    /// The community.
    pub community: CommunityId,
    /// Volume, from the selection.
    pub volume: i64,
    /// Number within the volume, from the selection.
    pub number: i64,
    /// The scheduled moment this issue is for: the claim that makes a
    /// scheduled send happen once even across restarts. None for `--now`.
    pub due_at: Option<i64>,
    /// The posts it carries, so they never go out in a later issue.
    pub posts: &'a [i64],
    /// One rendered message per digest format, each queued to the digest
    /// members reading that format.
    pub messages: &'a [(DigestFormat, NewOutbox<'a>)],
}

/// What `create_digest` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestCreated {
    /// The issue was created: its id and how many deliveries were queued.
    Created {
        /// digests.id
        id: i64,
        /// Deliveries queued across all formats.
        recipients: u64,
    },
    /// An issue for this due moment (or this volume and number) exists
    /// already: nothing was written.
    AlreadySent,
}

impl Store {
    /// Everything that could go into the community's next issue. Posts: approved
    /// live posts (not imported history) in no issue yet. Consolidated Replies:
    /// published after the last issue was created. Queries: open, with an
    /// approved post and a deadline; `days_left` turns a deadline into working
    /// days left. At most `limit` posts, the earliest approved first, so a
    /// long backlog is never read whole.
    pub fn digest_candidates(
        &self,
        community: CommunityId,
        days_left: &dyn Fn(i64) -> i64,
        limit: u32,
    ) -> Result<Candidates> {
        let current_volume: i64 = self.conn.query_one(
            "SELECT digest_volume FROM communities WHERE id = ?1",
            params![community.0],
            |r| r.get(0),
        )?;
        let last = self.conn.query_opt(
            "SELECT volume, number, created_at FROM digests WHERE community_id = ?1
             ORDER BY created_at DESC, id DESC LIMIT 1",
            params![community.0],
            |r| {
                Ok(LastIssue {
                    volume: r.get(0)?,
                    number: r.get(1)?,
                    created_at: r.get(2)?,
                })
            },
        )?;
        // SQLite is told which index walks approved live posts in order;
        // PostgreSQL's planner picks it by itself.
        let posts_sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT p.id, p.thread_id, t.subject, t.first_at, COALESCE(NULLIF(m.name, ''), p.from_name),
                    p.from_addr, p.subject, COALESCE(p.date, p.received_at), p.message_id, p.text, p.size,
                    COALESCE(p.approved_at, p.received_at), p.in_reply_to, p.refs
             FROM posts p INDEXED BY posts_live_approved JOIN threads t ON t.id = p.thread_id
             LEFT JOIN members m ON m.id = p.member_id
             WHERE p.community_id = ?1 AND p.state = 'approved' AND p.class = 'post'
               AND p.source <> 'import'
               AND NOT EXISTS (SELECT 1 FROM digest_posts d WHERE d.post_id = p.id)
             ORDER BY COALESCE(p.approved_at, p.received_at), p.id
             LIMIT ?2"
            }
            Dialect::Postgres => {
                "SELECT p.id, p.thread_id, t.subject, t.first_at, COALESCE(NULLIF(m.name, ''), p.from_name),
                    p.from_addr, p.subject, COALESCE(p.date, p.received_at), p.message_id, p.text, p.size,
                    COALESCE(p.approved_at, p.received_at), p.in_reply_to, p.refs
             FROM posts p JOIN threads t ON t.id = p.thread_id
             LEFT JOIN members m ON m.id = p.member_id
             WHERE p.community_id = ?1 AND p.state = 'approved' AND p.class = 'post'
               AND p.source <> 'import'
               AND NOT EXISTS (SELECT 1 FROM digest_posts d WHERE d.post_id = p.id)
             ORDER BY COALESCE(p.approved_at, p.received_at), p.id
             LIMIT ?2"
            }
        };
        let posts = self
            .conn
            .query_map(posts_sql, params![community.0, limit], |r| {
                Ok(PostItem {
                    id: r.get(0)?,
                    thread_id: ThreadId(r.get(1)?),
                    thread_subject: r.get(2)?,
                    thread_first_at: r.get(3)?,
                    from_name: r.get(4)?,
                    from_addr: r.get(5)?,
                    subject: r.get(6)?,
                    date: r.get(7)?,
                    message_id: r.get(8)?,
                    in_reply_to: r.get(12)?,
                    references: serde_json::from_str(&r.get::<String>(13)?).unwrap_or_default(),
                    text: r.get(9)?,
                    size: r.get(10)?,
                    accrued_at: r.get(11)?,
                })
            })?;
        let since = last.map_or(i64::MIN, |l| l.created_at);
        let replies = self.conn.query_map(
            "SELECT r.id, r.subject, t.subject, r.published_at, COALESCE(r.message_id, ''),
                    COALESCE((SELECT v.body FROM draft_versions v WHERE v.reply_id = r.id
                              ORDER BY v.version DESC LIMIT 1), ''),
                    COALESCE(q.message_id, '')
             FROM consolidated_replies r JOIN threads t ON t.id = r.thread_id
             LEFT JOIN posts q ON q.id = t.root_post_id
             WHERE r.community_id = ?1 AND r.state = 'published' AND r.published_at > ?2
             ORDER BY r.published_at, r.id",
            params![community.0, since],
            |r| {
                Ok(ReplyItem {
                    id: r.get(0)?,
                    subject: r.get(1)?,
                    query_subject: r.get(2)?,
                    published_at: r.get(3)?,
                    message_id: r.get(4)?,
                    markdown: r.get(5)?,
                    query_message_id: r.get(6)?,
                })
            },
        )?;
        let queries = self.conn.query_map(
            "SELECT t.id, t.subject, t.first_at, t.deadline_at FROM threads t
             WHERE t.community_id = ?1 AND t.kind = 'query' AND t.state <> 'published'
               AND t.deadline_at IS NOT NULL
               AND EXISTS (SELECT 1 FROM posts p WHERE p.thread_id = t.id AND p.state = 'approved')
             ORDER BY t.first_at DESC, t.id DESC",
            params![community.0],
            |r| {
                let deadline: i64 = r.get(3)?;
                Ok(QueryItem {
                    thread: ThreadId(r.get(0)?),
                    subject: r.get(1)?,
                    asked_at: r.get(2)?,
                    days_left: days_left(deadline),
                })
            },
        )?;
        Ok(Candidates {
            posts,
            replies,
            queries,
            last,
            current_volume,
        })
    }

    /// The digest formats the community's active digest members read, each once.
    pub fn digest_formats(&self, community: CommunityId) -> Result<Vec<DigestFormat>> {
        let formats = self.conn.query_map(
            "SELECT DISTINCT digest_format FROM members
             WHERE community_id = ?1 AND delivery = 'digest' AND status = 'active'
             ORDER BY digest_format",
            params![community.0],
            |r| r.get::<String>(0),
        )?;
        Ok(formats.iter().filter_map(|f| f.parse().ok()).collect())
    }

    /// Whether an issue was already created for this scheduled moment.
    pub fn digest_due_claimed(&self, community: CommunityId, due_at: i64) -> Result<bool> {
        Ok(self
            .conn
            .query_opt(
                "SELECT 1 FROM digests WHERE community_id = ?1 AND due_at = ?2",
                params![community.0, due_at],
                |_| Ok(()),
            )?
            .is_some())
    }

    /// When the community's last issue was created, if ever.
    pub fn last_digest_at(&self, community: CommunityId) -> Result<Option<i64>> {
        self.conn.query_one(
            "SELECT MAX(created_at) FROM digests WHERE community_id = ?1",
            params![community.0],
            |r| r.get(0),
        )
    }

    /// Creates the issue and queues it, all in one transaction: the digests
    /// row, its posts, the community's volume, and one outbox message per
    /// format queued to the active digest members reading that format. An
    /// issue for the same due moment, or the same volume and number, makes
    /// this a no-op (`AlreadySent`), so two senders racing, or a restart at
    /// the due moment, send once.
    pub fn create_digest(&mut self, d: &NewDigest<'_>, now: i64) -> Result<DigestCreated> {
        let dialect = self.dialect();
        let tx = self.conn.transaction()?;
        if let Some(due) = d.due_at {
            let claimed = tx
                .query_opt(
                    "SELECT 1 FROM digests WHERE community_id = ?1 AND due_at = ?2",
                    params![d.community.0, due],
                    |_| Ok(()),
                )?
                .is_some();
            if claimed {
                return Ok(DigestCreated::AlreadySent);
            }
        }
        let inserted: Option<i64> = tx.query_opt(
            "INSERT INTO digests (community_id, volume, number, due_at, created_at, sent_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (community_id, volume, number) DO NOTHING RETURNING id",
            params![d.community.0, d.volume, d.number, d.due_at, now],
            |r| r.get(0),
        )?;
        let Some(id) = inserted else {
            return Ok(DigestCreated::AlreadySent);
        };
        for p in d.posts {
            tx.execute(
                "INSERT INTO digest_posts (digest_id, post_id) VALUES (?1, ?2)",
                params![id, p],
            )?;
        }
        tx.execute(
            match dialect {
                Dialect::Sqlite => {
                    "UPDATE communities SET digest_volume = MAX(digest_volume, ?2) WHERE id = ?1"
                }
                Dialect::Postgres => {
                    "UPDATE communities SET digest_volume = GREATEST(digest_volume, ?2) WHERE id = ?1"
                }
            },
            params![d.community.0, d.volume],
        )?;
        let mut recipients = 0;
        for (format, msg) in d.messages {
            // Its Message-ID, recorded so a reply naming it in References
            // is known for a reply to this issue (see `is_digest_message`).
            if let Ok(parsed) = crate::mail::parse::parse(msg.message)
                && !parsed.synthetic_id
            {
                tx.execute(
                    "INSERT INTO digest_messages (community_id, message_id, digest_id)
                     VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![d.community.0, parsed.message_id, id],
                )?;
            }
            let mut msg = msg.clone();
            msg.digest = Some(id);
            let outbox = insert_outbox(&tx, &msg, now)?;
            insert_audience(
                &tx,
                outbox,
                &Audience {
                    community: d.community,
                    modes: &[Delivery::Digest],
                    author: None,
                    digest_format: Some(*format),
                    exclude: &[],
                },
            )?;
            recipients += super::outbox::audience_size(&tx, outbox)?;
        }
        super::audit::record(
            &tx,
            &super::audit::Act {
                community: d.community,
                actor: &self.actor,
                act: "digest",
                object: Some(("digest", id)),
                detail: Some(&format!(
                    "Vol {}, Issue {} to {recipients} members{}",
                    d.volume,
                    d.number,
                    if d.due_at.is_some() { "" } else { " (--now)" }
                )),
                at: now,
            },
        )?;
        tx.commit()?;
        Ok(DigestCreated::Created { id, recipients })
    }
}

#[cfg(test)]
mod tests {
    use super::super::outbox::fixtures::*;
    use super::*;
    use crate::model::{MemberStatus, OutboxKind, Role};
    use crate::store::MemberFields;

    fn in_thread(s: &Store, c: CommunityId, post: crate::model::PostId, source: &str) {
        s.sqlite()
            .unwrap()
            .execute(
                "INSERT INTO threads (community_id, root_post_id, subject, first_at, last_at)
                 VALUES (?1, ?2, 'Mobile clinics', 0, 0)",
                rusqlite::params![c.0, post.0],
            )
            .unwrap();
        let t = s.sqlite().unwrap().last_insert_rowid();
        s.sqlite()
            .unwrap()
            .execute(
                "UPDATE posts SET thread_id = ?1, source = ?2 WHERE id = ?3",
                rusqlite::params![t, source, post.0],
            )
            .unwrap();
    }

    fn digest_member(s: &mut Store, c: CommunityId, email: &str, format: DigestFormat) {
        let f = MemberFields {
            digest_format: Some(format),
            ..fields(Delivery::Digest, Role::Member, MemberStatus::Active)
        };
        member(s, c, email, f);
    }

    #[test]
    fn an_issue_takes_live_posts_once_and_a_due_moment_is_claimed_once() {
        let (mut s, c) = store();
        digest_member(&mut s, c, "dee@example.org", DigestFormat::Plain);
        digest_member(&mut s, c, "max@example.org", DigestFormat::Mime);
        let live = post(&s, c, "alice@example.org", b"Subject: a\r\n\r\nlive\r\n");
        in_thread(&s, c, live, "pipe");
        let old = post(
            &s,
            c,
            "bob@example.org",
            b"Subject: b\r\n\r\nimported history\r\n",
        );
        in_thread(&s, c, old, "import");

        let cand = s.digest_candidates(c, &|_| 0, 100).unwrap();
        let ids: Vec<i64> = cand.posts.iter().map(|p| p.id).collect();
        assert_eq!(ids, vec![live.0], "imported history is not news");
        assert_eq!(cand.last, None);

        let plain = NewOutbox::new(
            Some(c),
            OutboxKind::Digest,
            "Health Digest, Vol 1, Issue 1",
            b"p",
        );
        let messages = [(DigestFormat::Plain, plain)];
        let d = NewDigest {
            community: c,
            volume: 1,
            number: 1,
            due_at: Some(1000),
            posts: &ids,
            messages: &messages,
        };
        let first = s.create_digest(&d, 1000).unwrap();
        assert!(
            matches!(first, DigestCreated::Created { recipients: 1, .. }),
            "{first:?}"
        );
        // The same due moment again (a restart): nothing.
        let d2 = NewDigest {
            number: 2,
            ..d.clone()
        };
        assert_eq!(
            s.create_digest(&d2, 1001).unwrap(),
            DigestCreated::AlreadySent
        );
        // The same volume and number again (a race): nothing.
        let d3 = NewDigest {
            due_at: None,
            ..d.clone()
        };
        assert_eq!(
            s.create_digest(&d3, 1002).unwrap(),
            DigestCreated::AlreadySent
        );
        assert!(s.digest_due_claimed(c, 1000).unwrap());
        assert!(!s.digest_due_claimed(c, 2000).unwrap());

        let after = s.digest_candidates(c, &|_| 0, 100).unwrap();
        assert!(after.posts.is_empty(), "a post goes out in one issue only");
        assert_eq!(
            after.last,
            Some(LastIssue {
                volume: 1,
                number: 1,
                created_at: 1000
            })
        );
        // The sender makes the delivery rows from each format's audience.
        s.expand_audiences(1000, 100, 0).unwrap();
        let queued: i64 = s
            .sqlite()
            .unwrap()
            .query_row(
                "SELECT COUNT(*) FROM deliveries d JOIN outbox o ON o.id = d.outbox_id
                 WHERE o.kind = 'digest' AND d.recipient = 'dee@example.org'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(queued, 1, "the plain reader gets the plain issue, once");
    }

    #[test]
    fn replies_since_the_last_issue_and_open_queries_with_their_days_left() {
        let (mut s, c) = store();
        let q = post(&s, c, "alice@example.org", b"Subject: q\r\n\r\nanyone?\r\n");
        in_thread(&s, c, q, "pipe");
        s.sqlite()
            .unwrap()
            .execute(
                "UPDATE threads SET kind = 'query', deadline_at = 5000 WHERE root_post_id = ?1",
                [q.0],
            )
            .unwrap();
        let t: i64 = s
            .sqlite()
            .unwrap()
            .query_row("SELECT thread_id FROM posts WHERE id = ?1", [q.0], |r| {
                r.get(0)
            })
            .unwrap();
        for (subject, at) in [("old reply", 100), ("new reply", 3000)] {
            s.sqlite()
                .unwrap()
                .execute(
                    "INSERT INTO consolidated_replies (community_id, thread_id, state, subject,
                                                       published_at, created_at)
                     VALUES (?1, ?2, 'published', ?3, ?4, ?4)",
                    rusqlite::params![c.0, t, subject, at],
                )
                .unwrap();
        }
        let none: [(DigestFormat, NewOutbox<'_>); 0] = [];
        s.create_digest(
            &NewDigest {
                community: c,
                volume: 1,
                number: 1,
                due_at: None,
                posts: &[q.0],
                messages: &none,
            },
            2000,
        )
        .unwrap();
        let cand = s
            .digest_candidates(c, &|deadline| (deadline - 2000) / 1000, 100)
            .unwrap();
        let replies: Vec<&str> = cand.replies.iter().map(|r| r.subject.as_str()).collect();
        assert_eq!(replies, vec!["new reply"]);
        assert_eq!(cand.replies[0].query_subject, "Mobile clinics");
        assert_eq!(cand.queries.len(), 1);
        assert_eq!(
            (cand.queries[0].thread.0, cand.queries[0].days_left),
            (t, 3)
        );
    }
}
