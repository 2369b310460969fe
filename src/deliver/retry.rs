//! The retry schedule: capped exponential backoff with a give-up time, like
//! an MTA's queue (minutes first, then hours, bounced after days). Pure.

use crate::config::DeliveryConfig;

/// When to try a temporarily failed delivery again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Seconds before the first retry.
    pub first: i64,
    /// The longest wait between retries, in seconds.
    pub max: i64,
    /// Seconds of failing after which the delivery fails for good.
    pub give_up_after: i64,
}

/// What to do after a temporary failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again at this time.
    At(i64),
    /// It has failed for longer than `give_up_after`: fail it.
    GiveUp,
}

impl Schedule {
    /// The schedule in `[delivery]`.
    pub fn from_config(d: &DeliveryConfig) -> Schedule {
        Schedule {
            first: d.retry_first.whole_secs().max(1),
            max: d.retry_max.whole_secs().max(1),
            give_up_after: d.give_up_after.whole_secs().max(1),
        }
    }

    /// The wait after the `attempts`-th failed attempt (1 for the first):
    /// `first`, `2·first`, `4·first`, … capped at `max`.
    pub fn delay(&self, attempts: i64) -> i64 {
        let doublings = (attempts.max(1) - 1).min(40) as u32;
        self.first
            .saturating_mul(1_i64.checked_shl(doublings).unwrap_or(i64::MAX))
            .min(self.max)
            .max(1)
    }

    /// What to do when a delivery that had made `attempts_before` attempts
    /// and first failed at `first_failed_at` fails temporarily at `now`.
    pub fn next(&self, attempts_before: i64, first_failed_at: Option<i64>, now: i64) -> Next {
        let since = first_failed_at.unwrap_or(now).min(now);
        if now - since >= self.give_up_after {
            return Next::GiveUp;
        }
        Next::At(now + self.delay(attempts_before + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MTA: Schedule = Schedule {
        first: 300,
        max: 4 * 3600,
        give_up_after: 4 * 86_400,
    };

    #[test]
    fn backoff_doubles_from_minutes_to_a_cap_of_hours() {
        let delays: Vec<i64> = (1..=9).map(|n| MTA.delay(n)).collect();
        assert_eq!(
            delays,
            [300, 600, 1200, 2400, 4800, 9600, 14_400, 14_400, 14_400]
        );
        assert_eq!(MTA.delay(1000), 14_400, "no overflow on many attempts");
    }

    #[test]
    fn it_gives_up_after_failing_for_the_configured_time() {
        let t0 = 1_000_000;
        assert_eq!(MTA.next(0, None, t0), Next::At(t0 + 300));
        assert_eq!(MTA.next(3, Some(t0), t0 + 3600), Next::At(t0 + 3600 + 2400));
        assert_eq!(
            MTA.next(30, Some(t0), t0 + 4 * 86_400 - 1),
            Next::At(t0 + 4 * 86_400 - 1 + 14_400)
        );
        assert_eq!(MTA.next(31, Some(t0), t0 + 4 * 86_400), Next::GiveUp);
    }

    #[test]
    fn the_schedule_comes_from_the_config() {
        let s = Schedule::from_config(&DeliveryConfig::default());
        assert_eq!(s, MTA);
    }
}
