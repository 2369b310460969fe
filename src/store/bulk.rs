//! An import's batches: posts reach the search index (`posts_fts`) in one
//! statement per batch instead of through the insert trigger post by post,
//! and the WAL is checkpointed on a thread beside the writer
//! ([`Checkpointer`]).
//!
//! Why: FTS5 writes its pending terms to disk at every savepoint, and every
//! statement that may abort opens one (the insert into `posts` does, for its
//! trigger). Through the trigger, each imported post became an index
//! segment of its own, and merging those segments again and again was a
//! quarter of an import's instructions. Here the trigger is dropped inside
//! the batch's transaction and created again from its own stored SQL, after
//! the batch's index rows are written, before the commit: posts, index rows
//! and trigger commit or roll back together, so no other connection ever
//! sees `posts` without its trigger, and a killed import leaves neither a
//! post without its index rows nor a table without its trigger.
//!
//! All of it is SQLite's: on PostgreSQL the search column is generated with
//! each row (nothing to defer), and the server checkpoints by itself (the
//! [`Checkpointer`] of a store with no file does nothing).

use std::cell::Cell;
use std::path::Path;
use std::sync::mpsc;

use super::engine::{Dialect, Queries, params};
use super::{Batch, Result, Store};

/// The insert trigger as migration 0012 created it: the bulk statement
/// below writes exactly what it writes. Another trigger (a later migration)
/// is left alone, and its batches index post by post as before.
const INSERT_TRIGGER: &str = "CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
    INSERT INTO posts_fts (rowid, subject, text) VALUES (new.id, new.subject, new.text);
END";

/// What a batch with deferred indexing remembers.
pub(super) struct DeferredFts {
    /// Posts up to this id are indexed (or were there before the batch).
    indexed_to: Cell<i64>,
}

impl Store {
    /// Starts a transaction for `praxis import`: like [`Store::batch`], but
    /// the posts it stores are indexed for search in bulk when it commits
    /// (or when the batch itself searches them). Only for a batch that
    /// inserts posts and changes no post's subject or text. On PostgreSQL
    /// an ordinary batch: its search column is written with each post.
    pub fn import_batch(&mut self) -> Result<Batch<'_>> {
        let mut batch = self.batch()?;
        if batch.tx.db().dialect() == Dialect::Postgres {
            return Ok(batch);
        }
        let trigger: Option<String> = batch
            .tx
            .query_opt(
                "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = 'posts_fts_insert'",
                params![],
                |r| r.get(0),
            )
            .ok()
            .flatten();
        if trigger.as_deref() == Some(INSERT_TRIGGER) {
            let last: i64 =
                batch
                    .tx
                    .query_one("SELECT COALESCE(MAX(id), 0) FROM posts", params![], |r| {
                        r.get(0)
                    })?;
            batch.tx.execute_batch("DROP TRIGGER posts_fts_insert")?;
            batch.deferred_fts = Some(DeferredFts {
                indexed_to: Cell::new(last),
            });
        }
        Ok(batch)
    }
}

/// Checkpoints for an import, on a thread and connection of their own: the
/// WAL is copied into the database (and the database synced) while the
/// import's writer stores the next batch, instead of in the middle of its
/// commit (a checkpoint was about an eighth of the writer's time). When
/// a checkpoint ends before the writer's next commit, that commit starts
/// the WAL from its beginning again, so the WAL stays a few batches long.
pub struct Checkpointer {
    /// A nudge asks for one checkpoint; at most one waits.
    nudge: Option<mpsc::SyncSender<()>>,
    /// The thread, joined at [`Checkpointer::finish`].
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a second connection to `path` and waits for nudges. A store
    /// with no file (PostgreSQL's, whose server checkpoints by itself, or
    /// SQLite's in memory) has nothing to checkpoint: its checkpointer
    /// starts no thread and its nudges do nothing.
    pub fn start(path: &Path) -> Result<Checkpointer> {
        if path.as_os_str().is_empty() {
            return Ok(Checkpointer {
                nudge: None,
                thread: None,
            });
        }
        let store = Store::open(path)?;
        let (nudge, nudged) = mpsc::sync_channel::<()>(1);
        let spawned = std::thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || {
                for () in nudged {
                    // PASSIVE: copies what no reader still needs and never
                    // waits for (or blocks) the writer. A failure is only
                    // logged: the writer's own automatic checkpoint, set
                    // further out, still bounds the WAL.
                    if let Err(e) = store.checkpoint_passive() {
                        tracing::warn!("import: checkpoint failed: {e}");
                    }
                }
            });
        match spawned {
            Ok(thread) => Ok(Checkpointer {
                nudge: Some(nudge),
                thread: Some(thread),
            }),
            // Without the thread, the writer's automatic checkpoint does it.
            Err(e) => {
                tracing::warn!(
                    "import: no checkpoint thread ({e}); the import checkpoints as it goes"
                );
                Ok(Checkpointer {
                    nudge: None,
                    thread: None,
                })
            }
        }
    }

    /// Asks for a checkpoint after a commit; does nothing when one is
    /// already asked for.
    pub fn nudge(&self) {
        if let Some(n) = &self.nudge {
            let _ = n.try_send(());
        }
    }

    /// Lets the last checkpoint asked for finish, and stops the thread.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.nudge.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Store {
    /// `PRAGMA wal_checkpoint(PASSIVE)`; nothing on PostgreSQL, whose
    /// server checkpoints by itself.
    pub fn checkpoint_passive(&self) -> Result<()> {
        if self.dialect() == Dialect::Postgres {
            return Ok(());
        }
        self.conn
            .query_one("PRAGMA wal_checkpoint(PASSIVE)", params![], |_| Ok(()))
    }

    /// After an import: on PostgreSQL, `VACUUM (ANALYZE) posts`, which
    /// moves the GIN index's pending entries into the index proper and
    /// gives the planner the archive's new statistics (until then a
    /// search reads every post rather than the index; autovacuum would get
    /// there, later). Nothing on SQLite, whose index was written in bulk.
    pub fn settle_after_import(&self) -> Result<()> {
        if self.dialect() == Dialect::Postgres {
            self.conn.execute_batch("VACUUM (ANALYZE) posts")?;
        }
        Ok(())
    }
}

impl Batch<'_> {
    /// Whether this batch indexes its posts in bulk (an import's batch, on
    /// the schema this module knows).
    pub fn defers_indexing(&self) -> bool {
        self.deferred_fts.is_some()
    }

    /// Writes the search index rows of the posts this batch stored since
    /// the last call (none unless the batch defers indexing).
    pub(super) fn index_pending(&self) -> Result<()> {
        let Some(d) = &self.deferred_fts else {
            return Ok(());
        };
        let last: i64 =
            self.tx
                .query_one("SELECT COALESCE(MAX(id), 0) FROM posts", params![], |r| {
                    r.get(0)
                })?;
        if last > d.indexed_to.get() {
            self.tx.execute(
                "INSERT INTO posts_fts (rowid, subject, text)
                 SELECT id, subject, text FROM posts WHERE id > ?1 AND id <= ?2 ORDER BY id",
                params![d.indexed_to.get(), last],
            )?;
            d.indexed_to.set(last);
        }
        Ok(())
    }

    /// Before commit: the pending index rows, then the trigger again.
    pub(super) fn finish_deferred_fts(&self) -> Result<()> {
        if self.deferred_fts.is_some() {
            self.index_pending()?;
            self.tx.execute_batch(INSERT_TRIGGER)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::parse;
    use crate::model::{CommunityId, PostClass, PostState, Source, ThreadKind};
    use crate::store::NewPost;

    fn store() -> (Store, CommunityId) {
        let (store, _) = Store::open_example();
        let c = store.community("health").unwrap().id;
        (store, c)
    }

    fn put(batch: &Batch<'_>, c: CommunityId, i: usize) {
        let raw =
            format!("From: a@x.org\nSubject: pumps {i}\nMessage-ID: <{i}@x>\n\nword{i} mangrove\n");
        let parsed = parse::parse(raw.as_bytes()).unwrap();
        batch
            .store_post(&NewPost {
                community: c,
                raw: raw.as_bytes(),
                sha256: parse::sha256(raw.as_bytes()),
                source: Source::Import,
                envelope_to: None,
                received_at: 1_800_000_000,
                class: PostClass::Post,
                state: PostState::Approved,
                hold_reason: None,
                parsed: Some(&parsed),
                message_id: &parsed.message_id,
                member_id: None,
                new_thread_kind: ThreadKind::Discussion,
                subject_window_secs: 86_400,
            })
            .unwrap();
    }

    fn hits(store: &Store, word: &str) -> i64 {
        store
            .conn
            .query_one(
                "SELECT count(*) FROM posts_fts WHERE posts_fts MATCH ?1",
                params![word],
                |r| r.get(0),
            )
            .unwrap()
    }

    fn trigger(store: &Store) -> Option<String> {
        store
            .conn
            .query_opt(
                "SELECT sql FROM sqlite_schema WHERE name = 'posts_fts_insert'",
                params![],
                |r| r.get(0),
            )
            .unwrap()
    }

    #[test]
    fn an_import_batch_indexes_what_the_trigger_would() {
        let (mut store, c) = store();
        let b = store.batch().unwrap();
        put(&b, c, 0);
        b.commit().unwrap();
        let b = store.import_batch().unwrap();
        assert!(
            b.defers_indexing(),
            "the trigger is the one this module knows"
        );
        for i in 1..=30 {
            put(&b, c, i);
        }
        b.commit().unwrap();
        assert_eq!(trigger(&store).as_deref(), Some(INSERT_TRIGGER));
        assert_eq!(hits(&store, "mangrove"), 31);
        assert_eq!(hits(&store, "word17"), 1);
        store
            .conn
            .execute(
                "INSERT INTO posts_fts (posts_fts, rank) VALUES ('integrity-check', 1)",
                params![],
            )
            .unwrap();
        // The trigger is back: a post stored the ordinary way is indexed.
        let b = store.batch().unwrap();
        put(&b, c, 31);
        b.commit().unwrap();
        assert_eq!(hits(&store, "mangrove"), 32);
    }

    #[test]
    fn a_batch_dropped_without_commit_keeps_the_trigger_and_no_posts() {
        let (mut store, c) = store();
        {
            let b = store.import_batch().unwrap();
            put(&b, c, 1);
        }
        assert_eq!(trigger(&store).as_deref(), Some(INSERT_TRIGGER));
        assert_eq!(store.post_count(c).unwrap(), 0);
        assert_eq!(hits(&store, "mangrove"), 0);
    }

    #[test]
    fn the_checkpointer_copies_the_wal_into_the_database_beside_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("praxis.db");
        let (_, config) = Store::open_example();
        let mut store = Store::open(&path).unwrap();
        store.sync_communities(&config).unwrap();
        let c = store.community("health").unwrap().id;
        // The writer never checkpoints by itself here.
        store
            .conn
            .execute_batch("PRAGMA wal_autocheckpoint = 0")
            .unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        let checkpointer = Checkpointer::start(&path).unwrap();
        for n in 0..3 {
            let b = store.import_batch().unwrap();
            for i in 0..50 {
                put(&b, c, n * 50 + i);
            }
            b.commit().unwrap();
        }
        checkpointer.nudge();
        checkpointer.finish();
        let after = std::fs::metadata(&path).unwrap().len();
        assert!(
            after > before + 100 * 1024,
            "the posts reached the database file ({before} -> {after} bytes)"
        );
        assert_eq!(store.post_count(c).unwrap(), 150);
        assert_eq!(hits(&store, "mangrove"), 150);
    }
}
