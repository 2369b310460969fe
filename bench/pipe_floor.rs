//! Benchmark helper (issue 19's pipe row): the least a Rust process built
//! with praxis's own SQLite can do to store one message durably in a praxis
//! database. It opens the file, inserts one 3 KB row into `bench_floor` in
//! an IMMEDIATE transaction synced at commit (synchronous=FULL), keeps the
//! WAL file as praxis does, and closes (folding the WAL in when it is the
//! last connection). It starts no runtime and reads no config; preparing
//! the INSERT reads the database's schema, as any statement of
//! `praxis ingest` does. `bench/members --pipe` runs it after each
//! `praxis ingest`, beside the sqlite3 shell doing the same.
//!
//! Usage: target/release/examples/pipe_floor DATABASE

use std::time::Duration;

fn main() -> rusqlite::Result<()> {
    let Some(db) = std::env::args().nth(1) else {
        eprintln!("usage: pipe_floor DATABASE");
        std::process::exit(2);
    };
    let conn = rusqlite::Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // The WAL kept between connections and emptied at the last close, as
    // every praxis connection keeps it.
    praxis::store::keep_wal_file(&conn).expect("keep the WAL file");
    conn.execute_batch("PRAGMA synchronous = FULL; BEGIN IMMEDIATE")?;
    conn.execute("INSERT INTO bench_floor VALUES (randomblob(?1))", [3000])?;
    conn.execute_batch("COMMIT")?;
    conn.close().map_err(|(_, e)| e)
}
