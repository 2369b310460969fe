//! Conformance tests on both engines for posts and what hangs off them:
//! ingest (placement, merges, holds, checkpoints, attachments), the import
//! batch, thread listing and the archive's reads; marking and splitting
//! threads, members, referrals, the library and cross-posts are in
//! `engines_people.rs`, which shares the helpers here.

use praxis::config::Config;
use praxis::mail::parse;
use praxis::model::{CommunityId, PostClass, PostId, PostState, Source, ThreadId, ThreadKind};
use praxis::store::{Checkpointer, Dialect, NewPost, Store, Stored, ThreadFilter};

use crate::engines::PgDatabase;

/// The embedded example config.
fn example() -> Config {
    let (config, problems) = Config::parse(
        praxis::config::EMBEDDED_DEFAULT,
        std::path::Path::new("praxis.toml"),
        &|_| None,
    );
    assert!(problems.is_empty(), "{problems:?}");
    config
}

/// A store of each engine with the example's communities, and a way to run
/// a statement on it outside praxis (for rows no ported method writes yet).
pub fn each_store(test: impl Fn(&mut Store, CommunityId, &dyn Fn(&str))) {
    let config = example();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("praxis.db");
    let mut sqlite = Store::open(&path).unwrap();
    sqlite.sync_communities(&config).unwrap();
    let c = sqlite.community("health").unwrap().id;
    let raw = |sql: &str| {
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(sql)
            .unwrap()
    };
    test(&mut sqlite, c, &raw);
    if let Some(db) = PgDatabase::create() {
        let mut pg = Store::connect(&db.url, None).unwrap();
        assert_eq!(pg.dialect(), Dialect::Postgres);
        pg.sync_communities(&config).unwrap();
        let c = pg.community("health").unwrap().id;
        let raw = |sql: &str| {
            db.sql(sql);
        };
        test(&mut pg, c, &raw);
    }
}

/// Stores `raw` as an approved post (or held, or imported) in one batch.
pub fn put(store: &mut Store, c: CommunityId, raw: &str, state: PostState) -> Stored {
    let b = store.batch().unwrap();
    let s = put_in(&b, c, raw, state, Source::Pipe);
    b.commit().unwrap();
    s
}

pub fn put_in(
    b: &praxis::store::Batch<'_>,
    c: CommunityId,
    raw: &str,
    state: PostState,
    source: Source,
) -> Stored {
    let parsed = parse::parse(raw.as_bytes()).unwrap();
    let sha = parse::sha256(raw.as_bytes());
    if let Some(d) = b.find_duplicate(c, &parsed.message_id, &sha).unwrap() {
        return Stored::Duplicate(d);
    }
    let stored = b
        .store_post(&NewPost {
            community: c,
            raw: raw.as_bytes(),
            sha256: sha,
            source,
            envelope_to: None,
            received_at: parsed.date.unwrap_or(1_800_000_000),
            class: PostClass::Post,
            state,
            hold_reason: (state == PostState::Held).then_some("first post"),
            parsed: Some(&parsed),
            message_id: &parsed.message_id,
            member_id: None,
            new_thread_kind: ThreadKind::Query,
            subject_window_secs: 86_400,
        })
        .unwrap();
    if let Stored::New { post, .. } = stored {
        b.keep_attachments(post, &parsed.attachments, 1024).unwrap();
    }
    stored
}

pub fn new_post(s: Stored) -> (PostId, ThreadId) {
    match s {
        Stored::New {
            post,
            thread: Some(t),
            ..
        } => (post, t),
        other => panic!("not a new post in a thread: {other:?}"),
    }
}

pub fn msg(id: &str, subject: &str, extra: &str, date: &str, body: &str) -> String {
    format!(
        "From: Asha Rao <asha@example.org>\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: {date}\r\n{extra}\r\n{body}\r\n"
    )
}

/// Posts are placed in threads (by reference, by a parent arriving late,
/// by a merge of two threads), held posts are held, duplicates are found,
/// and every read of a post and a thread sees the same on both engines.
#[test]
fn ingest_places_posts_and_the_reads_agree() {
    each_store(|store, c, _| {
        let root = put(
            store,
            c,
            &msg(
                "root@x",
                "Pumps in Bihar",
                "",
                "Tue, 1 Jan 2030 10:00:00 +0000",
                "Which pumps last?",
            ),
            PostState::Approved,
        );
        let (root, t) = new_post(root);
        assert_eq!(store.thread_root(t).unwrap(), Some(root));
        // A grandchild arrives before its parent, naming only the parent:
        // a thread of its own, until the parent comes and joins it to the
        // root's (a merge), and becomes its parent (the awaited update).
        let (late, t2) = new_post(put(
            store,
            c,
            &msg(
                "grand@x",
                "Re: Pumps in Bihar",
                "In-Reply-To: <child@x>\r\nReferences: <child@x>\r\n",
                "Tue, 1 Jan 2030 12:00:00 +0000",
                "Agreed.",
            ),
            PostState::Approved,
        ));
        assert_ne!(t2, t);
        assert_eq!(store.post(late).unwrap().parent_id, None);
        let (child, t) = new_post(put(
            store,
            c,
            &msg(
                "child@x",
                "Re: Pumps in Bihar",
                "In-Reply-To: <root@x>\r\nReferences: <root@x>\r\n",
                "Tue, 1 Jan 2030 11:00:00 +0000",
                "The treadle ones.",
            ),
            PostState::Approved,
        ));
        assert_eq!(store.thread_count(c).unwrap(), 1);
        assert_eq!(store.post(root).unwrap().thread_id, Some(t));
        assert_eq!(store.post(late).unwrap().thread_id, Some(t));
        assert_eq!(store.thread_root(t).unwrap(), Some(root));
        assert_eq!(store.post(late).unwrap().parent_id, Some(child));
        assert_eq!(store.post(child).unwrap().parent_id, Some(root));
        // A held post is held, with its reason.
        let (held, _) = new_post(put(
            store,
            c,
            &msg(
                "held@x",
                "Re: Pumps in Bihar",
                "In-Reply-To: <root@x>\r\nReferences: <root@x>\r\n",
                "Tue, 1 Jan 2030 13:00:00 +0000",
                "Me too.",
            ),
            PostState::Held,
        ));
        let view = store.post(held).unwrap();
        assert_eq!(view.state, PostState::Held);
        assert_eq!(view.hold_reason.as_deref(), Some("first post"));
        assert_eq!(view.thread_posts, 4);
        assert_eq!(view.thread_position, 4);
        assert_eq!(view.thread_subject.as_deref(), Some("Pumps in Bihar"));
        // The same bytes again are a duplicate.
        let again = put(
            store,
            c,
            &msg(
                "root@x",
                "Pumps in Bihar",
                "",
                "Tue, 1 Jan 2030 10:00:00 +0000",
                "Which pumps last?",
            ),
            PostState::Approved,
        );
        assert_eq!(again, Stored::Duplicate(root));
        assert_eq!(store.post_count(c).unwrap(), 4);
        assert_eq!(store.thread_count(c).unwrap(), 1);
        assert_eq!(store.message_id_counts(c).unwrap(), (4, 4));
        assert_eq!(
            store.message_ids(c).unwrap(),
            ["root@x", "grand@x", "child@x", "held@x"]
        );
        assert!(store.raw(root).unwrap().ends_with(b"Which pumps last?\r\n"));

        // A second thread, then a message naming both: they merge into the
        // first (its span and kind widened).
        let (_, other) = new_post(put(
            store,
            c,
            &msg(
                "other@x",
                "Solar pumps",
                "",
                "Mon, 31 Dec 2029 09:00:00 +0000",
                "Any field data?",
            ),
            PostState::Approved,
        ));
        assert_ne!(other, t);
        let (_, merged) = new_post(put(
            store,
            c,
            &msg(
                "both@x",
                "Re: Pumps in Bihar",
                "In-Reply-To: <child@x>\r\nReferences: <other@x> <root@x> <child@x>\r\n",
                "Tue, 1 Jan 2030 14:00:00 +0000",
                "Both threads.",
            ),
            PostState::Approved,
        ));
        assert_eq!(store.thread_count(c).unwrap(), 1);
        let rows = store
            .threads(&ThreadFilter {
                community: Some(c),
                limit: 10,
                ..ThreadFilter::default()
            })
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, merged);
        assert_eq!(rows[0].posts, 5);
        assert_eq!(rows[0].participants, 1);
        assert_eq!(rows[0].asked_by, "Asha Rao");
        // Mon 31 Dec 2029 09:00 UTC, the absorbed thread's first post.
        assert_eq!(rows[0].first_at, 1_893_402_000);
        assert_eq!(rows[0].kind, ThreadKind::Query);
        // Filters bind on both engines: overdue and flagged narrow it out.
        let none = store
            .threads(&ThreadFilter {
                community: None,
                queries: true,
                overdue_at: Some(0),
                flagged: true,
                limit: 10,
            })
            .unwrap();
        assert!(none.is_empty());

        // The sender check of the next message reads the flood count.
        let b = store.batch().unwrap();
        assert_eq!(b.recent_from(c, "ASHA@example.org", 0).unwrap(), 6);
        assert_eq!(b.recent_from(c, "asha@example.org", i64::MAX).unwrap(), 0);
        b.commit().unwrap();
    });
}

/// A message whose subject joins a recent thread joins it; an IMAP
/// checkpoint is saved and read back; approved posts without fan-out are
/// found.
#[test]
fn subjects_checkpoints_and_missing_fanout() {
    each_store(|store, c, _| {
        let (_, t) = new_post(put(
            store,
            c,
            &msg(
                "a@x",
                "Water tables",
                "",
                "Tue, 1 Jan 2030 10:00:00 +0000",
                "Falling?",
            ),
            PostState::Approved,
        ));
        let (_, joined) = new_post(put(
            store,
            c,
            &msg(
                "b@x",
                "Re: Water tables",
                "",
                "Tue, 1 Jan 2030 18:00:00 +0000",
                "Yes.",
            ),
            PostState::Approved,
        ));
        assert_eq!(joined, t);
        assert_eq!(store.checkpoint(c).unwrap(), None);
        let b = store.batch().unwrap();
        let cp = praxis::store::Checkpoint {
            community: c,
            folder: "INBOX".into(),
            uidvalidity: 4_000_000_000,
            last_uid: 7,
        };
        b.save_checkpoint(&cp, 5).unwrap();
        b.save_checkpoint(
            &praxis::store::Checkpoint {
                last_uid: 9,
                ..cp.clone()
            },
            6,
        )
        .unwrap();
        b.commit().unwrap();
        assert_eq!(store.checkpoint(c).unwrap().unwrap().last_uid, 9);
        assert_eq!(
            store.checkpoint(c).unwrap().unwrap().uidvalidity,
            4_000_000_000
        );
        // received_at is the Date here; both are approved and live.
        let due = store.approved_without_fanout(0, 10).unwrap();
        assert_eq!(due.len(), 2);
        assert!(due.iter().all(|(_, cc)| *cc == c));
    });
}

/// A reply to a digest is placed in the thread of the post it quotes,
/// found through each engine's full-text search.
#[test]
fn a_digest_reply_is_placed_by_its_quote() {
    each_store(|store, c, _| {
        let (_, t) = new_post(put(
            store,
            c,
            &msg(
                "q@x",
                "Mangrove nurseries",
                "",
                "Tue, 1 Jan 2030 10:00:00 +0000",
                "Our mangrove nursery lost half its seedlings to the monsoon surge this year.",
            ),
            PostState::Approved,
        ));
        let (_, placed) = new_post(put(
            store,
            c,
            &msg(
                "dr@x",
                "Re: Health digest, Vol 3, Issue 2",
                "",
                "Wed, 2 Jan 2030 10:00:00 +0000",
                "> Our mangrove nursery lost half its seedlings to the monsoon surge\r\n\r\nSame here.",
            ),
            PostState::Approved,
        ));
        assert_eq!(placed, t);
        // Nothing quoted that is stored: flagged, in a thread of its own.
        let (p, lone) = new_post(put(
            store,
            c,
            &msg(
                "dr2@x",
                "Re: Health digest, Vol 3, Issue 2",
                "",
                "Wed, 2 Jan 2030 11:00:00 +0000",
                "> Nothing anybody here ever wrote about desalination plants\r\n\r\nHm.",
            ),
            PostState::Approved,
        ));
        assert_ne!(lone, t);
        assert_eq!(
            store.post(p).unwrap().flag.as_deref(),
            Some(praxis::store::DIGEST_REPLY_UNPLACED)
        );
        let flagged = store
            .threads(&ThreadFilter {
                community: Some(c),
                flagged: true,
                limit: 10,
                ..ThreadFilter::default()
            })
            .unwrap();
        assert_eq!(flagged.len(), 1);
        assert_eq!(flagged[0].id, lone);
    });
}

/// An import's batch stores posts searchable on both engines, and the
/// checkpointer of a store with no file does nothing.
#[test]
fn an_import_batch_stores_and_indexes() {
    each_store(|store, c, _| {
        let checkpointer = Checkpointer::start(store.path()).unwrap();
        let sqlite = store.dialect() == Dialect::Sqlite;
        let b = store.import_batch().unwrap();
        assert_eq!(
            b.defers_indexing(),
            sqlite,
            "only SQLite's trigger is dropped"
        );
        for i in 0..5 {
            put_in(
                &b,
                c,
                &msg(
                    &format!("i{i}@x"),
                    &format!("Imported {i}"),
                    "",
                    "Tue, 1 Jan 2030 10:00:00 +0000",
                    "estuary salinity readings",
                ),
                PostState::Approved,
                Source::Import,
            );
        }
        b.commit().unwrap();
        checkpointer.nudge();
        checkpointer.finish();
        store.checkpoint_passive().unwrap();
        assert_eq!(store.post_count(c).unwrap(), 5);
        // Imported posts are not live: no fan-out is owed for them.
        assert!(store.approved_without_fanout(0, 10).unwrap().is_empty());
    });
}

/// Attachments are kept once per file and listed per post, and the
/// archive serves a kept file only for its own community's approved posts.
#[test]
fn attachments_are_kept_once_and_served_by_their_archive() {
    each_store(|store, c, _| {
        let with_file = |id: &str| {
            format!(
                "From: a@example.org\r\nSubject: Report {id}\r\nMessage-ID: <{id}>\r\n\
                 Date: Tue, 1 Jan 2030 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
                 Content-Type: text/plain\r\n\r\nAttached.\r\n--b\r\n\
                 Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
            )
        };
        let (p1, _) = new_post(put(store, c, &with_file("f1@x"), PostState::Approved));
        let (p2, _) = new_post(put(store, c, &with_file("f2@x"), PostState::Held));
        let files = store.post_attachments(p1).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].name, "r.pdf");
        assert!(files[0].kept);
        assert_eq!(files[0].size, 9);
        assert_eq!(store.post_attachments(p2).unwrap(), files);
        assert_eq!(store.attachment_files().unwrap(), 1);
        let (ty, bytes) = store.attachment_file(&files[0].sha256).unwrap().unwrap();
        assert_eq!(ty, "application/pdf");
        assert_eq!(bytes, b"%PDF-1.4\n");
        let served = store
            .archive_file(c, &files[0].sha256, "other.pdf")
            .unwrap()
            .unwrap();
        assert_eq!(served.name, "r.pdf");
        assert_eq!(served.bytes, b"%PDF-1.4\n");
        let elsewhere = store.community("education").unwrap().id;
        assert!(
            store
                .archive_file(elsewhere, &files[0].sha256, "r.pdf")
                .unwrap()
                .is_none()
        );
        let post = store.archive_post(c, "f1@x").unwrap().unwrap();
        assert_eq!(post.attachments, files);
        assert!(store.archive_post(c, "f2@x").unwrap().is_none(), "held");
    });
}

/// The archive's reads: pages of threads, one thread's posts in order,
/// raw messages, counts, and nothing of another community or unapproved.
#[test]
fn the_archive_reads_approved_posts_of_its_community() {
    each_store(|store, c, _| {
        let (root, t) = new_post(put(
            store,
            c,
            &msg(
                "r@x",
                "Clinics",
                "",
                "Tue, 1 Jan 2030 10:00:00 +0000",
                "Opening hours?",
            ),
            PostState::Approved,
        ));
        new_post(put(
            store,
            c,
            &msg(
                "s@x",
                "Re: Clinics",
                "In-Reply-To: <r@x>\r\nReferences: <r@x>\r\n",
                "Tue, 1 Jan 2030 09:00:00 +0000",
                "Nine to five.",
            ),
            PostState::Approved,
        ));
        new_post(put(
            store,
            c,
            &msg(
                "h@x",
                "Re: Clinics",
                "In-Reply-To: <r@x>\r\nReferences: <r@x>\r\n",
                "Tue, 1 Jan 2030 11:00:00 +0000",
                "Held one.",
            ),
            PostState::Held,
        ));
        let (_, t2) = new_post(put(
            store,
            c,
            &msg(
                "n@x",
                "Newer",
                "",
                "Wed, 2 Jan 2030 10:00:00 +0000",
                "Later.",
            ),
            PostState::Approved,
        ));
        let page = store.archive_threads(c, 10, 0).unwrap();
        assert_eq!(
            page.iter().map(|t| t.id).collect::<Vec<_>>(),
            [t2, t],
            "newest activity first"
        );
        assert_eq!(page[1].posts, 2);
        assert_eq!(page[1].kind, ThreadKind::Query);
        assert_eq!(store.archive_threads(c, 1, 1).unwrap()[0].id, t);
        assert_eq!(store.archive_thread_count(c).unwrap(), 2);
        let elsewhere = store.community("education").unwrap().id;
        assert!(store.archive_thread(elsewhere, t).unwrap().is_none());
        assert_eq!(store.archive_thread(c, t).unwrap().unwrap().posts, 2);
        let posts = store.archive_posts(c, t).unwrap();
        assert_eq!(
            posts
                .iter()
                .map(|p| p.message_id.as_str())
                .collect::<Vec<_>>(),
            ["s@x", "r@x"],
            "by date"
        );
        assert_eq!(posts[1].id, root);
        assert_eq!(posts[1].name, "Asha Rao");
        assert_eq!(posts[1].thread_subject, "Clinics");
        let raw = store.archive_raw(c, "r@x").unwrap().unwrap();
        assert_eq!(raw.from, "asha@example.org");
        assert!(raw.raw.ends_with(b"Opening hours?\r\n"));
        assert!(store.archive_raw(c, "h@x").unwrap().is_none());
        assert_eq!(store.archive_thread_raw(c, t).unwrap().len(), 2);
        assert!(store.archive_thread_replies(c, t, 0).unwrap().is_empty());
        assert!(store.archive_latest_replies(c, 10, 0).unwrap().is_empty());
    });
}
