//! The query board and the Consolidated Reply draft on the web: a moderator
//! signed in from the mailed link sees open queries with their askers,
//! drafts, saves versions, compares them, schedules and cancels, publishes
//! (members reading each post or Consolidated Replies receive it); a save
//! over someone else's newer version is refused with the text kept; members
//! who do not moderate are refused every page.

use serde_json::Value;

use crate::site::Site;
use crate::web_members::{submit, wait_mail};
use crate::web_moderate::{MEERA, hold, sign_in};

/// A member's post replying to `parent` (a Message-ID without brackets).
pub(crate) fn respond(site: &Site, from: &str, parent: &str, n: u32, text: &str) {
    site.home
        .praxis()
        .args(["ingest", "-c", "mch"])
        .write_stdin(format!(
            "From: {from}\r\nTo: mch@lists.example.org\r\nSubject: Re: Solar fridges for vaccines\r\n\
             Message-ID: <response-{n}@members.example>\r\nIn-Reply-To: <{parent}>\r\n\
             References: <{parent}>\r\nDate: Fri, 4 Dec 2026 10:0{n}:00 +0530\r\n\r\n{text}\r\n"
        ))
        .assert()
        .success();
}

/// Approves whatever is held (a member's first post may be).
pub(crate) fn approve_held(site: &Site) {
    for id in crate::web_moderate::held(site) {
        site.home
            .praxis()
            .args(["approve", &id.to_string()])
            .assert()
            .success();
    }
}

/// The thread row of `subject` in `praxis threads --queries --json`.
pub(crate) fn query_row(site: &Site, subject: &str) -> Value {
    let all = site.home.json(&["threads", "-c", "mch", "--json"]);
    all.as_array()
        .unwrap()
        .iter()
        .find(|t| t["subject"] == subject)
        .cloned()
        .unwrap_or_else(|| panic!("no thread {subject}: {all}"))
}

/// The text of the draft editor's textarea in `page`, unescaped enough to
/// compare (the tests' texts hold no markup characters but `#` and `-`).
fn textarea(page: &str) -> String {
    let start = page.find("name=\"body\"").expect("the editor");
    let open = start + page[start..].find('>').unwrap() + 1;
    let close = open + page[open..].find("</textarea>").unwrap();
    page[open..close]
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// The root's Message-ID of [`solar_query`]'s query.
pub(crate) const SOLAR_PARENT: &str = "Solar-fridges-for-vaccines@outside.example";

/// A query from outside the list, approved as a query, with two members'
/// responses; its thread id.
pub(crate) fn solar_query(site: &Site) -> i64 {
    let q = hold(
        site,
        "Ramesh Kulkarni <ramesh@outside.example>",
        "Solar fridges for vaccines",
    );
    site.home
        .praxis()
        .args(["approve", &q.to_string(), "--query"])
        .assert()
        .success();
    respond(
        site,
        "Arjun Rao <arjun.rao@phfi.example.org>",
        SOLAR_PARENT,
        1,
        "We run twelve solar direct-drive fridges in Telangana; the ice-lined ones held 2-8 C through four cloudy days.",
    );
    respond(
        site,
        "Fatima Shaikh <fatima.shaikh@sneha.example.org>",
        SOLAR_PARENT,
        2,
        "In Mumbai's slums we kept vaccines in carriers; solar was not needed, the grid was.",
    );
    approve_held(site);
    query_row(site, "Solar fridges for vaccines")["id"]
        .as_i64()
        .unwrap()
}

#[test]
fn moderators_draft_compare_schedule_and_publish_a_consolidated_reply_on_the_web() {
    let site = Site::demo_web("", "");
    let thread = solar_query(&site);
    let parent = SOLAR_PARENT;
    let board = "/mod/mch/queries".to_string();
    let draft = format!("/mod/mch/queries/{thread}/draft");

    // Signed out, and signed in as a member who does not moderate: refused.
    for path in [board.as_str(), draft.as_str()] {
        assert_eq!(site.get(path).code, 403, "{path}");
        assert_eq!(site.post(path, "action=save&body=x").code, 403, "{path}");
    }
    sign_in(&site, "arjun.rao@phfi.example.org");
    for path in [board.as_str(), draft.as_str()] {
        assert_eq!(site.get(path).code, 403, "{path}");
        assert_eq!(site.post(path, "action=publish").code, 403, "{path}");
    }

    // The board: the open query, its asker and responses, the way to its draft.
    sign_in(&site, MEERA);
    let page = site.get(&board);
    assert_eq!(page.code, 200, "{}", page.body);
    assert!(
        page.body.contains("Solar fridges for vaccines"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Ramesh Kulkarni"), "{}", page.body);
    assert!(
        page.body.contains("2 from 3 people"),
        "two responses, three people in the thread: {}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!("href=\"/mod/mch/queries/{thread}/draft\""))
    );

    // The draft: generated from the query, with both responders credited.
    let page = site.get(&draft);
    assert_eq!(page.code, 200, "{}", page.body);
    let generated = textarea(&page.body);
    assert!(generated.contains("Arjun Rao"), "{generated}");
    assert!(generated.contains("Fatima Shaikh"), "{generated}");
    assert!(page.body.contains("No version saved yet"), "{}", page.body);

    // Preview renders what was typed without saving it.
    let typed = "# Solar fridges\n\nIce-lined fridges held through cloudy days.\n";
    let r = submit(&site, &draft, &draft, &form("preview", typed, 0));
    assert_eq!(r.code, 200, "{}", r.body);
    assert!(r.body.contains("<h1>Solar fridges</h1>"), "{}", r.body);
    assert_eq!(textarea(&r.body), typed);

    // Saved twice: two versions, by Meera on the web; their diff.
    let r = submit(&site, &draft, &draft, &form("save", typed, 0));
    assert!(r.body.contains("Saved version 1"), "{}", r.body);
    let second = "# Solar fridges\n\nIce-lined fridges held 2-8 C through four cloudy days.\n";
    let r = submit(&site, &draft, &draft, &form("save", second, 1));
    assert!(r.body.contains("Saved version 2"), "{}", r.body);
    let d = site.get(&format!("{draft}?a=1&b=2"));
    assert!(
        d.body
            .contains("-Ice-lined fridges held through cloudy days.\n+Ice-lined fridges held 2-8 C through four cloudy days."),
        "{}",
        d.body
    );
    let versions = site
        .home
        .json(&["consolidate", &thread.to_string(), "--versions", "--json"]);
    let authors: Vec<&str> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["author"].as_str().unwrap())
        .collect();
    assert_eq!(authors, ["Meera Iyer", "Meera Iyer"], "{versions}");

    // A save over a version one did not see is refused, the text kept.
    let stale = "# Solar fridges\n\nMy edit of version 1.\n";
    let r = submit(&site, &draft, &draft, &form("save", stale, 1));
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(
        r.body
            .contains("version 2 of this draft was saved by Meera Iyer"),
        "{}",
        r.body
    );
    assert_eq!(textarea(&r.body), stale);

    // Scheduling in the past is refused with the time kept; in the future
    // it is scheduled, then cancelled.
    let r = submit(
        &site,
        &draft,
        &draft,
        "action=schedule&version=2&at=2020-01-01T09%3A00",
    );
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(r.body.contains("is in the past"), "{}", r.body);
    assert!(r.body.contains("value=\"2020-01-01T09:00\""), "{}", r.body);
    let r = submit(
        &site,
        &draft,
        &draft,
        "action=schedule&version=2&at=2099-01-01T09%3A00",
    );
    assert_eq!(r.code, 200, "{}", r.body);
    assert!(
        r.body.contains("is scheduled for 1 Jan 2099 09:00"),
        "{}",
        r.body
    );
    assert_eq!(
        query_row(&site, "Solar fridges for vaccines")["state"],
        "scheduled"
    );
    let r = submit(&site, &draft, &draft, "action=cancel");
    assert!(r.body.contains("is no longer scheduled"), "{}", r.body);
    assert_eq!(
        query_row(&site, "Solar fridges for vaccines")["state"],
        "drafting"
    );

    // Publishing an older version than the latest is refused; the latest goes out.
    let r = submit(&site, &draft, &draft, "action=publish&version=1");
    assert_eq!(r.code, 400, "{}", r.body);
    let r = submit(&site, &draft, &draft, "action=publish&version=2");
    assert!(
        r.body.contains("Published Consolidated Reply"),
        "{}",
        r.body
    );
    for member in [
        "lakshmi.menon@who-india.example.org",
        "arjun.rao@phfi.example.org",
    ] {
        let mail = wait_mail(&site, member, "Consolidated Reply: Solar fridges");
        assert!(mail.contains("2-8 C through four cloudy days"), "{mail}");
    }
    let r = submit(&site, &draft, &draft, "action=publish&version=2");
    assert_eq!(r.code, 400, "published once only: {}", r.body);

    // A response after publication waits for an addendum: the board says
    // so, the draft page starts one with only that response.
    respond(
        &site,
        "Lakshmi Menon <lakshmi.menon@who-india.example.org>",
        parent,
        3,
        "WHO's PQS list names the prequalified solar direct-drive models.",
    );
    approve_held(&site);
    let r = site.get(&board);
    assert!(
        r.body.contains("1 later response waits for an addendum"),
        "{}",
        r.body
    );
    let r = site.get(&draft);
    let addendum = textarea(&r.body);
    assert!(addendum.contains("Lakshmi Menon"), "{addendum}");
    assert!(!addendum.contains("Fatima Shaikh"), "{addendum}");
    let r = submit(&site, &draft, &draft, &form("save", &addendum, 0));
    assert!(
        r.body.contains("Saved version 1 of Consolidated Reply"),
        "{}",
        r.body
    );
    assert!(r.body.contains("(an addendum)"), "{}", r.body);

    // The audit log has the versions and the publication, Meera's, on the web.
    let audit = site.home.json(&["audit", "-c", "mch", "--json"]);
    for act in ["consolidate", "schedule", "cancel", "publish"] {
        assert!(
            audit
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == act && e["actor"] == "Meera Iyer" && e["how"] == "web"),
            "{act}: {audit}"
        );
    }

    // Marked a discussion from the board, a query leaves it.
    let other = hold(
        &site,
        "Outsider Five <five@outside.example>",
        "Cycling to clinics",
    );
    site.home
        .praxis()
        .args(["approve", &other.to_string(), "--query"])
        .assert()
        .success();
    let other = query_row(&site, "Cycling to clinics")["id"]
        .as_i64()
        .unwrap();
    assert!(site.get(&board).body.contains("Cycling to clinics"));
    let r = submit(
        &site,
        &board,
        &board,
        &format!("thread={other}&kind=discussion"),
    );
    assert_eq!(r.code, 200, "{}", r.body);
    assert!(r.body.contains("it is now discussion"), "{}", r.body);
    assert!(!r.body.contains("Cycling to clinics"), "{}", r.body);
    assert_eq!(query_row(&site, "Cycling to clinics")["kind"], "discussion");
}

/// The editor's form: `action` with the draft `body` edited from version `base`.
fn form(action: &str, body: &str, base: i64) -> String {
    format!(
        "action={action}&base={base}&body={}",
        body.replace('%', "%25")
            .replace('&', "%26")
            .replace('+', "%2B")
            .replace('#', "%23")
            .replace('\n', "%0D%0A")
            .replace(' ', "+")
    )
}
