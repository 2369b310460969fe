//! `praxis db copy`: an install's SQLite database copied into PostgreSQL,
//! table by table, then verified (row counts and checksums on both sides).
//!
//! The plan (tables, columns, order) is in `copy/plan.rs`, the statements
//! that write rows in `copy/statements.rs`; here is the procedure: the
//! streamed copy, the second pass for the references that point forward,
//! the sequences, and the verification.
//!
//! Invariants:
//! - The source is read inside one read transaction: a consistent snapshot
//!   even while `praxis serve` writes to it; it is opened read-only and
//!   never migrated (a source at another schema version is refused).
//! - No table or column is dropped silently: the column lists come from
//!   both schemas and any difference (other than the engines' own search
//!   columns and SQLite's FTS5 tables) stops the copy, naming it.
//! - Memory stays bounded: rows stream from SQLite into batches of at most
//!   [`BATCH_ROWS`] rows or [`BATCH_BYTES`] bytes, each its own
//!   transaction, and the verification reads PostgreSQL through a cursor.
//! - Re-running is safe: rows are upserted by primary key and a row equal
//!   to the source's is left as it is, so a re-run completes a partial copy
//!   and changes nothing on a complete one. A target holding another
//!   install's communities is refused before anything is written.

mod plan;
mod statements;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use sha2::{Digest, Sha256};
use tokio_postgres::types::Type;

use super::engine::{Conn, Queries, Row, ToValue, Value, params};
use super::migrate::MIGRATIONS;
use super::{Result, Store, StoreError};
use plan::{Kind, MEMBER_ID_HIGH, Table, plan, quote};
use statements::{insert_sql, link_sql};

/// Rows in one batch (one transaction on the target) at most.
const BATCH_ROWS: usize = 1024;
/// Bytes of values in one batch at most (a batch of posts with their raw
/// messages, or of attachments, ends sooner than [`BATCH_ROWS`]).
const BATCH_BYTES: usize = 8 << 20;
/// Rows in one INSERT at most: a batch is sent as statements of 256, 128,
/// … 1 rows, so each table needs at most nine statement texts.
const STATEMENT_ROWS: usize = 256;
/// How often a long table reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// One table's copy, as verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedTable {
    /// The table's name on PostgreSQL.
    pub table: String,
    /// Rows in the source.
    pub rows: u64,
    /// Rows this run inserted or changed on the target (0 on a re-run onto
    /// a complete copy).
    pub written: u64,
    /// Rows whose forward references (`posts.parent_id`) this run set in
    /// its second pass.
    pub linked: u64,
    /// Rows on the target after the copy.
    pub target_rows: u64,
    /// SHA-256 over the source's rows in primary-key order, each value in
    /// one canonical form (hex).
    pub checksum: String,
    /// The same over the target's rows.
    pub target_checksum: String,
}

impl CopiedTable {
    /// Whether the target holds exactly the source's rows.
    pub fn ok(&self) -> bool {
        self.rows == self.target_rows && self.checksum == self.target_checksum
    }
}

/// What a copy did.
#[derive(Debug, Clone)]
pub struct CopyReport {
    /// The schema version both databases are at.
    pub schema_version: i64,
    /// When the source's daemon last said it was running (Unix seconds),
    /// if it ever did: a recent time means `praxis serve` may still write
    /// to the source after the snapshot that was copied.
    pub daemon_seen_at: Option<i64>,
    /// Every table, in the order copied.
    pub tables: Vec<CopiedTable>,
}

/// A value read from either side, in the family of its target column.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

impl Cell {
    /// Roughly how much memory it holds.
    fn size(&self) -> usize {
        match self {
            Cell::Text(s) => s.len() + 24,
            Cell::Bytes(b) => b.len() + 24,
            _ => 16,
        }
    }

    /// Its canonical form into a checksum: a tag, then the value (lengths
    /// first for text and bytes), so no two rows hash alike by accident.
    fn hash(&self, h: &mut Sha256) {
        match self {
            Cell::Null => h.update([0]),
            Cell::Int(i) => {
                h.update([1]);
                h.update(i.to_be_bytes());
            }
            Cell::Real(f) => {
                h.update([2]);
                h.update(f.to_bits().to_be_bytes());
            }
            Cell::Text(s) => {
                h.update([3]);
                h.update((s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
            Cell::Bytes(b) => {
                h.update([4]);
                h.update((b.len() as u64).to_be_bytes());
                h.update(b);
            }
        }
    }
}

impl ToValue for Cell {
    fn to_value(&self) -> Value<'_> {
        match self {
            Cell::Null => Value::Null,
            Cell::Int(i) => Value::Int(*i),
            Cell::Real(f) => Value::Real(*f),
            Cell::Text(s) => Value::Text(s),
            Cell::Bytes(b) => Value::Blob(b),
        }
    }
}

/// A failure in one table, named.
fn in_table(table: &str, e: StoreError) -> StoreError {
    StoreError::Conflict(format!("copying table {table}: {e}"))
}

/// The SQL NULL a deferred column is first written as.
static NULL: Cell = Cell::Null;

impl Store {
    /// Copies the SQLite database at `source` into the PostgreSQL database
    /// at `url` (migrated to the current schema first), then verifies
    /// every table's rows and checksum on both sides. `progress` hears a
    /// line per table, and now and then within a long one.
    pub fn copy_to_postgres(
        source: &Path,
        url: &str,
        password: Option<&str>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<CopyReport> {
        let lite = Conn::Sqlite(open_source(source)?);
        let known = MIGRATIONS.last().map_or(0, |m| m.version);
        let version: i64 = lite.query_one("PRAGMA user_version", params![], |r| r.get(0))?;
        if version != known {
            return Err(StoreError::Conflict(format!(
                "the SQLite database {} is at schema version {version} and this praxis at {known}: {}",
                source.display(),
                if version < known {
                    "run `praxis init` (or any command that opens the database) first, so it is migrated, then copy again"
                } else {
                    "it was written by a newer praxis; copy it with that version"
                }
            )));
        }
        // One snapshot for the whole copy, from its first read on.
        lite.execute_batch("BEGIN")?;
        let daemon_seen_at: Option<i64> = lite.query_opt(
            "SELECT updated_at FROM daemon_health WHERE key = 'daemon' AND state = 'running'",
            params![],
            |r| r.get(0),
        )?;
        let mut target = Store::connect(url, password)?;
        let target_version = target.schema_version()?;
        if target_version != version {
            return Err(StoreError::Conflict(format!(
                "the PostgreSQL database is at schema version {target_version}, the SQLite one at {version}; copy with the praxis that wrote both"
            )));
        }
        refuse_another_install(&lite, &target.conn)?;
        let plan = plan(&lite, &target.conn)?;
        let mut tables = Vec::with_capacity(plan.len());
        for t in &plan {
            let copied = copy_table(&lite, &mut target.conn, t, progress)
                .map_err(|e| in_table(&t.name, e))?;
            tables.push(copied);
        }
        for (t, copied) in plan.iter().zip(tables.iter_mut()) {
            if !t.deferred.is_empty() {
                copied.linked =
                    link(&lite, &mut target.conn, t, progress).map_err(|e| in_table(&t.name, e))?;
            }
        }
        set_sequences(&lite, &target.conn, &plan)?;
        progress(&format!("verifying {} tables", plan.len()));
        for (t, copied) in plan.iter().zip(tables.iter_mut()) {
            let (rows, sum) =
                checksum_target(&mut target.conn, t).map_err(|e| in_table(&t.name, e))?;
            copied.target_rows = rows;
            copied.target_checksum = sum;
        }
        lite.execute_batch("COMMIT")?;
        Ok(CopyReport {
            schema_version: version,
            daemon_seen_at,
            tables,
        })
    }
}

/// The SQLite file, opened read-only (the copy never writes to it, and
/// does not migrate it).
fn open_source(path: &Path) -> Result<rusqlite::Connection> {
    if !path.is_file() {
        return Err(StoreError::NotFound(format!(
            "no SQLite database at {}: set database.path to the install's database file",
            path.display()
        )));
    }
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Open {
        path: path.to_path_buf(),
        source: Box::new(e),
    })?;
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    Ok(conn)
}

/// Refuses a target that holds communities the source does not have (by
/// id and slug): another install's database, which upserting by id would
/// mix with this one.
fn refuse_another_install(lite: &Conn, pg: &Conn) -> Result<()> {
    let sql = "SELECT id, slug FROM communities ORDER BY id";
    let row = |r: &Row<'_>| Ok((r.get::<i64>(0)?, r.get::<String>(1)?));
    let ours = lite.query_map(sql, params![], row)?;
    let theirs = pg.query_map(sql, params![], row)?;
    let foreign: Vec<String> = theirs
        .iter()
        .filter(|c| !ours.contains(c))
        .map(|(id, slug)| format!("`{slug}` (id {id})"))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(StoreError::Conflict(format!(
        "the PostgreSQL database already holds another install's data: communities {} are not this install's; copy into a new, empty database (createdb), or drop that one first",
        foreign.join(", ")
    )))
}

/// A SQLite value as its PostgreSQL column's kind carries it; why not,
/// when it cannot be (text that is not UTF-8, a word in a number column).
fn from_sqlite(v: ValueRef<'_>, kind: Kind) -> std::result::Result<Cell, String> {
    let text = |b: &[u8]| -> std::result::Result<String, String> {
        let s = std::str::from_utf8(b).map_err(|_| "text that is not UTF-8".to_string())?;
        if s.contains('\0') {
            return Err("text holding a NUL character, which PostgreSQL's text cannot".into());
        }
        Ok(s.to_string())
    };
    Ok(match (v, kind) {
        (ValueRef::Null, _) => Cell::Null,
        (ValueRef::Integer(i), Kind::Int) => Cell::Int(i),
        (ValueRef::Integer(i), Kind::Real) => Cell::Real(i as f64),
        (ValueRef::Integer(i), Kind::Text) => Cell::Text(i.to_string()),
        (ValueRef::Real(f), Kind::Real) => Cell::Real(f),
        (ValueRef::Real(f), Kind::Int) if f.fract() == 0.0 && f.abs() < 9.0e18 => {
            Cell::Int(f as i64)
        }
        (ValueRef::Text(b), Kind::Text) => Cell::Text(text(b)?),
        (ValueRef::Text(b), Kind::Int) => Cell::Int(
            text(b)?
                .trim()
                .parse()
                .map_err(|_| "text where PostgreSQL's column holds integers".to_string())?,
        ),
        (ValueRef::Blob(b) | ValueRef::Text(b), Kind::Bytes) => Cell::Bytes(b.to_vec()),
        (v, kind) => {
            return Err(format!(
                "a {} value where PostgreSQL's column holds {kind:?}",
                v.data_type()
            ));
        }
    })
}

/// A PostgreSQL value as its column's kind carries it.
fn from_postgres(r: &tokio_postgres::Row, i: usize, kind: Kind) -> Result<Cell> {
    let ty = r.columns()[i].type_();
    Ok(match kind {
        Kind::Int => match *ty {
            Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map(i64::from),
            Type::INT2 => r.try_get::<_, Option<i16>>(i)?.map(i64::from),
            _ => r.try_get::<_, Option<i64>>(i)?,
        }
        .map_or(Cell::Null, Cell::Int),
        Kind::Real => match *ty {
            Type::FLOAT4 => r.try_get::<_, Option<f32>>(i)?.map(f64::from),
            _ => r.try_get::<_, Option<f64>>(i)?,
        }
        .map_or(Cell::Null, Cell::Real),
        Kind::Text => r
            .try_get::<_, Option<&str>>(i)?
            .map_or(Cell::Null, |s| Cell::Text(s.to_string())),
        Kind::Bytes => r
            .try_get::<_, Option<&[u8]>>(i)?
            .map_or(Cell::Null, |b| Cell::Bytes(b.to_vec())),
    })
}

/// Runs `rows` through statements of 256, 128, … 1 rows (each text made
/// once by `sql` and kept in `statements`), in one transaction; the number
/// of rows they changed.
fn write_batch(
    pg: &mut Conn,
    rows: &[Vec<&dyn ToValue>],
    statements: &mut HashMap<usize, String>,
    sql: &dyn Fn(usize) -> String,
) -> Result<u64> {
    let tx = pg.transaction()?;
    let mut written = 0;
    let mut rest = rows;
    while !rest.is_empty() {
        let k = 1 << rest.len().min(STATEMENT_ROWS).ilog2();
        let (chunk, tail) = rest.split_at(k);
        let text = statements.entry(k).or_insert_with(|| sql(k));
        let values: Vec<&dyn ToValue> = chunk.iter().flatten().copied().collect();
        written += tx.execute(text, &values)? as u64;
        rest = tail;
    }
    tx.commit()?;
    Ok(written)
}

/// Reports a long table's progress at most every [`PROGRESS_EVERY`].
struct Ticker {
    /// When it last reported.
    last: Instant,
}

impl Ticker {
    fn new() -> Ticker {
        Ticker {
            last: Instant::now(),
        }
    }

    fn tick(&mut self, progress: &mut dyn FnMut(&str), line: impl FnOnce() -> String) {
        if self.last.elapsed() >= PROGRESS_EVERY {
            progress(&line());
            self.last = Instant::now();
        }
    }
}

/// Streams one table's rows from SQLite into PostgreSQL in batches,
/// hashing them on the way: the table's source count and checksum, and
/// how many rows were written.
fn copy_table(
    lite: &Conn,
    pg: &mut Conn,
    t: &Table,
    progress: &mut dyn FnMut(&str),
) -> Result<CopiedTable> {
    let total: i64 = lite.query_one(
        &format!("SELECT count(*) FROM {}", t.from),
        params![],
        |r| r.get(0),
    )?;
    let conn = lite.sqlite()?;
    let mut stmt = conn.prepare(&t.source(&t.all()))?;
    let mut rows = stmt.query([])?;
    let mut hash = Sha256::new();
    let mut batch: Vec<Vec<Cell>> = Vec::new();
    let (mut bytes, mut count, mut written) = (0usize, 0u64, 0u64);
    let mut statements = HashMap::new();
    let mut ticker = Ticker::new();
    let sql = |k| insert_sql(t, k);
    let mut flush = |batch: &mut Vec<Vec<Cell>>| -> Result<u64> {
        let refs: Vec<Vec<&dyn ToValue>> = batch
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if t.deferred.contains(&i) {
                            &NULL as &dyn ToValue
                        } else {
                            c as &dyn ToValue
                        }
                    })
                    .collect()
            })
            .collect();
        let n = write_batch(pg, &refs, &mut statements, &sql)?;
        batch.clear();
        Ok(n)
    };
    while let Some(r) = rows.next()? {
        count += 1;
        let mut cells = Vec::with_capacity(t.columns.len());
        for (i, c) in t.columns.iter().enumerate() {
            let cell = from_sqlite(r.get_ref(i)?, c.kind).map_err(|why| {
                StoreError::Conflict(format!(
                    "column {} of its row {count} (in key order) holds {why}",
                    c.name
                ))
            })?;
            cell.hash(&mut hash);
            bytes += cell.size();
            cells.push(cell);
        }
        batch.push(cells);
        if batch.len() >= BATCH_ROWS || bytes >= BATCH_BYTES {
            written += flush(&mut batch)?;
            bytes = 0;
            ticker.tick(progress, || format!("{}: {count}/{total} rows", t.name));
        }
    }
    written += flush(&mut batch)?;
    progress(&format!(
        "{}: {count} rows copied, {written} written",
        t.name
    ));
    Ok(CopiedTable {
        table: t.name.clone(),
        rows: count,
        written,
        linked: 0,
        target_rows: 0,
        checksum: hex::encode(hash.finalize()),
        target_checksum: String::new(),
    })
}

/// The second pass: sets the deferred references of `t` from the source,
/// now that every row they point at is there; how many rows changed.
fn link(lite: &Conn, pg: &mut Conn, t: &Table, progress: &mut dyn FnMut(&str)) -> Result<u64> {
    let which: Vec<usize> = t.key.iter().chain(t.deferred.iter()).copied().collect();
    let conn = lite.sqlite()?;
    let mut stmt = conn.prepare(&t.source(&which))?;
    let mut rows = stmt.query([])?;
    let mut batch: Vec<Vec<Cell>> = Vec::new();
    let mut statements = HashMap::new();
    let sql = |k| link_sql(t, k);
    let mut written = 0;
    let mut flush = |batch: &mut Vec<Vec<Cell>>| -> Result<u64> {
        let refs: Vec<Vec<&dyn ToValue>> = batch
            .iter()
            .map(|row| row.iter().map(|c| c as &dyn ToValue).collect())
            .collect();
        let n = write_batch(pg, &refs, &mut statements, &sql)?;
        batch.clear();
        Ok(n)
    };
    while let Some(r) = rows.next()? {
        let mut cells = Vec::with_capacity(which.len());
        for (j, &i) in which.iter().enumerate() {
            let c = &t.columns[i];
            cells.push(
                from_sqlite(r.get_ref(j)?, c.kind).map_err(|why| {
                    StoreError::Conflict(format!("column {} holds {why}", c.name))
                })?,
            );
        }
        batch.push(cells);
        if batch.len() >= BATCH_ROWS {
            written += flush(&mut batch)?;
        }
    }
    written += flush(&mut batch)?;
    let names: Vec<&str> = t
        .deferred
        .iter()
        .map(|&i| t.columns[i].name.as_str())
        .collect();
    progress(&format!(
        "{}: {} set on {written} rows",
        t.name,
        names.join(", ")
    ));
    Ok(written)
}

/// Moves every identity sequence past the highest id copied, so the next
/// row PostgreSQL numbers does not collide with a copied one; the members'
/// also past every id SQLite ever gave (its `member_id_high`), so a removed
/// member's id is never given again.
fn set_sequences(lite: &Conn, pg: &Conn, plan: &[Table]) -> Result<()> {
    let member_high: i64 = lite.query_one(
        &format!("SELECT COALESCE(MAX(high), 0) FROM {MEMBER_ID_HIGH}"),
        params![],
        |r| r.get(0),
    )?;
    for t in plan {
        for c in t.columns.iter().filter(|c| c.identity) {
            let floor = if t.name == "members" { member_high } else { 0 };
            pg.query_one(
                &format!(
                    "SELECT setval(pg_get_serial_sequence(?1, ?2),
                                   GREATEST(COALESCE((SELECT max({}) FROM {}), 0), ?3) + 1, false)",
                    quote(&c.name),
                    quote(&t.name)
                ),
                params![t.name, c.name, floor],
                |r| r.get::<i64>(0),
            )?;
        }
    }
    Ok(())
}

/// The target's row count and checksum for `t`, read through a cursor in
/// primary-key order, as few rows at a time as keeps a fetch near
/// [`BATCH_BYTES`].
fn checksum_target(pg: &mut Conn, t: &Table) -> Result<(u64, String)> {
    let tx = pg.transaction()?;
    // A cursor of its own name per table: a FETCH is prepared once per
    // statement text, with the columns of the cursor it first met.
    let cursor = quote(&format!("praxis_copy_{}", t.name));
    tx.execute_batch(&format!(
        "DECLARE {cursor} NO SCROLL CURSOR FOR SELECT {} FROM {} ORDER BY {}",
        t.names(t.all().into_iter()),
        quote(&t.name),
        t.target_order()
    ))?;
    let mut hash = Sha256::new();
    let mut count = 0u64;
    let mut fetch = 1000;
    loop {
        let mut bytes = 0usize;
        let got = tx
            .query_map(&format!("FETCH {fetch} FROM {cursor}"), params![], |r| {
                let Row::Postgres(r) = r else {
                    return Err(StoreError::Unsupported("a SQLite row here".into()));
                };
                for (i, c) in t.columns.iter().enumerate() {
                    let cell = from_postgres(r, i, c.kind)?;
                    cell.hash(&mut hash);
                    bytes += cell.size();
                }
                Ok(())
            })?
            .len();
        if got == 0 {
            break;
        }
        count += got as u64;
        // Rows of about 8 kB or less a thousand at a time; a table of
        // large attachments a few at a time.
        fetch = match bytes / got {
            0..8_192 => 1000,
            8_192..81_920 => 100,
            81_920..819_200 => 10,
            _ => 1,
        };
    }
    tx.execute_batch(&format!("CLOSE {cursor}"))?;
    tx.commit()?;
    Ok((count, hex::encode(hash.finalize())))
}
