//! Encoder validation, 3.1.1 code mapping and error reporting.

use bytes::Bytes;

use super::*;

fn encode_err(p: &Packet, protocol: Protocol) -> EncodeError {
    let mut out = BytesMut::from(&b"prefix"[..]);
    let e = p.encode(protocol, &mut out).expect_err("must be refused");
    // Validation happens before writing: nothing was appended.
    assert_eq!(&out[..], b"prefix");
    e
}

fn publish(topic: &str, qos: QoS, packet_id: Option<u16>) -> Publish {
    Publish {
        topic: topic.to_owned(),
        qos,
        packet_id,
        ..Publish::default()
    }
}

#[test]
fn connack_maps_to_v311_return_codes() {
    let cases = [
        (ReasonCode::Success, 0),
        (ReasonCode::UnsupportedProtocolVersion, 1),
        (ReasonCode::ClientIdentifierNotValid, 2),
        (ReasonCode::ServerUnavailable, 3),
        (ReasonCode::BadUserNameOrPassword, 4),
        (ReasonCode::NotAuthorized, 5),
        (ReasonCode::Banned, 5),
        (ReasonCode::BadAuthenticationMethod, 4),
        (ReasonCode::ServerBusy, 3),
        (ReasonCode::MalformedPacket, 3),
    ];
    for (reason, code) in cases {
        let p = Packet::ConnAck(ConnAck {
            session_present: true,
            reason,
            properties: Properties {
                reason_string: Some("dropped in 3.1.1".into()),
                ..Properties::default()
            },
        });
        let present = u8::from(code == 0);
        assert_eq!(
            &encode(&p, Protocol::V311)[..],
            [0x20, 2, present, code],
            "{reason:?}"
        );
    }
}

#[test]
fn suback_maps_to_v311_return_codes() {
    let p = Packet::SubAck(SubAck {
        packet_id: 10,
        reasons: vec![
            ReasonCode::GRANTED_QOS_0,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::NotAuthorized,
            ReasonCode::TopicFilterInvalid,
        ],
        properties: Properties::default(),
    });
    let bytes = encode(&p, Protocol::V311);
    assert_eq!(&bytes[..], [0x90, 7, 0, 10, 0, 1, 2, 0x80, 0x80]);
    let bytes = encode(&p, Protocol::V5);
    assert_eq!(&bytes[..], [0x90, 8, 0, 10, 0, 0, 1, 2, 0x87, 0x8F]);
    // A success code that is not a granted QoS has no 3.1.1 form.
    let bad = Packet::SubAck(SubAck {
        packet_id: 1,
        reasons: vec![ReasonCode::NoMatchingSubscribers],
        properties: Properties::default(),
    });
    assert!(matches!(
        encode_err(&bad, Protocol::V311),
        EncodeError::ReasonCodeNotAllowed { .. }
    ));
}

#[test]
fn publish_validation() {
    let cases = [
        (
            publish("a/+", QoS::AtMostOnce, None),
            EncodeError::InvalidTopicName,
        ),
        (
            publish("", QoS::AtMostOnce, None),
            EncodeError::InvalidTopicName,
        ),
        (
            publish("a", QoS::AtLeastOnce, None),
            EncodeError::InvalidPacketId { packet: "PUBLISH" },
        ),
        (
            publish("a", QoS::ExactlyOnce, Some(0)),
            EncodeError::InvalidPacketId { packet: "PUBLISH" },
        ),
        (
            publish("a", QoS::AtMostOnce, Some(1)),
            EncodeError::Invalid("packet identifier on a QoS 0 PUBLISH"),
        ),
    ];
    for (p, expected) in cases {
        for proto in [Protocol::V311, Protocol::V5] {
            assert_eq!(encode_err(&Packet::Publish(p.clone()), proto), expected);
        }
    }
    let dup = Publish {
        dup: true,
        ..publish("a", QoS::AtMostOnce, None)
    };
    assert!(matches!(
        encode_err(&Packet::Publish(dup), Protocol::V5),
        EncodeError::Invalid(_)
    ));
    // An empty topic is fine in MQTT 5 with an alias, never in 3.1.1.
    let aliased = Publish {
        properties: Properties {
            topic_alias: Some(3),
            ..Properties::default()
        },
        ..publish("", QoS::AtMostOnce, None)
    };
    assert!(
        Packet::Publish(aliased.clone())
            .encode(Protocol::V5, &mut BytesMut::new())
            .is_ok()
    );
    let e = encode_err(&Packet::Publish(aliased), Protocol::V311);
    assert_eq!(e, EncodeError::InvalidTopicName);
}

#[test]
fn string_limits() {
    let long = Packet::Publish(publish(&"x".repeat(70_000), QoS::AtMostOnce, None));
    let e = encode_err(&long, Protocol::V311);
    assert_eq!(
        e,
        EncodeError::FieldTooLong {
            field: "topic name",
            len: 70_000
        }
    );
    let nul = Packet::Unsubscribe(Unsubscribe {
        packet_id: 1,
        filters: vec!["a\0".into()],
        properties: Properties::default(),
    });
    assert!(matches!(
        encode_err(&nul, Protocol::V5),
        EncodeError::InvalidTopicFilter { .. }
    ));
    let props = Properties {
        reason_string: Some("bad\0".into()),
        ..Properties::default()
    };
    let ack = Packet::PubAck(Ack {
        packet_id: 1,
        reason: ReasonCode::Success,
        properties: props,
    });
    let e = encode_err(&ack, Protocol::V5);
    assert_eq!(
        e,
        EncodeError::NullCharacter {
            field: "reason string"
        }
    );
}

#[test]
fn property_validation() {
    let with = |properties: Properties| {
        Packet::Publish(Publish {
            properties,
            ..publish("t", QoS::AtMostOnce, None)
        })
    };
    let not_allowed = with(Properties {
        session_expiry_interval: Some(1),
        ..Properties::default()
    });
    assert!(matches!(
        encode_err(&not_allowed, Protocol::V5),
        EncodeError::PropertyNotAllowed {
            property: "session expiry interval",
            packet: "PUBLISH"
        }
    ));
    // 3.1.1 simply has no properties to carry.
    assert!(
        not_allowed
            .encode(Protocol::V311, &mut BytesMut::new())
            .is_ok()
    );
    let bad_values = [
        Properties {
            topic_alias: Some(0),
            ..Properties::default()
        },
        Properties {
            subscription_identifiers: vec![0],
            ..Properties::default()
        },
        Properties {
            subscription_identifiers: vec![MAX_VARINT + 1],
            ..Properties::default()
        },
        Properties {
            response_topic: Some("a/#".into()),
            ..Properties::default()
        },
    ];
    for props in bad_values {
        let e = encode_err(&with(props), Protocol::V5);
        assert!(matches!(e, EncodeError::InvalidPropertyValue { .. }), "{e}");
    }
    let connack = Packet::ConnAck(ConnAck {
        properties: Properties {
            maximum_qos: Some(QoS::ExactlyOnce),
            ..Properties::default()
        },
        ..ConnAck::default()
    });
    assert!(matches!(
        encode_err(&connack, Protocol::V5),
        EncodeError::InvalidPropertyValue { .. }
    ));
    let auth = Packet::Auth(Auth {
        reason: ReasonCode::ContinueAuthentication,
        properties: Properties {
            authentication_data: Some(Bytes::from_static(b"x")),
            ..Properties::default()
        },
    });
    assert!(matches!(
        encode_err(&auth, Protocol::V5),
        EncodeError::InvalidPropertyValue { .. }
    ));
}

#[test]
fn packet_level_validation() {
    let auth = Packet::Auth(Auth::default());
    assert!(matches!(
        encode_err(&auth, Protocol::V311),
        EncodeError::Invalid(_)
    ));
    let connect = Connect {
        protocol: Protocol::V5,
        client_id: "c".into(),
        clean_start: true,
        keep_alive: 0,
        username: None,
        password: Some(Bytes::from_static(b"pw")),
        will: None,
        properties: Properties::default(),
    };
    let p = Packet::Connect(Box::new(connect.clone()));
    assert!(matches!(
        encode_err(&p, Protocol::V311),
        EncodeError::Invalid(_)
    ));
    let v311 = Packet::Connect(Box::new(Connect {
        protocol: Protocol::V311,
        ..connect
    }));
    assert!(matches!(
        encode_err(&v311, Protocol::V311),
        EncodeError::Invalid(_)
    ));
    let empty = Packet::Subscribe(Subscribe {
        packet_id: 1,
        ..Subscribe::default()
    });
    assert!(matches!(
        encode_err(&empty, Protocol::V5),
        EncodeError::Invalid(_)
    ));
    let zero = Packet::PubRel(Ack::new(0));
    assert_eq!(
        encode_err(&zero, Protocol::V311),
        EncodeError::InvalidPacketId { packet: "PUBREL" }
    );
    let wrong_reason = Packet::PubComp(Ack {
        reason: ReasonCode::NotAuthorized,
        ..Ack::new(1)
    });
    assert!(matches!(
        encode_err(&wrong_reason, Protocol::V5),
        EncodeError::ReasonCodeNotAllowed {
            packet: "PUBCOMP",
            ..
        }
    ));
}

#[test]
fn decode_error_reason_codes_and_messages() {
    let cases = [
        (
            DecodeError::RemainingLengthTooLong,
            ReasonCode::MalformedPacket,
        ),
        (DecodeError::UnexpectedConnect, ReasonCode::ProtocolError),
        (
            DecodeError::UnsupportedProtocolVersion { level: 3 },
            ReasonCode::UnsupportedProtocolVersion,
        ),
        (
            DecodeError::InvalidTopicName("empty topic name"),
            ReasonCode::TopicNameInvalid,
        ),
        (
            DecodeError::PacketTooLarge { size: 10, max: 5 },
            ReasonCode::PacketTooLarge,
        ),
    ];
    for (e, code) in cases {
        assert_eq!(e.reason_code(), code, "{e}");
    }
    let e = DecodeError::UnsupportedProtocolVersion { level: 3 };
    assert!(e.to_string().contains("level 3"), "{e}");
    let e = DecodeError::FirstPacketNotConnect { packet: "PUBLISH" };
    assert_eq!(e.to_string(), "first packet is PUBLISH, expected CONNECT");
}

#[test]
fn reason_code_values() {
    for (i, code) in reason::ALL.iter().enumerate() {
        assert_eq!(ReasonCode::from_u8(code.as_u8()), Some(*code));
        if let Some(next) = reason::ALL.get(i + 1) {
            assert!(
                code.as_u8() < next.as_u8(),
                "ALL must stay sorted for from_u8"
            );
        }
    }
    assert_eq!(ReasonCode::from_u8(0x03), None);
    assert_eq!(ReasonCode::from_u8(0xFF), None);
    assert_eq!(ReasonCode::NORMAL_DISCONNECTION.as_u8(), 0);
    assert_eq!(ReasonCode::WildcardSubscriptionsNotSupported.as_u8(), 0xA2);
    assert!(ReasonCode::UnspecifiedError.is_error() && !ReasonCode::GrantedQoS2.is_error());
    for code in 0..=5 {
        let r = ReasonCode::from_v311_connack(code).expect("defined");
        assert_eq!(r.to_v311_connack(), code);
    }
}
