//! TLS against the real servers: praxis's SMTP client through Postfix's
//! STARTTLS and implicit-TLS (SMTPS) listeners, its IMAP watcher through
//! Dovecot's imaps listener, each trusting the stack's own test CA through
//! `ca_file`. Encryption is proved from the servers' side: Postfix writes
//! `(using TLSv1.3 ...)` into the Received header of an encrypted session
//! (and not of a plain one, checked too), Dovecot logs `TLS` in the login
//! line. Without `ca_file` the relay's certificate is refused, the error
//! names `smtp.ca_file`, and the copies stay queued until it is set.
//! `praxis check` names a `ca_file` that cannot be used.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::{Daemon, Home, PrivateStack, Stack, health_config, send_many, stored};

/// A config for community `health` (list@example.test) sending through
/// `smtp` (host:port) with `tls`, trusting `ca` as `smtp.ca_file`;
/// `imap` is appended to the community as its `[community.imap]` section.
fn config(smtp: &str, tls: &str, ca: Option<&Path>, retry: &str, imap: &str) -> String {
    let ca = ca
        .map(|c| format!("ca_file = \"{}\"\n", c.display()))
        .unwrap_or_default();
    health_config(
        smtp,
        &format!("tls = \"{tls}\"\ntimeout = \"10s\"\n{ca}"),
        retry,
        imap,
    )
}

/// A home with `text` as its config and alice (posts freely) and bob as
/// each-post members.
fn home(text: &str) -> Home {
    let home = Home::with_config(text);
    for (who, moderation) in [("alice", "accept"), ("bob", "default")] {
        home.praxis()
            .args(["members", "add", &format!("{who}@example.test")])
            .args(["-c", "health", "--delivery", "each"])
            .args(["--moderation", moderation])
            .assert()
            .success();
    }
    home
}

/// A unique tag for subjects and Message-IDs.
fn tag(what: &str) -> String {
    format!(
        "{what}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap()
    )
}

/// alice posts `subject` through the MTA pipe: approved at once, so its
/// fan-out is queued in the outbox.
fn post(home: &Home, subject: &str) {
    let raw = format!(
        "From: Alice Rao <alice@example.test>\r\nTo: Maternal Health <list@example.test>\r\n\
         Subject: {subject}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0530\r\n\
         Message-ID: <{subject}@example.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nA post about {subject}.\r\n"
    );
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(raw)
        .assert()
        .success();
}

/// `praxis outbox flush`, which must succeed (failures stay queued).
fn flush(home: &Home) -> Output {
    let out = home
        .praxis()
        .args(["outbox", "flush"])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The Received header Postfix's smtpd wrote (headers come unfolded).
fn postfix_received(message: &str) -> String {
    message
        .lines()
        .take_while(|l| !l.is_empty())
        .find(|l| l.starts_with("Received:") && l.contains("(Postfix)"))
        .unwrap_or_else(|| panic!("no Received header from Postfix in:\n{message}"))
        .to_string()
}

/// The one outbox message of `home`: (id, sent, pending, failed).
fn outbox(home: &Home) -> (i64, i64, i64, i64) {
    let list = home.json(&["outbox", "--json"]);
    let m = &list.as_array().unwrap()[0];
    (
        m["id"].as_i64().unwrap(),
        m["sent"].as_i64().unwrap(),
        m["pending"].as_i64().unwrap(),
        m["failed"].as_i64().unwrap(),
    )
}

/// A fan-out reaches bob through STARTTLS (by the name `localhost`) and
/// through implicit TLS (by the address 127.0.0.1): Postfix's Received
/// header says the session used TLS 1.3. The same post sent in plain text
/// gets a Received header without it, so the check tells the two apart.
#[test]
fn fault_tls_relay_starttls_and_implicit_tls_deliver_encrypted() {
    let stack = PrivateStack::start();
    let (_, smtp_port) = Stack::split(&stack.smtp);
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (relay, tls, ca) in [
        (
            format!("localhost:{smtp_port}"),
            "starttls",
            Some(&stack.ca),
        ),
        (stack.smtps.clone(), "tls", Some(&stack.ca)),
        (stack.smtp.clone(), "none", None),
    ] {
        let home = home(&config(&relay, tls, ca.map(|c| c.as_path()), "1s", ""));
        let subject = tag(&format!("relay-{tls}"));
        post(&home, &subject);
        flush(&home);
        assert_eq!(outbox(&home).2, 0, "tls = {tls}: copies left pending");
        let got = rt.block_on(stack.wait_inbox("bob", &subject));
        let received = postfix_received(&got);
        if tls == "none" {
            assert!(
                !received.contains("using TLS") && received.contains("with ESMTP id"),
                "a plain session looks encrypted: {received}"
            );
        } else {
            assert!(
                received.contains("(using TLSv1.3 with cipher") && received.contains("with ESMTPS"),
                "tls = {tls}: the session was not encrypted: {received}"
            );
        }
    }
}

/// Without `smtp.ca_file` the relay's certificate (from the stack's private
/// CA) is refused: the error says it is not trusted and names
/// `smtp.ca_file`; nothing is sent and nothing is lost — once the key is
/// set, a retry delivers the very same copies, encrypted.
#[test]
fn fault_tls_untrusted_relay_names_ca_file_and_keeps_the_copies() {
    let stack = PrivateStack::start();
    // A long retry: the flush returns with the copies waiting, not retrying.
    let home = home(&config(&stack.smtps, "tls", None, "10m", ""));
    let subject = tag("untrusted");
    post(&home, &subject);
    let out = flush(&home);
    let said = text(&out);
    assert!(
        said.contains("not trusted") && said.contains("set smtp.ca_file"),
        "{said}"
    );
    let (id, sent, pending, failed) = outbox(&home);
    assert_eq!((sent, failed), (0, 0), "{said}");
    assert!(pending >= 1, "{said}");
    let store = home.store();
    let rows = store
        .deliveries(praxis::model::OutboxId(id), None, 0)
        .unwrap();
    assert!(!rows.is_empty());
    for r in &rows {
        let e = r.last_error.as_deref().unwrap_or_default();
        assert!(
            r.sent_at.is_none() && e.contains("not trusted") && e.contains("smtp.ca_file"),
            "{r:?}"
        );
    }
    drop(store);
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert!(rt.block_on(stack.inbox("bob", &subject)).is_empty());

    // The fix the error names, then a retry: the same copies arrive.
    home.write_config(&config(&stack.smtps, "tls", Some(&stack.ca), "10m", ""));
    home.praxis()
        .args(["outbox", "retry", &id.to_string()])
        .assert()
        .success();
    flush(&home);
    let (_, sent, pending, _) = outbox(&home);
    assert_eq!((sent as usize, pending), (rows.len(), 0));
    let got = rt.block_on(stack.wait_inbox("bob", &subject));
    assert!(postfix_received(&got).contains("using TLSv1.3"), "{got}");
}

/// `tls = "starttls"` against a relay that does not offer STARTTLS
/// (Postfix's smtp-sink) is refused before anything is sent, saying so.
#[test]
fn tls_starttls_refused_when_the_relay_does_not_offer_it() {
    let mut sink = crate::support::SmtpSink::start(None, None, &[]);
    let port = sink.port;
    let home = home(&config(
        &format!("127.0.0.1:{port}"),
        "starttls",
        None,
        "10m",
        "",
    ));
    post(&home, &tag("nostarttls"));
    let said = text(&flush(&home));
    sink.kill();
    assert!(said.contains("the relay does not offer STARTTLS"), "{said}");
    let (_, sent, pending, _) = outbox(&home);
    assert_eq!(sent, 0);
    assert!(pending >= 1);
}

/// `praxis serve` reads the list mailbox over implicit TLS (Dovecot's
/// imaps listener) trusting `imap.ca_file`, and stores what arrives;
/// Dovecot logs each of its logins as TLS. Without `ca_file` the
/// connection is refused with an error naming `imap.ca_file`.
#[test]
fn fault_tls_imap_watcher_over_imaps_with_ca_file() {
    let stack = PrivateStack::start();
    let (host, port) = Stack::split(&stack.imaps);
    let imap = format!(
        "\n[community.imap]\nhost = \"{host}\"\nport = {port}\ntls = \"tls\"\n\
         ca_file = \"{}\"\nusername = \"list@example.test\"\n\
         password_env = \"PRAXIS_IMAP_PASSWORD\"\n",
        stack.ca.display()
    );
    let home = home(&config(&stack.smtp, "none", None, "1s", &imap));
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ids = rt.block_on(send_many(&stack.smtp, "list@example.test", "imaps", 3));
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored(&daemon.db, "health", &ids).0 < ids.len() {
        assert!(
            Instant::now() < deadline,
            "not all of {ids:?} were stored; log:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let threads = home.json(&["threads", "-c", "health", "--json"]);
    assert!(threads.to_string().contains("imaps message 0"), "{threads}");
    let log = std::fs::read_to_string(stack.dir.path().join("dovecot.log")).unwrap();
    let logins: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Login: user=<list@example.test>"))
        .collect();
    assert!(!logins.is_empty(), "{log}");
    for l in &logins {
        assert!(l.contains(", TLS"), "a login without TLS: {l}");
    }
    drop(daemon);

    let cfg = praxis::config::ImapConfig {
        host,
        port,
        tls: praxis::config::Tls::Tls,
        username: "list@example.test".into(),
        ..Default::default()
    };
    let err = rt
        .block_on(praxis::ingest::imap::ImapClient::connect(&cfg, "secret"))
        .err()
        .expect("a certificate from an unknown CA is refused")
        .to_string();
    assert!(
        err.contains("not trusted") && err.contains("imap.ca_file"),
        "{err}"
    );
}

/// `praxis check` (and `praxis serve`) refuse a `ca_file` that is missing
/// or holds no certificate, naming the key, the file and the fix.
#[test]
fn tls_ca_file_problems_are_named_by_check_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-ca.pem");
    let not_pem = dir.path().join("not-a-cert.pem");
    std::fs::write(&not_pem, "this is a private key, not a certificate\n").unwrap();
    let imap_ca = |ca: &Path| {
        format!(
            "\n[community.imap]\nhost = \"127.0.0.1\"\nport = 993\ntls = \"tls\"\n\
             ca_file = \"{}\"\nusername = \"list@example.test\"\n\
             password_env = \"PRAXIS_IMAP_PASSWORD\"\n",
            ca.display()
        )
    };
    for (toml, key, file, what) in [
        (
            config("127.0.0.1:25", "starttls", Some(&missing), "1s", ""),
            "smtp.ca_file",
            &missing,
            "cannot read",
        ),
        (
            config("127.0.0.1:25", "tls", Some(&not_pem), "1s", ""),
            "smtp.ca_file",
            &not_pem,
            "holds no certificate",
        ),
        (
            config("127.0.0.1:25", "none", None, "1s", &imap_ca(&missing)),
            "community[health].imap.ca_file",
            &missing,
            "cannot read",
        ),
    ] {
        let home = Home::with_config(&toml);
        let out = home.praxis().arg("check").output().unwrap();
        let said = text(&out);
        assert_eq!(out.status.code(), Some(1), "{said}");
        assert!(
            said.contains(key)
                && said.contains(&file.display().to_string())
                && said.contains(what)
                && said.contains("PEM file"),
            "{said}"
        );
        let out = home
            .praxis()
            .arg("serve")
            .env("PRAXIS_IMAP_PASSWORD", "secret")
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        let said = text(&out);
        assert!(!out.status.success(), "{said}");
        assert!(said.contains(key) && said.contains(what), "{said}");
    }
    // A real certificate passes, relative to the config's folder.
    let home = Home::with_config(&config("127.0.0.1:25", "tls", None, "1s", ""));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=praxis check test CA", "-keyout"])
        .arg(home.path().join("ca.key"))
        .arg("-out")
        .arg(home.path().join("ca.pem"))
        .output()
        .expect("openssl is installed (scripts/mailstack install)");
    assert!(made.status.success(), "{}", text(&made));
    let text_ok = config("127.0.0.1:25", "tls", Some(Path::new("ca.pem")), "1s", "");
    home.write_config(&text_ok);
    let out = home.praxis().arg("check").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}
