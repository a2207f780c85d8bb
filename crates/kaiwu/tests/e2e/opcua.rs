//! OPC UA connectors against a third-party peer (an asyncua server started by the test):
//! Basic256Sha256 SignAndEncrypt with a user login, subscriptions and polling with source
//! timestamps, browsing, writes, method calls, and recovery after a server restart.

use std::path::Path;

use serde_json::{Value, json};

use crate::api::Api;
use crate::common::{ADMIN_PASSWORD, Node, ScriptPeer, data_dir, tempdir};
use crate::modbus::{free_port, wait_for};

/// The asyncua server of `opcua_peer.py`; its `lines` are the writes and calls it received.
fn ua_peer(port: u16, pki: &Path) -> ScriptPeer {
    let port = port.to_string();
    ScriptPeer::start("opcua_peer.py", &[port.as_ref(), pki.as_os_str()])
}

#[test]
fn opcua_connector_subscribes_polls_writes_calls_and_recovers() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = Api::login(&node, "admin", ADMIN_PASSWORD);
    admin
        .post(
            "/api/device-types",
            &json!({"id": "line_test", "properties": [
                {"id": "speed", "type": "float"},
                {"id": "count", "type": "int"},
                {"id": "running", "type": "bool"},
                {"id": "setpoint", "type": "float", "min": 0, "max": 100, "access": "read_write"}],
              "commands": [{"id": "reset", "params": [{"id": "n", "type": "int"}],
                            "result": [{"id": "ok", "type": "bool"}]}]}),
        )
        .ok(201);
    admin
        .post(
            "/api/devices",
            &json!({"id": "line-1", "type": "line_test"}),
        )
        .ok(201);
    let port = free_port();
    let pki = tmp.path().join("peer-pki");
    let peer = ua_peer(port, &pki);
    let n = |p: &str, node_id: &str, mode: &str| json!({"device": "line-1", "property": p, "node_id": node_id, "mode": mode, "sampling_ms": 100.0});
    let mut setpoint = n("setpoint", "ns=2;s=Line1.Setpoint", "subscribe");
    setpoint["write"] = json!(true);
    let cfg = json!({"id": "ua", "kind": "opcua", "endpoint": format!("opc.tcp://127.0.0.1:{port}/kaiwu/test"),
        "security": "SignAndEncrypt", "credentials": {"username": "op", "password": "op-secret"},
        "trust_server": true, "publishing_ms": 100, "poll_ms": 300, "timeout_ms": 5000,
        "nodes": [n("speed", "ns=2;s=Line1.Speed", "subscribe"), n("count", "ns=2;s=Line1.Count", "poll"),
                  n("running", "ns=2;s=Line1.Running", "subscribe"), setpoint],
        "methods": [{"device": "line-1", "command": "reset", "object_id": "ns=2;s=Line1", "method_id": "ns=2;s=Line1.Reset"}]});
    let shown = admin.post("/api/connectors", &cfg).ok(201);
    assert_eq!(
        shown["credentials"]["password"],
        Value::Null,
        "password shown: {shown}"
    );

    let l = wait_for("all nodes read", || {
        let l = admin.get("/api/devices/line-1/latest").ok(200);
        (l.as_object().unwrap().len() == 4).then_some(l)
    });
    assert_eq!(l["running"]["value"], true);
    assert_eq!(l["setpoint"]["value"], json!(10.0));
    assert!(l["speed"]["value"].as_f64().unwrap() >= 100.0, "{l}");
    // Source timestamps are kept: the server stamps each change.
    let age = crate::common::now_ms() - l["speed"]["ts"].as_i64().unwrap();
    assert!((0..60_000).contains(&age), "speed ts {age} ms old: {l}");
    let st = admin.get("/api/connectors/ua/status").ok(200);
    assert_eq!(st["state"], "connected", "{st}");

    // Browsing helps with mapping.
    let top = admin.get("/api/connectors/ua/browse").ok(200);
    assert!(
        top.as_array()
            .unwrap()
            .iter()
            .any(|e| e["browse_name"].as_str().unwrap().ends_with("Line1")),
        "{top}"
    );
    let kids = admin
        .get("/api/connectors/ua/browse?node=ns%3D2%3Bs%3DLine1")
        .ok(200);
    let names: Vec<&str> = kids
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["display_name"].as_str())
        .collect();
    for want in ["Speed", "Count", "Setpoint", "Reset"] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    admin
        .get("/api/connectors/ua/browse?node=ns%3Dx")
        .problem(422);

    // A write lands at the server; the model bounds it; a command becomes a method call.
    admin
        .post(
            "/api/devices/line-1/commands/write",
            &json!({"params": {"setpoint": 55.5}}),
        )
        .ok(200);
    wait_for("setpoint written", || {
        peer.lines
            .lock()
            .unwrap()
            .contains(&json!({"setpoint": 55.5}))
            .then_some(())
    });
    admin
        .post(
            "/api/devices/line-1/commands/write",
            &json!({"params": {"setpoint": 150}}),
        )
        .problem(422);
    let out = admin
        .post(
            "/api/devices/line-1/commands/reset",
            &json!({"params": {"n": 7}}),
        )
        .ok(200);
    assert_eq!(out["result"], true, "{out}");
    wait_for("method called at the server", || {
        peer.lines
            .lock()
            .unwrap()
            .contains(&json!({"reset": 7}))
            .then_some(())
    });

    // The server goes away and comes back: bad, then good, by itself.
    peer.stop();
    wait_for("quality bad", || {
        (admin.get("/api/devices/line-1/latest").ok(200)["speed"]["quality"] == "bad").then_some(())
    });
    let up = crate::common::now_ms();
    let peer = ua_peer(port, &pki);
    wait_for("session and subscription back", || {
        let l = admin.get("/api/devices/line-1/latest").ok(200);
        (l["speed"]["quality"] == "good" && l["speed"]["ts"].as_i64().unwrap() > up).then_some(())
    });
    // No value stored twice (rows of one timestamp may each carry other properties).
    for p in ["speed", "count", "running", "setpoint"] {
        let sql = format!("SELECT ts, count({p}) FROM line_test GROUP BY ts HAVING count({p}) > 1");
        let dup = admin.post("/api/query", &json!({ "sql": sql })).ok(200);
        assert_eq!(dup["rows"], json!([]), "{p} stored twice: {dup}");
    }
    let st = admin.get("/api/connectors/ua/status").ok(200);
    assert!(st["counters"]["connects"].as_u64().unwrap() >= 2, "{st}");
    peer.stop();
    node.stop();
}
