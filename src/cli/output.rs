//! How commands print: a table for people, JSON for scripts, nothing when quiet.
//!
//! Invariant: text for people passes through [`safe`] (tables and `say` do it
//! themselves), because most of it comes from mail: a Subject can carry an
//! escape sequence that retitles or clears the moderator's terminal, or a
//! right-to-left override that makes `evil.exe` read `exe.live`.

use std::borrow::Cow;
use std::io::Write;

use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;

/// The output mode chosen on the command line.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// `--json`: machine-readable output.
    pub json: bool,
    /// `-q`: print only errors.
    pub quiet: bool,
}

impl Output {
    /// The mode for these flags.
    pub fn new(json: bool, quiet: bool) -> Self {
        Self { json, quiet }
    }

    /// Prints a value as pretty JSON. Standard output closed under us
    /// (`praxis threads --json | head -1`) is an error the binary treats
    /// as success, not a panic (`println!` panicked, exit 101, after an
    /// import had already committed).
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")?;
        out.flush()?;
        Ok(())
    }

    /// Prints a table with a header row.
    pub fn table(&self, header: &[&str], rows: Vec<Vec<String>>) {
        if self.quiet {
            return;
        }
        let mut t = Table::new();
        t.load_preset(UTF8_BORDERS_ONLY)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(header.iter().copied());
        for r in rows {
            t.add_row(r.iter().map(|cell| safe_line(cell).into_owned()));
        }
        // A reader that went away misses the table; nothing else is lost.
        let _ = writeln!(std::io::stdout().lock(), "{t}");
    }

    /// Prints a line saying what changed (suppressed by -q; goes to stderr with --json).
    pub fn say(&self, line: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        let line = safe(line.as_ref());
        if self.json {
            eprintln!("{line}");
        } else {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }
}

/// Whether a terminal would act on `c` rather than show it: C0 and C1
/// controls and DEL (escape sequences; a lone CR overwrites the line), and
/// the bidi embeddings, overrides and isolates (they reorder what follows).
fn acts(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` fit for a terminal: every character a terminal would act on is
/// shown as `\u{…}` instead; line ends and tabs stay.
pub fn safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if acts(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// [`safe`] for one table cell or header line: line ends and tabs become
/// spaces too.
pub fn safe_line(text: &str) -> Cow<'_, str> {
    match safe(text) {
        Cow::Borrowed(t) if !t.contains(['\n', '\t']) => Cow::Borrowed(t),
        t => Cow::Owned(t.replace(['\n', '\t'], " ")),
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM` in a time zone.
pub fn local_time(ts: i64, tz: chrono_tz::Tz) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// A Unix time in a community's zone with the zone's abbreviation
/// (`2026-12-01 09:00 IST`), where the zone is not otherwise clear.
pub fn zoned_time(ts: i64, tz: chrono_tz::Tz) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_default()
}

/// A Unix time as RFC 3339 UTC, for JSON.
pub fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_and_bidi_overrides_are_shown_not_obeyed() {
        assert_eq!(safe("Clinics in Assam"), "Clinics in Assam");
        assert!(matches!(safe("मातृ स्वास्थ्य\n\tok"), Cow::Borrowed(_)));
        assert_eq!(
            safe("a\u{1b}]0;pwned\u{7}b\u{1b}[2Jc"),
            "a\\u{1b}]0;pwned\\u{7}b\\u{1b}[2Jc"
        );
        assert_eq!(safe("evil\u{202e}exe.txt"), "evil\\u{202e}exe.txt");
        assert_eq!(safe("x\u{9b}31m\ry\u{0}"), "x\\u{9b}31m\\u{d}y\\u{0}");
        assert_eq!(safe_line("two\nlines\there"), "two lines here");
    }
}
