//! `praxis mark THREAD KIND`: re-mark a thread as a query, a discussion or
//! an announcement. Marking a query starts its working-day clock from when
//! its first post was approved. `praxis mark --post POST KIND` marks any
//! post: one inside a thread (a new question asked in a discussion) is split
//! off with its replies into a thread of its own, of that kind.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::Context;
use crate::config::Config;
use crate::model::{PostId, ThreadId, ThreadKind};
use crate::store::Store;

/// `praxis mark`.
#[derive(Debug, Args)]
pub struct MarkArgs {
    /// The thread id, as `praxis threads` lists it (a post id with `--post`).
    pub thread: i64,
    /// query, discussion or announcement.
    pub kind: String,
    /// The id is a post's (`praxis show` gives it): a post inside a thread
    /// starts a thread of its own with its replies.
    #[arg(long)]
    pub post: bool,
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
    if args.post {
        return split(ctx, &config, &mut store, PostId(args.thread), kind);
    }
    let thread = ThreadId(args.thread);
    let Some(was) = store.mark_thread(thread, kind)? else {
        bail!(
            "thread {} does not exist; `praxis threads` lists threads by id",
            args.thread
        );
    };
    let mut said = format!("thread {thread}: {was} → {}", kind.as_str());
    said.push_str(&start_clock(&config, &mut store, thread, kind)?);
    ctx.out.say(said);
    Ok(ExitCode::SUCCESS)
}

/// `--post`: a thread's root re-marks the thread; any other post is split
/// off with its replies.
fn split(
    ctx: &Context,
    config: &Config,
    store: &mut Store,
    post: PostId,
    kind: ThreadKind,
) -> Result<ExitCode> {
    let view = store.post(post)?;
    let Some(thread) = view.thread_id else {
        bail!(
            "post {post} is in no thread (it is {}); only approved posts are threaded",
            view.state
        );
    };
    let mut said = match store.split_thread(post, kind)? {
        Some(s) => format!(
            "post {post}: split from thread {} with {} repl{} into thread {} ({})",
            s.from,
            s.posts - 1,
            if s.posts == 2 { "y" } else { "ies" },
            s.to,
            kind.as_str()
        ),
        None => {
            let was = store
                .mark_thread(thread, kind)?
                .map(ThreadKind::as_str)
                .unwrap_or_default();
            format!(
                "post {post} starts thread {thread}: {was} → {}",
                kind.as_str()
            )
        }
    };
    let started = store.post(post)?.thread_id.unwrap_or(thread);
    said.push_str(&start_clock(config, store, started, kind)?);
    ctx.out.say(said);
    Ok(ExitCode::SUCCESS)
}

/// For a query, sets the deadline from when its first post was approved;
/// what to add to the message about it.
fn start_clock(
    config: &Config,
    store: &mut Store,
    thread: ThreadId,
    kind: ThreadKind,
) -> Result<String> {
    if kind == ThreadKind::Query
        && let Some(q) = store.query(thread)?
        && let Some(root) = store.thread_root(thread)?
    {
        let cfg = config.community(&q.slug).map_err(anyhow::Error::msg)?;
        if let Some(due) = crate::consolidate::on_approved(store, cfg, root)? {
            return Ok(format!(
                "; Consolidated Reply due {}",
                super::output::local_time(due.timestamp(), cfg.timezone)
            ));
        }
    }
    Ok(String::new())
}
