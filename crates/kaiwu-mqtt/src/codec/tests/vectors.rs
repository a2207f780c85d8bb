//! Byte vectors written out by hand from the spec, checked in both directions.

use bytes::Bytes;

use super::*;
use crate::codec::read::Reader;
use crate::codec::write::{put_varint, varint_len};

/// `bytes` decodes to `packet` (in connection state `state`) and `packet` encodes to `bytes`.
fn check(bytes: &[u8], packet: Packet, protocol: Protocol) {
    let decoded = decode_one(bytes, state_for(&packet, protocol)).expect("valid vector");
    assert_eq!(decoded, packet);
    assert_eq!(&encode(&packet, protocol)[..], bytes, "{}", packet.name());
}

fn connect(protocol: Protocol, client_id: &str, keep_alive: u16) -> Connect {
    Connect {
        protocol,
        client_id: client_id.into(),
        clean_start: true,
        keep_alive,
        username: None,
        password: None,
        will: None,
        properties: Properties::default(),
    }
}

#[test]
fn v311_connect_as_paho_sends_it() {
    let bytes = [
        0x10, 0x13, // CONNECT, remaining length 19
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x04, // level 4 = 3.1.1
        0x02, // clean session
        0x00, 0x3C, // keep alive 60
        0x00, 0x07, b'p', b'a', b'h', b'o', b'1', b'2', b'3',
    ];
    let c = connect(Protocol::V311, "paho123", 60);
    check(&bytes, Packet::Connect(Box::new(c)), Protocol::V311);
}

#[test]
fn v311_connect_with_will_and_login() {
    let mut bytes = vec![0x10, 0x30, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04];
    // user name, password, will retain, will QoS 1, will, clean session
    bytes.extend([0b1110_1110, 0x00, 0x3C]);
    bytes.extend([0x00, 0x04, b'd', b'e', b'v', b'1']);
    bytes.extend([0x00, 0x0B]);
    bytes.extend(b"status/dev1");
    bytes.extend([0x00, 0x07]);
    bytes.extend(b"offline");
    bytes.extend([0x00, 0x04, b'u', b's', b'e', b'r', 0x00, 0x02, b'p', b'w']);
    let c = Connect {
        username: Some("user".into()),
        password: Some(Bytes::from_static(b"pw")),
        will: Some(Will {
            topic: "status/dev1".into(),
            payload: Bytes::from_static(b"offline"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Properties::default(),
        }),
        ..connect(Protocol::V311, "dev1", 60)
    };
    check(&bytes, Packet::Connect(Box::new(c)), Protocol::V311);
}

#[test]
fn v5_connect_with_properties() {
    let bytes = [
        0x10, 0x1A, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x1E,
        0x08, // property length
        0x11, 0x00, 0x00, 0x0E, 0x10, // session expiry interval 3600
        0x21, 0x00, 0x14, // receive maximum 20
        0x00, 0x05, b'p', b'a', b'h', b'o', b'5',
    ];
    let c = Connect {
        properties: Properties {
            session_expiry_interval: Some(3600),
            receive_maximum: Some(20),
            ..Properties::default()
        },
        ..connect(Protocol::V5, "paho5", 30)
    };
    check(&bytes, Packet::Connect(Box::new(c)), Protocol::V5);
}

#[test]
fn connacks() {
    check(
        &[0x20, 0x02, 0x00, 0x00],
        Packet::ConnAck(ConnAck::default()),
        Protocol::V311,
    );
    check(
        &[0x20, 0x03, 0x00, 0x00, 0x00],
        Packet::ConnAck(ConnAck::default()),
        Protocol::V5,
    );
    let bytes = [
        0x20, 0x0C, 0x01, 0x00, 0x09, // session present, success, 9 bytes of properties
        0x12, 0x00, 0x03, b'a', b'b', b'c', // assigned client identifier
        0x22, 0x00, 0x0A, // topic alias maximum 10
    ];
    let ack = ConnAck {
        session_present: true,
        reason: ReasonCode::Success,
        properties: Properties {
            assigned_client_identifier: Some("abc".into()),
            topic_alias_maximum: Some(10),
            ..Properties::default()
        },
    };
    check(&bytes, Packet::ConnAck(ack), Protocol::V5);
    let refused = ConnAck {
        reason: ReasonCode::BadUserNameOrPassword,
        ..ConnAck::default()
    };
    check(
        &[0x20, 0x02, 0x00, 0x04],
        Packet::ConnAck(refused.clone()),
        Protocol::V311,
    );
    check(
        &[0x20, 0x03, 0x00, 0x86, 0x00],
        Packet::ConnAck(refused),
        Protocol::V5,
    );
}

#[test]
fn publishes() {
    let bytes = [
        0x32, 0x0C, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, b'h', b'e', b'l', b'l', b'o',
    ];
    let p = Publish {
        qos: QoS::AtLeastOnce,
        topic: "a/b".into(),
        packet_id: Some(10),
        payload: Bytes::from_static(b"hello"),
        ..Publish::default()
    };
    check(&bytes, Packet::Publish(p.clone()), Protocol::V311);
    let dup_qos2 = Publish {
        dup: true,
        qos: QoS::ExactlyOnce,
        ..p
    };
    let mut bytes2 = bytes;
    bytes2[0] = 0x3C;
    check(&bytes2, Packet::Publish(dup_qos2), Protocol::V311);
    let bytes = [
        0x31, 0x0C, 0x00, 0x01, b't', 0x08, // retain, QoS 0, 8 bytes of properties
        0x02, 0x00, 0x00, 0x00, 0x3C, // message expiry interval 60
        0x23, 0x00, 0x01, // topic alias 1
    ];
    let p = Publish {
        retain: true,
        topic: "t".into(),
        properties: Properties {
            message_expiry_interval: Some(60),
            topic_alias: Some(1),
            ..Properties::default()
        },
        ..Publish::default()
    };
    check(&bytes, Packet::Publish(p), Protocol::V5);
}

#[test]
fn subscriptions() {
    let bytes = [0x82, 0x08, 0x00, 0x01, 0x00, 0x03, b'a', b'/', b'b', 0x01];
    let sub = Subscribe {
        packet_id: 1,
        filters: vec![SubscribeFilter {
            filter: "a/b".into(),
            options: SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                ..SubscriptionOptions::default()
            },
        }],
        properties: Properties::default(),
    };
    check(&bytes, Packet::Subscribe(sub), Protocol::V311);
    let bytes = [
        0x82, 0x0B, 0x00, 0x02, 0x02, 0x0B, 0x05, // subscription identifier 5
        0x00, 0x03, b'x', b'/', b'#', 0x2E, // QoS 2, no local, retain as published, never
    ];
    let sub = Subscribe {
        packet_id: 2,
        filters: vec![SubscribeFilter {
            filter: "x/#".into(),
            options: SubscriptionOptions {
                qos: QoS::ExactlyOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::Never,
            },
        }],
        properties: Properties {
            subscription_identifiers: vec![5],
            ..Properties::default()
        },
    };
    check(&bytes, Packet::Subscribe(sub), Protocol::V5);
    let suback = SubAck {
        packet_id: 1,
        reasons: vec![ReasonCode::GrantedQoS1],
        properties: Properties::default(),
    };
    check(
        &[0x90, 0x03, 0x00, 0x01, 0x01],
        Packet::SubAck(suback),
        Protocol::V311,
    );
    let unsub = Unsubscribe {
        packet_id: 3,
        filters: vec!["a".into()],
        properties: Properties::default(),
    };
    let bytes = [0xA2, 0x05, 0x00, 0x03, 0x00, 0x01, b'a'];
    check(&bytes, Packet::Unsubscribe(unsub), Protocol::V311);
    let unsuback = UnsubAck {
        packet_id: 3,
        ..UnsubAck::default()
    };
    check(
        &[0xB0, 0x02, 0x00, 0x03],
        Packet::UnsubAck(unsuback.clone()),
        Protocol::V311,
    );
    let v5 = UnsubAck {
        reasons: vec![ReasonCode::NoSubscriptionExisted],
        ..unsuback
    };
    check(
        &[0xB0, 0x04, 0x00, 0x03, 0x00, 0x11],
        Packet::UnsubAck(v5),
        Protocol::V5,
    );
}

#[test]
fn acks_and_short_packets() {
    check(
        &[0x40, 0x02, 0x00, 0x01],
        Packet::PubAck(Ack::new(1)),
        Protocol::V311,
    );
    // MQTT 5 omits a success reason code and empty properties.
    check(
        &[0x40, 0x02, 0x00, 0x01],
        Packet::PubAck(Ack::new(1)),
        Protocol::V5,
    );
    let no_subs = Ack {
        reason: ReasonCode::NoMatchingSubscribers,
        ..Ack::new(1)
    };
    check(
        &[0x50, 0x03, 0x00, 0x01, 0x10],
        Packet::PubRec(no_subs),
        Protocol::V5,
    );
    check(
        &[0x62, 0x02, 0x00, 0x05],
        Packet::PubRel(Ack::new(5)),
        Protocol::V311,
    );
    check(
        &[0x70, 0x02, 0x00, 0x05],
        Packet::PubComp(Ack::new(5)),
        Protocol::V5,
    );
    // A reason code followed by an explicitly empty property block also decodes.
    let long_form = decode_one(&[0x40, 0x04, 0x00, 0x01, 0x00, 0x00], Some(Protocol::V5));
    assert_eq!(long_form, Ok(Packet::PubAck(Ack::new(1))));
    check(&[0xC0, 0x00], Packet::PingReq, Protocol::V311);
    check(&[0xD0, 0x00], Packet::PingResp, Protocol::V5);
    let normal = Packet::Disconnect(Disconnect::default());
    check(&[0xE0, 0x00], normal.clone(), Protocol::V311);
    check(&[0xE0, 0x00], normal, Protocol::V5);
    let taken = Disconnect {
        reason: ReasonCode::SessionTakenOver,
        properties: Properties::default(),
    };
    check(&[0xE0, 0x01, 0x8E], Packet::Disconnect(taken), Protocol::V5);
    check(&[0xF0, 0x00], Packet::Auth(Auth::default()), Protocol::V5);
    let auth = Auth {
        reason: ReasonCode::ContinueAuthentication,
        properties: Properties {
            authentication_method: Some("SCRAM".into()),
            ..Properties::default()
        },
    };
    let bytes = [
        0xF0, 0x0A, 0x18, 0x08, 0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M',
    ];
    check(&bytes, Packet::Auth(auth), Protocol::V5);
}

/// Variable byte integer examples from spec table 1-1, at both ends of each width.
#[test]
fn variable_byte_integers() {
    let cases: [(usize, &[u8]); 8] = [
        (0, &[0x00]),
        (127, &[0x7F]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xFF, 0x7F]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xFF, 0xFF, 0x7F]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
        (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
    ];
    for (value, wire) in cases {
        let mut out = BytesMut::new();
        put_varint(&mut out, value);
        assert_eq!(&out[..], wire);
        assert_eq!(varint_len(value), wire.len());
        let frozen = Bytes::copy_from_slice(wire);
        let mut r = Reader::new(&frozen, 0, "test");
        assert_eq!(r.varint("value").map(|v| v as usize), Ok(value));
        assert!(r.is_empty());
    }
}

/// A PUBLISH whose remaining length needs several varint bytes.
#[test]
fn large_publish() {
    let p = Publish {
        topic: "big".into(),
        payload: Bytes::from(vec![0xAB; 200_000]),
        ..Publish::default()
    };
    let bytes = encode(&Packet::Publish(p.clone()), Protocol::V5);
    assert_eq!(&bytes[..4], [0x30, 0xC6, 0x9A, 0x0C]); // 200_006 = 0x30D46
    assert_eq!(
        decode_one(&bytes, Some(Protocol::V5)),
        Ok(Packet::Publish(p))
    );
}
