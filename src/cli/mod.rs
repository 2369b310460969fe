//! The command line: clap definitions, one file per command group, and the
//! shared context (config, database, output format) they run in.
//!
//! Every listing and status command takes `--json` and prints a JSON array or
//! object whose field names are the contract in DESIGN.md; otherwise a table.
//! A command that changes state prints what it changed.

mod audit;
mod backup;
mod check;
mod consolidate;
mod crosspost;
mod db;
mod decide;
mod demo;
mod digest;
mod experts;
mod import;
mod ingest;
mod init;
mod man;
mod mark;
mod members;
mod outbox;
pub mod output;
mod publish;
mod queue;
mod refer;
mod related;
mod search;
mod serve;
mod show;
mod stats;
mod status;
mod threads;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};

use crate::community::Communities;
use clap::{Parser, Subcommand};

use crate::config::{self, Config};
use crate::store::Store;

pub use output::Output;

/// The whole command line.
#[derive(Debug, Parser)]
#[command(
    name = "praxis",
    version,
    about = "A moderated mailing-list digest engine for communities of practice",
    long_about = "praxis ingests a community's mail (IMAP IDLE, LMTP, an MTA pipe or an archive), \
                  holds what needs a moderator, tracks queries to their Consolidated Reply, and \
                  sends posts, digests and Consolidated Replies over SMTP. One binary is both the \
                  daemon (`praxis serve`) and the moderators' command line.",
    after_help = "Examples:\n  praxis init\n  praxis check\n  praxis members add alice@example.org --name 'Alice Rao' -c health\n  praxis queue --json\n\nExit codes: 0 ok, 1 error, 2 usage; `praxis ingest`: 75 retry later, 65 unparseable (kept)."
)]
pub struct Cli {
    /// The config file.
    #[arg(long, global = true, env = "PRAXIS_CONFIG", default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Print JSON instead of a table (listing and status commands).
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log format for the daemon's and commands' logs.
    #[arg(long, global = true, value_parser = ["human", "json"], default_value = "human")]
    pub log_format: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade the database and record the configured communities.
    #[command(after_help = "Example:\n  praxis --config /etc/praxis/praxis.toml init")]
    Init,
    /// Validate the config: every problem, with its key and the fix.
    #[command(after_help = "Example:\n  praxis check && systemctl reload praxis")]
    Check,
    /// Run the daemon: IMAP watchers, LMTP listener, scheduler, sender.
    #[command(after_help = "Example:\n  PRAXIS_IMAP_PASSWORD=... praxis serve -v")]
    Serve,
    /// Run the whole flow on the embedded default, with no servers.
    #[command(after_help = "Example:\n  praxis demo --dir /tmp/praxis-demo")]
    Demo(demo::DemoArgs),
    /// Ingest one message from standard input (for an MTA pipe).
    #[command(
        after_help = "Example (Postfix alias):\n  health: \"|/usr/local/bin/praxis ingest -c health\""
    )]
    Ingest(ingest::IngestArgs),
    /// Import mbox files or Maildirs as approved history.
    #[command(
        after_help = "Example:\n  praxis import -c health ~/archives/health-2019.mbox ~/Maildir/.health"
    )]
    Import(import::ImportArgs),
    /// List, add, change, remove or import members.
    #[command(
        subcommand,
        after_help = "Examples:\n  praxis members list -c health\n  praxis members import -c health members.csv"
    )]
    Members(members::MembersCommand),
    /// Held posts, oldest first, with the reason held.
    #[command(after_help = "Example:\n  praxis queue -c health")]
    Queue(queue::QueueArgs),
    /// One post: headers, text, thread, hold reason.
    #[command(after_help = "Example:\n  praxis show 42")]
    Show(show::ShowArgs),
    /// Approve held posts (ids or ranges like 12-20).
    #[command(
        after_help = "Example:\n  praxis approve 12 14-16 --trust\n  praxis approve 12 --announcement"
    )]
    Approve(decide::ApproveArgs),
    /// Reject held posts; the author is told the reason, or sent an
    /// earlier Consolidated Reply that answers them (--answered-by).
    #[command(
        after_help = "Examples:\n  praxis reject 13 --reason 'Off topic for this community'\n  praxis reject 13 --answered-by 4    (sends the author query 4's Consolidated Reply)"
    )]
    Reject(decide::RejectArgs),
    /// Discard held posts silently.
    #[command(after_help = "Example:\n  praxis discard 17 18")]
    Discard(decide::PostsArgs),
    /// Leave held posts for later.
    #[command(after_help = "Example:\n  praxis defer 19")]
    Defer(decide::PostsArgs),
    /// The audit log: every moderator act (decisions, members, consolidate,
    /// publish, mark, digests) with who, how, when and what it touched.
    #[command(
        visible_alias = "log",
        after_help = "Examples:\n  praxis audit -c health --since 2026-12-01\n  praxis audit --limit 20 --json"
    )]
    Audit(audit::AuditArgs),
    /// Re-mark a thread as a query, discussion or announcement.
    #[command(after_help = "Example:\n  praxis mark 7 query\n  praxis mark 8 announcement")]
    Mark(mark::MarkArgs),
    /// Threads and queries.
    #[command(
        after_help = "Example:\n  praxis threads -c health --queries --overdue\n  praxis threads -c health --flagged"
    )]
    Threads(threads::ThreadsArgs),
    /// Draft a query's Consolidated Reply in $EDITOR, or from a file.
    #[command(
        after_help = "Example:\n  praxis consolidate 7\n  praxis consolidate 7 --from draft.md"
    )]
    Consolidate(consolidate::ConsolidateArgs),
    /// Send a Consolidated Reply now or at a time.
    #[command(
        after_help = "Example:\n  praxis publish 7\n  praxis publish 7 --at '2026-12-01 09:00'\n  praxis publish 7 --cancel"
    )]
    Publish(publish::PublishArgs),
    /// Invite members to respond to an open query, by personal mail.
    #[command(
        after_help = "Example:\n  praxis refer 7 anjali@example.org ravi@example.org --why 'you ran the Sitapur KMC ward'\n\nEach member gets at most [community.policy] referrals_per_month invitations a month (default 2), one per query; members can opt out on their page."
    )]
    Refer(refer::ReferArgs),
    /// Send an open query to other communities too: one query, one reply.
    #[command(
        after_help = "Example:\n  praxis crosspost 7 -c disaster -c ict4d\n\nEach community's members get it with that community's prefix and footer (a member of several gets it once); responses in any of them join query 7, and its Consolidated Reply is published to all."
    )]
    Crosspost(crosspost::CrosspostArgs),
    /// Members most likely to know the answer, with why.
    #[command(
        after_help = "Example:\n  praxis experts -c health solar fridges for vaccines\n  praxis experts --post 42 --json\n\nEvidence: responses in the most similar threads (credited in a Consolidated Reply counts more, older counts less) and the interests members gave (`set interests …`)."
    )]
    Experts(experts::ExpertsArgs),
    /// Preview or send a community's digest.
    #[command(
        subcommand,
        after_help = "Examples:\n  praxis digest preview -c health --format plain\n  praxis digest send -c health --now"
    )]
    Digest(digest::DigestCommand),
    /// Outgoing messages and their deliveries.
    #[command(
        after_help = "Examples:\n  praxis outbox --failed\n  praxis outbox -c health --json\n  praxis outbox retry 12"
    )]
    Outbox(outbox::OutboxArgs),
    /// Daemon health, queue depths, last sync per community.
    #[command(after_help = "Example:\n  praxis status --json")]
    Status,
    /// A community's health in figures, per month: queries answered and how
    /// fast, responses, members joining, leaving and active, posts, bounces.
    #[command(
        after_help = "Examples:\n  praxis stats -c health\n  praxis stats -c health --since 2026-01-01 --json"
    )]
    Stats(stats::StatsArgs),
    /// Search posts and Consolidated Replies (replies first): words, "phrases", prefix*, from:, subject:, kind:, after:, before:.
    #[command(
        after_help = "Examples:\n  praxis search 'mobile clinics' -c health\n  praxis search '\"boat clinics\" from:asha after:2026-11-01' -c health\n  praxis search 'kind:reply subject:fluor*' --page 2"
    )]
    Search(search::SearchArgs),
    /// Earlier threads and Consolidated Replies that may answer a post, best first.
    #[command(after_help = "Examples:\n  praxis related 42\n  praxis related 42 --limit 10 --json")]
    Related(related::RelatedArgs),
    /// Copy the database consistently, even while `praxis serve` runs.
    #[command(
        after_help = "Example:\n  praxis backup /var/backups/praxis-$(date +%F).db\n\nRestore: stop praxis serve, copy the backup over database.path, start it again."
    )]
    Backup(backup::BackupArgs),
    /// The database itself: move an install from SQLite to PostgreSQL.
    #[command(
        subcommand,
        after_help = "Example:\n  praxis db copy --to postgres://praxis@db.example.org/praxis --password-env PGPASSWORD"
    )]
    Db(db::DbCommand),
    /// Print the manual page, or write one per command into a folder.
    #[command(
        after_help = "Example:\n  praxis man | man -l -\n  praxis man --dir /usr/local/share/man/man1"
    )]
    Man(man::ManArgs),
    /// Print shell completions.
    #[command(after_help = "Example:\n  praxis completions bash > /etc/bash_completion.d/praxis")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// What every command runs with.
pub struct Context {
    /// The parsed command line.
    pub cli: Cli,
    /// How to print.
    pub out: Output,
}

impl Context {
    /// Loads and checks the config named on the command line.
    pub fn config(&self) -> Result<Config> {
        Ok(Config::load(&self.cli.config)?)
    }

    /// Opens (and migrates) the configured database, recording the
    /// configured communities.
    pub fn store(&self, config: &Config) -> Result<Store> {
        let db = config.database().map_err(anyhow::Error::msg)?;
        let mut store = Store::open_database(&db)?;
        store.act_as(crate::store::audit::Actor {
            who: self.actor(config),
            how: crate::store::audit::How::Cli,
        });
        store
            .sync_communities(config)
            .with_context(|| format!("recording communities in {db}"))?;
        Ok(store)
    }

    /// Every configured community, resolved once for this command.
    pub fn communities(&self, config: &Config, store: &Store) -> Result<Communities> {
        Ok(Communities::load(config, store)?)
    }

    /// The row id of `-c COMMUNITY` when given, checked against the config.
    pub fn community_filter(
        &self,
        config: &Config,
        store: &Store,
        slug: Option<&str>,
    ) -> Result<Option<crate::model::CommunityId>> {
        match slug {
            Some(slug) => {
                config.community(slug).map_err(anyhow::Error::msg)?;
                Ok(Some(store.community(slug)?.id))
            }
            None => Ok(None),
        }
    }

    /// Who is acting, for the audit log: the login name, or the name
    /// `[moderators]` maps it to.
    pub fn actor(&self, config: &Config) -> String {
        let login = login_name().unwrap_or_else(|| "cli".to_string());
        config.moderators.get(&login).cloned().unwrap_or(login)
    }
}

/// The login name of whoever runs the command: `$USER`, `$LOGNAME`, or,
/// where neither is set (cron, `sudo -u`, a service manager), the password
/// database's name for the process's user id.
fn login_name() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|s| !s.is_empty())
        .or_else(login_of_uid)
}

/// The password database's name for the process's real user id.
#[cfg(unix)]
fn login_of_uid() -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: a zeroed passwd is a valid out-parameter; getpwuid_r writes
    // into it and `buf` (whose length it is told) and sets `found` to it on
    // success or to null; the name is read only while `buf` lives.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            libc::getuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        );
        if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(pwd.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// No password database to ask.
#[cfg(not(unix))]
fn login_of_uid() -> Option<String> {
    None
}

/// Runs a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let out = Output::new(cli.json, cli.quiet);
    let ctx = Context { cli, out };
    match &ctx.cli.command {
        Command::Init => init::run(&ctx),
        Command::Check => check::run(&ctx),
        Command::Serve => serve::run(&ctx),
        Command::Members(cmd) => members::run(&ctx, cmd),
        Command::Status => status::run(&ctx),
        Command::Stats(a) => stats::run(&ctx, a),
        Command::Ingest(a) => ingest::run(&ctx, a),
        Command::Import(a) => import::run(&ctx, a),
        Command::Show(a) => show::run(&ctx, a),
        Command::Threads(a) => threads::run(&ctx, a),
        Command::Consolidate(a) => consolidate::run(&ctx, a),
        Command::Publish(a) => publish::run(&ctx, a),
        Command::Refer(a) => refer::run(&ctx, a),
        Command::Crosspost(a) => crosspost::run(&ctx, a),
        Command::Experts(a) => experts::run(&ctx, a),
        Command::Mark(a) => mark::run(&ctx, a),
        Command::Search(a) => search::run(&ctx, a),
        Command::Related(a) => related::run(&ctx, a),
        Command::Queue(a) => queue::run(&ctx, a),
        Command::Approve(a) => decide::run_with(
            &ctx,
            crate::store::Action::Approve,
            &a.posts,
            None,
            a.trust,
            a.kind(),
        ),
        Command::Reject(a) => match a.answered_by {
            Some(query) => decide::answered_by(&ctx, &a.posts, query),
            None => decide::run(
                &ctx,
                crate::store::Action::Reject,
                &a.posts,
                a.reason.as_deref(),
                false,
            ),
        },
        Command::Discard(a) => decide::run(&ctx, crate::store::Action::Discard, a, None, false),
        Command::Defer(a) => decide::run(&ctx, crate::store::Action::Defer, a, None, false),
        Command::Audit(a) => audit::run(&ctx, a),
        Command::Backup(a) => backup::run(&ctx, a),
        Command::Db(cmd) => db::run(&ctx, cmd),
        Command::Outbox(args) => outbox::run(&ctx, args),
        Command::Digest(cmd) => digest::run(&ctx, cmd),
        Command::Demo(a) => demo::run(&ctx, a),
        Command::Man(a) => man::run(&ctx, a),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "praxis", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}
