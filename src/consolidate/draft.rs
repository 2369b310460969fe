//! The generated draft of a Consolidated Reply: what goes into the template
//! (attributions, stripped responses, first paragraphs, resources). Pure: the
//! caller reads the store and passes the query, the related replies and the
//! time.
//!
//! Long because reading a response (sign-offs, lists, named documents) is
//! tested here on real-looking English and Hindi replies, next to the code.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::mail::quote::{first_paragraph, strip};
use crate::render::{RenderError, Templates};
use crate::store::{Query, QueryPost, RelatedReply};

/// A person as credited: name, organisation, place.
#[derive(Debug, Clone, Serialize)]
pub struct Credited {
    /// 1-based position in the list of responders.
    pub n: usize,
    /// Name.
    pub name: String,
    /// Organisation, "" when unknown.
    pub organisation: String,
    /// Place, "" when unknown.
    pub place: String,
    /// Posted date, local, "2 November 2026".
    pub date: String,
    /// The text, quotes and signatures stripped.
    pub text: String,
    /// The first paragraph that says something: the summary placeholder.
    pub summary: String,
    /// A list (bullets or numbered lines) that follows or ends that first
    /// paragraph, line by line: "we did three things:" is nothing without
    /// the three things. "" when there is none.
    pub list: String,
    /// Sent to the moderator rather than the list (`--add-response`).
    pub offline: bool,
    /// The other community it came through, for a response to the query's
    /// cross-posted copy there; "" when it came through the query's own.
    pub community: String,
}

/// One related resource and who recommended it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    /// A URL, an attachment's file name, or a document named without a link.
    pub what: String,
    /// Name of the first responder who mentioned it.
    pub by: String,
    /// A document named without a URL ("WHO 2015 guidelines"): the
    /// moderator has to find the link before publishing.
    pub to_check: bool,
}

/// An earlier Consolidated Reply, as the draft lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Related {
    /// Its id.
    pub id: i64,
    /// Its subject.
    pub subject: String,
    /// Published date, local.
    pub date: String,
}

/// Everything the draft template sees.
#[derive(Debug, Clone, Serialize)]
pub struct DraftData {
    /// The community's full name.
    pub community: String,
    /// Its posting address, for the footer.
    pub address: String,
    /// The query's subject, without Re: or the list prefix.
    pub title: String,
    /// The moderators' names, comma-separated.
    pub compiled_by: String,
    /// Today, local.
    pub date: String,
    /// The question.
    pub query: Credited,
    /// The responses, in order of posting (the asker's follow-ups too:
    /// "Responses in full" shows every post of the thread).
    pub responses: Vec<Credited>,
    /// The people thanked: each responder once, in order of their first
    /// response, numbered anew; the asker's own posts (a "thank you") are
    /// no response to their own query.
    pub responders: Vec<Credited>,
    /// URLs and attachment names, deduplicated.
    pub resources: Vec<Resource>,
    /// Related earlier replies.
    pub related: Vec<Related>,
    /// For an addendum: the date the earlier reply was published; only
    /// responses flagged as approved after it are listed.
    pub addendum_since: Option<String>,
    /// The other communities the query was cross-posted to, by name,
    /// comma-separated; "" when it was not.
    pub shared_with: String,
}

/// The date as a person reads it in the community's zone: "2 November 2026".
pub fn local_date(ts: i64, tz: Tz) -> String {
    DateTime::from_timestamp(ts, 0)
        .map(|t| t.with_timezone(&tz).format("%-d %B %Y").to_string())
        .unwrap_or_default()
}

/// Every http(s) URL in `text`, in order, trailing punctuation removed.
pub fn urls(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = ["https://", "http://"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | ']'))
            .unwrap_or(tail.len());
        let url = tail[..end].trim_end_matches(['.', ',', ';', ':', ')', '!', '?']);
        if url.len() > "https://".len() {
            out.push(url.to_string());
        }
        rest = &tail[end.max(1)..];
    }
    out
}

/// URLs and attachment names from the responses, then documents named
/// without a link (marked to check), first mention wins.
pub fn resources(responses: &[(String, String, Vec<String>)]) -> Vec<Resource> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (name, text, attachments) in responses {
        for what in urls(text).into_iter().chain(attachments.iter().cloned()) {
            if seen.insert(what.to_lowercase()) {
                out.push(Resource {
                    what,
                    by: name.clone(),
                    to_check: false,
                });
            }
        }
    }
    for (name, text, _) in responses {
        for what in named_documents(text) {
            if seen.insert(what.to_lowercase()) {
                out.push(Resource {
                    what,
                    by: name.clone(),
                    to_check: true,
                });
            }
        }
    }
    out
}

/// Words that end a document's name: "… guidelines", "… report".
const DOCUMENT_WORDS: &str = "guidelines?|reports?|manuals?|handbooks?|toolkits?|tool kits?";

/// Words a sentence starts with that are not part of a document's name.
const NOT_A_NAME: &[&str] = &[
    "see", "read", "use", "used", "try", "check", "also", "we", "i", "our", "please", "the", "a",
    "an", "in", "and", "as", "per", "follow", "refer", "under", "from", "by",
];

/// Documents named without a URL: quoted titles (“…” or "…" of two words
/// or more, starting with a capital), and names ending in guidelines,
/// report, manual, handbook or toolkit that carry a year or an
/// organisation's acronym ("WHO 2015 guidelines", "the NRHM report").
pub fn named_documents(text: &str) -> Vec<String> {
    static QUOTED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"[“"]([A-Z][^“”"\n]{2,80}?)[”"]"#).expect("valid regex")
    });
    static NAMED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(&format!(
            r"\b((?:(?:[A-Z][\w&'’-]*|(?:19|20)\d\d|of|on|for|and|&)\s+){{1,8}}(?i:{DOCUMENT_WORDS}))\b"
        ))
        .expect("valid regex")
    });
    static MARK: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\b(?:[A-Z]{2,}[a-z]?[A-Z]*|(?:19|20)\d\d)\b").expect("valid regex")
    });
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.contains("://") {
            continue;
        }
        for c in QUOTED.captures_iter(line) {
            let t = c[1].trim().trim_end_matches(['.', ',', ';', ':']);
            if t.split_whitespace().count() >= 2 {
                out.push(t.to_string());
            }
        }
        for c in NAMED.captures_iter(line) {
            let words: Vec<&str> = c[1].split_whitespace().collect();
            let start = words
                .iter()
                .position(|w| {
                    let l = w.to_lowercase();
                    !NOT_A_NAME.contains(&l.as_str())
                        && !matches!(l.as_str(), "of" | "on" | "for" | "and" | "&")
                })
                .unwrap_or(words.len());
            let name = words[start..].join(" ");
            // The last word is the document word: something must precede it,
            // and a year or an acronym must say which document it is.
            if words.len() - start >= 2 && MARK.is_match(&name) {
                out.push(name);
            }
        }
    }
    out.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    out
}

/// Closing lines that start a sign-off without the "-- " delimiter,
/// compared lowercased without trailing punctuation.
const CLOSINGS: &[&str] = &[
    "regards",
    "best regards",
    "kind regards",
    "warm regards",
    "warmest regards",
    "with regards",
    "thanks and regards",
    "thanks & regards",
    "thanks",
    "thank you",
    "many thanks",
    "thanks again",
    "best",
    "best wishes",
    "cheers",
    "sincerely",
    "yours sincerely",
    "yours truly",
    "सादर",
    "धन्यवाद",
    "शुभकामनाओं सहित",
    "आभार सहित",
];

fn is_closing(line: &str) -> bool {
    let l = line
        .trim()
        .trim_end_matches([',', '.', '!', '।', ' '])
        .to_lowercase();
    CLOSINGS.contains(&l.as_str())
}

/// `text` without a closing sign-off at its end: a closing line ("Regards,",
/// "धन्यवाद,") followed only by up to four short lines of which each is the
/// member's name, organisation or place (or a part of them), as the member
/// list knows them, or of which the first is and the rest are short labels
/// (an organisation or place the member list does not know). A closing
/// with other lines is kept: it may be the response itself.
pub fn strip_closing(text: &str, profile: &[&str]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(at) = lines.iter().rposition(|l| is_closing(l)) else {
        return text.to_string();
    };
    let tail: Vec<&str> = lines[at + 1..]
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    let words: Vec<String> = profile
        .iter()
        .flat_map(|p| p.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.chars().count() >= 2)
        .map(str::to_lowercase)
        .collect();
    let of_profile = |l: &str| {
        l.chars().count() <= 60
            && l.split(|c: char| !c.is_alphanumeric())
                .any(|w| words.contains(&w.to_lowercase()))
    };
    // A line a signature holds under the name (an organisation, a place,
    // a title): short, a few words, no sentence.
    let label = |l: &str| {
        l.chars().count() <= 60
            && l.split_whitespace().count() <= 6
            && !l.ends_with(['.', '?', '!', ':', ';', '।'])
    };
    let signed = match tail.split_first() {
        None => true,
        // The name first: what follows it signs too, even when the member
        // list does not know that organisation or place.
        Some((first, rest)) => of_profile(first) && rest.iter().all(|l| of_profile(l) || label(l)),
    };
    if tail.len() > 4 || !signed {
        return text.to_string();
    }
    lines[..at].join("\n").trim_end().to_string()
}

/// Whether a line is a list item: "- ", "* ", "• ", "1. ", "1) ", "a) ".
fn is_list_item(line: &str) -> bool {
    let l = line.trim_start();
    if ["- ", "* ", "• ", "+ ", "– "]
        .iter()
        .any(|b| l.starts_with(b))
    {
        return true;
    }
    let marker: String = l
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let rest = &l[marker.len()..];
    !marker.is_empty()
        && (marker.chars().all(|c| c.is_ascii_digit())
            || (marker.len() == 1 && marker.chars().all(|c| c.is_ascii_lowercase())))
        && (rest.starts_with(". ") || rest.starts_with(") "))
}

/// The summary of a stripped response: its first paragraph that says
/// something (see `first_paragraph`), and the list that ends it or follows
/// it, one item a line (continuation lines joined to their item).
pub fn summary(stripped: &str) -> (String, String) {
    let first = first_paragraph(stripped);
    let paragraphs: Vec<&str> = stripped
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let joined = |p: &str| p.lines().map(str::trim).collect::<Vec<_>>().join(" ");
    let Some(i) = paragraphs.iter().position(|p| joined(p) == first) else {
        return (first, String::new());
    };
    let items = |lines: &[&str]| {
        let mut out: Vec<String> = Vec::new();
        for l in lines {
            if is_list_item(l) || out.is_empty() {
                out.push(l.trim().to_string());
            } else if let Some(last) = out.last_mut() {
                last.push(' ');
                last.push_str(l.trim());
            }
        }
        out.join("\n")
    };
    let lines: Vec<&str> = paragraphs[i].lines().collect();
    if let Some(k) = lines.iter().position(|l| is_list_item(l)) {
        if k > 0 {
            return (joined(&lines[..k].join("\n")), items(&lines[k..]));
        }
        return (first, String::new());
    }
    match paragraphs.get(i + 1) {
        Some(next) if next.lines().next().is_some_and(is_list_item) => {
            let lines: Vec<&str> = next.lines().collect();
            (first, items(&lines))
        }
        _ => (first, String::new()),
    }
}

fn credited(n: usize, p: &QueryPost, tz: Tz) -> Credited {
    let text = strip_closing(
        &strip(&p.text),
        &[
            &p.name,
            &p.organisation,
            &p.place,
            p.email.split('@').next().unwrap_or(""),
        ],
    );
    let (summary, list) = summary(&text);
    Credited {
        n,
        name: p.name.clone(),
        organisation: p.organisation.clone(),
        place: p.place.clone(),
        date: local_date(p.date, tz),
        summary,
        list,
        text,
        offline: p.offline,
        community: p.community.clone().unwrap_or_default(),
    }
}

/// Each responder once (by address, any case), in order of their first
/// response and numbered from 1, leaving out the asker.
fn responders(posts: &[&QueryPost], responses: &[Credited], asker: &str) -> Vec<Credited> {
    let mut seen: Vec<String> = vec![asker.to_ascii_lowercase()];
    let mut out = Vec::new();
    for (p, c) in posts.iter().zip(responses) {
        let who = p.email.to_ascii_lowercase();
        if seen.contains(&who) {
            continue;
        }
        seen.push(who);
        out.push(Credited {
            n: out.len() + 1,
            ..c.clone()
        });
    }
    out
}

/// The query's subject without "Re:" and the list prefix.
pub fn title(subject: &str, slug: &str) -> String {
    let prefix = format!("[{slug}]");
    let mut s = subject.trim();
    loop {
        let before = s;
        // `get`, not slicing: the subject is member text, and the prefix's
        // length may fall inside a multi-byte character (found by fuzzing).
        if s.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(&prefix))
        {
            s = s[prefix.len()..].trim_start();
        }
        for re in ["re:", "aw:", "sv:", "fwd:"] {
            if s.len() >= re.len()
                && s.is_char_boundary(re.len())
                && s[..re.len()].eq_ignore_ascii_case(re)
            {
                s = s[re.len()..].trim_start();
            }
        }
        if s == before {
            return s.to_string();
        }
    }
}

/// What a draft needs besides the query.
#[derive(Debug, Clone)]
pub struct Setting<'a> {
    /// The community's full name, for the header and footer.
    pub community: &'a str,
    /// Its posting address, for the footer's "write to".
    pub address: &'a str,
    /// The moderators' names: "compiled by".
    pub moderators: &'a [String],
    /// Earlier replies the archive finds similar.
    pub related: &'a [RelatedReply],
    /// Today, for the header's date.
    pub now: DateTime<Utc>,
    /// The community's zone: dates are shown as its members live them.
    pub tz: Tz,
    /// For an addendum: when the earlier reply was published.
    pub addendum_since: Option<i64>,
}

/// The data for a query's generated draft.
pub fn data(q: &Query, s: &Setting<'_>) -> DraftData {
    let (community, address, moderators, related, now, tz, addendum_since) = (
        s.community,
        s.address,
        s.moderators,
        s.related,
        s.now,
        s.tz,
        s.addendum_since,
    );
    let posts: Vec<&QueryPost> = q
        .responses
        .iter()
        .filter(|p| addendum_since.is_none_or(|t| p.late && p.approved_at >= t))
        .collect();
    let responses: Vec<Credited> = posts
        .iter()
        .enumerate()
        .map(|(i, p)| credited(i + 1, p, tz))
        .collect();
    let sources: Vec<(String, String, Vec<String>)> = posts
        .iter()
        .zip(&responses)
        .map(|(p, c)| (p.name.clone(), c.text.clone(), p.attachments.clone()))
        .collect();
    DraftData {
        community: community.to_string(),
        address: address.to_string(),
        title: title(&q.subject, &q.slug),
        compiled_by: if moderators.is_empty() {
            "the moderators".into()
        } else {
            moderators.join(", ")
        },
        date: local_date(now.timestamp(), tz),
        query: credited(0, &q.root, tz),
        resources: resources(&sources),
        related: related
            .iter()
            .map(|r| Related {
                id: r.id,
                subject: r.subject.clone(),
                date: local_date(r.published_at, tz),
            })
            .collect(),
        responders: responders(&posts, &responses, &q.root.email),
        responses,
        addendum_since: addendum_since.map(|t| local_date(t, tz)),
        shared_with: q.shared_with.join(", "),
    }
}

/// Renders the draft Markdown.
pub fn render(t: &Templates, d: &DraftData) -> Result<String, RenderError> {
    let text = t.render("consolidated/draft", d)?;
    // Collapse the blank lines that empty sections leave behind.
    let mut out = String::new();
    let mut blanks = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            blanks += 1;
            if blanks > 1 {
                continue;
            }
        } else {
            blanks = 0;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_cut_inside_a_character_does_not_panic() {
        // "[health]" is 8 bytes; a 3-byte character spans bytes 6..9.
        assert_eq!(title("abcdef\u{FFFD}xyz", "health"), "abcdef\u{FFFD}xyz");
        assert_eq!(title("[HEALTH] Re: \u{FFFD}", "health"), "\u{FFFD}");
    }

    /// A field worker's reply as it arrives: a list after the first
    /// paragraph, a named document, a sign-off without "-- ".
    const ENGLISH: &str = "Dear all,\n\nIn Darbhanga we ran boat clinics through the monsoon. Three things mattered:\n- a fixed weekly timetable\n- ASHAs announcing the boat a day\n  ahead on the village radio\n- ORS and zinc stocked on board\n\nWe followed the WHO 2015 guidelines on newborn care and the NRHM report on flood\npreparedness; see also \"Home Based Newborn Care: Operational Guidelines\".\n\nBest regards,\nBob Das\nProgramme Officer, WaterAid India\nDarbhanga, Bihar\n";

    const HINDI: &str = "नमस्ते,\n\nहमने बाढ़ के समय नाव क्लिनिक चलाए। ज़रूरी बातें:\n\n1. हर हफ़्ते तय समय\n2. आशा दीदी एक दिन पहले बताती हैं\n\nसादर,\nसुनीता देवी\nजन स्वास्थ्य अभियान\nपटना\n";

    #[test]
    fn a_sign_off_of_the_members_profile_is_stripped() {
        let text = strip_closing(
            &strip(ENGLISH),
            &["Bob Das", "WaterAid India", "Darbhanga", "bob"],
        );
        assert!(!text.contains("Best regards"), "{text}");
        assert!(!text.contains("Programme Officer"), "{text}");
        assert!(text.ends_with("Operational Guidelines\"."), "{text}");
        let hindi = strip_closing(
            &strip(HINDI),
            &["सुनीता देवी", "जन स्वास्थ्य अभियान", "पटना", "sunita"],
        );
        assert!(!hindi.contains("सादर"), "{hindi}");
        assert!(!hindi.contains("पटना"), "{hindi}");
        assert!(hindi.contains("2. आशा दीदी"), "{hindi}");
        // Lines after the closing that are not the member's own are kept.
        let kept = "We used boats.\n\nThanks,\nbut the roads were the real problem\n";
        assert_eq!(strip_closing(kept, &["Bob Das"]), kept);
        // Under the member's name, an organisation and a place the member
        // list does not know still sign (the week test's HTML response).
        assert_eq!(
            strip_closing(
                "Rainwater worked.\n\nRegards,\nDave\nJal Trust\nAnantapur\n",
                &["Dave", "", "", "dave"]
            ),
            "Rainwater worked."
        );
        // Not under the name, or a sentence under it: kept.
        let other = "Rainwater worked.\n\nRegards,\nJal Trust\nDave\n";
        assert_eq!(strip_closing(other, &["Dave"]), other);
        let sentence = "Rainwater worked.\n\nThanks,\nDave\nThe filters failed twice in May.\n";
        assert_eq!(strip_closing(sentence, &["Dave"]), sentence);
        // A bare closing at the end goes.
        assert_eq!(
            strip_closing("Boats worked.\n\nधन्यवाद।\n", &["x"]),
            "Boats worked."
        );
    }

    #[test]
    fn the_summary_keeps_the_list_after_the_first_paragraph() {
        let (first, list) = summary(&strip(ENGLISH));
        assert_eq!(
            first,
            "In Darbhanga we ran boat clinics through the monsoon. Three things mattered:"
        );
        assert_eq!(
            list,
            "- a fixed weekly timetable\n- ASHAs announcing the boat a day ahead on the village radio\n- ORS and zinc stocked on board"
        );
        let (first, list) = summary(&strip(HINDI));
        assert_eq!(first, "हमने बाढ़ के समय नाव क्लिनिक चलाए। ज़रूरी बातें:");
        assert_eq!(list, "1. हर हफ़्ते तय समय\n2. आशा दीदी एक दिन पहले बताती हैं");
        let (first, list) = summary("Radio announcements a day ahead.\n\nMore later.");
        assert_eq!(
            (first.as_str(), list.as_str()),
            ("Radio announcements a day ahead.", "")
        );
    }

    #[test]
    fn documents_named_without_a_link_are_found() {
        assert_eq!(
            named_documents(ENGLISH),
            [
                "WHO 2015 guidelines",
                "NRHM report",
                "Home Based Newborn Care: Operational Guidelines"
            ]
        );
        assert_eq!(
            named_documents("As per the MoHFW 2018 IYCF handbook, and the UNICEF toolkit."),
            ["MoHFW 2018 IYCF handbook", "UNICEF toolkit"]
        );
        // No year or acronym: not a document anyone can look up.
        assert!(named_documents("Our report is late and the guidelines help.").is_empty());
        // With a link it is a URL resource already.
        assert!(named_documents("WHO 2015 guidelines: https://who.int/g").is_empty());
        let r = resources(&[("Bob".into(), strip(ENGLISH), vec![])]);
        assert!(r.iter().all(|r| r.to_check && r.by == "Bob"), "{r:?}");
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn urls_are_found_and_trimmed() {
        let t = "See https://example.org/a.pdf, and (http://who.int/x).\nAlso <https://b.example/c?d=1>";
        assert_eq!(
            urls(t),
            [
                "https://example.org/a.pdf",
                "http://who.int/x",
                "https://b.example/c?d=1"
            ]
        );
        assert!(urls("no links, just https:// alone").is_empty());
    }

    #[test]
    fn resources_are_deduplicated_and_credited_to_the_first() {
        let r = resources(&[
            (
                "Bob".into(),
                "https://x.org/guide".into(),
                vec!["plan.pdf".into()],
            ),
            (
                "Carol".into(),
                "Bob is right: https://x.org/guide".into(),
                vec!["Plan.pdf".into(), "map.png".into()],
            ),
        ]);
        let got: Vec<(&str, &str)> = r.iter().map(|r| (r.what.as_str(), r.by.as_str())).collect();
        assert_eq!(
            got,
            [
                ("https://x.org/guide", "Bob"),
                ("plan.pdf", "Bob"),
                ("map.png", "Carol")
            ]
        );
    }

    fn post(
        id: i64,
        name: &str,
        org: &str,
        place: &str,
        date: i64,
        text: &str,
        att: &[&str],
    ) -> QueryPost {
        QueryPost {
            id: crate::model::PostId(id),
            message_id: format!("{id}@example.org"),
            email: format!("{}@example.org", name.to_lowercase().replace(' ', ".")),
            name: name.into(),
            organisation: org.into(),
            place: place.into(),
            date,
            text: text.into(),
            attachments: att.iter().map(|a| a.to_string()).collect(),
            approved_at: date,
            late: id == 3,
            offline: false,
            community: None,
        }
    }

    /// The query of the acceptance test: alice asks, bob and carol respond.
    pub(crate) fn sample_query() -> Query {
        Query {
            thread: crate::model::ThreadId(7),
            community: crate::model::CommunityId(1),
            slug: "health".into(),
            subject: "[health] Mobile clinics in flood areas?".into(),
            kind: crate::model::ThreadKind::Query,
            state: crate::model::QueryState::Open,
            root: post(
                1,
                "Alice Rao",
                "Jan Swasthya",
                "Patna, Bihar",
                1_793_600_000,
                "Dear colleagues,\n\nHas anyone run mobile clinics in flood areas? What worked?\n\nAlice\n",
                &[],
            ),
            responses: vec![
                post(
                    2,
                    "Bob Das",
                    "WaterAid",
                    "Guwahati, Assam",
                    1_793_700_000,
                    "Hi Alice,\n\nWe ran boat clinics on the Brahmaputra for six years; see https://example.org/boat-clinics.\n\nThe key was a fixed timetable.\n\nOn Mon, 2 Nov 2026 at 10:00, Alice Rao <alice@example.org> wrote:\n> Has anyone run mobile clinics in flood areas?\n\n-- \nBob Das | WaterAid India\n",
                    &["timetable.pdf"],
                ),
                post(
                    3,
                    "Carol Sen",
                    "",
                    "",
                    1_793_800_000,
                    "Radios and advance notice through ASHAs made the difference (https://example.org/boat-clinics).\n\nSent from my iPhone\n",
                    &[],
                ),
            ],
            shared_with: Vec::new(),
        }
    }

    /// A query cross-posted to another community: the draft says so, and a
    /// response that came through the other community is credited with it.
    #[test]
    fn a_cross_posted_query_credits_the_community_a_response_came_through() {
        let mut q = sample_query();
        q.shared_with = vec!["Disaster Management".into()];
        q.responses[1].community = Some("Disaster Management".into());
        let d = data(
            &q,
            &Setting {
                community: "Maternal and Child Health",
                address: "health@example.test",
                moderators: &[],
                related: &[],
                now: DateTime::from_timestamp(1_794_000_000, 0).unwrap(),
                tz: "Asia/Kolkata".parse().unwrap(),
                addendum_since: None,
            },
        );
        let md = render(&Templates::new(), &d).unwrap();
        assert!(
            md.contains("*Cross-posted to Disaster Management: one query, one reply.*"),
            "{md}"
        );
        assert!(
            md.contains("2. Carol Sen (through Disaster Management)\n"),
            "{md}"
        );
        assert!(
            md.contains("1. Bob Das, WaterAid, Guwahati, Assam\n"),
            "{md}"
        );
        assert!(
            md.contains("### 2. Carol Sen (")
                && md.contains("; through Disaster Management)\n\nRadios"),
            "{md}"
        );
    }

    #[test]
    fn a_generated_draft() {
        let q = sample_query();
        let related = [RelatedReply {
            id: 3,
            thread: crate::model::ThreadId(7),
            subject: "Health camps after the 2019 floods".into(),
            published_at: 1_700_000_000,
        }];
        let d = data(
            &q,
            &Setting {
                community: "Maternal and Child Health",
                address: "health@example.test",
                moderators: &["Meera Iyer".to_string()],
                related: &related,
                now: DateTime::from_timestamp(1_794_000_000, 0).unwrap(),
                tz: "Asia/Kolkata".parse().unwrap(),
                addendum_since: None,
            },
        );
        let md = render(&Templates::new(), &d).unwrap();
        assert!(!md.contains("wrote:") && !md.contains("> Has anyone") && !md.contains("iPhone"));
        insta::assert_snapshot!(md);
    }

    /// The roster thanks each responder once and not the asker, while
    /// "Responses in full" keeps every post.
    #[test]
    fn each_responder_is_thanked_once_and_the_asker_not_at_all() {
        let mut q = sample_query();
        let again = post(
            4,
            "Bob Das",
            "WaterAid",
            "Guwahati, Assam",
            1_793_900_000,
            "Also: radios.\n",
            &[],
        );
        let mut thanks = post(
            5,
            "Alice Rao",
            "",
            "",
            1_793_950_000,
            "Thank you all!\n",
            &[],
        );
        thanks.email = q.root.email.to_ascii_uppercase();
        q.responses.push(again);
        q.responses.push(thanks);
        let d = data(
            &q,
            &Setting {
                community: "Health",
                address: "health@example.test",
                moderators: &[],
                related: &[],
                now: DateTime::from_timestamp(1_794_000_000, 0).unwrap(),
                tz: chrono_tz::UTC,
                addendum_since: None,
            },
        );
        let roster: Vec<(usize, &str)> = d
            .responders
            .iter()
            .map(|r| (r.n, r.name.as_str()))
            .collect();
        assert_eq!(roster, [(1, "Bob Das"), (2, "Carol Sen")]);
        assert_eq!(d.responses.len(), 4, "every post in full");
        let md = render(&Templates::new(), &d).unwrap();
        let thanked = md
            .split("## Responses were received, with thanks, from")
            .nth(1)
            .and_then(|t| t.split("## ").next())
            .unwrap();
        assert_eq!(
            thanked.trim(),
            "1. Bob Das, WaterAid, Guwahati, Assam\n2. Carol Sen"
        );
    }

    #[test]
    fn an_addendum_lists_only_later_responses() {
        let q = sample_query();
        let d = data(
            &q,
            &Setting {
                community: "Health",
                address: "health@example.test",
                moderators: &[],
                related: &[],
                now: DateTime::from_timestamp(1_794_000_000, 0).unwrap(),
                tz: chrono_tz::UTC,
                addendum_since: Some(1_793_750_000),
            },
        );
        let names: Vec<&str> = d.responses.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["Carol Sen"]);
        assert_eq!(d.responses[0].n, 1);
        let md = render(&Templates::new(), &d).unwrap();
        assert!(md.contains("## Additional responses"), "{md}");
        assert!(
            md.contains("received after the Consolidated Reply of 3 November 2026"),
            "{md}"
        );
        assert!(!md.contains("Bob Das"), "{md}");
    }

    #[test]
    fn titles_lose_prefix_and_re() {
        for (s, want) in [
            ("[health] Re: Mobile clinics?", "Mobile clinics?"),
            ("Re: [health] RE: Clinics", "Clinics"),
            ("Clinics", "Clinics"),
            ("Ré: é", "Ré: é"),
        ] {
            assert_eq!(title(s, "health"), want);
        }
    }
}
