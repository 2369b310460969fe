//! The Subject field of mail praxis writes: plain ASCII stays as written,
//! folded before spaces (RFC 5322 §2.2.3: lines of at most 78 characters
//! where the words allow); only text with other characters becomes encoded
//! words (RFC 2047).
//!
//! mail-builder encodes any header line over 77 characters, so a long plain
//! subject arrived as `=?us-ascii?Q?...?=`. A builder gets a
//! [`placeholder`] Subject where the field goes (header order unchanged),
//! and [`write_with_subject`] puts praxis's own field in its place.

use mail_builder::MessageBuilder;
use mail_builder::headers::Header;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;

/// The placeholder's value: a NUL, which no cleaned header text contains.
const MARK: &str = "\0";

/// What mail-builder writes for the placeholder field.
const MARKED: &[u8] = b"Subject: \0\r\n";

/// The longest line a folded field aims for (RFC 5322 §2.1.1 "SHOULD").
const LINE: usize = 78;

/// Whether `s` can stand in a header as written: printable ASCII and spaces.
fn plain(s: &str) -> bool {
    s.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// `Name: value` with a CRLF, folded before spaces so that lines stay within
/// 78 characters where the words allow (a longer word keeps its own line).
/// `value` must already be header text (ASCII, no line ends); runs of
/// spaces and tabs become one space.
pub fn folded_field(name: &str, value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + value.len() + 8);
    out.extend_from_slice(name.as_bytes());
    out.push(b':');
    let mut line = out.len();
    let mut words_on_line = false;
    for word in value.split([' ', '\t']).filter(|w| !w.is_empty()) {
        if words_on_line && line + 1 + word.len() > LINE {
            out.extend_from_slice(b"\r\n");
            line = 0;
        }
        out.push(b' ');
        out.extend_from_slice(word.as_bytes());
        line += 1 + word.len();
        words_on_line = true;
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The whole `Subject:` field with its CRLF: plain ASCII folded, anything
/// else as encoded words (mail-builder's, which fold by themselves).
pub fn subject_field(subject: &str) -> Vec<u8> {
    if plain(subject) {
        return folded_field("Subject", subject);
    }
    let mut out = b"Subject: ".to_vec();
    let start = out.len();
    // Writing into a Vec cannot fail.
    let _ = Text::new(subject).write_header(&mut out, start);
    out
}

/// The value for `b.header("Subject", placeholder())`: marks where the
/// field goes for [`write_with_subject`] or [`replace_placeholder`].
pub fn placeholder() -> Raw<'static> {
    Raw::new(MARK)
}

/// `out` (a written message) with its placeholder Subject replaced by
/// `field`; a message without one gets `field` first.
pub fn replace_placeholder(mut out: Vec<u8>, field: &[u8]) -> Vec<u8> {
    let head = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(out.len());
    match out[..head]
        .windows(MARKED.len())
        .position(|w| w == MARKED)
        .filter(|&i| i == 0 || out[..i].ends_with(b"\n"))
    {
        Some(i) => {
            out.splice(i..i + MARKED.len(), field.iter().copied());
            out
        }
        None => [field, &out].concat(),
    }
}

/// The message `b` (with a [`placeholder`] Subject) written with `subject`
/// as its Subject field in the placeholder's place.
pub fn write_with_subject(b: MessageBuilder<'_>, subject: &str) -> std::io::Result<Vec<u8>> {
    Ok(replace_placeholder(
        b.write_to_vec()?,
        &subject_field(subject),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &[u8]) -> String {
        String::from_utf8(v.to_vec()).unwrap()
    }

    #[test]
    fn a_short_ascii_subject_is_written_as_it_is() {
        assert_eq!(
            text(&subject_field("[health] Re: Mobile clinics")),
            "Subject: [health] Re: Mobile clinics\r\n"
        );
    }

    #[test]
    fn a_long_ascii_subject_is_folded_not_encoded() {
        let s = "[health] Consolidated Reply: Mobile clinics in flood areas, what worked and what did not in the hills";
        let field = text(&subject_field(s));
        assert!(!field.contains("=?"), "{field}");
        let lines: Vec<&str> = field.trim_end_matches("\r\n").split("\r\n").collect();
        assert!(lines.len() > 1, "{field}");
        for l in &lines {
            assert!(l.len() <= 78, "{l:?} in {field}");
        }
        for l in &lines[1..] {
            assert!(
                l.starts_with(' '),
                "a continuation starts with a space: {field}"
            );
        }
        // Unfolding (removing the CRLFs) gives the subject back.
        assert_eq!(field.replace("\r\n", ""), format!("Subject: {s}"));
    }

    #[test]
    fn a_word_longer_than_a_line_keeps_its_own_line() {
        let long = "x".repeat(100);
        let field = text(&subject_field(&format!("a {long} b")));
        assert_eq!(field, format!("Subject: a\r\n {long}\r\n b\r\n"));
    }

    #[test]
    fn a_non_ascii_subject_is_still_encoded() {
        let field = text(&subject_field("Réunion des équipes de santé"));
        assert!(field.starts_with("Subject: =?utf-8?"), "{field}");
        let raw = format!("{field}From: a@b.org\r\n\r\nx\r\n");
        let m = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        assert_eq!(m.subject(), Some("Réunion des équipes de santé"));
    }

    #[test]
    fn the_written_message_has_one_subject_a_parser_reads_back() {
        let s = "A plain subject that is long enough to need folding because it goes past the line";
        let out = write_with_subject(
            MessageBuilder::new()
                .from("a@b.org")
                .header("Subject", placeholder())
                .to("c@d.org")
                .text_body("hello"),
            s,
        )
        .unwrap();
        let m = mail_parser::MessageParser::default().parse(&out).unwrap();
        assert_eq!(m.subject(), Some(s));
        let out = text(&out);
        assert_eq!(out.matches("Subject:").count(), 1);
        assert!(!out.contains('\0'), "{out}");
        // In the placeholder's place: after From, before To.
        let (from, subject, to) = (
            out.find("From:").unwrap(),
            out.find("Subject:").unwrap(),
            out.find("To:").unwrap(),
        );
        assert!(from < subject && subject < to, "{out}");
    }
}
