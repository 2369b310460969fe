//! Bounded input: a 50 MB message, 1,000 nested MIME parts, 100,000
//! recipients and a 10 MB header each end as a held post (or a clear
//! refusal), never a crash, with the `praxis` process's peak memory measured
//! by the kernel (wait4's ru_maxrss) and held under a stated bound.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use praxis::model::PostId;

use crate::support::Home;

const MB: usize = 1024 * 1024;

/// What a measured `praxis` run did.
struct Run {
    /// Exit code: 0 stored, 65 kept raw as unparseable.
    code: i32,
    /// Names the stored post.
    stdout: String,
    /// The clear message, when there is one.
    stderr: String,
    /// Peak resident set of the child, in bytes.
    peak_rss: usize,
}

/// Runs `praxis ARGS` in `home` with `input` on stdin and returns its exit
/// code, output and peak RSS (from wait4, so only this child is counted).
fn measured(home: &Home, args: &[&str], input: Vec<u8>) -> Run {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("praxis"))
        .arg("--config")
        .arg(home.config())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // A refusal may close stdin early: that is not this test's failure.
        let _ = stdin.write_all(&input);
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).ok();
        s
    });
    let mut stderr = String::new();
    err.read_to_string(&mut stderr).ok();
    let stdout = reader.join().unwrap();
    writer.join().unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    std::mem::forget(child); // reaped above
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        panic!(
            "praxis {args:?} died of signal {}: {stderr}",
            libc::WTERMSIG(status)
        );
    };
    Run {
        code,
        stdout,
        stderr,
        peak_rss: usage.ru_maxrss as usize * 1024,
    }
}

fn head(id: &str) -> String {
    format!(
        "From: Mallory <mallory@example.net>\nTo: list@example.test\nSubject: bounded {id}\nMessage-ID: <{id}@bounded.example>\nDate: Mon, 23 Nov 2026 10:00:00 +0000\nMIME-Version: 1.0\n"
    )
}

/// A 50 MB message: a short text part and a base64 attachment.
fn fifty_mb() -> Vec<u8> {
    let mut m = head("fifty");
    m.push_str("Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nsee attached\n--b\nContent-Type: application/octet-stream; name=\"big.bin\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"big.bin\"\n\n");
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\n";
    let mut m = m.into_bytes();
    while m.len() < 50 * MB {
        m.extend_from_slice(line.as_bytes());
    }
    m.extend_from_slice(b"--b--\n");
    m
}

/// MIME nested `depth` levels deep, a text part at the bottom.
fn nested(depth: usize) -> Vec<u8> {
    let mut m = head("nested");
    m.push_str("Content-Type: multipart/mixed; boundary=\"n0\"\n\n");
    for i in 0..depth {
        m.push_str(&format!(
            "--n{i}\nContent-Type: multipart/mixed; boundary=\"n{}\"\n\n",
            i + 1
        ));
    }
    m.push_str(&format!(
        "--n{depth}\nContent-Type: text/plain\n\nthe bottom\n--n{depth}--\n"
    ));
    for i in (0..depth).rev() {
        m.push_str(&format!("--n{i}--\n"));
    }
    m.into_bytes()
}

/// 100,000 recipients, half in To and half in Cc, folded.
fn many_recipients(n: usize) -> Vec<u8> {
    let mut m = String::from(
        "From: Mallory <mallory@example.net>\nSubject: bounded recipients\nMessage-ID: <recipients@bounded.example>\n",
    );
    for (name, range) in [("To", 0..n / 2), ("Cc", n / 2..n)] {
        m.push_str(name);
        m.push_str(": list@example.test");
        for i in range {
            m.push_str(&format!(",\n r{i}@example.org"));
        }
        m.push('\n');
    }
    m.push_str("\nhello everyone\n");
    m.into_bytes()
}

/// One header field of `size` bytes (folded every 76 bytes), and one unfolded.
fn huge_header(size: usize, folded: bool) -> Vec<u8> {
    let id = if folded { "hdr-folded" } else { "hdr-line" };
    let mut m = head(id);
    m.push_str("X-Junk: ");
    let mut n = 0;
    while n < size {
        m.push_str(if folded {
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n "
        } else {
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
        });
        n += 77;
    }
    m.push_str("end\n\nbody\n");
    m.into_bytes()
}

/// A 10 MB Subject: stored, held, and cut short wherever it is shown.
fn huge_subject(size: usize) -> Vec<u8> {
    let mut m = String::from(
        "From: Mallory <mallory@example.net>\nTo: list@example.test\nMessage-ID: <subject@bounded.example>\nSubject: ",
    );
    m.push_str(&"s".repeat(size));
    m.push_str("\n\nbody\n");
    m.into_bytes()
}

/// The post praxis says it stored, from `stored post N in ...`.
fn stored_post(run: &Run) -> PostId {
    let n = run
        .stdout
        .split_whitespace()
        .skip_while(|w| *w != "post")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no post number in {:?} / {:?}", run.stdout, run.stderr));
    PostId(n)
}

fn check(name: &str, input: Vec<u8>, bound: usize) -> (Home, PostId) {
    let home = Home::new();
    let size = input.len();
    let started = std::time::Instant::now();
    let run = measured(&home, &["ingest", "-c", "health"], input);
    let took = started.elapsed();
    eprintln!(
        "{name}: {} bytes in, exit {}, peak RSS {} MB, {took:?}",
        size,
        run.code,
        run.peak_rss / MB
    );
    assert!(
        run.code == 0 || run.code == 65,
        "{name}: exit {} {:?} {:?}",
        run.code,
        run.stdout,
        run.stderr
    );
    assert!(
        run.peak_rss < bound,
        "{name}: peak RSS {} MB over the bound {} MB",
        run.peak_rss / MB,
        bound / MB
    );
    let post = stored_post(&run);
    let store = home.store();
    let view = store.post(post).unwrap();
    assert_eq!(view.state.to_string(), "held", "{name}: {view:?}");
    assert!(view.hold_reason.is_some(), "{name}: held without a reason");
    assert!(
        view.subject.len() <= 1000,
        "{name}: a {} byte subject",
        view.subject.len()
    );
    assert_eq!(
        store.raw(post).unwrap().len(),
        size,
        "{name}: the raw message is kept whole"
    );
    (home, post)
}

#[test]
fn a_50_mb_message_is_held_for_size_in_bounded_memory() {
    // The message itself is 50 MB; praxis holds it, the raw bytes and the
    // decoded attachment: under 5x the message.
    let (home, post) = check("50 MB", fifty_mb(), 250 * MB);
    let store = home.store();
    let reason = store.post(post).unwrap().hold_reason.unwrap();
    assert!(reason.starts_with("size 50 MB >"), "{reason}");
}

#[test]
fn a_thousand_nested_mime_levels_are_held() {
    check("nested 1000", nested(1000), 100 * MB);
}

#[test]
fn a_hundred_thousand_recipients_are_held() {
    check("100k recipients", many_recipients(100_000), 200 * MB);
}

#[test]
fn a_10_mb_header_is_held() {
    check("10 MB header, folded", huge_header(10 * MB, true), 100 * MB);
    check(
        "10 MB header, one line",
        huge_header(10 * MB, false),
        100 * MB,
    );
    check("10 MB subject", huge_subject(10 * MB), 100 * MB);
}
