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

/// `praxis ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The community the message was sent to.
    #[arg(short, long)]
    pub community: String,
}

/// `praxis import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The community to import into.
    #[arg(short, long)]
    pub community: String,
    /// mbox files or Maildir folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// `praxis queue`.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Only this community.
    #[arg(short, long)]
    pub community: Option<String>,
}

/// `praxis show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The post's id.
    pub post: i64,
}

/// Post ids and ranges.
#[derive(Debug, Args)]
pub struct PostsArgs {
    /// Post ids or ranges (12-20).
    #[arg(required = true)]
    pub posts: Vec<String>,
    /// The moderator deciding (default: $USER).
    #[arg(long = "as")]
    pub actor: Option<String>,
}

/// `praxis approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The posts.
    #[command(flatten)]
    pub posts: PostsArgs,
    /// Also let the sender post without moderation from now on.
    #[arg(long)]
    pub trust: bool,
}

/// `praxis reject`.
#[derive(Debug, Args)]
pub struct RejectArgs {
    /// The posts.
    #[command(flatten)]
    pub posts: PostsArgs,
    /// Why, in words the author will read.
    #[arg(long, required = true)]
    pub reason: String,
}

/// `praxis threads`.
#[derive(Debug, Args)]
pub struct ThreadsArgs {
    /// Only this community.
    #[arg(short, long)]
    pub community: Option<String>,
    /// Only queries.
    #[arg(long)]
    pub queries: bool,
    /// Only queries past their deadline.
    #[arg(long)]
    pub overdue: bool,
}

/// `praxis consolidate`.
#[derive(Debug, Args)]
pub struct ConsolidateArgs {
    /// The query's thread id.
    pub query: i64,
    /// Store this file as the next draft version instead of opening an editor.
    #[arg(long, conflicts_with = "print")]
    pub from: Option<PathBuf>,
    /// Print the current draft.
    #[arg(long)]
    pub print: bool,
}

/// `praxis publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The query's thread id.
    pub query: i64,
    /// Send at this time (community time zone) instead of now.
    #[arg(long)]
    pub at: Option<String>,
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

/// `praxis search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to find.
    pub text: String,
    /// Only this community.
    #[arg(short, long)]
    pub community: Option<String>,
}

/// Prints which capability a not-yet-built command belongs to; exit 1.
pub fn run(cmd: &Command) -> Result<ExitCode> {
    let (name, capability) = match cmd {
        Command::Demo(_) => ("demo", "the demo (issue 8)"),
        Command::Ingest(_) => ("ingest", "ingest and threading (issue 3)"),
        Command::Import(_) => ("import", "ingest and threading (issue 3)"),
        Command::Show(_) => ("show", "ingest and threading (issue 3)"),
        Command::Threads(_) => ("threads", "ingest and threading (issue 3)"),
        Command::Search(_) => ("search", "ingest and threading (issue 3)"),
        Command::Queue(_) => ("queue", "the moderation queue (issue 4)"),
        Command::Approve(_) => ("approve", "the moderation queue (issue 4)"),
        Command::Reject(_) => ("reject", "the moderation queue (issue 4)"),
        Command::Discard(_) => ("discard", "the moderation queue (issue 4)"),
        Command::Defer(_) => ("defer", "the moderation queue (issue 4)"),
        Command::Consolidate(_) => ("consolidate", "Consolidated Replies (issue 6)"),
        Command::Publish(_) => ("publish", "Consolidated Replies (issue 6)"),
        Command::Digest(_) => ("digest", "digests (issue 7)"),
        _ => ("this command", "a later release"),
    };
    eprintln!("error: `praxis {name}` is not built yet; it arrives with {capability}");
    Ok(ExitCode::FAILURE)
}
