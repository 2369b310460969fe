//! Issue 16's browser walks: a real Chromium reads the demo community's
//! archive as a member would (home, the library, a reply, its thread, a
//! post, search in English and Hindi), every page passes the Nu HTML
//! Checker and axe-core, and a thread of hostile posts stays inert.

use crate::browser::{Browser, XSS_PAYLOADS};
use crate::site::Site;

/// Ingests `raw` into the demo community (as `praxis ingest` from an MTA).
fn ingest(site: &Site, raw: &str) {
    site.home
        .praxis()
        .args(["ingest", "-c", "mch"])
        .write_stdin(raw.to_string())
        .assert()
        .success();
}

/// A post from Dr. Anjali Mehta, whose first post the moderator approved in
/// the demo, so this one is approved on arrival.
fn post(id: &str, subject: &str, body: &str) -> String {
    format!(
        "From: \"Dr. Anjali Mehta\" <anjali.mehta@dh-sitapur.example.org>\r\n\
         To: mch@lists.example.org\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Thu, 3 Dec 2026 10:00:00 +0530\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
}

#[test]
fn a_member_reads_the_archive_follows_a_reply_and_searches_in_english_and_hindi() {
    let site = Site::demo_web("archive = \"public\"\nhealth = \"public\"\n", "");
    let Some(mut b) = Browser::start() else {
        return;
    };
    // A Hindi post, so search meets a script with combining marks.
    ingest(
        &site,
        &post(
            "hindi-1@dh-sitapur.example.org",
            "कंगारू मदर केयर: ज़िला अस्पताल का अनुभव",
            "हमारे ज़िला अस्पताल में स्वास्थ्य कर्मियों ने माताओं को प्रशिक्षण दिया।",
        ),
    );
    let base = &site.base;
    b.goto(&format!("{base}/"));
    b.click_link("Maternal and Child Health Community");
    assert!(b.url().ends_with("/c/mch/"), "{}", b.url());
    assert!(b.text("main").contains("Latest Consolidated Replies"));
    b.click_link("All Consolidated Replies");
    assert!(b.url().ends_with("/c/mch/replies"), "{}", b.url());
    // Follow the reply from the library, then its thread.
    let reply = b
        .links("main ul.replies a")
        .into_iter()
        .next()
        .expect("the library lists the demo's reply");
    b.goto(&reply);
    assert!(b.exists("article.reply"), "{}", b.url());
    let reply_url = b.url();
    b.click_link("Read the query and every response in the thread");
    assert!(b.url().contains("/c/mch/t/"), "{}", b.url());
    let thread_url = b.url();
    // The Consolidated Reply comes first, then the posts.
    let order: serde_json::Value = b.execute(
        "var r = document.querySelector('article.reply'); var p = document.querySelector('article.post');\
         return !!(r && p && (r.compareDocumentPosition(p) & Node.DOCUMENT_POSITION_FOLLOWING));",
        vec![],
    );
    assert_eq!(
        order,
        serde_json::json!(true),
        "reply before posts on {thread_url}"
    );
    let post_url = b
        .links("article.post a")
        .into_iter()
        .find(|l| l.contains("/c/mch/m/"))
        .expect("each post has its permalink");
    b.goto(&post_url);
    assert!(b.text("main").contains("In the thread"), "{}", b.url());
    // Search in English from the box every page has.
    b.fill("#site-q", "kangaroo");
    b.submit("form.search button");
    assert!(b.url().contains("/c/mch/search?q=kangaroo"), "{}", b.url());
    assert!(!b.find_all("main mark").is_empty(), "no marked words");
    let english = b.url();
    // And in Hindi: a word with a nukta and vowel signs is found whole.
    b.fill("#q", "ज़िला");
    b.submit("form.searchpage button");
    let hindi = b.url();
    assert!(
        b.text("main").contains("कंगारू मदर केयर"),
        "the Hindi post is found: {}",
        b.text("main")
    );
    assert!(b.texts("main mark").iter().any(|m| m == "ज़िला"));
    // Every page walked, and the others a member meets, are valid and accessible.
    let mut pages = vec![
        format!("{base}/"),
        format!("{base}/c/mch/"),
        format!("{base}/c/mch/threads"),
        format!("{base}/c/mch/replies"),
        format!("{base}/c/mch/health"),
        reply_url,
        thread_url,
        post_url,
        english,
        hindi,
        format!("{base}/c/mch/search"),
        format!("{base}/c/mch/search?q=after%3A2026-13-01"),
        format!("{base}/no/such/page"),
    ];
    pages.extend(extra_pages(&site));
    b.check_pages(&pages);
}

/// Pages beyond the reading walk that exist on the demo site: the
/// membership forms, a member's own page, the one-click page.
fn extra_pages(site: &Site) -> Vec<String> {
    let key = praxis::deliver::links::LinkKey::new("a long random secret for the web tests");
    let member = "ravi.kumar@jeevika.example.org";
    vec![
        format!("{}/signin", site.base),
        format!("{}/c/mch/join", site.base),
        praxis::deliver::links::me_url(&site.base, &key, "mch", member),
        praxis::deliver::links::unsubscribe_url(&site.base, &key, "mch", member),
    ]
}

#[test]
fn a_thread_of_hostile_posts_stays_inert_in_the_browser() {
    let site = Site::demo("public", "");
    let Some(mut b) = Browser::start() else {
        return;
    };
    // Payloads in a member's name, organisation and place (shown beside posts),
    // in subjects, bodies and an attachment's name.
    site.home.stdout(&[
        "members",
        "set",
        "anjali.mehta@dh-sitapur.example.org",
        "-c",
        "mch",
        "--name",
        XSS_PAYLOADS[1],
    ]);
    for (i, p) in XSS_PAYLOADS.iter().enumerate() {
        let subject = format!("Hostile {i} {p}");
        let body = format!("{p}\n\n> {p}\n\nhttps://example.org/{p}\n");
        let mut raw = post(
            &format!("hostile-{i}@dh-sitapur.example.org"),
            &subject,
            &body,
        );
        if i == 0 {
            raw = raw.replace(
                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
                &format!(
                    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
                     Content-Type: text/html; charset=utf-8\r\n\r\n<p>{p}</p><script>alert(1)</script>\r\n--b\r\n\
                     Content-Type: text/html; name=\"{n}\"\r\nContent-Disposition: attachment; filename=\"{n}\"\r\n\r\n\
                     <script>document.documentElement.dataset.xss='attachment'</script>\r\n--b--\r\n",
                    n = "x\\\"><img src=x onerror=alert(1)>.html"
                ),
            );
        }
        ingest(&site, &raw);
    }
    let threads = site.get("/c/mch/threads");
    let mut urls: Vec<String> = threads
        .body
        .match_indices("href=\"/c/mch/t/")
        .map(|(at, _)| {
            let rest = &threads.body[at + 6..];
            format!("{}{}", site.base, &rest[..rest.find('"').unwrap()])
        })
        .collect();
    urls.sort();
    urls.dedup();
    assert!(urls.len() >= XSS_PAYLOADS.len(), "{}", threads.body);
    urls.push(format!("{}/c/mch/search?q=hostile", site.base));
    urls.push(format!("{}/c/mch/threads", site.base));
    urls.push(format!("{}/c/mch/", site.base));
    for url in &urls {
        b.goto(url);
        b.assert_inert();
        // A message page too, for each thread.
        if url.contains("/t/")
            && let Some(m) = b
                .links("article.post a")
                .into_iter()
                .find(|l| l.contains("/m/"))
        {
            b.goto(&m);
            b.assert_inert();
        }
    }
}

/// The first `{base}{path_start}…` URL in `text` (a link in a mail).
fn link_in(text: &str, base: &str, path_start: &str) -> Option<String> {
    let start = format!("{base}{path_start}");
    let at = text.find(&start)?;
    let rest = &text[at..];
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '>' | '<' | ')' | ']' | '"'))
        .unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

#[test]
fn a_newcomer_joins_in_the_browser_changes_delivery_and_leaves_by_one_click() {
    use std::time::{Duration, Instant};

    use crate::support::{Daemon, Home, PrivateStack};

    // Browser first: a run without the tools skips before starting servers.
    let Some(mut b) = Browser::start() else {
        return;
    };
    let s = PrivateStack::start();
    let port = crate::site::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let home = Home::with_config(&s.live_config(false));
    let key = home.path().join("link.key");
    std::fs::write(&key, "walk link secret\n").unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let config = std::fs::read_to_string(home.config())
        .unwrap()
        .replacen(
            "[delivery]\n",
            &format!("[delivery]\nlink_secret_file = \"{}\"\n", key.display()),
            1,
        )
        .replacen(
            "[community.delivery]\n",
            "[community.web]\narchive = \"members\"\n\n[community.delivery]\n",
            1,
        )
        + &format!("\n[http]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{base}\"\n");
    home.write_config(&config);
    home.stdout(&["init"]);
    for (who, role) in [("moderator", "moderator"), ("alice", "member")] {
        home.stdout(&[
            "members",
            "add",
            &format!("{who}@example.test"),
            "-c",
            "health",
            "--role",
            role,
            "--moderation",
            "accept",
        ]);
    }
    let daemon = Daemon::start(&home);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "no web:\n{}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let member = |email: &str| -> serde_json::Value {
        home.json(&["members", "list", "-c", "health", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == email)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };

    // Join from the form.
    b.goto(&format!("{base}/c/health/join"));
    b.check();
    b.fill("#join-email", "oscar@example.test");
    b.fill("#join-name", "Oscar Fernandes");
    b.fill("#join-organisation", "Goa Health Trust");
    b.fill("#join-place", "Panaji");
    b.click("#join-delivery-each");
    b.submit("main form button[type=submit]");
    assert!(
        b.text("main").to_lowercase().contains("mail"),
        "{}",
        b.text("main")
    );
    assert_eq!(
        member("oscar@example.test"),
        serde_json::Value::Null,
        "joined before confirming"
    );

    // The confirmation, read from oscar's real mailbox; its link opened.
    let mail = rt.block_on(s.wait_inbox("oscar", "/c/health/join/"));
    let confirm = link_in(&mail, &base, "/c/health/join/").expect("a confirm link");
    b.goto(&confirm);
    b.check();
    assert_eq!(
        member("oscar@example.test"),
        serde_json::Value::Null,
        "a GET confirmed"
    );
    b.submit("main form button[type=submit]");
    let m = member("oscar@example.test");
    assert_eq!(m["status"], "active", "{m}");
    assert_eq!(m["name"], "Oscar Fernandes", "{m}");
    assert_eq!(m["organisation"], "Goa Health Trust", "{m}");
    assert_eq!(m["delivery"], "each", "{m}");

    // The welcome carries the member's own page; there, delivery becomes digest.
    let welcome = rt.block_on(s.wait_inbox("oscar", "/c/health/me/"));
    let me = link_in(&welcome, &base, "/c/health/me/").expect("a me link in the welcome");
    b.goto(&me);
    b.check();
    b.select("#me-delivery", "digest");
    b.submit("main form button[type=submit]");
    assert_eq!(
        member("oscar@example.test")["delivery"],
        "digest",
        "after saving on {}: {}",
        b.url(),
        b.text("main")
    );
    b.check();

    // The next post reaches each-post members, not oscar; the digest does.
    let post = "From: Alice <alice@example.test>\r\nTo: list@example.test\r\n\
                Subject: Cold chain in the monsoon\r\nMessage-ID: <monsoon-1@example.test>\r\n\
                Date: Fri, 4 Dec 2026 10:00:00 +0530\r\n\r\nHow do you keep vaccines cold when the power fails?\r\n";
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(post)
        .assert()
        .success();
    rt.block_on(s.wait_inbox("moderator", "Cold chain in the monsoon"));
    home.stdout(&["digest", "send", "-c", "health", "--now"]);
    let digest = rt.block_on(s.wait_inbox("oscar", "Cold chain in the monsoon"));
    let copies = rt.block_on(s.inbox("oscar", "Cold chain in the monsoon"));
    assert_eq!(
        copies.len(),
        1,
        "oscar got the post itself, not only the digest: {copies:?}"
    );
    assert!(digest.to_lowercase().contains("digest"), "{digest}");

    // One-click leave from the digest's own link.
    let leave = link_in(&digest, &base, "/u/").expect("a one-click link in the digest");
    b.goto(&leave);
    b.check();
    assert_eq!(
        member("oscar@example.test")["status"],
        "active",
        "a GET unsubscribed"
    );
    b.submit("main form button[type=submit]");
    assert!(
        b.text("main").contains("unsubscribed"),
        "{}",
        b.text("main")
    );
    assert_eq!(member("oscar@example.test")["status"], "unsubscribed");
    drop(daemon);
}
