//! Digests as members read them, end to end over the private mail stack:
//! a digested post or Consolidated Reply keeps the Message-ID, In-Reply-To
//! and References it has as each-post mail (MIME and plain formats), no
//! host name of the machine leaks into the mail, and the HTML digest reads
//! on a phone; `digest preview` prints what a member reads.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mail_parser::{HeaderValue, Message, MessageParser, PartType};
use serde_json::Value;

use crate::support::{Daemon, Home, PrivateStack};

fn ingest(home: &Home, raw: &str) {
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(raw.to_string())
        .assert()
        .success();
}

/// Posters alice and bob (each), moderator (each, never posts; the stack has no other user), digest members
/// dave (plain), erin (mime) and carol (html).
fn live_home(s: &PrivateStack) -> Home {
    let home = Home::with_config(&s.live_config(false));
    for (who, delivery, format) in [
        ("alice", "each", "mime"),
        ("bob", "each", "mime"),
        ("moderator", "each", "mime"),
        ("dave", "digest", "plain"),
        ("erin", "digest", "mime"),
        ("carol", "digest", "html"),
    ] {
        home.praxis()
            .args([
                "members",
                "add",
                &format!("{who}@example.test"),
                "-c",
                "health",
            ])
            .args([
                "--name",
                who,
                "--delivery",
                delivery,
                "--digest-format",
                format,
            ])
            .args(["--moderation", "accept"])
            .assert()
            .success();
    }
    home
}

/// Raw messages in `user`'s INBOX containing `needle`.
async fn raw_inbox(s: &PrivateStack, user: &str, needle: &str) -> Vec<Vec<u8>> {
    s.raw_messages(user)
        .await
        .into_iter()
        .filter(|r| String::from_utf8_lossy(r).contains(needle))
        .collect()
}

/// Waits (generously: a shared 2-core machine) until `user` has `n`
/// messages containing `needle`.
fn wait_raw(
    rt: &tokio::runtime::Runtime,
    s: &PrivateStack,
    daemon: &Daemon,
    user: &str,
    needle: &str,
    n: usize,
) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let found = rt.block_on(raw_inbox(s, user, needle));
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{user} has {} of {n} messages with {needle}; daemon log:\n{}",
            found.len(),
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    v.as_text_list()
        .map(|l| l.iter().map(|s| s.to_string()).collect())
        .or_else(|| v.as_text().map(|s| vec![s.to_string()]))
        .unwrap_or_default()
}

/// A message's (Message-ID, In-Reply-To, References), ids without brackets.
type Identity = (String, Vec<String>, Vec<String>);

fn identity(m: &Message<'_>) -> Identity {
    (
        m.message_id().unwrap_or_default().to_string(),
        ids(m.in_reply_to()),
        ids(m.references()),
    )
}

/// The ids a plain digest shows for the entry of `id`: the lines after
/// `Message-ID: <id>` up to the blank line, brackets removed.
fn plain_identity(text: &str, id: &str) -> Identity {
    let start = text
        .find(&format!("\nMessage-ID: <{id}>\n"))
        .unwrap_or_else(|| panic!("no entry <{id}> in the plain digest:\n{text}"));
    let mut out = (id.to_string(), Vec::new(), Vec::new());
    for line in text[start + 1..].lines().skip(1) {
        let list = |v: &str| -> Vec<String> {
            v.split_whitespace()
                .map(|x| {
                    assert!(x.starts_with('<') && x.ends_with('>'), "{x} in {line}");
                    x.trim_matches(['<', '>']).to_string()
                })
                .collect()
        };
        if let Some(v) = line.strip_prefix("In-Reply-To: ") {
            out.1 = list(v);
        } else if let Some(v) = line.strip_prefix("References: ") {
            out.2 = list(v);
        } else {
            assert_eq!(line, "", "the entry's headers end with a blank line");
            break;
        }
    }
    out
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(rc, 0);
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[test]
fn digests_keep_identities_and_the_html_one_reads_on_a_phone() {
    let s = PrivateStack::start();
    let home = live_home(&s);
    let daemon = Daemon::start(&home);
    let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    let q = format!("Boat clinics {tag}?");
    let post = |from: &str, subject: &str, id: &str, parents: &[&str], body: &str| {
        let threading = match parents {
            [] => String::new(),
            _ => format!(
                "In-Reply-To: <{}-{tag}@example.test>\nReferences: {}\n",
                parents[parents.len() - 1],
                parents
                    .iter()
                    .map(|p| format!("<{p}-{tag}@example.test>"))
                    .collect::<Vec<_>>()
                    .join("\n ")
            ),
        };
        ingest(
            &home,
            &format!(
                "From: {from}@example.test\nTo: list@example.test\nSubject: {subject}\nMessage-ID: <{id}-{tag}@example.test>\n{threading}Date: Mon, 23 Nov 2026 10:00:00 +0530\n\n{body}\n"
            ),
        );
    };
    post(
        "alice",
        &q,
        "q",
        &[],
        "Has anyone run boat clinics in floods?",
    );
    post(
        "bob",
        &format!("Re: {q}"),
        "r1",
        &["q"],
        "Yes, on a fixed timetable: https://example.org/boats?a=1&b=2.\n\nNot javascript:alert(1) <script>x()</script>.",
    );
    post(
        "alice",
        &format!("Re: {q}"),
        "r2",
        &["q", "r1"],
        "Thanks; and radios?",
    );

    let query = home.query_id(&tag.to_string());
    let file = home.path().join("draft.md");
    std::fs::write(&file, "Boats and radios.\n").unwrap();
    home.stdout(&["consolidate", &query, "--from", file.to_str().unwrap()]);
    home.stdout(&["publish", &query]);
    let sent: Value =
        serde_json::from_str(&home.stdout(&["--json", "digest", "send", "-c", "health", "--now"]))
            .unwrap();
    assert_eq!(sent["posts"], 3, "{sent}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    // What moderator, an each-post member, received: the three posts and the reply.
    let each: BTreeMap<String, Identity> =
        wait_raw(&rt, &s, &daemon, "moderator", &tag.to_string(), 4)
            .iter()
            .map(|raw| {
                let m = MessageParser::default().parse(raw).unwrap();
                let id = identity(&m);
                (id.0.clone(), id)
            })
            .collect();
    assert_eq!(each.len(), 4, "{each:?}");
    let reply_id = each
        .keys()
        .find(|k| k.starts_with("praxis.reply."))
        .unwrap_or_else(|| panic!("the Consolidated Reply reached moderator: {each:?}"))
        .clone();
    assert!(
        reply_id.ends_with("@example.test"),
        "the community's domain: {reply_id}"
    );
    assert_eq!(
        each[&reply_id],
        (
            reply_id.clone(),
            vec![format!("q-{tag}@example.test")],
            vec![format!("q-{tag}@example.test")]
        ),
        "the reply is threaded under the query"
    );
    assert_eq!(
        each[&format!("r2-{tag}@example.test")].2.len(),
        2,
        "{each:?}"
    );

    let subject = "Subject: Maternal Health Digest, Vol 1, Issue 1";
    let mime = wait_raw(&rt, &s, &daemon, "erin", subject, 1).remove(0);
    let plain = wait_raw(&rt, &s, &daemon, "dave", subject, 1).remove(0);
    let html = wait_raw(&rt, &s, &daemon, "carol", subject, 1).remove(0);

    // MIME: every message/rfc822 part carries the each-post identity.
    let parsed = MessageParser::default().parse(&mime).unwrap();
    let inner: BTreeMap<String, Identity> = parsed
        .parts
        .iter()
        .filter_map(|p| match &p.body {
            PartType::Message(m) => Some(identity(m)),
            _ => None,
        })
        .map(|id| (id.0.clone(), id))
        .collect();
    assert_eq!(
        inner, each,
        "the MIME digest's messages keep their identity"
    );

    // Plain (and the text of the HTML format): each entry shows the same ids in brackets.
    for (name, raw) in [("plain", &plain), ("html", &html)] {
        let text = MessageParser::default()
            .parse(raw)
            .unwrap()
            .body_text(0)
            .unwrap()
            .replace("\r\n", "\n");
        for id in each.keys() {
            assert_eq!(
                plain_identity(&text, id),
                each[id],
                "{name} digest:\n{text}"
            );
        }
    }

    // The HTML format reads on a phone: paragraphs, a viewport, a column
    // width; web links clickable, nothing else; a reply link per post.
    let page = MessageParser::default()
        .parse(&html)
        .unwrap()
        .body_html(0)
        .unwrap()
        .into_owned();
    assert!(
        page.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#),
        "{page}"
    );
    assert!(page.contains("max-width: 40em"), "{page}");
    assert!(!page.contains("<pre"), "{page}");
    assert!(
        page.contains(
            r#"<p>Yes, on a fixed timetable: <a href="https://example.org/boats?a=1&amp;b=2" rel="noopener noreferrer">https://example.org/boats?a=1&amp;b=2</a>.</p>"#
        ),
        "{page}"
    );
    assert!(
        page.contains("<p>Not javascript:alert(1) &lt;script&gt;x()&lt;/script&gt;.</p>"),
        "{page}"
    );
    assert!(
        !page.contains("<script") && !page.contains(r#"href="javascript"#),
        "{page}"
    );
    for (id, subject) in [
        ("q", format!("Re%3A%20Boat%20clinics%20{tag}%3F")),
        ("r1", format!("Re%3A%20Boat%20clinics%20{tag}%3F")),
    ] {
        let link = format!(
            r#"<a href="mailto:list@example.test?In-Reply-To&#x3D;%3C{id}-{tag}%40example.test%3E&amp;subject&#x3D;{subject}">Reply to the list</a>"#
        );
        assert!(page.contains(&link), "{link} in:\n{page}");
    }
    assert_eq!(page.matches("Reply to the list</a>").count(), 3, "{page}");

    // No host name of the machine in any digest: every Message-ID in it
    // (the digest's own, each embedded message's) is in the community's
    // domain, as every id the test wrote is.
    let host = host_name();
    for raw in [&mime, &plain, &html] {
        let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
        assert!(
            !text.contains(&format!("@{host}>")),
            "the host name {host} leaked:\n{text}"
        );
        let ids: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("Message-ID: "))
            .collect();
        assert!(ids.len() >= 2, "{text}");
        for id in ids {
            assert!(id.ends_with("@example.test>"), "{id} in:\n{text}");
        }
    }
    drop(daemon);
}

/// `digest preview` prints what a member reads (decoded headers and text,
/// each post of a MIME digest with its ids, control characters shown, not
/// sent); `--raw` prints the encoded message as it would go out.
#[test]
fn preview_prints_decoded_text_and_raw_prints_the_encoded_message() {
    let home = Home::new();
    home.praxis()
        .args(["members", "add", "asha@example.org", "-c", "health"])
        .args(["--name", "Asha", "--moderation", "accept"])
        .assert()
        .success();
    // A real message: base64 UTF-8 body with an escape sequence in it.
    let body = "हमने स्वास्थ्य शिविर लगाए। \u{1b}]0;pwned\u{7} café\n";
    let b64: String = {
        use std::fmt::Write as _;
        // base64 by hand: the tests have no base64 crate.
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in body.as_bytes().chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        let mut lines = String::new();
        for l in out.as_bytes().chunks(76) {
            writeln!(lines, "{}", std::str::from_utf8(l).unwrap()).unwrap();
        }
        lines
    };
    ingest(
        &home,
        &format!(
            "From: Asha <asha@example.org>\nTo: list@example.test\nSubject: =?UTF-8?B?4KS24KS/4KS14KS/4KSw?= camps\nMessage-ID: <hi1@example.org>\nDate: Mon, 2 Nov 2026 10:00:00 +0530\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n{b64}"
        ),
    );
    for format in ["plain", "mime", "html"] {
        let text = home.stdout(&["digest", "preview", "-c", "health", "--format", format]);
        assert!(text.contains("हमने स्वास्थ्य शिविर लगाए।"), "{format}:\n{text}");
        assert!(text.contains("café"), "{format}:\n{text}");
        assert!(
            text.contains("Subject: Maternal and Child Health Digest, Vol 1, Issue 1\n"),
            "{format}:\n{text}"
        );
        assert!(
            !text.contains('\u{1b}'),
            "{format}: the escape reached the terminal"
        );
        assert!(text.contains("\\u{1b}]0;pwned\\u{7}"), "{format}:\n{text}");
        assert!(
            !text.contains("Content-Transfer-Encoding"),
            "{format}:\n{text}"
        );
        assert!(
            !text.contains("=E0"),
            "{format}: no quoted-printable:\n{text}"
        );
        assert!(
            !text.contains(b64.lines().next().unwrap()),
            "{format}: no base64:\n{text}"
        );
    }
    let mime = home.stdout(&["digest", "preview", "-c", "health", "--format", "mime"]);
    assert!(
        mime.contains("[message]\nDate: ")
            && mime.contains("Subject: शिविर camps\nMessage-ID: <hi1@example.org>\n"),
        "{mime}"
    );
    // --raw: the message as it would be sent, encoded, and it reads back the same.
    for format in ["plain", "mime", "html"] {
        let out = home
            .praxis()
            .args([
                "digest", "preview", "-c", "health", "--format", format, "--raw",
            ])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("Content-Transfer-Encoding: "),
            "{format}:\n{text}"
        );
        assert!(text.contains("MIME-Version: 1.0"), "{format}:\n{text}");
        let parsed = MessageParser::default().parse(&out).unwrap();
        assert_eq!(
            parsed.subject(),
            Some("Maternal and Child Health Digest, Vol 1, Issue 1")
        );
        if format != "mime" {
            assert!(
                !text.contains("स्वास्थ्य"),
                "{format}: encoded, not as read:\n{text}"
            );
            assert!(
                parsed.body_text(0).unwrap().contains("स्वास्थ्य शिविर"),
                "{format}"
            );
        }
    }
}
