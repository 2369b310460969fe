//! `praxis experts -c SLUG TEXT | --post POST`: the members most likely to
//! know the answer, each with the threads and interests that say so.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::Context;
use crate::model::PostId;
use crate::store::{ExpertsFor, Store};

/// `praxis experts`.
#[derive(Debug, Args)]
pub struct ExpertsArgs {
    /// The community (with TEXT; a post names its own).
    #[arg(short, long)]
    pub community: Option<String>,
    /// The question, in words.
    #[arg(conflicts_with = "post", required_unless_present = "post")]
    pub text: Vec<String>,
    /// A post's id instead of TEXT: its subject and words (its author and
    /// its own thread left out).
    #[arg(long)]
    pub post: Option<i64>,
    /// At most this many members.
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
}

/// Runs `praxis experts`.
pub fn run(ctx: &Context, args: &ExpertsArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let store = ctx.store(&config)?;
    let experts = find(&config, &store, args)?;
    if ctx.out.json {
        ctx.out.json(&experts)?;
        return Ok(ExitCode::SUCCESS);
    }
    if experts.is_empty() {
        ctx.out.say(
            "no member has responded in a similar thread or named a matching interest; \
             members give interests with `set interests …` by mail or on their page",
        );
    }
    for (i, e) in experts.iter().enumerate() {
        let who = match (e.name.is_empty(), e.organisation.is_empty()) {
            (true, _) => e.email.clone(),
            (false, true) => format!("{} <{}>", e.name, e.email),
            (false, false) => format!("{} ({}) <{}>", e.name, e.organisation, e.email),
        };
        ctx.out
            .say(format!("{}. {who}  score {:.2}", i + 1, e.score));
        for t in &e.threads {
            ctx.out.say(format!(
                "     responded in thread {}: {}{}",
                t.thread,
                t.subject,
                if t.credited {
                    " (credited in its Consolidated Reply)"
                } else {
                    ""
                }
            ));
        }
        if !e.interests.is_empty() {
            ctx.out
                .say(format!("     interests: {}", e.interests.join(", ")));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The ranking for the text or post `args` names.
fn find(
    config: &crate::config::Config,
    store: &Store,
    args: &ExpertsArgs,
) -> Result<Vec<crate::experts::Expert>> {
    let (slug, subject, text, thread, post, asker) = match args.post {
        Some(id) => {
            let p = store.post(PostId(id))?;
            if let Some(c) = &args.community
                && *c != p.community
            {
                bail!(
                    "post {id} is in {}, not {c}; leave out -c with --post",
                    p.community
                );
            }
            (
                p.community,
                p.subject,
                p.text,
                p.thread_id,
                Some(p.id),
                Some(p.from.to_lowercase()),
            )
        }
        None => {
            let Some(c) = args.community.clone() else {
                bail!("which community? add -c SLUG (praxis experts -c health 'solar fridges')");
            };
            (c, String::new(), args.text.join(" "), None, None, None)
        }
    };
    config.community(&slug).map_err(anyhow::Error::msg)?;
    let community = store.community(&slug)?.id;
    Ok(store.experts(
        community,
        &ExpertsFor {
            subject: &subject,
            text: &text,
            thread,
            post,
            asker: asker.as_deref(),
        },
        chrono::Utc::now().timestamp(),
        args.limit,
    )?)
}
