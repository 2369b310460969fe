//! `praxis threads`: threads and queries, newest activity first.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use super::Context;
use super::output::{local_time, rfc3339, zoned_time};
use crate::model::{ThreadId, ThreadKind};
use crate::store::{ThreadFilter, now};

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
    /// Only threads with a post flagged for a moderator (e.g. a reply to a
    /// digest whose thread could not be found), with the flag.
    #[arg(long)]
    pub flagged: bool,
    /// At most this many (0: all).
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
}

#[derive(Serialize)]
struct ThreadJson {
    id: ThreadId,
    community: String,
    subject: String,
    /// What the thread is marked as.
    kind: ThreadKind,
    posts: i64,
    participants: i64,
    first_at: String,
    last_at: String,
    /// Where it stands as a query: `scheduled` while its reply waits for its
    /// time (see `scheduled_at`), else the query state.
    state: String,
    /// When a scheduled reply goes out (RFC 3339), until it does.
    scheduled_at: Option<String>,
    responses: i64,
    /// When the Consolidated Reply is due (end of that working day, local).
    deadline: Option<String>,
    /// Working days (not calendar days) until the deadline: 0 on the day it
    /// is due, negative once overdue; skips the community's weekend and holidays.
    days_left: Option<i64>,
    /// Responses after publication, waiting for an addendum.
    late_responses: i64,
    /// Who asked (name), and their organisation.
    asked_by: String,
    asked_by_organisation: String,
    /// Where the asker works.
    asked_by_place: String,
    /// Why a moderator should look at it (`--flagged`), when flagged.
    flag: Option<String>,
}

/// Runs `praxis threads`.
pub fn run(ctx: &Context, args: &ThreadsArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let store = ctx.store(&config)?;
    let community = ctx.community_filter(&config, &store, args.community.as_deref())?;
    let t = now();
    let rows = store.threads(&ThreadFilter {
        community,
        queries: args.queries || args.overdue,
        overdue_at: args.overdue.then_some(t),
        flagged: args.flagged,
        limit: if args.limit <= 0 {
            i64::MAX
        } else {
            args.limit
        },
    })?;
    let now_utc = chrono::DateTime::from_timestamp(t, 0).unwrap_or_else(chrono::Utc::now);
    let days_left = |community: &str, d: Option<i64>| {
        let cfg = config.community(community).ok()?;
        let due = chrono::DateTime::from_timestamp(d?, 0)?;
        Some(cfg.calendar().working_days_left(due, now_utc))
    };
    if ctx.out.json {
        let out: Vec<ThreadJson> = rows
            .into_iter()
            .map(|r| ThreadJson {
                days_left: days_left(&r.community, r.deadline),
                deadline: r.deadline.map(rfc3339),
                id: r.id,
                community: r.community,
                subject: r.subject,
                kind: r.kind,
                posts: r.posts,
                participants: r.participants,
                first_at: rfc3339(r.first_at),
                last_at: rfc3339(r.last_at),
                state: match r.scheduled_at {
                    Some(_) => "scheduled".into(),
                    None => r.state.to_string(),
                },
                scheduled_at: r.scheduled_at.map(rfc3339),
                responses: r.responses,
                late_responses: r.late_responses,
                asked_by: r.asked_by,
                asked_by_organisation: r.asked_by_organisation,
                asked_by_place: r.asked_by_place,
                flag: r.flag,
            })
            .collect();
        ctx.out.json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let n = rows.len();
    let mut headers = vec![
        "id",
        "community",
        "subject",
        "kind",
        "posts",
        "participants",
        "first",
        "last",
    ];
    if args.queries || args.overdue {
        headers.extend(["asked by", "state", "responses", "due", "days left"]);
    }
    if args.flagged {
        headers.push("flag");
    }
    let table = rows
        .into_iter()
        .map(|r| {
            let tz = config
                .community(&r.community)
                .map(|c| c.timezone)
                .unwrap_or(chrono_tz::UTC);
            let left = days_left(&r.community, r.deadline);
            let mut row = vec![
                r.id.to_string(),
                r.community,
                r.subject,
                r.kind.to_string(),
                r.posts.to_string(),
                r.participants.to_string(),
                local_time(r.first_at, tz),
                local_time(r.last_at, tz),
            ];
            if args.queries || args.overdue {
                row.extend([
                    if r.asked_by_organisation.is_empty() {
                        r.asked_by
                    } else {
                        format!("{} ({})", r.asked_by, r.asked_by_organisation)
                    },
                    match r.scheduled_at {
                        Some(at) => format!("scheduled for {}", zoned_time(at, tz)),
                        None => r.state.to_string(),
                    },
                    r.responses.to_string(),
                    r.deadline.map(|d| local_time(d, tz)).unwrap_or_default(),
                    left.map(|d| d.to_string()).unwrap_or_default(),
                ]);
            }
            if args.flagged {
                row.push(r.flag.unwrap_or_default());
            }
            row
        })
        .collect();
    ctx.out.table(&headers, table);
    ctx.out
        .say(format!("{n} thread{}", if n == 1 { "" } else { "s" }));
    Ok(ExitCode::SUCCESS)
}
