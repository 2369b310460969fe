//! Several nodes on one PostgreSQL database, at the store: delivery
//! claims that keep a copy from going out twice, and what a stopping node
//! lets go. (Leases: `store/nodes.rs`'s unit test, on both engines.)

use praxis::model::OutboxKind;
use praxis::store::{NewOutbox, NewRecipient, Outcome, Store};

use crate::engines::PgDatabase;
use crate::engines_delivery::{RULE, community, no_notice};

/// On PostgreSQL several nodes send from one database: a delivery another
/// node claims is left to it until its claim lapses (that node died), a
/// node renews the claims on what it still has in hand, and an outcome
/// lets the claim go. SQLite's one sender claims nothing.
#[test]
fn a_delivery_claimed_by_another_node_waits_for_its_claim_to_lapse() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let mut store = Store::connect(&db.url, None).unwrap();
    let c = community(&mut store);
    let to = ["a@x.org", "b@x.org"].map(|a| NewRecipient {
        member: None,
        address: a.into(),
    });
    let notice = NewOutbox::new(Some(c), OutboxKind::Notice, "n", b"m");
    store.queue_to(&notice, to, 100).unwrap();
    let ids = db.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM deliveries");
    let (a, b) = ids.split_once(',').unwrap();
    // Another node took `a` at 100, for 600 seconds.
    db.sql(&format!(
        "UPDATE deliveries SET claimed_by = 'other:1', claimed_until = 700 WHERE id = {a}"
    ));
    let due = store.due_deliveries(100, 10, &[], &[]).unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].id.0.to_string(), b);
    let me = praxis::store::this_node();
    assert_eq!(
        db.sql(&format!(
            "SELECT claimed_by || ' ' || claimed_until FROM deliveries WHERE id = {b}"
        )),
        format!("{me} {}", 100 + praxis::store::CLAIM_TTL)
    );
    // Still in hand at 400: its claim is renewed, nothing new is taken.
    assert!(
        store
            .due_deliveries(400, 10, &[due[0].id], &[])
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        db.sql(&format!(
            "SELECT claimed_until FROM deliveries WHERE id = {b}"
        )),
        (400 + praxis::store::CLAIM_TTL).to_string()
    );
    // The other node is gone: at 700 its claim has lapsed.
    let due = store.due_deliveries(700, 10, &[due[0].id], &[]).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].id.0.to_string(), a);
    store
        .apply_outcomes(&[(due[0].id, Outcome::Sent { at: 701 })], &RULE, &no_notice)
        .unwrap();
    assert_eq!(
        db.sql(&format!(
            "SELECT COALESCE(claimed_by, 'none') FROM deliveries WHERE id = {a}"
        )),
        "none"
    );
    // A node that stops lets its claims go at once.
    store.unregister_node(me).unwrap();
    assert_eq!(
        db.sql("SELECT count(*) FROM deliveries WHERE claimed_by IS NOT NULL"),
        "0"
    );
}
