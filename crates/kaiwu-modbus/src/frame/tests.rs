//! Frame codec tests: property round trips for both framings and hostile-input regressions.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::Framing;
use crate::error::{ILLEGAL_DATA_VALUE, ILLEGAL_FUNCTION};

const FRAMINGS: [Framing; 2] = [Framing::Tcp, Framing::RtuOverTcp];

/// Owned mirror of [`Request`] / [`Response`] data, for strategies.
#[derive(Debug, Clone)]
enum Owned {
    Read(Area, u16, u16),
    Coil(u16, bool),
    Reg(u16, u16),
    Coils(u16, Vec<bool>),
    Regs(u16, Vec<u16>),
}

fn area() -> impl Strategy<Value = Area> {
    proptest::sample::select(vec![Area::Coil, Area::Discrete, Area::Input, Area::Holding])
}

fn owned_request() -> impl Strategy<Value = Owned> {
    prop_oneof![
        (area(), any::<u16>(), any::<u16>()).prop_map(|(a, s, c)| {
            let max = if a.is_bit() { 2000 } else { 125 };
            Owned::Read(a, s, 1 + c % max)
        }),
        (any::<u16>(), any::<bool>()).prop_map(|(a, v)| Owned::Coil(a, v)),
        (any::<u16>(), any::<u16>()).prop_map(|(a, v)| Owned::Reg(a, v)),
        (any::<u16>(), vec(any::<bool>(), 1..=1968)).prop_map(|(s, v)| Owned::Coils(s, v)),
        (any::<u16>(), vec(any::<u16>(), 1..=123)).prop_map(|(s, v)| Owned::Regs(s, v)),
    ]
}

fn to_request<'a>(o: &Owned, buf: &'a mut Vec<u8>) -> Request<'a> {
    buf.clear();
    match o {
        Owned::Read(area, start, count) => Request::Read {
            area: *area,
            start: *start,
            count: *count,
        },
        Owned::Coil(addr, value) => Request::WriteCoil {
            addr: *addr,
            value: *value,
        },
        Owned::Reg(addr, value) => Request::WriteRegister {
            addr: *addr,
            value: *value,
        },
        Owned::Coils(start, v) => {
            pack_bits(v.iter().copied(), buf);
            Request::WriteCoils {
                start: *start,
                count: v.len() as u16,
                packed: buf,
            }
        }
        Owned::Regs(start, v) => {
            buf.extend(v.iter().flat_map(|r| r.to_be_bytes()));
            Request::WriteRegisters {
                start: *start,
                data: buf,
            }
        }
    }
}

/// Responses: reads carry 1..=250 bytes (even for registers); Coils/Regs stand for the
/// FC 15/16 echoes (start, count); `exception` picks an exception response instead.
fn to_response<'a>(o: &Owned, exception: Option<u8>, buf: &'a mut Vec<u8>) -> Response<'a> {
    let req = to_request(o, buf);
    if let Some(code) = exception {
        return Response::Exception {
            function: req.function(),
            code,
        };
    }
    match req {
        Request::Read { area, count, .. } if area.is_bit() => {
            let n = usize::from(count.div_ceil(8)).min(250);
            buf.clear();
            buf.extend((0..n).map(|i| i as u8));
            Response::ReadBits { area, packed: buf }
        }
        Request::Read { area, count, .. } => {
            buf.clear();
            buf.extend((0..count * 2).map(|i| (i * 7) as u8));
            Response::ReadRegisters { area, data: buf }
        }
        Request::WriteCoil { addr, value } => Response::WriteCoil { addr, value },
        Request::WriteRegister { addr, value } => Response::WriteRegister { addr, value },
        Request::WriteCoils { start, count, .. } => Response::WriteCoils { start, count },
        Request::WriteRegisters { start, data } => Response::WriteRegisters {
            start,
            count: (data.len() / 2) as u16,
        },
    }
}

fn header(framing: Framing, transaction: u16, unit: u8) -> Header {
    let transaction = if framing == Framing::Tcp {
        transaction
    } else {
        0
    };
    Header { transaction, unit }
}

proptest! {
    #[test]
    fn request_frames_round_trip(o in owned_request(), t in any::<u16>(), unit in any::<u8>(),
                                 tail in vec(any::<u8>(), 0..8)) {
        let mut data = Vec::new();
        let req = to_request(&o, &mut data);
        for framing in FRAMINGS {
            let h = header(framing, t, unit);
            let mut out = Vec::new();
            encode_request(&mut out, framing, h, &req).expect("encodes");
            let len = out.len();
            out.extend_from_slice(&tail);
            let f = decode_request(&out, framing).expect("decodes").expect("complete");
            prop_assert_eq!(f, Frame { header: h, body: req, len });
            // Every strict prefix is incomplete, never an error.
            for cut in 0..len {
                prop_assert_eq!(split_request(&out[..cut], framing).expect("prefix ok"), None);
            }
        }
    }

    #[test]
    fn response_frames_round_trip(o in owned_request(), exc in proptest::option::of(1u8..12),
                                  t in any::<u16>(), unit in any::<u8>()) {
        let mut data = Vec::new();
        let resp = to_response(&o, exc, &mut data);
        for framing in FRAMINGS {
            let h = header(framing, t, unit);
            let mut out = Vec::new();
            encode_response(&mut out, framing, h, &resp).expect("encodes");
            let f = decode_response(&out, framing).expect("decodes").expect("complete");
            prop_assert_eq!(f, Frame { header: h, body: resp, len: out.len() });
            for cut in 0..out.len() {
                prop_assert_eq!(split_response(&out[..cut], framing).expect("prefix ok"), None);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..300)) {
        check_stream(&bytes);
    }

    #[test]
    fn plausible_bytes_never_panic(head in vec(proptest::sample::select(vec![0u8, 1, 2, 3, 4, 5, 6, 15, 16, 0x83, 0xFF]), 0..12),
                                   tail in vec(any::<u8>(), 0..260)) {
        let mut bytes = head;
        bytes.extend(tail);
        check_stream(&bytes);
    }
}

/// What the fuzz target checks: frames taken off `data` one after another re-encode to
/// exactly their bytes.
fn check_stream(data: &[u8]) {
    for framing in FRAMINGS {
        let mut rest = data;
        while let Ok(Some(f)) = decode_request(rest, framing) {
            let mut out = Vec::new();
            encode_request(&mut out, framing, f.header, &f.body).expect("re-encodes");
            assert_eq!(out, &rest[..f.len]);
            rest = &rest[f.len..];
        }
        let mut rest = data;
        while let Ok(Some(f)) = decode_response(rest, framing) {
            let mut out = Vec::new();
            encode_response(&mut out, framing, f.header, &f.body).expect("re-encodes");
            assert_eq!(out, &rest[..f.len]);
            rest = &rest[f.len..];
        }
    }
}

/// A TCP frame with the given PDU and a correct length field.
fn tcp(pdu: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 1, 0, 0];
    f.extend_from_slice(&(pdu.len() as u16 + 1).to_be_bytes());
    f.push(1);
    f.extend_from_slice(pdu);
    f
}

/// An RTU frame for unit 1 with a correct CRC.
fn rtu(pdu: &[u8]) -> Vec<u8> {
    let mut f = vec![1];
    f.extend_from_slice(pdu);
    let crc = crc16(&f);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

fn request_error(bytes: &[u8], framing: Framing) -> Error {
    decode_request(bytes, framing).expect_err("must be rejected")
}

fn is_exception(e: &Error, function: u8, code: u8) -> bool {
    matches!(e, Error::Exception { function: f, code: c } if *f == function && *c == code)
}

#[test]
fn crc_known_vector() {
    assert_eq!(
        crc16(&[0x01, 0x03, 0x00, 0x00, 0x00, 0x01]).to_le_bytes(),
        [0x84, 0x0A]
    );
    assert_eq!(rtu(&[0x03, 0x00, 0x00, 0x00, 0x01])[6..], [0x84, 0x0A]);
    assert_eq!(crc16(b"123456789"), 0x4B37);
}

#[test]
fn known_tcp_request_bytes() {
    let mut out = Vec::new();
    let req = Request::Read {
        area: Area::Holding,
        start: 0x6B,
        count: 3,
    };
    let h = Header {
        transaction: 0x0001,
        unit: 0x11,
    };
    encode_request(&mut out, Framing::Tcp, h, &req).unwrap();
    assert_eq!(out, [0, 1, 0, 0, 0, 6, 0x11, 3, 0, 0x6B, 0, 3]);
}

#[test]
fn truncated_frames_are_incomplete() {
    let full = rtu(&[0x10, 0, 0, 0, 2, 4, 0, 1, 0, 2]);
    for cut in 0..full.len() {
        assert!(
            decode_request(&full[..cut], Framing::RtuOverTcp)
                .unwrap()
                .is_none()
        );
    }
    let full = tcp(&[3, 0, 0, 0, 1]);
    for cut in 0..full.len() {
        assert!(
            decode_request(&full[..cut], Framing::Tcp)
                .unwrap()
                .is_none()
        );
    }
}

#[test]
fn lying_length_fields_are_rejected() {
    // MBAP length over 254, below 2, and a non-zero protocol id.
    let mut f = tcp(&[3, 0, 0, 0, 1]);
    f[4..6].copy_from_slice(&255u16.to_be_bytes());
    assert!(matches!(
        request_error(&f, Framing::Tcp),
        Error::Protocol(_)
    ));
    f[4..6].copy_from_slice(&1u16.to_be_bytes());
    assert!(matches!(
        request_error(&f, Framing::Tcp),
        Error::Protocol(_)
    ));
    let mut f = tcp(&[3, 0, 0, 0, 1]);
    f[3] = 1;
    assert!(matches!(
        request_error(&f, Framing::Tcp),
        Error::Protocol(_)
    ));
    // MBAP length says more PDU than the function needs: exception 03.
    let f = tcp(&[3, 0, 0, 0, 1, 9]);
    assert!(is_exception(
        &request_error(&f, Framing::Tcp),
        3,
        ILLEGAL_DATA_VALUE
    ));
    // FC 16 byte count disagreeing with the register count.
    for framing in FRAMINGS {
        let pdu = [0x10, 0, 0, 0, 2, 2, 0, 1];
        let f = if framing == Framing::Tcp {
            tcp(&pdu)
        } else {
            rtu(&pdu)
        };
        assert!(is_exception(
            &request_error(&f, framing),
            0x10,
            ILLEGAL_DATA_VALUE
        ));
    }
    // Response byte count larger than the data.
    let f = tcp(&[3, 4, 0, 1]);
    assert!(matches!(
        decode_response(&f, Framing::Tcp),
        Err(Error::Protocol(_))
    ));
    // RTU FC 16 byte count that would make a frame over 256 bytes.
    let mut f = vec![1, 0x10, 0, 0, 0, 125, 250];
    f.resize(300, 0);
    assert!(matches!(
        request_error(&f, Framing::RtuOverTcp),
        Error::Protocol(_)
    ));
}

#[test]
fn crc_mismatch_is_a_protocol_error() {
    let mut f = rtu(&[3, 0, 0, 0, 1]);
    f[7] ^= 0xFF;
    let e = request_error(&f, Framing::RtuOverTcp);
    assert!(
        matches!(e, Error::Protocol(_)) && e.to_string().contains("CRC"),
        "{e}"
    );
    let mut f = rtu(&[3, 2, 0, 7]);
    f[3] ^= 1;
    assert!(matches!(
        decode_response(&f, Framing::RtuOverTcp),
        Err(Error::Protocol(_))
    ));
}

#[test]
fn exception_responses_decode() {
    for framing in FRAMINGS {
        let pdu = [0x83, 0x02];
        let f = if framing == Framing::Tcp {
            tcp(&pdu)
        } else {
            rtu(&pdu)
        };
        let got = decode_response(&f, framing).unwrap().unwrap();
        assert_eq!(
            got.body,
            Response::Exception {
                function: 3,
                code: 2
            }
        );
        assert_eq!(got.len, f.len());
    }
    let e = Error::Exception {
        function: 3,
        code: 2,
    };
    assert!(e.to_string().contains("illegal data address"), "{e}");
    assert!(!e.is_connection());
}

#[test]
fn unknown_function_codes() {
    // Requests: TCP knows the length, so the server can answer "illegal function"; over RTU
    // the same holds when the frame's CRC is found.
    let e = request_error(&tcp(&[0x2B, 0x0E, 1, 0]), Framing::Tcp);
    assert!(is_exception(&e, 0x2B, ILLEGAL_FUNCTION));
    let f = rtu(&[0x2B, 0x0E, 1, 0]);
    let e = request_error(&f, Framing::RtuOverTcp);
    assert!(is_exception(&e, 0x2B, ILLEGAL_FUNCTION));
    assert!(
        split_request(&f[..f.len() - 1], Framing::RtuOverTcp)
            .unwrap()
            .is_none()
    );
    assert!(
        split_request(&[1, 0x2B, 0, 0, 0], Framing::RtuOverTcp)
            .unwrap()
            .is_none()
    );
    assert!(split_request(&[0x55; 256], Framing::RtuOverTcp).is_err());
    // Known length, unsupported function (FC 7 read exception status).
    assert!(is_exception(
        &request_error(&rtu(&[7]), Framing::RtuOverTcp),
        7,
        ILLEGAL_FUNCTION
    ));
    // Responses with unknown functions cannot be framed or trusted.
    assert!(matches!(
        decode_response(&tcp(&[0x2B, 0]), Framing::Tcp),
        Err(Error::Protocol(_))
    ));
    assert!(matches!(
        decode_response(&rtu(&[0x2B, 0]), Framing::RtuOverTcp),
        Err(Error::Protocol(_))
    ));
}

#[test]
fn read_counts_outside_limits() {
    for (fc, bad) in [(3, 0u16), (3, 126), (4, 126), (1, 0), (1, 2001), (2, 2001)] {
        let mut pdu = vec![fc, 0, 0];
        pdu.extend_from_slice(&bad.to_be_bytes());
        for framing in FRAMINGS {
            let f = if framing == Framing::Tcp {
                tcp(&pdu)
            } else {
                rtu(&pdu)
            };
            assert!(
                is_exception(&request_error(&f, framing), fc, ILLEGAL_DATA_VALUE),
                "{fc} {bad}"
            );
        }
    }
    assert!(
        decode_request(&tcp(&[3, 0, 0, 0, 125]), Framing::Tcp)
            .unwrap()
            .is_some()
    );
    assert!(
        decode_request(&tcp(&[1, 0, 0, 0x07, 0xD0]), Framing::Tcp)
            .unwrap()
            .is_some()
    );
    // The encoder refuses what the decoder would refuse.
    let mut out = Vec::new();
    let bad = Request::Read {
        area: Area::Input,
        start: 0,
        count: 126,
    };
    assert!(matches!(
        encode_request(&mut out, Framing::Tcp, Header::default(), &bad),
        Err(Error::Invalid(_))
    ));
    assert!(out.is_empty());
}

#[test]
fn other_bad_requests() {
    // Coil value other than 0xFF00 / 0x0000.
    let e = request_error(&tcp(&[5, 0, 1, 0x12, 0x34]), Framing::Tcp);
    assert!(is_exception(&e, 5, ILLEGAL_DATA_VALUE));
    // A function code with no data.
    let e = request_error(&[0, 1, 0, 0, 0, 2, 1, 0x03], Framing::Tcp);
    assert!(is_exception(&e, 3, ILLEGAL_DATA_VALUE));
    // Empty PDU (unit only) cannot be framed.
    assert!(matches!(decode_request_pdu(&[]), Err(Error::Protocol(_))));
    // Zero-count FC 15 and too many registers in FC 16.
    let e = request_error(&tcp(&[0x0F, 0, 0, 0, 0, 0]), Framing::Tcp);
    assert!(is_exception(&e, 0x0F, ILLEGAL_DATA_VALUE));
    let e = request_error(&tcp(&[0x10, 0, 0, 0, 124, 0]), Framing::Tcp);
    assert!(is_exception(&e, 0x10, ILLEGAL_DATA_VALUE));
    // 124 registers with their 248 bytes do not even fit the MBAP length limit.
    let mut pdu = vec![0x10, 0, 0, 0, 124, 248];
    pdu.resize(6 + 248, 0);
    assert!(matches!(
        request_error(&tcp(&pdu), Framing::Tcp),
        Error::Protocol(_)
    ));
}
