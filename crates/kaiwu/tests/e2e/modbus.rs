//! Modbus connectors against a third-party peer (a pymodbus server started by the test):
//! scaling and byte orders, writes arriving at the peer, range checks against the thing model,
//! refused configurations, and recovery after the peer goes away and comes back.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::Api;
use crate::common::{ADMIN_PASSWORD, Node, ScriptPeer, data_dir, tempdir};

/// The pymodbus server of `modbus_peer.py`; its `lines` are the write requests it received.
fn start_peer(port: u16, rtu: bool) -> ScriptPeer {
    let port = port.to_string();
    let mut args = vec![std::ffi::OsStr::new(&port)];
    if rtu {
        args.push(std::ffi::OsStr::new("rtu"));
    }
    ScriptPeer::start("modbus_peer.py", &args)
}

pub(crate) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Poll `f` until it gives `Some`, for at most 30 s.
pub(crate) fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn fixture(node: &Node) -> Api {
    let admin = Api::login(node, "admin", ADMIN_PASSWORD);
    admin
        .post(
            "/api/device-types",
            &json!({"id": "plc_test", "properties": [
                {"id": "speed", "type": "float"},
                {"id": "temp", "type": "float", "min": -50, "max": 150},
                {"id": "count", "type": "int"},
                {"id": "energy", "type": "float"},
                {"id": "flag_a", "type": "bool"},
                {"id": "flag_b", "type": "bool"},
                {"id": "flag_c", "type": "bool"},
                {"id": "delta", "type": "int"},
                {"id": "setpoint", "type": "int", "min": 0, "max": 1000, "access": "read_write"},
                {"id": "ratio", "type": "float", "min": 0, "max": 100, "access": "read_write"},
                {"id": "run", "type": "bool", "access": "read_write"},
                {"id": "door", "type": "bool"}]}),
        )
        .ok(201);
    admin
        .post("/api/devices", &json!({"id": "plc-1", "type": "plc_test"}))
        .ok(201);
    admin
}

fn points() -> Value {
    let p = |property: &str, area: &str, address: u16, extra: Value| {
        let mut v =
            json!({"device": "plc-1", "property": property, "area": area, "address": address});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    json!([
        p("speed", "input", 0, json!({"encoding": "f32"})),
        p("temp", "input", 2, json!({"encoding": "i16", "scale": 0.1})),
        p(
            "count",
            "input",
            3,
            json!({"encoding": "u32", "order": "CDAB"})
        ),
        p("energy", "input", 5, json!({"encoding": "f64"})),
        p("flag_a", "input", 9, json!({"bit": 0})),
        p("flag_b", "input", 9, json!({"bit": 1})),
        p("flag_c", "input", 9, json!({"bit": 2})),
        p(
            "delta",
            "input",
            10,
            json!({"encoding": "i32", "order": "DCBA"})
        ),
        p("setpoint", "holding", 0, json!({"write": true})),
        p(
            "ratio",
            "holding",
            1,
            json!({"encoding": "f32", "order": "CDAB", "write": true})
        ),
        p("run", "coil", 0, json!({"write": true})),
        p("door", "discrete", 0, json!({})),
    ])
}

fn connector(kind: &str, port: u16) -> Value {
    json!({"id": "plc", "kind": kind, "enabled": true, "address": format!("127.0.0.1:{port}"),
           "unit_id": 1, "poll_ms": 200, "timeout_ms": 500, "points": points()})
}

fn latest(admin: &Api) -> Value {
    admin.get("/api/devices/plc-1/latest").ok(200)
}

fn status(admin: &Api) -> Value {
    admin.get("/api/connectors/plc/status").ok(200)
}

fn sql(admin: &Api, q: &str) -> Value {
    admin.post("/api/query", &json!({ "sql": q })).ok(200)["rows"].clone()
}

#[test]
fn modbus_tcp_reads_scales_writes_and_recovers_from_a_peer_outage() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = fixture(&node);
    let port = free_port();
    let peer = start_peer(port, false);
    admin
        .post("/api/connectors", &connector("modbus_tcp", port))
        .ok(201);

    // Values with their scaling, byte and word orders, bits, coils and discrete inputs.
    let l = wait_for("all points read", || {
        let l = latest(&admin);
        (l.as_object().unwrap().len() == 12).then_some(l)
    });
    let v = |k: &str| l[k]["value"].clone();
    assert_eq!(v("speed"), json!(1234.5));
    assert!((v("temp").as_f64().unwrap() + 12.3).abs() < 1e-9, "{l}");
    assert_eq!(v("count"), json!(70000));
    assert_eq!(v("energy"), json!(3.25));
    assert_eq!(
        [v("flag_a"), v("flag_b"), v("flag_c")],
        [json!(true), json!(false), json!(true)]
    );
    assert_eq!(v("delta"), json!(-5));
    assert_eq!(v("setpoint"), json!(100));
    assert_eq!(v("ratio"), json!(55.5));
    assert_eq!([v("run"), v("door")], [json!(true), json!(true)]);
    assert!(
        l.as_object()
            .unwrap()
            .values()
            .all(|x| x["quality"] == "good"),
        "{l}"
    );
    let st = status(&admin);
    assert_eq!(st["state"], "connected", "{st}");
    assert_eq!(
        admin.get("/api/devices/plc-1/shadow").ok(200)["online"],
        true
    );

    // Writes reach the peer in the point's encoding; the thing model bounds them.
    let out = admin
        .post(
            "/api/devices/plc-1/commands/write",
            &json!({"params": {"setpoint": 250, "ratio": 12.25, "run": false}}),
        )
        .ok(200);
    assert_eq!(
        out["result"]["written"].as_array().unwrap().len(),
        3,
        "{out}"
    );
    let ratio_words = {
        let b = 12.25f32.to_be_bytes();
        [
            u16::from_be_bytes([b[2], b[3]]),
            u16::from_be_bytes([b[0], b[1]]),
        ]
    };
    let want = [
        json!({"fc": 6, "address": 0, "values": [250]}),
        json!({"fc": 16, "address": 1, "values": ratio_words}),
        json!({"fc": 5, "address": 0, "values": [0]}),
    ];
    // The peer prints what it received; its output reaches the test a moment later.
    wait_for("writes at the peer", || {
        let got = peer.lines.lock().unwrap().clone();
        want.iter().all(|w| got.contains(w)).then_some(())
    });
    wait_for("written values read back", || {
        (latest(&admin)["setpoint"]["value"] == json!(250)).then_some(())
    });
    let before = peer.lines.lock().unwrap().len();
    let p = admin
        .post(
            "/api/devices/plc-1/commands/write",
            &json!({"params": {"setpoint": 5000}}),
        )
        .problem(422);
    assert!(p["detail"].as_str().unwrap().contains("setpoint"), "{p}");
    admin
        .post(
            "/api/devices/plc-1/commands/write",
            &json!({"params": {"speed": 1}}),
        )
        .problem(422);
    admin
        .post(
            "/api/devices/plc-1/commands/write",
            &json!({"params": {"setpoint": 10, "ratio": 101}}),
        )
        .problem(422);
    assert_eq!(
        peer.lines.lock().unwrap().len(),
        before,
        "refused writes must not reach the peer"
    );
    // Desired values go the same way.
    admin
        .patch("/api/devices/plc-1/shadow", &json!({"setpoint": 321}))
        .ok(200);
    wait_for("desired value written", || {
        peer.lines
            .lock()
            .unwrap()
            .contains(&json!({"fc": 6, "address": 0, "values": [321]}))
            .then_some(())
    });

    // Outage: quality goes bad once, then good again after the peer returns, on its own.
    peer.stop();
    let down_ms = crate::common::now_ms();
    wait_for("quality bad", || {
        (latest(&admin)["speed"]["quality"] == "bad").then_some(())
    });
    let st = status(&admin);
    assert_ne!(st["state"], "connected", "{st}");
    assert!(st["last_error"].is_string(), "{st}");
    assert_eq!(
        admin.get("/api/devices/plc-1/shadow").ok(200)["online"],
        false
    );
    std::thread::sleep(Duration::from_secs(2));
    let up_ms = crate::common::now_ms();
    let peer = start_peer(port, false);
    wait_for("reconnected and good", || {
        let l = latest(&admin);
        (status(&admin)["state"] == "connected"
            && l["speed"]["quality"] == "good"
            && l["speed"]["ts"].as_i64().unwrap() > up_ms)
            .then_some(())
    });
    let dup = sql(
        &admin,
        "SELECT ts, count(*) FROM plc_test WHERE device = 'plc-1' GROUP BY ts HAVING count(*) > 1",
    );
    assert_eq!(dup, json!([]), "duplicated rows");
    // No value is stamped inside the outage (a poll in flight at the kill may still land).
    let inside = sql(
        &admin,
        &format!(
            "SELECT count(*) FROM plc_test WHERE speed IS NOT NULL AND CAST(ts AS BIGINT) > {} AND CAST(ts AS BIGINT) < {up_ms}",
            down_ms + 1000
        ),
    );
    assert_eq!(
        inside,
        json!([[0]]),
        "values stamped while the peer was down"
    );
    let bad = sql(
        &admin,
        "SELECT count(*) FROM telemetry WHERE device = 'plc-1' AND key = 'speed' AND quality = 'bad'",
    );
    assert_eq!(bad, json!([[1]]), "one bad marker per outage");
    let st = status(&admin);
    assert!(st["counters"]["connects"].as_u64().unwrap() >= 2, "{st}");
    println!(
        "modbus outage: bad marker 1, reconnects {}, rows {}",
        st["counters"]["connects"], st["counters"]["rows"]
    );
    peer.stop();
    node.stop();
}

#[test]
fn modbus_rtu_over_tcp_reads_the_same_values() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = fixture(&node);
    let port = free_port();
    let _peer = start_peer(port, true);
    admin
        .post("/api/connectors", &connector("modbus_rtu", port))
        .ok(201);
    let l = wait_for("points read over RTU", || {
        let l = latest(&admin);
        (l.as_object().unwrap().len() == 12).then_some(l)
    });
    assert_eq!(l["speed"]["value"], json!(1234.5));
    assert_eq!(l["count"]["value"], json!(70000));
    assert_eq!(l["delta"]["value"], json!(-5));
    admin
        .post(
            "/api/devices/plc-1/commands/write",
            &json!({"params": {"setpoint": 7}}),
        )
        .ok(200);
    node.stop();
}

/// RTU on a host serial line: the peer's pseudo-terminal pair stands in for the RS-485 cable.
#[test]
fn modbus_rtu_on_a_serial_line_reads_and_writes() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = fixture(&node);
    let peer = ScriptPeer::start("modbus_peer.py", &[std::ffi::OsStr::new("serial")]);
    let tty = peer.lines.lock().unwrap()[0]["serial_port"]
        .as_str()
        .expect("the peer names its serial port")
        .to_owned();
    let mut c = connector("modbus_rtu", 0);
    let o = c.as_object_mut().unwrap();
    o.remove("address");
    o.insert("serial_port".into(), json!(tty));
    o.insert(
        "serial".into(),
        json!({"baud": 19200, "parity": "none", "data_bits": 8, "stop_bits": 2}),
    );
    admin.post("/api/connectors", &c).ok(201);
    let l = wait_for("points read over the serial line", || {
        let l = latest(&admin);
        (l.as_object().unwrap().len() == 12).then_some(l)
    });
    assert_eq!(l["speed"]["value"], json!(1234.5));
    assert_eq!(l["temp"]["value"], json!(-12.3));
    assert_eq!(l["count"]["value"], json!(70000));
    assert_eq!(l["delta"]["value"], json!(-5));
    assert_eq!(l["door"]["value"], json!(true));
    admin
        .post(
            "/api/devices/plc-1/commands/write",
            &json!({"params": {"setpoint": 7}}),
        )
        .ok(200);
    let seen = wait_for("the write at the peer", || {
        let lines = peer.lines.lock().unwrap();
        lines.iter().find(|v| v["fc"] == 6).cloned()
    });
    assert_eq!(seen, json!({"fc": 6, "address": 0, "values": [7]}));
    assert_eq!(status(&admin)["state"], "connected");
    node.stop();
}

#[test]
fn bad_connector_configs_are_refused_with_the_field_named() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = fixture(&node);
    let mut c = connector("modbus_tcp", 1502);
    c["points"][0]["property"] = json!("no_such_property");
    let p = admin.post("/api/connectors", &c).problem(422);
    assert_eq!(p["errors"][0]["path"], "points[0].property", "{p}");
    let mut c = connector("modbus_tcp", 1502);
    c["points"][1]["write"] = json!(true);
    c["points"][1]["area"] = json!("holding");
    let p = admin.post("/api/connectors", &c).problem(422);
    assert_eq!(p["errors"][0]["path"], "points[1].write", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("read-only"), "{p}");
    let mut c = connector("modbus_tcp", 1502);
    c["points"][0]["device"] = json!("ghost");
    assert_eq!(
        admin.post("/api/connectors", &c).problem(422)["errors"][0]["path"],
        "points[0].device"
    );
    let mut c = connector("modbus_tcp", 1502);
    c["points"][0]["encoding"] = json!("f16");
    assert_eq!(
        admin.post("/api/connectors", &c).problem(422)["errors"][0]["path"],
        "points[0].encoding"
    );
    let mut c = connector("modbus_tcp", 1502);
    c["serial_port"] = json!("/dev/ttyUSB0");
    assert_eq!(
        admin.post("/api/connectors", &c).problem(422)["errors"][0]["path"],
        "serial_port"
    );
    let mut c = connector("modbus_rtu", 1502);
    c.as_object_mut().unwrap().remove("address");
    c["serial_port"] = json!("/dev/ttyUSB0");
    c["serial"] = json!({"baud": 9600, "data_bits": 7});
    let p = admin.post("/api/connectors", &c).problem(422);
    assert_eq!(p["errors"][0]["path"], "serial", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("data_bits 7"), "{p}");
    let mut c = connector("modbus_tcp", 1502);
    c["bogus"] = json!(1);
    admin.post("/api/connectors", &c).problem(422);
    let ua = json!({"id": "ua", "kind": "opcua", "endpoint": "opc.tcp://127.0.0.1:4840",
        "nodes": [{"device": "plc-1", "property": "speed", "node_id": "ns=2;x=Speed"}]});
    let p = admin.post("/api/connectors", &ua).problem(422);
    assert_eq!(p["errors"][0]["path"], "nodes[0].node_id", "{p}");
    let bridge = json!({"id": "br", "kind": "mqtt_bridge", "url": "mqtt://127.0.0.1:1883",
        "mappings": [{"topic": "x/+", "device": "plc-1", "fields": {"nope": "a"}}]});
    let p = admin.post("/api/connectors", &bridge).problem(422);
    assert_eq!(p["errors"][0]["path"], "mappings[0].fields.nope", "{p}");
    assert_eq!(admin.get("/api/connectors").ok(200), json!([]));

    // A valid one is stored, read back, replaced and deleted; the kind cannot change.
    admin
        .post("/api/connectors", &connector("modbus_tcp", 1502))
        .ok(201);
    admin
        .post("/api/connectors", &connector("modbus_tcp", 1502))
        .problem(409);
    let mut c = connector("modbus_tcp", 1503);
    c["enabled"] = json!(false);
    admin.put("/api/connectors/plc", &c).ok(200);
    assert_eq!(
        admin.get("/api/connectors/plc").ok(200)["address"],
        "127.0.0.1:1503"
    );
    assert_eq!(status(&admin)["state"], "disabled");
    admin
        .put("/api/connectors/plc", &connector("modbus_rtu", 1503))
        .problem(409);
    admin.delete("/api/connectors/plc").ok(204);
    admin.get("/api/connectors/plc").problem(404);
    node.stop();
}
