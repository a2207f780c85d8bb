//! The Modbus register layout of the simulated devices and the two servers that expose it:
//! the mills on a Modbus TCP server (unit 1 and 2), the energy meter on an RTU-over-TCP
//! server (unit 1). The layout is data ([`modbus_layout`]) so the demo builds its connector
//! configuration from the same table the simulator writes.

mod server;

use kaiwu_modbus::{Area, Bank, Encoding, Order, Raw, decode, encode};

use crate::error::{Error, Result};
use crate::signals::{MeterSample, MillSample};

pub(crate) use server::ModbusServers;

/// Unit ids of the mills on the TCP server, in device order.
pub const MILLS: [(&str, u8); 2] = [("mill-01", 1), ("mill-02", 2)];
/// Device name and unit id of the energy meter on the RTU-over-TCP server.
pub const METER: (&str, u8) = ("meter-01", 1);

/// Items per area in each simulated unit's bank; reads beyond answer "illegal address".
const BANK_SIZE: usize = 32;

/// One value in a simulated device's registers: `value = raw * scale + offset`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModbusPoint {
    pub device: &'static str,
    /// Modbus unit id of the device on its server.
    pub unit: u8,
    pub property: &'static str,
    pub area: Area,
    pub address: u16,
    pub encoding: Encoding,
    /// Byte/word order as `kaiwu_modbus::Order::parse` accepts it.
    pub order: &'static str,
    /// Bit of a status register (0 = least significant), for bit-field points.
    pub bit: Option<u8>,
    pub scale: f64,
    pub offset: f64,
    /// A client may write it, and the simulator reads it back each tick.
    pub writable: bool,
}

/// A point value in engineering units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PointValue {
    Num(f64),
    Bool(bool),
}

impl PointValue {
    /// The value as a number (booleans as 0/1).
    pub fn as_f64(self) -> f64 {
        match self {
            PointValue::Num(v) => v,
            PointValue::Bool(b) => f64::from(u8::from(b)),
        }
    }
}

/// The layouts of the Modbus TCP server (both mills) and the RTU-over-TCP server (meter).
pub fn modbus_layout() -> (Vec<ModbusPoint>, Vec<ModbusPoint>) {
    let tcp = MILLS
        .iter()
        .flat_map(|&(device, unit)| mill_points(device, unit))
        .collect();
    (tcp, meter_points(METER.0, METER.1))
}

#[allow(clippy::too_many_arguments)] // a table row: positional reads best
const fn pt(
    device: &'static str,
    unit: u8,
    property: &'static str,
    area: Area,
    address: u16,
    encoding: Encoding,
    order: &'static str,
    bit: Option<u8>,
    scale: f64,
    writable: bool,
) -> ModbusPoint {
    ModbusPoint {
        device,
        unit,
        property,
        area,
        address,
        encoding,
        order,
        bit,
        scale,
        offset: 0.0,
        writable,
    }
}

fn mill_points(d: &'static str, u: u8) -> Vec<ModbusPoint> {
    use Area::*;
    use Encoding::*;
    vec![
        pt(
            d,
            u,
            "spindle_speed",
            Input,
            0,
            F32,
            "ABCD",
            None,
            1.0,
            false,
        ),
        pt(
            d,
            u,
            "spindle_load",
            Input,
            2,
            F32,
            "BADC",
            None,
            1.0,
            false,
        ),
        pt(d, u, "temperature", Input, 4, I16, "ABCD", None, 0.1, false),
        pt(d, u, "vibration", Input, 5, U16, "ABCD", None, 0.01, false),
        pt(d, u, "state", Input, 6, U16, "ABCD", None, 1.0, false),
        // Input 7 is the status word; bit 0 (running) is also discrete input 0.
        pt(
            d,
            u,
            "fault_active",
            Input,
            7,
            Bool,
            "ABCD",
            Some(1),
            1.0,
            false,
        ),
        pt(
            d,
            u,
            "vibration_alarm",
            Input,
            7,
            Bool,
            "ABCD",
            Some(2),
            1.0,
            false,
        ),
        pt(
            d,
            u,
            "temperature_alarm",
            Input,
            7,
            Bool,
            "ABCD",
            Some(3),
            1.0,
            false,
        ),
        pt(d, u, "part_count", Input, 8, U32, "CDAB", None, 1.0, false),
        pt(
            d,
            u,
            "tool_breaks",
            Input,
            10,
            U16,
            "ABCD",
            None,
            1.0,
            false,
        ),
        pt(
            d,
            u,
            "feed_override",
            Holding,
            0,
            U16,
            "ABCD",
            None,
            1.0,
            true,
        ),
        pt(
            d,
            u,
            "program_enable",
            Coil,
            0,
            Bool,
            "ABCD",
            None,
            1.0,
            true,
        ),
        pt(d, u, "running", Discrete, 0, Bool, "ABCD", None, 1.0, false),
    ]
}

fn meter_points(d: &'static str, u: u8) -> Vec<ModbusPoint> {
    use Area::*;
    use Encoding::*;
    vec![
        pt(
            d,
            u,
            "active_power",
            Input,
            0,
            F32,
            "CDAB",
            None,
            1.0,
            false,
        ),
        pt(
            d,
            u,
            "reactive_power",
            Input,
            2,
            I32,
            "ABCD",
            None,
            0.01,
            false,
        ),
        pt(d, u, "voltage", Input, 4, U16, "ABCD", None, 0.1, false),
        pt(
            d,
            u,
            "power_factor",
            Input,
            5,
            I16,
            "BADC",
            None,
            0.001,
            false,
        ),
        pt(d, u, "current", Input, 6, F32, "DCBA", None, 1.0, false),
        pt(d, u, "energy", Input, 8, F64, "ABCD", None, 1.0, false),
    ]
}

/// The values of a mill's read-only points, by property.
pub(crate) fn mill_values(s: &MillSample) -> Vec<(&'static str, PointValue)> {
    use PointValue::*;
    let status = s.status_word();
    vec![
        ("spindle_speed", Num(s.spindle_speed)),
        ("spindle_load", Num(s.spindle_load)),
        ("temperature", Num(s.temperature)),
        ("vibration", Num(s.vibration)),
        ("state", Num(f64::from(s.state as u8))),
        ("fault_active", Bool(status & 0b10 != 0)),
        ("vibration_alarm", Bool(status & 0b100 != 0)),
        ("temperature_alarm", Bool(status & 0b1000 != 0)),
        ("part_count", Num(f64::from(s.part_count))),
        ("tool_breaks", Num(f64::from(s.tool_breaks))),
        ("running", Bool(s.running())),
    ]
}

/// The values of the meter's points, by property.
pub(crate) fn meter_values(s: &MeterSample) -> Vec<(&'static str, PointValue)> {
    use PointValue::*;
    vec![
        ("active_power", Num(s.active_power)),
        ("reactive_power", Num(s.reactive_power)),
        ("voltage", Num(s.voltage)),
        ("power_factor", Num(s.power_factor)),
        ("current", Num(s.current)),
        ("energy", Num(s.energy)),
    ]
}

fn order(p: &ModbusPoint) -> Result<Order> {
    Order::parse(p.order).map_err(|e| reg_err(p, e))
}

fn reg_err(p: &ModbusPoint, e: impl std::fmt::Display) -> Error {
    Error::Register {
        device: p.device,
        property: p.property,
        message: e.to_string(),
    }
}

fn span(p: &ModbusPoint) -> std::ops::Range<usize> {
    let start = usize::from(p.address);
    start..start + usize::from(p.encoding.registers())
}

/// Writes `v` into `p`'s place in `bank`. Integers round and saturate as a device's firmware
/// would rather than fail; a status bit updates only its own bit of the register.
pub(crate) fn store(bank: &mut Bank, p: &ModbusPoint, v: PointValue) -> Result<()> {
    let addr = usize::from(p.address);
    if p.area.is_bit() {
        let bits = if p.area == Area::Coil {
            &mut bank.coils
        } else {
            &mut bank.discrete
        };
        let slot = bits
            .get_mut(addr)
            .ok_or_else(|| reg_err(p, "address beyond bank"))?;
        *slot = v.as_f64() != 0.0;
        return Ok(());
    }
    let ord = order(p)?;
    let regs = if p.area == Area::Input {
        &mut bank.input
    } else {
        &mut bank.holding
    };
    let slot = regs
        .get_mut(span(p))
        .ok_or_else(|| reg_err(p, "address beyond bank"))?;
    let words = if let Some(bit) = p.bit {
        let Raw::Int(mut word) =
            decode(slot, Encoding::U16, ord, None).map_err(|e| reg_err(p, e))?
        else {
            return Err(reg_err(p, "status register is not an integer"));
        };
        let mask = 1i64 << bit;
        word = if v.as_f64() != 0.0 {
            word | mask
        } else {
            word & !mask
        };
        encode(Raw::Int(word), Encoding::U16, ord)
    } else {
        encode(to_raw(p, v.as_f64()), p.encoding, ord)
    }
    .map_err(|e| reg_err(p, e))?;
    slot.copy_from_slice(&words);
    Ok(())
}

/// Engineering value -> raw value of `p`'s encoding.
fn to_raw(p: &ModbusPoint, v: f64) -> Raw {
    let raw = (v - p.offset) / p.scale;
    let (lo, hi) = match p.encoding {
        Encoding::F32 | Encoding::F64 => return Raw::Float(raw),
        Encoding::U16 => (0, i64::from(u16::MAX)),
        Encoding::I16 => (i64::from(i16::MIN), i64::from(i16::MAX)),
        Encoding::U32 => (0, i64::from(u32::MAX)),
        Encoding::I32 => (i64::from(i32::MIN), i64::from(i32::MAX)),
        Encoding::Bool => (0, 1),
    };
    // `as` saturates (and maps NaN to 0), then the encoding's range applies.
    Raw::Int((raw.round() as i64).clamp(lo, hi))
}

/// Reads `p` from `bank` in engineering units.
pub(crate) fn load(bank: &Bank, p: &ModbusPoint) -> Result<PointValue> {
    let addr = usize::from(p.address);
    if p.area.is_bit() {
        let bits = if p.area == Area::Coil {
            &bank.coils
        } else {
            &bank.discrete
        };
        let b = bits
            .get(addr)
            .ok_or_else(|| reg_err(p, "address beyond bank"))?;
        return Ok(PointValue::Bool(*b));
    }
    let regs = if p.area == Area::Input {
        &bank.input
    } else {
        &bank.holding
    };
    let slot = regs
        .get(span(p))
        .ok_or_else(|| reg_err(p, "address beyond bank"))?;
    Ok(
        match decode(slot, p.encoding, order(p)?, p.bit).map_err(|e| reg_err(p, e))? {
            Raw::Bool(b) => PointValue::Bool(b),
            Raw::Int(i) => PointValue::Num(i as f64 * p.scale + p.offset),
            Raw::Float(f) => PointValue::Num(f * p.scale + p.offset),
        },
    )
}

/// Stores every `(property, value)` of `device` that `layout` has.
pub(crate) fn store_all(
    bank: &mut Bank,
    layout: &[ModbusPoint],
    device: &str,
    values: &[(&'static str, PointValue)],
) -> Result<()> {
    for p in layout.iter().filter(|p| p.device == device) {
        if let Some((_, v)) = values.iter().find(|(prop, _)| *prop == p.property) {
            store(bank, p, *v)?;
        }
    }
    Ok(())
}

/// The point of `device` named `property` in `layout`.
pub(crate) fn point<'a>(
    layout: &'a [ModbusPoint],
    device: &str,
    property: &str,
) -> Option<&'a ModbusPoint> {
    layout
        .iter()
        .find(|p| p.device == device && p.property == property)
}

#[cfg(test)]
mod tests;
