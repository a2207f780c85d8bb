//! Embedded MQTT 3.1.1 / 5 broker.
//!
//! Generic: it knows MQTT, not the platform. The platform plugs in through [`Hooks`]
//! (authentication, authorisation, consuming publishes before they are acknowledged) and
//! reaches clients through [`Broker::deliver`] (one client) and [`Broker::publish`] (the
//! topic tree).
//!
//! Shape: one task per connection (`conn`) owns the socket, runs the client's publishes
//! through the hooks concurrently and acknowledges them in arrival order, and drains its
//! session's queue into the socket. Routing (`route`) puts messages into session queues and
//! rings the connection's doorbell; a publish the platform consumes never touches shared
//! state. Persistent sessions and retained messages are written to SQLite by one writer
//! thread (`store`); a janitor task (`janitor`) expires sessions and publishes delayed wills.
//!
//! Durability (with a `state_dir`): retained messages and messages routed to an offline
//! persistent session are committed before the publisher's PUBACK/PUBREC; subscriptions of
//! persistent sessions as they change; a session's queued and unacknowledged messages when
//! its connection ends (so also at [`Broker::shutdown`]). A crash loses what was queued for
//! connected clients, pending wills and inbound QoS 2 ids. Commits survive a process crash,
//! not a power failure (SQLite WAL, `synchronous = NORMAL`).
//!
//! Not offered: shared subscriptions (`$share/...` fails in SUBACK), enhanced
//! authentication (AUTH), outbound topic aliases, queueing QoS 0 for offline clients.
//!
//! Lock order: sessions map, then subscription tree or retained store, then one session's
//! state; no lock is held across an await.

mod config;
mod conn;
mod connect;
mod error;
mod hooks;
mod janitor;
mod limiter;
mod message;
mod metrics;
mod registry;
mod retained;
mod route;
mod session;
mod store;
mod sync;
mod tree;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use config::BrokerConfig;
pub use error::{DeliverError, Error};
pub use hooks::{ConnectInfo, DisconnectCause, Hooks, PublishOutcome};

use crate::codec::QoS;
use crate::codec::topic::valid_topic_name;
use janitor::Timers;
use limiter::AuthLimiter;
use message::{Message, now_ms};
use metrics::Metrics;
use retained::Retained;
use session::{Kick, Session};
use store::Store;
use sync::{lock, read};
use tree::SubTree;

/// How long [`Broker::shutdown`] waits for connections to finish.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// Result of a successful [`Broker::deliver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Queued to the client's live connection (sent as soon as its window allows).
    Sent,
    /// The client is offline; the message is stored in its persistent session.
    Queued,
}

/// The embedded broker. Cheap to clone; all clones share one broker.
pub struct Broker<H: Hooks> {
    inner: Arc<Inner<H>>,
}

impl<H: Hooks> Clone for Broker<H> {
    fn clone(&self) -> Self {
        Broker {
            inner: self.inner.clone(),
        }
    }
}

impl<H: Hooks> std::fmt::Debug for Broker<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

/// Shared broker state.
pub(crate) struct Inner<H: Hooks> {
    pub(crate) config: BrokerConfig,
    pub(crate) hooks: Arc<H>,
    /// Every session: connected ones and offline persistent ones.
    pub(crate) sessions: RwLock<HashMap<Arc<str>, Arc<Session>>>,
    pub(crate) tree: RwLock<SubTree<Arc<Session>>>,
    pub(crate) retained: RwLock<Retained>,
    pub(crate) store: Option<Store>,
    pub(crate) limiter: Mutex<AuthLimiter>,
    pub(crate) metrics: Metrics,
    /// Wills waiting for their delay, by client id.
    pub(crate) wills: Mutex<HashMap<Arc<str>, janitor::PendingWill<H::Client>>>,
    pub(crate) timers: Timers,
    pub(crate) shutdown: watch::Sender<bool>,
    /// Connection tasks inside `handle_connection`, and a signal when it drops to zero.
    pub(crate) live: AtomicUsize,
    pub(crate) idle: Notify,
    pub(crate) connected: AtomicUsize,
    /// Next message id (row id of stored messages).
    pub(crate) next_msg_id: AtomicU64,
    /// Suffix for assigned client identifiers.
    pub(crate) next_client: AtomicU64,
    janitor_started: AtomicBool,
}

impl<H: Hooks> Inner<H> {
    pub(crate) fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub(crate) fn msg_id(&self) -> u64 {
        self.next_msg_id.fetch_add(1, Ordering::Relaxed)
    }
}

impl<H: Hooks> Broker<H> {
    /// Creates the broker, loading persistent sessions and retained messages from
    /// `config.state_dir`. Blocks on SQLite; call it at startup (or on the blocking pool).
    /// Install the metrics recorder before, so the broker's metrics are recorded.
    pub fn open(config: BrokerConfig, hooks: Arc<H>) -> Result<Self, Error> {
        config.validate()?;
        let (store, loaded) = match &config.state_dir {
            Some(dir) => {
                let (s, l) = Store::open(dir, now_ms())?;
                (Some(s), l)
            }
            None => (None, store::Loaded::default()),
        };
        let limiter = AuthLimiter::new(config.auth_failures.0, config.auth_failures.1);
        let inner = Arc::new(Inner {
            hooks,
            sessions: RwLock::new(HashMap::new()),
            tree: RwLock::new(SubTree::default()),
            retained: RwLock::new(Retained::default()),
            store,
            limiter: Mutex::new(limiter),
            metrics: Metrics::new(),
            wills: Mutex::new(HashMap::new()),
            timers: Timers::new(),
            shutdown: watch::channel(false).0,
            live: AtomicUsize::new(0),
            idle: Notify::new(),
            connected: AtomicUsize::new(0),
            next_msg_id: AtomicU64::new(loaded.next_id.max(1)),
            next_client: AtomicU64::new(0),
            janitor_started: AtomicBool::new(false),
            config,
        });
        let (sessions, subscriptions, retained) = registry::restore(&inner, loaded);
        tracing::info!(
            sessions,
            subscriptions,
            retained,
            "mqtt broker state loaded"
        );
        Ok(Broker { inner })
    }

    /// Accepts connections until [`Broker::shutdown`], one task per connection.
    pub async fn serve(&self, listener: TcpListener) {
        self.start_janitor();
        let mut stop = self.inner.shutdown.subscribe();
        loop {
            let accepted = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                a = listener.accept() => a,
            };
            match accepted {
                Ok((stream, peer)) => {
                    // Acks are batched per loop turn; Nagle would only add latency.
                    let _ = stream.set_nodelay(true);
                    let broker = self.clone();
                    tokio::spawn(async move { broker.handle_connection(stream, peer, None).await });
                }
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "mqtt accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Runs one client connection to its end (for streams the caller accepted itself, e.g.
    /// after TLS). `tls_identity` is passed to [`Hooks::authenticate`] in [`ConnectInfo`].
    pub async fn handle_connection<S>(
        &self,
        stream: S,
        peer: SocketAddr,
        tls_identity: Option<String>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.start_janitor();
        let _live = LiveGuard::new(&self.inner);
        connect::run(&self.inner, stream, peer, tls_identity).await;
    }

    /// Sends a message to one client, whatever other clients subscribed (every ThingsBoard
    /// device uses the same `v1/devices/me/...` topics, so the topic tree cannot address
    /// one). The client must have a subscription matching `topic`; the QoS is capped by
    /// it. An offline persistent session stores QoS 1/2 messages (`Ok(Queued)`, returned
    /// once stored); otherwise an offline client is `Err(Offline)`.
    pub async fn deliver(
        &self,
        client_id: &str,
        topic: &str,
        payload: Bytes,
        qos: QoS,
        retain: bool,
    ) -> Result<Delivered, DeliverError> {
        if !valid_topic_name(topic) {
            return Err(DeliverError::InvalidTopic(topic.to_owned()));
        }
        let msg = Message {
            topic: topic.to_owned(),
            payload,
            qos,
            retain,
            props: None,
            expires_at: None,
            origin: None,
        };
        route::deliver(&self.inner, client_id, Arc::new(msg)).await
    }

    /// Publishes a message from the platform through the topic tree (subscribers and the
    /// retained store), e.g. Sparkplug NCMD or STATE. Returns once messages for offline
    /// persistent sessions and the retained message are stored.
    pub async fn publish(
        &self,
        topic: &str,
        payload: Bytes,
        qos: QoS,
        retain: bool,
    ) -> Result<(), Error> {
        if !valid_topic_name(topic) {
            return Err(Error::InvalidTopic(topic.to_owned()));
        }
        if self.inner.shutting_down() {
            return Err(Error::ShuttingDown);
        }
        let msg = Message {
            topic: topic.to_owned(),
            payload,
            qos,
            retain,
            props: None,
            expires_at: None,
            origin: None,
        };
        if let Some(wait) = route::route(&self.inner, Arc::new(msg))
            && !wait.await.unwrap_or(false)
        {
            return Err(Error::StoreClosed);
        }
        Ok(())
    }

    /// Whether `client_id` has a live connection.
    pub fn is_connected(&self, client_id: &str) -> bool {
        let sessions = read(&self.inner.sessions);
        sessions
            .get(client_id)
            .is_some_and(|s| s.lock().link.is_some())
    }

    /// The topic filters of `client_id`'s session with their granted QoS, sorted; `None` if
    /// it has no session. For diagnostics (and tests that must wait for a subscription).
    pub fn subscriptions(&self, client_id: &str) -> Option<Vec<(String, QoS)>> {
        let session = read(&self.inner.sessions).get(client_id).cloned()?;
        let st = session.lock();
        let mut subs: Vec<(String, QoS)> = st
            .subs
            .iter()
            .map(|(f, s)| (f.clone(), s.opts.qos))
            .collect();
        subs.sort();
        Some(subs)
    }

    /// Connected clients (CONNACK sent, not yet disconnected).
    pub fn connections(&self) -> usize {
        self.inner.connected.load(Ordering::Relaxed)
    }

    /// Stops accepting, disconnects every client (MQTT 5: DISCONNECT 0x8B), waits up to
    /// 10 s for their connections to finish, and closes the state store with everything
    /// persisted. Publishing and new connections are refused afterwards.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.shutdown.send_replace(true);
        let sessions: Vec<Arc<Session>> = read(&inner.sessions).values().cloned().collect();
        for s in sessions {
            let attached = {
                let mut st = s.lock();
                if st.link.is_some() {
                    st.kick = Some(Kick::Shutdown);
                }
                st.link.is_some()
            };
            if attached {
                s.bell.notify_one();
            }
        }
        let deadline = tokio::time::Instant::now() + SHUTDOWN_WAIT;
        loop {
            let idle = inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if inner.live.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                tracing::warn!(
                    connections = inner.live.load(Ordering::SeqCst),
                    "mqtt connections still open at shutdown"
                );
                break;
            }
        }
        if let Some(store) = &inner.store {
            store.close().await;
        }
        lock(&inner.wills).clear();
    }

    fn start_janitor(&self) {
        if !self.inner.janitor_started.swap(true, Ordering::SeqCst) {
            janitor::start(self.inner.clone());
        }
    }
}

/// Counts a connection task for [`Broker::shutdown`].
struct LiveGuard<'a, H: Hooks>(&'a Inner<H>);

impl<'a, H: Hooks> LiveGuard<'a, H> {
    fn new(inner: &'a Inner<H>) -> Self {
        inner.live.fetch_add(1, Ordering::SeqCst);
        LiveGuard(inner)
    }
}

impl<H: Hooks> Drop for LiveGuard<'_, H> {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}
