//! Scripted servers on 127.0.0.1:0 (our codec in the server role) for the paths a real broker
//! does not take on request: lost connections, silence, oversized packets, back-pressure and
//! QoS 2 retransmissions.

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::codec::{Ack, ConnAck, Packet, Publish, decode};

const V311: Protocol = Protocol::V311;

/// The server side of one connection.
struct Peer {
    stream: TcpStream,
    buf: BytesMut,
}

impl Peer {
    /// Accepts one client, reads its CONNECT and accepts it.
    async fn accept(listener: &TcpListener) -> Peer {
        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = Peer {
            stream,
            buf: BytesMut::new(),
        };
        loop {
            if let Some(p) = decode(&mut peer.buf, None, 1 << 20).unwrap() {
                assert!(matches!(p, Packet::Connect(_)), "{p:?}");
                break;
            }
            assert!(peer.stream.read_buf(&mut peer.buf).await.unwrap() > 0);
        }
        peer.send(&Packet::ConnAck(ConnAck::default())).await;
        peer
    }

    async fn send(&mut self, p: &Packet) {
        let mut out = BytesMut::new();
        p.encode(V311, &mut out).unwrap();
        self.stream.write_all(&out).await.unwrap();
    }

    /// The next packet from the client; `None` at EOF.
    async fn next(&mut self) -> Option<Packet> {
        loop {
            if let Some(p) = decode(&mut self.buf, Some(V311), 1 << 20).unwrap() {
                return Some(p);
            }
            let n = tokio::time::timeout(WAIT, self.stream.read_buf(&mut self.buf))
                .await
                .expect("client silent for the wait bound")
                .ok()?;
            if n == 0 {
                return None;
            }
        }
    }
}

async fn listen() -> (TcpListener, ClientOptions) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, ClientOptions::new(addr, unique("fake")))
}

fn publish(id: u16, qos: QoS, payload: String) -> Packet {
    Packet::Publish(Publish {
        qos,
        topic: "t".into(),
        packet_id: (qos != QoS::AtMostOnce).then_some(id),
        payload: payload.into(),
        ..Publish::default()
    })
}

#[tokio::test]
async fn server_closing_after_connack_ends_the_connection() {
    let (listener, opts) = listen().await;
    let server = tokio::spawn(async move { drop(Peer::accept(&listener).await) });
    let (c, mut rx) = Client::connect(opts).await.unwrap();
    server.await.unwrap();
    wait_closed(&mut rx).await;
    assert!(!c.is_connected());
    assert!(c.close_reason().is_some());
    let err = c.publish("t", "x", QoS::AtLeastOnce, false).await;
    assert!(matches!(err, Err(Error::Disconnected)), "{err:?}");
    let err = c.subscribe(&[("t", QoS::AtMostOnce)]).await;
    assert!(matches!(err, Err(Error::Disconnected)), "{err:?}");
}

#[tokio::test]
async fn pending_publish_fails_when_the_connection_drops() {
    let (listener, opts) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        // Take the PUBLISH, never acknowledge it, hang up.
        assert!(matches!(peer.next().await, Some(Packet::Publish(_))));
    });
    let (c, _rx) = Client::connect(opts).await.unwrap();
    let err = c.publish("t", "x", QoS::AtLeastOnce, false).await;
    assert!(matches!(err, Err(Error::Disconnected)), "{err:?}");
    server.await.unwrap();
}

#[tokio::test]
async fn missing_pingresp_is_a_lost_connection() {
    let (listener, mut opts) = listen().await;
    opts.keep_alive_secs = 1;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        let mut pings = 0;
        // Read (and never answer) until the client gives up on us.
        while let Some(p) = peer.next().await {
            assert_eq!(p, Packet::PingReq);
            pings += 1;
        }
        pings
    });
    let (c, mut rx) = Client::connect(opts).await.unwrap();
    wait_closed(&mut rx).await;
    assert!(!c.is_connected());
    let reason = c.close_reason().unwrap();
    assert!(reason.contains("PINGREQ"), "{reason}");
    assert!(server.await.unwrap() >= 1);
}

#[tokio::test]
async fn pingresp_keeps_the_connection() {
    let (listener, mut opts) = listen().await;
    opts.keep_alive_secs = 1;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        for _ in 0..3 {
            assert_eq!(peer.next().await, Some(Packet::PingReq));
            peer.send(&Packet::PingResp).await;
        }
        // Proof the connection outlived three keep-alive rounds.
        peer.send(&publish(0, QoS::AtMostOnce, "alive".into()))
            .await;
        peer.next().await
    });
    let (c, mut rx) = Client::connect(opts).await.unwrap();
    assert_eq!(recv(&mut rx).await.payload, "alive".as_bytes());
    assert!(c.is_connected());
    c.disconnect().await.unwrap();
    assert!(matches!(server.await.unwrap(), Some(Packet::Disconnect(_))));
}

#[tokio::test]
async fn oversized_packet_ends_the_connection() {
    let (listener, mut opts) = listen().await;
    opts.max_packet_size = 1024;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        // A PUBLISH header announcing 2 MiB; the body never comes.
        peer.stream
            .write_all(&[0x30, 0x80, 0x80, 0x80, 0x01])
            .await
            .unwrap();
        while peer.next().await.is_some() {}
    });
    let (c, mut rx) = Client::connect(opts).await.unwrap();
    wait_closed(&mut rx).await;
    assert!(!c.is_connected());
    let reason = c.close_reason().unwrap();
    assert!(reason.contains("maximum packet size"), "{reason}");
    server.await.unwrap();
}

#[tokio::test]
async fn full_channel_pauses_acks_instead_of_dropping() {
    const N: u16 = 1500;
    let (listener, opts) = listen().await;
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        let (mut rd, mut wr) = peer.stream.into_split();
        let writer = tokio::spawn(async move {
            let mut out = BytesMut::new();
            for i in 1..=N {
                publish(i, QoS::AtLeastOnce, i.to_string())
                    .encode(V311, &mut out)
                    .unwrap();
            }
            wr.write_all(&out).await.unwrap();
            wr
        });
        let mut next = 1;
        while next <= N {
            if let Some(p) = decode(&mut peer.buf, Some(V311), 1 << 20).unwrap() {
                assert_eq!(p, Packet::PubAck(Ack::new(next)));
                acked_tx.send(next).unwrap();
                next += 1;
            } else {
                assert!(rd.read_buf(&mut peer.buf).await.unwrap() > 0);
            }
        }
        writer.await.unwrap()
    });
    let (_c, mut rx) = Client::connect(opts).await.unwrap();
    // Without a reader, exactly a channel's worth is acknowledged...
    let mut acked = 0;
    while acked < MESSAGE_CHANNEL {
        tokio::time::timeout(WAIT, acked_rx.recv()).await.unwrap();
        acked += 1;
    }
    assert_eq!(rx.len(), MESSAGE_CHANNEL);
    // ...and after reading, everything arrives in order and is acknowledged.
    for i in 1..=N {
        assert_eq!(recv(&mut rx).await.payload, i.to_string().as_bytes());
    }
    let _wr = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn inbound_qos2_is_delivered_once() {
    let (listener, opts) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        peer.send(&publish(7, QoS::ExactlyOnce, "once".into()))
            .await;
        assert_eq!(peer.next().await, Some(Packet::PubRec(Ack::new(7))));
        // A retransmission (as after a lost PUBREC) must not be delivered again.
        let Packet::Publish(mut again) = publish(7, QoS::ExactlyOnce, "once".into()) else {
            unreachable!()
        };
        again.dup = true;
        peer.send(&Packet::Publish(again)).await;
        assert_eq!(peer.next().await, Some(Packet::PubRec(Ack::new(7))));
        peer.send(&Packet::PubRel(Ack::new(7))).await;
        assert_eq!(peer.next().await, Some(Packet::PubComp(Ack::new(7))));
        peer.send(&publish(0, QoS::AtMostOnce, "end".into())).await;
        peer.next().await
    });
    let (c, mut rx) = Client::connect(opts).await.unwrap();
    let m = recv(&mut rx).await;
    assert_eq!((&m.payload[..], m.qos), (&b"once"[..], QoS::ExactlyOnce));
    assert_eq!(recv(&mut rx).await.payload, "end".as_bytes());
    c.disconnect().await.unwrap();
    assert!(matches!(server.await.unwrap(), Some(Packet::Disconnect(_))));
}

#[tokio::test]
async fn outbound_qos2_runs_the_full_exchange() {
    let (listener, opts) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        let Some(Packet::Publish(p)) = peer.next().await else {
            panic!("expected PUBLISH")
        };
        let id = p.packet_id.unwrap();
        peer.send(&Packet::PubRec(Ack::new(id))).await;
        assert_eq!(peer.next().await, Some(Packet::PubRel(Ack::new(id))));
        peer.send(&Packet::PubComp(Ack::new(id))).await;
        peer.next().await
    });
    let (c, _rx) = Client::connect(opts).await.unwrap();
    c.publish("t", "x", QoS::ExactlyOnce, false).await.unwrap();
    c.disconnect().await.unwrap();
    assert!(matches!(server.await.unwrap(), Some(Packet::Disconnect(_))));
}

#[tokio::test]
async fn refused_connack_and_timeout() {
    let (listener, opts) = listen().await;
    let (hold_tx, hold_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        // 3.1.1 CONNACK with return code 4 (bad user name or password).
        s.write_all(&[0x20, 0x02, 0x00, 0x04]).await.unwrap();
        // The second client gets no CONNACK at all.
        let (_silent, _) = listener.accept().await.unwrap();
        let _ = hold_rx.await;
    });
    match Client::connect(opts.clone()).await {
        Err(Error::Refused(code, _)) => assert_eq!(code.as_u8(), 0x86),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut opts = opts;
    opts.connect_timeout = Duration::from_millis(200);
    let err = Client::connect(opts).await;
    assert!(matches!(err, Err(Error::Timeout { .. })), "{err:?}");
    drop(hold_tx);
    server.await.unwrap();
}
