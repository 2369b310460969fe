//! The RFC 8058 one-click unsubscribe endpoint, end to end: the link in a
//! delivered copy's List-Unsubscribe header, POSTed as a mail provider
//! would, makes the member leave; a GET, a forged link or a bare POST does not.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use mail_parser::MessageParser;

use crate::support::{Daemon, Home, repo};

/// Sends one HTTP request to `addr`; returns (status code, whole response).
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: lists.example.org\r\n\
         Connection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, out)
}

/// The files delivered into the demo config's Maildir.
fn delivered(home: &Home) -> Vec<Vec<u8>> {
    std::fs::read_dir(home.path().join("delivered/new"))
        .map(|d| {
            d.map(|e| std::fs::read(e.unwrap().path()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

fn member_status(home: &Home, email: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&home.stdout(&["--json", "members", "list", "-c", "mch"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .map(|m| m["status"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn one_click_unsubscribe_from_a_delivered_link() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = std::fs::read_to_string(repo().join("examples/demo/praxis.toml"))
        .unwrap()
        .replace(
            "maildir = \"delivered\"",
            "maildir = \"delivered\"\nlink_secret_file = \"link.key\"\npoll = \"200ms\"",
        )
        + &format!(
            "\n[http]\nlisten = \"{addr}\"\npublic_url = \"https://lists.example.org/praxis\"\n"
        );
    let home = Home::with_config(&config);
    let key = home.path().join("link.key");
    std::fs::write(&key, "a long random secret for tests\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    home.stdout(&["check"]);
    home.stdout(&["init"]);
    home.stdout(&[
        "members",
        "add",
        "ravi.kumar@jeevika.example.org",
        "-c",
        "mch",
        "--moderation",
        "accept",
    ]);
    let post = "From: Ravi Kumar <ravi.kumar@jeevika.example.org>\r\nTo: mch@lists.example.org\r\n\
                Subject: ASHA incentives\r\nMessage-ID: <asha-1@jeevika.example.org>\r\n\
                Date: Mon, 16 Nov 2026 10:00:00 +0530\r\n\r\nWhat do other states pay?\r\n";
    home.praxis()
        .args(["ingest", "-c", "mch"])
        .write_stdin(post)
        .assert()
        .success();

    let daemon = Daemon::start(&home);
    let deadline = Instant::now() + Duration::from_secs(30);
    let copy = loop {
        if let Some(c) = delivered(&home).into_iter().next() {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "never delivered:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let msg = MessageParser::default().parse(&copy).unwrap();
    let header = |name: &str| {
        msg.header_raw(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .trim()
            .to_string()
    };
    assert_eq!(
        header("List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    let list_unsubscribe = header("List-Unsubscribe");
    let url = list_unsubscribe
        .split(['<', '>'])
        .find(|p| p.starts_with("https://"))
        .unwrap_or_else(|| panic!("no https link in {list_unsubscribe}"));
    let path = url
        .strip_prefix("https://lists.example.org")
        .unwrap()
        .to_string();
    assert!(path.starts_with("/praxis/u/"), "{path}");

    // Wait for the endpoint.
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "no endpoint:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A GET (a person, or a scanner prefetching links) only shows the button.
    let (code, page) = http(&addr, "GET", &path, "");
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("<form method=\"post\""), "{page}");
    assert_eq!(
        member_status(&home, "ravi.kumar@jeevika.example.org"),
        "active"
    );
    // A POST without the RFC 8058 field, or with a forged token, does nothing.
    assert_eq!(http(&addr, "POST", &path, "").0, 400);
    let forged = format!("{}0", &path[..path.len() - 1]);
    assert_eq!(
        http(&addr, "POST", &forged, "List-Unsubscribe=One-Click").0,
        403
    );
    // The same token with another member's address in it.
    let tag = path.rsplit('.').next().unwrap();
    let other = format!(
        "/praxis/u/{}.{tag}",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            "mch\npriya.das@jeevika.example.org"
        )
    );
    assert_eq!(
        http(&addr, "POST", &other, "List-Unsubscribe=One-Click").0,
        403
    );
    assert_eq!(http(&addr, "GET", "/elsewhere", "").0, 404);
    assert_eq!(http(&addr, "GET", "/praxis/elsewhere", "").0, 404);
    assert_eq!(
        member_status(&home, "ravi.kumar@jeevika.example.org"),
        "active"
    );
    // The provider's POST: the member leaves, is told, and it is in the log.
    let (code, page) = http(&addr, "POST", &path, "List-Unsubscribe=One-Click");
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("is unsubscribed"), "{page}");
    assert_eq!(
        member_status(&home, "ravi.kumar@jeevika.example.org"),
        "unsubscribed"
    );
    // In the audit log as the member's own act, made on the web.
    let log = home.json(&["audit", "-c", "mch", "--json"]);
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "member-unsubscribe"
                && r["how"] == "web"
                && r["actor"] == "ravi.kumar@jeevika.example.org"),
        "{log}"
    );
    // Twice is harmless.
    let (code, page) = http(&addr, "POST", &path, "List-Unsubscribe=One-Click");
    assert_eq!(code, 200);
    assert!(page.contains("is not a member"), "{page}");
    let goodbye = |m: &Vec<u8>| {
        MessageParser::default()
            .parse(m)
            .and_then(|m| m.subject().map(|s| s.contains("You have left")))
            .unwrap_or(false)
    };
    while !delivered(&home).iter().any(goodbye) {
        assert!(
            Instant::now() < deadline,
            "no goodbye:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
