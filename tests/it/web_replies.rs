//! The Consolidated Reply library, one reply's page and the Atom feeds,
//! against the demo community served by a real `praxis serve`; and
//! `praxis demo --serve`.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use base64::Engine as _;
use quick_xml::events::Event;

use crate::site::{Answer, Site, free_port};

/// Every member address of the demo community.
fn member_addresses(site: &Site) -> Vec<String> {
    let members = site.home.json(&["--json", "members", "list", "-c", "mch"]);
    let out: Vec<String> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_ascii_lowercase())
        .collect();
    assert!(out.len() >= 5, "{members}");
    out
}

/// Fails when any member address is in `answer`.
fn no_address(what: &str, answer: &Answer, addresses: &[String]) {
    let body = answer.body.to_ascii_lowercase();
    for a in addresses {
        assert!(
            !body.contains(a.as_str()),
            "{what} shows {a}:\n{}",
            answer.body
        );
    }
}

/// One entry of a parsed feed.
#[derive(Debug, Default)]
struct FeedEntry {
    id: String,
    title: String,
    updated: String,
    author: String,
    link: String,
    summary: String,
    content: String,
    content_type: String,
}

/// Parses an Atom feed strictly enough to fail on anything not
/// well-formed: end tags must match, every text and attribute must
/// unescape, and the document must end with the root closed.
fn parse_feed(xml: &str) -> (String, Vec<FeedEntry>) {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<String> = Vec::new();
    let mut entries: Vec<FeedEntry> = Vec::new();
    let mut feed_updated = String::new();
    let mut roots = 0;
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("the feed is not well-formed: {e}\n{xml}"));
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                if stack.is_empty() {
                    roots += 1;
                    assert_eq!(name, "feed", "{xml}");
                    let ns = e
                        .try_get_attribute("xmlns")
                        .unwrap()
                        .expect("the feed names the Atom namespace");
                    assert_eq!(ns.value.as_ref(), b"http://www.w3.org/2005/Atom");
                }
                let mut attrs = std::collections::HashMap::new();
                for a in e.attributes() {
                    let a = a.unwrap_or_else(|e| panic!("a bad attribute: {e}\n{xml}"));
                    let key = String::from_utf8(a.key.as_ref().to_vec()).unwrap();
                    let value = a
                        .unescape_value()
                        .unwrap_or_else(|e| panic!("an attribute does not unescape: {e}"))
                        .into_owned();
                    attrs.insert(key, value);
                }
                if name == "entry" {
                    entries.push(FeedEntry::default());
                }
                if stack.last().map(String::as_str) == Some("entry")
                    && let Some(entry) = entries.last_mut()
                {
                    match name.as_str() {
                        "link" => entry.link = attrs.get("href").cloned().unwrap_or_default(),
                        "content" => {
                            entry.content_type = attrs.get("type").cloned().unwrap_or_default()
                        }
                        _ => {}
                    }
                }
                // An empty element has no end event.
                if !empty {
                    stack.push(name);
                }
            }
            Event::End(_) => {
                stack.pop().expect("an end tag without a start");
            }
            Event::Text(t) => {
                let text = t
                    .unescape()
                    .unwrap_or_else(|e| panic!("text does not unescape: {e}\n{xml}"))
                    .into_owned();
                let path: Vec<&str> = stack.iter().map(String::as_str).collect();
                match path.as_slice() {
                    ["feed", "updated"] => feed_updated = text,
                    ["feed", "entry", field] | ["feed", "entry", field, _] => {
                        let entry = entries.last_mut().unwrap();
                        let slot = match *field {
                            "id" => &mut entry.id,
                            "title" => &mut entry.title,
                            "updated" => &mut entry.updated,
                            "author" => &mut entry.author,
                            "summary" => &mut entry.summary,
                            "content" => &mut entry.content,
                            _ => continue,
                        };
                        slot.push_str(&text);
                    }
                    [] => assert!(text.trim().is_empty(), "text outside the root: {text}"),
                    _ => {}
                }
            }
            Event::CData(_) | Event::DocType(_) => panic!("no CDATA or DOCTYPE expected"),
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    assert_eq!(roots, 1);
    chrono::DateTime::parse_from_rfc3339(&feed_updated)
        .unwrap_or_else(|e| panic!("feed updated {feed_updated:?}: {e}"));
    for e in &entries {
        chrono::DateTime::parse_from_rfc3339(&e.updated)
            .unwrap_or_else(|err| panic!("entry updated {:?}: {err}", e.updated));
        assert!(
            !e.id.is_empty() && !e.title.is_empty() && !e.author.is_empty(),
            "{e:?}"
        );
    }
    (feed_updated, entries)
}

/// GETs a feed, checks its type, and parses it.
fn feed(site: &Site, path: &str) -> (Answer, Vec<FeedEntry>) {
    let a = site.get(path);
    assert_eq!(a.code, 200, "{path}: {}", a.body);
    assert_eq!(
        a.header("content-type"),
        Some("application/atom+xml; charset=utf-8")
    );
    let (_, entries) = parse_feed(&a.body);
    (a, entries)
}

#[test]
fn the_library_a_reply_and_both_feeds_of_a_public_archive() {
    let site = Site::demo("public", "");
    let addresses = member_addresses(&site);
    let query = site.home.query_id("Kangaroo");

    // The library: the demo's reply, who compiled it, who responded.
    let lib = site.get("/c/mch/replies");
    assert_eq!(lib.code, 200, "{}", lib.body);
    for needle in [
        format!("href=\"/c/mch/replies/{query}\""),
        "Kangaroo Mother Care for low-birth-weight babies".to_string(),
        "compiled by Meera Iyer".to_string(),
        "3 responses".to_string(),
        "Responses from Ravi Kumar, Fatima Shaikh, ".to_string(),
        "<time datetime=\"".to_string(),
    ] {
        assert!(lib.body.contains(&needle), "no {needle} in:\n{}", lib.body);
    }
    // The asker is no responder of her own query.
    let responders = lib.body.split("Responses from ").nth(1).unwrap();
    let responders = responders.split("</p>").next().unwrap();
    assert!(!responders.contains("Anjali"), "{responders}");
    assert_eq!(lib.body.matches("<h1").count(), 1);
    no_address("the library", &lib, &addresses);
    assert_eq!(site.get("/c/mch/replies?page=2").code, 404);
    assert_eq!(site.get("/c/mch/replies?page=0").code, 400);
    assert_eq!(site.get("/c/mch/replies?page=1").code, 200);
    assert_eq!(site.get("/c/nowhere/replies").code, 404);

    // One reply as mailed: every section, each responder with organisation
    // and place, a link to its thread.
    let page = site.get(&format!("/c/mch/replies/{query}"));
    assert_eq!(page.code, 200, "{}", page.body);
    for needle in [
        "<h1>Query: Kangaroo Mother Care",
        "Original query</h3>",
        "Responses were received, with thanks, from</h3>",
        "Summary of responses</h3>",
        "Related resources</h3>",
        "Related Consolidated Replies</h3>",
        "Responses in full</h3>",
        "Ravi Kumar, Jeevika Health Trust, Gaya, Bihar",
        "Fatima Shaikh, SNEHA, Mumbai",
        &format!("href=\"/c/mch/t/{query}\""),
        "mch@lists.example.org",
    ] {
        assert!(page.body.contains(needle), "no {needle} in:\n{}", page.body);
    }
    assert_eq!(page.body.matches("<h1").count(), 1, "{}", page.body);
    assert!(
        !page.body.contains("<!--"),
        "the moderator's hints are not shown"
    );
    no_address("the reply page", &page, &addresses);
    assert_eq!(site.get("/c/mch/replies/9999").code, 404);
    assert_eq!(site.get("/c/mch/replies/nope").code, 404);

    // A draft (an addendum in progress) is shown nowhere.
    let draft = site.home.path().join("addendum.md");
    std::fs::write(&draft, "# Addendum\n\nUNPUBLISHED-DRAFT-TEXT\n").unwrap();
    site.home.stdout(&[
        "consolidate",
        &query,
        "--from",
        draft.to_str().unwrap(),
        "--as",
        "Meera Iyer",
    ]);

    // The replies feed: one entry, linking to the reply's page, with the
    // sanitised HTML as its content.
    let (replies, entries) = feed(&site, "/c/mch/replies.atom");
    assert_eq!(entries.len(), 1, "{}", replies.body);
    let e = &entries[0];
    assert_eq!(e.link, format!("{}/c/mch/replies/{query}", site.base));
    assert_eq!(e.content_type, "html");
    assert!(
        e.content.contains("<h2>Original query</h2>"),
        "{}",
        e.content
    );
    assert!(e.title.contains("Kangaroo Mother Care"), "{e:?}");
    assert_eq!(e.author, "Meera Iyer");
    let linked = site.get(e.link.strip_prefix(&site.base).unwrap());
    assert_eq!(linked.code, 200);
    no_address("the replies feed", &replies, &addresses);

    // The new-threads feed: the query, by its asker's name, its first lines.
    let (threads, entries) = feed(&site, "/c/mch/feed.atom");
    assert_eq!(entries.len(), 1, "{}", threads.body);
    let e = &entries[0];
    assert_eq!(e.link, format!("{}/c/mch/t/{query}", site.base));
    assert_eq!(e.id, e.link);
    assert_eq!(e.author, "Dr. Anjali Mehta");
    assert!(e.title.contains("Kangaroo Mother Care"), "{e:?}");
    assert!(
        !e.summary.is_empty() && e.summary.lines().count() <= 6,
        "{e:?}"
    );
    no_address("the threads feed", &threads, &addresses);
    // (The thread pages themselves are another part's; once they are
    // served, this link answers 200 too.)

    for path in [
        "/c/mch/replies".to_string(),
        format!("/c/mch/replies/{query}"),
        "/c/mch/replies.atom".to_string(),
        "/c/mch/feed.atom".to_string(),
    ] {
        let a = site.get(&path);
        assert!(
            !a.body.contains("UNPUBLISHED-DRAFT-TEXT"),
            "{path}: {}",
            a.body
        );
    }
    // Scheduled for a time to come, it is still shown nowhere.
    site.home
        .stdout(&["publish", &query, "--at", "2099-01-05 09:00"]);
    for path in [
        "/c/mch/replies".to_string(),
        format!("/c/mch/replies/{query}"),
        "/c/mch/replies.atom".to_string(),
    ] {
        let a = site.get(&path);
        assert_eq!(a.code, 200, "{path}");
        assert!(
            !a.body.contains("UNPUBLISHED-DRAFT-TEXT") && !a.body.contains("ddend"),
            "{path}: {}",
            a.body
        );
    }
}

/// A session cookie for `email`, signed with the test site's key (what
/// signing in by mail would set).
fn session_for(email: &str) -> String {
    let key = praxis::deliver::links::LinkKey::new("a long random secret for the web tests");
    let exp = (chrono::Utc::now().timestamp() + 3600).to_string();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(email);
    format!("{b64}.{exp}.{}", key.sign("session", &[email, &exp]))
}

#[test]
fn a_members_archive_keeps_its_library_and_feeds_to_members() {
    let site = Site::demo("members", "");
    let query = site.home.query_id("Kangaroo");
    let paths = [
        "/c/mch/replies".to_string(),
        format!("/c/mch/replies/{query}"),
        "/c/mch/replies.atom".to_string(),
        "/c/mch/feed.atom".to_string(),
    ];
    for path in &paths {
        let a = site.get(path);
        assert_eq!(a.code, 403, "{path}: {}", a.body);
        assert!(!a.body.contains("Kangaroo"), "{path}: {}", a.body);
    }
    site.cookies.borrow_mut().insert(
        "praxis_session".into(),
        session_for("kavita.joshi@sewa.example.org"),
    );
    for path in &paths {
        let a = site.get(path);
        assert_eq!(a.code, 200, "{path}: {}", a.body);
        assert!(a.body.contains("Kangaroo"), "{path}: {}", a.body);
    }
    let (_, entries) = feed(&site, "/c/mch/replies.atom");
    assert_eq!(entries.len(), 1);
}

#[test]
fn demo_serve_serves_the_archive_until_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let port = free_port();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("praxis"))
        .args(["demo", "--serve", "--port", &port.to_string(), "--dir"])
        .arg(&dir)
        .env_remove("PRAXIS_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Read the transcript until the line with the archive's address.
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            if let Some(line) = seen.lines().find(|l| l.starts_with("The archive: ")) {
                tx.send(line.to_string()).ok();
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("praxis demo --serve printed the archive's address");
    let url = line.strip_prefix("The archive: ").unwrap().trim();
    assert_eq!(url, format!("http://127.0.0.1:{port}/c/mch/"));
    let path = url
        .strip_prefix(&format!("http://127.0.0.1:{port}"))
        .unwrap();
    // GET it (the server may still be starting).
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            write!(
                s,
                "GET {path}replies HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut raw = String::new();
            s.read_to_string(&mut raw).unwrap();
            break raw;
        }
        assert!(Instant::now() < deadline, "demo --serve never listened");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("Kangaroo Mother Care"), "{answer}");
    // The link secret is the owner's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("link.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("praxis demo --serve did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}
