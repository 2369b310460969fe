//! Consolidated Replies from the command line: query deadlines set on
//! approval (on arrival or by a moderator) and shown in working days.

use serde_json::Value;

use crate::support::Home;

fn ingest(home: &Home, raw: &str) -> String {
    let out = home
        .praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(raw.to_string())
        .assert()
        .success()
        .get_output()
        .clone();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn add_member(home: &Home, email: &str, name: &str, extra: &[&str]) {
    home.praxis()
        .args(["members", "add", email, "-c", "health", "--name", name])
        .args(extra)
        .assert()
        .success();
}

fn queries(home: &Home, extra: &[&str]) -> Vec<Value> {
    let out = home
        .praxis()
        .args(["threads", "--queries", "--json"])
        .args(extra)
        .assert()
        .success()
        .get_output()
        .clone();
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn query_deadline_is_set_on_approval_and_shown_in_working_days() {
    let home = Home::new();
    add_member(
        &home,
        "alice@example.org",
        "Alice Rao",
        &["--moderation", "accept"],
    );
    // Approved on arrival: the clock starts now.
    let out = ingest(
        &home,
        "From: Alice Rao <alice@example.org>\nTo: list@example.test\nSubject: Mobile clinics in flood areas?\nMessage-ID: <q1@example.org>\n\nWhat worked?\n",
    );
    assert!(out.contains("approved"), "{out}");
    // Held (nonmember) until a moderator approves it: no deadline until then.
    ingest(
        &home,
        "From: Nina <nina@example.org>\nTo: list@example.test\nSubject: Cold chain for vaccines?\nMessage-ID: <q2@example.org>\n\nAny advice?\n",
    );
    let q = queries(&home, &[]);
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["subject"], "Mobile clinics in flood areas?");
    assert_eq!(q[0]["kind"], "query");
    assert_eq!(q[0]["days_left"], 10, "ten working days from today: {q:?}");
    let deadline = q[0]["deadline"].as_str().unwrap();
    let due = chrono::DateTime::parse_from_rfc3339(deadline).unwrap();
    let days = (due.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
    assert!(
        (13..=20).contains(&days),
        "10 working days is 2–3 weeks: {deadline}"
    );

    let held: Vec<Value> = serde_json::from_slice(
        &home
            .praxis()
            .args(["queue", "--json"])
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    let id = held[0]["id"].as_i64().unwrap().to_string();
    home.praxis().args(["approve", &id]).assert().success();
    let q = queries(&home, &[]);
    assert_eq!(q.len(), 2, "{q:?}");
    for t in &q {
        assert_eq!(t["days_left"], 10, "{t}");
        assert!(t["deadline"].is_string(), "{t}");
    }
    assert!(queries(&home, &["--overdue"]).is_empty());
}

#[test]
fn a_response_does_not_move_the_deadline() {
    let home = Home::new();
    add_member(
        &home,
        "alice@example.org",
        "Alice Rao",
        &["--moderation", "accept"],
    );
    add_member(
        &home,
        "bob@example.org",
        "Bob Das",
        &["--moderation", "accept"],
    );
    ingest(
        &home,
        "From: alice@example.org\nTo: list@example.test\nSubject: Clinics?\nMessage-ID: <q1@example.org>\n\nWhat worked?\n",
    );
    let before = queries(&home, &[])[0]["deadline"].clone();
    ingest(
        &home,
        "From: bob@example.org\nTo: list@example.test\nSubject: Re: Clinics?\nIn-Reply-To: <q1@example.org>\nMessage-ID: <r1@example.org>\n\nBoats.\n",
    );
    let q = queries(&home, &[]);
    assert_eq!(q[0]["responses"], 1);
    assert_eq!(q[0]["deadline"], before);
}
