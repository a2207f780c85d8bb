//! Bounds-checked reader over one received frame. Every length read from the wire is checked
//! against the bytes present before it is used, so hostile lengths fail instead of allocating.

use bytes::Bytes;

use super::DecodeError;

pub(super) struct Reader<'a> {
    frame: &'a Bytes,
    pos: usize,
    /// Exclusive end; `pos <= end <= frame.len()` always holds.
    end: usize,
    packet: &'static str,
}

impl<'a> Reader<'a> {
    /// Reads `frame[start..]`, which belongs to a packet named `packet` (for errors).
    pub(super) fn new(frame: &'a Bytes, start: usize, packet: &'static str) -> Reader<'a> {
        let end = frame.len();
        Reader {
            frame,
            pos: start.min(end),
            end,
            packet,
        }
    }

    pub(super) fn packet(&self) -> &'static str {
        self.packet
    }

    pub(super) fn remaining(&self) -> usize {
        self.end - self.pos
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pos == self.end
    }

    fn truncated(&self, field: &'static str) -> DecodeError {
        DecodeError::Truncated {
            packet: self.packet,
            field,
        }
    }

    pub(super) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let frame: &'a [u8] = self.frame;
        // `n <= remaining` keeps the slice inside this reader's window, not just the frame.
        let s = (n <= self.remaining())
            .then(|| frame.get(self.pos..self.pos + n))
            .flatten()
            .ok_or_else(|| self.truncated(field))?;
        self.pos += n;
        Ok(s)
    }

    pub(super) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let [b] = self.array::<1>(field)?;
        Ok(b)
    }

    pub(super) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(super) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, field)?;
        s.try_into().map_err(|_| self.truncated(field))
    }

    /// Variable byte integer: at most four bytes, seven bits each, least significant first.
    pub(super) fn varint(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let mut value = 0u32;
        for i in 0..4 {
            let b = self.u8(field)?;
            value |= u32::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Malformed(
            "variable byte integer uses more than 4 bytes",
        ))
    }

    /// Two-byte length followed by that many bytes, as a zero-copy slice of the frame.
    pub(super) fn binary(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len = usize::from(self.u16(field)?);
        let start = self.pos;
        self.take(len, field)?;
        Ok(self.frame.slice(start..start + len))
    }

    /// Two-byte length followed by UTF-8 without U+0000 (spec 1.5.4).
    pub(super) fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let len = usize::from(self.u16(field)?);
        let raw = self.take(len, field)?;
        let s = std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8 { field })?;
        if raw.contains(&0) {
            return Err(DecodeError::NullCharacter { field });
        }
        Ok(s.to_owned())
    }

    /// Everything left, as a zero-copy slice of the frame.
    pub(super) fn rest(&mut self) -> Bytes {
        let b = self.frame.slice(self.pos..self.end);
        self.pos = self.end;
        b
    }

    /// Splits off the next `len` bytes as their own reader (a property block), so nothing
    /// inside can read past its announced length.
    pub(super) fn sub(
        &mut self,
        len: usize,
        field: &'static str,
    ) -> Result<Reader<'a>, DecodeError> {
        if len > self.remaining() {
            return Err(self.truncated(field));
        }
        let sub = Reader {
            frame: self.frame,
            pos: self.pos,
            end: self.pos + len,
            packet: self.packet,
        };
        self.pos += len;
        Ok(sub)
    }

    /// Fails if anything is left: trailing bytes make a packet malformed.
    pub(super) fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes {
                packet: self.packet,
                count,
            }),
        }
    }
}
