//! Data areas, value encodings and byte/word order: registers <-> typed values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One of the four Modbus data areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    /// Read/write bits (FC 1, 5, 15).
    Coil,
    /// Read-only bits (FC 2).
    Discrete,
    /// Read-only registers (FC 4).
    Input,
    /// Read/write registers (FC 3, 6, 16).
    Holding,
}

impl Area {
    /// True for the bit areas (coil, discrete).
    pub fn is_bit(self) -> bool {
        matches!(self, Area::Coil | Area::Discrete)
    }

    /// Function code that reads this area.
    pub fn read_function(self) -> u8 {
        match self {
            Area::Coil => 1,
            Area::Discrete => 2,
            Area::Holding => 3,
            Area::Input => 4,
        }
    }

    /// The area read by function code `fc`, if it is a read function.
    pub fn from_read_function(fc: u8) -> Option<Area> {
        match fc {
            1 => Some(Area::Coil),
            2 => Some(Area::Discrete),
            3 => Some(Area::Holding),
            4 => Some(Area::Input),
            _ => None,
        }
    }
}

/// How a value is laid out in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    U16,
    I16,
    U32,
    I32,
    F32,
    F64,
    /// A coil or discrete input, a whole register (non-zero = true), or one bit of a register.
    Bool,
}

impl Encoding {
    /// Registers one value occupies (1 for `Bool`).
    pub fn registers(self) -> u16 {
        match self {
            Encoding::U16 | Encoding::I16 | Encoding::Bool => 1,
            Encoding::U32 | Encoding::I32 | Encoding::F32 => 2,
            Encoding::F64 => 4,
        }
    }
}

/// Byte and word order of multi-byte values, written as the order in which the bytes of a
/// big-endian value A B C D appear on the wire. ABCD (the default) is big-endian throughout;
/// CDAB swaps words, BADC swaps the bytes inside each word, DCBA does both. For 64-bit values
/// the same two swaps apply to all four words; for 16-bit values only the byte swap matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Order {
    byte_swap: bool,
    word_swap: bool,
}

impl Order {
    pub const ABCD: Order = Order::new(false, false);
    pub const CDAB: Order = Order::new(false, true);
    pub const BADC: Order = Order::new(true, false);
    pub const DCBA: Order = Order::new(true, true);

    /// Order with the given swaps (bytes inside each word, word order).
    pub const fn new(byte_swap: bool, word_swap: bool) -> Order {
        Order {
            byte_swap,
            word_swap,
        }
    }

    /// Parses "ABCD", "DCBA", "BADC" or "CDAB" (case-insensitive).
    pub fn parse(s: &str) -> Result<Order> {
        match s.to_ascii_uppercase().as_str() {
            "ABCD" => Ok(Order::ABCD),
            "CDAB" => Ok(Order::CDAB),
            "BADC" => Ok(Order::BADC),
            "DCBA" => Ok(Order::DCBA),
            _ => Err(Error::invalid(format!(
                "unknown byte order {s:?} (expected ABCD, DCBA, BADC or CDAB)"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match (self.byte_swap, self.word_swap) {
            (false, false) => "ABCD",
            (false, true) => "CDAB",
            (true, false) => "BADC",
            (true, true) => "DCBA",
        }
    }

    fn word(self, w: u16) -> u16 {
        if self.byte_swap { w.swap_bytes() } else { w }
    }

    /// Combines `regs` (wire order) into a big-endian integer of `regs.len()` words.
    fn join(self, regs: &[u16]) -> u64 {
        let fold = |acc: u64, w: &u16| (acc << 16) | u64::from(self.word(*w));
        if self.word_swap {
            regs.iter().rev().fold(0, fold)
        } else {
            regs.iter().fold(0, fold)
        }
    }

    /// Splits the low `n` words of `v` into registers in wire order.
    fn split(self, v: u64, n: usize) -> Vec<u16> {
        let mut out: Vec<u16> = (0..n)
            .rev()
            .map(|i| self.word((v >> (16 * i)) as u16))
            .collect();
        if self.word_swap {
            out.reverse();
        }
        out
    }
}

impl FromStr for Order {
    type Err = Error;
    fn from_str(s: &str) -> Result<Order> {
        Order::parse(s)
    }
}

impl TryFrom<String> for Order {
    type Error = Error;
    fn try_from(s: String) -> Result<Order> {
        Order::parse(&s)
    }
}

impl From<Order> for String {
    fn from(o: Order) -> String {
        o.as_str().to_owned()
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoded value before scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Raw {
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// Decodes the first `enc.registers()` registers of `regs`. With `bit: Some(n)` the result is
/// bit `n` (0 = least significant) of the first register, after the order's byte swap; this
/// needs a one-register encoding (`Bool`, `U16`, `I16`).
pub fn decode(regs: &[u16], enc: Encoding, order: Order, bit: Option<u8>) -> Result<Raw> {
    let n = usize::from(enc.registers());
    let Some(regs) = regs.get(..n) else {
        return Err(Error::invalid(format!(
            "{enc:?} needs {n} registers, got {}",
            regs.len()
        )));
    };
    let v = order.join(regs);
    if let Some(bit) = bit {
        if bit > 15 || n != 1 {
            return Err(Error::invalid(format!(
                "bit {bit} of a {enc:?} value (bits 0..=15 of one register only)"
            )));
        }
        return Ok(Raw::Bool(v & (1 << bit) != 0));
    }
    Ok(match enc {
        Encoding::U16 | Encoding::U32 => Raw::Int(v as i64),
        Encoding::I16 => Raw::Int(i64::from(v as u16 as i16)),
        Encoding::I32 => Raw::Int(i64::from(v as u32 as i32)),
        Encoding::F32 => Raw::Float(f64::from(f32::from_bits(v as u32))),
        Encoding::F64 => Raw::Float(f64::from_bits(v)),
        Encoding::Bool => Raw::Bool(v != 0),
    })
}

/// Encodes `raw` as `enc` for a write. Integers are range-checked; floats are accepted for
/// integer encodings only when integral; booleans encode as 0/1.
pub fn encode(raw: Raw, enc: Encoding, order: Order) -> Result<Vec<u16>> {
    let n = usize::from(enc.registers());
    let bits: u64 = match enc {
        Encoding::U16 => int_in(raw, enc, 0, i64::from(u16::MAX))? as u64,
        Encoding::I16 => int_in(raw, enc, i16::MIN.into(), i16::MAX.into())? as i16 as u16 as u64,
        Encoding::U32 => int_in(raw, enc, 0, i64::from(u32::MAX))? as u64,
        Encoding::I32 => int_in(raw, enc, i32::MIN.into(), i32::MAX.into())? as i32 as u32 as u64,
        Encoding::Bool => int_in(raw, enc, 0, 1)? as u64,
        Encoding::F32 => {
            let f = float(raw);
            if f.is_finite() && f.abs() > f64::from(f32::MAX) {
                return Err(Error::invalid(format!("value {f} does not fit in f32")));
            }
            u64::from((f as f32).to_bits())
        }
        Encoding::F64 => float(raw).to_bits(),
    };
    Ok(order.split(bits, n))
}

fn float(raw: Raw) -> f64 {
    match raw {
        Raw::Int(i) => i as f64,
        Raw::Float(f) => f,
        Raw::Bool(b) => f64::from(u8::from(b)),
    }
}

/// `raw` as an integer within `min..=max`, or an error naming the value.
fn int_in(raw: Raw, enc: Encoding, min: i64, max: i64) -> Result<i64> {
    let v = match raw {
        Raw::Int(i) => Some(i),
        Raw::Bool(b) => Some(i64::from(b)),
        // Exact check: the float must be integral and survive the round trip through i64.
        Raw::Float(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => {
            Some(f as i64)
        }
        Raw::Float(_) => None,
    };
    match v {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(Error::invalid(format!(
            "value {} out of range for {enc:?} ({min}..={max})",
            display(raw)
        ))),
    }
}

fn display(raw: Raw) -> String {
    match raw {
        Raw::Int(i) => i.to_string(),
        Raw::Float(f) => f.to_string(),
        Raw::Bool(b) => b.to_string(),
    }
}

#[cfg(test)]
mod tests;
