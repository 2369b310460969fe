//! Several nodes on one PostgreSQL database, at the store: delivery
//! claims that keep a copy from going out twice, the rows a node expands
//! claimed by it, and what a stopping node lets go; and at the daemon: a live node takes a silent one's claims and
//! leases. (Leases and dead nodes in the store: `store/nodes.rs`'s unit
//! tests, on both engines.)

use std::time::{Duration, Instant};

use praxis::model::{Delivery, OutboxKind};
use praxis::store::{Audience, MemberFields, NewMember, NewOutbox, NewRecipient, Outcome, Store};

use crate::engines::PgDatabase;
use crate::engines_delivery::{RULE, community, no_notice};

/// On PostgreSQL several nodes send from one database: a delivery another
/// node claims is left to it until its claim lapses (that node died), a
/// node renews the claims on what it still has in hand once half their
/// time has passed, and an outcome lets the claim go. SQLite's one sender
/// claims nothing.
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
    // Still in hand at 200: nothing new is taken, and the claim is left
    // as it is (less than half its time has passed); at 450 it is renewed.
    let claimed_until = || {
        db.sql(&format!(
            "SELECT claimed_until FROM deliveries WHERE id = {b}"
        ))
    };
    for (at, until) in [(200, 100), (450, 450)] {
        assert!(
            store
                .due_deliveries(at, 10, &[due[0].id], &[])
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            claimed_until(),
            (until + praxis::store::CLAIM_TTL).to_string(),
            "at {at}"
        );
    }
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

/// The delivery rows a node expands from an audience are claimed by it as
/// they are made, and its claim then takes them as they are: no new row
/// version (PostgreSQL's `xmin` stays), so no second write per copy.
#[test]
fn rows_a_node_expands_are_its_own_and_taken_without_a_rewrite() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let mut store = Store::connect(&db.url, None).unwrap();
    let c = community(&mut store);
    let members: Vec<NewMember> = ["a@x.org", "b@x.org"]
        .map(|e| NewMember {
            email: e.into(),
            fields: MemberFields::default(),
        })
        .into();
    store.add_members(c, &members, "test").unwrap();
    let msg = NewOutbox::new(Some(c), OutboxKind::Post, "[x] Hello", b"m");
    let audience = Audience {
        community: c,
        modes: &[Delivery::Each],
        author: None,
        digest_format: None,
        exclude: &[],
    };
    store.queue_to_members(&msg, &audience, 100).unwrap();
    assert_eq!(store.expand_audiences(100, 10, 0).unwrap(), 2);
    let me = praxis::store::this_node();
    assert_eq!(
        db.sql(
            "SELECT string_agg(claimed_by || ' ' || claimed_until, ',' ORDER BY id) FROM deliveries"
        ),
        [0, 1]
            .map(|_| format!("{me} {}", 100 + praxis::store::CLAIM_TTL))
            .join(",")
    );
    let versions = || db.sql("SELECT string_agg(xmin::text, ',' ORDER BY id) FROM deliveries");
    let before = versions();
    assert_eq!(store.due_deliveries(100, 10, &[], &[]).unwrap().len(), 2);
    assert_eq!(versions(), before, "taken without writing the rows again");
}

/// A home whose nodes beat every second (taken as dead after three
/// silent seconds), sending nowhere.
fn fast_heartbeat_home() -> crate::support::Home {
    let config = crate::support::health_config("127.0.0.1:9", "", "1s", "").replacen(
        "path = \"praxis.db\"",
        "path = \"praxis.db\"\nheartbeat = \"1s\"",
        1,
    );
    crate::support::Home::with_config(&config)
}

/// A node whose heartbeat stopped (its machine lost, say: another host,
/// so no restart there lets it go) is taken as dead by a live
/// `praxis serve` within a few heartbeats: its delivery claims and its
/// IMAP lease go, and `praxis status` says who took it as dead.
#[test]
fn a_live_node_takes_a_silent_node_s_claims_and_leases() {
    let home = fast_heartbeat_home();
    let now = praxis::store::now();
    {
        let mut store = home.store();
        let config = praxis::config::Config::load(&home.config()).unwrap();
        store.sync_communities(&config).unwrap();
        let c = store.community("health").unwrap().id;
        store
            .register_node("ghost:1", "a-lost-machine", 1, now - 600)
            .unwrap();
        assert!(
            store
                .take_lease("imap:health", "ghost:1", now, 3600)
                .unwrap()
        );
        let to = ["a@x.org", "b@x.org"].map(|a| NewRecipient {
            member: None,
            address: a.into(),
        });
        let notice = NewOutbox::new(Some(c), OutboxKind::Notice, "n", b"m");
        store.queue_to(&notice, to, now).unwrap();
    }
    // Claimed by the ghost, and not due for an hour: the daemon's own
    // sender leaves them alone, so only the takeover can clear the claims.
    home.sql(&format!(
        "UPDATE deliveries SET claimed_by = 'ghost:1', claimed_until = {}, next_attempt_at = {}",
        now + 600,
        now + 3600
    ));
    let daemon = crate::support::Daemon::start(&home);
    daemon.wait_health("daemon", "running", Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(60);
    while home
        .sql("SELECT count(*) FROM nodes WHERE name = 'ghost:1'")
        .trim()
        != "0"
    {
        assert!(
            Instant::now() < deadline,
            "the silent node was never taken as dead; log:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        home.sql("SELECT count(*) FROM deliveries WHERE claimed_by IS NOT NULL")
            .trim(),
        "0"
    );
    assert_eq!(home.sql("SELECT count(*) FROM leases").trim(), "0");
    let log = daemon.log_text();
    assert!(log.contains("is taken as dead"), "{log}");
    let status = home.stdout(&["status"]);
    assert!(
        status.contains("nodes taken as dead: node ")
            && status.contains("ghost:1 (last seen ")
            && status.contains("2 claims, imap:health"),
        "{status}"
    );
    // The live node is still there, seen within the second.
    let nodes = home.json(&["--json", "status"])["nodes"].clone();
    assert_eq!(nodes.as_array().unwrap().len(), 1, "{nodes}");
    assert_eq!(nodes[0]["pid"], daemon.child.id());
}

/// `praxis status` against a PostgreSQL server that is not there names the
/// database (its password left out) and says what to check.
#[test]
fn status_names_an_unreachable_database_and_the_fix() {
    let home = crate::support::Home::new();
    // Written as it is, on either pass: the server named is not there.
    let config = crate::support::health_config("127.0.0.1:9", "", "1s", "")
        .replacen(
            "path = \"praxis.db\"",
            "url = \"postgres://praxis@127.0.0.1:9/praxis\"",
            1,
        )
        .replacen(
            "[delivery]\n",
            "[delivery]\nlink_secret_env = \"PRAXIS_TEST_LINK\"\n",
            1,
        );
    std::fs::write(home.config(), config).unwrap();
    let err = home
        .praxis()
        .arg("status")
        .env("PRAXIS_TEST_LINK", "k")
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&err.get_output().stderr).into_owned();
    assert!(
        stderr.contains("cannot connect to PostgreSQL at postgres://praxis@127.0.0.1:9/praxis")
            && stderr.contains("check the server runs"),
        "{stderr}"
    );
}
