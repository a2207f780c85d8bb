//! Session state (spec 4.1): subscriptions, queued and unacknowledged messages. It outlives
//! connections for persistent sessions; a connection attaches to it, drains its queue, and
//! parks its in-flight state back here when it ends.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use super::message::Queued;
use super::tree::Sub;
use crate::codec::QoS;

/// Session Expiry Interval meaning "never expires" (spec 3.1.2.11.2).
pub(crate) const NEVER_EXPIRES: u32 = u32::MAX;

/// One client id's session, shared by the registry, the subscription tree and the attached
/// connection.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) client_id: Arc<str>,
    state: Mutex<SessionState>,
    /// Doorbell of the attached connection: messages were queued, or it was kicked.
    pub(crate) bell: Notify,
}

impl Session {
    pub(crate) fn new(client_id: Arc<str>, expiry: u32) -> Session {
        Session {
            client_id,
            state: Mutex::new(SessionState {
                expiry,
                ..SessionState::default()
            }),
            bell: Notify::new(),
        }
    }

    /// The state. Critical sections never await and never take another session's lock;
    /// the subscription tree's lock is never requested while this one is held.
    pub(crate) fn lock(&self) -> MutexGuard<'_, SessionState> {
        // Poisoning means a panic mid-update elsewhere; the state is still structurally
        // sound, and refusing every later client would be worse.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why a connection was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kick {
    TakenOver,
    Shutdown,
}

/// The connection currently attached to a session.
#[derive(Debug)]
pub(crate) struct Link {
    /// Notified (all waiters) once the connection has detached and run its hooks; a
    /// connection taking the session over waits for it.
    pub(crate) released: Arc<Notify>,
}

/// An outbound QoS 1/2 message waiting for the client's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inflight {
    pub(crate) packet_id: u16,
    pub(crate) q: Queued,
    /// QoS 2: PUBREC arrived and PUBREL was sent; waiting for PUBCOMP.
    pub(crate) rel_sent: bool,
}

#[derive(Debug, Default)]
pub(crate) struct SessionState {
    pub(crate) link: Option<Link>,
    /// Incremented on every attach; timers and detaching connections compare it to know
    /// whether the session moved on without them.
    pub(crate) epoch: u64,
    /// Seconds the session outlives its connection; 0 = ends with it.
    pub(crate) expiry: u32,
    pub(crate) subs: HashMap<String, Sub>,
    pub(crate) queue: VecDeque<Queued>,
    /// QoS 0 messages in `queue`, so the drop policy can skip its scan when there are none.
    qos0: usize,
    /// Unacknowledged outbound messages, parked here while no connection is attached.
    pub(crate) inflight: Vec<Inflight>,
    /// Inbound QoS 2 packet ids awaiting PUBREL, parked here while offline.
    pub(crate) inbound_qos2: HashSet<u16>,
    pub(crate) kick: Option<Kick>,
    /// Unix ms when the last connection ended; `None` while connected.
    pub(crate) disconnected_at: Option<u64>,
}

/// What routing a message into a session did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Queued for the attached connection.
    Online,
    /// Queued in an offline persistent session: the copy must be written to the store.
    Stored(Queued),
    /// Not queued: the queue was full.
    Dropped,
    /// Not queued: no connection, and the session keeps nothing (or it was QoS 0).
    Offline,
}

impl SessionState {
    pub(crate) fn persistent(&self) -> bool {
        self.expiry > 0
    }

    /// Routes one message into the session, applying the queue limit. The caller rings the
    /// bell on `Online`.
    pub(crate) fn offer(&mut self, mut q: Queued, cap: usize) -> Offer {
        if self.link.is_some() {
            return match self.push_capped(q, cap) {
                true => Offer::Online,
                false => Offer::Dropped,
            };
        }
        // QoS 0 is not kept for offline clients (spec 3.1.2.5 leaves it optional).
        if !self.persistent() || q.qos == QoS::AtMostOnce {
            return Offer::Offline;
        }
        q.persisted = true;
        let copy = q.clone();
        match self.push_capped(q, cap) {
            true => Offer::Stored(copy),
            false => Offer::Dropped,
        }
    }

    /// Appends `q` unless the queue holds `cap` messages; then the oldest QoS 0 message
    /// makes room for a QoS 1/2 one, and otherwise the new message is dropped.
    /// Returns whether `q` was queued (one message is dropped either way when full).
    pub(crate) fn push_capped(&mut self, q: Queued, cap: usize) -> bool {
        if self.queue.len() >= cap {
            if q.qos == QoS::AtMostOnce || self.qos0 == 0 {
                return false;
            }
            if let Some(i) = self.queue.iter().position(|m| m.qos == QoS::AtMostOnce) {
                self.queue.remove(i);
                self.qos0 -= 1;
            }
        }
        self.push(q);
        true
    }

    /// Appends without a limit (retained messages on subscribe, requeued in-flight ones).
    pub(crate) fn push(&mut self, q: Queued) {
        if q.qos == QoS::AtMostOnce {
            self.qos0 += 1;
        }
        self.queue.push_back(q);
    }

    /// Takes messages from the front for sending: QoS 0 freely, QoS 1/2 while `slots`
    /// in-flight slots remain, stopping at the first that does not fit so order is kept.
    /// At most `max` messages; expired ones are taken out too and returned second.
    pub(crate) fn take_batch(
        &mut self,
        mut slots: usize,
        max: usize,
        now_ms: u64,
    ) -> (Vec<Queued>, Vec<Queued>) {
        let mut out = Vec::new();
        let mut expired = Vec::new();
        while out.len() < max {
            let Some(front) = self.queue.front() else {
                break;
            };
            let qos0 = front.qos == QoS::AtMostOnce;
            if !qos0 && slots == 0 && !front.msg.expired(now_ms) {
                break;
            }
            let Some(q) = self.queue.pop_front() else {
                break;
            };
            if qos0 {
                self.qos0 -= 1;
            }
            if q.msg.expired(now_ms) {
                expired.push(q);
                continue;
            }
            if !qos0 {
                slots -= 1;
            }
            out.push(q);
        }
        (out, expired)
    }

    /// Empties the queue; returns the removed messages.
    pub(crate) fn clear_queue(&mut self) -> VecDeque<Queued> {
        self.qos0 = 0;
        std::mem::take(&mut self.queue)
    }

    /// Unix ms at which an offline session expires; `None` if it never does or is online.
    pub(crate) fn expires_at(&self) -> Option<u64> {
        let at = self.disconnected_at?;
        (self.expiry != NEVER_EXPIRES).then(|| at.saturating_add(u64::from(self.expiry) * 1000))
    }
}

#[cfg(test)]
mod tests;
