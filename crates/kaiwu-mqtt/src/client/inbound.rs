//! Packets from the server: messages (QoS 0/1/2 receiver side), acknowledgements of our
//! requests, PINGRESP and DISCONNECT.

use tokio::sync::mpsc::error::TrySendError;

use super::conn::{Conn, Pending, Stalled, fail};
use super::{Error, Message, Result};
use crate::codec::{Ack, Packet, Protocol, Publish, QoS, ReasonCode, SubAck, UnsubAck};

impl Conn {
    /// Handles one packet; `Err` ends the connection.
    pub(super) fn on_packet(&mut self, p: Packet) -> Result<()> {
        match p {
            Packet::Publish(p) => self.on_publish(p),
            Packet::PubAck(a) => self.on_puback(a),
            Packet::PubRec(a) => self.on_pubrec(a),
            Packet::PubRel(a) => self.on_pubrel(a),
            Packet::PubComp(a) => self.on_pubcomp(a),
            Packet::SubAck(a) => self.on_suback(a),
            Packet::UnsubAck(a) => self.on_unsuback(a),
            Packet::PingResp => {
                self.ping_outstanding = false;
                Ok(())
            }
            Packet::Disconnect(d) => Err(Error::ServerDisconnect(
                d.reason,
                d.properties.reason_string.unwrap_or_default(),
            )),
            other => Err(Error::Protocol(format!(
                "server sent {}, which only clients send (or AUTH, not supported)",
                other.name()
            ))),
        }
    }

    fn on_publish(&mut self, p: Publish) -> Result<()> {
        if p.topic.is_empty() {
            // Only possible with a topic alias, and we allow the server none.
            return Err(Error::Protocol(
                "PUBLISH with a topic alias the client did not allow".into(),
            ));
        }
        let ack = match (p.qos, p.packet_id) {
            (QoS::AtMostOnce, _) => None,
            (QoS::AtLeastOnce, Some(id)) => Some(Packet::PubAck(Ack::new(id))),
            (QoS::ExactlyOnce, Some(id)) => {
                if !self.inbound_qos2.insert(id) {
                    // A retransmission of a message already delivered: acknowledge only.
                    return self.queue(&Packet::PubRec(Ack::new(id)));
                }
                Some(Packet::PubRec(Ack::new(id)))
            }
            // The decoder guarantees an id on QoS 1/2.
            (_, None) => return Err(Error::Protocol("PUBLISH without packet id".into())),
        };
        let msg = Message {
            topic: p.topic,
            payload: p.payload,
            qos: p.qos,
            retain: p.retain,
        };
        match self.messages.try_send(msg) {
            // Closed: the receiver was dropped, so the message is acknowledged and discarded.
            Ok(()) | Err(TrySendError::Closed(_)) => match ack {
                Some(ack) => self.queue(&ack),
                None => Ok(()),
            },
            Err(TrySendError::Full(msg)) => {
                // Stop reading until the receiver makes room: back-pressure, not loss.
                self.stalled = Some(Stalled { msg, ack });
                self.paused_since_ping = true;
                Ok(())
            }
        }
    }

    fn on_puback(&mut self, a: Ack) -> Result<()> {
        match self.pending.remove(&a.packet_id) {
            Some(Pending::Publish {
                qos: QoS::AtLeastOnce,
                done,
                ..
            }) => {
                let _ = done.send(ack_result(&a));
                Ok(())
            }
            Some(_) => Err(mismatch("PUBACK", a.packet_id)),
            None => {
                tracing::debug!(packet_id = a.packet_id, "mqtt PUBACK for unknown packet id");
                Ok(())
            }
        }
    }

    fn on_pubrec(&mut self, a: Ack) -> Result<()> {
        let id = a.packet_id;
        match self.pending.get_mut(&id) {
            Some(Pending::Publish {
                qos: QoS::ExactlyOnce,
                released,
                ..
            }) => {
                if a.reason.is_error() {
                    // Refused: the exchange ends here, no PUBREL.
                    if let Some(Pending::Publish { done, .. }) = self.pending.remove(&id) {
                        let _ = done.send(ack_result(&a));
                    }
                    return Ok(());
                }
                *released = true;
                self.queue(&Packet::PubRel(Ack::new(id)))
            }
            Some(_) => Err(mismatch("PUBREC", id)),
            None => {
                // Spec 4.3.3: answer so the server can finish its side.
                let mut rel = Ack::new(id);
                if self.protocol == Protocol::V5 {
                    rel.reason = ReasonCode::PacketIdentifierNotFound;
                }
                self.queue(&Packet::PubRel(rel))
            }
        }
    }

    fn on_pubrel(&mut self, a: Ack) -> Result<()> {
        let known = self.inbound_qos2.remove(&a.packet_id);
        let mut comp = Ack::new(a.packet_id);
        if !known && self.protocol == Protocol::V5 {
            comp.reason = ReasonCode::PacketIdentifierNotFound;
        }
        self.queue(&Packet::PubComp(comp))
    }

    fn on_pubcomp(&mut self, a: Ack) -> Result<()> {
        match self.pending.remove(&a.packet_id) {
            Some(Pending::Publish {
                qos: QoS::ExactlyOnce,
                released: true,
                done,
                ..
            }) => {
                let _ = done.send(ack_result(&a));
                Ok(())
            }
            Some(_) => Err(mismatch("PUBCOMP", a.packet_id)),
            None => Ok(()),
        }
    }

    fn on_suback(&mut self, a: SubAck) -> Result<()> {
        match self.pending.remove(&a.packet_id) {
            Some(Pending::Subscribe(done)) => {
                let codes = a.reasons.iter().map(|r| r.as_u8()).collect();
                let _ = done.send(Ok(codes));
                Ok(())
            }
            Some(_) => Err(mismatch("SUBACK", a.packet_id)),
            None => Ok(()),
        }
    }

    fn on_unsuback(&mut self, a: UnsubAck) -> Result<()> {
        match self.pending.remove(&a.packet_id) {
            Some(Pending::Unsubscribe(done)) => {
                match a.reasons.iter().find(|r| r.is_error()) {
                    Some(&code) => {
                        let reason = a.properties.reason_string.unwrap_or_default();
                        fail(done, Error::Rejected { code, reason });
                    }
                    None => {
                        let _ = done.send(Ok(()));
                    }
                }
                Ok(())
            }
            Some(_) => Err(mismatch("UNSUBACK", a.packet_id)),
            None => Ok(()),
        }
    }
}

/// `Ok` unless an MQTT 5 acknowledgement carries a failure code.
fn ack_result(a: &Ack) -> Result<()> {
    match a.reason.is_error() {
        false => Ok(()),
        true => Err(Error::Rejected {
            code: a.reason,
            reason: a.properties.reason_string.clone().unwrap_or_default(),
        }),
    }
}

/// The server acknowledged a packet id with the wrong kind of acknowledgement.
fn mismatch(packet: &str, id: u16) -> Error {
    Error::Protocol(format!(
        "{packet} for packet id {id}, which is in use by another kind of request"
    ))
}
