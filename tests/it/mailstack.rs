//! End to end against the real mail stack (Postfix SMTP → LMTP → Dovecot,
//! read back over IMAP) started by `scripts/test`.

use std::time::{Duration, Instant};

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use praxis::config::{ImapConfig, Tls};
use praxis::ingest::imap::ImapClient;

use crate::support::{Stack, stack};

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

async fn send(stack: &Stack, to: &str, subject: &str, body: &str) {
    let (host, port) = Stack::split(&stack.smtp);
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .build();
    let from: Mailbox = "Alice Rao <alice@example.test>".parse().unwrap();
    let msg = Message::builder()
        .from(from)
        .to(to.parse().unwrap())
        .subject(subject)
        .body(body.to_string())
        .unwrap();
    smtp.send(msg).await.unwrap();
}

/// Waits until a message whose raw text contains `needle` is in `user`'s INBOX
/// above `after_uid`; returns its raw bytes.
async fn wait_for(stack: &Stack, user: &str, needle: &str) -> Vec<u8> {
    let cfg = imap_config(stack, user);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut client = ImapClient::connect(&cfg, &stack.password).await.unwrap();
        client.select("INBOX").await.unwrap();
        let all = client.fetch_after(0, 10_000).await.unwrap();
        client.logout().await.ok();
        if let Some(f) = all
            .into_iter()
            .find(|f| String::from_utf8_lossy(&f.raw).contains(needle))
        {
            return f.raw;
        }
        assert!(
            Instant::now() < deadline,
            "{needle} never reached {user}'s INBOX"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn unique(tag: &str) -> String {
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_sent_over_smtp_is_read_back_over_imap() {
    let stack = stack();
    let subject = unique("stack-proof");
    send(
        &stack,
        "list@example.test",
        &subject,
        "Has anyone run mobile clinics in flood areas?",
    )
    .await;
    let raw = wait_for(&stack, "list@example.test", &subject).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("mobile clinics in flood areas"), "{text}");
    assert!(text.contains("Delivered-To: list@example.test"), "{text}");

    // The UID checkpoint logic: nothing is returned at or below the newest UID.
    let cfg = imap_config(&stack, "list@example.test");
    let mut client = ImapClient::connect(&cfg, &stack.password).await.unwrap();
    assert!(client.supports_idle(), "Dovecot announces IDLE");
    let sel = client.select("INBOX").await.unwrap();
    assert!(sel.uidvalidity > 0);
    let all = client.fetch_after(0, 100_000).await.unwrap();
    let newest = all.iter().map(|f| f.uid).max().unwrap();
    assert!(client.fetch_after(newest, 100).await.unwrap().is_empty());
    client.mark_seen(&[newest]).await.unwrap();
    client.logout().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_bounce_addresses_reach_the_list_mailbox() {
    let stack = stack();
    for to in [
        "list-request@example.test",
        "list-bounces+bob=example.org@example.test",
    ] {
        let subject = unique("route");
        send(&stack, to, &subject, "routing check").await;
        let raw = wait_for(&stack, "list@example.test", &subject).await;
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.lines()
                .any(|l| l.eq_ignore_ascii_case(&format!("Delivered-To: {to}"))),
            "Delivered-To keeps {to}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_wakes_on_new_mail() {
    let stack = stack();
    let cfg = imap_config(&stack, "carol@example.test");
    let mut client = ImapClient::connect(&cfg, &stack.password).await.unwrap();
    client.select("INBOX").await.unwrap();
    let before = client
        .fetch_after(0, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|f| f.uid)
        .max()
        .unwrap_or(0);
    let subject = unique("idle");
    let sender = {
        let stack = crate::support::stack();
        let subject = subject.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            send(&stack, "carol@example.test", &subject, "wake up").await;
        })
    };
    let started = Instant::now();
    let woken = client.idle(Duration::from_secs(20)).await.unwrap();
    assert_eq!(woken, praxis::ingest::imap::Woken::Changed);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "IDLE woke after {:?}",
        started.elapsed()
    );
    sender.await.unwrap();
    let new = client.fetch_after(before, 100).await.unwrap();
    assert!(
        new.iter()
            .any(|f| String::from_utf8_lossy(&f.raw).contains(&subject))
    );
    client.logout().await.unwrap();
}
