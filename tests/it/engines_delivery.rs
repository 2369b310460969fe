//! The delivery side of the store on both engines: the outbox and its
//! audiences, outcomes and bounces, probes, digests, holds, moderation and
//! confirmation tokens, status counts. Members, posts and threads are
//! written with plain SQL (their own files are tested elsewhere), so each
//! test reads back what these files wrote.

use praxis::model::{
    CommunityId, Delivery, DeliveryState, DigestFormat, MemberId, OutboxKind, PostId,
};
use praxis::store::{
    Action, Audience, BounceOutcome, BounceRule, DigestCreated, Excluded, NewDigest, NewOutbox,
    NewRecipient, OutboxFilter, Outcome, Store, StoreError,
};

use crate::engines::{PgDatabase, example};

/// Runs `test` on a fresh store of each engine, with a way to run plain
/// SQL on the same database (rusqlite on the SQLite file, psql on the
/// PostgreSQL database).
fn each_engine_sql(test: impl Fn(&mut Store, &dyn Fn(&str))) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("praxis.db");
    let mut sqlite = Store::open(&path).unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    test(&mut sqlite, &|sql| raw.execute_batch(sql).unwrap());
    if let Some(db) = PgDatabase::create() {
        let mut pg = Store::connect(&db.url, None).unwrap();
        test(&mut pg, &|sql| {
            db.sql(sql);
        });
    }
}

/// The first community of the example config.
pub fn community(store: &mut Store) -> CommunityId {
    store.sync_communities(&example()).unwrap();
    store.communities().unwrap()[0].id
}

/// Inserts member `id` with this address, role, delivery, format and status.
fn member(
    sql: &dyn Fn(&str),
    c: CommunityId,
    id: i64,
    email: &str,
    role: &str,
    delivery: &str,
    status: &str,
) {
    sql(&format!(
        "INSERT INTO members (id, community_id, email, role, delivery, digest_format, status, joined_at)
         VALUES ({id}, {}, '{email}', '{role}', '{delivery}', 'plain', '{status}', 0)",
        c.0
    ));
}

/// Inserts approved post `id` from `from` in a new thread `id`.
fn post(store: &Store, sql: &dyn Fn(&str), c: CommunityId, id: i64, from: &str) -> PostId {
    let bytes = |s: &str| match store.dialect() {
        praxis::store::Dialect::Sqlite => format!("CAST('{s}' AS BLOB)"),
        praxis::store::Dialect::Postgres => format!("convert_to('{s}', 'UTF8')"),
    };
    sql(&format!(
        "INSERT INTO posts (id, community_id, message_id, sha256, raw, size, source, received_at,
                            class, state, from_addr, subject, approved_at)
         VALUES ({id}, {c}, '<{id}@test>', {sha}, {raw}, 5, 'pipe', 10, 'post', 'approved',
                 '{from}', 'Hello', 10 + {id});
         INSERT INTO threads (id, community_id, root_post_id, subject, first_at, last_at)
         VALUES ({id}, {c}, {id}, 'Mobile clinics', 0, 0);
         UPDATE posts SET thread_id = {id} WHERE id = {id};",
        c = c.0,
        sha = bytes("x"),
        raw = bytes("Subject: Hello\r\n\r\nhi\r\n"),
    ));
    PostId(id)
}

pub const RULE: BounceRule = BounceRule {
    weight: 1.0,
    threshold: 2.0,
    interval: 0,
    stale_after: 7 * 86_400,
};

pub fn no_notice(_: &praxis::store::Member, _: f64, _: &str) -> Option<praxis::store::Notice> {
    None
}

/// An audience is stored once and expanded in windows into delivery rows,
/// honouring opted-out authors and members excluded through another
/// community; counts add the members still to expand.
#[test]
fn an_audience_is_expanded_once_in_windows() {
    each_engine_sql(|store, sql| {
        let c = community(store);
        store.sync_communities(&example()).unwrap();
        let other = store.communities().unwrap()[1].id;
        for i in 1..=5 {
            member(
                sql,
                c,
                i,
                &format!("m{i}@example.org"),
                "member",
                "each",
                "active",
            );
        }
        member(sql, c, 6, "dee@example.org", "member", "digest", "active");
        member(sql, c, 7, "gone@example.org", "member", "each", "disabled");
        sql("UPDATE members SET own_posts = 0 WHERE id = 1");
        // m5 has the message through the other community already.
        member(sql, other, 8, "m5@example.org", "member", "each", "active");
        let p = post(store, sql, c, 1, "m1@example.org");
        let fanned = store.post_for_fanout(p).unwrap();
        assert_eq!((fanned.community, fanned.raw.len()), (c, 22));
        assert_eq!(fanned.thread_subject.as_deref(), Some("Mobile clinics"));
        let mut msg = NewOutbox::new(Some(c), OutboxKind::Post, "[x] Hello", b"m");
        msg.post = Some(p);
        let exclude = [Excluded {
            community: other,
            modes: &[Delivery::Each],
        }];
        let audience = Audience {
            community: c,
            modes: &[Delivery::Each],
            author: Some("M1@example.org"),
            digest_format: None,
            exclude: &exclude,
        };
        let q = store.queue_to_members(&msg, &audience, 100).unwrap();
        assert!(q.created);
        let again = store.queue_to_members(&msg, &audience, 100).unwrap();
        assert_eq!((again.id, again.created), (q.id, false));
        assert!(store.audiences_open(100).unwrap());
        assert_eq!(store.next_due_at(100).unwrap(), Some(100));
        assert_eq!(store.deliveries_due(100).unwrap(), 1, "members to expand");
        assert_eq!(store.audience_size(q.id).unwrap(), 3, "m2, m3, m4");
        assert_eq!(store.outbox_summary(q.id).unwrap().pending, 3);
        assert_eq!(store.community_status(c).unwrap().outbox_pending, 3);
        // One row wanted: m1's window yields none (opted out), m2's one.
        assert_eq!(store.expand_audiences(100, 1, 0).unwrap(), 1);
        assert_eq!(
            store.expand_audiences(100, 1, 0).unwrap(),
            0,
            "enough waiting"
        );
        assert_eq!(store.expand_audiences(100, 10, 0).unwrap(), 2);
        assert!(!store.audiences_open(100).unwrap());
        let to: Vec<String> = store
            .deliveries(q.id, None, 0)
            .unwrap()
            .into_iter()
            .map(|d| d.recipient)
            .collect();
        assert_eq!(to, ["m2@example.org", "m3@example.org", "m4@example.org"]);
        assert_eq!(store.deliveries(q.id, None, 2).unwrap().len(), 2);
        let m = store.outbox_message(q.id).unwrap();
        assert_eq!((m.kind, m.message), (OutboxKind::Post, b"m".to_vec()));
    });
}

/// Due deliveries leave out what the sender holds, held-back communities
/// and scheduled messages; outcomes settle rows once, a bounce scores the
/// member; a retry re-queues and is audited; the counts follow.
#[test]
fn deliveries_are_claimed_settled_and_retried() {
    each_engine_sql(|store, sql| {
        let c = community(store);
        member(sql, c, 1, "bob@example.org", "member", "each", "active");
        let to = [
            NewRecipient {
                member: None,
                address: "A@x.org".into(),
            },
            NewRecipient {
                member: Some(MemberId(1)),
                address: "bob@example.org".into(),
            },
            NewRecipient {
                member: None,
                address: "a@x.org".into(),
            },
        ];
        let notice = NewOutbox::new(Some(c), OutboxKind::Notice, "n", b"m");
        let q = store.queue_to(&notice, to, 100).unwrap();
        assert_eq!(q.recipients, Some(2), "an address listed twice gets one");
        let mut later = NewOutbox::new(Some(c), OutboxKind::Notice, "later", b"m");
        later.not_before = Some(500);
        store
            .queue_to(
                &later,
                [NewRecipient {
                    member: None,
                    address: "d@x.org".into(),
                }],
                100,
            )
            .unwrap();
        let mark = store.flush_mark().unwrap();
        assert!(store.due_deliveries(99, 10, &[], &[]).unwrap().is_empty());
        let due = store.due_deliveries(100, 10, &[], &[]).unwrap();
        assert_eq!(due.len(), 2, "the scheduled one waits");
        assert_eq!(due[1].member, Some(MemberId(1)));
        let rest = store.due_deliveries(100, 10, &[due[0].id], &[]).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].id, due[1].id);
        assert!(store.due_deliveries(100, 10, &[], &[c]).unwrap().is_empty());
        assert_eq!(store.due_deliveries(600, 1, &[], &[]).unwrap().len(), 1);
        assert_eq!(
            store.deliveries_due(100).unwrap(),
            3,
            "rows due, scheduled ones too"
        );
        let changed = store
            .apply_outcomes(
                &[
                    (
                        due[0].id,
                        Outcome::Retry {
                            at: 101,
                            next_attempt_at: 400,
                            error: "451 later".into(),
                        },
                    ),
                    (
                        due[1].id,
                        Outcome::Failed {
                            at: 101,
                            error: "550 no such user".into(),
                            bounce: true,
                        },
                    ),
                ],
                &RULE,
                &no_notice,
            )
            .unwrap();
        assert_eq!(changed, [true, true]);
        assert_eq!(store.next_due_at(100).unwrap(), Some(400));
        let log = store.member_decisions(c, "bob@example.org", 5).unwrap();
        assert_eq!(log[0], ("bounce".into(), Some("550 no such user".into())));
        let late = store
            .apply_outcomes(&[(due[1].id, Outcome::Sent { at: 102 })], &RULE, &no_notice)
            .unwrap();
        assert_eq!(late, [false], "a settled row stays settled");
        store
            .apply_outcomes(&[(due[0].id, Outcome::Sent { at: 402 })], &RULE, &no_notice)
            .unwrap();
        assert_eq!(store.sent_since(mark, 402).unwrap(), 1);
        assert_eq!(store.sent_since(mark, 403).unwrap(), 0);
        let rows = store.deliveries(q.id, None, 0).unwrap();
        assert_eq!((rows[0].state, rows[0].attempts), (DeliveryState::Sent, 2));
        let failed = store
            .deliveries(q.id, Some(DeliveryState::Failed), 0)
            .unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].last_error.as_deref(), Some("550 no such user"));
        let sum = store.outbox_summary(q.id).unwrap();
        assert_eq!((sum.sent, sum.pending, sum.failed), (1, 0, 1));
        let failed_only = OutboxFilter {
            community: Some(c),
            failed_only: true,
            ..OutboxFilter::default()
        };
        let listed = store.outbox_summaries(&failed_only).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, q.id);
        assert_eq!(store.outbox_count(&failed_only).unwrap(), 1);
        assert_eq!(store.outbox_count(&OutboxFilter::default()).unwrap(), 2);
        let page = OutboxFilter {
            limit: 1,
            offset: 1,
            ..OutboxFilter::default()
        };
        assert_eq!(store.outbox_summaries(&page).unwrap()[0].id, q.id);
        assert_eq!(store.community_status(c).unwrap().outbox_failed, 1);
        assert_eq!(store.retry_outbox(q.id, 500).unwrap(), 1);
        let sum = store.outbox_summary(q.id).unwrap();
        assert_eq!((sum.sent, sum.pending, sum.failed), (1, 1, 0));
        assert!(matches!(
            store.retry_outbox(praxis::model::OutboxId(999), 500),
            Err(StoreError::NotFound(_))
        ));
    });
}

/// A bounce at the threshold disables the member and queues the owners'
/// notice; a probe that goes through re-enables them.
#[test]
fn bounces_disable_and_probes_re_enable() {
    each_engine_sql(|store, sql| {
        let c = community(store);
        member(sql, c, 1, "owner@example.org", "owner", "each", "active");
        member(sql, c, 2, "bob@example.org", "member", "each", "active");
        let notice = |m: &praxis::store::Member, score: f64, _: &str| {
            Some(praxis::store::Notice {
                subject: format!("{} disabled at {score}", m.email),
                message: b"notice".to_vec(),
            })
        };
        let first = store
            .record_bounce(c, "bob@example.org", &RULE, 1000, "550", &notice)
            .unwrap();
        assert!(matches!(first, BounceOutcome::Scored { score, .. } if score == 1.0));
        let out = store
            .record_bounce(c, "BOB@example.org", &RULE, 2000, "550", &notice)
            .unwrap();
        assert_eq!(
            out,
            BounceOutcome::Disabled {
                email: "bob@example.org".into(),
                score: 2.0,
                notified: 1
            }
        );
        let sent = store.outbox_summaries(&OutboxFilter::default()).unwrap();
        assert_eq!(sent[0].subject, "bob@example.org disabled at 2");
        assert_eq!(
            store.deliveries(sent[0].id, None, 0).unwrap()[0].recipient,
            "owner@example.org"
        );
        assert_eq!(
            store.member_decisions(c, "bob@example.org", 1).unwrap()[0].0,
            "member-disable"
        );
        let due = store.probes_due(5000, 100, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].community, due[0].member.id), (c, MemberId(2)));
        let probe = praxis::store::Notice {
            subject: "probe".into(),
            message: b"probe".to_vec(),
        };
        let d = store
            .queue_probe(c, MemberId(2), "bob@example.org", &probe, 5000)
            .unwrap();
        assert!(store.probes_due(5000, 100, 10).unwrap().is_empty());
        store
            .apply_outcomes(&[(d, Outcome::Sent { at: 5001 })], &RULE, &no_notice)
            .unwrap();
        assert!(
            store.settle_probes(5100, 200).unwrap().is_empty(),
            "too early"
        );
        let back = store.settle_probes(5300, 200).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(
            (back[0].community, back[0].email.as_str()),
            (c, "bob@example.org")
        );
        assert_eq!(store.community_status(c).unwrap().members, 2);
    });
}

/// An issue takes its posts once, claims its due moment once, raises the
/// volume, and queues one message per format to its readers.
#[test]
fn a_digest_is_created_once() {
    each_engine_sql(|store, sql| {
        let c = community(store);
        member(sql, c, 1, "dee@example.org", "member", "digest", "active");
        let p = post(store, sql, c, 1, "alice@example.org");
        assert_eq!(store.digest_formats(c).unwrap(), [DigestFormat::Plain]);
        assert_eq!(store.last_digest_at(c).unwrap(), None);
        let cand = store.digest_candidates(c, &|_| 0, 10).unwrap();
        assert_eq!(cand.posts.len(), 1);
        assert_eq!(cand.posts[0].thread_subject, "Mobile clinics");
        let posts = [p.0];
        let messages = [(
            DigestFormat::Plain,
            NewOutbox::new(Some(c), OutboxKind::Digest, "Digest 3.1", b"d"),
        )];
        let d = NewDigest {
            community: c,
            volume: 3,
            number: 1,
            due_at: Some(1000),
            posts: &posts,
            messages: &messages,
        };
        let made = store.create_digest(&d, 1000).unwrap();
        assert!(
            matches!(made, DigestCreated::Created { recipients: 1, .. }),
            "{made:?}"
        );
        let twice = NewDigest {
            number: 2,
            ..d.clone()
        };
        assert_eq!(
            store.create_digest(&twice, 1001).unwrap(),
            DigestCreated::AlreadySent
        );
        let race = NewDigest {
            due_at: None,
            ..d.clone()
        };
        assert_eq!(
            store.create_digest(&race, 1002).unwrap(),
            DigestCreated::AlreadySent
        );
        assert!(store.digest_due_claimed(c, 1000).unwrap());
        assert!(!store.digest_due_claimed(c, 2000).unwrap());
        assert_eq!(store.last_digest_at(c).unwrap(), Some(1000));
        let after = store.digest_candidates(c, &|_| 0, 10).unwrap();
        assert!(after.posts.is_empty());
        assert_eq!(after.current_volume, 3, "the volume is raised");
        assert_eq!(after.last.map(|l| (l.volume, l.number)), Some((3, 1)));
    });
}

/// A held post is listed, decided once (a second decision names the first),
/// and its audit row says who and how.
#[test]
fn a_hold_is_decided_once() {
    each_engine_sql(|store, sql| {
        let c = community(store);
        member(sql, c, 1, "alice@example.org", "member", "each", "active");
        let p = post(store, sql, c, 1, "alice@example.org");
        sql(&format!(
            "UPDATE posts SET state = 'held', member_id = 1 WHERE id = 1;
             INSERT INTO holds (post_id, community_id, reason, held_at) VALUES (1, {}, 'new member', 5)",
            c.0
        ));
        let held = store.held(Some(c)).unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!((held[0].id, held[0].reason.as_str()), (p, "new member"));
        assert_eq!(store.community_status(c).unwrap().held, 1);
        let done = store
            .decide(p, Action::Approve, "meera", None, true)
            .unwrap();
        assert!(done.trusted);
        assert_eq!(done.member, Some(MemberId(1)));
        assert!(store.held(None).unwrap().is_empty());
        match store.decide(p, Action::Reject, "ravi", Some("no"), false) {
            Err(StoreError::AlreadyDecided { who, what, .. }) => {
                assert_eq!((who.as_str(), what.as_str()), ("meera", "approve"))
            }
            other => panic!("{other:?}"),
        }
        let log = store.member_decisions(c, "alice@example.org", 5).unwrap();
        assert_eq!(log[0].0, "member-trust");
        assert_eq!(log[1].0, "approve");
        assert!(matches!(
            store.decide(PostId(99), Action::Approve, "meera", None, false),
            Err(StoreError::NotFound(_))
        ));
    });
}

/// Moderation and confirmation tokens are taken once; notices are logged
/// and counted; health rows are written and read back.
#[test]
fn tokens_notices_and_health() {
    each_engine_sql(|store, sql| {
        let c = community(store);
        let p = post(store, sql, c, 1, "alice@example.org");
        store
            .add_moderation_token(c, "Tok", p, "Meera@example.org", 10, 100)
            .unwrap();
        let t = store.moderation_token(c, " tok ").unwrap().unwrap();
        assert_eq!(
            (t.post, t.email.as_str(), t.used_at),
            (p, "meera@example.org", None)
        );
        assert!(store.use_moderation_token(c, "tok", 20).unwrap());
        assert!(!store.use_moderation_token(c, "tok", 21).unwrap());
        assert_eq!(
            store.moderation_token(c, "tok").unwrap().unwrap().used_at,
            Some(20)
        );
        assert_eq!(store.moderation_token(c, "other").unwrap(), None);

        store
            .add_confirmation(
                c,
                "conf",
                "Dee@example.org",
                "subscribe",
                "name Dee",
                10,
                100,
            )
            .unwrap();
        assert!(store.pending_confirmation(c, "conf", 50).unwrap().is_some());
        let taken = store.take_confirmation(c, "CONF", 50).unwrap();
        assert_eq!(
            (
                taken.email.as_str(),
                taken.action.as_str(),
                taken.commands.as_str()
            ),
            ("dee@example.org", "subscribe", "name Dee")
        );
        assert!(matches!(
            store.take_confirmation(c, "conf", 51),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.take_confirmation(c, "nope", 51),
            Err(StoreError::NotFound(_))
        ));

        store
            .log_notice(c, Some(p.0), "acknowledge", "Dee@example.org", 100)
            .unwrap();
        store
            .log_notice(c, None, "reply", "dee@example.org", 200)
            .unwrap();
        store
            .log_notice(c, None, "hold", "dee@example.org", 300)
            .unwrap();
        assert_eq!(
            store.last_notice(c, "reply", "DEE@example.org").unwrap(),
            Some(200)
        );
        assert_eq!(
            store.last_notice(c, "other", "dee@example.org").unwrap(),
            None
        );
        assert_eq!(store.notices_since(c, "dee@example.org", 100).unwrap(), 2);
        assert_eq!(store.notices_since(c, "dee@example.org", 150).unwrap(), 1);
        store
            .log_member_change(
                c,
                "member-leave",
                "Dee@example.org",
                praxis::store::audit::How::Web,
                400,
            )
            .unwrap();
        assert_eq!(
            store.member_decisions(c, "dee@example.org", 1).unwrap()[0].0,
            "member-leave"
        );

        assert_eq!(store.health("daemon").unwrap(), None);
        store.set_health("daemon", "running", None).unwrap();
        store
            .set_health("daemon", "failing", Some("relay down"))
            .unwrap();
        let h = store.health("daemon").unwrap().unwrap();
        assert_eq!(
            (h.state.as_str(), h.detail.as_deref()),
            ("failing", Some("relay down"))
        );
        assert_eq!(h.pid, Some(i64::from(std::process::id())));
        let status = store.community_status(c).unwrap();
        assert_eq!((status.open_queries, status.last_sync), (0, None));
    });
}
