//! `praxis check`: validate the config and report every problem at once.

use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use super::Context;
use crate::config::{Config, Problem, unset_envs};

#[derive(Serialize)]
struct Report<'a> {
    config: String,
    ok: bool,
    communities: Vec<&'a str>,
    problems: &'a [Problem],
}

/// Runs `praxis check`: exit 0 when clean, 1 with every problem listed.
pub fn run(ctx: &Context) -> Result<ExitCode> {
    let (config, mut problems) = Config::load_unchecked(&ctx.cli.config)?;
    // Secrets named by environment variable must be there when the daemon
    // starts; `check` is run in its environment (loading alone does not
    // ask, so commands work from a shell without the daemon's secrets).
    problems.extend(unset_envs(&config, &|var| std::env::var(var).ok()));
    let slugs: Vec<&str> = config.communities.iter().map(|c| c.slug.as_str()).collect();
    if ctx.out.json {
        ctx.out.json(&Report {
            config: ctx.cli.config.display().to_string(),
            ok: problems.is_empty(),
            communities: slugs,
            problems: &problems,
        })?;
    } else if problems.is_empty() {
        ctx.out.say(format!(
            "{}: ok ({} {}: {})",
            ctx.cli.config.display(),
            slugs.len(),
            if slugs.len() == 1 {
                "community"
            } else {
                "communities"
            },
            slugs.join(", ")
        ));
    } else {
        eprintln!(
            "{}: {} problem{}",
            ctx.cli.config.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        for p in &problems {
            eprintln!("  {}: {}\n      fix: {}", p.key, p.message, p.fix);
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
