//! Arguments of the commands whose capability has not landed yet, and the one
//! clear line each prints until it does (exit 1). Each moves to its own file
//! when its issue is built.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::Command;

/// `praxis demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's database and delivered mail in this folder.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// `praxis digest`.
#[derive(Debug, Subcommand)]
pub enum DigestCommand {
    /// Print the digest that would go out now.
    Preview {
        /// The community.
        #[arg(short, long)]
        community: String,
        /// mime, plain or html.
        #[arg(long, default_value = "plain")]
        format: String,
    },
    /// Send the digest.
    Send {
        /// The community.
        #[arg(short, long)]
        community: String,
        /// Send now instead of at the next scheduled time.
        #[arg(long)]
        now: bool,
    },
}

/// Prints which capability a not-yet-built command belongs to; exit 1.
pub fn run(cmd: &Command) -> Result<ExitCode> {
    let (name, capability) = match cmd {
        Command::Demo(_) => ("demo", "the demo (issue 8)"),
        Command::Digest(_) => ("digest", "digests (issue 7)"),
        _ => ("this command", "a later release"),
    };
    eprintln!("error: `praxis {name}` is not built yet; it arrives with {capability}");
    Ok(ExitCode::FAILURE)
}
