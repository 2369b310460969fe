//! Referrals: a personal invitation to respond to an open query, mailed to
//! each chosen member (the `referral` template) within the community's
//! `referrals_per_month`; replies to it go to the list and join the query's
//! thread. The same call serves `praxis refer` and the query board.

use chrono::{Datelike, TimeZone};
use serde::Serialize;
use serde_json::json;

use super::EffectError;
use super::requests::me_link;
use crate::community::Community;
use crate::deliver::compose::notice_in_thread;
use crate::model::{MemberStatus, OutboxKind, QueryState, ThreadId, ThreadKind};
use crate::store::{NewOutbox, NewRecipient, ReferralRefused, Store, normalise_email, now};

/// The longest note on why a member is asked (they read it).
pub const WHY_MAX: usize = 1000;

/// What became of one member's invitation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Invitation {
    /// The address asked for.
    pub email: String,
    /// Their name, when a member.
    pub name: String,
    /// Sent, or why not.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Sent, or why not.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Queued to their address.
    Sent,
    /// No member of the community has the address.
    NotAMember,
    /// They are not active (pending, unsubscribed or disabled).
    NotActive,
    /// Refused by the rules: opted out, invited already, month full.
    Refused(ReferralRefused),
}

impl Invitation {
    /// The line saying what happened, for the command line and the board.
    pub fn line(&self, cap: u32) -> String {
        let who = if self.name.is_empty() {
            self.email.clone()
        } else {
            format!("{} ({})", self.name, self.email)
        };
        match &self.outcome {
            Outcome::Sent => format!("invited {who}"),
            Outcome::NotAMember => format!(
                "not invited: {} is not a member; check the address with `praxis members list`",
                self.email
            ),
            Outcome::NotActive => {
                format!("not invited: {who} is not an active member")
            }
            Outcome::Refused(ReferralRefused::OptedOut) => {
                format!("not invited: {who} asked for no invitations")
            }
            Outcome::Refused(ReferralRefused::AlreadyInvited { .. }) => {
                format!("not invited: {who} was invited to this query already")
            }
            Outcome::Refused(ReferralRefused::MonthFull { sent }) => format!(
                "not invited: {who} had {sent} invitation{} this month, the community's limit of {cap} (policy.referrals_per_month)",
                if *sent == 1 { "" } else { "s" }
            ),
        }
    }
}

/// Why no one could be invited to a thread at all.
#[derive(Debug, thiserror::Error)]
pub enum ReferError {
    /// No thread with that id in the community.
    #[error("query {0} is not in {1}; list the open ones with `praxis threads -c {2} --queries`")]
    NoSuchQuery(ThreadId, String, String),
    /// The thread is not a query.
    #[error("thread {0} is a {1}, not a query; mark it first with `praxis mark {0} query`")]
    NotAQuery(ThreadId, ThreadKind),
    /// Its Consolidated Reply is out.
    #[error("query {0} has its Consolidated Reply already; invitations are for queries still open")]
    Published(ThreadId),
    /// The community sends none.
    #[error(
        "{0} sends no invitations (policy.referrals_per_month = 0); set it to 1 or more to refer"
    )]
    Off(String),
    /// The database, a template or the message.
    #[error(transparent)]
    Effect(#[from] EffectError),
}

impl From<crate::store::StoreError> for ReferError {
    fn from(e: crate::store::StoreError) -> Self {
        ReferError::Effect(e.into())
    }
}

/// The start of the calendar month of `at` in the community's time zone.
fn month_start(tz: chrono_tz::Tz, at: i64) -> i64 {
    let local = tz
        .timestamp_opt(at, 0)
        .single()
        .unwrap_or_else(|| tz.from_utc_datetime(&chrono::DateTime::UNIX_EPOCH.naive_utc()));
    let first = local.date_naive().with_day(1).unwrap_or(local.date_naive());
    first
        .and_hms_opt(0, 0, 0)
        .and_then(|t| tz.from_local_datetime(&t).earliest())
        .map_or(at, |t| t.timestamp())
}

/// Invites each of `emails` to respond to the open query `thread` of `c`,
/// `why` telling them why they were asked; the store's actor is the
/// referrer. `secret` (the link secret) adds the member's own page to the
/// mail. Each address gets its outcome; nothing is sent twice.
pub fn refer(
    store: &mut Store,
    c: &Community,
    secret: Option<&[u8]>,
    thread: ThreadId,
    emails: &[String],
    why: &str,
) -> Result<Vec<Invitation>, ReferError> {
    let cap = c.config.policy.referrals_per_month;
    if cap == 0 {
        return Err(ReferError::Off(c.name().to_string()));
    }
    let q = store
        .query(thread)?
        .filter(|q| q.community == c.id)
        .ok_or_else(|| ReferError::NoSuchQuery(thread, c.name().into(), c.slug().into()))?;
    if q.kind != ThreadKind::Query {
        return Err(ReferError::NotAQuery(thread, q.kind));
    }
    if q.state == QueryState::Published {
        return Err(ReferError::Published(thread));
    }
    let due = store
        .query_deadline(thread)?
        .and_then(|d| chrono::DateTime::from_timestamp(d, 0))
        .map(|d| {
            d.with_timezone(&c.config.timezone)
                .format("%-d %b %Y")
                .to_string()
        });
    let asker = [&q.root.name, &q.root.organisation, &q.root.place]
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let url = c
        .config
        .delivery
        .base_url
        .as_deref()
        .map(|b| format!("{}/c/{}/t/{}", b.trim_end_matches('/'), c.slug(), thread));
    let t = now();
    let start = month_start(c.config.timezone, t);
    let referrer = store.actor().who.clone();
    let mut done = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for email in emails {
        let email = normalise_email(email);
        if !seen.insert(email.clone()) {
            continue;
        }
        let Some(m) = store.member(c.id, &email)? else {
            done.push(Invitation {
                email,
                name: String::new(),
                outcome: Outcome::NotAMember,
            });
            continue;
        };
        let mut invitation = Invitation {
            email: email.clone(),
            name: m.name.clone(),
            outcome: Outcome::Sent,
        };
        if m.status != MemberStatus::Active {
            invitation.outcome = Outcome::NotActive;
            done.push(invitation);
            continue;
        }
        if let Err(refused) =
            store.record_referral(c.id, thread, m.id, &email, why, cap, start, t)?
        {
            invitation.outcome = Outcome::Refused(refused);
            done.push(invitation);
            continue;
        }
        let text = c
            .templates()
            .render(
                "referral",
                &json!({
                    "name": m.name, "community": c.name(), "referred_by": referrer,
                    "subject": q.subject, "asker": asker, "due": due, "why": why,
                    "question": crate::markup::hide_addresses(&q.root.text, &[]),
                    "url": url, "cap": cap,
                    "me": secret.and_then(|s| me_link(c, s, &email)),
                }),
            )
            .map_err(EffectError::from)?;
        let built = notice_in_thread(
            &c.config,
            &email,
            &format!("Your experience, please: {}", q.subject),
            &text,
            Some(c.address()),
            Some(&q.root.message_id),
        )
        .map_err(EffectError::from)?;
        store.queue_to(
            &NewOutbox::new(
                Some(c.id),
                OutboxKind::Notice,
                &built.subject,
                &built.message,
            ),
            [NewRecipient {
                member: Some(m.id),
                address: email,
            }],
            t,
        )?;
        done.push(invitation);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_starts_at_local_midnight_on_the_first() {
        // 2026-12-05 12:00 UTC; the month began 2026-12-01 00:00 IST = 2026-11-30 18:30 UTC.
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-05T12:00:00Z")
            .unwrap()
            .timestamp();
        let want = chrono::DateTime::parse_from_rfc3339("2026-11-30T18:30:00Z")
            .unwrap()
            .timestamp();
        assert_eq!(month_start(chrono_tz::Asia::Kolkata, at), want);
    }
}
