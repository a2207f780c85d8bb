//! A small seeded PRNG (SplitMix64): deterministic across platforms and releases, which
//! `rand`'s generators do not promise, and enough for plausible plant noise.

/// SplitMix64 generator with a few helpers for noise and dwell times.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// A generator derived from `seed` and a stream label, so each model of one plant gets
    /// independent noise from the single plant seed.
    pub fn derive(seed: u64, stream: u64) -> Rng {
        let mut r = Rng::new(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        r
    }

    /// Next raw 64-bit value.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        // 53 random bits are exactly what an f64 mantissa holds.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Standard normal sample (Box-Muller; one of the pair is dropped for simplicity).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Exponentially distributed duration with the given mean: memoryless dwell times.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// True with the probability that an event of rate `per_hour` happens within `dt` seconds.
    pub fn event(&mut self, per_hour: f64, dt: f64) -> bool {
        self.chance(1.0 - (-per_hour * dt / 3600.0).exp())
    }
}

/// First-order lag: moves `value` towards `target` with time constant `tau` seconds.
pub(crate) fn lag(value: f64, target: f64, tau: f64, dt: f64) -> f64 {
    value + (target - value) * (1.0 - (-dt / tau).exp())
}

/// Moves `value` towards `target` by at most `rate * dt`.
pub(crate) fn ramp(value: f64, target: f64, rate: f64, dt: f64) -> f64 {
    let step = rate * dt;
    if (target - value).abs() <= step {
        target
    } else if target > value {
        value + step
    } else {
        value - step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::derive(7, 1).next_u64(), Rng::derive(7, 2).next_u64());
    }

    #[test]
    fn distributions_are_plausible() {
        let mut r = Rng::new(1);
        let n = 20_000;
        let (mut sum, mut sq, mut e) = (0.0, 0.0, 0.0);
        for _ in 0..n {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            let z = r.normal();
            sum += z;
            sq += z * z;
            e += r.exp(10.0);
        }
        let n = n as f64;
        assert!((sum / n).abs() < 0.05);
        assert!((sq / n - 1.0).abs() < 0.05);
        assert!((e / n - 10.0).abs() < 0.5);
    }

    #[test]
    fn lag_and_ramp_converge() {
        assert!((lag(0.0, 10.0, 1.0, 100.0) - 10.0).abs() < 1e-9);
        assert_eq!(ramp(0.0, 10.0, 3.0, 1.0), 3.0);
        assert_eq!(ramp(9.0, 10.0, 3.0, 1.0), 10.0);
        assert_eq!(ramp(10.0, 0.0, 3.0, 1.0), 7.0);
    }
}
