//! Our bounded MQTT load generator (tokio, loopback, the `kaiwu-mqtt` codec, MQTT 3.1.1): one
//! task and one TCP connection per device. Publishing devices either keep at most [`WINDOW`]
//! QoS 1 publishes in flight each (closed loop: the broker sets the rate) or publish on a fixed
//! schedule (open loop: a given total rate, for latency without self-inflicted queueing), and
//! time every publish to its PUBACK; idle devices only hold their connection open.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use kaiwu_mqtt::codec::{
    Connect, Packet, Properties, Protocol, Publish, QoS, Subscribe, SubscribeFilter,
    SubscriptionOptions, decode,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use crate::hist::Histogram;
use crate::sys;

/// QoS 1 publishes in flight per connection.
pub(crate) const WINDOW: usize = 4;
/// Connection attempts (TCP + CONNECT/CONNACK) at once while connecting.
pub(crate) const CONNECTS_AT_ONCE: usize = 64;
/// Keep-alive announced in CONNECT: longer than any phase, so idle devices need no pings.
pub(crate) const KEEP_ALIVE_SECS: u16 = 900;
const V311: Protocol = Protocol::V311;
const MAX_PACKET: usize = 1 << 20;
/// Bound on a connect, and on waiting for the last PUBACKs after the timed window.
const PATIENCE: Duration = Duration::from_secs(60);
/// Open loop: publishes in flight per connection beyond which a due publish is skipped (and
/// counted) rather than queued without bound.
const PACED_MAX_INFLIGHT: usize = 64;

/// One simulated device.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) client_id: String,
    pub(crate) username: String,
    pub(crate) topic: String,
}

/// The JSON telemetry payload of message `seq` of a device: three data points.
pub(crate) fn payload(device: usize, seq: u64) -> String {
    format!(
        "{{\"a\":{}.5,\"b\":{},\"c\":{}}}",
        seq % 1000,
        device % 100,
        seq % 7
    )
}

/// What a publishing run measured.
#[derive(Debug, Default)]
pub(crate) struct LoadResult {
    pub(crate) connected: usize,
    pub(crate) connect_seconds: f64,
    pub(crate) window_seconds: f64,
    pub(crate) sent: u64,
    /// PUBACKs received inside the timed window.
    pub(crate) acked_in_window: u64,
    /// All PUBACKs, including those of publishes in flight when the window closed.
    pub(crate) acked_total: u64,
    pub(crate) p50_us: Option<u64>,
    pub(crate) p99_us: Option<u64>,
    pub(crate) max_us: Option<u64>,
    /// CPU seconds of the broker process during the window.
    pub(crate) broker_cpu: Option<f64>,
    /// CPU seconds of this process (the load generator) during the window.
    pub(crate) generator_cpu: f64,
    /// Messages the relay subscriber received, when there was one.
    pub(crate) relayed: Option<u64>,
    /// Open loop: the total rate asked for (msgs/s), and due publishes skipped because a
    /// connection already had [`PACED_MAX_INFLIGHT`] unanswered.
    pub(crate) offered_per_s: Option<f64>,
    pub(crate) skipped: u64,
    pub(crate) errors: Vec<String>,
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    acked_in_window: AtomicU64,
    acked_total: AtomicU64,
    skipped: AtomicU64,
    hist: Histogram,
}

/// Open a connection and log in; the stream and whatever arrived after the CONNACK.
pub(crate) async fn connect(addr: SocketAddr, c: &Client) -> anyhow::Result<(TcpStream, BytesMut)> {
    let mut s = TcpStream::connect(addr).await.context("tcp connect")?;
    s.set_nodelay(true)?;
    let p = Packet::Connect(Box::new(Connect {
        protocol: V311,
        client_id: c.client_id.clone(),
        clean_start: true,
        keep_alive: KEEP_ALIVE_SECS,
        username: Some(c.username.clone()),
        password: None,
        will: None,
        properties: Properties::default(),
    }));
    let mut out = BytesMut::new();
    p.encode(V311, &mut out)?;
    s.write_all(&out).await?;
    let mut buf = BytesMut::with_capacity(512);
    loop {
        match decode(&mut buf, Some(V311), MAX_PACKET)? {
            Some(Packet::ConnAck(a)) if !a.reason.is_error() => return Ok((s, buf)),
            Some(Packet::ConnAck(a)) => bail!("CONNECT of {} refused: {:?}", c.client_id, a.reason),
            Some(other) => bail!("expected CONNACK, got {}", other.name()),
            None => {}
        }
        if s.read_buf(&mut buf).await? == 0 {
            bail!("connection closed before CONNACK");
        }
    }
}

/// Connect every client ([`CONNECTS_AT_ONCE`] at a time), then run `then` on each connection in
/// its own task. Returns once every connect has succeeded or failed: the tasks, how many
/// connected, and the connect errors.
async fn connect_all<F, Fut>(
    addr: SocketAddr,
    clients: &[Client],
    then: F,
) -> (Vec<JoinHandle<anyhow::Result<()>>>, usize, Vec<String>)
where
    F: Fn(usize, TcpStream, BytesMut) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let gate = Arc::new(Semaphore::new(CONNECTS_AT_ONCE));
    let (tx, mut rx) = mpsc::channel::<Result<(), String>>(clients.len().max(1));
    let mut tasks = Vec::with_capacity(clients.len());
    for (i, c) in clients.iter().enumerate() {
        let (c, gate, tx, then) = (c.clone(), gate.clone(), tx.clone(), then.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await?;
            let r = tokio::time::timeout(PATIENCE, connect(addr, &c)).await;
            drop(permit);
            let r = r
                .map_err(|_| anyhow::anyhow!("connect timed out"))
                .and_then(|r| r);
            let _ = tx
                .send(r.as_ref().map(|_| ()).map_err(|e| format!("{e:#}")))
                .await;
            drop(tx);
            let (s, buf) = r?;
            then(i, s, buf).await
        }));
    }
    drop(tx);
    let (mut ok, mut errors) = (0, Vec::new());
    for _ in 0..clients.len() {
        match rx.recv().await {
            Some(Ok(())) => ok += 1,
            Some(Err(e)) => errors.push(e),
            None => break,
        }
    }
    (tasks, ok, errors)
}

/// Connect all clients, then publish for `duration` from all at once; `broker` is the pid whose
/// CPU is read around the window. With `relay`, a subscriber to `relay` consumes everything.
/// With `rate` (msgs/s in all), devices publish on a fixed schedule instead of a window.
pub(crate) async fn publish_load(
    addr: SocketAddr,
    clients: &[Client],
    duration: Duration,
    broker: u32,
    relay: Option<&str>,
    rate: Option<f64>,
) -> anyhow::Result<LoadResult> {
    let tck = sys::clk_tck();
    let counters = Arc::new(Counters::default());
    let (start_tx, start_rx) = watch::channel(None::<Instant>);
    let sub = match relay {
        Some(filter) => Some(subscriber(addr, filter).await?),
        None => None,
    };
    let t0 = Instant::now();
    let (c2, topics) = (counters.clone(), Arc::new(clients.to_vec()));
    // Each device's share of the rate; its first publish is offset by its place in the fleet
    // so the fleet's publishes are spread evenly, not in bursts.
    let period = rate.map(|r| Duration::from_secs_f64(clients.len() as f64 / r.max(1e-3)));
    let (tasks, connected, mut errors) = connect_all(addr, clients, move |i, s, buf| {
        let (topics, start, n) = (topics.clone(), start_rx.clone(), c2.clone());
        async move {
            match period {
                None => publisher(i, s, buf, topics, start, n).await,
                Some(p) => {
                    let offset = p.mul_f64(i as f64 / topics.len() as f64);
                    paced_publisher(i, s, buf, topics, start, n, p, offset).await
                }
            }
        }
    })
    .await;
    let connect_seconds = t0.elapsed().as_secs_f64();
    if connected == 0 {
        bail!(
            "no client could connect: {}",
            errors.first().map_or("", |e| e)
        );
    }
    let cpu0 = (
        sys::pid_cpu_seconds(broker, tck),
        sys::self_cpu_seconds(tck),
    );
    let start = Instant::now();
    let deadline = start + duration;
    start_tx.send(Some(deadline))?;
    tokio::time::sleep_until(deadline.into()).await;
    let window_seconds = start.elapsed().as_secs_f64();
    let cpu1 = (
        sys::pid_cpu_seconds(broker, tck),
        sys::self_cpu_seconds(tck),
    );
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(format!("{e:#}")),
            Err(e) => errors.push(format!("task: {e}")),
        }
    }
    let relayed = match sub {
        Some((stop, task)) => {
            // Let the relay deliver what is still on its way, then stop the subscriber.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let _ = stop.send(true);
            Some(task.await??)
        }
        None => None,
    };
    errors.dedup();
    let h = &counters.hist;
    Ok(LoadResult {
        connected,
        connect_seconds,
        window_seconds,
        sent: counters.sent.load(Ordering::Relaxed),
        acked_in_window: counters.acked_in_window.load(Ordering::Relaxed),
        acked_total: counters.acked_total.load(Ordering::Relaxed),
        p50_us: h.quantile(0.5),
        p99_us: h.quantile(0.99),
        max_us: h.quantile(1.0),
        broker_cpu: cpu0.0.zip(cpu1.0).map(|(a, b)| b - a),
        generator_cpu: cpu1.1 - cpu0.1,
        relayed,
        offered_per_s: rate,
        skipped: counters.skipped.load(Ordering::Relaxed),
        errors,
    })
}

/// One device: wait for the start, then keep [`WINDOW`] publishes in flight until the
/// deadline, then wait for the last PUBACKs.
async fn publisher(
    i: usize,
    mut s: TcpStream,
    mut buf: BytesMut,
    clients: Arc<Vec<Client>>,
    mut start: watch::Receiver<Option<Instant>>,
    n: Arc<Counters>,
) -> anyhow::Result<()> {
    let deadline = wait_start(&mut start).await?;
    let topic = &clients[i].topic;
    let mut inflight: Vec<(u16, Instant)> = Vec::with_capacity(WINDOW);
    let (mut next_id, mut seq) = (1u16, 0u64);
    let mut out = BytesMut::with_capacity(128 * WINDOW);
    loop {
        while inflight.len() < WINDOW && Instant::now() < deadline {
            telemetry(topic, next_id, i, seq).encode(V311, &mut out)?;
            inflight.push((next_id, Instant::now()));
            next_id = next_id.checked_add(1).unwrap_or(1);
            seq += 1;
            n.sent.fetch_add(1, Ordering::Relaxed);
        }
        if !out.is_empty() {
            s.write_all(&out).await?;
            out.clear();
        }
        if inflight.is_empty() {
            return Ok(());
        }
        let read = tokio::time::timeout_at((deadline + PATIENCE).into(), s.read_buf(&mut buf));
        if read.await.context("waiting for PUBACKs")?? == 0 {
            bail!("broker closed the connection of {}", clients[i].client_id);
        }
        take_acks(&mut buf, &mut inflight, deadline, &n)?;
    }
}

/// The start signal: the deadline of the timed window.
async fn wait_start(start: &mut watch::Receiver<Option<Instant>>) -> anyhow::Result<Instant> {
    loop {
        if let Some(d) = *start.borrow_and_update() {
            return Ok(d);
        }
        start.changed().await?;
    }
}

/// QoS 1 telemetry publish `seq` of device `i`.
fn telemetry(topic: &str, id: u16, i: usize, seq: u64) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: topic.to_owned(),
        packet_id: Some(id),
        properties: Properties::default(),
        payload: Bytes::from(payload(i, seq)),
    })
}

/// Decode what arrived: each PUBACK ends its publish's timing.
fn take_acks(
    buf: &mut BytesMut,
    inflight: &mut Vec<(u16, Instant)>,
    deadline: Instant,
    n: &Counters,
) -> anyhow::Result<()> {
    while let Some(p) = decode(buf, Some(V311), MAX_PACKET)? {
        let Packet::PubAck(a) = p else { continue };
        let Some(k) = inflight.iter().position(|(id, _)| *id == a.packet_id) else {
            continue;
        };
        let (_, sent_at) = inflight.swap_remove(k);
        let now = Instant::now();
        n.hist.record((now - sent_at).as_micros() as u64);
        n.acked_total.fetch_add(1, Ordering::Relaxed);
        if now <= deadline {
            n.acked_in_window.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// One device on a fixed schedule: a publish every `period` from `offset` after the start
/// until the deadline, then wait for the last PUBACKs. Latency counts from the scheduled
/// time, so a generator that falls behind shows up in the figures instead of hiding it.
#[allow(clippy::too_many_arguments)]
async fn paced_publisher(
    i: usize,
    mut s: TcpStream,
    mut buf: BytesMut,
    clients: Arc<Vec<Client>>,
    mut start: watch::Receiver<Option<Instant>>,
    n: Arc<Counters>,
    period: Duration,
    offset: Duration,
) -> anyhow::Result<()> {
    let deadline = wait_start(&mut start).await?;
    let topic = &clients[i].topic;
    let mut inflight: Vec<(u16, Instant)> = Vec::with_capacity(WINDOW);
    let (mut next_id, mut seq) = (1u16, 0u64);
    let mut out = BytesMut::with_capacity(128);
    let mut due = Instant::now() + offset;
    loop {
        if due >= deadline && inflight.is_empty() {
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep_until(due.into()), if due < deadline => {
                if inflight.len() >= PACED_MAX_INFLIGHT {
                    n.skipped.fetch_add(1, Ordering::Relaxed);
                } else {
                    telemetry(topic, next_id, i, seq).encode(V311, &mut out)?;
                    inflight.push((next_id, due));
                    next_id = next_id.checked_add(1).unwrap_or(1);
                    seq += 1;
                    n.sent.fetch_add(1, Ordering::Relaxed);
                    s.write_all(&out).await?;
                    out.clear();
                }
                due += period;
            }
            r = tokio::time::timeout_at((deadline + PATIENCE).into(), s.read_buf(&mut buf)) => {
                if r.context("waiting for PUBACKs")?? == 0 {
                    bail!("broker closed the connection of {}", clients[i].client_id);
                }
                take_acks(&mut buf, &mut inflight, deadline, &n)?;
            }
        }
    }
}

type SubTask = (watch::Sender<bool>, JoinHandle<anyhow::Result<u64>>);

/// A QoS 0 subscriber to `filter` counting the messages it receives until told to stop.
async fn subscriber(addr: SocketAddr, filter: &str) -> anyhow::Result<SubTask> {
    let c = Client {
        client_id: "kaiwu-bench-relay".into(),
        username: "relay".into(),
        topic: String::new(),
    };
    let (mut s, mut buf) = connect(addr, &c).await.context("relay subscriber")?;
    let sub = Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: vec![SubscribeFilter {
            filter: filter.to_owned(),
            options: SubscriptionOptions::default(),
        }],
        properties: Properties::default(),
    });
    let mut out = BytesMut::new();
    sub.encode(V311, &mut out)?;
    s.write_all(&out).await?;
    loop {
        if let Some(p) = decode(&mut buf, Some(V311), MAX_PACKET)? {
            match p {
                Packet::SubAck(_) => break,
                other => bail!("expected SUBACK, got {}", other.name()),
            }
        }
        if s.read_buf(&mut buf).await? == 0 {
            bail!("relay subscriber closed before SUBACK");
        }
    }
    let (stop_tx, mut stop) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut got = 0u64;
        loop {
            tokio::select! {
                _ = stop.changed() => return Ok(got),
                r = s.read_buf(&mut buf) => {
                    if r? == 0 {
                        bail!("broker closed the relay subscriber after {got} messages");
                    }
                }
            }
            while let Some(p) = decode(&mut buf, Some(V311), MAX_PACKET)? {
                if matches!(p, Packet::Publish(_)) {
                    got += 1;
                }
            }
        }
    });
    Ok((stop_tx, task))
}

/// Idle connections held open until dropped or stopped.
pub(crate) struct Idle {
    pub(crate) connected: usize,
    pub(crate) connect_seconds: f64,
    pub(crate) errors: Vec<String>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Idle {
    /// Close every connection; errors of connections the broker closed meanwhile.
    pub(crate) async fn close(self) -> Vec<String> {
        let _ = self.stop.send(true);
        let mut errors = Vec::new();
        for t in self.tasks {
            if let Ok(Err(e)) = t.await {
                errors.push(format!("{e:#}"));
            }
        }
        errors
    }
}

/// Connect all clients and leave them idle (no publishes; keep-alive longer than the run).
pub(crate) async fn hold_idle(addr: SocketAddr, clients: &[Client]) -> Idle {
    let (stop_tx, stop_rx) = watch::channel(false);
    let t0 = Instant::now();
    let (tasks, connected, errors) = connect_all(addr, clients, move |_, mut s, mut buf| {
        let mut stop = stop_rx.clone();
        async move {
            tokio::select! {
                _ = stop.changed() => Ok(()),
                r = s.read_buf(&mut buf) => match r? {
                    0 => bail!("broker closed an idle connection"),
                    _ => bail!("unexpected data on an idle connection"),
                },
            }
        }
    })
    .await;
    Idle {
        connected,
        connect_seconds: t0.elapsed().as_secs_f64(),
        errors,
        stop: stop_tx,
        tasks,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn payload_is_three_numbers_of_json() {
        let v: serde_json::Value = serde_json::from_str(&super::payload(7, 1234)).unwrap();
        let o = v.as_object().unwrap();
        assert_eq!(o.len(), 3);
        assert!(o.values().all(serde_json::Value::is_number));
        assert_eq!(v["a"], 234.5);
    }
}
