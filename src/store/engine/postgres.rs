//! The PostgreSQL engine's side of the SQL interface: a deadpool pool of
//! tokio-postgres clients per database URL, driven from the store's
//! blocking callers on one small runtime of its own.
//!
//! Why blocking: the store is called from blocking threads (the daemon's
//! `spawn_blocking`, the command line, the web's database threads), as
//! rusqlite is; so each call here waits for its query. The connections'
//! socket work runs on [`runtime`]'s thread, never on the caller's, so a
//! caller inside another tokio runtime does not stall it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{NoTls, Statement};

use super::{FromColumn, Params, Row, Value};
use crate::store::{Result, StoreError};

/// The advisory lock every write transaction takes at BEGIN: one writer at
/// a time, as SQLite's IMMEDIATE transactions give (the key spells "praxis").
const WRITERS_LOCK: i64 = 0x7072_6178_6973;

/// How many connections one process keeps open to one database.
const POOL_SIZE: usize = 16;

/// How long a connection may take to open, and a caller to wait for one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The runtime that drives every connection's socket.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("praxis-postgres")
            .enable_all()
            .build()
            .expect("the PostgreSQL runtime starts")
    })
}

/// Waits for `f` on the caller's thread, with [`runtime`] as the context
/// that new connections are spawned on.
///
/// Unconstrained: a caller inside a tokio task (an async test, a handler
/// that calls the store without `spawn_blocking`) has that task's
/// cooperative budget, 128 units for one poll of the task, and each
/// checkout spends one (the pool's semaphore). Once it is spent, every
/// tokio wait (the semaphore, the pool's timeout) answers "not yet"
/// without end, since the budget comes back only when the task yields,
/// which a blocked caller never does: the caller hung in the pool's
/// `get`, its timeout never armed.
fn block_on<F: Future>(f: F) -> F::Output {
    let _context = runtime().enter();
    futures::executor::block_on(tokio::task::unconstrained(f))
}

/// The pool for `url` (made at first use, then shared by every store of
/// this process).
fn pool(url: &str, password: Option<&str>) -> Result<Pool> {
    static POOLS: OnceLock<Mutex<HashMap<String, Pool>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .expect("pools lock");
    if let Some(p) = pools.get(url) {
        return Ok(p.clone());
    }
    let connect_err = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Connect {
        url: crate::config::redact_url(url),
        source,
    };
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| connect_err(Box::new(e)))?;
    if let Some(p) = password {
        config.password(p);
    }
    config.connect_timeout(CONNECT_TIMEOUT);
    config.application_name("praxis");
    // A writer waits for another as long as SQLite's busy timeout, then
    // fails `Busy` (the MTA pipe's 75, the daemon's retry) rather than
    // queueing behind it without end.
    config.options(format!(
        "-c lock_timeout={}",
        crate::store::BUSY_TIMEOUT.as_millis()
    ));
    let manager = Manager::from_config(
        config,
        NoTls,
        // Clean: a connection goes back to the pool as it came (RESET ALL
        // undoes the sender's `synchronous_commit = off`, advisory locks
        // are let go); its prepared statements stay.
        ManagerConfig {
            recycling_method: RecyclingMethod::Clean,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        // Clean recycling runs statements on the idle connection inside
        // `get`; one whose server vanished without a word (a network cut)
        // would hold the caller until TCP gives up, minutes later. Past
        // this the pool drops it and takes or opens another.
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| connect_err(Box::new(e)))?;
    pools.insert(url.to_string(), pool.clone());
    Ok(pool)
}

/// One pooled connection; its statements are prepared once and kept by
/// the pooled client across checkouts.
///
/// A connection the server closed (a restart, an administrator's
/// `pg_terminate_backend`, a network cut) is replaced from the pool at the
/// next statement outside a transaction, so a long-lived store (the
/// sender's ledger, the watcher's, the web's) works again once the server
/// is back instead of failing for good. Inside a transaction nothing is
/// replaced: the statement fails, the transaction with it, and the caller
/// retries the whole unit of work.
pub struct Client {
    /// The pool it came from, for a replacement.
    pool: Pool,
    /// The URL without its password, for errors.
    shown: String,
    /// The pooled client (back to the pool when dropped); None after a
    /// closed one was let go and no replacement could be had yet.
    inner: Mutex<Option<deadpool_postgres::Object>>,
    /// Whether a transaction is open on it (no replacement then).
    in_tx: AtomicBool,
    /// Whether a statement failed on the connection itself (closed, its
    /// socket failed, or a FATAL error from the server): replaced at the
    /// next use even if the client has not noticed yet that its
    /// connection ended.
    broken: AtomicBool,
}

impl Client {
    /// A connection from the pool for `url`.
    pub fn connect(url: &str, password: Option<&str>) -> Result<Client> {
        let pool = pool(url, password)?;
        let shown = crate::config::redact_url(url);
        let inner = Self::checkout(&pool, &shown)?;
        Ok(Client {
            pool,
            shown,
            inner: Mutex::new(Some(inner)),
            in_tx: AtomicBool::new(false),
            broken: AtomicBool::new(false),
        })
    }

    /// A connection from `pool`; the error, if any, is the deepest cause
    /// (`Connection refused (os error 111)`), not the pool's wrappers of it.
    fn checkout(pool: &Pool, shown: &str) -> Result<deadpool_postgres::Object> {
        block_on(pool.get()).map_err(|e| {
            let mut cause: &dyn std::error::Error = &e;
            while let Some(next) = cause.source() {
                cause = next;
            }
            StoreError::Connect {
                url: shown.to_string(),
                source: cause.to_string().into(),
            }
        })
    }

    /// The live connection: a closed one is let go (out of the pool's
    /// count) and, outside a transaction, replaced by a fresh one.
    fn live(&self) -> Result<MutexGuard<'_, Option<deadpool_postgres::Object>>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let broken = self.broken.load(Ordering::Relaxed);
        if (broken || inner.as_ref().is_some_and(|c| c.is_closed()))
            && let Some(closed) = inner.take()
        {
            drop(deadpool_postgres::Object::take(closed));
        }
        if inner.is_none() {
            if self.in_tx.load(Ordering::Relaxed) {
                return Err(StoreError::Connect {
                    url: self.shown.clone(),
                    source: "the connection closed inside a transaction".into(),
                });
            }
            *inner = Some(Self::checkout(&self.pool, &self.shown)?);
            self.broken.store(false, Ordering::Relaxed);
        }
        Ok(inner)
    }

    /// Notes an error of the connection itself (see `broken`).
    fn noted<T>(&self, r: std::result::Result<T, tokio_postgres::Error>) -> Result<T> {
        r.map_err(|e| {
            use std::error::Error as _;
            let io = e
                .source()
                .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some());
            // A FATAL error (the server shutting down, an administrator's
            // terminate) ends the session: the socket closes after it.
            let fatal = e.as_db_error().is_some_and(|d| {
                matches!(
                    d.parsed_severity(),
                    Some(
                        tokio_postgres::error::Severity::Fatal
                            | tokio_postgres::error::Severity::Panic
                    )
                )
            });
            if e.is_closed() || io || fatal {
                self.broken.store(true, Ordering::Relaxed);
            }
            e.into()
        })
    }

    fn prepare(&self, c: &deadpool_postgres::Object, sql: &str) -> Result<Statement> {
        self.noted(block_on(c.prepare_cached(&placeholders(sql))))
    }

    fn bound<'a>(params: Params<'a>) -> Vec<Value<'a>> {
        params.iter().map(|p| p.to_value()).collect()
    }

    pub(super) fn execute(&self, sql: &str, params: Params<'_>) -> Result<usize> {
        let guard = self.live()?;
        let c = guard.as_ref().expect("live() leaves a connection");
        let stmt = self.prepare(c, sql)?;
        let values = Self::bound(params);
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
        Ok(self.noted(block_on(c.execute(&stmt, &refs)))? as usize)
    }

    pub(super) fn execute_batch(&self, sql: &str) -> Result<()> {
        let guard = self.live()?;
        let c = guard.as_ref().expect("live() leaves a connection");
        self.noted(block_on(c.batch_execute(sql)))
    }

    fn rows(&self, sql: &str, params: Params<'_>) -> Result<Vec<tokio_postgres::Row>> {
        let guard = self.live()?;
        let c = guard.as_ref().expect("live() leaves a connection");
        let stmt = self.prepare(c, sql)?;
        let values = Self::bound(params);
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
        self.noted(block_on(c.query(&stmt, &refs)))
    }

    pub(super) fn query_opt<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        match self.rows(sql, params)?.first() {
            Some(r) => Ok(Some(f(&Row::Postgres(r))?)),
            None => Ok(None),
        }
    }

    pub(super) fn query_map<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.rows(sql, params)?
            .iter()
            .map(|r| f(&Row::Postgres(r)))
            .collect()
    }

    /// Begins a transaction; with `writers`, holding the writers' lock
    /// until it ends, else only the row locks its statements take.
    pub(super) fn transaction(&mut self, writers: bool) -> Result<Transaction<'_>> {
        self.execute_batch("BEGIN")?;
        self.in_tx.store(true, Ordering::Relaxed);
        let tx = Transaction {
            client: self,
            open: true,
        };
        if writers {
            tx.client.execute(
                "SELECT pg_advisory_xact_lock(?1)",
                super::params![WRITERS_LOCK],
            )?;
        }
        Ok(tx)
    }
}

/// A transaction on one pooled connection; rolled back when dropped open.
pub struct Transaction<'a> {
    /// Its connection.
    client: &'a mut Client,
    /// Whether it still needs a COMMIT or ROLLBACK.
    open: bool,
}

impl Transaction<'_> {
    /// Its connection, for statements.
    pub(super) fn client(&self) -> &Client {
        self.client
    }

    pub(super) fn commit(mut self) -> Result<()> {
        self.open = false;
        let done = self.client.execute_batch("COMMIT");
        self.client.in_tx.store(false, Ordering::Relaxed);
        done
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open {
            // A connection left mid-transaction must not go back to the
            // pool that way; if even ROLLBACK fails, the connection is
            // broken and the pool drops it at its next check.
            let _ = self.client.execute_batch("ROLLBACK");
        }
        self.client.in_tx.store(false, Ordering::Relaxed);
    }
}

/// `?1`, `?2` (and bare `?`) as PostgreSQL's `$1`, `$2`, outside quotes.
pub(crate) fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    let mut next = 0usize;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    next += 1;
                    digits = next.to_string();
                }
                out.push('$');
                out.push_str(&digits);
            }
            None => out.push(c),
        }
    }
    out
}

impl ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                Type::FLOAT4 => (i as f32).to_sql(ty, out),
                _ => i.to_string().as_str().to_sql(ty, out),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT4 => (f as f32).to_sql(ty, out),
                _ => f.to_sql(ty, out),
            },
            Value::Text(s) => match *ty {
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                // PostgreSQL's text cannot hold NUL, which a message's
                // decoded subject or body now and then does: it becomes
                // U+FFFD there (the raw message, BYTEA, keeps every byte).
                _ if s.contains('\0') => s.replace('\0', "\u{FFFD}").as_str().to_sql(ty, out),
                _ => s.to_sql(ty, out),
            },
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Any column, read only for whether it is NULL.
struct Nullness(bool);

impl<'a> tokio_postgres::types::FromSql<'a> for Nullness {
    fn from_sql(
        _: &Type,
        _: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Nullness(false))
    }

    fn from_sql_null(
        _: &Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Nullness(true))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn is_null(row: &tokio_postgres::Row, i: usize) -> Result<bool> {
    Ok(row.try_get::<_, Nullness>(i)?.0)
}

impl FromColumn for i64 {
    fn sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
    fn postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        Ok(match *row.columns()[i].type_() {
            Type::INT4 => i64::from(row.try_get::<_, i32>(i)?),
            Type::INT2 => i64::from(row.try_get::<_, i16>(i)?),
            Type::BOOL => i64::from(row.try_get::<_, bool>(i)?),
            _ => row.try_get::<_, i64>(i)?,
        })
    }
}

impl FromColumn for i32 {
    fn sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
    fn postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        i32::try_from(i64::postgres(row, i)?).map_err(|e| StoreError::Decode(e.to_string()))
    }
}

impl FromColumn for u32 {
    fn sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
    fn postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        u32::try_from(i64::postgres(row, i)?).map_err(|e| StoreError::Decode(e.to_string()))
    }
}

impl FromColumn for usize {
    fn sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        let n: i64 = row.get(i)?;
        usize::try_from(n).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(i, n))
    }
    fn postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        usize::try_from(i64::postgres(row, i)?).map_err(|e| StoreError::Decode(e.to_string()))
    }
}

impl FromColumn for bool {
    fn sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
    fn postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        Ok(match *row.columns()[i].type_() {
            Type::BOOL => row.try_get::<_, bool>(i)?,
            _ => i64::postgres(row, i)? != 0,
        })
    }
}

impl FromColumn for f64 {
    fn sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
    fn postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        Ok(match *row.columns()[i].type_() {
            Type::FLOAT8 => row.try_get::<_, f64>(i)?,
            Type::FLOAT4 => f64::from(row.try_get::<_, f32>(i)?),
            _ => i64::postgres(row, i)? as f64,
        })
    }
}

impl FromColumn for String {
    fn sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
    fn postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        Ok(row.try_get::<_, String>(i)?)
    }
}

impl FromColumn for Vec<u8> {
    fn sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
    fn postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        Ok(row.try_get::<_, Vec<u8>>(i)?)
    }
}

impl<T: FromColumn + rusqlite::types::FromSql> FromColumn for Option<T> {
    fn sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        row.get(i)
    }
    fn postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        if is_null(row, i)? {
            Ok(None)
        } else {
            T::postgres(row, i).map(Some)
        }
    }
}

/// A PostgreSQL error as an operator reads it: the server's message with
/// its detail, hint and SQLSTATE, or the client's error and its cause
/// (tokio-postgres's own Display says only "db error").
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(&format!("; {d}"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        return s;
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Whether a PostgreSQL error means another writer got in the way (retry).
pub(crate) fn is_busy(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::LOCK_NOT_AVAILABLE
    )
}

/// Whether a PostgreSQL error may pass by itself: the server gone or
/// restarting, out of disk or connections.
pub(crate) fn is_temporary(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() || e.as_db_error().is_none() && e.code().is_none() {
        return true;
    }
    e.code().is_some_and(|c| {
        let code = c.code();
        code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
    })
}

/// Whether the server is out of disk.
pub(crate) fn is_disk_full(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::DISK_FULL)
}

#[cfg(test)]
pub(crate) use super::scratch::Scratch;

#[cfg(test)]
#[path = "postgres_tests.rs"]
mod tests;
