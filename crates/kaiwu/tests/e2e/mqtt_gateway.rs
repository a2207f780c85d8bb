//! The ThingsBoard gateway API (`v1/gateway/...`) driven by an Eclipse paho-mqtt gateway:
//! children are created on connect, their telemetry lands in SQL and the latest cache, commands
//! and attribute pushes travel through the gateway, and only gateways acting for their own
//! children are heard.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Lines, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use crate::api::{Api, press_fixture};
use crate::common::{Node, data_dir, tempdir};
use crate::mqtt::{device_script, mqtt_host_port, python, wait_offline};

const GW_TOKEN: &str = "e2e-gateway-token-01";
const GW2_TOKEN: &str = "e2e-gateway-token-02";
const DEVICE_TOKEN: &str = "e2e-plain-device-01";

/// The press fixture, a `sensor` type, gateway `gw1` (children default to `sensor`), a second
/// gateway `gw2` and the plain device `m1`.
fn fixture(node: &Node) -> Api {
    let admin = press_fixture(node);
    admin
        .post(
            "/api/device-types",
            &json!({"id": "sensor", "name": "Sensor", "version": 1, "properties": [
                {"id": "temp", "type": "float", "unit": "°C", "access": "read"}]}),
        )
        .ok(201);
    for (id, token) in [("gw1", GW_TOKEN), ("gw2", GW2_TOKEN)] {
        admin
            .post(
                "/api/devices",
                &json!({"id": id, "type": "press", "access_token": token,
                        "labels": {"gateway": "true", "gateway_default_type": "sensor"}}),
            )
            .ok(201);
    }
    admin
        .post(
            "/api/devices",
            &json!({"id": "m1", "type": "press", "access_token": DEVICE_TOKEN}),
        )
        .ok(201);
    admin
}

/// One publish through the `publish` scenario: (PUBACK reason code, reason string).
fn publish_once(node: &Node, token: &str, topic: &str, body: &Value) -> (u64, Value) {
    let (h, p) = mqtt_host_port(node);
    let out = Command::new(python())
        .args([&device_script(), &h, &p, token, "publish", topic])
        .arg(body.to_string())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json line");
    (v["code"].as_u64().unwrap(), v["reason"].clone())
}

/// The paho gateway of the `gateway` scenario, driven line by line.
struct Gateway {
    proc: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    /// Messages the gateway received while an acknowledgement was awaited.
    messages: VecDeque<Value>,
}

impl Gateway {
    fn start(node: &Node, token: &str) -> Gateway {
        let (h, p) = mqtt_host_port(node);
        let mut proc = Command::new(python())
            .args([&device_script(), &h, &p, token, "gateway"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs");
        let stdin = proc.stdin.take();
        let lines = BufReader::new(proc.stdout.take().unwrap()).lines();
        let mut gw = Gateway {
            proc,
            stdin,
            lines,
            messages: VecDeque::new(),
        };
        assert_eq!(gw.line(), json!("ready"));
        gw
    }

    fn line(&mut self) -> Value {
        let l = self
            .lines
            .next()
            .expect("gateway output")
            .expect("readable");
        serde_json::from_str(&l).expect("json line")
    }

    /// Publishes at QoS 1; (PUBACK reason code, reason string).
    fn publish(&mut self, topic: &str, body: &Value) -> (u64, Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{topic} {body}").unwrap();
        loop {
            let v = self.line();
            if v.get("code").is_some() {
                return (v["code"].as_u64().unwrap(), v["reason"].clone());
            }
            self.messages.push_back(v);
        }
    }

    /// The next message the platform sent the gateway: `{"topic", "body"}`.
    fn message(&mut self) -> Value {
        self.messages.pop_front().unwrap_or_else(|| self.line())
    }

    fn close(mut self) {
        drop(self.stdin.take());
        assert!(self.proc.wait().unwrap().success());
    }
}

fn online(admin: &Api, device: &str) -> Value {
    admin.get(&format!("/api/devices/{device}/shadow")).ok(200)["online"].clone()
}

#[test]
fn gateway_children_are_created_send_telemetry_and_take_commands() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = fixture(&node);
    let mut gw = Gateway::start(&node, GW_TOKEN);

    // Children are created on connect: an existing type is taken, else the gateway's default.
    let connect = "v1/gateway/connect";
    assert_eq!(
        gw.publish(connect, &json!({"device": "gw-press", "type": "press"}))
            .0,
        0
    );
    assert_eq!(gw.publish(connect, &json!({"device": "gw-sensor"})).0, 0);
    assert_eq!(
        gw.publish(
            connect,
            &json!({"device": "gw-other", "type": "no-such-type"})
        )
        .0,
        0
    );
    let (code, reason) = gw.publish(connect, &json!({"device": "bad name!"}));
    assert_eq!(code, 0x99, "{reason}");
    assert!(reason.as_str().unwrap().contains("bad name!"), "{reason}");
    for (id, ty) in [
        ("gw-press", "press"),
        ("gw-sensor", "sensor"),
        ("gw-other", "sensor"),
    ] {
        let d = admin.get(&format!("/api/devices/{id}")).ok(200);
        assert_eq!(d["type"], json!(ty), "{d}");
        assert_eq!(d["labels"], json!({"gateway": "gw1"}), "{d}");
        assert_eq!(online(&admin, id), json!(true), "{id}");
    }

    // Telemetry for two children in one message.
    let telemetry = "v1/gateway/telemetry";
    let body = json!({
        "gw-press": [{"ts": 1_700_000_000_000_i64, "values": {"spindle_speed": 1500.0}}],
        "gw-sensor": [{"temp": 21.5}, {"ts": 1_700_000_001_000_i64, "values": {"temp": 22.0}}],
    });
    assert_eq!(gw.publish(telemetry, &body).0, 0);
    let rows = admin
        .post(
            "/api/query",
            &json!({"sql": "SELECT device, spindle_speed FROM press WHERE device = 'gw-press'"}),
        )
        .ok(200);
    assert_eq!(rows["rows"], json!([["gw-press", 1500.0]]));
    let rows = admin
        .post(
            "/api/query",
            &json!({"sql": "SELECT count(*) FROM sensor WHERE device = 'gw-sensor'"}),
        )
        .ok(200);
    assert_eq!(rows["rows"][0][0], json!(2));
    let latest = admin.get("/api/devices/gw-press/latest").ok(200);
    assert_eq!(latest["spindle_speed"]["value"], json!(1500.0), "{latest}");

    // All or nothing: one bad row refuses the message, and the reason names device and path.
    let bad =
        json!({"gw-press": {"spindle_speed": 1.0}, "gw-sensor": [{"temp": 1.0}, {"nope": 1}]});
    let (code, reason) = gw.publish(telemetry, &bad);
    assert_eq!(code, 0x99, "{reason}");
    assert!(
        reason.as_str().unwrap().contains("gw-sensor[1]"),
        "{reason}"
    );
    // Devices this gateway did not connect are refused: a plain device, an unknown name.
    for other in ["m1", "ghost"] {
        let (code, reason) = gw.publish(telemetry, &json!({other: {"temp": 1.0}}));
        assert_eq!(code, 0x87, "{other}: {reason}");
        assert!(reason.as_str().unwrap().contains(other), "{reason}");
    }
    let (code, _) = gw.publish(connect, &json!({"device": "m1"}));
    assert_eq!(code, 0x87, "an existing device is not taken over");
    let h = admin
        .get("/api/devices/gw-press/telemetry?keys=spindle_speed&from=0")
        .ok(200);
    assert_eq!(h["spindle_speed"].as_array().unwrap().len(), 1, "{h}");

    // Reported attributes, attribute reads, desired pushes.
    let attrs = json!({"gw-sensor": {"firmware": "1.2"}});
    assert_eq!(gw.publish("v1/gateway/attributes", &attrs).0, 0);
    let s = admin.get("/api/devices/gw-sensor/shadow").ok(200);
    assert_eq!(s["reported"], json!({"firmware": "1.2"}), "{s}");
    let req = json!({"id": 7, "device": "gw-sensor", "client": true, "key": "firmware"});
    assert_eq!(gw.publish("v1/gateway/attributes/request", &req).0, 0);
    assert_eq!(
        gw.message(),
        json!({"topic": "v1/gateway/attributes/response",
               "body": {"id": 7, "device": "gw-sensor", "value": "1.2"}})
    );
    admin
        .patch("/api/devices/gw-sensor/shadow", &json!({"interval": 5}))
        .ok(200);
    assert_eq!(
        gw.message(),
        json!({"topic": "v1/gateway/attributes",
               "body": {"device": "gw-sensor", "data": {"interval": 5}}})
    );

    // A command to a child is relayed through the gateway and its answer comes back.
    let r = admin
        .post(
            "/api/devices/gw-press/commands/stop",
            &json!({"params": {}, "timeout_ms": 10000}),
        )
        .ok(200);
    assert_eq!(
        r["result"],
        json!({"ok": true, "method": "stop", "params": {}})
    );

    // A child disconnects alone; then the gateway takes the rest offline with it.
    assert_eq!(
        gw.publish("v1/gateway/disconnect", &json!({"device": "gw-press"}))
            .0,
        0
    );
    assert_eq!(online(&admin, "gw-press"), json!(false));
    assert_eq!(online(&admin, "gw-sensor"), json!(true));
    let p = admin
        .post("/api/devices/gw-press/commands/stop", &json!({}))
        .problem(409);
    assert!(p["detail"].as_str().unwrap().contains("offline"), "{p}");
    gw.close();
    wait_offline(&admin, "gw-sensor");
    wait_offline(&admin, "gw1");
}

#[test]
fn only_gateways_use_the_gateway_api_and_only_for_their_children() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = fixture(&node);
    let telemetry = "v1/gateway/telemetry";
    let body = json!({"gw-press": {"spindle_speed": 10.0}});

    // A plain device may not publish on gateway topics at all.
    let (code, _) = publish_once(&node, DEVICE_TOKEN, telemetry, &body);
    assert_eq!(code, 0x87);
    let (code, _) = publish_once(
        &node,
        DEVICE_TOKEN,
        "v1/gateway/connect",
        &json!({"device": "sneaky"}),
    );
    assert_eq!(code, 0x87);
    admin.get("/api/devices/sneaky").problem(404);

    // gw1 connects a child; gw2 may neither send for it nor claim it.
    let (code, _) = publish_once(
        &node,
        GW_TOKEN,
        "v1/gateway/connect",
        &json!({"device": "gw-press", "type": "press"}),
    );
    assert_eq!(code, 0);
    let (code, reason) = publish_once(&node, GW2_TOKEN, telemetry, &body);
    assert_eq!(code, 0x87, "{reason}");
    assert!(reason.as_str().unwrap().contains("gw-press"), "{reason}");
    let (code, _) = publish_once(
        &node,
        GW2_TOKEN,
        "v1/gateway/connect",
        &json!({"device": "gw-press"}),
    );
    assert_eq!(code, 0x87);
    // A labelled child is accepted on a later connection of its own gateway without connect.
    let (code, reason) = publish_once(&node, GW_TOKEN, telemetry, &body);
    assert_eq!(code, 0, "{reason}");
    let latest = admin.get("/api/devices/gw-press/latest").ok(200);
    assert_eq!(latest["spindle_speed"]["value"], json!(10.0), "{latest}");
}

// Sparkplug B edge nodes share the gateway's problem (one connection, many devices); their
// test lives here until it grows a file of its own.

const NODE_TOKEN: &str = "e2e-sparkplug-node-01";

#[test]
fn sparkplug_births_create_devices_and_data_is_stored_by_alias() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = Api::login(&node, "admin", crate::common::ADMIN_PASSWORD);
    admin
        .post(
            "/api/device-types",
            &json!({"id": "edge_node", "name": "Edge node", "version": 1, "properties": []}),
        )
        .ok(201);
    admin
        .post(
            "/api/devices",
            &json!({"id": "edge1", "type": "edge_node", "access_token": NODE_TOKEN}),
        )
        .ok(201);
    let (h, p) = mqtt_host_port(&node);
    let script = format!("{}/tests/e2e/mqtt_sparkplug.py", env!("CARGO_MANIFEST_DIR"));
    let mut proc = Command::new(python())
        .args([&script, &h, &p, NODE_TOKEN, "plant", "edge1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let mut stdin = proc.stdin.take().unwrap();
    let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
    let mut next = move || -> Value {
        serde_json::from_str(&lines.next().expect("node output").expect("readable")).unwrap()
    };

    // The primary host STATE is retained and online.
    let state = next();
    assert_eq!(state["state"]["online"], json!(true), "{state}");
    assert!(state["state"]["timestamp"].as_u64().unwrap() > 0, "{state}");
    // Births, data by alias: all accepted.
    let codes = next();
    assert_eq!(codes, json!({"codes": [0, 0, 0, 0]}));
    // A seq gap is answered with a rebirth request.
    assert_eq!(next(), json!({"ncmd": ["Node Control/Rebirth"]}));

    let d = admin.get("/api/devices/edge1.pump1").ok(200);
    assert_eq!(d["type"], json!("spb_plant_edge1"), "{d}");
    assert_eq!(d["labels"], json!({"sparkplug_node": "edge1"}), "{d}");
    let t = admin.get("/api/device-types/spb_plant_edge1").ok(200);
    assert_eq!(t["extensible"], json!(true), "{t}");
    let props: Vec<(String, String)> = t["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap().to_owned();
            (s("id"), s("type"))
        })
        .collect();
    assert!(props.contains(&("motor_rpm".into(), "float".into())), "{t}");
    assert!(props.contains(&("running".into(), "bool".into())), "{t}");
    let rows = admin
        .post(
            "/api/query",
            &json!({"sql": "SELECT ts, motor_rpm FROM spb_plant_edge1 \
                    WHERE device = 'edge1.pump1' AND motor_rpm IS NOT NULL ORDER BY ts"}),
        )
        .ok(200);
    assert_eq!(
        rows["rows"],
        json!([
            [1_700_000_000_000_i64, 1200.5],
            [1_700_000_001_000_i64, 1300.0]
        ])
    );
    // Node metrics land on the node's own device, its type learned from the NBIRTH.
    let latest = admin.get("/api/devices/edge1/latest").ok(200);
    assert_eq!(latest["uptime"]["value"], json!(200), "{latest}");
    assert_eq!(online(&admin, "edge1.pump1"), json!(true));

    // Commands become DCMD metrics, by alias and with the datatype of the birth.
    let out = admin
        .post(
            "/api/devices/edge1.pump1/commands/write",
            &json!({"params": {"motor_rpm": 1500}}),
        )
        .ok(200);
    assert_eq!(out["result"], json!({"sent": ["Motor/RPM"]}), "{out}");
    assert_eq!(
        next(),
        json!({"dcmd": [{"name": null, "alias": 10, "datatype": 10, "value": 1500.0}]})
    );
    let out = admin
        .post(
            "/api/devices/edge1.pump1/commands/Running",
            &json!({"params": {"value": false}}),
        )
        .ok(200);
    assert_eq!(out["result"], json!({"sent": ["Running"]}), "{out}");
    assert_eq!(
        next(),
        json!({"dcmd": [{"name": null, "alias": 11, "datatype": 11, "value": false}]})
    );
    admin
        .post(
            "/api/devices/edge1.pump1/commands/write",
            &json!({"params": {"no_such_metric": 1}}),
        )
        .problem(422);

    writeln!(stdin, "ddeath").unwrap();
    assert_eq!(next(), json!({"code": 0}));
    assert_eq!(online(&admin, "edge1.pump1"), json!(false));
    drop(stdin);
    assert!(proc.wait().unwrap().success());
    wait_offline(&admin, "edge1");
}

#[test]
fn pysparkplug_edge_node_births_publishes_and_takes_commands() {
    let python = match std::env::var("KW_TEST_PYTHON_SPB") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!("KW_TEST_PYTHON_SPB is not set: run the tests through scripts/test"),
    };
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = Api::login(&node, "admin", crate::common::ADMIN_PASSWORD);
    admin
        .post(
            "/api/device-types",
            &json!({"id": "edge_box", "extensible": true, "properties": []}),
        )
        .ok(201);
    admin
        .post(
            "/api/devices",
            &json!({"id": "edge2", "type": "edge_box", "access_token": "e2e-pysparkplug-node"}),
        )
        .ok(201);
    let (h, p) = mqtt_host_port(&node);
    let script = format!(
        "{}/tests/e2e/sparkplug_pysparkplug.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut proc = Command::new(python)
        .args([&script, &h, &p, "e2e-pysparkplug-node", "works", "edge2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let stdin = proc.stdin.take().unwrap();
    let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
    let mut next = move || -> Value {
        serde_json::from_str(&lines.next().expect("node output").expect("readable")).unwrap()
    };
    assert_eq!(next(), json!({"published": true}));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = admin.get("/api/devices/edge2.press1/latest");
        let l = if r.status == 200 {
            r.ok(200)
        } else {
            Value::Null
        };
        if l["pressure"]["value"] == json!(2.5) && l["count"]["value"] == json!(7) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pysparkplug data not stored: {l}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let t = admin.get("/api/device-types/spb_works_edge2").ok(200);
    assert_eq!(t["extensible"], json!(true), "{t}");
    // NDATA was published after the DDATA seen above: wait for it too, not just assume it.
    loop {
        let l = admin.get("/api/devices/edge2/latest").ok(200);
        if l["temperature"]["value"] == json!(21.5) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node data not stored: {l}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = admin
        .post(
            "/api/devices/edge2.press1/commands/write",
            &json!({"params": {"pressure": 3.5}}),
        )
        .ok(200);
    assert_eq!(out["result"], json!({"sent": ["Pressure"]}), "{out}");
    assert_eq!(next(), json!({"dcmd": [["Pressure", 3.5]]}));
    drop(stdin);
    assert!(proc.wait().unwrap().success());
}
