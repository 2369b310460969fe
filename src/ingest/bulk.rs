//! Reading and parsing an archive for `praxis import` on every core, while
//! the caller's thread writes: messages come back in batches, in archive
//! order (thread placement depends on it), each already hashed and parsed
//! ([`pipeline::prepare`]).
//!
//! One reader thread reads a batch of messages, splits it among the parse
//! threads (scoped, one per core), and hands the parsed batch over a
//! channel of one: at most three batches are in memory (one written, one
//! waiting, one read and parsed), whatever the size of the archive.

use std::sync::mpsc;

use super::archive::{self, ArchiveError, Input};
use super::pipeline::{self, Prepared};

/// One message of a batch: its bytes and what they say.
pub struct Message {
    /// The bytes as read.
    pub raw: Vec<u8>,
    /// Hash and parse.
    pub prepared: Prepared,
}

/// How far the reading is, for a progress bar.
pub struct Progress {
    /// Bytes of the input files read to the end so far.
    pub inputs_done_bytes: u64,
    /// Bytes of messages read from the input being read.
    pub current_input_bytes: u64,
}

/// Reads every message of `inputs`, `batch` at a time, parses them on
/// `threads` threads, and calls `write` on the calling thread with each
/// batch in order. Stops at the first error of either side.
pub fn run<E: From<ArchiveError> + Send>(
    inputs: &[Input],
    batch: usize,
    threads: usize,
    mut write: impl FnMut(Vec<Message>, &Progress) -> Result<(), E>,
) -> Result<(), E> {
    let batch = batch.max(1);
    let threads = threads.max(1);
    // The channel holds one parsed batch while the next is read and parsed.
    let (tx, rx) = mpsc::sync_channel::<Result<(Vec<Message>, Progress), E>>(1);
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut raws: Vec<Vec<u8>> = Vec::with_capacity(batch);
            let mut done_bytes = 0u64;
            let send = |raws: &mut Vec<Vec<u8>>, progress: Progress| -> bool {
                let parsed = parse_all(std::mem::take(raws), threads);
                tx.send(Ok((parsed, progress))).is_ok()
            };
            for input in inputs {
                let mut stopped = false;
                let mut current = 0u64;
                let r = archive::read_messages(input, |raw| {
                    current += raw.len() as u64;
                    raws.push(raw);
                    if raws.len() >= batch {
                        let progress = Progress {
                            inputs_done_bytes: done_bytes,
                            current_input_bytes: current,
                        };
                        if !send(&mut raws, progress) {
                            stopped = true;
                            // The writer failed: stop reading (its error is returned).
                            return Err(ArchiveError {
                                path: input.path().to_path_buf(),
                                cause: std::io::Error::other("import stopped"),
                            });
                        }
                        raws.reserve(batch);
                    }
                    Ok(())
                });
                if stopped {
                    return;
                }
                if let Err(e) = r {
                    let _ = tx.send(Err(E::from(e)));
                    return;
                }
                // A compressed file counts its own size (the bar's total),
                // any other the bytes read (no stat per Maildir file).
                done_bytes += if input.path().extension().is_some_and(|x| x == "gz") {
                    std::fs::metadata(input.path()).map_or(0, |m| m.len())
                } else {
                    current
                };
            }
            if !raws.is_empty() {
                let progress = Progress {
                    inputs_done_bytes: done_bytes,
                    current_input_bytes: 0,
                };
                send(&mut raws, progress);
            }
        });
        for item in rx {
            let (messages, progress) = item?;
            write(messages, &progress)?;
        }
        Ok(())
    })
}

/// Hashes and parses `raws` on `threads` threads, keeping their order.
fn parse_all(raws: Vec<Vec<u8>>, threads: usize) -> Vec<Message> {
    let prepare = |raw: Vec<u8>| Message {
        prepared: pipeline::prepare(&raw),
        raw,
    };
    if threads == 1 || raws.len() < 2 {
        return raws.into_iter().map(prepare).collect();
    }
    let per = raws.len().div_ceil(threads);
    let mut chunks: Vec<Vec<Vec<u8>>> = Vec::with_capacity(threads);
    let mut rest = raws.into_iter();
    loop {
        let chunk: Vec<Vec<u8>> = rest.by_ref().take(per).collect();
        if chunk.is_empty() {
            break;
        }
        chunks.push(chunk);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| s.spawn(move || chunk.into_iter().map(prepare).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .expect("parsing never panics: mail-parser's panics are caught")
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_keep_archive_order_on_every_thread_count() {
        let dir = tempfile::tempdir().unwrap();
        let mut mbox = Vec::new();
        for i in 0..103 {
            mbox.extend_from_slice(
                format!(
                    "From a@x Mon Jan  4 10:00:00 2021\nFrom: a@x.org\nSubject: m{i}\nMessage-ID: <{i}@x>\n\nbody {i}\n\n"
                )
                .as_bytes(),
            );
        }
        let path = dir.path().join("a.mbox");
        std::fs::write(&path, &mbox).unwrap();
        let inputs = archive::inputs(&[path]).unwrap();
        for threads in [1, 2, 3, 8] {
            let mut ids = Vec::new();
            let mut sizes = Vec::new();
            run::<ArchiveError>(&inputs, 10, threads, |batch, _| {
                sizes.push(batch.len());
                ids.extend(batch.into_iter().map(|m| m.prepared.message_id));
                Ok(())
            })
            .unwrap();
            let want: Vec<String> = (0..103).map(|i| format!("{i}@x")).collect();
            assert_eq!(ids, want, "{threads} threads");
            assert_eq!(sizes.iter().sum::<usize>(), 103);
            assert!(sizes.iter().all(|&n| n <= 10));
        }
    }

    #[test]
    fn a_writer_error_stops_the_reading() {
        let dir = tempfile::tempdir().unwrap();
        let mut mbox = Vec::new();
        for i in 0..50 {
            mbox.extend_from_slice(
                format!("From a@x Mon Jan  4 10:00:00 2021\nSubject: m{i}\n\nb\n\n").as_bytes(),
            );
        }
        let path = dir.path().join("a.mbox");
        std::fs::write(&path, &mbox).unwrap();
        let inputs = archive::inputs(&[path]).unwrap();
        let mut calls = 0;
        let r = run::<ArchiveError>(&inputs, 5, 2, |_, _| {
            calls += 1;
            Err(ArchiveError {
                path: "x".into(),
                cause: std::io::Error::other("disk full"),
            })
        });
        assert_eq!(r.unwrap_err().cause.to_string(), "disk full");
        assert_eq!(calls, 1);
    }
}
