//! `praxis mark THREAD KIND`: re-mark a thread as a query, a discussion or
//! an announcement. Marking a query starts its working-day clock from when
//! its first post was approved.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::Context;
use crate::model::ThreadKind;

/// `praxis mark`.
#[derive(Debug, Args)]
pub struct MarkArgs {
    /// The thread id, as `praxis threads` lists it.
    pub thread: i64,
    /// query, discussion or announcement.
    pub kind: String,
}

/// Runs `praxis mark`.
pub fn run(ctx: &Context, args: &MarkArgs) -> Result<ExitCode> {
    let kind: ThreadKind = args.kind.parse().map_err(|_| {
        anyhow::anyhow!(
            "`{}` is not a thread kind; use query, discussion or announcement",
            args.kind
        )
    })?;
    let config = ctx.config()?;
    let mut store = ctx.store(&config)?;
    let Some(was) = store.mark_thread(args.thread, kind)? else {
        bail!(
            "thread {} does not exist; `praxis threads` lists threads by id",
            args.thread
        );
    };
    let mut said = format!("thread {}: {was} → {}", args.thread, kind.as_str());
    if kind == ThreadKind::Query
        && let Some(q) = store.query(args.thread)?
        && let Some(root) = store.thread_root(args.thread)?
    {
        let cfg = config.community(&q.slug).map_err(anyhow::Error::msg)?;
        if let Some(due) = crate::consolidate::on_approved(&mut store, cfg, root)? {
            said.push_str(&format!(
                "; Consolidated Reply due {}",
                super::output::local_time(due.timestamp(), cfg.tz())
            ));
        }
    }
    ctx.out.say(said);
    Ok(ExitCode::SUCCESS)
}
