//! The MQTT bridge connector against real Mosquitto brokers: the machine's own on 127.0.0.1:1883
//! (with a topic prefix of this test's own), and one the test starts and stops to show the
//! bridge reconnecting by itself.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::api::Api;
use crate::common::{ADMIN_PASSWORD, Node, data_dir, tempdir};
use crate::modbus::{free_port, wait_for};

fn publish(port: u16, topic: &str, payload: &str) {
    let st = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            payload,
        ])
        .status()
        .expect("run mosquitto_pub");
    assert!(st.success(), "mosquitto_pub to {port} failed");
}

struct Broker(Child);

impl Broker {
    fn start(port: u16, dir: &std::path::Path) -> Broker {
        let conf = dir.join(format!("mosquitto-{port}.conf"));
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
        )
        .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        wait_for("own mosquitto listening", || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        });
        Broker(child)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fixture(node: &Node) -> Api {
    let admin = Api::login(node, "admin", ADMIN_PASSWORD);
    admin
        .post(
            "/api/device-types",
            &json!({"id": "env", "properties": [
                {"id": "temp", "type": "float"}, {"id": "hum", "type": "float"}]}),
        )
        .ok(201);
    for d in ["env-a", "env-b"] {
        admin
            .post("/api/devices", &json!({"id": d, "type": "env"}))
            .ok(201);
    }
    admin
}

fn rows(admin: &Api, device: &str) -> usize {
    let out = admin
        .post(
            "/api/query",
            &json!({"sql": format!("SELECT count(*) FROM env WHERE device = '{device}'")}),
        )
        .ok(200);
    out["rows"][0][0].as_u64().unwrap() as usize
}

#[test]
fn bridge_maps_topics_of_the_machines_mosquitto_to_devices() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = fixture(&node);
    let prefix = format!("kwtest/{}", std::process::id());
    let cfg = json!({"id": "mosq", "kind": "mqtt_bridge", "url": "mqtt://127.0.0.1:1883",
        "client_id": format!("kaiwu-e2e-{}", std::process::id()),
        "mappings": [
            {"topic": format!("{prefix}/+/env"), "device": "env-{1}", "device_type": "env",
             "fields": {"temp": "sensor.t", "hum": "sensor.h"}, "ts_field": "at"},
            {"topic": format!("{prefix}/raw"), "device": "env-b"}]});
    admin.post("/api/connectors", &cfg).ok(201);
    wait_for("bridge connected", || {
        (admin.get("/api/connectors/mosq/status").ok(200)["state"] == "connected").then_some(())
    });
    publish(
        1883,
        &format!("{prefix}/a/env"),
        r#"{"sensor":{"t":21.5,"h":40},"at":1700000000000}"#,
    );
    publish(1883, &format!("{prefix}/raw"), r#"{"temp":19.0}"#);
    publish(1883, &format!("{prefix}/a/env"), "not json");
    publish(
        1883,
        &format!("{prefix}/nobody/env"),
        r#"{"sensor":{"t":1}}"#,
    );
    wait_for("bridged rows", || {
        (rows(&admin, "env-a") == 1 && rows(&admin, "env-b") == 1).then_some(())
    });
    let out = admin
        .post(
            "/api/query",
            &json!({"sql": "SELECT CAST(ts AS BIGINT), temp, hum FROM env WHERE device = 'env-a'"}),
        )
        .ok(200);
    assert_eq!(out["rows"], json!([[1_700_000_000_000i64, 21.5, 40.0]]));
    let st = wait_for("refusals counted", || {
        let st = admin.get("/api/connectors/mosq/status").ok(200);
        (st["counters"]["rejected"].as_u64().unwrap() >= 2).then_some(st)
    });
    assert_eq!(st["counters"]["messages"], 4, "{st}");
    node.stop();
}

#[test]
fn bridge_reconnects_after_its_broker_restarts() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = fixture(&node);
    let port = free_port();
    let broker = Broker::start(port, tmp.path());
    let cfg = json!({"id": "own", "kind": "mqtt_bridge", "url": format!("mqtt://127.0.0.1:{port}"),
        "mappings": [{"topic": "plant/env-a", "device": "env-a", "qos": 1}]});
    admin.post("/api/connectors", &cfg).ok(201);
    let connected =
        || (admin.get("/api/connectors/own/status").ok(200)["state"] == "connected").then_some(());
    wait_for("bridge connected", connected);
    publish(port, "plant/env-a", r#"{"temp": 1}"#);
    wait_for("first row", || (rows(&admin, "env-a") == 1).then_some(()));
    drop(broker);
    wait_for("bridge notices the outage", || {
        (admin.get("/api/connectors/own/status").ok(200)["state"] != "connected").then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    let _broker = Broker::start(port, tmp.path());
    wait_for("bridge reconnected", connected);
    publish(port, "plant/env-a", r#"{"temp": 2}"#);
    wait_for("row after the restart", || {
        (rows(&admin, "env-a") == 2).then_some(())
    });
    let st = admin.get("/api/connectors/own/status").ok(200);
    assert!(st["counters"]["connects"].as_u64().unwrap() >= 2, "{st}");
    assert!(st["last_error"].is_string(), "{st}");
    node.stop();
}
