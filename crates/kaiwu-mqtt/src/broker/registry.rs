//! Sessions by client id: restoring them at startup, attaching a connection (with takeover),
//! detaching it, expiring offline sessions, and their subscriptions.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::message::now_ms;
use super::session::{Inflight, Kick, Link, Session, SessionState};
use super::store::{Loaded, Op};
use super::sync::{lock, write};
use super::tree::Sub;
use super::{Hooks, Inner};
use crate::codec::{QoS, ReasonCode};

/// How long a connection taking a session over waits for the old one to let go.
const TAKEOVER_WAIT: Duration = Duration::from_secs(10);

/// A session attached to a new connection.
pub(crate) struct Attached {
    pub(crate) session: Arc<Session>,
    pub(crate) present: bool,
    pub(crate) epoch: u64,
    /// Unacknowledged outbound messages to send again.
    pub(crate) inflight: Vec<Inflight>,
    pub(crate) inbound_qos2: HashSet<u16>,
}

/// Puts stored sessions and retained messages in place; returns the counts of sessions,
/// subscriptions and retained messages.
pub(crate) fn restore<H: Hooks>(inner: &Inner<H>, loaded: Loaded) -> (usize, usize, usize) {
    let mut map = write(&inner.sessions);
    let mut tree = write(&inner.tree);
    for ls in loaded.sessions {
        let id: Arc<str> = ls.client_id.into();
        let session = Arc::new(Session::new(id.clone(), ls.expiry));
        {
            let mut st = session.lock();
            st.disconnected_at = Some(ls.disconnected_at);
            for q in ls.queue {
                st.push(q);
            }
            st.inflight = ls.inflight;
            for (filter, sub) in ls.subs {
                tree.insert(&filter, &id, session.clone(), sub);
                st.subs.insert(filter, sub);
            }
        }
        map.insert(id, session);
    }
    let mut retained = write(&inner.retained);
    for m in loaded.retained {
        retained.set(Arc::new(m));
    }
    (map.len(), tree.len(), retained.len())
}

/// Attaches a new connection to `client_id`'s session, creating it or taking it over from
/// a live connection (which is kicked and awaited). `Err` is the CONNACK refusal.
pub(crate) async fn attach<H: Hooks>(
    inner: &Inner<H>,
    client_id: &Arc<str>,
    clean_start: bool,
    expiry: u32,
) -> Result<Attached, ReasonCode> {
    let deadline = tokio::time::Instant::now() + TAKEOVER_WAIT;
    let (session, present, epoch, stale_subs) = loop {
        let session = {
            let mut map = write(&inner.sessions);
            // Created with expiry 0, i.e. "nothing to resume", until the attach below.
            map.entry(client_id.clone())
                .or_insert_with(|| Arc::new(Session::new(client_id.clone(), 0)))
                .clone()
        };
        let before_deadline = tokio::time::Instant::now() < deadline;
        let busy = {
            let mut st = session.lock();
            let released = st.link.as_ref().map(|l| l.released.clone());
            if released.is_some() && before_deadline {
                st.kick = Some(Kick::TakenOver);
            }
            released.filter(|_| before_deadline)
        };
        if let Some(released) = busy {
            // Spec 3.1.4: the existing connection is disconnected first.
            let waiter = released.notified();
            tokio::pin!(waiter);
            waiter.as_mut().enable();
            session.bell.notify_one();
            // It may have let go before the waiter was registered.
            let still = session
                .lock()
                .link
                .as_ref()
                .is_some_and(|l| Arc::ptr_eq(&l.released, &released));
            if still {
                let _ = tokio::time::timeout_at(deadline, waiter).await;
            }
            continue;
        }
        let mut st = session.lock();
        if st.link.is_some() {
            if tokio::time::Instant::now() < deadline {
                continue;
            }
            tracing::warn!(client_id = %client_id, "mqtt session takeover timed out; forcing it");
        }
        // A non-persistent session without a connection has ended: nothing to resume.
        let alive = st.link.is_some() || st.persistent();
        let present = !clean_start && alive;
        let stale_subs = if present {
            Vec::new()
        } else {
            reset(&mut st, inner, client_id)
        };
        st.link = Some(Link {
            released: Arc::new(Notify::new()),
        });
        st.epoch += 1;
        st.kick = None;
        st.disconnected_at = None;
        st.expiry = expiry;
        if st.persistent()
            && let Some(store) = &inner.store
        {
            store.send(Op::Session {
                client_id: client_id.clone(),
                expiry,
                disconnected_at: None,
            });
        }
        break (session.clone(), present, st.epoch, stale_subs);
    };
    if !stale_subs.is_empty() {
        let mut tree = write(&inner.tree);
        for f in &stale_subs {
            tree.remove(f, client_id);
        }
    }
    // A delayed will is cancelled by a new connection (spec 3.1.3.2.2).
    lock(&inner.wills).remove(client_id);
    let (inflight, inbound_qos2) = {
        let mut st = session.lock();
        (
            std::mem::take(&mut st.inflight),
            std::mem::take(&mut st.inbound_qos2),
        )
    };
    let attached = Attached {
        session,
        present,
        epoch,
        inflight,
        inbound_qos2,
    };
    // Shutdown kicks attached sessions after raising its flag; one attached after that
    // look is refused here.
    if inner.shutting_down() {
        detach(
            inner,
            &attached.session,
            epoch,
            attached.inflight,
            attached.inbound_qos2,
            expiry,
        );
        return Err(ReasonCode::ServerUnavailable);
    }
    Ok(attached)
}

/// Clears a session for a clean start; returns the filters to remove from the tree.
fn reset<H: Hooks>(st: &mut SessionState, inner: &Inner<H>, client_id: &Arc<str>) -> Vec<String> {
    if st.persistent()
        && let Some(store) = &inner.store
    {
        store.send(Op::DropSession(client_id.clone()));
    }
    st.clear_queue();
    st.inflight.clear();
    st.inbound_qos2.clear();
    st.subs.drain().map(|(f, _)| f).collect()
}

/// Detaches the connection of `epoch` (no-op if the session moved on). A persistent
/// session keeps (and stores) the connection's unacknowledged state; any other ends.
/// Returns the notifier to fire once the connection's hooks ran.
pub(crate) fn detach<H: Hooks>(
    inner: &Inner<H>,
    session: &Arc<Session>,
    epoch: u64,
    inflight: Vec<Inflight>,
    inbound_qos2: HashSet<u16>,
    expiry: u32,
) -> Option<Arc<Notify>> {
    let id = &session.client_id;
    if expiry == 0 {
        // Subscriptions leave the tree while the link still blocks other connections.
        let subs: Vec<String> = {
            let st = session.lock();
            if st.epoch != epoch {
                return None;
            }
            st.subs.keys().cloned().collect()
        };
        let mut tree = write(&inner.tree);
        for f in &subs {
            tree.remove(f, id);
        }
    }
    let released = {
        let mut st = session.lock();
        if st.epoch != epoch {
            return None;
        }
        let was_stored = st.persistent();
        st.expiry = expiry;
        st.kick = None;
        let link = st.link.take();
        if st.persistent() {
            st.inflight = inflight;
            st.inbound_qos2 = inbound_qos2;
            st.disconnected_at = Some(now_ms());
            park(inner, &mut st, id);
        } else {
            st.subs.clear();
            st.clear_queue();
            st.inflight.clear();
            st.inbound_qos2.clear();
            if was_stored && let Some(store) = &inner.store {
                store.send(Op::DropSession(id.clone()));
            }
        }
        link.map(|l| l.released)
    };
    if expiry == 0 {
        let mut map = write(&inner.sessions);
        let ours = map.get(id).is_some_and(|s| Arc::ptr_eq(s, session));
        if ours && session.lock().link.is_none() {
            map.remove(id);
        }
    }
    released
}

/// Keeps an offline session's QoS 1/2 messages and writes what the store lacks.
fn park<H: Hooks>(inner: &Inner<H>, st: &mut SessionState, id: &Arc<str>) {
    // QoS 0 is not kept for offline clients.
    let queue = st.clear_queue();
    for q in queue {
        if q.qos != QoS::AtMostOnce {
            st.push(q);
        }
    }
    let Some(store) = &inner.store else {
        return;
    };
    store.send(Op::Session {
        client_id: id.clone(),
        expiry: st.expiry,
        disconnected_at: st.disconnected_at,
    });
    for inf in &mut st.inflight {
        if inf.q.persisted {
            store.send(Op::Delivery {
                id: inf.q.id,
                packet_id: Some(inf.packet_id),
                rel_sent: inf.rel_sent,
            });
        } else {
            inf.q.persisted = true;
            store.send(Op::Message {
                client_id: id.clone(),
                q: inf.q.clone(),
                packet_id: Some(inf.packet_id),
                rel_sent: inf.rel_sent,
            });
        }
    }
    for q in st.queue.iter_mut().filter(|q| !q.persisted) {
        q.persisted = true;
        store.send(Op::Message {
            client_id: id.clone(),
            q: q.clone(),
            packet_id: None,
            rel_sent: false,
        });
    }
}

/// Ends an offline session whose expiry passed (checked again under the locks, as a
/// connection may have come back). Returns whether it ended.
pub(crate) fn expire<H: Hooks>(inner: &Inner<H>, session: &Arc<Session>) -> bool {
    let id = &session.client_id;
    // The map lock keeps new connections for this id out until the tree is clean.
    let mut map = write(&inner.sessions);
    if !map.get(id).is_some_and(|s| Arc::ptr_eq(s, session)) {
        return false;
    }
    let subs: Vec<String> = {
        let mut st = session.lock();
        let due = st.expires_at().is_some_and(|at| at <= now_ms());
        if st.link.is_some() || !due {
            return false;
        }
        // Expiry 0 makes late routing treat it as gone.
        st.expiry = 0;
        st.clear_queue();
        st.inflight.clear();
        st.inbound_qos2.clear();
        st.subs.drain().map(|(f, _)| f).collect()
    };
    {
        let mut tree = write(&inner.tree);
        for f in &subs {
            tree.remove(f, id);
        }
    }
    map.remove(id);
    if let Some(store) = &inner.store {
        store.send(Op::DropSession(id.clone()));
    }
    tracing::debug!(client_id = %id, "mqtt session expired");
    true
}

/// Adds or replaces a subscription; returns whether it is new.
pub(crate) fn subscribe<H: Hooks>(
    inner: &Inner<H>,
    session: &Arc<Session>,
    filter: &str,
    sub: Sub,
) -> bool {
    let id = &session.client_id;
    let replaced = write(&inner.tree).insert(filter, id, session.clone(), sub);
    let persistent = {
        let mut st = session.lock();
        st.subs.insert(filter.to_owned(), sub);
        st.persistent()
    };
    if persistent && let Some(store) = &inner.store {
        store.send(Op::Subscribe {
            client_id: id.clone(),
            filter: filter.to_owned(),
            sub,
        });
    }
    !replaced
}

/// Removes a subscription; returns whether it existed.
pub(crate) fn unsubscribe<H: Hooks>(
    inner: &Inner<H>,
    session: &Arc<Session>,
    filter: &str,
) -> bool {
    let id = &session.client_id;
    let existed = write(&inner.tree).remove(filter, id);
    let persistent = {
        let mut st = session.lock();
        st.subs.remove(filter);
        st.persistent()
    };
    if existed
        && persistent
        && let Some(store) = &inner.store
    {
        store.send(Op::Unsubscribe {
            client_id: id.clone(),
            filter: filter.to_owned(),
        });
    }
    existed
}
