//! CNC milling machine: program cycles (idle, ramp up, cut, ramp down), spindle load that
//! follows speed and the writable feed override, a lagging temperature, vibration with an
//! optional slowly growing bearing fault, and rare fault episodes and tool breaks.

use super::rng::{Rng, lag, ramp};

/// Ambient temperature of the shop floor, °C.
pub const AMBIENT_C: f64 = 22.0;
/// Vibration above which the machine trips (ISO 10816 class II, zone D), mm/s RMS.
pub const VIBRATION_TRIP: f64 = 11.2;
/// Vibration above which the status word raises its alarm bit (zone C), mm/s RMS.
pub const VIBRATION_ALARM: f64 = 4.5;
/// Temperature above which the status word raises its over-temperature bit, °C.
pub const TEMPERATURE_ALARM: f64 = 70.0;
/// Accepted feed override range, %; writes outside are clamped like a real control does.
pub const FEED_OVERRIDE_MAX: u16 = 150;

const SPINDLE_RAMP: f64 = 2000.0; // r/min per second
const TEMP_TAU: f64 = 240.0; // s
const FAULTS_PER_HOUR: f64 = 0.4;
const TOOL_BREAKS_PER_HOUR: f64 = 0.25;

/// Machine state as published in the state register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MillState {
    Idle = 0,
    Running = 1,
    Fault = 2,
}

/// Construction parameters of one mill.
#[derive(Debug, Clone, Copy)]
pub struct MillConfig {
    pub seed: u64,
    /// This machine develops a bearing fault.
    pub bearing_fault: bool,
    /// Speed-up of the bearing fault's growth: 1.0 is real time (hours), 60.0 shows within
    /// minutes what takes hours.
    pub fault_growth: f64,
}

/// One sample of the mill's signals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MillSample {
    pub spindle_speed: f64,
    pub spindle_load: f64,
    pub temperature: f64,
    pub vibration: f64,
    pub state: MillState,
    pub feed_override: u16,
    pub enabled: bool,
    pub part_count: u32,
    pub tool_breaks: u32,
}

impl MillSample {
    /// The spindle is turning under program control.
    pub fn running(&self) -> bool {
        self.state == MillState::Running
    }

    /// Status word bits: 0 running, 1 fault, 2 vibration alarm, 3 over-temperature.
    pub fn status_word(&self) -> u16 {
        u16::from(self.running())
            | u16::from(self.state == MillState::Fault) << 1
            | u16::from(self.vibration >= VIBRATION_ALARM) << 2
            | u16::from(self.temperature >= TEMPERATURE_ALARM) << 3
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Waiting for the next part; `left` seconds to go.
    Idle { left: f64 },
    /// Cutting at `target` r/min; `left` seconds of program at 100 % feed.
    Cutting {
        target: f64,
        left: f64,
        segments: u8,
    },
    /// Alarm: spindle stopped until an operator reset after `left` seconds.
    Fault { left: f64 },
}

/// The time-stepped mill model.
#[derive(Debug, Clone)]
pub struct CncMill {
    rng: Rng,
    cfg: MillConfig,
    phase: Phase,
    speed: f64,
    temperature: f64,
    /// Bearing damage in running hours scaled by `fault_growth`.
    wear_hours: f64,
    feed_override: u16,
    enabled: bool,
    part_count: u32,
    tool_breaks: u32,
    last: Option<MillSample>,
}

impl CncMill {
    /// A mill in idle state, warm at ambient temperature.
    pub fn new(cfg: MillConfig) -> CncMill {
        let mut rng = Rng::derive(cfg.seed, 0x4D49_4C4C);
        let left = rng.range(5.0, 20.0);
        CncMill {
            rng,
            cfg,
            phase: Phase::Idle { left },
            speed: 0.0,
            temperature: AMBIENT_C,
            wear_hours: 0.0,
            feed_override: 100,
            enabled: true,
            part_count: 0,
            tool_breaks: 0,
            last: None,
        }
    }

    /// Applies a feed override written by a client, clamped to what the control accepts.
    /// Returns the value actually in effect.
    pub fn set_feed_override(&mut self, percent: u16) -> u16 {
        self.feed_override = percent.min(FEED_OVERRIDE_MAX);
        self.feed_override
    }

    /// Enables or inhibits the start of new programs (a running program finishes).
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// The current feed override, %.
    pub fn feed_override(&self) -> u16 {
        self.feed_override
    }

    /// The last sample, or the initial one before the first step.
    pub fn sample(&self) -> MillSample {
        self.last.unwrap_or(MillSample {
            spindle_speed: 0.0,
            spindle_load: 0.0,
            temperature: self.temperature,
            vibration: 0.0,
            state: MillState::Idle,
            feed_override: self.feed_override,
            enabled: self.enabled,
            part_count: self.part_count,
            tool_breaks: self.tool_breaks,
        })
    }

    /// Advances the model by `dt` seconds and returns the new sample.
    pub fn step(&mut self, dt: f64) -> MillSample {
        let feed = f64::from(self.feed_override) / 100.0;
        self.advance_phase(dt, feed);
        let target = match self.phase {
            Phase::Cutting { target, .. } => target,
            _ => 0.0,
        };
        self.speed = ramp(self.speed, target, SPINDLE_RAMP, dt);
        let s = self.speed / 12_000.0;
        let cutting = matches!(self.phase, Phase::Cutting { .. }) && self.speed > 0.6 * target;
        let load = if cutting {
            // Cutting power grows with speed and, more steeply, with feed (chip load).
            (12.0 + 50.0 * s) * feed.powf(0.8) + 2.0 * self.rng.normal()
        } else {
            3.0 * s + 0.3 * self.rng.normal().abs()
        }
        .clamp(0.0, 150.0);
        if self.speed > 0.0 {
            self.wear_hours += dt / 3600.0 * self.cfg.fault_growth;
        }
        let bearing = self.bearing_vibration();
        let temp_target = AMBIENT_C + 0.45 * load + 1.5 * bearing;
        self.temperature = lag(self.temperature, temp_target, TEMP_TAU, dt);
        let vibration = if self.speed > 0.0 {
            let base = 1.5 * (0.3 + 0.7 * s);
            (base + bearing * s.min(1.0) + 0.08 * self.rng.normal()).max(0.05)
        } else {
            0.02 + 0.01 * self.rng.unit()
        };
        if vibration >= VIBRATION_TRIP && !matches!(self.phase, Phase::Fault { .. }) {
            self.enter_fault();
        }
        let sample = MillSample {
            spindle_speed: self.speed
                + if self.speed > 0.0 {
                    3.0 * self.rng.normal()
                } else {
                    0.0
                },
            spindle_load: load,
            temperature: self.temperature + 0.05 * self.rng.normal(),
            vibration,
            state: self.state(),
            feed_override: self.feed_override,
            enabled: self.enabled,
            part_count: self.part_count,
            tool_breaks: self.tool_breaks,
        };
        let sample = MillSample {
            spindle_speed: sample.spindle_speed.max(0.0),
            ..sample
        };
        self.last = Some(sample);
        sample
    }

    /// Extra vibration of the bearing fault, mm/s: exponential growth typical of spalling.
    fn bearing_vibration(&self) -> f64 {
        if !self.cfg.bearing_fault {
            return 0.0;
        }
        (0.25 * ((self.wear_hours / 4.0).exp() - 1.0)).min(20.0)
    }

    fn state(&self) -> MillState {
        match self.phase {
            Phase::Fault { .. } => MillState::Fault,
            Phase::Cutting { .. } => MillState::Running,
            Phase::Idle { .. } if self.speed > 0.0 => MillState::Running,
            Phase::Idle { .. } => MillState::Idle,
        }
    }

    fn enter_fault(&mut self) {
        let left = self.rng.range(30.0, 150.0);
        self.phase = Phase::Fault { left };
    }

    fn advance_phase(&mut self, dt: f64, feed: f64) {
        self.phase = match self.phase {
            Phase::Idle { left } if left - dt > 0.0 || !self.enabled => {
                Phase::Idle { left: left - dt }
            }
            Phase::Idle { .. } => Phase::Cutting {
                target: self.program_speed(),
                left: self.rng.range(30.0, 90.0),
                segments: self.rng.range(1.0, 4.0) as u8,
            },
            Phase::Cutting {
                target,
                left,
                segments,
            } => {
                if self.rng.event(FAULTS_PER_HOUR, dt) {
                    self.enter_fault();
                    return;
                }
                if self.rng.event(TOOL_BREAKS_PER_HOUR, dt) {
                    self.tool_breaks += 1;
                    self.enter_fault();
                    return;
                }
                // Higher feed finishes the program sooner; zero feed holds it.
                let left = left - dt * feed;
                if left > 0.0 {
                    Phase::Cutting {
                        target,
                        left,
                        segments,
                    }
                } else if segments > 1 {
                    Phase::Cutting {
                        target: self.program_speed(),
                        left: self.rng.range(30.0, 90.0),
                        segments: segments - 1,
                    }
                } else {
                    self.part_count = self.part_count.wrapping_add(1);
                    Phase::Idle {
                        left: self.rng.range(15.0, 60.0),
                    }
                }
            }
            Phase::Fault { left } if left - dt > 0.0 => Phase::Fault { left: left - dt },
            Phase::Fault { .. } => Phase::Idle {
                left: self.rng.range(20.0, 60.0),
            },
        };
    }

    /// Spindle speed of a program segment, rounded like programmed S words.
    fn program_speed(&mut self) -> f64 {
        (self.rng.range(8000.0, 12_000.0) / 50.0).round() * 50.0
    }
}

#[cfg(test)]
mod tests;
