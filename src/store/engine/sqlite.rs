//! The SQLite engine's side of the SQL interface: statements from
//! rusqlite's statement cache, parameters bound by reference.

use rusqlite::types::{ToSqlOutput, ValueRef};

use super::{Params, Row, Value};
use crate::store::Result;

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(i),
            Value::Real(f) => ValueRef::Real(f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// The parameters as rusqlite binds them.
fn bind<'a>(params: Params<'a>) -> impl Iterator<Item = Value<'a>> {
    params.iter().map(|p| p.to_value())
}

pub(super) fn execute(c: &rusqlite::Connection, sql: &str, params: Params<'_>) -> Result<usize> {
    let mut stmt = c.prepare_cached(sql)?;
    Ok(stmt.execute(rusqlite::params_from_iter(bind(params)))?)
}

pub(super) fn query_opt<T>(
    c: &rusqlite::Connection,
    sql: &str,
    params: Params<'_>,
    f: impl FnOnce(&Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut stmt = c.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(bind(params)))?;
    match rows.next()? {
        Some(r) => Ok(Some(f(&Row::Sqlite(r))?)),
        None => Ok(None),
    }
}

pub(super) fn query_map<T>(
    c: &rusqlite::Connection,
    sql: &str,
    params: Params<'_>,
    mut f: impl FnMut(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = c.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(bind(params)))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(f(&Row::Sqlite(r))?);
    }
    Ok(out)
}
