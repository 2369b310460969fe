//! Search snippets: where a hit's text matched the query, cut to a dozen
//! words around the first match ([`Highlighter`]), and the marked snippet
//! split into [`SnippetPart`]s (escaped and wrapped in `<mark>` by the web)
//! and the CLI's `[word]` string ([`snippet_of`]).

use crate::search_query::{Term, WORD};

/// Finds the query's words in a text and cuts the snippet around the first,
/// as FTS5's `snippet()` would, without tokenizing the whole text: one
/// case-insensitive regex search finds candidates, word boundaries are
/// checked only there. linux-man posts run to 260 kB; FTS5 tokenized every
/// hit's whole text for its snippet, 8 ms a page of 17 hits.
///
/// The regex is built for each search, so it skips the fully compiled DFA
/// (building one took a sixth of a search page's time) and runs on the
/// lazy one.
///
/// It matches words as written (any case); FTS5 also folds diacritics
/// (`remove_diacritics 2`), so when the text holds no match the caller asks
/// FTS5 for that hit's snippet instead.
#[derive(Debug, Clone)]
pub struct Highlighter {
    /// Every term's words as one pattern each (any case), boundaries
    /// unchecked; the first listed wins where two match at one place.
    candidates: regex_automata::meta::Regex,
    /// Which patterns are prefixes (they run on to the word's end).
    prefixes: Vec<bool>,
}

/// How many words a snippet holds, as FTS5's `snippet(..., 12)`.
const SNIPPET_WORDS: usize = 12;
/// How many of them come before the first match.
const WORDS_BEFORE: usize = 4;

fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        // The same answer as [`WORD`]'s for ASCII, without a regex search.
        return c.is_ascii_alphanumeric();
    }
    let mut buf = [0u8; 4];
    WORD.is_match(c.encode_utf8(&mut buf))
}

/// The byte ranges of `text`'s words, as [`WORD`] finds them (a character
/// test per character: most are ASCII and need no regex).
fn word_spans(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        let start = loop {
            let (i, c) = chars.next()?;
            if is_word_char(c) {
                break i;
            }
        };
        let mut end = text.len();
        while let Some(&(i, c)) = chars.peek() {
            if !is_word_char(c) {
                end = i;
                break;
            }
            chars.next();
        }
        Some((start, end))
    })
}

impl Highlighter {
    /// The highlighter for `terms` (the query's text terms), `Ok(None)`
    /// when there are none; an error when the regex cannot be built (a
    /// query past its size limit), and then FTS5 cuts the snippets.
    pub fn new(
        terms: &[Term],
    ) -> Result<Option<Highlighter>, Box<regex_automata::meta::BuildError>> {
        let mut alts = Vec::new();
        let mut prefixes = Vec::new();
        for t in terms {
            let (alt, prefix) = match t {
                Term::Word(w) => (regex::escape(w), false),
                Term::Prefix(w) => (regex::escape(w), true),
                Term::Phrase(ws) => (
                    ws.iter()
                        .map(|w| regex::escape(w))
                        .collect::<Vec<_>>()
                        .join(r"[^\p{L}\p{N}\p{Co}\p{Mn}\p{Mc}]+"),
                    false,
                ),
            };
            if !alt.is_empty() {
                alts.push(alt);
                prefixes.push(prefix);
            }
        }
        if alts.is_empty() {
            return Ok(None);
        }
        // ASCII words need only ASCII case folding, which compiles several
        // times faster than Unicode's; a text whose match only Unicode's
        // folding finds (the Kelvin sign for `k`) gets FTS5's snippet.
        let unicode = terms.iter().any(|t| match t {
            Term::Word(w) | Term::Prefix(w) => !w.is_ascii(),
            Term::Phrase(ws) => ws.len() > 1 || ws.iter().any(|w| !w.is_ascii()),
        });
        let candidates = regex_automata::meta::Regex::builder()
            .configure(
                regex_automata::meta::Regex::config()
                    .dfa(false)
                    .onepass(false)
                    .backtrack(false),
            )
            .syntax(
                regex_automata::util::syntax::Config::new()
                    .case_insensitive(true)
                    .unicode(unicode),
            )
            .build_many(&alts)
            .map_err(Box::new)?;
        Ok(Some(Highlighter {
            candidates,
            prefixes,
        }))
    }

    /// The byte ranges of matched words (a phrase as one range) in `text`,
    /// in order, each starting and ending on a word boundary; at most `max`.
    pub(crate) fn matches(&self, text: &str, max: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut at = 0;
        while out.len() < max {
            let Some(found) = self
                .candidates
                .find(regex_automata::Input::new(text).range(at..))
            else {
                break;
            };
            let (start, mut end) = (found.start(), found.end());
            let prefix = self.prefixes[found.pattern().as_usize()];
            if prefix {
                end += text[end..]
                    .find(|c: char| !is_word_char(c))
                    .unwrap_or(text.len() - end);
            }
            let before_ok = !text[..start].chars().next_back().is_some_and(is_word_char);
            let after_ok = !text[end..].chars().next().is_some_and(is_word_char);
            if before_ok && after_ok {
                out.push((start, end));
                at = end;
            } else {
                // Try again one character on.
                at = start + text[start..].chars().next().map_or(1, char::len_utf8);
            }
            if at >= text.len() {
                break;
            }
        }
        out
    }

    /// Whether `text` holds a match.
    pub fn is_match(&self, text: &str) -> bool {
        !self.matches(text, 1).is_empty()
    }

    /// The snippet of `text` around its first match, matched words between
    /// [`OPEN`] and [`CLOSE`] and " … " where text was cut, as FTS5 writes
    /// it; `None` when the text holds no match.
    pub fn snippet(&self, text: &str) -> Option<String> {
        let first = *self.matches(text, 1).first()?;
        // The words around the match: a bounded stretch is enough for twelve.
        let mut lo = first.0.saturating_sub(400);
        while !text.is_char_boundary(lo) {
            lo -= 1;
        }
        let mut hi = (first.1 + 800).min(text.len());
        while !text.is_char_boundary(hi) {
            hi += 1;
        }
        let region = &text[lo..hi];
        let spans: Vec<(usize, usize)> =
            word_spans(region).map(|(a, b)| (lo + a, lo + b)).collect();
        let at = spans.iter().position(|s| s.1 > first.0).unwrap_or(0);
        let from = at.saturating_sub(WORDS_BEFORE);
        let to = (from + SNIPPET_WORDS).min(spans.len());
        let (start, end) = match (spans.get(from), spans.get(to.saturating_sub(1))) {
            (Some(a), Some(b)) => (a.0.min(first.0), b.1.max(first.1)),
            _ => first,
        };
        let mut out = String::new();
        if text[..start].chars().any(is_word_char) {
            out.push_str("… ");
        }
        let mut pos = start;
        for (a, b) in self.matches(&text[start..end], usize::MAX) {
            out.push_str(&text[pos..start + a]);
            out.push(OPEN);
            out.push_str(&text[start + a..start + b]);
            out.push(CLOSE);
            pos = start + b;
        }
        out.push_str(&text[pos..end]);
        if text[end..].chars().any(is_word_char) {
            out.push_str(" …");
        }
        Some(out)
    }
}

/// One stretch of a snippet: member text, never markup. The web escapes
/// `text` and wraps it in `<mark>` when `matched`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SnippetPart {
    /// The text as written by the member (to be escaped wherever shown).
    pub text: String,
    /// Whether this stretch is a word the query matched.
    pub matched: bool,
}

/// The marker FTS5 puts before a matched word: a control character, which
/// member text hardly ever holds; a stray one could only misplace a
/// highlight, since the web escapes every part.
pub const OPEN: char = '\u{2}';
/// The marker FTS5 puts after a matched word.
pub const CLOSE: char = '\u{3}';

/// A snippet marked with [`OPEN`]/[`CLOSE`], whitespace folded, as the
/// CLI's `[ ]` string and as parts.
fn split_snippet(marked: &str) -> (String, Vec<SnippetPart>) {
    let folded = marked.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut parts: Vec<SnippetPart> = Vec::new();
    let mut matched = false;
    let mut text = String::new();
    for c in folded.chars() {
        if c == OPEN || c == CLOSE {
            if !text.is_empty() {
                parts.push(SnippetPart {
                    text: std::mem::take(&mut text),
                    matched,
                });
            }
            matched = c == OPEN;
        } else {
            text.push(c);
        }
    }
    if !text.is_empty() {
        parts.push(SnippetPart { text, matched });
    }
    let plain = parts
        .iter()
        .map(|p| {
            if p.matched {
                format!("[{}]", p.text)
            } else {
                p.text.clone()
            }
        })
        .collect();
    (plain, parts)
}

/// The opening words of a text, for a hit found by filters only.
fn opening(text: &str) -> String {
    let ws: Vec<&str> = text.split_whitespace().take(25).collect();
    let more = text.split_whitespace().nth(25).is_some();
    format!("{}{}", ws.join(" "), if more { " …" } else { "" })
}

/// A hit's snippet as the CLI's `[ ]` string and as parts: FTS5's, marked
/// with [`OPEN`]/[`CLOSE`], or, for a hit found by filters only, the
/// opening words of its text (nothing marked).
pub fn snippet_of(text: &str, filter_only: bool) -> (String, Vec<SnippetPart>) {
    if filter_only {
        let clean: String = opening(text)
            .chars()
            .filter(|&c| c != OPEN && c != CLOSE)
            .collect();
        split_snippet(&clean)
    } else {
        split_snippet(text)
    }
}

#[cfg(test)]
mod tests {
    use super::{SnippetPart, split_snippet, word_spans};
    use crate::search_query::WORD;

    #[test]
    fn word_spans_are_the_word_patterns() {
        for text in [
            "",
            "  ",
            "plain words, and punctuation!",
            "fluoride-free (उच्च फ़्लोराइड) pumps—done 42x",
            "end",
            "café_au_lait ok",
        ] {
            let want: Vec<(usize, usize)> =
                WORD.find_iter(text).map(|m| (m.start(), m.end())).collect();
            assert_eq!(word_spans(text).collect::<Vec<_>>(), want, "{text:?}");
        }
    }

    #[test]
    fn snippets_split_into_plain_and_matched_text() {
        let (plain, parts) = split_snippet("too  much \u{2}fluoride\u{3} in <b>the\n pumps");
        assert_eq!(plain, "too much [fluoride] in <b>the pumps");
        assert_eq!(
            parts,
            [
                SnippetPart {
                    text: "too much ".into(),
                    matched: false
                },
                SnippetPart {
                    text: "fluoride".into(),
                    matched: true
                },
                SnippetPart {
                    text: " in <b>the pumps".into(),
                    matched: false
                },
            ]
        );
        let (plain, parts) = split_snippet("\u{2}शिविर\u{3}");
        assert_eq!(plain, "[शिविर]");
        assert_eq!(parts.len(), 1);
    }
}
