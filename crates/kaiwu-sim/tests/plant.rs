//! A plant on free ports, read as the platform's connectors read it: Modbus TCP, Modbus
//! RTU-over-TCP and OPC UA. Waits are polls with a generous bound, never fixed sleeps.

use std::time::Duration;

use kaiwu_modbus::{Client, Framing, Order, Raw, decode};
use kaiwu_opcua::{ClientOptions, Identity, Security, Val};
use kaiwu_sim::{ModbusPoint, Plant, PlantOptions, modbus_layout};

const TIMEOUT: Duration = Duration::from_secs(5);

/// Reads one point as a connector would, in engineering units (booleans as 0/1).
async fn read_point(c: &mut Client, p: &ModbusPoint) -> f64 {
    let order = Order::parse(p.order).expect("order");
    if p.area.is_bit() {
        let mut bits = Vec::new();
        c.read_bits(p.unit, p.area, p.address, 1, &mut bits)
            .await
            .expect("read bits");
        return f64::from(u8::from(bits[0]));
    }
    let mut regs = Vec::new();
    c.read_registers(p.unit, p.area, p.address, p.encoding.registers(), &mut regs)
        .await
        .expect("read registers");
    match decode(&regs, p.encoding, order, p.bit).expect("decode") {
        Raw::Int(i) => i as f64 * p.scale + p.offset,
        Raw::Float(f) => f * p.scale + p.offset,
        Raw::Bool(b) => f64::from(u8::from(b)),
    }
}

fn find<'a>(layout: &'a [ModbusPoint], device: &str, property: &str) -> &'a ModbusPoint {
    layout
        .iter()
        .find(|p| p.device == device && p.property == property)
        .expect("point in layout")
}

/// Polls point `p` until `pred` holds, for at most ten seconds; returns the value.
async fn wait_point(
    c: &mut Client,
    p: &ModbusPoint,
    what: &str,
    pred: impl Fn(f64) -> bool,
) -> f64 {
    for _ in 0..200 {
        let v = read_point(c, p).await;
        if pred(v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 10 s");
}

/// Polls OPC UA `node` until `pred` holds, for at most ten seconds.
async fn wait_node(c: &kaiwu_opcua::Client, node: &str, what: &str, pred: impl Fn(&Val) -> bool) {
    for _ in 0..200 {
        let samples = c.read(&[node.to_owned()]).await.expect("opc ua read");
        if pred(&samples[0].value) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plant_serves_plausible_values_and_picks_up_writes() {
    let pki = tempfile::tempdir().expect("tempdir");
    let mut opts = PlantOptions::local(pki.path().join("server"));
    opts.tick_ms = 50;
    opts.seed = 7;
    let plant = Plant::start(opts).await.expect("plant starts");
    let (tcp, rtu) = modbus_layout();

    let mut mills = Client::connect(&plant.modbus_tcp_addr().to_string(), Framing::Tcp, TIMEOUT)
        .await
        .expect("tcp");
    for device in ["mill-01", "mill-02"] {
        let v = |prop| find(&tcp, device, prop);
        let speed = read_point(&mut mills, v("spindle_speed")).await;
        assert!((0.0..=12_500.0).contains(&speed), "{device} speed {speed}");
        let temp = read_point(&mut mills, v("temperature")).await;
        assert!((15.0..=80.0).contains(&temp), "{device} temperature {temp}");
        let state = read_point(&mut mills, v("state")).await;
        assert!([0.0, 1.0, 2.0].contains(&state), "{device} state {state}");
        assert_eq!(read_point(&mut mills, v("feed_override")).await, 100.0);
        assert_eq!(read_point(&mut mills, v("program_enable")).await, 1.0);
    }
    // The spindle starts a program within the first simulated minute (20 real ticks/s).
    wait_point(
        &mut mills,
        find(&tcp, "mill-01", "spindle_speed"),
        "mill-01 running",
        |v| v > 1000.0,
    )
    .await;

    let mut meter = Client::connect(
        &plant.modbus_rtu_addr().to_string(),
        Framing::RtuOverTcp,
        TIMEOUT,
    )
    .await
    .expect("rtu");
    let voltage = read_point(&mut meter, find(&rtu, "meter-01", "voltage")).await;
    assert!((392.0..=408.0).contains(&voltage), "voltage {voltage}");
    let pf = read_point(&mut meter, find(&rtu, "meter-01", "power_factor")).await;
    assert!((0.85..=0.95).contains(&pf), "pf {pf}");
    let power = read_point(&mut meter, find(&rtu, "meter-01", "active_power")).await;
    assert!((5.0..=200.0).contains(&power), "power {power}");
    let e0 = read_point(&mut meter, find(&rtu, "meter-01", "energy")).await;
    wait_point(
        &mut meter,
        find(&rtu, "meter-01", "energy"),
        "energy advancing",
        |v| v > e0,
    )
    .await;

    // A written feed override is picked up: out of range it is clamped and written back,
    // in range it stays.
    let feed = *find(&tcp, "mill-02", "feed_override");
    mills
        .write_register(feed.unit, feed.address, 500)
        .await
        .expect("write feed override");
    wait_point(&mut mills, &feed, "feed override clamped", |v| v == 150.0).await;
    mills
        .write_register(feed.unit, feed.address, 80)
        .await
        .expect("write feed override");
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(read_point(&mut mills, &feed).await, 80.0);
    }

    opcua_checks(&plant, pki.path()).await;
    plant.stop().await;
}

async fn opcua_checks(plant: &Plant, pki: &std::path::Path) {
    let client = kaiwu_opcua::Client::connect(ClientOptions {
        endpoint: plant.opcua_endpoint(),
        security: Security::None,
        identity: Identity::Anonymous,
        pki_dir: pki.join("client"),
        trust_server_certs: true,
        timeout: TIMEOUT,
        application_name: "kaiwu-sim test".into(),
    })
    .await
    .expect("opc ua connect");
    let nodes: Vec<String> = kaiwu_sim::opcua_layout()
        .iter()
        .map(|p| p.node.to_owned())
        .collect();
    let samples = client.read(&nodes).await.expect("read");
    for s in &samples {
        assert!(s.source_ts_ms.is_some(), "{s:?}");
        assert!(!matches!(s.value, Val::Null | Val::String(_)), "{s:?}");
    }
    assert_eq!(samples[2].value, Val::Float(120.0), "line speed default");
    let Val::Int(g0) = samples[0].value else {
        panic!("good count {:?}", samples[0].value)
    };
    wait_node(
        &client,
        &nodes[0],
        "good count rising",
        |v| matches!(v, Val::Int(g) if *g > g0),
    )
    .await;
    // A written line speed is picked up; out of range it is clamped to 300.
    client
        .write("ns=2;s=Packer01.LineSpeed", Val::Float(1000.0))
        .await
        .expect("write line speed");
    wait_node(
        &client,
        "ns=2;s=Packer01.LineSpeed",
        "line speed clamped",
        |v| *v == Val::Float(300.0),
    )
    .await;
    client.disconnect().await;
}
