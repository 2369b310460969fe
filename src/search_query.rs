//! The search grammar shared by `praxis search` and the web's
//! `/c/SLUG/search?q=`: what a person typed, parsed into a typed
//! [`SearchQuery`] (words, "phrases", `prefix*`, `from:`, `subject:`,
//! `kind:reply|post`, `after:`/`before:` dates) whose full-text part reaches
//! FTS5 only as quoted words, never as syntax.
//!
//! Grammar (whitespace separates terms; operator names are case-insensitive):
//!
//! | typed | means |
//! |---|---|
//! | `word` | the word occurs (subject or text) |
//! | `"two words"` | the words occur together, in this order |
//! | `fluor*` | a word beginning `fluor` occurs |
//! | `from:asha`, `from:"Asha Rao"` | the sender's name or address contains it (any case); several `from:` match any of them |
//! | `subject:flood`, `subject:"boat clinics"`, `subject:fluor*` | the subject holds it |
//! | `kind:reply`, `kind:post` | only Consolidated Replies, only posts |
//! | `after:2026-11-01` | dated on or after that day (from its midnight) |
//! | `before:2026-12-01` | dated before that day (up to its midnight) |
//!
//! Any other `name:value` is just words. Dates are days in the community's
//! time zone ([`SearchQuery::range`] takes the zone).
//!
//! Snippets (where a hit matched) are [`crate::snippet`]'s.

use chrono::{NaiveDate, TimeZone};

/// A word as the FTS tables index it (`tokenize = "unicode61 ... categories
/// 'L* N* Co Mn Mc'"`, migration 0012): letters, digits, private use and
/// the combining marks that sit inside words in Indic scripts (vowel signs,
/// viramas, nuktas), so "फ़िल्म" is one word, not three fragments.
pub(crate) static WORD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"[\p{L}\p{N}\p{Co}\p{Mn}\p{Mc}]+").expect("the word pattern compiles")
});

/// The words of `text`, split where the FTS tokenizer splits.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    WORD.find_iter(text).map(|m| m.as_str())
}

/// One full-text term: what must occur.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A whole word.
    Word(String),
    /// A word beginning with this (`fluor*`).
    Prefix(String),
    /// Words next to each other in this order (`"boat clinics"`).
    Phrase(Vec<String>),
}

impl Term {
    /// The term as FTS5 reads it: every word in double quotes (words hold
    /// no quote, [`words`] sees to it), so nothing typed is FTS5 syntax.
    fn fts(&self) -> String {
        match self {
            Term::Word(w) => format!("\"{w}\""),
            Term::Prefix(w) => format!("\"{w}\"*"),
            Term::Phrase(ws) => format!("\"{}\"", ws.join(" ")),
        }
    }

    /// The term as PostgreSQL's `to_tsquery` reads it: every word a quoted
    /// lexeme (quotes and backslashes escaped), a phrase its words joined by
    /// `<->`; `weight` (`A`) keeps it to the subject, which the search
    /// column weights A (the text is B). A phrase is kept within one of
    /// the two, as FTS5 keeps it within a column: the column's positions
    /// run on from the subject's into the text.
    fn tsquery(&self, weight: &str) -> String {
        let lexeme = |w: &str, weight: &str, prefix: bool| {
            let w = w.replace('\\', "\\\\").replace('\'', "''");
            let star = if prefix { "*" } else { "" };
            if weight.is_empty() && !prefix {
                format!("'{w}'")
            } else {
                format!("'{w}':{star}{weight}")
            }
        };
        let phrase = |ws: &[String], weight: &str| {
            ws.iter()
                .map(|w| lexeme(w, weight, false))
                .collect::<Vec<_>>()
                .join(" <-> ")
        };
        match self {
            Term::Word(w) => lexeme(w, weight, false),
            Term::Prefix(w) => lexeme(w, weight, true),
            Term::Phrase(ws) if weight.is_empty() => {
                format!("(({}) | ({}))", phrase(ws, "A"), phrase(ws, "B"))
            }
            Term::Phrase(ws) => format!("({})", phrase(ws, weight)),
        }
    }
}

/// Which kind of archive entry a search returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindFilter {
    /// Only published Consolidated Replies (`kind:reply`).
    Reply,
    /// Only approved posts (`kind:post`).
    Post,
}

/// What a person asked for, parsed: the full-text terms and the filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Words, phrases and prefixes that must all occur (subject or text).
    pub terms: Vec<Term>,
    /// Terms that must all occur in the subject (`subject:`).
    pub subject: Vec<Term>,
    /// Any of these must be a substring of the sender's name or address
    /// (`from:`); compared case-insensitively by the store.
    pub from: Vec<String>,
    /// Only replies or only posts; `None` both (replies first).
    pub kind: Option<KindFilter>,
    /// Dated on or after this day (in the community's zone).
    pub after: Option<NaiveDate>,
    /// Dated before this day (in the community's zone).
    pub before: Option<NaiveDate>,
}

/// Why a query cannot be run, naming what was typed and how to write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// `after:` or `before:` with something that is not a day.
    #[error("{op}:{value} is not a date; write {op}:YYYY-MM-DD")]
    BadDate {
        /// `after` or `before`.
        op: &'static str,
        /// What followed it.
        value: String,
    },
    /// `kind:` with something other than reply or post.
    #[error("kind:{0} is not a kind; write kind:reply or kind:post")]
    BadKind(String),
    /// `after:` on or after `before:`: nothing could match.
    #[error(
        "after:{after} before:{before} matches no day: after: includes its day, before: excludes its day; write an after: earlier than the before:"
    )]
    EmptyRange {
        /// The `after:` day.
        after: NaiveDate,
        /// The `before:` day.
        before: NaiveDate,
    },
}

/// The operators the grammar knows; any other `name:` is words.
const OPERATORS: [&str; 5] = ["from", "subject", "kind", "after", "before"];

impl SearchQuery {
    /// Parses what a person typed. Fails only on a bad `after:`/`before:`
    /// date, a bad `kind:` or an empty date range; anything else is words.
    pub fn parse(text: &str) -> Result<SearchQuery, QueryError> {
        let mut q = SearchQuery::default();
        let mut rest = text.trim_start();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('"') {
                // A phrase runs to the next quote (or the end).
                let (phrase, tail) = after.split_once('"').unwrap_or((after, ""));
                q.terms.extend(phrase_term(phrase));
                rest = tail.trim_start();
                continue;
            }
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            let (chunk, mut tail) = rest.split_at(end);
            match operator(chunk) {
                Some((op, value)) => {
                    // `op:"quoted value"`: the value runs to the next quote.
                    let value = if value.is_empty() && tail.starts_with('"') {
                        let (v, t) = tail[1..].split_once('"').unwrap_or((&tail[1..], ""));
                        tail = t;
                        (v, true)
                    } else {
                        (value, false)
                    };
                    q.apply(op, value)?;
                }
                None => q.terms.extend(chunk_terms(chunk)),
            }
            rest = tail.trim_start();
        }
        if let (Some(after), Some(before)) = (q.after, q.before)
            && after >= before
        {
            return Err(QueryError::EmptyRange { after, before });
        }
        Ok(q)
    }

    /// Records one operator and its value (`quoted` when it was in quotes).
    fn apply(&mut self, op: &str, (value, quoted): (&str, bool)) -> Result<(), QueryError> {
        match op {
            "from" => {
                let v = value.split_whitespace().collect::<Vec<_>>().join(" ");
                if !v.is_empty() {
                    self.from.push(v);
                }
            }
            "subject" if quoted => self.subject.extend(phrase_term(value)),
            "subject" => self.subject.extend(chunk_terms(value)),
            "kind" => {
                self.kind = Some(match value.to_ascii_lowercase().as_str() {
                    "reply" | "replies" | "consolidated" | "consolidated_reply" => {
                        KindFilter::Reply
                    }
                    "post" | "posts" => KindFilter::Post,
                    _ => return Err(QueryError::BadKind(value.to_string())),
                })
            }
            "after" | "before" => {
                let op = if op == "after" { "after" } else { "before" };
                let day = NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
                    QueryError::BadDate {
                        op,
                        value: value.to_string(),
                    }
                })?;
                if op == "after" {
                    self.after = Some(day);
                } else {
                    self.before = Some(day);
                }
            }
            _ => unreachable!("operator() returns only OPERATORS"),
        }
        Ok(())
    }

    /// Nothing asked: no terms and no filters (an empty search box).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty() && !self.has_filters()
    }

    /// Whether any filter (`from:`, `subject:`, `kind:`, dates) was given.
    pub fn has_filters(&self) -> bool {
        !self.subject.is_empty()
            || !self.from.is_empty()
            || self.kind.is_some()
            || self.after.is_some()
            || self.before.is_some()
    }

    /// The FTS5 query for the terms and the `subject:` terms (as column
    /// filters), every word quoted; `None` when neither was given (a
    /// filter-only query lists entries newest first instead of ranking).
    pub fn fts(&self) -> Option<String> {
        let parts: Vec<String> = self
            .terms
            .iter()
            .map(Term::fts)
            .chain(
                self.subject
                    .iter()
                    .map(|t| format!("subject : {}", t.fts())),
            )
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// The same as [`SearchQuery::fts`], for PostgreSQL's `to_tsquery`:
    /// every term must occur (`&`), `subject:` terms in the subject.
    pub fn tsquery(&self) -> Option<String> {
        let parts: Vec<String> = self
            .terms
            .iter()
            .map(|t| t.tsquery(""))
            .chain(self.subject.iter().map(|t| t.tsquery("A")))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" & "))
    }

    /// The `after:`/`before:` days as Unix seconds in `zone`: from the
    /// midnight that starts `after` (inclusive) to the midnight that starts
    /// `before` (exclusive).
    pub fn range<Z: TimeZone>(&self, zone: &Z) -> (Option<i64>, Option<i64>) {
        (
            self.after.map(|d| midnight(d, zone)),
            self.before.map(|d| midnight(d, zone)),
        )
    }
}

/// The first instant of `day` in `zone` (a day that starts in a DST gap
/// starts at its first existing instant).
fn midnight<Z: TimeZone>(day: NaiveDate, zone: &Z) -> i64 {
    let mut t = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    for _ in 0..48 {
        if let Some(at) = zone.from_local_datetime(&t).earliest() {
            return at.timestamp();
        }
        t += chrono::Duration::minutes(30);
    }
    day.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp()
}

/// `name:value` when `name` is a known operator (any case); the value may
/// be empty (then a quoted value may follow).
fn operator(chunk: &str) -> Option<(&'static str, &str)> {
    let (name, value) = chunk.split_once(':')?;
    let op = OPERATORS
        .into_iter()
        .find(|o| o.eq_ignore_ascii_case(name))?;
    // `from:` alone, with nothing after it and no quote, is a word.
    Some((op, value))
}

/// A quoted phrase: one phrase term (or none when it holds no word; a
/// phrase of one word is that word).
fn phrase_term(phrase: &str) -> Option<Term> {
    let ws: Vec<String> = words(phrase).map(str::to_string).collect();
    match ws.len() {
        0 => None,
        1 => ws.into_iter().next().map(Term::Word),
        _ => Some(Term::Phrase(ws)),
    }
}

/// An unquoted chunk: its words, the last a prefix when the chunk ends in
/// `*` right after a word (`fluor*`, `a-b*`); any other punctuation (FTS5
/// operators, column filters, parentheses) only separates words.
fn chunk_terms(chunk: &str) -> Vec<Term> {
    let ws: Vec<&str> = words(chunk).collect();
    let stem = chunk.trim_end_matches('*');
    let prefix = stem.len() < chunk.len()
        && stem
            .chars()
            .next_back()
            .is_some_and(|c| WORD.is_match(c.encode_utf8(&mut [0; 4])));
    ws.iter()
        .enumerate()
        .map(|(i, w)| {
            if prefix && i + 1 == ws.len() {
                Term::Prefix(w.to_string())
            } else {
                Term::Word(w.to_string())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{KindFilter, QueryError, SearchQuery, Term, words};
    use chrono::NaiveDate;

    fn fts(text: &str) -> String {
        SearchQuery::parse(text).unwrap().fts().unwrap_or_default()
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn words_phrases_and_prefixes_are_quoted_terms() {
        assert_eq!(fts("mobile clinics"), "\"mobile\" \"clinics\"");
        assert_eq!(fts("fluor*"), "\"fluor\"*");
        assert_eq!(fts("fluor** water"), "\"fluor\"* \"water\"");
        assert_eq!(fts("a-b*"), "\"a\" \"b\"*");
        assert_eq!(fts("*fluor"), "\"fluor\"");
        assert_eq!(fts("\"boat clinics\" flood"), "\"boat clinics\" \"flood\"");
        assert_eq!(fts("\"flood\""), "\"flood\"");
        assert_eq!(
            SearchQuery::parse("\"boat clinics\" fluor*").unwrap().terms,
            [
                Term::Phrase(vec!["boat".into(), "clinics".into()]),
                Term::Prefix("fluor".into())
            ]
        );
    }

    #[test]
    fn nothing_typed_is_an_empty_query() {
        for text in ["", "   ", "* ** \"\"", "from:", "subject:\"\""] {
            let q = SearchQuery::parse(text).unwrap();
            assert_eq!(q.fts(), None, "{text:?}");
            assert!(q.from.is_empty(), "{text:?}");
        }
        assert!(SearchQuery::parse("  ").unwrap().is_empty());
        assert!(!SearchQuery::parse("from:asha").unwrap().is_empty());
    }

    #[test]
    fn input_never_reaches_fts5_as_syntax() {
        assert_eq!(fts("a\" OR x:*"), "\"a\" \"OR x\"");
        assert_eq!(
            fts("x:* NEAR(a b) -c ^d"),
            "\"x\" \"NEAR\" \"a\" \"b\" \"c\" \"d\""
        );
        // The brief's example: a subject filter, then FTS5 operators and a
        // column filter, all as words.
        let q = SearchQuery::parse("subject:\"a\" OR x:*").unwrap();
        assert_eq!(q.subject, [Term::Word("a".into())]);
        assert_eq!(q.fts().unwrap(), "\"OR\" \"x\" subject : \"a\"");
        assert_eq!(
            fts("subject:\"a\" OR text:b) {subject body}:c"),
            "\"OR\" \"text\" \"b\" \"subject\" \"body\" \"c\" subject : \"a\""
        );
        // A quote inside a subject value cannot close the generated quotes.
        assert_eq!(fts("subject:a\"b"), "\"b\" subject : \"a\"");
        assert_eq!(fts("subject:*"), "");
    }

    #[test]
    fn hindi_and_other_indic_words_stay_whole() {
        assert_eq!(
            words("यह फ़िल्म, नहीं").collect::<Vec<_>>(),
            ["यह", "फ़िल्म", "नहीं"]
        );
        assert_eq!(
            words("மருத்துவ முகாம்").collect::<Vec<_>>(),
            ["மருத்துவ", "முகாம்"]
        );
        assert_eq!(words("স্বাস্থ্য শিবির").collect::<Vec<_>>(), ["স্বাস্থ্য", "শিবির"]);
        assert_eq!(fts("फ़िल्म"), "\"फ़िल्म\"");
        assert_eq!(fts("स्वास्थ*"), "\"स्वास्थ\"*");
        assert_eq!(
            fts("subject:\"स्वास्थ्य शिविर\" from:आशा"),
            "subject : \"स्वास्थ्य शिविर\""
        );
        assert_eq!(SearchQuery::parse("from:आशा").unwrap().from, ["आशा"]);
    }

    #[test]
    fn from_takes_a_word_or_quoted_name_and_repeats_as_any_of() {
        let q = SearchQuery::parse("from:asha flood").unwrap();
        assert_eq!(q.from, ["asha"]);
        assert_eq!(q.terms, [Term::Word("flood".into())]);
        let q = SearchQuery::parse("from:\"Asha  Rao\" FROM:ravi@example.org").unwrap();
        assert_eq!(q.from, ["Asha Rao", "ravi@example.org"]);
        assert_eq!(q.fts(), None);
        // An unclosed quote runs to the end.
        assert_eq!(
            SearchQuery::parse("from:\"Asha Rao").unwrap().from,
            ["Asha Rao"]
        );
    }

    #[test]
    fn subject_terms_are_column_filters() {
        let q =
            SearchQuery::parse("subject:flood subject:\"boat clinics\" subject:fluor*").unwrap();
        assert_eq!(
            q.fts().unwrap(),
            "subject : \"flood\" subject : \"boat clinics\" subject : \"fluor\"*"
        );
        assert!(q.terms.is_empty());
        assert_eq!(
            fts("subject:a-b water"),
            "\"water\" subject : \"a\" subject : \"b\""
        );
    }

    #[test]
    fn kind_is_reply_or_post_and_nothing_else() {
        let kind = |t: &str| SearchQuery::parse(t).map(|q| q.kind);
        assert_eq!(kind("kind:reply"), Ok(Some(KindFilter::Reply)));
        assert_eq!(kind("kind:Replies"), Ok(Some(KindFilter::Reply)));
        assert_eq!(kind("kind:consolidated_reply"), Ok(Some(KindFilter::Reply)));
        assert_eq!(kind("KIND:post"), Ok(Some(KindFilter::Post)));
        assert_eq!(kind("flood"), Ok(None));
        let e = SearchQuery::parse("kind:thread").unwrap_err();
        assert_eq!(e, QueryError::BadKind("thread".into()));
        assert_eq!(
            e.to_string(),
            "kind:thread is not a kind; write kind:reply or kind:post"
        );
    }

    #[test]
    fn dates_are_days_and_a_bad_one_says_how_to_write_it() {
        let q = SearchQuery::parse("after:2026-11-01 before:2026-12-01 flood").unwrap();
        assert_eq!(q.after, Some(day("2026-11-01")));
        assert_eq!(q.before, Some(day("2026-12-01")));
        assert_eq!(q.fts().unwrap(), "\"flood\"");
        for (text, msg) in [
            (
                "after:2025-13-01",
                "after:2025-13-01 is not a date; write after:YYYY-MM-DD",
            ),
            (
                "before:yesterday",
                "before:yesterday is not a date; write before:YYYY-MM-DD",
            ),
            (
                "before:2026-02-30",
                "before:2026-02-30 is not a date; write before:YYYY-MM-DD",
            ),
            (
                "after:\"1 Nov 2026\"",
                "after:1 Nov 2026 is not a date; write after:YYYY-MM-DD",
            ),
            ("after:", "after: is not a date; write after:YYYY-MM-DD"),
        ] {
            assert_eq!(
                SearchQuery::parse(text).unwrap_err().to_string(),
                msg,
                "{text}"
            );
        }
        let e = SearchQuery::parse("after:2026-12-01 before:2026-12-01").unwrap_err();
        assert!(matches!(e, QueryError::EmptyRange { .. }), "{e}");
        assert!(e.to_string().contains("after:2026-12-01 before:2026-12-01"));
    }

    #[test]
    fn unknown_prefixes_are_words() {
        let q = SearchQuery::parse("to:asha http://example.org/x").unwrap();
        assert_eq!(
            q.fts().unwrap(),
            "\"to\" \"asha\" \"http\" \"example\" \"org\" \"x\""
        );
        assert!(!q.has_filters());
    }

    #[test]
    fn date_ranges_start_at_midnight_in_the_zone() {
        let q = SearchQuery::parse("after:2026-11-02 before:2026-11-03").unwrap();
        // Midnight in Kolkata is 18:30 UTC the day before.
        let (a, b) = q.range(&chrono_tz::Asia::Kolkata);
        assert_eq!(a, Some(1_793_557_800));
        assert_eq!(b, Some(1_793_557_800 + 86_400));
        let (a, _) = q.range(&chrono::Utc);
        assert_eq!(a, Some(1_793_577_600));
        // A day that starts in a DST gap (Santiago skips midnight in September).
        let q = SearchQuery::parse("after:2026-09-06").unwrap();
        let (a, _) = q.range(&chrono_tz::America::Santiago);
        assert!(a.is_some());
    }

    /// PostgreSQL's form of the same query: quoted lexemes, `&` between
    /// terms, phrases within the subject or within the text, `subject:`
    /// kept to the subject's weight.
    #[test]
    fn the_postgres_query_says_what_the_fts5_one_says() {
        let ts = |t: &str| SearchQuery::parse(t).unwrap().tsquery().unwrap_or_default();
        assert_eq!(ts("boat clinic*"), "'boat' & 'clinic':*");
        assert_eq!(
            ts("\"boat clinics\""),
            "(('boat':A <-> 'clinics':A) | ('boat':B <-> 'clinics':B))"
        );
        assert_eq!(ts("subject:flood subject:fluor*"), "'flood':A & 'fluor':*A");
        assert_eq!(ts("subject:\"boat clinics\""), "('boat':A <-> 'clinics':A)");
        assert_eq!(ts("from:asha kind:post"), "");
        // Operators typed are words, as for FTS5.
        assert_eq!(ts("a & b | !c"), "'a' & 'b' & 'c'");
    }
}
