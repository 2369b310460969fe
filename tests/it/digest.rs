//! Digests from the command line: preview prints the issue that would go
//! out; send --now records it once and queues it to digest members in their
//! format; nothing new means nothing sent.
//!
//! Long because the digest tests share one community fixture and its
//! members; splitting would copy it.

use predicates::prelude::*;
use serde_json::Value;

use crate::support::Home;

fn add_member(home: &Home, email: &str, name: &str, extra: &[&str]) {
    home.praxis()
        .args(["members", "add", email, "-c", "health", "--name", name])
        .args(extra)
        .assert()
        .success();
}

fn ingest(home: &Home, raw: &str) {
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(raw.to_string())
        .assert()
        .success();
}

/// Two accepted posters, a plain and a mime digest reader, an each reader;
/// three approved posts in two threads.
fn community_with_posts(home: &Home) {
    for (email, name) in [
        ("alice@example.org", "Alice Rao"),
        ("bob@example.org", "Bob Das"),
    ] {
        add_member(home, email, name, &["--moderation", "accept"]);
    }
    add_member(
        home,
        "dee@example.org",
        "Dee",
        &["--delivery", "digest", "--digest-format", "plain"],
    );
    add_member(
        home,
        "max@example.org",
        "Max",
        &["--delivery", "digest", "--digest-format", "mime"],
    );
    add_member(home, "eve@example.org", "Eve", &["--delivery", "each"]);
    ingest(
        home,
        "From: Alice Rao <alice@example.org>\nTo: list@example.test\nSubject: Boat clinics\nMessage-ID: <d1@example.org>\nDate: Mon, 2 Nov 2026 10:00:00 +0530\n\nWe run boat clinics.\n",
    );
    ingest(
        home,
        "From: Bob Das <bob@example.org>\nTo: list@example.test\nSubject: Re: Boat clinics\nIn-Reply-To: <d1@example.org>\nMessage-ID: <d2@example.org>\nDate: Tue, 3 Nov 2026 10:00:00 +0530\n\nSo do we.\n\nOn Mon, Alice Rao wrote:\n> We run boat clinics.\n",
    );
    ingest(
        home,
        "From: Bob Das <bob@example.org>\nTo: list@example.test\nSubject: ASHA <b>training</b>\nMessage-ID: <d3@example.org>\nDate: Wed, 4 Nov 2026 10:00:00 +0530\n\nNew modules are out.\n",
    );
}

#[test]
fn preview_prints_the_issue_in_each_format_without_sending() {
    let home = Home::new();
    community_with_posts(&home);
    let plain = home.stdout(&["digest", "preview", "-c", "health"]);
    assert!(plain.contains("Today's Topics:"), "{plain}");
    assert!(
        plain.contains("   1. Boat clinics (2 new posts)"),
        "{plain}"
    );
    assert!(plain.contains("        Alice Rao, Bob Das"), "{plain}");
    assert!(
        plain.contains("End of Maternal and Child Health Digest, Vol 1, Issue 1"),
        "{plain}"
    );
    assert!(
        !plain.contains("> We run boat clinics."),
        "quoted text folded"
    );
    let mime = home.stdout(&[
        "digest", "preview", "-c", "health", "--format", "mime", "--raw",
    ]);
    assert_eq!(
        mime.matches("Content-Type: message/rfc822").count(),
        3,
        "{mime}"
    );
    let html = home.stdout(&["digest", "preview", "-c", "health", "--format", "html"]);
    assert!(html.contains("ASHA &lt;b&gt;training&lt;/b&gt;"), "{html}");
    home.praxis()
        .args(["digest", "preview", "-c", "health", "--format", "pdf"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("pdf").and(predicate::str::contains("plain")));
    // Previews send nothing: the same issue is still next.
    let again = home.stdout(&["digest", "preview", "-c", "health"]);
    assert!(again.contains("Vol 1, Issue 1"));
}

/// A community's `templates/digest/` puts the texts around the messages in
/// its own words, in every format that has them; the RFC 1153 skeleton
/// stays (a line of dashes in the template is no separator), and `praxis
/// check` names an override that does not compile.
#[test]
fn a_community_writes_its_digest_texts_in_its_own_words() {
    let (home, dir) = crate::support::home_with_templates("digest");
    std::fs::write(
        dir.join("contents.txt.hbs"),
        "आज के विषय:\n------------------------------\n{{#each threads}}\n{{number}}. {{subject}} — {{count}}\n{{/each}}\n",
    )
    .unwrap();
    std::fs::write(dir.join("howto.txt.hbs"), "लिखें: {{address}}\n").unwrap();
    home.praxis().arg("check").assert().success();
    community_with_posts(&home);

    // The first text part of the previewed message, decoded.
    let text = |format: &str| {
        let raw = home.stdout(&["digest", "preview", "-c", "health", "--format", format]);
        let parsed = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        parsed
            .body_text(0)
            .unwrap_or_default()
            .replace("\r\n", "\n")
    };
    let plain = text("plain");
    assert!(
        plain.contains("आज के विषय:\n ------------------------------\n"),
        "{plain}"
    );
    assert!(plain.contains(" 1. Boat clinics — 2\n"), "{plain}");
    assert!(plain.contains("लिखें: list@example.test\n"), "{plain}");
    assert!(!plain.contains("Today's Topics:"), "{plain}");
    let separators = plain
        .lines()
        .filter(|l| *l == "------------------------------")
        .count();
    assert_eq!(
        separators,
        3 + 1,
        "one after each post, one before the end line"
    );
    assert!(plain.contains("\nEnd of Maternal and Child Health Digest, Vol 1, Issue 1\n"));

    let first = text("mime");
    assert!(
        first.contains("आज के विषय:") && first.contains("लिखें: list@example.test"),
        "{first}"
    );

    std::fs::write(dir.join("contents.txt.hbs"), "{{#each threads}}unclosed\n").unwrap();
    let err = home.stderr_of_failure(&["check"]);
    assert!(
        err.contains("community[health].templates: digest/contents.txt.hbs:"),
        "{err}"
    );
}

#[test]
fn send_now_queues_one_issue_per_format_once_and_nothing_new_sends_nothing() {
    let home = Home::new();
    community_with_posts(&home);
    home.praxis()
        .args(["digest", "send", "-c", "health"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--now"));
    let sent: Value =
        serde_json::from_str(&home.stdout(&["--json", "digest", "send", "-c", "health", "--now"]))
            .unwrap();
    assert_eq!(sent["sent"], true, "{sent}");
    assert_eq!(
        (sent["volume"].as_i64(), sent["number"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(sent["posts"], 3);
    assert_eq!(
        sent["recipients"], 2,
        "dee and max; not eve (each) nor the posters"
    );
    assert_eq!(sent["formats"], serde_json::json!(["mime", "plain"]));
    let outbox: Value = serde_json::from_str(&home.stdout(&["--json", "outbox"])).unwrap();
    let digests: Vec<&Value> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "digest")
        .collect();
    assert_eq!(digests.len(), 2, "{outbox}");
    assert!(
        digests
            .iter()
            .all(|d| d["subject"] == "Maternal and Child Health Digest, Vol 1, Issue 1")
    );

    // Nothing new: nothing sent, and the preview says so.
    let again: Value =
        serde_json::from_str(&home.stdout(&["--json", "digest", "send", "-c", "health", "--now"]))
            .unwrap();
    assert_eq!(again["sent"], false, "{again}");
    home.praxis()
        .args(["digest", "preview", "-c", "health"])
        .assert()
        .success()
        .stderr(predicate::str::contains("nothing new"));

    // A new post makes issue 2; --new-volume makes it volume 2, issue 1.
    ingest(
        &home,
        "From: Alice Rao <alice@example.org>\nTo: list@example.test\nSubject: Re: Boat clinics\nIn-Reply-To: <d2@example.org>\nMessage-ID: <d4@example.org>\nDate: Thu, 5 Nov 2026 10:00:00 +0530\n\nGood to hear.\n",
    );
    assert!(
        home.stdout(&["digest", "preview", "-c", "health"])
            .contains("Vol 1, Issue 2")
    );
    let v2: Value = serde_json::from_str(&home.stdout(&[
        "--json",
        "digest",
        "send",
        "-c",
        "health",
        "--now",
        "--new-volume",
    ]))
    .unwrap();
    assert_eq!(
        (
            v2["volume"].as_i64(),
            v2["number"].as_i64(),
            v2["posts"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
}

/// The scheduler's step, as `praxis serve` runs it every minute: a restart
/// at the due moment (the same step again, with a post arrived meanwhile)
/// does not send the moment's issue twice; the next moment sends the rest.
#[test]
fn a_scheduled_issue_is_claimed_once_per_moment_even_across_restarts() {
    use praxis::digest::issue::{Sent, due_moment, sweep};
    let home = Home::new();
    community_with_posts(&home);
    let config = praxis::config::Config::load(&home.config()).unwrap();
    let cfg = &*crate::support::resolved(&config, "health");
    // Two days on, a daily schedule moment has passed after every post.
    let later = chrono::Utc::now() + chrono::Duration::days(2);
    let due = due_moment(cfg, None, later)
        .unwrap()
        .expect("a daily moment has passed");
    assert!(due <= later.timestamp() && due > later.timestamp() - 86_400);

    let mut store = praxis::store::Store::open_database(&config.database().unwrap()).unwrap();
    let first = sweep(&mut store, cfg, later).unwrap();
    assert!(
        matches!(&first, Some(Sent::Queued { recipients: 2, selection, .. }) if selection.number == 1),
        "{first:?}"
    );
    drop(store);

    // A post arrives; the daemon restarts at the same moment.
    ingest(
        &home,
        "From: Alice Rao <alice@example.org>\nTo: list@example.test\nSubject: Re: Boat clinics\nIn-Reply-To: <d2@example.org>\nMessage-ID: <d5@example.org>\nDate: Thu, 5 Nov 2026 10:00:00 +0530\n\nOne more thing.\n",
    );
    let mut store = praxis::store::Store::open_database(&config.database().unwrap()).unwrap();
    let again = sweep(&mut store, cfg, later).unwrap();
    assert!(again.is_none(), "the moment was claimed: {again:?}");
    let outbox: Value = serde_json::from_str(&home.stdout(&["--json", "outbox"])).unwrap();
    let digests = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "digest")
        .count();
    assert_eq!(digests, 2, "one message per format, once: {outbox}");

    // The next day's moment carries the new post as issue 2.
    let next = sweep(&mut store, cfg, later + chrono::Duration::days(1)).unwrap();
    assert!(
        matches!(&next, Some(Sent::Queued { selection, .. }) if selection.number == 2 && selection.posts().count() == 1),
        "{next:?}"
    );
    // Nothing accrued by a moment, nothing sent at it.
    let quiet = sweep(&mut store, cfg, later + chrono::Duration::days(2)).unwrap();
    assert!(quiet.is_none(), "{quiet:?}");
}

/// Past `max_posts` accrued posts an issue goes out early, between moments.
#[test]
fn an_issue_goes_out_early_past_max_posts() {
    use praxis::digest::issue::{Sent, sweep};
    let home = Home::new();
    let text = std::fs::read_to_string(home.config()).unwrap().replacen(
        "max_posts = 50",
        "max_posts = 2",
        1,
    );
    home.write_config(&text);
    community_with_posts(&home);
    let config = praxis::config::Config::load(&home.config()).unwrap();
    let cfg = &*crate::support::resolved(&config, "health");
    assert_eq!(
        cfg.config.digest.max_posts, 2,
        "the test config sets max_posts = 2"
    );
    let mut store = praxis::store::Store::open_database(&config.database().unwrap()).unwrap();
    // Now: posts were approved after the last schedule moment, so only the
    // threshold can send.
    let sent = sweep(&mut store, cfg, chrono::Utc::now()).unwrap();
    assert!(
        matches!(&sent, Some(Sent::Queued { selection, .. }) if selection.posts().count() == 3),
        "{sent:?}"
    );
    assert!(
        sweep(&mut store, cfg, chrono::Utc::now())
            .unwrap()
            .is_none()
    );
}

/// A backlog larger than an issue (the daemon was down for weeks) goes out
/// as several full issues, one per sweep, oldest posts first: never one
/// issue read whole into memory.
#[test]
fn a_backlog_goes_out_as_several_issues() {
    use praxis::digest::issue::{Sent, next, sweep};
    let home = Home::new();
    let text = std::fs::read_to_string(home.config()).unwrap().replacen(
        "max_posts = 50",
        "max_posts = 1",
        1,
    );
    home.write_config(&text);
    community_with_posts(&home);
    let config = praxis::config::Config::load(&home.config()).unwrap();
    let cfg = &*crate::support::resolved(&config, "health");
    let mut store = praxis::store::Store::open_database(&config.database().unwrap()).unwrap();
    let now = chrono::Utc::now();
    let preview = next(&store, cfg, now, false).unwrap().unwrap();
    assert!(preview.full);
    assert_eq!(
        preview.posts().count(),
        2,
        "max_posts, and the post that passes it"
    );
    let count = |sent: &Option<Sent>| match sent {
        Some(Sent::Queued { selection, .. }) => selection.posts().count(),
        other => panic!("{other:?}"),
    };
    assert_eq!(count(&sweep(&mut store, cfg, now).unwrap()), 2);
    // The third post is under the threshold on its own: it waits for the schedule.
    let rest = next(&store, cfg, now, false).unwrap().unwrap();
    assert!(!rest.full);
    assert_eq!(rest.posts().count(), 1);
    assert!(sweep(&mut store, cfg, now).unwrap().is_none());
}

/// Past `max_kb` of accrued posts an issue goes out early too; 0 is refused.
#[test]
fn an_issue_goes_out_early_past_max_kb() {
    use praxis::digest::issue::{Sent, sweep};
    let home = Home::new();
    let text = std::fs::read_to_string(home.config()).unwrap();
    std::fs::write(
        home.config(),
        text.replacen("max_posts = 50", "max_posts = 50\nmax_kb = 0", 1),
    )
    .unwrap();
    home.praxis()
        .arg("check")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("digest.max_kb"));
    std::fs::write(
        home.config(),
        text.replacen("max_posts = 50", "max_posts = 50\nmax_kb = 2", 1),
    )
    .unwrap();
    community_with_posts(&home);
    let config = praxis::config::Config::load(&home.config()).unwrap();
    let cfg = &*crate::support::resolved(&config, "health");
    let mut store = praxis::store::Store::open_database(&config.database().unwrap()).unwrap();
    assert!(
        sweep(&mut store, cfg, chrono::Utc::now())
            .unwrap()
            .is_none(),
        "under 2 KB"
    );
    ingest(
        &home,
        &format!(
            "From: Alice Rao <alice@example.org>\nTo: list@example.test\nSubject: Long report\nMessage-ID: <long@example.org>\nDate: Thu, 5 Nov 2026 10:00:00 +0530\n\n{}\n",
            "Field notes from the flood districts. ".repeat(60)
        ),
    );
    let sent = sweep(&mut store, cfg, chrono::Utc::now()).unwrap();
    assert!(
        matches!(&sent, Some(Sent::Queued { selection, .. }) if selection.posts().count() == 4),
        "{sent:?}"
    );
}

mod e2e {
    //! The acceptance test against a private mail stack: five approved posts
    //! in two threads and one published Consolidated Reply; `digest send
    //! --now` puts one digest in each digest member's IMAP inbox in their
    //! format, and none in anyone else's.

    use std::time::{Duration, Instant};

    use super::*;
    use crate::support::{Daemon, PrivateStack, Stack};

    fn live_home(s: &PrivateStack) -> Home {
        let home = Home::with_config(&s.live_config(false));
        for (who, delivery, format, role) in [
            ("alice", "each", "mime", "member"),
            ("bob", "each", "mime", "member"),
            ("dave", "digest", "plain", "member"),
            ("erin", "digest", "mime", "member"),
            ("carol", "digest", "html", "member"),
            ("moderator", "none", "mime", "moderator"),
        ] {
            home.praxis()
                .args([
                    "members",
                    "add",
                    &format!("{who}@example.test"),
                    "-c",
                    "health",
                ])
                .args(["--name", who])
                .args(["--delivery", delivery, "--digest-format", format])
                .args(["--role", role, "--moderation", "accept"])
                .assert()
                .success();
        }
        home
    }

    /// Raw messages (CRLF → LF) in `user`'s INBOX containing `needle`.
    async fn inbox(s: &PrivateStack, user: &str, needle: &str) -> Vec<String> {
        let (host, port) = Stack::split(&s.imap);
        let cfg = praxis::config::ImapConfig {
            host,
            port,
            tls: praxis::config::Tls::None,
            username: format!("{user}@example.test"),
            password_env: None,
            password_file: None,
            folder: "INBOX".into(),
            ..Default::default()
        };
        let mut c = praxis::ingest::imap::ImapClient::connect(&cfg, "secret")
            .await
            .unwrap();
        c.select("INBOX").await.unwrap();
        let all = c.fetch_after(0, 100_000).await.unwrap();
        c.logout().await.ok();
        all.into_iter()
            .map(|f| String::from_utf8_lossy(&f.raw).replace("\r\n", "\n"))
            .filter(|t| t.contains(needle))
            .collect()
    }

    /// Waits for `needle` in `user`'s INBOX; on timeout, fails with the
    /// daemon's log. Generous like `PrivateStack::wait_inbox`: on a shared
    /// 2-core machine, mail through Postfix and Dovecot once took a minute.
    async fn wait_inbox(
        s: &PrivateStack,
        daemon: &Daemon,
        user: &str,
        needle: &str,
    ) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let found = inbox(s, user, needle).await;
            if !found.is_empty() {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{needle} never reached {user}; daemon log:\n{}",
                daemon.log_text()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    #[test]
    fn digest_members_get_one_digest_each_in_their_format() {
        let s = PrivateStack::start();
        let home = live_home(&s);
        let daemon = Daemon::start(&home);
        let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap();
        let q = format!("Mobile clinics in flood areas {tag}?");
        let d = format!("ASHA training modules {tag}");
        let post = |from: &str, subject: &str, id: &str, parent: Option<&str>, body: &str| {
            let refs = parent
                .map(|p| format!("In-Reply-To: <{p}>\nReferences: <{p}>\n"))
                .unwrap_or_default();
            ingest(
                &home,
                &format!(
                    "From: {from}@example.test\nTo: list@example.test\nSubject: {subject}\nMessage-ID: <{id}-{tag}@example.test>\n{refs}Date: Mon, 23 Nov 2026 10:00:00 +0530\n\n{body}\n"
                ),
            );
        };
        let qid = format!("q-{tag}@example.test");
        post(
            "alice",
            &q,
            "q",
            None,
            "Has anyone run mobile clinics in flood areas? What worked?",
        );
        post(
            "bob",
            &format!("Re: {q}"),
            "r1",
            Some(&qid),
            "Boat clinics on a fixed timetable.",
        );
        post(
            "alice",
            &format!("Re: {q}"),
            "r2",
            Some(&qid),
            "Thanks, and radios?",
        );
        let did = format!("d-{tag}@example.test");
        post(
            "bob",
            &d,
            "d",
            None,
            "The new modules are out <script>alert(1)</script>.",
        );
        post("alice", &format!("Re: {d}"), "d2", Some(&did), "Good news.");

        let query = home.query_id(&tag.to_string());
        let file = home.path().join("draft.md");
        std::fs::write(&file, "Boats and radios.\n").unwrap();
        home.stdout(&["consolidate", &query, "--from", file.to_str().unwrap()]);
        home.stdout(&["publish", &query]);

        let sent: Value = serde_json::from_str(
            &home.stdout(&["--json", "digest", "send", "-c", "health", "--now"]),
        )
        .unwrap();
        assert_eq!(sent["posts"], 5, "{sent}");
        assert_eq!(sent["recipients"], 3, "dave, erin and carol: {sent}");

        let rt = tokio::runtime::Runtime::new().unwrap();
        let subject = "Subject: Maternal Health Digest, Vol 1, Issue 1";
        let plain = rt.block_on(wait_inbox(&s, &daemon, "dave", subject));
        let mime = rt.block_on(wait_inbox(&s, &daemon, "erin", subject));
        let html = rt.block_on(wait_inbox(&s, &daemon, "carol", subject));
        assert_eq!((plain.len(), mime.len(), html.len()), (1, 1, 1));
        let (plain, mime, html) = (&plain[0], &mime[0], &html[0]);

        let decoded = |raw: &str, html: bool| {
            let m = mail_parser::MessageParser::default()
                .parse(raw.as_bytes())
                .unwrap();
            let body = if html { m.body_html(0) } else { m.body_text(0) };
            body.unwrap_or_default().into_owned()
        };
        assert!(plain.contains("Content-Type: text/plain"), "{plain}");
        let text = decoded(plain, false);
        assert!(
            text.contains("Consolidated Replies since the last issue:"),
            "{text}"
        );
        assert!(text.contains("Today's Topics:"), "{text}");
        assert!(
            text.contains("(3 new posts)") && text.contains("(2 new posts)"),
            "{text}"
        );
        assert!(
            text.contains("End of Maternal Health Digest, Vol 1, Issue 1"),
            "{text}"
        );
        assert!(
            text.contains("dave@example.test"),
            "personal footer: {text}"
        );

        assert!(mime.contains("multipart/digest"), "{mime}");
        // Five posts and the Consolidated Reply, in full.
        assert_eq!(
            mime.matches("Content-Type: message/rfc822").count(),
            6,
            "{mime}"
        );
        assert!(
            mime.contains(&format!("Message-ID: <d2-{tag}@example.test>")),
            "{mime}"
        );

        assert!(html.contains("multipart/alternative"), "{html}");
        let page = decoded(html, true);
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(!page.contains("<script>"), "member HTML escaped: {page}");

        // Nobody else gets a digest.
        std::thread::sleep(Duration::from_secs(2));
        for who in ["alice", "bob", "moderator"] {
            assert!(
                rt.block_on(inbox(&s, who, "Digest, Vol")).is_empty(),
                "{who} got a digest"
            );
        }
        drop(daemon);
    }

    /// Moves every post's approval to `at`, as if it had accrued before the
    /// schedule moment (the daemon's clock cannot be set).
    fn approved_at(home: &Home, at: i64) {
        home.sql(&format!("UPDATE posts SET approved_at = {at}"));
    }

    #[test]
    fn a_restart_at_the_due_moment_sends_the_issue_once() {
        let s = PrivateStack::start();
        let home = live_home(&s);
        let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap();
        let config = praxis::config::Config::load(&home.config()).unwrap();
        let cfg = &*crate::support::resolved(&config, "health");
        let due = praxis::digest::issue::due_moment(cfg, None, chrono::Utc::now())
            .unwrap()
            .expect("a daily moment has passed within the last year");
        let post = |id: &str| {
            ingest(
                &home,
                &format!(
                    "From: alice@example.test\nTo: list@example.test\nSubject: Boats {tag}\nMessage-ID: <{id}-{tag}@example.test>\nDate: Mon, 23 Nov 2026 10:00:00 +0530\n\nPost {id}.\n"
                ),
            )
        };
        post("a");
        post("b");
        approved_at(&home, due - 3600);

        let daemon = Daemon::start(&home);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let subject = "Subject: Maternal Health Digest, Vol 1, Issue 1";
        rt.block_on(wait_inbox(&s, &daemon, "dave", subject));
        daemon.kill9();

        // A post that had accrued by the same moment, then a restart: the
        // moment's issue was claimed, so nothing more goes out for it.
        post("c");
        approved_at(&home, due - 60);
        let daemon = Daemon::start(&home);
        // serve sweeps at start and every minute after.
        std::thread::sleep(Duration::from_secs(5));
        let digests = rt.block_on(inbox(&s, "dave", "Digest, Vol"));
        assert_eq!(
            digests.len(),
            1,
            "one issue for the moment: {digests:?}\n{}",
            daemon.log_text()
        );
        let outbox: Value = serde_json::from_str(&home.stdout(&["--json", "outbox"])).unwrap();
        let queued = outbox
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["kind"] == "digest")
            .count();
        assert_eq!(
            queued, 3,
            "one message per format (plain, mime, html), once: {outbox}"
        );
        drop(daemon);
    }

    /// A reply from a real mail client to a digest names the digest's own
    /// Message-ID in In-Reply-To and References: it is placed by the text it
    /// quotes, else by subject among the issue's threads, else flagged for
    /// the moderator, never a silent new thread (issue 15, item 2).
    #[test]
    fn replies_to_a_digest_from_a_mail_client_are_placed_or_flagged() {
        use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

        let s = PrivateStack::start();
        let home = Home::with_config(&s.live_config(true));
        for (who, delivery) in [("alice", "each"), ("dave", "digest")] {
            home.praxis()
                .args(["members", "add", &format!("{who}@example.test")])
                .args(["-c", "health", "--name", who, "--delivery", delivery])
                .args(["--moderation", "accept"])
                .assert()
                .success();
        }
        let daemon = Daemon::start(&home);
        daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
        let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap();
        let clinics = format!("Mobile clinics {tag}");
        let meals = format!("School meals {tag}");
        for (id, subject, body) in [
            (
                "c",
                &clinics,
                "We ran mobile clinics on boats in Bihar during the 2019 floods.",
            ),
            (
                "m",
                &meals,
                "Midday meals raised attendance in Odisha schools last year.",
            ),
        ] {
            ingest(
                &home,
                &format!(
                    "From: alice@example.test\nTo: list@example.test\nSubject: {subject}\nMessage-ID: <{id}-{tag}@example.test>\n\n{body}\n"
                ),
            );
        }
        home.stdout(&["digest", "send", "-c", "health", "--now"]);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let digest = rt.block_on(wait_inbox(&s, &daemon, "dave", "Digest, Vol 1, Issue 1"));
        assert_eq!(digest.len(), 1);
        let digest_id = digest[0]
            .lines()
            .take_while(|l| !l.is_empty())
            .find_map(|l| {
                l.strip_prefix("Message-ID: ")
                    .or_else(|| l.strip_prefix("Message-Id: "))
            })
            .unwrap_or_else(|| panic!("the digest has a Message-ID: {}", digest[0]))
            .trim()
            .to_string();

        // dave answers from his mailbox as a mail client does.
        let reply = |subject: &str, body: &str| {
            Message::builder()
                .from("dave <dave@example.test>".parse().unwrap())
                .to("list@example.test".parse().unwrap())
                .subject(subject)
                .in_reply_to(digest_id.clone())
                .references(digest_id.clone())
                .body(body.to_string())
                .unwrap()
        };
        let title = "Re: Maternal Health Digest, Vol 1, Issue 1";
        let replies = [
            reply(
                title,
                &format!(
                    "Boats worked for us too {tag}.\n\n> We ran mobile clinics on boats in Bihar during the 2019 floods.\n"
                ),
            ),
            reply(
                &format!("Re: {meals}"),
                &format!("Eggs helped too {tag}.\n"),
            ),
            reply(title, &format!("Thanks for the digest {tag}!\n")),
        ];
        rt.block_on(async {
            let (host, port) = Stack::split(&s.smtp);
            let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                .port(port)
                .build();
            for m in replies {
                smtp.send(m).await.unwrap();
            }
        });

        let threads = |extra: &[&str]| -> Vec<Value> {
            let mut args = vec!["--json", "threads", "-c", "health", "--limit", "0"];
            args.extend_from_slice(extra);
            serde_json::from_str::<Value>(&home.stdout(&args))
                .unwrap()
                .as_array()
                .unwrap()
                .clone()
        };
        let posts_in = |all: &[Value], subject: &str| {
            all.iter()
                .find(|t| t["subject"] == subject)
                .map(|t| t["posts"].as_i64().unwrap())
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let all = threads(&[]);
            if posts_in(&all, &clinics) == Some(2)
                && posts_in(&all, &meals) == Some(2)
                && all.len() == 3
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the replies were not placed: {all:#?}\ndaemon log:\n{}",
                daemon.log_text()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        let flagged = threads(&["--flagged"]);
        assert_eq!(flagged.len(), 1, "{flagged:#?}");
        assert_eq!(flagged[0]["subject"], title);
        assert_eq!(
            flagged[0]["flag"],
            "digest reply: the thread it answers could not be found"
        );
        let table = home.stdout(&["threads", "-c", "health", "--flagged"]);
        assert!(
            table.contains(title) && table.contains("could not be found"),
            "{table}"
        );
        drop(daemon);
    }
}
