//! What members' mail looks like on arrival (issue 15): subjects plain
//! ASCII and folded rather than encoded words, read back raw over IMAP from
//! a private mail stack after `praxis ingest` of real message bytes.

use crate::support::{Daemon, Home, PrivateStack, Stack};

/// A home on `s` with an each-post, a digest and a consolidated reader and
/// a moderator; everyone posts without moderation.
fn live_home(s: &PrivateStack) -> Home {
    let home = Home::with_config(&s.live_config(false));
    for (who, delivery) in [
        ("alice", "each"),
        ("bob", "each"),
        ("dave", "digest"),
        ("carol", "consolidated"),
        ("moderator", "none"),
    ] {
        let role = if who == "moderator" {
            "moderator"
        } else {
            "member"
        };
        home.praxis()
            .args(["members", "add", &format!("{who}@example.test"), "-c"])
            .args(["health", "--name", who, "--delivery", delivery])
            .args(["--digest-format", "plain", "--role", role])
            .args(["--moderation", "accept"])
            .assert()
            .success();
    }
    home
}

fn ingest(home: &Home, raw: &str) {
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(raw.to_string())
        .assert()
        .success();
}

/// Raw messages in `user`'s INBOX containing `needle` (CRLF kept), waiting
/// up to two minutes (a shared 2-core machine is slow); fails with the log.
async fn wait_raw(s: &PrivateStack, daemon: &Daemon, user: &str, needle: &str) -> Vec<String> {
    let (host, port) = Stack::split(&s.imap);
    let cfg = praxis::config::ImapConfig {
        host,
        port,
        tls: praxis::config::Tls::None,
        username: format!("{user}@example.test"),
        folder: "INBOX".into(),
        ..Default::default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let mut c = praxis::ingest::imap::ImapClient::connect(&cfg, "secret")
            .await
            .unwrap();
        c.select("INBOX").await.unwrap();
        let found: Vec<String> = c
            .fetch_after(0, 100_000)
            .await
            .unwrap()
            .into_iter()
            .map(|f| String::from_utf8_lossy(&f.raw).into_owned())
            .filter(|t| t.replace("\r\n ", " ").contains(needle))
            .collect();
        c.logout().await.ok();
        if !found.is_empty() {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{needle} never reached {user}; daemon log:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// The Subject field of a raw message as written: its lines, CRLF removed.
fn subject_lines(raw: &str) -> Vec<String> {
    let head = raw.split("\r\n\r\n").next().unwrap();
    let mut lines = Vec::new();
    let mut inside = false;
    for l in head.split("\r\n") {
        if l.to_ascii_lowercase().starts_with("subject:") {
            assert!(!inside && lines.is_empty(), "one Subject field: {head}");
            inside = true;
            lines.push(l.to_string());
        } else if inside && (l.starts_with(' ') || l.starts_with('\t')) {
            lines.push(l.to_string());
        } else {
            inside = false;
        }
    }
    assert!(!lines.is_empty(), "a Subject field: {head}");
    lines
}

/// Asserts that `raw`'s Subject is `want` in plain ASCII, folded within 78
/// characters a line, with no encoded word.
fn assert_plain_folded(raw: &str, want: &str) {
    let lines = subject_lines(raw);
    for l in &lines {
        assert!(!l.contains("=?"), "no encoded word: {lines:#?}");
        assert!(l.len() <= 78, "a line within 78: {lines:#?}");
    }
    assert_eq!(lines.concat(), format!("Subject: {want}"), "{lines:#?}");
}

#[test]
fn plain_subjects_arrive_unencoded_and_folded_non_ascii_ones_encoded() {
    let s = PrivateStack::start();
    let home = live_home(&s);
    let daemon = Daemon::start(&home);
    let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    // Over 78 characters with the prefix: mail-builder alone sent it as
    // =?us-ascii?Q?...?=.
    let long =
        format!("Mobile clinics in flood areas of the northern hill districts, what worked {tag}?");
    ingest(
        &home,
        &format!(
            "From: alice@example.test\r\nTo: list@example.test\r\nSubject: {long}\r\n\
             Message-ID: <q-{tag}@example.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0530\r\n\r\n\
             Has anyone run mobile clinics in flood areas?\r\n"
        ),
    );
    let accented = format!("Réunion des équipes {tag}");
    ingest(
        &home,
        &format!(
            "From: alice@example.test\r\nTo: list@example.test\r\nSubject: =?utf-8?Q?R=C3=A9union_des_=C3=A9quipes_{tag}?=\r\n\
             Message-ID: <r-{tag}@example.test>\r\nDate: Mon, 23 Nov 2026 10:05:00 +0530\r\n\r\n\
             On se voit lundi.\r\n"
        ),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();

    // The each-post copy: long plain subject folded, not encoded.
    let copy = rt.block_on(wait_raw(
        &s,
        &daemon,
        "bob",
        &format!("hill districts, what worked {tag}?"),
    ));
    assert_eq!(copy.len(), 1);
    assert_plain_folded(&copy[0], &format!("[health] {long}"));

    // The accented subject is still encoded words, and decodes back.
    let copy = rt.block_on(wait_raw(&s, &daemon, "bob", "On se voit lundi"));
    let lines = subject_lines(&copy[0]);
    assert!(lines[0].starts_with("Subject: =?utf-8?"), "{lines:#?}");
    let m = mail_parser::MessageParser::default()
        .parse(copy[0].as_bytes())
        .unwrap();
    assert_eq!(m.subject(), Some(format!("[health] {accented}").as_str()));

    // The Consolidated Reply: a long plain subject, folded.
    let query = home.query_id(&format!("what worked {tag}"));
    let file = home.path().join("draft.md");
    std::fs::write(&file, "Boats and radios.\n").unwrap();
    home.stdout(&["consolidate", &query, "--from", file.to_str().unwrap()]);
    home.stdout(&["publish", &query]);
    let reply = rt.block_on(wait_raw(&s, &daemon, "carol", "Boats and radios"));
    assert_plain_folded(&reply[0], &format!("[health] Consolidated Reply: {long}"));

    // The digest: its subject plain too.
    home.stdout(&["digest", "send", "-c", "health", "--now"]);
    let digest = rt.block_on(wait_raw(&s, &daemon, "dave", "Digest, Vol 1, Issue 1"));
    assert_plain_folded(&digest[0], "Maternal Health Digest, Vol 1, Issue 1");
}

#[test]
fn member_html_reaches_each_post_members_sanitised_as_text_or_passed_per_policy() {
    let s = PrivateStack::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    for policy in ["sanitise", "text", "pass"] {
        let home = live_home(&s);
        let config = std::fs::read_to_string(home.config()).unwrap()
            + &format!("\n[community.policy]\nhtml = \"{policy}\"\n");
        home.write_config(&config);
        let daemon = Daemon::start(&home);
        let needle = format!("Html {policy} {tag}");
        ingest(
            &home,
            &format!(
                "From: alice@example.test\r\nTo: list@example.test\r\nSubject: {needle}\r\n\
                 Message-ID: <h-{policy}-{tag}@example.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0530\r\n\
                 MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
                 <html><body><p onclick=\"steal()\">Boat <b>clinics</b> in floods</p>\
                 <script>alert(1)</script></body></html>\r\n"
            ),
        );
        let copy = rt.block_on(wait_raw(&s, &daemon, "bob", &needle));
        assert_eq!(copy.len(), 1, "{policy}");
        let raw = &copy[0];
        let m = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        match policy {
            "sanitise" => {
                let html = m.body_html(0).unwrap();
                assert!(html.contains("Boat <b>clinics</b> in floods"), "{raw}");
                assert!(
                    !raw.contains("<script") && !raw.contains("onclick"),
                    "{raw}"
                );
            }
            "text" => {
                assert!(!raw.contains("text/html"), "no HTML part left: {raw}");
                assert!(!raw.contains("<script") && !raw.contains("<p"), "{raw}");
                let text = m.body_text(0).unwrap();
                assert!(text.contains("Boat clinics in floods"), "{raw}");
            }
            _ => {
                assert!(raw.contains("<script>alert(1)</script>"), "{raw}");
                assert!(raw.contains("onclick=\"steal()\""), "{raw}");
            }
        }
        drop(daemon);
    }
}

/// A post by `from` carrying `file` as `name` (base64, real MIME bytes).
fn post_with_file(from: &str, subject: &str, id: &str, name: &str, file: &[u8]) -> String {
    let b64 = mail_builder::encoders::base64::base64_encode(file).unwrap();
    let lines: Vec<&str> = b64
        .as_slice()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: {from}\r\nTo: list@example.test\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0530\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nThe guide is attached.\r\n--b\r\n\
         Content-Type: application/pdf; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        lines.join("\r\n")
    )
}

/// A made-up PDF of `n` bytes (bytes past ASCII included).
fn pdf(n: usize) -> Vec<u8> {
    let mut b = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    b.extend((0..n.saturating_sub(b.len())).map(|i| (i * 7 % 251) as u8));
    b
}

#[test]
fn attachments_are_kept_once_by_sha256_within_the_limit() {
    let home = Home::with_config(
        &(crate::support::health_config("127.0.0.1:1", "", "1s", "")
            + "[community.policy]\nkeep_attachments_kb = 8\n"),
    );
    home.praxis()
        .args(["members", "add", "alice@example.test", "-c", "health"])
        .args(["--moderation", "accept"])
        .assert()
        .success();
    let guide = pdf(6000);
    let big = pdf(10 * 1024);
    ingest(
        &home,
        &post_with_file(
            "alice@example.test",
            "Cold chain guide",
            "a1@example.test",
            "cold chain guide.pdf",
            &guide,
        ),
    );
    ingest(
        &home,
        &post_with_file(
            "alice@example.test",
            "Re: Cold chain guide",
            "a2@example.test",
            "guide (copy).pdf",
            &guide,
        ),
    );
    ingest(
        &home,
        &post_with_file(
            "alice@example.test",
            "Big scan",
            "a3@example.test",
            "scan.pdf",
            &big,
        ),
    );

    let store = home.store();
    let ids: Vec<praxis::model::PostId> = (1..=3).map(praxis::model::PostId).collect();
    let listed: Vec<_> = ids
        .iter()
        .map(|p| store.post_attachments(*p).unwrap())
        .collect();
    let sha = praxis::mail::parse::sha256_hex(&guide);
    assert_eq!(listed[0].len(), 1, "{listed:?}");
    assert_eq!(
        (
            listed[0][0].name.as_str(),
            listed[0][0].sha256.as_str(),
            listed[0][0].size,
            listed[0][0].kept
        ),
        (
            "cold chain guide.pdf",
            sha.as_str(),
            guide.len() as u64,
            true
        )
    );
    // The same file under another name in another post: the same sha256.
    assert_eq!(listed[1][0].name, "guide (copy).pdf");
    assert_eq!(listed[1][0].sha256, sha);
    // Over the 8 KB limit: listed, not kept.
    assert_eq!(listed[2][0].name, "scan.pdf");
    assert!(!listed[2][0].kept);
    assert!(
        store
            .attachment_file(&listed[2][0].sha256)
            .unwrap()
            .is_none()
    );
    // Stored once, and its bytes are the file's.
    assert_eq!(store.attachment_files().unwrap(), 1);
    let (ct, bytes) = store.attachment_file(&sha).unwrap().unwrap();
    assert_eq!(ct, "application/pdf");
    assert_eq!(praxis::mail::parse::sha256_hex(&bytes), sha);
    assert_eq!(bytes, guide);
}

#[test]
fn a_kept_attachment_is_listed_with_its_link_in_digests_and_the_consolidated_reply_even_when_stripped()
 {
    let s = PrivateStack::start();
    let home = live_home(&s);
    let secret = home.path().join("link.key");
    std::fs::write(&secret, "test link secret\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let config = std::fs::read_to_string(home.config()).unwrap().replacen(
        "[delivery]\n",
        &format!("[delivery]\nlink_secret_file = \"{}\"\n", secret.display()),
        1,
    ) + "base_url = \"https://lists.example.test\"\n\
           [community.policy]\nattachments = \"strip\"\nkeep_attachments_kb = 8\n";
    home.write_config(&config);
    let daemon = Daemon::start(&home);
    let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    let q = format!("Cold chain in the hills {tag}?");
    let qid = format!("q-{tag}@example.test");
    ingest(
        &home,
        &format!(
            "From: alice@example.test\r\nTo: list@example.test\r\nSubject: {q}\r\n\
             Message-ID: <{qid}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0530\r\n\r\n\
             How do you keep vaccines cold on the way up?\r\n"
        ),
    );
    let guide = pdf(6000);
    let big = pdf(10 * 1024);
    let reply = |from: &str, id: &str, name: &str, file: &[u8]| {
        post_with_file(
            &format!("{from}@example.test"),
            &format!("Re: {q}"),
            id,
            name,
            file,
        )
        .replacen(
            "MIME-Version",
            &format!("In-Reply-To: <{qid}>\r\nReferences: <{qid}>\r\nMIME-Version"),
            1,
        )
    };
    ingest(
        &home,
        &reply(
            "bob",
            &format!("r1-{tag}@example.test"),
            "cold chain guide.pdf",
            &guide,
        ),
    );
    ingest(
        &home,
        &reply("alice", &format!("r2-{tag}@example.test"), "scan.pdf", &big),
    );
    // The same guide again, under another name: stored once.
    ingest(
        &home,
        &reply(
            "bob",
            &format!("r3-{tag}@example.test"),
            "guide again.pdf",
            &guide,
        ),
    );

    let store = home.store();
    assert_eq!(
        store.attachment_files().unwrap(),
        1,
        "the guide once; the scan is over the limit"
    );
    let sha = praxis::mail::parse::sha256_hex(&guide);
    let (_, bytes) = store.attachment_file(&sha).unwrap().unwrap();
    assert_eq!(
        praxis::mail::parse::sha256_hex(&bytes),
        sha,
        "the link's sha256 is the bytes'"
    );
    let link = format!("https://lists.example.test/c/health/a/{sha}/cold%20chain%20guide.pdf");
    let listed = format!("cold chain guide.pdf (6 KB): {link}");
    let not_kept = "scan.pdf (10 KB): not kept (2 KB over the limit)";

    let rt = tokio::runtime::Runtime::new().unwrap();
    // The each-post copy is stripped of the file (strip), its text kept.
    let copy = rt.block_on(wait_raw(
        &s,
        &daemon,
        "alice",
        &format!("Message-ID: <r1-{tag}"),
    ));
    assert_eq!(copy.len(), 1);
    assert!(copy[0].contains("The guide is attached."), "{}", copy[0]);
    assert!(
        !copy[0].contains("application/pdf") && !copy[0].contains("JVBERi0"),
        "stripped: {}",
        copy[0]
    );

    // The generated draft and the published Consolidated Reply list it.
    let query = home.query_id(&q);
    let draft = home.stdout(&["consolidate", &query, "--print"]);
    assert!(draft.contains(&listed), "{draft}");
    assert!(draft.contains(not_kept), "{draft}");
    let file = home.path().join("draft.md");
    std::fs::write(&file, &draft).unwrap();
    home.stdout(&["consolidate", &query, "--from", file.to_str().unwrap()]);
    home.stdout(&["publish", &query]);
    let published = rt.block_on(wait_raw(&s, &daemon, "carol", "Consolidated Reply"));
    let m = mail_parser::MessageParser::default()
        .parse(published[0].as_bytes())
        .unwrap();
    let text = m.body_text(0).unwrap();
    assert!(text.contains(&listed), "{text}");

    // The digest lists each post's files under its text.
    home.stdout(&["digest", "send", "-c", "health", "--now"]);
    let digest = rt.block_on(wait_raw(&s, &daemon, "dave", "Digest, Vol 1, Issue 1"));
    let m = mail_parser::MessageParser::default()
        .parse(digest[0].as_bytes())
        .unwrap();
    let text = m.body_text(0).unwrap();
    assert!(text.contains(&listed), "{text}");
    assert!(text.contains(not_kept), "{text}");
    assert!(
        text.contains(&format!(
            "guide again.pdf (6 KB): https://lists.example.test/c/health/a/{sha}/guide%20again.pdf"
        )),
        "{text}"
    );
}
