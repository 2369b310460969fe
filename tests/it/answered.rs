//! Earlier answers at intake (issue 18, capability 1): a held question
//! that starts a thread brings up to three earlier threads into the
//! moderators' hold notice and under it in the queue; the queue's "Answer
//! with this reply" and `praxis reject POST --answered-by QUERY` reject it
//! and send its author the earlier Consolidated Reply with its link; a
//! query without a published reply, or of another community, is refused
//! with nothing decided. In a real browser the queue stays valid and
//! accessible and the button answers. The real-stack walk reads the notice and the note
//! over IMAP and follows the link on the running web.

use std::time::Duration;

use serde_json::Value;

use crate::consolidate::asked_and_answered;
use crate::moderator_day::send;
use crate::site::Site;
use crate::support::{Daemon, Home, PrivateStack};
use crate::web_members::wait_mail;
use crate::web_moderate::{MEERA, hold, sign_in};
use crate::week::until;

/// The demo's earlier query that a question about home Kangaroo Mother
/// Care should find.
const KMC: &str =
    "Query: Kangaroo Mother Care for low-birth-weight babies in district hospitals - experiences?";

/// The earlier threads `praxis related POST --json` lists.
fn related(home: &Home, post: i64) -> Vec<Value> {
    home.json(&["related", &post.to_string(), "--json"])
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn the_hold_notice_and_the_queue_offer_the_earlier_reply_and_its_button_answers() {
    let site = Site::demo("members", "");
    let asker = "k@outside.example";
    let post = hold(
        &site,
        &format!("Outsider <{asker}>"),
        "Kangaroo mother care for low birth weight babies at home",
    );
    let kmc = related(&site.home, post)
        .into_iter()
        .find(|t| t["subject"] == KMC)
        .unwrap_or_else(|| panic!("{KMC} is not related"));
    assert!(kmc["consolidated_reply"].is_i64(), "{kmc}");
    let q = kmc["thread_id"].as_i64().unwrap();

    // The moderators' hold notice lists it, with its score, its links and
    // the command that answers with it.
    let notice = wait_mail(
        &site,
        MEERA,
        "Held (nonmember): Kangaroo mother care for low birth weight babies at home",
    );
    assert!(
        notice.contains("---- earlier threads that may answer it ----"),
        "{notice}"
    );
    assert!(
        notice.contains(&format!("{KMC} (score ")),
        "the thread with its score: {notice}"
    );
    assert!(
        notice.contains(&format!("query {q}, Consolidated Reply)")),
        "{notice}"
    );
    assert!(
        notice.contains(&format!(
            "Consolidated Reply: {}/c/mch/replies/{q}",
            site.base
        )),
        "{notice}"
    );
    assert!(
        notice.contains(&format!("praxis reject {post} --answered-by {q}")),
        "{notice}"
    );
    let listed = notice.lines().filter(|l| l.contains(" (score ")).count();
    assert!((1..=3).contains(&listed), "at most 3: {notice}");

    // The queue shows it under the post, with the button and its form.
    sign_in(&site, MEERA);
    let page = site.get("/mod/mch/queue");
    assert_eq!(page.code, 200, "{}", page.body);
    assert!(
        page.body.contains("Earlier threads that may answer it"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!(
            "<a href=\"/c/mch/t/{q}\">{KMC}</a> (<a href=\"/c/mch/replies/{q}\">Consolidated Reply</a>) <button type=\"submit\" form=\"answer-{post}-{q}\">Answer with this reply</button>"
        )),
        "{}",
        page.body
    );
    let form_at = page
        .body
        .find(&format!(
            "<form id=\"answer-{post}-{q}\" method=\"post\" action=\"/mod/mch/queue\">"
        ))
        .unwrap_or_else(|| panic!("no answer form: {}", page.body));
    let form = &page.body[form_at..];
    let form = &form[..form.find("</form>").unwrap()];
    assert!(
        form.contains(&format!("name=\"answer\" value=\"{post}-{q}\"")),
        "{form}"
    );
    let csrf = Site::input_value(form, "csrf").expect("the answer form has a CSRF token");

    // A thread without a reply is refused, nothing decided.
    let done = site.post(
        "/mod/mch/queue",
        &format!("csrf={csrf}&answer={post}-999999"),
    );
    assert_eq!(done.code, 400, "{}", done.body);
    assert!(
        done.body.contains("there is no query 999999 in mch"),
        "{}",
        done.body
    );

    // The button: rejected, and the asker has the reply with its link.
    let done = site.post("/mod/mch/queue", &format!("csrf={csrf}&answer={post}-{q}"));
    assert_eq!(done.code, 200, "{}", done.body);
    assert!(
        done.body
            .contains(&format!("Rejected: post {post} from {asker}"))
            && done
                .body
                .contains(&format!("answered by query {q}’s Consolidated Reply")),
        "{}",
        done.body
    );
    let note = wait_mail(&site, asker, "Answered before: Kangaroo mother care");
    assert!(
        note.contains(&format!("{}/c/mch/replies/{q}", site.base)),
        "{note}"
    );
    assert!(
        note.contains("---- the Consolidated Reply ----") && note.contains("write to"),
        "{note}"
    );
    assert!(note.contains("Kangaroo"), "the reply's text: {note}");
    assert!(
        site.home
            .json(&["queue", "-c", "mch", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["id"] != post),
        "decided"
    );
    let audit = site.home.json(&["audit", "-c", "mch", "--json"]);
    let row = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["post_id"] == post && a["action"] == "reject")
        .unwrap_or_else(|| panic!("no rejection audited: {audit}"));
    assert_eq!(
        (&row["actor"], &row["how"], &row["reason"]),
        (
            &Value::from("Meera Iyer"),
            &Value::from("web"),
            &Value::from(format!("answered by query {q}"))
        ),
        "{row}"
    );

    // A second press: decided once, said so.
    let again = site.post("/mod/mch/queue", &format!("csrf={csrf}&answer={post}-{q}"));
    assert!(
        again.body.contains(&format!(
            "Post {post} was already decided: reject by Meera Iyer"
        )),
        "{}",
        again.body
    );
}

/// In a real browser: the queue with an earlier reply under a held post is
/// valid HTML and accessible, and its button (outside the decision form,
/// joined to its own by `form=`) answers the post.
#[test]
fn the_answer_button_works_in_the_browser() {
    use crate::browser::Browser;
    use crate::web_moderate::browser_sign_in;
    let site = Site::demo("members", "");
    let Some(mut b) = Browser::start() else {
        return;
    };
    let post = hold(
        &site,
        "Outsider <k@outside.example>",
        "Kangaroo mother care for low birth weight babies at home",
    );
    let q = related(&site.home, post)
        .into_iter()
        .find(|t| t["subject"] == KMC)
        .unwrap()["thread_id"]
        .as_i64()
        .unwrap();
    let base = site.base.clone();
    browser_sign_in(&mut b, &site, MEERA);
    b.check_pages(&[format!("{base}/mod/mch/queue")]);
    b.submit(&format!("button[form=answer-{post}-{q}]"));
    let text = b.text("main");
    assert!(
        text.contains(&format!("Rejected: post {post} from k@outside.example"))
            && text.contains(&format!("answered by query {q}’s Consolidated Reply")),
        "{text}"
    );
    wait_mail(&site, "k@outside.example", "Answered before:");
}

/// The outbox's notices to `to`, decoded: (subject, text).
fn notices(home: &Home, to: &str) -> Vec<(String, String)> {
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
                .any(|d| d.recipient == to)
        })
        .map(|m| {
            let raw = store.outbox_message(m.id).unwrap().message;
            let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
            (
                m.subject.clone(),
                parsed.body_text(0).unwrap_or_default().into_owned(),
            )
        })
        .collect()
}

fn ingest(home: &Home, slug: &str, raw: &str) {
    home.praxis()
        .args(["ingest", "-c", slug])
        .write_stdin(raw.to_string())
        .assert()
        .success();
}

/// The held post with `subject`.
fn held(home: &Home, subject: &str) -> i64 {
    home.json(&["queue", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["subject"] == subject)
        .unwrap_or_else(|| panic!("{subject} is not held"))["id"]
        .as_i64()
        .unwrap()
}

#[test]
fn reject_answered_by_sends_the_reply_and_refuses_a_query_without_one_or_elsewhere() {
    let home = Home::new();
    let q = asked_and_answered(&home);
    let file = home.path().join("draft.md");
    std::fs::write(
        &file,
        "Boat clinics on a fixed timetable, announced by radio a day ahead.\n",
    )
    .unwrap();
    home.stdout(&[
        "consolidate",
        &q.to_string(),
        "--from",
        file.to_str().unwrap(),
    ]);
    home.stdout(&["publish", &q.to_string()]);
    // A query with no reply yet, and one in the other community.
    ingest(
        &home,
        "health",
        "From: Alice Rao <alice@example.org>\nTo: list@example.test\nSubject: Zinc for diarrhoea?\nMessage-ID: <z1@example.org>\n\nWhat dose of zinc for children?\n",
    );
    let open = home
        .json(&["threads", "-c", "health", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["subject"] == "Zinc for diarrhoea?")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    home.praxis()
        .args(["members", "add", "teacher@example.org", "-c", "education"])
        .args(["--moderation", "accept"])
        .assert()
        .success();
    ingest(
        &home,
        "education",
        "From: teacher@example.org\nTo: education@example.test\nSubject: Mobile schools in flood areas?\nMessage-ID: <e1@example.org>\n\nClasses on boats during floods?\n",
    );
    let elsewhere = home
        .json(&["threads", "-c", "education", "--json"])
        .as_array()
        .unwrap()[0]["id"]
        .as_i64()
        .unwrap();

    // A nonmember asks again what was answered: held, first in its thread.
    ingest(
        &home,
        "health",
        "From: Oscar Fernandes <oscar@outside.example>\nTo: list@example.test\nSubject: Clinics by boat during floods\nMessage-ID: <o1@outside.example>\n\nHow do we run mobile clinics when the villages flood?\n",
    );
    let post = held(&home, "Clinics by boat during floods");

    // The hold notice lists the earlier thread and its reply.
    let (_, notice) = notices(&home, "meera@example.org")
        .into_iter()
        .find(|(s, _)| s.contains("Clinics by boat during floods"))
        .expect("a hold notice to the moderator");
    assert!(
        notice.contains("1. Mobile clinics in flood areas? (score ")
            && notice.contains(&format!("query {q}, Consolidated Reply)")),
        "{notice}"
    );
    // No web address configured: no bare paths posing as links.
    assert!(
        !notice.contains("/c/health/")
            && notice.contains(&format!("praxis reject {post} --answered-by {q}")),
        "{notice}"
    );

    // Refused, each naming the thing and the fix; the post stays held.
    for (query, says) in [
        (
            open,
            format!(
                "query {open} (\"Zinc for diarrhoea?\") has no published Consolidated Reply; publish one first"
            ),
        ),
        (
            elsewhere,
            format!("query {elsewhere} is in education, not health where post {post} was sent"),
        ),
        (
            424242,
            format!("there is no query 424242 in health; `praxis related {post}`"),
        ),
    ] {
        let err = home.stderr_of_failure(&[
            "reject",
            &post.to_string(),
            "--answered-by",
            &query.to_string(),
        ]);
        assert!(err.contains(&says), "{err}");
        assert_eq!(held(&home, "Clinics by boat during floods"), post);
    }
    // --reason and --answered-by do not mix; one of them is needed.
    home.praxis()
        .args([
            "reject",
            &post.to_string(),
            "--reason",
            "x",
            "--answered-by",
            &q.to_string(),
        ])
        .assert()
        .code(2);
    home.praxis()
        .args(["reject", &post.to_string()])
        .assert()
        .code(2);

    // Answered: rejected, audited, and Oscar is sent the reply.
    let said = home.stdout(&["reject", &post.to_string(), "--answered-by", &q.to_string()]);
    assert!(
        said.contains(&format!(
            "rejected post {post} in health from oscar@outside.example: Clinics by boat during floods; answered by query {q}"
        )) && said.contains("no link: set [http] public_url"),
        "{said}"
    );
    let shown = home.json(&["show", &post.to_string(), "--json"]);
    assert_eq!(shown["state"], "rejected", "{shown}");
    let to_oscar = notices(&home, "oscar@outside.example");
    let (subject, note) = to_oscar
        .iter()
        .find(|(s, _)| s.contains("Answered before:"))
        .unwrap_or_else(|| panic!("no note to the asker: {to_oscar:?}"));
    assert!(
        subject.contains("Clinics by boat during floods"),
        "{subject}"
    );
    assert!(
        note.contains("Hello Oscar Fernandes")
            && note.contains("Boat clinics on a fixed timetable, announced by radio a day ahead.")
            && note.contains("Mobile clinics in flood areas?")
            && note.contains("please write to list@example.test again"),
        "{note}"
    );
    let audit = home.json(&["audit", "-c", "health", "--json"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["post_id"] == post
                && a["action"] == "reject"
                && a["how"] == "cli"
                && a["reason"] == format!("answered by query {q}").as_str()),
        "{audit}"
    );
}

/// GET `url` (`http://host:port/path`): the status and the whole answer.
fn http_get(url: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

/// The real stack: the hold notice and the note are read over IMAP, and
/// the note's link opens the reply on the running web.
#[test]
fn a_question_answered_before_gets_the_reply_by_mail_and_its_link_opens() {
    let s = PrivateStack::start();
    let home = Home::with_config(&s.live_config(true));
    let key = home.path().join("link.key");
    std::fs::write(&key, "an earlier answers link secret\n").unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let port = crate::browser::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = std::fs::read_to_string(home.config()).unwrap().replacen(
        "[delivery]\n",
        &format!("[delivery]\nlink_secret_file = \"{}\"\n", key.display()),
        1,
    ) + "[community.web]\narchive = \"public\"\n"
        + &format!("\n[http]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{base}\"\n");
    home.write_config(&config);
    for (user, name, role) in [
        ("moderator", "Meera Iyer", "moderator"),
        ("alice", "Alice Rao", "member"),
        ("bob", "Bob Mehta", "member"),
    ] {
        home.praxis()
            .args([
                "members",
                "add",
                &format!("{user}@example.test"),
                "-c",
                "health",
            ])
            .args(["--name", name, "--role", role, "--moderation", "accept"])
            .args(["--delivery", "none"])
            .assert()
            .success();
    }
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap() % 1_000_000_000;

    // The earlier query, answered, and its Consolidated Reply published.
    let subject = format!("Solar fridges for the vaccine cold chain {tag}");
    send(
        &rt,
        &s,
        "alice@example.test",
        &format!(
            "From: Alice Rao <alice@example.test>\r\nTo: list@example.test\r\nSubject: {subject}\r\n\
             Message-ID: <solar-{tag}@example.test>\r\nDate: Thu, 3 Dec 2026 10:00:00 +0530\r\n\r\n\
             Which solar fridges keep vaccines between 2 and 8 degrees without grid power?\r\n"
        ),
    );
    let q = until("the earlier query", &daemon, || {
        home.json(&["threads", "-c", "health", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["subject"] == subject.as_str())
            .map(|t| t["id"].as_i64().unwrap())
    });
    home.praxis()
        .args(["mark", &q.to_string(), "query"])
        .assert()
        .success();
    let file = home.path().join("reply.md");
    std::fs::write(
        &file,
        format!("Solar direct-drive fridges held 2-8 C through the monsoon ({tag}).\n"),
    )
    .unwrap();
    home.stdout(&[
        "consolidate",
        &q.to_string(),
        "--from",
        file.to_str().unwrap(),
    ]);
    home.stdout(&["publish", &q.to_string()]);

    // Oscar, no member, asks the same in his own words: held.
    let asked = format!("Keeping vaccines cold with solar power {tag}");
    send(
        &rt,
        &s,
        "oscar@example.test",
        &format!(
            "From: Oscar Fernandes <oscar@example.test>\r\nTo: list@example.test\r\nSubject: {asked}\r\n\
             Message-ID: <oscar-{tag}@example.test>\r\nDate: Fri, 4 Dec 2026 10:00:00 +0530\r\n\r\n\
             Has anyone used solar fridges for vaccines where there is no grid power?\r\n"
        ),
    );
    let post = until("oscar's question held", &daemon, || {
        home.json(&["queue", "-c", "health", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["subject"] == asked.as_str())
            .map(|h| h["id"].as_i64().unwrap())
    });

    // The hold notice, read over IMAP, lists the earlier reply.
    let notice = rt.block_on(s.wait_inbox("moderator", &format!("Held (nonmember): {asked}")));
    assert!(
        notice.contains(&format!("{subject} (score "))
            && notice.contains(&format!("query {q}, Consolidated Reply)")),
        "{notice}"
    );
    let link = format!("{base}/c/health/replies/{q}");
    assert!(
        notice.contains(&format!("Consolidated Reply: {link}")),
        "{notice}"
    );

    // The moderator answers with it; Oscar's mailbox has the note and link.
    let said = home.stdout(&["reject", &post.to_string(), "--answered-by", &q.to_string()]);
    assert!(said.contains(&format!("its link {link}")), "{said}");
    let note = rt.block_on(s.wait_inbox("oscar", &format!("Answered before: {asked}")));
    assert!(note.contains(&link), "{note}");
    assert!(
        note.contains(&format!(
            "Solar direct-drive fridges held 2-8 C through the monsoon ({tag})."
        )),
        "{note}"
    );

    // The link opens the reply on the running web.
    let page = http_get(&link);
    assert_eq!(page.0, 200, "{}", page.1);
    assert!(
        page.1.contains(&format!(
            "Solar direct-drive fridges held 2-8 C through the monsoon ({tag})."
        )),
        "{}",
        page.1
    );
}
