//! Feeds arbitrary bytes to the MQTT packet decoder in every connection state (before CONNECT,
//! 3.1.1, 5.0). Decoding must never panic, and every packet that decodes must encode again and
//! decode back to an equal packet.
#![no_main]

use bytes::BytesMut;
use kaiwu_mqtt::codec::{Packet, Protocol, decode};
use libfuzzer_sys::fuzz_target;

const MAX_PACKET_SIZE: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    for initial in [None, Some(Protocol::V311), Some(Protocol::V5)] {
        let mut state = initial;
        let mut buf = BytesMut::from(data);
        while let Ok(Some(packet)) = decode(&mut buf, state, MAX_PACKET_SIZE) {
            let protocol = match (&packet, state) {
                (Packet::Connect(c), _) => c.protocol,
                (_, Some(p)) => p,
                (_, None) => panic!("decoded {} before CONNECT", packet.name()),
            };
            let mut out = BytesMut::new();
            packet
                .encode(protocol, &mut out)
                .expect("a decoded packet encodes");
            assert_eq!(packet.encoded_len(protocol), Ok(out.len()));
            let reencoded_state = match packet {
                Packet::Connect(_) => None,
                _ => Some(protocol),
            };
            let again = decode(&mut out, reencoded_state, usize::MAX)
                .expect("an encoded packet decodes")
                .expect("an encoded packet is complete");
            assert_eq!(again, packet);
            assert!(out.is_empty(), "encoding produced trailing bytes");
            // After CONNECT the connection speaks its protocol.
            state = Some(protocol);
        }
    }
});
