//! The store's conformance tests, run on both engines: SQLite in a temp
//! dir, and PostgreSQL in a fresh database on the throwaway server that
//! `scripts/test` starts (`scripts/postgres`, PRAXIS_TEST_POSTGRES).
//!
//! Without PRAXIS_TEST_POSTGRES (a test run by hand) the PostgreSQL half is
//! skipped with a note; `scripts/test` sets PRAXIS_TEST_REQUIRE_POSTGRES=1,
//! so there a missing server fails the test instead.

use std::process::Command;

use praxis::config::Config;
use praxis::store::{Dialect, Store, StoreError};

/// A PostgreSQL database made for one test, dropped when it ends.
pub struct PgDatabase {
    /// The server's admin URL (the `praxis` database).
    admin: String,
    /// This database's name.
    name: String,
    /// Its URL.
    pub url: String,
}

impl PgDatabase {
    /// A new empty database on the test server, or None when no server is
    /// named (and none is required).
    pub fn create() -> Option<PgDatabase> {
        let admin = match std::env::var("PRAXIS_TEST_POSTGRES") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                assert!(
                    std::env::var_os("PRAXIS_TEST_REQUIRE_POSTGRES").is_none(),
                    "PRAXIS_TEST_POSTGRES is not set but PRAXIS_TEST_REQUIRE_POSTGRES is: run scripts/test, which starts scripts/postgres"
                );
                eprintln!("note: PRAXIS_TEST_POSTGRES not set; the PostgreSQL half is skipped");
                return None;
            }
        };
        let name = format!("praxis_t{}_{}", std::process::id(), rand_suffix());
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let base = admin.rsplit_once('/').expect("a URL with a database").0;
        Some(PgDatabase {
            url: format!("{base}/{name}"),
            admin,
            name,
        })
    }

    /// Runs SQL in this database, as the test's own client (not praxis's).
    pub fn sql(&self, sql: &str) -> String {
        psql(&self.url, sql)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // FORCE: the store's pool still holds connections to it.
        let _ = Command::new("psql")
            .args([&self.admin, "-qtAc"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

/// Nanoseconds of now, for names no other test picks.
fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000
}

/// Runs one statement with psql; its output. Panics with psql's message.
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qtAc", sql])
        .output()
        .expect("psql runs (Debian's postgresql-client)");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `test` on a fresh store of each engine: SQLite, then PostgreSQL
/// when a server is there.
pub fn each_engine(test: impl Fn(&mut Store)) {
    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = Store::open(&dir.path().join("praxis.db")).unwrap();
    test(&mut sqlite);
    if let Some(db) = PgDatabase::create() {
        let mut pg = Store::connect(&db.url, None).unwrap();
        assert_eq!(pg.dialect(), Dialect::Postgres);
        test(&mut pg);
    }
}

/// The embedded example config, whose communities most tests use.
pub fn example() -> Config {
    let (config, problems) = Config::parse(
        praxis::config::EMBEDDED_DEFAULT,
        std::path::Path::new("praxis.toml"),
        &|_| None,
    );
    assert!(problems.is_empty(), "{problems:?}");
    config
}

/// Both engines' schemas have the same tables with the same columns, so a
/// statement written once finds what it names on either.
#[test]
fn the_engines_have_the_same_tables_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&dir.path().join("praxis.db")).unwrap();
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let pg = Store::connect(&db.url, None).unwrap();
    let lite = sqlite.columns().unwrap();
    let post = pg.columns().unwrap();
    assert!(lite.len() > 150, "{lite:?}");
    let only_lite: Vec<_> = lite.iter().filter(|c| !post.contains(c)).collect();
    let only_post: Vec<_> = post.iter().filter(|c| !lite.contains(c)).collect();
    assert!(
        only_lite.is_empty() && only_post.is_empty(),
        "only in SQLite: {only_lite:?}\nonly in PostgreSQL: {only_post:?}"
    );
    assert_eq!(
        sqlite.schema_version().unwrap(),
        pg.schema_version().unwrap(),
        "migrations are numbered in step"
    );
}

/// A second connection applies nothing; a landed migration edited after it
/// was applied stops the store from opening, naming it.
#[test]
fn a_postgres_migration_edited_after_it_was_applied_is_refused() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    drop(Store::connect(&db.url, None).unwrap());
    let applied = db.sql("SELECT count(*) FROM schema_migrations");
    drop(Store::connect(&db.url, None).unwrap());
    assert_eq!(db.sql("SELECT count(*) FROM schema_migrations"), applied);
    db.sql("UPDATE schema_migrations SET sha256 = 'edited' WHERE version = 23");
    match Store::connect(&db.url, None) {
        Err(StoreError::MigrationEdited { name, .. }) => assert_eq!(name, "0023_baseline"),
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("an edited migration was accepted"),
    }
}

/// A server that is not there is a clear, temporary error naming the URL
/// without its password.
#[test]
fn an_unreachable_postgres_is_a_temporary_error_without_the_password() {
    // Port 9 (discard) on loopback: nothing listens there.
    let err = match Store::connect("postgres://praxis:hunter2@127.0.0.1:9/praxis", None) {
        Err(e) => e,
        Ok(_) => panic!("connected to nothing"),
    };
    let shown = err.to_string();
    assert!(shown.contains("127.0.0.1:9"), "{shown}");
    assert!(shown.contains("database.url"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(err.is_temporary(), "{shown}");
}

/// Communities follow the config: added, renamed, and kept when removed.
#[test]
fn communities_follow_the_config() {
    each_engine(|store| {
        let mut config = example();
        store.sync_communities(&config).unwrap();
        let first = store.communities().unwrap();
        assert!(!first.is_empty());
        let slug = first[0].slug.clone();
        let entry = config
            .communities
            .iter_mut()
            .find(|c| c.slug == slug)
            .unwrap();
        entry.name = "Renamed".into();
        store.sync_communities(&config).unwrap();
        assert_eq!(store.community(&slug).unwrap().name, "Renamed");
        assert_eq!(store.community(&slug).unwrap().id, first[0].id);
        config.communities.clear();
        store.sync_communities(&config).unwrap();
        assert_eq!(store.communities().unwrap().len(), first.len());
        assert!(matches!(
            store.community("nowhere"),
            Err(StoreError::NotFound(m)) if m.contains("praxis init")
        ));
    });
}

/// A single-use web token is taken once, on either engine.
#[test]
fn a_web_token_is_used_once() {
    each_engine(|store| {
        assert!(!store.web_token_used("t").unwrap());
        store.use_web_token("t", 200, 100).unwrap();
        assert!(store.web_token_used("t").unwrap());
        assert!(matches!(
            store.use_web_token("t", 200, 101),
            Err(StoreError::Conflict(_))
        ));
        // Expired rows are cleared on the way: the same token, later.
        store.use_web_token("t", 400, 300).unwrap();
    });
}
