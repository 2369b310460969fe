//! `praxis stats`: a community's health in figures, per month and for the
//! period, as the web's `/c/SLUG/health` shows them.

use std::process::ExitCode;

use anyhow::{Result, bail};
use chrono::NaiveDate;
use clap::Args;

use super::Context;
use crate::stats::{self, ACTIVE_DAYS, Figures, figure, percent};
use crate::store::now;

/// `praxis stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The community.
    #[arg(short, long)]
    pub community: String,
    /// The first day counted (the community's time zone); by default the
    /// first day of the month eleven months back, so twelve months show.
    #[arg(long)]
    pub since: Option<String>,
}

/// Reads `--since`: a day written `2026-01-31`.
fn day(s: &str) -> Result<NaiveDate> {
    match NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        Ok(d) => Ok(d),
        Err(_) => bail!("--since `{s}` is not a day; write it as 2026-01-31"),
    }
}

/// One table row of figures.
fn row(f: &Figures) -> Vec<String> {
    vec![
        f.label.clone(),
        f.queries_asked.to_string(),
        f.queries_answered.to_string(),
        figure(f.reply_working_days_median),
        f.reply_working_days_p90
            .map_or("–".into(), |d| d.to_string()),
        percent(f.on_time_share),
        figure(f.responses_median),
        figure(f.responders_median),
        percent(f.no_response_share),
        format!("{:.1}", f.posts_per_week),
        f.joined.to_string(),
        f.left.to_string(),
        f.bounces.to_string(),
        f.disabled.to_string(),
        format!("{}/{}", f.referrals_answered, f.referrals),
    ]
}

/// Runs `praxis stats`.
pub fn run(ctx: &Context, args: &StatsArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let cfg = config
        .community(&args.community)
        .map_err(anyhow::Error::msg)?;
    let store = ctx.store(&config)?;
    let community = store.community(&args.community)?;
    let t = now();
    let calendar = cfg.calendar();
    let today = calendar.local_date(chrono::DateTime::from_timestamp(t, 0).unwrap_or_default());
    let since = match &args.since {
        Some(s) => day(s)?,
        None => stats::default_since(today),
    };
    if since > today {
        bail!("--since {since} is after today ({today}); pick an earlier day");
    }
    let health = store.community_health(community.id, &args.community, cfg, since, today, t)?;
    if ctx.out.json {
        ctx.out.json(&health)?;
        return Ok(ExitCode::SUCCESS);
    }
    ctx.out.say(format!(
        "{}: {} to {} (target: a reply within {} working days)",
        args.community, since, today, health.target_working_days
    ));
    let headers = [
        "month",
        "asked",
        "answered",
        "days (median)",
        "days (p90)",
        "on time",
        "responses",
        "responders",
        "no response",
        "posts/week",
        "joined",
        "left",
        "bounces",
        "disabled",
        "invitations answered",
    ];
    let mut rows: Vec<Vec<String>> = health.months.iter().map(row).collect();
    rows.push(row(&health.period));
    ctx.out.table(&headers, rows);
    let n = &health.now;
    ctx.out.say(format!(
        "now: {} members ({}); {} active in the last {ACTIVE_DAYS} days ({}); {} open queries, {} overdue",
        n.members,
        n.modes(),
        n.active_members,
        percent(n.active_share),
        n.open_queries,
        n.overdue_queries
    ));
    Ok(ExitCode::SUCCESS)
}
