//! Bad requests: malformed JSON (400), wrong types and unknown fields (422, naming the JSON
//! path), oversized bodies (413), wrong content types (415). Each is a problem+json answer, and
//! nothing is written.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::press_fixture;
use crate::common::{ADMIN_PASSWORD, Api, Counts, Node, cnc_type, counts, data_dir, tempdir};

/// A node with one device type, asset and device; returns the admin and what it holds.
fn fixture(node: &Node) -> (Api, Counts) {
    let admin = press_fixture(node);
    let c = counts(&admin);
    (admin, c)
}

/// Everything besides [`counts`] that a bad request could have touched.
fn others(admin: &Api) -> Value {
    json!({
        "tenants": admin.get("/api/tenants").ok(200),
        "keys": admin.get("/api/api-keys").ok(200),
        "type": admin.get("/api/device-types/press").ok(200),
        "asset": admin.get("/api/assets/plant").ok(200),
        "device": admin.get("/api/devices/press-1").ok(200),
        "me": admin.get("/api/me").ok(200),
    })
}

/// Every route that takes a JSON body.
const JSON_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/auth/login"),
    ("PATCH", "/api/me"),
    ("POST", "/api/tenants"),
    ("POST", "/api/users"),
    ("PATCH", "/api/users/admin"),
    ("POST", "/api/api-keys"),
    ("POST", "/api/device-types"),
    ("PUT", "/api/device-types/press"),
    ("POST", "/api/device-types/import?format=wot"),
    ("POST", "/api/assets"),
    ("PATCH", "/api/assets/plant"),
    ("POST", "/api/devices"),
    ("PATCH", "/api/devices/press-1"),
    ("POST", "/api/devices/press-1/credentials"),
];

fn send(api: &Api, m: &str, path: &str, ct: &str, body: &[u8]) -> crate::common::Resp {
    api.send(
        Method::from_bytes(m.as_bytes()).unwrap(),
        path,
        Some(ct),
        body.to_vec(),
    )
}

/// Why `r` is not a 422 whose `errors` name `path`, if it is not.
fn path_error(r: &crate::common::Resp, path: &str) -> Option<String> {
    let p = r.problem(422);
    let errors = p["errors"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let named =
        |e: &Value| e["path"] == path && e["message"].as_str().is_some_and(|m| !m.is_empty());
    (!errors.iter().any(named)).then(|| {
        format!(
            "{}: expected an entry with path `{path}` in `errors`: {p}",
            r.what
        )
    })
}

/// Assert a 422 whose `errors` name `path`.
fn assert_path(r: &crate::common::Resp, path: &str) {
    if let Some(e) = path_error(r, path) {
        panic!("{e}");
    }
}

#[test]
fn malformed_json_is_400() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let (admin, before) = fixture(&node);
    let others_before = others(&admin);
    // Each breaks the syntax before any member is read, so no route can see a shape error first.
    for body in [&b""[..], b"{", b"{\"", b"not json", b"{'id': 'x'}", b"{,}"] {
        for (m, path) in JSON_ROUTES {
            send(&admin, m, path, "application/json", body).problem(400);
        }
    }
    // Trailing data after an otherwise acceptable document is malformed too.
    let mut device = serde_json::to_vec(&json!({"id": "d-trail", "type": "press"})).unwrap();
    device.extend_from_slice(b" {}");
    send(&admin, "POST", "/api/devices", "application/json", &device).problem(400);
    let mut mill = serde_json::to_vec(&cnc_type("mill")).unwrap();
    mill.extend_from_slice(b" x");
    send(
        &admin,
        "POST",
        "/api/device-types",
        "application/json",
        &mill,
    )
    .problem(400);
    assert_eq!(counts(&admin), before);
    assert_eq!(others(&admin), others_before);
    node.stop();
}

#[test]
fn syntax_errors_win_over_shape_errors() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let (admin, before) = fixture(&node);
    let others_before = others(&admin);
    // Not JSON, whatever the first member says: 400 ("bad syntax"), not a 422 about `colour`.
    let mut wrong = Vec::new();
    for body in [&b"{\"colour\": \"red\","[..], b"{\"colour\": 1 \"x\": 2}"] {
        for (m, path) in JSON_ROUTES {
            let r = send(&admin, m, path, "application/json", body);
            if r.status != 400 {
                wrong.push(format!(
                    "{} {}: {} {}",
                    r.what,
                    String::from_utf8_lossy(body),
                    r.status,
                    r.text()
                ));
            }
        }
    }
    assert_eq!(counts(&admin), before);
    assert_eq!(others(&admin), others_before);
    assert!(
        wrong.is_empty(),
        "malformed JSON not answered 400:\n{}",
        wrong.join("\n")
    );
    node.stop();
}

#[test]
fn wrong_types_are_422_with_the_json_path() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let (admin, before) = fixture(&node);
    let others_before = others(&admin);
    let cases: Vec<(crate::common::Resp, &str)> = vec![
        (admin.post("/api/devices", &json!({"id": 5, "type": "press"})), "id"),
        (admin.post("/api/devices", &json!({"id": "d", "type": "press", "labels": {"line": 1}})), "labels.line"),
        (admin.patch("/api/devices/press-1", &json!({"labels": {"k": true}})), "labels.k"),
        (admin.post("/api/devices/press-1/credentials", &json!({"kind": 1})), "kind"),
        (admin.post("/api/assets", &json!({"id": "a", "kind": "enterprise", "name": 7})), "name"),
        (admin.post("/api/assets", &json!({"id": "a", "kind": "factory"})), "kind"),
        (admin.patch("/api/assets/plant", &json!({"parent": 5})), "parent"),
        (admin.post("/api/users", &json!({"username": "u1", "password": "u1-password", "roles": "viewer"})), "roles"),
        (admin.post("/api/users", &json!({"username": "u1", "password": "u1-password", "roles": ["wizard"]})), "roles[0]"),
        (admin.post("/api/users", &json!({"username": "u1", "password": "u1-password", "roles": ["viewer"], "clearance": "high"})), "clearance"),
        (admin.patch("/api/users/admin", &json!({"disabled": "no"})), "disabled"),
        (admin.post("/api/tenants", &json!({"id": ["t"]})), "id"),
        (admin.post("/api/api-keys", &json!({"name": "k", "expires_ms": "tomorrow"})), "expires_ms"),
        (admin.post("/api/auth/login", &json!({"username": 1, "password": "x"})), "username"),
        (admin.patch("/api/me", &json!({"current_password": ADMIN_PASSWORD, "password": 12345678})), "password"),
    ];
    for (r, path) in &cases {
        assert_path(r, path);
    }
    assert_eq!(counts(&admin), before);
    assert_eq!(others(&admin), others_before);
    node.stop();
}

#[test]
fn device_type_errors_name_the_json_path() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let (admin, before) = fixture(&node);
    let others_before = others(&admin);
    let mut bad_min = cnc_type("mill");
    bad_min["properties"][0]["min"] = json!("zero");
    let mut bad_type = cnc_type("mill");
    bad_type["properties"][1]["type"] = json!("double");
    let mut bad_flag = cnc_type("press");
    bad_flag["extensible"] = json!("yes");
    let mut unknown = cnc_type("mill");
    unknown["propertiez"] = json!([]);
    let mut inverted = cnc_type("mill");
    inverted["properties"][2]["min"] = json!(200);
    let cases = [
        (
            admin.post("/api/device-types", &bad_min),
            "properties[0].min",
        ),
        (
            admin.post("/api/device-types", &bad_type),
            "properties[1].type",
        ),
        (admin.post("/api/device-types", &unknown), "propertiez"),
        (
            admin.put("/api/device-types/press", &bad_flag),
            "extensible",
        ),
        (
            admin.post("/api/device-types", &inverted),
            "properties[2].min",
        ),
    ];
    let td = json!({"@context": "https://www.w3.org/2022/wot/td/v1.1", "title": 5});
    let import = admin.post("/api/device-types/import?format=wot", &td);
    // Collect every miss before failing, so one run reports them all.
    let failures: Vec<String> = cases
        .iter()
        .chain([&(import, "title")])
        .filter_map(|(r, path)| path_error(r, path))
        .collect();
    assert_eq!(counts(&admin), before);
    assert_eq!(others(&admin), others_before);
    assert!(
        failures.is_empty(),
        "{} of 6 answers lack the path:\n{}",
        failures.len(),
        failures.join("\n")
    );
    node.stop();
}

#[test]
fn unknown_fields_are_422() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let (admin, before) = fixture(&node);
    let others_before = others(&admin);
    let mut nested = cnc_type("mill");
    nested["properties"][0]["unitt"] = json!("rpm");
    let mut top = cnc_type("mill");
    top["colour"] = json!("red");
    let cases = [
        admin.post("/api/auth/login", &json!({"username": "admin", "password": ADMIN_PASSWORD, "colour": "red"})),
        admin.patch("/api/me", &json!({"current_password": ADMIN_PASSWORD, "password": "another-pw", "colour": "red"})),
        admin.post("/api/tenants", &json!({"id": "t1", "colour": "red"})),
        admin.post("/api/users", &json!({"username": "u1", "password": "u1-password", "roles": ["viewer"], "colour": "red"})),
        admin.patch("/api/users/admin", &json!({"colour": "red"})),
        admin.post("/api/api-keys", &json!({"name": "k", "colour": "red"})),
        admin.post("/api/device-types", &top),
        admin.put("/api/device-types/press", &top),
        admin.post("/api/assets", &json!({"id": "a", "kind": "site", "colour": "red"})),
        admin.patch("/api/assets/plant", &json!({"colour": "red"})),
        admin.post("/api/devices", &json!({"id": "d", "type": "press", "colour": "red"})),
        admin.patch("/api/devices/press-1", &json!({"colour": "red"})),
        admin.post("/api/devices/press-1/credentials", &json!({"kind": "access_token", "colour": "red"})),
    ];
    for r in &cases {
        let p = r.problem(422);
        assert!(
            p.to_string().contains("colour"),
            "{}: the answer should name the field: {p}",
            r.what
        );
    }
    let p = admin.post("/api/device-types", &nested).problem(422);
    assert!(p.to_string().contains("unitt"), "{p}");
    assert_eq!(counts(&admin), before);
    assert_eq!(others(&admin), others_before);
    node.stop();
}

/// A device whose JSON is about `bytes` long (labels carry the bulk).
fn device_of_size(id: &str, bytes: usize) -> Value {
    let labels: serde_json::Map<String, Value> = (0..bytes / 250 + 1)
        .map(|i| (format!("l{i:02}"), json!("x".repeat(200))))
        .collect();
    let mut d = json!({"id": id, "type": "press", "labels": labels});
    let n = serde_json::to_vec(&d).unwrap().len();
    d["name"] = json!("n".repeat(bytes.saturating_sub(n + 10).min(128)));
    d
}

#[test]
fn oversized_bodies_are_413() {
    let tmp = tempdir();
    let node = Node::start_env(&data_dir(&tmp), &[("KAIWU_HTTP_MAX_BODY_BYTES", "4096")]);
    let (admin, mut before) = fixture(&node);
    let fits = device_of_size("fits", 3500);
    assert!(serde_json::to_vec(&fits).unwrap().len() < 4096);
    admin.post("/api/devices", &fits).ok(201);
    before.devices += 1;
    let others_before = others(&admin);

    let big = "x".repeat(5000);
    let mut big_type = cnc_type("mill");
    big_type["description"] = json!(big);
    let big_td = json!({"@context": "https://www.w3.org/2022/wot/td/v1.1", "title": "Big", "description": big});
    let cases = [
        admin.post("/api/devices", &device_of_size("too-big", 5000)),
        admin.patch("/api/devices/press-1", &json!({"name": big})),
        admin.post("/api/device-types", &big_type),
        admin.put("/api/device-types/press", &big_type),
        admin.post("/api/device-types/import?format=wot", &big_td),
        admin.post(
            "/api/assets",
            &json!({"id": "a", "kind": "site", "description": big}),
        ),
        admin.post(
            "/api/users",
            &json!({"username": "u1", "password": big, "roles": ["viewer"]}),
        ),
        admin.post(
            "/api/auth/login",
            &json!({"username": "admin", "password": big}),
        ),
    ];
    for r in &cases {
        r.problem(413);
    }
    assert_eq!(counts(&admin), before);
    assert_eq!(others(&admin), others_before);
    node.stop();
}

#[test]
fn bodies_over_one_mib_are_413_by_default() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let (admin, before) = fixture(&node);
    let huge = "x".repeat((1 << 20) + 1024);
    let mut big_type = cnc_type("mill");
    big_type["description"] = json!(huge);
    admin.post("/api/device-types", &big_type).problem(413);
    admin
        .post(
            "/api/devices",
            &json!({"id": "d", "type": "press", "name": huge}),
        )
        .problem(413);
    assert_eq!(counts(&admin), before);
    node.stop();
}

#[test]
fn wrong_content_type_is_415() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let (admin, mut before) = fixture(&node);
    let others_before = others(&admin);
    let device = serde_json::to_vec(&json!({"id": "d", "type": "press"})).unwrap();
    let td = serde_json::to_vec(
        &json!({"@context": "https://www.w3.org/2022/wot/td/v1.1", "title": "Tank"}),
    )
    .unwrap();
    let mill = serde_json::to_vec(&cnc_type("mill")).unwrap();
    for (m, path) in JSON_ROUTES {
        send(&admin, m, path, "text/plain", b"{}").problem(415);
    }
    send(
        &admin,
        "POST",
        "/api/devices",
        "application/x-www-form-urlencoded",
        b"id=d&type=press",
    )
    .problem(415);
    send(&admin, "POST", "/api/devices", "application/xml", &device).problem(415);
    send(&admin, "POST", "/api/device-types", "text/html", &mill).problem(415);
    send(
        &admin,
        "POST",
        "/api/device-types/import?format=wot",
        "multipart/form-data; boundary=x",
        &td,
    )
    .problem(415);
    assert_eq!(counts(&admin), before);
    assert_eq!(others(&admin), others_before);

    // JSON with parameters, and JSON-based media types, are JSON.
    send(
        &admin,
        "POST",
        "/api/devices",
        "application/json; charset=utf-8",
        &device,
    )
    .ok(201);
    send(
        &admin,
        "POST",
        "/api/device-types/import?format=wot",
        "application/td+json",
        &td,
    )
    .ok(201);
    before.devices += 1;
    before.device_types += 1;
    assert_eq!(counts(&admin), before);
    node.stop();
}
