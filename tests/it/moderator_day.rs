//! Issue 17's acceptance walk, "a moderator's day", in a real browser on a
//! private Dovecot + Postfix: posts arrive over SMTP and IMAP, two
//! moderators sign in from links mailed to their real mailboxes, decide
//! held posts (two at once, one rejected with a reason its sender reads in
//! their mailbox, one raced for), draft, compare, schedule, cancel and
//! publish a Consolidated Reply that members reading each post and
//! Consolidated Replies receive, and change a member's delivery; every
//! workspace page passes the HTML validator and axe on the way.
//!
//! Long because the day is one story: each step works on the mail and
//! decisions of the one before, on one stack started once.

use std::time::Duration;

use serde_json::Value;

use crate::browser::{Browser, free_port};
use crate::support::{Daemon, Home, PrivateStack, Stack};
use crate::week::until;

/// The members: (user, name, delivery, role).
const MEMBERS: [(&str, &str, &str, &str); 6] = [
    ("moderator", "Meera Iyer", "each", "moderator"),
    ("grace", "Grace Lobo", "none", "moderator"),
    ("alice", "Alice Rao", "each", "member"),
    ("bob", "Bob Mehta", "each", "member"),
    ("frank", "Frank Dsouza", "consolidated", "member"),
    ("carol", "Carol Pinto", "digest", "member"),
];

/// Sends `raw` from `from` to the list over SMTP, as a mail client does.
pub(crate) fn send(rt: &tokio::runtime::Runtime, s: &PrivateStack, from: &str, raw: &str) {
    use lettre::address::Envelope;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let (host, port) = Stack::split(&s.smtp);
    let envelope = Envelope::new(
        Some(from.parse().unwrap()),
        vec!["list@example.test".parse().unwrap()],
    )
    .unwrap();
    rt.block_on(async {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .build()
            .send_raw(&envelope, raw.as_bytes())
            .await
    })
    .unwrap();
}

/// A message from `from` (a bare address) to the list.
fn mail(from: &str, subject: &str, id: &str, headers: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: list@example.test\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Thu, 3 Dec 2026 10:00:00 +0530\r\n{headers}\r\n{}\r\n",
        body.replace('\n', "\r\n")
    )
}

/// The held posts: subject → id.
fn held(home: &Home) -> Vec<(String, i64)> {
    home.json(&["queue", "-c", "health", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["subject"].as_str().unwrap().to_string(),
                h["id"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The id of the held post with `subject`, once it is held.
fn held_id(home: &Home, daemon: &Daemon, subject: &str) -> i64 {
    until(&format!("{subject} held"), daemon, || {
        held(home)
            .into_iter()
            .find(|(s, _)| s == subject)
            .map(|(_, id)| id)
    })
}

/// The sign-in link mailed to `user`, read from their mailbox over IMAP.
fn sign_in(
    b: &mut Browser,
    rt: &tokio::runtime::Runtime,
    s: &PrivateStack,
    base: &str,
    user: &str,
) {
    b.goto(&format!("{base}/signin"));
    b.fill("#signin-email", &format!("{user}@example.test"));
    b.submit("main form button[type=submit]");
    let mail = rt.block_on(s.wait_inbox(user, "/signin/"));
    let start = mail.find(&format!("{base}/signin/")).unwrap();
    let link: String = mail[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>')
        .collect();
    b.goto(&link);
    b.submit("main form button[type=submit]");
}

#[test]
fn a_moderators_day_in_the_browser() {
    let Some(tools) = crate::browser::tools() else {
        return;
    };
    let s = PrivateStack::start();
    let home = Home::with_config(&s.live_config(true));
    let key = home.path().join("link.key");
    std::fs::write(&key, "a moderator's day link secret\n").unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = std::fs::read_to_string(home.config()).unwrap().replacen(
        "[delivery]\n",
        &format!("[delivery]\nlink_secret_file = \"{}\"\n", key.display()),
        1,
    ) + "[community.policy]\nreject_reasons = [\"Advertising is not allowed here.\"]\n\
         [community.web]\narchive = \"members\"\n"
        + &format!("\n[http]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{base}\"\n");
    home.write_config(&config);
    for (user, name, delivery, role) in MEMBERS {
        home.praxis()
            .args([
                "members",
                "add",
                &format!("{user}@example.test"),
                "-c",
                "health",
            ])
            .args(["--name", name, "--delivery", delivery, "--role", role])
            .args(["--moderation", "accept"])
            .assert()
            .success();
    }
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap() % 1_000_000_000;

    // Morning: oscar, not a member, writes four times; all four are held.
    let subjects = [
        format!("Cold chain boxes {tag}"),
        format!("ORS in summer {tag}"),
        format!("Cheap radiant warmers {tag}"),
        format!("Fluoride filters {tag}"),
    ];
    for (n, subject) in subjects.iter().enumerate() {
        send(
            &rt,
            &s,
            "oscar@example.test",
            &mail(
                "Oscar Fernandes <oscar@example.test>",
                subject,
                &format!("oscar-{n}-{tag}@example.test"),
                "",
                "Has anyone tried this in a district hospital?",
            ),
        );
    }
    let ids: Vec<i64> = subjects
        .iter()
        .map(|s| held_id(&home, &daemon, s))
        .collect();

    // Meera signs in from the link in her mailbox and finds the queue.
    let mut meera = Browser::with_tools(tools.clone());
    sign_in(&mut meera, &rt, &s, &base, "moderator");
    meera.goto(&format!("{base}/mod/"));
    meera.click_link("Maternal Health");
    assert!(
        meera.url().ends_with("/mod/health/queue"),
        "{}",
        meera.url()
    );

    // Two approved at once.
    meera.click(&format!("#post-{}", ids[0]));
    meera.click(&format!("#post-{}", ids[1]));
    meera.submit("button[value=approve]");
    let text = meera.text("main");
    for id in &ids[..2] {
        assert!(text.contains(&format!("Approved: post {id}")), "{text}");
    }
    // One rejected with a ready-made reason: oscar's mailbox has it.
    meera.click(&format!("#post-{}", ids[2]));
    meera.select("#canned", "0");
    meera.submit("button[value=reject]");
    assert!(
        meera
            .text("main")
            .contains(&format!("Rejected: post {}", ids[2]))
    );
    let told = rt.block_on(s.wait_inbox("oscar", "Advertising is not allowed here."));
    assert!(told.contains(&subjects[2]), "{told}");

    // Grace signs in too; both open the queue with the fluoride post; Meera
    // approves it as a query first, Grace's rejection is refused and says who won.
    let mut grace = Browser::with_tools(tools.clone());
    sign_in(&mut grace, &rt, &s, &base, "grace");
    grace.goto(&format!("{base}/mod/health/queue"));
    meera.goto(&format!("{base}/mod/health/queue"));
    meera.click(&format!("#post-{}", ids[3]));
    meera.select("#kind", "query");
    meera.submit("button[value=approve]");
    assert!(
        meera.text("main").contains("is marked query"),
        "{}",
        meera.text("main")
    );
    grace.click(&format!("#post-{}", ids[3]));
    grace.fill("#reason", "Off topic.");
    grace.submit("button[value=reject]");
    let told = grace.text("main");
    assert!(
        told.contains(&format!(
            "Post {} was already decided: approved by Meera Iyer at",
            ids[3]
        )),
        "{told}"
    );
    assert!(held(&home).is_empty(), "{:?}", held(&home));
    let audit = home.json(&["audit", "-c", "health", "--json"]);
    let decided: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["post_id"] == ids[3] && e["action"] != "mark")
        .collect();
    assert_eq!(decided.len(), 1, "decided once: {audit}");
    assert_eq!(
        (&decided[0]["actor"], &decided[0]["how"]),
        (&Value::from("Meera Iyer"), &Value::from("web"))
    );

    // Members answer the query by mail.
    let query_id = format!("oscar-3-{tag}@example.test");
    for (user, name, text) in [
        (
            "alice",
            "Alice Rao",
            "Bone-char filters at the school tanks brought fluoride below 1 mg/l.",
        ),
        (
            "bob",
            "Bob Mehta",
            "Nalgonda technique worked for us, with training for the village committee.",
        ),
    ] {
        send(
            &rt,
            &s,
            &format!("{user}@example.test"),
            &mail(
                &format!("{name} <{user}@example.test>"),
                &format!("Re: {}", subjects[3]),
                &format!("{user}-{tag}@example.test"),
                &format!("In-Reply-To: <{query_id}>\r\nReferences: <{query_id}>\r\n"),
                text,
            ),
        );
    }
    let thread = until("two responses", &daemon, || {
        home.json(&["threads", "-c", "health", "--queries", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["subject"] == subjects[3].as_str() && t["responses"] == 2)
            .map(|t| t["id"].as_i64().unwrap())
    });

    // The board, then the draft: generated, edited and saved twice, compared.
    meera.goto(&format!("{base}/mod/health/queries"));
    meera.click_link(&subjects[3]);
    assert!(
        meera.url().ends_with(&format!("/queries/{thread}/draft")),
        "{}",
        meera.url()
    );
    let generated = meera.execute("return document.querySelector('#body').value;", vec![]);
    let generated = generated.as_str().unwrap().to_string();
    assert!(
        generated.contains("Alice Rao") && generated.contains("Bob Mehta"),
        "{generated}"
    );
    meera.fill(
        "#body",
        "# Fluoride filters\n\nTwo districts brought fluoride down.\n",
    );
    meera.submit("button[value=save]");
    assert!(
        meera.text("main").contains("Saved version 1"),
        "{}",
        meera.text("main")
    );
    meera.fill(
        "#body",
        "# Fluoride filters\n\nTwo districts brought fluoride below 1 mg/l: bone-char and Nalgonda.\n",
    );
    meera.submit("button[value=save]");
    assert!(
        meera.text("main").contains("Saved version 2"),
        "{}",
        meera.text("main")
    );
    assert!(
        meera.text(".preview").contains("bone-char and Nalgonda"),
        "the rendering beside the editor: {}",
        meera.text(".preview")
    );
    meera.select("#a", "1");
    meera.select("#b", "2");
    meera.submit("#compare button[type=submit]");
    let diff = meera.text("pre.diff");
    assert!(
        diff.contains("-Two districts brought fluoride down."),
        "{diff}"
    );
    assert!(
        diff.contains("+Two districts brought fluoride below 1 mg/l"),
        "{diff}"
    );

    // Scheduled for next year, then cancelled.
    meera.execute(
        "document.querySelector('#at').value = '2099-01-01T09:00'; return null;",
        vec![],
    );
    meera.submit("button[value=schedule]");
    assert!(
        meera
            .text("main")
            .contains("is scheduled for 1 Jan 2099 09:00"),
        "{}",
        meera.text("main")
    );
    meera.submit("button[value=cancel]");
    assert!(
        meera.text("main").contains("is no longer scheduled"),
        "{}",
        meera.text("main")
    );

    // Published: alice (each post) and frank (Consolidated Replies) receive it.
    meera.submit("button[value=publish]");
    assert!(
        meera.text("main").contains("Published Consolidated Reply"),
        "{}",
        meera.text("main")
    );
    for user in ["alice", "frank"] {
        let got = rt.block_on(s.wait_inbox(user, "bone-char and Nalgonda"));
        assert!(got.contains("Consolidated Reply"), "{user}: {got}");
    }

    // Carol reads the digest; she asks for each post. Meera finds her on
    // the members page and changes her mode; alice's next post reaches
    // carol's mailbox on its own.
    meera.goto(&format!("{base}/mod/health/queries"));
    meera.click_link("Members");
    meera.fill("#q", "PINTO");
    meera.submit("form.find button");
    meera.select("#delivery-0", "each");
    meera.submit("#set-0 button");
    let text = meera.text("main");
    assert!(text.contains("Changed Carol Pinto"), "{text}");
    let carol = home
        .json(&["members", "list", "-c", "health", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "carol@example.test")
        .cloned()
        .unwrap();
    assert_eq!(carol["delivery"], "each", "{carol}");
    let subject = format!("Handpump repairs {tag}");
    send(
        &rt,
        &s,
        "alice@example.test",
        &mail(
            "Alice Rao <alice@example.test>",
            &subject,
            &format!("alice-pump-{tag}@example.test"),
            "",
            "Who trains the village mechanics in your block?",
        ),
    );
    let got = rt.block_on(s.wait_inbox("carol", "Who trains the village mechanics"));
    assert!(got.contains(&subject), "{got}");

    // Every workspace page, valid and accessible.
    meera.check_pages(&[
        format!("{base}/mod/"),
        format!("{base}/mod/health/queue"),
        format!("{base}/mod/health/queries"),
        format!("{base}/mod/health/queries/{thread}/draft"),
        format!("{base}/mod/health/members"),
        format!("{base}/mod/health/outbox"),
        format!("{base}/c/health/health"),
    ]);
}
