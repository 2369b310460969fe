//! Why a storage operation failed, on either engine: the errors a caller
//! tells apart (busy, disk full, temporary) whatever the engine said.

use std::path::PathBuf;

use super::engine;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error(
        "cannot open database {path}: {source}; check the folder exists and is writable, or set database.path"
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A moderator decided a post another had already decided: who, what,
    /// and when (Unix seconds), so the command line can show the time in
    /// the community's zone.
    #[error("post {post} was already decided: {what} by {who} at {} UTC", utc_minutes(*at))]
    AlreadyDecided {
        /// The post.
        post: crate::model::PostId,
        /// Its community, for the zone to show the time in.
        community: crate::model::CommunityId,
        /// approve, reject or discard.
        what: String,
        /// The moderator recorded in the audit log.
        who: String,
        /// When, Unix seconds.
        at: i64,
    },
    /// The WAL could not be synced to the disk after a run of unsynced commits.
    #[error(
        "cannot sync {path} to the disk: {source}; check the disk (space, errors) and run the command again: what it stored is skipped"
    )]
    Sync {
        /// The WAL file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Another process held the database for longer than the busy timeout.
    #[error("database is busy (another praxis holds a write lock); try again")]
    Busy,
    /// A landed migration's text differs from the one applied.
    #[error(
        "migration {name} was edited after it was applied (checksum {applied} in the database, {embedded} in this build); restore the original file and add a new migration instead"
    )]
    MigrationEdited {
        /// The migration's file name.
        name: String,
        /// Checksum recorded when applied.
        applied: String,
        /// Checksum of the text in this binary.
        embedded: String,
    },
    /// The database was written by a newer praxis.
    #[error(
        "database schema version {found} is newer than this praxis knows ({known}); upgrade praxis"
    )]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Newest version this build has.
        known: i64,
    },
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with what is stored.
    #[error("{0}")]
    Conflict(String),
    /// Any other SQLite error.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// The PostgreSQL server could not be reached or refused the login.
    #[error(
        "cannot connect to PostgreSQL at {url}: {source}; check the server runs and accepts this user, or fix database.url"
    )]
    Connect {
        /// The URL, its password left out.
        url: String,
        /// The underlying error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Any other PostgreSQL error (the server's own message, detail and
    /// SQLSTATE when it sent one).
    #[error("database error: {}", engine::postgres::describe(.0))]
    Postgres(tokio_postgres::Error),
    /// A column held something other than what was asked for.
    #[error("database error: unexpected value: {0}")]
    Decode(String),
    /// What only the SQLite engine does, asked of PostgreSQL.
    #[error("{0} is not available on PostgreSQL")]
    Unsupported(String),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if engine::postgres::is_busy(&e) {
            StoreError::Busy
        } else {
            StoreError::Postgres(e)
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Busy
            }
            _ => StoreError::Sqlite(e),
        }
    }
}

impl StoreError {
    /// Whether the disk (or the database's size limit) is full (LMTP 452).
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Sqlite(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            StoreError::Postgres(e) => engine::postgres::is_disk_full(e),
            _ => false,
        }
    }

    /// Whether retrying later may succeed (for EX_TEMPFAIL and LMTP 451).
    pub fn is_temporary(&self) -> bool {
        match self {
            StoreError::Busy
            | StoreError::Open { .. }
            | StoreError::Sync { .. }
            | StoreError::Connect { .. } => true,
            StoreError::Postgres(e) => engine::postgres::is_temporary(e),
            StoreError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DiskFull)
                    | Some(rusqlite::ErrorCode::SystemIoFailure)
                    | Some(rusqlite::ErrorCode::CannotOpen)
                    | Some(rusqlite::ErrorCode::OutOfMemory)
            ),
            _ => false,
        }
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM`, UTC (where no zone is known).
fn utc_minutes(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}
