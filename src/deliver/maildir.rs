//! The other way out: each copy written into a local Maildir instead of
//! handed to an SMTP relay (`[delivery] maildir`), as a local delivery agent
//! would write it. `praxis demo` delivers this way; so can a staging setup.
//!
//! A copy is written to `tmp/`, flushed to disk, then renamed into `new/`
//! (the Maildir protocol), so a reader never sees half a message and a
//! crash leaves at most a stray file in `tmp/`. Like an MDA it adds
//! `Return-Path` (the VERP bounce address) and `Delivered-To` (the member)
//! and stores lines ending in LF, as mail clients expect of a Maildir.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::smtp::Attempt;

/// A Maildir that copies are delivered into.
#[derive(Debug)]
pub(crate) struct MaildirOut {
    /// The Maildir's folder (holding cur/, new/ and tmp/).
    root: PathBuf,
    /// Distinguishes files written in the same microsecond.
    seq: AtomicU64,
}

impl MaildirOut {
    /// The Maildir at `root`, creating its three folders if missing.
    pub(crate) fn open(root: &Path) -> Result<MaildirOut, String> {
        for sub in ["cur", "new", "tmp"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).map_err(|e| {
                format!(
                    "delivery.maildir: cannot create {}: {e}; make the folder writable or point delivery.maildir elsewhere",
                    dir.display()
                )
            })?;
        }
        Ok(MaildirOut {
            root: root.to_path_buf(),
            seq: AtomicU64::new(0),
        })
    }

    /// Where copies go, for logs.
    pub(crate) fn name(&self) -> String {
        format!("maildir {}", self.root.display())
    }

    /// Writes one copy for `recipient`, sent from `from` (the envelope sender).
    /// A write failure is the destination's fault, like a relay failing: the
    /// delivery is retried and no bounce is counted.
    pub(crate) fn deliver(&self, from: &str, recipient: &str, copy: &[u8]) -> Attempt {
        match self.write(from, recipient, copy) {
            Ok(_) => Attempt::Sent,
            Err(e) => Attempt::Temporary {
                error: format!("cannot write to {}: {e}", self.root.display()),
                relay: true,
            },
        }
    }

    /// Writes the file; returns its path in `new/`.
    fn write(&self, from: &str, recipient: &str, copy: &[u8]) -> std::io::Result<PathBuf> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "{}.M{}P{}Q{}.praxis",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let tmp = self.root.join("tmp").join(&name);
        let dest = self.root.join("new").join(&name);
        let mut body = Vec::with_capacity(copy.len() + 128);
        // Envelope values come from the database; keep them one line each.
        let one_line = |s: &str| s.replace(['\r', '\n'], "");
        writeln!(body, "Return-Path: <{}>", one_line(from))?;
        writeln!(body, "Delivered-To: {}", one_line(recipient))?;
        let mut rest = copy;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let line = &rest[..i];
            body.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
            body.push(b'\n');
            rest = &rest[i + 1..];
        }
        if !rest.is_empty() {
            body.extend_from_slice(rest.strip_suffix(b"\r").unwrap_or(rest));
            body.push(b'\n');
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(&body)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &dest)?;
        Ok(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_new_files_with_envelope_headers_and_lf_lines() {
        let dir = tempfile::tempdir().unwrap();
        let out = MaildirOut::open(&dir.path().join("md")).unwrap();
        let copy = b"Subject: hi\r\nTo: a@example.test\r\n\r\nline one\r\nline two";
        assert_eq!(
            out.deliver(
                "list-bounces+a=example.test@example.test",
                "a@example.test",
                copy
            ),
            Attempt::Sent
        );
        assert_eq!(
            out.deliver("x@example.test", "b@example.test\r\nBcc: evil", copy),
            Attempt::Sent
        );
        let texts: Vec<String> = std::fs::read_dir(dir.path().join("md/new"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        assert_eq!(texts.len(), 2);
        assert_eq!(
            std::fs::read_dir(dir.path().join("md/tmp"))
                .unwrap()
                .count(),
            0
        );
        assert!(texts.contains(
            &"Return-Path: <list-bounces+a=example.test@example.test>\nDelivered-To: a@example.test\n\
              Subject: hi\nTo: a@example.test\n\nline one\nline two\n"
                .to_string()
        ));
        assert!(texts.iter().any(|t| t.starts_with(
            "Return-Path: <x@example.test>\nDelivered-To: b@example.testBcc: evil\n"
        )));
    }

    #[test]
    fn an_unwritable_folder_is_a_temporary_failure_of_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        let out = MaildirOut::open(dir.path()).unwrap();
        std::fs::remove_dir(dir.path().join("tmp")).unwrap();
        match out.deliver("a@example.test", "b@example.test", b"x") {
            Attempt::Temporary { relay: true, error } => assert!(error.contains("cannot write")),
            other => panic!("{other:?}"),
        }
    }
}
