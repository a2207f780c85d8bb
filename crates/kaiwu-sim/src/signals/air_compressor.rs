//! Screw air compressor with load/unload control: loaded it delivers its rated flow and the
//! receiver pressure rises to the unload point (7.5 bar); unloaded it delivers nothing and
//! the plant's demand draws pressure down to the load point (6.5 bar). `running` is the
//! remote run command (RPC `load` / `unload`); stopped, pressure decays with demand.

use super::rng::{Rng, lag};

/// Pressure at which a loaded compressor unloads, bar(g).
pub const UNLOAD_BAR: f64 = 7.5;
/// Pressure at which an unloaded compressor loads again, bar(g).
pub const LOAD_BAR: f64 = 6.5;
/// Rated free air delivery, m³/min.
pub const RATED_FLOW: f64 = 3.6;

/// Receiver volume, m³ of free air per bar: the pressure rise per m³ delivered.
const RECEIVER_M3: f64 = 1.5;

/// One sample of the compressor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompressorSample {
    pub pressure: f64,
    pub flow: f64,
    pub motor_temp: f64,
    pub running: bool,
    pub loaded: bool,
}

impl CompressorSample {
    /// Electrical draw, kW: a 22 kW unit takes about 35 % of full power unloaded.
    pub fn power_kw(&self) -> f64 {
        match (self.running, self.loaded) {
            (false, _) => 0.0,
            (true, true) => 22.0,
            (true, false) => 7.5,
        }
    }
}

/// The time-stepped compressor model.
#[derive(Debug, Clone)]
pub struct AirCompressor {
    rng: Rng,
    pressure: f64,
    demand: f64,
    motor_temp: f64,
    running: bool,
    loaded: bool,
    last: Option<CompressorSample>,
}

impl AirCompressor {
    /// A running compressor at the load point.
    pub fn new(seed: u64) -> AirCompressor {
        let mut rng = Rng::derive(seed, 0x4149_5243);
        let pressure = rng.range(LOAD_BAR, UNLOAD_BAR);
        let demand = rng.range(1.2, 2.6);
        AirCompressor {
            rng,
            pressure,
            demand,
            motor_temp: 55.0,
            running: true,
            loaded: true,
            last: None,
        }
    }

    /// Remote run command: `false` stops the compressor (RPC `unload`), `true` starts it.
    pub fn set_running(&mut self, running: bool) {
        self.running = running;
    }

    /// The remote run command in effect.
    pub fn running(&self) -> bool {
        self.running
    }

    /// The last sample, or the initial one before the first step.
    pub fn sample(&self) -> CompressorSample {
        self.last.unwrap_or(CompressorSample {
            pressure: self.pressure,
            flow: 0.0,
            motor_temp: self.motor_temp,
            running: self.running,
            loaded: false,
        })
    }

    /// Advances by `dt` seconds.
    pub fn step(&mut self, dt: f64) -> CompressorSample {
        // Plant demand wanders between shifts' typical 1-3 m³/min.
        self.demand = (lag(self.demand, 2.0, 1800.0, dt) + 0.02 * self.rng.normal() * dt.sqrt())
            .clamp(0.8, 3.2);
        if !self.running || self.pressure >= UNLOAD_BAR {
            self.loaded = false;
        } else if self.pressure <= LOAD_BAR {
            self.loaded = true;
        }
        let supply = if self.loaded {
            RATED_FLOW * (1.0 - 0.02 * self.pressure / UNLOAD_BAR)
        } else {
            0.0
        };
        // Leaks and consumers draw less as pressure falls.
        let draw = self.demand * (self.pressure / 7.0).clamp(0.0, 1.2);
        self.pressure = (self.pressure + (supply - draw) / 60.0 * dt / RECEIVER_M3).max(0.0);
        let temp_target = match (self.running, self.loaded) {
            (false, _) => 22.0,
            (true, true) => 82.0,
            (true, false) => 62.0,
        };
        self.motor_temp = lag(self.motor_temp, temp_target, 300.0, dt);
        let sample = CompressorSample {
            pressure: (self.pressure + 0.01 * self.rng.normal()).max(0.0),
            flow: if self.loaded {
                (supply + 0.03 * self.rng.normal()).max(0.0)
            } else {
                0.0
            },
            motor_temp: self.motor_temp + 0.1 * self.rng.normal(),
            running: self.running,
            loaded: self.loaded,
        };
        self.last = Some(sample);
        sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(c: &mut AirCompressor, secs: usize) -> Vec<CompressorSample> {
        (0..secs).map(|_| c.step(1.0)).collect()
    }

    #[test]
    fn deterministic_for_seed_and_steps() {
        assert_eq!(
            run(&mut AirCompressor::new(1), 3000),
            run(&mut AirCompressor::new(1), 3000)
        );
        assert_ne!(
            run(&mut AirCompressor::new(1), 3000),
            run(&mut AirCompressor::new(2), 3000)
        );
    }

    #[test]
    fn cycles_between_load_and_unload_points() {
        let mut c = AirCompressor::new(7);
        let s = run(&mut c, 3600);
        assert!(
            s.iter().all(|x| (6.3..=7.7).contains(&x.pressure)),
            "pressure out of band"
        );
        assert!(s.iter().all(|x| (0.0..=RATED_FLOW + 0.2).contains(&x.flow)));
        assert!(s.iter().all(|x| (40.0..=90.0).contains(&x.motor_temp)));
        let switches = s.windows(2).filter(|w| w[0].loaded != w[1].loaded).count();
        assert!(switches > 10, "{switches}");
    }

    #[test]
    fn stopped_compressor_loses_pressure_and_cools() {
        let mut c = AirCompressor::new(3);
        run(&mut c, 600);
        c.set_running(false);
        let s = run(&mut c, 1800);
        let last = s[s.len() - 1];
        assert!(!last.running && !last.loaded && last.flow == 0.0);
        assert!(last.pressure < 4.0 && last.motor_temp < 40.0, "{last:?}");
        assert_eq!(last.power_kw(), 0.0);
        c.set_running(true);
        let s = run(&mut c, 900);
        assert!(s[s.len() - 1].pressure > LOAD_BAR - 0.3);
    }
}
