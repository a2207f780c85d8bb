//! Broker metrics. Handles are resolved once at [`Broker::open`](super::Broker::open), so
//! the recorder must be installed before; hot paths then only touch atomics.

use metrics::{Counter, Gauge};

pub(crate) struct Metrics {
    pub(crate) connections: Gauge,
    pub(crate) messages_in: Counter,
    pub(crate) messages_out: Counter,
    pub(crate) auth_failures: Counter,
    pub(crate) refused: Counter,
    pub(crate) dropped_queue_full: Counter,
    pub(crate) dropped_expired: Counter,
    pub(crate) dropped_too_large: Counter,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        metrics::describe_gauge!("kaiwu_mqtt_connections", "Connected MQTT clients.");
        metrics::describe_counter!(
            "kaiwu_mqtt_messages_in_total",
            "PUBLISH packets received from MQTT clients."
        );
        metrics::describe_counter!(
            "kaiwu_mqtt_messages_out_total",
            "PUBLISH packets sent to MQTT clients (retransmissions included)."
        );
        metrics::describe_counter!(
            "kaiwu_mqtt_auth_failures_total",
            "MQTT CONNECTs refused for bad credentials."
        );
        metrics::describe_counter!(
            "kaiwu_mqtt_connections_refused_total",
            "MQTT CONNECTs refused because of too many failed logins from the address."
        );
        metrics::describe_counter!(
            "kaiwu_mqtt_dropped_total",
            "Messages not delivered to an MQTT client: queue full, expired, or too large."
        );
        let dropped = |reason: &'static str| metrics::counter!("kaiwu_mqtt_dropped_total", "reason" => reason);
        Metrics {
            connections: metrics::gauge!("kaiwu_mqtt_connections"),
            messages_in: metrics::counter!("kaiwu_mqtt_messages_in_total"),
            messages_out: metrics::counter!("kaiwu_mqtt_messages_out_total"),
            auth_failures: metrics::counter!("kaiwu_mqtt_auth_failures_total"),
            refused: metrics::counter!("kaiwu_mqtt_connections_refused_total"),
            dropped_queue_full: dropped("queue_full"),
            dropped_expired: dropped("expired"),
            dropped_too_large: dropped("too_large"),
        }
    }
}
