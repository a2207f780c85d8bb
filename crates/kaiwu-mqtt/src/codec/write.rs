//! Wire primitives for encoding. Length functions validate; `put_*` functions assume the
//! value was validated by the matching length function and never fail.

use bytes::{BufMut, BytesMut};

use super::EncodeError;

/// Bytes a variable byte integer takes (values above the 4-byte maximum are rejected earlier).
pub(super) fn varint_len(v: usize) -> usize {
    match v {
        0..=0x7F => 1,
        0x80..=0x3FFF => 2,
        0x4000..=0x1F_FFFF => 3,
        _ => 4,
    }
}

pub(super) fn put_varint(out: &mut BytesMut, mut v: usize) {
    loop {
        // Truncation to the low seven bits is the encoding itself.
        let mut byte = (v & 0x7F) as u8;
        v >>= 7;
        if v > 0 {
            byte |= 0x80;
        }
        out.put_u8(byte);
        if v == 0 {
            return;
        }
    }
}

/// Encoded size of a UTF-8 string field, checking MQTT's limits on it.
pub(super) fn string_len(s: &str, field: &'static str) -> Result<usize, EncodeError> {
    if s.as_bytes().contains(&0) {
        return Err(EncodeError::NullCharacter { field });
    }
    binary_len(s.as_bytes(), field)
}

/// Encoded size of a binary data field (two-byte length prefix).
pub(super) fn binary_len(b: &[u8], field: &'static str) -> Result<usize, EncodeError> {
    if b.len() > usize::from(u16::MAX) {
        return Err(EncodeError::FieldTooLong {
            field,
            len: b.len(),
        });
    }
    Ok(2 + b.len())
}

pub(super) fn put_string(out: &mut BytesMut, s: &str) {
    put_binary(out, s.as_bytes());
}

pub(super) fn put_binary(out: &mut BytesMut, b: &[u8]) {
    // Length checked by binary_len; saturate rather than wrap if a caller skipped it.
    out.put_u16(u16::try_from(b.len()).unwrap_or(u16::MAX));
    out.put_slice(b);
}
