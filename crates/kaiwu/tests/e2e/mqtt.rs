//! The ThingsBoard-compatible device API over the embedded broker, driven by third-party clients
//! (mosquitto_pub and Eclipse paho-mqtt): telemetry lands in SQL and the latest cache, refusals
//! carry the documented reason codes, attributes and commands round-trip.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::api::{Api, press_fixture};
use crate::common::{Node, data_dir, tempdir};

const TOKEN: &str = "e2e-mqtt-token-0001";

/// (host, port) of the node's MQTT listener, e.g. `("::1", "41259")`.
pub(crate) fn mqtt_host_port(node: &Node) -> (String, String) {
    let (h, p) = node.mqtt.rsplit_once(':').expect("mqtt address has a port");
    (h.trim_matches(['[', ']']).to_owned(), p.to_owned())
}

pub(crate) fn python() -> String {
    match std::env::var("KW_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "KW_TEST_PYTHON is not set: run the tests through scripts/test, which installs \
             paho-mqtt in a virtual environment and points KW_TEST_PYTHON at it"
        ),
    }
}

/// The broker notices a disconnect on its own schedule: wait for it, bounded.
pub(crate) fn wait_offline(admin: &Api, device: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let shadow = format!("/api/devices/{device}/shadow");
    while admin.get(&shadow).ok(200)["online"] != json!(false) {
        assert!(
            std::time::Instant::now() < deadline,
            "{device} still online"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub(crate) fn device_script() -> String {
    format!("{}/tests/e2e/mqtt_device.py", env!("CARGO_MANIFEST_DIR"))
}

/// The press fixture plus device `m1` of type `press` with a known access token.
pub(crate) fn fixture(node: &Node) -> Api {
    let admin = press_fixture(node);
    admin
        .post(
            "/api/devices",
            &json!({"id": "m1", "type": "press", "access_token": TOKEN}),
        )
        .ok(201);
    admin
}

fn mosquitto_pub(
    node: &Node,
    version: &str,
    user: &str,
    topic: &str,
    msg: &str,
) -> std::process::Output {
    let (h, p) = mqtt_host_port(node);
    Command::new("mosquitto_pub")
        .args([
            "-h", &h, "-p", &p, "-V", version, "-q", "1", "-i", "e2e-pub",
        ])
        .args(["-u", user, "-t", topic, "-m", msg])
        .output()
        .expect("mosquitto_pub runs (Debian package mosquitto-clients)")
}

#[test]
fn telemetry_from_mosquitto_pub_is_stored_and_a_wrong_token_is_refused() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = fixture(&node);
    for (version, speed) in [("mqttv311", 1200.5), ("mqttv5", 1300.5)] {
        let body = json!({"spindle_speed": speed, "state": 1}).to_string();
        let out = mosquitto_pub(&node, version, TOKEN, "v1/devices/me/telemetry", &body);
        assert!(
            out.status.success(),
            "{version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // PUBACK came after the write was durable: the value is there at once.
        let latest = admin.get("/api/devices/m1/latest").ok(200);
        assert_eq!(latest["spindle_speed"]["value"], json!(speed), "{version}");
    }
    let rows = admin
        .post(
            "/api/query",
            &json!({"sql": "SELECT count(*) AS n FROM press WHERE device = 'm1'"}),
        )
        .ok(200);
    assert_eq!(rows["rows"][0][0], json!(2));
    for version in ["mqttv311", "mqttv5"] {
        let out = mosquitto_pub(
            &node,
            version,
            "not-a-token",
            "v1/devices/me/telemetry",
            "{}",
        );
        assert!(
            !out.status.success(),
            "{version}: a wrong token must be refused"
        );
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(
            err.contains("bad user name or password") || err.contains("not authori"),
            "{version}: {err}"
        );
    }
}

#[test]
fn refusals_carry_reason_codes_and_the_connection_keeps_working() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = fixture(&node);
    let (h, p) = mqtt_host_port(&node);
    let out = Command::new(python())
        .args([&device_script(), &h, &p, TOKEN, "pubacks"])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json line");
    // Success, payload format invalid (0x99), not authorized (0x87), success.
    assert_eq!(v["codes"], json!([0, 0x99, 0x87, 0]), "{v}");
    let h = admin
        .get("/api/devices/m1/telemetry?keys=spindle_speed&from=0")
        .ok(200);
    let values: Vec<f64> = h["spindle_speed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert!(values.contains(&1000.0) && values.contains(&2000.0), "{h}");
    assert_eq!(
        values.len(),
        2,
        "nothing stored from the refused messages: {h}"
    );
}

#[test]
fn attributes_presence_and_commands_round_trip_with_a_paho_device() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = fixture(&node);
    let (h, p) = mqtt_host_port(&node);
    let mut dev = Command::new(python())
        .args([&device_script(), &h, &p, TOKEN, "serve"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let mut lines = BufReader::new(dev.stdout.take().unwrap()).lines();
    let mut next = move || lines.next().expect("device output").expect("readable");
    assert_eq!(next(), "\"ready\"");
    let s = admin.get("/api/devices/m1/shadow").ok(200);
    assert_eq!(s["online"], json!(true), "{s}");
    assert!(s["last_seen"].as_i64().unwrap() > 0);

    // Desired attributes reach the connected device.
    admin
        .patch("/api/devices/m1/shadow", &json!({"setpoint": 42}))
        .ok(200);
    assert_eq!(
        serde_json::from_str::<Value>(&next()).unwrap(),
        json!({"attributes": {"setpoint": 42}})
    );
    // Reported attributes land in the shadow.
    let mut stdin = dev.stdin.take().unwrap();
    writeln!(stdin, "{}", json!({"firmware": "2.1", "serial": "X1"})).unwrap();
    assert_eq!(next(), "\"reported\"");
    let s = admin.get("/api/devices/m1/shadow").ok(200);
    assert_eq!(s["reported"], json!({"firmware": "2.1", "serial": "X1"}));

    // A command is a server-side RPC answered by the device.
    let r = admin
        .post(
            "/api/devices/m1/commands/stop",
            &json!({"params": {}, "timeout_ms": 10000}),
        )
        .ok(200);
    assert_eq!(
        r["result"],
        json!({"ok": true, "method": "stop", "params": {}})
    );

    drop(stdin);
    assert!(dev.wait().unwrap().success());
    wait_offline(&admin, "m1");
    let p = admin
        .post("/api/devices/m1/commands/stop", &json!({}))
        .problem(409);
    assert!(p["detail"].as_str().unwrap().contains("offline"));
}

#[test]
fn mqtts_listener_serves_devices_with_the_generated_certificate() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    let mut cmd = crate::common::serve_cmd(&dir);
    cmd.args(["--mqtts", "127.0.0.1:0"]);
    let node = Node::start_cmd(cmd);
    let mqtts = node
        .ready_line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("mqtts="))
        .expect("ready line names the mqtts address")
        .to_owned();
    let port = mqtts.rsplit_once(':').unwrap().1.to_owned();
    let admin = fixture(&node);
    let ca = dir.join("tls/mqtt-cert.pem");
    let publish = |extra: &[&str]| {
        Command::new("mosquitto_pub")
            .args(["-h", "localhost", "-p", &port, "-V", "mqttv311", "-q", "1"])
            .args([
                "-u",
                TOKEN,
                "-t",
                "v1/devices/me/telemetry",
                "-m",
                r#"{"state": 2}"#,
            ])
            .args(extra)
            .output()
            .expect("mosquitto_pub runs")
    };
    let out = publish(&["--cafile", ca.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        admin.get("/api/devices/m1/latest").ok(200)["state"]["value"],
        2
    );
    // A client trusting only the public CAs refuses the self-signed certificate.
    let out = publish(&["--capath", "/etc/ssl/certs"]);
    assert!(
        !out.status.success(),
        "an untrusted server certificate must fail"
    );
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.contains("certificate") || err.contains("tls") || err.contains("ssl"),
        "{err}"
    );
}
