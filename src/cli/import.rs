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
use crate::ingest::bulk;
use crate::ingest::pipeline::{self, Incoming};
use crate::model::Source;
use crate::store::{Checkpointer, Store, StoreError, Stored, now};

/// Messages per transaction (and per parsed batch: memory is bounded by
/// five batches, three in flight through `ingest::bulk` and two written
/// ones on their way to the freeing thread).
const BATCH: usize = 500;

/// Commits between two checkpoints (about 16 MB of WAL on the generated
/// benchmark Maildir): each checkpoint writes a batch's index pages into
/// the database once for several batches.
const CHECKPOINT_EVERY: usize = 4;

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
    let shown = !(ctx.out.quiet || ctx.out.json || !std::io::stderr().is_terminal());
    // A stat per file only for a bar someone sees.
    let total_bytes: u64 = if shown {
        inputs
            .iter()
            .map(|i| std::fs::metadata(i.path()).map(|m| m.len()).unwrap_or(0))
            .sum()
    } else {
        0
    };

    let bar = ProgressBar::new(total_bytes);
    if !shown {
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
    // Messages are read and parsed on every core (ingest/bulk.rs) while
    // this thread stores them, BATCH to a transaction; each batch's search
    // index rows are written in one statement at its commit
    // (`Store::import_batch`). A commit per message file made the import
    // spend most of its time writing the WAL.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let checkpointer = Checkpointer::start(store.path())?;
    let mut batches = 0usize;
    // What a batch leaves (its bytes and parses) is freed on a thread of
    // its own: the parse threads allocated it, and freeing it here made
    // this thread wait for their allocator's locks (glibc frees a block in
    // the arena of the thread that allocated it).
    let (spent_tx, spent_rx) =
        std::sync::mpsc::sync_channel::<Vec<(Vec<u8>, pipeline::Outcome)>>(1);
    let dropper = std::thread::Builder::new()
        .name("import-free".into())
        .spawn(move || spent_rx.into_iter().for_each(drop))
        .ok();
    let written = bulk::run(&inputs, BATCH, threads, |messages, progress| {
        let batch = store.import_batch()?;
        let t = now();
        let mut spent = Vec::with_capacity(messages.len());
        for m in messages {
            s.messages += 1;
            let o = pipeline::ingest_prepared(
                &batch,
                &target,
                Incoming {
                    raw: &m.raw,
                    source: Source::Import,
                    envelope_to: None,
                    received_at: t,
                },
                m.prepared,
            )?;
            match o.stored {
                Stored::Duplicate(_) => s.duplicates += 1,
                Stored::New { .. } if o.unparseable() => s.unparseable += 1,
                Stored::New { .. } => s.imported += 1,
            }
            spent.push((m.raw, o));
        }
        batch.commit()?;
        // Without the thread its receiver is gone, and `send` hands the
        // batch back to be dropped here.
        let _ = spent_tx.send(spent);
        batches += 1;
        if batches.is_multiple_of(CHECKPOINT_EVERY) {
            checkpointer.nudge();
        }
        bar.set_message(format!("{} messages", s.messages));
        bar.set_position(
            bar.position()
                .max((progress.inputs_done_bytes + progress.current_input_bytes).min(total_bytes)),
        );
        Ok::<(), ImportError>(())
    });
    // The batches were committed unsynced (`Store::tune_for_import`): they
    // reach the disk here, before anything is reported stored, and after
    // a failure too, so a second run has less to do.
    checkpointer.finish();
    drop(spent_tx);
    if let Some(d) = dropper {
        let _ = d.join();
    }
    let synced = store.sync_wal();
    written?;
    synced?;
    store.settle_after_import()?;
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
