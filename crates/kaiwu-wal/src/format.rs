//! On-disk format, version 1. Pure functions over byte slices (no I/O) so they can be fuzzed.
//!
//! A file is an 8-byte header followed by frames:
//! `len: u32 LE | crc: u32 LE (crc32 of seq bytes + payload) | seq: u64 LE | payload[len]`.
//! Seqs inside one file are consecutive and the first equals the number in the file name.

/// File header: magic, two reserved bytes, format version.
pub(crate) const MAGIC: [u8; 8] = *b"KWWAL\0\0\x01";
/// Length of the file header.
pub const HEADER_LEN: usize = MAGIC.len();
/// Bytes of framing before each payload.
pub const FRAME_OVERHEAD: usize = 16;

/// Appends one frame to `buf`.
pub(crate) fn encode_frame(buf: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX); // callers check max_record_bytes
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&crc(seq, payload).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(payload);
}

fn crc(seq: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Result of decoding one file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Intact records in order, `(seq, payload)`.
    pub records: Vec<(u64, &'a [u8])>,
    /// Bytes from the start of the file through the last intact record (the header included);
    /// 0 if the header is not intact.
    pub valid_len: usize,
    /// What follows `valid_len`.
    pub tail: Tail,
}

/// What `decode_frames` found after the last intact record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Nothing: the file ends after the last intact record.
    Clean,
    /// Fewer than 8 bytes that are a prefix of the header: a file whose creation was cut short.
    ShortHeader,
    /// Not a version-1 WAL file.
    BadHeader,
    /// Bytes that are not an intact frame, with no intact frame after them: what a write cut
    /// short by a crash leaves behind.
    Torn {
        /// Where the bad bytes start (equals `valid_len`).
        offset: usize,
    },
    /// A bad frame followed by further intact data, or an intact frame out of sequence: damage,
    /// not a torn write.
    Damaged {
        /// Where the first bad frame starts (equals `valid_len`).
        offset: usize,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// An intact, in-sequence record larger than the limit given.
    Oversized {
        /// Where its frame starts (equals `valid_len`).
        offset: usize,
        /// Its payload length.
        len: u32,
    },
}

/// One frame at the start of `bytes`.
enum Frame<'a> {
    Ok { seq: u64, payload: &'a [u8] },
    Incomplete,
    TooLong { len: u32 },
    BadCrc,
}

/// The fixed-size part of a frame.
struct Head {
    len: u32,
    crc: u32,
    seq: u64,
}

/// The frame header at the start of `bytes`, and the bytes after it.
fn split_head(bytes: &[u8]) -> Option<(Head, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<FRAME_OVERHEAD>()?;
    let [l0, l1, l2, l3, c0, c1, c2, c3, s @ ..] = *head;
    let head = Head {
        len: u32::from_le_bytes([l0, l1, l2, l3]),
        crc: u32::from_le_bytes([c0, c1, c2, c3]),
        seq: u64::from_le_bytes(s),
    };
    Some((head, rest))
}

fn read_frame(bytes: &[u8], max_record: u32) -> Frame<'_> {
    let Some((
        Head {
            len,
            crc: stored,
            seq,
        },
        rest,
    )) = split_head(bytes)
    else {
        return Frame::Incomplete;
    };
    // The bound is checked before the length is used for anything else.
    if len > max_record {
        return Frame::TooLong { len };
    }
    let Some(payload) = rest.get(..usize::try_from(len).unwrap_or(usize::MAX)) else {
        return Frame::Incomplete;
    };
    if crc(seq, payload) != stored {
        return Frame::BadCrc;
    }
    Frame::Ok { seq, payload }
}

/// Decodes a whole WAL file: checks the header, then reads frames while each is complete, within
/// `max_record` bytes, CRC-correct and numbered `first_seq`, `first_seq + 1`, ... Never panics,
/// never allocates from a length field and runs in time linear in `bytes.len()`.
pub fn decode_frames(bytes: &[u8], first_seq: u64, max_record: u32) -> Decoded<'_> {
    let mut out = Decoded {
        records: Vec::new(),
        valid_len: 0,
        tail: Tail::Clean,
    };
    if bytes.len() < HEADER_LEN {
        out.tail = if MAGIC.starts_with(bytes) {
            Tail::ShortHeader
        } else {
            Tail::BadHeader
        };
        return out;
    }
    if bytes[..HEADER_LEN] != MAGIC {
        out.tail = Tail::BadHeader;
        return out;
    }
    let mut at = HEADER_LEN;
    let mut expected = Some(first_seq);
    out.valid_len = at;
    while at < bytes.len() {
        let damaged = |reason| Tail::Damaged { offset: at, reason };
        let frame = read_frame(&bytes[at..], max_record);
        out.tail = match (frame, expected) {
            (Frame::Ok { seq, payload }, Some(e)) if seq == e => {
                out.records.push((seq, payload));
                at += FRAME_OVERHEAD + payload.len();
                out.valid_len = at;
                expected = seq.checked_add(1);
                continue;
            }
            (Frame::Ok { .. }, _) => damaged("intact record out of sequence"),
            (Frame::TooLong { len }, Some(e)) if intact_at(&bytes[at..], e) => {
                Tail::Oversized { offset: at, len }
            }
            (_, e) if valid_frame_after(&bytes[at..], e) => {
                damaged("bad frame followed by intact records")
            }
            _ => Tail::Torn { offset: at },
        };
        return out;
    }
    out.tail = Tail::Clean;
    out
}

/// Whether `bytes` starts with a complete, CRC-correct frame numbered `seq`, of any length.
fn intact_at(bytes: &[u8], seq: u64) -> bool {
    matches!(read_frame(bytes, u32::MAX), Frame::Ok { seq: s, .. } if s == seq)
}

/// Whether an intact frame starts anywhere after the first byte of `bytes`, with a seq that could
/// follow `expected` in a file of this size. The seq window makes false hits on random bytes
/// practically impossible and limits CRC work to real frame starts.
fn valid_frame_after(bytes: &[u8], expected: Option<u64>) -> bool {
    let Some(lo) = expected else { return false };
    let hi = lo.saturating_add((bytes.len() / FRAME_OVERHEAD) as u64);
    // Crafted input can make many offsets look like frame starts; capping the CRC work keeps
    // this linear, and running out counts as damage (the loud, data-keeping side).
    let mut budget = bytes.len().saturating_mul(4);
    for at in 1..bytes.len() {
        let Some((Head { len, seq, .. }, rest)) = split_head(&bytes[at..]) else {
            break;
        };
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if !(lo..=hi).contains(&seq) || len > rest.len() {
            continue;
        }
        let Some(left) = budget.checked_sub(len) else {
            return true;
        };
        budget = left;
        if intact_at(&bytes[at..], seq) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests;
