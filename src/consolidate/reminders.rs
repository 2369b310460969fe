//! Reminders to moderators: one when a query reaches the community's
//! `remind_working_days_before` working days left, one more once it is
//! overdue; each exactly once (the store records the threshold in the same
//! transaction as the message).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::deadline::WorkingCalendar;
use crate::community::{Communities, Community};
use crate::deliver::compose::notice_message;
use crate::model::OutboxKind;
use crate::store::{NewOutbox, NewRecipient, Store};

/// Which reminder, if any, a query is due at `now`: `overdue` past the
/// deadline, `due_soon` within `before` working days of it (never when
/// `before` is 0). Pure.
pub fn threshold(
    cal: &WorkingCalendar,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
    before: u32,
) -> Option<&'static str> {
    if now > deadline {
        return Some("overdue");
    }
    (before > 0 && cal.working_days_left(deadline, now) <= i64::from(before)).then_some("due_soon")
}

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReminderError {
    /// Reading or writing the database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The reminder template failed.
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    /// The message could not be built.
    #[error(transparent)]
    Compose(#[from] crate::deliver::compose::ComposeError),
}

/// Queues every reminder due at `now` in every configured community;
/// returns how many were queued. Safe to run as often as wanted.
pub fn sweep(
    store: &mut Store,
    communities: &Communities,
    now: DateTime<Utc>,
) -> Result<usize, ReminderError> {
    let mut queued = 0;
    for c in communities.iter() {
        queued += sweep_community(store, c, now)?;
    }
    Ok(queued)
}

fn sweep_community(
    store: &mut Store,
    c: &Community,
    now: DateTime<Utc>,
) -> Result<usize, ReminderError> {
    let (cfg, community) = (&c.config, c.id);
    let cal = &c.calendar;
    let mut queued = 0;
    let queries = store.open_queries(community)?;
    if queries.is_empty() {
        return Ok(0);
    }
    let moderators: Vec<NewRecipient> = store
        .moderators(community)?
        .into_iter()
        .map(|m| NewRecipient {
            member: Some(m.id),
            address: m.email,
        })
        .collect();
    if moderators.is_empty() {
        return Ok(0);
    }
    for q in queries {
        let Some(deadline) = DateTime::from_timestamp(q.deadline, 0) else {
            continue;
        };
        let Some(which) = threshold(cal, deadline, now, cfg.remind_working_days_before) else {
            continue;
        };
        let left = cal.working_days_left(deadline, now);
        let responses = store
            .query(q.thread)?
            .map(|x| x.responses.len())
            .unwrap_or(0);
        let text = c.templates().render(
            "consolidated/reminder",
            &json!({
                "overdue": which == "overdue",
                "query": q.thread,
                "community": cfg.name,
                "subject": q.subject,
                "deadline": deadline.with_timezone(&cfg.timezone).format("%A %-d %B %Y").to_string(),
                "days_left": left,
                "one": left == 1,
                "responses": responses,
                "one_response": responses == 1,
            }),
        )?;
        let subject = if which == "overdue" {
            format!(
                "Overdue: Consolidated Reply to query {}: {}",
                q.thread, q.subject
            )
        } else {
            format!(
                "Due soon: Consolidated Reply to query {}: {}",
                q.thread, q.subject
            )
        };
        let to = moderators
            .iter()
            .map(|m| m.address.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let built = notice_message(cfg, &to, &subject, &text)?;
        let msg = NewOutbox::new(
            Some(community),
            OutboxKind::Notice,
            &built.subject,
            &built.message,
        );
        if store.queue_reminder(q.thread, which, &msg, &moderators, now.timestamp())? {
            queued += 1;
        }
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn thresholds() {
        let cal = WorkingCalendar::new(
            chrono_tz::UTC,
            vec![chrono::Weekday::Sat, chrono::Weekday::Sun],
            [],
        );
        let due = cal.end_of_day(NaiveDate::from_ymd_opt(2026, 11, 13).unwrap()); // Friday
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let table = [
            ("2026-11-10T09:00:00Z", 2, None), // 3 working days left
            ("2026-11-11T09:00:00Z", 2, Some("due_soon")), // 2 left
            ("2026-11-13T09:00:00Z", 2, Some("due_soon")), // due today
            ("2026-11-13T09:00:00Z", 0, None), // no early reminder
            ("2026-11-14T00:00:00Z", 2, Some("overdue")),
            ("2026-11-14T00:00:00Z", 0, Some("overdue")),
        ];
        for (now, before, want) in table {
            assert_eq!(
                threshold(&cal, due, at(now), before),
                want,
                "{now} {before}"
            );
        }
    }
}
