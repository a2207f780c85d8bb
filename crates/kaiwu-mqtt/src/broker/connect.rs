//! A connection's life: CONNECT, authentication, session attach, CONNACK, the connection
//! loop, then will, detach and hooks in that order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::conn::{Conn, READ_CHUNK, Setup, TOPIC_ALIAS_MAX};
use super::janitor::{PendingWill, TimerKind};
use super::message::now_ms;
use super::registry::{self, Attached};
use super::sync::lock;
use super::{ConnectInfo, DisconnectCause, Hooks, Inner, route};
use crate::codec::{
    self, ConnAck, Connect, DecodeError, Packet, Properties, Protocol, ReasonCode, Will,
};

/// Longest wait for a refusal CONNACK to be written.
const REFUSAL_WRITE_WAIT: Duration = Duration::from_secs(2);

enum ReadError {
    Decode(DecodeError),
    Io(std::io::Error),
}

pub(crate) async fn run<H: Hooks, S>(
    inner: &Inner<H>,
    mut stream: S,
    peer: SocketAddr,
    tls_identity: Option<String>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let Some(connect) = first_packet(inner, &mut stream, &mut rbuf, peer).await else {
        return;
    };
    let Some((client, info, attached)) =
        accept(inner, &mut stream, peer, tls_identity, &connect).await
    else {
        return;
    };
    let expiry = attached_expiry(inner, &connect);
    let connack = connack(inner, &connect, &info, &attached);
    let Attached {
        session,
        epoch,
        inflight,
        inbound_qos2,
        ..
    } = attached;
    let mut out = BytesMut::new();
    let written = match connack.encode(connect.protocol, &mut out) {
        Ok(()) => write_out(&mut stream, &out).await,
        Err(e) => Err(std::io::Error::other(e)),
    };
    if let Err(e) = written {
        tracing::debug!(client_id = %info.client_id, %peer, error = %e, "mqtt CONNACK not delivered");
        registry::detach(inner, &session, epoch, inflight, inbound_qos2, expiry);
        return;
    }
    inner.metrics.connections.increment(1.0);
    inner.connected.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(client_id = %info.client_id, %peer, protocol = ?connect.protocol, "mqtt client connected");
    inner.hooks.on_connected(&client, &info).await;

    let setup = Setup {
        protocol: connect.protocol,
        keep_alive: connect.keep_alive,
        receive_maximum: connect.properties.receive_maximum,
        maximum_packet_size: connect.properties.maximum_packet_size,
        problem_info: connect.properties.request_problem_information != Some(false),
        expiry,
        inflight,
        inbound_qos2,
    };
    let mut conn = Conn::new(inner, &client, &session, peer, stream, rbuf, setup);
    let close = conn.run().await;
    match &close.cause {
        DisconnectCause::ProtocolError(e) => {
            tracing::warn!(client_id = %info.client_id, %peer, error = %e, "mqtt protocol error");
        }
        cause => {
            tracing::debug!(client_id = %info.client_id, %peer, ?cause, "mqtt client disconnected")
        }
    }
    conn.close(&close).await;
    let (inflight, inbound_qos2, expiry) = conn.into_parts();
    if close.will
        && let Some(will) = connect.will.clone()
    {
        handle_will(inner, &client, &session.client_id, will, expiry).await;
    }
    let released = registry::detach(inner, &session, epoch, inflight, inbound_qos2, expiry);
    inner.metrics.connections.decrement(1.0);
    inner.connected.fetch_sub(1, Ordering::Relaxed);
    inner.hooks.on_disconnected(&client, &close.cause).await;
    if let Some(released) = released {
        released.notify_waiters();
    }
}

/// Waits for the CONNECT; `None` (after logging, and answering an unsupported protocol
/// level) if it does not come or is not acceptable.
async fn first_packet<H: Hooks, S>(
    inner: &Inner<H>,
    stream: &mut S,
    rbuf: &mut BytesMut,
    peer: SocketAddr,
) -> Option<Box<Connect>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let read = read_connect(stream, rbuf, inner.config.max_packet_size);
    match tokio::time::timeout(inner.config.connect_timeout, read).await {
        Ok(Ok(connect)) => connect,
        Err(_) => {
            tracing::debug!(%peer, "mqtt client sent no CONNECT in time");
            None
        }
        Ok(Err(ReadError::Io(e))) => {
            tracing::debug!(%peer, error = %e, "mqtt connection failed before CONNECT");
            None
        }
        Ok(Err(ReadError::Decode(e))) => {
            tracing::info!(%peer, error = %e, "mqtt connection refused: bad CONNECT");
            // Spec 3.1.2.2: an unsupported level is answered with 3.1.1 return code 1.
            if let DecodeError::UnsupportedProtocolVersion { .. } = e {
                let code = ReasonCode::UnsupportedProtocolVersion;
                refuse(stream, Protocol::V311, code).await;
            }
            None
        }
    }
}

/// Publishes the will now, or schedules it after its MQTT 5 delay (which cannot outlast the
/// session, spec 3.1.3.2.2).
async fn handle_will<H: Hooks>(
    inner: &Inner<H>,
    client: &Arc<H::Client>,
    client_id: &Arc<str>,
    will: Will,
    expiry: u32,
) {
    let delay = will.properties.will_delay_interval.unwrap_or(0).min(expiry);
    if delay == 0 {
        route::publish_will(inner, client, client_id, will).await;
        return;
    }
    let token = inner.timers.token();
    let pending = PendingWill {
        will,
        client: client.clone(),
        token,
    };
    lock(&inner.wills).insert(client_id.clone(), pending);
    let at = now_ms().saturating_add(u64::from(delay) * 1000);
    let client_id = client_id.clone();
    inner
        .timers
        .schedule(at, TimerKind::Will { client_id, token });
}

/// Reads until a whole CONNECT is buffered; `None` if the peer closed first.
async fn read_connect<S: AsyncRead + Unpin>(
    stream: &mut S,
    rbuf: &mut BytesMut,
    max: usize,
) -> Result<Option<Box<Connect>>, ReadError> {
    loop {
        match codec::decode(rbuf, None, max).map_err(ReadError::Decode)? {
            Some(Packet::Connect(c)) => return Ok(Some(c)),
            // The decoder only yields CONNECT before a protocol is set.
            Some(_) => return Ok(None),
            None => {}
        }
        if rbuf.capacity() - rbuf.len() < 256 {
            rbuf.reserve(READ_CHUNK.max(rbuf.len()));
        }
        if stream.read_buf(rbuf).await.map_err(ReadError::Io)? == 0 {
            return Ok(None);
        }
    }
}

/// Checks, authenticates and attaches; on refusal sends the CONNACK and returns `None`.
async fn accept<H: Hooks, S: AsyncRead + AsyncWrite + Unpin>(
    inner: &Inner<H>,
    stream: &mut S,
    peer: SocketAddr,
    tls_identity: Option<String>,
    connect: &Connect,
) -> Option<(Arc<H::Client>, ConnectInfo, Attached)> {
    let protocol = connect.protocol;
    let v5 = protocol == Protocol::V5;
    let refusal = if inner.shutting_down() {
        Some(ReasonCode::ServerUnavailable)
    } else if lock(&inner.limiter).blocked(peer.ip(), Instant::now()) {
        inner.metrics.refused.increment(1);
        Some(ReasonCode::ConnectionRateExceeded)
    } else if v5 && connect.properties.authentication_method.is_some() {
        // Enhanced authentication (AUTH exchanges) is not offered.
        Some(ReasonCode::BadAuthenticationMethod)
    } else if connect.client_id.is_empty() && !v5 && !connect.clean_start {
        // Spec 3.1.3.1 (3.1.1): an empty id needs a clean session.
        Some(ReasonCode::ClientIdentifierNotValid)
    } else {
        None
    };
    if let Some(code) = refusal {
        tracing::info!(client_id = %connect.client_id, %peer, ?code, "mqtt connection refused");
        refuse(stream, protocol, code).await;
        return None;
    }
    let client_id = match connect.client_id.is_empty() {
        true => format!(
            "kw-{:x}-{}",
            now_ms(),
            inner.next_client.fetch_add(1, Ordering::Relaxed)
        ),
        false => connect.client_id.clone(),
    };
    let info = ConnectInfo {
        client_id,
        username: connect.username.clone(),
        password: connect.password.clone(),
        peer,
        tls_identity,
        protocol,
        clean_start: connect.clean_start,
        keep_alive: connect.keep_alive,
    };
    let client = match inner.hooks.authenticate(&info).await {
        Ok(c) => Arc::new(c),
        Err(code) => {
            if matches!(
                code,
                ReasonCode::BadUserNameOrPassword | ReasonCode::NotAuthorized
            ) {
                lock(&inner.limiter).failed(peer.ip(), Instant::now());
                inner.metrics.auth_failures.increment(1);
            }
            let code = if code.is_error() {
                code
            } else {
                ReasonCode::UnspecifiedError
            };
            tracing::info!(client_id = %info.client_id, %peer, ?code, "mqtt login refused");
            refuse(stream, protocol, code).await;
            return None;
        }
    };
    let id: Arc<str> = info.client_id.as_str().into();
    let expiry = attached_expiry(inner, connect);
    match registry::attach(inner, &id, connect.clean_start, expiry).await {
        Ok(attached) => Some((client, info, attached)),
        Err(code) => {
            refuse(stream, protocol, code).await;
            None
        }
    }
}

/// Session expiry in seconds: 3.1.1 persistent sessions get the configured lifetime, MQTT 5
/// asks for its own (capped).
fn attached_expiry<H: Hooks>(inner: &Inner<H>, connect: &Connect) -> u32 {
    let cap = inner.config.session_expiry_cap();
    match connect.protocol {
        Protocol::V5 => connect
            .properties
            .session_expiry_interval
            .unwrap_or(0)
            .min(cap),
        Protocol::V311 if connect.clean_start => 0,
        Protocol::V311 => cap,
    }
}

fn connack<H: Hooks>(
    inner: &Inner<H>,
    connect: &Connect,
    info: &ConnectInfo,
    a: &Attached,
) -> Packet {
    let cfg = &inner.config;
    let mut properties = Properties::default();
    if connect.protocol == Protocol::V5 {
        let requested = connect.properties.session_expiry_interval.unwrap_or(0);
        let granted = attached_expiry(inner, connect);
        properties = Properties {
            receive_maximum: Some(cfg.receive_maximum),
            maximum_packet_size: u32::try_from(cfg.max_packet_size).ok(),
            topic_alias_maximum: Some(TOPIC_ALIAS_MAX),
            retain_available: Some(true),
            wildcard_subscription_available: Some(true),
            subscription_identifiers_available: Some(true),
            shared_subscription_available: Some(false),
            assigned_client_identifier: connect
                .client_id
                .is_empty()
                .then(|| info.client_id.clone()),
            session_expiry_interval: (granted != requested).then_some(granted),
            ..Properties::default()
        };
    }
    Packet::ConnAck(ConnAck {
        session_present: a.present,
        reason: ReasonCode::Success,
        properties,
    })
}

/// Sends a refusing CONNACK and closes (spec 3.2.2.2: no session present on refusal).
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    protocol: Protocol,
    code: ReasonCode,
) {
    let packet = |reason| {
        Packet::ConnAck(ConnAck {
            session_present: false,
            reason,
            properties: Properties::default(),
        })
    };
    let mut out = BytesMut::new();
    // A code from the hooks that MQTT 5 does not allow in CONNACK becomes 0x80.
    if packet(code).encode(protocol, &mut out).is_err() {
        out.clear();
        let _ = packet(ReasonCode::UnspecifiedError).encode(protocol, &mut out);
    }
    let _ = tokio::time::timeout(REFUSAL_WRITE_WAIT, async {
        write_out(stream, &out).await?;
        stream.shutdown().await?;
        // Unread input at close would reset the connection and could destroy the CONNACK:
        // drain until the client closes (bounded by the timeout).
        let mut scratch = [0u8; 1024];
        while stream.read(&mut scratch).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}

async fn write_out<S: AsyncWrite + Unpin>(stream: &mut S, out: &[u8]) -> std::io::Result<()> {
    stream.write_all(out).await?;
    stream.flush().await
}
