//! Device shadows and commands over the management API (without a connected device: presence
//! and command delivery over MQTT are covered by the MQTT suite).

use serde_json::json;

use crate::api::{create_user, login, press_fixture};
use crate::common::{Node, data_dir, tempdir};

#[test]
fn shadow_desired_attributes_merge_survive_restart_and_respect_roles() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    let node = Node::start(&dir);
    let admin = press_fixture(&node);
    let s = admin.get("/api/devices/press-1/shadow").ok(200);
    assert_eq!(
        s,
        json!({"reported": {}, "desired": {}, "online": false, "last_seen": 0, "version": 0})
    );
    admin
        .patch(
            "/api/devices/press-1/shadow",
            &json!({"setpoint": 40, "mode": "auto"}),
        )
        .ok(200);
    let s = admin
        .patch(
            "/api/devices/press-1/shadow",
            &json!({"mode": null, "recipe": {"id": 7}}),
        )
        .ok(200);
    assert_eq!(s["desired"], json!({"setpoint": 40, "recipe": {"id": 7}}));
    assert_eq!(s["version"], 2);
    admin
        .patch("/api/devices/press-1/shadow", &json!({}))
        .problem(422);
    admin
        .patch("/api/devices/press-1/shadow", &json!([1, 2]))
        .problem(422);
    admin
        .patch("/api/devices/nope/shadow", &json!({"a": 1}))
        .problem(404);
    create_user(&admin, "vera", None, &["viewer"]);
    let vera = login(&node, "vera");
    vera.get("/api/devices/press-1/shadow").ok(200);
    vera.patch("/api/devices/press-1/shadow", &json!({"a": 1}))
        .problem(403);
    node.stop();
    let node = Node::start(&dir);
    let admin = crate::api::Api::login(&node, "admin", crate::common::ADMIN_PASSWORD);
    let s = admin.get("/api/devices/press-1/shadow").ok(200);
    assert_eq!(s["desired"], json!({"setpoint": 40, "recipe": {"id": 7}}));
}

#[test]
fn commands_are_checked_against_the_thing_model_and_need_a_connected_device() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let admin = press_fixture(&node);
    let p = admin
        .post("/api/devices/press-1/commands/stop", &json!({"params": {}}))
        .problem(409);
    assert!(p["detail"].as_str().unwrap().contains("offline"), "{p}");
    let p = admin
        .post("/api/devices/press-1/commands/launch", &json!({}))
        .problem(422);
    assert!(
        p["detail"].as_str().unwrap().contains("no command launch"),
        "{p}"
    );
    let p = admin
        .post(
            "/api/devices/press-1/commands/stop",
            &json!({"params": {"force": true}}),
        )
        .problem(422);
    assert_eq!(p["errors"][0]["path"], "params.force");
    admin
        .post(
            "/api/devices/press-1/commands/stop",
            &json!({"timeout_ms": 0}),
        )
        .problem(422);
    admin
        .post("/api/devices/press-1/commands/stop", &json!({"bogus": 1}))
        .problem(422);
    admin
        .post("/api/devices/ghost/commands/stop", &json!({}))
        .problem(404);
}
