//! `modbus_tcp` / `modbus_rtu` configuration.

use serde::Deserialize;

use crate::config::{Carries, ConfigError, PointRef, check_host_port};

/// A Modbus connector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusConfig {
    #[allow(dead_code)]
    id: String,
    kind: String,
    #[serde(default)]
    #[allow(dead_code)]
    enabled: Option<bool>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// `host:port` of the server (for `modbus_rtu`: a serial server speaking RTU over TCP).
    #[serde(default)]
    pub address: String,
    /// `modbus_rtu` on a serial line of this host instead (e.g. "/dev/ttyUSB0").
    #[serde(default)]
    pub serial_port: Option<String>,
    /// Line settings of `serial_port` (default 9600 baud, 8 data bits, even parity, 1 stop bit).
    #[serde(default)]
    pub serial: Option<kaiwu_modbus::SerialSettings>,
    /// Default unit (slave) id of the points.
    #[serde(default = "one")]
    pub unit_id: u8,
    /// Default poll interval of the points, ms.
    #[serde(default = "thousand")]
    pub poll_ms: u64,
    /// Answer timeout of one request, ms.
    #[serde(default = "thousand")]
    pub timeout_ms: u64,
    /// Retries of a request that timed out before the connection counts as lost.
    #[serde(default = "one_u32")]
    pub retries: u32,
    /// Largest hole (registers or bits) bridged to read neighbouring points in one request.
    #[serde(default = "gap")]
    pub max_gap: u16,
    /// Mapped points.
    pub points: Vec<ModbusPoint>,
}

/// Register area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AreaName {
    /// Coils (read-write bits).
    Coil,
    /// Discrete inputs (read-only bits).
    Discrete,
    /// Input registers (read-only).
    Input,
    /// Holding registers (read-write).
    Holding,
}

/// Value encoding in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodingName {
    /// Unsigned 16 bit.
    #[default]
    U16,
    /// Signed 16 bit.
    I16,
    /// Unsigned 32 bit, two registers.
    U32,
    /// Signed 32 bit.
    I32,
    /// IEEE 754 single, two registers.
    F32,
    /// IEEE 754 double, four registers.
    F64,
    /// A bit: coils and discrete inputs (implied there), or `bit` of a register.
    Bool,
}

impl EncodingName {
    pub(crate) fn registers(self) -> u16 {
        match self {
            EncodingName::U32 | EncodingName::I32 | EncodingName::F32 => 2,
            EncodingName::F64 => 4,
            _ => 1,
        }
    }
}

/// One register or bit mapped to a device property.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusPoint {
    /// Device id.
    pub device: String,
    /// Property of the device's type.
    pub property: String,
    /// Register area.
    pub area: AreaName,
    /// 0-based address.
    pub address: u16,
    /// Encoding (registers; bits are implied for coils and discrete inputs).
    #[serde(default)]
    pub encoding: EncodingName,
    /// Byte and word order: ABCD (big-endian, the default), CDAB, BADC, DCBA.
    #[serde(default = "abcd")]
    pub order: String,
    /// Bit of a 16-bit register (0 = least significant), read as a boolean.
    #[serde(default)]
    pub bit: Option<u8>,
    /// value = raw * scale + offset.
    #[serde(default = "unit_scale")]
    pub scale: f64,
    /// See `scale`.
    #[serde(default)]
    pub offset: f64,
    /// Unit id, when not the connector's.
    #[serde(default)]
    pub unit_id: Option<u8>,
    /// Poll interval, when not the connector's: points with equal intervals form a poll group.
    #[serde(default)]
    pub poll_ms: Option<u64>,
    /// Commands and desired values for this property are written here.
    #[serde(default)]
    pub write: bool,
}

fn one() -> u8 {
    1
}
fn one_u32() -> u32 {
    1
}
fn thousand() -> u64 {
    1000
}
fn gap() -> u16 {
    16
}
fn abcd() -> String {
    "ABCD".into()
}
fn unit_scale() -> f64 {
    1.0
}

const ORDERS: [&str; 4] = ["ABCD", "CDAB", "BADC", "DCBA"];

impl ModbusPoint {
    /// Width in registers or bits.
    pub(crate) fn width(&self) -> u16 {
        match self.area {
            AreaName::Coil | AreaName::Discrete => 1,
            _ if self.bit.is_some() => 1,
            _ => self.encoding.registers(),
        }
    }

    pub(crate) fn is_bit(&self) -> bool {
        matches!(self.area, AreaName::Coil | AreaName::Discrete) || self.bit.is_some()
    }
}

impl ModbusConfig {
    /// Checks that need no thing model.
    pub(crate) fn check(&self) -> Vec<ConfigError> {
        let mut e = Vec::new();
        match (&self.serial_port, self.kind.as_str()) {
            (Some(_), "modbus_tcp") => e.push(ConfigError::new(
                "serial_port",
                "only a modbus_rtu connector reads a serial line",
            )),
            (Some(_), _) if !self.address.is_empty() => e.push(ConfigError::new(
                "serial_port",
                "give either address (RTU over TCP) or serial_port, not both",
            )),
            (Some(port), _) if !port.starts_with('/') || port.len() > 255 => {
                e.push(ConfigError::new(
                    "serial_port",
                    "must be an absolute device path such as /dev/ttyUSB0",
                ))
            }
            (Some(_), _) => {}
            (None, _) => e.extend(check_host_port("address", &self.address)),
        }
        match (&self.serial, &self.serial_port) {
            (Some(_), None) => e.push(ConfigError::new("serial", "only with serial_port")),
            (Some(s), Some(_)) => {
                if let Err(why) = s.check() {
                    e.push(ConfigError::new("serial", why));
                }
            }
            _ => {}
        }
        if self.unit_id > 247 {
            e.push(ConfigError::new("unit_id", "must be 0..=247"));
        }
        if !(10..=86_400_000).contains(&self.poll_ms) {
            e.push(ConfigError::new("poll_ms", "must be 10..=86400000"));
        }
        if !(10..=60_000).contains(&self.timeout_ms) {
            e.push(ConfigError::new("timeout_ms", "must be 10..=60000"));
        }
        if self.retries > 10 {
            e.push(ConfigError::new("retries", "must be at most 10"));
        }
        if self.points.is_empty() {
            e.push(ConfigError::new("points", "at least one point is needed"));
        }
        if self.points.len() > 100_000 {
            e.push(ConfigError::new("points", "at most 100000 points"));
        }
        for (i, p) in self.points.iter().enumerate() {
            e.extend(check_point(&format!("points[{i}]"), p));
        }
        e
    }

    /// Where the connector reads: the serial port or the server address.
    pub(crate) fn endpoint(&self) -> &str {
        self.serial_port.as_deref().unwrap_or(&self.address)
    }

    pub(crate) fn point_refs(&self) -> impl Iterator<Item = PointRef<'_>> {
        self.points.iter().enumerate().map(|(i, p)| PointRef {
            path: format!("points[{i}]"),
            device: &p.device,
            property: &p.property,
            carries: if p.is_bit() {
                Carries::Bit
            } else {
                Carries::Number
            },
            write: p.write,
        })
    }
}

fn check_point(path: &str, p: &ModbusPoint) -> Vec<ConfigError> {
    let mut e = Vec::new();
    let f = |field: &str| format!("{path}.{field}");
    if !ORDERS.contains(&p.order.as_str()) {
        e.push(ConfigError::new(
            f("order"),
            format!("`{}` is not one of ABCD, CDAB, BADC, DCBA", p.order),
        ));
    }
    let bits = matches!(p.area, AreaName::Coil | AreaName::Discrete);
    if bits && !matches!(p.encoding, EncodingName::U16 | EncodingName::Bool) {
        e.push(ConfigError::new(
            f("encoding"),
            "coils and discrete inputs hold single bits; use bool",
        ));
    }
    if !bits && p.encoding == EncodingName::Bool && p.bit.is_none() {
        e.push(ConfigError::new(
            f("bit"),
            "a bool in a register needs `bit` (0..=15)",
        ));
    }
    if let Some(b) = p.bit {
        if bits {
            e.push(ConfigError::new(f("bit"), "only registers have bits"));
        } else if b > 15 || !matches!(p.encoding, EncodingName::U16 | EncodingName::Bool) {
            e.push(ConfigError::new(
                f("bit"),
                "bit fields are 0..=15 of a u16 register",
            ));
        }
        if p.write {
            e.push(ConfigError::new(
                f("write"),
                "writing one bit of a register is not supported (it would race the device)",
            ));
        }
    }
    if u32::from(p.address) + u32::from(p.width()) > 65_536 {
        e.push(ConfigError::new(f("address"), "runs past register 65535"));
    }
    if !p.scale.is_finite() || p.scale == 0.0 {
        e.push(ConfigError::new(
            f("scale"),
            "must be a finite non-zero number",
        ));
    }
    if !p.offset.is_finite() {
        e.push(ConfigError::new(f("offset"), "must be finite"));
    }
    if p.unit_id.is_some_and(|u| u > 247) {
        e.push(ConfigError::new(f("unit_id"), "must be 0..=247"));
    }
    if p.poll_ms.is_some_and(|ms| !(10..=86_400_000).contains(&ms)) {
        e.push(ConfigError::new(f("poll_ms"), "must be 10..=86400000"));
    }
    if p.write && matches!(p.area, AreaName::Discrete | AreaName::Input) {
        e.push(ConfigError::new(
            f("write"),
            "discrete inputs and input registers are read-only; write to coils or holding registers",
        ));
    }
    e
}
