//! Parts 2 and 3 of scenario d: the release `kaiwu serve` polling the Modbus simulator through
//! `modbus_tcp` connectors, and subscribing to an OPC UA simulator through one `opcua`
//! connector. Devices, types and connectors are created through the HTTP API (setup, not timed);
//! then, after a warm-up, the node's CPU and its connectors' stored-point counters are read
//! over a window.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kaiwu_opcua::{DataType, ServerOptions, SimServer, Val, VarSpec};
use serde_json::{Value, json};

use crate::brokers::KaiwuNode;
use crate::http::Http;
use crate::progress::say;
use crate::sys;

/// Properties (registers or OPC UA variables) per device.
pub(crate) const PER_DEVICE: usize = 1000;
/// Devices per Modbus connector (one connector per unit, like one PLC each); keeps each
/// connector document well under the API's 1 MiB body limit.
pub(crate) const DEVICES_PER_CONNECTOR: usize = 5;

/// What the node did over the window.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NodeRun {
    /// Points stored per second (connector counters).
    pub(crate) points_per_s: f64,
    /// Requests per second (Modbus requests; OPC UA publish responses).
    pub(crate) requests_per_s: f64,
    pub(crate) request_errors: u64,
    /// The node's CPU over the window, 1.0 = one core.
    pub(crate) cpu: Option<f64>,
    pub(crate) rss_kib: Option<u64>,
    /// OPC UA only: value changes the simulator made per second during the window.
    pub(crate) source_changes_per_s: Option<f64>,
}

/// A device type of `PER_DEVICE` properties of `kind`, named `<prefix><n>`.
fn create_type(api: &mut Http, id: &str, prefix: &str, kind: &str) -> anyhow::Result<()> {
    let props: Vec<Value> = (0..PER_DEVICE)
        .map(|k| json!({"id": format!("{prefix}{k}"), "type": kind}))
        .collect();
    let (status, v) = api.post("/api/device-types", &json!({"id": id, "properties": props}))?;
    if status != 201 {
        bail!("creating device type {id}: {status} {v}");
    }
    Ok(())
}

fn create_devices(
    api: &mut Http,
    ty: &str,
    ids: impl Iterator<Item = String>,
) -> anyhow::Result<()> {
    for id in ids {
        let (status, v) = api.post("/api/devices", &json!({"id": id, "type": ty}))?;
        if status != 201 {
            bail!("creating device {id}: {status} {v}");
        }
    }
    Ok(())
}

fn create_connector(api: &mut Http, doc: &Value) -> anyhow::Result<()> {
    let (status, v) = api.post("/api/connectors", doc)?;
    if status != 201 {
        bail!("creating connector {}: {status} {v}", doc["id"]);
    }
    Ok(())
}

/// Sum of counter `key` over `ids`.
fn counters(api: &mut Http, ids: &[String]) -> anyhow::Result<[u64; 3]> {
    let mut sum = [0; 3];
    for id in ids {
        let (status, v) = api.get(&format!("/api/connectors/{id}/status"))?;
        if status != 200 {
            bail!("status of connector {id}: {status} {v}");
        }
        let c = &v["counters"];
        for (s, k) in sum.iter_mut().zip(["points", "requests", "request_errors"]) {
            *s += c[k].as_u64().unwrap_or(0);
        }
    }
    Ok(sum)
}

/// Wait until the connectors stored `want` points in total, then `settle` more.
fn warm_up(api: &mut Http, ids: &[String], want: u64, settle: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let [points, ..] = counters(api, ids)?;
        if points >= want {
            break;
        }
        if Instant::now() > deadline {
            let mut why = String::new();
            for id in ids.iter().take(3) {
                let (_, v) = api.get(&format!("/api/connectors/{id}/status"))?;
                why.push_str(&format!(
                    "; {id}: {} {}",
                    v["state"],
                    v["last_error"].as_str().unwrap_or("")
                ));
            }
            bail!("connectors stored only {points} of {want} points within 120 s of warm-up{why}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    std::thread::sleep(settle);
    Ok(())
}

/// Read the node's CPU and the counters over `window`.
fn measure(node: &KaiwuNode, ids: &[String], window: Duration) -> anyhow::Result<NodeRun> {
    let mut api = node.api();
    let tck = sys::clk_tck();
    let c0 = counters(&mut api, ids)?;
    let cpu0 = sys::pid_cpu_seconds(node.pid(), tck);
    let t0 = Instant::now();
    std::thread::sleep(window);
    let c1 = counters(&mut api, ids)?;
    let cpu1 = sys::pid_cpu_seconds(node.pid(), tck);
    let secs = t0.elapsed().as_secs_f64();
    Ok(NodeRun {
        points_per_s: (c1[0] - c0[0]) as f64 / secs,
        requests_per_s: (c1[1] - c0[1]) as f64 / secs,
        request_errors: c1[2] - c0[2],
        cpu: cpu0.zip(cpu1).map(|(a, b)| (b - a) / secs),
        rss_kib: sys::pid_rss_kib(node.pid()),
        source_changes_per_s: None,
    })
}

/// Kaiwu polling `points` u16 holding registers (every 1000 ms) from the simulator at `sim`,
/// whose units 1.. each hold `DEVICES_PER_CONNECTOR * PER_DEVICE` registers.
pub(crate) fn modbus(
    sim: std::net::SocketAddr,
    points: usize,
    window: Duration,
) -> anyhow::Result<NodeRun> {
    let devices = points / PER_DEVICE;
    let node = KaiwuNode::start()?;
    let mut api = node.api();
    say!(
        "[modbus-poll] kaiwu: creating {devices} devices of {PER_DEVICE} registers and their connectors (setup)"
    );
    create_type(&mut api, "plc", "r", "int")?;
    create_devices(&mut api, "plc", (0..devices).map(|d| format!("p{d}")))?;
    let mut ids = Vec::new();
    for (c, first) in (0..devices).step_by(DEVICES_PER_CONNECTOR).enumerate() {
        let pts: Vec<Value> = (first..(first + DEVICES_PER_CONNECTOR).min(devices))
            .flat_map(|d| {
                (0..PER_DEVICE).map(move |k| {
                    json!({"device": format!("p{d}"), "property": format!("r{k}"), "area": "holding",
                           "address": (d - first) * PER_DEVICE + k, "encoding": "u16"})
                })
            })
            .collect();
        let id = format!("mb{c}");
        create_connector(
            &mut api,
            &json!({"id": id, "kind": "modbus_tcp", "address": sim.to_string(),
                    "unit_id": c + 1, "poll_ms": 1000, "points": pts}),
        )?;
        ids.push(id);
    }
    say!("[modbus-poll] kaiwu: warming up (two polls of every point)");
    warm_up(&mut api, &ids, 2 * points as u64, Duration::from_secs(2))?;
    say!("[modbus-poll] kaiwu: measuring {points} points polled every second for {window:?}");
    measure(&node, &ids, window)
}

/// How the OPC UA part is laid out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UaShape {
    /// Monitored items in total.
    pub(crate) items: usize,
    /// Items per `opcua` connector (each its own session and subscription).
    pub(crate) per_connector: usize,
    /// The connectors' `publishing_ms`.
    pub(crate) publishing_ms: u64,
}

/// Kaiwu subscribed to OPC UA variables at 100 ms sampling, which a thread of this process
/// changes every 100 ms (or as fast as the simulator takes them).
pub(crate) fn opcua(
    rt: &tokio::runtime::Runtime,
    shape: UaShape,
    window: Duration,
) -> anyhow::Result<NodeRun> {
    let points = shape.items;
    let devices = points.div_ceil(PER_DEVICE);
    let pki = tempfile::tempdir().context("creating a temp dir for the OPC UA simulator")?;
    let opts = ServerOptions {
        addr: ([127, 0, 0, 1], 0).into(),
        pki_dir: pki.path().to_path_buf(),
        namespace_uri: "urn:kaiwu-bench".into(),
        allow_anonymous: true,
        users: Vec::new(),
        security_none: true,
    };
    say!("[modbus-poll] opc ua: starting the simulator with {points} variables");
    let sim = Arc::new(rt.block_on(SimServer::start(opts, Vec::new()))?);
    let ns = sim.namespace_index();
    let nodes: Vec<String> = (0..points)
        .map(|i| format!("ns={ns};s=u{}.p{}", i / PER_DEVICE, i % PER_DEVICE))
        .collect();
    for (i, n) in nodes.iter().enumerate() {
        let v = VarSpec {
            node: n.clone(),
            browse_name: format!("u{}.p{}", i / PER_DEVICE, i % PER_DEVICE),
            parent_folder: format!("u{}", i / PER_DEVICE),
            initial: Val::Float(0.0),
            writable: false,
        };
        sim.add_variable(v, DataType::Double)?;
    }
    let node = KaiwuNode::start()?;
    let mut api = node.api();
    let per = shape.per_connector.max(1);
    say!(
        "[modbus-poll] opc ua: creating {devices} devices and {} connector(s) of up to {per} nodes (setup)",
        points.div_ceil(per)
    );
    create_type(&mut api, "ua", "p", "float")?;
    create_devices(&mut api, "ua", (0..devices).map(|d| format!("u{d}")))?;
    let mut ids = Vec::new();
    for (c, chunk) in nodes.chunks(per).enumerate() {
        // `mode` is left at its default (subscribe) to keep the document under the body limit.
        let items: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(j, node_id)| {
                let i = c * per + j;
                json!({"device": format!("u{}", i / PER_DEVICE), "property": format!("p{}", i % PER_DEVICE),
                       "node_id": node_id, "sampling_ms": 100})
            })
            .collect();
        let id = format!("ua{c}");
        let doc = json!({"id": id, "kind": "opcua", "endpoint": sim.endpoint_url(), "security": "None",
                         "trust_server": true, "publishing_ms": shape.publishing_ms, "nodes": items});
        create_connector(&mut api, &doc)?;
        ids.push(id);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let changes = Arc::new(AtomicU64::new(0));
    let updater = {
        let (sim, stop, changes) = (sim.clone(), stop.clone(), changes.clone());
        let handle = rt.handle().clone();
        std::thread::spawn(move || {
            let _guard = handle.enter();
            change_loop(&sim, &nodes, &stop, &changes)
        })
    };
    say!("[modbus-poll] opc ua: warming up (initial values, then 3 s of changes)");
    let result = warm_up(&mut api, &ids, points as u64, Duration::from_secs(3)).and_then(|()| {
        say!("[modbus-poll] opc ua: measuring for {window:?}");
        let n0 = changes.load(Ordering::Relaxed);
        let t0 = Instant::now();
        let mut r = measure(&node, &ids, window)?;
        let n1 = changes.load(Ordering::Relaxed);
        r.source_changes_per_s = Some((n1 - n0) as f64 / t0.elapsed().as_secs_f64());
        Ok(r)
    });
    stop.store(true, Ordering::Relaxed);
    let set_err = updater
        .join()
        .map_err(|_| anyhow::anyhow!("the OPC UA update thread panicked"))?;
    drop(node);
    if let Ok(sim) = Arc::try_unwrap(sim) {
        rt.block_on(sim.stop());
    }
    set_err?;
    result
}

/// Every 100 ms give every variable a new value stamped now; a round that takes longer than
/// 100 ms is followed at once by the next.
fn change_loop(
    sim: &SimServer,
    nodes: &[String],
    stop: &AtomicBool,
    changes: &AtomicU64,
) -> anyhow::Result<()> {
    let period = Duration::from_millis(100);
    let mut next = Instant::now();
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let ts = kaiwu_core::now_ms();
        for (i, n) in nodes.iter().enumerate() {
            sim.set(n, Val::Float((round + i as u64) as f64 * 0.5), ts)
                .with_context(|| format!("setting {n}"))?;
        }
        changes.fetch_add(nodes.len() as u64, Ordering::Relaxed);
        next += period;
        match next.checked_duration_since(Instant::now()) {
            Some(wait) => std::thread::sleep(wait),
            None => next = Instant::now(),
        }
    }
    Ok(())
}
