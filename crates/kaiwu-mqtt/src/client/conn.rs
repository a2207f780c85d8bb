//! The connection task: one select loop over socket reads, socket writes, requests from the
//! handles, delivery of a stalled message and the keep-alive timer. Writes go through an
//! output buffer, so a slow server never stops the task from reading (no write/write
//! deadlock); requests are taken only while that buffer is below a high-water mark.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::handshake::{Established, READ_CHUNK, server_max_packet};
use super::{ClientOptions, Command, Error, Message, Result, Status};
use crate::codec::{
    Disconnect, Packet, Protocol, Publish, QoS, ReasonCode, Subscribe, Unsubscribe, decode,
};

/// Requests are not taken while more than this is waiting to be written.
const OUT_HIGH_WATER: usize = 256 * 1024;

/// A request waiting for the server's acknowledgement, by packet id.
pub(super) enum Pending {
    Publish {
        qos: QoS,
        /// QoS 2: PUBREC arrived and PUBREL was sent.
        released: bool,
        done: oneshot::Sender<Result<()>>,
        _permit: Option<OwnedSemaphorePermit>,
    },
    Subscribe(oneshot::Sender<Result<Vec<u8>>>),
    Unsubscribe(oneshot::Sender<Result<()>>),
}

/// An inbound message the full channel could not take yet, with the ack to send after.
pub(super) struct Stalled {
    pub(super) msg: Message,
    pub(super) ack: Option<Packet>,
}

pub(crate) struct Conn {
    pub(super) protocol: Protocol,
    max_packet_size: usize,
    server_max_packet: usize,
    /// Zero: no pings.
    keep_alive: Duration,
    /// MQTT 5 Maximum QoS and Retain Available of the server.
    max_qos: QoS,
    retain_available: bool,
    status: Arc<Status>,
    quota: Arc<Semaphore>,
    pub(super) messages: mpsc::Sender<Message>,
    pub(super) inbuf: BytesMut,
    out: BytesMut,
    /// Bytes handed to the socket so far, and the calls to answer once it reaches an offset
    /// (QoS 0 publishes, DISCONNECT).
    written: u64,
    on_written: VecDeque<(u64, oneshot::Sender<Result<()>>)>,
    pub(super) pending: HashMap<u16, Pending>,
    next_id: u16,
    /// QoS 2 packet ids from the server delivered but not yet released.
    pub(super) inbound_qos2: HashSet<u16>,
    pub(super) stalled: Option<Stalled>,
    pub(super) ping_outstanding: bool,
    /// Reading was paused since the last PINGREQ, so a missing PINGRESP is not the server's.
    pub(super) paused_since_ping: bool,
    /// DISCONNECT is queued: finish writing, then stop.
    closing: bool,
}

impl Conn {
    pub(crate) fn new(
        opts: &ClientOptions,
        est: Established,
        status: Arc<Status>,
        quota: Arc<Semaphore>,
        messages: mpsc::Sender<Message>,
    ) -> (Conn, TcpStream) {
        let props = &est.connack.properties;
        let keep_alive = props.server_keep_alive.unwrap_or(opts.keep_alive_secs);
        let conn = Conn {
            protocol: opts.protocol,
            max_packet_size: opts.max_packet_size,
            server_max_packet: server_max_packet(&est.connack),
            keep_alive: Duration::from_secs(u64::from(keep_alive)),
            max_qos: props.maximum_qos.unwrap_or(QoS::ExactlyOnce),
            retain_available: props.retain_available.unwrap_or(true),
            status,
            quota,
            messages,
            inbuf: est.leftover,
            out: BytesMut::with_capacity(READ_CHUNK),
            written: 0,
            on_written: VecDeque::new(),
            pending: HashMap::new(),
            next_id: 1,
            inbound_qos2: HashSet::new(),
            stalled: None,
            ping_outstanding: false,
            paused_since_ping: false,
            closing: false,
        };
        (conn, est.stream)
    }

    /// Runs the connection to its end. Dropping `self` afterwards fails every pending call
    /// and closes the message channel (see the `Drop` impl).
    pub(crate) async fn run(mut self, stream: TcpStream, mut commands: mpsc::Receiver<Command>) {
        let (mut rd, mut wr) = stream.into_split();
        let result = self.drive(&mut rd, &mut wr, &mut commands).await;
        let reason = match result {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!(error = %e, "mqtt client connection lost");
                Some(e.to_string())
            }
        };
        self.status.closed(reason);
        commands.close();
    }

    async fn drive(
        &mut self,
        rd: &mut OwnedReadHalf,
        wr: &mut OwnedWriteHalf,
        commands: &mut mpsc::Receiver<Command>,
    ) -> Result<()> {
        let mut ping = self.ping_timer();
        let mut commands_open = true;
        // A local clone: a permit borrowing `self` would block the handlers' `&mut self`.
        let messages = self.messages.clone();
        self.process_input()?;
        loop {
            if self.closing && self.out.is_empty() {
                wr.shutdown().await?;
                return Ok(());
            }
            self.inbuf.reserve(READ_CHUNK);
            let take_commands = commands_open && !self.closing && self.out.len() < OUT_HIGH_WATER;
            tokio::select! {
                r = rd.read_buf(&mut self.inbuf), if self.stalled.is_none() => {
                    if r? == 0 {
                        return Err(Error::Io(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "connection closed by the server",
                        )));
                    }
                    self.process_input()?;
                }
                r = wr.write_buf(&mut self.out), if !self.out.is_empty() => {
                    let n = r?;
                    if n == 0 {
                        return Err(Error::Io(std::io::ErrorKind::WriteZero.into()));
                    }
                    self.wrote(n);
                }
                permit = messages.reserve(), if self.stalled.is_some() => {
                    if let Some(s) = self.stalled.take() {
                        // Closed receiver: nobody wants messages; acknowledge and drop it.
                        if let Ok(permit) = permit {
                            permit.send(s.msg);
                        }
                        if let Some(ack) = s.ack {
                            self.queue(&ack)?;
                        }
                    }
                    self.process_input()?;
                }
                c = commands.recv(), if take_commands => match c {
                    Some(c) => self.command(c)?,
                    None => {
                        // Every handle is gone: nobody can use the connection any more.
                        commands_open = false;
                        self.queue_disconnect(None)?;
                    }
                },
                _ = tick(&mut ping) => self.on_tick()?,
            }
        }
    }

    fn ping_timer(&self) -> Option<Interval> {
        if self.keep_alive.is_zero() {
            return None;
        }
        let mut i = tokio::time::interval_at(Instant::now() + self.keep_alive, self.keep_alive);
        i.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Some(i)
    }

    fn on_tick(&mut self) -> Result<()> {
        if self.ping_outstanding {
            if self.paused_since_ping {
                // The PINGRESP may sit unread behind a stalled message: give it one more round.
                self.paused_since_ping = self.stalled.is_some();
                return Ok(());
            }
            return Err(Error::KeepAliveTimeout(self.keep_alive));
        }
        self.queue(&Packet::PingReq)?;
        self.ping_outstanding = true;
        self.paused_since_ping = self.stalled.is_some();
        Ok(())
    }

    /// Decodes and handles buffered packets until the buffer runs dry or a message stalls.
    fn process_input(&mut self) -> Result<()> {
        while self.stalled.is_none() {
            match decode(&mut self.inbuf, Some(self.protocol), self.max_packet_size)? {
                Some(p) => self.on_packet(p)?,
                None => break,
            }
        }
        Ok(())
    }

    /// Appends a packet to the output buffer; on error the buffer is unchanged.
    pub(super) fn queue(&mut self, p: &Packet) -> Result<()> {
        let start = self.out.len();
        p.encode(self.protocol, &mut self.out)?;
        let size = self.out.len() - start;
        if size > self.server_max_packet {
            self.out.truncate(start);
            return Err(Error::TooLarge {
                size,
                max: self.server_max_packet,
            });
        }
        Ok(())
    }

    /// Answers `done` once everything queued so far has been written.
    fn answer_when_written(&mut self, done: oneshot::Sender<Result<()>>) {
        let end = self.written + self.out.len() as u64;
        self.on_written.push_back((end, done));
    }

    fn wrote(&mut self, n: usize) {
        self.written += n as u64;
        while let Some((end, _)) = self.on_written.front()
            && *end <= self.written
        {
            if let Some((_, done)) = self.on_written.pop_front() {
                let _ = done.send(Ok(()));
            }
        }
    }

    /// Handles one request. Errors of the request go to its caller; `Err` here means the
    /// connection itself failed.
    fn command(&mut self, c: Command) -> Result<()> {
        match c {
            Command::Publish {
                message,
                permit,
                done,
            } => self.start_publish(message, permit, done),
            Command::Subscribe { filters, done } => {
                let Some(id) = self.alloc_id() else {
                    fail(done, Error::NoPacketId);
                    return Ok(());
                };
                let p = Packet::Subscribe(Subscribe {
                    packet_id: id,
                    filters,
                    ..Subscribe::default()
                });
                match self.queue(&p) {
                    Ok(()) => {
                        self.pending.insert(id, Pending::Subscribe(done));
                    }
                    Err(e) => fail(done, e),
                }
            }
            Command::Unsubscribe { filters, done } => {
                let Some(id) = self.alloc_id() else {
                    fail(done, Error::NoPacketId);
                    return Ok(());
                };
                let p = Packet::Unsubscribe(Unsubscribe {
                    packet_id: id,
                    filters,
                    ..Unsubscribe::default()
                });
                match self.queue(&p) {
                    Ok(()) => {
                        self.pending.insert(id, Pending::Unsubscribe(done));
                    }
                    Err(e) => fail(done, e),
                }
            }
            Command::Disconnect { done } => self.queue_disconnect(Some(done))?,
        }
        Ok(())
    }

    fn start_publish(
        &mut self,
        message: Message,
        permit: Option<OwnedSemaphorePermit>,
        done: oneshot::Sender<Result<()>>,
    ) {
        let mut publish = Publish {
            qos: message.qos,
            retain: message.retain,
            topic: message.topic,
            payload: message.payload,
            ..Publish::default()
        };
        if let Some(code) = self.unsupported(&publish) {
            let reason = "not supported by the server".to_owned();
            return fail(done, Error::Rejected { code, reason });
        }
        let qos = publish.qos;
        if qos != QoS::AtMostOnce {
            let Some(id) = self.alloc_id() else {
                return fail(done, Error::NoPacketId);
            };
            publish.packet_id = Some(id);
        }
        let packet_id = publish.packet_id;
        if let Err(e) = self.queue(&Packet::Publish(publish)) {
            return fail(done, e);
        }
        match packet_id {
            None => self.answer_when_written(done),
            Some(id) => {
                let pending = Pending::Publish {
                    qos,
                    released: false,
                    done,
                    _permit: permit,
                };
                self.pending.insert(id, pending);
            }
        }
    }

    /// What an MQTT 5 server said it does not support (it would end the connection).
    fn unsupported(&self, p: &Publish) -> Option<ReasonCode> {
        if p.qos > self.max_qos {
            Some(ReasonCode::QoSNotSupported)
        } else if p.retain && !self.retain_available {
            Some(ReasonCode::RetainNotSupported)
        } else {
            None
        }
    }

    fn queue_disconnect(&mut self, done: Option<oneshot::Sender<Result<()>>>) -> Result<()> {
        self.queue(&Packet::Disconnect(Disconnect::default()))?;
        // Closing now: is_connected() is already false when disconnect() returns.
        self.status.closed(None);
        if let Some(done) = done {
            self.answer_when_written(done);
        }
        self.closing = true;
        Ok(())
    }

    /// A packet id no request in flight uses.
    fn alloc_id(&mut self) -> Option<u16> {
        for _ in 0..u16::MAX {
            let id = self.next_id;
            self.next_id = self.next_id.checked_add(1).unwrap_or(1);
            if !self.pending.contains_key(&id) {
                return Some(id);
            }
        }
        None
    }
}

impl Drop for Conn {
    // Runs before the fields drop: is_connected() turns false before the message receiver
    // closes and before pending calls see their senders dropped, also if the task panicked.
    fn drop(&mut self) {
        if self.status.connected.load(Ordering::SeqCst) {
            self.status
                .closed(Some("mqtt client connection task ended".to_owned()));
        }
        self.quota.close();
    }
}

/// Answers a request with an error; the caller may have stopped waiting.
pub(super) fn fail<T>(done: oneshot::Sender<Result<T>>, e: Error) {
    let _ = done.send(Err(e));
}

/// The next keep-alive tick, or never when pings are off.
async fn tick(timer: &mut Option<Interval>) {
    match timer {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}
