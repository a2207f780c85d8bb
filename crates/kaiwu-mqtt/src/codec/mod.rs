//! MQTT 3.1.1 / 5 packet codec.
//!
//! [`decode`] takes one packet off the front of a receive buffer; [`Packet::encode`] appends one
//! to a send buffer. Both directions are implemented for every packet type, so the broker, load
//! generators and bridge clients share this code. The decoder is the broker's first line of
//! defence against hostile peers: it never panics, checks the announced packet size before
//! buffering the body, and allocates only in proportion to bytes that actually arrived.
//!
//! Decoding validates what can be checked from one packet alone (syntax, flags, UTF-8, topic
//! syntax, property placement and duplicates). Session rules (topic alias ranges, receive
//! maximum, which side may send which packet) belong to the broker.

mod decode;
mod encode;
mod error;
mod packet;
mod properties;
mod read;
mod reason;
pub mod topic;
mod write;

#[cfg(test)]
mod tests;

pub use decode::decode;
pub use error::{DecodeError, EncodeError};
pub use packet::{
    Ack, Auth, ConnAck, Connect, Disconnect, Packet, Publish, RetainHandling, SubAck, Subscribe,
    SubscribeFilter, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};
pub use properties::Properties;
pub use reason::ReasonCode;

/// Most user properties accepted in one property block; a bound on what a "property flood"
/// can make the decoder allocate.
pub const MAX_USER_PROPERTIES: usize = 128;

/// Largest remaining length a fixed header can express (four varint bytes).
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// Largest value of a variable byte integer, and so of a subscription identifier.
pub const MAX_VARINT: u32 = 268_435_455;

/// Protocol revision negotiated by CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// MQTT 3.1.1, protocol level 4.
    V311,
    /// MQTT 5.0, protocol level 5.
    V5,
}

impl Protocol {
    /// The protocol level byte carried in CONNECT.
    pub fn level(self) -> u8 {
        match self {
            Protocol::V311 => 4,
            Protocol::V5 => 5,
        }
    }
}

/// Delivery guarantee of a message or subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum QoS {
    #[default]
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS with wire value `v`, if it is one (3 is not).
    pub fn from_u8(v: u8) -> Option<QoS> {
        match v {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }

    /// Wire value.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}
