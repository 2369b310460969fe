//! What the web's Consolidated Reply library and feeds read: published
//! replies (and scheduled ones whose time has come, never drafts) by query,
//! their latest text and who compiled them, and a community's newest
//! threads with their root posts.
//!
//! Rows carry names, never addresses: these are shown on public pages.

use super::engine::{Queries, Row, params};
use super::{Result, Store};
use crate::model::{CommunityId, ThreadId};

/// Who a person is on a public page: their name, or "a member" when the
/// only name known is (or looks like) an address.
pub fn public_name(name: &str, email: &str) -> String {
    let name = name.trim();
    if name.is_empty() || name.eq_ignore_ascii_case(email) || name.contains('@') {
        "a member".to_string()
    } else {
        name.to_string()
    }
}

/// The SQL condition a reply `r` meets when readers may see it: published,
/// or scheduled for a time already past (the sender is about to mail it).
const VISIBLE: &str = "r.state IN ('published', 'scheduled') AND r.published_at <= ?2";

/// One query in the library: its first visible Consolidated Reply.
#[derive(Debug, Clone)]
pub struct LibraryEntry {
    /// The query's thread (the QUERY of `praxis publish`, and of the URL).
    pub thread: ThreadId,
    /// The query's subject.
    pub subject: String,
    /// When its first reply was published, Unix seconds.
    pub published_at: i64,
    /// Who compiled that reply (the author of its latest version).
    pub compiled_by: String,
    /// How many more replies (addenda) followed it.
    pub addenda: i64,
    /// The other communities it is shared with (a cross-posted query), by
    /// name; empty for a reply of this community alone.
    pub shared_with: Vec<String>,
}

/// One visible Consolidated Reply, with its latest text.
#[derive(Debug, Clone)]
pub struct PublishedReply {
    /// consolidated_replies id.
    pub id: i64,
    /// Its query's thread.
    pub thread: ThreadId,
    /// The query's subject (the thread's), for titles.
    pub query_subject: String,
    /// The subject it was mailed with.
    pub subject: String,
    /// When it was published (or its scheduled time, now past).
    pub published_at: i64,
    /// The reply it adds to, for an addendum.
    pub addendum_to: Option<i64>,
    /// Who compiled it (the author of its latest version).
    pub compiled_by: String,
    /// Its Markdown as published (the latest version).
    pub body: String,
}

/// A thread as the new-threads feed shows it: its root post's author by
/// name and its text.
#[derive(Debug, Clone)]
pub struct NewThread {
    /// The thread.
    pub thread: ThreadId,
    /// Its subject.
    pub subject: String,
    /// When it started (its root post's date or receipt), Unix seconds.
    pub started_at: i64,
    /// The root post's author, by [`public_name`].
    pub author: String,
    /// The root post's text body as received.
    pub text: String,
}

/// The columns a [`PublishedReply`] is read from, `r` the reply and `t`
/// its thread.
const REPLY_COLUMNS: &str =
    "r.id, r.thread_id, t.subject, r.subject, r.published_at, r.addendum_to,
     COALESCE((SELECT v.author FROM draft_versions v WHERE v.reply_id = r.id
               ORDER BY v.version DESC LIMIT 1), ''),
     COALESCE((SELECT v.body FROM draft_versions v WHERE v.reply_id = r.id
               ORDER BY v.version DESC LIMIT 1), '')";

fn published_reply(r: &Row<'_>) -> Result<PublishedReply> {
    Ok(PublishedReply {
        id: r.get(0)?,
        thread: ThreadId(r.get(1)?),
        query_subject: r.get(2)?,
        subject: r.get(3)?,
        published_at: r.get(4)?,
        addendum_to: r.get(5)?,
        compiled_by: r.get(6)?,
        body: r.get(7)?,
    })
}

impl Store {
    /// The library's page: queries with a visible Consolidated Reply, by
    /// their first reply, newest first; `offset` and `limit` page it.
    pub fn reply_library(
        &self,
        community: CommunityId,
        now: i64,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<LibraryEntry>> {
        let sql = format!(
            "SELECT r.thread_id, t.subject, MIN(r.published_at), COUNT(*) - 1,
                    COALESCE((SELECT v.author FROM consolidated_replies f
                              JOIN draft_versions v ON v.reply_id = f.id
                              WHERE f.thread_id = r.thread_id
                              ORDER BY f.id, v.version DESC LIMIT 1), '')
             FROM consolidated_replies r JOIN threads t ON t.id = r.thread_id
             WHERE r.community_id = ?1 AND {VISIBLE}
             GROUP BY r.thread_id, t.subject
             ORDER BY MIN(r.published_at) DESC, r.thread_id DESC
             LIMIT ?3 OFFSET ?4"
        );
        // (`t.subject` is grouped too: one per thread, and PostgreSQL
        // selects only what is grouped or aggregated.)
        let mut rows =
            self.conn
                .query_map(&sql, params![community.0, now, limit, offset], |r| {
                    Ok(LibraryEntry {
                        thread: ThreadId(r.get(0)?),
                        subject: r.get(1)?,
                        published_at: r.get(2)?,
                        addenda: r.get(3)?,
                        compiled_by: r.get(4)?,
                        shared_with: Vec::new(),
                    })
                })?;
        for row in &mut rows {
            row.shared_with = self.shared_with(row.thread)?;
        }
        Ok(rows)
    }

    /// How many queries the library lists (for its pages).
    pub fn reply_library_size(&self, community: CommunityId, now: i64) -> Result<i64> {
        let sql = format!(
            "SELECT COUNT(DISTINCT r.thread_id) FROM consolidated_replies r
             WHERE r.community_id = ?1 AND {VISIBLE}"
        );
        self.conn
            .query_one(&sql, params![community.0, now], |r| r.get(0))
    }

    /// The visible Consolidated Replies of query `thread` in `community`,
    /// the first one then its addenda; empty when there is none (or the
    /// thread belongs to another community).
    pub fn published_replies(
        &self,
        community: CommunityId,
        thread: ThreadId,
        now: i64,
    ) -> Result<Vec<PublishedReply>> {
        let sql = format!(
            "SELECT {REPLY_COLUMNS}
             FROM consolidated_replies r JOIN threads t ON t.id = r.thread_id
             WHERE r.community_id = ?1 AND {VISIBLE} AND r.thread_id = ?3
             ORDER BY r.published_at, r.id"
        );
        self.conn
            .query_map(&sql, params![community.0, now, thread.0], published_reply)
    }

    /// The newest `limit` visible Consolidated Replies of `community`
    /// (addenda too), newest first: the replies feed.
    pub fn latest_replies(
        &self,
        community: CommunityId,
        now: i64,
        limit: i64,
    ) -> Result<Vec<PublishedReply>> {
        let sql = format!(
            "SELECT {REPLY_COLUMNS}
             FROM consolidated_replies r JOIN threads t ON t.id = r.thread_id
             WHERE r.community_id = ?1 AND {VISIBLE}
             ORDER BY r.published_at DESC, r.id DESC LIMIT ?3"
        );
        self.conn
            .query_map(&sql, params![community.0, now, limit], published_reply)
    }

    /// The newest `limit` threads of `community` whose root post is
    /// approved, newest first: the new-threads feed.
    pub fn new_threads(&self, community: CommunityId, limit: i64) -> Result<Vec<NewThread>> {
        self.conn.query_map(
            "SELECT t.id, t.subject, COALESCE(p.date, p.received_at), p.from_addr,
                    COALESCE(NULLIF(m.name, ''), p.from_name), p.text
             FROM threads t JOIN posts p ON p.id = t.root_post_id
             LEFT JOIN members m ON m.community_id = p.community_id AND m.email = p.from_addr
             WHERE t.community_id = ?1 AND p.state = 'approved'
             ORDER BY COALESCE(p.date, p.received_at) DESC, t.id DESC LIMIT ?2",
            params![community.0, limit],
            |r| {
                let email: String = r.get(3)?;
                let name: Option<String> = r.get(4)?;
                Ok(NewThread {
                    thread: ThreadId(r.get(0)?),
                    subject: r.get(1)?,
                    started_at: r.get(2)?,
                    author: public_name(name.as_deref().unwrap_or(""), &email),
                    text: r.get(5)?,
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_name_never_is_an_address() {
        assert_eq!(
            public_name("Dr. Anjali Mehta", "a@x.org"),
            "Dr. Anjali Mehta"
        );
        assert_eq!(public_name("", "a@x.org"), "a member");
        assert_eq!(public_name("A@X.org", "a@x.org"), "a member");
        assert_eq!(public_name("someone@else.org", "a@x.org"), "a member");
    }
}
