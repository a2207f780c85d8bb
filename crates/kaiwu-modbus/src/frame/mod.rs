//! Pure, I/O-free Modbus frame codec for both framings, usable from tests and fuzzers.
//!
//! A frame is split off the front of a receive buffer with [`split_request`] /
//! [`split_response`] (which check the MBAP header or the RTU CRC), and its PDU is parsed with
//! [`decode_request_pdu`] / [`decode_response_pdu`]; [`decode_request`] and
//! [`decode_response`] do both. All of them return `Ok(None)` while the buffer holds only part
//! of a frame, check every length field before slicing, and never panic.
//!
//! Over RTU framing the frame length is derived from the function code and byte count, since
//! a byte stream has no inter-character gaps to delimit frames.
//!
//! A request whose PDU is well framed but not acceptable is reported as
//! [`Error::Exception`] with the code the server must answer (01 unknown function, 03 bad
//! quantity, byte count or value); anything that breaks framing is [`Error::Protocol`].

mod adu;
mod crc;
mod pdu;

#[cfg(test)]
mod tests;

pub use adu::{
    decode_request, decode_response, encode_request, encode_response, split_request, split_response,
};
pub use crc::crc16;
pub use pdu::{decode_request_pdu, decode_response_pdu, pack_bits, packed_bit, registers};

use crate::error::Error;
use crate::value::Area;

pub const FC_READ_COILS: u8 = 0x01;
pub const FC_READ_DISCRETE: u8 = 0x02;
pub const FC_READ_HOLDING: u8 = 0x03;
pub const FC_READ_INPUT: u8 = 0x04;
pub const FC_WRITE_COIL: u8 = 0x05;
pub const FC_WRITE_REGISTER: u8 = 0x06;
pub const FC_WRITE_COILS: u8 = 0x0F;
pub const FC_WRITE_REGISTERS: u8 = 0x10;

/// Most coils one FC 15 request may write.
pub const MAX_WRITE_COILS: u16 = 1968;
/// Most registers one FC 16 request may write.
pub const MAX_WRITE_REGISTERS: u16 = 123;
/// Largest PDU (function code + data).
pub const MAX_PDU: usize = 253;
/// Largest MBAP length field (unit id + PDU).
pub const MAX_MBAP_LENGTH: u16 = 254;
/// Largest RTU frame (unit + PDU + CRC).
pub const MAX_RTU_FRAME: usize = 256;

/// Addressing part of a frame. `transaction` is always 0 for RTU framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub transaction: u16,
    pub unit: u8,
}

/// One frame taken off a buffer: its header, its body and how many bytes it used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame<T> {
    pub header: Header,
    pub body: T,
    /// Bytes of the buffer this frame occupied.
    pub len: usize,
}

/// A request PDU. Multi-value writes borrow their wire bytes: `packed` holds coils eight to a
/// byte, least significant bit first; `data` holds big-endian registers (see [`registers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    Read {
        area: Area,
        start: u16,
        count: u16,
    },
    WriteCoil {
        addr: u16,
        value: bool,
    },
    WriteRegister {
        addr: u16,
        value: u16,
    },
    WriteCoils {
        start: u16,
        count: u16,
        packed: &'a [u8],
    },
    WriteRegisters {
        start: u16,
        data: &'a [u8],
    },
}

impl Request<'_> {
    /// Function code of this request.
    pub fn function(&self) -> u8 {
        match self {
            Request::Read { area, .. } => area.read_function(),
            Request::WriteCoil { .. } => FC_WRITE_COIL,
            Request::WriteRegister { .. } => FC_WRITE_REGISTER,
            Request::WriteCoils { .. } => FC_WRITE_COILS,
            Request::WriteRegisters { .. } => FC_WRITE_REGISTERS,
        }
    }
}

/// A response PDU. Read data borrows the wire bytes as in [`Request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response<'a> {
    /// FC 1/2: `packed` bits (the byte count is `packed.len()`).
    ReadBits {
        area: Area,
        packed: &'a [u8],
    },
    /// FC 3/4: big-endian registers.
    ReadRegisters {
        area: Area,
        data: &'a [u8],
    },
    WriteCoil {
        addr: u16,
        value: bool,
    },
    WriteRegister {
        addr: u16,
        value: u16,
    },
    WriteCoils {
        start: u16,
        count: u16,
    },
    WriteRegisters {
        start: u16,
        count: u16,
    },
    /// Exception response to `function` (without the 0x80 bit).
    Exception {
        function: u8,
        code: u8,
    },
}

impl Response<'_> {
    /// Function code of this response (with the 0x80 bit for exceptions).
    pub fn function(&self) -> u8 {
        match self {
            Response::ReadBits { area, .. } | Response::ReadRegisters { area, .. } => {
                area.read_function()
            }
            Response::WriteCoil { .. } => FC_WRITE_COIL,
            Response::WriteRegister { .. } => FC_WRITE_REGISTER,
            Response::WriteCoils { .. } => FC_WRITE_COILS,
            Response::WriteRegisters { .. } => FC_WRITE_REGISTERS,
            Response::Exception { function, .. } => function | 0x80,
        }
    }
}

/// The exception a server answers `function` with.
pub(crate) fn exception_error(function: u8, code: u8) -> Error {
    Error::Exception { function, code }
}
