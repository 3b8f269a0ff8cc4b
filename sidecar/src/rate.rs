// SPDX-License-Identifier: BUSL-1.1
//! A token bucket: `rate` events a second on average, bursts of up to `burst`. It bounds the
//! database lookups that unknown credentials can cause, so a flood of random keys cannot take
//! the connections valid requests need.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        TokenBucket {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: now,
        }
    }

    /// Takes one token at `now`, or says how long until one is available.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut b = TokenBucket::new(10, 3, start);
        for _ in 0..3 {
            assert!(b.take(start).is_ok());
        }
        let wait = b.take(start).unwrap_err();
        assert!(
            wait > Duration::from_millis(90) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        // 100 ms later one more token has come back, and only one.
        let later = start + Duration::from_millis(100);
        assert!(b.take(later).is_ok());
        assert!(b.take(later).is_err());
        // A long pause refills up to the burst, no more.
        let much_later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(b.take(much_later).is_ok());
        }
        assert!(b.take(much_later).is_err());
    }
}
