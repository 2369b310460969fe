//! `praxis serve` end to end against real servers: IMAP IDLE ingest speed,
//! a Dovecot outage, and kill -9 at random points.

use std::time::{Duration, Instant};

use crate::support::{Daemon, Home, PrivateStack, send_many, stack, stack_config, stored};

fn wait_all(daemon: &Daemon, ids: &[String], timeout: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let (distinct, rows) = stored(&daemon.db, "health", ids);
        assert_eq!(distinct, rows, "a message was stored twice");
        if distinct == ids.len() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < timeout,
            "only {distinct} of {} messages stored after {timeout:?}; log:\n{}",
            ids.len(),
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// 50 messages sent over SMTP are all in the database within 5 seconds of
/// the last send: IDLE, not a slow poll.
#[test]
fn fifty_messages_arrive_within_five_seconds() {
    let s = stack();
    let home = Home::with_config(&stack_config(&s.imap, &s.smtp, None));
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tag = format!(
        "idle50-{}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap()
    );
    let ids = rt.block_on(send_many(&s.smtp, "list@example.test", &tag, 50));
    let after_last_send = wait_all(&daemon, &ids, Duration::from_secs(30));
    eprintln!("all 50 stored {after_last_send:?} after the last send");
    assert!(
        after_last_send <= Duration::from_secs(5),
        "took {after_last_send:?}"
    );
    assert!(daemon.log_text().contains("IMAP watcher connected"));
}

/// Dovecot stopped for 10 seconds in the middle: nothing lost, nothing doubled.
#[test]
fn fault_dovecot_outage_loses_nothing() {
    let stack = PrivateStack::start();
    let home = Home::with_config(&stack_config(&stack.imap, &stack.smtp, None));
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut ids = rt.block_on(send_many(&stack.smtp, "list@example.test", "before", 25));
    stack.run("stop-dovecot");
    let down = Instant::now();
    // Postfix keeps these while Dovecot is away and delivers them after.
    ids.extend(rt.block_on(send_many(&stack.smtp, "list@example.test", "during", 25)));
    daemon.wait_health("imap:health", "failing", Duration::from_secs(30));
    // `praxis status` is a health check: it shows the failing watcher and exits 1.
    let out = home.praxis().args(["status", "--json"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["daemon"], "running");
    // This one node, by its process id, holding the community's watch.
    assert_eq!(v["nodes"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["nodes"][0]["pid"], daemon.child.id() as i64, "{v}");
    assert_eq!(v["nodes"][0]["holds"][0], "imap:health", "{v}");
    assert_eq!(v["communities"][0]["imap_state"], "failing");
    assert!(
        !v["communities"][0]["imap_error"]
            .as_str()
            .unwrap()
            .is_empty(),
        "{v}"
    );
    assert_eq!(
        v["communities"][0]["open_queries"], 0,
        "held posts open no query: {v}"
    );
    std::thread::sleep(Duration::from_secs(10).saturating_sub(down.elapsed()));
    stack.run("start-dovecot");
    ids.extend(rt.block_on(send_many(&stack.smtp, "list@example.test", "after", 10)));
    wait_all(&daemon, &ids, Duration::from_secs(90));
    home.praxis().args(["status"]).assert().success();
    let log = daemon.log_text();
    assert!(
        log.contains("retrying in"),
        "the watcher saw the outage:\n{log}"
    );
}

/// kill -9 of `praxis serve` at random points while mail streams in, then a
/// restart: every message stored exactly once.
#[test]
fn fault_kill9_serve_during_ingest() {
    let stack = PrivateStack::start();
    let home = Home::with_config(&stack_config(&stack.imap, &stack.smtp, None));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut ids = Vec::new();
    let mut seed: u64 = std::process::id() as u64;
    for round in 0..5 {
        let daemon = Daemon::start(&home);
        let sent = rt.block_on(send_many(
            &stack.smtp,
            "list@example.test",
            &format!("kill{round}"),
            40,
        ));
        ids.extend(sent);
        // A pseudo-random moment within the ingest of this round.
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(100 + (seed >> 33) % 900));
        let (distinct, rows) = stored(&daemon.db, "health", &ids);
        assert_eq!(distinct, rows);
        daemon.kill9();
    }
    let daemon = Daemon::start(&home);
    wait_all(&daemon, &ids, Duration::from_secs(60));
}

/// A server without IDLE: the watcher polls instead, and nothing is lost.
#[test]
fn fault_polling_when_the_server_has_no_idle() {
    let stack = PrivateStack::start_with(&[("NO_IDLE", "1")]);
    let config = stack_config(&stack.imap, &stack.smtp, None)
        .replace("folder = \"INBOX\"", "folder = \"INBOX\"\npoll = \"1s\"");
    let home = Home::with_config(&config);
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "polling", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ids = rt.block_on(send_many(&stack.smtp, "list@example.test", "poll", 10));
    let took = wait_all(&daemon, &ids, Duration::from_secs(30));
    eprintln!("polled in {took:?}");
    assert!(
        daemon.log_text().contains("idle=false"),
        "{}",
        daemon.log_text()
    );
}

/// With `imap.move_to`, stored messages leave the watched folder for that one.
#[test]
fn fault_stored_messages_move_to_the_configured_folder() {
    let stack = PrivateStack::start();
    let config = stack_config(&stack.imap, &stack.smtp, None).replace(
        "folder = \"INBOX\"",
        "folder = \"INBOX\"\nmove_to = \"Archive\"",
    );
    let home = Home::with_config(&config);
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ids = rt.block_on(send_many(&stack.smtp, "list@example.test", "move", 5));
    wait_all(&daemon, &ids, Duration::from_secs(30));
    let (host, port) = crate::support::Stack::split(&stack.imap);
    let cfg = praxis::config::ImapConfig {
        host,
        port,
        tls: praxis::config::Tls::None,
        username: "list@example.test".into(),
        ..Default::default()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (inbox, archive) = rt.block_on(async {
            let mut c = praxis::ingest::imap::ImapClient::connect(&cfg, "secret")
                .await
                .unwrap();
            let inbox = c.select("INBOX").await.unwrap().exists;
            let archive = c.select("Archive").await.map(|s| s.exists).unwrap_or(0);
            c.logout().await.ok();
            (inbox, archive)
        });
        if inbox == 0 && archive == 5 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "INBOX {inbox}, Archive {archive}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// IMAP over TLS and over STARTTLS, against Dovecot with a certificate from
/// the stack's own CA (given to praxis as `imap.ca_file`); a server whose
/// certificate nobody vouches for is refused.
#[test]
fn fault_imap_over_tls_and_starttls() {
    let stack = PrivateStack::start();
    let imaps = crate::support::Stack::split(&stack.imaps).1;
    let ca = stack.ca.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (host, port) = crate::support::Stack::split(&stack.imap);
    for (tls, port) in [
        (praxis::config::Tls::Tls, imaps),
        (praxis::config::Tls::Starttls, port),
    ] {
        let mut cfg = praxis::config::ImapConfig {
            host: host.clone(),
            port,
            tls,
            username: "list@example.test".into(),
            ca_file: Some(ca.clone()),
            ..Default::default()
        };
        rt.block_on(async {
            let mut c = praxis::ingest::imap::ImapClient::connect(&cfg, "secret")
                .await
                .unwrap();
            c.select("INBOX").await.unwrap();
            c.logout().await.unwrap();
        });
        cfg.ca_file = None;
        let err = rt
            .block_on(praxis::ingest::imap::ImapClient::connect(&cfg, "secret"))
            .err()
            .expect("an unknown CA is refused");
        assert!(err.to_string().contains("TLS"), "{err}");
    }
    // And the watcher, end to end over TLS.
    let config = stack_config(&stack.imap, &stack.smtp, None).replace(
        &format!("port = {port}\ntls = \"none\""),
        &format!(
            "port = {imaps}\ntls = \"tls\"\nca_file = \"{}\"",
            ca.display()
        ),
    );
    assert!(config.contains("tls = \"tls\""), "{config}");
    let home = Home::with_config(&config);
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    let ids = rt.block_on(send_many(&stack.smtp, "list@example.test", "tls", 5));
    wait_all(&daemon, &ids, Duration::from_secs(30));
}
