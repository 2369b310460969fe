//! The workspace's outbox page: a relay (Postfix's smtp-sink) refuses
//! every recipient with a 550; the page shows the failed deliveries with
//! the server's words; Retry, once the relay is healthy, sends them and is
//! audited under the moderator's name via web; only moderators see it.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::site::Site;
use crate::support::SmtpSink;
use crate::web_members::submit;
use crate::web_moderate::{MEERA, hold, sign_in};

/// The relay's refusal, as the page must quote it.
const REFUSAL: &str = "550 5.1.1 praxis-test: mailbox unavailable";

/// `praxis outbox --json` for the demo community.
fn outbox(site: &Site) -> Vec<Value> {
    site.home
        .json(&["outbox", "-c", "mch", "--json"])
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until the outbox message whose subject ends with `subject`
/// (after the community's prefix) satisfies `done`.
fn wait_message(site: &Site, subject: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(m) = outbox(site)
            .into_iter()
            .find(|m| m["subject"] == format!("[mch] {subject}") && done(m))
        {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{subject}: never {what}: {:?}\n{}",
            outbox(site),
            site.daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn failed_deliveries_show_the_servers_reply_and_a_moderator_retries_them() {
    let mut site = Site::demo("members", "");
    // Anyone else is refused, signed in or not.
    assert_eq!(site.get("/mod/mch/outbox").code, 403);
    sign_in(&site, "ravi.kumar@jeevika.example.org");
    assert_eq!(site.get("/mod/mch/outbox").code, 403);
    assert_eq!(site.post("/mod/mch/outbox", "outbox=1").code, 403);

    sign_in(&site, MEERA);
    let page = site.get("/mod/mch/outbox?failed=1");
    assert_eq!(page.code, 200, "{}", page.body);
    assert!(
        page.body.contains("No message has a failed delivery."),
        "{}",
        page.body
    );

    // The operator points the sender at a relay that refuses everyone.
    let sink = SmtpSink::start(None, None, &["-f", "RCPT", "-B", REFUSAL]);
    let port = sink.addr().rsplit(':').next().unwrap().to_string();
    site.restart(&|c| {
        c.replace("maildir = \"delivered\"\n", "")
            .replace("port = 2525", &format!("port = {port}"))
    });
    let subject = "Iron folic acid stock-outs";
    let post = hold(&site, "Outsider <out@outside.example>", subject);
    site.home
        .praxis()
        .args(["approve", &post.to_string()])
        .assert()
        .success();
    let m = wait_message(&site, subject, "failed", |m| {
        m["failed"].as_i64() > Some(0) && m["pending"] == 0
    });
    let id = m["id"].as_i64().unwrap();
    let failed = m["failed"].as_i64().unwrap();

    // The page: the message, each failed recipient with the relay's words.
    let page = site.get("/mod/mch/outbox?failed=1");
    assert_eq!(page.code, 200, "{}", page.body);
    assert!(page.body.contains(subject), "{}", page.body);
    assert!(
        page.body.contains(REFUSAL),
        "the server's reply: {}",
        page.body
    );
    assert!(
        page.body.contains("anjali.mehta@dh-sitapur.example.org"),
        "a recipient listed: {}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!("name=\"outbox\" value=\"{id}\"")),
        "a Retry form for message {id}: {}",
        page.body
    );
    let all = site.get("/mod/mch/outbox");
    assert!(
        all.body.contains(&format!("(message {id})")),
        "{}",
        all.body
    );

    // Bad retries say why and change nothing.
    let wrong = submit(&site, "/mod/mch/outbox", "/mod/mch/outbox", "outbox=999999");
    assert_eq!(wrong.code, 400, "{}", wrong.body);
    assert!(
        wrong.body.contains("Message 999999 is not in"),
        "{}",
        wrong.body
    );
    let forged = site.post("/mod/mch/outbox", &format!("outbox={id}&csrf=forged"));
    assert_eq!(forged.code, 400, "{}", forged.body);
    assert_eq!(
        wait_message(&site, subject, "still failed", |_| true)["failed"].as_i64(),
        Some(failed)
    );

    // The relay heals; Meera retries; every copy goes, once.
    let sink = sink.restart(&[]);
    let done = submit(
        &site,
        "/mod/mch/outbox?failed=1",
        "/mod/mch/outbox",
        &format!("outbox={id}&failed=1"),
    );
    assert_eq!(done.code, 200, "{}", done.body);
    assert!(
        done.body
            .contains(&format!("Re-queued {failed} deliveries of message {id}")),
        "{}",
        done.body
    );
    wait_message(&site, subject, "sent", |m| {
        m["failed"] == 0 && m["pending"] == 0 && m["sent"].as_i64() == Some(failed)
    });
    let got = sink.received();
    assert_eq!(got.values().sum::<usize>() as i64, failed, "{got:?}");
    assert!(got.values().all(|n| *n == 1), "each once: {got:?}");
    // Only the held notice, not retried, is still listed as failed.
    let page = site.get("/mod/mch/outbox?failed=1");
    assert!(page.body.contains("1 in all"), "{}", page.body);
    assert!(
        !page.body.contains(&format!("(message {id})")),
        "{}",
        page.body
    );

    let audit = site.home.json(&["audit", "-c", "mch", "--json"]);
    let retry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "outbox-retry")
        .unwrap_or_else(|| panic!("no retry in the audit log: {audit}"));
    assert_eq!(retry["actor"], "Meera Iyer", "{retry}");
    assert_eq!(retry["how"], "web", "{retry}");
}
