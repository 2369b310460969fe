//! Member CSV files, as `praxis members import` reads them and the
//! moderators' members page takes them by upload: the header
//! (`email,name,organisation,place,role,delivery`, any order, `email`
//! required), each row checked, bad rows kept with the line they start on
//! in the file (blank lines counted) and why; then the good rows added in
//! one transaction, with those already members told apart.

use crate::config::split_address;
use crate::model::{CommunityId, Delivery, Role};
use crate::moderation::commands::{Field, profile_value};
use crate::store::{Member, MemberFields, NewMember, Store, StoreError};

/// The columns a member CSV may have; `email` is required.
pub const COLUMNS: &[&str] = &["email", "name", "organisation", "place", "role", "delivery"];

/// A row that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BadRow {
    /// The line of the file it starts on, from 1 (the header).
    pub line: u64,
    /// Why, naming the field and the fix.
    pub reason: String,
}

/// A usable row.
#[derive(Debug, Clone, PartialEq)]
pub struct GoodRow {
    /// The line of the file it starts on.
    pub line: u64,
    /// The member it adds.
    pub member: NewMember,
}

/// A file read: its usable rows and its bad ones, in file order.
#[derive(Debug, Default)]
pub struct Rows {
    /// Rows to add.
    pub good: Vec<GoodRow>,
    /// Rows refused.
    pub bad: Vec<BadRow>,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Report {
    /// The members added, with their lines.
    pub added: Vec<(u64, Member)>,
    /// Rows whose address was already a member (or came earlier in the
    /// file): the line and the address.
    pub existing: Vec<(u64, String)>,
    /// Rows refused, by line.
    pub bad: Vec<BadRow>,
}

/// Reads a member CSV. A header that cannot be used (no `email` column, a
/// column not in [`COLUMNS`]) fails the whole file with a message starting
/// `line 1:`; a row that cannot be used is a [`BadRow`].
pub fn read(bytes: &[u8]) -> Result<Rows, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("line 1: cannot read the header line: {e}"))?
        .iter()
        // A spreadsheet's UTF-8 export may start with a byte-order mark.
        .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    let expected = COLUMNS.join(",");
    if header.iter().all(String::is_empty) {
        return Err(format!(
            "line 1: the file is empty; its first line is the header, e.g. {expected}"
        ));
    }
    if let Some(h) = header.iter().find(|h| !COLUMNS.contains(&h.as_str())) {
        return Err(format!(
            "line 1: unknown column `{h}`; the header is {expected}"
        ));
    }
    let col = |name: &str| header.iter().position(|h| h == name);
    let Some(email_col) = col("email") else {
        return Err(format!(
            "line 1: no `email` column; the header is {expected}"
        ));
    };
    let columns = Columns {
        email: email_col,
        name: col("name"),
        organisation: col("organisation"),
        place: col("place"),
        role: col("role"),
        delivery: col("delivery"),
    };
    let mut rows = Rows::default();
    let mut lines = Lines::new(bytes);
    let mut record = csv::StringRecord::new();
    loop {
        // Where the reader stands is where the last row ended: the blank
        // lines it skips next are not counted in any position it reports
        // (csv 1.x), so the row's line is found from the bytes.
        let line = lines.row_at(reader.position().byte());
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                rows.bad.push(BadRow {
                    line,
                    reason: format!("not a CSV row: {e}"),
                });
                continue;
            }
        }
        if record.iter().all(str::is_empty) {
            continue;
        }
        match columns.member(&record, header.len()) {
            Ok(member) => rows.good.push(GoodRow { line, member }),
            Err(reason) => rows.bad.push(BadRow { line, reason }),
        }
    }
    Ok(rows)
}

/// Line numbers of a file's bytes, counted forward once (`\n`, `\r\n` and
/// a lone `\r` each end a line, as for the CSV reader).
struct Lines<'a> {
    /// The file.
    bytes: &'a [u8],
    /// How far lines are counted.
    at: usize,
    /// The line `at` is on, from 1.
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Lines<'a> {
        Lines {
            bytes,
            at: 0,
            line: 1,
        }
    }

    /// The line of the first row starting at or after byte `from`: past
    /// the empty lines there, which the reader skips.
    fn row_at(&mut self, from: u64) -> u64 {
        let mut to = usize::try_from(from)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while matches!(self.bytes.get(to), Some(b'\r' | b'\n')) {
            to += 1;
        }
        while self.at < to {
            let b = self.bytes[self.at];
            if b == b'\n' || (b == b'\r' && self.bytes.get(self.at + 1) != Some(&b'\n')) {
                self.line += 1;
            }
            self.at += 1;
        }
        self.line
    }
}

/// Where each field is in a row.
struct Columns {
    email: usize,
    name: Option<usize>,
    organisation: Option<usize>,
    place: Option<usize>,
    role: Option<usize>,
    delivery: Option<usize>,
}

impl Columns {
    /// The member a row adds, or why it cannot.
    fn member(&self, record: &csv::StringRecord, width: usize) -> Result<NewMember, String> {
        if record.len() != width {
            return Err(format!(
                "{} fields, the header has {width}; quote a field that contains a comma",
                record.len()
            ));
        }
        let get = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let email = record.get(self.email).unwrap_or("").to_ascii_lowercase();
        if email.is_empty() {
            return Err("email: it is empty; every row needs an address".into());
        }
        if split_address(&email).is_none() {
            return Err(format!(
                "email: `{email}` is not an email address; write it as name@example.org"
            ));
        }
        let profile = |field: Field, i: Option<usize>| {
            get(i)
                .map(|v| profile_value(field, &v).map_err(|e| format!("{}: {e}", field.as_str())))
                .transpose()
        };
        let role = get(self.role)
            .map(|s| s.parse::<Role>().map_err(|e| format!("role: {e}")))
            .transpose()?;
        let delivery = get(self.delivery)
            .map(|s| s.parse::<Delivery>().map_err(|e| format!("delivery: {e}")))
            .transpose()?;
        Ok(NewMember {
            email,
            fields: MemberFields {
                name: profile(Field::Name, self.name)?,
                organisation: profile(Field::Organisation, self.organisation)?,
                place: profile(Field::Place, self.place)?,
                role,
                delivery,
                ..MemberFields::default()
            },
        })
    }
}

/// Adds the good rows of `rows` to `community` in one transaction, under
/// `actor`; an address already a member (or earlier in the file) is
/// reported, not changed.
pub fn import(
    store: &mut Store,
    community: CommunityId,
    rows: Rows,
    actor: &str,
) -> Result<Report, StoreError> {
    let (lines, new): (Vec<u64>, Vec<NewMember>) =
        rows.good.into_iter().map(|g| (g.line, g.member)).unzip();
    let results = store.add_members(community, &new, actor)?;
    let mut report = Report {
        bad: rows.bad,
        ..Report::default()
    };
    for ((line, m), r) in lines.into_iter().zip(new).zip(results) {
        match r {
            Ok(member) => report.added.push((line, member)),
            // add_members refuses only addresses already present.
            Err(_) => report.existing.push((line, m.email)),
        }
    }
    report.bad.sort();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(rows: &Rows) -> (Vec<u64>, Vec<u64>) {
        (
            rows.good.iter().map(|g| g.line).collect(),
            rows.bad.iter().map(|b| b.line).collect(),
        )
    }

    #[test]
    fn rows_are_numbered_by_the_line_they_start_on_blank_lines_counted() {
        let file = "email,name,role\n\
                    asha@example.org,Asha,member\n\
                    \n\
                    \n\
                    not-an-address,Bad,member\n\
                    ravi@example.org,Ravi,member\n\
                    \n\
                    meena@example.org,\"Meena\nKumar\",member\n\
                    x@example.org,X,boss\n\
                    last@example.org,Last,owner";
        let rows = read(file.as_bytes()).unwrap();
        // A quoted field over two lines: one row (whose name cannot hold
        // a line break); the next row's line counts both.
        assert_eq!(lines_of(&rows), (vec![2, 6, 11], vec![5, 8, 10]));
        let reasons: Vec<&str> = rows.bad.iter().map(|b| b.reason.as_str()).collect();
        assert!(reasons[0].starts_with("email:"), "{reasons:?}");
        assert!(reasons[1].starts_with("name:"), "{reasons:?}");
        assert!(reasons[2].starts_with("role: `boss`"), "{reasons:?}");
        // CRLF and a blank line right after the header.
        let crlf = "email\r\n\r\na@example.org\r\n\r\nb@\r\n";
        let rows = read(crlf.as_bytes()).unwrap();
        assert_eq!(lines_of(&rows), (vec![3], vec![5]));
    }

    #[test]
    fn a_header_without_email_or_with_an_unknown_column_fails_the_file() {
        assert!(
            read("name\nAsha\n".as_bytes())
                .unwrap_err()
                .contains("no `email` column")
        );
        assert!(
            read("email,phone\n".as_bytes())
                .unwrap_err()
                .contains("unknown column `phone`")
        );
        assert!(read("".as_bytes()).unwrap_err().starts_with("line 1:"));
        let rows = read("\u{feff}Email,Name\nA@Example.org, Asha \n".as_bytes()).unwrap();
        assert_eq!(rows.good[0].member.email, "a@example.org");
        assert_eq!(rows.good[0].member.fields.name.as_deref(), Some("Asha"));
    }

    #[test]
    fn bad_fields_name_the_field() {
        let file = "email,name,delivery\n\
                    a@example.org,A,weekly\n\
                    b@example.org,\"B\u{202e}x\",each\n\
                    c@example.org,C\n";
        let rows = read(file.as_bytes()).unwrap();
        let reasons: Vec<&str> = rows.bad.iter().map(|b| b.reason.as_str()).collect();
        assert!(
            reasons[0].starts_with("delivery: `weekly` is not a valid delivery mode"),
            "{reasons:?}"
        );
        assert!(reasons[1].starts_with("name:"), "{reasons:?}");
        assert!(
            reasons[2].starts_with("2 fields, the header has 3"),
            "{reasons:?}"
        );
        assert_eq!(lines_of(&rows).1, vec![2, 3, 4]);
    }
}
