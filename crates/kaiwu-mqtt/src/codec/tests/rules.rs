//! Per-packet spec rules: CONNECT flags and protocol level, SUBSCRIBE options, packet
//! identifiers, trailing bytes and reason codes.

use super::*;

#[test]
fn subscribe_rules() {
    let no_filters = frame(0x82, &[0, 1]);
    assert_eq!(
        err(&no_filters, V311).reason_code(),
        ReasonCode::ProtocolError
    );
    let v5_no_filters = frame(0x82, &[0, 1, 0]);
    assert_eq!(
        err(&v5_no_filters, V5).reason_code(),
        ReasonCode::ProtocolError
    );
    let sub = |filter: &[u8], options: u8| {
        let mut body = vec![0, 1];
        body.extend(field(filter));
        body.push(options);
        frame(0x82, &body)
    };
    assert_eq!(
        err(&sub(b"a/#/b", 0), V311),
        DecodeError::InvalidTopicFilter
    );
    assert_eq!(
        err(&sub(b"", 0), V311).reason_code(),
        ReasonCode::TopicFilterInvalid
    );
    assert!(matches!(
        err(&sub(b"a", 3), V311),
        DecodeError::Malformed(_)
    ));
    assert!(matches!(
        err(&sub(b"a", 0x04), V311),
        DecodeError::Malformed(_)
    ));
    let v5 = |filter: &[u8], options: u8| {
        let mut body = vec![0, 1, 0];
        body.extend(field(filter));
        body.push(options);
        frame(0x82, &body)
    };
    assert!(matches!(
        err(&v5(b"a", 0x40), V5),
        DecodeError::Malformed(_)
    ));
    assert_eq!(
        err(&v5(b"a", 0x30), V5),
        DecodeError::ProtocolViolation("retain handling 3")
    );
    let no_local_shared = err(&v5(b"$share/g/a", 0x04), V5);
    assert_eq!(no_local_shared.reason_code(), ReasonCode::ProtocolError);
    assert_eq!(
        err(&v5(b"$share/g", 0), V5),
        DecodeError::InvalidTopicFilter
    );
    let unsub = frame(0xA2, &[0, 1]);
    assert_eq!(err(&unsub, V311).reason_code(), ReasonCode::ProtocolError);
}

#[test]
fn zero_packet_ids() {
    let mut qos1 = field(b"t");
    qos1.extend([0, 0]);
    assert_eq!(
        err(&frame(0x32, &qos1), V311),
        DecodeError::ZeroPacketId { packet: "PUBLISH" }
    );
    let mut sub = vec![0, 0];
    sub.extend(field(b"a"));
    sub.push(0);
    assert!(matches!(
        err(&frame(0x82, &sub), V311),
        DecodeError::ZeroPacketId { .. }
    ));
    assert!(matches!(
        err(&[0x40, 2, 0, 0], V5),
        DecodeError::ZeroPacketId { .. }
    ));
}

fn connect_body(name: &[u8], level: u8, flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut body = field(name);
    body.extend([level, flags, 0, 60]);
    body.extend_from_slice(rest);
    body
}

#[test]
fn connect_rules() {
    let id = field(b"c");
    let connect = |name: &[u8], level, flags| frame(0x10, &connect_body(name, level, flags, &id));
    let e = err(&connect(b"MQIsdp", 3, 2), None);
    assert_eq!(e, DecodeError::UnsupportedProtocolVersion { level: 3 });
    assert_eq!(e.reason_code(), ReasonCode::UnsupportedProtocolVersion);
    for level in [3, 6, 0] {
        let e = err(&connect(b"MQTT", level, 2), None);
        assert_eq!(e, DecodeError::UnsupportedProtocolVersion { level });
    }
    assert_eq!(
        err(&connect(b"MQTX", 4, 2), None),
        DecodeError::UnsupportedProtocolName
    );
    let malformed = [
        0b0000_0011, // reserved bit
        0b0000_1000, // will QoS without will
        0b0010_0000, // will retain without will
        0b0001_1100, // will QoS 3
        0b0100_0000, // password without user name (3.1.1)
    ];
    for flags in malformed {
        assert!(matches!(
            err(&connect(b"MQTT", 4, flags), None),
            DecodeError::Malformed(_)
        ));
    }
    // MQTT 5 allows a password without a user name.
    let mut rest = vec![0]; // empty properties
    rest.extend(field(b"c"));
    rest.extend(field(b"secret"));
    let bytes = frame(0x10, &connect_body(b"MQTT", 5, 0b0100_0000, &rest));
    let Packet::Connect(c) = decode_one(&bytes, None).expect("v5 password only") else {
        panic!("not a connect");
    };
    assert_eq!(
        (c.username, c.password.as_deref()),
        (None, Some(&b"secret"[..]))
    );
    // Will topic with a wildcard.
    let mut rest = field(b"c");
    rest.extend(field(b"w/#"));
    rest.extend(field(b"bye"));
    let bytes = frame(0x10, &connect_body(b"MQTT", 4, 0b0000_0100, &rest));
    assert_eq!(
        err(&bytes, None).reason_code(),
        ReasonCode::TopicNameInvalid
    );
    // Client identifier length running past the packet.
    let bytes = frame(0x10, &connect_body(b"MQTT", 4, 2, &[0, 50, b'a']));
    let e = err(&bytes, None);
    assert_eq!(
        e,
        DecodeError::Truncated {
            packet: "CONNECT",
            field: "client identifier"
        }
    );
}

#[test]
fn trailing_bytes() {
    let e = err(&[0x40, 3, 0, 1, 0], V311);
    assert_eq!(
        e,
        DecodeError::TrailingBytes {
            packet: "PUBACK",
            count: 1
        }
    );
    assert!(matches!(
        err(&[0xC0, 1, 0], V5),
        DecodeError::TrailingBytes { .. }
    ));
    assert!(matches!(
        err(&[0xE0, 1, 0], V311),
        DecodeError::TrailingBytes { .. }
    ));
    // v3.1.1 CONNACK with an extra byte.
    assert!(matches!(
        err(&[0x20, 3, 0, 0, 0], V311),
        DecodeError::TrailingBytes { .. }
    ));
}

#[test]
fn reason_codes_checked_per_packet() {
    // 0x92 (packet identifier not found) is not a PUBACK code, only PUBREL/PUBCOMP.
    assert!(matches!(
        err(&[0x40, 3, 0, 1, 0x92], V5),
        DecodeError::InvalidReasonCode { .. }
    ));
    assert!(decode_one(&[0x62, 3, 0, 1, 0x92], V5).is_ok());
    // Unknown code.
    assert!(matches!(
        err(&[0xE0, 1, 0x03], V5),
        DecodeError::InvalidReasonCode { .. }
    ));
    // 3.1.1 CONNACK return code 6 does not exist; session present on a refusal is an error.
    assert!(matches!(
        err(&[0x20, 2, 0, 6], V311),
        DecodeError::InvalidReasonCode { .. }
    ));
    assert!(matches!(
        err(&[0x20, 2, 1, 5], V311),
        DecodeError::ProtocolViolation(_)
    ));
    assert!(matches!(
        err(&[0x20, 2, 2, 0], V311),
        DecodeError::Malformed(_)
    ));
    // 3.1.1 SUBACK only knows 0, 1, 2 and 0x80.
    assert!(matches!(
        err(&[0x90, 3, 0, 1, 0x87], V311),
        DecodeError::InvalidReasonCode { .. }
    ));
}
