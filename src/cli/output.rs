//! How commands print: a table for people, JSON for scripts, nothing when quiet.

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

    /// Prints a value as pretty JSON.
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(value)?);
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
            t.add_row(r);
        }
        println!("{t}");
    }

    /// Prints a line saying what changed (suppressed by -q; goes to stderr with --json).
    pub fn say(&self, line: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        if self.json {
            eprintln!("{}", line.as_ref());
        } else {
            println!("{}", line.as_ref());
        }
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM` in a time zone.
pub fn local_time(ts: i64, tz: chrono_tz::Tz) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// A Unix time as RFC 3339 UTC, for JSON.
pub fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
