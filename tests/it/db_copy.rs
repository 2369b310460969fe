//! `praxis db copy --to postgres://…` (issue 20): the demo install, with
//! attachments, moved from SQLite to a scratch PostgreSQL database; the
//! command's own verification, then praxis's behaviour on the copy, a
//! re-run, and the refusals.
//!
//! The PostgreSQL half skips without PRAXIS_TEST_POSTGRES and fails when
//! PRAXIS_TEST_REQUIRE_POSTGRES says a server must be there (as engines.rs).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::engines::PgDatabase;
use crate::support::Home;

/// A reply to the demo's query with two attachments: a PDF-like file
/// whose bytes are every byte value (not UTF-8), and a CSV.
fn reply_with_attachments(n: u32) -> Vec<u8> {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3000 + n as usize).collect();
    let pdf = base64(&bytes);
    format!(
        "From: Ravi Kumar <ravi.kumar@jeevika.example.org>\r\n\
         To: mch@lists.example.org\r\n\
         Subject: Re: Query: Kangaroo Mother Care - our ward's figures {n}\r\n\
         Date: Fri, 14 Nov 2026 10:0{n}:00 +0530\r\n\
         Message-ID: <copy-{n}@jeevika.example.org>\r\n\
         In-Reply-To: <20261109101400.kmc-query@dh-sitapur.example.org>\r\n\
         References: <20261109101400.kmc-query@dh-sitapur.example.org>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b{n}\"\r\n\
         \r\n\
         --b{n}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Our KMC ward's monthly figures (सितापुर), attached: fluorescence{n}.\r\n\
         --b{n}\r\n\
         Content-Type: application/pdf; name=\"figures-{n}.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"figures-{n}.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {pdf}\r\n\
         --b{n}\r\n\
         Content-Type: text/csv; name=\"ward-{n}.csv\"\r\n\
         Content-Disposition: attachment; filename=\"ward-{n}.csv\"\r\n\
         \r\n\
         month,babies\r\n2026-10,{n}4\r\n\
         --b{n}--\r\n"
    )
    .into_bytes()
}

/// Standard base64 in lines of 76, as mail carries it.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    text.as_bytes()
        .chunks(76)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The schema version this praxis migrates to.
fn latest() -> i64 {
    praxis::store::migrate::MIGRATIONS.last().unwrap().version
}

/// `praxis demo` in a new home, plus two ingested replies with attachments.
fn demo_install() -> Home {
    // A SQLite install on either pass: it is what the copy reads.
    let home = Home {
        dir: tempfile::tempdir().unwrap(),
        pg: None,
    };
    crate::support::make_demo(home.path());
    for n in 1..=2 {
        home.praxis()
            .args(["ingest", "-c", "mch"])
            .write_stdin(reply_with_attachments(n))
            .assert()
            .success();
    }
    home
}

/// A home whose config is `install`'s with `[database] url` pointing at
/// `url` (and the link secret every PostgreSQL install needs).
fn on_postgres(install: &Home, url: &str) -> Home {
    let config = std::fs::read_to_string(install.config()).unwrap();
    assert!(config.contains("path = \"praxis.db\""), "{config}");
    let home = Home::with_config(
        &config
            .replace("path = \"praxis.db\"", &format!("url = \"{url}\""))
            .replace(
                "\n[delivery]\n",
                "\n[delivery]\nlink_secret_file = \"link.key\"\n",
            ),
    );
    let key = home.path().join("link.key");
    std::fs::write(
        &key,
        "a link secret of at least thirty-two bytes, for tests",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    home
}

/// `praxis --json db copy --to URL` on `home`: its report and whether it
/// exited 0.
fn copy(home: &Home, url: &str) -> (Value, bool, String) {
    let out = home
        .praxis()
        .args(["--json", "db", "copy", "--to", url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    (report, out.status.success(), stderr)
}

/// The report's row for `table`.
fn table<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

/// The ids of a search's hits, as a set (the engines rank alike but not
/// identically).
fn hits(home: &Home, query: &str) -> BTreeSet<(String, i64)> {
    home.json(&["--json", "search", query])
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["kind"].as_str().unwrap().to_string(),
                h["id"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_demo_install_moves_to_postgresql_and_behaves_the_same() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let lite = demo_install();
    // The newest member leaves before the copy: their id is never given
    // again, on the copy as on SQLite.
    let newest = lite.sql(
        "SELECT m.id || ' ' || m.email || ' ' || c.slug FROM members m
         JOIN communities c ON c.id = m.community_id ORDER BY m.id DESC LIMIT 1",
    );
    let newest: Vec<&str> = newest.split_whitespace().collect();
    let (gone_id, gone, slug) = (newest[0].parse::<i64>().unwrap(), newest[1], newest[2]);
    lite.praxis()
        .args(["members", "remove", gone, "-c", slug])
        .assert()
        .success();
    let (report, ok, stderr) = copy(&lite, &db.url);
    assert!(ok, "{report}\n{stderr}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["schema_version"], latest());
    // Every kind of content the demo leaves is there, and verified.
    for (name, at_least) in [
        ("communities", 1),
        ("members", 9),
        ("threads", 1),
        ("posts", 8),
        ("holds", 1),
        ("decisions", 1),
        ("consolidated_replies", 1),
        ("draft_versions", 1),
        ("consolidated_search", 1),
        ("digests", 1),
        ("outbox", 1),
        ("outbox_audiences", 1),
        ("deliveries", 1),
        ("moderation_tokens", 1),
        ("attachments", 4),
        ("post_attachments", 4),
        ("thread_refs", 1),
    ] {
        let t = table(&report, name);
        assert!(t["rows"].as_u64().unwrap() >= at_least, "{name}: {t}");
        assert_eq!(t["rows"], t["target_rows"], "{name}: {t}");
        assert_eq!(t["checksum"], t["target_checksum"], "{name}: {t}");
        assert_eq!(t["ok"], true, "{name}: {t}");
    }
    let posts = table(&report, "posts");
    assert_eq!(
        posts["written"], posts["rows"],
        "a first copy writes every row"
    );
    assert!(stderr.contains("posts: parent_id set on"), "{stderr}");
    // Progress went to stderr, no password anywhere.
    assert!(
        stderr.contains("copying ") && stderr.contains("posts: "),
        "{stderr}"
    );

    let pg = on_postgres(&lite, &db.url);
    // Search finds the same posts and replies, by the same ids.
    for q in ["kangaroo", "fluorescence1", "सितापुर", "kind:reply mother"] {
        let (a, b) = (hits(&lite, q), hits(&pg, q));
        assert!(!a.is_empty(), "{q}");
        assert_eq!(a, b, "search {q}");
    }
    assert_eq!(
        lite.json(&["--json", "threads"]),
        pg.json(&["--json", "threads"])
    );
    assert_eq!(
        lite.json(&["--json", "threads", "--queries"]),
        pg.json(&["--json", "threads", "--queries"])
    );
    assert_eq!(
        lite.json(&["--json", "status"])["communities"],
        pg.json(&["--json", "status"])["communities"]
    );
    assert_eq!(
        lite.json(&["--json", "outbox"]),
        pg.json(&["--json", "outbox"])
    );
    // Every post's raw bytes, and its view, are the same.
    let ids: Vec<i64> = (1..=8).collect();
    for id in &ids {
        let id = id.to_string();
        let raw = |h: &Home| {
            h.praxis()
                .args(["show", &id, "--raw"])
                .assert()
                .success()
                .get_output()
                .stdout
                .clone()
        };
        assert_eq!(raw(&lite), raw(&pg), "post {id}'s raw bytes");
        assert_eq!(
            lite.json(&["--json", "show", &id]),
            pg.json(&["--json", "show", &id]),
            "post {id}"
        );
    }
    assert!(
        String::from_utf8_lossy(
            &pg.praxis()
                .args(["show", "7", "--raw"])
                .output()
                .unwrap()
                .stdout
        )
        .contains("figures-1.pdf")
    );

    // A re-run onto the complete copy succeeds and writes nothing.
    let (again, ok, stderr) = copy(&lite, &db.url);
    assert!(ok, "{again}\n{stderr}");
    for t in again["tables"].as_array().unwrap() {
        assert_eq!(t["written"], 0, "{t}");
        assert_eq!(t["linked"], 0, "{t}");
        assert_eq!(t["ok"], true, "{t}");
    }
    assert_eq!(again["tables"], {
        let mut r = report["tables"].clone();
        for t in r.as_array_mut().unwrap() {
            t["written"] = 0.into();
            t["linked"] = 0.into();
        }
        r
    });

    // The sequences were set: a post ingested on the copy is numbered
    // after the copied ones.
    let stored = String::from_utf8(
        pg.praxis()
            .args(["ingest", "-c", "mch"])
            .write_stdin(reply_with_attachments(3))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    let max = posts["rows"].as_u64().unwrap();
    assert!(
        stored.contains(&format!("stored post {} ", max + 1)),
        "{stored}"
    );
    assert_eq!(db.sql("SELECT max(id) FROM posts"), (max + 1).to_string());

    // Now the target holds a row the source does not: a copy again says
    // which table differs, and fails.
    let (differs, ok, stderr) = copy(&lite, &db.url);
    assert!(!ok, "{differs}");
    assert_eq!(differs["ok"], false);
    assert_eq!(table(&differs, "posts")["ok"], false);
    assert_eq!(table(&differs, "members")["ok"], true);
    assert!(
        stderr.contains("differs from the source in") && stderr.contains("posts"),
        "{stderr}"
    );

    // A member added on the copy is numbered past the one who left.
    pg.praxis()
        .args(["members", "add", "newcomer@example.org", "-c", slug])
        .assert()
        .success();
    assert_eq!(
        db.sql("SELECT id FROM members WHERE email = 'newcomer@example.org'"),
        (gone_id + 1).to_string()
    );
}

/// A partial copy (a table emptied on the target, a row changed) is
/// completed by a re-run; another install's database is refused.
#[test]
fn a_rerun_completes_a_partial_copy_and_another_install_is_refused() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let lite = demo_install();
    assert!(copy(&lite, &db.url).1);
    db.sql("DELETE FROM post_attachments WHERE post_id = 7");
    db.sql("UPDATE members SET email = upper(email) WHERE id = 2");
    db.sql("UPDATE posts SET parent_id = NULL");
    // The source's daemon heartbeat says `praxis serve` runs: the copy is
    // of one snapshot all the same, and says what stays behind.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    rusqlite::Connection::open(lite.path().join("praxis.db"))
        .unwrap()
        .execute(
            "INSERT OR REPLACE INTO daemon_health (key, state, pid, updated_at)
             VALUES ('daemon', 'running', 1, ?1)",
            [now as i64],
        )
        .unwrap();
    let (report, ok, stderr) = copy(&lite, &db.url);
    assert!(ok, "{report}\n{stderr}");
    assert!(
        stderr.contains("warning: praxis serve was running on")
            && stderr.contains("stop praxis serve"),
        "{stderr}"
    );
    assert_eq!(table(&report, "daemon_health")["written"], 1);
    assert_eq!(table(&report, "post_attachments")["written"], 2);
    // The e-mail differed only in case: CITEXT compares it as text.
    assert_eq!(table(&report, "members")["written"], 1);
    assert!(table(&report, "posts")["linked"].as_u64().unwrap() >= 3);
    assert_eq!(table(&report, "posts")["written"], 0);
    let email = db.sql("SELECT email FROM members WHERE id = 2");
    assert_ne!(email, email.to_uppercase(), "the source's e-mail is back");

    // Another install (the shipped example's communities) into the same
    // database: refused before anything is written.
    let other = Home::new();
    other.stdout(&["init"]);
    let out = other
        .praxis()
        .args(["db", "copy", "--to", &db.url])
        .assert()
        .failure()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already holds another install's data") && stderr.contains("`mch` (id 1)"),
        "{stderr}"
    );
    assert_eq!(db.sql("SELECT count(*) FROM communities"), "1");
}

#[test]
fn a_copy_is_refused_with_the_reason_and_the_fix() {
    let lite = demo_install();
    let refused = |args: &[&str]| {
        let mut all = vec!["db", "copy"];
        all.extend_from_slice(args);
        lite.stderr_of_failure(&all)
    };
    let e = refused(&["--to", "mysql://praxis@db/praxis"]);
    assert!(
        e.contains("is not a PostgreSQL URL") && e.contains("--to \"postgres://"),
        "{e}"
    );
    let e = refused(&["--to", "postgres://praxis:hunter2@127.0.0.1/praxis"]);
    assert!(
        e.contains("holds a password") && e.contains("password"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "the password is never printed: {e}");
    let e = refused(&[
        "--to",
        "postgres://praxis@127.0.0.1/praxis",
        "--password-env",
        "PRAXIS_NO_SUCH_VARIABLE",
    ]);
    assert!(
        e.contains("--password-env names the environment variable PRAXIS_NO_SUCH_VARIABLE"),
        "{e}"
    );

    // A config already on PostgreSQL has no SQLite file to copy.
    let pg = on_postgres(&lite, "postgres://praxis@127.0.0.1:1/none");
    let e = pg.stderr_of_failure(&["db", "copy", "--to", "postgres://praxis@127.0.0.1:1/x"]);
    assert!(e.contains("already points at PostgreSQL"), "{e}");

    // A database at an older schema is not migrated by the copy: the user
    // is told to migrate it first (nothing is connected to before that).
    let old = Home::new();
    std::fs::copy(
        crate::support::repo().join("tests/data/schema-0001.db"),
        old.path().join("praxis.db"),
    )
    .unwrap();
    let before = std::fs::read(old.path().join("praxis.db")).unwrap();
    let e = old.stderr_of_failure(&["db", "copy", "--to", "postgres://praxis@127.0.0.1:1/x"]);
    assert!(
        e.contains(&format!(
            "is at schema version 1 and this praxis at {}",
            latest()
        )) && e.contains("run `praxis init`"),
        "{e}"
    );
    assert_eq!(
        std::fs::read(old.path().join("praxis.db")).unwrap(),
        before,
        "the source is left as it was"
    );
}
