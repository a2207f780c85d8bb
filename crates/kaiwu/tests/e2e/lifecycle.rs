//! A node's life: ready line and endpoints file, operations endpoints, a tenant's whole setup
//! (user, WoT-imported device type, ISA-95 asset tree, 1,000 devices), and all of it surviving a
//! clean restart.

use serde_json::{Value, json};

use crate::common::{
    ADMIN_PASSWORD, Api, Node, counts, create_tenant, create_user, data_dir, ids, login, tempdir,
};

/// A W3C WoT Thing Description 1.1 as a vendor would ship it (forms, security, semantic version).
fn robot_td() -> Value {
    json!({
        "@context": ["https://www.w3.org/2022/wot/td/v1.1", {"saref": "https://w3id.org/saref#"}],
        "id": "urn:example:robot:pk-200",
        "title": "Packaging Robot",
        "description": "Six-axis packaging robot",
        "version": {"instance": "2.1.0"},
        "securityDefinitions": {"basic_sc": {"scheme": "basic", "in": "header"}},
        "security": "basic_sc",
        "properties": {
            "motor_temp": {"title": "Motor temperature", "type": "number", "unit": "Cel",
                           "minimum": -20, "maximum": 120, "readOnly": true,
                           "forms": [{"href": "https://robot.example.com/props/motor_temp"}]},
            "cycles": {"type": "integer", "readOnly": true,
                       "forms": [{"href": "https://robot.example.com/props/cycles"}]},
            "mode": {"type": "string", "enum": ["auto", "manual", "maintenance"],
                     "forms": [{"href": "https://robot.example.com/props/mode"}]},
            "enabled": {"type": "boolean",
                        "forms": [{"href": "https://robot.example.com/props/enabled"}]}
        },
        "actions": {
            "home": {"title": "Return to home position",
                     "output": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
                     "forms": [{"href": "https://robot.example.com/actions/home"}]}
        },
        "events": {
            "overheat": {"data": {"type": "object", "properties": {"temp": {"type": "number"}}},
                         "forms": [{"href": "https://robot.example.com/events/overheat"}]}
        }
    })
}

fn prop<'a>(dt: &'a Value, id: &str) -> &'a Value {
    dt["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("no property {id} in {dt}"))
}

/// ISA-95 levels top down, with the ids this test gives them.
const TREE: [(&str, &str); 5] = [
    ("enterprise", "acme"),
    ("site", "acme-shanghai"),
    ("area", "acme-sh-packaging"),
    ("line", "acme-sh-pk-line1"),
    ("cell", "acme-sh-pk-l1-cell1"),
];
const DEVICES: usize = 1000;

fn device_id(i: usize) -> String {
    format!("robot-{i:04}")
}

#[test]
fn ready_line_matches_endpoints_file_and_ops_endpoints_answer() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    let node = Node::start(&dir);

    let words: Vec<&str> = node.ready_line.split(' ').collect();
    assert_eq!(words.len(), 4, "ready line: {}", node.ready_line);
    assert_eq!(&words[..2], ["kaiwu", "ready"]);
    for addr in [&node.http, &node.mqtt] {
        let sa: std::net::SocketAddr = addr.parse().expect("bound address");
        assert!(
            sa.ip().is_loopback() && sa.is_ipv6(),
            "asked for [::1], got {sa}"
        );
        assert_ne!(sa.port(), 0, "port 0 must be replaced by the bound port");
    }
    let endpoints: Value =
        serde_json::from_slice(&std::fs::read(dir.join("endpoints.json")).unwrap()).unwrap();
    assert_eq!(endpoints, json!({"http": node.http, "mqtt": node.mqtt}));
    // The MQTT port is really bound, not only reported.
    std::net::TcpStream::connect(&node.mqtt).expect("connect to the reported MQTT address");

    let anon = Api::anon(&node);
    assert_eq!(anon.get("/healthz").ok(200)["status"], "ok");
    assert_eq!(anon.get("/readyz").ok(200)["status"], "ready");
    // Some traffic first, so request metrics exist.
    Api::login(&node, "admin", ADMIN_PASSWORD)
        .get("/api/me")
        .ok(200);
    let m = anon.get("/metrics");
    assert_eq!(m.status, 200);
    assert!(
        m.header("content-type").starts_with("text/plain"),
        "{}",
        m.header("content-type")
    );
    let text = m.text();
    check_prometheus_text(&text);
    assert!(text.contains("kaiwu_build_info"), "{text}");
    assert!(text.contains("kaiwu_http_requests_total"), "{text}");
    // Route templates, never raw paths, label the request metrics.
    assert!(text.contains(r#"route="/api/me""#), "{text}");
    node.stop();
}

#[test]
fn sigterm_right_after_ready_exits_cleanly() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    // A supervisor may stop a node the moment it reports ready; that must be a clean stop too.
    for _ in 0..20 {
        Node::start(&dir).stop();
    }
    let node = Node::start(&dir);
    Api::login(&node, "admin", ADMIN_PASSWORD)
        .get("/api/me")
        .ok(200);
    node.stop();
}

/// Prometheus text exposition: comments (`# HELP`, `# TYPE`) and `name{labels} value` samples.
fn check_prometheus_text(text: &str) {
    let mut samples = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(c) = line.strip_prefix('#') {
            let kw = c.split_whitespace().next().unwrap_or("");
            assert!(
                kw == "HELP" || kw == "TYPE" || !c.starts_with(' '),
                "bad comment: {line}"
            );
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("no value: {line}"));
        let name = &line[..name_end];
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        assert!(valid, "bad metric name in: {line}");
        let rest = if line[name_end..].starts_with('{') {
            let close = line
                .rfind('}')
                .unwrap_or_else(|| panic!("unclosed labels: {line}"));
            &line[close + 1..]
        } else {
            &line[name_end..]
        };
        let value = rest
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("no value: {line}"));
        let numeric = value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value);
        assert!(numeric, "bad sample value in: {line}");
        samples += 1;
    }
    assert!(samples > 0, "no samples in /metrics:\n{text}");
}

#[test]
fn tenant_setup_survives_a_restart() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    let node = Node::start(&dir);
    assert!(
        node.before_ready.iter().any(|l| l.contains("first start")),
        "first start is announced: {:?}",
        node.before_ready
    );

    let admin = Api::login(&node, "admin", ADMIN_PASSWORD);
    create_tenant(&admin, "acme");
    let user = create_user(&admin, "li.wei", Some("acme"), &["tenant_admin"]);
    assert_eq!(user["tenant"], "acme");
    let li = login(&node, "li.wei");
    let me = li.get("/api/me").ok(200);
    assert_eq!(
        (&me["username"], &me["tenant"]),
        (&json!("li.wei"), &json!("acme"))
    );

    // The id defaults to a slug of the TD title.
    let imported = li
        .post("/api/device-types/import?format=wot", &robot_td())
        .ok(201);
    assert_eq!(imported["id"], "packaging_robot");
    assert_eq!(imported["name"], "Packaging Robot");
    let temp = prop(&imported, "motor_temp");
    assert_eq!(
        (&temp["type"], &temp["unit"], &temp["access"]),
        (&json!("float"), &json!("Cel"), &json!("read"))
    );
    assert_eq!(
        (temp["min"].as_f64(), temp["max"].as_f64()),
        (Some(-20.0), Some(120.0))
    );
    assert_eq!(prop(&imported, "cycles")["type"], "int");
    assert_eq!(prop(&imported, "mode")["type"], "enum");
    assert_eq!(
        prop(&imported, "mode")["values"],
        json!({"0": "auto", "1": "manual", "2": "maintenance"})
    );
    assert_eq!(prop(&imported, "enabled")["type"], "bool");
    assert_eq!(prop(&imported, "enabled")["access"], "read_write");
    assert_eq!(imported["commands"][0]["id"], "home");
    assert_eq!(imported["events"][0]["id"], "overheat");
    let stored_type = li.get("/api/device-types/packaging_robot").ok(200);
    assert_eq!(stored_type, imported);
    let td = li.get("/api/device-types/packaging_robot/wot");
    let td_json = td.ok(200);
    assert_eq!(td.header("content-type"), "application/td+json");
    assert_eq!(td_json["title"], "Packaging Robot");
    assert!(td_json["properties"]["motor_temp"].is_object(), "{td_json}");

    let mut parent: Option<&str> = None;
    for (kind, id) in TREE {
        let a = li
            .post(
                "/api/assets",
                &json!({"id": id, "kind": kind, "name": format!("{kind} {id}"), "parent": parent}),
            )
            .ok(201);
        assert_eq!((&a["kind"], &a["parent"]), (&json!(kind), &json!(parent)));
        parent = Some(id);
    }
    let cell = TREE[4].1;

    create_devices(&li, cell);
    let listed = li.get(&format!("/api/devices?asset={cell}&limit=10000"));
    assert_eq!(listed.header("x-total-count"), DEVICES.to_string());
    let before = snapshot(&li);
    assert_eq!(before.counts.devices, DEVICES);
    assert_eq!(before.counts.assets, TREE.len());
    assert_eq!(before.counts.device_types, 1);
    node.stop();

    let node = Node::start(&dir);
    assert!(
        !node.before_ready.iter().any(|l| l.contains("first start")),
        "a restart is no first start: {:?}",
        node.before_ready
    );
    let li = login(&node, "li.wei");
    let after = snapshot(&li);
    assert_eq!(
        after, before,
        "what the tenant holds changed across the restart"
    );
    assert_eq!(
        li.get("/api/device-types/packaging_robot").ok(200),
        stored_type
    );
    let d = li
        .get(&format!("/api/devices/{}", device_id(DEVICES - 1)))
        .ok(200);
    assert_eq!(
        (&d["type"], &d["asset"]),
        (&json!("packaging_robot"), &json!(cell))
    );
    let admin = Api::login(&node, "admin", ADMIN_PASSWORD);
    assert!(ids(&admin.get("/api/tenants").ok(200), "id").contains(&"acme".to_owned()));
    assert_eq!(admin.get("/api/users/li.wei").ok(200)["tenant"], "acme");
    node.stop();
}

/// POST the devices from a few threads (the registry serialises writes anyway).
fn create_devices(api: &Api, asset: &str) {
    const THREADS: usize = 4;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let api = api.clone();
            s.spawn(move || {
                for i in (t..DEVICES).step_by(THREADS) {
                    let body = json!({"id": device_id(i), "type": "packaging_robot", "asset": asset,
                                      "name": format!("Robot {i}"), "labels": {"line": "1", "slot": i.to_string()}});
                    let d = api.post("/api/devices", &body).ok(201);
                    let token = d["access_token"].as_str().unwrap_or_default();
                    assert!(token.len() >= 8, "device {i} got no usable access token: {d}");
                }
            });
        }
    });
}

/// Everything the tenant holds, in a form that must not change across a restart.
#[derive(Debug, PartialEq)]
struct Snapshot {
    counts: crate::common::Counts,
    assets: Value,
    devices: Value,
    device_types: Value,
    users: Value,
}

fn snapshot(api: &Api) -> Snapshot {
    let devices = api.get("/api/devices?limit=10000").ok(200);
    let assets = api.get("/api/assets").ok(200);
    // The tree is intact: each level hangs under the one above.
    for (i, (kind, id)) in TREE.iter().enumerate() {
        let a = assets.as_array().unwrap().iter().find(|a| a["id"] == *id);
        let a = a.unwrap_or_else(|| panic!("asset {id} missing: {assets}"));
        let parent = if i == 0 {
            Value::Null
        } else {
            json!(TREE[i - 1].1)
        };
        assert_eq!((&a["kind"], &a["parent"]), (&json!(kind), &parent));
    }
    for (i, d) in devices.as_array().unwrap().iter().enumerate() {
        assert_eq!(d["id"], device_id(i), "devices are listed by id");
        assert_eq!(d["labels"]["slot"], i.to_string());
    }
    Snapshot {
        counts: counts(api),
        assets,
        devices,
        device_types: api.get("/api/device-types").ok(200),
        users: api.get("/api/users").ok(200),
    }
}
