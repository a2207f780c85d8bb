//! The built-in roles: what each may do and what it is refused (403), and API keys that never
//! hold more than their owner.

use serde_json::{Value, json};

use crate::api::press_fixture;
use crate::common::{
    ADMIN_PASSWORD, Api, Node, cnc_type, counts, create_tenant, create_user, data_dir, ids, login,
    password_of, tempdir,
};

/// A device type, an asset and a device in tenant `default`, and one user per role.
fn setup(node: &Node) -> Api {
    let admin = press_fixture(node);
    create_user(&admin, "pa", None, &["platform_admin"]);
    create_user(&admin, "ta", None, &["tenant_admin"]);
    create_user(&admin, "op", None, &["operator"]);
    create_user(&admin, "vw", None, &["viewer"]);
    admin
}

fn minimal_td(title: &str) -> Value {
    json!({"@context": "https://www.w3.org/2022/wot/td/v1.1", "title": title,
           "properties": {"level": {"type": "number", "readOnly": true}}})
}

/// Every write outside one's own account, each of which a viewer or operator must be refused.
fn configuration_writes(api: &Api) -> Vec<crate::common::Resp> {
    let mut renamed = cnc_type("press");
    renamed["name"] = json!("renamed");
    vec![
        api.post("/api/device-types", &cnc_type("other")),
        api.post("/api/device-types/import?format=wot", &minimal_td("Tank")),
        api.put("/api/device-types/press", &renamed),
        api.delete("/api/device-types/press"),
        api.post(
            "/api/assets",
            &json!({"id": "site-9", "kind": "site", "parent": "plant"}),
        ),
        api.patch("/api/assets/plant", &json!({"name": "renamed"})),
        api.delete("/api/assets/plant"),
        api.post("/api/devices", &json!({"id": "press-2", "type": "press"})),
        api.patch("/api/devices/press-1", &json!({"name": "renamed"})),
        api.delete("/api/devices/press-1"),
        api.post(
            "/api/devices/press-1/credentials",
            &json!({"kind": "access_token"}),
        ),
        api.get("/api/users"),
        api.get("/api/users/admin"),
        api.post(
            "/api/users",
            &json!({"username": "intruder", "password": "intruder-pw-1", "roles": ["viewer"]}),
        ),
        api.patch("/api/users/vw", &json!({"roles": ["tenant_admin"]})),
        api.delete("/api/users/vw"),
    ]
}

fn tenant_operations(api: &Api) -> Vec<crate::common::Resp> {
    vec![
        api.get("/api/tenants"),
        api.post("/api/tenants", &json!({"id": "rogue"})),
        api.get("/api/tenants/default"),
        api.patch("/api/tenants/default", &json!({"name": "renamed"})),
        api.delete("/api/tenants/default"),
    ]
}

#[test]
fn callers_without_valid_credentials_are_401() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let anon = Api::anon(&node);
    let callers = [
        anon.clone(),
        anon.bearer("not-a-token"),
        anon.bearer("kwk_not-a-key"),
        anon.bearer("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.forged"),
    ];
    for api in &callers {
        for path in ["/api/me", "/api/devices", "/api/users", "/api/tenants"] {
            let r = api.get(path);
            r.problem(401);
            assert_eq!(r.header("www-authenticate"), "Bearer", "{}", r.what);
        }
        api.post("/api/devices", &json!({"id": "d", "type": "t"}))
            .problem(401);
    }
    let wrong = json!({"username": "admin", "password": "wrong-password"});
    anon.post("/api/auth/login", &wrong).problem(401);
    let nobody = json!({"username": "nobody", "password": "wrong-password"});
    // An unknown user is refused exactly like a wrong password: names are not revealed.
    assert_eq!(
        anon.post("/api/auth/login", &nobody).problem(401),
        anon.post("/api/auth/login", &wrong).problem(401)
    );
    node.stop();
}

#[test]
fn viewer_and_operator_read_but_are_refused_configuration() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = setup(&node);
    let before = counts(&admin);
    for who in ["op", "vw"] {
        let api = login(&node, who);
        for path in [
            "/api/device-types",
            "/api/device-types/press",
            "/api/device-types/press/wot",
            "/api/device-types/press/versions/1",
            "/api/assets",
            "/api/assets/plant",
            "/api/devices",
            "/api/devices/press-1",
            "/api/api-keys",
        ] {
            api.get(path).ok(200);
        }
        for r in configuration_writes(&api)
            .iter()
            .chain(&tenant_operations(&api))
        {
            r.problem(403);
        }
        assert_eq!(
            counts(&admin),
            before,
            "a refused call by {who} changed something"
        );
        assert_eq!(
            admin.get("/api/users/vw").ok(200)["roles"],
            json!(["viewer"])
        );
        assert_eq!(admin.get("/api/devices/press-1").ok(200)["name"], "press-1");
    }
    node.stop();
}

#[test]
fn every_role_reads_itself_and_uses_its_own_api_key() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = setup(&node);
    let users = [
        ("admin", json!(["platform_admin", "tenant_admin"])),
        ("pa", json!(["platform_admin"])),
        ("ta", json!(["tenant_admin"])),
        ("op", json!(["operator"])),
        ("vw", json!(["viewer"])),
    ];
    for (who, roles) in users {
        let api = if who == "admin" {
            admin.clone()
        } else {
            login(&node, who)
        };
        let me = api.get("/api/me").ok(200);
        assert_eq!(
            (&me["username"], &me["tenant"]),
            (&json!(who), &json!("default"))
        );
        assert_eq!(me["roles"], roles, "{who}");
        assert!(
            me.get("password_hash").is_none() && me.get("password").is_none(),
            "{me}"
        );

        let key = api
            .post("/api/api-keys", &json!({"name": format!("{who}'s key")}))
            .ok(201);
        assert_eq!(key["roles"], roles, "a key defaults to its owner's roles");
        let secret = key["secret"].as_str().expect("secret shown at creation");
        let id = key["id"].as_str().unwrap();
        let by_key = api.bearer(secret);
        let me = by_key.get("/api/me").ok(200);
        assert_eq!((&me["username"], &me["api_key"]), (&json!(who), &json!(id)));
        by_key.get("/api/devices/press-1").ok(200);
        let listed = api.get(&format!("/api/api-keys/{id}")).ok(200);
        assert!(
            listed.get("secret").is_none(),
            "the secret is shown only once: {listed}"
        );
        assert!(!api.get("/api/api-keys").text().contains(secret));
        // Revoked keys stop working at once.
        api.delete(&format!("/api/api-keys/{id}")).ok(204);
        by_key.get("/api/me").problem(401);
    }
    node.stop();
}

#[test]
fn api_keys_never_exceed_their_owner() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = setup(&node);
    for (who, wanted) in [
        ("vw", "operator"),
        ("vw", "tenant_admin"),
        ("op", "tenant_admin"),
        ("ta", "platform_admin"),
    ] {
        let api = login(&node, who);
        api.post(
            "/api/api-keys",
            &json!({"name": "greedy", "roles": [wanted]}),
        )
        .problem(403);
        assert_eq!(
            api.get("/api/api-keys").ok(200),
            json!([]),
            "{who}: nothing stored"
        );
    }

    // A key with part of its owner's roles has only that part.
    let key = admin
        .post(
            "/api/api-keys",
            &json!({"name": "tenant only", "roles": ["tenant_admin"]}),
        )
        .ok(201);
    let narrow = admin.bearer(key["secret"].as_str().unwrap());
    narrow.get("/api/tenants").problem(403);
    narrow
        .post("/api/devices", &json!({"id": "press-k", "type": "press"}))
        .ok(201);
    admin.get("/api/tenants").ok(200);

    // A key follows its owner's roles down: demoting the owner disarms the key.
    let ta = login(&node, "ta");
    let key = ta
        .post("/api/api-keys", &json!({"name": "automation"}))
        .ok(201);
    let by_key = ta.bearer(key["secret"].as_str().unwrap());
    by_key
        .post("/api/devices", &json!({"id": "press-3", "type": "press"}))
        .ok(201);
    admin
        .patch("/api/users/ta", &json!({"roles": ["viewer"]}))
        .ok(200);
    by_key
        .post("/api/devices", &json!({"id": "press-4", "type": "press"}))
        .problem(403);
    node.stop();
}

#[test]
fn tenant_admin_configures_its_tenant_but_not_tenants() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = setup(&node);
    let ta = login(&node, "ta");
    for r in tenant_operations(&ta) {
        r.problem(403);
    }
    assert_eq!(ids(&admin.get("/api/tenants").ok(200), "id"), ["default"]);

    // Device types: create, new version, history, WoT import, delete.
    ta.post("/api/device-types", &cnc_type("lathe")).ok(201);
    let mut v2 = cnc_type("lathe");
    v2["name"] = json!("CNC lathe");
    assert_eq!(ta.put("/api/device-types/lathe", &v2).ok(200)["version"], 2);
    assert_eq!(
        ta.get("/api/device-types/lathe/versions/1").ok(200)["name"],
        "CNC milling machine"
    );
    assert_eq!(
        ta.get("/api/device-types/lathe/versions/2").ok(200)["name"],
        "CNC lathe"
    );
    let tank = ta
        .post(
            "/api/device-types/import?format=wot&id=tank",
            &minimal_td("Water tank"),
        )
        .ok(201);
    assert_eq!(tank["id"], "tank");
    ta.delete("/api/device-types/tank").ok(204);

    // Assets and devices.
    ta.post(
        "/api/assets",
        &json!({"id": "site-2", "kind": "site", "parent": "plant"}),
    )
    .ok(201);
    ta.patch("/api/assets/site-2", &json!({"name": "Site two"}))
        .ok(200);
    let d = ta
        .post(
            "/api/devices",
            &json!({"id": "lathe-1", "type": "lathe", "asset": "site-2"}),
        )
        .ok(201);
    let old_token = d["access_token"].as_str().unwrap().to_owned();
    ta.patch("/api/devices/lathe-1", &json!({"labels": {"bay": "4"}}))
        .ok(200);
    let c = ta
        .post(
            "/api/devices/lathe-1/credentials",
            &json!({"kind": "access_token"}),
        )
        .ok(200);
    assert_ne!(c["access_token"].as_str().unwrap(), old_token);
    ta.delete("/api/devices/lathe-1").ok(204);
    ta.delete("/api/assets/site-2").ok(204);

    // Users of its own tenant, but never platform admins.
    create_user(&ta, "op2", None, &["operator"]);
    assert!(ids(&ta.get("/api/users").ok(200), "username").contains(&"op2".to_owned()));
    ta.patch("/api/users/op2", &json!({"roles": ["viewer"]}))
        .ok(200);
    ta.delete("/api/users/op2").ok(204);
    let root =
        json!({"username": "root2", "password": password_of("root2"), "roles": ["platform_admin"]});
    ta.post("/api/users", &root).problem(403);
    ta.patch("/api/users/ta", &json!({"roles": ["platform_admin"]}))
        .problem(403);
    ta.patch("/api/users/admin", &json!({"disabled": true}))
        .problem(403);
    ta.delete("/api/users/admin").problem(403);
    Api::login(&node, "admin", ADMIN_PASSWORD)
        .get("/api/me")
        .ok(200);
    node.stop();
}

#[test]
fn platform_admin_manages_tenants() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    setup(&node);
    let pa = login(&node, "pa");
    create_tenant(&pa, "north");
    assert_eq!(pa.get("/api/tenants/north").ok(200)["name"], "Tenant north");
    assert_eq!(
        pa.patch("/api/tenants/north", &json!({"name": "North plant"}))
            .ok(200)["name"],
        "North plant"
    );
    assert_eq!(
        ids(&pa.get("/api/tenants").ok(200), "id"),
        ["default", "north"]
    );
    // Only a platform admin may place a user in another tenant.
    let u = create_user(&pa, "north-admin", Some("north"), &["tenant_admin"]);
    assert_eq!(u["tenant"], "north");
    login(&node, "north-admin").get("/api/devices").ok(200);
    pa.delete("/api/tenants/north").problem(409);
    pa.delete("/api/users/north-admin").ok(204);
    pa.delete("/api/tenants/north").ok(204);
    pa.get("/api/tenants/north").problem(404);
    node.stop();
}

#[test]
fn everyone_changes_their_own_password() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    setup(&node);
    let vw = login(&node, "vw");
    let key = vw.post("/api/api-keys", &json!({"name": "k"})).ok(201);
    let by_key = vw.bearer(key["secret"].as_str().unwrap());
    let change = json!({"current_password": password_of("vw"), "password": "a-new-viewer-pw"});
    // An API key cannot take over its owner's account.
    by_key.patch("/api/me", &change).problem(403);
    let wrong = json!({"current_password": "not-the-password", "password": "a-new-viewer-pw"});
    vw.patch("/api/me", &wrong).problem(403);
    vw.patch("/api/me", &change).ok(200);
    vw.get("/api/me").problem(401);
    Api::login(&node, "vw", "a-new-viewer-pw")
        .get("/api/me")
        .ok(200);
    node.stop();
}
