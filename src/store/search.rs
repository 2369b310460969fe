//! Full-text search: the FTS5 query forms (every word, any word) and the
//! searches over approved posts and published Consolidated Replies that
//! `praxis search` merges.

use rusqlite::params;
use serde::Serialize;

use super::{Result, Store};
use crate::model::CommunityId;

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

/// An FTS5 query matching any of the significant words of `text` (four
/// letters or more, at most 16), for "related" suggestions.
pub fn fts_any(text: &str) -> String {
    let mut seen = std::collections::BTreeSet::new();
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .map(str::to_lowercase)
        .filter(|w| seen.insert(w.clone()))
        .take(16)
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(" OR ")
}

impl Store {
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

    /// Full-text search over published Consolidated Replies (and scheduled
    /// ones whose time has come), best first.
    pub fn search_replies(
        &self,
        text: &str,
        community: Option<CommunityId>,
        limit: i64,
        now: i64,
    ) -> Result<Vec<SearchHit>> {
        let q = fts_query(text);
        if q.is_empty() {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.id, c.slug, r.subject,
                    snippet(consolidated_fts, 1, '[', ']', ' … ', 12), -bm25(consolidated_fts, 3.0, 1.0)
             FROM consolidated_fts f
             JOIN consolidated_replies r ON r.id = f.rowid
             JOIN communities c ON c.id = r.community_id
             WHERE consolidated_fts MATCH ?1 AND (?2 IS NULL OR r.community_id = ?2)
               AND (r.state = 'published' OR (r.state = 'scheduled' AND r.publish_at <= ?4))
             ORDER BY bm25(consolidated_fts, 3.0, 1.0)
             LIMIT ?3",
        )?;
        let hits = stmt
            .query_map(params![q, community.map(|c| c.0), limit, now], |r| {
                Ok(SearchHit {
                    kind: "consolidated_reply".into(),
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
    use super::{fts_any, fts_query};

    #[test]
    fn queries_cannot_inject_fts_syntax() {
        assert_eq!(fts_query("mobile clinics"), "\"mobile\" \"clinics\"");
        assert_eq!(fts_query("a\" OR x:*"), "\"a\" \"OR\" \"x\"");
        assert_eq!(fts_query("  "), "");
    }

    #[test]
    fn related_matches_any_significant_word_once() {
        assert_eq!(
            fts_any("Mobile clinics: mobile units? a OR b"),
            "\"mobile\" OR \"clinics\" OR \"units\""
        );
        assert_eq!(fts_any("a an the"), "");
    }
}
