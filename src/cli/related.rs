//! `praxis related POST`: the earlier threads and Consolidated Replies of
//! the post's community most likely to answer it (`store/related.rs`), best
//! first, with a score and the archive's link; also shown by `praxis show`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Context;
use crate::model::PostId;
use crate::store::RelatedThread;

/// `praxis related`.
#[derive(Debug, Args)]
pub struct RelatedArgs {
    /// The post's id (`praxis queue` and `praxis threads` list them).
    pub post: i64,
    /// How many threads to list.
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
}

/// One line of `praxis show`'s "Related:" block: thread, subject, reply
/// mark, score, link.
pub fn line(t: &RelatedThread) -> String {
    let reply = match t.consolidated_reply {
        Some(_) => " [Consolidated Reply]",
        None => "",
    };
    format!(
        "thread {} \"{}\"{reply} score {:.1} {}",
        t.thread_id, t.subject, t.score, t.link
    )
}

/// Runs `praxis related`.
pub fn run(ctx: &Context, args: &RelatedArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let store = ctx.store(&config)?;
    let found = store.related_to_post(PostId(args.post), args.limit)?;
    if ctx.out.json {
        ctx.out.json(&found)?;
        return Ok(ExitCode::SUCCESS);
    }
    let n = found.len();
    ctx.out.table(
        &["thread", "subject", "reply", "score", "link"],
        found
            .into_iter()
            .map(|t| {
                vec![
                    t.thread_id.to_string(),
                    t.subject,
                    t.consolidated_reply
                        .map(|r| format!("yes ({r})"))
                        .unwrap_or_else(|| "no".into()),
                    format!("{:.1}", t.score),
                    t.link,
                ]
            })
            .collect(),
    );
    ctx.out.say(if n == 0 {
        format!(
            "no earlier thread of post {}'s community shares its distinctive words",
            args.post
        )
    } else {
        format!("{n} related thread{}", if n == 1 { "" } else { "s" })
    });
    Ok(ExitCode::SUCCESS)
}
