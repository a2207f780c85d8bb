//! OPC UA client connector.

mod config;
mod driver;

pub use config::{Mode, OpcuaConfig, OpcuaMethod, OpcuaNode, SecurityName};
pub(crate) use driver::run;
