//! SQL, history and schema evolution over the real binary.

use reqwest::Method;
use serde_json::json;

use crate::api::{Api, create_tenant, create_user, login};
use crate::common::{ADMIN_PASSWORD, Node, data_dir, tempdir};
use crate::telemetry::{device, sensor_type};

fn sql(api: &Api, q: &str) -> serde_json::Value {
    api.post("/api/query", &json!({ "sql": q })).ok(200)
}

#[test]
fn sql_history_export_and_schema_evolution() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    let node = Node::start(&dir);
    let admin = Api::login(&node, "admin", ADMIN_PASSWORD);
    sensor_type(&admin);
    device(&admin, "s1");
    device(&admin, "s2");
    let rows: Vec<_> = (0..6)
        .map(|i| json!({"device": if i % 2 == 0 { "s1" } else { "s2" }, "ts": i * 60_000, "values": {"temp": i as f64}}))
        .collect();
    admin.post("/api/telemetry", &json!(rows)).ok(200);

    let out = sql(
        &admin,
        "SELECT device, count(*) AS n, max(temp) AS top FROM sensor GROUP BY device ORDER BY device",
    );
    assert_eq!(
        out["rows"],
        json!([["s1", 3, 4.0], ["s2", 3, 5.0]]),
        "{out}"
    );
    let names: Vec<&str> = out["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["device", "n", "top"]);
    let narrow = sql(
        &admin,
        "SELECT key, value_double, quality FROM telemetry WHERE device = 's2' ORDER BY ts LIMIT 1",
    );
    assert_eq!(narrow["rows"], json!([["temp", 1.0, "good"]]));
    let joined = sql(
        &admin,
        "SELECT d.type, count(*) FROM sensor s JOIN devices d ON s.device = d.id GROUP BY d.type",
    );
    assert_eq!(joined["rows"], json!([["sensor", 6]]));
    let binned = sql(
        &admin,
        "SELECT date_bin(INTERVAL '2 minutes', ts) AS b, avg(temp) FROM sensor GROUP BY b ORDER BY b",
    );
    assert_eq!(binned["rows"].as_array().unwrap().len(), 3);

    // History in ThingsBoard's shape: raw newest first; buckets with gaps filled.
    let h = admin
        .get("/api/devices/s1/telemetry?keys=temp&limit=2")
        .ok(200);
    assert_eq!(
        h,
        json!({"temp": [{"ts": 240_000, "value": 4.0}, {"ts": 120_000, "value": 2.0}]})
    );
    let b = admin
        .get("/api/devices/s1/telemetry?keys=temp&from=0&to=480000&interval=120000&agg=max")
        .ok(200);
    let pts = b["temp"].as_array().unwrap();
    assert_eq!(pts.len(), 4);
    assert_eq!(pts[3], json!({"ts": 360_000, "value": null}), "{b}");
    admin
        .get("/api/devices/s1/telemetry?interval=1000")
        .problem(422);
    admin
        .get("/api/devices/s1/telemetry?keys=nope")
        .problem(422);
    admin.get("/api/devices/ghost/telemetry").problem(404);

    // Exports.
    let csv = admin.client_with_accept("text/csv").send(
        Method::POST,
        "/api/query",
        Some("application/json"),
        br#"{"sql":"SELECT device, temp FROM sensor ORDER BY ts LIMIT 2"}"#.to_vec(),
    );
    // RFC 4180 line ends.
    assert_eq!(csv.text(), "device,temp\r\ns1,0.0\r\ns2,1.0\r\n");
    let pq = admin
        .client_with_accept("application/vnd.apache.parquet")
        .send(
            Method::POST,
            "/api/query",
            Some("application/json"),
            br#"{"sql":"SELECT * FROM sensor"}"#.to_vec(),
        );
    assert_eq!(&pq.body[..4], b"PAR1");

    // Refusals: statements, unknown tables, bad syntax.
    admin
        .post("/api/query", &json!({"sql": "DROP TABLE sensor"}))
        .problem(422);
    admin
        .post("/api/query", &json!({"sql": "SELECT * FROM nothing_here"}))
        .problem(422);

    // Schema evolution: a new property is a new column, NULL in rows written before it.
    let mut t = admin.get("/api/device-types/sensor").ok(200);
    t["properties"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "hum", "type": "float"}));
    assert_eq!(
        admin.put("/api/device-types/sensor", &t).ok(200)["version"],
        2
    );
    admin
        .post(
            "/api/telemetry",
            &json!({"device": "s1", "ts": 900_000, "values": {"temp": 9.0, "hum": 40.0}}),
        )
        .ok(200);
    node.stop(); // flushes: old rows now sit in a segment without the `hum` column
    let node = Node::start(&dir);
    let admin = Api::login(&node, "admin", ADMIN_PASSWORD);
    let evo = sql(
        &admin,
        "SELECT ts, hum FROM sensor WHERE device = 's1' ORDER BY ts",
    );
    assert_eq!(evo["rows"][0], json!([0, null]));
    assert_eq!(evo["rows"][3], json!([900_000, 40.0]));
    // Changing the type of a property that has data is refused.
    let mut t2 = admin.get("/api/device-types/sensor").ok(200);
    t2["properties"][0]["type"] = json!("int");
    admin.put("/api/device-types/sensor", &t2).problem(409);

    // Retention policies per tenant; another tenant sees its own (none) and none of our data.
    let p = json!({"default_days": 30, "device_types": {"sensor": 7}});
    assert_eq!(admin.put("/api/retention", &p).ok(200), p);
    assert_eq!(admin.get("/api/retention").ok(200), p);
    admin
        .put("/api/retention", &json!({"default_days": 0}))
        .problem(422);
    create_tenant(&admin, "other");
    create_user(&admin, "other-admin", Some("other"), &["tenant_admin"]);
    let other = login(&node, "other-admin");
    assert_eq!(
        other.get("/api/retention").ok(200),
        json!({"default_days": null, "device_types": {}})
    );
    other
        .post("/api/query", &json!({"sql": "SELECT * FROM sensor"}))
        .problem(422);
    assert_eq!(
        sql(&other, "SELECT count(*) FROM telemetry")["rows"],
        json!([[0]])
    );
    node.stop();
}
