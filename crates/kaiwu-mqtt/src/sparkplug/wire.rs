//! Bounded decoding and encoding of whole payloads.

use prost::Message;

use super::error::{Result, SparkplugError};
use super::proto::Payload;

/// Most metrics in one payload, counting the members of templates at any depth.
pub const MAX_METRICS: usize = 100_000;

/// Deeper than prost's own decode limit (100), so everything prost accepts is counted.
const MAX_SCAN_DEPTH: u32 = 128;

/// Decodes a Sparkplug B payload, rejecting more than [`MAX_METRICS`] metrics before any is
/// materialised: an empty metric is 2 bytes on the wire but a few hundred in memory.
pub fn decode_payload(bytes: &[u8]) -> Result<Payload> {
    let mut count = 0;
    scan(bytes, Level::Payload, 0, &mut count)?;
    Ok(Payload::decode(bytes)?)
}

/// Encodes a payload.
pub fn encode_payload(payload: &Payload) -> Vec<u8> {
    payload.encode_to_vec()
}

#[derive(Clone, Copy)]
enum Level {
    Payload,
    Metric,
    Template,
}

/// Walks the protobuf wire format counting `Payload.metrics` and `Template.metrics` entries.
/// Malformed input just ends the walk: prost reports it properly afterwards.
fn scan(mut buf: &[u8], level: Level, depth: u32, count: &mut usize) -> Result<()> {
    while let Some((key, rest)) = varint(buf) {
        buf = rest;
        let skip = match key & 7 {
            0 => match varint(buf) {
                Some((_, rest)) => buf.len() - rest.len(),
                None => return Ok(()),
            },
            1 => 8,
            5 => 4,
            2 => {
                let Some((len, rest)) = varint(buf) else {
                    return Ok(());
                };
                let Some(body) = usize::try_from(len).ok().and_then(|n| rest.get(..n)) else {
                    return Ok(());
                };
                let inner = match (level, key >> 3) {
                    (Level::Payload | Level::Template, 2) => {
                        *count += 1;
                        if *count > MAX_METRICS {
                            return Err(SparkplugError::TooManyMetrics { limit: MAX_METRICS });
                        }
                        Some(Level::Metric)
                    }
                    (Level::Metric, 18) => Some(Level::Template),
                    _ => None,
                };
                if let Some(inner) = inner
                    && depth < MAX_SCAN_DEPTH
                {
                    scan(body, inner, depth + 1, count)?;
                }
                buf.len() - rest.len() + body.len()
            }
            // Groups (3, 4) and invalid wire types: not in this schema, leave them to prost.
            _ => return Ok(()),
        };
        let Some(rest) = buf.get(skip..) else {
            return Ok(());
        };
        buf = rest;
    }
    Ok(())
}

/// A base-128 varint and the bytes after it.
fn varint(buf: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, &b) in buf.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, &buf[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests;
