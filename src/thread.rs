//! Threading: JWZ / RFC 5256 REFERENCES first, base-subject fallback. Pure:
//! the store looks up which threads a message's ids already belong to and
//! asks [`place`] what to do; nothing here does I/O.
//!
//! Rules:
//! - A message joins the thread of any id it shares: its own Message-ID (a
//!   reply may have arrived first), each of its References, its In-Reply-To.
//!   Ids of messages never received are remembered too, so two replies to a
//!   missing parent still meet (missing parents do not break chains).
//! - When those ids point at several threads, the threads are merged into the
//!   oldest: one conversation, however its pieces arrived.
//! - Only a message with no references at all may join by subject, and only
//!   when its subject is a reply ("Re: …") whose base subject equals a
//!   thread's exactly and that thread was active within the window. Never on
//!   subject alone across the window.
//! - A reply to a digest (its subject says so, or its References name one of
//!   praxis's own digest Message-IDs, which the store records per issue) is
//!   placed by the text it quotes, else by subject among that issue's
//!   threads, else flagged for a moderator; a digest's id is never a thread
//!   key, so replies to one issue do not meet in one thread.
//! - A moderator can split a thread at a post (`praxis mark --post`): that
//!   post and its replies become a thread of their own, and a message whose
//!   References pass through a split post ignores the ids before it
//!   ([`after_split`]), so the next reply does not merge the two again.

use crate::model::ThreadId;

/// Default for how recent a thread must be to be joined by subject.
pub const DEFAULT_SUBJECT_WINDOW_DAYS: i64 = 30;

/// What to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Put it in this thread.
    Join(ThreadId),
    /// Put it in `keep` and move every post of `absorb` there too.
    Merge {
        /// The oldest thread, which survives.
        keep: ThreadId,
        /// The others, emptied into `keep`.
        absorb: Vec<ThreadId>,
    },
    /// Start a thread.
    New,
}

/// The ids by which a message connects to others: its own first, then
/// References oldest first, then In-Reply-To.
pub fn thread_keys<'a>(
    message_id: &'a str,
    references: &'a [String],
    in_reply_to: Option<&'a str>,
) -> Vec<&'a str> {
    let mut keys = vec![message_id];
    for r in references {
        if !keys.contains(&r.as_str()) {
            keys.push(r);
        }
    }
    if let Some(irt) = in_reply_to
        && !keys.contains(&irt)
    {
        keys.push(irt);
    }
    keys
}

/// `keys` (from [`thread_keys`]) without the ancestry before the last split
/// post among them: the message's own id, then the split post's id and
/// what follows it. Unchanged when no key is a split point.
pub fn after_split(keys: Vec<&str>, is_split: impl Fn(&str) -> bool) -> Vec<&str> {
    match keys.iter().skip(1).rposition(|k| is_split(k)) {
        Some(i) if i > 0 => {
            let mut kept = vec![keys[0]];
            kept.extend_from_slice(&keys[i + 1..]);
            kept
        }
        _ => keys,
    }
}

/// The parent's id: the last reference, else In-Reply-To (RFC 5256).
/// `known` says whether a post with that id is stored; unknown parents are
/// skipped so the chain attaches to the nearest ancestor that exists.
pub fn parent_id<'a>(
    references: &'a [String],
    in_reply_to: Option<&'a str>,
    known: impl Fn(&str) -> bool,
) -> Option<&'a str> {
    references
        .iter()
        .rev()
        .map(|s| s.as_str())
        .chain(in_reply_to)
        .find(|id| known(id))
}

/// Decides a message's thread. `ref_threads`: threads (oldest first) already
/// holding any of its [`thread_keys`]; `subject_thread`: a recent thread with
/// the same base subject, looked up only when [`may_join_by_subject`] allows.
pub fn place(ref_threads: &[ThreadId], subject_thread: Option<ThreadId>) -> Placement {
    let mut ts: Vec<ThreadId> = ref_threads.to_vec();
    ts.sort();
    ts.dedup();
    match ts.as_slice() {
        [] => match subject_thread {
            Some(t) => Placement::Join(t),
            None => Placement::New,
        },
        [one] => Placement::Join(*one),
        [keep, rest @ ..] => Placement::Merge {
            keep: *keep,
            absorb: rest.to_vec(),
        },
    }
}

/// Whether a message may join a thread by subject: it has no references and
/// its subject says it is a reply or a forward.
pub fn may_join_by_subject(
    references: &[String],
    in_reply_to: Option<&str>,
    subject: &str,
) -> bool {
    references.is_empty() && in_reply_to.is_none() && is_reply_subject(subject)
}

/// Prefixes that mark a reply or forward, in several languages.
const REPLY_PREFIXES: &[&str] = &[
    "re", "fwd", "fw", "aw", "sv", "vs", "wg", "antw", "odp", "rif", "tr", "ynt", "res", "enc",
];

/// Whether the subject starts (after any `[list]` tags) with a reply or
/// forward prefix.
pub fn is_reply_subject(subject: &str) -> bool {
    let s = strip_tags(subject.trim());
    strip_one_prefix(s).is_some()
}

fn strip_tags(mut s: &str) -> &str {
    loop {
        let t = s.trim_start();
        if let Some(rest) = t.strip_prefix('[')
            && let Some(end) = rest.find(']')
        {
            s = &rest[end + 1..];
            continue;
        }
        return t;
    }
}

/// Removes one "Re:", "Re[2]:", "Fwd:", "AW:" ... prefix.
fn strip_one_prefix(s: &str) -> Option<&str> {
    let word_end = s.find(|c: char| !c.is_alphabetic())?;
    let word = s[..word_end].to_lowercase();
    if !REPLY_PREFIXES.contains(&word.as_str()) {
        return None;
    }
    let mut rest = &s[word_end..];
    // Re[2]: or Re(2):
    if let Some(r) = rest.strip_prefix('[').or_else(|| rest.strip_prefix('('))
        && let Some(end) = r.find([']', ')'])
        && r[..end].chars().all(|c| c.is_ascii_digit())
    {
        rest = &r[end + 1..];
    }
    let rest = rest.trim_start();
    rest.strip_prefix(':').or_else(|| rest.strip_prefix('：'))
}

/// The subject without reply/forward prefixes, `[list]` tags and "(fwd)"
/// trailers, case kept (RFC 5256 §2.1, plus other languages' prefixes).
pub fn strip_prefixes(subject: &str) -> &str {
    let mut s = subject.trim();
    loop {
        let before = s;
        s = strip_tags(s);
        if let Some(rest) = strip_one_prefix(s) {
            s = rest;
        }
        s = s.trim();
        if let Some(rest) = s.strip_suffix("(fwd)").or_else(|| s.strip_suffix("(FWD)")) {
            s = rest.trim_end();
        }
        if s == before {
            return s;
        }
    }
}

/// The base subject: [`strip_prefixes`], whitespace folded, lowercased.
pub fn base_subject(subject: &str) -> String {
    strip_prefixes(subject)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Whether a subject is a reply to a digest ("Re: Health Digest, Vol 3, Issue 12").
pub fn is_digest_reply(subject: &str) -> bool {
    let base = base_subject(subject);
    is_reply_subject(subject)
        && base.contains("digest")
        && (base.contains(", vol") || base.contains(" vol ") || base.contains(" issue "))
}

/// The quoted lines of a reply ("> ..."), unquoted, long enough to identify
/// the post they came from; longest first.
pub fn quoted_lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let t = l.trim_start();
            t.starts_with('>').then(|| {
                t.trim_start_matches(|c: char| c == '>' || c.is_whitespace())
                    .trim_end()
                    .to_string()
            })
        })
        .filter(|l| l.chars().filter(|c| c.is_alphanumeric()).count() >= 20)
        .collect();
    out.sort_by_key(|l| std::cmp::Reverse(l.len()));
    out.dedup();
    out
}

#[cfg(test)]
mod split_tests {
    use super::*;

    #[test]
    fn ids_before_a_split_post_are_ignored() {
        let refs: Vec<String> = ["<a>", "<b>", "<c>"].map(String::from).to_vec();
        let keys = thread_keys("<d>", &refs, Some("<c>"));
        assert_eq!(after_split(keys.clone(), |_| false), keys);
        assert_eq!(
            after_split(keys.clone(), |k| k == "<b>"),
            ["<d>", "<b>", "<c>"]
        );
        assert_eq!(
            after_split(keys.clone(), |k| k == "<a>" || k == "<c>"),
            ["<d>", "<c>"],
            "the latest split wins"
        );
        assert_eq!(
            after_split(keys.clone(), |k| k == "<a>"),
            keys,
            "a split at the first reference drops nothing"
        );
        assert_eq!(
            after_split(keys.clone(), |k| k == "<d>"),
            keys,
            "the message's own id is never a cut"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: i64) -> ThreadId {
        ThreadId(n)
    }

    #[test]
    fn base_subjects() {
        let cases = [
            ("Re: Mobile clinics", "mobile clinics"),
            ("RE: re: Fwd: Mobile  clinics", "mobile clinics"),
            ("[health] Re: [health] Mobile clinics", "mobile clinics"),
            ("AW: SV: Mobile clinics (fwd)", "mobile clinics"),
            ("Re[2]: Mobile clinics", "mobile clinics"),
            ("Réf: unchanged", "réf: unchanged"),
            ("Regarding: not a prefix", "regarding: not a prefix"),
            ("Re:", ""),
            ("", ""),
        ];
        for (s, want) in cases {
            assert_eq!(base_subject(s), want, "{s}");
        }
    }

    #[test]
    fn reply_subjects() {
        assert!(is_reply_subject("Re: x"));
        assert!(is_reply_subject("[list] Fwd: x"));
        assert!(is_reply_subject("AW: x"));
        assert!(!is_reply_subject("Question about x"));
        assert!(!is_reply_subject("Reply needed: x"));
    }

    #[test]
    fn placement() {
        assert_eq!(place(&[], None), Placement::New);
        assert_eq!(place(&[], Some(t(4))), Placement::Join(t(4)));
        assert_eq!(
            place(&[t(3)], Some(t(4))),
            Placement::Join(t(3)),
            "references beat subject"
        );
        assert_eq!(
            place(&[t(5), t(3), t(5)], None),
            Placement::Merge {
                keep: t(3),
                absorb: vec![t(5)]
            }
        );
    }

    #[test]
    fn subject_joining_needs_a_reply_without_references() {
        assert!(may_join_by_subject(&[], None, "Re: clinics"));
        assert!(
            !may_join_by_subject(&[], None, "clinics"),
            "a fresh question with the same words is new"
        );
        assert!(!may_join_by_subject(&["a@b".into()], None, "Re: clinics"));
        assert!(!may_join_by_subject(&[], Some("a@b"), "Re: clinics"));
    }

    #[test]
    fn keys_and_parents() {
        let refs = vec!["root@x".to_string(), "mid@x".to_string()];
        assert_eq!(
            thread_keys("me@x", &refs, Some("mid@x")),
            ["me@x", "root@x", "mid@x"]
        );
        // Parent: last reference that is stored.
        assert_eq!(
            parent_id(&refs, Some("mid@x"), |id| id == "mid@x" || id == "root@x"),
            Some("mid@x")
        );
        assert_eq!(
            parent_id(&refs, Some("mid@x"), |id| id == "root@x"),
            Some("root@x"),
            "missing mid skipped"
        );
        assert_eq!(parent_id(&[], Some("p@x"), |_| true), Some("p@x"));
        assert_eq!(parent_id(&[], Some("p@x"), |_| false), None);
    }

    #[test]
    fn digest_replies() {
        assert!(is_digest_reply("Re: Health Digest, Vol 3, Issue 12"));
        assert!(is_digest_reply(
            "RE: [health] Health Digest, Vol 1, Issue 2"
        ));
        assert!(!is_digest_reply("Health Digest, Vol 3, Issue 12"));
        assert!(!is_digest_reply("Re: the digestive system"));
    }

    #[test]
    fn quoted() {
        let text = "I agree.\n> We ran mobile clinics on boats in Bihar during 2019.\n> ok\n>> Has anyone run mobile clinics in flood areas?\n";
        let q = quoted_lines(text);
        assert_eq!(q[0], "We ran mobile clinics on boats in Bihar during 2019.");
        assert_eq!(q.len(), 2, "short lines are ignored: {q:?}");
    }
}
