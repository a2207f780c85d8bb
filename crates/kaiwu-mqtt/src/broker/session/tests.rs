use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::broker::message::Message;

fn q(id: u64, qos: QoS) -> Queued {
    q_exp(id, qos, None)
}

fn q_exp(id: u64, qos: QoS, expires_at: Option<u64>) -> Queued {
    Queued {
        msg: Arc::new(Message {
            topic: "t".into(),
            payload: Bytes::from_static(b"p"),
            qos,
            retain: false,
            props: None,
            expires_at,
            origin: None,
        }),
        qos,
        retain: false,
        sub_ids: Vec::new(),
        id,
        persisted: false,
    }
}

fn ids(s: &SessionState) -> Vec<u64> {
    s.queue.iter().map(|m| m.id).collect()
}

#[test]
fn full_queue_drops_qos0_first() {
    let mut s = SessionState::default();
    assert!(s.push_capped(q(1, QoS::AtLeastOnce), 3));
    assert!(s.push_capped(q(2, QoS::AtMostOnce), 3));
    assert!(s.push_capped(q(3, QoS::AtLeastOnce), 3));
    // Full: a new QoS 0 message is dropped.
    assert!(!s.push_capped(q(4, QoS::AtMostOnce), 3));
    // A QoS 1 message evicts the queued QoS 0 one.
    assert!(s.push_capped(q(5, QoS::ExactlyOnce), 3));
    assert_eq!(ids(&s), vec![1, 3, 5]);
    // No QoS 0 left to evict: the new one is dropped.
    assert!(!s.push_capped(q(6, QoS::AtLeastOnce), 3));
    assert_eq!(ids(&s), vec![1, 3, 5]);
}

#[test]
fn take_batch_respects_window_and_order() {
    let mut s = SessionState::default();
    for (id, qos) in [
        (1, QoS::AtMostOnce),
        (2, QoS::AtLeastOnce),
        (3, QoS::AtMostOnce),
        (4, QoS::AtLeastOnce),
        (5, QoS::AtMostOnce),
    ] {
        s.push(q(id, qos));
    }
    let (batch, expired) = s.take_batch(1, 100, 0);
    assert_eq!(
        batch.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(expired.is_empty());
    // QoS 0 message 5 waits behind QoS 1 message 4 until a slot frees.
    let (batch, _) = s.take_batch(0, 100, 0);
    assert!(batch.is_empty());
    let (batch, _) = s.take_batch(5, 1, 0);
    assert_eq!(batch.iter().map(|m| m.id).collect::<Vec<_>>(), vec![4]);
    let (batch, _) = s.take_batch(5, 100, 0);
    assert_eq!(batch.iter().map(|m| m.id).collect::<Vec<_>>(), vec![5]);
    assert_eq!(s.qos0, 0);
}

#[test]
fn expired_messages_are_discarded_on_take() {
    let mut s = SessionState::default();
    s.push(q_exp(1, QoS::AtLeastOnce, Some(100)));
    s.push(q_exp(2, QoS::AtLeastOnce, Some(500)));
    s.push(q_exp(3, QoS::AtMostOnce, Some(100)));
    // Expired messages do not need a window slot to be discarded.
    let (batch, expired) = s.take_batch(0, 10, 200);
    assert!(batch.is_empty());
    assert_eq!(expired.iter().map(|m| m.id).collect::<Vec<_>>(), vec![1]);
    let (batch, expired) = s.take_batch(1, 10, 200);
    assert_eq!(batch.iter().map(|m| m.id).collect::<Vec<_>>(), vec![2]);
    assert_eq!(expired.iter().map(|m| m.id).collect::<Vec<_>>(), vec![3]);
    assert!(s.queue.is_empty());
}

#[test]
fn offline_sessions_keep_only_qos_above_0_when_persistent() {
    let mut s = SessionState::default();
    assert_eq!(s.offer(q(1, QoS::AtLeastOnce), 10), Offer::Offline);
    s.expiry = 60;
    assert_eq!(s.offer(q(2, QoS::AtMostOnce), 10), Offer::Offline);
    match s.offer(q(3, QoS::AtLeastOnce), 10) {
        Offer::Stored(copy) => assert!(copy.persisted && copy.id == 3),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(ids(&s), vec![3]);
    s.link = Some(Link {
        released: Arc::new(Notify::new()),
    });
    assert_eq!(s.offer(q(4, QoS::AtMostOnce), 10), Offer::Online);
    assert_eq!(s.offer(q(5, QoS::AtMostOnce), 2), Offer::Dropped);
}

#[test]
fn expiry_deadline() {
    let mut s = SessionState {
        expiry: 10,
        ..SessionState::default()
    };
    assert_eq!(s.expires_at(), None);
    s.disconnected_at = Some(1_000);
    assert_eq!(s.expires_at(), Some(11_000));
    s.expiry = NEVER_EXPIRES;
    assert_eq!(s.expires_at(), None);
}
