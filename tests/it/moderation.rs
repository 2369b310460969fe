//! The moderation queue from the command line: holds with reasons, decisions
//! once, --trust, the audit log, and racing moderators.
//!
//! Long because the queue, decisions and audit log are tested on one shared
//! praxis home fixture; splitting would copy it.

use predicates::prelude::*;
use serde_json::Value;

use crate::support::Home;

fn post(from: &str, id: &str, subject: &str) -> String {
    format!(
        "From: {from}\nTo: list@example.test\nSubject: {subject}\nMessage-ID: <{id}>\n\nText of {subject}.\n"
    )
}

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

pub(crate) fn queue(home: &Home) -> Vec<Value> {
    let out = home
        .praxis()
        .args(["queue", "--json"])
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
fn holds_decisions_trust_and_the_log() {
    let home = Home::new();
    home.praxis()
        .args([
            "members",
            "add",
            "carol@example.org",
            "-c",
            "health",
            "--name",
            "Carol Sen",
            "--organisation",
            "WaterAid",
        ])
        .assert()
        .success();
    assert!(
        ingest(
            &home,
            &post("Nina <nina@example.org>", "n1@x", "From a stranger")
        )
        .contains("held (nonmember)")
    );
    assert!(
        ingest(
            &home,
            &post("Carol Sen <carol@example.org>", "c1@x", "My first post")
        )
        .contains("held (first post)")
    );
    let q = queue(&home);
    assert_eq!(q.len(), 2);
    assert_eq!(q[0]["reason"], "nonmember");
    assert_eq!(q[1]["reason"], "first post");
    assert_eq!(q[1]["organisation"], "WaterAid");
    for f in [
        "id",
        "community",
        "from",
        "subject",
        "reason",
        "received_at",
        "size",
        "thread_id",
    ] {
        assert!(q[0].get(f).is_some(), "{f}");
    }

    // --trust: Carol's next post goes straight through.
    home.praxis()
        .args(["approve", "2", "--trust", "--as", "meera"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "carol@example.org now posts without moderation",
        ));
    assert!(
        ingest(
            &home,
            &post("Carol Sen <carol@example.org>", "c2@x", "Second post")
        )
        .contains("approved")
    );

    // A decided post cannot be decided again; the refusal names who and when.
    home.praxis()
        .args(["reject", "2", "--reason", "late", "--as", "ravi"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "post 2 was already decided: approve by meera",
        ))
        // In the community's zone (Asia/Kolkata), not UTC.
        .stderr(predicate::str::contains("(Asia/Kolkata)"));
    home.praxis()
        .args(["reject", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--reason"));
    home.praxis()
        .args(["reject", "1", "--reason", "Off topic", "--as", "ravi"])
        .assert()
        .success();
    assert!(queue(&home).is_empty());

    let out = home
        .praxis()
        .args(["log", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("ravi".into(), "reject".into())),
        "{actions:?}"
    );
    assert!(actions.contains(&("meera".into(), "approve".into())));
    assert!(actions.contains(&("meera".into(), "member-trust".into())));
    let reject = log
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "reject")
        .unwrap();
    assert_eq!(reject["reason"], "Off topic");
}

#[test]
fn the_login_is_mapped_to_a_moderator_name() {
    let text = crate::support::example_config().replacen(
        "# meera = \"Meera Iyer\"",
        "meera = \"Meera Iyer\"",
        1,
    );
    let home = Home::with_config(&text);
    ingest(&home, &post("x@example.org", "m1@x", "one"));
    ingest(&home, &post("x@example.org", "m2@x", "two"));
    home.praxis()
        .env("USER", "meera")
        .args(["approve", "1"])
        .assert()
        .success();
    home.praxis()
        .env("USER", "ravi")
        .args(["approve", "2"])
        .assert()
        .success();
    let out = home
        .praxis()
        .args(["log", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    let who: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "approve")
        .map(|r| r["actor"].as_str().unwrap())
        .collect();
    assert_eq!(
        who,
        ["ravi", "Meera Iyer"],
        "a login not listed is recorded as it is"
    );
}

#[test]
fn ranges_defer_and_discard() {
    let home = Home::new();
    for i in 1..=4 {
        ingest(
            &home,
            &post("x@example.org", &format!("r{i}@x"), &format!("post {i}")),
        );
    }
    home.praxis().args(["defer", "1"]).assert().success();
    let q = queue(&home);
    assert_eq!(q.len(), 4, "deferring leaves it held");
    assert_eq!(q[3]["id"], 1, "deferred posts go to the end");
    assert_eq!(q[3]["deferred"], true);
    home.praxis()
        .args(["discard", "2-3,4"])
        .assert()
        .success()
        .stdout(predicate::str::contains("discarded post 4"));
    assert_eq!(queue(&home).len(), 1);
    home.praxis()
        .args(["approve", "99"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("post 99 does not exist"));
    home.praxis()
        .args(["approve", "x-y"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a post id"));
}

/// Two moderators approving the same post at the same moment: exactly one
/// decision is recorded, the other is refused.
#[test]
fn racing_approvals_decide_once() {
    let home = Home::new();
    for who in ["alice", "bob", "carol"] {
        home.praxis()
            .args([
                "members",
                "add",
                &format!("{who}@example.org"),
                "-c",
                "health",
            ])
            .assert()
            .success();
    }
    ingest(&home, &post("x@example.org", "race@x", "race"));
    let spawn = |who: &str| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("praxis"))
            .arg("--config")
            .arg(home.config())
            .args(["approve", "1", "--as", who])
            .output()
    };
    let results: Vec<std::process::Output> = std::thread::scope(|s| {
        let handles: Vec<_> = ["a", "b", "c", "d"]
            .iter()
            .map(|w| s.spawn(move || spawn(w).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = results.iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1, "{results:?}");
    let out = home
        .praxis()
        .args(["log", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        log.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "approve")
            .count(),
        1
    );
    // Exactly one fan-out: one outbox message for the post, one delivery per member.
    let out = home
        .praxis()
        .args(["outbox", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let outbox: Value = serde_json::from_slice(&out.stdout).unwrap();
    let posts: Vec<&Value> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "post")
        .collect();
    assert_eq!(posts.len(), 1, "{outbox}");
    assert_eq!(posts[0]["pending"], 3, "{outbox}");
}

// ---------------------------------------------------------------- end to end

use std::time::{Duration, Instant};

use crate::support::{Daemon, PrivateStack, Stack};

/// A community fed over IMAP from the shared stack and sending through its
/// Postfix, with alice, bob and carol on each-post delivery, dave on digest
/// and a moderator.
pub(crate) fn live_home(s: &PrivateStack) -> Home {
    let home = Home::with_config(&s.live_config(true));
    for (who, delivery, role) in [
        ("alice", "each", "member"),
        ("bob", "each", "member"),
        ("carol", "each", "member"),
        ("dave", "digest", "member"),
        ("moderator", "none", "moderator"),
    ] {
        home.praxis()
            .args([
                "members",
                "add",
                &format!("{who}@example.test"),
                "-c",
                "health",
                "--delivery",
                delivery,
                "--role",
                role,
            ])
            .assert()
            .success();
    }
    home
}

/// Sends one message from `from` with a unique subject; returns the subject.
pub(crate) async fn post_from(s: &PrivateStack, from: &str, to: &str, subject: &str, body: &str) {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let (host, port) = Stack::split(&s.smtp);
    let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .build();
    let m = Message::builder()
        .from(from.parse().unwrap())
        .to(to.parse().unwrap())
        .subject(subject)
        .body(body.to_string())
        .unwrap();
    t.send(m).await.unwrap();
}

pub(crate) fn wait_held(home: &Home, subject: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(h) = queue(home).into_iter().find(|h| h["subject"] == subject) {
            return h["id"].as_i64().unwrap();
        }
        assert!(Instant::now() < deadline, "{subject} never held");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn fault_approve_reject_and_trust_with_real_mail() {
    // A private stack: no other test's daemon reads this list mailbox.
    let s = PrivateStack::start();
    let home = live_home(&s);
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap();

    // A nonmember's post is held with reason "nonmember"; approving it
    // reaches every each-post member, and not the digest member.
    let subject = format!("Flood clinics {tag}");
    rt.block_on(post_from(
        &s,
        "Erin <erin@example.test>",
        "list@example.test",
        &subject,
        "Has anyone run mobile clinics?",
    ));
    let id = wait_held(&home, &subject);
    let held = queue(&home).into_iter().find(|h| h["id"] == id).unwrap();
    assert_eq!(held["reason"], "nonmember");
    // The moderator was told of the hold; the author, a nonmember whose
    // From nothing verified (no DMARC pass), gets no acknowledgement: a
    // forged sender gets no backscatter (issue 15, policy.acknowledge).
    rt.block_on(s.wait_inbox("moderator", &format!("Held (nonmember): {subject}")));
    assert!(
        notices_to(&home, "erin@example.test").is_empty(),
        "{:?}",
        notices_to(&home, "erin@example.test")
    );
    home.praxis()
        .args(["approve", &id.to_string()])
        .assert()
        .success();
    for who in ["alice", "bob", "carol"] {
        let m = rt.block_on(s.wait_inbox(who, &format!("Subject: [health] {subject}")));
        assert!(m.contains("List-Id:"), "{m}");
    }
    assert!(
        rt.block_on(s.inbox("dave", &subject)).is_empty(),
        "digest members get no each-post copy"
    );

    // Rejecting with a reason: the author's inbox gets the reason.
    let subject2 = format!("Buy my product {tag}");
    rt.block_on(post_from(
        &s,
        "Erin <erin@example.test>",
        "list@example.test",
        &subject2,
        "Cheap!",
    ));
    let id2 = wait_held(&home, &subject2);
    home.praxis()
        .args([
            "reject",
            &id2.to_string(),
            "--reason",
            "Advertising is not allowed here",
        ])
        .assert()
        .success();
    let notice = rt.block_on(s.wait_inbox("erin", &format!("Not distributed: {subject2}")));
    assert!(
        notice.contains("Advertising is not allowed here"),
        "{notice}"
    );

    // A member's first post, approved with --trust: the next goes straight through.
    home.praxis()
        .args([
            "members",
            "add",
            "erin@example.test",
            "-c",
            "health",
            "--name",
            "Erin Das",
        ])
        .assert()
        .success();
    let first = format!("First post {tag}");
    rt.block_on(post_from(
        &s,
        "Erin Das <erin@example.test>",
        "list@example.test",
        &first,
        "Hello all",
    ));
    let id3 = wait_held(&home, &first);
    assert_eq!(
        queue(&home).into_iter().find(|h| h["id"] == id3).unwrap()["reason"],
        "first post"
    );
    // A member is told their post awaits moderation.
    rt.block_on(s.wait_inbox("erin", &format!("Awaiting moderation: {first}")));
    home.praxis()
        .args(["approve", &id3.to_string(), "--trust"])
        .assert()
        .success();
    let second = format!("Second post {tag}");
    rt.block_on(post_from(
        &s,
        "Erin Das <erin@example.test>",
        "list@example.test",
        &second,
        "Again",
    ));
    rt.block_on(s.wait_inbox("alice", &format!("Subject: [health] {second}")));
    assert!(
        queue(&home).iter().all(|h| h["subject"] != second.as_str()),
        "not held"
    );
    drop(daemon);
}

/// Sends `body` from `from` to `to` with Message-ID `<id>`, as a moderator's
/// mail client answering a notice would.
async fn reply_from(s: &PrivateStack, from: &str, to: &str, id: &str, subject: &str, body: &str) {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let (host, port) = Stack::split(&s.smtp);
    let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .build();
    let m = Message::builder()
        .from(from.parse().unwrap())
        .to(to.parse().unwrap())
        .subject(subject)
        .message_id(Some(format!("<{id}>")))
        .body(body.to_string())
        .unwrap();
    t.send(m).await.unwrap();
}

/// Waits until the daemon stored the message with Message-ID `id`.
fn wait_stored(daemon: &Daemon, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while crate::support::stored(&daemon.db, "health", &[id.to_string()]).0 == 0 {
        assert!(
            Instant::now() < deadline,
            "{id} never stored; daemon log:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The hold notice carries the held post's text and a single-use reply
/// address of the moderator's own: replying `approve` decides the post
/// through the same path as `praxis approve` (who: the moderator's address,
/// how: email) and it reaches the each-post members; a nonmoderator's reply
/// to the same address decides nothing and gets no answer; a second reply is
/// told who decided and when (issue 15 friction).
#[test]
fn a_moderator_decides_a_held_post_by_replying_to_its_notice() {
    let s = PrivateStack::start();
    let home = live_home(&s);
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap();

    let subject = format!("Boat clinics {tag}");
    rt.block_on(post_from(
        &s,
        "Erin <erin@example.test>",
        "list@example.test",
        &subject,
        &format!("Boats reached the flooded villages every Tuesday {tag}.\nWho else tried this?"),
    ));
    let id = wait_held(&home, &subject);
    let notice = rt.block_on(s.wait_inbox("moderator", &format!("Held (nonmember): {subject}")));
    assert!(
        notice.contains(&format!(
            "Boats reached the flooded villages every Tuesday {tag}."
        )),
        "the notice carries the post: {notice}"
    );
    let reply_to = notice
        .lines()
        .find_map(|l| l.strip_prefix("Reply-To: "))
        .unwrap_or_else(|| panic!("a reply address: {notice}"))
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string();
    assert!(
        reply_to.starts_with("list-request+mod-") && reply_to.ends_with("@example.test"),
        "{reply_to}"
    );
    let still_held = |home: &Home| queue(home).iter().any(|h| h["id"] == id);

    // bob, a member but no moderator, answers to the same address: nothing.
    let forged = format!("forged-{tag}@example.test");
    rt.block_on(reply_from(
        &s,
        "bob@example.test",
        &reply_to,
        &forged,
        &format!("Re: Held (nonmember): {subject}"),
        "approve\n",
    ));
    wait_stored(&daemon, &forged);
    assert!(still_held(&home), "a nonmoderator's reply decides nothing");

    // The moderator answers `approve` above the quoted notice.
    let real = format!("real-{tag}@example.test");
    rt.block_on(reply_from(
        &s,
        "Moderator <moderator@example.test>",
        &reply_to,
        &real,
        &format!("Re: Held (nonmember): {subject}"),
        &format!("Approve\n\nOn Monday the list wrote:\n> A post to Maternal Health is waiting\n> Subject: {subject}\n"),
    ));
    for who in ["alice", "bob", "carol"] {
        rt.block_on(s.wait_inbox(who, &format!("Subject: [health] {subject}")));
    }
    assert!(!still_held(&home));
    let log = home.json(&["log", "--json", "-c", "health"]);
    let decisions: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["post_id"] == id && r["action"] == "approve")
        .collect();
    assert_eq!(decisions.len(), 1, "{log}");
    assert_eq!(decisions[0]["actor"], "moderator@example.test", "{log}");
    assert_eq!(decisions[0]["how"], "email", "{log}");
    let done = rt.block_on(s.wait_inbox("moderator", "your decision by email"));
    assert!(
        done.contains(&format!("Post {id} ({subject}) is approved")),
        "{done}"
    );

    // The same code again: told who decided and when; nothing changes.
    let again = format!("again-{tag}@example.test");
    rt.block_on(reply_from(
        &s,
        "moderator@example.test",
        &reply_to,
        &again,
        &format!("Re: Held (nonmember): {subject}"),
        "discard\n",
    ));
    let told = rt.block_on(s.wait_inbox("moderator", "was already decided"));
    assert!(
        told.contains(&format!(
            "Post {id} was already decided: approve by moderator@example.test at"
        )),
        "{told}"
    );
    assert!(
        rt.block_on(s.inbox("bob", "your decision by email"))
            .is_empty(),
        "the forged reply got no answer"
    );
    drop(daemon);
}

/// Subscribing by mail needs the reply to the confirmation; a forged or a
/// replayed code does nothing; unsubscribe, set delivery and help work.
#[test]
fn fault_email_commands_with_confirmation() {
    let s = PrivateStack::start();
    let home = live_home(&s);
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let members = |home: &Home| -> Vec<Value> {
        let out = home
            .praxis()
            .args(["members", "list", "-c", "health", "--json"])
            .assert()
            .success()
            .get_output()
            .clone();
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let status_of = |home: &Home, email: &str| {
        members(home)
            .into_iter()
            .find(|m| m["email"] == email)
            .map(|m| m["status"].as_str().unwrap().to_string())
    };

    // erin asks to join: nothing changes until she confirms.
    rt.block_on(post_from(
        &s,
        "erin@example.test",
        "list-request@example.test",
        "subscribe",
        "",
    ));
    let confirm = rt.block_on(s.wait_inbox("erin", "Subject: [health] confirm "));
    let token = confirm
        .lines()
        .find_map(|l| l.strip_prefix("Subject: [health] confirm "))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        confirm.contains(&format!("Reply-To: <list-confirm+{token}@example.test>")),
        "{confirm}"
    );
    assert_eq!(status_of(&home, "erin@example.test"), None);

    // bob forwards erin's code from his own address: refused.
    rt.block_on(post_from(
        &s,
        "bob@example.test",
        "list-request@example.test",
        &format!("Re: confirm {token}"),
        "",
    ));
    let refused = rt.block_on(s.wait_inbox("bob", "made for another address"));
    assert!(refused.contains("confirm"));
    // A forged code: refused.
    rt.block_on(post_from(
        &s,
        "erin@example.test",
        "list-request@example.test",
        "confirm 1234.abcd.ef",
        "",
    ));
    rt.block_on(s.wait_inbox("erin", "not valid"));
    assert_eq!(status_of(&home, "erin@example.test"), None);

    // erin replies to the confirmation (to the confirm address): she is in.
    rt.block_on(post_from(
        &s,
        "erin@example.test",
        &format!("list-confirm+{token}@example.test"),
        &format!("Re: [health] confirm {token}"),
        "yes",
    ));
    rt.block_on(s.wait_inbox("erin", "Subject: [health] Welcome to Maternal Health"));
    assert_eq!(
        status_of(&home, "erin@example.test").as_deref(),
        Some("active")
    );

    // Replaying the same code does nothing more.
    rt.block_on(post_from(
        &s,
        "erin@example.test",
        "list-request@example.test",
        &format!("confirm {token}"),
        "",
    ));
    rt.block_on(s.wait_inbox("erin", "already used"));

    // set delivery, help.
    rt.block_on(post_from(
        &s,
        "erin@example.test",
        "list-request@example.test",
        "commands",
        "set delivery digest\nhelp\n",
    ));
    // A membership change waits for its confirmation (issue 15).
    let change = rt.block_on(s.wait_inbox("erin", "asked to change the membership"));
    assert!(change.contains("set delivery digest"), "{change}");
    rt.block_on(s.wait_inbox("erin", "> set delivery digest"));
    let token3 = change
        .lines()
        .find_map(|l| l.strip_prefix("Subject: [health] confirm "))
        .unwrap()
        .trim()
        .to_string();
    rt.block_on(post_from(
        &s,
        "erin@example.test",
        "list-request@example.test",
        &format!("confirm {token3}"),
        "",
    ));
    rt.block_on(s.wait_inbox("erin", "your delivery mode is now digest"));
    let m = members(&home)
        .into_iter()
        .find(|m| m["email"] == "erin@example.test")
        .unwrap();
    assert_eq!(m["delivery"], "digest");

    // Unsubscribe is confirmed too.
    rt.block_on(post_from(
        &s,
        "erin@example.test",
        "list-leave@example.test",
        "",
        "",
    ));
    let leave = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let all = rt.block_on(s.inbox("erin", "Someone (hopefully you) asked to unsubscribe"));
            if let Some(m) = all.into_iter().next() {
                break m;
            }
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    let token2 = leave
        .lines()
        .find_map(|l| l.strip_prefix("Subject: [health] confirm "))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(
        status_of(&home, "erin@example.test").as_deref(),
        Some("active")
    );
    rt.block_on(post_from(
        &s,
        "erin@example.test",
        "list-request@example.test",
        &format!("confirm {token2}"),
        "",
    ));
    rt.block_on(s.wait_inbox("erin", "has left Maternal Health"));
    assert_eq!(
        status_of(&home, "erin@example.test").as_deref(),
        Some("unsubscribed")
    );
    drop(daemon);
}

/// With `moderator_notices = "daily"`, moderators get no notice per hold but
/// one summary a day of what is waiting.
#[test]
fn daily_summary_instead_of_a_notice_per_hold() {
    let text = crate::support::example_config().replacen(
        "moderator_notices = \"each\"",
        "moderator_notices = \"daily\"",
        1,
    );
    let home = Home::with_config(&text);
    home.praxis()
        .args([
            "members",
            "add",
            "meera@example.org",
            "-c",
            "health",
            "--role",
            "moderator",
        ])
        .assert()
        .success();
    ingest(&home, &post("x@example.org", "d1@x", "one"));
    ingest(&home, &post("y@example.org", "d2@x", "two"));
    assert_eq!(
        notices_to(&home, "meera@example.org").len(),
        0,
        "no notice per hold"
    );
    let config = praxis::config::Config::load(&home.config()).unwrap();
    let mut store = praxis::store::Store::open_database(&config.database().unwrap()).unwrap();
    let health = crate::support::resolved(&config, "health");
    assert!(praxis::effects::daily_summary(&mut store, &health).unwrap());
    assert!(
        !praxis::effects::daily_summary(&mut store, &health).unwrap(),
        "once a day"
    );
    assert_eq!(notices_to(&home, "meera@example.org").len(), 1);
}

/// A community's templates folder replaces built-in notices; `praxis check`
/// reports files that replace nothing and templates that do not compile.
#[test]
fn community_templates_override_the_built_ins() {
    let (home, dir) = crate::support::home_with_templates("notices");
    std::fs::write(
        dir.join("reject.hbs"),
        "CUSTOM REJECTION of {{subject}}: {{reason}}\n",
    )
    .unwrap();
    home.praxis().arg("check").assert().success();

    ingest(&home, &post("x@example.org", "t1@x", "Buy now"));
    home.praxis()
        .args(["reject", "1", "--reason", "advertising"])
        .assert()
        .success();
    let store = home.store();
    let all = store
        .outbox_summaries(&praxis::store::OutboxFilter {
            community: None,
            failed_only: false,
            limit: 100,
            offset: 0,
        })
        .unwrap();
    let texts: Vec<String> = all
        .iter()
        .map(|m| {
            let raw = store.outbox_message(m.id).unwrap().message;
            mail_parser::MessageParser::default()
                .parse(&raw)
                .unwrap()
                .body_text(0)
                .unwrap_or_default()
                .into_owned()
        })
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("CUSTOM REJECTION of Buy now: advertising")),
        "{texts:#?}"
    );

    std::fs::write(dir.join("rejekt.hbs"), "typo\n").unwrap();
    std::fs::write(dir.join("welcome.hbs"), "{{#if name}}unclosed\n").unwrap();
    let err = home.stderr_of_failure(&["check"]);
    assert!(
        err.contains(
            "community[health].templates: notices/rejekt.hbs does not replace any template"
        ),
        "{err}"
    );
    assert!(
        err.contains("community[health].templates: notices/welcome.hbs:"),
        "{err}"
    );
}

/// Notices in the outbox addressed to `who`.
pub(crate) fn notices_to(home: &Home, who: &str) -> Vec<String> {
    let store = home.store();
    let outbox = store
        .outbox_summaries(&praxis::store::OutboxFilter {
            community: None,
            failed_only: false,
            limit: 1000,
            offset: 0,
        })
        .unwrap();
    outbox
        .iter()
        .filter(|m| m.kind == praxis::model::OutboxKind::Notice)
        .filter(|m| {
            store
                .deliveries(m.id, None, 1000)
                .unwrap()
                .iter()
                .any(|d| d.recipient == who)
        })
        .map(|m| m.subject.clone())
        .collect()
}

/// policy.sender_rate caps the automatic replies one address gets an hour;
/// policy.sender_flood holds a flood as `rate-limited` (even from a trusted
/// member) with one notice to the moderators, and nothing is lost.
#[test]
fn sender_rate_limits_replies_and_holds_floods() {
    let text = crate::support::example_config()
        .replacen("sender_rate = 10", "sender_rate = 3", 1)
        .replacen("sender_flood = 30", "sender_flood = 5", 1);
    let home = Home::with_config(&text);
    for (who, role) in [
        ("meera@example.org", "moderator"),
        ("alice@example.org", "member"),
    ] {
        home.praxis()
            .args(["members", "add", who, "-c", "health", "--role", role])
            .assert()
            .success();
    }
    home.praxis()
        .args([
            "members",
            "set",
            "alice@example.org",
            "-c",
            "health",
            "--moderation",
            "accept",
        ])
        .assert()
        .success();

    // A trusted member floods: five go out, the rest are held as rate-limited.
    for i in 0..8 {
        let out = ingest(
            &home,
            &post(
                "alice@example.org",
                &format!("flood{i}@x"),
                &format!("flood {i}"),
            ),
        );
        if i < 5 {
            assert!(out.contains("approved"), "{i}: {out}");
        } else {
            assert!(out.contains("held (rate-limited)"), "{i}: {out}");
        }
    }
    let q = queue(&home);
    assert_eq!(q.len(), 3, "{q:?}");
    assert!(q.iter().all(|h| h["reason"] == "rate-limited"), "{q:?}");
    let to_meera = notices_to(&home, "meera@example.org");
    assert_eq!(
        to_meera
            .iter()
            .filter(|s| s.contains("Flood held (rate-limited): alice@example.org"))
            .count(),
        1,
        "one flood notice, not one per post: {to_meera:?}"
    );
    assert!(
        !to_meera.iter().any(|s| s.starts_with("Held")),
        "{to_meera:?}"
    );
    assert!(
        notices_to(&home, "alice@example.org").is_empty(),
        "no acknowledgement for a rate-limited hold"
    );
    // The moderators decide once for the lot; the held posts are all there.
    home.praxis().args(["approve", "6-8"]).assert().success();
    assert!(queue(&home).is_empty());

    // Commands: every one is carried out and stored, three are answered.
    for i in 0..6 {
        home.praxis()
            .args(["ingest", "-c", "health", "--recipient", "list-request@example.test"])
            .write_stdin(format!(
                "From: bob@example.net\nTo: list-request@example.test\nSubject: help\nMessage-ID: <help{i}@x>\n\nhelp\n"
            ))
            .assert()
            .success();
    }
    assert_eq!(notices_to(&home, "bob@example.net").len(), 3);
    let store = home.store();
    let health = store.community("health").unwrap().id;
    assert_eq!(store.post_count(health).unwrap(), 14, "nothing lost");

    // praxis check validates both keys.
    let bad = text
        .replacen("sender_rate = 3", "sender_rate = 5000", 1)
        .replacen("sender_flood = 5", "sender_flood = 1", 1);
    home.write_config(&bad);
    home.praxis().arg("check").assert().failure().stderr(
        predicate::str::contains("community[health].policy.sender_rate").and(
            predicate::str::contains("community[health].policy.sender_flood"),
        ),
    );
}

/// Issue 15: without `$USER` or `$LOGNAME` (cron, a service manager), the
/// decision is recorded under the process's login from the password
/// database, mapped through `[moderators]`, not as "cli".
#[test]
fn without_user_the_login_comes_from_the_password_database() {
    let login = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let text = crate::support::example_config().replacen(
        "# meera = \"Meera Iyer\"",
        &format!("{login} = \"Meera Iyer\""),
        1,
    );
    let home = Home::with_config(&text);
    ingest(&home, &post("x@example.org", "pw1@x", "one"));
    home.praxis()
        .env_remove("USER")
        .env_remove("LOGNAME")
        .args(["approve", "1"])
        .assert()
        .success();
    let out = home
        .praxis()
        .args(["log", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let log: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let actors: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["actor"].as_str())
        .collect();
    assert!(actors.contains(&"Meera Iyer"), "{actors:?}");
}
