//! The migrations: numbered without gaps, every file embedded, landed ones
//! never edited, and the schema they build has every table the design names.

use praxis::store::migrate::{MIGRATIONS, POSTGRES_MIGRATIONS};
use praxis::store::{Store, StoreError};

use crate::support::Home;

/// Checksums of migrations that have landed. A landed migration is never
/// edited: add a new file instead, and append its checksum here.
const LANDED: &[(i64, &str)] = &[
    (
        1,
        "78f29bcbfa6fa5c339fe2077bc045af396acfd8699566c47fd0fe98caeb78bb6",
    ),
    (
        2,
        "97c0c0de896db5f487f5e1c841b32a891c9deee0f3e19cc3d84e585e4107ebed",
    ),
    (
        3,
        "caf82b50290ac28f4907be6df91d620f6d7002cf449924446da327ba989fb0f2",
    ),
    (
        4,
        "ca5c6663ec2dde04c6f1082ec8672e27637b10da782c9c18be1a1d4c16b69816",
    ),
    (
        5,
        "39baa9e7d2d3436544f7535bfb505105edf0397a3fa04de4c6099ee399716d7a",
    ),
    (
        6,
        "7998db24c55374e0d458382003e9b3c29e32126a4b6696d77a35cf1aa7f11bd7",
    ),
    (
        7,
        "434958721195c0a8d74abdfed28b9f0390f09248a9a9936d6ae608be2b27ee41",
    ),
    (
        8,
        "15240167ef6e63d5d2285c5c7120377ebde609ec4586017b6bf516f2b7fa38b8",
    ),
    (
        9,
        "6a18928369c7fb3ae737ef3e8d25542b22b1c15089f0425b79d71aa8156ca676",
    ),
    (
        10,
        "cb2285ed9d67bf39faf14bc0d282ab6f59374ea2dfb75a9c678231ba9e24aaa3",
    ),
    (
        11,
        "2a02a49503edd684e6bb70f41a03ccd8f9f54cb0a54dde3ae0bfdd040504f9a7",
    ),
    (
        12,
        "940b30953d43fe829e0bd9ff1e09453f08976067d511d41dcb48d585a735fa69",
    ),
    (
        13,
        "6a78bed7d77c7c22759f5de9bfa3891476f260310fd6816d8da8be3bf8804324",
    ),
    (
        14,
        "81211840173f558f7d85479cff1b3d9cfc2f441b754703c46ba24e0c8d946235",
    ),
    (
        15,
        "877b26aecb60256cea8a65f0f0e43d8a3cb48987c707c7bec01e421ac7a2747c",
    ),
    (
        16,
        "ac73142377ac1c40d0b48da52a2d9dba2686b855f213b4683cbc5121c906e2a9",
    ),
    (
        17,
        "3e365f17473919f97e89410e6e6f7f074c0e9444d6e8b8413bd7e36940c761a4",
    ),
    (
        18,
        "f3dc8a1fd0f9970e3ac70cfdc3fe61946b6af81a9cec06165fc34e4ed78472d0",
    ),
    (
        19,
        "7f8c1adbe2ebcd0bbbee598e91859dc66d97823cd43d647ed4ef37222c161046",
    ),
    (
        20,
        "bbfb5628303950ea8c4cd0dfb7786db0ebee79c3ca8e4f964490d815e3eb9590",
    ),
    (
        21,
        "1a91efbe73f50015ec10ef3b1e12d5a44e2781ce03c140b468acc6d4e9b971cc",
    ),
    (
        22,
        "af4d5a6ebac5e75e16e0bc253bd081603728d5d4e7e681c6aa0bfdfc2251e75a",
    ),
    (
        23,
        "325d98cfd7e03c744f0f28949014b25cf690e7f1b405386ec9b35782a73ea2cf",
    ),
    (
        24,
        "44174413bb2c9293761428de07614132f6923303833263edbb6ddbfcfaa3efd0",
    ),
    (
        25,
        "6cd92d43841de782232159f7cb5a9b4e88afaba62ec796b5b88cec87e76930c8",
    ),
    (
        26,
        "2b92c12e88a9428b2ed48f5f984b7c670f84d0f8b9fe70269b5493237e8c0cf0",
    ),
];

/// PostgreSQL's migrations that have landed, likewise never to be edited.
const LANDED_POSTGRES: &[(i64, &str)] = &[
    (
        23,
        "785b0c41681938fd0d6bdb084249f17bc6efca4c6ff95e10137de9b4f5ea1020",
    ),
    (
        24,
        "a9ccebd952fd099156a8e9d201e56771f67a2f79bbfc907bc8ba34c1fec41f7e",
    ),
    (
        25,
        "9410872374c150e87a944574509bcb68962b684ec81f78154843b800abb307d4",
    ),
    (
        26,
        "a09a1ad660a8267a57829564168d202fb3bc476833b9461b23858bd31943eeb3",
    ),
];

#[test]
fn migrations_are_numbered_and_all_embedded() {
    let dir = crate::support::repo().join("src/store/migrations");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    files.sort();
    let embedded: Vec<String> = MIGRATIONS
        .iter()
        .map(|m| format!("{}.sql", m.name))
        .collect();
    assert_eq!(
        files, embedded,
        "every file in src/store/migrations is listed in MIGRATIONS, in order"
    );
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert_eq!(
            m.version,
            i as i64 + 1,
            "versions run 1, 2, 3 ... without gaps"
        );
        assert!(
            m.name.starts_with(&format!("{:04}_", m.version)),
            "{} is numbered {}",
            m.name,
            m.version
        );
        let on_disk = std::fs::read_to_string(dir.join(format!("{}.sql", m.name))).unwrap();
        assert_eq!(on_disk, m.sql, "{} embedded text matches the file", m.name);
    }
    // PostgreSQL's: every file embedded, a baseline then one per number,
    // in step with SQLite's (the same numbers, the same last one).
    let pg_dir = dir.join("postgres");
    let mut pg_files: Vec<String> = std::fs::read_dir(&pg_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pg_files.sort();
    let pg_embedded: Vec<String> = POSTGRES_MIGRATIONS
        .iter()
        .map(|m| format!("{}.sql", m.name))
        .collect();
    assert_eq!(pg_files, pg_embedded, "every file in postgres/ is listed");
    let base = POSTGRES_MIGRATIONS[0].version;
    for (i, m) in POSTGRES_MIGRATIONS.iter().enumerate() {
        assert_eq!(m.version, base + i as i64, "no gaps after the baseline");
        let sqlite = MIGRATIONS.iter().find(|s| s.version == m.version);
        assert!(sqlite.is_some(), "{} has no SQLite twin", m.name);
        if i > 0 {
            assert_eq!(
                m.name,
                sqlite.unwrap().name,
                "the twins of a number share its name"
            );
        }
        let on_disk = std::fs::read_to_string(pg_dir.join(format!("{}.sql", m.name))).unwrap();
        assert_eq!(on_disk, m.sql, "{} embedded text matches the file", m.name);
    }
    assert_eq!(
        POSTGRES_MIGRATIONS.last().unwrap().version,
        MIGRATIONS.last().unwrap().version,
        "every SQLite migration after the baseline has a PostgreSQL twin"
    );
}

#[test]
fn landed_migrations_are_never_edited() {
    let landed = LANDED.iter().map(|l| (MIGRATIONS, l));
    let landed_postgres = LANDED_POSTGRES.iter().map(|l| (POSTGRES_MIGRATIONS, l));
    for (migrations, (version, sum)) in landed.chain(landed_postgres) {
        let m = migrations
            .iter()
            .find(|m| m.version == *version)
            .expect("a landed migration was removed");
        assert_eq!(
            m.checksum(),
            *sum,
            "migration {} was edited after it landed; restore it and add a new migration",
            m.name
        );
    }
}

#[test]
fn the_schema_has_every_table_the_design_names() {
    let store = Store::open_in_memory().unwrap();
    let tables = store.table_names().unwrap();
    for t in [
        "communities",
        "members",
        "posts",
        "threads",
        "holds",
        "decisions",
        "consolidated_replies",
        "draft_versions",
        "digests",
        "digest_posts",
        "outbox",
        "deliveries",
        "imap_checkpoints",
        "posts_fts",
        "consolidated_fts",
        "schema_migrations",
    ] {
        assert!(
            tables.iter().any(|x| x == t),
            "table {t} missing from {tables:?}"
        );
    }
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    assert_eq!(store.pragma("foreign_keys").unwrap(), "1");
}

#[test]
fn a_file_database_uses_wal_and_reopens_without_reapplying() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.pragma("journal_mode").unwrap(), "wal");
    // Commits are synced before anything is acknowledged; only the
    // sender's ledger relaxes that.
    assert_eq!(store.pragma("synchronous").unwrap(), "2", "FULL");
    store.relax_durability().unwrap();
    assert_eq!(store.pragma("synchronous").unwrap(), "1", "NORMAL");
    assert_eq!(store.pragma("foreign_keys").unwrap(), "1");
    assert!(
        store
            .pragma("busy_timeout")
            .unwrap()
            .parse::<i64>()
            .unwrap()
            >= 1000
    );
    drop(store);
    let again = Store::open(&path).unwrap();
    assert_eq!(again.schema_version().unwrap(), MIGRATIONS.len() as i64);
}

/// Several processes opening one new database at once (the daemon, and
/// the test or the operator's `praxis status` beside it) all get it. Setting
/// up a new file can answer SQLITE_BUSY at once, busy timeout or not, so
/// `Store::open` tries it again. Without that, 5 of 12 runs of this test
/// failed, and once a daemon started beside `wait_health`'s polling exited.
#[test]
fn processes_opening_a_new_database_at_once_all_get_it() {
    for round in 0..6 {
        let home = Home::new();
        let children: Vec<_> = (0..8)
            .map(|_| {
                let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("praxis"));
                c.arg("--config")
                    .arg(home.config())
                    .args(["-q", "queue", "-c", "health"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped());
                c.spawn().unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn an_edited_migration_is_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    drop(Store::open(&path).unwrap());
    // Simulate a database whose recorded checksum differs from this build's text.
    let conn = rusqlite_free_edit(&path);
    assert!(conn, "could not edit the recorded checksum");
    match Store::open(&path) {
        Err(StoreError::MigrationEdited { name, .. }) => assert_eq!(name, "0001_initial"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("an edited migration was accepted"),
    }
}

#[test]
fn a_newer_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    drop(Store::open(&path).unwrap());
    sqlite3(
        &path,
        "INSERT INTO schema_migrations VALUES (999, '0999_future', 'x', 0)",
    );
    match Store::open(&path) {
        Err(e @ StoreError::TooNew { .. }) => assert!(e.to_string().contains("upgrade praxis")),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

/// Edits the recorded checksum with the sqlite3 shell (tests do not import rusqlite).
fn rusqlite_free_edit(path: &std::path::Path) -> bool {
    sqlite3(
        path,
        "UPDATE schema_migrations SET sha256 = 'edited' WHERE version = 1",
    )
}

fn sqlite3(path: &std::path::Path, sql: &str) -> bool {
    std::process::Command::new("sqlite3")
        .arg(path)
        .arg(sql)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A database written by the first schema (kept as a fixture) opens, is
/// upgraded to the newest, and keeps its data.
#[test]
fn a_first_schema_database_upgrades() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    std::fs::copy(
        crate::support::repo().join("tests/data/schema-0001.db"),
        &path,
    )
    .unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let tables = store.table_names().unwrap();
    for t in ["thread_refs", "confirmations"] {
        assert!(tables.iter().any(|x| x == t), "{t} added by the upgrade");
    }
    let c = store.community("health").unwrap();
    let members = store.members(c.id).unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].organisation, "PHFI");
}

/// 0023 rebuilds `attachments` as a table with rowids: a file kept under
/// 0022 is still there, under the same SHA-256, and is still stored once.
#[test]
fn kept_attachments_survive_the_move_to_a_rowid_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v22.db");
    {
        // A database as 0022 left it, with one kept file.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (
                 version INTEGER PRIMARY KEY, name TEXT NOT NULL,
                 sha256 TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        )
        .unwrap();
        for m in MIGRATIONS.iter().filter(|m| m.version <= 22) {
            conn.execute_batch(m.sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?1, ?2, ?3, 0)",
                rusqlite::params![m.version, m.name, m.checksum()],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO attachments (sha256, size, content_type, bytes, first_seen)
             VALUES ('ab12', 3, 'text/csv', x'616263', 1)",
            [],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    assert_eq!(
        store.attachment_file("ab12").unwrap(),
        Some(("text/csv".to_string(), b"abc".to_vec()))
    );
    assert_eq!(store.attachment_files().unwrap(), 1);
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let unique = conn.execute(
        "INSERT INTO attachments (sha256, size, content_type, bytes, first_seen)
         VALUES ('ab12', 3, 'text/csv', x'616263', 2)",
        [],
    );
    assert!(unique.is_err(), "a file is still kept once by its SHA-256");
}
