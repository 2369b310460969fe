//! `praxis audit` (also `praxis log`): the audit log of every moderator act,
//! with who, how, when and what it touched, in the community's time zone.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use serde::Serialize;

use super::Context;
use super::output::{rfc3339, zoned_time};
use crate::store::audit::AuditFilter;

/// `praxis audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this community. Example: `-c health`.
    #[arg(short, long)]
    pub community: Option<String>,
    /// Only acts on or after this day (`2026-12-01`, the day starting in
    /// each community's time zone; with -c, in that community's) or time
    /// (RFC 3339). Example: `--since 2026-12-01`.
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many entries, newest first. Example: `--limit 20`.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
}

#[derive(Serialize)]
struct AuditJson {
    at: String,
    community: String,
    actor: String,
    how: String,
    action: String,
    object: String,
    post_id: Option<i64>,
    reason: Option<String>,
    detail: Option<String>,
}

/// Reads `--since`: a day in `tz` (its first moment) or an RFC 3339 time.
fn since(s: &str, tz: chrono_tz::Tz) -> Result<i64> {
    use chrono::TimeZone;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.timestamp());
    }
    let Ok(day) = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") else {
        bail!("--since `{s}` is not a date; write `2026-12-01` or an RFC 3339 time");
    };
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    Ok(tz
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.timestamp())
        .unwrap_or_else(|| midnight.and_utc().timestamp()))
}

/// Runs `praxis audit`.
pub fn run(ctx: &Context, args: &AuditArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let store = ctx.store(&config)?;
    let community = ctx.community_filter(&config, &store, args.community.as_deref())?;
    let tz_of = |slug: &str| {
        config
            .community(slug)
            .map(|c| c.timezone)
            .unwrap_or(chrono_tz::UTC)
    };
    let since_tz = args
        .community
        .as_deref()
        .map(tz_of)
        .unwrap_or(chrono_tz::UTC);
    let since = args
        .since
        .as_deref()
        .map(|s| since(s, since_tz))
        .transpose()?;
    let rows = store.audit(&AuditFilter {
        community,
        since,
        limit: args.limit.max(1),
    })?;
    if ctx.out.json {
        let out: Vec<AuditJson> = rows
            .into_iter()
            .map(|r| AuditJson {
                at: rfc3339(r.at),
                post_id: r
                    .object
                    .strip_prefix("post ")
                    .and_then(|id| id.parse().ok()),
                community: r.community,
                actor: r.actor,
                how: r.how,
                action: r.action,
                object: r.object,
                reason: r.reason,
                detail: r.detail,
            })
            .collect();
        ctx.out.json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    ctx.out.table(
        &[
            "when",
            "community",
            "who",
            "how",
            "what",
            "object",
            "why",
            "detail",
        ],
        rows.into_iter()
            .map(|r| {
                vec![
                    zoned_time(r.at, tz_of(&r.community)),
                    r.community,
                    r.actor,
                    r.how,
                    r.action,
                    r.object,
                    r.reason.unwrap_or_default(),
                    r.detail.unwrap_or_default(),
                ]
            })
            .collect(),
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::since;

    #[test]
    fn since_a_day_starts_in_the_community_zone() {
        let ist: chrono_tz::Tz = "Asia/Kolkata".parse().unwrap();
        // 2026-12-01 00:00 IST is 2026-11-30 18:30 UTC.
        assert_eq!(since("2026-12-01", ist).unwrap(), 1_796_063_400);
        assert_eq!(since("2026-11-30T18:30:00Z", ist).unwrap(), 1_796_063_400);
        let e = since("last week", ist).unwrap_err().to_string();
        assert!(e.contains("--since") && e.contains("2026-12-01"), "{e}");
    }
}
