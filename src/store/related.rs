//! Earlier answers at intake: the threads of a community, and the
//! Consolidated Replies among them, most likely to answer a post
//! ([`Store::related_to_post`] for `praxis related` and `praxis show`,
//! [`Store::related_threads`] for any subject and text, and
//! [`Store::related_replies`], those with a published reply, for a
//! draft's "Related Consolidated Replies"; [`Store::starts_thread`] says
//! which held posts the hold notice and the queue look up).
//!
//! Method ([`RelatedMethod::PRAXIS`]):
//! 1. The post's own words: its text without quoted lines, "X wrote:"
//!    lines, signatures and footers (`mail::quote::strip`), its subject
//!    without "Re:" and `[list]` tags. Words are cut as the FTS tokenizer
//!    cuts them (letters, digits, and the combining marks inside Indic
//!    words; migration 0012), lowercased, common Latin diacritics folded.
//! 2. Of the distinct words, the [`LOOKUPS`] likeliest to be rare by their
//!    look (subject words, long words, words with digits) are counted in
//!    the index, up to [`DF_CAP`] posts each (a full count of a common word
//!    walks its whole posting list; an `fts5vocab` table does just that, 20
//!    ms for "the" at 100,000 posts). Each is weighed by its IDF times
//!    `1 + ln(tf)`, plus IDF × `subject_weight` when the subject holds it;
//!    words in `DF_CAP` posts or more are left out as too common.
//! 3. The heaviest words, at most `terms` and at most [`POSTINGS_BUDGET`]
//!    posting-list entries in all, make an FTS5 `OR` query; posts are
//!    ranked by bm25 (subject ×3, as `praxis search`), the best `scan` only,
//!    and each hit's thread is read from the index `posts_related`
//!    (migration 0021), not from the post's row.
//! 4. Hits are summed per thread with halving weights (best hit, ½ the
//!    second, ¼ the third, …), so a thread that matches in several posts
//!    outranks one lucky post; the same query over published Consolidated
//!    Replies adds each reply's bm25 to its thread, and a thread with a
//!    published reply is multiplied by `reply_boost`.
//! 5. The post's own thread (and the post) is left out; the best `limit`
//!    threads of the post's community are returned with their score.
//!
//! [`RelatedMethod::BASELINE`] is plain BM25 for comparison: every word
//! OR'd, no term selection, no subject weight, a thread scored by its best
//! post, no reply boost. The retrieval test (`tests/it/related.rs`) prints
//! both; the baseline finds a little more (it reads most of the index for a
//! long post), praxis's method is bounded: about 1 ms CPU per
//! thread-starting post at 100,000 posts (`bench/run --only related`,
//! release build), nearly all of it the [`LOOKUPS`] counts of step 2.
//!
//! Long because its unit tests keep a small community (threads, posts, a
//! published reply) beside the statements they exercise.

use std::collections::HashMap;

use serde::Serialize;

use super::consolidated_replies::RelatedReply;
use super::engine::{Dialect, Queries, params};
use super::{Result, Store};
use crate::model::{CommunityId, PostId, ThreadId};

/// How related threads are found: the knobs of the method, so the test can
/// run the plain baseline through the same code.
#[derive(Debug, Clone, Copy)]
pub struct RelatedMethod {
    /// How many of the post's most informative words make the query;
    /// 0 means every word, unweighed (the baseline).
    pub terms: usize,
    /// How much a word in the subject adds, as a multiple of its IDF.
    pub subject_weight: f64,
    /// Whether a thread sums its hits with halving weights (else its best).
    pub sum_hits: bool,
    /// What a thread with a published Consolidated Reply is multiplied by.
    pub reply_boost: f64,
    /// How many post hits are read, best first.
    pub scan: i64,
}

impl RelatedMethod {
    /// What praxis uses.
    pub const PRAXIS: RelatedMethod = RelatedMethod {
        terms: 12,
        subject_weight: 2.0,
        sum_hits: true,
        reply_boost: 1.25,
        scan: 80,
    };
    /// Plain BM25 over every word, a thread scored by its best post.
    pub const BASELINE: RelatedMethod = RelatedMethod {
        terms: 0,
        subject_weight: 0.0,
        sum_hits: false,
        reply_boost: 1.0,
        scan: 150,
    };
}

/// At most this many distinct words of a post are looked up in the
/// vocabulary (the first ones, subject first): a 10,000-word post costs
/// what a 400-word one does.
const MAX_CANDIDATES: usize = 160;

/// One earlier thread that may answer a post.
#[derive(Debug, Clone, Serialize)]
pub struct RelatedThread {
    /// The thread's id (`/c/SLUG/t/ID`).
    pub thread_id: ThreadId,
    /// The community's slug.
    pub community: String,
    /// The thread's subject.
    pub subject: String,
    /// Its published Consolidated Reply, if it has one (the newest).
    pub consolidated_reply: Option<i64>,
    /// How well it matches, higher is better; comparable only within one
    /// post's list.
    pub score: f64,
    /// The archive's path of the thread: `/c/SLUG/t/ID`.
    pub link: String,
}

/// A word as the FTS tokenizer would index it: lowercased, the common Latin
/// diacritics removed (`remove_diacritics 2`). Letters outside the table are
/// kept as they are (Indic vowel signs are part of the word there too).
fn fold(word: &str) -> String {
    word.to_lowercase()
        .chars()
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
            'ç' | 'ć' | 'č' => 'c',
            'ď' => 'd',
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
            'ğ' => 'g',
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' => 'i',
            'ñ' | 'ń' | 'ň' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ō' | 'ő' => 'o',
            'ř' => 'r',
            'ś' | 'š' | 'ş' => 's',
            'ť' | 'ţ' => 't',
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => 'u',
            'ý' | 'ÿ' => 'y',
            'ź' | 'ż' | 'ž' => 'z',
            c => c,
        })
        .collect()
}

/// Whether a word can tell one thread from another at all: two letters or
/// more, not a short number, not a long run of hex or base64 (hashes, ids).
fn worth_weighing(w: &str) -> bool {
    let n = w.chars().count();
    let digits = w.chars().filter(char::is_ascii_digit).count();
    (2..=40).contains(&n) && !(digits == n && n < 3) && !(n > 20 && digits > 0)
}

/// A post's candidate words with how often its text holds each and
/// whether its subject does: subject words first, then the text's in order
/// of first appearance; at most [`MAX_CANDIDATES`]. The text loses quoted
/// lines, attributions, signatures and footers first.
pub(crate) fn candidates(subject: &str, text: &str) -> Vec<(String, u32, bool)> {
    let subject = crate::thread::strip_prefixes(subject);
    let own = crate::mail::quote::strip(text);
    let mut order: Vec<String> = Vec::new();
    let mut seen: HashMap<String, (u32, bool)> = HashMap::new();
    for w in crate::search_query::words(subject) {
        let w = fold(w);
        if !worth_weighing(&w) {
            continue;
        }
        let e = seen.entry(w.clone()).or_insert_with(|| {
            order.push(w);
            (0, false)
        });
        e.1 = true;
    }
    for w in crate::search_query::words(&own) {
        let w = fold(w);
        if !worth_weighing(&w) {
            continue;
        }
        if !seen.contains_key(&w) && order.len() >= MAX_CANDIDATES {
            continue;
        }
        let e = seen.entry(w.clone()).or_insert_with(|| {
            order.push(w);
            (0, false)
        });
        e.0 += 1;
    }
    order
        .into_iter()
        .map(|w| {
            let (tf, subj) = seen[&w];
            (w, tf, subj)
        })
        .collect()
}

/// The engine's full-text query matching any of `words`, each quoted
/// (words hold no quote: they are runs of letters, digits and marks):
/// FTS5's `"a" OR "b"`, PostgreSQL's `'a' | 'b'`.
fn any_of<'a>(dialect: Dialect, words: impl IntoIterator<Item = &'a str>) -> String {
    let (quote, or) = match dialect {
        Dialect::Sqlite => ('"', " OR "),
        Dialect::Postgres => ('\'', " | "),
    };
    words
        .into_iter()
        .map(|w| format!("{quote}{w}{quote}"))
        .collect::<Vec<_>>()
        .join(or)
}

impl Store {
    /// The threads of `post`'s community most likely to answer it, best
    /// first, leaving out its own thread (praxis's method).
    pub fn related_to_post(&self, post: PostId, limit: usize) -> Result<Vec<RelatedThread>> {
        let row = self
            .conn
            .query_opt(
                "SELECT community_id, subject, text, thread_id FROM posts WHERE id = ?1",
                params![post.0],
                |r| {
                    Ok((
                        CommunityId(r.get(0)?),
                        r.get::<String>(1)?,
                        r.get::<String>(2)?,
                        r.get::<Option<i64>>(3)?.map(ThreadId),
                    ))
                },
            )?
            .ok_or_else(|| super::posts::no_post(post))?;
        let (community, subject, text, thread) = row;
        self.related_threads(
            community,
            &subject,
            &text,
            thread,
            Some(post),
            limit,
            &RelatedMethod::PRAXIS,
        )
    }

    /// The threads of `community` most likely to answer a post with this
    /// `subject` and `text`, best first, by `method`; thread `exclude` and
    /// post `exclude_post` (the post's own) are left out.
    #[allow(clippy::too_many_arguments)]
    pub fn related_threads(
        &self,
        community: CommunityId,
        subject: &str,
        text: &str,
        exclude: Option<ThreadId>,
        exclude_post: Option<PostId>,
        limit: usize,
        method: &RelatedMethod,
    ) -> Result<Vec<RelatedThread>> {
        let query = if method.terms == 0 {
            self.all_words_query(subject, text)
        } else {
            self.informative_query(subject, text, method)?
        };
        if query.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let exclude = exclude.map_or(0, |t| t.0);
        let exclude_post = exclude_post.map_or(0, |p| p.0);
        // The best `scan` hits of the index first, then only their rows:
        // a join would read the posts row of every match.
        let (hits, replies) = match self.dialect() {
            Dialect::Sqlite => (
                "SELECT p.thread_id, h.score
                 FROM (SELECT rowid AS id, -bm25(posts_fts, 3.0, 1.0) AS score FROM posts_fts
                       WHERE posts_fts MATCH ?1 ORDER BY bm25(posts_fts, 3.0, 1.0) LIMIT ?2) h
                 JOIN posts p INDEXED BY posts_related ON p.id = h.id
                 WHERE p.community_id = ?3 AND p.state = 'approved' AND p.thread_id IS NOT NULL
                   AND p.thread_id <> ?4 AND p.id <> ?5
                 ORDER BY h.score DESC"
                    .to_string(),
                "SELECT r.thread_id, r.id, -bm25(consolidated_fts, 3.0, 1.0)
                 FROM consolidated_fts f JOIN consolidated_replies r ON r.id = f.rowid
                 WHERE consolidated_fts MATCH ?1 AND r.community_id = ?2
                   AND r.state = 'published' AND r.thread_id <> ?3
                 ORDER BY bm25(consolidated_fts, 3.0, 1.0) LIMIT ?4"
                    .to_string(),
            ),
            // The same on the search columns, ranked by ts_rank with the
            // subject three times the text (search.rs).
            Dialect::Postgres => (
                format!(
                    "SELECT p.thread_id, h.score
                     FROM (SELECT id, {rank} AS score FROM posts WHERE search @@ {query}
                           ORDER BY score DESC LIMIT ?2) h
                     JOIN posts p ON p.id = h.id
                     WHERE p.community_id = ?3 AND p.state = 'approved' AND p.thread_id IS NOT NULL
                       AND p.thread_id <> ?4 AND p.id <> ?5
                     ORDER BY h.score DESC",
                    rank = super::search::ts_rank("search", "?1"),
                    query = super::search::tsquery("?1"),
                ),
                format!(
                    "SELECT r.thread_id, r.id, {rank} AS score
                     FROM consolidated_search f JOIN consolidated_replies r ON r.id = f.reply_id
                     WHERE f.search @@ {query} AND r.community_id = ?2
                       AND r.state = 'published' AND r.thread_id <> ?3
                     ORDER BY score DESC LIMIT ?4",
                    rank = super::search::ts_rank("f.search", "?1"),
                    query = super::search::tsquery("?1"),
                ),
            ),
        };
        // thread -> (score, hits so far)
        let mut threads: HashMap<i64, (f64, i32)> = HashMap::new();
        let rows = self.conn.query_map(
            &hits,
            params![query, method.scan, community.0, exclude, exclude_post],
            |r| Ok((r.get::<i64>(0)?, r.get::<f64>(1)?)),
        )?;
        for (thread, score) in rows {
            let e = threads.entry(thread).or_insert((0.0, 0));
            if method.sum_hits {
                e.0 += score * 0.5f64.powi(e.1);
            } else if e.1 == 0 {
                e.0 = score;
            }
            e.1 += 1;
        }
        // Published Consolidated Replies that match add to their thread.
        let mut with_reply: HashMap<i64, i64> = HashMap::new();
        if method.reply_boost != 1.0 {
            let rows = self.conn.query_map(
                &replies,
                params![query, community.0, exclude, method.scan],
                |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?, r.get::<f64>(2)?)),
            )?;
            for (thread, reply, score) in rows {
                threads.entry(thread).or_insert((0.0, 0)).0 += score;
                with_reply.entry(thread).or_insert(reply);
            }
        }
        let mut ranked: Vec<(i64, f64)> = threads.into_iter().map(|(t, (s, _))| (t, s)).collect();
        // Every candidate thread's reply, not only those the reply query found.
        let reply_of = |thread: i64| {
            self.conn.query_opt(
                "SELECT id FROM consolidated_replies WHERE thread_id = ?1 AND state = 'published'
                 ORDER BY published_at DESC, id DESC LIMIT 1",
                params![thread],
                |r| r.get::<i64>(0),
            )
        };
        if method.reply_boost != 1.0 {
            for (thread, score) in &mut ranked {
                let reply = match with_reply.get(thread) {
                    Some(r) => Some(*r),
                    None => reply_of(*thread)?,
                };
                if let Some(r) = reply {
                    with_reply.insert(*thread, r);
                    *score *= method.reply_boost;
                }
            }
        }
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(limit);
        let mut out = Vec::with_capacity(ranked.len());
        for (thread, score) in ranked {
            let (subject, slug) = self.conn.query_one(
                "SELECT t.subject, c.slug FROM threads t JOIN communities c ON c.id = t.community_id
                 WHERE t.id = ?1",
                params![thread],
                |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
            )?;
            let reply = match with_reply.get(&thread) {
                Some(r) => Some(*r),
                None => reply_of(thread)?,
            };
            out.push(RelatedThread {
                thread_id: ThreadId(thread),
                link: format!("/c/{slug}/t/{thread}"),
                community: slug,
                subject,
                consolidated_reply: reply,
                score,
            });
        }
        Ok(out)
    }

    /// The published Consolidated Replies of `community` most likely to
    /// answer a post with this `subject` and `text`, best first: the
    /// related threads (praxis's method) that have one, the reply of each
    /// (the newest); thread `exclude` and post `exclude_post` are left out.
    /// What a draft lists as "Related Consolidated Replies".
    pub fn related_replies(
        &self,
        community: CommunityId,
        subject: &str,
        text: &str,
        exclude: Option<ThreadId>,
        exclude_post: Option<PostId>,
        limit: usize,
    ) -> Result<Vec<RelatedReply>> {
        // Threads with a reply among the first few dozen: the reply boost
        // lifts them, so a handful is enough to find `limit` of them.
        let threads = self.related_threads(
            community,
            subject,
            text,
            exclude,
            exclude_post,
            limit.saturating_mul(8).max(20),
            &RelatedMethod::PRAXIS,
        )?;
        let mut out = Vec::new();
        for t in threads {
            let Some(id) = t.consolidated_reply else {
                continue;
            };
            let (subject, published_at) = self.conn.query_one(
                "SELECT subject, COALESCE(published_at, 0) FROM consolidated_replies WHERE id = ?1",
                params![id],
                |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
            )?;
            out.push(RelatedReply {
                id,
                thread: t.thread_id,
                subject,
                published_at,
            });
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// Whether `post` starts a thread: it has no parent and is its
    /// thread's root (or is in no thread yet). Only such a post is asked
    /// whether an earlier thread answers it: a reply belongs where it is.
    pub fn starts_thread(&self, post: PostId) -> Result<bool> {
        let row = self
            .conn
            .query_opt(
                "SELECT p.parent_id IS NULL, p.thread_id, t.root_post_id
                 FROM posts p LEFT JOIN threads t ON t.id = p.thread_id WHERE p.id = ?1",
                params![post.0],
                |r| {
                    Ok((
                        r.get::<bool>(0)?,
                        r.get::<Option<i64>>(1)?,
                        r.get::<Option<i64>>(2)?,
                    ))
                },
            )?
            .ok_or_else(|| super::posts::no_post(post))?;
        Ok(match row {
            (false, _, _) => false,
            (true, None, _) => true,
            (true, Some(_), root) => root.is_none_or(|r| r == post.0),
        })
    }

    /// Every distinct word of the subject and the post's own text, OR'd.
    fn all_words_query(&self, subject: &str, text: &str) -> String {
        let words: Vec<String> = candidates(subject, text)
            .into_iter()
            .map(|(w, _, _)| w)
            .collect();
        any_of(self.dialect(), words.iter().map(String::as_str))
    }

    /// The `method.terms` most informative words, OR'd (see the module's
    /// doc for the weights), within [`POSTINGS_BUDGET`].
    fn informative_query(
        &self,
        subject: &str,
        text: &str,
        method: &RelatedMethod,
    ) -> Result<String> {
        let words = candidates(subject, text);
        if words.is_empty() {
            return Ok(String::new());
        }
        // Posts in all: the highest id is close enough, and costs one seek.
        let n: f64 =
            self.conn
                .query_one("SELECT COALESCE(max(id), 0) FROM posts", params![], |r| {
                    r.get::<i64>(0)
                })? as f64;
        // How many posts hold a word, counted up to DF_CAP: a common word's
        // count would cost a walk of its whole posting list.
        let df = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT count(*) FROM (SELECT 1 FROM posts_fts WHERE posts_fts MATCH ?1 LIMIT ?2)"
                    .to_string()
            }
            Dialect::Postgres => format!(
                "SELECT count(*) FROM (SELECT 1 FROM posts WHERE search @@ {} LIMIT ?2) w",
                super::search::tsquery("?1")
            ),
        };
        let mut weighed: Vec<(f64, i64, &str)> = Vec::with_capacity(LOOKUPS);
        for (w, tf, in_subject) in likely_rare(&words) {
            let d =
                self.conn
                    .query_one(&df, params![any_of(self.dialect(), [w]), DF_CAP], |r| {
                        r.get::<i64>(0)
                    })?;
            if d == 0 {
                continue;
            }
            let idf = (1.0 + (n - d as f64 + 0.5) / (d as f64 + 0.5)).ln();
            let mut weight = 0.0;
            if tf > 0 {
                weight += idf * (1.0 + f64::from(tf).ln());
            }
            if in_subject {
                weight += idf * method.subject_weight;
            }
            weighed.push((weight, d, w));
        }
        weighed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(b.2)));
        let mut chosen = Vec::new();
        let mut postings = 0;
        for (_, d, w) in &weighed {
            if chosen.len() == method.terms {
                break;
            }
            if *d < DF_CAP && postings + d <= POSTINGS_BUDGET {
                postings += d;
                chosen.push(*w);
            }
        }
        // Only common words (none under DF_CAP): nothing distinctive to look for.
        Ok(any_of(self.dialect(), chosen))
    }
}

/// Words held by this many posts or more are too common to weigh (and to
/// count further).
const DF_CAP: i64 = 1000;

/// At most this many posting-list entries are scored per query (the sum of
/// the chosen words' counts): bm25 costs about a microsecond an entry.
const POSTINGS_BUDGET: i64 = 1000;

/// At most this many of a post's words are counted in the index.
const LOOKUPS: usize = 16;

/// The [`LOOKUPS`] candidates most likely to be rare, by what the text
/// alone shows: subject words first, then longer words, words with digits
/// or mixed case-free marks (identifiers), then frequent ones.
fn likely_rare(words: &[(String, u32, bool)]) -> Vec<(&str, u32, bool)> {
    let mut v: Vec<(f64, usize, &str, u32, bool)> = words
        .iter()
        .enumerate()
        .map(|(i, (w, tf, subj))| {
            let len = w.chars().count().min(14) as f64;
            let odd = w.chars().any(|c| c.is_ascii_digit() || c == '_');
            let score = len
                + if *subj { 6.0 } else { 0.0 }
                + if odd { 3.0 } else { 0.0 }
                + f64::from(*tf).ln();
            (score, i, w.as_str(), *tf, *subj)
        })
        .collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    v.into_iter()
        .take(LOOKUPS)
        .map(|(_, _, w, tf, s)| (w, tf, s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{RelatedMethod, candidates, fold};
    use crate::model::{CommunityId, ThreadId};
    use crate::store::Store;

    #[test]
    fn own_words_only_folded_subject_flagged() {
        let c = candidates(
            "Re: [health] Boat clinics",
            "Asha wrote:\n> mobile units in floods\n\nBoat ambulances. Ambulances école\n-- \nRavi Kumar, Patna",
        );
        let words: Vec<&str> = c.iter().map(|(w, _, _)| w.as_str()).collect();
        assert_eq!(words, ["boat", "clinics", "ambulances", "ecole"]);
        assert_eq!(c[0], ("boat".into(), 1, true));
        assert_eq!(c[2], ("ambulances".into(), 2, false));
        assert_eq!(fold("ÉCOLE"), "ecole");
        assert_eq!(fold("शिविर"), "शिविर");
    }

    /// A community of four threads, one with a published Consolidated Reply.
    fn archive(store: &Store) {
        let posts = [
            // (thread, subject, text)
            (
                1,
                "Boat clinics in floods",
                "We ran boat clinics during the Kosi floods; ambulances on boats reached villages.",
            ),
            (
                1,
                "Re: Boat clinics in floods",
                "Boat ambulances need a trained midwife aboard and a cold chain.",
            ),
            (
                2,
                "Cold chain for vaccines",
                "Solar refrigerators kept the vaccine cold chain in the villages.",
            ),
            (
                3,
                "Training of ASHAs",
                "Monthly training days for the ASHAs with a manual in Hindi: स्वास्थ्य शिविर.",
            ),
            (
                4,
                "Meeting minutes",
                "The minutes of the meeting in the villages are attached.",
            ),
        ];
        let mut sql = String::from(
            "INSERT INTO communities (id, slug, name, address, created_at)
                 VALUES (1, 'health', 'Health', 'list@example.test', 0);",
        );
        for t in 1..=5 {
            sql += &format!(
                "INSERT INTO threads (id, community_id, subject, first_at, last_at)
                 VALUES ({t}, 1, '{}', 0, 0);",
                posts.iter().find(|p| p.0 == t).map_or("New", |p| p.1)
            );
        }
        for (i, (t, s, x)) in posts.iter().enumerate() {
            sql += &format!(
                "INSERT INTO posts (id, community_id, message_id, sha256, raw, size, source,
                    received_at, class, state, subject, text, thread_id)
                 VALUES ({}, 1, '{i}@x', x'00', x'00', 1, 'import', 0, 'post', 'approved',
                         '{s}', '{x}', {t});",
                i + 1
            );
        }
        let index = match store.dialect() {
            crate::store::Dialect::Sqlite => "consolidated_fts (rowid, subject, body)",
            crate::store::Dialect::Postgres => "consolidated_search (reply_id, subject, body)",
        };
        sql += &format!(
            "INSERT INTO consolidated_replies (id, community_id, thread_id, state, subject,
                                               published_at, created_at)
                 VALUES (1, 1, 2, 'published', 'Consolidated Reply: Cold chain', 1, 0);
             INSERT INTO {index}
                 VALUES (1, 'Consolidated Reply: Cold chain', 'Solar fridges and ice-lined refrigerators.');"
        );
        store.fixture(&sql);
    }

    fn related(store: &Store, subject: &str, text: &str, m: &RelatedMethod) -> Vec<i64> {
        store
            .related_threads(CommunityId(1), subject, text, Some(ThreadId(5)), None, 3, m)
            .unwrap()
            .into_iter()
            .map(|t| t.thread_id.0)
            .collect()
    }

    #[test]
    fn the_thread_that_answers_comes_first() {
        Store::each_engine(|store| the_thread_that_answers_comes_first_on(&store));
    }

    fn the_thread_that_answers_comes_first_on(store: &Store) {
        archive(store);
        for m in [RelatedMethod::PRAXIS, RelatedMethod::BASELINE] {
            assert_eq!(
                related(
                    store,
                    "Ambulance boats?",
                    "Has anyone used boat ambulances in a flood?",
                    &m
                )[0],
                1
            );
            assert_eq!(
                related(
                    store,
                    "Fridges",
                    "How do we keep vaccines cold without power? Solar?",
                    &m
                )[0],
                2
            );
            assert_eq!(related(store, "शिविर", "स्वास्थ्य शिविर", &m)[0], 3);
        }
        // Nothing in common, or only quoted words: nothing.
        assert!(related(store, "Hello", "Thanks!", &RelatedMethod::PRAXIS).is_empty());
        assert!(related(store, "Re: x", "> boat clinics\n", &RelatedMethod::PRAXIS).is_empty());
    }

    #[test]
    fn a_reply_is_marked_and_its_own_thread_left_out() {
        Store::each_engine(|store| a_reply_is_marked_and_its_own_thread_left_out_on(&store));
    }

    fn a_reply_is_marked_and_its_own_thread_left_out_on(store: &Store) {
        archive(store);
        let found = store
            .related_threads(
                CommunityId(1),
                "Cold chain",
                "Solar refrigerators for the vaccine cold chain",
                Some(ThreadId(1)),
                None,
                5,
                &RelatedMethod::PRAXIS,
            )
            .unwrap();
        assert_eq!(found[0].thread_id, ThreadId(2));
        assert_eq!(found[0].consolidated_reply, Some(1));
        assert_eq!(found[0].link, "/c/health/t/2");
        assert!(found.iter().all(|t| t.thread_id != ThreadId(1)));
        assert!(found.windows(2).all(|w| w[0].score >= w[1].score));
        // Another community sees none of it.
        assert!(
            store
                .related_threads(
                    CommunityId(2),
                    "Cold chain",
                    "vaccine",
                    None,
                    None,
                    5,
                    &RelatedMethod::PRAXIS
                )
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn related_replies_are_those_threads_with_a_published_reply() {
        Store::each_engine(|store| {
            related_replies_are_those_threads_with_a_published_reply_on(&store)
        });
    }

    fn related_replies_are_those_threads_with_a_published_reply_on(store: &Store) {
        archive(store);
        let found = store
            .related_replies(
                CommunityId(1),
                "Vaccines in the villages",
                "Solar refrigerators for the cold chain? Boat clinics carried them.",
                Some(ThreadId(5)),
                None,
                5,
            )
            .unwrap();
        // Thread 1 (boat clinics) matches too, but has no reply.
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].id, found[0].thread), (1, ThreadId(2)));
        assert_eq!(found[0].subject, "Consolidated Reply: Cold chain");
        assert_eq!(found[0].published_at, 1);
        // Its own thread is left out.
        assert!(
            store
                .related_replies(
                    CommunityId(1),
                    "Cold chain",
                    "solar refrigerators",
                    Some(ThreadId(2)),
                    None,
                    5
                )
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn only_a_post_without_a_parent_that_roots_its_thread_starts_one() {
        Store::each_engine(|store| {
            only_a_post_without_a_parent_that_roots_its_thread_starts_one_on(&store)
        });
    }

    fn only_a_post_without_a_parent_that_roots_its_thread_starts_one_on(store: &Store) {
        archive(store);
        store.fixture(
            "UPDATE threads SET root_post_id = 1 WHERE id = 1;
             UPDATE posts SET parent_id = 1 WHERE id = 2;
             UPDATE posts SET thread_id = NULL WHERE id = 5;",
        );
        let starts = |p| store.starts_thread(crate::model::PostId(p)).unwrap();
        assert!(starts(1), "the root");
        assert!(!starts(2), "a reply");
        assert!(starts(3), "thread 2 has no root recorded: its first post");
        assert!(starts(5), "in no thread yet");
        assert!(store.starts_thread(crate::model::PostId(99)).is_err());
    }

    #[test]
    fn a_post_finds_others_not_itself() {
        Store::each_engine(|store| {
            archive(&store);
            let found = store.related_to_post(crate::model::PostId(3), 5).unwrap();
            assert!(!found.is_empty());
            assert!(
                found.iter().all(|t| t.thread_id != ThreadId(2)),
                "{found:?}"
            );
            assert!(store.related_to_post(crate::model::PostId(99), 5).is_err());
        });
    }
}
