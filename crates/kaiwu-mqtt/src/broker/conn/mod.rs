//! One client connection after CONNACK. A single task drives everything: reading and
//! decoding, the pipeline of publishes being processed by the hooks, acknowledgements in
//! arrival order, and delivery of the session's queue; outgoing packets collect in one
//! buffer that is written when nothing else is ready (one write per batch).

mod inbound;
mod outbound;

use std::collections::{HashSet, VecDeque};
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures::stream::{FuturesOrdered, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::futures::Notified;
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

use super::session::{Inflight, Session};
use super::{DisconnectCause, Hooks, Inner, PublishOutcome};
use crate::codec::{Disconnect, Packet, Properties, Protocol, Publish, ReasonCode};

/// Read buffer of a busy connection; it grows for larger packets. An idle connection holds
/// none (see [`IDLE_READ`]).
pub(crate) const READ_CHUNK: usize = 4096;
/// Reads of a connection without a read buffer go through this much stack, so ten thousand
/// idle devices do not each keep [`READ_CHUNK`] bytes allocated.
const IDLE_READ: usize = 512;
/// Topic Alias Maximum offered to MQTT 5 clients.
pub(crate) const TOPIC_ALIAS_MAX: u16 = 16;
/// Above this much unsent output the connection stops taking more work (reading, draining
/// the queue) until the client reads.
const WBUF_HIGH: usize = 64 * 1024;
/// Output is written before other work once this much collected.
const WRITE_EAGER: usize = 16 * 1024;
/// Longest wait at close for publishes still in the hooks.
const DRAIN_WAIT: Duration = Duration::from_secs(10);
/// Longest wait at close for the last packets to be written.
const FINAL_WRITE_WAIT: Duration = Duration::from_secs(2);

type InFut<'a> = Pin<Box<dyn Future<Output = InDone> + Send + 'a>>;

/// A pipeline entry's result, taken in arrival order.
enum InDone {
    /// A PUBLISH the hooks (or the authorisation check) decided on.
    Publish {
        publish: Publish,
        outcome: PublishOutcome,
    },
    /// A reply that must not overtake earlier acknowledgements.
    Reply { packet: Packet, release: bool },
}

/// An acknowledgement waiting for its turn (and maybe for the store).
struct PendingAck {
    packet: Packet,
    wait: Option<oneshot::Receiver<bool>>,
    /// Frees one slot of the client's receive maximum when sent.
    release: bool,
}

/// How and why a connection ends.
pub(crate) struct Close {
    pub(crate) cause: DisconnectCause,
    /// MQTT 5 DISCONNECT reason to send before closing.
    pub(crate) send: Option<ReasonCode>,
    /// Whether the will is published.
    pub(crate) will: bool,
}

impl Close {
    fn io(msg: impl Into<String>) -> Close {
        Close {
            cause: DisconnectCause::Io(msg.into()),
            send: None,
            will: true,
        }
    }

    fn protocol(reason: ReasonCode, msg: impl Into<String>) -> Close {
        Close {
            cause: DisconnectCause::ProtocolError(msg.into()),
            send: Some(reason),
            will: true,
        }
    }
}

/// What the handshake negotiated.
pub(crate) struct Setup {
    pub(crate) protocol: Protocol,
    pub(crate) keep_alive: u16,
    /// Client's MQTT 5 Receive Maximum.
    pub(crate) receive_maximum: Option<u16>,
    /// Client's MQTT 5 Maximum Packet Size.
    pub(crate) maximum_packet_size: Option<u32>,
    /// MQTT 5 Request Problem Information (reason strings allowed).
    pub(crate) problem_info: bool,
    pub(crate) expiry: u32,
    pub(crate) inflight: Vec<Inflight>,
    pub(crate) inbound_qos2: HashSet<u16>,
}

// Lives for one loop turn; boxing the publish would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
enum Event {
    Read(io::Result<usize>),
    Failed(io::Error),
    Processed(InDone),
    AckReady(bool),
    Bell,
    Writable,
    KeepAlive,
}

pub(crate) struct Conn<'a, H: Hooks, S> {
    inner: &'a Inner<H>,
    client: &'a H::Client,
    session: &'a Arc<Session>,
    client_id: &'a str,
    peer: SocketAddr,
    stream: S,
    protocol: Protocol,
    v5: bool,
    problem_info: bool,
    rbuf: BytesMut,
    wbuf: BytesMut,
    flush_pending: bool,
    /// Publishes in the hooks, yielded in arrival order.
    pipeline: FuturesOrdered<InFut<'a>>,
    acks: VecDeque<PendingAck>,
    /// QoS 1/2 publishes received and not yet fully acknowledged (receive maximum).
    quota_used: usize,
    inbound_qos2: HashSet<u16>,
    aliases: Vec<Option<String>>,
    inflight: VecDeque<Inflight>,
    window: usize,
    next_pid: u16,
    out_max_packet: Option<usize>,
    /// Whether input is polled before the doorbell this turn.
    read_first: bool,
    /// Queue draining paused because the output buffer is full.
    out_blocked: bool,
    want_pull: bool,
    keep_alive: Option<Duration>,
    last_read: Instant,
    ka_timer: Option<Pin<Box<Sleep>>>,
    bell: Pin<Box<Notified<'a>>>,
    expiry: u32,
    /// The CONNECT asked for session expiry 0, which DISCONNECT may not raise.
    expiry_was_zero: bool,
}

impl<'a, H: Hooks, S: AsyncRead + AsyncWrite + Unpin + Send> Conn<'a, H, S> {
    pub(crate) fn new(
        inner: &'a Inner<H>,
        client: &'a H::Client,
        session: &'a Arc<Session>,
        peer: SocketAddr,
        stream: S,
        rbuf: BytesMut,
        setup: Setup,
    ) -> Self {
        let cfg = &inner.config;
        // Every id must be allocatable while the window is full.
        let window = cfg
            .max_inflight_out
            .min(setup.receive_maximum.unwrap_or(u16::MAX))
            .min(65_000);
        let keep_alive = (setup.keep_alive > 0)
            .then(|| Duration::from_millis(u64::from(setup.keep_alive) * 1500));
        let now = Instant::now();
        Conn {
            inner,
            client,
            session,
            client_id: &session.client_id,
            peer,
            stream,
            protocol: setup.protocol,
            v5: setup.protocol == Protocol::V5,
            problem_info: setup.problem_info,
            // Released when empty: see `poll_read`.
            rbuf: if rbuf.is_empty() {
                BytesMut::new()
            } else {
                rbuf
            },
            wbuf: BytesMut::new(),
            flush_pending: false,
            pipeline: FuturesOrdered::new(),
            acks: VecDeque::new(),
            quota_used: setup.inbound_qos2.len(),
            inbound_qos2: setup.inbound_qos2,
            aliases: Vec::new(),
            inflight: setup.inflight.into(),
            window: usize::from(window),
            next_pid: 0,
            out_max_packet: setup
                .maximum_packet_size
                .map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
            read_first: false,
            out_blocked: false,
            want_pull: false,
            keep_alive,
            last_read: now,
            ka_timer: keep_alive.map(|k| Box::pin(tokio::time::sleep_until(now + k))),
            bell: Box::pin(session.bell.notified()),
            expiry: setup.expiry,
            expiry_was_zero: setup.expiry == 0,
        }
    }

    /// Serves the connection until it must close; the returned value says why.
    pub(crate) async fn run(&mut self) -> Close {
        self.resume();
        self.pull_outbound();
        // Packets the client sent right behind its CONNECT are already buffered; no read event
        // would announce them.
        if !self.rbuf.is_empty()
            && let Err(close) = self.decode_all()
        {
            return close;
        }
        loop {
            let event = poll_fn(|cx| self.poll_event(cx)).await;
            let result = match event {
                Event::Read(Ok(0)) => Err(Close::io("connection closed by client")),
                Event::Read(Ok(_)) => {
                    self.last_read = Instant::now();
                    self.decode_all()
                }
                Event::Read(Err(e)) | Event::Failed(e) => Err(Close::io(e.to_string())),
                Event::Processed(done) => {
                    self.finish(done);
                    Ok(())
                }
                Event::AckReady(ok) => {
                    self.ack_ready(ok);
                    Ok(())
                }
                Event::Bell => self.on_bell(),
                Event::Writable => {
                    self.out_blocked = false;
                    self.want_pull = true;
                    Ok(())
                }
                Event::KeepAlive => self.check_keep_alive(),
            };
            if let Err(close) = result {
                return close;
            }
            if self.want_pull {
                self.want_pull = false;
                self.pull_outbound();
            }
        }
    }

    /// Everything that can happen next, in priority order: large output first, then work
    /// that produces output, then input, then writing what collected.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        if self.wbuf.len() >= WRITE_EAGER
            && let Poll::Ready(Err(e)) = self.poll_write_out(cx)
        {
            return Poll::Ready(Event::Failed(e));
        }
        if let Some(wait) = self.acks.front_mut().and_then(|a| a.wait.as_mut())
            && let Poll::Ready(r) = Pin::new(wait).poll(cx)
        {
            return Poll::Ready(Event::AckReady(r.unwrap_or(false)));
        }
        if !self.pipeline.is_empty()
            && let Poll::Ready(Some(done)) = self.pipeline.poll_next_unpin(cx)
        {
            return Poll::Ready(Event::Processed(done));
        }
        // Input and the doorbell take turns going first, so neither a flooding client nor a
        // flood of messages to it starves the other.
        self.read_first = !self.read_first;
        let first = if self.read_first {
            self.poll_read(cx).or_else(|| self.poll_bell(cx))
        } else {
            self.poll_bell(cx).or_else(|| self.poll_read(cx))
        };
        if let Some(event) = first {
            return Poll::Ready(event);
        }
        if let Some(t) = &mut self.ka_timer
            && t.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Event::KeepAlive);
        }
        match self.poll_write_out(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Event::Failed(e)),
            Poll::Ready(Ok(())) if self.out_blocked => Poll::Ready(Event::Writable),
            _ => Poll::Pending,
        }
    }

    fn poll_bell(&mut self, cx: &mut Context<'_>) -> Option<Event> {
        if self.bell.as_mut().poll(cx).is_pending() {
            return None;
        }
        let session = self.session;
        self.bell.set(session.bell.notified());
        Some(Event::Bell)
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Option<Event> {
        if !self.may_read() {
            return None;
        }
        if self.rbuf.capacity() == 0 {
            let mut small = [0u8; IDLE_READ];
            let mut buf = tokio::io::ReadBuf::new(&mut small);
            return match Pin::new(&mut self.stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) => {
                    let n = buf.filled().len();
                    // A full small read means more is coming: take a whole chunk for it.
                    self.rbuf
                        .reserve(if n == IDLE_READ { READ_CHUNK } else { n });
                    self.rbuf.extend_from_slice(buf.filled());
                    Some(Event::Read(Ok(n)))
                }
                Poll::Ready(Err(e)) => Some(Event::Read(Err(e))),
                Poll::Pending => None,
            };
        }
        if self.rbuf.capacity() - self.rbuf.len() < 256 {
            self.rbuf.reserve(READ_CHUNK.max(self.rbuf.len()));
        }
        let read = self.stream.read_buf(&mut self.rbuf);
        tokio::pin!(read);
        match read.poll(cx) {
            Poll::Ready(r) => Some(Event::Read(r)),
            Poll::Pending => None,
        }
    }

    /// Input is paused while the pipeline is full or the client does not read its output.
    fn may_read(&self) -> bool {
        self.pipeline.len() + self.acks.len() < usize::from(self.inner.config.receive_maximum)
            && self.wbuf.len() < WBUF_HIGH
    }

    /// Writes (and flushes) the output buffer; `Ready(Ok)` once all of it is out.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.wbuf.is_empty() {
            match Pin::new(&mut self.stream).poll_write(cx, &self.wbuf) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.wbuf.advance(n);
                    self.flush_pending = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.flush_pending {
            // TLS and other wrapping streams buffer; plain TCP returns at once.
            match Pin::new(&mut self.stream).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.flush_pending = false,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.wbuf.capacity() > 0 {
            // All written: an idle connection keeps no output buffer either.
            self.wbuf = BytesMut::new();
        }
        Poll::Ready(Ok(()))
    }

    /// Appends one packet to the output.
    fn send(&mut self, packet: &Packet) {
        if let Err(e) = packet.encode(self.protocol, &mut self.wbuf) {
            tracing::error!(client_id = %self.client_id, peer = %self.peer, packet = packet.name(), error = %e, "mqtt packet not encodable");
        }
    }

    fn on_bell(&mut self) -> Result<(), Close> {
        let kick = self.session.lock().kick.take();
        match kick {
            Some(super::session::Kick::TakenOver) => Err(Close {
                cause: DisconnectCause::SessionTakenOver,
                send: Some(ReasonCode::SessionTakenOver),
                will: true,
            }),
            Some(super::session::Kick::Shutdown) => Err(Close {
                cause: DisconnectCause::ServerShutdown,
                send: Some(ReasonCode::ServerShuttingDown),
                will: false,
            }),
            None => {
                self.want_pull = true;
                Ok(())
            }
        }
    }

    fn check_keep_alive(&mut self) -> Result<(), Close> {
        let Some(limit) = self.keep_alive else {
            return Ok(());
        };
        let deadline = self.last_read + limit;
        if Instant::now() >= deadline {
            return Err(Close {
                cause: DisconnectCause::KeepAliveTimeout,
                send: None,
                will: true,
            });
        }
        if let Some(t) = &mut self.ka_timer {
            t.as_mut().reset(deadline);
        }
        Ok(())
    }

    /// Winds the connection down: publishes already in the hooks are finished (the platform
    /// may be storing them), then, if the peer is still there, remaining acknowledgements
    /// and the MQTT 5 DISCONNECT are written.
    pub(crate) async fn close(&mut self, close: &Close) {
        let drain = async {
            while let Some(done) = self.pipeline.next().await {
                self.finish(done);
            }
        };
        if tokio::time::timeout(DRAIN_WAIT, drain).await.is_err() {
            tracing::warn!(client_id = %self.client_id, "mqtt publishes still in hooks at close");
        }
        let writable = matches!(
            close.cause,
            DisconnectCause::ProtocolError(_)
                | DisconnectCause::SessionTakenOver
                | DisconnectCause::ServerShutdown
        );
        if !writable {
            return;
        }
        if let Some(reason) = close.send.filter(|_| self.v5) {
            // The reason string also makes the packet longer than 2 bytes, which some
            // clients (paho 2.1) need before they look at the reason code at all.
            let mut text = match &close.cause {
                DisconnectCause::ProtocolError(e) => e.clone(),
                DisconnectCause::SessionTakenOver => "session taken over".to_owned(),
                _ => "server shutting down".to_owned(),
            };
            if text.len() > 120 {
                let cut = (0..=120)
                    .rev()
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(0);
                text.truncate(cut);
            }
            let mut packet = Packet::Disconnect(Disconnect {
                reason,
                properties: Properties {
                    reason_string: Some(text),
                    ..Properties::default()
                },
            });
            // Spec 3.14.2.2.3: the reason string goes only if the client's limit allows.
            let fits = |p: &Packet| {
                let len = p.encoded_len(self.protocol).unwrap_or(usize::MAX);
                self.out_max_packet.is_none_or(|max| len <= max)
            };
            if !fits(&packet) {
                packet = Packet::Disconnect(Disconnect {
                    reason,
                    ..Disconnect::default()
                });
            }
            self.send(&packet);
        }
        let out = self.wbuf.split();
        let stream = &mut self.stream;
        let _ = tokio::time::timeout(FINAL_WRITE_WAIT, async {
            stream.write_all(&out).await?;
            stream.shutdown().await?;
            // Closing with unread input makes the kernel reset the connection, which can
            // destroy the DISCONNECT before the client reads it: drain until the client
            // closes (bounded by the timeout).
            let mut scratch = [0u8; 1024];
            while stream.read(&mut scratch).await? > 0 {}
            Ok::<(), io::Error>(())
        })
        .await;
    }

    /// State the session keeps: unacknowledged outbound messages, inbound QoS 2 ids, and
    /// the session expiry (which MQTT 5 DISCONNECT may have changed).
    pub(crate) fn into_parts(self) -> (Vec<Inflight>, HashSet<u16>, u32) {
        (self.inflight.into(), self.inbound_qos2, self.expiry)
    }
}
