//! Feeds arbitrary bytes to the Sparkplug B decoder and, when a payload decodes, checks that its
//! encoding is stable, that every metric converts without panicking, and that a node session
//! digests it as any message type.
#![no_main]

use kaiwu_mqtt::sparkplug::{
    EdgeTopic, MessageKind, NodeSession, decode_payload, encode_payload, metric_quality,
    metric_value,
};
use libfuzzer_sys::fuzz_target;

const KINDS: [MessageKind; 8] = [
    MessageKind::NBirth,
    MessageKind::DBirth,
    MessageKind::NData,
    MessageKind::DData,
    MessageKind::DDeath,
    MessageKind::NDeath,
    MessageKind::NCmd,
    MessageKind::DCmd,
];

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = decode_payload(data) else {
        return;
    };
    // Bytes, not structs: NaN floats are unequal to themselves.
    let bytes = encode_payload(&payload);
    let again = decode_payload(&bytes).expect("an encoded payload decodes");
    assert_eq!(encode_payload(&again), bytes);
    for m in &payload.metrics {
        let _ = metric_value(m);
        let _ = metric_quality(m);
    }
    // Birth first so that later kinds reach the alias and seq logic.
    let mut session = NodeSession::new();
    for kind in KINDS {
        let device = kind.is_device().then_some("d");
        let topic = EdgeTopic::new("g", kind, "n", device).expect("a valid topic");
        if let Ok(events) = session.handle(&topic, payload.clone()) {
            for event in events {
                if let kaiwu_mqtt::sparkplug::SessionEvent::Metrics { metrics, .. } = event {
                    for m in &metrics {
                        let _ = m.value();
                    }
                }
            }
        }
    }
});
