//! Packets from the client: publishes into the pipeline, acknowledgements in order,
//! subscriptions, and the control packets.

use std::future::ready;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Close, Conn, InDone, PendingAck, TOPIC_ALIAS_MAX};
use crate::broker::message::Message;
use crate::broker::tree::Sub;
use crate::broker::{DisconnectCause, Hooks, PublishOutcome, registry, route};
use crate::codec::topic::split_shared;
use crate::codec::{
    self, Ack, Disconnect, Packet, Properties, Publish, QoS, ReasonCode, SubAck, Subscribe,
    UnsubAck, Unsubscribe,
};

impl<'a, H: Hooks, S: AsyncRead + AsyncWrite + Unpin + Send> Conn<'a, H, S> {
    /// Handles every complete packet in the read buffer.
    pub(super) fn decode_all(&mut self) -> Result<(), Close> {
        let max = self.inner.config.max_packet_size;
        loop {
            match codec::decode(&mut self.rbuf, Some(self.protocol), max) {
                Ok(Some(packet)) => self.handle(packet)?,
                Ok(None) => break,
                Err(e) => return Err(Close::protocol(e.reason_code(), e.to_string())),
            }
        }
        if self.rbuf.is_empty() {
            // Released between bursts: the next read goes through a small stack buffer.
            self.rbuf = BytesMut::new();
        }
        Ok(())
    }

    fn handle(&mut self, packet: Packet) -> Result<(), Close> {
        match packet {
            Packet::Publish(p) => self.on_publish(p)?,
            Packet::PubAck(a) => self.on_puback(a),
            Packet::PubRec(a) => self.on_pubrec(a),
            Packet::PubComp(a) => self.on_pubcomp(a),
            Packet::PubRel(a) => self.on_pubrel(a),
            Packet::Subscribe(s) => self.on_subscribe(s),
            Packet::Unsubscribe(u) => self.on_unsubscribe(u),
            Packet::PingReq => self.send(&Packet::PingResp),
            Packet::Disconnect(d) => return Err(self.on_disconnect(d)),
            other => {
                return Err(Close::protocol(
                    ReasonCode::ProtocolError,
                    format!("{} is not sent by clients", other.name()),
                ));
            }
        }
        Ok(())
    }

    fn on_publish(&mut self, mut p: Publish) -> Result<(), Close> {
        self.inner.metrics.messages_in.increment(1);
        if self.v5 {
            self.resolve_alias(&mut p)?;
        }
        let pid = p.packet_id.unwrap_or(0);
        if p.qos != QoS::AtMostOnce {
            if self.v5 && self.quota_used >= usize::from(self.inner.config.receive_maximum) {
                return Err(Close::protocol(
                    ReasonCode::ReceiveMaximumExceeded,
                    "receive maximum exceeded",
                ));
            }
            if p.qos == QoS::ExactlyOnce && self.inbound_qos2.contains(&pid) {
                // A retransmission of a QoS 2 publish already taken: acknowledge again,
                // do not process again (spec 4.3.3).
                let packet = Packet::PubRec(Ack::new(pid));
                self.pipeline.push_back(Box::pin(ready(InDone::Reply {
                    packet,
                    release: false,
                })));
                return Ok(());
            }
            self.quota_used += 1;
            if p.qos == QoS::ExactlyOnce {
                self.inbound_qos2.insert(pid);
            }
        }
        // `$` topics belong to the server (spec 4.7.2).
        if p.topic.starts_with('$') || !self.inner.hooks.authorize_publish(self.client, &p.topic) {
            let outcome =
                PublishOutcome::Rejected(ReasonCode::NotAuthorized, "not authorized".into());
            tracing::debug!(client_id = %self.client_id, topic = %p.topic, "mqtt publish not authorized");
            self.pipeline.push_back(Box::pin(ready(InDone::Publish {
                publish: p,
                outcome,
            })));
            return Ok(());
        }
        let hooks = &*self.inner.hooks;
        let client = self.client;
        self.pipeline.push_back(Box::pin(async move {
            let outcome = hooks.on_publish(client, &p.topic, &p).await;
            InDone::Publish {
                publish: p,
                outcome,
            }
        }));
        Ok(())
    }

    /// Applies an MQTT 5 topic alias (spec 3.3.2.3.4): sets or looks up the topic.
    fn resolve_alias(&mut self, p: &mut Publish) -> Result<(), Close> {
        let Some(alias) = p.properties.topic_alias else {
            return Ok(());
        };
        if alias == 0 || alias > TOPIC_ALIAS_MAX {
            return Err(Close::protocol(
                ReasonCode::TopicAliasInvalid,
                format!("topic alias {alias} outside 1..={TOPIC_ALIAS_MAX}"),
            ));
        }
        let slot = usize::from(alias - 1);
        if self.aliases.len() <= slot {
            self.aliases.resize(slot + 1, None);
        }
        if p.topic.is_empty() {
            match self.aliases.get(slot).and_then(Option::as_ref) {
                Some(topic) => p.topic.clone_from(topic),
                None => {
                    return Err(Close::protocol(
                        ReasonCode::ProtocolError,
                        format!("topic alias {alias} used before it was set"),
                    ));
                }
            }
        } else if let Some(entry) = self.aliases.get_mut(slot) {
            *entry = Some(p.topic.clone());
        }
        Ok(())
    }

    /// A pipeline entry's turn: route if asked to, then queue the acknowledgement.
    pub(super) fn finish(&mut self, done: InDone) {
        let (publish, outcome) = match done {
            InDone::Reply { packet, release } => {
                self.queue_ack(packet, None, release);
                return;
            }
            InDone::Publish { publish, outcome } => (publish, outcome),
        };
        let mut wait = None;
        let (reason, reason_string) = match outcome {
            PublishOutcome::Consumed => (ReasonCode::Success, None),
            PublishOutcome::Route => {
                let origin = Some(self.session.client_id.clone());
                let msg = Message::from_publish(&publish, &publish.topic, origin);
                wait = route::route(self.inner, Arc::new(msg));
                (ReasonCode::Success, None)
            }
            PublishOutcome::Rejected(code, text) => {
                tracing::debug!(client_id = %self.client_id, topic = %publish.topic, ?code, reason = %text, "mqtt publish rejected");
                (code, Some(text))
            }
        };
        let Some(packet_id) = publish.packet_id else {
            return;
        };
        let ack = Ack {
            packet_id,
            reason,
            properties: Properties {
                reason_string: reason_string.filter(|_| self.v5 && self.problem_info),
                ..Properties::default()
            },
        };
        match publish.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.queue_ack(Packet::PubAck(ack), wait, true),
            QoS::ExactlyOnce => {
                // A failed PUBREC ends the exchange (spec 4.3.3): no PUBREL will come.
                let ends = self.v5 && reason.is_error();
                if ends {
                    self.inbound_qos2.remove(&packet_id);
                }
                self.queue_ack(Packet::PubRec(ack), wait, ends);
            }
        }
    }

    fn queue_ack(
        &mut self,
        packet: Packet,
        wait: Option<tokio::sync::oneshot::Receiver<bool>>,
        release: bool,
    ) {
        self.acks.push_back(PendingAck {
            packet,
            wait,
            release,
        });
        self.release_acks();
    }

    /// The first acknowledgement's store write finished.
    pub(super) fn ack_ready(&mut self, ok: bool) {
        if let Some(front) = self.acks.front_mut() {
            front.wait = None;
            if !ok && self.v5 {
                tracing::error!(client_id = %self.client_id, "mqtt message not stored; publisher told");
                if let Packet::PubAck(a) | Packet::PubRec(a) = &mut front.packet {
                    a.reason = ReasonCode::ImplementationSpecificError;
                }
            }
        }
        self.release_acks();
    }

    /// Writes acknowledgements from the front while they are not waiting for the store.
    fn release_acks(&mut self) {
        while self.acks.front().is_some_and(|a| a.wait.is_none()) {
            let Some(ack) = self.acks.pop_front() else {
                break;
            };
            if ack.release {
                self.quota_used = self.quota_used.saturating_sub(1);
            }
            self.send_ack(ack.packet);
        }
    }

    /// Sends an acknowledgement; a reason code MQTT does not allow in it (from the hooks)
    /// becomes 0x80 Unspecified error.
    fn send_ack(&mut self, mut packet: Packet) {
        if packet.encode(self.protocol, &mut self.wbuf).is_ok() {
            return;
        }
        if let Packet::PubAck(a) | Packet::PubRec(a) = &mut packet {
            a.reason = ReasonCode::UnspecifiedError;
        }
        self.send(&packet);
    }

    fn on_pubrel(&mut self, a: Ack) {
        let known = self.inbound_qos2.remove(&a.packet_id);
        if known {
            self.quota_used = self.quota_used.saturating_sub(1);
        }
        let mut comp = Ack::new(a.packet_id);
        if !known {
            comp.reason = ReasonCode::PacketIdentifierNotFound;
        }
        let packet = Packet::PubComp(comp);
        if self.pipeline.is_empty() {
            self.queue_ack(packet, None, false);
        } else {
            // Must not overtake the PUBREC of a publish still in the hooks.
            self.pipeline.push_back(Box::pin(ready(InDone::Reply {
                packet,
                release: false,
            })));
        }
    }

    fn on_subscribe(&mut self, s: Subscribe) {
        let sub_id = s.properties.subscription_identifiers.first().copied();
        let mut reasons = Vec::with_capacity(s.filters.len());
        let mut accepted = Vec::new();
        for f in s.filters {
            let reason = if split_shared(&f.filter).is_some() {
                ReasonCode::SharedSubscriptionsNotSupported
            } else if !self.inner.hooks.authorize_subscribe(self.client, &f.filter) {
                ReasonCode::NotAuthorized
            } else {
                let sub = Sub {
                    opts: f.options,
                    id: sub_id,
                };
                let is_new = registry::subscribe(self.inner, self.session, &f.filter, sub);
                accepted.push((f.filter.clone(), sub, is_new));
                match f.options.qos {
                    QoS::AtMostOnce => ReasonCode::GRANTED_QOS_0,
                    QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
                    QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
                }
            };
            if reason.is_error() {
                tracing::debug!(client_id = %self.client_id, filter = %f.filter, ?reason, "mqtt subscription refused");
            }
            reasons.push(reason);
        }
        self.send(&Packet::SubAck(SubAck {
            packet_id: s.packet_id,
            reasons,
            properties: Properties::default(),
        }));
        // Retained messages follow the SUBACK (spec 3.8.4).
        for (filter, sub, is_new) in accepted {
            route::queue_retained(self.inner, self.session, &filter, sub, is_new);
        }
        self.want_pull = true;
    }

    fn on_unsubscribe(&mut self, u: Unsubscribe) {
        let reasons = u
            .filters
            .iter()
            .map(
                |f| match registry::unsubscribe(self.inner, self.session, f) {
                    true => ReasonCode::Success,
                    false => ReasonCode::NoSubscriptionExisted,
                },
            )
            .collect();
        self.send(&Packet::UnsubAck(UnsubAck {
            packet_id: u.packet_id,
            reasons: if self.v5 { reasons } else { Vec::new() },
            properties: Properties::default(),
        }));
    }

    fn on_disconnect(&mut self, d: Disconnect) -> Close {
        if let Some(expiry) = d.properties.session_expiry_interval.filter(|_| self.v5) {
            // Spec 3.14.2.2.2: a session that was to end may not be made persistent here.
            if self.expiry_was_zero && expiry != 0 {
                return Close::protocol(
                    ReasonCode::ProtocolError,
                    "DISCONNECT sets a session expiry after CONNECT set 0",
                );
            }
            self.expiry = expiry.min(self.inner.config.session_expiry_cap());
        }
        Close {
            cause: DisconnectCause::Normal,
            send: None,
            will: d.reason == ReasonCode::DisconnectWithWillMessage,
        }
    }
}
