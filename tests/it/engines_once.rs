//! Work several nodes must do once, raced at the store on PostgreSQL: two
//! nodes reaching a digest's due moment together make one issue; two
//! nodes reminding of the same query's deadline queue one reminder.

use std::sync::{Arc, Barrier};

use praxis::model::{DigestFormat, OutboxKind};
use praxis::store::{DigestCreated, NewDigest, NewOutbox, Store};

use crate::engines::PgDatabase;
use crate::engines_delivery::community;

/// Runs `f` on two threads, each with a store of its own (two nodes'
/// connections), released together; their results.
fn race<T: Send + 'static>(url: &str, f: fn(&mut Store) -> T) -> Vec<T> {
    let gate = Arc::new(Barrier::new(2));
    let nodes: Vec<_> = (0..2)
        .map(|_| {
            let gate = gate.clone();
            let mut store = Store::connect(url, None).unwrap();
            std::thread::spawn(move || {
                gate.wait();
                f(&mut store)
            })
        })
        .collect();
    nodes.into_iter().map(|n| n.join().unwrap()).collect()
}

#[test]
fn two_nodes_at_a_digest_s_due_moment_make_one_issue() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    community(&mut Store::connect(&db.url, None).unwrap());
    let made = race(&db.url, |store| {
        let c = store.communities().unwrap()[0].id;
        let msg = NewOutbox::new(Some(c), OutboxKind::Digest, "Digest, Vol 1, Issue 1", b"x");
        // Each node numbers the issue as it read the community: the same.
        store
            .create_digest(
                &NewDigest {
                    community: c,
                    volume: 1,
                    number: 1,
                    due_at: Some(1_800_000_000),
                    posts: &[],
                    messages: &[(DigestFormat::Mime, msg)],
                },
                1_800_000_000,
            )
            .unwrap()
    });
    let created = made
        .iter()
        .filter(|m| matches!(m, DigestCreated::Created { .. }))
        .count();
    assert_eq!(created, 1, "{made:?}");
    assert!(made.contains(&DigestCreated::AlreadySent), "{made:?}");
    assert_eq!(db.sql("SELECT count(*) FROM digests"), "1");
    assert_eq!(
        db.sql("SELECT count(*) FROM outbox WHERE kind = 'digest'"),
        "1"
    );
}
