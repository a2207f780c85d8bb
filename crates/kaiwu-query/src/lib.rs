//! SQL over Kaiwu's time-series engine (Apache DataFusion), and device history for the API.
//!
//! Each query gets a fresh DataFusion session whose only catalog (`kaiwu.public`) holds the
//! caller's tenant (interfaces.md section 5):
//! - one table per device type, named by its id: `ts`, `device`, one column per property
//!   (enums as their integer key, json as text). Property ids with capitals need quotes
//!   (`"spindleSpeed"`): SQL folds unquoted names to lower case;
//! - `telemetry`: `ts, device, device_type, key, value` (text; timestamps as epoch ms),
//!   `value_double` (numbers, bools as 0/1, enum keys; else NULL), `quality`
//!   (`good`/`uncertain`/`bad`): one row per stored value;
//! - `devices`: `id, type, name, asset, labels` (labels as JSON text);
//! - `information_schema`, and DataFusion's functions (`date_bin`, `date_trunc`,
//!   `first_value`, `last_value`, `generate_series`, ...).
//!
//! A device type whose id is `telemetry` or `devices` is shadowed by the built-in table (its
//! rows still appear in `telemetry`).
//!
//! Tenant scope holds by construction: tables only ever ask the [`Catalog`] about the caller's
//! tenant. Only queries run (no DDL, DML or statements), on the engine's own runtime, under a
//! time and a memory limit ([`QueryLimits`], the collected result included; no spilling).
//! Overly deep SQL (long operator or UNION chains) is refused before planning, because
//! DataFusion would overflow the stack on it. Filters on `ts` select the segments read; all
//! filters prune Parquet row groups.
//!
//! Errors map to [`kaiwu_core::ErrorKind`] via [`Error::kind`]: SQL errors (syntax, unknown
//! table) and timeouts are `Invalid`, memory and row limits `TooLarge`.
//!
//! Not done yet: `alarms` and `events` tables (the catalog has no source for them) and gap
//! filling in SQL (it is done by [`QueryEngine::history`]).

mod catalog;
mod devices;
mod engine;
mod error;
mod guard;
mod history;
mod output;
mod range;
mod session;
mod table;
mod telemetry;
mod time;

pub use catalog::{Catalog, DeviceInfo};
pub use engine::{MAX_SQL_BYTES, QueryEngine, QueryLimits};
pub use error::{Error, Result};
pub use history::{Agg, DEFAULT_LIMIT, History, HistoryPoint, HistoryRequest};
pub use output::QueryOutput;
pub use time::parse_time;

#[cfg(test)]
mod tests;
