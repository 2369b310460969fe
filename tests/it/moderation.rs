//! The moderation queue from the command line: holds with reasons, decisions
//! once, --trust, the audit log, and racing moderators.

use predicates::prelude::*;
use serde_json::Value;

use crate::support::Home;

fn post(from: &str, id: &str, subject: &str) -> String {
    format!(
        "From: {from}\nTo: list@example.test\nSubject: {subject}\nMessage-ID: <{id}>\n\nText of {subject}.\n"
    )
}

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

fn queue(home: &Home) -> Vec<Value> {
    let out = home
        .praxis()
        .args(["queue", "--json"])
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
fn holds_decisions_trust_and_the_log() {
    let home = Home::new();
    home.praxis()
        .args([
            "members",
            "add",
            "carol@example.org",
            "-c",
            "health",
            "--name",
            "Carol Sen",
            "--organisation",
            "WaterAid",
        ])
        .assert()
        .success();
    assert!(
        ingest(
            &home,
            &post("Nina <nina@example.org>", "n1@x", "From a stranger")
        )
        .contains("held (nonmember)")
    );
    assert!(
        ingest(
            &home,
            &post("Carol Sen <carol@example.org>", "c1@x", "My first post")
        )
        .contains("held (first post)")
    );
    let q = queue(&home);
    assert_eq!(q.len(), 2);
    assert_eq!(q[0]["reason"], "nonmember");
    assert_eq!(q[1]["reason"], "first post");
    assert_eq!(q[1]["organisation"], "WaterAid");
    for f in [
        "id",
        "community",
        "from",
        "subject",
        "reason",
        "received_at",
        "size",
        "thread_id",
    ] {
        assert!(q[0].get(f).is_some(), "{f}");
    }

    // --trust: Carol's next post goes straight through.
    home.praxis()
        .args(["approve", "2", "--trust", "--as", "meera"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "carol@example.org now posts without moderation",
        ));
    assert!(
        ingest(
            &home,
            &post("Carol Sen <carol@example.org>", "c2@x", "Second post")
        )
        .contains("approved")
    );

    // A decided post cannot be decided again; the refusal names who and when.
    home.praxis()
        .args(["reject", "2", "--reason", "late", "--as", "ravi"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "post 2 was already decided: approve by meera",
        ));
    home.praxis()
        .args(["reject", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--reason"));
    home.praxis()
        .args(["reject", "1", "--reason", "Off topic", "--as", "ravi"])
        .assert()
        .success();
    assert!(queue(&home).is_empty());

    let out = home
        .praxis()
        .args(["log", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("ravi".into(), "reject".into())),
        "{actions:?}"
    );
    assert!(actions.contains(&("meera".into(), "approve".into())));
    assert!(actions.contains(&("meera".into(), "member-trust".into())));
    let reject = log
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "reject")
        .unwrap();
    assert_eq!(reject["reason"], "Off topic");
}

#[test]
fn ranges_defer_and_discard() {
    let home = Home::new();
    for i in 1..=4 {
        ingest(
            &home,
            &post("x@example.org", &format!("r{i}@x"), &format!("post {i}")),
        );
    }
    home.praxis().args(["defer", "1"]).assert().success();
    let q = queue(&home);
    assert_eq!(q.len(), 4, "deferring leaves it held");
    assert_eq!(q[3]["id"], 1, "deferred posts go to the end");
    assert_eq!(q[3]["deferred"], true);
    home.praxis()
        .args(["discard", "2-3,4"])
        .assert()
        .success()
        .stdout(predicate::str::contains("discarded post 4"));
    assert_eq!(queue(&home).len(), 1);
    home.praxis()
        .args(["approve", "99"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("post 99 does not exist"));
    home.praxis()
        .args(["approve", "x-y"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a post id"));
}

/// Two moderators approving the same post at the same moment: exactly one
/// decision is recorded, the other is refused.
#[test]
fn racing_approvals_decide_once() {
    let home = Home::new();
    ingest(&home, &post("x@example.org", "race@x", "race"));
    let spawn = |who: &str| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("praxis"))
            .arg("--config")
            .arg(home.config())
            .args(["approve", "1", "--as", who])
            .output()
    };
    let results: Vec<std::process::Output> = std::thread::scope(|s| {
        let handles: Vec<_> = ["a", "b", "c", "d"]
            .iter()
            .map(|w| s.spawn(move || spawn(w).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = results.iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1, "{results:?}");
    let out = home
        .praxis()
        .args(["log", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        log.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "approve")
            .count(),
        1
    );
}
