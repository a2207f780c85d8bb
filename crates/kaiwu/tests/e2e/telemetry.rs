//! Telemetry over the management API: durable writes, validation that stores nothing on error,
//! the latest-value cache, and that the data survives restarts.

use reqwest::Method;
use serde_json::json;

use crate::api::{Api, create_user, login};
use crate::common::{ADMIN_PASSWORD, Node, data_dir, tempdir};

pub(crate) fn sensor_type(api: &Api) {
    api.post(
        "/api/device-types",
        &json!({"id": "sensor", "properties": [
            {"id": "temp", "type": "float", "unit": "Cel", "min": -40, "max": 125},
            {"id": "on", "type": "bool"},
            {"id": "mode", "type": "enum", "values": {"0": "auto", "1": "manual"}},
            {"id": "cfg", "type": "json"}]}),
    )
    .ok(201);
}

pub(crate) fn device(api: &Api, id: &str) {
    api.post("/api/devices", &json!({"id": id, "type": "sensor"}))
        .ok(201);
}

#[test]
fn telemetry_is_stored_validated_and_served_latest() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    let node = Node::start(&dir);
    let admin = Api::login(&node, "admin", ADMIN_PASSWORD);
    sensor_type(&admin);
    device(&admin, "s1");
    device(&admin, "s2");

    let ok = admin
        .post(
            "/api/telemetry",
            &json!([
                {"device": "s1", "ts": 1_000, "values": {"temp": 21.5, "on": true, "mode": "manual"}},
                {"device": "s1", "ts": 2_000, "values": {"temp": 300.0, "cfg": {"gain": 2}}},
                {"device": "s2", "values": {"temp": -3}}
            ]),
        )
        .ok(200);
    assert_eq!(
        (
            ok["accepted"].as_i64(),
            ok["points"].as_i64(),
            ok["uncertain"].as_i64()
        ),
        (Some(3), Some(6), Some(1))
    );

    // One bad value: the whole request is refused with every problem named, nothing stored.
    let p = admin
        .post(
            "/api/telemetry",
            &json!([
                {"device": "s1", "ts": 5_000, "values": {"temp": 1.0}},
                {"device": "s1", "ts": 6_000, "values": {"temp": "warm"}},
                {"device": "nope", "ts": 7_000, "values": {"temp": 1.0}},
                {"device": "s2", "ts": 8_000, "values": {"pressure": 1.0}}
            ]),
        )
        .problem(422);
    let paths: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["[1].values.temp", "[2].device", "[3].values.pressure"],
        "{p}"
    );
    admin
        .post(
            "/api/telemetry",
            &json!({"device": "s1", "oops": 1, "values": {}}),
        )
        .problem(422);
    admin.post("/api/telemetry", &json!(42)).problem(422);

    let l = admin.get("/api/devices/s1/latest").ok(200);
    assert_eq!(
        l["temp"],
        json!({"ts": 2_000, "value": 300.0, "quality": "uncertain"}),
        "{l}"
    );
    assert_eq!(l["on"]["value"], json!(true));
    assert_eq!(l["mode"]["value"], json!(1));
    assert_eq!(l["cfg"]["value"], json!({"gain": 2}));
    assert_eq!(
        l["temp"]["ts"],
        json!(2_000),
        "the refused row at ts 5000 left no trace"
    );
    let s2 = admin.get("/api/devices/s2/latest").ok(200);
    assert!(
        s2["temp"]["ts"].as_i64().unwrap() > 1_600_000_000_000,
        "ts defaults to arrival time"
    );
    admin.get("/api/devices/ghost/latest").problem(404);

    // Viewers read but may not write.
    create_user(&admin, "watcher", None, &["viewer"]);
    let viewer = login(&node, "watcher");
    viewer.get("/api/devices/s1/latest").ok(200);
    viewer
        .post(
            "/api/telemetry",
            &json!({"device": "s1", "values": {"temp": 1}}),
        )
        .problem(403);

    node.stop();
    let node = Node::start(&dir);
    let admin = Api::login(&node, "admin", ADMIN_PASSWORD);
    let again = admin.get("/api/devices/s1/latest").ok(200);
    assert_eq!(again, l, "latest values survive a restart");
    node.stop();
}

#[test]
fn other_tenants_data_is_invisible() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = Api::login(&node, "admin", ADMIN_PASSWORD);
    sensor_type(&admin);
    device(&admin, "s1");
    admin
        .post(
            "/api/telemetry",
            &json!({"device": "s1", "ts": 1, "values": {"temp": 1.0}}),
        )
        .ok(200);
    crate::api::create_tenant(&admin, "other");
    create_user(&admin, "other-admin", Some("other"), &["tenant_admin"]);
    let other = login(&node, "other-admin");
    other.get("/api/devices/s1/latest").problem(404);
    let p = other
        .post(
            "/api/telemetry",
            &json!({"device": "s1", "ts": 2, "values": {"temp": 2.0}}),
        )
        .problem(422);
    assert_eq!(p["errors"][0]["path"], "[0].device");
    assert_eq!(admin.get("/api/devices/s1/latest").ok(200)["temp"]["ts"], 1);
    node.stop();
}

#[test]
fn csv_import_uses_the_same_validation() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = Api::login(&node, "admin", ADMIN_PASSWORD);
    sensor_type(&admin);
    device(&admin, "s1");
    let csv = "device,ts,temp,on,mode\ns1,1000,20.5,true,manual\ns1,1970-01-01T00:00:02Z,21,,\n";
    let ok = admin.send(
        Method::POST,
        "/api/telemetry",
        Some("text/csv"),
        csv.as_bytes().to_vec(),
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    let l = admin.get("/api/devices/s1/latest").ok(200);
    assert_eq!(
        l["temp"],
        json!({"ts": 2_000, "value": 21.0, "quality": "good"})
    );
    assert_eq!(l["mode"]["value"], json!(1));
    // A bad cell refuses the whole file, naming the row.
    let bad = "device,ts,temp\ns1,3000,22\ns1,4000,warm\n";
    let p = admin
        .send(
            Method::POST,
            "/api/telemetry",
            Some("text/csv"),
            bad.as_bytes().to_vec(),
        )
        .problem(422);
    assert_eq!(p["errors"][0]["path"], "[1].values.temp");
    let p = admin
        .send(
            Method::POST,
            "/api/telemetry",
            Some("text/csv"),
            b"ts,device\n".to_vec(),
        )
        .problem(422);
    assert_eq!(p["errors"][0]["path"], "header");
    admin
        .send(
            Method::POST,
            "/api/telemetry",
            Some("application/xml"),
            b"<x/>".to_vec(),
        )
        .problem(415);
    assert_eq!(
        admin.get("/api/devices/s1/latest").ok(200)["temp"]["ts"],
        2_000
    );
    node.stop();
}
