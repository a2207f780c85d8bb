//! Routing: from a published message to the queues of matching sessions, the retained store
//! and (for messages kept by offline persistent sessions) the state store.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::error::DeliverError;
use super::message::{Message, Queued, now_ms};
use super::session::{Offer, Session};
use super::store::Op;
use super::sync::{read, write};
use super::tree::Sub;
use super::{Delivered, Hooks, Inner, PublishOutcome};
use crate::codec::topic::topic_matches;
use crate::codec::{Publish, QoS, RetainHandling, Will};

/// Routes `msg` to every matching subscription (one copy per session, MQTT 5 options
/// applied) and updates the retained store. Returns a wait that completes once whatever had
/// to be stored is committed, if anything had to be.
pub(crate) fn route<H: Hooks>(
    inner: &Inner<H>,
    msg: Arc<Message>,
) -> Option<oneshot::Receiver<bool>> {
    let mut stored = msg.retain && set_retained(inner, &msg);
    let mut matches: Vec<(Arc<Session>, Sub)> = Vec::new();
    read(&inner.tree).matches(&msg.topic, &mut matches);
    if matches.len() > 1 {
        // Groups a session's overlapping subscriptions so it gets one copy (spec 3.3.4).
        matches.sort_unstable_by_key(|(s, _)| Arc::as_ptr(s) as usize);
    }
    let mut i = 0;
    while let Some((session, _)) = matches.get(i) {
        let mut granted: Option<QoS> = None;
        let mut retain_as_published = false;
        let mut sub_ids = Vec::new();
        let mut j = i;
        while let Some((s, sub)) = matches.get(j) {
            if !Arc::ptr_eq(s, session) {
                break;
            }
            j += 1;
            let own = msg.origin.as_deref() == Some(&*session.client_id);
            if sub.opts.no_local && own {
                continue;
            }
            granted = Some(granted.map_or(sub.opts.qos, |g| g.max(sub.opts.qos)));
            retain_as_published |= sub.opts.retain_as_published;
            sub_ids.extend(sub.id);
        }
        if let Some(granted) = granted {
            let q = Queued {
                msg: msg.clone(),
                qos: msg.qos.min(granted),
                // Spec 3.3.1.3: cleared on forwarding unless retain-as-published.
                retain: retain_as_published && msg.retain,
                sub_ids,
                id: inner.msg_id(),
                persisted: false,
            };
            stored |= offer(inner, session, q);
        }
        i = j;
    }
    match (stored, &inner.store) {
        (true, Some(store)) => Some(store.sync_handle()),
        _ => None,
    }
}

/// Queues `q` in `session`; returns whether a store write was sent.
fn offer<H: Hooks>(inner: &Inner<H>, session: &Session, q: Queued) -> bool {
    let result = session.lock().offer(q, inner.config.max_queued);
    match result {
        Offer::Online => {
            session.bell.notify_one();
            false
        }
        Offer::Stored(copy) => match &inner.store {
            Some(store) => {
                store.send(Op::Message {
                    client_id: session.client_id.clone(),
                    q: copy,
                    packet_id: None,
                    rel_sent: false,
                });
                true
            }
            None => false,
        },
        Offer::Dropped => {
            inner.metrics.dropped_queue_full.increment(1);
            false
        }
        Offer::Offline => false,
    }
}

/// Updates the retained store; returns whether a store write was sent.
fn set_retained<H: Hooks>(inner: &Inner<H>, msg: &Arc<Message>) -> bool {
    let changed = write(&inner.retained).set(msg.clone());
    let Some(store) = inner.store.as_ref().filter(|_| changed) else {
        return false;
    };
    if msg.payload.is_empty() {
        store.send(Op::Unretain(msg.topic.clone()));
    } else {
        store.send(Op::Retain(msg.clone()));
    }
    true
}

/// Queues the retained messages matching a new subscription (spec 3.3.1.3, retain
/// handling 3.8.3.1). They bypass the queue limit: the client asked for all of them.
pub(crate) fn queue_retained<H: Hooks>(
    inner: &Inner<H>,
    session: &Session,
    filter: &str,
    sub: Sub,
    is_new: bool,
) {
    match sub.opts.retain_handling {
        RetainHandling::Never => return,
        RetainHandling::OnNewSubscribe if !is_new => return,
        _ => {}
    }
    let msgs = read(&inner.retained).matching(filter, now_ms());
    if msgs.is_empty() {
        return;
    }
    let mut st = session.lock();
    for msg in msgs {
        st.push(Queued {
            qos: msg.qos.min(sub.opts.qos),
            retain: true,
            sub_ids: sub.id.into_iter().collect(),
            id: inner.msg_id(),
            persisted: false,
            msg,
        });
    }
}

/// [`Broker::deliver`](super::Broker::deliver).
pub(crate) async fn deliver<H: Hooks>(
    inner: &Inner<H>,
    client_id: &str,
    msg: Arc<Message>,
) -> Result<Delivered, DeliverError> {
    let offline = || DeliverError::Offline(client_id.to_owned());
    let session = read(&inner.sessions)
        .get(client_id)
        .cloned()
        .ok_or_else(offline)?;
    let result = {
        let mut st = session.lock();
        let mut granted: Option<QoS> = None;
        let mut sub_ids = Vec::new();
        for (filter, sub) in &st.subs {
            if topic_matches(filter, &msg.topic) {
                granted = Some(granted.map_or(sub.opts.qos, |g| g.max(sub.opts.qos)));
                sub_ids.extend(sub.id);
            }
        }
        let Some(granted) = granted else {
            return Err(DeliverError::NotSubscribed {
                client_id: client_id.to_owned(),
                topic: msg.topic.clone(),
            });
        };
        let q = Queued {
            qos: msg.qos.min(granted),
            retain: msg.retain,
            sub_ids,
            id: inner.msg_id(),
            persisted: false,
            msg,
        };
        st.offer(q, inner.config.max_queued)
    };
    match result {
        Offer::Online => {
            session.bell.notify_one();
            Ok(Delivered::Sent)
        }
        Offer::Stored(copy) => {
            if let Some(store) = &inner.store {
                store.send(Op::Message {
                    client_id: session.client_id.clone(),
                    q: copy,
                    packet_id: None,
                    rel_sent: false,
                });
                if !store.sync().await {
                    return Err(DeliverError::Broker(super::Error::StoreClosed));
                }
            }
            Ok(Delivered::Queued)
        }
        Offer::Dropped => {
            inner.metrics.dropped_queue_full.increment(1);
            Err(DeliverError::QueueFull(client_id.to_owned()))
        }
        Offer::Offline => Err(offline()),
    }
}

/// Publishes a client's will like a PUBLISH from it: authorised, given to the platform, and
/// routed if the platform says so. The [`Publish`] handed to the hooks has no packet id.
pub(crate) async fn publish_will<H: Hooks>(
    inner: &Inner<H>,
    client: &H::Client,
    client_id: &Arc<str>,
    will: Will,
) {
    if will.topic.starts_with('$') || !inner.hooks.authorize_publish(client, &will.topic) {
        tracing::info!(client_id = %client_id, topic = %will.topic, "mqtt will not authorized");
        return;
    }
    let mut properties = will.properties;
    properties.will_delay_interval = None;
    let publish = Publish {
        dup: false,
        qos: will.qos,
        retain: will.retain,
        topic: will.topic,
        packet_id: None,
        properties,
        payload: will.payload,
    };
    inner.metrics.messages_in.increment(1);
    match inner
        .hooks
        .on_publish(client, &publish.topic, &publish)
        .await
    {
        PublishOutcome::Route => {
            let msg = Message::from_publish(&publish, &publish.topic, Some(client_id.clone()));
            if let Some(wait) = route(inner, Arc::new(msg)) {
                let _ = wait.await;
            }
        }
        PublishOutcome::Consumed => {}
        PublishOutcome::Rejected(code, reason) => {
            tracing::info!(client_id = %client_id, ?code, reason, "mqtt will rejected");
        }
    }
    tracing::debug!(client_id = %client_id, "mqtt will published");
}
