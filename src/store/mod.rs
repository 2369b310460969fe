//! SQLite storage: opening (pragmas, file mode), migrations, and one file per
//! table group. The only module that knows SQL or imports rusqlite.
//!
//! Invariants:
//! - Every connection runs in WAL mode with foreign keys on and a busy
//!   timeout, so the daemon and the command line can share the file without
//!   any other channel between them.
//! - A commit is on disk when it returns (synchronous=FULL: the WAL is
//!   synced at every commit), because what follows a commit is often an
//!   acknowledgement that lets the only other copy go: an LMTP 250, an MTA
//!   pipe's exit 0, an IMAP message flagged or moved. A power cut after
//!   that must not take the post with it. Only the sender's ledger relaxes
//!   this ([`Store::relax_durability`]): a sent mark lost to a power cut
//!   sends a copy again, and an fsync per group commit would halve fan-out.
//! - Every transaction begins IMMEDIATE: it takes the write lock at BEGIN,
//!   waiting out the busy timeout, so a transaction that reads and then
//!   writes never fails when another process wrote in between (a deferred
//!   one upgrading its lock gets SQLITE_BUSY at once, busy timeout or not:
//!   the scheduler lost a digest sweep that way while the sender wrote).
//! - Migrations are applied on open, in order, each once; a landed migration
//!   is never edited (its checksum is recorded and compared on every open).
//! - The database file is created mode 0600.

mod archive;
mod attachments;
pub mod audit;
mod bounce;
mod bulk;
mod communities;
mod confirmations;
mod consolidated_replies;
mod copy;
mod crossposts;
mod digests;
pub(crate) mod engine;
mod error;
mod experts;
mod holds;
mod library;
mod members;
pub mod migrate;
mod moderation_tokens;
mod nodes;
mod outbox;
mod posts;
mod referrals;
mod related;
mod search;
mod stats;
mod status;
#[cfg(test)]
mod testing;
mod threads;
mod web_tokens;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

pub use engine::Dialect;
use engine::{Conn, Queries, params};
pub use error::StoreError;

pub use archive::{ArchiveFile, ArchivePost, ArchiveReply, ArchiveThread, RawMessage};
pub use attachments::PostAttachment;
pub use bounce::{BounceOutcome, BounceRule, Notice, ProbeDue, Reenabled};
pub use bulk::Checkpointer;
pub use communities::CommunityRow;
pub use confirmations::Confirmation;
pub use consolidated_replies::{
    Draft, DraftVersion, OpenQuery, Publication, Query, QueryPost, RelatedReply, SharedCopy,
};
pub use copy::{CopiedTable, CopyReport};
pub use crossposts::{CrossPost, CrossPosted, HomeQuery};
pub use digests::{DigestCreated, NewDigest};
pub use experts::ExpertsFor;
pub use holds::{Action, Decided, HeldPost};
pub use library::{LibraryEntry, NewThread, PublishedReply, public_name};
pub use members::{Member, MemberFields, NewMember, normalise_email};
pub use moderation_tokens::ModerationToken;
pub use nodes::{DeadNode, NodeRow, host_name, this_node};
pub use outbox::{
    Audience, CLAIM_TTL, DeliveryRow, DueDelivery, Excluded, NewOutbox, NewRecipient, OutboxFilter,
    OutboxMessage, OutboxSummary, Outcome, PostForFanout, Queued,
};
pub use posts::{Batch, Checkpoint, DIGEST_REPLY_UNPLACED, NewPost, PostView, Stored};
pub use referrals::{Referral, ReferralCounts, ReferralRefused};
pub use related::{RelatedMethod, RelatedThread};
pub use search::{HitKind, PageRequest, SearchHit, SearchPage, SearchScope, fts_any};
pub use status::{CommunityStatus, HealthRow};
pub use threads::{Split, ThreadFilter, ThreadRow};

/// How long a writer waits for another before giving up with `Busy`.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Short alias for store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The page size of a new SQLite database, in bytes.
const PAGE_SIZE: i64 = 8192;

/// The WAL's size, in bytes, past which it is cut back when it next starts
/// over: twice what the automatic checkpoint lets it reach (1,000 pages),
/// so the daemon's WAL keeps its blocks from one round to the next and only
/// an import's, grown far past it, is cut.
const WAL_SIZE_LIMIT: i64 = 2 * 1000 * PAGE_SIZE;

/// The WAL pages past which an import's connection checkpoints on its own
/// (256 MB at 8 KB pages); [`Checkpointer`] does it long before.
const IMPORT_WAL_PAGES: i64 = 32768;

/// Keeps the WAL file (and its index) when the last connection closes,
/// emptied rather than deleted (SQLITE_FCNTL_PERSIST_WAL with a
/// journal_size_limit). Each `praxis ingest` from an MTA pipe with no
/// daemon running is the last connection: it used to create both files,
/// sync the directory for the new WAL, and delete them again as it closed
/// (with one query for the migrations, 3% of its CPU). The closing
/// checkpoint still folds the WAL into the database first, so what is left
/// on disk is an empty WAL.
/// Public for `bench/pipe_floor.rs`, whose floor keeps the WAL as praxis does.
pub fn keep_wal_file(conn: &Connection) -> Result<()> {
    let mut on: std::ffi::c_int = 1;
    // SAFETY: the handle is this live connection's; "main" is a
    // NUL-terminated name; SQLITE_FCNTL_PERSIST_WAL reads and writes one
    // int through the pointer, which outlives the call.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_PERSIST_WAL,
            (&raw mut on).cast(),
        )
    };
    if rc != rusqlite::ffi::SQLITE_OK {
        return Err(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rc), None).into());
    }
    // Without a limit a kept WAL is left at full size when closed, its
    // frames read again by the next process to open it.
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    Ok(())
}

/// One open database.
pub struct Store {
    /// The connection; one per Store, not shared across threads.
    conn: Conn,
    /// The file, for messages and status (empty for in-memory databases).
    path: PathBuf,
    /// Who acts through this store and how, for the audit rows its acts
    /// write (the daemon itself until an entry point says otherwise).
    actor: audit::Actor,
}

impl Store {
    /// Opens (creating if needed, mode 0600) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let open_err = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        if !path.exists() {
            create_private(path).map_err(|e| open_err(Box::new(e)))?;
        }
        let conn = Connection::open(path).map_err(|e| open_err(Box::new(e)))?;
        // A new database gets 8 KB pages; an existing one keeps its own
        // (the size is fixed when the empty file is first written, by
        // `configure`'s journal_mode, and the pragma changes nothing after).
        // A post's raw message, a few KB, then mostly fits in its table row
        // instead of spilling into overflow pages of 4 KB each.
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(|e| open_err(Box::new(e)))?;
        let mut store = Store {
            conn: Conn::Sqlite(conn),
            path: path.to_path_buf(),
            actor: audit::Actor::default(),
        };
        // Several processes opening a new database at once (the daemon and
        // a `praxis status` beside it) can get SQLITE_BUSY at once, busy
        // timeout or not, while the new file is switched to WAL and
        // migrated: SQLite calls no busy handler where waiting could
        // deadlock, as when a connection holding a read lock wants the
        // write lock. Setting up is idempotent, so it is tried again for
        // as long as the busy timeout.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match store.set_up() {
                Err(StoreError::Busy) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                done => break done?,
            }
        }
        Ok(store)
    }

    /// A file database's settings, its kept WAL and its migrations.
    fn set_up(&mut self) -> Result<()> {
        self.configure()?;
        keep_wal_file(self.sqlite()?)?;
        migrate::apply(self.sqlite_mut()?)
    }

    /// Opens (and migrates) the configured database: the SQLite file or
    /// the PostgreSQL server.
    pub fn open_database(db: &crate::config::Database) -> Result<Store> {
        match db {
            crate::config::Database::Sqlite(path) => Store::open(path),
            crate::config::Database::Postgres { url, password } => {
                Store::connect(url, password.as_deref())
            }
        }
    }

    /// Connects to the PostgreSQL database at `url` (password, if any, from
    /// the config's `password_env`/`password_file`, never in the URL it
    /// shows) and migrates it. Connections come from a pool shared by
    /// every store of this process.
    pub fn connect(url: &str, password: Option<&str>) -> Result<Store> {
        let mut conn = Conn::Postgres(engine::postgres::Client::connect(url, password)?);
        migrate::apply_postgres(&mut conn)?;
        Ok(Store {
            conn,
            path: PathBuf::new(),
            actor: audit::Actor::default(),
        })
    }

    /// Which engine this store runs on.
    pub fn dialect(&self) -> Dialect {
        self.conn.db().dialect()
    }

    /// An in-memory database with the full schema, for tests and fuzzing.
    pub fn open_in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory()?;
        let mut store = Store {
            conn: Conn::Sqlite(conn),
            path: PathBuf::new(),
            actor: audit::Actor::default(),
        };
        store.configure()?;
        migrate::apply(store.sqlite_mut()?)?;
        Ok(store)
    }

    /// An in-memory store holding the embedded example config's
    /// communities, with that config: the start of many unit tests.
    #[cfg(test)]
    pub(crate) fn open_example() -> (Store, crate::config::Config) {
        let (config, problems) = crate::config::Config::parse(
            crate::config::EMBEDDED_DEFAULT,
            Path::new("praxis.toml"),
            &|_| None,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let mut store = Store::open_in_memory().unwrap();
        store.sync_communities(&config).unwrap();
        (store, config)
    }

    /// The SQLite connection, for what only SQLite has (its pragmas,
    /// online backup, the bulk import's FTS5 work) and for SQLite-only
    /// tests; `Unsupported` on PostgreSQL.
    pub(crate) fn sqlite(&self) -> Result<&Connection> {
        self.conn.sqlite()
    }

    /// The SQLite connection, mutably (for rusqlite's own transactions).
    pub(crate) fn sqlite_mut(&mut self) -> Result<&mut Connection> {
        self.conn.sqlite_mut()
    }

    fn configure(&mut self) -> Result<()> {
        self.sqlite()?.busy_timeout(BUSY_TIMEOUT)?;
        // Every statement the store runs stays prepared: the engine
        // interface prepares through this cache, not once per call site.
        self.sqlite()?.set_prepared_statement_cache_capacity(256);
        self.sqlite_mut()?
            .set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        // journal_mode answers with a row; in-memory databases stay "memory".
        let _mode: String = self
            .sqlite()?
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        self.sqlite()?.execute_batch(
            "PRAGMA foreign_keys = ON;
             PRAGMA synchronous = FULL;
             PRAGMA temp_store = MEMORY;",
        )?;
        search::register_functions(self.sqlite()?)?;
        self.sqlite()?.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        Ok(())
    }

    /// Commits on this connection reach the disk at the next checkpoint
    /// rather than at once (synchronous=NORMAL): for the sender's ledger
    /// only, whose lost commits resend copies instead of losing mail.
    /// On PostgreSQL the same trade is `synchronous_commit = off` for this
    /// connection's session (undone when it goes back to the pool).
    pub fn relax_durability(&self) -> Result<()> {
        match self.dialect() {
            Dialect::Sqlite => self.conn.execute_batch("PRAGMA synchronous = NORMAL;"),
            Dialect::Postgres => self.conn.execute_batch("SET synchronous_commit = off"),
        }
    }

    /// Settings for a bulk import on this connection: a 16 MB page cache,
    /// so a batch's index pages stay in memory instead of spilling to the
    /// WAL again and again mid-transaction (the default 2 MB cache wrote
    /// each page about 13 times; since an import's search index is written
    /// once per batch, 48 MB was no faster than 16 MB at 100,000 messages
    /// and cost 35 MB more), and an automatic checkpoint only past
    /// [`IMPORT_WAL_PAGES`] of WAL rather than 1,000: a [`Checkpointer`]
    /// beside the import does them sooner, off the writer's thread. The
    /// WAL is not cut back each time it starts over (a journal_size_limit
    /// above what it reaches): cutting it to [`WAL_SIZE_LIMIT`] and growing
    /// it again cost 8% of an import of 100,000 messages; it is still cut
    /// to nothing when the last connection closes. Its commits are not synced one by one
    /// (synchronous=NORMAL: the WAL reaches the disk at each checkpoint):
    /// the archive stays where it is and importing it again skips what is
    /// stored, and `praxis import` calls [`Store::sync_wal`] before it
    /// reports anything stored. A power cut mid-import loses at most the
    /// batches since the last checkpoint, never the database's consistency.
    /// On PostgreSQL there is nothing to tune: its commits stay synced.
    pub fn tune_for_import(&self) -> Result<()> {
        if self.dialect() == Dialect::Postgres {
            return Ok(());
        }
        self.sqlite()?.execute_batch(&format!(
            "PRAGMA cache_size = -16384;
             PRAGMA wal_autocheckpoint = {IMPORT_WAL_PAGES};
             PRAGMA synchronous = NORMAL;
             PRAGMA journal_size_limit = {};",
            IMPORT_WAL_PAGES * 2 * PAGE_SIZE
        ))?;
        Ok(())
    }

    /// Makes every commit of this connection durable: syncs the WAL, which
    /// holds each commit not yet checkpointed (what synchronous=FULL does
    /// at every commit, done once after a run of commits made with
    /// synchronous=NORMAL). Nothing to do without a WAL (a database in
    /// memory, or one checkpointed and closed).
    pub fn sync_wal(&self) -> Result<()> {
        if self.path.as_os_str().is_empty() {
            return Ok(());
        }
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let synced = match std::fs::File::open(&wal) {
            Ok(f) => f.sync_all(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        synced.map_err(|source| StoreError::Sync {
            path: PathBuf::from(wal),
            source,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version (the newest migration applied).
    pub fn schema_version(&self) -> Result<i64> {
        let sql = match self.dialect() {
            Dialect::Sqlite => "PRAGMA user_version",
            Dialect::Postgres => "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        };
        self.conn.query_one(sql, params![], |r| r.get(0))
    }

    /// A pragma's value as text, for tests and `status`.
    pub fn pragma(&self, name: &str) -> Result<String> {
        let v: rusqlite::types::Value =
            self.sqlite()?
                .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?;
        Ok(match v {
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Text(t) => t,
            rusqlite::types::Value::Real(f) => f.to_string(),
            _ => String::new(),
        })
    }

    /// Every table's columns as `(table, column)`, sorted, for the test
    /// that keeps the two engines' schemas in step. SQLite's full-text
    /// tables and PostgreSQL's `search` columns, each engine's own way to
    /// search, are left out, and so is SQLite's `member_id_high` (member
    /// ids never given twice: PostgreSQL's identity sequence, migration
    /// 0026).
    pub fn columns(&self) -> Result<Vec<(String, String)>> {
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT m.name, c.name FROM sqlite_schema m, pragma_table_info(m.name) c
                 WHERE m.type = 'table' AND m.name NOT LIKE '%fts%'
                   AND m.name <> 'member_id_high'
                 ORDER BY 1, 2"
            }
            Dialect::Postgres => {
                "SELECT table_name::text, column_name::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND column_name <> 'search'
                   AND table_name <> 'consolidated_search'
                 ORDER BY 1, 2"
            }
        };
        self.conn
            .query_map(sql, params![], |r| Ok((r.get(0)?, r.get(1)?)))
    }

    /// The names of every table, for schema tests.
    pub fn table_names(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .sqlite()?
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
        let names = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(names)
    }

    /// Copies the whole database to `dest` with SQLite's online backup, safe
    /// while the daemon writes; the copy is created mode 0600.
    /// On PostgreSQL, `Unsupported`: its own tools (pg_dump, base backups)
    /// back it up.
    pub fn backup(&self, dest: &Path) -> Result<()> {
        if self.dialect() == Dialect::Postgres {
            return Err(StoreError::Unsupported(
                "`praxis backup` (back a PostgreSQL database up with pg_dump)".into(),
            ));
        }
        if dest.exists() {
            return Err(StoreError::Conflict(format!(
                "{} already exists; choose a new file or remove it",
                dest.display()
            )));
        }
        create_private(dest).map_err(|e| StoreError::Open {
            path: dest.to_path_buf(),
            source: Box::new(e),
        })?;
        let mut target = Connection::open(dest)?;
        {
            let backup = rusqlite::backup::Backup::new(self.sqlite()?, &mut target)?;
            backup.run_to_completion(256, std::time::Duration::from_millis(5), None)?;
        }
        // A backup is one self-contained file, not WAL-dependent.
        let _mode: String = target.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
        Ok(())
    }

    /// Size of the database file in bytes (0 in memory); on PostgreSQL,
    /// the database's size on the server.
    pub fn file_size(&self) -> u64 {
        match self.dialect() {
            Dialect::Sqlite => std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0),
            Dialect::Postgres => self
                .conn
                .query_one(
                    "SELECT pg_database_size(current_database())",
                    params![],
                    |r| r.get::<i64>(0),
                )
                .map_or(0, |n| n.max(0) as u64),
        }
    }
}

/// Creates an empty file readable only by its owner.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transaction that reads, then writes after another process wrote,
    /// commits: it held the write lock from BEGIN, so the other writer
    /// waited for it instead of invalidating its snapshot.
    #[test]
    fn a_read_then_write_transaction_survives_a_concurrent_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("praxis.db");
        let mut a = Store::open(&path).unwrap();
        Store::open(&path)
            .unwrap()
            .sqlite()
            .unwrap()
            .execute("CREATE TABLE t (n INTEGER)", [])
            .unwrap();
        let tx = a.sqlite_mut().unwrap().transaction().unwrap();
        let _: i64 = tx
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        let other = std::thread::spawn({
            let path = path.clone();
            move || {
                let b = Store::open(&path).unwrap();
                b.sqlite()
                    .unwrap()
                    .execute("INSERT INTO t VALUES (2)", [])
                    .unwrap();
            }
        });
        // Long enough for the other writer to commit, were it not waiting.
        std::thread::sleep(Duration::from_millis(300));
        tx.execute("INSERT INTO t VALUES (1)", rusqlite::params![])
            .unwrap();
        tx.commit().unwrap();
        other.join().unwrap();
        let n: i64 = a
            .sqlite()
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }
}
