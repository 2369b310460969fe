//! `praxis demo` and the Maildir way out: the whole flow with no server, and
//! what it leaves behind.

use std::path::Path;

use mail_parser::MessageParser;
use serde_json::Value;

/// Every delivered message, parsed: (subject, raw).
fn delivered(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(files) = std::fs::read_dir(dir.join("delivered/new")) else {
        return out; // the sender creates the Maildir when it starts
    };
    for e in files {
        let raw = std::fs::read(e.unwrap().path()).unwrap();
        let msg = MessageParser::default()
            .parse(&raw)
            .unwrap_or_else(|| panic!("a delivered message does not parse"));
        assert!(msg.from().is_some(), "no From");
        let subject = msg.subject().unwrap_or_default().to_string();
        out.push((subject, raw));
    }
    out
}

#[test]
fn demo_runs_the_whole_flow_into_a_maildir() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let out = assert_cmd::Command::cargo_bin("praxis")
        .unwrap()
        .args(["demo", "--dir"])
        .arg(&dir)
        .env_remove("PRAXIS_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "$ praxis init",
        "$ praxis queue -c mch",
        "$ praxis approve 1 2 3 4 --as 'Meera Iyer'",
        "$ praxis reject 5",
        "$ praxis publish 1",
        "$ praxis digest send -c mch --now",
        "$ praxis outbox flush",
    ] {
        assert!(stdout.contains(step), "missing `{step}` in:\n{stdout}");
    }
    assert!(stdout.contains("auto_reply, handled"), "{stdout}");

    let mail = delivered(&dir);
    let with = |needle: &str| mail.iter().filter(|(s, _)| s.contains(needle)).count();
    // Each-post and Consolidated-only members (and the moderator) get the reply.
    assert_eq!(with("Consolidated Reply: Query: Kangaroo"), 6, "{mail:?}");
    // Three digest members, one issue each, carrying the posts and the reply.
    assert_eq!(with("Digest, Vol 1, Issue 1"), 3);
    let (_, digest) = mail
        .iter()
        .find(|(s, _)| s.contains("Digest, Vol 1"))
        .unwrap();
    let digest = String::from_utf8_lossy(digest);
    assert!(digest.contains("multipart/digest"), "{digest}");
    assert!(
        digest.contains("hanging scale"),
        "the posts are in the digest"
    );
    // Digest members get the Consolidated Reply in full inside their issue.
    let parsed = MessageParser::default().parse(digest.as_bytes()).unwrap();
    let reply = parsed
        .parts
        .iter()
        .filter_map(|p| match &p.body {
            mail_parser::PartType::Message(m) => Some(m),
            _ => None,
        })
        .find(|m| {
            m.subject()
                .is_some_and(|s| s.contains("Consolidated Reply: Query: Kangaroo"))
        })
        .expect("the Consolidated Reply is a message of the digest");
    let text = reply.body_text(0).unwrap();
    assert!(text.contains("Families, not only mothers"), "{text}");
    // Four approved posts to four each-post members; the advertisement and
    // the auto-reply never reach members.
    assert_eq!(with("[mch] Query: Kangaroo") + with("[mch] Re: Query"), 16);
    assert!(
        !mail
            .iter()
            .any(|(s, _)| s.starts_with("[mch] Lowest prices"))
    );
    assert!(!mail.iter().any(|(s, _)| s.contains("Automatic reply")));
    // The Consolidated Reply quotes the HTML-only response in full, as text
    // and as sanitised HTML: its script is not carried over. (Posts and MIME
    // digests forward the member's own message as it came, as lists do.)
    for (_, raw) in mail
        .iter()
        .filter(|(s, _)| s.contains("Consolidated Reply"))
    {
        let text = String::from_utf8_lossy(raw);
        assert!(
            text.contains("KMC champion"),
            "the HTML-only response is quoted"
        );
        assert!(!text.contains("<script"), "a script went out in the reply");
    }
    // Delivered through the outbox: nothing left pending.
    let out = assert_cmd::Command::cargo_bin("praxis")
        .unwrap()
        .arg("--config")
        .arg(dir.join("praxis.toml"))
        .args(["outbox", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let total = |key: &str| -> i64 {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| m[key].as_i64().unwrap())
            .sum()
    };
    assert_eq!(total("pending"), 0);
    assert_eq!(total("failed"), 0);
    assert_eq!(total("sent"), mail.len() as i64);

    // A second run refuses the used folder and says what to do.
    assert_cmd::Command::cargo_bin("praxis")
        .unwrap()
        .args(["demo", "--dir"])
        .arg(&dir)
        .assert()
        .failure()
        .stderr(predicates::str::contains("is not empty"));
}

/// A config delivering into a Maildir, with one each-post member and one
/// approved post queued.
fn maildir_home() -> crate::support::Home {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/praxis.toml"),
    )
    .unwrap();
    let home = crate::support::Home::with_config(&text);
    home.stdout(&["init"]);
    home.stdout(&[
        "members",
        "add",
        "arjun.rao@phfi.example.org",
        "-c",
        "mch",
        "--moderation",
        "accept",
    ]);
    let msg = "From: Arjun Rao <arjun.rao@phfi.example.org>\r\nTo: mch@lists.example.org\r\n\
               Subject: Breastfeeding corners in PHCs\r\nMessage-ID: <bf-1@phfi.example.org>\r\n\
               Date: Mon, 16 Nov 2026 10:00:00 +0530\r\n\r\nHas anyone set these up?\r\n";
    home.praxis()
        .args(["ingest", "-c", "mch"])
        .write_stdin(msg)
        .assert()
        .success();
    home
}

#[test]
fn outbox_flush_sends_what_is_due_and_logs_json_when_asked() {
    let home = maildir_home();
    let out = home
        .praxis()
        .args(["-v", "--log-format", "json", "--json", "outbox", "flush"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sent"], 1, "{v}");
    assert_eq!(v["waiting"], 0, "{v}");
    // Every log line on stderr is one JSON object.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let logs: Vec<Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        logs.iter()
            .any(|l| l["fields"]["message"] == "sender started"),
        "{stderr}"
    );
    let mail = delivered(home.path());
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].0, "[mch] Breastfeeding corners in PHCs");
    let text = String::from_utf8_lossy(&mail[0].1);
    assert!(text.starts_with("Return-Path: <mch-bounces+arjun.rao=phfi.example.org@lists.example.org>\nDelivered-To: arjun.rao@phfi.example.org\n"), "{text}");
    // Nothing is due any more: a second flush sends nothing.
    home.praxis()
        .args(["outbox", "flush"])
        .assert()
        .success()
        .stdout(predicates::str::contains("0 copies sent"));
    assert_eq!(delivered(home.path()).len(), 1);
}

#[test]
fn outbox_flush_is_refused_while_another_sender_runs() {
    let home = maildir_home();
    let daemon = crate::support::Daemon::start(&home);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // The daemon's sender delivers the post; then a flush must not start a second sender.
    while delivered(home.path()).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "serve never delivered"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if crate::support::on_postgres() {
        // Senders share the outbox through claims on PostgreSQL (several
        // nodes): the flush runs and sends nothing a second time.
        home.praxis().args(["outbox", "flush"]).assert().success();
        assert_eq!(delivered(home.path()).len(), 1);
        drop(daemon);
        return;
    }
    home.praxis()
        .args(["outbox", "flush"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("already sending"));
    drop(daemon);
}

#[test]
fn demo_without_dir_keeps_a_new_folder_in_the_temporary_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::cargo_bin("praxis")
        .unwrap()
        .args(["-q", "demo"])
        .env("TMPDIR", tmp.path())
        .env_remove("PRAXIS_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(
        made[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("praxis-demo-")
    );
    assert!(!delivered(&made[0]).is_empty());
    // Where to look is printed even with -q: it is the demo's result.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("mutt -f {}", made[0].join("delivered").display())),
        "{stdout}"
    );
}
