//! The ThingsBoard HTTP device API (`/api/v1/{token}/...`): same payloads and meaning as MQTT.

use reqwest::Method;
use serde_json::json;

use crate::api::{Api, press_fixture};
use crate::common::{Node, data_dir, tempdir};

const TOKEN: &str = "e2e-http-device-0001";

#[test]
fn http_devices_send_telemetry_attributes_and_answer_commands() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = press_fixture(&node);
    admin
        .post(
            "/api/devices",
            &json!({"id": "h1", "type": "press", "access_token": TOKEN}),
        )
        .ok(201);
    let dev = Api::anon(&node);
    let t = format!("/api/v1/{TOKEN}/telemetry");
    let r = dev
        .post(&t, &json!([{"ts": 1_700_000_000_000_i64, "values": {"spindle_speed": 10.5}}, {"state": 2}]))
        .ok(200);
    assert_eq!(r["accepted"], 2);
    assert_eq!(
        admin.get("/api/devices/h1/latest").ok(200)["state"]["value"],
        json!(2)
    );
    // Invalid for the thing model: 422, nothing stored; malformed: 400; unknown token: 401.
    dev.post(&t, &json!({"spindle_speed": "fast"})).problem(422);
    dev.send(
        Method::POST,
        &t,
        Some("application/json"),
        b"{not json".to_vec(),
    )
    .problem(400);
    dev.post("/api/v1/wrong-token/telemetry", &json!({"state": 1}))
        .problem(401);
    let n = admin
        .post(
            "/api/query",
            &json!({"sql": "SELECT count(*) FROM press WHERE device = 'h1'"}),
        )
        .ok(200);
    assert_eq!(n["rows"][0][0], 2);

    // Attributes: reported from the device, desired from the platform, read back by keys.
    dev.post(
        &format!("/api/v1/{TOKEN}/attributes"),
        &json!({"fw": "3.0", "model": "P1"}),
    )
    .ok(200);
    admin
        .patch(
            "/api/devices/h1/shadow",
            &json!({"setpoint": 7, "mode": "eco"}),
        )
        .ok(200);
    let a = dev
        .get(&format!(
            "/api/v1/{TOKEN}/attributes?clientKeys=fw&sharedKeys=setpoint"
        ))
        .ok(200);
    assert_eq!(
        a,
        json!({"client": {"fw": "3.0"}, "shared": {"setpoint": 7}})
    );
    let all = dev.get(&format!("/api/v1/{TOKEN}/attributes")).ok(200);
    assert_eq!(all["shared"]["mode"], "eco");

    // No command pending: the poll times out with 408.
    dev.get(&format!("/api/v1/{TOKEN}/rpc?timeout=50"))
        .problem(408);
    // A command reaches the long-polling device, whose answer completes it.
    let poller = {
        let dev = dev.clone();
        std::thread::spawn(move || {
            let cmd = dev
                .get(&format!("/api/v1/{TOKEN}/rpc?timeout=20000"))
                .ok(200);
            let id = cmd["id"].as_u64().unwrap();
            dev.post(&format!("/api/v1/{TOKEN}/rpc/{id}"), &json!({"ok": true}))
                .ok(200);
            cmd
        })
    };
    // The poll must be waiting before the command is sent: retry while the device is "offline".
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let r = loop {
        let r = admin.post(
            "/api/devices/h1/commands/stop",
            &json!({"params": {}, "timeout_ms": 10000}),
        );
        if r.status != 409 || std::time::Instant::now() > deadline {
            break r.ok(200);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(r["result"], json!({"ok": true}));
    let cmd = poller.join().unwrap();
    assert_eq!(
        (cmd["method"].clone(), cmd["params"].clone()),
        (json!("stop"), json!({}))
    );
    dev.post(&format!("/api/v1/{TOKEN}/rpc/999"), &json!({"late": true}))
        .problem(404);
}
