//! `praxis demo` and the Maildir way out: the whole flow with no server, and
//! what it leaves behind.

use std::path::Path;

use mail_parser::MessageParser;
use serde_json::Value;

/// Every delivered message, parsed: (subject, raw).
fn delivered(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.join("delivered/new")).unwrap() {
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
