//! Pure, seeded, time-stepped signal models. No I/O: the plant task steps them and copies
//! their samples into the protocol servers. Each model is deterministic for a given seed and
//! sequence of steps, so a demo run can be reproduced.

pub mod air_compressor;
pub mod cnc_mill;
pub mod energy_meter;
pub mod packaging_line;
pub mod rng;

pub use air_compressor::{AirCompressor, CompressorSample};
pub use cnc_mill::{CncMill, MillConfig, MillSample, MillState};
pub use energy_meter::{EnergyMeter, MeterSample};
pub use packaging_line::{LineSample, LineState, PackagingLine};
pub use rng::Rng;

/// Electrical draw of a mill, kW: controls and hydraulics when idle plus the spindle.
pub fn mill_power_kw(s: &MillSample) -> f64 {
    1.8 + 15.0 * s.spindle_load / 100.0 + 0.6 * s.spindle_speed / 12_000.0
}

/// Electrical draw of the packaging line, kW.
pub fn line_power_kw(s: &LineSample) -> f64 {
    1.2 + 6.0 * s.actual_speed / packaging_line::DEFAULT_LINE_SPEED
}
