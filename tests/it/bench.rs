//! The benchmark inputs: bench/gen-maildir is deterministic and its mail
//! is what praxis imports (threads, encoded-words, multipart), at a small N.

use std::path::Path;
use std::process::Command;

use crate::support::{Home, repo};

fn generate(dir: &Path, count: u32, seed: u32) {
    let ok = Command::new("python3")
        .arg(repo().join("bench/gen-maildir"))
        .arg(dir)
        .args(["--count", &count.to_string(), "--seed", &seed.to_string()])
        .status()
        .expect("python3 runs bench/gen-maildir");
    assert!(ok.success(), "bench/gen-maildir failed");
}

/// Every file of a Maildir's cur/, by name, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("cur"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn gen_maildir_is_byte_identical_for_a_seed_and_differs_across_seeds() {
    let t = tempfile::tempdir().unwrap();
    let (a, b, c) = (t.path().join("a"), t.path().join("b"), t.path().join("c"));
    generate(&a, 300, 7);
    generate(&b, 300, 7);
    generate(&c, 300, 8);
    let (fa, fb, fc) = (files(&a), files(&b), files(&c));
    assert_eq!(fa.len(), 300);
    assert!(fa == fb, "the same seed gave different bytes");
    assert!(fa != fc, "different seeds gave the same bytes");
    let all: Vec<u8> = fa.iter().flat_map(|(_, m)| m.clone()).collect();
    let text = String::from_utf8_lossy(&all);
    for needle in [
        "\nIn-Reply-To: <",
        "\nReferences: <",
        "multipart/alternative",
        "multipart/mixed",
        "Content-Transfer-Encoding: base64",
        "?Q?",
        "?B?",
        " wrote:\n> ",
        "\n-- \n",
    ] {
        assert!(
            text.contains(needle),
            "no `{needle}` in 300 generated messages"
        );
    }
}

#[test]
fn gen_maildir_mail_imports_as_threads_with_decoded_names() {
    let t = tempfile::tempdir().unwrap();
    let md = t.path().join("md");
    generate(&md, 200, 3);
    let home = Home::with_config(
        "[database]\npath = \"praxis.db\"\n[[community]]\nslug = \"bench\"\nname = \"B\"\naddress = \"bench@example.test\"\n",
    );
    let summary = home.json(&["--json", "import", "-c", "bench", md.to_str().unwrap()]);
    assert_eq!(summary["messages"], 200);
    assert_eq!(summary["imported"], 200, "{summary}");
    assert_eq!(summary["unparseable"], 0, "{summary}");
    let threads = summary["threads"].as_i64().unwrap();
    assert!(
        (10..150).contains(&threads),
        "200 messages should thread into tens of threads, got {threads}"
    );
    let listed = home.json(&["--json", "threads", "--limit", "0"]);
    let posts: i64 = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["posts"].as_i64().unwrap())
        .sum();
    assert_eq!(posts, 200, "every post is in a listed thread");
    let names: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{} / {}", t["subject"], t["asked_by"]))
        .collect();
    assert!(
        names.iter().any(|n| !n.is_ascii()),
        "no decoded non-ASCII subject or name in {names:?}"
    );
    assert!(
        names.iter().all(|n| !n.contains("=?")),
        "an encoded-word left undecoded in {names:?}"
    );
}
