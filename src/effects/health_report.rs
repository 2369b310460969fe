//! The monthly health report: once a month ends, each community's owners
//! get its figures for that month by mail (template `health_report`, the
//! same figures as `praxis stats` and `/c/SLUG/health`), exactly once: the
//! store records the month in the same transaction as the message.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde_json::json;

use crate::community::{Communities, Community};
use crate::deliver::compose::notice_message;
use crate::model::{OutboxKind, Role};
use crate::stats::{next_day, period_bounds};
use crate::store::{NewOutbox, NewRecipient, Store};

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum HealthReportError {
    /// Reading or writing the database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The report template failed.
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    /// The message could not be built.
    #[error(transparent)]
    Compose(#[from] crate::deliver::compose::ComposeError),
}

/// The month before the one holding `today`: its first and last day.
pub fn last_month(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let this = today.with_day(1).unwrap_or(today);
    let first = this.checked_sub_months(Months::new(1)).unwrap_or(this);
    (first, this.pred_opt().unwrap_or(this))
}

/// Queues last month's report in every community whose owners have not had
/// it; returns how many were queued. Safe to run as often as wanted.
/// `public_url` (`[http] public_url`) links the report to the health page.
pub fn sweep(
    store: &mut Store,
    communities: &Communities,
    now: DateTime<Utc>,
    public_url: Option<&str>,
) -> Result<usize, HealthReportError> {
    let mut queued = 0;
    for c in communities.iter() {
        queued += usize::from(report(store, c, now, public_url)?);
    }
    Ok(queued)
}

/// Last month's report for `c`, queued unless already sent, the community
/// was stored only after that month, or it has no owner.
fn report(
    store: &mut Store,
    c: &Community,
    now: DateTime<Utc>,
    public_url: Option<&str>,
) -> Result<bool, HealthReportError> {
    let cfg = &c.config;
    let today = now.with_timezone(&cfg.timezone).date_naive();
    let (first, last) = last_month(today);
    // A community stored after that month ended has nothing to report yet.
    let (_, month_end) = period_bounds(first, next_day(last), cfg.timezone);
    if store.community_created_at(c.id)? >= month_end {
        return Ok(false);
    }
    let owners: Vec<NewRecipient> = store
        .moderators(c.id)?
        .into_iter()
        .filter(|m| m.role == Role::Owner)
        .map(|m| NewRecipient {
            member: Some(m.id),
            address: m.email,
        })
        .collect();
    if owners.is_empty() {
        return Ok(false);
    }
    let h = store.community_health(c.id, c.slug(), cfg, first, last, now.timestamp())?;
    let month = first.format("%B %Y").to_string();
    let text = c.templates().render(
        "health_report",
        &json!({
            "community": cfg.name,
            "slug": c.slug(),
            "month": month,
            "f": h.shown(),
            "url": public_url.map(|u| format!("{}/c/{}/health", u.trim_end_matches('/'), c.slug())),
        }),
    )?;
    let to = owners
        .iter()
        .map(|o| o.address.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let subject = format!("{}: {month} in figures", cfg.name);
    let built = notice_message(cfg, &to, &subject, &text)?;
    let msg = NewOutbox::new(
        Some(c.id),
        OutboxKind::Notice,
        &built.subject,
        &built.message,
    );
    let label = format!("{:04}-{:02}", first.year(), first.month());
    Ok(store.queue_health_report(c.id, &label, &msg, &owners, now.timestamp())?)
}

#[cfg(test)]
mod tests {
    use super::last_month;
    use chrono::NaiveDate;

    #[test]
    fn last_month_is_the_whole_month_before() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            last_month(d("2026-12-05")),
            (d("2026-11-01"), d("2026-11-30"))
        );
        assert_eq!(
            last_month(d("2026-03-01")),
            (d("2026-02-01"), d("2026-02-28"))
        );
        assert_eq!(
            last_month(d("2027-01-31")),
            (d("2026-12-01"), d("2026-12-31"))
        );
    }
}
