//! Ingest from the command line: archive import over every real corpus,
//! thread agreement with notmuch, and `praxis ingest`'s exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use predicates::prelude::*;
use serde_json::Value;

use crate::support::Home;

fn corpora() -> PathBuf {
    crate::support::repo().join("../shared/corpora")
}

fn import_json(home: &Home, community: &str, path: &Path) -> Value {
    let out = home
        .praxis()
        .args(["import", "-c", community, "--json"])
        .arg(path)
        .assert()
        .success()
        .get_output()
        .clone();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

/// Every corpus folder, imported whole: nothing panics, every message is
/// imported, a duplicate, or kept raw as unparseable, and a second import
/// adds nothing. (Folders also hold SOURCE.md and expected-result files:
/// those are not mail and are, correctly, kept raw as unparseable.)
#[test]
fn every_corpus_imports_and_adds_up() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpora())
        .expect("../shared/corpora beside the project")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 10, "{dirs:?}");
    for dir in dirs {
        let home = Home::new();
        let first = import_json(&home, "education", &dir);
        let messages = n(&first, "messages");
        assert!(messages > 0, "{}: nothing read", dir.display());
        assert_eq!(
            messages,
            n(&first, "imported") + n(&first, "duplicates") + n(&first, "unparseable"),
            "{}: {first}",
            dir.display()
        );
        let second = import_json(&home, "education", &dir);
        assert_eq!(n(&second, "messages"), messages, "{}", dir.display());
        assert_eq!(
            n(&second, "imported"),
            0,
            "{}: re-import added posts",
            dir.display()
        );
        assert_eq!(n(&second, "unparseable"), 0, "{}", dir.display());
        assert_eq!(n(&second, "duplicates"), messages, "{}", dir.display());
        assert_eq!(
            n(&second, "threads"),
            n(&first, "threads"),
            "{}",
            dir.display()
        );
    }
}

/// Python's mailbox module counts the messages of the mbox corpora on its
/// own; praxis must find the same number. (cpython's mailbox_01.mbox is left
/// out on purpose: its body has an unescaped "From time to time" line, which
/// Python splits on and praxis, correctly, does not.)
#[test]
fn mbox_counts_agree_with_python() {
    let files = [
        "fedora-devel-2010-01/2010-January.txt",
        "perl-mail-box/mbox.src",
        "perl-mail-thread/testbox.mbox",
        "perl-mail-thread/testbox-6.mbox",
        "dovecot-imaptest-threading/thread.mbox",
        "linux-man-public-inbox/linux-man.mboxrd.gz",
    ];
    for f in files {
        let path = corpora().join(f);
        if !path.exists() {
            panic!("{} is missing", path.display());
        }
        let py = Command::new("python3")
            .arg("-c")
            .arg(
                "import gzip,mailbox,sys,tempfile\n\
                 p=sys.argv[1]\n\
                 if p.endswith('.gz'):\n    t=tempfile.NamedTemporaryFile(delete=False); t.write(gzip.open(p).read()); t.close(); p=t.name\n\
                 print(len(mailbox.mbox(p)))",
            )
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            py.status.success(),
            "{}",
            String::from_utf8_lossy(&py.stderr)
        );
        let expected: u64 = String::from_utf8_lossy(&py.stdout).trim().parse().unwrap();
        let home = Home::new();
        let v = import_json(&home, "education", &path);
        assert_eq!(n(&v, "messages"), expected, "{f}");
    }
}

/// Writes each message of an mbox as one file of a Maildir, with Python's
/// mailbox module (an independent reader), and returns the message count.
fn mbox_to_maildir(mbox: &Path, maildir: &Path) -> u64 {
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import gzip,mailbox,os,sys,tempfile\n\
             src,dst=sys.argv[1],sys.argv[2]\n\
             [os.makedirs(os.path.join(dst,d),exist_ok=True) for d in ('cur','new','tmp')]\n\
             if src.endswith('.gz'):\n    t=tempfile.NamedTemporaryFile(delete=False); t.write(gzip.open(src).read()); t.close(); src=t.name\n\
             n=0\n\
             mb=mailbox.mbox(src)\n\
             for i,k in enumerate(mb.iterkeys()):\n    open(os.path.join(dst,'cur','%06d:2,S'%i),'wb').write(mb.get_bytes(k)); n+=1\n\
             print(n)",
        )
        .arg(mbox)
        .arg(maildir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn notmuch_threads(maildir: &Path, work: &Path) -> u64 {
    let cfg = work.join("notmuch-config");
    std::fs::write(
        &cfg,
        format!(
            "[database]\npath={}\n[new]\ntags=\n[maildir]\nsynchronize_flags=false\n",
            maildir.display()
        ),
    )
    .unwrap();
    let new = Command::new("notmuch")
        .arg(format!("--config={}", cfg.display()))
        .args(["new", "--quiet"])
        .output()
        .expect("notmuch is installed by scripts/test");
    assert!(
        new.status.success(),
        "{}",
        String::from_utf8_lossy(&new.stderr)
    );
    let count = Command::new("notmuch")
        .arg(format!("--config={}", cfg.display()))
        .args(["count", "--output=threads", "*"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&count.stdout)
        .trim()
        .parse()
        .unwrap()
}

/// Thread counts on the real archives agree with notmuch within 3%.
///
/// Where they differ, and why: notmuch threads only by References and
/// In-Reply-To. praxis also joins a message that has no references at all
/// but whose subject is a reply ("Re: x") to a thread with the same base
/// subject active within 30 days — mail from clients that drop References,
/// which notmuch leaves as separate threads. So praxis finds a few fewer
/// threads (fedora-devel: 61 vs 62; MHonArc's own index says 60;
/// linux-man: 3,898 vs 3,915).
#[test]
fn thread_counts_agree_with_notmuch() {
    for (name, mbox) in [
        ("fedora", "fedora-devel-2010-01/2010-January.txt"),
        ("linux-man", "linux-man-public-inbox/linux-man.mboxrd.gz"),
    ] {
        let work = tempfile::tempdir().unwrap();
        let maildir = work.path().join("maildir");
        let written = mbox_to_maildir(&corpora().join(mbox), &maildir);
        let home = Home::new();
        let v = import_json(&home, "education", &maildir);
        assert_eq!(n(&v, "messages"), written, "{name}");
        let ours = n(&v, "threads") as f64;
        let theirs = notmuch_threads(&maildir, work.path()) as f64;
        let diff = (ours - theirs).abs() / theirs;
        eprintln!(
            "{name}: praxis {ours} threads, notmuch {theirs} ({:.2}%)",
            diff * 100.0
        );
        assert!(
            diff <= 0.03,
            "{name}: praxis {ours} threads, notmuch {theirs}"
        );
    }
}

const POST: &str = "From: Alice Rao <alice@example.org>\nTo: education@example.test\nSubject: Mobile clinics in flood areas\nMessage-ID: <query-1@example.org>\nDate: Mon, 23 Nov 2026 10:00:00 +0530\n\nHas anyone run mobile clinics in flood areas? What worked?\n";

#[test]
fn ingest_exit_codes() {
    let home = Home::new();
    home.praxis().arg("init").assert().success();
    // 0: committed (held: alice is not a member; education rejects nonmembers).
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(POST)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "stored post 1 in health: post, held (nonmember)",
        ));
    // 0 again: a duplicate is already committed.
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(POST)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("duplicate of post 1"));
    // 65: unparseable, but kept raw and held.
    let junk = b"\x00\x01\x02 this is not a mail message at all\n".to_vec();
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(junk.clone())
        .assert()
        .code(65)
        .stderr(predicate::str::contains("kept raw and held"));
    let out = home
        .praxis()
        .args(["show", "2", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["class"], "unparseable");
    assert_eq!(v["state"], "held");
    assert_eq!(v["hold_reason"], "unparseable");
    let raw = home
        .praxis()
        .args(["show", "2", "--raw"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(raw, junk, "the raw bytes are kept verbatim");
    // 75: an unknown community (an alias typo) keeps the mail at the MTA.
    home.praxis()
        .args(["ingest", "-c", "helth"])
        .write_stdin(POST)
        .assert()
        .code(75)
        .stderr(predicate::str::contains("community `helth` is not in"));
    // 75: the database is locked by another writer past the busy timeout.
    let mut locker = home.lock_writers();
    let other = POST.replace("query-1@", "query-2@");
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(other.clone())
        .assert()
        .code(75)
        .stderr(predicate::str::contains("busy"));
    drop(locker.stdin.take());
    locker.wait().unwrap();
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(other)
        .assert()
        .code(0);
    // 75: no config at all.
    std::fs::remove_file(home.config()).unwrap();
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(POST)
        .assert()
        .code(75);
}

/// With no daemon holding the database, each `praxis ingest` is its last
/// connection and folds the WAL into the database as it closes. Leaving
/// the WAL full instead let it grow without bound: the next process rebuilt
/// its index from every frame, counted them all as not yet checkpointed,
/// and so never started the WAL again (60 MB and 36 ms a post after 2,000
/// posts). The emptied WAL file itself stays, so the next process does not
/// create it (and sync the directory) again.
#[test]
fn ingest_without_a_daemon_leaves_the_wal_empty() {
    if crate::support::skip_on_postgres("the WAL file") {
        return;
    }
    let home = Home::new();
    home.praxis().arg("init").assert().success();
    let wal = home.path().join("praxis.db-wal");
    for i in 0..3 {
        home.praxis()
            .args(["ingest", "-c", "health"])
            .write_stdin(POST.replace("query-1@", &format!("wal-{i}@")))
            .assert()
            .code(0);
        let left = std::fs::metadata(&wal)
            .unwrap_or_else(|e| panic!("after ingest {i}, no WAL file kept: {e}"))
            .len();
        assert_eq!(left, 0, "after ingest {i}, a WAL of {left} bytes was left");
    }
    let v = home.json(&["queue", "-c", "health", "--json"]);
    assert_eq!(v.as_array().map(Vec::len), Some(3), "{v}");
}

#[test]
fn envelope_recipient_routes_commands_and_bounces() {
    let home = Home::new();
    let out = home
        .praxis()
        .args([
            "ingest",
            "-c",
            "health",
            "--recipient",
            "list-request@example.test",
        ])
        .write_stdin(POST.replace("query-1", "cmd-1"))
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stdout).contains(": command, handled"));
    let out = home
        .praxis()
        .args(["ingest", "-c", "health"])
        .env(
            "ORIGINAL_RECIPIENT",
            "list-bounces+bob=example.org@example.test",
        )
        .write_stdin(POST.replace("query-1", "bounce-1"))
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stdout).contains(": bounce, handled"));
}

#[test]
fn show_threads_and_search_on_a_real_archive() {
    let home = Home::new();
    import_json(
        &home,
        "education",
        &corpora().join("fedora-devel-2010-01/2010-January.txt"),
    );
    let out = home
        .praxis()
        .args(["threads", "-c", "education", "--json", "--limit", "0"])
        .assert()
        .success()
        .get_output()
        .clone();
    let threads: Value = serde_json::from_slice(&out.stdout).unwrap();
    let threads = threads.as_array().unwrap();
    assert_eq!(threads.len(), 61);
    for f in [
        "id",
        "community",
        "subject",
        "kind",
        "posts",
        "participants",
        "first_at",
        "last_at",
        "state",
        "responses",
        "deadline",
        "days_left",
    ] {
        assert!(threads[0].get(f).is_some(), "{f}");
    }
    let total: u64 = threads.iter().map(|t| t["posts"].as_u64().unwrap()).sum();
    assert_eq!(total, 292, "every imported post is in exactly one thread");
    let biggest = threads
        .iter()
        .max_by_key(|t| t["posts"].as_u64().unwrap())
        .unwrap();
    assert!(biggest["participants"].as_u64().unwrap() > 1);

    let out = home
        .praxis()
        .args(["search", "pulseaudio", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let hits: Value = serde_json::from_slice(&out.stdout).unwrap();
    let hits = hits.as_array().unwrap();
    assert!(!hits.is_empty());
    for f in ["kind", "id", "community", "subject", "snippet", "score"] {
        assert!(hits[0].get(f).is_some(), "{f}");
    }
    assert!(
        hits[0]["snippet"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("[pulseaudio]"),
        "{}",
        hits[0]
    );
    let id = hits[0]["id"].as_i64().unwrap();
    home.praxis()
        .args(["show", &id.to_string()])
        .assert()
        .success()
        .stdout(predicate::str::contains("in education — approved"))
        .stdout(predicate::str::contains("Thread:"));
    home.praxis()
        .args(["show", "999999"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("post 999999 does not exist"));
}

/// kill -9 of `praxis import` at random points, then a full rerun: the
/// database holds each message exactly once.
#[test]
fn fault_kill9_import_then_rerun() {
    let home = Home::new();
    let archive = corpora().join("linux-man-public-inbox/linux-man.mboxrd.gz");
    let mut seed: u64 = std::process::id() as u64 ^ 0x9e37_79b9;
    for _ in 0..4 {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("praxis"))
            .arg("--config")
            .arg(home.config())
            .args(["import", "-c", "education"])
            .arg(&archive)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(std::time::Duration::from_millis(300 + (seed >> 33) % 2500));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let v = import_json(&home, "education", &archive);
    assert_eq!(n(&v, "messages"), 17_885);
    let store = home.store();
    let c = store.community("education").unwrap();
    let (distinct, rows) = store.message_id_counts(c.id).unwrap();
    assert_eq!(distinct, rows, "no Message-ID stored twice");
    // 17,885 messages: 6 repeat a Message-ID (the archive's own duplicates).
    assert_eq!(rows, 17_879);
}
