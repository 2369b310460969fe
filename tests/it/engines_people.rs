//! Conformance tests on both engines for marking and splitting threads,
//! members (adding, paging, changing, removing, the ingest's sender
//! check), referrals, the reply library and feeds, and cross-post reads.

use praxis::model::{CommunityId, Delivery, MemberStatus, PostState, Role, ThreadId, ThreadKind};
use praxis::store::{MemberFields, NewMember, Store, ThreadFilter};

use crate::engines::each_engine;
use crate::engines_posts::{each_store, msg, new_post, put};

/// A thread is re-marked, and a post with its replies is split off into a
/// thread of its own that later replies find.
#[test]
fn threads_are_marked_and_split() {
    each_store(|store, c, _| {
        let (root, t) = new_post(put(
            store,
            c,
            &msg(
                "m1@x",
                "Seeds",
                "",
                "Tue, 1 Jan 2030 10:00:00 +0000",
                "Where to buy?",
            ),
            PostState::Approved,
        ));
        let (side, _) = new_post(put(
            store,
            c,
            &msg(
                "m2@x",
                "Re: Seeds",
                "In-Reply-To: <m1@x>\r\nReferences: <m1@x>\r\n",
                "Tue, 1 Jan 2030 11:00:00 +0000",
                "Off topic: fertiliser?",
            ),
            PostState::Approved,
        ));
        new_post(put(
            store,
            c,
            &msg(
                "m3@x",
                "Re: Seeds",
                "In-Reply-To: <m2@x>\r\nReferences: <m1@x> <m2@x>\r\n",
                "Tue, 1 Jan 2030 12:00:00 +0000",
                "Urea.",
            ),
            PostState::Approved,
        ));
        assert_eq!(
            store.mark_thread(t, ThreadKind::Discussion).unwrap(),
            Some(ThreadKind::Query)
        );
        assert_eq!(
            store.mark_root(root, ThreadKind::Announcement).unwrap(),
            Some(t)
        );
        assert_eq!(store.mark_root(side, ThreadKind::Query).unwrap(), None);
        assert_eq!(
            store
                .mark_thread(ThreadId(999_999), ThreadKind::Query)
                .unwrap(),
            None
        );
        assert_eq!(store.split_thread(root, ThreadKind::Query).unwrap(), None);
        let split = store
            .split_thread(side, ThreadKind::Discussion)
            .unwrap()
            .unwrap();
        assert_eq!(split.from, t);
        assert_eq!(split.posts, 2);
        assert_eq!(store.thread_root(split.to).unwrap(), Some(side));
        assert_eq!(store.post(side).unwrap().parent_id, None);
        // A later reply to the split post's reply follows it.
        let (_, later) = new_post(put(
            store,
            c,
            &msg(
                "m4@x",
                "Re: Seeds",
                "In-Reply-To: <m3@x>\r\nReferences: <m1@x> <m2@x> <m3@x>\r\n",
                "Tue, 1 Jan 2030 13:00:00 +0000",
                "DAP too.",
            ),
            PostState::Approved,
        ));
        assert_eq!(later, split.to);
        let rows = store
            .threads(&ThreadFilter {
                community: Some(c),
                limit: 10,
                ..ThreadFilter::default()
            })
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].id, split.to);
        assert_eq!(rows[0].posts, 3);
        assert_eq!(rows[1].kind, ThreadKind::Announcement);
        assert_eq!(rows[1].last_at, rows[1].first_at, "only the root left");
    });
}

fn member(email: &str, name: &str, organisation: &str) -> NewMember {
    NewMember {
        email: email.into(),
        fields: MemberFields {
            name: Some(name.into()),
            organisation: Some(organisation.into()),
            ..MemberFields::default()
        },
    }
}

/// Members are added (once), paged by any field ignoring case, changed,
/// listed as moderators, seen by the ingest's sender check, and removed.
#[test]
fn members_are_added_found_changed_and_removed() {
    each_store(|store, c, _| {
        let added = store
            .add_members(
                c,
                &[
                    member("Asha@Example.org", "Asha Rao", "PHFI"),
                    member("ravi@example.org", "Ravi Kumar", "JEEViKA"),
                    member("asha@example.org", "Again", ""),
                ],
                "cli-user",
            )
            .unwrap();
        assert_eq!(added[0].as_ref().unwrap().email, "asha@example.org");
        assert!(added[1].is_ok());
        assert!(added[2].as_ref().unwrap_err().contains("already a member"));
        let asha = added[0].as_ref().unwrap().id;
        assert!(added[1].as_ref().unwrap().id.0 > asha.0);
        assert_eq!(store.members(c).unwrap().len(), 2);
        let (page, total) = store.members_page(c, " jeevika ", 0, 10).unwrap();
        assert_eq!((page.len(), total), (1, 1));
        assert_eq!(page[0].name, "Ravi Kumar");
        assert_eq!(store.members_page(c, "EXAMPLE", 1, 1).unwrap().1, 2);
        assert_eq!(
            store.members_page(c, "EXAMPLE", 1, 1).unwrap().0[0].email,
            "ravi@example.org"
        );
        assert_eq!(store.members_page(c, "", 0, 10).unwrap().1, 2);
        assert!(store.moderators(c).unwrap().is_empty());
        let set = MemberFields {
            role: Some(Role::Moderator),
            delivery: Some(Delivery::Digest),
            own_posts: Some(false),
            ..MemberFields::default()
        };
        let m = store
            .set_member(c, "ASHA@example.org", &set, "web")
            .unwrap();
        assert_eq!(m.role, Role::Moderator);
        assert_eq!(m.delivery, Delivery::Digest);
        assert!(!m.own_posts);
        assert_eq!(m.name, "Asha Rao", "unchanged");
        assert_eq!(store.moderators(c).unwrap()[0].email, "asha@example.org");
        assert_eq!(
            store.member(c, "asha@EXAMPLE.org").unwrap().unwrap().status,
            MemberStatus::Active
        );
        let b = store.batch().unwrap();
        let (id, facts) = b.sender(c, "Asha@example.org").unwrap().unwrap();
        assert_eq!(id, asha);
        assert_eq!(facts.posts_approved, 0);
        assert!(b.sender(c, "nobody@example.org").unwrap().is_none());
        b.commit().unwrap();
        store.remove_member(c, "ravi@example.org", "cli").unwrap();
        assert!(store.remove_member(c, "ravi@example.org", "cli").is_err());
        assert!(
            store
                .set_member(c, "ravi@example.org", &set, "cli")
                .is_err()
        );
        assert_eq!(store.members(c).unwrap().len(), 1);
        // A newcomer never takes a removed member's id.
        let again = store
            .add_members(c, &[member("ravi@example.org", "Ravi", "")], "cli")
            .unwrap();
        assert!(again[0].as_ref().unwrap().id.0 > added[1].as_ref().unwrap().id.0);
    });
}

/// Invitations to a query: once per query, capped per month, none for who
/// opted out, and answered once the member responds in the thread.
#[test]
fn referrals_are_capped_and_answered() {
    each_store(|store, c, raw| {
        let ravi = store
            .add_members(c, &[member("ravi@example.org", "Ravi", "")], "cli")
            .unwrap()[0]
            .as_ref()
            .unwrap()
            .id;
        let (_, q1) = new_post(put(
            store,
            c,
            &msg("q1@x", "Q1", "", "Tue, 1 Jan 2030 10:00:00 +0000", "?"),
            PostState::Approved,
        ));
        let (_, q2) = new_post(put(
            store,
            c,
            &msg("q2@x", "Q2", "", "Tue, 1 Jan 2030 10:00:00 +0000", "?"),
            PostState::Approved,
        ));
        let refer = |s: &mut Store, q, at| {
            s.record_referral(c, q, ravi, "ravi@example.org", "you know", 1, 1000, at)
                .unwrap()
        };
        assert_eq!(refer(store, q1, 2000), Ok(()));
        assert!(refer(store, q1, 2001).is_err());
        assert!(refer(store, q2, 2002).is_err());
        store.set_referrals_wanted(ravi, false, 2003).unwrap();
        store.set_referrals_wanted(ravi, false, 2003).unwrap();
        assert!(!store.referrals_wanted(ravi).unwrap());
        store.set_referrals_wanted(ravi, true, 2004).unwrap();
        assert!(store.referrals_wanted(ravi).unwrap());
        assert!(!store.referrals(q1).unwrap()[0].responded);
        assert_eq!(store.referral_counts(c, 0, 10_000).unwrap().answered, 0);
        raw(&format!(
            "UPDATE posts SET from_addr = 'ravi@example.org', received_at = 3000
             WHERE thread_id = {}",
            q1.0
        ));
        assert!(store.referrals(q1).unwrap()[0].responded);
        let counts = store.referral_counts(c, 0, 10_000).unwrap();
        assert_eq!((counts.sent, counts.answered), (1, 1));
    });
}

/// The reply library and feeds read visible replies only; the new-threads
/// feed names authors, never addresses.
#[test]
fn the_library_reads_visible_replies() {
    each_store(|store, c, raw| {
        let (_, t) = new_post(put(
            store,
            c,
            &msg(
                "lib@x",
                "Heat action plans",
                "",
                "Tue, 1 Jan 2030 10:00:00 +0000",
                "Who has one?",
            ),
            PostState::Approved,
        ));
        raw(&format!(
            "INSERT INTO consolidated_replies (community_id, thread_id, state, subject,
                 created_at, published_at)
             VALUES ({c}, {t}, 'published', 'Summary', 100, 200);
             INSERT INTO consolidated_replies (community_id, thread_id, state, subject,
                 created_at, published_at, addendum_to)
             VALUES ({c}, {t}, 'published', 'More', 100, 300, NULL);
             INSERT INTO consolidated_replies (community_id, thread_id, state, subject,
                 created_at, published_at)
             VALUES ({c}, {t}, 'draft', 'Draft', 100, NULL)",
            c = c.0,
            t = t.0
        ));
        let library = store.reply_library(c, 1_000, 0, 10).unwrap();
        assert_eq!(library.len(), 1);
        assert_eq!(library[0].thread, t);
        assert_eq!(library[0].subject, "Heat action plans");
        assert_eq!(library[0].published_at, 200);
        assert_eq!(library[0].addenda, 1);
        assert!(library[0].shared_with.is_empty());
        assert_eq!(store.reply_library_size(c, 1_000).unwrap(), 1);
        assert_eq!(store.reply_library_size(c, 250).unwrap(), 1);
        assert_eq!(store.reply_library_size(c, 150).unwrap(), 0);
        let replies = store.published_replies(c, t, 1_000).unwrap();
        assert_eq!(
            replies
                .iter()
                .map(|r| r.subject.as_str())
                .collect::<Vec<_>>(),
            ["Summary", "More"]
        );
        assert_eq!(replies[0].query_subject, "Heat action plans");
        assert_eq!(
            store.latest_replies(c, 1_000, 1).unwrap()[0].subject,
            "More"
        );
        let feed = store.new_threads(c, 10).unwrap();
        assert_eq!(feed.len(), 1);
        assert_eq!(feed[0].author, "Asha Rao");
        assert_eq!(feed[0].thread, t);
        // The archive sees the same published replies.
        assert_eq!(store.archive_thread_replies(c, t, 1_000).unwrap().len(), 2);
        assert_eq!(store.archive_latest_replies(c, 10, 1_000).unwrap().len(), 2);
    });
}

/// A cross-posted copy is found from its query and the query from its
/// copy, with the communities it is shared with.
#[test]
fn cross_posts_are_read_from_either_side() {
    each_store(|store, c, raw| {
        let (_, q) = new_post(put(
            store,
            c,
            &msg("x@x", "Shared", "", "Tue, 1 Jan 2030 10:00:00 +0000", "?"),
            PostState::Approved,
        ));
        let to = store.community("education").unwrap().id;
        let (copy_post, copy) = new_post(put(
            store,
            to,
            &msg("x@x", "Shared", "", "Tue, 1 Jan 2030 10:00:00 +0000", "?"),
            PostState::Approved,
        ));
        assert!(store.crossposts(q).unwrap().is_empty());
        assert!(store.home_query(copy).unwrap().is_none());
        raw(&format!(
            "INSERT INTO crossposts (query_id, community_id, thread_id, post_id, by, at)
             VALUES ({}, {}, {}, {}, 'Meera', 5)",
            q.0, to.0, copy.0, copy_post.0
        ));
        let x = store.crossposts(q).unwrap();
        assert_eq!(x.len(), 1);
        assert_eq!(
            (x[0].thread, x[0].post, x[0].by.as_str()),
            (copy, copy_post, "Meera")
        );
        let home = store.home_query(copy).unwrap().unwrap();
        assert_eq!((home.query, home.community), (q, c));
        let health = store.community("health").unwrap().name;
        let education = store.community("education").unwrap().name;
        assert_eq!(store.shared_with(copy).unwrap(), [health]);
        assert_eq!(store.shared_with(q).unwrap(), [education]);
    });
}

/// Reading a store of each engine needs only `each_engine`'s store.
#[test]
fn an_empty_store_reads_empty_on_both() {
    each_engine(|store| {
        assert!(
            store
                .archive_post(CommunityId(1), "none")
                .unwrap()
                .is_none()
        );
        assert_eq!(store.attachment_files().unwrap(), 0);
    });
}
