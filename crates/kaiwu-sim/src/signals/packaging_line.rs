//! Packaging line: good and reject counters at the (writable) line speed while running, and
//! a state machine with the dwell times of a real line: long runs broken by short blocked
//! (downstream full) and starved (upstream empty) stops and rarer operator stops.

use super::rng::{Rng, ramp};

/// Default line speed setpoint, packs per minute.
pub const DEFAULT_LINE_SPEED: f64 = 120.0;
/// Highest accepted line speed setpoint, packs per minute.
pub const MAX_LINE_SPEED: f64 = 300.0;

const MEAN_RUN_S: f64 = 240.0;
const MEAN_BLOCKED_S: f64 = 40.0;
const MEAN_STARVED_S: f64 = 25.0;
const MEAN_STOPPED_S: f64 = 150.0;
/// Acceleration of the line, packs/min per second.
const SPEED_RAMP: f64 = 30.0;

/// Line state as published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineState {
    Stopped = 0,
    Running = 1,
    Blocked = 2,
    Starved = 3,
}

/// One sample of the line's signals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineSample {
    pub good_count: u32,
    pub reject_count: u32,
    /// Setpoint, packs/min.
    pub line_speed: f64,
    /// Actual speed, packs/min (ramps; zero unless running).
    pub actual_speed: f64,
    pub state: LineState,
}

/// The time-stepped packaging line model.
#[derive(Debug, Clone)]
pub struct PackagingLine {
    rng: Rng,
    state: LineState,
    left: f64,
    line_speed: f64,
    actual_speed: f64,
    /// Packs started but not yet complete (fraction of one).
    partial: f64,
    reject_ratio: f64,
    good: u32,
    reject: u32,
}

impl PackagingLine {
    /// A line that starts running at the default speed.
    pub fn new(seed: u64) -> PackagingLine {
        let mut rng = Rng::derive(seed, 0x5041_434B);
        let left = rng.exp(MEAN_RUN_S);
        let reject_ratio = rng.range(0.012, 0.025);
        PackagingLine {
            rng,
            state: LineState::Running,
            left,
            line_speed: DEFAULT_LINE_SPEED,
            actual_speed: 0.0,
            partial: 0.0,
            reject_ratio,
            good: 0,
            reject: 0,
        }
    }

    /// Applies a line speed setpoint written by a client, clamped to the line's range.
    /// Returns the value in effect.
    pub fn set_line_speed(&mut self, per_min: f64) -> f64 {
        self.line_speed = if per_min.is_finite() {
            per_min.clamp(0.0, MAX_LINE_SPEED)
        } else {
            self.line_speed
        };
        self.line_speed
    }

    /// The current line speed setpoint, packs/min.
    pub fn line_speed(&self) -> f64 {
        self.line_speed
    }

    /// The current values without stepping.
    pub fn sample(&self) -> LineSample {
        LineSample {
            good_count: self.good,
            reject_count: self.reject,
            line_speed: self.line_speed,
            actual_speed: self.actual_speed,
            state: self.state,
        }
    }

    /// Advances the model by `dt` seconds and returns the new sample.
    pub fn step(&mut self, dt: f64) -> LineSample {
        self.left -= dt;
        if self.left <= 0.0 {
            self.transition();
        }
        let target = if self.state == LineState::Running {
            self.line_speed
        } else {
            0.0
        };
        let before = self.actual_speed;
        self.actual_speed = ramp(self.actual_speed, target, SPEED_RAMP, dt);
        // Trapezoid of the speed over the step: packs made in it.
        self.partial += (before + self.actual_speed) / 2.0 / 60.0 * dt;
        let made = self.partial.floor();
        self.partial -= made;
        // Reject ratio drifts slowly within the 1-3 % band (film, seal temperature).
        self.reject_ratio =
            (self.reject_ratio + 0.0002 * self.rng.normal() * dt.sqrt()).clamp(0.01, 0.03);
        for _ in 0..made as u64 {
            if self.rng.chance(self.reject_ratio) {
                self.reject = self.reject.wrapping_add(1);
            } else {
                self.good = self.good.wrapping_add(1);
            }
        }
        self.sample()
    }

    fn transition(&mut self) {
        let (state, mean) = if self.state == LineState::Running {
            let u = self.rng.unit();
            if u < 0.45 {
                (LineState::Blocked, MEAN_BLOCKED_S)
            } else if u < 0.85 {
                (LineState::Starved, MEAN_STARVED_S)
            } else {
                (LineState::Stopped, MEAN_STOPPED_S)
            }
        } else {
            (LineState::Running, MEAN_RUN_S)
        };
        self.state = state;
        // Never shorter than a few seconds: real stops are not instantaneous blips.
        self.left = 5.0 + self.rng.exp(mean);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(l: &mut PackagingLine, secs: usize) -> Vec<LineSample> {
        (0..secs).map(|_| l.step(1.0)).collect()
    }

    #[test]
    fn deterministic_for_seed_and_steps() {
        assert_eq!(
            run(&mut PackagingLine::new(5), 5000),
            run(&mut PackagingLine::new(5), 5000)
        );
        assert_ne!(
            run(&mut PackagingLine::new(5), 5000),
            run(&mut PackagingLine::new(6), 5000)
        );
    }

    #[test]
    fn counters_are_monotonic_with_plausible_rates() {
        let mut l = PackagingLine::new(1);
        let s = run(&mut l, 8 * 3600);
        assert!(
            s.windows(2)
                .all(|w| w[1].good_count >= w[0].good_count
                    && w[1].reject_count >= w[0].reject_count)
        );
        let last = s[s.len() - 1];
        let total = f64::from(last.good_count + last.reject_count);
        let ratio = f64::from(last.reject_count) / total;
        assert!((0.008..0.035).contains(&ratio), "{ratio}");
        // Availability of a typical line: well below 100 %, well above half.
        let ideal = 120.0 * 8.0 * 60.0;
        assert!(total > 0.5 * ideal && total < 0.95 * ideal, "{total}");
        for st in [LineState::Stopped, LineState::Blocked, LineState::Starved] {
            assert!(s.iter().any(|x| x.state == st), "{st:?}");
        }
        assert!(
            s.iter()
                .all(|x| x.state == LineState::Running || x.actual_speed < 120.0)
        );
    }

    #[test]
    fn no_packs_unless_running_and_speed_setpoint_counts() {
        let mut l = PackagingLine::new(2);
        assert_eq!(l.set_line_speed(1e9), MAX_LINE_SPEED);
        assert_eq!(l.set_line_speed(f64::NAN), MAX_LINE_SPEED);
        assert_eq!(l.set_line_speed(0.0), 0.0);
        let s = run(&mut l, 3600);
        assert_eq!((s[3599].good_count, s[3599].reject_count), (0, 0));
        l.set_line_speed(240.0);
        let before = l.sample();
        let s = run(&mut l, 3600);
        let made =
            s[3599].good_count + s[3599].reject_count - before.good_count - before.reject_count;
        assert!(made > 7000, "{made}");
    }
}
