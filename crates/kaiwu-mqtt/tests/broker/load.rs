//! Load checks, not run by default (they measure, they do not assert speed):
//! `cargo test -p kaiwu-mqtt --release --test broker load -- --ignored --nocapture`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kaiwu_mqtt::broker::{
    Broker, BrokerConfig, ConnectInfo, DisconnectCause, Hooks, PublishOutcome,
};
use kaiwu_mqtt::codec::{Connect, Packet, Properties, Protocol, Publish, QoS, ReasonCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Accepts everyone, counts and consumes every publish.
#[derive(Default)]
struct Trivial {
    publishes: AtomicU64,
}

#[async_trait::async_trait]
impl Hooks for Trivial {
    type Client = ();
    async fn authenticate(&self, _: &ConnectInfo) -> Result<(), ReasonCode> {
        Ok(())
    }
    fn authorize_publish(&self, _: &(), _: &str) -> bool {
        true
    }
    fn authorize_subscribe(&self, _: &(), _: &str) -> bool {
        true
    }
    async fn on_publish(&self, _: &(), _: &str, _: &Publish) -> PublishOutcome {
        self.publishes.fetch_add(1, Ordering::Relaxed);
        PublishOutcome::Consumed
    }
    async fn on_connected(&self, _: &(), _: &ConnectInfo) {}
    async fn on_disconnected(&self, _: &(), _: &DisconnectCause) {}
}

fn encode(p: &Packet) -> BytesMut {
    let mut out = BytesMut::new();
    p.encode(Protocol::V311, &mut out).unwrap();
    out
}

async fn connect(addr: std::net::SocketAddr, id: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let c = Packet::Connect(Box::new(Connect {
        protocol: Protocol::V311,
        client_id: format!("load-{id}"),
        clean_start: true,
        keep_alive: 0,
        username: Some("dev".into()),
        password: None,
        will: None,
        properties: Properties::default(),
    }));
    s.write_all(&encode(&c)).await.unwrap();
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack).await.unwrap();
    assert_eq!(ack, [0x20, 2, 0, 0]);
    s
}

fn start(rt: &tokio::runtime::Runtime) -> (Broker<Trivial>, Arc<Trivial>, std::net::SocketAddr) {
    let hooks = Arc::new(Trivial::default());
    let broker = Broker::open(BrokerConfig::default(), hooks.clone()).unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let b = broker.clone();
    rt.spawn(async move { b.serve(listener).await });
    (broker, hooks, addr)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// QoS 1 telemetry from many pipelining connections; client and broker share the machine.
#[test]
#[ignore = "load measurement"]
fn load_qos1_throughput() {
    let conns: usize = std::env::var("KW_LOAD_CONNS").map_or(5000, |v| v.parse().unwrap());
    let secs: u64 = std::env::var("KW_LOAD_SECS").map_or(10, |v| v.parse().unwrap());
    let window: u16 = std::env::var("KW_LOAD_WINDOW").map_or(16, |v| v.parse().unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_broker, hooks, addr) = start(&rt);
    let acked = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs) + Duration::from_secs(5);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    for id in 0..conns {
        let acked = acked.clone();
        let gate = gate.clone();
        tasks.push(rt.spawn(async move {
            let mut s = {
                let _p = gate.acquire().await.unwrap();
                connect(addr, id).await
            };
            let payload = Bytes::from_static(br#"{"temperature":21.5,"humidity":40}"#);
            let mut pid: u16 = 0;
            let mut inflight = 0u16;
            let mut out = BytesMut::new();
            let mut buf = vec![0u8; 4096];
            let mut partial = 0usize;
            while Instant::now() < deadline {
                while inflight < window {
                    pid = pid.wrapping_add(1).max(1);
                    let p = Packet::Publish(Publish {
                        qos: QoS::AtLeastOnce,
                        topic: "v1/devices/me/telemetry".into(),
                        packet_id: Some(pid),
                        payload: payload.clone(),
                        ..Publish::default()
                    });
                    p.encode(Protocol::V311, &mut out).unwrap();
                    inflight += 1;
                }
                s.write_all(&out).await.unwrap();
                out.clear();
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                // Only 4-byte PUBACKs arrive after CONNACK.
                let total = partial + n;
                let acks = total / 4;
                partial = total % 4;
                inflight -= u16::try_from(acks).unwrap();
                acked.fetch_add(acks as u64, Ordering::Relaxed);
            }
        }));
    }
    // Measure a steady window once every connection is up.
    rt.block_on(async {
        tokio::time::sleep(Duration::from_secs(3)).await;
    });
    let (a0, t0) = (acked.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    let (a1, t1) = (acked.load(Ordering::Relaxed), Instant::now());
    let rate = (a1 - a0) as f64 / (t1 - t0).as_secs_f64();
    for t in tasks {
        let _ = rt.block_on(t);
    }
    println!(
        "load: {conns} connections, window {window}: {rate:.0} QoS1 publishes/s acknowledged \
         (client in the same process on the same cores); total hooks calls {}; run {:?}",
        hooks.publishes.load(Ordering::Relaxed),
        started.elapsed()
    );
}

/// Resident memory per idle connection (client and broker side together).
#[test]
#[ignore = "load measurement"]
fn load_idle_connection_memory() {
    let conns: usize = std::env::var("KW_LOAD_CONNS").map_or(9000, |v| v.parse().unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (broker, _hooks, addr) = start(&rt);
    let before = rss_kib();
    let streams = rt.block_on(async {
        let mut streams = Vec::with_capacity(conns);
        for chunk in (0..conns).collect::<Vec<_>>().chunks(256) {
            let batch: Vec<_> = chunk
                .iter()
                .map(|&id| tokio::spawn(connect(addr, id)))
                .collect();
            for t in batch {
                streams.push(t.await.unwrap());
            }
        }
        streams
    });
    while broker.connections() < conns {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib();
    println!(
        "idle: {conns} connections, RSS {before} KiB -> {after} KiB = {:.1} KiB per connection \
         (both ends)",
        (after - before) as f64 / conns as f64
    );
    drop(streams);
}

#[test]
#[ignore = "load measurement"]
fn load_connection_future_size() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (broker, _, _) = start(&rt);
    let (a, _b) = tokio::io::duplex(64);
    let f = broker.handle_connection(a, "127.0.0.1:1".parse().unwrap(), None);
    println!("connection future: {} bytes", std::mem::size_of_val(&f));
}
