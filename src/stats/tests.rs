//! The health figures counted by hand: a community in India, its months,
//! medians and shares.

use super::*;
use chrono::{NaiveDateTime, Weekday};

const TZ: Tz = chrono_tz::Asia::Kolkata;

/// Unix seconds of a local (India) time written `2026-10-20 10:00`.
fn ist(s: &str) -> i64 {
    let local = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    TZ.from_local_datetime(&local).unwrap().timestamp()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn query(
    asked: &str,
    due: &str,
    replied: Option<&str>,
    responses: i64,
    responders: i64,
) -> QueryFacts {
    QueryFacts {
        asked_at: ist(asked),
        deadline_at: Some(ist(due)),
        replied_at: replied.map(ist),
        responses,
        responders,
    }
}

/// Figures worked out by hand (comments) for a community in India with
/// Saturday and Sunday off and a holiday on Tuesday 10 November.
#[test]
fn figures_match_a_hand_count() {
    let calendar = WorkingCalendar::new(TZ, vec![Weekday::Sat, Weekday::Sun], [day("2026-11-10")]);
    let facts = StatsFacts {
        queries: vec![
            // Tue 20 Oct → Tue 27 Oct: 21, 22, 23, 26, 27 = 5 working days.
            query(
                "2026-10-20 10:00",
                "2026-11-03 23:59",
                Some("2026-10-27 12:00"),
                3,
                2,
            ),
            // Fri 6 Nov → Mon 23 Nov: 9, (10 off), 11–13, 16–20, 23 = 10; on time.
            query(
                "2026-11-06 15:00",
                "2026-11-23 23:59",
                Some("2026-11-23 11:00"),
                1,
                1,
            ),
            // Mon 16 Nov → Mon 30 Nov: 17–20, 23–27, 30 = 10; after its deadline.
            query(
                "2026-11-16 09:00",
                "2026-11-27 23:59",
                Some("2026-11-30 10:00"),
                0,
                0,
            ),
            // Fri 20 Nov: no reply yet.
            query("2026-11-20 09:00", "2026-12-04 23:59", None, 2, 1),
        ],
        // 14 Oct 23:00 is before the period; 15 Oct 00:30 and 1 Nov 00:10
        // are in October and November in India (not in UTC).
        posts: [
            "2026-10-14 23:00",
            "2026-10-15 00:30",
            "2026-10-31 23:30",
            "2026-11-01 00:10",
            "2026-11-15 12:00",
        ]
        .map(ist)
        .to_vec(),
        joined: vec![ist("2026-10-16 10:00"), ist("2026-11-02 10:00")],
        left: vec![ist("2026-11-03 10:00")],
        bounces: vec![ist("2026-11-04 10:00"), ist("2026-11-05 10:00")],
        disabled: vec![ist("2026-11-05 10:00")],
        // One invitation in October, answered; two in November, one answered.
        referrals: vec![
            (ist("2026-10-20 12:00"), true),
            (ist("2026-11-06 16:00"), false),
            (ist("2026-11-07 09:00"), true),
        ],
        members_by_status: vec![
            ("active".into(), 8),
            ("disabled".into(), 1),
            ("unsubscribed".into(), 1),
        ],
        members_by_delivery: vec![
            ("consolidated".into(), 2),
            ("digest".into(), 2),
            ("each".into(), 4),
        ],
        active_members: 2,
        open_queries: 1,
        overdue_queries: 0,
    };
    let h = health(
        "health",
        day("2026-10-15"),
        day("2026-12-01"),
        &facts,
        &calendar,
        10,
        TZ,
    );
    assert_eq!(h.months.len(), 2);
    let (oct, nov, all) = (&h.months[0], &h.months[1], &h.period);
    assert_eq!(
        (oct.label.as_str(), oct.from, oct.to),
        ("2026-10", day("2026-10-15"), day("2026-11-01"))
    );
    assert_eq!(
        (nov.label.as_str(), nov.from, nov.to),
        ("2026-11", day("2026-11-01"), day("2026-12-01"))
    );

    assert_eq!((oct.queries_asked, oct.queries_answered), (1, 1));
    assert_eq!(
        (oct.reply_working_days_median, oct.reply_working_days_p90),
        (Some(5.0), Some(5))
    );
    assert_eq!(oct.on_time_share, Some(1.0));
    assert_eq!(
        (oct.responses_median, oct.responders_median),
        (Some(3.0), Some(2.0))
    );
    assert_eq!(oct.no_response_share, Some(0.0));
    // Two posts in 17 days.
    assert_eq!((oct.posts, oct.posts_per_week), (2, 0.82));
    assert_eq!(
        (oct.joined, oct.left, oct.bounces, oct.disabled),
        (1, 0, 0, 0)
    );
    assert_eq!((oct.referrals, oct.referrals_answered), (1, 1));
    assert_eq!(
        (h.months[1].referrals, h.months[1].referrals_answered),
        (2, 1)
    );
    assert_eq!((h.period.referrals, h.period.referrals_answered), (3, 2));

    assert_eq!((nov.queries_asked, nov.queries_answered), (3, 2));
    assert_eq!(
        (nov.reply_working_days_median, nov.reply_working_days_p90),
        (Some(10.0), Some(10))
    );
    assert_eq!(nov.on_time_share, Some(0.5));
    // Responses 1, 0, 2; responders 1, 0, 1.
    assert_eq!(
        (nov.responses_median, nov.responders_median),
        (Some(1.0), Some(1.0))
    );
    assert_eq!(nov.no_response_share, Some(0.333));
    // Two posts in 30 days.
    assert_eq!((nov.posts, nov.posts_per_week), (2, 0.47));
    assert_eq!(
        (nov.joined, nov.left, nov.bounces, nov.disabled),
        (1, 1, 2, 1)
    );

    // Days 5, 10, 10; responses 0, 1, 2, 3; responders 0, 1, 1, 2.
    assert_eq!((all.queries_asked, all.queries_answered), (4, 3));
    assert_eq!(
        (all.reply_working_days_median, all.reply_working_days_p90),
        (Some(10.0), Some(10))
    );
    assert_eq!(all.on_time_share, Some(0.667));
    assert_eq!(
        (all.responses_median, all.responders_median),
        (Some(1.5), Some(1.0))
    );
    assert_eq!(all.no_response_share, Some(0.25));
    // Four posts in 47 days.
    assert_eq!((all.posts, all.posts_per_week), (4, 0.6));
    assert_eq!(
        (all.joined, all.left, all.bounces, all.disabled),
        (2, 1, 2, 1)
    );

    assert_eq!(h.now.members, 8);
    assert_eq!(h.now.by_delivery["each"], 4);
    assert_eq!(h.now.by_status["unsubscribed"], 1);
    assert_eq!((h.now.active_members, h.now.active_share), (2, Some(0.25)));
    assert_eq!((h.now.open_queries, h.now.overdue_queries), (1, 0));
}

#[test]
fn nothing_to_count_is_none_not_zero() {
    let calendar = WorkingCalendar::new(TZ, vec![Weekday::Sun], []);
    let h = health(
        "health",
        day("2026-12-01"),
        day("2026-12-06"),
        &StatsFacts::default(),
        &calendar,
        10,
        TZ,
    );
    let p = &h.period;
    assert_eq!(
        (
            p.queries_asked,
            p.reply_working_days_median,
            p.on_time_share
        ),
        (0, None, None)
    );
    assert_eq!(
        (p.responses_median, p.no_response_share, p.posts_per_week),
        (None, None, 0.0)
    );
    assert_eq!(h.now.active_share, None);
}

#[test]
fn medians_percentiles_and_the_default_period() {
    assert_eq!(median(vec![3, 1, 2]), Some(2.0));
    assert_eq!(median(vec![4, 1, 2, 3]), Some(2.5));
    assert_eq!(percentile((1..=10).collect(), 90), Some(9));
    assert_eq!(percentile((1..=11).collect(), 90), Some(10));
    assert_eq!(percentile(vec![7], 90), Some(7));
    assert_eq!(default_since(day("2026-12-05")), day("2026-01-01"));
    assert_eq!(default_since(day("2026-03-31")), day("2025-04-01"));
    // Midnight in the community's zone, not UTC's.
    assert_eq!(
        period_bounds(day("2026-11-01"), day("2026-11-02"), TZ).0,
        ist("2026-11-01 00:00")
    );
}
