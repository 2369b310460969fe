//! Members on the web (issue 16): joining from the form (a confirmation by
//! mail, a confirm page whose GET changes nothing), the member's own page
//! (changing delivery, leaving), signing in by a single-use mailed link, and
//! the protections: no member enumeration, mail limits, CSRF and Origin,
//! cookie attributes, tokens bound to their address, action and community.

use std::time::{Duration, Instant};

use crate::site::Site;

/// The demo's member who reads each post.
const MEMBER: &str = "anjali.mehta@dh-sitapur.example.org";

/// Every mail delivered to `to` (in To or, for list mail, Delivered-To) so far: (subject, decoded text body).
pub(crate) fn mails_to(site: &Site, to: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(dir) = std::fs::read_dir(site.home.path().join("delivered").join(sub)) else {
            continue;
        };
        for f in dir.flatten() {
            let raw = std::fs::read(f.path()).unwrap();
            let Some(m) = mail_parser::MessageParser::default().parse(&raw) else {
                continue;
            };
            let to_ok = m
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .is_some_and(|a| a.eq_ignore_ascii_case(to))
                // List mail is addressed to the list; the envelope names the member.
                || m
                    .header_raw("Delivered-To")
                    .is_some_and(|a| a.trim().eq_ignore_ascii_case(to));
            if to_ok {
                out.push((
                    m.subject().unwrap_or("").to_string(),
                    m.body_text(0).unwrap_or_default().into_owned(),
                ));
            }
        }
    }
    out
}

/// Waits for a mail to `to` whose subject contains `subject`; its body.
pub(crate) fn wait_mail(site: &Site, to: &str, subject: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((_, body)) = mails_to(site, to)
            .into_iter()
            .find(|(s, _)| s.contains(subject))
        {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "no mail \"{subject}\" to {to}; mails: {:?}\n{}",
            mails_to(site, to),
            site.daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How many mails to `to` have a subject containing `subject`, after
/// giving the sender time to deliver anything queued.
fn settled_count(site: &Site, to: &str, subject: &str) -> usize {
    std::thread::sleep(Duration::from_millis(1500));
    mails_to(site, to)
        .iter()
        .filter(|(s, _)| s.contains(subject))
        .count()
}

/// The path of the first link in `body` that starts with our base and
/// then `prefix`.
pub(crate) fn link(site: &Site, body: &str, prefix: &str) -> String {
    let start = format!("{}{prefix}", site.base);
    let at = body
        .find(&start)
        .unwrap_or_else(|| panic!("no link {start} in:\n{body}"));
    let url: String = body[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>')
        .collect();
    url[site.base.len()..].to_string()
}

/// GETs `page`, then POSTs `form` (with the CSRF token of the page's form
/// that posts to `action`) to `action`.
pub(crate) fn submit(site: &Site, page: &str, action: &str, form: &str) -> crate::site::Answer {
    let p = site.get(page);
    assert_eq!(p.code, 200, "{}", p.body);
    let at = p
        .body
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form posting to {action} in {}", p.body));
    let csrf = Site::input_value(&p.body[at..], "csrf").expect("the form has a CSRF token");
    let sep = if form.is_empty() { "" } else { "&" };
    site.post(action, &format!("csrf={csrf}{sep}{form}"))
}

/// The member row of `email` in `praxis members list --json`.
fn member_row(site: &Site, email: &str) -> Option<serde_json::Value> {
    let list = site.home.json(&["members", "list", "-c", "mch", "--json"]);
    list.as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .cloned()
}

#[test]
fn joining_on_the_web_confirms_then_the_member_page_changes_delivery_and_leaves() {
    let site = Site::demo("public", "");
    let who = "new.member@example.org";
    let form = site.get("/c/mch/join");
    assert_eq!(form.code, 200, "{}", form.body);
    assert!(
        form.body.contains("<label for=\"join-email\""),
        "{}",
        form.body
    );
    let sent = submit(
        &site,
        "/c/mch/join",
        "/c/mch/join",
        &format!("email={who}&name=Asha+Rao&organisation=PHFI&place=Delhi&delivery=digest"),
    );
    assert_eq!(sent.code, 200, "{}", sent.body);
    assert!(sent.body.contains("Check your mail"), "{}", sent.body);
    let mail = wait_mail(&site, who, "confirm");
    let confirm = link(&site, &mail, "/c/mch/join/");

    // The link's GET shows a button and changes nothing.
    let page = site.get(&confirm);
    assert_eq!(page.code, 200, "{}", page.body);
    assert!(page.body.contains("Confirm and join"), "{}", page.body);
    assert!(member_row(&site, who).is_none());
    // A join link does not sign in.
    let token = confirm.rsplit('/').next().unwrap();
    assert_eq!(site.get(&format!("/signin/{token}")).code, 403);

    let done = submit(&site, &confirm, &confirm, "");
    assert_eq!(done.code, 200, "{}", done.body);
    let m = member_row(&site, who).expect("joined");
    assert_eq!(m["status"], "active", "{m}");
    assert_eq!(m["name"], "Asha Rao");
    assert_eq!(m["organisation"], "PHFI");
    assert_eq!(m["place"], "Delhi");
    assert_eq!(m["delivery"], "digest");
    // The link works once.
    assert_eq!(site.get(&confirm).code, 403);

    // The welcome carries the member's own page.
    let welcome = wait_mail(&site, who, "Welcome");
    let me = link(&site, &welcome, "/c/mch/me/");
    let page = site.get(&me);
    assert_eq!(page.code, 200, "{}", page.body);
    assert!(page.body.contains("value=\"Asha Rao\""), "{}", page.body);
    assert!(page.body.contains("Sign in to read the archive"));
    let changed = submit(
        &site,
        &me,
        &me,
        "delivery=consolidated&digest_format=plain&name=Asha+Rao&organisation=PHFI&place=New+Delhi",
    );
    assert_eq!(changed.code, 200, "{}", changed.body);
    assert!(changed.body.contains("Saved."), "{}", changed.body);
    // Nor does a member-page link sign in.
    let me_token = me.rsplit('/').next().unwrap();
    assert_eq!(site.get(&format!("/signin/{me_token}")).code, 403);
    let m = member_row(&site, who).unwrap();
    assert_eq!(m["delivery"], "consolidated");
    assert_eq!(m["digest_format"], "plain");
    assert_eq!(m["place"], "New Delhi");
    let audit = site.home.stdout(&["audit", "-c", "mch"]);
    assert!(audit.contains("web"), "{audit}");

    // Bad input names the field and keeps what was typed.
    let bad = submit(
        &site,
        &me,
        &me,
        "delivery=weekly&digest_format=plain&name=Asha+Typed&organisation=&place=",
    );
    assert_eq!(bad.code, 400, "{}", bad.body);
    assert!(bad.body.contains("How mail reaches you:"), "{}", bad.body);
    assert!(bad.body.contains("value=\"Asha Typed\""), "{}", bad.body);
    assert_eq!(member_row(&site, who).unwrap()["name"], "Asha Rao");

    // Another member's address in the token, or another community: refused.
    let (_, tag) = me_token.split_once('.').unwrap();
    use base64::Engine as _;
    let other = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(MEMBER);
    assert_eq!(site.get(&format!("/c/mch/me/{other}.{tag}")).code, 403);
    assert_ne!(
        site.get(&me.replace("/c/mch/", "/c/other/")).code,
        200,
        "a member page link of one community opens nothing in another"
    );

    let left = submit(&site, &me, &format!("{me}/leave"), "");
    assert_eq!(left.code, 200, "{}", left.body);
    assert_eq!(member_row(&site, who).unwrap()["status"], "unsubscribed");
    assert!(site.get(&me).body.contains("Not a member"));
}

#[test]
fn the_forms_answer_the_same_whatever_the_address_and_mail_it_once() {
    let site = Site::demo("members", "");
    // Join: a member's address and a stranger's get the same page.
    let a = submit(
        &site,
        "/c/mch/join",
        "/c/mch/join",
        &format!("email={MEMBER}"),
    );
    let b = submit(
        &site,
        "/c/mch/join",
        "/c/mch/join",
        "email=stranger@example.org",
    );
    assert_eq!((a.code, b.code), (200, 200));
    assert_eq!(a.body, b.body);
    // Sign-in: the same again.
    let a = submit(
        &site,
        "/signin",
        "/signin",
        "email=ravi.kumar%40jeevika.example.org",
    );
    let b = submit(&site, "/signin", "/signin", "email=nobody@example.org");
    assert_eq!((a.code, b.code), (200, 200));
    assert_eq!(a.body, b.body);
    wait_mail(&site, "ravi.kumar@jeevika.example.org", "Sign in");
    wait_mail(&site, "stranger@example.org", "confirm");
    // A second request for the same address answers the same and sends nothing.
    let again = submit(
        &site,
        "/c/mch/join",
        "/c/mch/join",
        "email=stranger@example.org",
    );
    assert_eq!(again.code, 200);
    let again = submit(
        &site,
        "/signin",
        "/signin",
        "email=ravi.kumar%40jeevika.example.org",
    );
    assert_eq!(again.code, 200);
    assert_eq!(settled_count(&site, "stranger@example.org", "confirm"), 1);
    assert_eq!(
        settled_count(&site, "ravi.kumar@jeevika.example.org", "Sign in"),
        1
    );
    // At most 10 requests per client in an hour: 6 made, 4 more pass, then 429.
    for i in 0..4 {
        let r = submit(
            &site,
            "/signin",
            "/signin",
            &format!("email=x{i}@example.org"),
        );
        assert_eq!(r.code, 200, "{}", r.body);
    }
    let r = submit(&site, "/signin", "/signin", "email=x9@example.org");
    assert_eq!(r.code, 429, "{}", r.body);
}

#[test]
fn forms_need_their_token_and_our_origin_and_keep_what_was_typed() {
    let site = Site::demo("public", "");
    site.get("/c/mch/join");
    // No token: 400, nothing mailed, what was typed is kept.
    let r = site.post("/c/mch/join", "email=t1@example.org&name=Typed+Name");
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(r.body.contains("value=\"Typed Name\""), "{}", r.body);
    // A foreign Origin with a good token: 400.
    let p = site.get("/c/mch/join");
    let csrf = Site::input_value(&p.body, "csrf").unwrap();
    let r = site.request(
        "POST",
        "/c/mch/join",
        &[
            ("Origin", "https://evil.example"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!("csrf={csrf}&email=t2@example.org&name=Other"),
    );
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(r.body.contains("value=\"Other\""), "{}", r.body);
    // Bad input: the field and the fix are named, the rest kept.
    let r = submit(
        &site,
        "/c/mch/join",
        "/c/mch/join",
        "email=not-an-address&name=Kept&place=Patna",
    );
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(r.body.contains("Email address:"), "{}", r.body);
    assert!(r.body.contains("name@example.org"), "{}", r.body);
    assert!(r.body.contains("value=\"Patna\""), "{}", r.body);
    // The sign-in form and the me page refuse a POST without a token.
    assert_eq!(site.post("/signin", "email=t3@example.org").code, 400);
    assert_eq!(site.post("/signout", "").code, 400);
    for who in ["t1@example.org", "t2@example.org", "t3@example.org"] {
        assert_eq!(settled_count(&site, who, ""), 0, "{who} was mailed");
    }
}

#[test]
fn signing_in_by_mail_sets_a_session_once_and_signing_out_clears_it() {
    let site = Site::demo("members", "");
    let sent = submit(&site, "/signin", "/signin", &format!("email={MEMBER}"));
    assert_eq!(sent.code, 200, "{}", sent.body);
    let mail = wait_mail(&site, MEMBER, "Sign in");
    let path = link(&site, &mail, "/signin/");
    // The GET changes nothing: a button.
    let page = site.get(&path);
    assert_eq!(page.code, 200, "{}", page.body);
    assert!(!site.cookies.borrow().contains_key("praxis_session"));
    let csrf = Site::input_value(&page.body, "csrf").unwrap();
    let r = site.post(&path, &format!("csrf={csrf}"));
    assert_eq!(r.code, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/"));
    let cookie = r
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("praxis_session="))
        .map(|(_, v)| v.clone())
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let index = site.get("/");
    assert!(index.body.contains("Signed in"), "{}", index.body);
    assert!(
        index
            .body
            .contains("Maternal and Child Health Community</a>"),
        "{}",
        index.body
    );
    // Single use: the same link again fails, even signed in.
    assert_eq!(site.post(&path, &format!("csrf={csrf}")).code, 403);
    assert_eq!(site.get(&path).code, 403);
    // An altered link is refused.
    let forged = format!("{}0", &path[..path.len() - 1]);
    assert_eq!(site.get(&forged).code, 403);
    // Signing out clears the session.
    let out = submit(&site, "/signout", "/signout", "");
    assert_eq!(out.code, 303, "{}", out.body);
    assert!(!site.cookies.borrow().contains_key("praxis_session"));
    assert!(!site.get("/").body.contains("Signed in"));
}
