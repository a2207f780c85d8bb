//! PDU (function code + data) encoding and decoding.

use super::*;
use crate::error::{ILLEGAL_DATA_VALUE, ILLEGAL_FUNCTION, Result};
use crate::plan::{MAX_READ_BITS, MAX_READ_REGISTERS};

const COIL_ON: u16 = 0xFF00;
/// Most data bytes in a read response (125 registers or 2000 bits).
const MAX_READ_BYTES: usize = 250;

/// Big-endian register values of FC 3/4/16 data (a trailing odd byte is ignored).
pub fn registers(data: &[u8]) -> impl ExactSizeIterator<Item = u16> + '_ {
    data.chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
}

/// Bit `i` of coils packed eight to a byte, least significant bit first (false past the end).
pub fn packed_bit(packed: &[u8], i: usize) -> bool {
    packed.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
}

/// Appends `bits` packed eight to a byte, least significant bit first.
pub fn pack_bits(bits: impl IntoIterator<Item = bool>, out: &mut Vec<u8>) {
    let (mut byte, mut n) = (0u8, 0u32);
    for b in bits {
        byte |= u8::from(b) << n;
        n += 1;
        if n == 8 {
            out.push(byte);
            (byte, n) = (0, 0);
        }
    }
    if n > 0 {
        out.push(byte);
    }
}

fn u16_at(pdu: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*pdu.get(i)?, *pdu.get(i + 1)?]))
}

/// The two u16 fields of a 5-byte PDU (function, a, b), if it is exactly that long.
fn two_fields(pdu: &[u8]) -> Option<(u16, u16)> {
    (pdu.len() == 5).then_some((u16_at(pdu, 1)?, u16_at(pdu, 3)?))
}

fn read_limit(area: Area) -> u16 {
    if area.is_bit() {
        MAX_READ_BITS
    } else {
        MAX_READ_REGISTERS
    }
}

/// Parses a request PDU. Unacceptable but well framed requests give [`Error::Exception`].
pub fn decode_request_pdu(pdu: &[u8]) -> Result<Request<'_>> {
    let Some(&fc) = pdu.first() else {
        return Err(Error::protocol("empty request PDU"));
    };
    let bad = || exception_error(fc, ILLEGAL_DATA_VALUE);
    match fc {
        FC_READ_COILS..=FC_READ_INPUT => {
            let area = Area::from_read_function(fc).ok_or_else(bad)?;
            let (start, count) = two_fields(pdu).ok_or_else(bad)?;
            if count == 0 || count > read_limit(area) {
                return Err(bad());
            }
            Ok(Request::Read { area, start, count })
        }
        FC_WRITE_COIL => match two_fields(pdu).ok_or_else(bad)? {
            (addr, COIL_ON) => Ok(Request::WriteCoil { addr, value: true }),
            (addr, 0) => Ok(Request::WriteCoil { addr, value: false }),
            _ => Err(bad()),
        },
        FC_WRITE_REGISTER => {
            let (addr, value) = two_fields(pdu).ok_or_else(bad)?;
            Ok(Request::WriteRegister { addr, value })
        }
        FC_WRITE_COILS | FC_WRITE_REGISTERS => {
            let (Some(start), Some(count), Some(&n), Some(data)) =
                (u16_at(pdu, 1), u16_at(pdu, 3), pdu.get(5), pdu.get(6..))
            else {
                return Err(bad());
            };
            let (max, expected) = if fc == FC_WRITE_COILS {
                (MAX_WRITE_COILS, count.div_ceil(8))
            } else {
                (MAX_WRITE_REGISTERS, count * 2)
            };
            if count == 0 || count > max || u16::from(n) != expected || data.len() != usize::from(n)
            {
                return Err(bad());
            }
            Ok(if fc == FC_WRITE_COILS {
                Request::WriteCoils {
                    start,
                    count,
                    packed: data,
                }
            } else {
                Request::WriteRegisters { start, data }
            })
        }
        _ => Err(exception_error(fc, ILLEGAL_FUNCTION)),
    }
}

/// Parses a response PDU. Exception responses decode to [`Response::Exception`].
pub fn decode_response_pdu(pdu: &[u8]) -> Result<Response<'_>> {
    let Some(&fc) = pdu.first() else {
        return Err(Error::protocol("empty response PDU"));
    };
    let malformed = || Error::protocol(format!("malformed response to function {fc:#04x}"));
    if fc & 0x80 != 0 {
        return match pdu {
            [_, code] => Ok(Response::Exception {
                function: fc & 0x7F,
                code: *code,
            }),
            _ => Err(malformed()),
        };
    }
    match fc {
        FC_READ_COILS..=FC_READ_INPUT => {
            let area = Area::from_read_function(fc).ok_or_else(malformed)?;
            let (Some(&n), Some(data)) = (pdu.get(1), pdu.get(2..)) else {
                return Err(malformed());
            };
            let odd = !area.is_bit() && n % 2 != 0;
            if n == 0 || odd || usize::from(n) > MAX_READ_BYTES || data.len() != usize::from(n) {
                return Err(Error::protocol(format!(
                    "response to function {fc:#04x} has byte count {n} with {} data bytes",
                    data.len()
                )));
            }
            Ok(if area.is_bit() {
                Response::ReadBits { area, packed: data }
            } else {
                Response::ReadRegisters { area, data }
            })
        }
        FC_WRITE_COIL => match two_fields(pdu).ok_or_else(malformed)? {
            (addr, COIL_ON) => Ok(Response::WriteCoil { addr, value: true }),
            (addr, 0) => Ok(Response::WriteCoil { addr, value: false }),
            _ => Err(malformed()),
        },
        FC_WRITE_REGISTER => {
            let (addr, value) = two_fields(pdu).ok_or_else(malformed)?;
            Ok(Response::WriteRegister { addr, value })
        }
        FC_WRITE_COILS => {
            let (start, count) = two_fields(pdu).ok_or_else(malformed)?;
            Ok(Response::WriteCoils { start, count })
        }
        FC_WRITE_REGISTERS => {
            let (start, count) = two_fields(pdu).ok_or_else(malformed)?;
            Ok(Response::WriteRegisters { start, count })
        }
        _ => Err(Error::protocol(format!(
            "response with unknown function code {fc:#04x}"
        ))),
    }
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn coil_word(v: bool) -> u16 {
    if v { COIL_ON } else { 0 }
}

/// Appends a request PDU after checking it obeys the limits [`decode_request_pdu`] enforces.
pub(crate) fn encode_request_pdu(req: &Request<'_>, out: &mut Vec<u8>) -> Result<()> {
    out.push(req.function());
    match *req {
        Request::Read { area, start, count } => {
            if count == 0 || count > read_limit(area) {
                return Err(Error::invalid(format!(
                    "read of {count} {area:?} items (1..={})",
                    read_limit(area)
                )));
            }
            put_u16(out, start);
            put_u16(out, count);
        }
        Request::WriteCoil { addr, value } => {
            put_u16(out, addr);
            put_u16(out, coil_word(value));
        }
        Request::WriteRegister { addr, value } => {
            put_u16(out, addr);
            put_u16(out, value);
        }
        Request::WriteCoils {
            start,
            count,
            packed,
        } => {
            if count == 0
                || count > MAX_WRITE_COILS
                || packed.len() != usize::from(count.div_ceil(8))
            {
                return Err(Error::invalid(format!(
                    "write of {count} coils in {} bytes (1..={MAX_WRITE_COILS} coils)",
                    packed.len()
                )));
            }
            put_u16(out, start);
            put_u16(out, count);
            out.push(packed.len() as u8);
            out.extend_from_slice(packed);
        }
        Request::WriteRegisters { start, data } => {
            let count = data.len() / 2;
            if count == 0 || count > MAX_WRITE_REGISTERS.into() || data.len() % 2 != 0 {
                return Err(Error::invalid(format!(
                    "write of {} register bytes (1..={MAX_WRITE_REGISTERS} registers)",
                    data.len()
                )));
            }
            put_u16(out, start);
            put_u16(out, count as u16);
            out.push(data.len() as u8);
            out.extend_from_slice(data);
        }
    }
    Ok(())
}

/// Appends a response PDU after checking it obeys the limits [`decode_response_pdu`] enforces.
pub(crate) fn encode_response_pdu(resp: &Response<'_>, out: &mut Vec<u8>) -> Result<()> {
    out.push(resp.function());
    match *resp {
        Response::ReadBits { packed: data, area } | Response::ReadRegisters { data, area } => {
            let odd = !area.is_bit() && data.len() % 2 != 0;
            if data.is_empty()
                || odd
                || data.len() > MAX_READ_BYTES
                || area.is_bit() != resp_is_bits(resp)
            {
                return Err(Error::invalid(format!(
                    "read response with {} data bytes for {area:?}",
                    data.len()
                )));
            }
            out.push(data.len() as u8);
            out.extend_from_slice(data);
        }
        Response::WriteCoil { addr, value } => {
            put_u16(out, addr);
            put_u16(out, coil_word(value));
        }
        Response::WriteRegister { addr, value: b }
        | Response::WriteCoils {
            start: addr,
            count: b,
        }
        | Response::WriteRegisters {
            start: addr,
            count: b,
        } => {
            put_u16(out, addr);
            put_u16(out, b);
        }
        Response::Exception { function, code } => {
            if function & 0x80 != 0 {
                return Err(Error::invalid(format!(
                    "exception for function {function:#04x} (must be below 0x80)"
                )));
            }
            out.push(code);
        }
    }
    Ok(())
}

fn resp_is_bits(resp: &Response<'_>) -> bool {
    matches!(resp, Response::ReadBits { .. })
}
