//! Email commands end to end against the real mail stack (issue 15): a
//! command sent to the posting address is held, every membership change is
//! confirmed, one confirmation reply is one action, and the profile (name,
//! organisation, place) can be given by mail.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::moderation::{live_home, post_from, queue, wait_held};
use crate::support::{Daemon, Home, PrivateStack};

/// The members of `health` as `praxis members list --json` shows them.
fn member(home: &Home, email: &str) -> Value {
    let out = home
        .praxis()
        .args(["members", "list", "-c", "health", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .cloned()
        .unwrap_or(Value::Null)
}

/// The code in a confirmation mail's subject.
fn token_of(mail: &str) -> String {
    mail.lines()
        .find_map(|l| l.strip_prefix("Subject: [health] confirm "))
        .expect("a confirmation subject")
        .trim()
        .to_string()
}

/// A reply as a mail client writes it: a line of its own, an attribution,
/// then the whole original quoted.
fn client_reply(original: &str) -> String {
    let body = original.split_once("\n\n").map(|(_, b)| b).unwrap_or("");
    // `inbox` puts the decoded text after the last blank line of its header.
    let body = body.rsplit_once("\nSubject: ").map_or(body, |(_, b)| {
        b.split_once("\n\n").map(|(_, t)| t).unwrap_or(b)
    });
    let quoted: Vec<String> = body.lines().map(|l| format!("> {l}")).collect();
    format!(
        "Yes, that was me.\n\nOn Fri, 4 Dec 2026 at 10:00, list-request@example.test wrote:\n{}\n",
        quoted.join("\n")
    )
}

/// Sends `help` and waits for its answer: every message sent before it has
/// then been handled, so what is not in the mailbox will not come.
fn settle(s: &PrivateStack, rt: &tokio::runtime::Runtime, who: &str, tag: &str) {
    rt.block_on(post_from(
        s,
        &format!("{who}@example.test"),
        "list-request@example.test",
        &format!("help {tag}"),
        "help",
    ));
    rt.block_on(s.wait_inbox(who, &format!("Re: help {tag}")));
}

/// Item 4: a forged `set delivery none` changes nothing until its
/// confirmation is answered; item 10: name, organisation and place by mail,
/// confirmed the same way; bad values are named and every line is echoed.
#[test]
fn fault_membership_changes_wait_for_their_confirmation() {
    let s = PrivateStack::start();
    let home = live_home(&s);
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();

    // Someone forging bob's From asks to silence him.
    rt.block_on(post_from(
        &s,
        "bob@example.test",
        "list-request@example.test",
        "set delivery none",
        "",
    ));
    let ask = rt.block_on(s.wait_inbox("bob", "asked to change the membership"));
    assert!(ask.contains("set delivery none"), "{ask}");
    assert_eq!(member(&home, "bob@example.test")["delivery"], "each");
    // bob still gets posts meanwhile.
    rt.block_on(post_from(
        &s,
        "moderator@example.test",
        "list@example.test",
        "still here",
        "a post",
    ));
    let id = wait_held(&home, "still here");
    home.praxis()
        .args(["approve", &id.to_string()])
        .assert()
        .success();
    rt.block_on(s.wait_inbox("bob", "Subject: [health] still here"));
    assert_eq!(member(&home, "bob@example.test")["delivery"], "each");

    // bob answers the confirmation: now it changes, and he is told once.
    let token = token_of(&ask);
    rt.block_on(post_from(
        &s,
        "bob@example.test",
        &format!("list-confirm+{token}@example.test"),
        &format!("Re: [health] confirm {token}"),
        &client_reply(&ask),
    ));
    rt.block_on(s.wait_inbox("bob", "your delivery mode is now none"));
    assert_eq!(member(&home, "bob@example.test")["delivery"], "none");

    // The profile by mail, with a bad line among them: the bad value is
    // named, every line echoed, and the good ones wait for confirmation.
    rt.block_on(post_from(
        &s,
        "carol@example.test",
        "list-request@example.test",
        "my details",
        "set name Carol Fernandes\nset organization Public Health Foundation\nset place Bengaluru\nset delivery weekly\nset interests solar fridges, cold chain\n",
    ));
    let reply = rt.block_on(s.wait_inbox("carol", "Re: my details"));
    assert!(
        reply.contains("> set delivery weekly")
            && reply
                .contains("weekly is not a delivery mode; use each, digest, consolidated or none"),
        "{reply}"
    );
    assert!(reply.contains("> set name Carol Fernandes"), "{reply}");
    let ask = rt.block_on(s.wait_inbox("carol", "asked to change the membership"));
    assert!(
        ask.contains("set organisation Public Health Foundation"),
        "{ask}"
    );
    assert_eq!(member(&home, "carol@example.test")["name"], "");
    rt.block_on(post_from(
        &s,
        "carol@example.test",
        "list-request@example.test",
        &format!("confirm {}", token_of(&ask)),
        "",
    ));
    rt.block_on(s.wait_inbox("carol", "your place is now Bengaluru"));
    let carol = member(&home, "carol@example.test");
    assert_eq!(carol["name"], "Carol Fernandes");
    assert_eq!(carol["organisation"], "Public Health Foundation");
    assert_eq!(carol["place"], "Bengaluru");
    assert_eq!(carol["interests"], "solar fridges, cold chain");
    assert_eq!(carol["delivery"], "each", "the bad line changed nothing");
    drop(daemon);
}

/// Item 5: replying to the confirmation mail as a mail client does (Re:
/// subject with the code, to the confirm address, the whole mail quoted)
/// is one confirmation: one welcome, no "already used"; the profile given
/// with subscribe is applied (item 10) and the welcome lists the modes.
#[test]
fn fault_one_confirmation_reply_is_one_action() {
    let s = PrivateStack::start();
    let home = live_home(&s);
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();

    rt.block_on(post_from(
        &s,
        "erin@example.test",
        "list-request@example.test",
        "join",
        "subscribe name=\"Erin Das\" organisation=\"PHFI\" place=\"Delhi\"\n",
    ));
    let ask = rt.block_on(s.wait_inbox("erin", "Subject: [health] confirm "));
    let token = token_of(&ask);
    rt.block_on(post_from(
        &s,
        "erin@example.test",
        &format!("list-confirm+{token}@example.test"),
        &format!("Re: [health] confirm {token}"),
        &client_reply(&ask),
    ));
    let welcome = rt.block_on(s.wait_inbox("erin", "Welcome to Maternal Health"));
    assert!(
        welcome.contains("consolidated   only the Consolidated Replies"),
        "{welcome}"
    );
    settle(&s, &rt, "erin", "after-confirm");
    let all = rt.block_on(s.inbox("erin", ""));
    let subjects: Vec<&str> = all
        .iter()
        .filter_map(|m| m.lines().rfind(|l| l.starts_with("Subject: ")))
        .collect();
    // The confirmation request, one welcome, the answer to help: nothing else.
    assert_eq!(all.len(), 3, "{subjects:?}");
    assert_eq!(
        subjects.iter().filter(|s| s.contains("Welcome")).count(),
        1,
        "{subjects:?}"
    );
    assert!(
        all.iter().all(|m| !m.contains("already used")),
        "{subjects:?}"
    );
    let erin = member(&home, "erin@example.test");
    assert_eq!(erin["status"], "active");
    assert_eq!(erin["name"], "Erin Das");
    assert_eq!(erin["organisation"], "PHFI");
    assert_eq!(erin["place"], "Delhi");
    drop(daemon);
}

/// Item 1: a trusted member's `unsubscribe` to the posting address is held
/// as administrivia (the sender told where commands go), never distributed;
/// a post that merely mentions the word goes out; with
/// `administrivia = "request"` it runs as a command instead.
#[test]
fn fault_a_command_to_the_posting_address_is_not_distributed() {
    let s = PrivateStack::start();
    let home = live_home(&s);
    home.praxis()
        .args([
            "members",
            "set",
            "alice@example.test",
            "-c",
            "health",
            "--moderation",
            "accept",
        ])
        .assert()
        .success();
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();

    rt.block_on(post_from(
        &s,
        "alice@example.test",
        "list@example.test",
        "unsubscribe",
        "unsubscribe",
    ));
    let id = wait_held(&home, "unsubscribe");
    let held = queue(&home).into_iter().find(|h| h["id"] == id).unwrap();
    assert_eq!(held["reason"], "administrivia");
    let told = rt.block_on(s.wait_inbox("alice", "looks like a list command"));
    assert!(told.contains("list-request@example.test"), "{told}");
    // A post that merely mentions the word is a post.
    let mention = "Leaving the old vendor";
    rt.block_on(post_from(
        &s,
        "alice@example.test",
        "list@example.test",
        mention,
        "We had to unsubscribe from the old vendor's list; any alternatives?\n",
    ));
    rt.block_on(s.wait_inbox("bob", &format!("Subject: [health] {mention}")));
    assert!(
        rt.block_on(s.inbox("bob", "Subject: [health] unsubscribe"))
            .is_empty(),
        "the command was not distributed"
    );
    drop(daemon);

    // administrivia = "request": "Please unsubscribe me" asks for confirmation.
    let text = std::fs::read_to_string(home.config()).unwrap();
    let text = format!("{text}\n[community.policy]\nadministrivia = \"request\"\n");
    home.write_config(&text);
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    rt.block_on(post_from(
        &s,
        "carol@example.test",
        "list@example.test",
        "Please unsubscribe me",
        "Thanks",
    ));
    rt.block_on(s.wait_inbox("carol", "asked to unsubscribe carol@example.test"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        assert!(
            queue(&home)
                .iter()
                .all(|h| h["subject"] != "Please unsubscribe me"),
            "run as a command, not held"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        rt.block_on(s.inbox("bob", "Please unsubscribe me"))
            .is_empty()
    );
    assert_eq!(member(&home, "carol@example.test")["status"], "active");
    drop(daemon);
}

/// Acknowledgements of held posts (issue 15 friction): a nonmember whose
/// mail passed DMARC by our own Authentication-Results is told; one whose
/// From nothing verifies (no header, another server's word, a fail) is not.
#[test]
fn acknowledgements_reach_nonmembers_only_when_dmarc_passed() {
    let config = crate::support::example_config().replacen(
        "# dmarc_authserv_id = \"mx.example.org\"",
        "dmarc_authserv_id = \"mx.example.test\"",
        1,
    );
    assert!(config.contains("\ndmarc_authserv_id = \"mx.example.test\""));
    let home = Home::with_config(&config);
    let send = |from: &str, auth: &str, id: &str| {
        home.praxis()
            .args(["ingest", "-c", "health"])
            .write_stdin(format!(
                "{auth}From: {from}\nTo: list@example.test\nSubject: clinic hours {id}\nMessage-ID: <{id}@x>\n\nWhen do you open?\n"
            ))
            .assert()
            .success();
    };
    send(
        "asha@example.org",
        "Authentication-Results: mx.example.test; dkim=pass; dmarc=pass header.from=example.org\n",
        "pass",
    );
    send("ravi@example.org", "", "none");
    send(
        "mallory@example.org",
        "Authentication-Results: evil.example.net; dmarc=pass header.from=example.org\n",
        "theirs",
    );
    send(
        "eve@example.org",
        "Authentication-Results: mx.example.test; dmarc=fail header.from=example.org\n",
        "fail",
    );
    assert_eq!(queue(&home).len(), 4, "all held");
    let to = |who: &str| crate::moderation::notices_to(&home, who);
    assert_eq!(
        to("asha@example.org"),
        ["[health] Awaiting moderation: clinic hours pass"]
    );
    for who in ["ravi@example.org", "mallory@example.org", "eve@example.org"] {
        assert!(to(who).is_empty(), "{who}: {:?}", to(who));
    }
}
