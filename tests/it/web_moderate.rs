//! The moderators' workspace on the web: `/mod/` and the queue of held
//! posts, worked by moderators signed in from the mailed link; everyone
//! else is refused.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::site::Site;
use crate::web_members::{link, submit, wait_mail};

/// A post from someone not on the list: held for a moderator.
pub(crate) fn hold(site: &Site, from: &str, subject: &str) -> i64 {
    site.home
        .praxis()
        .args(["ingest", "-c", "mch"])
        .write_stdin(format!(
            "From: {from}\r\nTo: mch@lists.example.org\r\nSubject: {subject}\r\n\
             Message-ID: <{}@outside.example>\r\nDate: Thu, 3 Dec 2026 10:00:00 +0530\r\n\r\n\
             A question from outside the list.\r\n",
            subject.replace(' ', "-")
        ))
        .assert()
        .success();
    let queue = site.home.json(&["queue", "-c", "mch", "--json"]);
    queue
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["subject"] == subject)
        .unwrap_or_else(|| panic!("{subject} is not held: {queue}"))["id"]
        .as_i64()
        .unwrap()
}

/// Signs `email` in by the mailed link, in a fresh cookie jar.
pub(crate) fn sign_in(site: &Site, email: &str) {
    site.cookies.borrow_mut().clear();
    let sent = submit(
        site,
        "/signin",
        "/signin",
        &format!("email={}", email.replace('@', "%40")),
    );
    assert_eq!(sent.code, 200, "{}", sent.body);
    let mail = wait_mail(site, email, "Sign in");
    let path = link(site, &mail, "/signin/");
    let page = site.get(&path);
    let csrf = Site::input_value(&page.body, "csrf").unwrap();
    assert_eq!(site.post(&path, &format!("csrf={csrf}")).code, 303);
}

/// Signs `email` in, in the browser, by the mailed link.
pub(crate) fn browser_sign_in(b: &mut crate::browser::Browser, site: &Site, email: &str) {
    b.goto(&format!("{}/signin", site.base));
    b.fill("#signin-email", email);
    b.submit("main form button[type=submit]");
    let mail = wait_mail(site, email, "Sign in");
    b.goto(&format!("{}{}", site.base, link(site, &mail, "/signin/")));
    b.submit("main form button[type=submit]");
}

/// Sends the queue's form (with its CSRF token) as `form`.
fn decide(site: &Site, form: &str) -> crate::site::Answer {
    submit(site, "/mod/mch/queue", "/mod/mch/queue", form)
}

/// The held posts' ids now.
pub(crate) fn held(site: &Site) -> Vec<i64> {
    let queue = site.home.json(&["queue", "-c", "mch", "--json"]);
    queue
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_i64().unwrap())
        .collect()
}

pub(crate) const MEERA: &str = "meera.iyer@solutionexchange.example.org";

#[test]
fn moderators_work_the_queue_on_the_web_and_no_one_else_can() {
    let site = Site::demo("members", "");
    site.home
        .praxis()
        .args([
            "members",
            "add",
            "sunita@example.org",
            "-c",
            "mch",
            "--name",
            "Sunita Rao",
        ])
        .args(["--role", "moderator"])
        .assert()
        .success();
    let a = hold(
        &site,
        "Outsider One <one@outside.example>",
        "Cold chain boxes",
    );
    let b = hold(&site, "Outsider Two <two@outside.example>", "ORS in summer");
    let c = hold(
        &site,
        "Outsider Three <three@outside.example>",
        "Buy cheap pills",
    );

    // Anonymous: refused, with the sign-in offered; a member: refused.
    for path in ["/mod/", "/mod/mch/queue"] {
        let page = site.get(path);
        assert_eq!(page.code, 403, "{path}: {}", page.body);
        assert!(
            page.body.contains("open to its moderators only"),
            "{}",
            page.body
        );
        assert!(page.body.contains("/signin"), "{}", page.body);
    }
    sign_in(&site, "ravi.kumar@jeevika.example.org");
    assert_eq!(site.get("/mod/mch/queue").code, 403);
    assert_eq!(site.get("/mod/").code, 403);
    assert_eq!(
        site.post("/mod/mch/queue", &format!("post-{a}=on&action=approve"))
            .code,
        403
    );
    assert_eq!(held(&site), vec![a, b, c]);

    // Meera: her communities, then the queue, oldest first.
    sign_in(&site, MEERA);
    let index = site.get("/mod/");
    assert_eq!(index.code, 200, "{}", index.body);
    assert!(
        index
            .body
            .contains("/mod/mch/queue\">Maternal and Child Health Community</a></th><td>3</td>"),
        "{}",
        index.body
    );
    let page = site.get("/mod/mch/queue");
    assert_eq!(page.code, 200, "{}", page.body);
    let at = |id: i64| page.body.find(&format!("name=\"post-{id}\"")).unwrap();
    assert!(at(a) < at(b) && at(b) < at(c), "{}", page.body);
    assert!(page.body.contains("A question from outside the list."));
    assert!(
        !page.body.contains("one@outside.example"),
        "no addresses shown"
    );

    // Rejecting without a reason: refused, the ticks kept.
    let r = decide(&site, &format!("post-{c}=on&action=reject&reason="));
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(r.body.contains("Rejecting needs a reason"), "{}", r.body);
    assert!(
        r.body
            .contains(&format!("name=\"post-{c}\" value=\"on\" checked")),
        "{}",
        r.body
    );
    assert_eq!(held(&site), vec![a, b, c]);

    // Two approved at once.
    let r = decide(&site, &format!("post-{a}=on&post-{b}=on&action=approve"));
    assert_eq!(r.code, 200, "{}", r.body);
    assert!(
        r.body.contains(&format!("Approved: post {a}")),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(&format!("Approved: post {b}")),
        "{}",
        r.body
    );
    assert_eq!(held(&site), vec![c]);

    // Sunita, in her own session, opened the queue before Meera rejects.
    let meera_jar: BTreeMap<String, String> = site.cookies.borrow().clone();
    sign_in(&site, "sunita@example.org");
    let sunita_page = site.get("/mod/mch/queue");
    let sunita_csrf = Site::input_value(&sunita_page.body, "csrf").unwrap();
    let sunita_jar: BTreeMap<String, String> = site.cookies.borrow().clone();
    *site.cookies.borrow_mut() = meera_jar;
    let r = decide(
        &site,
        &format!("post-{c}=on&action=reject&reason=Advertising+is+not+allowed+here."),
    );
    assert!(
        r.body.contains(&format!("Rejected: post {c}")),
        "{}",
        r.body
    );
    assert!(r.body.contains("Nothing is held"), "{}", r.body);
    // Sunita's approval comes second: she is told who decided, and when.
    *site.cookies.borrow_mut() = sunita_jar;
    let r = site.post(
        "/mod/mch/queue",
        &format!("csrf={sunita_csrf}&post-{c}=on&action=approve"),
    );
    assert_eq!(r.code, 200, "{}", r.body);
    assert!(
        r.body.contains(&format!(
            "Post {c} was already decided: rejected by Meera Iyer at "
        )),
        "{}",
        r.body
    );
    // An id from no queue of this community changes nothing.
    let r = site.post(
        "/mod/mch/queue",
        &format!("csrf={sunita_csrf}&post-999999=on&action=discard"),
    );
    assert!(
        r.body.contains(
            "Post 999999 is not in Maternal and Child Health Community&#x27;s queue; nothing done."
        ),
        "{}",
        r.body
    );

    // The audit log names Meera and the web; the author is told why.
    let audit = site.home.json(&["audit", "-c", "mch", "--json"]);
    let acts: Vec<(String, String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| [a, b, c].contains(&e["post_id"].as_i64().unwrap_or(0)))
        .map(|e: &Value| {
            (
                e["action"].as_str().unwrap().into(),
                e["actor"].as_str().unwrap().into(),
                e["how"].as_str().unwrap().into(),
            )
        })
        .collect();
    for act in ["approve", "approve", "reject"] {
        assert!(
            acts.iter()
                .any(|x| x == &(act.into(), "Meera Iyer".into(), "web".into())),
            "{act}: {acts:?}"
        );
    }
    assert_eq!(
        acts.len(),
        3,
        "Sunita's late approval decided nothing: {acts:?}"
    );
    let told = wait_mail(&site, "three@outside.example", "");
    assert!(told.contains("Advertising is not allowed here."), "{told}");

    // Approved (by Sunita, whose session this is now) as a query: the thread
    // is marked, audited as hers on the web, and its Consolidated Reply falls
    // due; a refused form keeps the choice.
    let q = hold(
        &site,
        "Outsider Four <four@outside.example>",
        "Kits for home births",
    );
    let r = decide(
        &site,
        &format!("post-{q}=on&action=reject&kind=announcement"),
    );
    assert_eq!(r.code, 400);
    assert!(
        r.body.contains("<option value=\"announcement\" selected>"),
        "{}",
        r.body
    );
    let r = decide(&site, &format!("post-{q}=on&action=approve&kind=query"));
    assert!(r.body.contains("is marked query."), "{}", r.body);
    let queries = site.home.json(&["threads", "--queries", "--json"]);
    let t = queries
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["subject"] == "Kits for home births")
        .unwrap_or_else(|| panic!("{queries}"));
    assert!(t["deadline"].is_string(), "{t}");
    let audit = site.home.json(&["audit", "-c", "mch", "--json"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "mark" && e["actor"] == "Sunita Rao" && e["how"] == "web"),
        "{audit}"
    );

    // A new member's first post, approved with trust: their next one is not held.
    site.home
        .praxis()
        .args([
            "members",
            "add",
            "nisha@example.org",
            "-c",
            "mch",
            "--name",
            "Nisha Pillai",
        ])
        .assert()
        .success();
    let first = hold(
        &site,
        "Nisha Pillai <nisha@example.org>",
        "Hello from Kochi",
    );
    let r = decide(&site, &format!("post-{first}=on&action=trust"));
    assert!(
        r.body
            .contains(&format!("Approved: post {first} from nisha@example.org, “Hello from Kochi”. nisha@example.org now posts without moderation.")),
        "{}",
        r.body
    );
    site.home
        .praxis()
        .args(["ingest", "-c", "mch"])
        .write_stdin(
            "From: Nisha Pillai <nisha@example.org>\r\nTo: mch@lists.example.org\r\n\
             Subject: Second post\r\nMessage-ID: <second@nisha.example>\r\n\r\nAgain.\r\n",
        )
        .assert()
        .success();
    assert!(held(&site).is_empty(), "trusted: not held");
}

#[test]
fn a_moderator_signs_in_and_approves_two_held_posts_at_once_in_the_browser() {
    use crate::browser::Browser;
    let site = Site::demo("members", "");
    let Some(mut b) = Browser::start() else {
        return;
    };
    let a = hold(
        &site,
        "Outsider One <one@outside.example>",
        "Cold chain boxes",
    );
    let c = hold(&site, "Outsider Two <two@outside.example>", "ORS in summer");
    let base = site.base.clone();
    browser_sign_in(&mut b, &site, MEERA);
    b.goto(&format!("{base}/mod/"));
    b.click_link("Maternal and Child Health Community");
    assert!(b.url().ends_with("/mod/mch/queue"), "{}", b.url());
    b.click(&format!("#post-{a}"));
    b.click(&format!("#post-{c}"));
    b.submit("button[value=approve]");
    let text = b.text("main");
    assert!(text.contains(&format!("Approved: post {a}")), "{text}");
    assert!(text.contains(&format!("Approved: post {c}")), "{text}");
    assert!(held(&site).is_empty());
    // Both pages, with a post waiting, are valid and accessible.
    hold(
        &site,
        "Outsider Three <three@outside.example>",
        "Fluoride filters",
    );
    b.check_pages(&[format!("{base}/mod/"), format!("{base}/mod/mch/queue")]);
}

#[test]
fn ready_made_reasons_are_offered_and_mailed_as_written() {
    let site = Site::demo_edited("archive = \"members\"\n", "", &|c| {
        c.replacen(
            "[community.policy]\n",
            "[community.policy]\nreject_reasons = [\"Off topic for this community.\", \"Please post in English or Hindi.\"]\n",
            1,
        )
    });
    let p = hold(
        &site,
        "Outsider Five <five@outside.example>",
        "Cheap flights",
    );
    sign_in(&site, MEERA);
    let page = site.get("/mod/mch/queue");
    assert!(
        page.body
            .contains("<option value=\"0\">Off topic for this community.</option>"),
        "{}",
        page.body
    );
    // Chosen but not ticked: refused, the choice kept.
    let r = decide(&site, "action=reject&canned=1");
    assert_eq!(r.code, 400);
    assert!(
        r.body.contains("<option value=\"1\" selected>"),
        "{}",
        r.body
    );
    let r = decide(&site, &format!("post-{p}=on&action=reject&canned=0"));
    assert!(
        r.body.contains(&format!("Rejected: post {p}")),
        "{}",
        r.body
    );
    let told = wait_mail(&site, "five@outside.example", "");
    assert!(told.contains("Off topic for this community."), "{told}");
}

#[test]
fn a_long_queue_is_paged_and_a_decision_keeps_its_page() {
    let site = Site::demo_web("", "");
    let before = held(&site).len();
    for n in 0..(102 - before.min(102)) {
        hold(
            &site,
            &format!("Outsider {n} <o{n}@outside.example>"),
            &format!("Paged question {n:03}"),
        );
    }
    let all = held(&site);
    assert_eq!(all.len(), 102.max(before));
    sign_in(&site, MEERA);
    let first = site.get("/mod/mch/queue");
    assert_eq!(first.code, 200, "{}", first.body);
    assert_eq!(first.body.matches("type=\"checkbox\"").count(), 100);
    assert!(
        first.body.contains("posts 1 to 100 shown"),
        "{}",
        first.body
    );
    assert!(first.body.contains("href=\"/mod/mch/queue?page=2\""));
    let second = site.get("/mod/mch/queue?page=2");
    assert_eq!(
        second.body.matches("type=\"checkbox\"").count(),
        all.len() - 100
    );
    let last = *all.iter().max().unwrap();
    assert!(
        second.body.contains(&format!("name=\"post-{last}\"")),
        "{}",
        second.body
    );
    // Deciding on page 2 answers with page 2.
    let r = submit(
        &site,
        "/mod/mch/queue?page=2",
        "/mod/mch/queue",
        &format!("page=2&post-{last}=on&action=discard"),
    );
    assert!(r.body.contains("Discarded: post"), "{}", r.body);
    assert!(r.body.contains("name=\"page\" value=\"2\""), "{}", r.body);
    assert_eq!(
        r.body.matches("type=\"checkbox\"").count(),
        all.len() - 101,
        "{}",
        r.body
    );
}

/// Every workspace route, GET and POST, answers 403 to a member who does not
/// moderate and to someone not signed in; the change is not made.
#[test]
fn every_workspace_page_refuses_whoever_does_not_moderate() {
    let site = Site::demo("members", "");
    let query = site
        .home
        .json(&["threads", "-c", "mch", "--queries", "--json"])[0]["id"]
        .as_i64()
        .unwrap();
    let draft = format!("/mod/mch/queries/{query}/draft");
    let pages = [
        "/mod/",
        "/mod/mch/queue",
        "/mod/mch/queries",
        &draft,
        "/mod/mch/members",
        "/mod/mch/outbox",
    ];
    let forms = [
        "/mod/mch/queue",
        "/mod/mch/queries",
        &draft,
        "/mod/mch/members",
        "/mod/mch/members/import",
        "/mod/mch/outbox",
    ];
    let before = site.home.json(&["members", "list", "-c", "mch", "--json"]);
    for who in [None, Some("ravi.kumar@jeevika.example.org")] {
        match who {
            Some(email) => sign_in(&site, email),
            None => site.cookies.borrow_mut().clear(),
        }
        for path in pages {
            let page = site.get(path);
            assert_eq!(page.code, 403, "GET {path} as {who:?}: {}", page.body);
            assert!(
                page.body.contains("open to its moderators only"),
                "{}",
                page.body
            );
        }
        for path in forms {
            let page = site.post(
                path,
                "email=x%40example.org&role=owner&action=publish&outbox=1&kind=query&thread=1",
            );
            assert_eq!(page.code, 403, "POST {path} as {who:?}: {}", page.body);
        }
    }
    assert_eq!(
        site.home.json(&["members", "list", "-c", "mch", "--json"]),
        before,
        "nothing changed"
    );
}
