//! `praxis init`: create or upgrade the database and record the communities.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;

/// Runs `praxis init`.
pub fn run(ctx: &Context) -> Result<ExitCode> {
    let config = ctx.config()?;
    let db = config.database().map_err(anyhow::Error::msg)?;
    // Whether praxis had used this database before: the SQLite file
    // exists, or the PostgreSQL database (migrated on opening) already
    // records communities.
    let existed = match db.sqlite_path() {
        Some(p) => p.exists(),
        None => !crate::store::Store::open_database(&db)?
            .communities()?
            .is_empty(),
    };
    let store = ctx.store(&config)?;
    let communities = store.communities()?;
    ctx.out.say(format!(
        "{} database {} (schema version {}); communities: {}",
        if existed { "upgraded" } else { "created" },
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
