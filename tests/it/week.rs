//! Issue 15's acceptance test, "a moderator's real week", end to end on a
//! private Dovecot + Postfix: eight members in every delivery mode, a week
//! of realistic mail sent over SMTP, every mailbox read back over IMAP and
//! the moderator's view read through the CLI's --json output.
//!
//! Long because the week is one story: each phase builds on the mail and
//! decisions before it (a digest reply needs the digest, the draft needs
//! the confirmed profile), so splitting would repeat the whole setup.

use std::time::{Duration, Instant};

use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde_json::Value;

use crate::support::{Daemon, Home, PrivateStack, Stack};

/// The members: (user, name, delivery, digest format, role, moderation).
/// erin posts for the first time this week, so her first post is held.
const MEMBERS: [(&str, &str, &str, &str, &str, &str); 8] = [
    ("alice", "Alice Rao", "each", "mime", "member", "accept"),
    ("bob", "bob", "each", "mime", "member", "accept"),
    ("carol", "Carol", "digest", "html", "member", "accept"),
    ("dave", "Dave", "digest", "plain", "member", "accept"),
    ("erin", "Erin", "digest", "mime", "member", "default"),
    ("frank", "Frank", "consolidated", "mime", "member", "accept"),
    ("grace", "Grace", "none", "mime", "member", "accept"),
    ("moderator", "Meera", "each", "mime", "moderator", "accept"),
];

/// The members who get each post as it is approved.
const EACH: [&str; 3] = ["alice", "bob", "moderator"];

/// One message as a mail client writes it, CRLF line ends; `headers` are
/// extra header lines (each ending "\r\n"), `body` its text with "\n".
fn mail(from: &str, to: &str, subject: &str, id: &str, headers: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Mon, 30 Nov 2026 10:00:00 +0530\r\n{headers}\r\n{}",
        body.replace('\n', "\r\n")
    )
}

/// Sends the raw bytes over SMTP with an ordinary client (lettre), from
/// the bare address in `from` to `to`.
fn send(rt: &tokio::runtime::Runtime, s: &PrivateStack, from: &str, to: &str, raw: &str) {
    use lettre::address::Envelope;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let bare = from
        .rsplit_once('<')
        .map_or(from, |(_, a)| a.trim_end_matches('>'));
    let (host, port) = Stack::split(&s.smtp);
    let envelope = Envelope::new(Some(bare.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
    rt.block_on(async {
        let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .build();
        t.send_raw(&envelope, raw.as_bytes()).await
    })
    .unwrap();
}

/// Every raw message in `user`'s INBOX (CRLF as stored).
async fn raw_inbox(s: &PrivateStack, user: &str) -> Vec<String> {
    let (host, port) = Stack::split(&s.imap);
    let cfg = praxis::config::ImapConfig {
        host,
        port,
        tls: praxis::config::Tls::None,
        username: format!("{user}@example.test"),
        ..Default::default()
    };
    let mut c = praxis::ingest::imap::ImapClient::connect(&cfg, "secret")
        .await
        .unwrap();
    c.select("INBOX").await.unwrap();
    let all = c.fetch_after(0, 100_000).await.unwrap();
    c.logout().await.ok();
    all.into_iter()
        .map(|f| String::from_utf8_lossy(&f.raw).into_owned())
        .collect()
}

/// Waits (bounded) until `user` has a raw message containing `needle`.
fn wait_raw(
    rt: &tokio::runtime::Runtime,
    s: &PrivateStack,
    daemon: &Daemon,
    user: &str,
    needle: &str,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(m) = rt
            .block_on(raw_inbox(s, user))
            .into_iter()
            .find(|m| m.contains(needle))
        {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{needle} never reached {user}; daemon log:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Polls `f` until it returns Some, for at most two minutes.
pub(crate) fn until<T>(what: &str, daemon: &Daemon, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never happened; daemon log:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A header's value in a raw message's head (unfolded), the first one.
fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw
        .replace("\r\n", "\n")
        .split_once("\n\n")
        .map_or(String::new(), |(h, _)| h.to_string())
        .replace("\n ", " ")
        .replace("\n\t", " ");
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// The decoded text of a raw message.
fn text(raw: &str) -> String {
    MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap()
        .body_text(0)
        .unwrap_or_default()
        .replace("\r\n", "\n")
}

/// The held posts, as `praxis queue --json` lists them.
fn queue(home: &Home) -> Vec<Value> {
    home.json(&["queue", "--json"]).as_array().unwrap().clone()
}

/// The hold of the post whose subject is `subject`, once it is held.
fn held(home: &Home, daemon: &Daemon, subject: &str) -> Value {
    until(&format!("the hold of {subject}"), daemon, || {
        queue(home).into_iter().find(|h| h["subject"] == subject)
    })
}

/// The threads of `health` (`praxis threads --json`, all of them), with `extra` flags.
fn threads(home: &Home, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["--json", "threads", "-c", "health", "--limit", "0"];
    args.extend_from_slice(extra);
    home.json(&args).as_array().unwrap().clone()
}

/// The member `email` as `praxis members list --json` shows them.
fn member(home: &Home, email: &str) -> Value {
    home.json(&["members", "list", "-c", "health", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .cloned()
        .unwrap_or(Value::Null)
}

/// The subjects `praxis search TEXT --json` finds among posts.
fn found(home: &Home, q: &str) -> Vec<String> {
    home.json(&["search", q, "--json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["kind"] == "post")
        .map(|h| h["subject"].as_str().unwrap().to_string())
        .collect()
}

/// A reply to `raw` (a confirmation) as a mail client writes it: to its
/// Reply-To, "Re: " its subject, In-Reply-To its Message-ID, a line of
/// text, an attribution and the whole original quoted.
fn client_reply(from: &str, raw: &str, id: &str) -> (String, String) {
    let to = header(raw, "Reply-To").expect("a confirmation has a Reply-To");
    let to = to
        .rsplit_once('<')
        .map_or(to.as_str(), |(_, a)| a.trim_end_matches('>'))
        .to_string();
    let subject = MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap()
        .subject()
        .unwrap_or("")
        .to_string();
    let parent = header(raw, "Message-ID").unwrap();
    let quoted: Vec<String> = text(raw).lines().map(|l| format!("> {l}")).collect();
    let body = format!(
        "Yes, please.\n\nOn Tue, 1 Dec 2026 at 09:12, list-request@example.test wrote:\n{}\n",
        quoted.join("\n")
    );
    let m = mail(
        from,
        &to,
        &format!("Re: {subject}"),
        id,
        &format!("In-Reply-To: {parent}\r\nReferences: {parent}\r\n"),
        &body,
    );
    (to, m)
}

/// A made-up PDF of `n` bytes (bytes past ASCII included).
fn pdf(n: usize) -> Vec<u8> {
    let mut b = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    b.extend((0..n.saturating_sub(b.len())).map(|i| (i * 7 % 251) as u8));
    b
}

/// The base64 of `bytes` in 76-column lines.
fn base64(bytes: &[u8]) -> String {
    let b64 = mail_builder::encoders::base64::base64_encode(bytes).unwrap();
    b64.chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// This machine's host name, which no Message-ID may name.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(rc, 0);
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[test]
fn a_moderators_real_week() {
    // Setup: the community on a private stack, fed over IMAP, links to kept
    // files under a base URL, default policy otherwise.
    let s = PrivateStack::start();
    let home = Home::with_config(&s.live_config(true));
    let key = home.path().join("link.key");
    std::fs::write(&key, "week link secret\n").unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let config = std::fs::read_to_string(home.config()).unwrap().replacen(
        "[delivery]\n",
        &format!("[delivery]\nlink_secret_file = \"{}\"\n", key.display()),
        1,
    ) + "base_url = \"https://lists.example.test\"\n\
           [community.policy]\ndmarc_authserv_id = \"mail.example.test\"\n";
    home.write_config(&config);
    for (who, name, delivery, format, role, moderation) in MEMBERS {
        let mut cmd = home.praxis();
        cmd.args(["members", "add", &format!("{who}@example.test"), "-c"])
            .args(["health", "--name", name, "--delivery", delivery])
            .args(["--digest-format", format, "--role", role])
            .args(["--moderation", moderation]);
        if who == "alice" {
            cmd.args(["--organisation", "PHFI", "--place", "Hyderabad"]);
        }
        cmd.assert().success();
    }
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap() % 1_000_000_000;
    let id = |n: &str| format!("{n}-{tag}@example.test");
    let list = "list@example.test";

    // Monday: alice asks a question.
    let query = format!("Fluoride in well water {tag}?");
    let query_text = "Our village wells in Nalgonda test high for fluoride.\n\
                      How have other districts brought the levels down?";
    send(
        &rt,
        &s,
        "alice@example.test",
        list,
        &mail(
            "Alice Rao <alice@example.test>",
            list,
            &query,
            &id("q"),
            "",
            &format!("{query_text}\n\nRegards,\nAlice Rao\nPHFI\nHyderabad\n"),
        ),
    );
    let quote = format!(
        "On Mon, 30 Nov 2026, Alice Rao wrote:\n> {}\n",
        query_text.replace('\n', "\n> ")
    );
    let reply_headers = format!(
        "In-Reply-To: <{}>\r\nReferences: <{}>\r\n",
        id("q"),
        id("q")
    );

    // bob gives his profile by mail, and confirms by replying to the
    // confirmation as a mail client does, quoting it (items 5 and 10).
    send(
        &rt,
        &s,
        "bob@example.test",
        "list-request@example.test",
        &mail(
            "bob@example.test",
            "list-request@example.test",
            "profile",
            &id("set"),
            "",
            "set name Bob Mehta\nset organisation Jal Trust\nset place Jaipur\n",
        ),
    );
    let ask = wait_raw(&rt, &s, &daemon, "bob", "asked to change the membership");
    assert_eq!(
        member(&home, "bob@example.test")["name"],
        "bob",
        "nothing changes before the confirmation"
    );
    let (_, confirm) = client_reply("bob@example.test", &ask, &id("yes"));
    send(
        &rt,
        &s,
        "bob@example.test",
        &header(&ask, "Reply-To")
            .map(|t| t.trim_matches(['<', '>']).to_string())
            .unwrap(),
        &confirm,
    );
    wait_raw(&rt, &s, &daemon, "bob", "your place is now Jaipur");
    let bob = until("bob's profile", &daemon, || {
        let m = member(&home, "bob@example.test");
        (m["name"] == "Bob Mehta").then_some(m)
    });
    assert_eq!(
        (&bob["organisation"], &bob["place"]),
        (&Value::from("Jal Trust"), &Value::from("Jaipur")),
        "{bob}"
    );

    // bob answers the question, quoting it, signed without "-- ", with a PDF.
    let guide = pdf(6000);
    let guide_name = "defluoridation guide.pdf";
    send(
        &rt,
        &s,
        "bob@example.test",
        list,
        &mail(
            "Bob Mehta <bob@example.test>",
            list,
            &format!("Re: {query}"),
            &id("r1"),
            &format!(
                "{reply_headers}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n"
            ),
            &format!(
                "--b\nContent-Type: text/plain; charset=us-ascii\n\n\
                 We fitted bone-char filters at the school tanks; fluoride fell below 1 mg/l in a month.\n\
                 The guide we followed is attached.\n\nRegards,\nBob Mehta\nJal Trust\nJaipur\n\n{quote}\n\
                 --b\nContent-Type: application/pdf; name=\"{guide_name}\"\n\
                 Content-Disposition: attachment; filename=\"{guide_name}\"\n\
                 Content-Transfer-Encoding: base64\n\n{}\n--b--\n",
                base64(&guide).replace("\r\n", "\n")
            ),
        ),
    );

    // dave answers in HTML only, and his mail client added a script.
    send(
        &rt,
        &s,
        "dave@example.test",
        list,
        &mail(
            "Dave <dave@example.test>",
            list,
            &format!("Re: {query}"),
            &id("r2"),
            &format!(
                "{reply_headers}MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
            ),
            "<html><body><p>Rainwater harvesting into the wells diluted it in Anantapur.</p>\
             <script>alert('tracked')</script>\
             <p>Regards,<br>Dave<br>Jal Trust<br>Anantapur</p></body></html>\n",
        ),
    );

    // erin's first post, in Hindi ("In the flood areas we set up health
    // camps; people benefited."): held as a first post.
    let hindi = "हमने बाढ़ वाले इलाकों में स्वास्थ्य शिविर लगाए, लोगों को फ़ायदा हुआ।";
    let erin_subject = format!("Re: {query}");
    send(
        &rt,
        &s,
        "erin@example.test",
        list,
        &mail(
            "Erin <erin@example.test>",
            list,
            &erin_subject,
            &id("r3"),
            &format!(
                "{reply_headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Transfer-Encoding: base64\r\n"
            ),
            &base64(format!("{hindi}\n").as_bytes()).replace("\r\n", "\n"),
        ),
    );

    // A nonmember posts, his domain's DMARC passed by our server's word
    // (acknowledged); someone forging his address, with another server's
    // word, gets no acknowledgement (no backscatter). The moderator
    // approves the real one by replying to the notice.
    let outsider = format!("Fluoride test kits for sale {tag}");
    send(
        &rt,
        &s,
        "oscar@example.test",
        list,
        &mail(
            "Oscar <oscar@example.test>",
            list,
            &outsider,
            &id("n1"),
            "Authentication-Results: mail.example.test; dkim=pass; dmarc=pass header.from=example.test\r\n",
            "We sell field test kits for fluoride at cost to NGOs.\n",
        ),
    );
    let forged = format!("Cheap kits {tag}");
    send(
        &rt,
        &s,
        "oscar@example.test",
        list,
        &mail(
            "Oscar <oscar@example.test>",
            list,
            &forged,
            &id("n2"),
            "Authentication-Results: evil.example.net; dmarc=pass header.from=example.test\r\n",
            "Buy now.\n",
        ),
    );

    // Tuesday: carol sends "unsubscribe" to the posting address.
    let unsub = format!("unsubscribe {tag}");
    send(
        &rt,
        &s,
        "carol@example.test",
        list,
        &mail(
            "Carol <carol@example.test>",
            list,
            "unsubscribe",
            &id("u"),
            "",
            &format!("unsubscribe\n\n{unsub}\n"),
        ),
    );

    // Wednesday: the moderator announces a webinar; alice says thanks.
    let announcement = format!("Webinar on Friday at 3 pm {tag}");
    send(
        &rt,
        &s,
        "moderator@example.test",
        list,
        &mail(
            "Meera <moderator@example.test>",
            list,
            &announcement,
            &id("a"),
            "",
            "Dr Iyer will speak about groundwater quality. All are welcome.\n",
        ),
    );
    send(
        &rt,
        &s,
        "alice@example.test",
        list,
        &mail(
            "Alice Rao <alice@example.test>",
            list,
            &format!("Re: {query}"),
            &id("t"),
            &format!(
                "In-Reply-To: <{}>\r\nReferences: <{}> <{}>\r\n",
                id("r1"),
                id("q"),
                id("r1")
            ),
            "Thanks, this is very helpful!\n",
        ),
    );

    // The holds: the unsubscribe as administrivia, erin's first post, oscar's.
    let admin = held(&home, &daemon, "unsubscribe");
    assert_eq!(admin["reason"], "administrivia", "{admin}");
    let first = held(&home, &daemon, &erin_subject);
    assert!(
        first["reason"].as_str().unwrap().contains("first post"),
        "{first}"
    );
    let nonmember = held(&home, &daemon, &outsider);
    assert!(
        nonmember["reason"].as_str().unwrap().contains("nonmember"),
        "{nonmember}"
    );
    home.stdout(&[
        "approve",
        &first["id"].as_i64().unwrap().to_string(),
        "--trust",
    ]);

    // Item 1: carol is told where commands go.
    let told = text(&wait_raw(
        &rt,
        &s,
        &daemon,
        "carol",
        "looks like a list command",
    ));
    assert!(told.contains("list-request@example.test"), "{told}");

    // The moderator's notice for oscar's post: replying `approve` decides it.
    let notice = wait_raw(
        &rt,
        &s,
        &daemon,
        "moderator",
        &format!("Held (nonmember): {outsider}"),
    );
    let reply_to = header(&notice, "Reply-To").unwrap();
    let reply_to = reply_to.trim_matches(['<', '>']).to_string();
    send(
        &rt,
        &s,
        "moderator@example.test",
        &reply_to,
        &mail(
            "Meera <moderator@example.test>",
            &reply_to,
            &format!("Re: Held (nonmember): {outsider}"),
            &id("ok"),
            "",
            &format!("approve\n\nOn Tue, the list wrote:\n> Subject: {outsider}\n"),
        ),
    );

    // Every each-post member gets every distributed post of the week.
    let subject_of = |s: &str| format!("[health] {s}");
    for who in EACH {
        for needle in [
            format!("Message-ID: <{}>", id("q")),
            format!("Message-ID: <{}>", id("r1")),
            format!("Message-ID: <{}>", id("r2")),
            format!("Message-ID: <{}>", id("r3")),
            format!("Message-ID: <{}>", id("t")),
            format!("Message-ID: <{}>", id("a")),
            format!("Message-ID: <{}>", id("n1")),
        ] {
            wait_raw(&rt, &s, &daemon, who, &needle);
        }
    }
    let bob_box = rt.block_on(raw_inbox(&s, "bob"));
    // acknowledge = "verified": the verified nonmember was told his post
    // awaits a moderator, the forged one nothing.
    held(&home, &daemon, &forged);
    wait_raw(
        &rt,
        &s,
        &daemon,
        "oscar",
        &format!("Awaiting moderation: {outsider}"),
    );
    let oscar = rt.block_on(raw_inbox(&s, "oscar"));
    assert!(
        !oscar.iter().any(|m| m.contains(&forged)),
        "the forged post was acknowledged"
    );
    // Plain-ASCII subjects arrive unencoded.
    let q_copy = bob_box
        .iter()
        .find(|m| m.contains(&format!("Message-ID: <{}>", id("q"))))
        .unwrap();
    assert_eq!(
        header(q_copy, "Subject").unwrap(),
        subject_of(&query),
        "unencoded: {q_copy}"
    );
    // Item 9: the each-post copy of the HTML post has no script.
    let html_copy = bob_box
        .iter()
        .find(|m| m.contains(&format!("Message-ID: <{}>", id("r2"))))
        .unwrap();
    assert!(html_copy.contains("Rainwater harvesting"), "{html_copy}");
    assert!(!html_copy.contains("<script"), "{html_copy}");
    assert!(!html_copy.contains("alert("), "{html_copy}");

    // Item 3: only the question is a query, with a deadline.
    let ours: Vec<Value> = threads(&home, &[])
        .into_iter()
        .filter(|t| {
            t["subject"]
                .as_str()
                .unwrap_or("")
                .contains(&tag.to_string())
        })
        .collect();
    let q_thread = ours
        .iter()
        .find(|t| t["subject"] == query.as_str())
        .unwrap_or_else(|| panic!("the query's thread: {ours:#?}"))
        .clone();
    assert_eq!(q_thread["kind"], "query", "{q_thread}");
    assert!(q_thread["deadline"].is_string(), "{q_thread}");
    for t in &ours {
        if t["id"] != q_thread["id"] {
            assert_ne!(t["kind"], "query", "{t}");
            assert!(t["deadline"].is_null(), "{t}");
        }
    }
    assert_eq!(
        q_thread["posts"], 5,
        "question, three answers, thanks: {ours:#?}"
    );

    // Thursday: the digests go out (plain to dave, MIME to erin, HTML to carol).
    home.stdout(&["digest", "send", "-c", "health", "--now"]);
    let digest_subject = "Digest, Vol 1, Issue 1";
    let plain = wait_raw(&rt, &s, &daemon, "dave", digest_subject);
    let mime = wait_raw(&rt, &s, &daemon, "erin", digest_subject);
    let html = wait_raw(&rt, &s, &daemon, "carol", digest_subject);
    // The link names the PDF by its SHA-256, as sha256sum computes it.
    let pdf_file = home.path().join(guide_name);
    std::fs::write(&pdf_file, &guide).unwrap();
    let out = std::process::Command::new("sha256sum")
        .arg(&pdf_file)
        .output()
        .unwrap();
    let sha = String::from_utf8(out.stdout).unwrap()[..64].to_string();
    let link = format!("https://lists.example.test/c/health/a/{sha}/defluoridation%20guide.pdf");
    let listed = format!("{guide_name} (6 KB): {link}");
    // Item 7: each post keeps its ids, in <>; item 8: the PDF is listed.
    let r1 = format!("<{}>", id("r1"));
    let q = format!("<{}>", id("q"));
    for (name, raw) in [("plain", &plain), ("html", &html)] {
        let t = text(raw);
        assert!(
            t.contains(&format!(
                "Message-ID: {r1}\nIn-Reply-To: {q}\nReferences: {q}\n"
            )),
            "{name} digest:\n{t}"
        );
        assert!(t.contains(&listed), "{name} digest:\n{t}");
        let (t_id, r1_id) = (id("t"), id("r1"));
        assert!(
            t.contains(&format!(
                "Message-ID: <{t_id}>\nIn-Reply-To: {r1}\nReferences: {q} <{r1_id}>\n"
            )),
            "{name} digest:\n{t}"
        );
    }
    let parsed = MessageParser::default().parse(mime.as_bytes()).unwrap();
    let inner: Vec<(String, Vec<String>)> = parsed
        .parts
        .iter()
        .filter_map(|p| match &p.body {
            PartType::Message(m) => Some((
                m.message_id().unwrap_or_default().to_string(),
                m.in_reply_to()
                    .as_text_list()
                    .map(|l| l.iter().map(|s| s.to_string()).collect())
                    .or_else(|| m.in_reply_to().as_text().map(|s| vec![s.to_string()]))
                    .unwrap_or_default(),
            )),
            _ => None,
        })
        .collect();
    assert!(
        inner.contains(&(id("r1"), vec![id("q")])),
        "MIME digest: {inner:?}"
    );
    assert!(
        mime.contains(&format!("Message-ID: {r1}")),
        "ids in <>: {mime}"
    );
    // Each embedded post has the fields an each-post copy has, no trace of
    // the list mailbox or of the machines mail passed (item 7).
    for p in &parsed.parts {
        if let PartType::Message(m) = &p.body {
            for field in ["Received", "Return-Path", "Delivered-To"] {
                assert!(
                    m.header_raw(field).is_none(),
                    "{field} in the MIME digest's {:?}",
                    m.message_id()
                );
            }
        }
    }
    // The MIME digest carries each post whole: the PDF itself, and the
    // HTML post cleaned as in each-post copies (item 9).
    let r1_part = parsed
        .parts
        .iter()
        .find_map(|p| match &p.body {
            PartType::Message(m) if m.message_id() == Some(id("r1").as_str()) => Some(m),
            _ => None,
        })
        .unwrap();
    let file = r1_part.attachment(0).unwrap();
    assert_eq!(file.attachment_name(), Some(guide_name));
    assert_eq!(file.contents(), guide.as_slice());
    assert!(mime.contains("Rainwater harvesting"), "{mime}");
    assert!(
        !mime.contains("<script") && !mime.contains("alert("),
        "no script in the MIME digest: {mime}"
    );

    // Friday: dave replies to his digest, quoting bob's answer (item 2).
    let digest_id = header(&plain, "Message-ID").unwrap();
    send(
        &rt,
        &s,
        "dave@example.test",
        list,
        &mail(
            "Dave <dave@example.test>",
            list,
            &format!("Re: Maternal Health {digest_subject}"),
            &id("dr"),
            &format!("In-Reply-To: {digest_id}\r\nReferences: {digest_id}\r\n"),
            "Did the bone-char filters need replacing often?\n\n\
             > We fitted bone-char filters at the school tanks; fluoride fell below 1 mg/l in a month.\n",
        ),
    );
    until(
        "the digest reply placed in the query's thread",
        &daemon,
        || {
            threads(&home, &[])
                .into_iter()
                .find(|t| t["id"] == q_thread["id"] && t["posts"] == 6)
        },
    );
    assert!(
        threads(&home, &["--flagged"]).is_empty(),
        "placed, so not flagged"
    );
    // Each-post members get it under the thread's subject, not the
    // digest's, which they never received.
    let placed = wait_raw(
        &rt,
        &s,
        &daemon,
        "alice",
        &format!("Message-ID: <{}>", id("dr")),
    );
    let subject = header(&placed, "Subject").unwrap();
    let asked = q_thread["subject"].as_str().unwrap();
    assert_eq!(subject, format!("[health] Re: {asked}"), "{placed}");

    // dave has had enough mail: `set delivery none` by mail changes
    // nothing until he confirms by replying (item 4).
    send(
        &rt,
        &s,
        "dave@example.test",
        "list-request@example.test",
        &mail(
            "Dave <dave@example.test>",
            "list-request@example.test",
            "set delivery none",
            &id("dn"),
            "",
            "",
        ),
    );
    let ask = wait_raw(&rt, &s, &daemon, "dave", "asked to change the membership");
    assert_eq!(member(&home, "dave@example.test")["delivery"], "digest");
    let (to, confirm) = client_reply("dave@example.test", &ask, &id("dy"));
    send(&rt, &s, "dave@example.test", &to, &confirm);
    until("dave's delivery none", &daemon, || {
        (member(&home, "dave@example.test")["delivery"] == "none").then_some(())
    });
    wait_raw(&rt, &s, &daemon, "dave", "delivery mode is now none");

    // Item 6: search by whole Hindi words, not fragments; a prefix in Latin.
    assert_eq!(found(&home, "शिविर"), [erin_subject.as_str()]);
    assert_eq!(found(&home, "फ़ायदा"), [erin_subject.as_str()]);
    assert!(found(&home, "शिवि").is_empty());
    assert!(found(&home, "फ़िल्म").is_empty());
    let fluor = found(&home, "fluor*");
    assert!(fluor.contains(&query), "{fluor:?}");
    assert!(found(&home, "fluor").is_empty());

    // The moderator consolidates and publishes (item 8, item 10, friction).
    let qid = q_thread["id"].as_i64().unwrap().to_string();
    let draft = home.stdout(&["consolidate", &qid, "--print"]);
    assert!(draft.contains("Bob Mehta, Jal Trust, Jaipur"), "{draft}");
    // Thanked once each (dave answered and replied to the digest), the
    // asker (alice, who said thanks) not at all.
    let thanked = draft
        .split("## Responses were received, with thanks, from")
        .nth(1)
        .and_then(|t| t.split("\n## ").next())
        .unwrap_or_default();
    assert_eq!(thanked.matches(". Dave").count(), 1, "{thanked}");
    assert!(!thanked.contains("Alice Rao"), "{thanked}");
    assert!(draft.contains(&listed), "{draft}");
    assert!(!draft.contains("Regards,"), "no sign-off lines:\n{draft}");
    let file = home.path().join("draft.md");
    std::fs::write(&file, &draft).unwrap();
    home.stdout(&["consolidate", &qid, "--from", file.to_str().unwrap()]);
    home.stdout(&["publish", &qid]);
    // frank (consolidated) and the each-post members get the reply.
    for who in ["frank", "alice"] {
        let reply = wait_raw(&rt, &s, &daemon, who, "Consolidated Reply");
        assert!(text(&reply).contains(&listed), "{who}: {}", text(&reply));
    }
    let store = home.store();
    let (_, bytes) = store.attachment_file(&sha).unwrap().unwrap();
    assert_eq!(bytes, guide, "the link's sha256 names the PDF's bytes");

    // Item 7: no Message-ID in any received mail names this machine.
    let host = host_name();
    let everyone = MEMBERS.map(|m| m.0);
    for who in everyone.iter().chain(&["oscar"]) {
        for raw in rt.block_on(raw_inbox(&s, who)) {
            let mid = header(&raw, "Message-ID").unwrap_or_default();
            assert!(!mid.contains(&host), "{who} got {mid} naming {host}");
            assert!(mid.starts_with('<') && mid.ends_with('>'), "{who}: {mid}");
        }
    }

    // Item 1, over the whole week: no copy of the unsubscribe reached a
    // member, digests and the Consolidated Reply included (the moderator's
    // hold notice quotes it; that is no copy). Item 5: each confirmation
    // reply was one action with one answer, never "already used".
    for (who, ..) in MEMBERS {
        let inbox = rt.block_on(raw_inbox(&s, who));
        assert!(
            !inbox.iter().any(|m| {
                header(m, "Message-ID").as_deref() == Some(&format!("<{}>", id("u")))
                    || (m.contains(&unsub) && !m.contains("Held (administrivia)"))
            }),
            "the unsubscribe reached {who}"
        );
        assert!(
            !inbox.iter().any(|m| m.contains("already used")),
            "{who} was told a code was already used"
        );
    }
    // Delivery modes held all week: grace (none) got no list mail, frank
    // (consolidated) only the reply, dave (none since Friday) not the
    // reply; subjects of plain ASCII arrive unencoded in every mailbox.
    let list_mail = |who: &str| -> Vec<String> {
        rt.block_on(raw_inbox(&s, who))
            .iter()
            .map(|m| header(m, "Subject").unwrap_or_default())
            .filter(|s| s.contains(&tag.to_string()) || s.contains("Digest"))
            .collect()
    };
    assert_eq!(list_mail("grace"), Vec::<String>::new());
    assert_eq!(
        list_mail("frank"),
        [format!("[health] Consolidated Reply: {query}")]
    );
    assert!(
        !list_mail("dave")
            .iter()
            .any(|s| s.contains("Consolidated Reply")),
        "{:?}",
        list_mail("dave")
    );
    for (who, ..) in MEMBERS {
        for raw in rt.block_on(raw_inbox(&s, who)) {
            let subject = header(&raw, "Subject").unwrap_or_default();
            if subject.is_ascii() && !subject.contains("=?") {
                continue;
            }
            let decoded = MessageParser::default()
                .parse(raw.as_bytes())
                .unwrap()
                .subject()
                .unwrap_or("")
                .to_string();
            assert!(!decoded.is_ascii(), "{who}: {subject} is encoded");
        }
    }
    assert!(
        !rt.block_on(raw_inbox(&s, "oscar"))
            .iter()
            .any(|m| m.contains(&forged)),
        "the forged post was acknowledged"
    );
    for (who, answer) in [
        ("bob", "your place is now Jaipur"),
        ("dave", "delivery mode is now none"),
    ] {
        let answers = rt
            .block_on(raw_inbox(&s, who))
            .into_iter()
            .filter(|m| text(m).contains(answer))
            .count();
        assert_eq!(answers, 1, "{who}: {answer}");
    }

    // The audit log: the approvals, the consolidation and the publication,
    // with who and how.
    let audit = home.json(&["audit", "-c", "health", "--json"]);
    let acts: Vec<(String, String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let f = |k: &str| r[k].as_str().unwrap_or("").to_string();
            (f("action"), f("actor"), f("how"))
        })
        .collect();
    for (action, how) in [
        ("approve", "email"),
        ("approve", "cli"),
        ("consolidate", "cli"),
        ("publish", "cli"),
    ] {
        assert!(
            acts.iter()
                .any(|(a, who, h)| a == action && h == how && !who.is_empty()),
            "{action} by {how}: {acts:#?}"
        );
    }
    assert!(
        acts.iter()
            .any(|(a, who, h)| a == "approve" && h == "email" && who == "moderator@example.test"),
        "{acts:#?}"
    );
    drop(daemon);
}
