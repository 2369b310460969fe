//! Digest schedules: `daily HH:MM`, `weekly DAY HH:MM` or cron, in a community's
//! time zone, DST-safe, and the weekday names they (and a community's
//! weekend) are written with. Pure: no I/O, no clock (callers pass "now").

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// A parsed digest schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The text as configured, for messages.
    pub text: String,
    /// The equivalent cron pattern (minute resolution).
    cron: Cron,
}

impl Schedule {
    /// Parses `daily 07:00`, `weekly mon 07:00` or a five-field cron expression.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let pattern = match words.as_slice() {
            ["daily", hm] => {
                let (h, m) = parse_hm(hm)?;
                format!("{m} {h} * * *")
            }
            ["weekly", day, hm] => {
                let d = parse_weekday(day)
                    .ok_or_else(|| format!("`{day}` is not a day of the week"))?;
                let (h, m) = parse_hm(hm)?;
                format!("{m} {h} * * {}", d.num_days_from_sunday())
            }
            [first, ..] if *first == "daily" || *first == "weekly" => {
                return Err(format!(
                    "`{text}` is not `daily HH:MM` or `weekly DAY HH:MM`"
                ));
            }
            f if f.len() == 5 => text.to_string(),
            _ => return Err(format!("`{text}` is not a schedule")),
        };
        let cron = Cron::new(&pattern)
            .parse()
            .map_err(|e| format!("`{text}` is not a valid cron expression: {e}"))?;
        Ok(Schedule {
            text: text.to_string(),
            cron,
        })
    }

    /// The first time strictly after `after` that the schedule fires, in `tz`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&tz);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// A weekday from `mon`, `monday`, `Mon`, ...
pub fn parse_weekday(s: &str) -> Option<chrono::Weekday> {
    let lower = s.trim().to_ascii_lowercase();
    if lower.len() < 3 {
        return None;
    }
    let all = [
        ("monday", chrono::Weekday::Mon),
        ("tuesday", chrono::Weekday::Tue),
        ("wednesday", chrono::Weekday::Wed),
        ("thursday", chrono::Weekday::Thu),
        ("friday", chrono::Weekday::Fri),
        ("saturday", chrono::Weekday::Sat),
        ("sunday", chrono::Weekday::Sun),
    ];
    all.iter()
        .find(|(name, _)| name.starts_with(&lower))
        .map(|(_, d)| *d)
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_hm(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{s}` is not a time of day (HH:MM)");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok((h, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn forms() {
        assert!(Schedule::parse("daily 07:00").is_ok());
        assert!(Schedule::parse("weekly mon 07:30").is_ok());
        assert!(Schedule::parse("0 7 * * 1-5").is_ok());
        for bad in [
            "daily",
            "daily 25:00",
            "weekly funday 07:00",
            "sometimes",
            "0 7 * *",
            "daily 7",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn daily_in_a_time_zone() {
        let s = Schedule::parse("daily 07:00").unwrap();
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        // 07:00 IST is 01:30 UTC.
        let next = s.next_after(utc("2026-11-23T00:00:00Z"), kolkata).unwrap();
        assert_eq!(next, utc("2026-11-23T01:30:00Z"));
        let next = s.next_after(next, kolkata).unwrap();
        assert_eq!(next, utc("2026-11-24T01:30:00Z"));
    }

    #[test]
    fn daily_across_dst_changes() {
        let s = Schedule::parse("daily 07:00").unwrap();
        let paris: Tz = "Europe/Paris".parse().unwrap();
        // Spring forward on 2026-03-29: 07:00 is 06:00 UTC before, 05:00 UTC after.
        assert_eq!(
            s.next_after(utc("2026-03-28T07:00:00Z"), paris).unwrap(),
            utc("2026-03-29T05:00:00Z")
        );
        // Fall back on 2026-10-25.
        assert_eq!(
            s.next_after(utc("2026-10-24T06:00:00Z"), paris).unwrap(),
            utc("2026-10-25T06:00:00Z")
        );
        // A time inside the spring gap (02:30 does not exist) still fires once that day.
        let gap = Schedule::parse("daily 02:30").unwrap();
        let t = gap.next_after(utc("2026-03-28T12:00:00Z"), paris).unwrap();
        assert_eq!(
            t.with_timezone(&paris).date_naive(),
            chrono::NaiveDate::from_ymd_opt(2026, 3, 29).unwrap()
        );
        assert!(t > Utc.with_ymd_and_hms(2026, 3, 29, 0, 0, 0).unwrap());
    }

    #[test]
    fn weekly() {
        let s = Schedule::parse("weekly mon 07:00").unwrap();
        // 2026-11-23 is a Monday.
        let next = s
            .next_after(utc("2026-11-23T08:00:00Z"), chrono_tz::UTC)
            .unwrap();
        assert_eq!(next, utc("2026-11-30T07:00:00Z"));
    }
}
