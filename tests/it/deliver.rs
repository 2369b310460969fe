//! Delivery end to end: posts fanned out through the outbox and the sender
//! into the real mail stack (read back over IMAP, DKIM verified with
//! mail-auth) and into Postfix's `smtp-sink` told to fail in the ways relays
//! fail (4xx, 5xx, dropped connections, slow replies), plus `kill -9` of
//! `praxis serve` in the middle of a 2,000-recipient fan-out.
//!
//! Posts are put in the database with the engine's shell, sqlite3 or psql (the ingest
//! pipeline is another issue's); everything after that is praxis's own code.
//! Long because the tests share their fixtures (a praxis home, a sink,
//! the stack's mailboxes).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mail_auth::{AuthenticatedMessage, DkimResult, Parameters};
use praxis::config::{Config, ImapConfig, Tls};
use praxis::deliver::bounce;
use praxis::deliver::dmarc::MailAuthDmarc;
use praxis::deliver::dns::Zone;
use praxis::deliver::{Sender, queue_post};
use praxis::ingest::imap::ImapClient;
use praxis::model::{
    Delivery, DeliveryState, DigestFormat, MemberStatus, Moderation, OutboxId, PostId, Role,
};
use praxis::store::{BounceOutcome, MemberFields, NewMember, Store};
use serde_json::Value;

use crate::support::{Home, SmtpSink as Sink, Stack, stack};

// ---------------------------------------------------------------- fixtures

/// A praxis home: config file, database, and the parsed config.
struct Fixture {
    home: Home,
    config: Config,
}

/// Delivery settings fast enough for tests: retries after a second.
const FAST: &str = r#"
[delivery]
retry_first = "1s"
retry_max = "1s"
give_up_after = "1h"
poll = "200ms"
shutdown_grace = "10s"
"#;

impl Fixture {
    /// A home whose relay is `smtp` (host:port), with `extra` appended to
    /// the top level and `community` to the `health` community.
    fn new(smtp: &str, connections: u32, extra: &str, community: &str) -> Fixture {
        let (host, port) = Stack::split(smtp);
        let text = format!(
            r#"
[database]
path = "praxis.db"

[smtp]
host = "{host}"
port = {port}
connections = {connections}
timeout = "10s"
{extra}

[[community]]
slug = "health"
name = "Maternal Health"
address = "list@example.test"
timezone = "UTC"
{community}
"#
        );
        let home = Home::with_config(&text);
        let config = Config::load(&home.config()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let mut store = Store::open_database(&config.database().unwrap()).unwrap();
        store.sync_communities(&config).unwrap();
        Fixture { home, config }
    }

    fn store(&self) -> Store {
        self.home.store()
    }

    /// Adds members (email, delivery mode, role, status).
    fn members(&self, list: &[(&str, Delivery, Role, MemberStatus)]) {
        let mut store = self.store();
        let c = store.community("health").unwrap().id;
        let new: Vec<NewMember> = list
            .iter()
            .map(|(email, delivery, role, status)| NewMember {
                email: email.to_string(),
                fields: MemberFields {
                    delivery: Some(*delivery),
                    role: Some(*role),
                    status: Some(*status),
                    digest_format: Some(DigestFormat::Mime),
                    moderation: Some(Moderation::Default),
                    ..MemberFields::default()
                },
            })
            .collect();
        for r in store.add_members(c, &new, "test").unwrap() {
            r.unwrap();
        }
    }

    /// `n` active each-post members `m0001@example.org`...
    fn many_members(&self, n: usize) -> Vec<String> {
        let emails: Vec<String> = (1..=n).map(|i| format!("m{i:04}@example.org")).collect();
        let list: Vec<(&str, Delivery, Role, MemberStatus)> = emails
            .iter()
            .map(|e| {
                (
                    e.as_str(),
                    Delivery::Each,
                    Role::Member,
                    MemberStatus::Active,
                )
            })
            .collect();
        self.members(&list);
        emails
    }

    /// Stores an approved post with the engine's own shell (sqlite3 or
    /// psql), as ingest would.
    fn post(&self, from: &str, raw: &str) -> PostId {
        if let Some(db) = &self.home.pg {
            let hex: String = raw.bytes().map(|b| format!("{b:02x}")).collect();
            let sql = format!(
                "INSERT INTO posts (community_id, message_id, sha256, raw, size, source, received_at, \
                                    class, state, from_addr, subject, approved_at) \
                 SELECT id, '{id}', '\\x00'::bytea, decode('{hex}', 'hex'), {size}, 'pipe', \
                        extract(epoch FROM now())::bigint, 'post', 'approved', '{from}', 'x', \
                        extract(epoch FROM now())::bigint \
                 FROM communities WHERE slug = 'health' RETURNING id",
                id = rand_tag(),
                size = raw.len(),
            );
            return PostId(db.sql(&sql).trim().parse().unwrap());
        }
        let file = self.home.path().join(format!("post-{}.eml", rand_tag()));
        std::fs::write(&file, raw).unwrap();
        let sql = format!(
            "INSERT INTO posts (community_id, message_id, sha256, raw, size, source, received_at, \
                                class, state, from_addr, subject, approved_at) \
             SELECT id, '{id}', x'00', readfile('{file}'), {size}, 'pipe', strftime('%s','now'), \
                    'post', 'approved', '{from}', 'x', strftime('%s','now') \
             FROM communities WHERE slug = 'health'; SELECT last_insert_rowid();",
            id = rand_tag(),
            file = file.display(),
            size = raw.len(),
        );
        let out = Command::new("sqlite3")
            .arg(self.config.database_path())
            .arg(sql)
            .output()
            .expect("the sqlite3 shell is installed (scripts/mailstack install)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PostId(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
    }

    /// Stores and fans out a post; returns the outbox message.
    fn fan_out(&self, from: &str, raw: &str) -> OutboxId {
        let post = self.post(from, raw);
        let health = crate::support::resolved(&self.config, "health");
        let q = queue_post(&mut self.store(), &health, post).unwrap();
        assert!(q.created);
        q.id
    }

    /// (sent, pending, failed) of an outbox message.
    fn counts(&self, id: OutboxId) -> (i64, i64, i64) {
        let s = self.store().outbox_summary(id).unwrap();
        (s.sent, s.pending, s.failed)
    }

    /// Waits until `done` says so about the deliveries of `id`.
    fn wait_for(
        &self,
        id: OutboxId,
        what: &str,
        secs: u64,
        done: impl Fn(&[praxis::store::DeliveryRow]) -> bool,
    ) -> Vec<praxis::store::DeliveryRow> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            // The sender makes the rows as it goes: "every delivery" means
            // once all the audience has its row.
            let store = self.store();
            let rows = store.deliveries(id, None, 0).unwrap();
            let all = store.audience_size(id).unwrap() as usize;
            if !rows.is_empty() && rows.len() == all && done(&rows) {
                return rows;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:#?}",
                &rows[..rows.len().min(5)]
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn rand_tag() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap()
    )
}

fn post_text(from: &str, subject: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: Maternal Health <list@example.test>\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Nov 2026 10:00:00 +0530\r\nMessage-ID: <{}@example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        rand_tag()
    )
}

/// The sender running in this process until dropped or stopped.
struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    fn start(config: &Config, zone: Arc<Zone>) -> Running {
        let dmarc = Arc::new(MailAuthDmarc::new(zone));
        let sender = Sender::new(config.clone(), dmarc).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            sender
                .run(async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Running {
            stop: Some(tx),
            task: Some(task),
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }
}

fn imap_config(stack: &Stack, user: &str) -> ImapConfig {
    let (host, port) = Stack::split(&stack.imap);
    ImapConfig {
        host,
        port,
        tls: Tls::None,
        username: user.to_string(),
        password_env: None,
        password_file: None,
        folder: "INBOX".into(),
        ..Default::default()
    }
}

/// Every message in `user`'s INBOX containing `needle`.
async fn inbox(stack: &Stack, user: &str, needle: &str) -> Vec<Vec<u8>> {
    let mut client = ImapClient::connect(&imap_config(stack, user), &stack.password)
        .await
        .unwrap();
    client.select("INBOX").await.unwrap();
    let all = client.fetch_after(0, 100_000).await.unwrap();
    client.logout().await.ok();
    all.into_iter()
        .map(|f| f.raw)
        .filter(|raw| String::from_utf8_lossy(raw).contains(needle))
        .collect()
}

/// Waits until `user` has at least `n` messages containing `needle`.
async fn wait_inbox(stack: &Stack, user: &str, needle: &str, n: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = inbox(stack, user, needle).await;
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{needle} reached {user}'s INBOX {} times, not {n}",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The unfolded values of header `name` (case-insensitive) in `raw`.
fn header(raw: &[u8], name: &str) -> Vec<String> {
    let msg = mail_parser::MessageParser::default().parse(raw).unwrap();
    msg.headers_raw()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// A DKIM key pair made with openssl: (private key file, 0600; p= value).
fn dkim_key(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("dkim.pem");
    let ok = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let der = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(der.status.success());
    let b64 = Command::new("base64")
        .arg("-w0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&der.stdout)?;
            c.wait_with_output()
        })
        .unwrap();
    (key, String::from_utf8(b64.stdout).unwrap())
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_post_reaches_the_members_signed_with_list_headers() {
    let stack = stack();
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = dkim_key(dir.path());
    let secret = dir.path().join("link.key");
    std::fs::write(&secret, "test link secret\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let f = Fixture::new(
        &stack.smtp,
        4,
        &format!("{FAST}link_secret_file = \"{}\"\n", secret.display()),
        &format!(
            "[community.delivery]\nbase_url = \"https://lists.example.test\"\n\
             archive_url = \"https://lists.example.test/health/\"\n\
             [community.dkim]\nselector = \"px\"\nkey_file = \"{}\"\n",
            key.display()
        ),
    );
    f.members(&[
        (
            "alice@example.test",
            Delivery::Each,
            Role::Member,
            MemberStatus::Active,
        ),
        (
            "bob@example.test",
            Delivery::Each,
            Role::Member,
            MemberStatus::Active,
        ),
        (
            "carol@example.test",
            Delivery::Each,
            Role::Moderator,
            MemberStatus::Active,
        ),
        (
            "dave@example.test",
            Delivery::Digest,
            Role::Member,
            MemberStatus::Active,
        ),
        (
            "erin@example.test",
            Delivery::Each,
            Role::Member,
            MemberStatus::Disabled,
        ),
    ]);
    let zone = Zone::authoritative();
    zone.add_txt(
        "px._domainkey.example.test",
        &format!("v=DKIM1; k=rsa; p={public}"),
    )
    .unwrap();
    zone.add_txt("_dmarc.reject.test", "v=DMARC1; p=reject")
        .unwrap();

    let token = rand_tag();
    let own = f.fan_out(
        "alice@example.test",
        &post_text(
            "Alice Rao <alice@example.test>",
            &format!("Re: [health] Mobile clinics {token}"),
            "We ran clinics from boats.",
        ),
    );
    let outsider = f.fan_out(
        "zoe@reject.test",
        &post_text(
            "Zoe Outsider <zoe@reject.test>",
            &format!("Flood kits {token}"),
            "A kit list.",
        ),
    );
    assert_eq!(
        f.counts(own),
        (0, 3, 0),
        "alice, bob, carol; not dave (digest) or erin (disabled)"
    );

    let running = Running::start(&f.config, Arc::clone(&zone));
    f.wait_for(own, "every copy sent", 30, |r| {
        r.iter().all(|d| d.state == DeliveryState::Sent)
    });
    f.wait_for(outsider, "every copy sent", 30, |r| {
        r.iter().all(|d| d.state == DeliveryState::Sent)
    });
    running.stop().await;

    let auth = zone.authenticator().unwrap();
    for user in ["alice", "bob", "carol"] {
        let address = format!("{user}@example.test");
        let got = wait_inbox(&stack, &address, &format!("Mobile clinics {token}"), 1).await;
        assert_eq!(got.len(), 1, "{user} has exactly one copy");
        let raw = &got[0];
        let text = String::from_utf8_lossy(raw);
        assert_eq!(
            header(raw, "Subject"),
            [format!("[health] Re: Mobile clinics {token}")]
        );
        assert_eq!(
            header(raw, "List-Id"),
            ["\"Maternal Health\" <list.example.test>"]
        );
        assert_eq!(header(raw, "List-Post"), ["<mailto:list@example.test>"]);
        assert_eq!(
            header(raw, "List-Archive"),
            ["<https://lists.example.test/health/>"]
        );
        let unsub = header(raw, "List-Unsubscribe");
        assert_eq!(unsub.len(), 1, "{text}");
        assert!(
            unsub[0].starts_with(
                "<mailto:list-request@example.test?subject=unsubscribe>, \
                 <https://lists.example.test/u/"
            ),
            "{unsub:?}"
        );
        assert_eq!(
            header(raw, "List-Unsubscribe-Post"),
            ["List-Unsubscribe=One-Click"]
        );
        assert_eq!(header(raw, "Precedence"), ["list"]);
        assert_eq!(header(raw, "X-Loop"), ["list@example.test"]);
        assert_eq!(
            header(raw, "Return-Path"),
            [format!("<list-bounces+{user}=example.test@example.test>")],
            "VERP names the recipient"
        );
        assert_eq!(
            header(raw, "From"),
            ["\"Alice Rao\" <alice@example.test>"],
            "same domain as the list: not rewritten"
        );
        assert!(
            text.contains(&format!("You receive this as a member: {address}")),
            "{text}"
        );
        // The signature verifies with mail-auth's verifier against the zone.
        let msg = AuthenticatedMessage::parse(raw).unwrap();
        let results = auth
            .verify_dkim(Parameters::new(&msg).with_txt_cache(&*zone))
            .await;
        assert_eq!(results.len(), 1, "{text}");
        assert_eq!(results[0].result(), &DkimResult::Pass, "{user}: {text}");

        // The outsider's domain publishes p=reject: From comes from the list.
        let got = wait_inbox(&stack, &address, &format!("Flood kits {token}"), 1).await;
        assert_eq!(got.len(), 1);
        assert_eq!(
            header(&got[0], "From"),
            ["\"Zoe Outsider via Maternal Health\" <list@example.test>"]
        );
        assert_eq!(
            header(&got[0], "Reply-To"),
            ["\"Zoe Outsider\" <zoe@reject.test>, \"Maternal Health\" <list@example.test>"]
        );
        let msg = AuthenticatedMessage::parse(&got[0]).unwrap();
        let results = auth
            .verify_dkim(Parameters::new(&msg).with_txt_cache(&*zone))
            .await;
        assert_eq!(results[0].result(), &DkimResult::Pass);
    }
    assert!(
        inbox(&stack, "dave@example.test", &token).await.is_empty(),
        "digest members get no each-post copy"
    );
    assert!(inbox(&stack, "erin@example.test", &token).await.is_empty());

    // A signature over a changed copy fails: the check above can fail.
    let raw = &inbox(
        &stack,
        "bob@example.test",
        &format!("Mobile clinics {token}"),
    )
    .await[0];
    let tampered = String::from_utf8_lossy(raw).replace("from boats", "from rafts");
    let msg = AuthenticatedMessage::parse(tampered.as_bytes()).unwrap();
    let results = auth
        .verify_dkim(Parameters::new(&msg).with_txt_cache(&*zone))
        .await;
    assert_ne!(results[0].result(), &DkimResult::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_failures_and_dropped_connections_end_sent_exactly_once() {
    let greylist = "451 4.7.1 praxis-test: greylisted, come back later";
    let busy = "452 4.3.1 praxis-test: insufficient storage";
    let mut sink = Sink::start(None, None, &["-r", "RCPT", "-b", greylist]);
    let f = Fixture::new(&sink.addr(), 4, FAST, "");
    let emails = f.many_members(30);
    let id = f.fan_out(
        "m0001@example.org",
        &post_text("m0001@example.org", "retries", "body"),
    );
    let running = Running::start(&f.config, Zone::authoritative());

    // 4xx to RCPT: every delivery waits to retry, with the server's words.
    f.wait_for(id, "greylisting recorded on every delivery", 30, |r| {
        r.iter().all(|d| {
            d.state == DeliveryState::TempFailed
                && d.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("greylisted"))
        })
    });
    assert_eq!(f.counts(id).0, 0);
    let attempts_a: i64 = f
        .store()
        .deliveries(id, None, 0)
        .unwrap()
        .iter()
        .map(|d| d.attempts)
        .sum();

    // 4xx to DATA.
    sink = sink.restart(&["-r", "DATA", "-b", busy]);
    f.wait_for(id, "the DATA refusal on every delivery", 30, |r| {
        r.iter().all(|d| {
            d.state == DeliveryState::TempFailed
                && d.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("insufficient storage"))
        })
    });

    // The connection dropped without a reply after RCPT.
    sink = sink.restart(&["-q", "RCPT"]);
    f.wait_for(id, "a lost connection on every delivery", 30, |r| {
        r.iter().all(|d| {
            d.state == DeliveryState::TempFailed
                && d.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("connection"))
        })
    });
    assert!(sink.received().is_empty(), "nothing was accepted so far");
    assert_eq!(f.counts(id).0, 0, "and nothing is marked sent");

    // A healthy relay: all go, once each.
    sink = sink.restart(&[]);
    let rows = f.wait_for(id, "every delivery sent", 30, |r| {
        r.iter().all(|d| d.state == DeliveryState::Sent)
    });
    running.stop().await;
    assert!(rows.iter().all(|d| d.attempts >= 4), "{rows:#?}");
    assert!(attempts_a >= 30);
    let got = sink.received();
    for e in &emails {
        assert_eq!(got.get(e), Some(&1), "{e} received exactly once: {got:?}");
    }
    assert_eq!(got.values().sum::<usize>(), emails.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_fails_the_delivery_with_the_server_text_and_raises_the_bounce_score() {
    let refusal = "550 5.1.1 praxis-test: mailbox unavailable";
    let sink = Sink::start(None, None, &["-f", "RCPT", "-B", refusal]);
    let f = Fixture::new(&sink.addr(), 2, FAST, "");
    f.members(&[
        (
            "owner@example.org",
            Delivery::None,
            Role::Owner,
            MemberStatus::Active,
        ),
        (
            "bob@example.org",
            Delivery::Each,
            Role::Member,
            MemberStatus::Active,
        ),
        (
            "carol@example.org",
            Delivery::Each,
            Role::Member,
            MemberStatus::Active,
        ),
    ]);
    let id = f.fan_out(
        "carol@example.org",
        &post_text("carol@example.org", "refused", "body"),
    );
    let running = Running::start(&f.config, Zone::authoritative());
    let rows = f.wait_for(id, "both deliveries failed", 30, |r| {
        r.iter().all(|d| d.state == DeliveryState::Failed)
    });
    running.stop().await;
    for d in &rows {
        assert_eq!(d.attempts, 1, "a 5xx is not retried");
        assert_eq!(
            d.last_error.as_deref(),
            Some(refusal),
            "the server's text is kept"
        );
    }
    let store = f.store();
    let c = store.community("health").unwrap().id;
    for who in ["bob@example.org", "carol@example.org"] {
        let m = store.member(c, who).unwrap().unwrap();
        assert_eq!(m.bounce_score, 1.0, "{who}");
        assert_eq!(
            m.status,
            MemberStatus::Active,
            "one bounce is below the threshold"
        );
    }
    assert_eq!(
        store
            .member(c, "owner@example.org")
            .unwrap()
            .unwrap()
            .bounce_score,
        0.0
    );
    assert!(sink.received().is_empty());

    // `praxis outbox` shows it; `--failed --json` lists the failures; retry re-queues.
    let out = f.home.praxis().args(["outbox", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = &v[0];
    for field in [
        "id",
        "community",
        "kind",
        "subject",
        "created_at",
        "sent",
        "pending",
        "failed",
    ] {
        assert!(m.get(field).is_some(), "{field} missing from {m}");
    }
    assert_eq!(m["id"], id.0);
    assert_eq!(m["community"], "health");
    assert_eq!(m["kind"], "post");
    assert_eq!(m["subject"], "[health] refused");
    assert_eq!(
        (
            m["sent"].as_i64(),
            m["pending"].as_i64(),
            m["failed"].as_i64()
        ),
        (Some(0), Some(0), Some(2))
    );
    assert!(m["created_at"].as_str().unwrap().ends_with('Z'));
    let out = f
        .home
        .praxis()
        .args(["outbox", "--failed", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["failures"][0]["error"], refusal);
    let out = f
        .home
        .praxis()
        .args(["outbox", "--failed"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("mailbox unavailable") && table.contains("praxis outbox retry"),
        "{table}"
    );
    let out = f
        .home
        .praxis()
        .args(["outbox", "retry", &id.0.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("re-queued 2 deliveries"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(f.counts(id), (0, 2, 0));
    let out = f
        .home
        .praxis()
        .args(["outbox", "retry", "999"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("outbox message 999 does not exist"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_refusing_the_sender_is_retried_and_bounces_nobody() {
    let sink = Sink::start(
        None,
        None,
        &["-f", "MAIL", "-B", "553 5.7.1 praxis-test: sender refused"],
    );
    let f = Fixture::new(&sink.addr(), 2, FAST, "");
    let emails = f.many_members(5);
    let id = f.fan_out(&emails[0], &post_text(&emails[0], "relay says no", "body"));
    let running = Running::start(&f.config, Zone::authoritative());
    f.wait_for(id, "the refusal recorded as temporary", 30, |r| {
        r.iter().any(|d| {
            d.state == DeliveryState::TempFailed
                && d.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("sender refused"))
        })
    });
    running.stop().await;
    let store = f.store();
    let c = store.community("health").unwrap().id;
    assert!(
        store
            .deliveries(id, None, 0)
            .unwrap()
            .iter()
            .all(|d| d.state != DeliveryState::Failed)
    );
    for e in &emails {
        assert_eq!(
            store.member(c, e).unwrap().unwrap().bounce_score,
            0.0,
            "{e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_transactions_in_flight_or_leaves_them_pending() {
    // The sink waits 3 s before answering DATA: transactions are in flight
    // when shutdown comes.
    let sink = Sink::start(None, None, &["-w", "3"]);
    let grace_short = FAST.replace("shutdown_grace = \"10s\"", "shutdown_grace = \"500ms\"");
    let f = Fixture::new(&sink.addr(), 4, &grace_short, "");
    f.many_members(20);
    let id = f.fan_out(
        "m0001@example.org",
        &post_text("m0001@example.org", "slow", "b"),
    );
    let running = Running::start(&f.config, Zone::authoritative());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    running.stop().await;
    // Abandoned mid-transaction: nothing accepted, nothing marked, all still due.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(sink.received().is_empty(), "{:?}", sink.received());
    let rows = f.store().deliveries(id, None, 0).unwrap();
    assert!(
        rows.iter()
            .all(|d| d.state == DeliveryState::Pending && d.attempts == 0),
        "{rows:#?}"
    );

    // With a grace longer than the relay's delay, the transactions in flight
    // finish and are recorded; the rest stay pending.
    let f2 = Fixture {
        config: {
            let mut c = f.config.clone();
            c.delivery.shutdown_grace = praxis::config::Span::secs(10);
            c
        },
        home: f.home,
    };
    let running = Running::start(&f2.config, Zone::authoritative());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    running.stop().await;
    let (sent, pending, failed) = f2.counts(id);
    assert_eq!(failed, 0);
    assert!(
        (1..=4).contains(&sent),
        "at most one per connection was in flight: {sent}"
    );
    assert_eq!(sent + pending, 20);
    let got = sink.received();
    assert_eq!(
        got.values().sum::<usize>() as i64,
        sent,
        "marked sent exactly when accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_paces_a_community() {
    let sink = Sink::start(None, None, &[]);
    let f = Fixture::new(
        &sink.addr(),
        4,
        FAST,
        "[community.delivery]\nrate_limit = 5\n",
    );
    f.many_members(11);
    let id = f.fan_out(
        "m0001@example.org",
        &post_text("m0001@example.org", "paced", "b"),
    );
    let started = Instant::now();
    let running = Running::start(&f.config, Zone::authoritative());
    f.wait_for(id, "all sent", 30, |r| {
        r.iter().all(|d| d.state == DeliveryState::Sent)
    });
    let took = started.elapsed();
    running.stop().await;
    // One at once, then 5 per second: the 11th cannot go before 2 s.
    assert!(
        took >= Duration::from_millis(1900),
        "11 copies at 5/s took {took:?}"
    );
    assert_eq!(sink.received().len(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_member_is_probed_and_re_enabled_when_the_probe_goes_through() {
    let sink = Sink::start(None, None, &[]);
    let probes = format!("{FAST}\n[bounce]\nprobe_after = \"0s\"\nprobe_wait = \"1s\"\n");
    let f = Fixture::new(&sink.addr(), 2, &probes, "");
    f.members(&[(
        "bob@example.org",
        Delivery::Each,
        Role::Member,
        MemberStatus::Disabled,
    )]);
    let running = Running::start(&f.config, Zone::authoritative());
    let deadline = Instant::now() + Duration::from_secs(20);
    let c = f.store().community("health").unwrap().id;
    loop {
        let bob = f.store().member(c, "bob@example.org").unwrap().unwrap();
        if bob.status == MemberStatus::Active {
            break;
        }
        assert!(Instant::now() < deadline, "bob was never re-enabled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.stop().await;
    let probes = sink.messages();
    assert_eq!(probes.len(), 1);
    assert!(probes[0].contains("X-Rcpt-Args: <bob@example.org>"));
    assert!(probes[0].contains("checking your address"), "{}", probes[0]);
    let log = f.store().member_decisions(c, "bob@example.org", 1).unwrap();
    assert_eq!(log[0].0, "member-enable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dsn_sent_back_to_the_verp_address_marks_the_right_member() {
    let stack = stack();
    let f = Fixture::new(&stack.smtp, 1, FAST, "");
    f.members(&[
        (
            "alice@example.test",
            Delivery::Each,
            Role::Member,
            MemberStatus::Active,
        ),
        (
            "bob@example.test",
            Delivery::Each,
            Role::Member,
            MemberStatus::Active,
        ),
    ]);
    // A Postfix-style DSN about bob's copy, to the return path his copy had.
    let token = rand_tag();
    let verp = praxis::deliver::verp::bounce_address("list@example.test", "bob@example.test");
    let dsn = format!(
        "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\n\
         To: {verp}\r\nSubject: Undelivered Mail Returned to Sender {token}\r\n\
         Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B{token}\"\r\n\r\n\
         --B{token}\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
         --B{token}\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; mx.example.org\r\n\r\n\
         Final-Recipient: rfc822; bob@example.test\r\nAction: failed\r\nStatus: 5.2.1\r\n\
         Diagnostic-Code: smtp; 550 5.2.1 <bob@example.test>: mailbox disabled\r\n\r\n\
         --B{token}--\r\n"
    );
    let (host, port) = Stack::split(&stack.smtp);
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .build();
    let envelope = lettre::address::Envelope::new(None, vec![verp.parse().unwrap()]).unwrap();
    smtp.send_raw(&envelope, dsn.as_bytes()).await.unwrap();

    // It reaches the list mailbox with the VERP address in Delivered-To.
    let got = wait_inbox(&stack, "list@example.test", &token, 1).await;
    let raw = &got[0];
    let delivered_to = header(raw, "Delivered-To");
    assert_eq!(delivered_to, std::slice::from_ref(&verp));
    let b = bounce::classify(&delivered_to[0], "list@example.test", raw).unwrap();
    assert_eq!(b.recipient, "bob@example.test");
    assert!(b.permanent);
    assert!(
        b.diagnostic.contains("mailbox disabled"),
        "{}",
        b.diagnostic
    );
    let mut store = f.store();
    let health = crate::support::resolved(&f.config, "health");
    let out = bounce::record(
        &mut store,
        &f.config,
        &health,
        &b,
        chrono::Utc::now().timestamp(),
    )
    .unwrap();
    assert_eq!(
        out,
        BounceOutcome::Scored {
            email: "bob@example.test".into(),
            score: 1.0
        }
    );
    let c = store.community("health").unwrap().id;
    assert_eq!(
        store
            .member(c, "bob@example.test")
            .unwrap()
            .unwrap()
            .bounce_score,
        1.0
    );
    assert_eq!(
        store
            .member(c, "alice@example.test")
            .unwrap()
            .unwrap()
            .bounce_score,
        0.0
    );
}

#[test]
fn kill_9_during_a_2000_recipient_fan_out_then_restart_delivers_to_everyone() {
    const CONNECTIONS: usize = 4;
    let sink = Sink::start(None, None, &[]);
    let f = Fixture::new(&sink.addr(), CONNECTIONS as u32, FAST, "");
    let emails = f.many_members(2000);
    let id = f.fan_out(
        "m0001@example.org",
        &post_text("m0001@example.org", "big", "b"),
    );
    assert_eq!(f.counts(id), (0, 2000, 0));

    let start = || -> Child {
        Command::new(assert_cmd::cargo::cargo_bin("praxis"))
            .arg("--config")
            .arg(f.home.config())
            .arg("serve")
            .env_remove("PRAXIS_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = start();
    // Kill it in the middle: some sent, many not.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (sent, _, _) = f.counts(id);
        if sent >= 100 {
            break;
        }
        assert!(Instant::now() < deadline, "serve never got going");
        std::thread::sleep(Duration::from_millis(5));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    child.wait().unwrap();
    let (sent_at_kill, pending_at_kill, _) = f.counts(id);

    assert!(
        pending_at_kill > 0,
        "killed too late to prove anything (sent {sent_at_kill})"
    );

    let mut child = start();
    let rows = f.wait_for(id, "every delivery sent after the restart", 120, |r| {
        r.iter().all(|d| d.state == DeliveryState::Sent)
    });
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(rows.len(), 2000);

    let got = sink.received();
    let missing: Vec<&String> = emails.iter().filter(|e| !got.contains_key(*e)).collect();
    assert!(
        missing.is_empty(),
        "{} recipients never got it: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let duplicates: usize = got.values().map(|n| n - 1).sum();
    eprintln!(
        "killed at {sent_at_kill} sent / {pending_at_kill} pending; {duplicates} duplicate(s) with {CONNECTIONS} connections"
    );
    // The sender's bound: 8 accepted-but-unmarked copies per connection
    // (UNCOMMITTED in src/deliver/sender.rs).
    assert!(
        duplicates <= CONNECTIONS * 8,
        "{duplicates} duplicates, more than 8 for each of the {CONNECTIONS} connections"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_through_postfix_only_the_unknown_recipient_fails_and_the_session_goes_on() {
    // One connection: every copy follows the refused one on the same
    // session, so a pipelined group left out of step would show.
    let stack = stack();
    let f = Fixture::new(&stack.smtp, 1, FAST, "");
    let unknown = format!("nobody-{}@example.test", rand_tag().to_ascii_lowercase());
    let each = |e: &'static str| (e, Delivery::Each, Role::Member, MemberStatus::Active);
    let unknown_static: &'static str = Box::leak(unknown.clone().into_boxed_str());
    f.members(&[
        each("alice@example.test"),
        each(unknown_static),
        each("bob@example.test"),
        each("carol@example.test"),
    ]);
    let token = rand_tag();
    let id = f.fan_out(
        "alice@example.test",
        &post_text(
            "Alice Rao <alice@example.test>",
            &format!("Pipelined {token}"),
            ".a line starting with a dot\r\nand one more",
        ),
    );
    let running = Running::start(&f.config, Zone::authoritative());
    let rows = f.wait_for(id, "every delivery settled", 30, |r| {
        r.iter()
            .all(|d| matches!(d.state, DeliveryState::Sent | DeliveryState::Failed))
    });
    running.stop().await;
    for d in &rows {
        if d.recipient == unknown {
            assert_eq!(d.state, DeliveryState::Failed, "{d:?}");
            let e = d.last_error.as_deref().unwrap_or("");
            assert!(e.starts_with("550 5.1.1"), "Postfix's RCPT refusal: {e}");
        } else {
            assert_eq!(d.state, DeliveryState::Sent, "{d:?}");
        }
    }
    let store = f.store();
    let c = store.community("health").unwrap().id;
    assert_eq!(
        store.member(c, &unknown).unwrap().unwrap().bounce_score,
        1.0,
        "a refused recipient bounces"
    );
    for user in ["alice", "bob", "carol"] {
        let address = format!("{user}@example.test");
        assert_eq!(
            store.member(c, &address).unwrap().unwrap().bounce_score,
            0.0
        );
        let got = wait_inbox(&stack, &address, &format!("Pipelined {token}"), 1).await;
        assert_eq!(got.len(), 1, "{user} has exactly one copy");
        let text = String::from_utf8_lossy(&got[0]);
        assert!(
            text.contains("\r\n.a line starting with a dot\r\n"),
            "dot-stuffing undone by the relay: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_pipelining_or_after_a_421_mid_group_every_copy_arrives_once() {
    // -p: smtp-sink does not offer PIPELINING; each command waits.
    let mut sink = Sink::start(None, None, &["-p"]);
    let f = Fixture::new(&sink.addr(), 2, FAST, "");
    let emails = f.many_members(12);
    let id = f.fan_out(&emails[0], &post_text(&emails[0], "one by one", "body"));
    let running = Running::start(&f.config, Zone::authoritative());
    f.wait_for(id, "every delivery sent", 30, |r| {
        r.iter().all(|d| d.state == DeliveryState::Sent)
    });
    let got = sink.received();
    for e in &emails {
        assert_eq!(got.get(e), Some(&1), "{e}: {got:?}");
    }

    // -Q RCPT: 421 and hang up after RCPT, in the middle of a pipelined
    // group: the relay's fault, retried, no bounce.
    sink = sink.restart(&["-Q", "RCPT"]);
    let id2 = f.fan_out(&emails[0], &post_text(&emails[0], "closing", "body"));
    f.wait_for(id2, "the 421 recorded as temporary", 30, |r| {
        r.iter().any(|d| {
            d.state == DeliveryState::TempFailed
                && d.last_error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("421"))
        })
    });
    assert_eq!(f.counts(id2).0, 0);
    sink = sink.restart(&[]);
    f.wait_for(id2, "every delivery sent", 30, |r| {
        r.iter().all(|d| d.state == DeliveryState::Sent)
    });
    running.stop().await;
    let got = sink.received();
    for e in &emails {
        assert_eq!(got.get(e), Some(&2), "{e}: both posts, once each: {got:?}");
    }
    let store = f.store();
    let c = store.community("health").unwrap().id;
    for e in &emails {
        assert_eq!(store.member(c, e).unwrap().unwrap().bounce_score, 0.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_login_is_sent_before_the_copies() {
    // smtp-sink offers AUTH PLAIN LOGIN and accepts any login.
    let sink = Sink::start(None, None, &[]);
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("relay.pass");
    std::fs::write(&pass, "relay secret\n").unwrap();
    std::fs::set_permissions(&pass, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let f = Fixture::new(
        &sink.addr(),
        2,
        // Right after the [smtp] keys, before FAST's [delivery].
        &format!(
            "username = \"praxis\"\npassword_file = \"{}\"\n{FAST}",
            pass.display()
        ),
        "",
    );
    let emails = f.many_members(3);
    let id = f.fan_out(&emails[0], &post_text(&emails[0], "logged in", "body"));
    let running = Running::start(&f.config, Zone::authoritative());
    f.wait_for(id, "every delivery sent", 30, |r| {
        r.iter().all(|d| d.state == DeliveryState::Sent)
    });
    running.stop().await;
    assert_eq!(sink.received().len(), 3);
}
