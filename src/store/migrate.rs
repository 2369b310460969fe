//! Numbered SQL migrations, embedded in the binary and applied on open.
//!
//! Each applied migration's SHA-256 is recorded; a later open that finds a
//! different text for the same number refuses to go on, so a landed
//! migration can never be edited silently.

use std::collections::HashMap;

use rusqlite::Connection;

use super::engine::params;
use sha2::{Digest, Sha256};

use super::engine::{Conn, Queries};
use super::{Result, StoreError, now};

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number: 1, 2, ... with no gaps.
    pub version: i64,
    /// Its file name without `.sql`.
    pub name: &'static str,
    /// Its SQL.
    pub sql: &'static str,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_initial",
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "0002_ingest",
        sql: include_str!("migrations/0002_ingest.sql"),
    },
    Migration {
        version: 3,
        name: "0003_delivery",
        sql: include_str!("migrations/0003_delivery.sql"),
    },
    Migration {
        version: 4,
        name: "0004_membership",
        sql: include_str!("migrations/0004_membership.sql"),
    },
    Migration {
        version: 5,
        name: "0005_consolidate",
        sql: include_str!("migrations/0005_consolidate.sql"),
    },
    Migration {
        version: 6,
        name: "0006_lazy_audience",
        sql: include_str!("migrations/0006_lazy_audience.sql"),
    },
    Migration {
        version: 7,
        name: "0007_sender_rate",
        sql: include_str!("migrations/0007_sender_rate.sql"),
    },
    Migration {
        version: 8,
        name: "0008_digest_candidates",
        sql: include_str!("migrations/0008_digest_candidates.sql"),
    },
    Migration {
        version: 9,
        name: "0009_member_ids_never_reused",
        sql: include_str!("migrations/0009_member_ids_never_reused.sql"),
    },
    Migration {
        version: 10,
        name: "0010_thread_splits",
        sql: include_str!("migrations/0010_thread_splits.sql"),
    },
    Migration {
        version: 11,
        name: "0011_confirmed_changes",
        sql: include_str!("migrations/0011_confirmed_changes.sql"),
    },
    Migration {
        version: 12,
        name: "0012_indic_search",
        sql: include_str!("migrations/0012_indic_search.sql"),
    },
    Migration {
        version: 13,
        name: "0013_digest_replies_and_moderation_by_email",
        sql: include_str!("migrations/0013_digest_replies_and_moderation_by_email.sql"),
    },
    Migration {
        version: 14,
        name: "0014_attachments",
        sql: include_str!("migrations/0014_attachments.sql"),
    },
    Migration {
        version: 15,
        name: "0015_audit",
        sql: include_str!("migrations/0015_audit.sql"),
    },
    Migration {
        version: 16,
        name: "0016_search",
        sql: include_str!("migrations/0016_search.sql"),
    },
    Migration {
        version: 17,
        name: "0017_web_tokens",
        sql: include_str!("migrations/0017_web_tokens.sql"),
    },
    Migration {
        version: 18,
        name: "0018_health_reports",
        sql: include_str!("migrations/0018_health_reports.sql"),
    },
    Migration {
        version: 19,
        name: "0019_referrals",
        sql: include_str!("migrations/0019_referrals.sql"),
    },
    Migration {
        version: 20,
        name: "0020_member_interests",
        sql: include_str!("migrations/0020_member_interests.sql"),
    },
    Migration {
        version: 21,
        name: "0021_related",
        sql: include_str!("migrations/0021_related.sql"),
    },
    Migration {
        version: 22,
        name: "0022_crossposts",
        sql: include_str!("migrations/0022_crossposts.sql"),
    },
    Migration {
        version: 23,
        name: "0023_attachments_rowid",
        sql: include_str!("migrations/0023_attachments_rowid.sql"),
    },
    Migration {
        version: 24,
        name: "0024_nodes",
        sql: include_str!("migrations/0024_nodes.sql"),
    },
    Migration {
        version: 25,
        name: "0025_search_words",
        sql: include_str!("migrations/0025_search_words.sql"),
    },
    Migration {
        version: 26,
        name: "0026_member_ids_from_sequence",
        sql: include_str!("migrations/0026_member_ids_from_sequence.sql"),
    },
];

/// PostgreSQL's migrations, oldest first: a new database starts at the
/// baseline, which leaves it where SQLite's migrations up to the same
/// number leave SQLite; every later number exists for both engines.
pub const POSTGRES_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 23,
        name: "0023_baseline",
        sql: include_str!("migrations/postgres/0023_baseline.sql"),
    },
    Migration {
        version: 24,
        name: "0024_nodes",
        sql: include_str!("migrations/postgres/0024_nodes.sql"),
    },
    Migration {
        version: 25,
        name: "0025_search_words",
        sql: include_str!("migrations/postgres/0025_search_words.sql"),
    },
    Migration {
        version: 26,
        name: "0026_member_ids_from_sequence",
        sql: include_str!("migrations/postgres/0026_member_ids_from_sequence.sql"),
    },
];

impl Migration {
    /// Hex SHA-256 of the SQL text.
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

/// Applies every migration not yet applied, each in its own transaction.
pub fn apply(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             sha256     TEXT NOT NULL,
             applied_at INTEGER NOT NULL
         )",
    )?;
    let known = MIGRATIONS.last().map(|m| m.version).unwrap_or(0);
    let found: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    // Every recorded checksum in one query: an open of an up-to-date
    // database (each `praxis ingest` from an MTA pipe is one) reads them
    // once rather than one query per migration.
    let applied: HashMap<i64, String> = conn
        .prepare("SELECT version, sha256 FROM schema_migrations")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for m in MIGRATIONS {
        let sum = m.checksum();
        let check = |applied: Option<&String>| match applied {
            Some(a) if *a == sum => Ok(true),
            Some(a) => Err(StoreError::MigrationEdited {
                name: m.name.to_string(),
                applied: a.clone(),
                embedded: sum.clone(),
            }),
            None => Ok(false),
        };
        // One the snapshot lacks is looked for again, without the lock:
        // another process opening the same new database (the daemon, and
        // a `praxis status` beside it) may have applied it since, and
        // taking the write lock just to see that would make every opener
        // queue behind every other for each of the migrations.
        let seen = match applied.get(&m.version) {
            Some(a) => Some(a.clone()),
            None => recorded(conn, m.version)?,
        };
        if check(seen.as_ref())? {
            continue;
        }
        // Look again holding the write lock (IMMEDIATE), so two processes
        // opening a new database at once (the daemon and `praxis status`)
        // cannot both apply the same migration.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if check(recorded(&tx, m.version)?.as_ref())? {
            continue;
        }
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, sha256, applied_at) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![m.version, m.name, sum, now()],
        )?;
        tx.pragma_update(None, "user_version", m.version)?;
        tx.commit()?;
    }
    Ok(())
}

/// The checksum recorded for migration `version`, if it was applied.
fn recorded(conn: &Connection, version: i64) -> Result<Option<String>> {
    match conn.query_row(
        "SELECT sha256 FROM schema_migrations WHERE version = ?1",
        [version],
        |r| r.get(0),
    ) {
        Ok(s) => Ok(Some(s)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Applies every PostgreSQL migration not yet applied, all under the
/// writers' lock, so nodes starting together apply each once; and checks
/// that none applied was edited since.
pub(super) fn apply_postgres(conn: &mut Conn) -> Result<()> {
    let exists: bool = conn.query_one(
        "SELECT to_regclass('schema_migrations') IS NOT NULL",
        params![],
        |r| r.get(0),
    )?;
    let known = POSTGRES_MIGRATIONS.last().map(|m| m.version).unwrap_or(0);
    if exists {
        let applied = conn.query_map(
            "SELECT version, sha256 FROM schema_migrations ORDER BY version",
            params![],
            |r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?)),
        )?;
        if check_postgres(&applied, known)? {
            return Ok(());
        }
    }
    let tx = conn.transaction()?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             name       TEXT NOT NULL,
             sha256     TEXT NOT NULL,
             applied_at BIGINT NOT NULL
         )",
    )?;
    let applied = tx.query_map(
        "SELECT version, sha256 FROM schema_migrations ORDER BY version",
        params![],
        |r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?)),
    )?;
    check_postgres(&applied, known)?;
    let found = applied.last().map(|a| a.0).unwrap_or(0);
    for m in POSTGRES_MIGRATIONS.iter().filter(|m| m.version > found) {
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, sha256, applied_at) VALUES (?1, ?2, ?3, ?4)",
            params![m.version, m.name, m.checksum(), now()],
        )?;
    }
    tx.commit()
}

/// Whether every PostgreSQL migration is applied (false: some are still to
/// apply); an error when one applied was edited or the database is newer.
fn check_postgres(applied: &[(i64, String)], known: i64) -> Result<bool> {
    let found = applied.last().map(|a| a.0).unwrap_or(0);
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    for (version, sum) in applied {
        if let Some(m) = POSTGRES_MIGRATIONS.iter().find(|m| m.version == *version) {
            let embedded = m.checksum();
            if *sum != embedded {
                return Err(StoreError::MigrationEdited {
                    name: m.name.to_string(),
                    applied: sum.clone(),
                    embedded,
                });
            }
        }
    }
    Ok(found == known)
}
