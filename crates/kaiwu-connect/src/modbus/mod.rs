//! Modbus TCP and RTU-over-TCP connectors.

mod config;
mod driver;

pub use config::{AreaName, EncodingName, ModbusConfig, ModbusPoint};
pub(crate) use driver::run;
