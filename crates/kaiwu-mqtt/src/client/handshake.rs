//! Opening a connection: TCP connect, CONNECT, wait for CONNACK, all under one timeout.

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{ClientOptions, Error, MAX_INFLIGHT, Result};
use crate::codec::{
    ConnAck, Connect, MAX_REMAINING_LENGTH, Packet, Properties, Protocol, Will, decode,
};

/// Bytes reserved in the receive buffer before each read.
pub(super) const READ_CHUNK: usize = 8 * 1024;

/// A logged-in connection.
pub(super) struct Established {
    pub(super) stream: TcpStream,
    /// Bytes that arrived after the CONNACK.
    pub(super) leftover: BytesMut,
    pub(super) connack: ConnAck,
}

impl Established {
    /// QoS 1/2 publishes that may be in flight: the server's Receive Maximum, capped.
    pub(super) fn inflight(&self) -> u16 {
        let server = self.connack.properties.receive_maximum.unwrap_or(u16::MAX);
        server.clamp(1, MAX_INFLIGHT)
    }
}

pub(super) async fn establish(opts: &ClientOptions) -> Result<Established> {
    match tokio::time::timeout(opts.connect_timeout, attempt(opts)).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            addr: opts.addr.clone(),
            after: opts.connect_timeout,
        }),
    }
}

async fn attempt(opts: &ClientOptions) -> Result<Established> {
    let mut stream = TcpStream::connect(opts.addr.as_str())
        .await
        .map_err(|source| Error::Connect {
            addr: opts.addr.clone(),
            source,
        })?;
    // Small acks and pings must not wait for Nagle.
    stream.set_nodelay(true)?;
    let mut out = BytesMut::new();
    connect_packet(opts).encode(opts.protocol, &mut out)?;
    stream.write_all(&out).await?;
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        match decode(&mut buf, Some(opts.protocol), opts.max_packet_size)? {
            Some(Packet::ConnAck(ack)) if ack.reason.is_error() => {
                let text = ack.properties.reason_string.unwrap_or_default();
                return Err(Error::Refused(ack.reason, text));
            }
            Some(Packet::ConnAck(connack)) => {
                return Ok(Established {
                    stream,
                    leftover: buf,
                    connack,
                });
            }
            Some(Packet::Disconnect(d)) => {
                let text = d.properties.reason_string.unwrap_or_default();
                return Err(Error::ServerDisconnect(d.reason, text));
            }
            Some(other) => {
                return Err(Error::Protocol(format!(
                    "expected CONNACK, got {}",
                    other.name()
                )));
            }
            None => {}
        }
        buf.reserve(READ_CHUNK);
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before CONNACK",
            )));
        }
    }
}

fn connect_packet(opts: &ClientOptions) -> Packet {
    let mut properties = Properties::default();
    if opts.protocol == Protocol::V5 {
        // So the server drops what we would refuse instead of ending the connection with it.
        let max = opts.max_packet_size.min(MAX_REMAINING_LENGTH + 5);
        properties.maximum_packet_size = u32::try_from(max).ok();
        if !opts.clean_session {
            // 3.1.1 semantics: the session outlives the connection.
            properties.session_expiry_interval = Some(u32::MAX);
        }
    }
    Packet::Connect(Box::new(Connect {
        protocol: opts.protocol,
        client_id: opts.client_id.clone(),
        clean_start: opts.clean_session,
        keep_alive: opts.keep_alive_secs,
        username: opts.username.clone(),
        password: opts.password.clone().map(Into::into),
        will: opts.will.as_ref().map(|w| Will {
            topic: w.topic.clone(),
            payload: w.payload.clone(),
            qos: w.qos,
            retain: w.retain,
            properties: Properties::default(),
        }),
        properties,
    }))
}

/// Packet sizes the server accepts (MQTT 5 Maximum Packet Size), unbounded otherwise.
pub(super) fn server_max_packet(connack: &ConnAck) -> usize {
    connack
        .properties
        .maximum_packet_size
        .and_then(|m| usize::try_from(m).ok())
        .unwrap_or(usize::MAX)
}
