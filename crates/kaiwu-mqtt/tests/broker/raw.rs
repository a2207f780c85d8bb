//! Misbehaving or precise peers over a plain socket, with the crate's codec as the client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kaiwu_mqtt::broker::BrokerConfig;
use kaiwu_mqtt::codec::{
    self, Ack, ConnAck, Connect, Packet, Properties, Protocol, Publish, QoS, ReasonCode,
};

use crate::common::*;

struct Raw {
    s: TcpStream,
    buf: BytesMut,
    protocol: Protocol,
}

impl Raw {
    fn open(b: &TestBroker, protocol: Protocol) -> Raw {
        let s = TcpStream::connect(b.addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        Raw {
            s,
            buf: BytesMut::new(),
            protocol,
        }
    }

    fn send(&mut self, p: &Packet) {
        let mut out = BytesMut::new();
        p.encode(self.protocol, &mut out).unwrap();
        self.s.write_all(&out).unwrap();
    }

    /// Next packet from the broker; `None` once it closed the connection.
    fn recv(&mut self) -> Option<Packet> {
        loop {
            if let Some(p) = codec::decode(&mut self.buf, Some(self.protocol), usize::MAX).unwrap()
            {
                return Some(p);
            }
            let mut chunk = [0u8; 4096];
            match self.s.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    fn connect(
        b: &TestBroker,
        protocol: Protocol,
        id: &str,
        user: &str,
        clean: bool,
    ) -> (Raw, ConnAck) {
        let mut r = Raw::open(b, protocol);
        r.send(&Packet::Connect(Box::new(Connect {
            protocol,
            client_id: id.into(),
            clean_start: clean,
            keep_alive: 60,
            username: Some(user.into()),
            password: None,
            will: None,
            properties: Properties::default(),
        })));
        match r.recv() {
            Some(Packet::ConnAck(c)) => (r, c),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
}

fn publish(topic: &str, qos: QoS, pid: u16, payload: &str) -> Packet {
    Packet::Publish(Publish {
        qos,
        topic: topic.into(),
        packet_id: (qos != QoS::AtMostOnce).then_some(pid),
        payload: Bytes::from(payload.to_owned()),
        ..Publish::default()
    })
}

/// 3.1.1 CONNACK return codes as bytes on the wire.
#[test]
fn v311_connack_return_codes() {
    let b = TestBroker::with(BrokerConfig {
        auth_failures: (2, Duration::from_secs(600)),
        ..BrokerConfig::default()
    });
    let code = |id: &str, user: &str, clean: bool| {
        let (_, ack) = Raw::connect(&b, Protocol::V311, id, user, clean);
        ack.reason.to_v311_connack()
    };
    assert_eq!(code("", "good", false), 2);
    assert_eq!(code("", "good", true), 0);
    assert_eq!(code("c1", "banned", true), 5);
    assert_eq!(code("c1", "nobody", true), 4);
    assert_eq!(code("c1", "nobody", true), 4);
    // Two failures from this address: refused even with good credentials.
    assert_eq!(code("c1", "good", true), 3);
}

#[test]
fn unsupported_protocol_level_gets_return_code_1() {
    let b = TestBroker::start();
    let mut r = Raw::open(&b, Protocol::V311);
    // CONNECT with protocol level 3 (MQTT 3.1 used "MQIsdp"; "MQTT" + 3 is invalid).
    r.s.write_all(&[0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 3, 2, 0, 60, 0, 0])
        .unwrap();
    let mut got = Vec::new();
    r.s.read_to_end(&mut got).unwrap();
    assert_eq!(got, [0x20, 2, 0, 1]);
}

#[test]
fn first_packet_not_connect_closes() {
    let b = TestBroker::start();
    let mut r = Raw::open(&b, Protocol::V311);
    r.s.write_all(&[0xC0, 0]).unwrap(); // PINGREQ
    assert_eq!(r.recv(), None);
}

#[test]
fn silent_connection_is_closed_after_connect_timeout() {
    let b = TestBroker::with(BrokerConfig {
        connect_timeout: Duration::from_millis(200),
        ..BrokerConfig::default()
    });
    let mut r = Raw::open(&b, Protocol::V311);
    assert_eq!(r.recv(), None);
}

#[test]
fn malformed_packet_v5_gets_disconnect() {
    let b = TestBroker::start();
    let (mut r, ack) = Raw::connect(&b, Protocol::V5, "mal", "good", true);
    assert_eq!(ack.reason, ReasonCode::Success);
    // SUBSCRIBE with reserved flags 0000 instead of 0010.
    r.s.write_all(&[0x80, 6, 0, 1, 0, 1, b'a', 0]).unwrap();
    match r.recv() {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason, ReasonCode::MalformedPacket),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    assert_eq!(r.recv(), None);
}

#[test]
fn receive_maximum_exceeded_v5() {
    let b = TestBroker::with(BrokerConfig {
        receive_maximum: 2,
        ..BrokerConfig::default()
    });
    let (mut r, ack) = Raw::connect(&b, Protocol::V5, "greedy", "good", true);
    assert_eq!(ack.properties.receive_maximum, Some(2));
    for pid in 1..=3 {
        r.send(&publish(TELEMETRY, QoS::AtLeastOnce, pid, "sleep:3000"));
    }
    loop {
        match r.recv() {
            Some(Packet::Disconnect(d)) => {
                assert_eq!(d.reason, ReasonCode::ReceiveMaximumExceeded);
                break;
            }
            Some(Packet::PubAck(_)) => {}
            other => panic!("expected DISCONNECT, got {other:?}"),
        }
    }
}

/// QoS 2 inbound: a retransmission before PUBREL is acknowledged but not processed again.
#[test]
fn qos2_inbound_exactly_once() {
    let b = TestBroker::start();
    let (mut r, _) = Raw::connect(&b, Protocol::V5, "q2", "good", true);
    r.send(&publish(TELEMETRY, QoS::ExactlyOnce, 7, "once"));
    assert_eq!(r.recv(), Some(Packet::PubRec(Ack::new(7))));
    let Packet::Publish(mut again) = publish(TELEMETRY, QoS::ExactlyOnce, 7, "once") else {
        unreachable!()
    };
    again.dup = true;
    r.send(&Packet::Publish(again));
    assert_eq!(r.recv(), Some(Packet::PubRec(Ack::new(7))));
    r.send(&Packet::PubRel(Ack::new(7)));
    assert_eq!(r.recv(), Some(Packet::PubComp(Ack::new(7))));
    r.send(&Packet::PubRel(Ack::new(7)));
    match r.recv() {
        Some(Packet::PubComp(a)) => assert_eq!(a.reason, ReasonCode::PacketIdentifierNotFound),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    assert_eq!(b.hooks.telemetry_payloads(), vec!["once"]);
}

/// Acknowledgements leave in arrival order although later publishes finish first.
#[test]
fn puback_order_raw() {
    let b = TestBroker::start();
    let (mut r, _) = Raw::connect(&b, Protocol::V311, "order", "good", true);
    let mut batch = BytesMut::new();
    for pid in 1..=10u16 {
        let delay = (11 - pid) * 30;
        publish(TELEMETRY, QoS::AtLeastOnce, pid, &format!("sleep:{delay}"))
            .encode(Protocol::V311, &mut batch)
            .unwrap();
    }
    r.s.write_all(&batch).unwrap();
    let acks: Vec<Packet> = (0..10).map(|_| r.recv().unwrap()).collect();
    let want: Vec<Packet> = (1..=10).map(|pid| Packet::PubAck(Ack::new(pid))).collect();
    assert_eq!(acks, want);
}

/// Outbound QoS 1 unacknowledged at disconnect is sent again with DUP on resume.
#[test]
fn unacked_outbound_redelivered_with_dup() {
    let b = TestBroker::start();
    let (mut r, _) = Raw::connect(&b, Protocol::V311, "redo", "good", false);
    r.send(&Packet::Subscribe(codec::Subscribe {
        packet_id: 1,
        filters: vec![codec::SubscribeFilter {
            filter: "redo/#".into(),
            options: codec::SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                ..Default::default()
            },
        }],
        properties: Properties::default(),
    }));
    assert!(matches!(r.recv(), Some(Packet::SubAck(_))));
    b.publish("redo/x", "once-more", QoS::AtLeastOnce, false);
    let first = match r.recv() {
        Some(Packet::Publish(p)) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    };
    assert!(!first.dup);
    drop(r);
    b.wait_event("disconnected redo Io");
    let (mut r, ack) = Raw::connect(&b, Protocol::V311, "redo", "good", false);
    assert!(ack.session_present);
    match r.recv() {
        Some(Packet::Publish(p)) => {
            assert!(p.dup);
            assert_eq!(p.packet_id, first.packet_id);
            assert_eq!(p.payload, first.payload);
            r.send(&Packet::PubAck(Ack::new(p.packet_id.unwrap())));
        }
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    // Nothing else is pending: a ping is answered next.
    r.send(&Packet::PingReq);
    assert_eq!(r.recv(), Some(Packet::PingResp));
}

fn subscribe(r: &mut Raw, filter: &str, qos: QoS) {
    r.send(&Packet::Subscribe(codec::Subscribe {
        packet_id: 1,
        filters: vec![codec::SubscribeFilter {
            filter: filter.into(),
            options: codec::SubscriptionOptions {
                qos,
                ..Default::default()
            },
        }],
        properties: Properties::default(),
    }));
    assert!(matches!(r.recv(), Some(Packet::SubAck(_))));
}

/// A subscriber that never reads does not hold up the others: its output and queue fill,
/// its QoS 0 messages are dropped, and a reading subscriber gets every message.
#[test]
fn slow_subscriber_does_not_block_others() {
    let b = TestBroker::with(BrokerConfig {
        max_queued: 10,
        ..BrokerConfig::default()
    });
    let (mut slow, _) = Raw::connect(&b, Protocol::V311, "slow", "good", true);
    subscribe(&mut slow, "flood/#", QoS::AtMostOnce);
    let (mut fast, _) = Raw::connect(&b, Protocol::V311, "fast", "good", true);
    subscribe(&mut fast, "flood/#", QoS::AtMostOnce);
    // 300 x 64 KiB is far more than the slow client's socket buffers can hold.
    let big = "x".repeat(64 * 1024);
    for i in 0..300 {
        b.publish("flood/x", &format!("{i}:{big}"), QoS::AtMostOnce, false);
        match fast.recv() {
            Some(Packet::Publish(p)) => {
                assert!(
                    p.payload.starts_with(format!("{i}:").as_bytes()),
                    "message {i}"
                );
            }
            other => panic!("expected PUBLISH {i}, got {other:?}"),
        }
    }
    fast.send(&Packet::PingReq);
    assert_eq!(fast.recv(), Some(Packet::PingResp));
    assert!(b.broker.is_connected("slow"));
}

/// Publishes written in the same segment as CONNECT (before any CONNACK) are processed: a
/// regression where they waited in the read buffer for a read event that never came.
#[test]
fn publishes_pipelined_behind_connect_are_acknowledged() {
    let b = TestBroker::start();
    let mut r = Raw::open(&b, Protocol::V311);
    let mut batch = BytesMut::new();
    Packet::Connect(Box::new(Connect {
        protocol: Protocol::V311,
        client_id: "eager".into(),
        clean_start: true,
        keep_alive: 60,
        username: Some("good".into()),
        password: None,
        will: None,
        properties: Properties::default(),
    }))
    .encode(Protocol::V311, &mut batch)
    .unwrap();
    for pid in 1..=3u16 {
        publish(TELEMETRY, QoS::AtLeastOnce, pid, "{}")
            .encode(Protocol::V311, &mut batch)
            .unwrap();
    }
    r.s.write_all(&batch).unwrap();
    assert!(matches!(r.recv(), Some(Packet::ConnAck(_))));
    let acks: Vec<Packet> = (0..3).map(|_| r.recv().unwrap()).collect();
    let want: Vec<Packet> = (1..=3).map(|pid| Packet::PubAck(Ack::new(pid))).collect();
    assert_eq!(acks, want);
}
