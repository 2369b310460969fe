//! The archive's reading pages against the demo community: home, threads,
//! a thread with its Consolidated Reply first, permalinks, raw and mbox for
//! members only, attachments as downloads; and the security properties:
//! no member address on any page, hostile posts rendered inert, other
//! communities' ids answered 404, bad path inputs never a 500.

use base64::Engine as _;

use crate::site::{Answer, Site};

/// The demo query's subject, as stored.
const QUERY: &str = "Kangaroo Mother Care";
/// A demo response's Message-ID.
const RAVI: &str = "CAJ7x-ravi-kmc-1@mail.jeevika.example.org";

/// Signs `email` in on `site` by setting the session cookie a sign-in link
/// would (the demo site's key is known to the tests).
fn sign_in(site: &Site, email: &str) {
    let key = praxis::deliver::links::LinkKey::new("a long random secret for the web tests");
    let exp = (chrono::Utc::now().timestamp() + 3600).to_string();
    let value = format!(
        "{}.{exp}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(email),
        key.sign("session", &[email, &exp])
    );
    site.cookies
        .borrow_mut()
        .insert("praxis_session".into(), value);
}

/// The demo query's thread id.
fn query_thread(site: &Site) -> String {
    site.home.query_id(QUERY)
}

/// Every member address of `slug`.
fn member_addresses(site: &Site, slug: &str) -> Vec<String> {
    let v = site.home.json(&["--json", "members", "list", "-c", slug]);
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_string())
        .collect()
}

fn ok(a: &Answer, what: &str) {
    assert_eq!(a.code, 200, "{what}: {}", a.body);
    assert!(
        a.body.starts_with("<!DOCTYPE html>"),
        "{what} is a page: {}",
        a.body
    );
}

/// Ingests `raw` into `slug` and approves it when it is held.
fn ingest_and_approve(site: &Site, slug: &str, raw: &str) {
    let before = site.home.json(&["--json", "queue", "-c", slug]);
    site.home
        .praxis()
        .args(["ingest", "-c", slug])
        .write_stdin(raw.to_string())
        .assert()
        .success();
    let q = site.home.json(&["--json", "queue", "-c", slug]);
    for h in q.as_array().unwrap() {
        if before
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == h["id"])
        {
            continue;
        }
        site.home.stdout(&["approve", &h["id"].to_string()]);
    }
}

#[test]
fn web_archive_pages_show_the_demo_community() {
    let site = Site::demo("public", "");
    let t = query_thread(&site);

    let home = site.get("/c/mch/");
    ok(&home, "home");
    assert!(
        home.body
            .contains("<h1>Maternal and Child Health Community</h1>")
    );
    assert!(home.body.contains(QUERY), "{}", home.body);
    assert!(
        home.body.contains(&format!("/c/mch/replies/{t}\"")),
        "the latest Consolidated Reply links to its page: {}",
        home.body
    );
    assert!(home.body.contains(&format!("/c/mch/t/{t}\"")));
    assert!(home.body.contains("href=\"mailto:mch@lists.example.org\""));
    assert!(home.body.contains("/c/mch/join\""));
    // The demo's query is published: none is open.
    assert!(home.body.contains("No query is waiting"), "{}", home.body);

    let list = site.get("/c/mch/threads");
    ok(&list, "threads");
    assert!(
        list.body
            .contains(&format!("/c/mch/t/{t}\">Query: {QUERY}")),
        "{}",
        list.body
    );
    assert!(
        list.body.contains("<td>query</td><td>4</td><td>4</td>"),
        "{}",
        list.body
    );
    assert!(
        list.body.contains("<time datetime=\"2026-11-1"),
        "{}",
        list.body
    );
    // The rejected spam never appears.
    assert!(!list.body.contains("Lowest prices"), "{}", list.body);
    assert!(!list.body.contains("rel=\"next\""));
    // Paging: a page past the end clamps, a bad one is a clear 400.
    ok(&site.get("/c/mch/threads?page=99"), "a page past the end");
    let bad = site.get("/c/mch/threads?page=x");
    assert_eq!(bad.code, 400, "{}", bad.body);
    assert!(bad.body.contains("not a page number"));
    assert_eq!(site.get("/c/mch/threads?page=0").code, 400);

    let page = site.get(&format!("/c/mch/t/{t}"));
    ok(&page, "thread");
    let b = &page.body;
    let reply = b
        .find("<article class=\"reply\">")
        .expect("the reply is shown");
    let first_post = b.find("<article class=\"post\"").expect("posts are shown");
    assert!(reply < first_post, "the Consolidated Reply comes first");
    for s in [
        "Dr. Anjali Mehta, District Hospital, Sitapur, Uttar Pradesh",
        "Ravi Kumar, Jeevika Health Trust, Gaya, Bihar",
        "Fatima Shaikh, SNEHA, Mumbai",
        "<pre class=\"mail\">Dear members,",
        "<details class=\"quote\"><summary>Quoted text (4 lines)</summary>",
        "&gt; Our district hospital in Sitapur",
        &format!("href=\"/c/mch/m/{RAVI}\""),
        "<time datetime=\"2026-11-10T11:00:00+05:30\">10 Nov 2026</time>",
    ] {
        assert!(b.contains(s), "{s:?} in {b}");
    }
    // Posts in order, and the spam not among them.
    let anjali = b[first_post..].find("Dr. Anjali Mehta, District").unwrap();
    let ravi = b[first_post..].find("Ravi Kumar, Jeevika").unwrap();
    assert!(anjali < ravi);
    assert!(!b.contains("Lowest prices"));
    // The Markdown of the reply is rendered as HTML.
    assert!(
        b[reply..first_post].contains("<p>"),
        "{}",
        &b[reply..first_post]
    );
    // One h1 a page: the reply's own title sits under the page's.
    assert_eq!(b.matches("<h1>").count(), 1, "{b}");
    // Anonymous visitors get no mbox link.
    assert!(!b.contains(".mbox\""));

    let post = site.get(&format!("/c/mch/m/{RAVI}"));
    ok(&post, "permalink");
    assert!(
        post.body.contains(&format!("/c/mch/t/{t}#p")),
        "{}",
        post.body
    );
    assert!(post.body.contains("In Gaya we started community KMC"));
    assert!(!post.body.contains("/raw\""), "no raw link for a visitor");
    // Angle brackets in the address are forgiven.
    ok(
        &site.get(&format!("/c/mch/m/%3C{RAVI}%3E")),
        "a bracketed id",
    );
    assert_eq!(site.get("/c/mch/m/nobody@nowhere").code, 404);
    assert_eq!(site.get("/c/nowhere/").code, 404);
    let bare = site.get("/c/mch");
    assert_eq!((bare.code, bare.header("location")), (308, Some("/c/mch/")));
    assert_eq!(site.get("/c/nowhere/threads").code, 404);

    // A Message-ID with `/`, `%`, `+` and `"` round-trips through its link.
    ingest_and_approve(
        &site,
        "mch",
        "From: Arjun Rao <arjun.rao@phfi.example.org>\r\nTo: mch@lists.example.org\r\nSubject: Odd ids\r\nMessage-ID: <a/b%c+d\"e@ids.example>\r\nDate: Fri, 13 Nov 2026 10:00:00 +0530\r\n\r\nA post with an odd id.\r\n",
    );
    let list = site.get("/c/mch/threads");
    let odd = list
        .body
        .split("/c/mch/t/")
        .skip(1)
        .find(|s| s.contains("Odd ids"))
        .and_then(|s| s.split('"').next())
        .expect("the odd thread is listed")
        .to_string();
    let page = site.get(&format!("/c/mch/t/{odd}"));
    let link = page
        .body
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .find(|h| h.contains("/c/mch/m/"))
        .expect("a permalink")
        .to_string();
    assert_eq!(link, "/c/mch/m/a%2Fb%25c%2Bd%22e@ids.example");
    // A new query is open on the home page, with the working days left
    // that `praxis threads --queries` computes.
    ingest_and_approve(
        &site,
        "mch",
        "From: Arjun Rao <arjun.rao@phfi.example.org>\r\nTo: mch@lists.example.org\r\nSubject: Query: Cold chain for vaccines in hill districts?\r\nMessage-ID: <cold-chain-1@phfi.example.org>\r\n\r\nHow do members keep vaccines cold during monsoon road closures?\r\n",
    );
    let queries = site.home.json(&["--json", "threads", "--queries"]);
    let cold = queries
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["subject"].as_str().unwrap().contains("Cold chain"))
        .expect("the new query is listed");
    let days = cold["days_left"].as_i64().expect("a query has days left");
    let home = site.get("/c/mch/");
    ok(&home, "home with an open query");
    let open = &home.body
        [home.body.find("Open queries").unwrap()..home.body.find("Latest Consolidated").unwrap()];
    assert!(
        open.contains(&format!("/c/mch/t/{}\">Query: Cold chain", cold["id"])),
        "{open}"
    );
    let expected = match days {
        d if d < 0 => "(overdue)".to_string(),
        1 => "(1 working day left)".to_string(),
        d => format!("({d} working days left)"),
    };
    assert!(open.contains(&expected), "{open}");
    let post = site.get(&link);
    ok(&post, "the odd permalink");
    assert!(post.body.contains("A post with an odd id."));
}

#[test]
fn web_archive_member_addresses_never_appear() {
    let site = Site::demo("public", "");
    let t = query_thread(&site);
    let addresses = member_addresses(&site, "mch");
    assert!(addresses.len() >= 9, "{addresses:?}");
    let thread = site.get(&format!("/c/mch/t/{t}"));
    let mut pages = vec![
        ("/c/mch/".to_string(), site.get("/c/mch/")),
        ("/c/mch/threads".to_string(), site.get("/c/mch/threads")),
        (format!("/c/mch/t/{t}"), thread.clone()),
    ];
    // Every permalink of the thread.
    let links: Vec<String> = thread
        .body
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|h| h.contains("/c/mch/m/"))
        .map(|h| h.trim_start_matches(&site.base).to_string())
        .collect();
    assert_eq!(links.len(), 4, "{links:?}");
    for l in links {
        let a = site.get(&l);
        ok(&a, &l);
        pages.push((l, a));
    }
    // Even signed in as a member (who sees more links), pages name no one's address.
    sign_in(&site, "ravi.kumar@jeevika.example.org");
    pages.push((
        format!("member /c/mch/t/{t}"),
        site.get(&format!("/c/mch/t/{t}")),
    ));
    pages.push((
        "member permalink".into(),
        site.get(&format!("/c/mch/m/{RAVI}")),
    ));
    for (path, a) in &pages {
        let body = a.body.to_lowercase();
        for addr in &addresses {
            assert!(
                !body.contains(&addr.to_lowercase()),
                "{addr} appears on {path}: {}",
                a.body
            );
        }
    }
}

#[test]
fn web_archive_raw_and_mbox_are_for_members_only() {
    let site = Site::demo("public", "");
    let t = query_thread(&site);
    let raw = site.get(&format!("/c/mch/m/{RAVI}/raw"));
    assert_eq!(raw.code, 403, "{}", raw.body);
    assert!(raw.body.contains("/signin"), "{}", raw.body);
    assert!(!raw.body.contains("In Gaya we started"));
    let mbox = site.get(&format!("/c/mch/t/{t}.mbox"));
    assert_eq!(mbox.code, 403, "{}", mbox.body);
    assert!(!mbox.body.contains("From "));

    // A signed-in address that is not a member fares no better.
    sign_in(&site, "stranger@example.net");
    assert_eq!(site.get(&format!("/c/mch/m/{RAVI}/raw")).code, 403);
    assert_eq!(site.get(&format!("/c/mch/t/{t}.mbox")).code, 403);

    sign_in(&site, "ravi.kumar@jeevika.example.org");
    let raw = site.get(&format!("/c/mch/m/{RAVI}/raw"));
    assert_eq!(raw.code, 200, "{}", raw.body);
    assert_eq!(
        raw.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(
        raw.body.contains(&format!("Message-ID: <{RAVI}>")),
        "{}",
        raw.body
    );
    let page = site.get(&format!("/c/mch/m/{RAVI}"));
    assert!(
        page.body.contains(&format!("/c/mch/m/{RAVI}/raw\"")),
        "{}",
        page.body
    );

    let mbox = site.get(&format!("/c/mch/t/{t}.mbox"));
    assert_eq!(mbox.code, 200, "{}", mbox.body);
    assert_eq!(mbox.header("content-type"), Some("application/mbox"));
    assert!(
        mbox.header("content-disposition")
            .unwrap()
            .starts_with("attachment"),
    );
    let from_lines: Vec<&str> = mbox
        .body
        .lines()
        .filter(|l| l.starts_with("From "))
        .collect();
    assert_eq!(from_lines.len(), 4, "{}", mbox.body);
    assert!(
        from_lines[0]
            .starts_with("From anjali.mehta@dh-sitapur.example.org Mon Nov  9 04:44:00 2026"),
        "{from_lines:?}"
    );
    assert!(!mbox.body.contains("Lowest prices"));
    assert!(site.get(&format!("/c/mch/t/{t}")).body.contains(".mbox\""));
}

#[test]
fn web_archive_a_members_archive_asks_visitors_to_sign_in() {
    let site = Site::demo("members", "");
    let t = query_thread(&site);
    for path in [
        "/c/mch/".to_string(),
        "/c/mch/threads".into(),
        format!("/c/mch/t/{t}"),
        format!("/c/mch/m/{RAVI}"),
        format!("/c/mch/m/{RAVI}/raw"),
        format!("/c/mch/t/{t}.mbox"),
    ] {
        let a = site.get(&path);
        assert_eq!(a.code, 403, "{path}: {}", a.body);
        assert!(a.body.contains("/signin"), "{path}: {}", a.body);
        assert!(!a.body.contains("Gaya"), "{path}");
    }
    sign_in(&site, "ravi.kumar@jeevika.example.org");
    ok(
        &site.get(&format!("/c/mch/t/{t}")),
        "a member reads the thread",
    );
}

/// A post with every kind of hostile content: subject, From name, body,
/// an HTML part with script, an attachment with a hostile name and an
/// HTML type, and a hostile Message-ID.
const HOSTILE: &str = "From: \"<script>alert(1)</script>\\\"><img src=x onerror=alert(1)>\" <arjun.rao@phfi.example.org>\r
To: mch@lists.example.org\r
Subject: <script>alert(1)</script> \"><img src=x onerror=alert(1)>\r
Date: Fri, 13 Nov 2026 10:00:00 +0530\r
Message-ID: <\"><script>alert(1)</script>/%+x@evil.example>\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary=\"b1\"\r
\r
--b1\r
Content-Type: multipart/alternative; boundary=\"b2\"\r
\r
--b2\r
Content-Type: text/plain; charset=utf-8\r
\r
Hello <script>alert(1)</script> and \"><img src=x onerror=alert(1)>\r
<a href=\"javascript:alert(1)\">click</a> javascript:alert(1)\r
--b2\r
Content-Type: text/html; charset=utf-8\r
\r
<p>Hi</p><script>alert(1)</script><img src=x onerror=alert(1)><a href=\"javascript:alert(1)\">x</a>\r
--b2--\r
--b1\r
Content-Type: text/html\r
Content-Disposition: attachment; filename=\"<script>alert(1)</script>\\\"><img src=x onerror=alert(1)>.html\"\r
\r
<html><script>alert(document.cookie)</script></html>\r
--b1--\r
";

/// Whether `html` has live markup an attacker put there: a `<script`
/// tag or an `onerror=` attribute outside escaped text.
fn live_markup(html: &str) -> Option<String> {
    if html.contains("<script") {
        return Some("<script".into());
    }
    // Inside a tag (between an unescaped < and >), no onerror attribute.
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        let tag_end = rest[i..].find('>').map(|j| i + j).unwrap_or(rest.len());
        let tag = &rest[i..tag_end];
        let lower = tag.to_lowercase();
        if lower.contains(" onerror=") || lower.contains("href=\"javascript:") {
            return Some(tag.to_string());
        }
        rest = &rest[tag_end.min(rest.len())..];
        if rest.is_empty() {
            break;
        }
        rest = &rest[1..];
    }
    None
}

#[test]
fn web_archive_hostile_posts_render_inert() {
    let site = Site::demo("public", "");
    ingest_and_approve(&site, "mch", HOSTILE);
    let list = site.get("/c/mch/threads");
    ok(&list, "threads");
    assert_eq!(live_markup(&list.body), None, "{}", list.body);
    assert!(
        list.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        list.body
    );
    let t = list
        .body
        .split("/c/mch/t/")
        .skip(1)
        .find(|s| s.contains("&lt;script&gt;"))
        .and_then(|s| s.split('"').next())
        .expect("the hostile thread is listed")
        .to_string();
    let page = site.get(&format!("/c/mch/t/{t}"));
    ok(&page, "the hostile thread");
    assert_eq!(live_markup(&page.body), None, "{}", page.body);
    assert!(page.body.contains("Hello &lt;script&gt;"), "{}", page.body);
    for page_of in [&list, &page] {
        assert_eq!(live_markup(&site.get("/c/mch/").body), None);
        assert!(!page_of.body.contains("href=\"javascript"));
    }
    // The permalink, by the hostile id as the page links it.
    let link = page
        .body
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .find(|h| h.contains("/c/mch/m/"))
        .expect("a permalink")
        .trim_start_matches(&site.base)
        .to_string();
    assert!(!link["/c/mch/m/".len()..].contains('/'), "{link}");
    let post = site.get(&link);
    ok(&post, "the hostile permalink");
    assert_eq!(live_markup(&post.body), None, "{}", post.body);
    // The attachment comes as a download, never as HTML.
    let file = page
        .body
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .find(|h| h.contains("/c/mch/a/"))
        .expect("the attachment is linked")
        .trim_start_matches(&site.base)
        .to_string();
    let a = site.get(&file);
    assert_eq!(a.code, 200, "{file}: {}", a.body);
    assert_eq!(a.header("content-type"), Some("application/octet-stream"));
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    let d = a.header("content-disposition").unwrap();
    assert!(d.starts_with("attachment; filename=\""), "{d}");
    assert!(d.contains("filename*=UTF-8''%3Cscript%3E"), "{d}");
    assert!(a.body.contains("document.cookie"));
}

#[test]
fn web_archive_path_inputs_are_checked() {
    let site = Site::demo("public", "");
    let long = "x".repeat(5000);
    let cases = [
        ("/c/mch/a/../../etc/passwd", 404),
        ("/c/mch/a/..%2F..%2Fetc/passwd", 404),
        ("/c/mch/a/ABCDEF/x", 404),
        (
            "/c/mch/a/0000000000000000000000000000000000000000000000000000000000000000/x",
            404,
        ),
        (&format!("/c/mch/a/{}/x", "A".repeat(64)), 404),
        ("/c/mch/t/abc", 400),
        ("/c/mch/t/-1", 400),
        ("/c/mch/t/99999999999999999999999", 400),
        ("/c/mch/t/999999", 404),
        ("/c/mch/t/1x.mbox", 400),
        (&format!("/c/mch/m/{long}"), 404),
        (&format!("/c/mch/m/{long}/raw"), 404),
        (&format!("/c/mch/t/{long}"), 400),
        ("/c/mch/m/%FF%FE", 400),
    ];
    for (path, code) in cases {
        let a = site.get(path);
        assert_eq!(a.code, code, "{path}: {}", a.body);
    }
}

#[test]
fn web_archive_other_communities_ids_answer_not_found() {
    let other = "\n[[community]]\nslug = \"other\"\nname = \"Other Community\"\naddress = \"other@lists.example.org\"\n\n[community.web]\narchive = \"public\"\n";
    let site = Site::demo("public", other);
    ingest_and_approve(
        &site,
        "other",
        "From: Someone <someone@elsewhere.example>\r\nTo: other@lists.example.org\r\nSubject: Secret plans of the other community\r\nMessage-ID: <other-1@elsewhere.example>\r\nDate: Fri, 13 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nOther text.\r\n--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"plans.txt\"\r\n\r\nplans\r\n--b--\r\n",
    );
    let v = site.home.json(&["--json", "threads", "-c", "other"]);
    let t = v.as_array().unwrap()[0]["id"].to_string();
    // The other community's own pages have it.
    let page = site.get(&format!("/c/other/t/{t}"));
    ok(&page, "the other community's thread");
    let file = page
        .body
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .find(|h| h.contains("/a/"))
        .expect("the attachment is linked")
        .trim_start_matches(&site.base)
        .to_string();
    assert_eq!(site.get(&file).code, 200);
    ok(
        &site.get("/c/other/m/other-1@elsewhere.example"),
        "its permalink",
    );
    // Under mch, none of it exists.
    assert_eq!(site.get(&format!("/c/mch/t/{t}")).code, 404);
    assert_eq!(site.get("/c/mch/m/other-1@elsewhere.example").code, 404);
    assert_eq!(
        site.get(&file.replacen("/c/other/", "/c/mch/", 1)).code,
        404
    );
    for p in ["/c/mch/", "/c/mch/threads"] {
        assert!(!site.get(p).body.contains("Secret plans"), "{p}");
    }
    sign_in(&site, "ravi.kumar@jeevika.example.org");
    assert_eq!(site.get("/c/mch/m/other-1@elsewhere.example/raw").code, 404);
    assert_eq!(site.get(&format!("/c/mch/t/{t}.mbox")).code, 404);
}
