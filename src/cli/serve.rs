//! `praxis serve`: load the config, open the database, hand over to the daemon.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;

/// Runs the daemon until SIGINT or SIGTERM.
pub fn run(ctx: &Context) -> Result<ExitCode> {
    let config = ctx.config()?;
    // Opening here migrates the database before any task starts.
    drop(ctx.store(&config)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::daemon::run(
        config,
        crate::shutdown::shutdown_signal(),
    ))?;
    Ok(ExitCode::SUCCESS)
}
