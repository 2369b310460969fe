//! Layering rules from DESIGN.md, checked over the source text:
//! rusqlite only in src/store/, lettre only in src/deliver/, the IMAP client
//! only in src/ingest/, rustls only in the two TLS clients (src/deliver/,
//! src/ingest/) and the trust settings they share (src/tls.rs), and no
//! tokio, rusqlite or lettre in the pure modules.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Lines that use a crate: `use krate`, `krate::`, or `extern crate krate`.
fn uses(text: &str, krate: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let code = l.split("//").next().unwrap_or("");
            code.contains(&format!("{krate}::"))
                || code.trim_start().starts_with(&format!("use {krate}"))
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// Source files under src/, relative to src/, with their text.
fn sources() -> Vec<(String, String)> {
    let src = crate::support::repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// Whether a file (relative to src/) is one of the pure modules.
fn is_pure(rel: &str) -> bool {
    rel == "model.rs"
        || rel == "thread.rs"
        || rel == "render.rs"
        || rel.starts_with("moderation/rules")
        || rel == "moderation/policy.rs"
        || rel == "digest/schedule.rs"
        || rel == "digest/select.rs"
        || rel == "consolidate/deadline.rs"
        || rel == "consolidate/draft.rs"
        || rel == "mail/quote.rs"
}

#[test]
fn crates_stay_in_their_layers() {
    let rules: &[(&str, &[&str])] = &[
        ("rusqlite", &["store/"]),
        ("lettre", &["deliver/"]),
        ("async_imap", &["ingest/"]),
        ("rustls", &["deliver/", "ingest/", "tls.rs"]),
    ];
    let mut wrong = Vec::new();
    for (rel, text) in sources() {
        for (krate, homes) in rules {
            if !homes.iter().any(|home| rel.starts_with(home)) {
                for line in uses(&text, krate) {
                    wrong.push(format!(
                        "src/{rel}:{line} uses {krate}, which belongs in src/{}",
                        homes.join(" or src/")
                    ));
                }
            }
        }
        if is_pure(&rel) {
            for krate in [
                "tokio",
                "rusqlite",
                "lettre",
                "async_imap",
                "std::fs",
                "std::net",
            ] {
                for line in uses(&text, krate) {
                    wrong.push(format!("src/{rel}:{line} uses {krate} in a pure module"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_sql_outside_the_store() {
    let mut wrong = Vec::new();
    for (rel, text) in sources() {
        if rel.starts_with("store/") {
            continue;
        }
        for (i, l) in text.lines().enumerate() {
            let upper = l.to_ascii_uppercase();
            if [
                "SELECT ",
                "INSERT INTO",
                "UPDATE ",
                "DELETE FROM",
                "CREATE TABLE",
            ]
            .iter()
            .any(|kw| upper.contains(kw) && l.contains('"'))
                && (upper.contains(" FROM ")
                    || upper.contains("INSERT INTO")
                    || upper.contains(" SET ")
                    || upper.contains("CREATE TABLE"))
            {
                wrong.push(format!("src/{rel}:{}: {}", i + 1, l.trim()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "SQL outside src/store/:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_sees_what_it_looks_for() {
    // The rules above can fail: a use in the wrong place is found.
    assert_eq!(
        uses("use rusqlite::Connection;\nfn f() {}", "rusqlite"),
        vec![1]
    );
    assert_eq!(
        uses("let c = rusqlite::Connection::open(p);", "rusqlite"),
        vec![1]
    );
    assert!(uses("// rusqlite:: in a comment", "rusqlite").is_empty());
    assert!(is_pure("thread.rs") && is_pure("digest/schedule.rs") && !is_pure("store/mod.rs"));
}

#[test]
fn every_module_starts_with_a_doc_line() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| !text.trim_start().starts_with("//!"))
        .map(|(rel, _)| format!("src/{rel}"))
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a //! line: {missing:?}"
    );
}
