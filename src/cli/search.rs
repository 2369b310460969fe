//! `praxis search TEXT`: full text over posts and published Consolidated
//! Replies, ranked by bm25, with snippets.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Context;

/// `praxis search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to find: all of them must occur; "a phrase" as written; a word
    /// ending in * finds every word it begins (e.g. `praxis search 'fluor*'`).
    pub text: String,
    /// Only this community.
    #[arg(short, long)]
    pub community: Option<String>,
    /// At most this many results.
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
}

/// Runs `praxis search`.
pub fn run(ctx: &Context, args: &SearchArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let store = ctx.store(&config)?;
    let community = ctx.community_filter(&config, &store, args.community.as_deref())?;
    let limit = args.limit.max(1);
    let mut hits = store.search(&args.text, community, limit)?;
    hits.extend(store.search_replies(&args.text, community, limit, crate::store::now())?);
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits.truncate(limit as usize);
    if ctx.out.json {
        ctx.out.json(&hits)?;
        return Ok(ExitCode::SUCCESS);
    }
    ctx.out.table(
        &["kind", "id", "community", "subject", "snippet"],
        hits.iter()
            .map(|h| {
                vec![
                    h.kind.clone(),
                    h.id.to_string(),
                    h.community.clone(),
                    h.subject.clone(),
                    h.snippet.clone(),
                ]
            })
            .collect(),
    );
    ctx.out.say(format!(
        "{} result{}",
        hits.len(),
        if hits.len() == 1 { "" } else { "s" }
    ));
    Ok(ExitCode::SUCCESS)
}
