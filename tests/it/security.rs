//! Hostile input never becomes a header: CR/LF in subjects, display names
//! and reject reasons, in everything praxis sends (parsed back to check).

use praxis::store::Store;

use crate::support::Home;

/// Every header name of a message, and its Subject, parsed back.
fn headers(raw: &[u8]) -> (Vec<String>, String) {
    let m = mail_parser::MessageParser::default().parse(raw).unwrap();
    let names = m
        .headers()
        .iter()
        .map(|h| h.name().to_ascii_lowercase())
        .collect();
    (names, m.subject().unwrap_or("").to_string())
}

/// Every message praxis has queued in `home`'s outbox, newest first.
fn queued(home: &Home) -> Vec<Vec<u8>> {
    let store = home.store();
    store
        .outbox_summaries(&praxis::store::OutboxFilter {
            community: None,
            failed_only: false,
            limit: 1000,
            offset: 0,
        })
        .unwrap()
        .into_iter()
        .map(|m| store.outbox_message(m.id).unwrap().message)
        .collect()
}

#[test]
fn crlf_in_member_input_never_makes_a_header() {
    // Acknowledgements to every sender, so the nonmember's is checked too.
    let home = Home::with_config(&crate::support::example_config().replacen(
        "acknowledge = \"verified\"",
        "acknowledge = \"all\"",
        1,
    ));
    home.praxis()
        .args(["members", "add", "alice@example.org", "-c", "health"])
        .assert()
        .success();
    // The subject and the display name carry encoded CR/LF and a header.
    let hostile = "From: =?utf-8?q?Eve=0D=0ABcc:_victim@example.net?= <eve@example.org>\n\
                   To: list@example.test\n\
                   Subject: =?utf-8?q?Hello=0D=0ABcc:_victim@example.net=0D=0A=0D=0Abody?=\n\
                   Message-ID: <inject@x>\n\n\
                   text\n";
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(hostile)
        .assert()
        .success();
    home.praxis()
        .args([
            "reject",
            "1",
            "--reason",
            "No\r\nBcc: victim@example.net\r\nX-Evil: 1",
        ])
        .assert()
        .success();
    let hostile2 = hostile.replace("inject@x", "inject2@x");
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(hostile2)
        .assert()
        .success();
    home.praxis().args(["approve", "2"]).assert().success();

    let all = queued(&home);
    assert!(
        all.len() >= 3,
        "acknowledgements, the rejection and the fan-out: {}",
        all.len()
    );
    for msg in all {
        let (names, subject) = headers(&msg);
        assert!(
            !names.iter().any(|n| n == "bcc" || n == "x-evil"),
            "{:?} in {}",
            names,
            String::from_utf8_lossy(&msg)
        );
        assert!(
            !subject.contains('\n') && !subject.contains('\r'),
            "{subject:?}"
        );
        // In the header block itself (a "Bcc:" line in the body is only text).
        let text = String::from_utf8_lossy(&msg).replace("\r\n", "\n");
        let head = text.split_once("\n\n").map(|(h, _)| h).unwrap_or(&text);
        assert!(
            !head
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{head}"
        );
    }
}

fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A home whose config names an SMTP password file, an IMAP password file
/// and a link secret file, all relative to the config's folder.
fn home_with_key_files() -> Home {
    let config = crate::support::stack_config("127.0.0.1:1", "127.0.0.1:1", None)
        .replace(
            "[smtp]\n",
            "[smtp]\nusername = \"praxis\"\npassword_file = \"smtp.pass\"\n",
        )
        .replace(
            "password_env = \"PRAXIS_IMAP_PASSWORD\"",
            "password_file = \"imap.pass\"",
        )
        .replace(
            "[[community]]\nslug = \"health\"",
            "[delivery]\nlink_secret_file = \"link.key\"\n\n[[community]]\nslug = \"health\"",
        );
    let home = Home::with_config(&config);
    for f in ["smtp.pass", "imap.pass", "link.key"] {
        let path = home.path().join(f);
        std::fs::write(&path, "a-secret-value\n").unwrap();
        chmod(&path, 0o600);
    }
    home
}

/// A secret file another user can read stops `praxis check` and
/// `praxis serve`, naming the file and the fix; chmod 600 clears it.
#[test]
fn readable_key_files_stop_check_and_serve() {
    let home = home_with_key_files();
    home.praxis().arg("check").assert().success();
    for (file, key) in [
        ("smtp.pass", "smtp.password_file"),
        ("imap.pass", "community[health].imap.password_file"),
        ("link.key", "delivery.link_secret_file"),
    ] {
        let path = home.path().join(file);
        for mode in [0o644, 0o640, 0o604] {
            chmod(&path, mode);
            let fix = format!("chmod 600 {}", path.display());
            let err = home.stderr_of_failure(&["check"]);
            assert!(
                err.contains(key) && err.contains(&fix),
                "{file} {mode:o}: {err}"
            );
            let out = home
                .praxis()
                .arg("serve")
                .timeout(std::time::Duration::from_secs(20))
                .assert()
                .failure()
                .get_output()
                .clone();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(key) && err.contains(&fix),
                "serve, {file} {mode:o}: {err}"
            );
            assert!(!err.contains("a-secret-value"), "{err}");
        }
        chmod(&path, 0o600);
    }
    home.praxis().arg("check").assert().success();

    // The token key praxis keeps beside the database, too.
    let token = home.path().join("praxis.db.secret");
    std::fs::write(&token, "0123456789abcdef").unwrap();
    chmod(&token, 0o644);
    let err = home.stderr_of_failure(&["check"]);
    assert!(
        err.contains(&format!("chmod 600 {}", token.display())),
        "{err}"
    );
}

/// The key files praxis makes itself (the database and the token key) are
/// created 0600, whatever the umask.
#[test]
fn key_files_praxis_creates_are_0600() {
    if crate::support::skip_on_postgres("the database file and the key made beside it") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    home.praxis()
        .args(["members", "add", "alice@example.org", "-c", "health"])
        .assert()
        .success();
    // A subscribe request is answered with a signed token: that makes the key.
    home.praxis()
        .args(["ingest", "-c", "health", "--recipient", "list-request@example.test"])
        .write_stdin("From: stranger@example.net\nTo: list-request@example.test\nSubject: subscribe\nMessage-ID: <s@x>\n\nsubscribe\n")
        .assert()
        .success();
    for f in ["praxis.db", "praxis.db.secret"] {
        let mode = std::fs::metadata(home.path().join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
}

/// Passwords never reach logs, `--json` output or error messages: a daemon
/// whose IMAP login is refused (a wrong password, against the real
/// Dovecot) and whose SMTP password is set logs the failure without it, and
/// `status --json`, `check --json` and `check` never print it.
#[test]
fn passwords_never_appear_in_logs_json_or_errors() {
    const CANARY: &str = "Canary-Pw-7f3e91";
    let s = crate::support::stack();
    let config = crate::support::stack_config(&s.imap, &s.smtp, None).replace(
        "[smtp]\n",
        "[smtp]\nusername = \"praxis\"\npassword_env = \"PRAXIS_SMTP_PASSWORD\"\n",
    );
    let home = Home::with_config(&config);
    let log = home.path().join("serve.log");
    let mut daemon = std::process::Command::new(assert_cmd::cargo::cargo_bin("praxis"))
        .arg("--config")
        .arg(home.config())
        .args(["serve", "-vv"])
        .env("PRAXIS_IMAP_PASSWORD", CANARY)
        .env("PRAXIS_SMTP_PASSWORD", CANARY)
        .stdout(std::fs::File::create(home.path().join("serve.out")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Wait for the refused login to be recorded.
    let db = home.path().join("praxis.db");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let detail = loop {
        if let Ok(store) = Store::open(&db)
            && let Ok(Some(h)) = store.health("imap:health")
            && h.state == "failing"
        {
            break h.detail.unwrap_or_default();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the wrong password was never refused: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(detail.contains("refused the login"), "{detail}");
    // Queue a message so the sender tries the relay with its password too.
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin("From: stranger@example.net\nTo: list@example.test\nSubject: hi\nMessage-ID: <pw@x>\n\nhello\n")
        .assert()
        .success();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let with_env = |args: &[&str]| {
        let out = home
            .praxis()
            .args(args)
            .env("PRAXIS_IMAP_PASSWORD", CANARY)
            .env("PRAXIS_SMTP_PASSWORD", CANARY)
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let mut seen = vec![
        ("health detail", detail),
        ("status --json", with_env(&["status", "--json"])),
        ("status", with_env(&["status"])),
        ("check", with_env(&["check"])),
        ("check --json", with_env(&["check", "--json"])),
        ("outbox --json", with_env(&["outbox", "--json"])),
    ];
    unsafe {
        libc::kill(daemon.id() as i32, libc::SIGTERM);
    }
    daemon.wait().unwrap();
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("refused the login"),
        "the failure is logged: {log_text}"
    );
    seen.push(("daemon log", log_text));
    seen.push((
        "daemon stdout",
        std::fs::read_to_string(home.path().join("serve.out")).unwrap(),
    ));
    // And the database itself never stores it.
    for f in ["praxis.db", "praxis.db-wal"] {
        if let Ok(raw) = std::fs::read(home.path().join(f)) {
            seen.push((f, String::from_utf8_lossy(&raw).into_owned()));
        }
    }
    for (what, text) in seen {
        assert!(
            !text.contains(CANARY),
            "the password appears in {what}:\n{text}"
        );
    }
}

/// NUL and bidi controls in a subject and a display name, and CR/LF, NUL
/// and bidi in config values (the community's name, the subject prefix):
/// every message praxis queues keeps exactly its own header fields and a
/// clean header block (checked by the fuzz targets' parse-back check).
#[test]
fn nul_bidi_and_config_values_never_make_a_header() {
    let config = crate::support::example_config()
        .replacen(
            "name = \"Maternal and Child Health\"",
            "name = \"Maternal\\r\\nBcc: victim@example.net\\u0000 \\u202Eevil\"",
            1,
        )
        .replacen("acknowledge = \"verified\"", "acknowledge = \"all\"", 1);
    let home = Home::with_config(&config);
    let check = home.praxis().arg("check").output().unwrap();
    if !check.status.success() {
        // Refusing the value is as good as neutralising it, if it says which.
        let err = String::from_utf8_lossy(&check.stderr);
        assert!(err.contains("community[health].name"), "{err}");
        return;
    }
    home.praxis()
        .args([
            "members",
            "add",
            "alice@example.org",
            "-c",
            "health",
            "--role",
            "moderator",
        ])
        .assert()
        .success();
    let hostile = "From: =?utf-8?q?Eve=00=E2=80=AE_Mallory?= <eve@example.org>\n\
                   To: list@example.test\n\
                   Subject: =?utf-8?q?Hi=00there=E2=80=AE=0D=0AX-Evil:_1?=\n\
                   Message-ID: <nul@x>\n\ntext\n";
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(hostile)
        .assert()
        .success();
    home.praxis()
        .args(["reject", "1", "--reason", "no \u{202E}thanks\u{2066}"])
        .assert()
        .success();
    let all = queued(&home);
    assert!(
        all.len() >= 3,
        "acknowledgement, hold notice, rejection: {}",
        all.len()
    );
    for msg in all {
        let names = crate::fuzz::checks::header_names(&msg);
        assert!(
            !names.iter().any(|n| n == "bcc" || n == "x-evil"),
            "{names:?} in {}",
            String::from_utf8_lossy(&msg)
        );
        let mut seen = std::collections::HashSet::new();
        for n in &names {
            if ["from", "to", "subject", "message-id", "date", "reply-to"].contains(&n.as_str()) {
                assert!(seen.insert(n.clone()), "{n} twice");
            }
        }
    }
}

/// A moderator reading the queue or a post in a terminal sees a hostile
/// message's escape sequences and bidi overrides, never obeys them: no ESC,
/// BEL, CR, C1 control or override reaches the terminal, and the escaped
/// form is shown instead.
#[test]
fn mail_cannot_drive_the_moderator_s_terminal() {
    let home = Home::new();
    // ESC ] 0 ; … BEL retitles the window; ESC [ 2 J clears it; U+202E
    // reverses what follows; U+009B is a one-byte CSI.
    let hostile = "From: =?utf-8?q?Eve_=1B]0;pwned=07?= <eve@example.org>\n\
                   To: list@example.test\n\
                   Subject: =?utf-8?q?invoice=E2=80=AEfdp.exe_=1B[2J=C2=9B31m?=\n\
                   Message-ID: <term@x>\n\n\
                   Please read\r over\x1b[8m hidden\x1b[0m\n";
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(hostile)
        .assert()
        .success();
    for args in [
        vec!["queue"],
        vec!["show", "1"],
        vec!["approve", "1"],
        vec!["threads"],
        vec!["search", "invoice"],
    ] {
        let out = home.praxis().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{9b}', '\r'] {
            assert!(
                !text.contains(bad),
                "{args:?} printed {:?} raw:\n{text}",
                bad
            );
        }
        if args[0] != "approve" {
            assert!(
                text.contains("\\u{202e}"),
                "{args:?} shows the override:\n{text}"
            );
        }
    }
}

/// Mail loops end here: a post carrying our own List-Id, a storm of
/// vacation auto-replies and a bounce to a bounce, all from a trusted
/// member's address, are stored and never redistributed or answered.
#[test]
fn loops_are_never_redistributed() {
    let home = Home::new();
    for who in ["alice@example.org", "bob@example.org"] {
        home.praxis()
            .args([
                "members",
                "add",
                who,
                "-c",
                "health",
                "--moderation",
                "accept",
            ])
            .assert()
            .success();
    }
    let send = |raw: String| {
        home.praxis()
            .args(["ingest", "-c", "health"])
            .write_stdin(raw)
            .assert()
            .success();
    };
    send("From: alice@example.org\nTo: list@example.test\nList-Id: Maternal and Child Health <list.example.test>\nSubject: [health] Re: boats\nMessage-ID: <loop@x>\n\nour own copy, back again\n".into());
    for i in 0..50 {
        send(format!(
            "From: alice@example.org\nTo: list@example.test\nAuto-Submitted: auto-replied\nSubject: Out of office: boats {i}\nMessage-ID: <vac{i}@x>\n\nI am away.\n"
        ));
    }
    send("Return-Path: <>\nFrom: MAILER-DAEMON@example.org\nTo: list@example.test\nSubject: Undelivered Mail Returned to Sender\nMessage-ID: <bb@x>\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\n\n--r\nContent-Type: text/plain\n\nYour message about an undelivered message could not be delivered.\n--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; list-bounces@example.test\nAction: failed\nStatus: 5.1.1\n--r--\n".into());
    let store = home.store();
    let c = store.community("health").unwrap().id;
    assert_eq!(store.post_count(c).unwrap(), 52, "every one stored");
    let outbox = store
        .outbox_summaries(&praxis::store::OutboxFilter {
            community: None,
            failed_only: false,
            limit: 1000,
            offset: 0,
        })
        .unwrap();
    assert!(
        outbox.is_empty(),
        "nothing distributed, nobody answered: {:?}",
        outbox.iter().map(|o| &o.subject).collect::<Vec<_>>()
    );
    for (id, class) in [
        (1, "loop"),
        (2, "auto_reply"),
        (51, "auto_reply"),
        (52, "bounce"),
    ] {
        let p = store.post(praxis::model::PostId(id)).unwrap();
        assert_eq!(p.class.to_string(), class, "post {id}");
        assert_ne!(p.state.to_string(), "approved", "post {id}");
    }
}
