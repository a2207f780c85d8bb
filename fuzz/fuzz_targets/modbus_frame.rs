//! Feeds arbitrary bytes to the Modbus frame decoders (requests and responses, TCP and RTU
//! framing), taking frames off the buffer as a connection would. Decoding must never panic,
//! and every frame that decodes must encode back to exactly the bytes it came from.
#![no_main]

use kaiwu_modbus::Framing;
use kaiwu_modbus::frame::{decode_request, decode_response, encode_request, encode_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for framing in [Framing::Tcp, Framing::RtuOverTcp] {
        let mut rest = data;
        while let Ok(Some(f)) = decode_request(rest, framing) {
            assert!(
                f.len > 0 && f.len <= rest.len(),
                "frame length out of the buffer"
            );
            let mut out = Vec::new();
            encode_request(&mut out, framing, f.header, &f.body)
                .expect("a decoded request encodes");
            assert_eq!(out, &rest[..f.len], "request re-encodes differently");
            rest = &rest[f.len..];
        }
        let mut rest = data;
        while let Ok(Some(f)) = decode_response(rest, framing) {
            assert!(
                f.len > 0 && f.len <= rest.len(),
                "frame length out of the buffer"
            );
            let mut out = Vec::new();
            encode_response(&mut out, framing, f.header, &f.body)
                .expect("a decoded response encodes");
            assert_eq!(out, &rest[..f.len], "response re-encodes differently");
            rest = &rest[f.len..];
        }
    }
});
