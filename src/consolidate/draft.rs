//! The generated draft of a Consolidated Reply: what goes into the template
//! (attributions, stripped responses, first paragraphs, resources). Pure: the
//! caller reads the store and passes the query, the related replies and the
//! time.

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
    /// Sent to the moderator rather than the list (`--add-response`).
    pub offline: bool,
}

/// One related resource and who recommended it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    /// A URL or an attachment's file name.
    pub what: String,
    /// Name of the first responder who mentioned it.
    pub by: String,
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
    /// The responders, in order of posting.
    pub responses: Vec<Credited>,
    /// URLs and attachment names, deduplicated.
    pub resources: Vec<Resource>,
    /// Related earlier replies.
    pub related: Vec<Related>,
    /// For an addendum: the date the earlier reply was published; only
    /// responses flagged as approved after it are listed.
    pub addendum_since: Option<String>,
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

/// URLs and attachment names from the responses, first mention wins.
pub fn resources(responses: &[(String, String, Vec<String>)]) -> Vec<Resource> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (name, text, attachments) in responses {
        for what in urls(text).into_iter().chain(attachments.iter().cloned()) {
            if seen.insert(what.to_lowercase()) {
                out.push(Resource {
                    what,
                    by: name.clone(),
                });
            }
        }
    }
    out
}

fn credited(n: usize, p: &QueryPost, tz: Tz) -> Credited {
    let text = strip(&p.text);
    Credited {
        n,
        name: p.name.clone(),
        organisation: p.organisation.clone(),
        place: p.place.clone(),
        date: local_date(p.date, tz),
        summary: first_paragraph(&text),
        text,
        offline: p.offline,
    }
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
        responses,
        addendum_since: addendum_since.map(|t| local_date(t, tz)),
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
        }
    }

    #[test]
    fn a_generated_draft() {
        let q = sample_query();
        let related = [RelatedReply {
            id: 3,
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
