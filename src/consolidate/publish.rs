//! Publishing a Consolidated Reply: the Markdown draft rendered to text and
//! sanitised HTML, the message built (threaded under the query), and `--at`
//! times read in the community's zone. No I/O: the caller stores and queues.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;

use crate::config::CommunityConfig;
use crate::deliver::compose::{Built, ComposeError, header_text, list_headers, prefixed_subject};
use crate::markup::{html, text};

/// What a published reply's message needs.
#[derive(Debug, Clone)]
pub struct ReplyMail<'a> {
    /// The query's title ("Mobile clinics?"): the subject becomes
    /// "\[slug\] Consolidated Reply: Mobile clinics?".
    pub title: &'a str,
    /// The query's Message-ID, so mail clients thread the reply under it.
    pub query_message_id: &'a str,
    /// This reply's own Message-ID.
    pub message_id: &'a str,
    /// The draft.
    pub markdown: &'a str,
    /// Whether it is an addendum (responses after an earlier publication).
    pub addendum: bool,
}

/// The Message-ID of a published reply: stable per reply, so a retried
/// publication cannot produce two different messages.
pub fn message_id(reply: i64, cfg: &CommunityConfig) -> String {
    let domain = cfg.address_parts().map(|(_, d)| d).unwrap_or("localhost");
    format!("praxis.reply.{reply}.{}@{domain}", cfg.slug)
}

/// The message as the outbox stores it: from the community, to the list,
/// multipart/alternative (text as written, sanitised HTML), In-Reply-To and
/// References the query, the list headers.
pub fn message(cfg: &CommunityConfig, m: &ReplyMail<'_>) -> Result<Built, ComposeError> {
    let subject = prefixed_subject(
        &format!(
            "Consolidated Reply{}: {}",
            if m.addendum {
                " (additional responses)"
            } else {
                ""
            },
            m.title
        ),
        &cfg.subject_prefix(),
    );
    let query_id = m.query_message_id.trim_matches(['<', '>']).to_string();
    let mut b = MessageBuilder::new()
        .from(Address::new_address(
            Some(header_text(&cfg.name)),
            cfg.address.to_ascii_lowercase(),
        ))
        .to(Address::new_address(
            Some(header_text(&cfg.name)),
            cfg.address.to_ascii_lowercase(),
        ))
        .header("Subject", crate::mail::header::placeholder())
        .message_id(MessageId::new(m.message_id.to_string()))
        .in_reply_to(MessageId::new(query_id.clone()))
        .references(MessageId::new(query_id))
        .text_body(text(m.markdown))
        .html_body(html(m.markdown, &subject));
    for (name, value) in list_headers(cfg) {
        b = b.header(name, value);
    }
    let message = crate::mail::header::write_with_subject(b, &subject)
        .map_err(|e| ComposeError::Write(e.to_string()))?;
    Ok(Built { subject, message })
}

/// Reads `--at`: RFC 3339, or `YYYY-MM-DD HH:MM` in the community's zone. A
/// local time that does not exist (clocks jumping forward) is refused; one
/// that happens twice (clocks going back) is the first.
pub fn parse_at(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M").map_err(|_| {
        format!("`{s}` is not a time; write `2026-12-01 09:00` (in {tz}) or RFC 3339")
    })?;
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            format!("`{s}` does not exist in {tz} (clocks jump forward then); pick another time")
        })
}

/// Refuses a `--at` time that is not in the future: a time already past
/// would go out at once while the moderator believes it is scheduled. The
/// error names the time and now, both in the community's zone, and the fix.
pub fn ensure_future(at: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> Result<(), String> {
    if at > now {
        return Ok(());
    }
    let fmt = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string();
    Err(format!(
        "--at {} is in the past (it is now {}); give a later time, or --now to send it now",
        fmt(at),
        fmt(now)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> CommunityConfig {
        CommunityConfig {
            slug: "health".into(),
            name: "Maternal and Child Health".into(),
            address: "health@example.test".into(),
            timezone: chrono_tz::Asia::Kolkata,
            ..CommunityConfig::default()
        }
    }

    const DRAFT: &str = "# Maternal and Child Health: Consolidated Reply\n\n## Summary\n\n<!-- Rewrite this. -->\n\nBoats **worked**; see <https://example.org/boats>.\n\n<script>alert(1)</script>\n\n- one\n- two\n";

    #[test]
    fn published_text_and_html() {
        insta::assert_snapshot!("published_text", text(DRAFT));
        insta::assert_snapshot!(
            "published_html",
            html(DRAFT, "[health] Consolidated Reply: Boats")
        );
        assert!(!html(DRAFT, "x").contains("<script"));
        assert!(!text(DRAFT).contains("Rewrite this"));
    }

    #[test]
    fn the_message_threads_under_the_query() {
        let built = message(
            &cfg(),
            &ReplyMail {
                title: "Mobile clinics?",
                query_message_id: "<q1@example.org>",
                message_id: "praxis.reply.1.health@example.test",
                markdown: DRAFT,
                addendum: false,
            },
        )
        .unwrap();
        assert_eq!(
            built.subject,
            "[health] Consolidated Reply: Mobile clinics?"
        );
        let parsed = mail_parser::MessageParser::default()
            .parse(&built.message)
            .unwrap();
        assert_eq!(parsed.in_reply_to().as_text(), Some("q1@example.org"));
        assert_eq!(parsed.references().as_text(), Some("q1@example.org"));
        assert_eq!(
            parsed.subject(),
            Some("[health] Consolidated Reply: Mobile clinics?")
        );
        assert!(parsed.body_text(0).unwrap().contains("Boats **worked**"));
        assert!(
            parsed
                .body_html(0)
                .unwrap()
                .contains("<strong>worked</strong>")
        );
        let raw = String::from_utf8_lossy(&built.message);
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("List-Id"), "{raw}");
    }

    #[test]
    fn a_time_in_the_past_is_refused_with_now_in_the_zone() {
        let ist: Tz = "Asia/Kolkata".parse().unwrap();
        let now = parse_at("2026-12-04 21:00", ist).unwrap();
        let past = parse_at("2026-12-01 09:00", ist).unwrap();
        let e = ensure_future(past, now, ist).unwrap_err();
        assert!(e.contains("2026-12-01 09:00 IST"), "{e}");
        assert!(e.contains("2026-12-04 21:00 IST"), "{e}");
        assert!(e.contains("--now"), "{e}");
        assert!(ensure_future(now, now, ist).is_err());
        let later = parse_at("2026-12-05 09:00", ist).unwrap();
        assert!(ensure_future(later, now, ist).is_ok());
    }

    #[test]
    fn at_times_in_the_community_zone() {
        let ist: Tz = "Asia/Kolkata".parse().unwrap();
        assert_eq!(
            parse_at("2026-12-01 09:00", ist).unwrap().to_rfc3339(),
            "2026-12-01T03:30:00+00:00"
        );
        assert_eq!(
            parse_at("2026-12-01T09:00:00Z", ist).unwrap().to_rfc3339(),
            "2026-12-01T09:00:00+00:00"
        );
        let ny: Tz = "America/New_York".parse().unwrap();
        assert!(
            parse_at("2026-03-08 02:30", ny)
                .unwrap_err()
                .contains("does not exist")
        );
        assert_eq!(
            parse_at("2026-11-01 01:30", ny).unwrap().to_rfc3339(),
            "2026-11-01T05:30:00+00:00"
        );
        assert!(
            parse_at("tomorrow", ist)
                .unwrap_err()
                .contains("2026-12-01 09:00")
        );
    }
}
