//! A community's health in figures (`praxis stats`, the web's
//! `/c/SLUG/health`): queries asked and answered, working days to the
//! Consolidated Reply against the community's target, responses and
//! responders per query, members joining, leaving and active, posts per
//! week, bounces; per month and for the period. Pure: the store gathers
//! [`StatsFacts`], this counts them in the community's calendar.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::consolidate::deadline::WorkingCalendar;

/// One query asked in the period (a thread marked query with an approved
/// post).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryFacts {
    /// When it was asked: when its first post was approved (the clock of
    /// its deadline starts there), else the thread's first date; Unix seconds.
    pub asked_at: i64,
    /// When its Consolidated Reply is due, when a deadline was set.
    pub deadline_at: Option<i64>,
    /// When its Consolidated Reply went out (not an addendum), if it has.
    pub replied_at: Option<i64>,
    /// Approved posts after the question, plus responses added offline.
    pub responses: i64,
    /// Distinct people among those, the asker left out.
    pub responders: i64,
}

/// What `crate::stats` counts for one community and period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsFacts {
    /// Queries asked in the period, oldest first.
    pub queries: Vec<QueryFacts>,
    /// Approved posts dated in the period (Unix seconds; an archive's
    /// imported posts count when they were written, not when imported).
    pub posts: Vec<i64>,
    /// Members who joined in the period (pending ones left out).
    pub joined: Vec<i64>,
    /// Members who left or were removed in the period.
    pub left: Vec<i64>,
    /// Bounce messages received in the period.
    pub bounces: Vec<i64>,
    /// Members disabled by bounces in the period.
    pub disabled: Vec<i64>,
    /// Invitations to respond sent in the period, each with whether the
    /// member responded in the query afterwards.
    pub referrals: Vec<(i64, bool)>,
    /// Members now, by status (`active`, `disabled`, …).
    pub members_by_status: Vec<(String, i64)>,
    /// Active members now, by delivery mode.
    pub members_by_delivery: Vec<(String, i64)>,
    /// Active members with an approved post since the activity window's start.
    pub active_members: i64,
    /// Queries without a published reply now, and those past their deadline.
    pub open_queries: i64,
    /// Open queries past their deadline now.
    pub overdue_queries: i64,
}

/// How long a member counts as active after an approved post.
pub const ACTIVE_DAYS: u64 = 90;

/// The figures of one stretch of time (a month, or the whole period).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// `2026-11` for a month, `period` for the whole.
    pub label: String,
    /// The first day counted (community's zone).
    pub from: NaiveDate,
    /// The day after the last one counted.
    pub to: NaiveDate,
    /// Queries asked.
    pub queries_asked: usize,
    /// Of those, the ones with a published Consolidated Reply.
    pub queries_answered: usize,
    /// Median working days from a query to its reply (answered ones).
    pub reply_working_days_median: Option<f64>,
    /// The 90th percentile of the same (nearest rank).
    pub reply_working_days_p90: Option<i64>,
    /// Share of answered queries whose reply went out by the deadline.
    pub on_time_share: Option<f64>,
    /// Median responses per query asked.
    pub responses_median: Option<f64>,
    /// Median distinct responders per query asked (the asker left out).
    pub responders_median: Option<f64>,
    /// Share of queries asked with no response at all.
    pub no_response_share: Option<f64>,
    /// Approved posts.
    pub posts: usize,
    /// Approved posts per week of the stretch.
    pub posts_per_week: f64,
    /// Members who joined.
    pub joined: usize,
    /// Members who left or were removed.
    pub left: usize,
    /// Bounce messages received.
    pub bounces: usize,
    /// Members disabled by bounces.
    pub disabled: usize,
    /// Invitations to respond sent (`praxis refer`).
    pub referrals: usize,
    /// Of those, the ones a response from the invited member followed.
    pub referrals_answered: usize,
}

/// The community as it stands now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Standing {
    /// Members receiving mail (status active).
    pub members: i64,
    /// Members by status (active, disabled, unsubscribed, pending).
    pub by_status: BTreeMap<String, i64>,
    /// Active members by delivery mode.
    pub by_delivery: BTreeMap<String, i64>,
    /// Active members with an approved post in the last [`ACTIVE_DAYS`] days.
    pub active_members: i64,
    /// Their share of the members.
    pub active_share: Option<f64>,
    /// Queries without a published reply.
    pub open_queries: i64,
    /// Of those, past their deadline.
    pub overdue_queries: i64,
}

/// A community's health: the period, each month in it, and now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// The community's slug.
    pub community: String,
    /// Working days within which a query should have its reply.
    pub target_working_days: u32,
    /// The whole period.
    pub period: Figures,
    /// Each calendar month of the period, oldest first (the first and last
    /// may be partial).
    pub months: Vec<Figures>,
    /// The community now.
    pub now: Standing,
}

/// The period `since..until` (days in the community's zone, `until`
/// excluded) as Unix seconds, from the first instant of each day.
pub fn period_bounds(since: NaiveDate, until: NaiveDate, tz: Tz) -> (i64, i64) {
    (midnight(since, tz), midnight(until, tz))
}

/// The default period: the twelve calendar months up to and including
/// `today`'s (`until` is the day after `today`).
pub fn default_since(today: NaiveDate) -> NaiveDate {
    let first = today.with_day(1).unwrap_or(today);
    first.checked_sub_months(Months::new(11)).unwrap_or(first)
}

/// The first instant of a local day (the earliest, where clocks change at
/// midnight; the next hour's start where midnight does not exist).
fn midnight(day: NaiveDate, tz: Tz) -> i64 {
    let start = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    (0..24)
        .find_map(|h| {
            tz.from_local_datetime(&(start + chrono::Duration::hours(h)))
                .earliest()
        })
        .map_or_else(|| start.and_utc().timestamp(), |t| t.timestamp())
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(mut values: Vec<i64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2] as f64
    } else {
        (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0
    })
}

/// The nearest-rank percentile `p` (0–100) of `values`.
fn percentile(mut values: Vec<i64>, p: usize) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (p * values.len()).div_ceil(100).max(1);
    Some(values[rank - 1])
}

/// `part / whole`, rounded to three places; `None` when `whole` is 0.
fn share(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| (part as f64 / whole as f64 * 1000.0).round() / 1000.0)
}

/// The figures of `from..to` (local days) out of `facts`.
fn figures(
    label: String,
    from: NaiveDate,
    to: NaiveDate,
    facts: &StatsFacts,
    calendar: &WorkingCalendar,
    target: u32,
    tz: Tz,
) -> Figures {
    let (start, end) = period_bounds(from, to, tz);
    let within = |t: &i64| (start..end).contains(t);
    let count = |v: &[i64]| v.iter().filter(|t| within(t)).count();
    let asked: Vec<&QueryFacts> = facts
        .queries
        .iter()
        .filter(|q| within(&q.asked_at))
        .collect();
    let answered: Vec<(&QueryFacts, i64)> = asked
        .iter()
        .filter_map(|q| Some((*q, q.replied_at?)))
        .collect();
    let local =
        |t: i64| calendar.local_date(DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default());
    let taken: Vec<i64> = answered
        .iter()
        .map(|(q, at)| calendar.working_days_between(local(q.asked_at), local(*at)))
        .collect();
    let on_time = answered
        .iter()
        .zip(&taken)
        .filter(|((q, at), days)| match q.deadline_at {
            Some(due) => *at <= due,
            None => **days <= i64::from(target),
        })
        .count();
    let posts = count(&facts.posts);
    let days = (to - from).num_days().max(1) as f64;
    Figures {
        label,
        from,
        to,
        queries_asked: asked.len(),
        queries_answered: answered.len(),
        reply_working_days_median: median(taken.clone()),
        reply_working_days_p90: percentile(taken, 90),
        on_time_share: share(on_time, answered.len()),
        responses_median: median(asked.iter().map(|q| q.responses).collect()),
        responders_median: median(asked.iter().map(|q| q.responders).collect()),
        no_response_share: share(
            asked.iter().filter(|q| q.responses == 0).count(),
            asked.len(),
        ),
        posts,
        posts_per_week: (posts as f64 * 7.0 / days * 100.0).round() / 100.0,
        joined: count(&facts.joined),
        left: count(&facts.left),
        bounces: count(&facts.bounces),
        disabled: count(&facts.disabled),
        referrals: facts.referrals.iter().filter(|(t, _)| within(t)).count(),
        referrals_answered: facts
            .referrals
            .iter()
            .filter(|(t, answered)| *answered && within(t))
            .count(),
    }
}

/// The health of community `slug` over `since..until` (local days, `until`
/// excluded) from the facts the store gathered for the same period.
pub fn health(
    slug: &str,
    since: NaiveDate,
    until: NaiveDate,
    facts: &StatsFacts,
    calendar: &WorkingCalendar,
    target: u32,
    tz: Tz,
) -> Health {
    let mut months = Vec::new();
    let mut from = since;
    while from < until {
        let next_month = from
            .with_day(1)
            .and_then(|d| d.checked_add_months(Months::new(1)))
            .unwrap_or(until);
        let to = next_month.min(until);
        let label = format!("{:04}-{:02}", from.year(), from.month());
        months.push(figures(label, from, to, facts, calendar, target, tz));
        from = to;
    }
    let members = facts
        .members_by_status
        .iter()
        .find(|(s, _)| s == "active")
        .map_or(0, |(_, n)| *n);
    Health {
        community: slug.to_string(),
        target_working_days: target,
        period: figures("period".into(), since, until, facts, calendar, target, tz),
        months,
        now: Standing {
            members,
            by_status: facts.members_by_status.iter().cloned().collect(),
            by_delivery: facts.members_by_delivery.iter().cloned().collect(),
            active_members: facts.active_members,
            active_share: share(facts.active_members as usize, members as usize),
            open_queries: facts.open_queries,
            overdue_queries: facts.overdue_queries,
        },
    }
}

/// A period's figures and the standing now as people read them (shares as
/// percentages, dashes for none): what the health page and the monthly
/// report fill their templates with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shown {
    /// Queries asked.
    pub asked: usize,
    /// Of those, answered with a Consolidated Reply.
    pub answered: usize,
    /// Median working days to the reply.
    pub median: String,
    /// 90th percentile of the same.
    pub p90: String,
    /// The community's aim, in working days.
    pub target: u32,
    /// Share of replies on time.
    pub on_time: String,
    /// Median responses per query.
    pub responses: String,
    /// Median responders per query.
    pub responders: String,
    /// Share of queries with no response.
    pub no_response: String,
    /// Posts per week, one decimal.
    pub posts_per_week: String,
    /// Members who joined, left; bounces; members disabled.
    pub joined: usize,
    /// Members who left.
    pub left: usize,
    /// Bounces received.
    pub bounces: usize,
    /// Members disabled.
    pub disabled: usize,
    /// Invitations to respond sent.
    pub referrals: usize,
    /// Of those, followed by the member's response.
    pub referrals_answered: usize,
    /// Members now.
    pub members: i64,
    /// Members now by delivery mode ("each 4, digest 2"), or "none".
    pub modes: String,
    /// Members active now.
    pub active: i64,
    /// Their share.
    pub active_share: String,
    /// The activity window, in days.
    pub active_days: u64,
    /// Open queries now.
    pub open: i64,
    /// Of those, overdue.
    pub overdue: i64,
}

impl Health {
    /// The period's figures and the standing now, as people read them.
    pub fn shown(&self) -> Shown {
        let (p, n) = (&self.period, &self.now);
        Shown {
            asked: p.queries_asked,
            answered: p.queries_answered,
            median: figure(p.reply_working_days_median),
            p90: figure(p.reply_working_days_p90.map(|d| d as f64)),
            target: self.target_working_days,
            on_time: percent(p.on_time_share),
            responses: figure(p.responses_median),
            responders: figure(p.responders_median),
            no_response: percent(p.no_response_share),
            posts_per_week: format!("{:.1}", p.posts_per_week),
            joined: p.joined,
            left: p.left,
            bounces: p.bounces,
            disabled: p.disabled,
            referrals: p.referrals,
            referrals_answered: p.referrals_answered,
            members: n.members,
            modes: n.modes(),
            active: n.active_members,
            active_share: percent(n.active_share),
            active_days: ACTIVE_DAYS,
            open: n.open_queries,
            overdue: n.overdue_queries,
        }
    }
}

impl Standing {
    /// Members by delivery mode as a phrase ("each 4, digest 2"), or "none".
    pub fn modes(&self) -> String {
        if self.by_delivery.is_empty() {
            return "none".into();
        }
        self.by_delivery
            .iter()
            .map(|(m, k)| format!("{m} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A share as a percentage ("67%"), or a dash when there is none.
pub fn percent(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| format!("{:.0}%", x * 100.0))
}

/// A figure as people read it: whole numbers plain, else one decimal; a
/// dash when there is none.
pub fn figure(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| {
        if x.fract() == 0.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    })
}

/// The day after `day`.
pub fn next_day(day: NaiveDate) -> NaiveDate {
    day.checked_add_days(Days::new(1)).unwrap_or(day)
}

#[cfg(test)]
mod tests;
