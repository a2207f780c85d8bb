//! Failed-login limit per IP address (a sliding window over the last failures).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct AuthLimiter {
    max: usize,
    window: Duration,
    failures: HashMap<IpAddr, VecDeque<Instant>>,
    /// Failures recorded since the last sweep of stale addresses.
    since_sweep: usize,
}

impl AuthLimiter {
    pub(crate) fn new(max: u32, window: Duration) -> AuthLimiter {
        AuthLimiter {
            max: usize::try_from(max).unwrap_or(usize::MAX),
            window,
            failures: HashMap::new(),
            since_sweep: 0,
        }
    }

    /// Whether CONNECTs from `ip` are refused at `now`.
    pub(crate) fn blocked(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.max == 0 {
            return false;
        }
        let Some(times) = self.failures.get_mut(&ip) else {
            return false;
        };
        prune(times, now, self.window);
        if times.is_empty() {
            self.failures.remove(&ip);
            return false;
        }
        times.len() >= self.max
    }

    /// Records a failed login from `ip`.
    pub(crate) fn failed(&mut self, ip: IpAddr, now: Instant) {
        if self.max == 0 {
            return;
        }
        let times = self.failures.entry(ip).or_default();
        prune(times, now, self.window);
        times.push_back(now);
        // Only the last `max` failures decide, so that is all that is kept.
        while times.len() > self.max {
            times.pop_front();
        }
        self.since_sweep += 1;
        // Addresses that stopped failing are dropped now and then, so scanning from many
        // addresses cannot grow the map without bound.
        if self.since_sweep >= 1024 {
            self.since_sweep = 0;
            let window = self.window;
            self.failures.retain(|_, t| {
                prune(t, now, window);
                !t.is_empty()
            });
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.failures.len()
    }
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn blocks_after_n_failures_until_window_passes() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(3, Duration::from_secs(60));
        for i in 0..2 {
            l.failed(ip(1), t0 + Duration::from_secs(i));
            assert!(!l.blocked(ip(1), t0 + Duration::from_secs(i)));
        }
        l.failed(ip(1), t0 + Duration::from_secs(10));
        assert!(l.blocked(ip(1), t0 + Duration::from_secs(10)));
        assert!(!l.blocked(ip(2), t0 + Duration::from_secs(10)));
        // The first failure leaves the window at t0 + 60 s.
        assert!(!l.blocked(ip(1), t0 + Duration::from_secs(60)));
        assert!(!l.blocked(ip(1), t0 + Duration::from_secs(200)));
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn zero_disables() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(0, Duration::from_secs(60));
        l.failed(ip(1), t0);
        assert!(!l.blocked(ip(1), t0));
    }

    #[test]
    fn stale_addresses_are_swept() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(5, Duration::from_secs(1));
        for i in 0..200u8 {
            l.failed(ip(i), t0);
        }
        let later = t0 + Duration::from_secs(5);
        for _ in 0..1024 {
            l.failed(ip(250), later);
        }
        assert_eq!(l.tracked(), 1);
    }
}
