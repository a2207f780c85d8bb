//! Hostile and malformed input: each case names the attack or spec rule it covers.

use super::*;

/// A PUBLISH QoS 0 body: topic field, then (MQTT 5) a property block, then payload.
fn publish_body(topic: &[u8], props: Option<&[u8]>, payload: &[u8]) -> Vec<u8> {
    let mut body = field(topic);
    if let Some(p) = props {
        body.extend(frame(0, p).into_iter().skip(1)); // varint length + block
    }
    body.extend_from_slice(payload);
    body
}

#[test]
fn zero_length_topic() {
    let v311 = frame(0x30, &publish_body(b"", None, b"x"));
    assert_eq!(
        err(&v311, V311),
        DecodeError::InvalidTopicName("empty topic name")
    );
    let v5 = frame(0x30, &publish_body(b"", Some(&[]), b"x"));
    assert_eq!(err(&v5, V5).reason_code(), ReasonCode::TopicNameInvalid);
    // MQTT 5 allows it when a topic alias stands in.
    let aliased = frame(0x30, &publish_body(b"", Some(&[0x23, 0, 7]), b"x"));
    let Packet::Publish(p) = decode_one(&aliased, V5).expect("aliased publish") else {
        panic!("not a publish");
    };
    assert_eq!((p.topic.as_str(), p.properties.topic_alias), ("", Some(7)));
}

#[test]
fn invalid_utf8_topic() {
    let bytes = frame(0x30, &publish_body(&[b'a', 0xC3, 0x28], None, b""));
    let e = err(&bytes, V311);
    assert_eq!(
        e,
        DecodeError::InvalidUtf8 {
            field: "topic name"
        }
    );
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    // An encoded surrogate (U+D800) is not UTF-8 either.
    let surrogate = frame(0x30, &publish_body(&[0xED, 0xA0, 0x80], None, b""));
    assert!(matches!(
        err(&surrogate, V311),
        DecodeError::InvalidUtf8 { .. }
    ));
}

#[test]
fn null_character_in_strings() {
    let topic = frame(0x30, &publish_body(b"a\0b", None, b""));
    assert_eq!(
        err(&topic, V311),
        DecodeError::NullCharacter {
            field: "topic name"
        }
    );
    let mut connect = field(b"MQTT");
    connect.extend([4, 0b10, 0, 60]);
    connect.extend(field(b"id\0"));
    let e = err(&frame(0x10, &connect), None);
    assert_eq!(
        e,
        DecodeError::NullCharacter {
            field: "client identifier"
        }
    );
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
}

#[test]
fn wildcards_in_topic_name() {
    for topic in [&b"a/+"[..], b"#", b"a/#"] {
        let bytes = frame(0x30, &publish_body(topic, None, b""));
        assert_eq!(
            err(&bytes, V311).reason_code(),
            ReasonCode::TopicNameInvalid
        );
    }
}

/// Thousands of user properties must fail at the cap, not allocate them all.
#[test]
fn user_property_flood() {
    let one = [&[0x26][..], &field(b"k"), &field(b"v")].concat();
    let flood = one.repeat(5_000);
    let bytes = frame(0x30, &publish_body(b"t", Some(&flood), b""));
    let e = err(&bytes, V5);
    assert_eq!(
        e,
        DecodeError::TooManyUserProperties {
            max: MAX_USER_PROPERTIES
        }
    );
    assert_eq!(e.reason_code(), ReasonCode::QuotaExceeded);
    // Exactly at the cap is fine.
    let at_cap = one.repeat(MAX_USER_PROPERTIES);
    let bytes = frame(0x30, &publish_body(b"t", Some(&at_cap), b""));
    let Packet::Publish(p) = decode_one(&bytes, V5).expect("at cap") else {
        panic!("not a publish");
    };
    assert_eq!(p.properties.user_properties.len(), MAX_USER_PROPERTIES);
}

#[test]
fn duplicated_single_properties() {
    // Thousands of message expiry intervals: rejected at the second.
    let flood = [0x02, 0, 0, 0, 1].repeat(3_000);
    let bytes = frame(0x30, &publish_body(b"t", Some(&flood), b""));
    let e = err(&bytes, V5);
    assert_eq!(
        e,
        DecodeError::DuplicateProperty {
            property: "message expiry interval"
        }
    );
    assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
    for dup in [
        &[0x23, 0, 1, 0x23, 0, 2][..],
        &[0x01, 0, 0x01, 1],
        &[0x0B, 1, 0x0B, 2],
    ] {
        let mut sub = vec![0, 1];
        sub.extend(frame(0, dup).into_iter().skip(1));
        sub.extend(field(b"a"));
        sub.push(0);
        let is_publish_only = dup[0] != 0x0B;
        let bytes = match is_publish_only {
            true => frame(0x30, &publish_body(b"t", Some(dup), b"")),
            false => frame(0x82, &sub),
        };
        assert!(
            matches!(err(&bytes, V5), DecodeError::DuplicateProperty { .. }),
            "{dup:?}"
        );
    }
    // PUBLISH may carry several subscription identifiers.
    let ids = frame(0x30, &publish_body(b"t", Some(&[0x0B, 1, 0x0B, 2]), b""));
    let Packet::Publish(p) = decode_one(&ids, V5).expect("several ids") else {
        panic!("not a publish");
    };
    assert_eq!(p.properties.subscription_identifiers, vec![1, 2]);
}

#[test]
fn property_in_wrong_packet_or_with_bad_value() {
    // Session expiry interval is not a PUBLISH property.
    let bytes = frame(0x30, &publish_body(b"t", Some(&[0x11, 0, 0, 0, 1]), b""));
    assert_eq!(
        err(&bytes, V5),
        DecodeError::InvalidProperty {
            packet: "PUBLISH",
            id: 0x11
        }
    );
    let unknown = frame(0x30, &publish_body(b"t", Some(&[0x7F, 0]), b""));
    assert_eq!(err(&unknown, V5).reason_code(), ReasonCode::MalformedPacket);
    let cases: [&[u8]; 4] = [&[0x23, 0, 0], &[0x01, 2], &[0x0B, 0], &[0x08, 0, 1, b'#']];
    for props in cases {
        let bytes = frame(0x30, &publish_body(b"t", Some(props), b""));
        assert_eq!(
            err(&bytes, V5).reason_code(),
            ReasonCode::ProtocolError,
            "{props:?}"
        );
    }
    // Property block longer than the packet.
    let mut body = field(b"t");
    body.extend([10, 0x23, 0, 1]);
    assert!(matches!(
        err(&frame(0x30, &body), V5),
        DecodeError::Truncated { .. }
    ));
    // Property length varint of five bytes.
    let mut body = field(b"t");
    body.extend([0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
    assert_eq!(
        err(&frame(0x30, &body), V5).reason_code(),
        ReasonCode::MalformedPacket
    );
}

#[test]
fn first_packet_must_be_connect() {
    // Rejected on the first byte, before any length or body arrives.
    assert_eq!(
        err(&[0xC0], None),
        DecodeError::FirstPacketNotConnect { packet: "PINGREQ" }
    );
    let publish = frame(0x30, &publish_body(b"t", None, b""));
    assert_eq!(err(&publish, None).reason_code(), ReasonCode::ProtocolError);
    // And a second CONNECT is refused.
    assert_eq!(err(&[0x10], V5), DecodeError::UnexpectedConnect);
}

#[test]
fn oversized_packet_rejected_from_header_alone() {
    // PUBLISH announcing 268435455 bytes: only the 5 header bytes have arrived.
    let header = [0x30, 0xFF, 0xFF, 0xFF, 0x7F];
    let e = err(&header, V311);
    assert_eq!(
        e,
        DecodeError::PacketTooLarge {
            size: 268_435_460,
            max: MAX
        }
    );
    assert_eq!(e.reason_code(), ReasonCode::PacketTooLarge);
    let mut buf = BytesMut::from(&[0x30, 0x80, 0x08][..]); // 1024 + 3 bytes in total
    assert!(matches!(
        decode(&mut buf, V311, 1026),
        Err(DecodeError::PacketTooLarge { .. })
    ));
    let mut buf = BytesMut::from(&[0x30, 0x80, 0x08][..]);
    assert_eq!(decode(&mut buf, V311, 1027), Ok(None));
}

#[test]
fn remaining_length_of_five_bytes() {
    assert_eq!(
        err(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], V5),
        DecodeError::RemainingLengthTooLong
    );
    // The fourth byte's continuation bit is enough to know.
    assert_eq!(
        err(&[0x30, 0x80, 0x80, 0x80, 0x80], V5),
        DecodeError::RemainingLengthTooLong
    );
    let mut buf = BytesMut::from(&[0x30, 0x80, 0x80, 0x80][..]);
    assert_eq!(decode(&mut buf, V5, usize::MAX), Ok(None));
}

#[test]
fn reserved_header_bits_and_types() {
    assert!(matches!(
        err(&[0x80, 0], V311),
        DecodeError::InvalidFlags { flags: 0, .. }
    ));
    assert!(matches!(
        err(&[0xA0, 0], V5),
        DecodeError::InvalidFlags { .. }
    ));
    assert!(matches!(
        err(&[0x60, 2, 0, 1], V311),
        DecodeError::InvalidFlags { .. }
    ));
    assert!(matches!(
        err(&[0x11, 0], None),
        DecodeError::InvalidFlags { .. }
    ));
    assert!(matches!(
        err(&[0x41, 2, 0, 1], V5),
        DecodeError::InvalidFlags { .. }
    ));
    assert_eq!(err(&[0x00, 0], V5), DecodeError::ReservedPacketType(0));
    assert_eq!(err(&[0xF0, 0], V311), DecodeError::ReservedPacketType(15));
    assert_eq!(
        err(&[0x36, 0], V5),
        DecodeError::Malformed("PUBLISH with QoS 3")
    );
    assert!(matches!(err(&[0x38, 0], V5), DecodeError::Malformed(_)));
}

/// The payload of a decoded PUBLISH points into the receive buffer: no copy.
#[test]
fn publish_payload_is_zero_copy() {
    let mut body = field(b"a/b");
    body.extend([0, 9]);
    body.extend_from_slice(&[7u8; 1000]);
    let bytes = frame(0x32, &body);
    let mut buf = BytesMut::from(&bytes[..]);
    let base = buf.as_ptr() as usize;
    let Some(Packet::Publish(p)) = decode(&mut buf, V311, MAX).expect("valid") else {
        panic!("not a publish");
    };
    assert_eq!(p.payload.as_ptr() as usize, base + bytes.len() - 1000);
    assert_eq!(p.payload.len(), 1000);
}

#[test]
fn max_packet_size_is_inclusive() {
    let bytes = frame(0x30, &publish_body(b"t", None, b"abc"));
    let mut buf = BytesMut::from(&bytes[..]);
    assert!(decode(&mut buf, V311, bytes.len()).expect("fits").is_some());
    let mut buf = BytesMut::from(&bytes[..]);
    assert!(decode(&mut buf, V311, bytes.len() - 1).is_err());
}
