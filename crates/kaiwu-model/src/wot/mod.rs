//! W3C WoT Thing Description 1.1 (<https://www.w3.org/TR/wot-thing-description11/>) export and
//! import.
//!
//! Mapping (native -> TD):
//! - `id` -> `"id": "urn:kaiwu:device-type:<id>"`, `name` -> `title`, `version` ->
//!   `{"instance": "<version>"}`, `extensible: true` -> `"kaiwu:extensible": true`.
//! - property -> property affordance: bool `boolean`, int `integer`, float `number`, string
//!   `string`, enum `integer` + `oneOf: [{"const": key, "title": label}]`, timestamp `integer` +
//!   `"kaiwu:type": "timestamp"`, json no `type` (any JSON value) + `"kaiwu:type": "json"`;
//!   `unit`, `minimum`/`maximum`, `readOnly` (true for `read`), `"kaiwu:classification"`.
//! - command -> action with `input`/`output` object schemas whose `properties` are the params
//!   and result fields, in order (serde_json keeps insertion order); omitted when empty.
//! - event -> event with a `data` object schema of its fields and `"kaiwu:severity"`.
//! - Forms: a device type describes many devices, so hrefs are URI templates with a `{device}`
//!   variable (declared in `uriVariables`), written as absolute-path references (`/api/...`) that
//!   resolve against whatever host served the TD: properties read `/api/devices/{device}/latest`
//!   (and write `PATCH /api/devices/{device}/shadow` when read_write), actions `POST
//!   /api/devices/{device}/commands/<id>`, events subscribe at `/api/stream`.
//! - Security: one `bearer` scheme (JWT in the `Authorization` header).
//!
//! Import reverses this and also accepts plain third-party TDs; see [`DeviceType::from_wot`].

mod export;
mod import;

use crate::{DeviceType, Result};

/// JSON-LD context of TD 1.1.
pub const TD_CONTEXT_11: &str = "https://www.w3.org/2022/wot/td/v1.1";
/// JSON-LD context of TD 1.0, accepted on import.
pub const TD_CONTEXT_10: &str = "https://www.w3.org/2019/wot/td/v1";
/// Namespace of the `kaiwu:` extension terms.
pub const KAIWU_NAMESPACE: &str = "urn:kaiwu:td#";
/// Prefix of exported TD ids; the device type id follows.
pub const TD_ID_PREFIX: &str = "urn:kaiwu:device-type:";

impl DeviceType {
    /// Exports this device type as a WoT Thing Description 1.1.
    pub fn to_wot(&self) -> serde_json::Value {
        export::thing(self)
    }

    /// Imports a WoT Thing Description (1.0 or 1.1) as a validated device type.
    ///
    /// `id` defaults to [`slug`](crate::slug) of the TD's `title`. Types: `number` -> float,
    /// `integer` -> int, `boolean` -> bool, `string` -> string, `object`/`array`/absent -> json;
    /// `enum` or `oneOf` of consts -> enum (integer consts keep their values, string consts get
    /// keys 0, 1, ... with the strings as labels); `kaiwu:type` overrides. `readOnly: true` ->
    /// read, otherwise read_write (the TD default). Units are kept for int and float only, bounds
    /// for int, float and timestamp. An action's object `input`/`output` (with `properties`)
    /// becomes params/result; any other schema becomes one field named `value`. The same holds
    /// for an event's `data`. A non-integer `version.instance` (e.g. `"1.2.0"`) gives version 1.
    ///
    /// Affordance and field names that are not valid ids are rejected, not renamed. Structural
    /// problems are [`Error::Wot`](crate::Error::Wot) naming the TD path (`properties.temp.type:
    /// ...`); the result is then validated like any device type, so rule violations are
    /// [`Error::Invalid`](crate::Error::Invalid) with native paths (`properties[3].unit`, the
    /// index following the TD's order).
    pub fn from_wot(td: &serde_json::Value, id: Option<&str>) -> Result<DeviceType> {
        import::thing(td, id)
    }
}

#[cfg(test)]
mod tests;
