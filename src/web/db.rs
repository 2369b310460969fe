//! A small pool of database connections for the web: each request's reads
//! and writes run on tokio's blocking threads, on a connection no other
//! request holds, so slow SQLite work never stalls the async threads and
//! readers run side by side (WAL).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::store::Store;

use super::page::WebError;

/// Connections kept open: enough for both cores and a writer.
const CONNECTIONS: usize = 4;

/// The pool.
pub struct Db {
    /// The connections, each used by one request at a time.
    stores: Vec<Mutex<Store>>,
    /// Where the next request starts looking for a free connection.
    next: AtomicUsize,
}

impl Db {
    /// Opens the pool's connections to the database.
    pub fn open(db: &crate::config::Database) -> anyhow::Result<Db> {
        let stores = (0..CONNECTIONS)
            .map(|_| Store::open_database(db).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Db {
            stores,
            next: AtomicUsize::new(0),
        })
    }

    /// One in-memory connection (unit tests).
    #[cfg(test)]
    pub fn in_memory() -> Db {
        Db {
            stores: vec![Mutex::new(
                Store::open_in_memory().expect("an in-memory database opens"),
            )],
            next: AtomicUsize::new(0),
        }
    }

    /// Runs `f` with a connection on a blocking thread: the first free
    /// connection, or (all busy) waits for one.
    pub async fn run<T, F>(self: &std::sync::Arc<Self>, f: F) -> Result<T, WebError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, WebError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let n = db.stores.len();
            let start = db.next.fetch_add(1, Ordering::Relaxed) % n;
            for i in 0..n {
                if let Ok(mut s) = db.stores[(start + i) % n].try_lock() {
                    return fresh(&mut s, f);
                }
            }
            let mut s = match db.stores[start].lock() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            fresh(&mut s, f)
        })
        .await
        .map_err(|e| WebError::Internal(format!("a database task failed: {e}")))?
    }
}

/// Runs `f` on a connection as nobody in particular: a request that acted
/// as a moderator (for the audit log) leaves nothing on the pooled
/// connection for the next one.
fn fresh<T>(
    store: &mut Store,
    f: impl FnOnce(&mut Store) -> Result<T, WebError>,
) -> Result<T, WebError> {
    store.act_as(crate::store::audit::Actor::default());
    f(store)
}
