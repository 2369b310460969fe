//! Working-day deadlines for queries: posted date + N working days, skipping a
//! community's weekend days and holidays, in its time zone. Pure: no I/O, no
//! clock (callers pass "now").
//!
//! A deadline is the last second (23:59:59) of the Nth working day after the
//! day the query was posted, local time, stored as UTC. The day of posting
//! never counts, whatever time it was posted, so a query posted late on a
//! Friday gets the same deadline as one posted early that Friday. Arithmetic
//! is on local calendar dates and only the final instant is converted, so a
//! DST change in between neither shifts nor skips a day.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// A community's working calendar: its time zone, weekend and holidays,
/// built once from its config (`CommunityConfig::calendar`) and passed by
/// reference to everything that counts working days.
#[derive(Debug, Clone)]
pub struct WorkingCalendar {
    /// Dates are reckoned in this zone: "Tuesday" is the community's Tuesday.
    tz: Tz,
    /// Days of the week that never count.
    weekend: Vec<Weekday>,
    /// Dates that never count (public holidays, office closures).
    holidays: BTreeSet<NaiveDate>,
}

impl WorkingCalendar {
    /// A calendar from explicit parts.
    pub fn new(
        tz: Tz,
        weekend: Vec<Weekday>,
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Self {
        Self {
            tz,
            weekend,
            holidays: holidays.into_iter().collect(),
        }
    }

    /// Whether a local date is a working day.
    pub fn is_working(&self, d: NaiveDate) -> bool {
        !self.weekend.contains(&d.weekday()) && !self.holidays.contains(&d)
    }

    /// The local calendar date of an instant.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The date of the Nth working day after `from` (exclusive). With a
    /// calendar where every day is a weekend day it would never end, so it
    /// gives up after ten years of searching and returns that date.
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> NaiveDate {
        let mut d = from;
        let mut left = n;
        let mut guard = 0;
        while left > 0 && guard < 3660 {
            d = d + Days::new(1);
            guard += 1;
            if self.is_working(d) {
                left -= 1;
            }
        }
        d
    }

    /// The deadline for a query posted at `posted` with `n` working days.
    pub fn deadline(&self, posted: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let day = self.add_working_days(self.local_date(posted), n);
        self.end_of_day(day)
    }

    /// The last second of a local date, as UTC. When 23:59:59 is ambiguous
    /// (clocks going back at midnight) the later instant is taken; when it does
    /// not exist (clocks jumping forward over it) the first instant after the
    /// gap on the following day, minus one second.
    pub fn end_of_day(&self, d: NaiveDate) -> DateTime<Utc> {
        let last = d.and_time(NaiveTime::from_hms_opt(23, 59, 59).expect("valid time"));
        match self.tz.from_local_datetime(&last) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(_, later) => later.with_timezone(&Utc),
            LocalResult::None => {
                // Walk forward minute by minute to the end of the gap (gaps are
                // at most a few hours), then step back one second.
                let mut probe = last;
                for _ in 0..(24 * 60) {
                    probe += chrono::Duration::minutes(1);
                    if let Some(t) = self.tz.from_local_datetime(&probe).earliest() {
                        return t.with_timezone(&Utc) - chrono::Duration::seconds(1);
                    }
                }
                Utc.from_utc_datetime(&last)
            }
        }
    }

    /// Working days left until `deadline` at `now`: 0 on the day it is due,
    /// 1 the working day before, and so on; negative once it has passed (the
    /// number of working days since, at least -1). Working days, not calendar
    /// days, because that is how the community's promise is stated.
    pub fn working_days_left(&self, deadline: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
        let today = self.local_date(now);
        let due = self.local_date(deadline);
        if now <= deadline {
            self.working_days_between(today, due)
        } else {
            -self.working_days_between(due, today).max(1)
        }
    }

    /// Working days in (from, to]; 0 when `to` is not after `from`.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        let mut n = 0;
        let mut d = from;
        while d < to {
            d = d + Days::new(1);
            if self.is_working(d) {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::schedule::parse_weekday;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn cal(tz: &str, weekend: &[&str], holidays: &[&str]) -> WorkingCalendar {
        WorkingCalendar::new(
            tz.parse().unwrap(),
            weekend.iter().map(|d| parse_weekday(d).unwrap()).collect(),
            holidays.iter().map(|h| date(h)),
        )
    }

    /// (zone, weekend, holidays, posted (UTC), N, deadline as local RFC 3339)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a str, u32, &'a str);

    #[test]
    fn deadlines_across_weekends_holidays_zones_and_dst() {
        let sat_sun = ["sat", "sun"];
        // (zone, weekend, holidays, posted (UTC), N, deadline as local RFC 3339)
        let table: &[Case] = &[
            // Monday, 10 working days: two full weeks later, Monday.
            (
                "UTC",
                &sat_sun,
                &[],
                "2026-11-02T09:00:00Z",
                10,
                "2026-11-16T23:59:59+00:00",
            ),
            // Friday: the weekend is skipped; the day of posting never counts.
            (
                "UTC",
                &sat_sun,
                &[],
                "2026-11-06T23:00:00Z",
                1,
                "2026-11-09T23:59:59+00:00",
            ),
            // Posted on a Saturday: Monday is the first working day.
            (
                "UTC",
                &sat_sun,
                &[],
                "2026-11-07T12:00:00Z",
                1,
                "2026-11-09T23:59:59+00:00",
            ),
            // Christmas (Fri) and a Monday holiday around the weekend.
            (
                "UTC",
                &sat_sun,
                &["2026-12-25", "2026-12-28"],
                "2026-12-23T10:00:00Z",
                2,
                "2026-12-29T23:59:59+00:00",
            ),
            // Friday–Saturday weekend (Gulf): Thursday + 1 is Sunday.
            (
                "Asia/Dubai",
                &["fri", "sat"],
                &[],
                "2026-11-05T08:00:00Z",
                1,
                "2026-11-08T23:59:59+04:00",
            ),
            // Late Friday UTC is already Saturday in Kolkata: posted Saturday locally.
            (
                "Asia/Kolkata",
                &sat_sun,
                &[],
                "2026-11-06T20:00:00Z",
                1,
                "2026-11-09T23:59:59+05:30",
            ),
            // Early Saturday UTC is still Friday in New York.
            (
                "America/New_York",
                &sat_sun,
                &[],
                "2026-11-07T02:00:00Z",
                1,
                "2026-11-09T23:59:59-05:00",
            ),
            // DST ends in New York on 2026-11-01: posted under EDT, due under EST.
            (
                "America/New_York",
                &sat_sun,
                &[],
                "2026-10-29T15:00:00Z",
                3,
                "2026-11-03T23:59:59-05:00",
            ),
            // DST starts in Europe on 2026-03-29: posted under CET, due under CEST.
            (
                "Europe/Berlin",
                &sat_sun,
                &[],
                "2026-03-27T10:00:00Z",
                1,
                "2026-03-30T23:59:59+02:00",
            ),
            // Southern hemisphere: Sydney's DST starts 2026-10-04.
            (
                "Australia/Sydney",
                &sat_sun,
                &[],
                "2026-10-01T22:00:00Z",
                2,
                "2026-10-06T23:59:59+11:00",
            ),
            // No weekend at all.
            (
                "UTC",
                &[],
                &[],
                "2026-11-06T09:00:00Z",
                2,
                "2026-11-08T23:59:59+00:00",
            ),
        ];
        for (tz, weekend, holidays, posted, n, want) in table {
            let c = cal(tz, weekend, holidays);
            let got = c.deadline(utc(posted), *n);
            let local = got.with_timezone(&c.tz).to_rfc3339();
            assert_eq!(&local, want, "{tz} {posted} +{n}");
        }
    }

    #[test]
    fn end_of_day_in_a_gap_or_overlap() {
        // America/Santiago: 2026-09-06 clocks jump 00:00 → 01:00, so 23:59:59 on
        // 09-05 exists; Asia/Gaza and others have had midnight gaps. Use a day
        // whose 23:59:59 is fine and check it is exactly one second before the
        // next local midnight.
        let c = cal("America/Santiago", &[], &[]);
        let eod = c.end_of_day(date("2026-09-05"));
        assert_eq!(eod.with_timezone(&c.tz).date_naive(), date("2026-09-05"));
        // Every day of 2026 in a few zones: end_of_day is on that local date.
        for tz in [
            "Europe/London",
            "America/Havana",
            "Asia/Tehran",
            "Australia/Lord_Howe",
        ] {
            let c = cal(tz, &[], &[]);
            let mut d = date("2026-01-01");
            while d.year() == 2026 {
                let eod = c.end_of_day(d);
                assert_eq!(c.local_date(eod), d, "{tz} {d}");
                assert_eq!(
                    c.local_date(eod + chrono::Duration::seconds(1)),
                    d + Days::new(1),
                    "{tz} {d}"
                );
                d = d + Days::new(1);
            }
        }
    }

    #[test]
    fn working_days_left_counts_working_days_and_goes_negative() {
        let c = cal("UTC", &["sat", "sun"], &["2026-11-11"]);
        let due = c.end_of_day(date("2026-11-13")); // Friday
        let table = [
            ("2026-11-13T08:00:00Z", 0),  // the day it is due
            ("2026-11-12T08:00:00Z", 1),  // Thursday
            ("2026-11-10T08:00:00Z", 2),  // Tuesday: Wednesday is a holiday
            ("2026-11-06T08:00:00Z", 4),  // Friday before: Mon, Tue, Thu, Fri
            ("2026-11-14T08:00:00Z", -1), // Saturday after: past, at least -1
            ("2026-11-16T08:00:00Z", -1), // Monday after
            ("2026-11-18T08:00:00Z", -3),
        ];
        for (now, want) in table {
            assert_eq!(c.working_days_left(due, utc(now)), want, "{now}");
        }
    }

    #[test]
    fn an_all_weekend_calendar_ends() {
        let c = cal(
            "UTC",
            &["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            &[],
        );
        let d = c.add_working_days(date("2026-01-01"), 1);
        assert!(d > date("2035-01-01"));
    }
}
