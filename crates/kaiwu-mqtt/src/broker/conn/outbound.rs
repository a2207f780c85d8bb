//! Messages to the client: draining the session queue into the in-flight window, packet
//! ids, retransmission on resume, and the client's acknowledgements.

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Conn, WBUF_HIGH};
use crate::broker::Hooks;
use crate::broker::message::{Queued, now_ms};
use crate::broker::session::Inflight;
use crate::broker::store::Op;
use crate::codec::{Ack, Packet, QoS, ReasonCode};

/// Messages taken from the session queue per lock.
const PULL_BATCH: usize = 64;

impl<'a, H: Hooks, S: AsyncRead + AsyncWrite + Unpin + Send> Conn<'a, H, S> {
    /// Sends again what the session had in flight (spec 4.4): PUBLISH with DUP set, or
    /// PUBREL where PUBREC had arrived.
    pub(super) fn resume(&mut self) {
        let now = now_ms();
        let parked = std::mem::take(&mut self.inflight);
        for inf in parked {
            self.next_pid = self.next_pid.max(inf.packet_id);
            if inf.rel_sent {
                self.send(&Packet::PubRel(Ack::new(inf.packet_id)));
                self.inflight.push_back(inf);
                continue;
            }
            match inf.q.to_publish(Some(inf.packet_id), true, self.v5, now) {
                Some(p) => {
                    self.inner.metrics.messages_out.increment(1);
                    self.send(&Packet::Publish(p));
                    self.inflight.push_back(inf);
                }
                None => self.discard(&inf.q, true),
            }
        }
    }

    /// Moves queued messages into the output while the window and output buffer allow.
    pub(super) fn pull_outbound(&mut self) {
        let now = now_ms();
        loop {
            if self.wbuf.len() >= WBUF_HIGH {
                self.out_blocked = true;
                return;
            }
            let slots = self.window.saturating_sub(self.inflight.len());
            let (batch, expired) = self.session.lock().take_batch(slots, PULL_BATCH, now);
            for q in &expired {
                self.discard(q, true);
            }
            if batch.is_empty() {
                return;
            }
            for q in batch {
                self.send_message(q, now);
            }
        }
    }

    fn send_message(&mut self, q: Queued, now: u64) {
        let packet_id = (q.qos != QoS::AtMostOnce).then(|| self.alloc_pid());
        let Some(p) = q.to_publish(packet_id, false, self.v5, now) else {
            self.discard(&q, true);
            return;
        };
        let packet = Packet::Publish(p);
        if let Some(max) = self.out_max_packet {
            // Spec 3.1.2.11.4: a message too large for the client is dropped as if sent.
            let too_large = packet.encoded_len(self.protocol).map_or(true, |n| n > max);
            if too_large {
                self.discard(&q, false);
                return;
            }
        }
        self.inner.metrics.messages_out.increment(1);
        self.send(&packet);
        if let Some(packet_id) = packet_id {
            self.inflight.push_back(Inflight {
                packet_id,
                q,
                rel_sent: false,
            });
        }
    }

    /// Drops a message that will not be delivered, with its stored row.
    fn discard(&mut self, q: &Queued, expired: bool) {
        match expired {
            true => self.inner.metrics.dropped_expired.increment(1),
            false => self.inner.metrics.dropped_too_large.increment(1),
        }
        self.forget(q);
    }

    fn forget(&self, q: &Queued) {
        if q.persisted
            && let Some(store) = &self.inner.store
        {
            store.send(Op::Delete(q.id));
        }
    }

    /// Next packet id not in flight. The window is below 65535, so one is always free.
    fn alloc_pid(&mut self) -> u16 {
        loop {
            self.next_pid = self.next_pid.wrapping_add(1).max(1);
            let id = self.next_pid;
            if !self.inflight.iter().any(|i| i.packet_id == id) {
                return id;
            }
        }
    }

    fn take_inflight(&mut self, packet_id: u16, qos: QoS, rel_sent: bool) -> Option<Inflight> {
        let i = self
            .inflight
            .iter()
            .position(|m| m.packet_id == packet_id && m.q.qos == qos && m.rel_sent == rel_sent)?;
        self.inflight.remove(i)
    }

    pub(super) fn on_puback(&mut self, a: Ack) {
        if let Some(done) = self.take_inflight(a.packet_id, QoS::AtLeastOnce, false) {
            self.forget(&done.q);
            self.want_pull = true;
        }
    }

    pub(super) fn on_pubrec(&mut self, a: Ack) {
        let pid = a.packet_id;
        if a.reason.is_error() {
            // The client refused it; the exchange ends here.
            if let Some(done) = self.take_inflight(pid, QoS::ExactlyOnce, false) {
                self.forget(&done.q);
                self.want_pull = true;
            }
            return;
        }
        let entry = self
            .inflight
            .iter_mut()
            .find(|m| m.packet_id == pid && m.q.qos == QoS::ExactlyOnce);
        let mut rel = Ack::new(pid);
        match entry {
            Some(m) => {
                if !m.rel_sent
                    && m.q.persisted
                    && let Some(store) = &self.inner.store
                {
                    store.send(Op::Delivery {
                        id: m.q.id,
                        packet_id: Some(pid),
                        rel_sent: true,
                    });
                }
                m.rel_sent = true;
            }
            None => rel.reason = ReasonCode::PacketIdentifierNotFound,
        }
        self.send(&Packet::PubRel(rel));
    }

    pub(super) fn on_pubcomp(&mut self, a: Ack) {
        if let Some(done) = self.take_inflight(a.packet_id, QoS::ExactlyOnce, true) {
            self.forget(&done.q);
            self.want_pull = true;
        }
    }
}
