//! What the broker asks of the platform that embeds it.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::codec::{Protocol, Publish, ReasonCode};

/// What a client presented in CONNECT, plus where it came from. `Debug` leaves the password
/// out, so logging it cannot leak a device token.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectInfo {
    /// As sent, or the identifier the broker assigned when the client sent an empty one.
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<Bytes>,
    pub peer: SocketAddr,
    /// Identity (e.g. certificate CN) of a verified TLS client certificate, as given to
    /// [`Broker::handle_connection`](super::Broker::handle_connection).
    pub tls_identity: Option<String>,
    pub protocol: Protocol,
    /// "Clean session" in 3.1.1.
    pub clean_start: bool,
    /// Seconds; 0 = no keep-alive.
    pub keep_alive: u16,
}

impl std::fmt::Debug for ConnectInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectInfo")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("peer", &self.peer)
            .field("tls_identity", &self.tls_identity)
            .field("protocol", &self.protocol)
            .field("clean_start", &self.clean_start)
            .field("keep_alive", &self.keep_alive)
            .finish()
    }
}

/// What the platform did with a client's PUBLISH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// The platform consumed it: acknowledge, do not route to subscribers.
    Consumed,
    /// Route it to subscribers (and the retained store) like a plain broker.
    Route,
    /// Refused: MQTT 5 clients get this reason (and string) in PUBACK/PUBREC; 3.1.1 clients
    /// still get a plain acknowledgement. Not routed; the connection stays open.
    Rejected(ReasonCode, String),
}

/// Why a connected client's session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectCause {
    /// The client sent DISCONNECT (any reason code; with MQTT 5 0x04 its will is published).
    Normal,
    /// Nothing arrived for 1.5 times the keep-alive interval.
    KeepAliveTimeout,
    /// The client broke the protocol (malformed packet, packet too large, receive maximum
    /// exceeded, ...); the text says how.
    ProtocolError(String),
    /// Another connection with the same client id took the session over.
    SessionTakenOver,
    /// [`Broker::shutdown`](super::Broker::shutdown).
    ServerShutdown,
    /// The connection failed or was closed without DISCONNECT.
    Io(String),
}

/// The platform side of the broker: authentication, authorisation and consumption of
/// publishes. One value serves all connections.
#[async_trait::async_trait]
pub trait Hooks: Send + Sync + 'static {
    /// Whatever the platform keeps per authenticated connection (e.g. the device).
    type Client: Send + Sync + 'static;

    /// Accepts or refuses a CONNECT. `Err` becomes the CONNACK reason (mapped to the nearest
    /// 3.1.1 return code); `BadUserNameOrPassword` and `NotAuthorized` count as failed logins
    /// for the per-IP limit.
    async fn authenticate(&self, info: &ConnectInfo) -> Result<Self::Client, ReasonCode>;

    /// Whether the client may publish to `topic` (its will included). `false`: MQTT 5 gets
    /// PUBACK/PUBREC 0x87, 3.1.1 an ordinary acknowledgement; the message is dropped.
    /// `$`-prefixed topics are refused before this is asked.
    fn authorize_publish(&self, client: &Self::Client, topic: &str) -> bool;

    /// Whether the client may subscribe to `filter`. `false` fails that filter in SUBACK
    /// (MQTT 5 0x87, 3.1.1 0x80).
    fn authorize_subscribe(&self, client: &Self::Client, filter: &str) -> bool;

    /// Called once per accepted PUBLISH (QoS 2: once per packet id, not per retransmission),
    /// QoS 0 included, and for the will. Awaited BEFORE the PUBACK/PUBREC is sent, so the
    /// platform can make data durable here. Up to `receive_maximum` calls of one connection
    /// run concurrently; acknowledgements still go out in arrival order. `topic` is the
    /// resolved topic (MQTT 5 topic aliases already applied).
    async fn on_publish(
        &self,
        client: &Self::Client,
        topic: &str,
        publish: &Publish,
    ) -> PublishOutcome;

    /// After CONNACK was sent.
    async fn on_connected(&self, client: &Self::Client, info: &ConnectInfo);

    /// Exactly once per connection that got a successful CONNACK, after its will (if any)
    /// was published or scheduled, and before a connection taking its session over is
    /// acknowledged.
    async fn on_disconnected(&self, client: &Self::Client, cause: &DisconnectCause);
}
