//! Composition root: builds Kaiwu's services from configuration and runs them. The binary only
//! parses its command line and calls into here.

mod admin;
mod bootstrap;
mod catalog;
mod client_auth;
mod config;
mod datadir;
mod demo;
mod device_api;
mod error;
mod listen;
mod plant;
mod serve;
mod sim;
mod tls;

pub use admin::{create_user, reset_password};
pub use config::{Config, HttpConfig, LogFormat, MqttConfig, MqttsConfig, Overrides, TsdbConfig};
pub use error::{Error, Result};
pub use serve::{Mode, init_logging, serve};
pub use sim::{SimSettings, run_sim};
