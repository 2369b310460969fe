//! Full-text search: the FTS5 query forms (every word, "phrases",
//! `prefix*`; any word) and the searches over approved posts and published
//! Consolidated Replies that `praxis search` merges.

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

/// A word as the FTS tables index it (`tokenize = "unicode61 ... categories
/// 'L* N* Co Mn Mc'"`, migration 0012): letters, digits, private use and
/// the combining marks that sit inside words in Indic scripts (vowel signs,
/// viramas, nuktas), so "फ़िल्म" is one word, not three fragments.
static WORD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"[\p{L}\p{N}\p{Co}\p{Mn}\p{Mc}]+").expect("the word pattern compiles")
});

/// The words of `text`, split where the FTS tokenizer splits.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    WORD.find_iter(text).map(|m| m.as_str())
}

/// Turns what a person typed into an FTS5 query: every word must occur; a
/// "quoted phrase" must occur as written; a word ending in `*` matches every
/// word it begins (`fluor*` finds "fluoride"). Anything else the person
/// typed (FTS5 operators, column filters, parentheses) is only a separator:
/// each word is quoted, so no input reaches FTS5 as syntax.
pub fn fts_query(text: &str) -> String {
    let mut terms = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('"') {
            // A phrase runs to the next quote (or the end).
            let (phrase, tail) = after.split_once('"').unwrap_or((after, ""));
            let ws: Vec<&str> = words(phrase).collect();
            if !ws.is_empty() {
                terms.push(format!("\"{}\"", ws.join(" ")));
            }
            rest = tail;
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '"')
            .unwrap_or(rest.len());
        let (chunk, tail) = rest.split_at(end);
        let ws: Vec<&str> = words(chunk).collect();
        // `word*`: the stars follow a word directly.
        let stem = chunk.trim_end_matches('*');
        let prefix = stem.len() < chunk.len()
            && stem
                .chars()
                .next_back()
                .is_some_and(|c| WORD.is_match(c.encode_utf8(&mut [0; 4])));
        for (i, w) in ws.iter().enumerate() {
            if prefix && i + 1 == ws.len() {
                terms.push(format!("\"{w}\"*"));
            } else {
                terms.push(format!("\"{w}\""));
            }
        }
        rest = tail.trim_start_matches(char::is_whitespace);
    }
    terms.join(" ")
}

/// An FTS5 query matching any of the significant words of `text` (four
/// letters or more, at most 16), for "related" suggestions.
pub fn fts_any(text: &str) -> String {
    let mut seen = std::collections::BTreeSet::new();
    words(text)
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
    use super::{fts_any, fts_query, words};

    #[test]
    fn queries_cannot_inject_fts_syntax() {
        assert_eq!(fts_query("mobile clinics"), "\"mobile\" \"clinics\"");
        assert_eq!(fts_query("a\" OR x:*"), "\"a\" \"OR x\"");
        assert_eq!(
            fts_query("x:* NEAR(a b) -c ^d"),
            "\"x\" \"NEAR\" \"a\" \"b\" \"c\" \"d\""
        );
        assert_eq!(fts_query("  "), "");
        assert_eq!(fts_query("* ** \"\""), "");
    }

    #[test]
    fn words_with_combining_marks_stay_whole() {
        // Nukta and virama (Mn) and vowel signs (Mc) are inside the word.
        assert_eq!(
            words("यह फ़िल्म, नहीं").collect::<Vec<_>>(),
            ["यह", "फ़िल्म", "नहीं"]
        );
        assert_eq!(
            words("மருத்துவ முகாம்").collect::<Vec<_>>(),
            ["மருத்துவ", "முகாம்"]
        );
        assert_eq!(words("স্বাস্থ্য শিবির").collect::<Vec<_>>(), ["স্বাস্থ্য", "শিবির"]);
        assert_eq!(fts_query("फ़िल्म"), "\"फ़िल्म\"");
    }

    #[test]
    fn a_star_after_a_word_is_a_prefix_query_and_phrases_stay_phrases() {
        assert_eq!(fts_query("fluor*"), "\"fluor\"*");
        assert_eq!(fts_query("fluor** water"), "\"fluor\"* \"water\"");
        assert_eq!(fts_query("स्वास्थ*"), "\"स्वास्थ\"*");
        assert_eq!(fts_query("a-b*"), "\"a\" \"b\"*");
        assert_eq!(
            fts_query("\"boat clinics\" flood"),
            "\"boat clinics\" \"flood\""
        );
        assert_eq!(fts_query("*fluor"), "\"fluor\"");
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
