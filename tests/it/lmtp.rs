//! The LMTP listener: through the real Postfix, and the protocol itself
//! (per-recipient replies, dot-stuffing, size limit, temporary failure).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{Daemon, Home, PrivateStack, send_many, stack_config, stored};

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connects once the listener is up.
pub(crate) fn connect(addr: &str, daemon: &Daemon) -> (BufReader<TcpStream>, TcpStream) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = TcpStream::connect(addr) {
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            return (BufReader::new(s.try_clone().unwrap()), s);
        }
        assert!(
            Instant::now() < deadline,
            "LMTP never listened; log:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One reply, all its lines.
pub(crate) fn reply(r: &mut BufReader<TcpStream>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        all.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return all;
        }
    }
}

/// Sends a command line; the reply.
pub(crate) fn say(w: &mut TcpStream, r: &mut BufReader<TcpStream>, line: &str) -> String {
    w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    reply(r)
}

#[test]
fn fault_mail_through_postfix_reaches_praxis_over_lmtp() {
    let stack = PrivateStack::start();
    let home = Home::with_config(&stack_config(
        &stack.imap,
        &stack.smtp,
        Some(&stack.praxis_lmtp),
    ));
    let daemon = Daemon::start(&home);
    let _ = connect(&stack.praxis_lmtp, &daemon);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ids = rt.block_on(send_many(
        &stack.smtp,
        "health@lists.example.test",
        "via-lmtp",
        10,
    ));
    let cmd = rt.block_on(send_many(
        &stack.smtp,
        "health-request@lists.example.test",
        "via-lmtp-cmd",
        1,
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    let all: Vec<String> = ids.iter().chain(&cmd).cloned().collect();
    loop {
        let (distinct, rows) = stored(&daemon.db, "lists", &all);
        assert_eq!(distinct, rows);
        if distinct == all.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{distinct}/{} arrived; log:\n{}",
            all.len(),
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let store = praxis::store::Store::open_database(&daemon.db).unwrap();
    let c = store.community("lists").unwrap();
    let classes: Vec<String> = (1..=store.post_count(c.id).unwrap())
        .filter_map(|i| store.post(praxis::model::PostId(i)).ok())
        .filter(|p| p.community == "lists")
        .map(|p| p.class.to_string())
        .collect();
    assert_eq!(
        classes.iter().filter(|c| *c == "command").count(),
        1,
        "{classes:?}"
    );
    let log = std::fs::read_to_string(stack.dir.path().join("postfix.log")).unwrap();
    assert!(
        log.contains("stored as post"),
        "Postfix logged praxis's per-recipient reply:\n{log}"
    );
}

/// A config with an LMTP listener on a free loopback port and no IMAP (only
/// the listener matters): the listen address and the config text.
fn lmtp_only_config() -> (String, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut config = stack_config("127.0.0.1:1", "127.0.0.1:1", Some(&listen));
    config = config.replace("[community.imap]", "[community.unused]");
    let cut = config.find("[community.unused]").unwrap();
    let end = config[cut..].find("[[community]]").unwrap();
    config.replace_range(cut..cut + end, "");
    (listen, config)
}

#[test]
fn lmtp_protocol_replies_per_recipient() {
    let (listen, config) = lmtp_only_config();
    let config = config.replace("listen = ", "max_message_kb = 4\nlisten = ");
    let home = Home::with_config(&config);
    let daemon = Daemon::start(&home);
    let (mut r, mut w) = connect(&listen, &daemon);
    assert!(reply(&mut r).starts_with("220 "));
    assert!(
        say(&mut w, &mut r, "EHLO x").starts_with("500 "),
        "LMTP wants LHLO"
    );
    let lhlo = say(&mut w, &mut r, "LHLO client.example.test");
    assert!(
        lhlo.contains("250-PIPELINING") && lhlo.contains("SIZE 4096"),
        "{lhlo}"
    );
    assert!(say(&mut w, &mut r, "MAIL FROM:<alice@example.org>").starts_with("250 "));
    assert!(say(&mut w, &mut r, "RCPT TO:<health@lists.example.test>").starts_with("250 "));
    assert!(say(&mut w, &mut r, "RCPT TO:<nobody@elsewhere.example.org>").starts_with("550 "));
    assert!(say(&mut w, &mut r, "RCPT TO:<list@example.test>").starts_with("250 "));
    assert!(say(&mut w, &mut r, "DATA").starts_with("354 "));
    w.write_all(
        b"From: Alice <alice@example.org>\r\nSubject: dots\r\nMessage-ID: <lmtp-dots@x>\r\n\r\n..a line that began with a dot\r\nbody\r\n.\r\n",
    )
    .unwrap();
    // One reply per accepted recipient, in order (RFC 2033 section 4.2).
    let first = reply(&mut r);
    let second = reply(&mut r);
    assert!(
        first.starts_with("250 2.0.0 <health@lists.example.test> stored as post"),
        "{first}"
    );
    assert!(
        second.starts_with("250 2.0.0 <list@example.test> stored as post"),
        "{second}"
    );
    let store = praxis::store::Store::open_database(&daemon.db).unwrap();
    let text = store.post(praxis::model::PostId(1)).unwrap().text;
    assert!(
        text.starts_with(".a line that began with a dot"),
        "dot-stuffing undone: {text:?}"
    );

    // Over the size limit: 552 per recipient, and the session goes on.
    assert!(say(&mut w, &mut r, "MAIL FROM:<alice@example.org>").starts_with("250 "));
    assert!(say(&mut w, &mut r, "RCPT TO:<health@lists.example.test>").starts_with("250 "));
    assert!(say(&mut w, &mut r, "DATA").starts_with("354 "));
    let big = format!(
        "Subject: big\r\nMessage-ID: <big@x>\r\n\r\n{}\r\n.\r\n",
        "x".repeat(8000)
    );
    w.write_all(big.as_bytes()).unwrap();
    assert!(reply(&mut r).starts_with("552 "));

    // The database is locked past the busy timeout: 451, and nothing is lost
    // once the MTA retries.
    let mut locker = home.lock_writers();
    let msg = b"From: b@example.org\r\nSubject: later\r\nMessage-ID: <lmtp-later@x>\r\n\r\nretry me\r\n.\r\n";
    assert!(say(&mut w, &mut r, "MAIL FROM:<b@example.org>").starts_with("250 "));
    assert!(say(&mut w, &mut r, "RCPT TO:<health@lists.example.test>").starts_with("250 "));
    assert!(say(&mut w, &mut r, "DATA").starts_with("354 "));
    w.write_all(msg).unwrap();
    let busy = reply(&mut r);
    assert!(busy.starts_with("451 4.3.0"), "{busy}");
    drop(locker.stdin.take());
    locker.wait().unwrap();
    assert!(say(&mut w, &mut r, "MAIL FROM:<b@example.org>").starts_with("250 "));
    assert!(say(&mut w, &mut r, "RCPT TO:<health@lists.example.test>").starts_with("250 "));
    assert!(say(&mut w, &mut r, "DATA").starts_with("354 "));
    w.write_all(msg).unwrap();
    assert!(reply(&mut r).starts_with("250 2.0.0"));
    assert!(say(&mut w, &mut r, "QUIT").starts_with("221 "));
}

/// The daemon's peak resident memory (VmHWM), in bytes.
fn peak_rss(daemon: &Daemon) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.child.id())).unwrap();
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    kb * 1024
}

/// A message over the default 50 MB limit gets 552 without being held in
/// memory: the listener reads and drops what is past the limit.
#[test]
fn lmtp_refuses_a_message_over_50_mb_in_bounded_memory() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut config = stack_config("127.0.0.1:1", "127.0.0.1:1", Some(&listen));
    let cut = config.find("[community.imap]").unwrap();
    let end = config[cut..].find("[[community]]").unwrap();
    config.replace_range(cut..cut + end, "");
    let home = Home::with_config(&config);
    let daemon = Daemon::start(&home);
    let (mut r, mut w) = connect(&listen, &daemon);
    assert!(reply(&mut r).starts_with("220 "));
    let lhlo = say(&mut w, &mut r, "LHLO client.example.test");
    assert!(lhlo.contains("SIZE 52428800"), "{lhlo}");
    // Declared too big: refused at MAIL FROM.
    let declared = say(
        &mut w,
        &mut r,
        "MAIL FROM:<alice@example.org> SIZE=60000000",
    );
    assert!(declared.starts_with("552 "), "{declared}");
    // Undeclared: 51 MB sent, 552 after the data.
    assert!(say(&mut w, &mut r, "MAIL FROM:<alice@example.org>").starts_with("250 "));
    assert!(say(&mut w, &mut r, "RCPT TO:<health@lists.example.test>").starts_with("250 "));
    assert!(say(&mut w, &mut r, "DATA").starts_with("354 "));
    let before = peak_rss(&daemon);
    w.write_all(b"From: a@example.org\r\nSubject: huge\r\nMessage-ID: <huge@x>\r\n\r\n")
        .unwrap();
    let line = [b'x'; 1022];
    for _ in 0..51 * 1024 {
        w.write_all(&line).unwrap();
        w.write_all(b"\r\n").unwrap();
    }
    w.write_all(b".\r\n").unwrap();
    let too_big = reply(&mut r);
    assert!(too_big.starts_with("552 "), "{too_big}");
    let after = peak_rss(&daemon);
    eprintln!(
        "LMTP 51 MB: peak RSS {} MB before, {} MB after",
        before >> 20,
        after >> 20
    );
    // The limit's worth is buffered at most, never the whole message twice.
    assert!(after < before + 80 * 1024 * 1024, "{before} -> {after}");
    assert!(say(&mut w, &mut r, "QUIT").starts_with("221 "));
    let store = praxis::store::Store::open_database(&daemon.db).unwrap();
    let c = store.community("health").unwrap().id;
    assert_eq!(store.thread_count(c).unwrap(), 0, "nothing stored");
}

/// Issue 14: a community's templates are compiled once per process, not per
/// message. Five held posts each need an acknowledgement and a moderators'
/// notice (both rendered from templates); the daemon logs each compilation.
#[test]
fn lmtp_templates_are_compiled_once_per_process() {
    let (listen, config) = lmtp_only_config();
    // Acknowledgements to every sender: these nonmembers are not verified.
    let config = config.replacen(
        "timezone = \"Asia/Kolkata\"\n",
        "timezone = \"Asia/Kolkata\"\n\n[community.policy]\nacknowledge = \"all\"\n",
        1,
    );
    assert!(config.contains("acknowledge = \"all\""));
    let home = Home::with_config(&config);
    let daemon = Daemon::start(&home);
    let (mut r, mut w) = connect(&listen, &daemon);
    assert!(reply(&mut r).starts_with("220 "));
    say(&mut w, &mut r, "LHLO client.example.test");
    for i in 0..5 {
        assert!(say(&mut w, &mut r, &format!("MAIL FROM:<n{i}@example.org>")).starts_with("250 "));
        assert!(say(&mut w, &mut r, "RCPT TO:<list@example.test>").starts_with("250 "));
        assert!(say(&mut w, &mut r, "DATA").starts_with("354 "));
        w.write_all(
            format!(
                "From: N{i} <n{i}@example.org>\r\nSubject: held {i}\r\nMessage-ID: <tpl-{i}@x>\r\n\r\nhello\r\n.\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let stored = reply(&mut r);
        assert!(stored.starts_with("250 2.0.0"), "{stored}");
    }
    assert!(say(&mut w, &mut r, "QUIT").starts_with("221 "));
    let store = praxis::store::Store::open_database(&daemon.db).unwrap();
    assert_eq!(store.held(None).unwrap().len(), 5, "five held posts");
    let log = daemon.log_text();
    let compiled = log
        .lines()
        .filter(|l| l.contains("templates compiled"))
        .count();
    assert_eq!(compiled, 1, "compiled once for five notices:\n{log}");
}
