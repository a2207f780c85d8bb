//! Framing: MBAP header (Modbus TCP) or unit + CRC16 (RTU) around a PDU.

use super::pdu::{encode_request_pdu, encode_response_pdu};
use super::*;
use crate::Framing;
use crate::error::Result;

const MBAP_LEN: usize = 7;

/// Takes one request frame off the front of `buf` (`Ok(None)`: incomplete).
pub fn split_request(buf: &[u8], framing: Framing) -> Result<Option<Frame<&[u8]>>> {
    match framing {
        Framing::Tcp => split_tcp(buf),
        Framing::RtuOverTcp => split_rtu(buf, rtu_request_len(buf)?),
    }
}

/// Takes one response frame off the front of `buf` (`Ok(None)`: incomplete).
pub fn split_response(buf: &[u8], framing: Framing) -> Result<Option<Frame<&[u8]>>> {
    match framing {
        Framing::Tcp => split_tcp(buf),
        Framing::RtuOverTcp => split_rtu(buf, rtu_response_len(buf)?),
    }
}

/// Splits and parses one request frame.
pub fn decode_request(buf: &[u8], framing: Framing) -> Result<Option<Frame<Request<'_>>>> {
    let Some(f) = split_request(buf, framing)? else {
        return Ok(None);
    };
    let body = decode_request_pdu(f.body)?;
    Ok(Some(Frame {
        header: f.header,
        body,
        len: f.len,
    }))
}

/// Splits and parses one response frame.
pub fn decode_response(buf: &[u8], framing: Framing) -> Result<Option<Frame<Response<'_>>>> {
    let Some(f) = split_response(buf, framing)? else {
        return Ok(None);
    };
    let body = decode_response_pdu(f.body)?;
    Ok(Some(Frame {
        header: f.header,
        body,
        len: f.len,
    }))
}

/// Appends a complete request frame to `out` (unchanged on error).
pub fn encode_request(
    out: &mut Vec<u8>,
    framing: Framing,
    header: Header,
    req: &Request<'_>,
) -> Result<()> {
    encode_with(out, framing, header, |out| encode_request_pdu(req, out))
}

/// Appends a complete response frame to `out` (unchanged on error).
pub fn encode_response(
    out: &mut Vec<u8>,
    framing: Framing,
    header: Header,
    resp: &Response<'_>,
) -> Result<()> {
    encode_with(out, framing, header, |out| encode_response_pdu(resp, out))
}

fn encode_with(
    out: &mut Vec<u8>,
    framing: Framing,
    header: Header,
    pdu: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    let start = out.len();
    if framing == Framing::Tcp {
        out.extend_from_slice(&header.transaction.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]); // protocol id, length (patched below)
    }
    out.push(header.unit);
    if let Err(e) = pdu(out) {
        out.truncate(start);
        return Err(e);
    }
    match framing {
        Framing::Tcp => {
            // The PDU encoders keep the PDU within MAX_PDU, so this fits the length field.
            let len = (out.len() - start - 6) as u16;
            out[start + 4..start + 6].copy_from_slice(&len.to_be_bytes());
        }
        Framing::RtuOverTcp => {
            let crc = crc16(&out[start..]);
            out.extend_from_slice(&crc.to_le_bytes());
        }
    }
    Ok(())
}

fn split_tcp(buf: &[u8]) -> Result<Option<Frame<&[u8]>>> {
    let Some(&[t0, t1, p0, p1, l0, l1, unit]) = buf.first_chunk::<MBAP_LEN>() else {
        return Ok(None);
    };
    let protocol = u16::from_be_bytes([p0, p1]);
    if protocol != 0 {
        return Err(Error::protocol(format!(
            "MBAP protocol id {protocol} (expected 0)"
        )));
    }
    let len = u16::from_be_bytes([l0, l1]);
    if !(2..=MAX_MBAP_LENGTH).contains(&len) {
        return Err(Error::protocol(format!(
            "MBAP length {len} outside 2..={MAX_MBAP_LENGTH}"
        )));
    }
    let total = 6 + usize::from(len);
    let Some(pdu) = buf.get(MBAP_LEN..total) else {
        return Ok(None);
    };
    Ok(Some(Frame {
        header: Header {
            transaction: u16::from_be_bytes([t0, t1]),
            unit,
        },
        body: pdu,
        len: total,
    }))
}

/// Cuts an RTU frame of `len` bytes (as computed from its header) and checks its CRC.
fn split_rtu(buf: &[u8], len: Option<usize>) -> Result<Option<Frame<&[u8]>>> {
    let Some(len) = len else {
        return Ok(None);
    };
    if len > MAX_RTU_FRAME {
        return Err(Error::protocol(format!(
            "RTU frame of {len} bytes exceeds {MAX_RTU_FRAME}"
        )));
    }
    let Some(frame) = buf.get(..len) else {
        return Ok(None);
    };
    let Some((body, crc)) = frame.split_last_chunk::<2>() else {
        return Err(Error::protocol("RTU frame shorter than its CRC"));
    };
    let (got, want) = (u16::from_le_bytes(*crc), crc16(body));
    if got != want {
        return Err(Error::protocol(format!(
            "RTU CRC mismatch: frame has {got:#06x}, computed {want:#06x}"
        )));
    }
    let Some((&unit, pdu)) = body.split_first() else {
        return Err(Error::protocol("RTU frame without unit id"));
    };
    Ok(Some(Frame {
        header: Header {
            transaction: 0,
            unit,
        },
        body: pdu,
        len,
    }))
}

/// Length of the RTU request frame at the front of `buf`, if enough of it is there to tell.
fn rtu_request_len(buf: &[u8]) -> Result<Option<usize>> {
    let Some(&fc) = buf.get(1) else {
        return Ok(None);
    };
    // Byte count at `at`, followed by that many bytes and the CRC.
    let counted = |at: usize| buf.get(at).map(|&n| at + 1 + usize::from(n) + 2);
    Ok(match fc {
        0x01..=0x06 | 0x08 => Some(8),
        0x07 | 0x0B | 0x0C | 0x11 => Some(4),
        0x0F | 0x10 => counted(6),
        0x14 | 0x15 => counted(2),
        0x16 => Some(10),
        0x17 => counted(10),
        0x18 => Some(6),
        _ => return unknown_rtu_len(buf),
    })
}

/// Functions of unknown layout: the shortest prefix with a valid CRC is taken as the frame,
/// so the server can still answer "illegal function" when the frame arrived in one piece.
fn unknown_rtu_len(buf: &[u8]) -> Result<Option<usize>> {
    let limit = buf.len().min(MAX_RTU_FRAME);
    for len in 4..=limit {
        if let Some((body, crc)) = buf[..len].split_last_chunk::<2>()
            && crc16(body) == u16::from_le_bytes(*crc)
        {
            return Ok(Some(len));
        }
    }
    if buf.len() >= MAX_RTU_FRAME {
        return Err(Error::protocol(
            "RTU request with unknown function code and no valid CRC in 256 bytes",
        ));
    }
    Ok(None)
}

/// Length of the RTU response frame at the front of `buf`, if enough of it is there to tell.
fn rtu_response_len(buf: &[u8]) -> Result<Option<usize>> {
    let Some(&fc) = buf.get(1) else {
        return Ok(None);
    };
    Ok(match fc {
        f if f & 0x80 != 0 => Some(5),
        FC_READ_COILS..=FC_READ_INPUT => buf.get(2).map(|&n| 3 + usize::from(n) + 2),
        FC_WRITE_COIL | FC_WRITE_REGISTER | FC_WRITE_COILS | FC_WRITE_REGISTERS => Some(8),
        _ => {
            return Err(Error::protocol(format!(
                "RTU response with unknown function code {fc:#04x}"
            )));
        }
    })
}
