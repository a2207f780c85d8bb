//! MQTT bridge connector.

mod config;
mod driver;
#[cfg(test)]
mod tests;

pub use config::{BridgeConfig, Credentials, Mapping};
pub(crate) use driver::run;
