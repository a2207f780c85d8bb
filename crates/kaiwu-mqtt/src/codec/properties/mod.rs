//! MQTT 5 properties (spec 2.2.2): one struct for every property of every packet, and the
//! table of which property may appear where.

mod decode;
mod encode;

use bytes::Bytes;

use super::QoS;
use super::packet::PacketType;

pub(super) use decode::decode_properties;

/// Every MQTT 5 property. A decoded value holds only properties allowed in its packet, each
/// single-valued one at most once. All fields are empty in 3.1.1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// 0x01: `Some(true)` when the payload is UTF-8 (indicator 1), `Some(false)` for bytes.
    pub payload_format_indicator: Option<bool>,
    /// 0x02, seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x03.
    pub content_type: Option<String>,
    /// 0x08, a topic name (no wildcards).
    pub response_topic: Option<String>,
    /// 0x09.
    pub correlation_data: Option<Bytes>,
    /// 0x0B: one in SUBSCRIBE, any number in PUBLISH; each 1..=268435455.
    pub subscription_identifiers: Vec<u32>,
    /// 0x11, seconds.
    pub session_expiry_interval: Option<u32>,
    /// 0x12.
    pub assigned_client_identifier: Option<String>,
    /// 0x13, seconds.
    pub server_keep_alive: Option<u16>,
    /// 0x15.
    pub authentication_method: Option<String>,
    /// 0x16; only together with an authentication method.
    pub authentication_data: Option<Bytes>,
    /// 0x17.
    pub request_problem_information: Option<bool>,
    /// 0x18, seconds.
    pub will_delay_interval: Option<u32>,
    /// 0x19.
    pub request_response_information: Option<bool>,
    /// 0x1A.
    pub response_information: Option<String>,
    /// 0x1C.
    pub server_reference: Option<String>,
    /// 0x1F.
    pub reason_string: Option<String>,
    /// 0x21, non-zero.
    pub receive_maximum: Option<u16>,
    /// 0x22.
    pub topic_alias_maximum: Option<u16>,
    /// 0x23, non-zero.
    pub topic_alias: Option<u16>,
    /// 0x24: QoS 0 or 1 (absent means 2).
    pub maximum_qos: Option<QoS>,
    /// 0x25.
    pub retain_available: Option<bool>,
    /// 0x26, in order; at most [`MAX_USER_PROPERTIES`](super::MAX_USER_PROPERTIES) decoded.
    pub user_properties: Vec<(String, String)>,
    /// 0x27, bytes, non-zero.
    pub maximum_packet_size: Option<u32>,
    /// 0x28.
    pub wildcard_subscription_available: Option<bool>,
    /// 0x29.
    pub subscription_identifiers_available: Option<bool>,
    /// 0x2A.
    pub shared_subscription_available: Option<bool>,
}

/// Where a property block sits: a packet's variable header, or CONNECT's will.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ctx {
    Packet(PacketType),
    Will,
}

impl Ctx {
    pub(super) fn name(self) -> &'static str {
        match self {
            Ctx::Packet(t) => t.name(),
            Ctx::Will => "will properties",
        }
    }
}

pub(super) const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
pub(super) const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
pub(super) const CONTENT_TYPE: u8 = 0x03;
pub(super) const RESPONSE_TOPIC: u8 = 0x08;
pub(super) const CORRELATION_DATA: u8 = 0x09;
pub(super) const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
pub(super) const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
pub(super) const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
pub(super) const SERVER_KEEP_ALIVE: u8 = 0x13;
pub(super) const AUTHENTICATION_METHOD: u8 = 0x15;
pub(super) const AUTHENTICATION_DATA: u8 = 0x16;
pub(super) const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
pub(super) const WILL_DELAY_INTERVAL: u8 = 0x18;
pub(super) const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
pub(super) const RESPONSE_INFORMATION: u8 = 0x1A;
pub(super) const SERVER_REFERENCE: u8 = 0x1C;
pub(super) const REASON_STRING: u8 = 0x1F;
pub(super) const RECEIVE_MAXIMUM: u8 = 0x21;
pub(super) const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
pub(super) const TOPIC_ALIAS: u8 = 0x23;
pub(super) const MAXIMUM_QOS: u8 = 0x24;
pub(super) const RETAIN_AVAILABLE: u8 = 0x25;
pub(super) const USER_PROPERTY: u8 = 0x26;
pub(super) const MAXIMUM_PACKET_SIZE: u8 = 0x27;
pub(super) const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
pub(super) const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
pub(super) const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;

/// Spec name of a property, for error messages.
pub(super) fn property_name(id: u8) -> &'static str {
    match id {
        PAYLOAD_FORMAT_INDICATOR => "payload format indicator",
        MESSAGE_EXPIRY_INTERVAL => "message expiry interval",
        CONTENT_TYPE => "content type",
        RESPONSE_TOPIC => "response topic",
        CORRELATION_DATA => "correlation data",
        SUBSCRIPTION_IDENTIFIER => "subscription identifier",
        SESSION_EXPIRY_INTERVAL => "session expiry interval",
        ASSIGNED_CLIENT_IDENTIFIER => "assigned client identifier",
        SERVER_KEEP_ALIVE => "server keep alive",
        AUTHENTICATION_METHOD => "authentication method",
        AUTHENTICATION_DATA => "authentication data",
        REQUEST_PROBLEM_INFORMATION => "request problem information",
        WILL_DELAY_INTERVAL => "will delay interval",
        REQUEST_RESPONSE_INFORMATION => "request response information",
        RESPONSE_INFORMATION => "response information",
        SERVER_REFERENCE => "server reference",
        REASON_STRING => "reason string",
        RECEIVE_MAXIMUM => "receive maximum",
        TOPIC_ALIAS_MAXIMUM => "topic alias maximum",
        TOPIC_ALIAS => "topic alias",
        MAXIMUM_QOS => "maximum QoS",
        RETAIN_AVAILABLE => "retain available",
        USER_PROPERTY => "user property",
        MAXIMUM_PACKET_SIZE => "maximum packet size",
        WILDCARD_SUBSCRIPTION_AVAILABLE => "wildcard subscription available",
        SUBSCRIPTION_IDENTIFIER_AVAILABLE => "subscription identifier available",
        SHARED_SUBSCRIPTION_AVAILABLE => "shared subscription available",
        _ => "unknown property",
    }
}

/// Whether property `id` may appear in `ctx` (spec table 2-4).
pub(super) fn allowed(id: u8, ctx: Ctx) -> bool {
    use PacketType as T;
    let packet = match ctx {
        Ctx::Will => {
            return matches!(
                id,
                PAYLOAD_FORMAT_INDICATOR
                    | MESSAGE_EXPIRY_INTERVAL
                    | CONTENT_TYPE
                    | RESPONSE_TOPIC
                    | CORRELATION_DATA
                    | WILL_DELAY_INTERVAL
                    | USER_PROPERTY
            );
        }
        Ctx::Packet(t) => t,
    };
    match id {
        PAYLOAD_FORMAT_INDICATOR
        | MESSAGE_EXPIRY_INTERVAL
        | CONTENT_TYPE
        | RESPONSE_TOPIC
        | CORRELATION_DATA
        | TOPIC_ALIAS => packet == T::Publish,
        SUBSCRIPTION_IDENTIFIER => matches!(packet, T::Publish | T::Subscribe),
        SESSION_EXPIRY_INTERVAL => matches!(packet, T::Connect | T::ConnAck | T::Disconnect),
        AUTHENTICATION_METHOD | AUTHENTICATION_DATA => {
            matches!(packet, T::Connect | T::ConnAck | T::Auth)
        }
        REQUEST_PROBLEM_INFORMATION | REQUEST_RESPONSE_INFORMATION => packet == T::Connect,
        RECEIVE_MAXIMUM | TOPIC_ALIAS_MAXIMUM | MAXIMUM_PACKET_SIZE => {
            matches!(packet, T::Connect | T::ConnAck)
        }
        ASSIGNED_CLIENT_IDENTIFIER
        | SERVER_KEEP_ALIVE
        | RESPONSE_INFORMATION
        | MAXIMUM_QOS
        | RETAIN_AVAILABLE
        | WILDCARD_SUBSCRIPTION_AVAILABLE
        | SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | SHARED_SUBSCRIPTION_AVAILABLE => packet == T::ConnAck,
        SERVER_REFERENCE => matches!(packet, T::ConnAck | T::Disconnect),
        REASON_STRING => matches!(
            packet,
            T::ConnAck
                | T::PubAck
                | T::PubRec
                | T::PubRel
                | T::PubComp
                | T::SubAck
                | T::UnsubAck
                | T::Disconnect
                | T::Auth
        ),
        // Every packet with a property block may carry user properties.
        USER_PROPERTY => !matches!(packet, T::PingReq | T::PingResp),
        _ => false,
    }
}
