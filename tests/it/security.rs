//! Hostile input never becomes a header: CR/LF in subjects, display names
//! and reject reasons, in everything praxis sends (parsed back to check).

use praxis::store::Store;

use crate::support::Home;

/// Every header name of a message, and its Subject, parsed back.
fn headers(raw: &[u8]) -> (Vec<String>, String) {
    let m = mail_parser::MessageParser::default().parse(raw).unwrap();
    let names = m
        .headers()
        .iter()
        .map(|h| h.name().to_ascii_lowercase())
        .collect();
    (names, m.subject().unwrap_or("").to_string())
}

#[test]
fn crlf_in_member_input_never_makes_a_header() {
    let home = Home::new();
    home.praxis()
        .args(["members", "add", "alice@example.org", "-c", "health"])
        .assert()
        .success();
    // The subject and the display name carry encoded CR/LF and a header.
    let hostile = "From: =?utf-8?q?Eve=0D=0ABcc:_victim@example.net?= <eve@example.org>\n\
                   To: list@example.test\n\
                   Subject: =?utf-8?q?Hello=0D=0ABcc:_victim@example.net=0D=0A=0D=0Abody?=\n\
                   Message-ID: <inject@x>\n\n\
                   text\n";
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(hostile)
        .assert()
        .success();
    home.praxis()
        .args([
            "reject",
            "1",
            "--reason",
            "No\r\nBcc: victim@example.net\r\nX-Evil: 1",
        ])
        .assert()
        .success();
    let hostile2 = hostile.replace("inject@x", "inject2@x");
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(hostile2)
        .assert()
        .success();
    home.praxis().args(["approve", "2"]).assert().success();

    let store = Store::open(&home.path().join("praxis.db")).unwrap();
    let all = store
        .outbox_summaries(&praxis::store::OutboxFilter {
            community: None,
            failed_only: false,
            limit: 100,
        })
        .unwrap();
    assert!(
        all.len() >= 3,
        "acknowledgements, the rejection and the fan-out: {}",
        all.len()
    );
    for m in all {
        let msg = store.outbox_message(m.id).unwrap();
        let (names, subject) = headers(&msg.message);
        assert!(
            !names.iter().any(|n| n == "bcc" || n == "x-evil"),
            "{:?} in {}",
            names,
            String::from_utf8_lossy(&msg.message)
        );
        assert!(
            !subject.contains('\n') && !subject.contains('\r'),
            "{subject:?}"
        );
        // In the header block itself (a "Bcc:" line in the body is only text).
        let text = String::from_utf8_lossy(&msg.message).replace("\r\n", "\n");
        let head = text.split_once("\n\n").map(|(h, _)| h).unwrap_or(&text);
        assert!(
            !head
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{head}"
        );
    }
}
