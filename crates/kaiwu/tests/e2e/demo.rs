//! `kaiwu demo`: the simulated plant reaches SQL through the real connectors and broker.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::api::Api;
use crate::common::{ADMIN_PASSWORD, Node, data_dir, kaiwu, tempdir};

#[test]
fn demo_plant_delivers_fresh_rows_from_every_machine_within_30_seconds() {
    let tmp = tempdir();
    let mut cmd = kaiwu();
    cmd.arg("demo").arg("--data-dir").arg(data_dir(&tmp));
    cmd.args(["--http", "[::1]:0", "--mqtt", "[::1]:0"]);
    let node = Node::start_cmd(cmd);
    let ready = Instant::now();
    let admin = Api::login(&node, "admin", ADMIN_PASSWORD);
    let tables = [
        ("cnc_mill", "spindle_speed", vec!["mill-01", "mill-02"]),
        ("packaging_line", "good_count", vec!["packer-01"]),
        ("energy_meter", "active_power", vec!["meter-01"]),
        (
            "air_compressor",
            "pressure",
            vec!["compressor-01", "compressor-02"],
        ),
    ];
    let mut missing = Vec::new();
    while ready.elapsed() < Duration::from_secs(30) {
        missing.clear();
        let since = crate::common::now_ms() - 10_000;
        for (table, col, devices) in &tables {
            let sql = format!(
                "SELECT device FROM {table} WHERE {col} IS NOT NULL AND CAST(ts AS BIGINT) > {since} GROUP BY device"
            );
            let rows = admin.post("/api/query", &json!({ "sql": sql })).ok(200)["rows"].clone();
            for d in devices {
                if !rows.as_array().unwrap().contains(&json!([d])) {
                    missing.push(*d);
                }
            }
        }
        if missing.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        missing.is_empty(),
        "no fresh rows within 30 s from {missing:?}"
    );
    println!(
        "demo: fresh rows from all 6 machines {:.1} s after the ready line",
        ready.elapsed().as_secs_f64()
    );
    for c in ["demo-mills", "demo-meter", "demo-packer"] {
        let st = admin.get(&format!("/api/connectors/{c}/status")).ok(200);
        assert_eq!(st["state"], "connected", "{st}");
    }
    // The writable point of a mill reaches the simulator and is read back.
    admin
        .post(
            "/api/devices/mill-01/commands/write",
            &json!({"params": {"feed_override": 80}}),
        )
        .ok(200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while admin.get("/api/devices/mill-01/latest").ok(200)["feed_override"]["value"] != json!(80) {
        assert!(Instant::now() < deadline, "feed override not read back");
        std::thread::sleep(Duration::from_millis(200));
    }
    node.stop();
}
