//! Full-text search of the archive: [`Store::search_archive`] runs a parsed
//! [`SearchQuery`] (the grammar `praxis search` and the web share, in
//! `search_query.rs`) over published Consolidated Replies and approved
//! posts, replies first, each by bm25, with snippets, a page at a time;
//! and [`fts_any`], the any-word query of "related" suggestions.
//!
//! Every word reaches FTS5 quoted (the parser sees to it); filters are bound
//! parameters inside the one FTS match, so a word query reads the index, not
//! every post. A query of filters only (no words, no `subject:`) lists
//! entries newest first, walking `posts_approved_date` (migration 0016).
//!
//! Long because its tests keep a small archive and a property test (any
//! input runs) beside the statements they exercise.

use chrono_tz::Tz;
use serde::Serialize;

use super::engine::{Dialect, Owned, Queries, bind_all, params};
use super::{Result, Store};
use crate::model::{CommunityId, ThreadId};
use crate::search_query::{KindFilter, SearchQuery, words};
use crate::snippet::{Highlighter, SnippetPart, snippet_of};

/// What a hit is: where the web links it and how the CLI labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HitKind {
    /// A published Consolidated Reply (`/c/SLUG/replies/QUERY`).
    ConsolidatedReply,
    /// An approved post (`/c/SLUG/m/MESSAGE-ID`).
    Post,
}

impl HitKind {
    /// As `--json` and the CLI table print it (`post`, `consolidated_reply`).
    pub fn as_str(self) -> &'static str {
        match self {
            HitKind::ConsolidatedReply => "consolidated_reply",
            HitKind::Post => "post",
        }
    }
}

/// One search hit, with what a page needs to link and show it. It holds no
/// address: `author` is a name only, so a hit can go on a public page.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    /// A post or a Consolidated Reply.
    pub kind: HitKind,
    /// The post's or the reply's id (`praxis show POST` for a post).
    pub id: i64,
    /// The community's slug, for the link and the CLI table.
    pub community: String,
    /// The post's or the reply's subject.
    pub subject: String,
    /// The matching words in context, marked with `[` `]` (the CLI's and
    /// `--json`'s form; `parts` is the same text, safe to mark up).
    pub snippet: String,
    /// The snippet as stretches of plain and matched text, for the web.
    pub parts: Vec<SnippetPart>,
    /// bm25 rank, higher is better (0 for a query of filters only).
    pub score: f64,
    /// A post's Date header (else when it arrived) or when a reply was
    /// published, Unix seconds.
    pub date: i64,
    /// A post's Message-ID without angle brackets, for
    /// `/c/SLUG/m/MESSAGE-ID`; `None` for a reply.
    pub message_id: Option<String>,
    /// A post's thread (`/c/SLUG/t/THREAD`), or a reply's query (the QUERY
    /// of `/c/SLUG/replies/QUERY`); `None` for a post in no thread.
    pub thread: Option<ThreadId>,
    /// Who wrote it, by name only (never an address, "" when the only name
    /// known is an address): a post's sender as the member list knows them,
    /// else the From name; for a reply, the moderator who compiled it.
    pub author: String,
}

/// One page of results of [`Store::search_archive`].
#[derive(Debug, Clone, Serialize)]
pub struct SearchPage {
    /// The hits on this page: every matching reply before any post.
    pub hits: Vec<SearchHit>,
    /// This page's number, from 1.
    pub page: i64,
    /// Hits per page asked for.
    pub per_page: i64,
    /// How many Consolidated Replies match in all (they come first, so a
    /// page can say "3 Consolidated Replies, then posts").
    pub replies: i64,
    /// Whether a next page holds more hits.
    pub has_more: bool,
}

/// Where and when to search, besides the query itself.
#[derive(Debug, Clone, Copy)]
pub struct SearchScope {
    /// Only this community; `None` all of them.
    pub community: Option<CommunityId>,
    /// The zone `after:`/`before:` days are read in: the community's, or
    /// UTC for a search across communities.
    pub zone: Tz,
    /// Now, Unix seconds: a scheduled reply is found once its time comes.
    pub now: i64,
}

/// Which page: 1-based number and size.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// The page number, from 1 (0 is read as 1).
    pub page: i64,
    /// Hits per page, at least 1.
    pub per_page: i64,
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

/// The first name fit for a public page (a name that holds an address is
/// passed over); "" when there is none.
fn public_name(name: Option<String>, fallback: Option<String>) -> String {
    [name, fallback]
        .into_iter()
        .flatten()
        .map(|n| n.trim().to_string())
        .find(|n| !n.is_empty() && !n.contains('@'))
        .unwrap_or_default()
}

/// Registers `praxis_fold(text)`, the text in lower case by Unicode's
/// rules (SQLite's own `lower` and `LIKE` fold only ASCII), so `from:élise`
/// finds "Élise" and `from:RAVI` finds "Ravi".
pub(super) fn register_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "praxis_fold",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(ctx.get::<Option<String>>(0)?.map(|s| s.to_lowercase())),
    )
}

/// SQL conditions and their bound values, numbered as they are added.
struct Filter {
    /// The engine the statement is for.
    dialect: Dialect,
    /// Conditions, joined by AND.
    sql: Vec<String>,
    /// The values of their `?N` parameters, in order.
    values: Vec<Owned>,
}

impl Filter {
    fn new(dialect: Dialect) -> Filter {
        Filter {
            dialect,
            sql: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Binds a value; returns its placeholder.
    fn bind(&mut self, v: impl Into<Owned>) -> String {
        self.values.push(v.into());
        format!("?{}", self.values.len())
    }

    /// The shared filters: community, date range, `from:` over `names`
    /// (SQL expressions of the sender's names and address).
    fn common(
        &mut self,
        q: &SearchQuery,
        scope: &SearchScope,
        community_col: &str,
        date_col: &str,
        names: &[&str],
    ) {
        if let Some(c) = scope.community {
            let p = self.bind(c.0);
            self.sql.push(format!("{community_col} = {p}"));
        }
        let (after, before) = q.range(&scope.zone);
        if let Some(a) = after {
            let p = self.bind(a);
            self.sql.push(format!("{date_col} >= {p}"));
        }
        if let Some(b) = before {
            let p = self.bind(b);
            self.sql.push(format!("{date_col} < {p}"));
        }
        if !q.from.is_empty() {
            let mut any = Vec::new();
            for f in &q.from {
                // instr, not LIKE: nothing typed is a wildcard. SQLite's
                // lower() folds ASCII only, hence praxis_fold there.
                let p = self.bind(f.to_lowercase());
                any.extend(names.iter().map(|n| match self.dialect {
                    Dialect::Sqlite => format!("instr(praxis_fold({n}), {p}) > 0"),
                    Dialect::Postgres => format!("strpos(lower({n}), {p}) > 0"),
                }));
            }
            self.sql.push(format!("({})", any.join(" OR ")));
        }
    }

    /// `WHERE …` (always at least one condition).
    fn clause(&self) -> String {
        if self.sql.is_empty() {
            "WHERE TRUE".into()
        } else {
            format!("WHERE {}", self.sql.join(" AND "))
        }
    }

    /// The bound values followed by `extra` (LIMIT and OFFSET).
    fn params(&self, extra: &[i64]) -> Vec<Owned> {
        let mut v = self.values.clone();
        v.extend(extra.iter().map(|&x| Owned::Int(x)));
        v
    }
}

/// PostgreSQL's text search query of the `?N` parameter `p`.
pub(super) fn tsquery(p: &str) -> String {
    format!("to_tsquery('praxis', {p})")
}

/// PostgreSQL's rank of a search column against the query in `p`: the
/// subject (weight A) counts three times the text (B), as SQLite's
/// `bm25(…, 3.0, 1.0)`.
pub(super) fn ts_rank(column: &str, p: &str) -> String {
    format!(
        "CAST(ts_rank('{{0.1, 0.1, 0.333333, 1.0}}', {column}, {}) AS DOUBLE PRECISION)",
        tsquery(p)
    )
}

/// PostgreSQL's snippet of `column` for the query in `p`, marked with
/// U+0002 and U+0003 as FTS5's `snippet()` marks it, about 12 words.
fn ts_headline(column: &str, p: &str) -> String {
    format!(
        "ts_headline('praxis', {column}, {}, 'StartSel=' || chr(2) || ', StopSel=' || chr(3)
             || ', MaxWords=12, MinWords=6, MaxFragments=1, FragmentDelimiter=\" … \"')",
        tsquery(p)
    )
}

/// The compiler of a reply: the author of its latest stored version.
const COMPILER: &str = "(SELECT v.author FROM draft_versions v WHERE v.reply_id = r.id ORDER BY v.version DESC LIMIT 1)";

/// A reply the archive shows: published, or scheduled and due.
const VISIBLE_REPLY: &str =
    "(r.state = 'published' OR (r.state = 'scheduled' AND r.publish_at <= {now}))";

impl Store {
    /// Searches the archive: Consolidated Replies that match come first
    /// (by bm25), then approved posts (by bm25); a query of filters only
    /// lists both newest first. Returns page `page` of `per_page` hits.
    /// `after:`/`before:` days are read in `scope.zone`. `from:` is a
    /// substring of the sender's address, From name or member name, in any
    /// case; on a reply, of the moderator who compiled it.
    pub fn search_archive(
        &self,
        q: &SearchQuery,
        scope: &SearchScope,
        page: PageRequest,
    ) -> Result<SearchPage> {
        let per_page = page.per_page.max(1);
        let number = page.page.max(1);
        let offset = (number - 1).saturating_mul(per_page);
        let mut out = SearchPage {
            hits: Vec::new(),
            page: number,
            per_page,
            replies: 0,
            has_more: false,
        };
        if q.is_empty() {
            return Ok(out);
        }
        let fts = match self.dialect() {
            Dialect::Sqlite => q.fts(),
            Dialect::Postgres => q.tsquery(),
        };
        if q.kind != Some(KindFilter::Post) {
            out.replies = self.count_replies(q, fts.as_deref(), scope)?;
            if offset < out.replies {
                out.hits = self.replies_page(q, fts.as_deref(), scope, per_page, offset)?;
            }
        }
        let shown_replies = out.hits.len() as i64;
        if offset + shown_replies < out.replies {
            out.has_more = true;
        }
        if q.kind != Some(KindFilter::Reply) {
            let room = per_page - shown_replies;
            let post_offset = (offset - out.replies).max(0);
            // One more than fits tells whether a next page exists.
            let mut posts = self.posts_page(q, fts.as_deref(), scope, room + 1, post_offset)?;
            if posts.len() as i64 > room {
                out.has_more = true;
                posts.truncate(room as usize);
            }
            out.hits.extend(posts);
        }
        Ok(out)
    }

    /// The FROM/WHERE of a reply search and its values.
    fn reply_filter(
        dialect: Dialect,
        q: &SearchQuery,
        fts: Option<&str>,
        scope: &SearchScope,
    ) -> (String, Filter) {
        let mut f = Filter::new(dialect);
        let from = match (fts, dialect) {
            (Some(m), Dialect::Sqlite) => {
                let p = f.bind(m.to_string());
                f.sql.push(format!("consolidated_fts MATCH {p}"));
                "consolidated_fts f JOIN consolidated_replies r ON r.id = f.rowid"
            }
            (Some(m), Dialect::Postgres) => {
                let p = f.bind(m.to_string());
                f.sql.push(format!("f.search @@ {}", tsquery(&p)));
                "consolidated_search f JOIN consolidated_replies r ON r.id = f.reply_id"
            }
            (None, _) => "consolidated_replies r",
        };
        let now = f.bind(scope.now);
        f.sql.push(VISIBLE_REPLY.replace("{now}", &now));
        f.common(q, scope, "r.community_id", "r.published_at", &[COMPILER]);
        (from.to_string(), f)
    }

    /// How many replies match.
    fn count_replies(
        &self,
        q: &SearchQuery,
        fts: Option<&str>,
        scope: &SearchScope,
    ) -> Result<i64> {
        let (from, f) = Self::reply_filter(self.dialect(), q, fts, scope);
        let sql = format!("SELECT count(*) FROM {from} {}", f.clause());
        let values = f.params(&[]);
        self.conn.query_one(&sql, &bind_all(&values), |r| r.get(0))
    }

    /// Matching replies `offset..offset+limit`, best (or newest) first.
    fn replies_page(
        &self,
        q: &SearchQuery,
        fts: Option<&str>,
        scope: &SearchScope,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<SearchHit>> {
        let (from, f) = Self::reply_filter(self.dialect(), q, fts, scope);
        let (snippet, score, order) = match (fts, self.dialect()) {
            (Some(_), Dialect::Sqlite) => (
                "snippet(consolidated_fts, 1, char(2), char(3), ' … ', 12)".to_string(),
                "-bm25(consolidated_fts, 3.0, 1.0)".to_string(),
                "bm25(consolidated_fts, 3.0, 1.0), r.id".to_string(),
            ),
            // The query is the first value bound (reply_filter).
            (Some(_), Dialect::Postgres) => (
                ts_headline("f.body", "?1"),
                ts_rank("f.search", "?1"),
                format!("{} DESC, r.id", ts_rank("f.search", "?1")),
            ),
            (None, Dialect::Sqlite) => (
                "(SELECT substr(x.body, 1, 600) FROM consolidated_fts x WHERE x.rowid = r.id)"
                    .to_string(),
                "CAST(0 AS DOUBLE PRECISION)".to_string(),
                "r.published_at DESC, r.id DESC".to_string(),
            ),
            (None, Dialect::Postgres) => (
                "(SELECT substr(x.body, 1, 600) FROM consolidated_search x WHERE x.reply_id = r.id)"
                    .to_string(),
                "CAST(0 AS DOUBLE PRECISION)".to_string(),
                "r.published_at DESC, r.id DESC".to_string(),
            ),
        };
        let sql = format!(
            "SELECT r.id, c.slug, r.subject, {snippet}, {score}, r.published_at, r.thread_id, {COMPILER}
             FROM {from} JOIN communities c ON c.id = r.community_id
             {} ORDER BY {order} LIMIT ?{} OFFSET ?{}",
            f.clause(),
            f.values.len() + 1,
            f.values.len() + 2,
        );
        let filter_only = fts.is_none();
        let values = f.params(&[limit, offset]);
        self.conn.query_map(&sql, &bind_all(&values), |r| {
            let text: Option<String> = r.get(3)?;
            let (snippet, parts) = snippet_of(&text.unwrap_or_default(), filter_only);
            Ok(SearchHit {
                kind: HitKind::ConsolidatedReply,
                id: r.get(0)?,
                community: r.get(1)?,
                subject: r.get(2)?,
                snippet,
                parts,
                score: r.get(4)?,
                date: r.get::<Option<i64>>(5)?.unwrap_or_default(),
                message_id: None,
                thread: Some(ThreadId(r.get(6)?)),
                author: public_name(r.get(7)?, None),
            })
        })
    }

    /// Matching approved posts `offset..offset+limit`, best (or newest) first.
    fn posts_page(
        &self,
        q: &SearchQuery,
        fts: Option<&str>,
        scope: &SearchScope,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<SearchHit>> {
        let s = PostsStatement::new(self.dialect(), q, fts, scope);
        // The page's ids first, then each post: sorting whole rows would
        // carry every hit's text (hundreds of kB) through the sorter.
        let sql = format!(
            "SELECT p.id, {} {} LIMIT ?{} OFFSET ?{}",
            s.score,
            s.body(),
            s.filter.values.len() + 1,
            s.filter.values.len() + 2,
        );
        let values = s.filter.params(&[limit, offset]);
        let ranked = self.conn.query_map(&sql, &bind_all(&values), |r| {
            Ok((r.get::<i64>(0)?, r.get::<f64>(1)?))
        })?;
        let highlighter = match fts {
            Some(_) => Highlighter::new(&q.terms),
            None => Ok(None),
        };
        let post = format!(
            "SELECT c.slug, p.subject, {}, COALESCE(p.date, p.received_at), p.message_id,
                    p.thread_id, m.name, p.from_name
             FROM posts p
             JOIN communities c ON c.id = p.community_id
             LEFT JOIN members m ON m.community_id = p.community_id AND m.email = p.from_addr
             WHERE p.id = ?1",
            s.snippet
        );
        let mut hits = Vec::with_capacity(ranked.len());
        for (id, score) in ranked {
            let (mut hit, snippet) = self.conn.query_one(&post, params![id], |r| {
                let subject: String = r.get(1)?;
                // The text is read in place: a hit's text can run to
                // hundreds of kB, and only its snippet leaves this closure.
                let text = r.str(2)?;
                let snippet = match &highlighter {
                    Ok(Some(h)) => match h.snippet(text) {
                        Some(marked) => Some(snippet_of(&marked, false)),
                        // Found in the subject alone: the text's opening, as FTS5.
                        None if h.is_match(&subject) => Some(snippet_of(text, true)),
                        // Matched only as FTS5 folds (diacritics): FTS5 cuts it, below.
                        None => None,
                    },
                    // Filters only, or `subject:` terms only: the text's opening.
                    Ok(None) => Some(snippet_of(text, true)),
                    // No highlighter could be built: FTS5 cuts it, below.
                    Err(_) => None,
                };
                let hit = SearchHit {
                    kind: HitKind::Post,
                    id,
                    community: r.get(0)?,
                    subject,
                    snippet: String::new(),
                    parts: Vec::new(),
                    score,
                    date: r.get(3)?,
                    message_id: Some(r.get(4)?),
                    thread: r.get::<Option<i64>>(5)?.map(ThreadId),
                    author: public_name(r.get(6)?, r.get(7)?),
                };
                Ok((hit, snippet))
            })?;
            (hit.snippet, hit.parts) = match (snippet, fts) {
                (Some(s), _) => s,
                (None, Some(fts)) => snippet_of(&self.fts_snippet(fts, id)?, false),
                (None, None) => Default::default(),
            };
            hits.push(hit);
        }
        Ok(hits)
    }

    /// The engine's own snippet of one post's text for the query `fts`
    /// (FTS5's `snippet()`, PostgreSQL's `ts_headline()`).
    fn fts_snippet(&self, fts: &str, post: i64) -> Result<String> {
        let sql = match self.dialect() {
            Dialect::Sqlite => "SELECT snippet(posts_fts, 1, char(2), char(3), ' … ', 12)
                 FROM posts_fts WHERE posts_fts MATCH ?1 AND rowid = ?2"
                .to_string(),
            Dialect::Postgres => format!(
                "SELECT {} FROM posts p WHERE p.id = ?2",
                ts_headline("p.text", "?1")
            ),
        };
        Ok(self
            .conn
            .query_opt(&sql, params![fts, post], |r| r.get::<Option<String>>(0))?
            .flatten()
            .unwrap_or_default())
    }

    /// EXPLAIN QUERY PLAN of the posts part of a search (the statement
    /// `search_archive` runs), one line per step: what the tests read to see
    /// the FTS index or `posts_approved_date` used rather than a scan.
    pub fn search_plan(&self, q: &SearchQuery, scope: &SearchScope) -> Result<Vec<String>> {
        let (fts, explain, column) = match self.dialect() {
            Dialect::Sqlite => (q.fts(), "EXPLAIN QUERY PLAN", 3),
            Dialect::Postgres => (q.tsquery(), "EXPLAIN", 0),
        };
        let s = PostsStatement::new(self.dialect(), q, fts.as_deref(), scope);
        let sql = format!("{explain} SELECT p.id {} LIMIT 21", s.body());
        let values = s.filter.params(&[]);
        // On PostgreSQL, planned as for a large archive: a small table is
        // read whole whatever its indexes, which would hide a missing one.
        if self.dialect() == Dialect::Postgres {
            self.conn.execute_batch("SET enable_seqscan = off")?;
        }
        let plan = self
            .conn
            .query_map(&sql, &bind_all(&values), |r| r.get::<String>(column));
        if self.dialect() == Dialect::Postgres {
            self.conn.execute_batch("RESET enable_seqscan")?;
        }
        plan
    }
}

/// The parts of the posts statement of a search, so the search and its
/// plan (`search_plan`) are the same SQL.
struct PostsStatement {
    /// FROM: the FTS table joined to posts, or posts alone (filters only
    /// and on PostgreSQL, whose index is a column of posts).
    from: &'static str,
    /// The snippet column: the text (cut in Rust), or the text's start.
    snippet: &'static str,
    /// The score column: bm25 or ts_rank, or 0.
    score: String,
    /// ORDER BY: rank, or newest first.
    order: String,
    /// WHERE and its values.
    filter: Filter,
}

impl PostsStatement {
    fn new(
        dialect: Dialect,
        q: &SearchQuery,
        fts: Option<&str>,
        scope: &SearchScope,
    ) -> PostsStatement {
        let mut filter = Filter::new(dialect);
        let s = match (fts, dialect) {
            (Some(m), Dialect::Sqlite) => {
                let p = filter.bind(m.to_string());
                filter.sql.push(format!("posts_fts MATCH {p}"));
                PostsStatement {
                    from: "posts_fts JOIN posts p ON p.id = posts_fts.rowid",
                    // The text: its snippet is cut in Rust (`Highlighter`).
                    snippet: "p.text",
                    score: "-bm25(posts_fts, 3.0, 1.0)".into(),
                    order: "bm25(posts_fts, 3.0, 1.0), p.id".into(),
                    filter,
                }
            }
            (Some(m), Dialect::Postgres) => {
                let p = filter.bind(m.to_string());
                filter.sql.push(format!("p.search @@ {}", tsquery(&p)));
                PostsStatement {
                    from: "posts p",
                    snippet: "p.text",
                    score: ts_rank("p.search", &p),
                    order: format!("{} DESC, p.id", ts_rank("p.search", &p)),
                    filter,
                }
            }
            (None, _) => PostsStatement {
                from: "posts p",
                snippet: "substr(p.text, 1, 600)",
                score: "CAST(0 AS DOUBLE PRECISION)".into(),
                order: "p.date DESC, p.id DESC".into(),
                filter,
            },
        };
        let mut s = s;
        // A literal, so the planner can use the partial index posts_approved_date.
        s.filter.sql.push("p.state = 'approved'".into());
        s.filter.common(
            q,
            scope,
            "p.community_id",
            "p.date",
            &["p.from_addr", "p.from_name", "m.name"],
        );
        s
    }

    /// FROM … WHERE … ORDER BY …, without LIMIT.
    fn body(&self) -> String {
        format!(
            "FROM {}
             JOIN communities c ON c.id = p.community_id
             LEFT JOIN members m ON m.community_id = p.community_id AND m.email = p.from_addr
             {} ORDER BY {}",
            self.from,
            self.filter.clause(),
            self.order
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{PageRequest, SearchScope, fts_any, public_name};
    use crate::search_query::SearchQuery;
    use crate::store::Store;

    /// A store with one community and one approved post, one published reply.
    fn archive() -> Store {
        let store = Store::open_in_memory().unwrap();
        fill(&store);
        store
    }

    /// The archive's rows, on either engine.
    fn fill(store: &Store) {
        let index = match store.dialect() {
            crate::store::Dialect::Sqlite => "consolidated_fts (rowid, subject, body)",
            crate::store::Dialect::Postgres => "consolidated_search (reply_id, subject, body)",
        };
        store.fixture(&format!(
                "INSERT INTO communities (id, slug, name, address, created_at)
                     VALUES (1, 'health', 'Health', 'list@example.test', 0);
                 INSERT INTO threads (id, community_id, subject, first_at, last_at)
                     VALUES (1, 1, 'Boat clinics?', 0, 0);
                 INSERT INTO posts (community_id, message_id, sha256, raw, size, source, received_at,
                                    class, state, from_addr, from_name, subject, date, text, thread_id)
                     VALUES (1, 'a@x', x'00', x'00', 1, 'import', 0, 'post', 'approved',
                             'asha@example.org', 'Asha', 'Boat clinics?', 1800000000,
                             'We ran boat clinics; स्वास्थ्य शिविर.', 1);
                 INSERT INTO consolidated_replies (id, community_id, thread_id, state, subject,
                                                   published_at, created_at)
                     VALUES (1, 1, 1, 'published', 'Consolidated Reply: Boat clinics?', 1800000000, 0);
                 INSERT INTO {index}
                     VALUES (1, 'Consolidated Reply: Boat clinics?', 'Boat clinics worked.');"
        ));
    }

    /// The Rust snippet marks the words FTS5's `snippet()` marks, and holds
    /// the first of them, whatever the term's kind, case or script.
    #[test]
    fn the_rust_snippet_marks_what_fts5_marks() {
        use crate::snippet::{Highlighter, snippet_of};
        let store = archive();
        let long = format!(
            "{} The Cold Chain broke; cold-chain boxes, ColdChain. {}",
            "filler words here. ".repeat(3000),
            "more filler after. ".repeat(3000)
        );
        let texts = [
            "We ran boat clinics; स्वास्थ्य शिविर in the flood. Boat clinics again, boating too.",
            long.as_str(),
            "fluoride, FLUORIDATION and fluor; not afluoride nor fluor_ide",
            "strverscmp(3): strverscmp() compares; xstrverscmp is another",
            "L'ÉCOLE du village, une école; des écoles",
        ];
        let queries = [
            "boat",
            "\"boat clinics\"",
            "boat*",
            "शिविर",
            "cold",
            "\"cold chain\"",
            "fluor*",
            "FLUORIDE",
            "strverscmp",
            "clinics flood",
            "chain*",
            "école",
            "ÉCOLE*",
        ];
        for (i, text) in texts.iter().enumerate() {
            let id = 100 + i as i64;
            store.sqlite().unwrap()
                .execute(
                    "INSERT INTO posts (id, community_id, message_id, sha256, raw, size, source,
                        received_at, class, state, subject, text, thread_id)
                     VALUES (?1, 1, ?2, x'00', x'00', 1, 'import', 0, 'post', 'approved', 's', ?3, 1)",
                    rusqlite::params![id, format!("t{i}@x"), text],
                )
                .unwrap();
            for q in queries {
                let q = SearchQuery::parse(q).unwrap();
                let fts = q.fts().unwrap();
                let hit: bool = store
                    .sqlite()
                    .unwrap()
                    .query_row(
                        "SELECT count(*) FROM posts_fts WHERE posts_fts MATCH ?1 AND rowid = ?2",
                        rusqlite::params![fts, id],
                        |r| r.get::<_, i64>(0),
                    )
                    .unwrap()
                    > 0;
                let ours = Highlighter::new(&q.terms).unwrap().unwrap().snippet(text);
                assert_eq!(ours.is_some(), hit, "{fts} in text {i}: {ours:?}");
                let Some(ours) = ours else { continue };
                // Every match in the whole text, against FTS5's highlight().
                let ours_all: Vec<&str> = Highlighter::new(&q.terms)
                    .unwrap()
                    .unwrap()
                    .matches(text, usize::MAX)
                    .into_iter()
                    .map(|(a, b)| &text[a..b])
                    .collect();
                let theirs: String = store
                    .sqlite()
                    .unwrap()
                    .query_row(
                        "SELECT highlight(posts_fts, 1, char(2), char(3)) FROM posts_fts
                         WHERE posts_fts MATCH ?1 AND rowid = ?2",
                        rusqlite::params![fts, id],
                        |r| r.get(0),
                    )
                    .unwrap();
                let theirs_all: Vec<String> = snippet_of(&theirs, false)
                    .1
                    .into_iter()
                    .filter(|p| p.matched)
                    .map(|p| p.text)
                    .collect();
                assert_eq!(ours_all, theirs_all, "{fts} in text {i}");
                // The snippet holds the first match, marked.
                assert!(
                    ours.contains(&format!("\u{2}{}\u{3}", ours_all[0])),
                    "{fts} in text {i}: {ours:?}"
                );
                assert!(ours.split_whitespace().count() <= 16, "{ours}");
            }
        }
        // Folded diacritics are FTS5's alone: the page takes its snippet.
        store
            .sqlite()
            .unwrap()
            .execute(
                "INSERT INTO posts (id, community_id, message_id, sha256, raw, size, source,
                    received_at, class, state, subject, text, thread_id)
                 VALUES (200, 1, 'cafe@x', x'00', x'00', 1, 'import', 0, 'post', 'approved',
                         'Meeting', 'We met at the Café Coffee Day in Puri.', 1)",
                [],
            )
            .unwrap();
        let scope = SearchScope {
            community: None,
            zone: chrono_tz::UTC,
            now: 1_900_000_000,
        };
        let page = store
            .search_archive(
                &SearchQuery::parse("cafe").unwrap(),
                &scope,
                PageRequest {
                    page: 1,
                    per_page: 5,
                },
            )
            .unwrap();
        let hit = page.hits.iter().find(|h| h.id == 200).expect("café found");
        assert!(
            hit.parts.iter().any(|p| p.matched && p.text == "Café"),
            "{:?}",
            hit.parts
        );
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        /// Whatever is typed, the search runs (or the parser names a bad
        /// date or kind): no input reaches FTS5 or SQL as syntax.
        #[test]
        fn any_input_runs_or_is_refused_by_the_parser(
            text in proptest::collection::vec(
                proptest::sample::select(vec![
                    "\"", ":", "*", "(", ")", "-", "^", "+", "{", "}", "'", ";", "%", "_", "\\",
                    " ", "  ", "a", "boat", "clinics", "OR", "AND", "NOT", "NEAR", "स्वास्थ्य", "ि",
                    "from:", "subject:", "kind:", "after:", "before:", "reply", "post",
                    "2026-11-01", "2026-13-01", "\u{2}", "\u{3}", "\0",
                ]),
                0..16,
            ).prop_map(|v| v.concat())
        ) {
            let store = archive();
            let scope = SearchScope { community: None, zone: chrono_tz::UTC, now: 1_900_000_000 };
            if let Ok(q) = SearchQuery::parse(&text) {
                let page = store.search_archive(&q, &scope, PageRequest { page: 1, per_page: 5 });
                proptest::prop_assert!(page.is_ok(), "{text:?} -> {:?}: {:?}", q.fts(), page.err());
            }
        }
    }

    #[test]
    fn the_fixture_is_found() {
        Store::each_engine(|store| {
            fill(&store);
            the_fixture_is_found_on(&store);
        });
    }

    fn the_fixture_is_found_on(store: &Store) {
        let scope = SearchScope {
            community: None,
            zone: chrono_tz::UTC,
            now: 1_900_000_000,
        };
        let page = |t: &str| {
            store
                .search_archive(
                    &SearchQuery::parse(t).unwrap(),
                    &scope,
                    PageRequest {
                        page: 1,
                        per_page: 5,
                    },
                )
                .unwrap()
        };
        let p = page("boat clinics");
        assert_eq!(p.hits.len(), 2);
        assert_eq!(p.replies, 1);
        assert!(!p.has_more);
        assert_eq!(page("स्वास्थ्य from:ASHA").hits.len(), 1);
        assert_eq!(page("kind:post").hits.len(), 1);
        assert!(page("boat from:ravi").hits.is_empty());
        // The reply (subject and body both match) ranks above nothing, and
        // comes first; its snippet marks the word.
        let p = page("clinics");
        assert_eq!(p.hits[0].kind, super::HitKind::ConsolidatedReply);
        assert!(p.hits[0].parts.iter().any(|x| x.matched), "{:?}", p.hits[0]);
        assert!(p.hits.iter().all(|h| h.score > 0.0), "{:?}", p.hits);
        // Prefixes, phrases in order only, subject: only in the subject.
        assert_eq!(page("clin*").hits.len(), 2);
        assert_eq!(page("\"boat clinics\"").hits.len(), 2);
        assert!(page("\"clinics boat\"").hits.is_empty());
        assert_eq!(page("subject:boat kind:post").hits.len(), 1);
        assert!(
            page("subject:ran").hits.is_empty(),
            "`ran` is in the text only"
        );
        assert_eq!(page("ran").hits.len(), 1);
        // Filters only: newest first, no rank.
        let p = page("from:asha");
        assert_eq!(p.hits.len(), 1);
        assert_eq!(p.hits[0].score, 0.0);
        assert!(page("boat after:2030-01-01").hits.is_empty());
        assert_eq!(page("boat before:2030-01-01").hits.len(), 2);
        // Nothing typed is syntax, on either engine.
        for hostile in ["boat'", "a & b | !c", "x:* <->", "(\\", "' OR 1=1 --"] {
            page(hostile);
        }
        // Diacritics fold on both engines: `cafe` finds Café.
        store.fixture(
            "INSERT INTO posts (id, community_id, message_id, sha256, raw, size, source,
                received_at, class, state, subject, text, thread_id, date)
             VALUES (200, 1, 'cafe@x', x'00', x'00', 1, 'import', 0, 'post', 'approved',
                     'Meeting', 'We met at the Café Coffee Day in Puri.', 1, 1700000000)",
        );
        let p = page("cafe");
        assert_eq!(p.hits.len(), 1, "{p:?}");
        assert_eq!(p.hits[0].id, 200);
        assert!(
            p.hits[0].parts.iter().any(|x| x.matched),
            "{:?}",
            p.hits[0].parts
        );
    }

    #[test]
    fn related_matches_any_significant_word_once() {
        assert_eq!(
            fts_any("Mobile clinics: mobile units? a OR b"),
            "\"mobile\" OR \"clinics\" OR \"units\""
        );
        assert_eq!(fts_any("a an the"), "");
    }

    #[test]
    fn names_that_are_addresses_are_not_shown() {
        assert_eq!(
            public_name(Some("".into()), Some("Asha Rao".into())),
            "Asha Rao"
        );
        assert_eq!(
            public_name(Some("Asha".into()), Some("A. R.".into())),
            "Asha"
        );
        assert_eq!(public_name(None, Some("asha@example.org".into())), "");
        assert_eq!(
            public_name(Some("asha@example.org".into()), Some("Asha".into())),
            "Asha"
        );
        assert_eq!(public_name(Some("<a@b.org>".into()), None), "");
    }
}
