//! A text/plain body encoded once per message and spliced with each
//! recipient's footer, byte for byte what encoding the whole would give.
//!
//! A member's copy of a plain-text post is the post's text with their footer
//! appended. Encoding that text anew for each of 20,000 copies was a fifth
//! of the sender's CPU. Both body encodings restart at known points:
//! quoted-printable at every line end, base64 at every 57-byte input line
//! (76 output characters). So the text, which ends in a line end, is
//! encoded once, and each copy encodes only what follows the restart point.
//!
//! The choice between 7bit, quoted-printable and base64 is mail-builder
//! 0.4's (`get_encoding_type` for a body): [`Scan`] counts what it counts,
//! and the counts of the text and of a footer add up to those of the whole.
//! A property test compares every copy with mail-builder encoding the whole,
//! so a mail-builder whose rule changed fails it rather than drifting.
//!
//! Invariant: no I/O; nothing here knows about recipients or headers.

use std::sync::OnceLock;

use mail_builder::encoders::base64::base64_encode_mime;
use mail_builder::encoders::quoted_printable::quoted_printable_encode;

use crate::digest;
use crate::mail::crlf_into;

/// Input bytes per base64 line: 57 bytes make 76 characters.
const BASE64_LINE: usize = 57;

/// A Content-Transfer-Encoding for a text body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Short ASCII lines, sent as they are (bare LF made CRLF).
    SevenBit,
    /// Mostly ASCII: quoted-printable.
    QuotedPrintable,
    /// Mostly not ASCII: base64.
    Base64,
}

impl Encoding {
    /// The header value.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::SevenBit => "7bit",
            Encoding::QuotedPrintable => "quoted-printable",
            Encoding::Base64 => "base64",
        }
    }
}

/// What decides the encoding, counted over some bytes: they add up over
/// pieces that start at a line start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Scan {
    /// Quoted-printable length, without the soft line breaks.
    qp: usize,
    /// Whether 7bit will not do (a byte past ASCII, a line over 77, a
    /// space before a line end).
    needs: bool,
}

impl Scan {
    fn of(input: &[u8]) -> Scan {
        let mut s = Scan::default();
        let mut line = 0usize;
        let mut prev = 0u8;
        for (pos, &ch) in input.iter().enumerate() {
            line += 1;
            let space_at_end = (ch == b' ' || ch == b'\t')
                && (matches!(input.get(pos + 1..), Some([b'\n', ..] | [b'\r', b'\n', ..]))
                    || pos == input.len() - 1);
            if ch >= 127 || space_at_end {
                s.qp += 3;
                s.needs = true;
            } else if ch == b'=' {
                s.qp += 3;
            } else if ch == b'\n' {
                s.needs |= line > 77;
                s.qp += if prev == b'\r' { 1 } else { 2 };
                line = 0;
            } else {
                s.qp += 1;
            }
            prev = ch;
        }
        s.needs |= line > 77;
        s
    }

    fn add(self, other: Scan) -> Scan {
        Scan {
            qp: self.qp + other.qp,
            needs: self.needs || other.needs,
        }
    }

    /// The encoding for `len` bytes that scanned as `self`.
    fn encoding(self, len: usize) -> Encoding {
        let base64_len = (len * 4 / 3 + 3) & !3;
        if !self.needs {
            Encoding::SevenBit
        } else if self.qp + len / 76 < base64_len {
            Encoding::QuotedPrintable
        } else {
            Encoding::Base64
        }
    }
}

/// A text body, with what every copy shares encoded on first use.
#[derive(Debug)]
pub struct TextBody {
    /// The text, ending in a line end (one is added when it had none).
    lined: String,
    /// Whether `lined`'s last line end was added.
    added_newline: bool,
    /// The scan of `lined`.
    scan: Scan,
    /// `lined` in quoted-printable.
    qp: OnceLock<Vec<u8>>,
    /// `lined` up to its last whole base64 line, in base64.
    base64_head: OnceLock<Vec<u8>>,
    /// The text as it is (no footer), encoded.
    alone: OnceLock<(Encoding, Vec<u8>)>,
}

impl Clone for TextBody {
    fn clone(&self) -> Self {
        TextBody::new(self.text().to_string())
    }
}

impl TextBody {
    /// Keeps `text`; nothing is encoded yet.
    pub fn new(text: String) -> TextBody {
        let mut lined = text;
        let added_newline = !lined.ends_with('\n');
        if added_newline {
            lined.push('\n');
        }
        let scan = Scan::of(lined.as_bytes());
        TextBody {
            lined,
            added_newline,
            scan,
            qp: OnceLock::new(),
            base64_head: OnceLock::new(),
            alone: OnceLock::new(),
        }
    }

    /// The text as stored.
    pub fn text(&self) -> &str {
        if self.added_newline {
            &self.lined[..self.lined.len() - 1]
        } else {
            &self.lined
        }
    }

    /// The text alone, encoded (the same for every copy).
    pub fn encoded(&self) -> (Encoding, &[u8]) {
        let (e, b) = self.alone.get_or_init(|| {
            let text = self.text().as_bytes();
            let e = Scan::of(text).encoding(text.len());
            (e, encode(e, text))
        });
        (*e, b)
    }

    /// The text, a line end if it had none, then `footer`, encoded: what
    /// mail-builder makes of the whole, from the shared part and the footer.
    pub fn with_footer(&self, footer: &str) -> (Encoding, Vec<u8>) {
        let f = footer.as_bytes();
        let total = self.lined.len() + f.len();
        let e = self.scan.add(Scan::of(f)).encoding(total);
        // Quoted-printable remembers the byte before a line end; a footer
        // that starts with one is encoded whole with the text (never ours).
        if e == Encoding::QuotedPrintable && matches!(f.first(), Some(b'\n' | b'\r')) {
            let whole = [self.lined.as_bytes(), f].concat();
            return (e, encode(e, &whole));
        }
        let mut out = Vec::with_capacity(total * 4 / 3 + 64);
        match e {
            Encoding::SevenBit => {
                crlf_into(self.lined.as_bytes(), &mut out);
                crlf_into(f, &mut out);
            }
            Encoding::QuotedPrintable => {
                out.extend_from_slice(
                    self.qp
                        .get_or_init(|| encode(Encoding::QuotedPrintable, self.lined.as_bytes())),
                );
                quoted_printable_encode(f, &mut out, true).expect("writing to a Vec");
            }
            Encoding::Base64 => {
                let cut = self.lined.len() - self.lined.len() % BASE64_LINE;
                out.extend_from_slice(
                    self.base64_head
                        .get_or_init(|| encode(Encoding::Base64, &self.lined.as_bytes()[..cut])),
                );
                let tail = [&self.lined.as_bytes()[cut..], f].concat();
                base64_encode_mime(&tail, &mut out, false).expect("writing to a Vec");
            }
        }
        (e, out)
    }
}

/// `input` in encoding `e`, as mail-builder writes a body.
fn encode(e: Encoding, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() * 4 / 3 + 64);
    match e {
        Encoding::SevenBit => crlf_into(input, &mut out),
        Encoding::QuotedPrintable => {
            quoted_printable_encode(input, &mut out, true).expect("writing to a Vec");
        }
        Encoding::Base64 => {
            base64_encode_mime(input, &mut out, false).expect("writing to a Vec");
        }
    }
    out
}

/// An RFC 1153 issue with a member's footer as its last message, before the
/// final separator, so "End of … Digest" and the asterisks stay the last
/// lines. Text that is not such an issue gets the footer appended.
pub fn text_with_footer(text: &str, footer: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let end = format!("\n{}\n\nEnd of ", digest::render::MESSAGE);
    match text.rfind(&end) {
        Some(at) => format!("{}\n\n{}\n{}", &text[..at], footer.trim_end(), &text[at..]),
        None => {
            let mut t = text;
            if !t.ends_with('\n') {
                t.push('\n');
            }
            t.push_str(footer);
            t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_builder::headers::content_type::ContentType;
    use mail_builder::mime::{BodyPart, MimePart};
    use proptest::prelude::*;

    fn part(p: MimePart<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        p.write_part(&mut out).unwrap();
        out
    }

    fn ct() -> ContentType<'static> {
        ContentType::new("text/plain").attribute("charset", "utf-8")
    }

    /// What mail-builder writes for `text` as one text part.
    fn whole(text: &str) -> Vec<u8> {
        part(MimePart::new(ct(), BodyPart::Text(text.to_string().into())))
    }

    /// The same part from a spliced body.
    fn spliced(e: Encoding, body: Vec<u8>) -> Vec<u8> {
        part(MimePart::new(ct(), BodyPart::Binary(body.into())).transfer_encoding(e.name()))
    }

    fn footer(recipient: &str) -> String {
        format!(
            "-- \nMaternal Health <list@example.test>\nYou receive this as a member: {recipient}\n\
             To leave, email list-request@example.test with the subject \"unsubscribe\",\n\
             or open https://lists.example.test/u/health?m={recipient}&t=0a1b2c\n"
        )
    }

    #[test]
    fn each_encoding_is_chosen_and_spliced_as_the_whole_would_be() {
        let cases = [
            (
                "ascii, short lines",
                "Dear all,\nWe ran mobile clinics.\n".to_string(),
            ),
            ("no final line end", "One line".to_string()),
            ("empty", String::new()),
            ("Hindi", "मातृ स्वास्थ्य पर अनुभव साझा करें।\n".repeat(20)),
            ("one long line", "x".repeat(500)),
            ("= signs and tabs", "a=b\t\nc = d \n".repeat(40)),
        ];
        let mut seen = Vec::new();
        for (what, text) in cases {
            let body = TextBody::new(text.clone());
            for who in ["a@example.org", "श्री@उदाहरण.भारत"] {
                let f = footer(who);
                let (e, bytes) = body.with_footer(&f);
                seen.push(e);
                let mut all = body.text().to_string();
                if !all.ends_with('\n') {
                    all.push('\n');
                }
                all.push_str(&f);
                assert_eq!(
                    String::from_utf8_lossy(&spliced(e, bytes)),
                    String::from_utf8_lossy(&whole(&all)),
                    "{what}, {who}"
                );
            }
            let (e, bytes) = body.encoded();
            assert_eq!(
                String::from_utf8_lossy(&spliced(e, bytes.to_vec())),
                String::from_utf8_lossy(&whole(&text)),
                "{what}, no footer"
            );
            seen.push(e);
        }
        for e in [
            Encoding::SevenBit,
            Encoding::QuotedPrintable,
            Encoding::Base64,
        ] {
            assert!(seen.contains(&e), "{e:?} was never chosen: {seen:?}");
        }
    }

    proptest! {
        #[test]
        fn a_spliced_copy_is_the_whole_encoded(
            text in "(?s).{0,400}",
            footer in "[^\r\n](?s).{0,200}",
            repeat in 1usize..4,
        ) {
            let text = text.repeat(repeat);
            let body = TextBody::new(text.clone());
            let (e, bytes) = body.with_footer(&footer);
            let mut all = text.clone();
            if !all.ends_with('\n') {
                all.push('\n');
            }
            all.push_str(&footer);
            prop_assert_eq!(spliced(e, bytes), whole(&all));
            let (e, bytes) = body.encoded();
            prop_assert_eq!(spliced(e, bytes.to_vec()), whole(&text));
        }
    }

    #[test]
    fn a_member_footer_goes_before_the_end_line() {
        let m = digest::render::MESSAGE;
        let text = format!(
            "Health Digest, Vol 2, Issue 14\n\nToday's Topics:\n\n{m}\n\nFrom: a\n\nhello\n\n{m}\n\nEnd of Maternal and Child Health Digest, Vol 2, Issue 14\n{}\n",
            "*".repeat(56)
        );
        let out = text_with_footer(&text, "-- \nYou receive this as dee@example.org\n");
        let lines: Vec<&str> = out.lines().collect();
        let n = lines.len();
        assert_eq!(
            lines[n - 2],
            "End of Maternal and Child Health Digest, Vol 2, Issue 14"
        );
        assert_eq!(lines[n - 4], digest::render::MESSAGE);
        assert_eq!(lines[n - 6], "You receive this as dee@example.org");
        assert_eq!(lines[n - 7], "-- ");
        assert_eq!(
            text_with_footer("just text", "footer\n"),
            "just text\nfooter\n",
            "other text gets it appended"
        );
    }
}
