//! Consolidated Replies from the command line: query deadlines set on
//! approval (on arrival or by a moderator) and shown in working days.
//!
//! Long because the query lifecycle (deadline, draft, reminders, publish)
//! is tested end to end on one shared fixture.

use predicates::prelude::*;
use serde_json::Value;

use crate::support::Home;

fn ingest(home: &Home, raw: &str) -> String {
    let out = home
        .praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(raw.to_string())
        .assert()
        .success()
        .get_output()
        .clone();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn add_member(home: &Home, email: &str, name: &str, extra: &[&str]) {
    home.praxis()
        .args(["members", "add", email, "-c", "health", "--name", name])
        .args(extra)
        .assert()
        .success();
}

fn queries(home: &Home, extra: &[&str]) -> Vec<Value> {
    let out = home
        .praxis()
        .args(["threads", "--queries", "--json"])
        .args(extra)
        .assert()
        .success()
        .get_output()
        .clone();
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn query_deadline_is_set_on_approval_and_shown_in_working_days() {
    let home = Home::new();
    add_member(
        &home,
        "alice@example.org",
        "Alice Rao",
        &["--moderation", "accept"],
    );
    // Approved on arrival: the clock starts now.
    let out = ingest(
        &home,
        "From: Alice Rao <alice@example.org>\nTo: list@example.test\nSubject: Mobile clinics in flood areas?\nMessage-ID: <q1@example.org>\n\nWhat worked?\n",
    );
    assert!(out.contains("approved"), "{out}");
    // Held (nonmember) until a moderator approves it: no deadline until then.
    ingest(
        &home,
        "From: Nina <nina@example.org>\nTo: list@example.test\nSubject: Cold chain for vaccines?\nMessage-ID: <q2@example.org>\n\nAny advice?\n",
    );
    let q = queries(&home, &[]);
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["subject"], "Mobile clinics in flood areas?");
    assert_eq!(q[0]["kind"], "query");
    assert_eq!(q[0]["days_left"], 10, "ten working days from today: {q:?}");
    let deadline = q[0]["deadline"].as_str().unwrap();
    let due = chrono::DateTime::parse_from_rfc3339(deadline).unwrap();
    let days = (due.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
    // Asked late on a Saturday (IST), the tenth working day is the second
    // Friday after: 12 whole days and some hours; holidays add days.
    assert!(
        (12..=20).contains(&days),
        "10 working days is 2–3 weeks: {deadline}"
    );

    let held: Vec<Value> = serde_json::from_slice(
        &home
            .praxis()
            .args(["queue", "--json"])
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    let id = held[0]["id"].as_i64().unwrap().to_string();
    home.praxis().args(["approve", &id]).assert().success();
    let q = queries(&home, &[]);
    assert_eq!(q.len(), 2, "{q:?}");
    for t in &q {
        assert_eq!(t["days_left"], 10, "{t}");
        assert!(t["deadline"].is_string(), "{t}");
    }
    assert!(queries(&home, &["--overdue"]).is_empty());
}

#[test]
fn a_response_does_not_move_the_deadline() {
    let home = Home::new();
    add_member(
        &home,
        "alice@example.org",
        "Alice Rao",
        &["--moderation", "accept"],
    );
    add_member(
        &home,
        "bob@example.org",
        "Bob Das",
        &["--moderation", "accept"],
    );
    ingest(
        &home,
        "From: alice@example.org\nTo: list@example.test\nSubject: Clinics?\nMessage-ID: <q1@example.org>\n\nWhat worked?\n",
    );
    let before = queries(&home, &[])[0]["deadline"].clone();
    ingest(
        &home,
        "From: bob@example.org\nTo: list@example.test\nSubject: Re: Clinics?\nIn-Reply-To: <q1@example.org>\nMessage-ID: <r1@example.org>\n\nBoats.\n",
    );
    let q = queries(&home, &[]);
    assert_eq!(q[0]["responses"], 1);
    assert_eq!(q[0]["deadline"], before);
}

/// alice asks; bob (with a quote and a signature) and carol respond.
pub(crate) fn asked_and_answered(home: &Home) -> i64 {
    add_member(
        home,
        "alice@example.org",
        "Alice Rao",
        &[
            "--organisation",
            "Jan Swasthya",
            "--place",
            "Patna",
            "--moderation",
            "accept",
        ],
    );
    add_member(
        home,
        "bob@example.org",
        "Bob Das",
        &[
            "--organisation",
            "WaterAid",
            "--place",
            "Guwahati",
            "--moderation",
            "accept",
        ],
    );
    add_member(
        home,
        "carol@example.org",
        "Carol Sen",
        &["--organisation", "PATH", "--moderation", "accept"],
    );
    add_member(
        home,
        "meera@example.org",
        "Meera Iyer",
        &["--role", "moderator"],
    );
    ingest(
        home,
        "From: Alice Rao <alice@example.org>\nTo: list@example.test\nSubject: Mobile clinics in flood areas?\nMessage-ID: <q1@example.org>\nDate: Mon, 2 Nov 2026 10:00:00 +0530\n\nHas anyone run mobile clinics in flood areas? What worked?\n",
    );
    ingest(
        home,
        "From: Bob Das <bob@example.org>\nTo: list@example.test\nSubject: Re: Mobile clinics in flood areas?\nIn-Reply-To: <q1@example.org>\nMessage-ID: <r1@example.org>\nDate: Tue, 3 Nov 2026 10:00:00 +0530\n\nWe ran boat clinics for six years: https://example.org/boats\n\nOn Mon, 2 Nov 2026, Alice Rao <alice@example.org> wrote:\n> Has anyone run mobile clinics in flood areas?\n\n-- \nBob Das, WaterAid\n",
    );
    ingest(
        home,
        "From: Carol Sen <carol@example.org>\nTo: list@example.test\nSubject: Re: Mobile clinics in flood areas?\nIn-Reply-To: <q1@example.org>\nMessage-ID: <r2@example.org>\nDate: Wed, 4 Nov 2026 10:00:00 +0530\n\nRadio announcements a day ahead.\n",
    );
    queries(home, &[])[0]["id"].as_i64().unwrap()
}

#[test]
fn consolidate_generates_stores_versions_and_prints() {
    let home = Home::new();
    let q = asked_and_answered(&home);
    let id = q.to_string();
    let t = &queries(&home, &[])[0];
    assert_eq!(t["asked_by"], "Alice Rao", "{t}");
    assert_eq!(t["asked_by_organisation"], "Jan Swasthya", "{t}");
    let table = home.stdout(&["threads", "--queries"]);
    assert!(table.contains("Alice Rao (Jan Swasthya)"), "{table}");
    let generated = home.stdout(&["consolidate", &id, "--print"]);
    for want in [
        "Consolidated Reply",
        "Compiled by Meera Iyer",
        "**Alice Rao**, Jan Swasthya, Patna",
        "1. Bob Das, WaterAid, Guwahati",
        "2. Carol Sen, PATH",
        "https://example.org/boats (recommended by Bob Das)",
        "We ran boat clinics for six years",
    ] {
        assert!(
            generated.contains(want),
            "{want:?} missing from\n{generated}"
        );
    }
    assert!(
        !generated.contains("wrote:") && !generated.contains("> Has anyone"),
        "{generated}"
    );
    assert!(
        !generated.contains("Bob Das, WaterAid\n"),
        "signature kept:\n{generated}"
    );
    // Printing stores nothing: the thread is still open.
    assert_eq!(queries(&home, &[])[0]["state"], "open");

    let file = home.path().join("draft.md");
    std::fs::write(
        &file,
        generated.replace("Summary of responses", "Summary: boats and radios"),
    )
    .unwrap();
    let out = home.stdout(&["consolidate", &id, "--from", file.to_str().unwrap()]);
    assert!(out.contains("stored draft version 1"), "{out}");
    assert_eq!(queries(&home, &[])[0]["state"], "drafting");
    assert!(
        home.stdout(&["consolidate", &id, "--print"])
            .contains("Summary: boats and radios")
    );

    // The editor, like `git commit`: what it saves is the next version.
    let out = home
        .praxis()
        .args(["consolidate", &id])
        .env(
            "VISUAL",
            "sed -i -e 's/boats and radios/boats, radios and timing/'",
        )
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("stored draft version 2"));
    assert!(
        home.stdout(&["consolidate", &id, "--print"])
            .contains("boats, radios and timing")
    );

    // An empty file aborts and stores nothing.
    home.praxis()
        .args(["consolidate", &id])
        .env("VISUAL", "truncate -s 0")
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "the draft is empty; nothing stored",
        ));
    assert!(
        home.stdout(&["consolidate", &id, "--print"])
            .contains("boats, radios and timing")
    );

    home.praxis()
        .args(["consolidate", "999", "--print"])
        .assert()
        .code(1)
        .stderr(
            predicates::str::contains("query 999 does not exist")
                .and(predicates::str::contains("praxis threads --queries")),
        );
}

#[test]
fn draft_versions_are_listed_and_diffed() {
    let home = Home::new();
    let id = asked_and_answered(&home).to_string();
    let err = home.stderr_of_failure(&["consolidate", &id, "--versions"]);
    assert!(err.contains("has no stored draft yet"), "{err}");
    let generated = home.stdout(&["consolidate", &id, "--print"]);
    let file = home.path().join("draft.md");
    std::fs::write(&file, &generated).unwrap();
    home.stdout(&[
        "consolidate",
        &id,
        "--from",
        file.to_str().unwrap(),
        "--as",
        "Meera",
    ]);
    std::fs::write(
        &file,
        generated.replace("Summary of responses", "Summary: boats and radios"),
    )
    .unwrap();
    home.stdout(&[
        "consolidate",
        &id,
        "--from",
        file.to_str().unwrap(),
        "--as",
        "Ravi",
    ]);

    let list = home.stdout(&["consolidate", &id, "--versions"]);
    assert!(list.contains("Meera") && list.contains("Ravi"), "{list}");
    assert!(
        list.contains(&format!("{} bytes", generated.len())),
        "{list}"
    );
    assert!(
        list.contains("IST"),
        "times in the community's zone: {list}"
    );
    assert!(list.contains("(draft): 2 versions"), "{list}");
    let json = home.json(&["consolidate", &id, "--versions", "--json"]);
    assert_eq!(json[0]["version"], 1, "{json}");
    assert_eq!(json[1]["author"], "Ravi", "{json}");

    let diff = home.stdout(&["consolidate", &id, "--diff", "1", "2"]);
    assert!(diff.contains("--- version 1 (Meera"), "{diff}");
    assert!(diff.contains("+++ version 2 (Ravi"), "{diff}");
    assert!(diff.contains("\n+## Summary: boats and radios"), "{diff}");
    assert!(diff.contains("\n-## Summary of responses"), "{diff}");
    assert!(
        !diff.contains("Compiled by"),
        "only the change and its context: {diff}"
    );
    let err = home.stderr_of_failure(&["consolidate", &id, "--diff", "1", "9"]);
    assert!(
        err.contains("no draft version 9") && err.contains("--versions"),
        "{err}"
    );
}

#[test]
fn publish_queues_for_each_and_consolidated_members_and_archives() {
    let home = Home::new();
    let q = asked_and_answered(&home);
    let id = q.to_string();
    add_member(&home, "dave@example.org", "Dave", &["--delivery", "digest"]);
    add_member(
        &home,
        "erin@example.org",
        "Erin",
        &["--delivery", "consolidated"],
    );
    add_member(&home, "fred@example.org", "Fred", &["--delivery", "none"]);
    home.praxis()
        .args(["publish", &id])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "`praxis consolidate {id}` writes one"
        )));
    let file = home.path().join("draft.md");
    let draft = home.stdout(&["consolidate", &id, "--print"]).replace(
        "## Comparative experiences",
        "## Comparative experiences\n\nBoats where roads flood; radios everywhere.",
    );
    std::fs::write(&file, &draft).unwrap();
    home.stdout(&["consolidate", &id, "--from", file.to_str().unwrap()]);

    // Scheduled, then cancelled: nothing left in the outbox, a draft again.
    let out = home.stdout(&["publish", &id, "--at", "2099-01-01 09:00"]);
    assert!(out.contains("scheduled for 2099-01-01 09:00"), "{out}");
    assert_eq!(queries(&home, &[])[0]["state"], "scheduled");
    let out = home.stdout(&["publish", &id, "--cancel"]);
    assert!(out.contains("unscheduled"), "{out}");
    assert_eq!(queries(&home, &[])[0]["state"], "drafting");
    let outbox = home.json(&["outbox", "--json"]);
    assert!(
        !outbox
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["kind"] == "consolidated_reply"),
        "{outbox}"
    );
    assert!(
        home.json(&["search", "radios everywhere", "--json"])
            .as_array()
            .unwrap()
            .is_empty()
    );

    let out = home.stdout(&["publish", &id]);
    assert!(
        out.contains("queued now for 5 members"),
        "alice, bob, carol, meera (each) and erin (consolidated): {out}"
    );
    assert_eq!(queries(&home, &[])[0]["state"], "published");
    let outbox = home.json(&["outbox", "--json"]);
    let reply: Vec<&Value> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "consolidated_reply")
        .collect();
    assert_eq!(reply.len(), 1, "{outbox}");
    assert_eq!(
        reply[0]["subject"],
        "[health] Consolidated Reply: Mobile clinics in flood areas?"
    );
    assert_eq!(reply[0]["pending"], 5);

    let hits = home.json(&["search", "radios everywhere", "--json"]);
    assert_eq!(hits[0]["kind"], "consolidated_reply", "{hits}");
    assert_eq!(
        hits[0]["subject"],
        "[health] Consolidated Reply: Mobile clinics in flood areas?"
    );

    home.praxis()
        .args(["publish", &id])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("already published").and(predicate::str::contains("addendum")),
        );
    home.praxis()
        .args(["publish", &id, "--at", "someday"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("`someday` is not a time"));
}

#[test]
fn later_drafts_suggest_published_replies_as_related() {
    let home = Home::new();
    let q = asked_and_answered(&home);
    let id = q.to_string();
    let file = home.path().join("draft.md");
    std::fs::write(&file, "Boats and radios for flood clinics.\n").unwrap();
    home.stdout(&["consolidate", &id, "--from", file.to_str().unwrap()]);
    home.stdout(&["publish", &id]);
    ingest(
        &home,
        "From: Alice Rao <alice@example.org>\nTo: list@example.test\nSubject: Clinics after floods in Odisha\nMessage-ID: <q9@example.org>\n\nWhat worked for mobile clinics?\n",
    );
    let newer = queries(&home, &[])
        .into_iter()
        .find(|t| t["subject"] == "Clinics after floods in Odisha")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let d = home.stdout(&["consolidate", &newer.to_string(), "--print"]);
    assert!(
        d.contains("- [health] Consolidated Reply: Mobile clinics in flood areas? ("),
        "{d}"
    );
    // Another reply sharing a word or two comes after the one that answers
    // (the related search, best first), and the query's own thread never.
    ingest(
        &home,
        "From: Alice Rao <alice@example.org>\nTo: list@example.test\nSubject: Zinc for diarrhoea\nMessage-ID: <z9@example.org>\n\nWhat worked for zinc dosing in children?\n",
    );
    let zinc = queries(&home, &[])
        .into_iter()
        .find(|t| t["subject"] == "Zinc for diarrhoea")
        .unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    std::fs::write(&file, "Zinc for 14 days worked.\n").unwrap();
    home.stdout(&["consolidate", &zinc, "--from", file.to_str().unwrap()]);
    home.stdout(&["publish", &zinc]);
    let d = home.stdout(&["consolidate", &newer.to_string(), "--print"]);
    let section = &d[d.find("## Related Consolidated Replies").unwrap()..];
    let section = &section[..section.find("## Responses in full").unwrap()];
    let listed: Vec<&str> = section.lines().filter(|l| l.starts_with("- ")).collect();
    assert!(
        listed[0].starts_with("- [health] Consolidated Reply: Mobile clinics in flood areas? ("),
        "{section}"
    );
    assert!(
        !section.contains("Clinics after floods in Odisha"),
        "{section}"
    );
}

mod e2e {
    //! The acceptance test against a private mail stack: alice asks over
    //! SMTP, bob and carol respond, the moderator drafts from a file and
    //! publishes, and every each/consolidated member's IMAP inbox gets it.

    use std::time::{Duration, Instant};

    use super::*;
    use crate::support::{Daemon, PrivateStack, Stack};

    fn live_home(s: &PrivateStack) -> Home {
        let home = Home::with_config(&s.live_config(true));
        for (who, name, org, place, delivery, role) in [
            (
                "alice",
                "Alice Rao",
                "Jan Swasthya",
                "Patna",
                "each",
                "member",
            ),
            ("bob", "Bob Das", "WaterAid", "Guwahati", "each", "member"),
            (
                "carol",
                "Carol Sen",
                "PATH",
                "Delhi",
                "consolidated",
                "member",
            ),
            ("dave", "Dave", "", "", "digest", "member"),
            ("erin", "Erin", "", "", "consolidated", "member"),
            ("moderator", "Meera Iyer", "", "", "none", "moderator"),
        ] {
            home.praxis()
                .args([
                    "members",
                    "add",
                    &format!("{who}@example.test"),
                    "-c",
                    "health",
                ])
                .args(["--name", name, "--organisation", org, "--place", place])
                .args([
                    "--delivery",
                    delivery,
                    "--role",
                    role,
                    "--moderation",
                    "accept",
                ])
                .assert()
                .success();
        }
        home
    }

    async fn send(
        s: &PrivateStack,
        from: &str,
        subject: &str,
        id: &str,
        reply_to: Option<&str>,
        body: &str,
    ) {
        use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
        let (host, port) = Stack::split(&s.smtp);
        let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .build();
        let mut m = Message::builder()
            .from(from.parse().unwrap())
            .to("list@example.test".parse().unwrap())
            .subject(subject)
            .message_id(Some(format!("<{id}>")));
        if let Some(parent) = reply_to {
            m = m
                .in_reply_to(format!("<{parent}>"))
                .references(format!("<{parent}>"));
        }
        t.send(m.body(body.to_string()).unwrap()).await.unwrap();
    }

    fn wait_responses(home: &Home, subject: &str, n: i64) -> i64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(q) = queries(home, &[])
                .into_iter()
                .find(|q| q["subject"] == subject && q["responses"] == n)
            {
                return q["id"].as_i64().unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "{subject} never had {n} responses"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    #[test]
    fn fault_query_to_published_consolidated_reply_with_real_mail() {
        let s = PrivateStack::start();
        let home = live_home(&s);
        let daemon = Daemon::start(&home);
        daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
        let rt = tokio::runtime::Runtime::new().unwrap();
        let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap();
        let subject = format!("Mobile clinics in flood areas {tag}");
        let alice_id = format!("q-{tag}@example.test");

        rt.block_on(send(
            &s,
            "Alice Rao <alice@example.test>",
            &subject,
            &alice_id,
            None,
            "Has anyone run mobile clinics in flood areas? What worked?\n",
        ));
        let q = wait_responses(&home, &subject, 0);
        let query = queries(&home, &[])
            .into_iter()
            .find(|t| t["id"] == q)
            .unwrap();
        assert_eq!(query["days_left"], 10, "{query}");

        rt.block_on(send(
            &s,
            "Bob Das <bob@example.test>",
            &format!("Re: [health] {subject}"),
            &format!("r1-{tag}@example.test"),
            Some(&alice_id),
            "We ran boat clinics on the Brahmaputra; a fixed timetable was the key.\n\n\
             On Mon, 2 Nov 2026, Alice Rao <alice@example.test> wrote:\n\
             > Has anyone run mobile clinics in flood areas? What worked?\n\n\
             -- \nBob Das | WaterAid India | +91 00000 00000\n",
        ));
        rt.block_on(send(
            &s,
            "Carol Sen <carol@example.test>",
            &format!("Re: [health] {subject}"),
            &format!("r2-{tag}@example.test"),
            Some(&alice_id),
            "Radio announcements a day ahead brought mothers to the clinic.\n\nSent from my iPhone\n",
        ));
        let q2 = wait_responses(&home, &subject, 2);
        assert_eq!(q, q2);
        let id = q.to_string();

        // The moderator edits the generated draft and stores it from a file.
        let draft = home.stdout(&["consolidate", &id, "--print"]).replace(
            "## Comparative experiences",
            "## Comparative experiences\n\nBoats on rivers, radios everywhere.",
        );
        let file = home.path().join("draft.md");
        std::fs::write(&file, draft).unwrap();
        home.stdout(&["consolidate", &id, "--from", file.to_str().unwrap()]);
        let out = home.stdout(&["publish", &id]);
        assert!(
            out.contains("for 4 members"),
            "alice, bob (each), carol, erin (consolidated): {out}"
        );

        let needle = format!("Subject: [health] Consolidated Reply: {subject}");
        for who in ["alice", "bob", "carol", "erin"] {
            let m = rt.block_on(s.wait_inbox(who, &needle));
            assert!(
                m.contains(&format!("In-Reply-To: <{alice_id}>")),
                "{who}: {m}"
            );
            assert!(
                m.contains(&format!("References: <{alice_id}>")),
                "{who}: {m}"
            );
            assert!(m.contains("1. Bob Das, WaterAid, Guwahati"), "{who}: {m}");
            assert!(m.contains("2. Carol Sen, PATH, Delhi"), "{who}: {m}");
            assert!(
                m.contains("Boats on rivers, radios everywhere."),
                "{who}: {m}"
            );
            assert!(m.contains("a fixed timetable was the key"), "{who}: {m}");
            assert!(
                !m.contains("> Has anyone"),
                "quoted text kept for {who}: {m}"
            );
            assert!(!m.contains("wrote:"), "attribution kept for {who}: {m}");
            assert!(!m.contains("+91 00000"), "signature kept for {who}: {m}");
            assert!(!m.contains("iPhone"), "footer kept for {who}: {m}");
            assert!(m.contains("List-Id:"), "{m}");
        }
        // Digest and no-mail members get no copy of it.
        std::thread::sleep(Duration::from_secs(1));
        for who in ["dave", "moderator"] {
            assert!(
                rt.block_on(s.inbox(who, "Consolidated Reply")).is_empty(),
                "{who} got the reply"
            );
        }
        assert_eq!(queries(&home, &[])[0]["state"], "published");
        drop(daemon);
    }

    #[test]
    fn a_draft_from_real_responses_drops_sign_offs_keeps_lists_and_names_documents() {
        let s = PrivateStack::start();
        let home = live_home(&s);
        home.praxis()
            .args(["members", "add", "sunita@example.test", "-c", "health"])
            .args(["--name", "सुनीता देवी", "--organisation", "जन स्वास्थ्य अभियान"])
            .args(["--place", "पटना", "--moderation", "accept"])
            .assert()
            .success();
        let daemon = Daemon::start(&home);
        daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
        let rt = tokio::runtime::Runtime::new().unwrap();
        let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap();
        let subject = format!("Boat clinics in the monsoon {tag}");
        let alice_id = format!("q-{tag}@example.test");
        rt.block_on(send(
            &s,
            "Alice Rao <alice@example.test>",
            &subject,
            &alice_id,
            None,
            "What made boat clinics work for you in the monsoon?\n",
        ));
        wait_responses(&home, &subject, 0);
        rt.block_on(send(
            &s,
            "Bob Das <bob@example.test>",
            &format!("Re: [health] {subject}"),
            &format!("r1-{tag}@example.test"),
            Some(&alice_id),
            "Dear all,\n\nWe ran boat clinics through the monsoon. Three things mattered:\n\n\
             - a fixed weekly timetable\n- ASHAs announcing the boat a day ahead\n\
             - ORS and zinc stocked on board\n\n\
             We followed the WHO 2015 guidelines on newborn care.\n\n\
             Best regards,\nBob Das\nProgramme Officer, WaterAid\nGuwahati, Assam\n",
        ));
        rt.block_on(send(
            &s,
            "Sunita <sunita@example.test>",
            &format!("Re: [health] {subject}"),
            &format!("r2-{tag}@example.test"),
            Some(&alice_id),
            "नमस्ते,\n\nहमने बाढ़ के समय नाव क्लिनिक चलाए। ज़रूरी बातें:\n\
             1. हर हफ़्ते तय समय\n2. आशा दीदी एक दिन पहले बताती हैं\n\n\
             सादर,\nसुनीता देवी\nजन स्वास्थ्य अभियान, पटना\n",
        ));
        let id = wait_responses(&home, &subject, 2).to_string();
        let draft = home.stdout(&["consolidate", &id, "--print"]);
        for gone in [
            "Best regards",
            "Programme Officer",
            "Assam",
            "सादर",
            "देवी\nजन",
        ] {
            assert!(!draft.contains(gone), "{gone:?} kept:\n{draft}");
        }
        let summary = draft
            .split("## Summary of responses")
            .nth(1)
            .and_then(|s| s.split("## Comparative experiences").next())
            .unwrap();
        for kept in [
            "Three things mattered: (Bob Das)",
            "- a fixed weekly timetable\n- ASHAs announcing the boat a day ahead\n- ORS and zinc stocked on board",
            "ज़रूरी बातें: (सुनीता देवी)",
            "1. हर हफ़्ते तय समय\n2. आशा दीदी एक दिन पहले बताती हैं",
        ] {
            assert!(
                summary.contains(kept),
                "{kept:?} missing from the summary:\n{summary}"
            );
        }
        assert!(
            draft.contains(
                "- WHO 2015 guidelines (recommended by Bob Das; to check: no link given)"
            ),
            "{draft}"
        );
        drop(daemon);
    }

    #[test]
    fn the_audit_log_records_every_moderator_act() {
        let s = PrivateStack::start();
        let home = live_home(&s);
        let daemon = Daemon::start(&home);
        daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
        let rt = tokio::runtime::Runtime::new().unwrap();
        let as_meera = |args: &[&str]| -> String {
            let out = home
                .praxis()
                .env("USER", "meera")
                .args(args)
                .assert()
                .success()
                .get_output()
                .stdout
                .clone();
            String::from_utf8_lossy(&out).into_owned()
        };
        let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap();
        let subject = format!("Cheap ORS sachets {tag}");
        // A non-member's question is held; meera approves it.
        rt.block_on(send(
            &s,
            "Zoe <zoe@example.test>",
            &subject,
            &format!("q-{tag}@example.test"),
            None,
            "Where can a block hospital get ORS sachets cheaply?\n",
        ));
        let deadline = Instant::now() + Duration::from_secs(60);
        let post = loop {
            let held = home.json(&["queue", "--json"]);
            if let Some(p) = held
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["subject"].as_str().unwrap_or("").contains(&subject))
            {
                break p["id"].as_i64().unwrap();
            }
            assert!(Instant::now() < deadline, "never held: {held}");
            std::thread::sleep(Duration::from_millis(200));
        };
        as_meera(&["approve", &post.to_string()]);
        let threads = home.json(&["threads", "--json"]);
        let thread = threads
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["subject"].as_str().unwrap_or("").contains(&subject))
            .unwrap()["id"]
            .as_i64()
            .unwrap()
            .to_string();
        as_meera(&["mark", &thread, "query"]);
        let file = home.path().join("draft.md");
        let draft = as_meera(&["consolidate", &thread, "--print"]);
        std::fs::write(&file, &draft).unwrap();
        as_meera(&["consolidate", &thread, "--from", file.to_str().unwrap()]);
        std::fs::write(&file, format!("{draft}\nThanks to all.\n")).unwrap();
        as_meera(&["consolidate", &thread, "--from", file.to_str().unwrap()]);
        as_meera(&["publish", &thread, "--at", "2099-01-01 09:00"]);
        as_meera(&["publish", &thread, "--cancel"]);
        as_meera(&["publish", &thread, "--now"]);
        as_meera(&[
            "members",
            "set",
            "dave@example.test",
            "-c",
            "health",
            "--name",
            "Dave K",
        ]);
        as_meera(&["digest", "send", "-c", "health", "--now"]);

        let today = chrono::Utc::now()
            .with_timezone(&chrono_tz::Asia::Kolkata)
            .format("%Y-%m-%d")
            .to_string();
        let log = home.json(&["audit", "-c", "health", "--since", &today, "--json"]);
        let rows: Vec<(String, String, String, String, String)> = log
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let f = |k: &str| r[k].as_str().unwrap_or("").to_string();
                (f("actor"), f("how"), f("action"), f("object"), f("detail"))
            })
            .collect();
        let has = |action: &str, object: &str, detail: &str| {
            rows.iter().any(|(who, how, a, o, d)| {
                who == "meera" && how == "cli" && a == action && o == object && d.contains(detail)
            })
        };
        let query = format!("query {thread}");
        for (action, object, detail) in [
            ("approve", format!("post {post}"), ""),
            ("mark", format!("thread {thread}"), "query"),
            ("consolidate", query.clone(), "version 1"),
            ("consolidate", query.clone(), "version 2"),
            ("schedule", query.clone(), "2099-01-01T03:30:00"),
            ("cancel", query.clone(), "unscheduled"),
            ("publish", query.clone(), "members"),
            ("member-set", String::new(), "dave@example.test"),
        ] {
            assert!(
                has(action, &object, detail),
                "{action} {object} {detail}: {rows:#?}"
            );
        }
        assert!(
            rows.iter().any(|(who, how, a, o, _)| who == "meera"
                && how == "cli"
                && a == "digest"
                && o.starts_with("digest ")),
            "{rows:#?}"
        );
        // Newest first, in the community's zone, through the safe printer.
        let table = as_meera(&["audit", "-c", "health", "--limit", "2"]);
        assert!(table.contains("digest") && table.contains("IST"), "{table}");
        assert!(!table.contains("consolidate"), "--limit 2: {table}");
        let tomorrow = (chrono::Utc::now() + chrono::Duration::days(2))
            .format("%Y-%m-%d")
            .to_string();
        let later = home.json(&["audit", "--since", &tomorrow, "--json"]);
        assert_eq!(later.as_array().unwrap().len(), 0, "{later}");
        // `praxis log` is the same command under its old name.
        assert_eq!(
            home.json(&["log", "-c", "health", "--json"])
                .as_array()
                .unwrap()
                .len(),
            rows.len().min(50)
        );
        drop(daemon);
    }

    #[test]
    fn a_scheduled_reply_shows_scheduled_until_it_goes_out() {
        let s = PrivateStack::start();
        let home = live_home(&s);
        let daemon = Daemon::start(&home);
        daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
        let rt = tokio::runtime::Runtime::new().unwrap();
        let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap();
        let subject = format!("Cold chain in heatwaves {tag}");
        let alice_id = format!("q-{tag}@example.test");
        rt.block_on(send(
            &s,
            "Alice Rao <alice@example.test>",
            &subject,
            &alice_id,
            None,
            "How do you keep vaccines cold in a heatwave?\n",
        ));
        wait_responses(&home, &subject, 0);
        rt.block_on(send(
            &s,
            "Bob Das <bob@example.test>",
            &format!("Re: [health] {subject}"),
            &format!("r1-{tag}@example.test"),
            Some(&alice_id),
            "Solar fridges with a paper log twice a day.\n",
        ));
        let id = wait_responses(&home, &subject, 1).to_string();
        let draft = home.stdout(&["consolidate", &id, "--print"]);
        let file = home.path().join("draft.md");
        std::fs::write(&file, &draft).unwrap();
        home.stdout(&["consolidate", &id, "--from", file.to_str().unwrap()]);

        // A time already past is refused, saying now and the fix.
        let err = home.stderr_of_failure(&["publish", &id, "--at", "2020-01-01 09:00"]);
        assert!(
            err.contains("--at 2020-01-01 09:00 IST is in the past"),
            "{err}"
        );
        assert!(err.contains("--now"), "{err}");
        let err = home.stderr_of_failure(&["publish", &id, "--at", "2099-01-01 09:00", "--now"]);
        assert!(err.contains("cannot be used with"), "{err}");
        assert_eq!(queries(&home, &[])[0]["state"], "drafting");

        let at = chrono::Utc::now() + chrono::Duration::seconds(25);
        let out = home.stdout(&["publish", &id, "--at", &at.to_rfc3339()]);
        let local = at
            .with_timezone(&chrono_tz::Asia::Kolkata)
            .format("%Y-%m-%d %H:%M IST")
            .to_string();
        assert!(out.contains(&format!("scheduled for {local}")), "{out}");
        let q = &queries(&home, &[])[0];
        assert_eq!(q["state"], "scheduled", "{q}");
        assert!(q["scheduled_at"].is_string(), "{q}");
        let table = home.stdout(&["threads", "--queries"]);
        assert!(table.contains(&format!("scheduled for {local}")), "{table}");
        let status = home.stdout(&["status"]);
        assert!(status.contains(&format!("1 (next {local})")), "{status}");
        let versions = home.stdout(&["consolidate", &id, "--versions"]);
        assert!(
            versions.contains(&format!("(scheduled for {local})")),
            "{versions}"
        );
        // A scheduled reply takes no new version behind the moderator's back.
        let err = home.stderr_of_failure(&["consolidate", &id, "--from", file.to_str().unwrap()]);
        assert!(err.contains("is scheduled for"), "{err}");
        assert!(err.contains("--cancel"), "{err}");
        let needle = format!("Subject: [health] Consolidated Reply: {subject}");
        assert!(rt.block_on(s.inbox("alice", &needle)).is_empty());

        // When its time comes the daemon sends it, and it shows published.
        let m = rt.block_on(s.wait_inbox("alice", &needle));
        assert!(m.contains("Solar fridges"), "{m}");
        assert!(
            chrono::Utc::now().timestamp() >= at.timestamp(),
            "sent early"
        );
        assert_eq!(queries(&home, &[])[0]["state"], "published");
        drop(daemon);
    }
}

#[test]
fn a_response_after_publication_is_flagged_and_starts_an_addendum() {
    let home = Home::new();
    let q = asked_and_answered(&home);
    let id = q.to_string();
    let file = home.path().join("draft.md");
    std::fs::write(&file, "Boats and radios.\n").unwrap();
    home.stdout(&["consolidate", &id, "--from", file.to_str().unwrap()]);
    home.stdout(&["publish", &id]);
    assert_eq!(queries(&home, &[])[0]["late_responses"], 0);
    add_member(
        &home,
        "dan@example.org",
        "Dan Roy",
        &["--organisation", "UNICEF", "--moderation", "accept"],
    );
    let out = ingest(
        &home,
        "From: Dan Roy <dan@example.org>\nTo: list@example.test\nSubject: Re: Mobile clinics in flood areas?\nIn-Reply-To: <q1@example.org>\nMessage-ID: <r9@example.org>\n\nSolar fridges kept vaccines cold.\n",
    );
    assert!(out.contains("approved"), "{out}");
    let t = &queries(&home, &[])[0];
    assert_eq!(t["late_responses"], 1, "{t}");
    assert_eq!(t["state"], "published");
    // Posts 1–3 are the query and its responses; dan's is 4.
    let shown = home.stdout(&["show", "4"]);
    assert!(
        shown.contains(&format!("after the Consolidated Reply was published; `praxis consolidate {id}` starts an addendum")),
        "{shown}"
    );

    let d = home.stdout(&["consolidate", &id, "--print"]);
    assert!(d.contains("## Additional responses"), "{d}");
    assert!(d.contains("1. Dan Roy, UNICEF"), "{d}");
    assert!(!d.contains("Bob Das"), "only later responses: {d}");
    std::fs::write(&file, &d).unwrap();
    home.stdout(&["consolidate", &id, "--from", file.to_str().unwrap()]);
    let out = home.stdout(&["publish", &id]);
    assert!(out.contains("queued now"), "{out}");
    let outbox = home.json(&["outbox", "--json"]);
    assert!(
        outbox.as_array().unwrap().iter().any(|o| o["subject"]
            == "[health] Consolidated Reply (additional responses): Mobile clinics in flood areas?"),
        "{outbox}"
    );
    assert_eq!(queries(&home, &[])[0]["late_responses"], 0);
}

#[test]
fn reminders_go_once_per_threshold() {
    let home = Home::new();
    let q = asked_and_answered(&home);
    let t = queries(&home, &[])[0].clone();
    let deadline = chrono::DateTime::parse_from_rfc3339(t["deadline"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let config = praxis::config::Config::load(&home.config()).unwrap();
    let mut store = praxis::store::Store::open_database(&config.database().unwrap()).unwrap();
    let communities = praxis::community::Communities::load(&config, &store).unwrap();
    let sweep = |store: &mut praxis::store::Store, at| {
        praxis::consolidate::reminders::sweep(store, &communities, at).unwrap()
    };
    // Today: ten working days left, no reminder.
    assert_eq!(sweep(&mut store, chrono::Utc::now()), 0);
    // The day it is due: "due soon", once however often the sweep runs.
    let due_day = deadline - chrono::Duration::hours(2);
    assert_eq!(sweep(&mut store, due_day), 1);
    assert_eq!(sweep(&mut store, due_day), 0);
    // Overdue: one more, once.
    let late = deadline + chrono::Duration::days(3);
    assert_eq!(sweep(&mut store, late), 1);
    assert_eq!(sweep(&mut store, late + chrono::Duration::days(7)), 0);
    drop(store);

    let outbox = home.json(&["outbox", "--json"]);
    let reminders: Vec<&Value> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "notice")
        .collect();
    assert_eq!(reminders.len(), 2, "{outbox}");
    let subjects: Vec<&str> = reminders
        .iter()
        .map(|o| o["subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.contains(&format!("Due soon: Consolidated Reply to query {q}"))),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.contains(&format!("Overdue: Consolidated Reply to query {q}"))),
        "{subjects:?}"
    );
    for r in reminders {
        assert_eq!(r["pending"], 1, "meera, the one moderator: {r}");
    }
}

#[test]
fn an_offline_response_is_credited_and_marked() {
    let home = Home::new();
    let q = asked_and_answered(&home);
    let id = q.to_string();
    add_member(
        &home,
        "dan@example.org",
        "Dan Roy",
        &["--organisation", "UNICEF", "--place", "Puri"],
    );
    let file = home.path().join("phone-call.txt");
    std::fs::write(
        &file,
        "By phone: solar fridges kept vaccines cold in Puri.\n",
    )
    .unwrap();
    let out = home.stdout(&[
        "consolidate",
        &id,
        "--add-response",
        file.to_str().unwrap(),
        "--from-member",
        "dan@example.org",
    ]);
    assert!(out.contains("offline response from Dan Roy added"), "{out}");
    let d = home.stdout(&["consolidate", &id, "--print"]);
    assert!(
        d.contains("3. Dan Roy, UNICEF, Puri (offline contribution)"),
        "{d}"
    );
    assert!(
        d.contains("By phone: solar fridges kept vaccines cold in Puri. (Dan Roy)"),
        "{d}"
    );
    assert!(d.contains("offline contribution)\n\nBy phone"), "{d}");
    home.praxis()
        .args([
            "consolidate",
            &id,
            "--add-response",
            file.to_str().unwrap(),
            "--from-member",
            "zed@example.org",
        ])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("zed@example.org is not a member of health").and(
                predicate::str::contains("praxis members add zed@example.org -c health"),
            ),
        );
    home.praxis()
        .args(["consolidate", &id, "--add-response", file.to_str().unwrap()])
        .assert()
        .code(2);
}

#[test]
fn a_thread_can_be_re_marked() {
    let home = Home::new();
    let q = asked_and_answered(&home);
    let id = q.to_string();
    let out = home.stdout(&["mark", &id, "announcement"]);
    assert!(out.contains("query → announcement"), "{out}");
    assert!(queries(&home, &[]).is_empty());
    let out = home.stdout(&["mark", &id, "query"]);
    assert!(out.contains("announcement → query"), "{out}");
    assert_eq!(queries(&home, &[]).len(), 1);
    home.praxis()
        .args(["mark", &id, "question"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "`question` is not a thread kind; use query, discussion or announcement",
        ));
    home.praxis()
        .args(["mark", "999", "query"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("thread 999 does not exist"));
}

/// A new question asked inside a discussion: `mark --post` splits that
/// post and its replies into a query of their own, with its clock started,
/// and later replies follow the split instead of merging the threads again.
#[test]
fn any_post_can_be_marked_a_query_and_its_replies_follow() {
    let home = Home::new();
    for (who, name) in [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")] {
        add_member(
            &home,
            &format!("{who}@example.org"),
            name,
            &["--moderation", "accept"],
        );
    }
    let post = |from: &str, id: &str, refs: &[&str], subject: &str| {
        let refs: Vec<String> = refs.iter().map(|r| format!("<{r}@x>")).collect();
        let head = if refs.is_empty() {
            String::new()
        } else {
            format!(
                "In-Reply-To: {}\nReferences: {}\n",
                refs.last().unwrap(),
                refs.join(" ")
            )
        };
        ingest(
            &home,
            &format!(
                "From: {from}@example.org\nTo: list@example.test\nSubject: {subject}\nMessage-ID: <{id}@x>\n{head}Date: Mon, 2 Nov 2026 10:00:00 +0530\n\nText of {id}.\n"
            ),
        );
    };
    post("alice", "s1", &[], "Boat clinics");
    post("bob", "s2", &["s1"], "Re: Boat clinics");
    post(
        "carol",
        "s3",
        &["s1", "s2"],
        "Re: Boat clinics, and the cold chain?",
    );
    post(
        "alice",
        "s4",
        &["s1", "s2", "s3"],
        "Re: Boat clinics, and the cold chain?",
    );
    let thread_of = |post: u32| -> i64 {
        let v: Value =
            serde_json::from_str(&home.stdout(&["show", &post.to_string(), "--json"])).unwrap();
        v["thread_id"].as_i64().unwrap()
    };
    let first = thread_of(1);
    home.stdout(&["mark", &first.to_string(), "discussion"]);
    assert!(queries(&home, &[]).is_empty());
    assert_eq!(thread_of(4), first);

    let out = home.stdout(&["mark", "--post", "3", "query"]);
    let split = thread_of(3);
    assert_ne!(split, first);
    assert!(
        out.contains(&format!(
            "post 3: split from thread {first} with 1 reply into thread {split} (query); Consolidated Reply due"
        )),
        "{out}"
    );
    assert_eq!(
        (thread_of(1), thread_of(2), thread_of(4)),
        (first, first, split)
    );
    let q = queries(&home, &[]);
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["id"].as_i64(), Some(split));
    assert_eq!(q[0]["subject"], "Re: Boat clinics, and the cold chain?");
    assert_eq!(q[0]["asked_by"], "Carol");
    assert!(
        q[0]["deadline"].is_string() || q[0]["deadline"].is_number(),
        "{q:?}"
    );

    // Replies carry the whole chain in References: each follows its branch.
    post("bob", "s5", &["s1", "s2", "s3", "s4"], "Re: cold chain");
    post("carol", "s6", &["s1", "s2"], "Re: Boat clinics");
    assert_eq!((thread_of(5), thread_of(6)), (split, first));
    let threads: Value = serde_json::from_str(&home.stdout(&["threads", "--json"])).unwrap();
    let posts = |t: i64| {
        threads
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"].as_i64() == Some(t))
            .map(|r| r["posts"].as_i64().unwrap())
    };
    assert_eq!((posts(first), posts(split)), (Some(3), Some(3)));

    // A thread's first post marks its thread; a missing post is named.
    let out = home.stdout(&["mark", "--post", "1", "announcement"]);
    assert!(
        out.contains(&format!(
            "post 1 starts thread {first}: discussion → announcement"
        )),
        "{out}"
    );
    home.praxis()
        .args(["mark", "--post", "99", "query"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("post 99 does not exist"));
}

#[test]
fn marking_an_imported_discussion_as_a_query_starts_its_clock() {
    let home = Home::new();
    let mbox = home.path().join("old.mbox");
    std::fs::write(
        &mbox,
        "From alice@example.org Mon Nov  2 10:00:00 2026\nFrom: alice@example.org\nSubject: Cold chain?\nMessage-ID: <old1@example.org>\nDate: Mon, 2 Nov 2026 10:00:00 +0000\n\nAny advice?\n",
    )
    .unwrap();
    home.praxis()
        .args(["import", "-c", "health", mbox.to_str().unwrap()])
        .assert()
        .success();
    assert!(
        queries(&home, &[]).is_empty(),
        "imported history is discussion"
    );
    let all: Vec<Value> = serde_json::from_str(&home.stdout(&["threads", "--json"])).unwrap();
    let id = all[0]["id"].as_i64().unwrap().to_string();
    let out = home.stdout(&["mark", &id, "query"]);
    assert!(out.contains("Consolidated Reply due"), "{out}");
    assert!(queries(&home, &[])[0]["deadline"].is_string());
}

/// Which new threads are queries follows `policy.queries` (issue 15, item
/// 3): under "questions" only a root that asks something, under "all" every
/// thread, under "moderator" none until a moderator says so; only queries
/// get a deadline and reminders. (An "unsubscribe" post never becomes a
/// thread at all: `commands::fault_a_command_to_the_posting_address_is_not_distributed`.)
#[test]
fn only_the_community_rule_or_a_moderator_makes_a_query() {
    let roots = [
        (
            "Mobile clinics in flood areas",
            "Hello all,\nhas anyone run mobile clinics in floods? What worked?\n",
        ),
        (
            "Thank you all",
            "Thanks to everyone who answered last month.\n\nWho knew?\n",
        ),
        (
            "ASHA training modules released",
            "The new training modules are out today.\n",
        ),
        (
            "District review moved to Monday",
            "The district review meets on Monday at ten instead.\n",
        ),
    ];
    for (setting, want) in [
        (
            "questions",
            ["query", "discussion", "discussion", "discussion"],
        ),
        ("all", ["query", "query", "query", "query"]),
        (
            "moderator",
            ["discussion", "discussion", "discussion", "discussion"],
        ),
    ] {
        let text = crate::support::example_config().replacen(
            "queries = \"questions\"",
            &format!("queries = \"{setting}\""),
            1,
        );
        assert!(text.contains(&format!("queries = \"{setting}\"")));
        let home = Home::with_config(&text);
        add_member(
            &home,
            "alice@example.org",
            "Alice Rao",
            &["--moderation", "accept"],
        );
        add_member(
            &home,
            "meera@example.org",
            "Meera",
            &["--role", "moderator"],
        );
        for (i, (subject, body)) in roots.iter().enumerate() {
            ingest(
                &home,
                &format!(
                    "From: Alice Rao <alice@example.org>\nTo: list@example.test\nSubject: {subject}\nMessage-ID: <root{i}@example.org>\n\n{body}"
                ),
            );
        }
        let threads = home.json(&["threads", "--json", "-c", "health"]);
        for ((subject, _), kind) in roots.iter().zip(want) {
            let t = threads
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["subject"] == *subject)
                .unwrap_or_else(|| panic!("{subject}: {threads}"));
            assert_eq!(t["kind"], kind, "{setting}: {subject}: {t}");
            assert_eq!(t["deadline"].is_null(), kind != "query", "{setting}: {t}");
        }
        // Long past any deadline: one overdue reminder per query, none else.
        let config = praxis::config::Config::load(&home.config()).unwrap();
        let mut store = praxis::store::Store::open_database(&config.database().unwrap()).unwrap();
        let communities = praxis::community::Communities::load(&config, &store).unwrap();
        let late = chrono::Utc::now() + chrono::Duration::days(60);
        let queued = praxis::consolidate::reminders::sweep(&mut store, &communities, late).unwrap();
        assert_eq!(
            queued,
            want.iter().filter(|k| **k == "query").count(),
            "{setting}: only queries are reminded"
        );
    }
}

/// `praxis approve --query|--discussion|--announcement` sets the kind of the
/// thread a held post starts, and only one of them may be given.
#[test]
fn approving_a_held_root_sets_its_thread_kind() {
    let home = Home::new();
    let held = |id: &str, subject: &str, body: &str| -> String {
        ingest(
            &home,
            &format!(
                "From: Erin <erin@example.org>\nTo: list@example.test\nSubject: {subject}\nMessage-ID: <{id}@example.org>\n\n{body}\n"
            ),
        );
        let queue = home.json(&["queue", "--json"]);
        queue
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["subject"] == subject)
            .unwrap_or_else(|| panic!("{subject} is held: {queue}"))["id"]
            .as_i64()
            .unwrap()
            .to_string()
    };
    let kind_of = |subject: &str| -> Value {
        let threads = home.json(&["threads", "--json", "-c", "health"]);
        threads
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["subject"] == subject)
            .unwrap_or_else(|| panic!("{subject}: {threads}"))
            .clone()
    };
    // A question by the rule, approved as an announcement: no deadline.
    let a = held(
        "ann",
        "New ASHA modules: who wants a copy?",
        "They are out.",
    );
    home.praxis()
        .args(["approve", &a, "--query", "--announcement"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
    home.praxis()
        .args(["approve", &a, "--announcement"])
        .assert()
        .success()
        .stdout(predicate::str::contains("is an announcement"));
    let t = kind_of("New ASHA modules: who wants a copy?");
    assert_eq!(t["kind"], "announcement", "{t}");
    assert!(t["deadline"].is_null(), "{t}");
    // No question by the rule, approved as a query: the clock starts.
    let q = held("qq", "Flood clinics", "Boats worked for us.");
    home.praxis()
        .args(["approve", &q, "--query"])
        .assert()
        .success()
        .stdout(predicate::str::contains("is a query"));
    let t = kind_of("Flood clinics");
    assert_eq!(t["kind"], "query", "{t}");
    assert!(t["deadline"].is_string(), "{t}");
}
