//! The command line as an operator uses it: init, check, members, status, serve.

use predicates::prelude::*;
use serde_json::Value;

use crate::support::Home;

#[test]
fn init_then_check_succeed_on_the_shipped_config() {
    let home = Home::new();
    home.praxis()
        .arg("init")
        .assert()
        .success()
        .stdout(predicate::str::contains("created database"))
        .stdout(predicate::str::contains("education, health"));
    home.praxis()
        .arg("check")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "ok (2 communities: health, education)",
        ));
    // init again upgrades in place and keeps the data.
    home.praxis()
        .arg("init")
        .assert()
        .success()
        .stdout(predicate::str::contains("upgraded"));
    if !crate::support::on_postgres() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path().join("praxis.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the database is private to its owner");
    }
}

#[test]
fn check_names_a_misspelt_key_and_a_bad_address() {
    let text = crate::support::example_config()
        .replacen(
            "reply_within_working_days = 10",
            "reply_within_workin_days = 10",
            1,
        )
        .replace(
            "address = \"education@example.test\"",
            "address = \"education.example.test\"",
        );
    let home = Home::with_config(&text);
    let err = home.stderr_of_failure(&["check"]);
    assert!(
        err.contains("community[health].reply_within_workin_days: unknown key"),
        "{err}"
    );
    assert!(
        err.contains(
            "community[education].address: `education.example.test` is not an email address"
        ),
        "{err}"
    );
    assert!(err.contains("2 problems"), "{err}");

    // --json gives the same problems to scripts.
    let out = home
        .praxis()
        .args(["check", "--json"])
        .assert()
        .failure()
        .get_output()
        .clone();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let keys: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "community[health].reply_within_workin_days",
            "community[education].address"
        ]
    );

    // Any other command refuses to run on a config with problems.
    home.praxis()
        .arg("status")
        .assert()
        .failure()
        .stderr(predicate::str::contains("run `praxis check`"));
}

#[test]
fn a_missing_config_says_how_to_fix_it() {
    let home = Home::with_config("");
    std::fs::remove_file(home.config()).unwrap();
    home.praxis()
        .arg("init")
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot read config file"))
        .stderr(predicate::str::contains("--config"));
}

#[test]
fn members_import_keeps_good_rows_and_reports_bad_lines() {
    let home = Home::new();
    let csv = home.path().join("members.csv");
    std::fs::write(
        &csv,
        "email,name,organisation,place,role,delivery\n\
         alice@example.test,Alice Rao,PHFI,New Delhi,member,each\n\
         bob@example.test,Bob Das,UNICEF,Patna,moderator,digest\n\
         \n\
         carol@example.test,Carol Sen,,Kolkata,member,fortnightly\n\
         dave@example.test,Dave Iyer,WaterAid,Chennai,,consolidated\n",
    )
    .unwrap();
    home.praxis()
        .args(["members", "import", "-c", "health"])
        .arg(&csv)
        .assert()
        .failure()
        .stdout(predicate::str::contains(
            "imported 3 members into health; 1 row not imported",
        ))
        .stderr(predicate::str::contains(
            // Line 5: the blank line before it counts.
            "members.csv:5: delivery: `fortnightly` is not a valid delivery mode",
        ));

    let out = home
        .praxis()
        .args(["members", "list", "-c", "health", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let fields = [
        "community",
        "email",
        "name",
        "organisation",
        "place",
        "role",
        "delivery",
        "digest_format",
        "moderation",
        "status",
    ];
    for r in rows {
        for f in fields {
            assert!(r.get(f).is_some(), "{f} missing from {r}");
        }
    }
    assert_eq!(rows[1]["email"], "bob@example.test");
    assert_eq!(rows[1]["organisation"], "UNICEF");
    assert_eq!(rows[1]["role"], "moderator");
    assert_eq!(rows[1]["delivery"], "digest");
    assert_eq!(rows[2]["email"], "dave@example.test");
    assert_eq!(rows[2]["role"], "member", "an empty role takes the default");

    // Importing again adds nobody and says why.
    home.praxis()
        .args(["members", "import", "-c", "health"])
        .arg(&csv)
        .assert()
        .failure()
        .stdout(predicate::str::contains("imported 0 members"))
        .stderr(predicate::str::contains(
            "members.csv:2: alice@example.test is already a member",
        ));
}

#[test]
fn members_add_set_remove() {
    let home = Home::new();
    home.praxis()
        .args([
            "members",
            "add",
            "Erin@Example.Test",
            "-c",
            "health",
            "--name",
            "Erin",
            "--delivery",
            "digest",
        ])
        .args([
            "--digest-format",
            "plain",
            "--role",
            "owner",
            "--moderation",
            "hold",
        ])
        .assert()
        .success()
        .stdout("added erin@example.test to health (owner, delivery digest)\n");
    home.praxis()
        .args(["members", "add", "erin@example.test", "-c", "health"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("already a member"));
    home.praxis()
        .args([
            "members",
            "set",
            "erin@example.test",
            "-c",
            "health",
            "--delivery",
            "none",
            "--status",
            "disabled",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("delivery none"))
        .stdout(predicate::str::contains("status disabled"));
    home.praxis()
        .args(["members", "set", "erin@example.test", "-c", "health"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("nothing to change"));
    home.praxis()
        .args([
            "members",
            "set",
            "erin@example.test",
            "-c",
            "health",
            "--delivery",
            "weekly",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "[possible values: each, digest, consolidated, none]",
        ));
    let out = home
        .praxis()
        .args(["members", "list", "-c", "health", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["digest_format"], "plain");
    assert_eq!(v[0]["moderation"], "hold");
    assert_eq!(v[0]["status"], "disabled");
    home.praxis()
        .args(["members", "remove", "erin@example.test", "-c", "health"])
        .assert()
        .success()
        .stdout("removed erin@example.test from health\n");
    home.praxis()
        .args(["members", "remove", "erin@example.test", "-c", "health"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "erin@example.test is not a member; add it with `praxis members add",
        ));
    home.praxis()
        .args(["members", "list", "-c", "helth"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("community `helth` is not in"))
        .stderr(predicate::str::contains("known: health, education"));
    home.praxis()
        .args(["members", "add", "not-an-address", "-c", "health"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "`not-an-address` is not an email address",
        ));
}

#[test]
fn status_reports_every_community() {
    let home = Home::new();
    home.praxis()
        .args(["members", "add", "alice@example.test", "-c", "health"])
        .assert()
        .success();
    let out = home
        .praxis()
        .args(["status", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["database"].as_str().unwrap(), home.database().to_string());
    assert_eq!(v["daemon"], "stopped");
    let cs = v["communities"].as_array().unwrap();
    assert_eq!(cs.len(), 2);
    for f in [
        "slug",
        "imap_state",
        "last_sync",
        "held",
        "open_queries",
        "overdue_queries",
        "outbox_pending",
        "outbox_failed",
        "next_digest_at",
    ] {
        assert!(cs[0].get(f).is_some(), "{f} missing");
    }
    assert_eq!(cs[0]["slug"], "health");
    assert_eq!(cs[0]["members"], 1);
    assert_eq!(cs[0]["imap_state"], "not running");
    assert_eq!(
        cs[1]["imap_state"],
        Value::Null,
        "education has no IMAP mailbox"
    );
    assert!(
        cs[0]["next_digest_at"]
            .as_str()
            .unwrap()
            .ends_with(":30:00Z"),
        "07:00 Kolkata is hh:30 UTC"
    );
    home.praxis()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("health"));
}

#[test]
fn help_shows_every_command_with_an_example() {
    let out = assert_cmd::Command::cargo_bin("praxis")
        .unwrap()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .clone();
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "init",
        "check",
        "serve",
        "demo",
        "ingest",
        "import",
        "members",
        "queue",
        "show",
        "approve",
        "reject",
        "discard",
        "defer",
        "threads",
        "mark",
        "consolidate",
        "publish",
        "digest",
        "outbox",
        "status",
        "search",
    ] {
        assert!(
            help.contains(&format!("  {cmd} ")),
            "{cmd} missing from --help"
        );
        let sub = assert_cmd::Command::cargo_bin("praxis")
            .unwrap()
            .args([cmd, "--help"])
            .assert()
            .success()
            .get_output()
            .clone();
        let text = String::from_utf8_lossy(&sub.stdout);
        assert!(
            text.contains("Example"),
            "`praxis {cmd} --help` has no example"
        );
    }
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let home = Home::new();
    // No IMAP watcher runs yet; serve must still start, write its heartbeat, and stop.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("praxis"))
        .arg("--config")
        .arg(home.config())
        .arg("serve")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the heartbeat to show in status.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        // The shipped config has an IMAP mailbox and no password here, so
        // status also reports a failing watcher (exit 1): read the JSON anyway.
        let out = home.praxis().args(["status", "--json"]).output().unwrap();
        if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout)
            && v["daemon"] == "running"
        {
            break;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!(
                "serve never reported running: {err} / {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("SIGTERM received"), "{err}");
    assert!(err.contains("praxis serve stopped"), "{err}");
    let out = home
        .praxis()
        .args(["status", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["daemon"], "stopped");
}

#[test]
fn backup_copies_the_database_privately() {
    let home = Home::new();
    home.praxis()
        .args(["members", "add", "alice@example.org", "-c", "health"])
        .assert()
        .success();
    let dest = home.path().join("copy.db");
    let backup = home.praxis().arg("backup").arg(&dest).assert();
    if crate::support::on_postgres() {
        // PostgreSQL is backed up with its own tools; praxis says which.
        backup.failure().stderr(predicate::str::contains("pg_dump"));
        return assert!(!dest.exists());
    }
    backup
        .success()
        .stdout(predicate::str::contains("backed up"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let copy = praxis::store::Store::open(&dest).unwrap();
    let c = copy.community("health").unwrap();
    assert_eq!(copy.members(c.id).unwrap().len(), 1);
    home.praxis()
        .arg("backup")
        .arg(&dest)
        .assert()
        .failure()
        .stderr(predicate::str::contains("already exists"));
}

#[test]
fn man_pages_come_from_the_command_definitions() {
    let page = assert_cmd::Command::cargo_bin("praxis")
        .unwrap()
        .arg("man")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains(".TH praxis 1"), "{page}");
    assert!(page.contains("Consolidated"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    assert_cmd::Command::cargo_bin("praxis")
        .unwrap()
        .args(["man", "--dir"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("manual pages"));
    let flush = std::fs::read_to_string(dir.path().join("praxis-outbox-flush.1")).unwrap();
    assert!(flush.contains("praxis outbox flush"), "{flush}");
    for cmd in [
        "approve",
        "consolidate",
        "digest-send",
        "members-import",
        "status",
    ] {
        assert!(
            dir.path().join(format!("praxis-{cmd}.1")).exists(),
            "no page for {cmd}"
        );
    }
}

#[test]
fn check_reports_a_bad_time_zone_weekday_holiday_and_schedule_at_once() {
    let text = crate::support::example_config()
        .replacen(
            "timezone = \"Asia/Kolkata\"",
            "timezone = \"Asia/Kolkatta\"",
            1,
        )
        .replacen(
            "weekend = [\"sat\", \"sun\"]",
            "weekend = [\"sat\", \"sunny\"]",
            1,
        )
        .replacen("\"2027-01-26\"", "\"26/01/2027\"", 1)
        .replacen("schedule = \"daily 07:00\"", "schedule = \"daily 7am\"", 1);
    let home = Home::with_config(&text);
    let err = home.stderr_of_failure(&["check"]);
    assert!(err.contains("4 problems"), "{err}");
    for line in [
        "community[health].timezone: `Asia/Kolkatta` is not an IANA time zone\n      fix: write an IANA name, e.g. Asia/Kolkata",
        "community[health].weekend: `sunny` is not a day of the week\n      fix: use mon, tue, wed, thu, fri, sat or sun",
        "community[health].holidays: `26/01/2027` is not a date\n      fix: write dates as YYYY-MM-DD",
        "community[health].digest.schedule: `7am` is not a time of day (HH:MM)\n      fix: use \"daily 07:00\"",
    ] {
        assert!(err.contains(line), "{line}\nmissing from\n{err}");
    }
    // No command runs on it: nothing falls back to UTC or a default schedule.
    home.praxis()
        .arg("status")
        .assert()
        .failure()
        .stderr(predicate::str::contains("community[health].timezone"));
}

/// Issue 15: a `password_env` naming a variable that is not set is reported
/// by `check` with its key, before `serve` would fail to log in.
#[test]
fn check_names_an_unset_password_env() {
    let home = Home::new();
    let out = home
        .praxis()
        .env_remove("PRAXIS_IMAP_PASSWORD")
        .arg("check")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("community[health].imap.password_env")
            && err.contains("PRAXIS_IMAP_PASSWORD")
            && err.contains("not set"),
        "{err}"
    );
    home.praxis().arg("check").assert().success();
}

/// A reader that closes the pipe early (`praxis queue --json | head -1`)
/// ends the command with success: `println!` panicked there (exit 101).
#[test]
fn a_closed_standard_output_is_not_a_panic() {
    let home = Home::new();
    home.praxis().arg("init").assert().success();
    // JSON (`Output::json`) and a table (`Output::table`).
    for args in [&["queue", "--json"][..], &["status"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader); // the reading end is gone before praxis starts
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("praxis"));
        cmd.arg("--config")
            .arg(home.config())
            .args(args)
            .stdout(writer);
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}
