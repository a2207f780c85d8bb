//! Tenant isolation: another tenant's object is answered exactly like one that does not exist
//! (404) on every route that names an object, lists never show it, and references cannot reach
//! across.

use serde_json::{Value, json};

use crate::common::{
    ADMIN_PASSWORD, Api, Node, Resp, cnc_type, create_tenant, create_user, data_dir, ids, login,
    password_of, tempdir,
};

/// The objects a probe names.
struct Target {
    tenant: String,
    device_type: String,
    asset: String,
    device: String,
    user: String,
    key: String,
}

/// One tenant's objects, made by its tenant admin `admin`.
fn populate(api: &Api, prefix: &str, device_type: &str) -> Target {
    api.post("/api/device-types", &cnc_type(device_type))
        .ok(201);
    let asset = format!("{prefix}-plant");
    let device = format!("{prefix}-dev-1");
    let user = format!("{prefix}-op");
    api.post("/api/assets", &json!({"id": asset, "kind": "enterprise"}))
        .ok(201);
    api.post(
        "/api/devices",
        &json!({"id": device, "type": device_type, "asset": asset}),
    )
    .ok(201);
    create_user(api, &user, None, &["operator"]);
    let key = api.post("/api/api-keys", &json!({"name": "ci"})).ok(201);
    Target {
        tenant: prefix.to_owned(),
        device_type: device_type.to_owned(),
        asset,
        device,
        user,
        key: key["id"].as_str().unwrap().to_owned(),
    }
}

/// Tenants `alpha` (admin alice) and `beta` (admin bob), each populated; returns their APIs.
fn two_tenants(node: &Node) -> (Api, Target, Api, Target, Api) {
    let root = Api::login(node, "admin", ADMIN_PASSWORD);
    create_tenant(&root, "alpha");
    create_tenant(&root, "beta");
    create_user(&root, "alice", Some("alpha"), &["tenant_admin"]);
    create_user(&root, "bob", Some("beta"), &["tenant_admin"]);
    let alice = login(node, "alice");
    let bob = login(node, "bob");
    let a = populate(&alice, "alpha", "press");
    let b = populate(&bob, "beta", "mixer");
    (alice, a, bob, b, root)
}

/// Every route that names an object, aimed at `t`'s objects.
fn probe(api: &Api, t: &Target) -> Vec<Resp> {
    let (dt, asset, dev, user) = (&t.device_type, &t.asset, &t.device, &t.user);
    vec![
        api.get(&format!("/api/device-types/{dt}")),
        api.put(&format!("/api/device-types/{dt}"), &cnc_type(dt)),
        api.delete(&format!("/api/device-types/{dt}")),
        api.get(&format!("/api/device-types/{dt}/wot")),
        api.get(&format!("/api/device-types/{dt}/versions/1")),
        api.get(&format!("/api/assets/{asset}")),
        api.patch(
            &format!("/api/assets/{asset}"),
            &json!({"name": "taken over"}),
        ),
        api.delete(&format!("/api/assets/{asset}")),
        api.get(&format!("/api/devices/{dev}")),
        api.patch(
            &format!("/api/devices/{dev}"),
            &json!({"name": "taken over"}),
        ),
        api.delete(&format!("/api/devices/{dev}")),
        api.post(
            &format!("/api/devices/{dev}/credentials"),
            &json!({"kind": "access_token"}),
        ),
        api.get(&format!("/api/devices/{dev}/shadow")),
        api.patch(
            &format!("/api/devices/{dev}/shadow"),
            &json!({"setpoint": 1}),
        ),
        api.post(
            &format!("/api/devices/{dev}/commands/stop"),
            &json!({"params": {}}),
        ),
        api.get(&format!("/api/users/{user}")),
        api.patch(
            &format!("/api/users/{user}"),
            &json!({"password": "taken-over-pw"}),
        ),
        api.delete(&format!("/api/users/{user}")),
        api.get(&format!("/api/api-keys/{}", t.key)),
        api.delete(&format!("/api/api-keys/{}", t.key)),
        api.post(
            "/api/users",
            &json!({"username": "smuggled", "password": password_of("smuggled"),
                    "tenant": t.tenant, "roles": ["viewer"]}),
        ),
    ]
}

/// A problem's detail with the probed ids blanked, to compare two probes' answers.
fn neutral(p: &Value, t: &Target) -> Value {
    let mut d = p["detail"].as_str().unwrap().to_owned();
    for id in [
        &t.device_type,
        &t.asset,
        &t.device,
        &t.user,
        &t.key,
        &t.tenant,
    ] {
        d = d.replace(id.as_str(), "<id>");
    }
    json!({"type": p["type"], "title": p["title"], "status": p["status"], "detail": d})
}

fn ghost() -> Target {
    Target {
        tenant: "ghost".into(),
        device_type: "ghost_type".into(),
        asset: "ghost-asset".into(),
        device: "ghost-device".into(),
        user: "ghost-user".into(),
        key: "ghostkey0000".into(),
    }
}

#[test]
fn another_tenants_objects_are_not_found_on_every_route() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let (alice, a, bob, _b, root) = two_tenants(&node);
    let ghost = ghost();
    let foreign = probe(&bob, &a);
    let missing = probe(&bob, &ghost);
    for (f, m) in foreign.iter().zip(&missing) {
        let (fp, mp) = (f.problem(404), m.problem(404));
        assert_eq!(
            neutral(&fp, &a),
            neutral(&mp, &ghost),
            "{} answers differently for another tenant's object than for a missing one",
            f.what
        );
    }
    // A platform admin acts inside its own tenant for tenant data too.
    for path in [
        format!("/api/device-types/{}", a.device_type),
        format!("/api/assets/{}", a.asset),
        format!("/api/devices/{}", a.device),
    ] {
        root.get(&path).problem(404);
    }

    // Nothing of alpha's changed.
    let dt = alice.get("/api/device-types/press").ok(200);
    assert_eq!(
        (&dt["version"], &dt["name"]),
        (&json!(1), &json!("CNC milling machine"))
    );
    assert_eq!(
        alice.get("/api/assets/alpha-plant").ok(200)["name"],
        "alpha-plant"
    );
    assert_eq!(
        alice.get("/api/devices/alpha-dev-1").ok(200)["name"],
        "alpha-dev-1"
    );
    let op = alice.get("/api/users/alpha-op").ok(200);
    assert_eq!(
        (&op["roles"], &op["disabled"]),
        (&json!(["operator"]), &json!(false))
    );
    login(&node, "alpha-op").get("/api/me").ok(200);
    alice.get(&format!("/api/api-keys/{}", a.key)).ok(200);
    assert!(!ids(&alice.get("/api/users").ok(200), "username").contains(&"smuggled".to_owned()));
    node.stop();
}

#[test]
fn lists_show_only_the_callers_tenant() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let (alice, a, bob, b, root) = two_tenants(&node);
    for (api, mine, admin) in [(&alice, &a, "alice"), (&bob, &b, "bob")] {
        assert_eq!(
            ids(&api.get("/api/device-types").ok(200), "id"),
            [mine.device_type.as_str()]
        );
        assert_eq!(
            ids(&api.get("/api/assets").ok(200), "id"),
            [mine.asset.as_str()]
        );
        let devices = api.get("/api/devices");
        assert_eq!(ids(&devices.ok(200), "id"), [mine.device.as_str()]);
        assert_eq!(devices.header("x-total-count"), "1");
        let users = api.get("/api/users").ok(200);
        let (mut names, mut expected) = (
            ids(&users, "username"),
            vec![admin.to_owned(), mine.user.clone()],
        );
        names.sort();
        expected.sort();
        assert_eq!(names, expected);
        assert!(
            users
                .as_array()
                .unwrap()
                .iter()
                .all(|u| u["tenant"] == mine.tenant.as_str())
        );
        let keys = api.get("/api/api-keys").ok(200);
        assert_eq!(ids(&keys, "id"), [mine.key.as_str()]);
        assert!(
            keys.as_array()
                .unwrap()
                .iter()
                .all(|k| k["tenant"] == mine.tenant.as_str())
        );
    }
    // Filters naming another tenant's objects find nothing.
    for path in ["/api/devices?type=press", "/api/devices?asset=alpha-plant"] {
        let r = bob.get(path);
        assert_eq!(
            (r.ok(200), r.header("x-total-count")),
            (json!([]), "0".to_owned())
        );
    }
    assert_eq!(bob.get("/api/assets?parent=alpha-plant").ok(200), json!([]));
    // The platform admin's own tenant holds none of it either.
    assert_eq!(root.get("/api/device-types").ok(200), json!([]));
    assert_eq!(root.get("/api/devices").ok(200), json!([]));
    assert_eq!(ids(&root.get("/api/users").ok(200), "username"), ["admin"]);
    node.stop();
}

#[test]
fn references_cannot_reach_another_tenant() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let (alice, a, bob, b, _root) = two_tenants(&node);
    let refused = [
        bob.post("/api/devices", &json!({"id": "x-1", "type": a.device_type})),
        bob.post(
            "/api/devices",
            &json!({"id": "x-2", "type": b.device_type, "asset": a.asset}),
        ),
        bob.post(
            "/api/assets",
            &json!({"id": "x-site", "kind": "site", "parent": a.asset}),
        ),
        bob.patch(
            &format!("/api/devices/{}", b.device),
            &json!({"asset": a.asset}),
        ),
        bob.patch(
            &format!("/api/devices/{}", b.device),
            &json!({"type": a.device_type}),
        ),
        bob.patch(
            &format!("/api/assets/{}", b.asset),
            &json!({"parent": a.asset}),
        ),
    ];
    for r in &refused {
        assert!(
            r.status == 404 || r.status == 422,
            "{}: expected 404 or 422, got {}: {}",
            r.what,
            r.status,
            r.text()
        );
        r.problem(r.status);
    }
    assert_eq!(
        ids(&bob.get("/api/devices").ok(200), "id"),
        [b.device.as_str()]
    );
    let d = bob.get(&format!("/api/devices/{}", b.device)).ok(200);
    assert_eq!(
        (&d["type"], &d["asset"]),
        (&json!(b.device_type), &json!(b.asset))
    );

    // Ids are per tenant: beta may reuse alpha's, and each tenant keeps its own object.
    bob.post("/api/device-types", &cnc_type(&a.device_type))
        .ok(201);
    bob.post(
        "/api/assets",
        &json!({"id": a.asset, "kind": "site", "name": "beta's"}),
    )
    .ok(201);
    bob.post(
        "/api/devices",
        &json!({"id": a.device, "type": a.device_type, "name": "beta's"}),
    )
    .ok(201);
    bob.delete(&format!("/api/devices/{}", a.device)).ok(204);
    bob.delete(&format!("/api/assets/{}", a.asset)).ok(204);
    bob.delete(&format!("/api/device-types/{}", a.device_type))
        .ok(204);
    let d = alice.get(&format!("/api/devices/{}", a.device)).ok(200);
    assert_eq!(
        (&d["name"], &d["asset"]),
        (&json!(a.device), &json!(a.asset))
    );
    assert_eq!(
        alice.get(&format!("/api/assets/{}", a.asset)).ok(200)["kind"],
        "enterprise"
    );
    alice
        .get(&format!("/api/device-types/{}", a.device_type))
        .ok(200);
    node.stop();
}
