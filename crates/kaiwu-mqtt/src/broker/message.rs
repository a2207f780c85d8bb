//! Application messages as the broker keeps them between receipt and delivery.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::codec::{Properties, Publish, QoS};

/// One published message, shared by every session it is routed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) topic: String,
    pub(crate) payload: Bytes,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    /// MQTT 5 properties forwarded to subscribers (payload format, content type, response
    /// topic, correlation data, user properties); `None` when there are none, which keeps
    /// 3.1.1 traffic small.
    pub(crate) props: Option<Box<Properties>>,
    /// Unix milliseconds after which the message is no longer delivered (MQTT 5 Message
    /// Expiry Interval). Wall clock, because it survives restarts.
    pub(crate) expires_at: Option<u64>,
    /// Publishing client, for the MQTT 5 no-local option; `None` from the platform.
    pub(crate) origin: Option<Arc<str>>,
}

impl Message {
    /// The message a client's PUBLISH (topic aliases resolved) carries.
    pub(crate) fn from_publish(p: &Publish, topic: &str, origin: Option<Arc<str>>) -> Message {
        let now = now_ms();
        Message {
            topic: topic.to_owned(),
            payload: p.payload.clone(),
            qos: p.qos,
            retain: p.retain,
            props: forwardable(&p.properties),
            expires_at: p
                .properties
                .message_expiry_interval
                .map(|s| now.saturating_add(u64::from(s) * 1000)),
            origin,
        }
    }

    pub(crate) fn expired(&self, now_ms: u64) -> bool {
        self.expires_at.is_some_and(|t| t <= now_ms)
    }
}

/// The properties a server forwards unchanged (spec 3.3.2.3); the rest are per hop.
fn forwardable(p: &Properties) -> Option<Box<Properties>> {
    let out = Properties {
        payload_format_indicator: p.payload_format_indicator,
        content_type: p.content_type.clone(),
        response_topic: p.response_topic.clone(),
        correlation_data: p.correlation_data.clone(),
        user_properties: p.user_properties.clone(),
        ..Properties::default()
    };
    (out != Properties::default()).then(|| Box::new(out))
}

/// A message waiting in one session's queue, with what that session's subscription made of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Queued {
    pub(crate) msg: Arc<Message>,
    /// min(published QoS, granted QoS).
    pub(crate) qos: QoS,
    /// Retain flag as sent to this client.
    pub(crate) retain: bool,
    /// Identifiers of the matching subscriptions (MQTT 5).
    pub(crate) sub_ids: Vec<u32>,
    /// Broker-wide sequence number; the row id when persisted.
    pub(crate) id: u64,
    /// Whether a row for it exists in the state store.
    pub(crate) persisted: bool,
}

impl Queued {
    /// The PUBLISH that delivers it, or `None` if the message expired. MQTT 5 gets the
    /// forwarded properties, the subscription identifiers and the remaining expiry.
    pub(crate) fn to_publish(
        &self,
        packet_id: Option<u16>,
        dup: bool,
        v5: bool,
        now_ms: u64,
    ) -> Option<Publish> {
        if self.msg.expired(now_ms) {
            return None;
        }
        let properties = if v5 {
            let mut props = self.msg.props.as_deref().cloned().unwrap_or_default();
            props.subscription_identifiers.clone_from(&self.sub_ids);
            props.message_expiry_interval = self.msg.expires_at.map(|t| {
                // Rounded up so a message never looks expired before it is.
                u32::try_from(t.saturating_sub(now_ms).div_ceil(1000)).unwrap_or(u32::MAX)
            });
            props
        } else {
            Properties::default()
        };
        Some(Publish {
            dup,
            qos: self.qos,
            retain: self.retain,
            topic: self.msg.topic.clone(),
            packet_id,
            properties,
            payload: self.msg.payload.clone(),
        })
    }
}

/// Wall-clock Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_counts_down_and_rounds_up() {
        let msg = Message {
            topic: "a".into(),
            payload: Bytes::from_static(b"x"),
            qos: QoS::AtLeastOnce,
            retain: false,
            props: None,
            expires_at: Some(10_500),
            origin: None,
        };
        let q = Queued {
            msg: Arc::new(msg),
            qos: QoS::AtLeastOnce,
            retain: false,
            sub_ids: vec![7],
            id: 1,
            persisted: false,
        };
        let p = q
            .to_publish(Some(3), true, true, 9_000)
            .expect("not expired");
        assert_eq!(p.properties.message_expiry_interval, Some(2));
        assert_eq!(p.properties.subscription_identifiers, vec![7]);
        assert!(p.dup);
        let p = q
            .to_publish(Some(3), false, false, 9_000)
            .expect("not expired");
        assert_eq!(p.properties, Properties::default());
        assert!(q.to_publish(None, false, true, 10_500).is_none());
    }

    #[test]
    fn only_forwardable_properties_are_kept() {
        let p = Publish {
            topic: "t".into(),
            properties: Properties {
                topic_alias: Some(3),
                message_expiry_interval: Some(5),
                content_type: Some("json".into()),
                ..Properties::default()
            },
            ..Publish::default()
        };
        let m = Message::from_publish(&p, "t", None);
        let props = m.props.expect("content type kept");
        assert_eq!(props.content_type.as_deref(), Some("json"));
        assert_eq!(props.topic_alias, None);
        assert!(m.expires_at.is_some());
        let plain = Message::from_publish(&Publish::default(), "t", None);
        assert!(plain.props.is_none());
    }
}
