//! `praxis db copy --to postgres://…`: move an install from its SQLite file
//! to PostgreSQL, verified table by table.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::Context;
use super::output::local_time;
use crate::config::{Secret, check_url, redact_url};
use crate::store::{CopyReport, Store, now};

/// A daemon heartbeat this recent means `praxis serve` still runs.
const SERVE_RUNNING_SECS: i64 = super::status::HEARTBEAT_STALE_SECS;

/// `praxis db`.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy this install's SQLite database into a PostgreSQL database and
    /// verify the copy (row counts and checksums of every table).
    #[command(
        after_help = "Example:\n  praxis db copy --to postgres://praxis@db.example.org/praxis --password-env PGPASSWORD\n\n\
The SQLite file ([database] path) is read in one snapshot, never changed. The\n\
PostgreSQL database is migrated to this praxis's schema first; it should be new\n\
and empty. Running the copy again is safe: rows are written by id, so a copy\n\
that stopped half-way is completed and a complete one is left unchanged. A\n\
database holding another install's communities is refused; one holding rows\n\
the source no longer has fails the verification, naming the tables: drop it,\n\
create it empty and copy again.\n\n\
Steps: stop praxis serve; copy; in the config, replace path with url (and\n\
password_env or password_file) and set a link secret; run `praxis check`;\n\
start praxis serve.\n\n\
Exit 1 when a table's rows or checksum differ, naming the tables."
    )]
    Copy(CopyArgs),
}

/// `praxis db copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The PostgreSQL database to copy into: postgres://user@host:port/database
    /// (no password in it: see --password-env, --password-file).
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// The environment variable holding the PostgreSQL password.
    #[arg(long, value_name = "NAME", conflicts_with = "password_file")]
    pub password_env: Option<String>,
    /// A file (mode 0600) whose first line is the PostgreSQL password.
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
}

/// One table of the report, as `--json` prints it.
#[derive(Serialize)]
struct TableJson<'a> {
    table: &'a str,
    rows: u64,
    written: u64,
    linked: u64,
    target_rows: u64,
    checksum: &'a str,
    target_checksum: &'a str,
    ok: bool,
}

/// The report, as `--json` prints it.
#[derive(Serialize)]
struct CopyJson<'a> {
    source: String,
    target: String,
    schema_version: i64,
    ok: bool,
    tables: Vec<TableJson<'a>>,
}

/// Runs `praxis db …`.
pub fn run(ctx: &Context, cmd: &DbCommand) -> Result<ExitCode> {
    match cmd {
        DbCommand::Copy(args) => copy(ctx, args),
    }
}

/// Runs `praxis db copy`.
fn copy(ctx: &Context, args: &CopyArgs) -> Result<ExitCode> {
    if let Err((message, fix)) = check_url(&args.to) {
        let fix = if fix.contains("password_env") {
            "remove it from the URL and pass --password-env NAME or --password-file PATH"
                .to_string()
        } else {
            fix.replacen("url = ", "--to ", 1)
        };
        bail!("--to: {message}; {fix}");
    }
    let config = ctx.config()?;
    if let Some(url) = &config.database.url {
        bail!(
            "the config's [database] url already points at PostgreSQL ({}): db copy moves an install from its SQLite file; remove url to copy from database.path",
            redact_url(url)
        );
    }
    let password = Secret {
        env: args.password_env.clone(),
        file: args.password_file.clone(),
    }
    .resolve("--password")
    .map_err(|e| anyhow::anyhow!("{}", e.replace("--password_", "--password-")))?;
    let source = config.database_path();
    let target = redact_url(&args.to);
    let quiet = ctx.out.quiet;
    let mut progress = |line: &str| {
        if !quiet {
            eprintln!("{}", super::output::safe(line));
        }
    };
    progress(&format!("copying {} to {target}", source.display()));
    let report = Store::copy_to_postgres(&source, &args.to, password.as_deref(), &mut progress)?;
    if let Some(seen) = report.daemon_seen_at
        && now() - seen <= SERVE_RUNNING_SECS
    {
        eprintln!(
            "warning: praxis serve was running on {} (last seen {}): the copy holds the database as it was when the copy began; stop praxis serve, then copy again before switching",
            source.display(),
            local_time(seen, chrono_tz::UTC)
        );
    }
    print(ctx, &report, &source, &target)?;
    let differ: Vec<&str> = report
        .tables
        .iter()
        .filter(|t| !t.ok())
        .map(|t| t.table.as_str())
        .collect();
    if !differ.is_empty() {
        eprintln!(
            "error: the copy differs from the source in {}: the target holds other rows (another install's, or rows deleted from the source since an earlier copy); drop the target database, create it empty and copy again",
            differ.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    ctx.out.say(format!(
        "copied {} to {target} and verified every table (schema version {}). Next: stop praxis serve if it runs, set [database] url = \"{target}\" (password in password_env or password_file), run `praxis check`, then start praxis serve",
        source.display(),
        report.schema_version
    ));
    Ok(ExitCode::SUCCESS)
}

/// The report: a table for people, JSON with `--json`.
fn print(ctx: &Context, report: &CopyReport, source: &std::path::Path, target: &str) -> Result<()> {
    if ctx.out.json {
        return ctx.out.json(&CopyJson {
            source: source.display().to_string(),
            target: target.to_string(),
            schema_version: report.schema_version,
            ok: report.tables.iter().all(|t| t.ok()),
            tables: report
                .tables
                .iter()
                .map(|t| TableJson {
                    table: &t.table,
                    rows: t.rows,
                    written: t.written,
                    linked: t.linked,
                    target_rows: t.target_rows,
                    checksum: &t.checksum,
                    target_checksum: &t.target_checksum,
                    ok: t.ok(),
                })
                .collect(),
        });
    }
    let rows = report
        .tables
        .iter()
        .map(|t| {
            let verdict = if t.ok() {
                "ok".to_string()
            } else if t.rows != t.target_rows {
                format!("DIFFERS: {} rows on the target", t.target_rows)
            } else {
                "DIFFERS: checksum".to_string()
            };
            vec![
                t.table.clone(),
                t.rows.to_string(),
                t.written.to_string(),
                verdict,
            ]
        })
        .collect();
    ctx.out
        .table(&["table", "rows", "written", "checksum ok"], rows);
    Ok(())
}
