//! Arguments of the commands whose capability has not landed yet, and the one
//! clear line each prints until it does (exit 1). Each moves to its own file
//! when its issue is built.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Command;

/// `praxis demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's database and delivered mail in this folder.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Prints which capability a not-yet-built command belongs to; exit 1.
pub fn run(cmd: &Command) -> Result<ExitCode> {
    let (name, capability) = match cmd {
        Command::Demo(_) => ("demo", "the demo (issue 8)"),
        _ => ("this command", "a later release"),
    };
    eprintln!("error: `praxis {name}` is not built yet; it arrives with {capability}");
    Ok(ExitCode::FAILURE)
}
