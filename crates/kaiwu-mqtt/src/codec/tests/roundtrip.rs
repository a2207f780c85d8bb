//! Property tests: encode/decode round trips, partial input and arbitrary input.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use super::strategies::{packet, session_packet};
use super::*;

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![Just(Protocol::V311), Just(Protocol::V5)]
}

fn packet_and_protocol() -> impl Strategy<Value = (Packet, Protocol)> {
    protocol().prop_flat_map(|proto| (packet(proto), Just(proto)))
}

/// Decodes everything in `data` in every connection state, re-encoding each packet that
/// decodes and checking it decodes back equal. This is also what the fuzz target asserts.
fn check_reencode(data: &[u8]) {
    for initial in [None, Some(Protocol::V311), Some(Protocol::V5)] {
        let mut state = initial;
        let mut buf = BytesMut::from(data);
        while let Ok(Some(p)) = decode(&mut buf, state, MAX) {
            let protocol = match (&p, state) {
                (Packet::Connect(c), _) => c.protocol,
                (_, Some(proto)) => proto,
                (_, None) => panic!("non-CONNECT packet decoded before CONNECT"),
            };
            assert_eq!(round_trip(&p, protocol), p);
            state = Some(protocol);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn v311_packets_round_trip(p in packet(Protocol::V311)) {
        prop_assert_eq!(round_trip(&p, Protocol::V311), p);
    }

    #[test]
    fn v5_packets_round_trip(p in packet(Protocol::V5)) {
        prop_assert_eq!(round_trip(&p, Protocol::V5), p);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every proper prefix of a packet asks for more bytes and leaves the buffer alone.
    #[test]
    fn every_prefix_is_incomplete((p, proto) in packet_and_protocol()) {
        let bytes = encode(&p, proto);
        let state = state_for(&p, proto);
        for k in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..k]);
            prop_assert_eq!(decode(&mut buf, state, MAX), Ok(None));
            prop_assert_eq!(buf.len(), k);
        }
    }

    /// A stream of packets arriving in chunks of any size decodes to the same packets.
    #[test]
    fn chunked_stream_decodes_in_order(
        (packets, proto) in protocol().prop_flat_map(|p| (vec(session_packet(p), 1..6), Just(p))),
        chunk in 1usize..24,
    ) {
        let mut wire = BytesMut::new();
        for p in &packets {
            p.encode(proto, &mut wire).expect("encodes");
        }
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(p) = decode(&mut buf, Some(proto), MAX).expect("valid stream") {
                got.push(p);
            }
        }
        prop_assert_eq!(got, packets);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..300)) {
        check_reencode(&data);
    }

    /// Valid packets with one byte changed reach deeper than random bytes do.
    #[test]
    fn mutated_packets_never_panic(
        (p, proto) in packet_and_protocol(),
        at in any::<Index>(),
        value in any::<u8>(),
    ) {
        let mut bytes = encode(&p, proto).to_vec();
        let i = at.index(bytes.len());
        bytes[i] = value;
        check_reencode(&bytes);
    }

    /// Valid packets cut short inside their body (length byte patched to match) fail cleanly.
    #[test]
    fn truncated_bodies_never_panic((p, proto) in packet_and_protocol(), cut in any::<Index>()) {
        let bytes = encode(&p, proto);
        let header = if bytes.len() > 1 && bytes[1] < 0x80 { 2 } else { return Ok(()) };
        let body = bytes.len() - header;
        let keep = cut.index(body + 1);
        let mut short = vec![bytes[0], u8::try_from(keep).expect("short body")];
        short.extend_from_slice(&bytes[header..header + keep]);
        check_reencode(&short);
    }
}
