//! One SQL interface over two engines: SQLite (rusqlite, the embedded
//! default) and PostgreSQL (tokio-postgres on a deadpool pool, for
//! installs of several nodes). The store's table files are written once
//! against it; where the engines differ they ask [`Db::dialect`] and write
//! each engine's SQL idiomatically.
//!
//! Invariants:
//! - SQL reaches the engines only through here: a table file holds no
//!   rusqlite or tokio-postgres call of its own once it is ported.
//! - Placeholders are written `?1`, `?2`, … (SQLite's numbered form); the
//!   PostgreSQL engine turns them into `$1`, `$2`, … once per statement
//!   text and keeps the prepared statement for the connection's life.
//! - A write transaction excludes every other, as SQLite's IMMEDIATE
//!   transactions do: on PostgreSQL it takes one transaction-scoped
//!   advisory lock at BEGIN, so code that reads then writes inside a
//!   transaction behaves the same on both engines. The one exception,
//!   [`Conn::row_transaction`], is for statements that change only rows
//!   the caller holds claimed (the sender's outcomes): it takes no
//!   writers' lock, so it never waits for one while holding row locks,
//!   and two nodes' ledgers commit side by side.

pub(crate) mod postgres;
#[cfg(test)]
pub(crate) mod scratch;
mod sqlite;

use super::{Result, StoreError};

/// Which engine a connection talks to, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite through rusqlite.
    Sqlite,
    /// PostgreSQL through tokio-postgres.
    Postgres,
}

/// A bound parameter's value, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// SQL NULL.
    Null,
    /// An integer (SQLite INTEGER, PostgreSQL BIGINT, INTEGER, SMALLINT or BOOLEAN).
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(&'a str),
    /// Bytes (SQLite BLOB, PostgreSQL BYTEA).
    Blob(&'a [u8]),
}

/// What can be bound as a parameter.
pub trait ToValue {
    /// This value as the engines see it.
    fn to_value(&self) -> Value<'_>;
}

macro_rules! int_values {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value<'_> {
                Value::Int(*self as i64)
            }
        }
    )*};
}
int_values!(i64, i32, u32, u16, u8, usize);

impl ToValue for bool {
    fn to_value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<const N: usize> ToValue for [u8; N] {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value<'_> {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}

impl ToValue for Value<'_> {
    fn to_value(&self) -> Value<'_> {
        *self
    }
}

/// An owned parameter, for statements whose conditions are built at run
/// time (a search's filters).
#[derive(Debug, Clone, PartialEq)]
pub enum Owned {
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
}

impl ToValue for Owned {
    fn to_value(&self) -> Value<'_> {
        match self {
            Owned::Int(i) => Value::Int(*i),
            Owned::Text(s) => Value::Text(s),
        }
    }
}

impl From<i64> for Owned {
    fn from(v: i64) -> Self {
        Owned::Int(v)
    }
}

impl From<String> for Owned {
    fn from(v: String) -> Self {
        Owned::Text(v)
    }
}

/// Owned parameters as the statements take them.
pub fn bind_all(values: &[Owned]) -> Vec<&dyn ToValue> {
    values.iter().map(|v| v as &dyn ToValue).collect()
}

/// Parameters for one statement: `params![a, b]`, each anything [`ToValue`].
macro_rules! params {
    () => { &[] as &[&dyn $crate::store::engine::ToValue] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::store::engine::ToValue),+] as &[&dyn $crate::store::engine::ToValue] };
}
pub(crate) use params;

/// Parameters, as the statements take them.
pub type Params<'a> = &'a [&'a dyn ToValue];

/// What a column can be read as, on either engine.
pub trait FromColumn: Sized {
    /// From SQLite's row.
    fn sqlite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self>;
    /// From PostgreSQL's row.
    fn postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self>;
}

/// One row of a result, from either engine.
pub enum Row<'a> {
    /// A SQLite row.
    Sqlite(&'a rusqlite::Row<'a>),
    /// A PostgreSQL row.
    Postgres(&'a tokio_postgres::Row),
}

impl Row<'_> {
    /// Column `i` (from 0) as a `T`.
    pub fn get<T: FromColumn>(&self, i: usize) -> Result<T> {
        match self {
            Row::Sqlite(r) => Ok(T::sqlite(r, i)?),
            Row::Postgres(r) => T::postgres(r, i),
        }
    }

    /// Column `i`, text, read in place (a post's text can run to hundreds
    /// of kB; this copies none of it).
    pub fn str(&self, i: usize) -> Result<&str> {
        match self {
            Row::Sqlite(r) => r
                .get_ref(i)?
                .as_str()
                .map_err(|e| StoreError::Decode(e.to_string())),
            Row::Postgres(r) => Ok(r.try_get::<_, &str>(i)?),
        }
    }

    /// Column `i`, text, parsed into a closed enum (or anything `FromStr`).
    pub fn parse<T: std::str::FromStr>(&self, i: usize) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        let s: String = self.get(i)?;
        s.parse()
            .map_err(|e| StoreError::Decode(format!("column {i}: `{s}`: {e}")))
    }
}

/// A borrowed connection or transaction: where statements run.
#[derive(Clone, Copy)]
pub enum Db<'a> {
    /// SQLite.
    Sqlite(&'a rusqlite::Connection),
    /// PostgreSQL.
    Postgres(&'a postgres::Client),
}

impl<'a> Db<'a> {
    /// Which engine this is.
    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: Params<'_>) -> Result<usize> {
        match self {
            Db::Sqlite(c) => sqlite::execute(c, sql, params),
            Db::Postgres(c) => c.execute(sql, params),
        }
    }

    /// Runs statements with no parameters, separated by `;`.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match self {
            Db::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Db::Postgres(c) => c.execute_batch(sql),
        }
    }

    /// Runs one single-row `INSERT … RETURNING id` (without `ON CONFLICT`)
    /// and answers the new row's id. On SQLite the statement runs without
    /// its `RETURNING` and the id is the connection's last rowid: SQLite
    /// runs `RETURNING` as a trigger, and a statement with a trigger that
    /// may abort copies every page it changes into a statement journal
    /// first (7% of an import's writer thread).
    pub fn insert_id(&self, sql: &str, params: Params<'_>) -> Result<i64> {
        match self {
            Db::Sqlite(c) => {
                let plain = sql
                    .trim_end()
                    .strip_suffix("RETURNING id")
                    .expect("insert_id takes an INSERT ending in RETURNING id");
                if sqlite::execute(c, plain, params)? == 0 {
                    return Err(StoreError::NotFound("no row inserted".into()));
                }
                Ok(c.last_insert_rowid())
            }
            Db::Postgres(c) => c
                .query_opt(sql, params, |r| r.get(0))?
                .ok_or_else(|| StoreError::NotFound("no row inserted".into())),
        }
    }

    /// The first row's value through `f`; `NotFound` naming `what` when
    /// there is no row.
    pub fn query_one<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.query_opt(sql, params, f)?
            .ok_or_else(|| StoreError::NotFound("no row".into()))
    }

    /// The first row's value through `f`, or None when there is no row.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        match self {
            Db::Sqlite(c) => sqlite::query_opt(c, sql, params, f),
            Db::Postgres(c) => c.query_opt(sql, params, f),
        }
    }

    /// Every row's value through `f`, in order.
    pub fn query_map<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        match self {
            Db::Sqlite(c) => sqlite::query_map(c, sql, params, f),
            Db::Postgres(c) => c.query_map(sql, params, f),
        }
    }
}

/// An open connection to either engine.
pub enum Conn {
    /// SQLite.
    Sqlite(rusqlite::Connection),
    /// PostgreSQL.
    Postgres(postgres::Client),
}

impl Conn {
    /// Where statements run.
    pub fn db(&self) -> Db<'_> {
        match self {
            Conn::Sqlite(c) => Db::Sqlite(c),
            Conn::Postgres(c) => Db::Postgres(c),
        }
    }

    /// Begins a write transaction, excluding every other writer until it
    /// ends (rolled back when dropped without [`Tx::commit`]).
    pub fn transaction(&mut self) -> Result<Tx<'_>> {
        Ok(match self {
            Conn::Sqlite(c) => {
                Tx::Sqlite(c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
            }
            Conn::Postgres(c) => Tx::Postgres(c.transaction(true)?),
        })
    }

    /// Begins a write transaction that on PostgreSQL excludes other
    /// writers only row by row (no writers' lock): for updates by id of
    /// rows this node holds claimed, which no read-then-write elsewhere
    /// depends on. On SQLite, whose one writer excludes every other, the
    /// same as [`Conn::transaction`].
    pub fn row_transaction(&mut self) -> Result<Tx<'_>> {
        Ok(match self {
            Conn::Sqlite(_) => self.transaction()?,
            Conn::Postgres(c) => Tx::Postgres(c.transaction(false)?),
        })
    }

    /// The SQLite connection, for what only SQLite has (its pragmas, online
    /// backup, FTS5 maintenance); `Unsupported` on PostgreSQL.
    pub fn sqlite(&self) -> Result<&rusqlite::Connection> {
        match self {
            Conn::Sqlite(c) => Ok(c),
            Conn::Postgres(_) => Err(StoreError::Unsupported("this operation".into())),
        }
    }

    /// The SQLite connection, mutably (for its own transactions).
    pub fn sqlite_mut(&mut self) -> Result<&mut rusqlite::Connection> {
        match self {
            Conn::Sqlite(c) => Ok(c),
            Conn::Postgres(_) => Err(StoreError::Unsupported("this operation".into())),
        }
    }
}

/// A write transaction on either engine.
pub enum Tx<'a> {
    /// SQLite's IMMEDIATE transaction.
    Sqlite(rusqlite::Transaction<'a>),
    /// PostgreSQL's transaction holding the writers' lock.
    Postgres(postgres::Transaction<'a>),
}

impl Tx<'_> {
    /// Where statements run.
    pub fn db(&self) -> Db<'_> {
        match self {
            Tx::Sqlite(t) => Db::Sqlite(t),
            Tx::Postgres(t) => Db::Postgres(t.client()),
        }
    }

    /// Makes the transaction's writes durable and visible.
    pub fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => Ok(t.commit()?),
            Tx::Postgres(t) => t.commit(),
        }
    }
}

/// The statement methods, on a connection, a transaction or a borrowed [`Db`].
pub trait Queries {
    /// Where statements run.
    fn on(&self) -> Db<'_>;

    /// See [`Db::execute`].
    fn execute(&self, sql: &str, params: Params<'_>) -> Result<usize> {
        self.on().execute(sql, params)
    }

    /// See [`Db::execute_batch`].
    fn execute_batch(&self, sql: &str) -> Result<()> {
        self.on().execute_batch(sql)
    }

    /// See [`Db::insert_id`].
    fn insert_id(&self, sql: &str, params: Params<'_>) -> Result<i64> {
        self.on().insert_id(sql, params)
    }

    /// See [`Db::query_one`].
    fn query_one<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.on().query_one(sql, params, f)
    }

    /// See [`Db::query_opt`].
    fn query_opt<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        self.on().query_opt(sql, params, f)
    }

    /// See [`Db::query_map`].
    fn query_map<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.on().query_map(sql, params, f)
    }
}

impl Queries for Db<'_> {
    fn on(&self) -> Db<'_> {
        *self
    }
}

impl Queries for Conn {
    fn on(&self) -> Db<'_> {
        self.db()
    }
}

impl Queries for Tx<'_> {
    fn on(&self) -> Db<'_> {
        self.db()
    }
}
