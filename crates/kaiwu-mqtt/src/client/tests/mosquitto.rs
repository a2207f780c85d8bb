//! Against the real Mosquitto on 127.0.0.1:1883 (anonymous access), a third-party peer.

use std::sync::Arc;

use super::*;

const MOSQUITTO: &str = "127.0.0.1:1883";

async fn connect(protocol: Protocol) -> (Client, Receiver<Message>) {
    let mut opts = ClientOptions::new(MOSQUITTO, unique("kw"));
    opts.protocol = protocol;
    match Client::connect(opts).await {
        Ok(c) => c,
        Err(e) => panic!(
            "cannot reach Mosquitto on {MOSQUITTO}, which these tests need running \
             (anonymous access allowed): {e}"
        ),
    }
}

fn prefix() -> String {
    format!("kwtest/{}", unique("t"))
}

async fn qos_round_trip(protocol: Protocol) {
    let p = prefix();
    let (sub, mut rx) = connect(protocol).await;
    let (publ, _) = connect(protocol).await;
    let filter = format!("{p}/#");
    assert_eq!(
        sub.subscribe(&[(filter.as_str(), QoS::ExactlyOnce)])
            .await
            .unwrap(),
        vec![2]
    );
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let topic = format!("{p}/q{}", qos.as_u8());
        let payload = format!("payload {}", qos.as_u8());
        publ.publish(&topic, payload, qos, false).await.unwrap();
    }
    let mut got = [
        recv(&mut rx).await,
        recv(&mut rx).await,
        recv(&mut rx).await,
    ];
    got.sort_by(|a, b| a.topic.cmp(&b.topic));
    for (m, qos) in got
        .iter()
        .zip([QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
    {
        assert_eq!(m.topic, format!("{p}/q{}", qos.as_u8()));
        assert_eq!(m.payload, format!("payload {}", qos.as_u8()).as_bytes());
        assert_eq!(m.qos, qos);
        assert!(!m.retain);
    }
    publ.disconnect().await.unwrap();
    sub.disconnect().await.unwrap();
}

#[tokio::test]
async fn qos_0_1_2_round_trip_v311() {
    qos_round_trip(Protocol::V311).await;
}

#[tokio::test]
async fn qos_0_1_2_round_trip_v5() {
    qos_round_trip(Protocol::V5).await;
}

#[tokio::test]
async fn retained_message_arrives_on_subscribe() {
    for protocol in [Protocol::V311, Protocol::V5] {
        let topic = format!("{}/retained", prefix());
        let (publ, _) = connect(protocol).await;
        publ.publish(&topic, "kept", QoS::AtLeastOnce, true)
            .await
            .unwrap();
        let (sub, mut rx) = connect(protocol).await;
        sub.subscribe(&[(topic.as_str(), QoS::AtLeastOnce)])
            .await
            .unwrap();
        let m = recv(&mut rx).await;
        assert_eq!(
            (m.topic.as_str(), &m.payload[..]),
            (topic.as_str(), &b"kept"[..])
        );
        assert!(m.retain);
        assert_eq!(m.qos, QoS::AtLeastOnce);
        // An empty retained message deletes it from Mosquitto's persistent store.
        publ.publish(&topic, "", QoS::AtLeastOnce, true)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn many_concurrent_qos1_publishes_from_clones_are_all_acked() {
    for protocol in [Protocol::V311, Protocol::V5] {
        let p = prefix();
        let (sub, mut rx) = connect(protocol).await;
        let filter = format!("{p}/+");
        sub.subscribe(&[(filter.as_str(), QoS::AtLeastOnce)])
            .await
            .unwrap();
        let (publ, _) = connect(protocol).await;
        let p = Arc::new(p);
        let tasks: Vec<_> = (0..500)
            .map(|i| {
                let (c, p) = (publ.clone(), p.clone());
                tokio::spawn(async move {
                    c.publish(&format!("{p}/{i}"), i.to_string(), QoS::AtLeastOnce, false)
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let mut seen = vec![false; 500];
        for _ in 0..500 {
            let m = recv(&mut rx).await;
            let i: usize = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
            assert_eq!(m.topic, format!("{p}/{i}"));
            assert!(!std::mem::replace(&mut seen[i], true), "message {i} twice");
        }
        publ.disconnect().await.unwrap();
        sub.disconnect().await.unwrap();
    }
}

#[tokio::test]
async fn unsubscribe_stops_delivery() {
    let p = prefix();
    let (sub, mut rx) = connect(Protocol::V5).await;
    let (a, b) = (format!("{p}/a"), format!("{p}/b"));
    let codes = sub
        .subscribe(&[
            (a.as_str(), QoS::AtLeastOnce),
            (b.as_str(), QoS::AtMostOnce),
        ])
        .await
        .unwrap();
    assert_eq!(codes, vec![1, 0]);
    sub.unsubscribe(&[a.as_str()]).await.unwrap();
    let (publ, _) = connect(Protocol::V5).await;
    publ.publish(&a, "gone", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    publ.publish(&b, "here", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    // Mosquitto forwards one publisher's messages in order, so `a` would come first.
    assert_eq!(recv(&mut rx).await.topic, b);
}

#[tokio::test]
async fn disconnect_closes_everything() {
    let (c, mut rx) = connect(Protocol::V311).await;
    assert!(c.is_connected());
    c.disconnect().await.unwrap();
    wait_closed(&mut rx).await;
    assert!(!c.is_connected());
    assert_eq!(c.close_reason(), None);
    let topic = format!("{}/x", prefix());
    let err = c.publish(&topic, "late", QoS::AtMostOnce, false).await;
    assert!(matches!(err, Err(Error::Disconnected)), "{err:?}");
}

#[tokio::test]
async fn invalid_requests_fail_without_touching_the_connection() {
    let (c, _rx) = connect(Protocol::V311).await;
    let err = c.publish("a/+", "x", QoS::AtMostOnce, false).await;
    assert!(matches!(err, Err(Error::InvalidTopic(_))), "{err:?}");
    let err = c.subscribe(&[("a/#/b", QoS::AtMostOnce)]).await;
    assert!(matches!(err, Err(Error::InvalidFilter(_))), "{err:?}");
    assert!(matches!(
        c.subscribe(&[]).await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(c.is_connected());
    c.disconnect().await.unwrap();
}
