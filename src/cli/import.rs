//! `praxis import -c COMMUNITY PATH...`: mbox files and Maildirs as approved
//! history, streamed, with a progress bar and a summary that adds up.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::Context;
use crate::ingest::archive::{self, ArchiveError};
use crate::ingest::pipeline::{self, Incoming};
use crate::model::Source;
use crate::store::{Store, StoreError, Stored, now};

/// Messages per transaction.
const BATCH: usize = 500;

/// `praxis import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The community to import into.
    #[arg(short, long)]
    pub community: String,
    /// mbox files (.gz too), Maildirs, or folders of messages.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// The summary; the JSON field names are the contract.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Messages read.
    pub messages: u64,
    /// Stored as new posts (parsed).
    pub imported: u64,
    /// Already in the database.
    pub duplicates: u64,
    /// Kept raw and held: could not be parsed.
    pub unparseable: u64,
    /// Threads in the community after the import.
    pub threads: i64,
}

#[derive(Debug, thiserror::Error)]
enum ImportError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs `praxis import`.
pub fn run(ctx: &Context, args: &ImportArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    config
        .community(&args.community)
        .map_err(anyhow::Error::msg)?;
    let mut store: Store = ctx.store(&config)?;
    let communities = ctx.communities(&config, &store)?;
    let target = communities.by_slug(&args.community)?.clone();
    store.tune_for_import()?;
    let inputs = archive::inputs(&args.paths).context("finding messages to import")?;
    let total_bytes: u64 = inputs
        .iter()
        .map(|i| std::fs::metadata(i.path()).map(|m| m.len()).unwrap_or(0))
        .sum();

    let bar = ProgressBar::new(total_bytes);
    if ctx.out.quiet || ctx.out.json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {msg} {binary_bytes_per_sec} ETA {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));

    let mut s = Summary::default();
    let started = std::time::Instant::now();
    // One transaction per BATCH messages across inputs: a Maildir is one
    // input per message file, and a commit per file made the import spend
    // most of its time writing the WAL (about 130 pages per message).
    let mut pending: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut flush = |pending: &mut Vec<Vec<u8>>, s: &mut Summary| -> Result<(), ImportError> {
        if pending.is_empty() {
            return Ok(());
        }
        let batch = store.batch()?;
        let t = now();
        for raw in pending.iter() {
            let o = pipeline::ingest(
                &batch,
                &target,
                Incoming {
                    raw,
                    source: Source::Import,
                    envelope_to: None,
                    received_at: t,
                },
            )?;
            match o.stored {
                Stored::Duplicate(_) => s.duplicates += 1,
                Stored::New { .. } if o.unparseable() => s.unparseable += 1,
                Stored::New { .. } => s.imported += 1,
            }
        }
        batch.commit()?;
        pending.clear();
        Ok(())
    };
    let mut read_total = 0u64;
    for input in &inputs {
        let mut read_bytes = 0u64;
        archive::read_messages(input, |raw| {
            s.messages += 1;
            read_bytes += raw.len() as u64;
            pending.push(raw);
            if pending.len() >= BATCH {
                flush(&mut pending, &mut s)?;
                bar.set_message(format!("{} messages", s.messages));
                bar.set_position(
                    bar.position()
                        .max((read_total + read_bytes).min(total_bytes)),
                );
            }
            Ok::<(), ImportError>(())
        })?;
        let done: u64 = std::fs::metadata(input.path())
            .map(|m| m.len())
            .unwrap_or(0);
        read_total += done.max(read_bytes);
    }
    flush(&mut pending, &mut s)?;
    bar.set_position(total_bytes);
    bar.set_message(format!("{} messages", s.messages));
    bar.finish_and_clear();
    s.threads = store.thread_count(target.id)?;
    let secs = started.elapsed().as_secs_f64();

    if ctx.out.json {
        ctx.out.json(&s)?;
    } else {
        ctx.out.say(format!(
            "{} messages: {} imported, {} duplicates, {} unparseable (kept raw and held); {} threads in {} ({:.0} messages/s)",
            s.messages,
            s.imported,
            s.duplicates,
            s.unparseable,
            s.threads,
            target.slug(),
            s.messages as f64 / secs.max(1e-9)
        ));
    }
    Ok(ExitCode::SUCCESS)
}
