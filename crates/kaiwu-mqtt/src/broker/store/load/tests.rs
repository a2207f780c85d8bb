use std::sync::Arc;

use bytes::Bytes;
use tokio::runtime::Builder;

use super::*;
use crate::broker::store::{Op, Store};
use crate::codec::Properties;

fn message(topic: &str, payload: &'static [u8], expires_at: Option<u64>) -> Arc<Message> {
    Arc::new(Message {
        topic: topic.into(),
        payload: Bytes::from_static(payload),
        qos: QoS::AtLeastOnce,
        retain: false,
        props: Some(Box::new(Properties {
            content_type: Some("text/plain".into()),
            user_properties: vec![("k".into(), "v".into())],
            ..Properties::default()
        })),
        expires_at,
        origin: None,
    })
}

fn queued(id: u64, msg: Arc<Message>) -> Queued {
    Queued {
        msg,
        qos: QoS::AtLeastOnce,
        retain: false,
        sub_ids: vec![3],
        id,
        persisted: true,
    }
}

#[test]
fn state_round_trips_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Builder::new_current_thread().build().unwrap();
    let now = 1_000_000;
    let (store, loaded) = Store::open(dir.path(), now).unwrap();
    assert!(loaded.sessions.is_empty());
    assert_eq!(loaded.next_id, 1);
    let id: Arc<str> = Arc::from("dev");
    let sub = Sub {
        opts: SubscriptionOptions {
            qos: QoS::ExactlyOnce,
            no_local: true,
            retain_as_published: true,
            retain_handling: RetainHandling::Never,
        },
        id: Some(9),
    };
    let ops = vec![
        Op::Session {
            client_id: id.clone(),
            expiry: 600,
            disconnected_at: Some(now),
        },
        Op::Subscribe {
            client_id: id.clone(),
            filter: "a/#".into(),
            sub,
        },
        Op::Subscribe {
            client_id: id.clone(),
            filter: "gone".into(),
            sub,
        },
        Op::Unsubscribe {
            client_id: id.clone(),
            filter: "gone".into(),
        },
        Op::Message {
            client_id: id.clone(),
            q: queued(5, message("a/1", b"one", None)),
            packet_id: None,
            rel_sent: false,
        },
        Op::Message {
            client_id: id.clone(),
            q: queued(6, message("a/2", b"two", None)),
            packet_id: Some(41),
            rel_sent: false,
        },
        Op::Delivery {
            id: 6,
            packet_id: Some(41),
            rel_sent: true,
        },
        Op::Message {
            client_id: id.clone(),
            q: queued(7, message("a/3", b"acked", None)),
            packet_id: None,
            rel_sent: false,
        },
        Op::Delete(7),
        // Expired by the time of the reopen below.
        Op::Message {
            client_id: id.clone(),
            q: queued(8, message("a/4", b"old", Some(now + 10))),
            packet_id: None,
            rel_sent: false,
        },
        // A session that will have expired.
        Op::Session {
            client_id: Arc::from("brief"),
            expiry: 1,
            disconnected_at: Some(now),
        },
        Op::Retain(message("r/1", b"kept", None)),
        Op::Retain(message("r/2", b"dropped", None)),
        Op::Unretain("r/2".into()),
    ];
    for op in ops {
        store.send(op);
    }
    assert!(rt.block_on(store.sync()));
    rt.block_on(store.close());

    let (store, loaded) = Store::open(dir.path(), now + 5_000).unwrap();
    assert_eq!(loaded.next_id, 9);
    assert_eq!(loaded.sessions.len(), 1);
    let s = &loaded.sessions[0];
    assert_eq!(
        (s.client_id.as_str(), s.expiry, s.disconnected_at),
        ("dev", 600, now)
    );
    assert_eq!(s.subs, vec![("a/#".to_owned(), sub)]);
    assert_eq!(s.queue.len(), 1);
    let q = &s.queue[0];
    assert_eq!(
        (q.id, q.qos, q.sub_ids.as_slice()),
        (5, QoS::AtLeastOnce, &[3][..])
    );
    assert_eq!(q.msg.topic, "a/1");
    assert_eq!(q.msg.payload, Bytes::from_static(b"one"));
    let props = q.msg.props.as_deref().unwrap();
    assert_eq!(props.content_type.as_deref(), Some("text/plain"));
    assert_eq!(
        props.user_properties,
        vec![("k".to_owned(), "v".to_owned())]
    );
    assert_eq!(s.inflight.len(), 1);
    assert_eq!(
        (s.inflight[0].packet_id, s.inflight[0].rel_sent),
        (41, true)
    );
    assert_eq!(loaded.retained.len(), 1);
    assert_eq!(loaded.retained[0].topic, "r/1");
    assert!(loaded.retained[0].retain);
    rt.block_on(store.close());
}

#[test]
fn unknown_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("mqtt.db")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Store::open(dir.path(), 0).unwrap_err();
    assert!(err.to_string().contains("version 99"), "{err}");
}

#[test]
fn options_byte_round_trips() {
    for b in 0u8..0x30 {
        if b & 0b11 == 3 {
            continue;
        }
        let o = options_from_byte(b).unwrap();
        assert_eq!(options_byte(&o), b);
    }
    assert!(options_from_byte(0x30).is_none());
}
