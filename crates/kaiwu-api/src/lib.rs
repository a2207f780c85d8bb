//! Kaiwu's HTTP interface: the management API (interfaces.md section 2), operations endpoints
//! and the OpenAPI 3.1 document generated from the handlers themselves, so every served route is
//! described and nothing described is missing.

mod caller;
mod error;
mod http_rpc;
mod json;
mod link;
mod openapi;
mod routes;
mod state;

pub use error::{ApiError, Problem};
pub use link::{CommandError, DeviceLink, Presence};
pub use routes::router;
pub use state::{ApiConfig, AppState};
