//! `praxis init`: create or upgrade the database and record the communities.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;

/// Runs `praxis init`.
pub fn run(ctx: &Context) -> Result<ExitCode> {
    let config = ctx.config()?;
    let existed = config.database_path().exists();
    let store = ctx.store(&config)?;
    let communities = store.communities()?;
    ctx.out.say(format!(
        "{} database {} (schema version {}); communities: {}",
        if existed { "upgraded" } else { "created" },
        store.path().display(),
        store.schema_version()?,
        communities
            .iter()
            .map(|c| c.slug.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(ExitCode::SUCCESS)
}
