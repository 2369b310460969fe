//! `praxis init`: create or upgrade the database and record the communities.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;

/// Runs `praxis init`.
pub fn run(ctx: &Context) -> Result<ExitCode> {
    let config = ctx.config()?;
    let db = config.database().map_err(anyhow::Error::msg)?;
    let existed = db.sqlite_path().is_some_and(|p| p.exists());
    let store = ctx.store(&config)?;
    let communities = store.communities()?;
    ctx.out.say(format!(
        "{} database {} (schema version {}); communities: {}",
        match (&db, existed) {
            (crate::config::Database::Postgres { .. }, _) => "migrated",
            (_, true) => "upgraded",
            (_, false) => "created",
        },
        db,
        store.schema_version()?,
        communities
            .iter()
            .map(|c| c.slug.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(ExitCode::SUCCESS)
}
