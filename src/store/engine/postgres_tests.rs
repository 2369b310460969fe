//! The PostgreSQL engine's unit tests: placeholders, pooled connections
//! coming back clean, closed connections replaced, the writers' lock,
//! checkouts from inside a tokio task (needs PRAXIS_TEST_POSTGRES).

use super::*;

#[test]
fn placeholders_are_numbered_outside_quotes() {
    assert_eq!(
        placeholders("SELECT ?1, '?2', ?2 WHERE a = \"?\" AND b = ?"),
        "SELECT $1, '?2', $2 WHERE a = \"?\" AND b = $1"
    );
    assert_eq!(placeholders("a = ? AND b = ?"), "a = $1 AND b = $2");
}

/// A connection the server closed is replaced at the next statement:
/// a long-lived store works again once the server is back.
#[test]
fn a_closed_connection_is_replaced_outside_a_transaction() {
    let Some(db) = Scratch::create() else {
        return;
    };
    let pid = |c: &Client| {
        super::super::Db::Postgres(c).query_one(
            "SELECT pg_backend_pid()",
            super::super::params![],
            |r| r.get::<i64>(0),
        )
    };
    let mut c = Client::connect(&db.url, None).unwrap();
    let first = pid(&c).unwrap();
    let admin = Client::connect(&db.admin, None).unwrap();
    admin
        .execute_batch(&format!("SELECT pg_terminate_backend({first})"))
        .unwrap();
    // The first statement may still meet the closed socket; the next
    // runs on a fresh connection.
    let again = pid(&c).or_else(|e| {
        assert!(e.is_temporary(), "{e}");
        pid(&c)
    });
    let second = again.unwrap();
    assert_ne!(first, second);
    // Inside a transaction nothing is replaced: the transaction fails.
    {
        let tx = c.transaction(true).unwrap();
        admin
            .execute_batch(&format!("SELECT pg_terminate_backend({second})"))
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let in_tx =
            super::super::Db::Postgres(tx.client()).execute("SELECT 1", super::super::params![]);
        assert!(in_tx.is_err());
    }
    assert_ne!(pid(&c).unwrap(), second);
}

/// A connection back in the pool forgets its session settings: the
/// sender's relaxed commits never reach an ingest's store.
#[test]
fn a_pooled_connection_comes_back_clean() {
    let Some(db) = Scratch::create() else {
        return;
    };
    let show = |c: &Client| {
        super::super::Db::Postgres(c)
            .query_one("SHOW synchronous_commit", super::super::params![], |r| {
                r.get::<String>(0)
            })
            .unwrap()
    };
    for _ in 0..3 {
        let c = Client::connect(&db.url, None).unwrap();
        assert_eq!(show(&c), "on");
        c.execute_batch("SET synchronous_commit = off").unwrap();
        assert_eq!(show(&c), "off");
    }
}

/// Text with NUL (a decoded subject now and then) is stored with
/// U+FFFD in its place rather than refused; bytes keep their NUL.
#[test]
fn text_with_nul_is_stored_and_bytes_keep_it() {
    let Some(db) = Scratch::create() else {
        return;
    };
    let c = Client::connect(&db.url, None).unwrap();
    c.execute_batch("CREATE TABLE t (s TEXT, b BYTEA)").unwrap();
    let conn = super::super::Db::Postgres(&c);
    conn.execute(
        "INSERT INTO t (s, b) VALUES (?1, ?2)",
        super::super::params!["a\0b", &b"a\0b"[..]],
    )
    .unwrap();
    let (s, b) = conn
        .query_one("SELECT s, b FROM t", super::super::params![], |r| {
            Ok((r.get::<String>(0)?, r.get::<Vec<u8>>(1)?))
        })
        .unwrap();
    assert_eq!(s, "a\u{FFFD}b");
    assert_eq!(b, b"a\0b");
}

/// A writers' transaction excludes another one (it waits, then fails
/// `Busy` at the lock timeout); a row transaction goes on beside it.
#[test]
fn a_row_transaction_does_not_wait_for_the_writers_lock() {
    let Some(db) = Scratch::create() else {
        return;
    };
    let mut a = Client::connect(&db.url, None).unwrap();
    let mut b = Client::connect(&db.url, None).unwrap();
    a.execute_batch(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, n BIGINT); INSERT INTO t VALUES (1, 0), (2, 0)",
    )
    .unwrap();
    let writer = a.transaction(true).unwrap();
    super::super::Db::Postgres(writer.client())
        .execute("UPDATE t SET n = 1 WHERE id = 1", super::super::params![])
        .unwrap();
    b.execute_batch("SET lock_timeout = 300").unwrap();
    // Another writers' transaction waits for the lock and gives up.
    let started = std::time::Instant::now();
    let refused = b.transaction(true).map(|_| ());
    assert!(
        refused.as_ref().is_err_and(|e| e.is_temporary()),
        "{refused:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    // A row transaction on another row commits while the writer is open.
    let rows = b.transaction(false).unwrap();
    super::super::Db::Postgres(rows.client())
        .execute("UPDATE t SET n = 2 WHERE id = 2", super::super::params![])
        .unwrap();
    rows.commit().unwrap();
    writer.commit().unwrap();
    let n = super::super::Db::Postgres(&a)
        .query_one(
            "SELECT CAST(sum(n) AS BIGINT) FROM t",
            super::super::params![],
            |r| r.get::<i64>(0),
        )
        .unwrap();
    assert_eq!(n, 3);
}

/// Runs `body` on a thread of its own, inside a tokio runtime of the
/// given flavour (as an async test or a handler calls the store, without
/// `spawn_blocking`); false if it has not finished within `secs`.
fn finishes_inside_a_task(
    current_thread: bool,
    secs: u64,
    body: impl FnOnce() + Send + 'static,
) -> bool {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = if current_thread {
            tokio::runtime::Builder::new_current_thread()
        } else {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
        .enable_all()
        .build()
        .unwrap();
        rt.block_on(async move { body() });
        let _ = done_tx.send(());
    });
    done_rx.recv_timeout(Duration::from_secs(secs)).is_ok()
}

/// Many checkouts in one poll of a tokio task finish: each `get` takes a
/// unit of the task's cooperative budget (128), and once it was spent the
/// pool's waits (its semaphore, its timeout's timer) never became ready,
/// so the caller hung in `get` (a multi-thread runtime's caller spinning,
/// a current-thread one asleep).
#[test]
fn many_checkouts_within_one_poll_of_a_task_finish() {
    let Some(db) = Scratch::create() else {
        return;
    };
    for current_thread in [false, true] {
        let url = db.url.clone();
        let checkouts = move || {
            for _ in 0..300 {
                let c = Client::connect(&url, None).unwrap();
                c.execute_batch("SELECT 1").unwrap();
            }
        };
        assert!(
            finishes_inside_a_task(current_thread, 60, checkouts),
            "300 checkouts inside a task (current thread: {current_thread}) hung"
        );
    }
}
