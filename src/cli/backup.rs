//! `praxis backup PATH`: a consistent copy of the database while the daemon runs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Context;

/// `praxis backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The new file to write (must not exist).
    pub path: PathBuf,
}

/// Runs `praxis backup`.
pub fn run(ctx: &Context, args: &BackupArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let store = ctx.store(&config)?;
    store.backup(&args.path)?;
    let size = std::fs::metadata(&args.path).map(|m| m.len()).unwrap_or(0);
    ctx.out.say(format!(
        "backed up {} to {} ({} KB, schema version {}); to restore, stop praxis serve and copy it over {}",
        store.path().display(),
        args.path.display(),
        size / 1024,
        store.schema_version()?,
        store.path().display()
    ));
    Ok(ExitCode::SUCCESS)
}
