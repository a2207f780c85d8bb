//! Async MQTT 3.1.1 / 5 client on the crate's own codec, for the MQTT bridge connector and the
//! plant simulator's devices.
//!
//! [`Client::connect`] opens the TCP connection, logs in and spawns one task that owns the
//! socket; [`Client`] is a cheap handle to it (clone it freely, publish from many tasks at
//! once) and the returned [`mpsc::Receiver`] yields the messages of the subscriptions.
//!
//! The task sends PINGREQ every keep-alive interval. A missing PINGRESP, EOF, an I/O error or
//! a protocol error ends the connection: pending calls then fail with [`Error::Disconnected`],
//! the message receiver closes and [`Client::is_connected`] turns false.
//! [`Client::close_reason`] says why.
//!
//! **No automatic reconnect**: a lost connection stays lost. The caller connects again (with
//! its own backoff) and subscribes again; with `clean_session = false` the server keeps the
//! subscriptions and queued QoS 1/2 messages meanwhile. Unacknowledged publishes are not
//! retransmitted on a new connection: their calls failed, and the caller decides.
//!
//! Inbound messages go through a bounded channel; when it is full the task stops reading the
//! socket (back-pressure reaches the server) rather than dropping messages. QoS 1/2 messages
//! are acknowledged only once they are in the channel. If the receiver is dropped, messages
//! are acknowledged and discarded.
//!
//! Not offered: TLS, enhanced authentication (AUTH), topic aliases, user properties.

mod conn;
mod error;
mod handshake;
mod inbound;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

pub use error::{Error, Result};

use crate::codec::topic::{valid_topic_filter, valid_topic_name};
use crate::codec::{Protocol, QoS, SubscribeFilter, SubscriptionOptions};

/// Messages buffered between the connection task and the receiver.
const MESSAGE_CHANNEL: usize = 1024;
/// Requests queued towards the connection task before callers wait.
const COMMAND_CHANNEL: usize = 256;
/// QoS 1/2 publishes in flight at once, unless the server's Receive Maximum is lower. Keeps
/// most packet identifiers free for subscribes.
const MAX_INFLIGHT: u16 = 1024;

/// Last will, published by the server if the connection ends without DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
}

/// How to connect. [`ClientOptions::new`] gives the defaults.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// `host:port`; IPv6 as `[::1]:1883`. Host names are resolved.
    pub addr: String,
    pub client_id: String,
    /// Kaiwu devices send their access token here.
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    /// Seconds between PINGREQs (an MQTT 5 Server Keep Alive overrides it); 0 turns pings off.
    /// Default 30.
    pub keep_alive_secs: u16,
    /// MQTT 5 maps `false` to Clean Start 0 with a session that never expires, as 3.1.1 does.
    /// Default `true`.
    pub clean_session: bool,
    /// Default 3.1.1.
    pub protocol: Protocol,
    /// Bound on TCP connect plus CONNECT/CONNACK. Default 10 s.
    pub connect_timeout: Duration,
    /// Largest packet accepted from the server (fixed header included); a larger one ends the
    /// connection. Announced to MQTT 5 servers. Default 1 MiB.
    pub max_packet_size: usize,
    pub will: Option<Will>,
}

impl ClientOptions {
    pub fn new(addr: impl Into<String>, client_id: impl Into<String>) -> Self {
        ClientOptions {
            addr: addr.into(),
            client_id: client_id.into(),
            username: None,
            password: None,
            keep_alive_secs: 30,
            clean_session: true,
            protocol: Protocol::V311,
            connect_timeout: Duration::from_secs(10),
            max_packet_size: 1 << 20,
            will: None,
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    // The password stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("addr", &self.addr)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("keep_alive_secs", &self.keep_alive_secs)
            .field("clean_session", &self.clean_session)
            .field("protocol", &self.protocol)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_packet_size", &self.max_packet_size)
            .field("will", &self.will)
            .finish()
    }
}

/// A message received on a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
}

/// What the handles and the connection task share.
#[derive(Debug, Default)]
pub(crate) struct Status {
    connected: AtomicBool,
    close_reason: Mutex<Option<String>>,
}

impl Status {
    fn closed(&self, reason: Option<String>) {
        *self
            .close_reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = reason;
        self.connected.store(false, Ordering::SeqCst);
    }
}

/// A request from a handle to the connection task.
pub(crate) enum Command {
    Publish {
        message: Message,
        /// Held until the publish completes: the in-flight quota.
        permit: Option<OwnedSemaphorePermit>,
        done: oneshot::Sender<Result<()>>,
    },
    Subscribe {
        filters: Vec<SubscribeFilter>,
        done: oneshot::Sender<Result<Vec<u8>>>,
    },
    Unsubscribe {
        filters: Vec<String>,
        done: oneshot::Sender<Result<()>>,
    },
    Disconnect {
        done: oneshot::Sender<Result<()>>,
    },
}

/// Handle to one MQTT connection. Cheap to clone; the connection ends with
/// [`Client::disconnect`], when it is lost, or (cleanly) when every handle is dropped.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    status: Arc<Status>,
    /// Permits for QoS 1/2 publishes in flight; closed when the connection ends.
    quota: Arc<Semaphore>,
    session_present: bool,
}

impl Client {
    /// Connects and logs in. Returns the handle and the receiver of subscribed messages.
    /// A refusal is [`Error::Refused`] with the server's CONNACK code.
    pub async fn connect(opts: ClientOptions) -> Result<(Client, mpsc::Receiver<Message>)> {
        let est = handshake::establish(&opts).await?;
        let status = Arc::new(Status::default());
        status.connected.store(true, Ordering::SeqCst);
        let quota = Arc::new(Semaphore::new(usize::from(est.inflight())));
        let session_present = est.connack.session_present;
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_CHANNEL);
        let (msg_tx, msg_rx) = mpsc::channel(MESSAGE_CHANNEL);
        let (conn, stream) = conn::Conn::new(&opts, est, status.clone(), quota.clone(), msg_tx);
        tokio::spawn(conn.run(stream, cmd_rx));
        let client = Client {
            commands: cmd_tx,
            status,
            quota,
            session_present,
        };
        Ok((client, msg_rx))
    }

    /// Publishes a message. QoS 0 returns once written to the socket, QoS 1 once PUBACKed,
    /// QoS 2 once PUBCOMPed. An MQTT 5 failure code in PUBACK/PUBREC is [`Error::Rejected`].
    /// QoS 1/2 publishes beyond the in-flight limit (the server's Receive Maximum, at most
    /// 1024) wait for a slot.
    pub async fn publish(
        &self,
        topic: &str,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Result<()> {
        if !valid_topic_name(topic) {
            return Err(Error::InvalidTopic(topic.to_owned()));
        }
        let permit = match qos {
            QoS::AtMostOnce => None,
            _ => Some(
                self.quota
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| Error::Disconnected)?,
            ),
        };
        let message = Message {
            topic: topic.to_owned(),
            payload: payload.into(),
            qos,
            retain,
        };
        self.call(|done| Command::Publish {
            message,
            permit,
            done,
        })
        .await
    }

    /// Subscribes to topic filters, each with the maximum QoS wanted. Returns the SUBACK code
    /// per filter, in order: the granted QoS (0..=2) or a failure code (0x80 and above).
    pub async fn subscribe(&self, filters: &[(&str, QoS)]) -> Result<Vec<u8>> {
        if filters.is_empty() {
            return Err(Error::InvalidArgument("subscribe without topic filters"));
        }
        let mut list = Vec::with_capacity(filters.len());
        for &(filter, qos) in filters {
            if !valid_topic_filter(filter) {
                return Err(Error::InvalidFilter(filter.to_owned()));
            }
            list.push(SubscribeFilter {
                filter: filter.to_owned(),
                options: SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                },
            });
        }
        self.call(|done| Command::Subscribe {
            filters: list,
            done,
        })
        .await
    }

    /// Removes subscriptions. An MQTT 5 failure code for any filter is [`Error::Rejected`].
    pub async fn unsubscribe(&self, filters: &[&str]) -> Result<()> {
        if filters.is_empty() {
            return Err(Error::InvalidArgument("unsubscribe without topic filters"));
        }
        if let Some(bad) = filters.iter().find(|f| !valid_topic_filter(f)) {
            return Err(Error::InvalidFilter((*bad).to_owned()));
        }
        let filters = filters.iter().map(|f| (*f).to_owned()).collect();
        self.call(|done| Command::Unsubscribe { filters, done })
            .await
    }

    /// Sends DISCONNECT (normal: the server discards the will) and closes the connection once
    /// it is written. Calls still waiting for an acknowledgement fail with
    /// [`Error::Disconnected`]. Fails with that too if the connection was already closed.
    pub async fn disconnect(&self) -> Result<()> {
        self.call(|done| Command::Disconnect { done }).await
    }

    /// Whether the connection is still up (false once lost or disconnected).
    pub fn is_connected(&self) -> bool {
        self.status.connected.load(Ordering::SeqCst)
    }

    /// Whether the server resumed a session (CONNACK "session present").
    pub fn session_present(&self) -> bool {
        self.session_present
    }

    /// Why the connection was lost, once it was; `None` while connected and after a clean
    /// [`Client::disconnect`].
    pub fn close_reason(&self) -> Option<String> {
        self.status
            .close_reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn call<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T>>) -> Command,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(command(tx))
            .await
            .map_err(|_| Error::Disconnected)?;
        // A dropped sender means the connection task ended before answering.
        rx.await.map_err(|_| Error::Disconnected)?
    }
}
