//! Codec tests: property-based round trips, hostile-input regressions and hand-written byte
//! vectors from the spec.

mod errors;
mod regression;
mod roundtrip;
mod rules;
mod strategies;
mod vectors;

use bytes::BytesMut;

use super::*;

/// Generous limit for tests that are not about the size limit.
const MAX: usize = 1 << 20;

/// Decodes exactly one packet from `bytes`, as a connection in state `protocol` would.
fn decode_one(bytes: &[u8], protocol: Option<Protocol>) -> Result<Packet, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    let packet = decode(&mut buf, protocol, MAX)?.expect("complete packet");
    assert!(buf.is_empty(), "{} bytes left after one packet", buf.len());
    Ok(packet)
}

/// The decoder state a connection is in when it receives `packet`.
fn state_for(packet: &Packet, protocol: Protocol) -> Option<Protocol> {
    match packet {
        Packet::Connect(_) => None,
        _ => Some(protocol),
    }
}

fn encode(packet: &Packet, protocol: Protocol) -> BytesMut {
    let mut out = BytesMut::new();
    packet.encode(protocol, &mut out).expect("encodes");
    out
}

/// Encodes, checks the announced length, decodes again.
fn round_trip(packet: &Packet, protocol: Protocol) -> Packet {
    let bytes = encode(packet, protocol);
    assert_eq!(packet.encoded_len(protocol), Ok(bytes.len()));
    decode_one(&bytes, state_for(packet, protocol)).expect("decodes what was encoded")
}

/// Fixed header (with minimal length encoding) followed by `body`.
fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let mut b = (len & 0x7F) as u8;
        len >>= 7;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// Length-prefixed string or binary field.
fn field(bytes: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(bytes.len())
        .expect("short")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(bytes);
    out
}

/// The error decoding `bytes` in connection state `state`.
fn err(bytes: &[u8], state: Option<Protocol>) -> DecodeError {
    let mut buf = BytesMut::from(bytes);
    decode(&mut buf, state, MAX).expect_err("must be rejected")
}

const V311: Option<Protocol> = Some(Protocol::V311);
const V5: Option<Protocol> = Some(Protocol::V5);
