//! The open-loop schedule: when each request is due. Request `i` is due `i / rate` seconds after
//! the start, computed from `i` (never by adding up intervals, so no error accumulates), and is
//! timed from that moment whether or not the generator managed to send it then: a target that
//! stalls is charged for the requests that queued behind the stall (no coordinated omission).

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    rate: u32,
    count: u64,
}

impl Schedule {
    /// `rate` requests a second for `duration` (at least one request).
    pub(crate) fn new(rate: u32, duration: Duration) -> Self {
        let rate = rate.max(1);
        let count = (u128::from(rate) * duration.as_nanos()).div_ceil(1_000_000_000).max(1);
        Self { rate, count: u64::try_from(count).unwrap_or(u64::MAX) }
    }

    /// How many requests the run sends.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// When request `i` is due, after the start.
    pub(crate) fn due(&self, i: u64) -> Duration {
        let nanos = u128::from(i) * 1_000_000_000 / u128::from(self.rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_for_a_time_sends_rate_times_seconds() {
        assert_eq!(Schedule::new(1000, Duration::from_secs(3)).count(), 3000);
        assert_eq!(Schedule::new(100, Duration::from_millis(1500)).count(), 150);
        assert_eq!(Schedule::new(3, Duration::from_millis(500)).count(), 2, "a part of a request rounds up");
        assert_eq!(Schedule::new(0, Duration::ZERO).count(), 1, "at least one request");
    }

    #[test]
    fn requests_are_evenly_spaced_without_drift() {
        let schedule = Schedule::new(3, Duration::from_secs(100));
        assert_eq!(schedule.due(0), Duration::ZERO);
        assert_eq!(schedule.due(1), Duration::from_nanos(333_333_333));
        assert_eq!(schedule.due(2), Duration::from_nanos(666_666_666));
        // Adding 333,333,333 ns 300 times would be 100 ms short of 100 s; computing from i is exact.
        assert_eq!(schedule.due(300), Duration::from_secs(100));
    }

    #[test]
    fn every_request_is_due_within_the_run_and_in_order() {
        let run = Duration::from_secs(2);
        let schedule = Schedule::new(1000, run);
        let dues: Vec<Duration> = (0..schedule.count()).map(|i| schedule.due(i)).collect();
        assert!(dues.windows(2).all(|pair| pair[1] - pair[0] == Duration::from_millis(1)));
        assert_eq!(dues.last(), Some(&Duration::from_millis(1999)));
        assert!(dues.iter().all(|due| *due < run));
    }
}
