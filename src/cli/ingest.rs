//! `praxis ingest -c COMMUNITY < message`: one message from an MTA pipe.
//!
//! Exit codes are the sysexits an MTA understands: 0 once committed (a
//! duplicate is committed already), 75 (EX_TEMPFAIL) when the config or the
//! database cannot be used now, so the MTA keeps the mail and retries, and 65
//! (EX_DATAERR) when the message cannot be parsed — it is still kept raw and
//! held.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Context;
use crate::community::Communities;
use crate::ingest::pipeline::{self, Incoming};
use crate::model::{PostId, PostState, Source, ThreadId};
use crate::store::{Store, Stored, now};

/// EX_DATAERR: the input was bad (but was kept).
pub const EX_DATAERR: u8 = 65;
/// EX_TEMPFAIL: try again later.
pub const EX_TEMPFAIL: u8 = 75;

/// `praxis ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The community the message was sent to.
    #[arg(short, long)]
    pub community: String,
    /// The envelope recipient (default: $ORIGINAL_RECIPIENT or $RECIPIENT, as Postfix sets them).
    #[arg(long)]
    pub recipient: Option<String>,
}

/// What one message became, for `praxis demo`.
#[derive(Debug, Clone, Copy)]
pub struct Ingested {
    /// The post (or the post it duplicates).
    pub post: PostId,
    /// Its thread, for posts.
    pub thread: Option<ThreadId>,
    /// Where policy put it.
    pub state: PostState,
}

/// Runs `praxis ingest`.
pub fn run(ctx: &Context, args: &IngestArgs) -> Result<ExitCode> {
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut raw) {
        eprintln!(
            "praxis ingest: cannot read the message from standard input: {e}; the MTA will retry (exit {EX_TEMPFAIL})"
        );
        return Ok(ExitCode::from(EX_TEMPFAIL));
    }
    Ok(run_with(ctx, args, &raw)?.0)
}

/// `praxis ingest` of `raw`: the exit code, and what the message became
/// once it is committed.
pub fn run_with(
    ctx: &Context,
    args: &IngestArgs,
    raw: &[u8],
) -> Result<(ExitCode, Option<Ingested>)> {
    let tempfail = |what: String| {
        eprintln!("praxis ingest: {what}; the MTA will retry (exit {EX_TEMPFAIL})");
        Ok((ExitCode::from(EX_TEMPFAIL), None))
    };
    let config = match ctx.config() {
        Ok(c) => c,
        Err(e) => return tempfail(format!("{e:#}")),
    };
    if let Err(e) = config.community(&args.community) {
        return tempfail(e);
    }
    let db = match config.database() {
        Ok(db) => db,
        Err(e) => return tempfail(e),
    };
    let mut store = match Store::open_database(&db) {
        Ok(s) => s,
        Err(e) => return tempfail(e.to_string()),
    };
    if let Err(e) = store.sync_communities(&config) {
        return tempfail(e.to_string());
    }
    let communities = match Communities::load(&config, &store) {
        Ok(c) => c,
        Err(e) => return tempfail(e.to_string()),
    };
    let community = match communities.by_slug(&args.community) {
        Ok(c) => c,
        Err(e) => return tempfail(e.to_string()),
    };
    let envelope = args
        .recipient
        .clone()
        .or_else(|| std::env::var("ORIGINAL_RECIPIENT").ok())
        .or_else(|| std::env::var("RECIPIENT").ok())
        .filter(|s| !s.is_empty());
    let result = (|| {
        let batch = store.batch()?;
        let outcome = pipeline::ingest(
            &batch,
            community,
            Incoming {
                raw,
                source: Source::Pipe,
                envelope_to: envelope.as_deref(),
                received_at: now(),
            },
        )?;
        batch.commit()?;
        Ok::<_, crate::store::StoreError>(outcome)
    })();
    let outcome = match result {
        Ok(o) => o,
        Err(e) if e.is_temporary() => return tempfail(e.to_string()),
        Err(e) => return tempfail(format!("cannot store the message: {e}")),
    };
    // Committed: the MTA may forget the message whatever happens next.
    if let Err(e) = crate::effects::after_ingest(
        &mut store,
        &config,
        community,
        raw,
        envelope.as_deref(),
        &outcome,
    ) {
        crate::effects::log_failure("after storing the message", &e);
    }
    let ingested = match outcome.stored {
        Stored::Duplicate(id) => {
            ctx.out
                .say(format!("duplicate of post {id}; nothing stored"));
            Ingested {
                post: id,
                thread: None,
                state: outcome.state,
            }
        }
        Stored::New { post, thread, .. } => {
            let mut line = format!(
                "stored post {post} in {}: {}",
                community.slug(),
                outcome.class
            );
            if let Some(r) = &outcome.hold_reason {
                line.push_str(&format!(", {} ({r})", outcome.state));
            } else {
                line.push_str(&format!(", {}", outcome.state));
            }
            ctx.out.say(line);
            Ingested {
                post,
                thread,
                state: outcome.state,
            }
        }
    };
    if outcome.unparseable() {
        eprintln!(
            "praxis ingest: the message could not be parsed; it is kept raw and held (exit {EX_DATAERR})"
        );
        return Ok((ExitCode::from(EX_DATAERR), Some(ingested)));
    }
    Ok((ExitCode::SUCCESS, Some(ingested)))
}
