//! Durability of the MQTT path under SIGKILL: paho devices publish QoS 1 telemetry while the node
//! is killed at varying moments, several times; every PUBACKed point must be stored, once.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::api::Api;
use crate::common::{ADMIN_PASSWORD, Node, data_dir, tempdir};
use crate::crash::{assert_all_stored_once, start};
use crate::mqtt::python;

const ROUNDS: u64 = 4;
const DEVICES: usize = 4;

/// Run the publishers against `node` until `ms` have passed, SIGKILL the node, and return the
/// ids PUBACKed before the kill.
fn round(node: Node, first_id: i64, ms: u64) -> Vec<i64> {
    let (h, p) = node.mqtt.rsplit_once(':').unwrap();
    let host = h.trim_matches(['[', ']']).to_owned();
    let script = format!(
        "{}/tests/e2e/mqtt_publishers.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut cmd = Command::new(python());
    cmd.args([&script, &host, p, &first_id.to_string()]);
    cmd.args((0..DEVICES).map(|d| format!("crash-token-{d:04}")));
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("ack ").and_then(|n| n.parse::<i64>().ok()))
            .collect::<Vec<i64>>()
    });
    std::thread::sleep(Duration::from_millis(ms));
    drop(node); // SIGKILL: nothing the node has not PUBACKed yet counts.
    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap()
}

#[test]
fn sigkill_during_mqtt_ingest_loses_no_pubacked_point() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    {
        let node = start(&dir, 0);
        let admin = Api::login(&node, "admin", ADMIN_PASSWORD);
        admin
            .post(
                "/api/device-types",
                &json!({"id": "m", "properties": [{"id": "v", "type": "float"}]}),
            )
            .ok(201);
        for d in 0..DEVICES {
            let body = json!({"id": format!("d{d}"), "type": "m",
                              "access_token": format!("crash-token-{d:04}")});
            admin.post("/api/devices", &body).ok(201);
        }
        node.stop();
    }
    let mut acked = Vec::new();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for r in 0..ROUNDS {
        // Ids never repeat across rounds: the next round starts far above anything sent.
        let first = i64::try_from(r).unwrap() * 10_000_000;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Variety of kill moments, not a timing assumption.
        acked.extend(round(start(&dir, r), first, 1500 + seed % 1500));
    }
    let node = start(&dir, 0);
    let what =
        format!("{ROUNDS} SIGKILLs, {DEVICES} paho devices at QoS 1, acknowledged = PUBACKed");
    assert_all_stored_once(&node, &acked, &what);
    node.stop();
}
