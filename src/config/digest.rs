//! `[community.digest]`: when a community's digests go out. The schedule is
//! parsed as it is read, so an invalid one is a problem at its key.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Problem, invalid};
use crate::digest::schedule::Schedule;

/// `[community.digest]`: when digests go out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DigestConfig {
    /// `daily HH:MM`, `weekly DAY HH:MM` or a cron expression, in the
    /// community's time zone; parsed as it is read, written back as its text.
    #[serde(with = "schedule_text")]
    pub schedule: Schedule,
    /// Send early once this many posts have accrued.
    pub max_posts: u32,
    /// Send early once the accrued posts pass this many KB (raw size), so a
    /// busy day's digest stays a readable size. None: no size threshold.
    pub max_kb: Option<u32>,
}

impl Default for DigestConfig {
    fn default() -> Self {
        Self {
            schedule: Schedule::parse("daily 07:00").expect("the default schedule parses"),
            max_posts: 50,
            max_kb: None,
        }
    }
}

/// A schedule as its text in the file.
mod schedule_text {
    use super::*;

    pub fn serialize<S: Serializer>(s: &Schedule, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(&s.text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Schedule, D::Error> {
        let text = String::deserialize(de)?;
        Schedule::parse(&text).map_err(|e| {
            invalid(
                e,
                "use \"daily 07:00\", \"weekly mon 07:00\" or a cron expression such as \"0 7 * * 1-5\"",
            )
        })
    }
}

/// The checks for one community's `[community.digest]`; `at` is the
/// community's key path.
pub(super) fn validate(c: &DigestConfig, at: &str) -> Vec<Problem> {
    let mut p = Vec::new();
    let mut push =
        |key: String, message: String, fix: &str| p.push(Problem::new(key, message, fix));
    if c.max_posts == 0 {
        push(
            format!("{at}.digest.max_posts"),
            "is 0".into(),
            "use the number of posts that triggers an early digest, e.g. 50",
        );
    }
    if c.max_kb == Some(0) {
        push(
            format!("{at}.digest.max_kb"),
            "is 0".into(),
            "use the accrued size in KB that triggers an early digest, e.g. 200, or leave it out",
        );
    }
    p
}
