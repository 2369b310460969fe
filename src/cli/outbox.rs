//! `praxis outbox [--failed] [-c COMMUNITY]` and `praxis outbox retry ID`.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::Context;
use super::output::{local_time, rfc3339};
use crate::model::{DeliveryState, OutboxId};
use crate::store::{DeliveryRow, OutboxFilter, OutboxSummary, Store};

/// Failed deliveries listed per message with `--failed`.
const FAILURES_SHOWN: u32 = 100;

/// `praxis outbox`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct OutboxArgs {
    /// What to do; without one, list messages.
    #[command(subcommand)]
    pub action: Option<OutboxAction>,
    /// Only messages with failed deliveries, each with its failures.
    #[arg(long)]
    pub failed: bool,
    /// Only this community.
    #[arg(short, long)]
    pub community: Option<String>,
    /// At most this many messages, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

/// `praxis outbox ...`.
#[derive(Debug, Subcommand)]
pub enum OutboxAction {
    /// Re-queue a message's failed (and waiting) deliveries to be sent now.
    #[command(after_help = "Example:\n  praxis outbox --failed\n  praxis outbox retry 12")]
    Retry {
        /// The outbox message's id (from `praxis outbox`).
        id: i64,
    },
    /// Send everything due now, then exit (for cron instead of the daemon).
    #[command(
        after_help = "Example:\n  */5 * * * * praxis outbox flush -q\n\nRefused while `praxis serve` runs: the daemon is already sending."
    )]
    Flush,
}

/// One message in `--json`, with its failures under `--failed`.
#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    summary: OutboxSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    failures: Option<Vec<Failure>>,
}

/// A failed delivery in `--json`.
#[derive(Serialize)]
struct Failure {
    recipient: String,
    attempts: i64,
    error: Option<String>,
}

impl From<DeliveryRow> for Failure {
    fn from(d: DeliveryRow) -> Self {
        Failure {
            recipient: d.recipient,
            attempts: d.attempts,
            error: d.last_error,
        }
    }
}

/// Runs `praxis outbox`.
pub fn run(ctx: &Context, args: &OutboxArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let mut store = ctx.store(&config)?;
    if let Some(OutboxAction::Flush) = &args.action {
        return flush(ctx, config, &store);
    }
    if let Some(OutboxAction::Retry { id }) = &args.action {
        let id = OutboxId(*id);
        let summary = store.outbox_summary(id)?;
        let n = store.retry_outbox(id, chrono::Utc::now().timestamp())?;
        if ctx.out.json {
            ctx.out
                .json(&serde_json::json!({"id": id, "requeued": n}))?;
        }
        ctx.out.say(format!(
            "re-queued {n} deliver{} of outbox message {id} ({}); `praxis serve` sends them at its next poll",
            if n == 1 { "y" } else { "ies" },
            summary.subject
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let community = ctx.community_filter(&config, &store, args.community.as_deref())?;
    let messages = store.outbox_summaries(&OutboxFilter {
        community,
        failed_only: args.failed,
        limit: args.limit,
        offset: 0,
    })?;
    let failures = |store: &crate::store::Store, id| {
        store.deliveries(id, Some(DeliveryState::Failed), FAILURES_SHOWN)
    };
    if ctx.out.json {
        let mut listed = Vec::with_capacity(messages.len());
        for m in messages {
            let f = if args.failed {
                Some(
                    failures(&store, m.id)?
                        .into_iter()
                        .map(Failure::from)
                        .collect(),
                )
            } else {
                None
            };
            listed.push(Listed {
                summary: m,
                failures: f,
            });
        }
        ctx.out.json(&listed)?;
        return Ok(ExitCode::SUCCESS);
    }
    let when = |m: &OutboxSummary| match config.community(&m.community) {
        Ok(c) => local_time(m.created_at, c.timezone),
        Err(_) => rfc3339(m.created_at),
    };
    ctx.out.table(
        &[
            "id",
            "community",
            "kind",
            "subject",
            "created",
            "sent",
            "pending",
            "failed",
        ],
        messages
            .iter()
            .map(|m| {
                vec![
                    m.id.to_string(),
                    m.community.clone(),
                    m.kind.to_string(),
                    m.subject.clone(),
                    when(m),
                    m.sent.to_string(),
                    m.pending.to_string(),
                    m.failed.to_string(),
                ]
            })
            .collect(),
    );
    if args.failed {
        for m in &messages {
            let rows = failures(&store, m.id)?;
            ctx.out.say(format!(
                "\nfailed deliveries of {} ({}); re-queue with `praxis outbox retry {}`:",
                m.id, m.subject, m.id
            ));
            ctx.out.table(
                &["recipient", "attempts", "error"],
                rows.into_iter()
                    .map(|d| {
                        vec![
                            d.recipient,
                            d.attempts.to_string(),
                            d.last_error.unwrap_or_default(),
                        ]
                    })
                    .collect(),
            );
        }
    }
    let pending: i64 = messages.iter().map(|m| m.pending).sum();
    let failed: i64 = messages.iter().map(|m| m.failed).sum();
    ctx.out.say(format!(
        "{} message{}; {pending} deliveries pending, {failed} failed",
        messages.len(),
        if messages.len() == 1 { "" } else { "s" }
    ));
    Ok(ExitCode::SUCCESS)
}

/// `praxis outbox flush`: sends what is due, then says what became of it.
fn flush(ctx: &Context, config: crate::config::Config, store: &Store) -> Result<ExitCode> {
    let start = chrono::Utc::now().timestamp();
    // Copies sent earlier in this same second are not this flush's.
    let mark = store.flush_mark()?;
    let before = store.sent_since(mark, start)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::deliver::flush::flush(config))?;
    let sent = store.sent_since(mark, start)? - before;
    let waiting = store.deliveries_due(i64::MAX)?;
    if ctx.out.json {
        ctx.out
            .json(&serde_json::json!({"sent": sent, "waiting": waiting}))?;
    }
    ctx.out.say(format!(
        "outbox flushed: {sent} cop{} sent{}",
        if sent == 1 { "y" } else { "ies" },
        if waiting > 0 {
            format!("; {waiting} deliveries wait for a retry (`praxis outbox` lists them)")
        } else {
            String::new()
        }
    ));
    Ok(ExitCode::SUCCESS)
}
