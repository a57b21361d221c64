//! Exponential backoff after a failure: `min` doubling up to `max`, reset on success.

use std::time::{Duration, Instant};

/// One backoff: the whole producer's (server unreachable, busy, full) or one file's (the device
/// cannot be read), so that one bad file does not hold the others up.
#[derive(Debug, Default, Clone)]
pub struct Backoff {
    until: Option<Instant>,
    level: u32,
    /// Why it is backing off, for status lines.
    pub reason: String,
}

impl Backoff {
    /// Whether it is still waiting at `now`.
    pub fn active(&self, now: Instant) -> bool {
        self.until.is_some_and(|u| now < u)
    }

    /// Records one more failure; returns how long to wait (`min` doubling up to `max`).
    pub fn fail(&mut self, now: Instant, min: Duration, max: Duration, reason: String) -> Duration {
        let wait = min.saturating_mul(1 << self.level.min(16)).min(max);
        self.level += 1;
        self.until = Some(now + wait);
        self.reason = reason;
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_expires() {
        let t0 = Instant::now();
        let (min, max) = (Duration::from_secs(2), Duration::from_secs(10));
        let mut b = Backoff::default();
        assert!(!b.active(t0));
        let waits: Vec<u64> = (0..5).map(|_| b.fail(t0, min, max, "device_read: x".into()).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 10, 10]);
        assert!(b.active(t0 + Duration::from_secs(9)));
        assert!(!b.active(t0 + Duration::from_secs(10)));
        assert_eq!(b.reason, "device_read: x");
    }
}
