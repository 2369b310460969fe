//! Threads for `praxis threads`, and full-text search for `praxis search`.

use rusqlite::params;
use serde::Serialize;

use super::{Result, Store};
use crate::model::CommunityId;

/// A thread as `praxis threads` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadRow {
    /// Its id.
    pub id: i64,
    /// The community's slug.
    pub community: String,
    /// The root post's subject.
    pub subject: String,
    /// query, discussion or announcement.
    pub kind: String,
    /// Approved posts.
    pub posts: i64,
    /// Distinct senders of approved posts.
    pub participants: i64,
    /// Earliest post, Unix seconds.
    pub first_at: i64,
    /// Latest post, Unix seconds.
    pub last_at: i64,
    /// open, drafting or published.
    pub state: String,
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
    /// At most this many, newest activity first.
    pub limit: i64,
}

/// One search hit.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    /// post or consolidated_reply.
    pub kind: String,
    /// The post's or reply's id.
    pub id: i64,
    /// The community's slug.
    pub community: String,
    /// Subject.
    pub subject: String,
    /// The matching words in context, marked with [ ].
    pub snippet: String,
    /// bm25 rank, higher is better.
    pub score: f64,
}

/// Turns what a person typed into an FTS5 query: every word must occur.
pub fn fts_query(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(" ")
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
            None => {
                let mut stmt = self.conn.prepare_cached("SELECT id FROM communities")?;
                stmt.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?
            }
        };
        let mut stmt = self.conn.prepare_cached(
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
                     WHERE r.id = t.root_post_id)
             FROM threads t INDEXED BY threads_community_last
             JOIN communities c ON c.id = t.community_id
             WHERE t.community_id = ?1
               AND (?2 = 0 OR t.kind = 'query')
               AND (?3 IS NULL OR (t.kind = 'query' AND t.state <> 'published' AND t.deadline_at < ?3))
               AND EXISTS (SELECT 1 FROM posts p WHERE p.thread_id = t.id AND p.state = 'approved')
             ORDER BY t.last_at DESC, t.id DESC
             LIMIT ?4",
        )?;
        let mut rows = Vec::new();
        for community in communities {
            let got = stmt.query_map(
                params![community, f.queries as i64, f.overdue_at, f.limit],
                |r| {
                    let posts: i64 = r.get(8)?;
                    Ok(ThreadRow {
                        id: r.get(0)?,
                        community: r.get(1)?,
                        subject: r.get(2)?,
                        kind: r.get(3)?,
                        first_at: r.get(4)?,
                        last_at: r.get(5)?,
                        state: r.get(6)?,
                        deadline: r.get(7)?,
                        posts,
                        participants: r.get(9)?,
                        responses: (posts - 1).max(0),
                        late_responses: r.get(10)?,
                        asked_by: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
                        asked_by_organisation: r.get::<_, Option<String>>(12)?.unwrap_or_default(),
                    })
                },
            )?;
            for row in got {
                rows.push(row?);
            }
        }
        rows.sort_by(|a, b| b.last_at.cmp(&a.last_at).then(b.id.cmp(&a.id)));
        rows.truncate(usize::try_from(f.limit).unwrap_or(usize::MAX));
        Ok(rows)
    }

    /// Full-text search over approved posts, best first.
    pub fn search(
        &self,
        text: &str,
        community: Option<CommunityId>,
        limit: i64,
    ) -> Result<Vec<SearchHit>> {
        let q = fts_query(text);
        if q.is_empty() {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare(
            "SELECT p.id, c.slug, p.subject,
                    snippet(posts_fts, 1, '[', ']', ' … ', 12), -bm25(posts_fts, 3.0, 1.0)
             FROM posts_fts
             JOIN posts p ON p.id = posts_fts.rowid
             JOIN communities c ON c.id = p.community_id
             WHERE posts_fts MATCH ?1 AND p.state = 'approved' AND (?2 IS NULL OR p.community_id = ?2)
             ORDER BY bm25(posts_fts, 3.0, 1.0)
             LIMIT ?3",
        )?;
        let hits = stmt
            .query_map(params![q, community.map(|c| c.0), limit], |r| {
                Ok(SearchHit {
                    kind: "post".into(),
                    id: r.get(0)?,
                    community: r.get(1)?,
                    subject: r.get(2)?,
                    snippet: r
                        .get::<_, String>(3)?
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                    score: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn queries_cannot_inject_fts_syntax() {
        assert_eq!(fts_query("mobile clinics"), "\"mobile\" \"clinics\"");
        assert_eq!(fts_query("a\" OR x:*"), "\"a\" \"OR\" \"x\"");
        assert_eq!(fts_query("  "), "");
    }
}
