//! `praxis search QUERY`: the archive's search (the grammar the web's
//! `/c/SLUG/search` shares, `search_query.rs`), Consolidated Replies ranked
//! above posts, with snippets, a page at a time.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Context;
use crate::search_query::SearchQuery;
use crate::store::{PageRequest, SearchScope};

/// `praxis search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to find. Words: all must occur; "a phrase" as written; `fluor*`
    /// every word it begins. Filters: `from:asha` or `from:"Asha Rao"` (the
    /// sender's name or address contains it; on a Consolidated Reply, who
    /// compiled it), `subject:flood` or `subject:"boat clinics"`,
    /// `kind:reply` or `kind:post`, `after:2026-11-01` (from that day on),
    /// `before:2026-12-01` (up to that day). Days are in the community's
    /// time zone with -c (or when there is one community), else UTC. Filters
    /// alone list the newest first. Any other `word:` is words.
    pub text: String,
    /// Only this community.
    #[arg(short, long)]
    pub community: Option<String>,
    /// Results per page.
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    /// Which page of results, from 1.
    #[arg(long, default_value_t = 1)]
    pub page: i64,
}

/// Runs `praxis search`.
pub fn run(ctx: &Context, args: &SearchArgs) -> Result<ExitCode> {
    let query = match SearchQuery::parse(&args.text) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("error: {}", super::output::safe(&e.to_string()));
            return Ok(ExitCode::from(2));
        }
    };
    let config = ctx.config()?;
    let store = ctx.store(&config)?;
    let community = ctx.community_filter(&config, &store, args.community.as_deref())?;
    // Days are read in the community's zone: the one named, or the only one.
    let zone = match (args.community.as_deref(), config.communities.as_slice()) {
        (Some(slug), _) => config.community(slug).map_err(anyhow::Error::msg)?.timezone,
        (None, [only]) => only.timezone,
        (None, _) => chrono_tz::UTC,
    };
    let scope = SearchScope {
        community,
        zone,
        now: crate::store::now(),
    };
    let page = store.search_archive(
        &query,
        &scope,
        PageRequest {
            page: args.page,
            per_page: args.limit,
        },
    )?;
    if ctx.out.json {
        ctx.out.json(&page.hits)?;
        return Ok(ExitCode::SUCCESS);
    }
    ctx.out.table(
        &["kind", "id", "community", "subject", "snippet"],
        page.hits
            .iter()
            .map(|h| {
                vec![
                    h.kind.as_str().to_string(),
                    h.id.to_string(),
                    h.community.clone(),
                    h.subject.clone(),
                    h.snippet.clone(),
                ]
            })
            .collect(),
    );
    let n = page.hits.len();
    let mut line = format!("{n} result{}", if n == 1 { "" } else { "s" });
    if page.page > 1 {
        line.push_str(&format!(" on page {}", page.page));
    }
    if page.has_more {
        line.push_str(&format!("; more with --page {}", page.page + 1));
    }
    ctx.out.say(line);
    Ok(ExitCode::SUCCESS)
}
