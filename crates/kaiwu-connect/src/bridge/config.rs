//! `mqtt_bridge` configuration: an external broker and topic mappings onto devices.

use std::collections::BTreeMap;

use kaiwu_model::DeviceType;
use kaiwu_mqtt::codec::topic::valid_topic_filter;
use serde::Deserialize;

use crate::config::{Carries, ConfigError, PointRef, check_host_port, check_points};

/// User name and password for a server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password; shown as `null` when the configuration is read back.
    #[serde(default)]
    pub password: Option<String>,
}

/// An MQTT bridge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    #[allow(dead_code)]
    id: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    #[allow(dead_code)]
    enabled: Option<bool>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// `mqtt://host:port` (or `host:port`) of the external broker.
    pub url: String,
    /// Client id at the external broker; defaults to `kaiwu-<connector id>`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Login at the external broker.
    #[serde(default)]
    pub credentials: Option<Credentials>,
    /// `3.1.1` (default) or `5`.
    #[serde(default = "v311")]
    pub protocol: String,
    /// Keep-alive, seconds.
    #[serde(default = "thirty")]
    pub keep_alive_s: u16,
    /// Topic mappings; the first whose filter matches a message handles it.
    pub mappings: Vec<Mapping>,
}

/// Messages on `topic` become rows of `device`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Topic filter (`+` and `#` allowed).
    pub topic: String,
    /// Subscription QoS (0, 1 or 2).
    #[serde(default = "one")]
    pub qos: u8,
    /// Device id, literal or with `{1}`, `{2}`... standing for the topic levels matched by the
    /// filter's first, second... `+`.
    pub device: String,
    /// Type the devices of a templated `device` must have (checks `fields` up front).
    #[serde(default)]
    pub device_type: Option<String>,
    /// Property -> dotted path of its value in the JSON payload (`sensors.temp`). Without it,
    /// the payload's top-level keys are the properties.
    #[serde(default)]
    pub fields: Option<BTreeMap<String, String>>,
    /// Dotted path of a timestamp (epoch ms) in the payload; without it, the arrival time.
    #[serde(default)]
    pub ts_field: Option<String>,
}

fn v311() -> String {
    "3.1.1".into()
}
fn thirty() -> u16 {
    30
}
fn one() -> u8 {
    1
}

impl BridgeConfig {
    /// `host:port` of the broker.
    pub(crate) fn host_port(&self) -> &str {
        self.url
            .strip_prefix("mqtt://")
            .or_else(|| self.url.strip_prefix("tcp://"))
            .unwrap_or(&self.url)
    }

    pub(crate) fn check(&self) -> Vec<ConfigError> {
        let mut e = Vec::new();
        if self.url.starts_with("mqtts://") || self.url.starts_with("ssl://") {
            e.push(ConfigError::new(
                "url",
                "TLS to external brokers is not supported yet; use mqtt://",
            ));
        } else {
            e.extend(check_host_port("url", self.host_port()));
        }
        if !matches!(self.protocol.as_str(), "3.1.1" | "5") {
            e.push(ConfigError::new("protocol", "must be \"3.1.1\" or \"5\""));
        }
        if self.mappings.is_empty() {
            e.push(ConfigError::new(
                "mappings",
                "at least one mapping is needed",
            ));
        }
        for (i, m) in self.mappings.iter().enumerate() {
            let f = |field: &str| format!("mappings[{i}].{field}");
            if !valid_topic_filter(&m.topic) {
                e.push(ConfigError::new(
                    f("topic"),
                    "not a valid MQTT topic filter",
                ));
            }
            if m.qos > 2 {
                e.push(ConfigError::new(f("qos"), "must be 0, 1 or 2"));
            }
            let wildcards = m.topic.split('/').filter(|l| *l == "+").count();
            match template_refs(&m.device) {
                Err(msg) => e.push(ConfigError::new(f("device"), msg)),
                Ok(refs) => {
                    if let Some(n) = refs.iter().find(|n| **n == 0 || **n > wildcards) {
                        e.push(ConfigError::new(
                            f("device"),
                            format!("{{{n}}} refers to no `+` level of the topic filter ({wildcards} there)"),
                        ));
                    }
                    if !refs.is_empty() && m.device_type.is_none() {
                        e.push(ConfigError::new(
                            f("device_type"),
                            "a templated device needs the device type its devices have",
                        ));
                    }
                }
            }
            if let Some(fields) = &m.fields {
                if fields.is_empty() {
                    e.push(ConfigError::new(f("fields"), "map at least one property"));
                }
                for (prop, path) in fields {
                    if path.is_empty() || path.split('.').any(str::is_empty) {
                        e.push(ConfigError::new(
                            format!("mappings[{i}].fields.{prop}"),
                            "not a dotted path",
                        ));
                    }
                }
            }
        }
        e
    }

    /// Model checks: literal devices and the properties their fields name.
    pub(crate) fn check_models(
        &self,
        reg: &kaiwu_registry::Registry,
        tenant: &str,
        lookup: &mut dyn FnMut(&str) -> Option<DeviceType>,
    ) -> Vec<ConfigError> {
        let mut e = Vec::new();
        for (i, m) in self.mappings.iter().enumerate() {
            let path = format!("mappings[{i}]");
            if let Some(ty) = &m.device_type {
                let Ok(dt) = reg.device_type(tenant, ty) else {
                    e.push(ConfigError::new(
                        format!("{path}.device_type"),
                        format!("device type `{ty}` does not exist"),
                    ));
                    continue;
                };
                if let Some(fields) = &m.fields {
                    for prop in fields.keys() {
                        if !dt.properties.iter().any(|p| p.id == *prop) {
                            e.push(ConfigError::new(
                                format!("{path}.fields.{prop}"),
                                format!("`{prop}` is not a property of device type {ty}"),
                            ));
                        }
                    }
                }
                continue;
            }
            if m.device.contains('{') {
                continue;
            }
            match &m.fields {
                Some(fields) => {
                    // Fields must be mapped at most once per mapping; across mappings a device
                    // may be fed by several topics.
                    let refs = fields.keys().map(|prop| PointRef {
                        path: format!("{path}.fields.{prop}"),
                        device: &m.device,
                        property: prop,
                        carries: Carries::Any,
                        write: false,
                    });
                    e.extend(check_points(refs, lookup).into_iter().map(|mut c| {
                        // `fields.<name>.property` reads better as `fields.<name>`.
                        if let Some(p) = c.path.strip_suffix(".property") {
                            c.path = p.to_owned();
                        }
                        c
                    }));
                }
                None if lookup(&m.device).is_none() => e.push(ConfigError::new(
                    format!("{path}.device"),
                    format!("device `{}` does not exist", m.device),
                )),
                None => {}
            }
        }
        e
    }
}

/// The `{n}` references of a device template.
pub(crate) fn template_refs(t: &str) -> Result<Vec<usize>, String> {
    let mut refs = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| "unclosed `{` in device".to_owned())?;
        let n: usize = rest[open + 1..open + close]
            .parse()
            .map_err(|_| "`{...}` must hold a number: {1} is the first `+` level".to_owned())?;
        refs.push(n);
        rest = &rest[open + close + 1..];
    }
    Ok(refs)
}

/// The device a message on `topic` belongs to under `m`.
pub(crate) fn device_for(m: &Mapping, topic: &str) -> Option<String> {
    if !m.device.contains('{') {
        return Some(m.device.clone());
    }
    let filter: Vec<&str> = m.topic.split('/').collect();
    let levels: Vec<&str> = topic.split('/').collect();
    let plus: Vec<&str> = filter
        .iter()
        .enumerate()
        .filter(|(_, f)| **f == "+")
        .filter_map(|(i, _)| levels.get(i).copied())
        .collect();
    let mut out = String::new();
    let mut rest = m.device.as_str();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = open + rest[open..].find('}')?;
        let n: usize = rest[open + 1..close].parse().ok()?;
        out.push_str(plus.get(n.checked_sub(1)?)?);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}
