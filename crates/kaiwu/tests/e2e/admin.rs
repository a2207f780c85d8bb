//! `kaiwu admin`: offline administration works on a stopped node's data dir and is refused
//! while a node runs on it.

use std::path::Path;
use std::process::Command;

use crate::common::{
    ADMIN_PASSWORD, Api, Finished, Node, data_dir, kaiwu, one_error_line, run, tempdir,
};

const NEW_PASSWORD: &str = "a-brand-new-admin-pw";

fn reset_password(dir: &Path, username: &str) -> Command {
    let mut cmd = kaiwu();
    cmd.arg("admin").arg("--data-dir").arg(dir);
    cmd.args(["reset-password", "--username", username, "--password-stdin"]);
    cmd
}

fn refused(f: &Finished) -> String {
    assert!(!f.status.success(), "expected a refusal: {f:?}");
    one_error_line(f)
}

#[test]
fn reset_password_on_a_stopped_node() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    let node = Node::start(&dir);
    Api::login(&node, "admin", ADMIN_PASSWORD)
        .get("/api/me")
        .ok(200);
    node.stop();

    let f = run(reset_password(&dir, "admin"), &format!("{NEW_PASSWORD}\n"));
    assert!(f.status.success(), "reset-password failed: {f:?}");
    assert!(
        !f.stdout.contains(NEW_PASSWORD),
        "a chosen password is not echoed: {}",
        f.stdout
    );

    // KAIWU_ADMIN_PASSWORD is still set, but only a first start uses it.
    let node = Node::start(&dir);
    let anon = Api::anon(&node);
    let old = serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD});
    anon.post("/api/auth/login", &old).problem(401);
    let admin = Api::login(&node, "admin", NEW_PASSWORD);
    assert_eq!(
        admin.get("/api/me").ok(200)["roles"],
        serde_json::json!(["platform_admin", "tenant_admin"])
    );
    node.stop();
}

#[test]
fn reset_password_is_refused_while_the_node_runs() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    let node = Node::start(&dir);
    let line = refused(&run(
        reset_password(&dir, "admin"),
        &format!("{NEW_PASSWORD}\n"),
    ));
    assert!(
        line.contains("in use"),
        "says the data dir is in use: {line}"
    );
    // The running node is unaffected and the password unchanged.
    Api::login(&node, "admin", ADMIN_PASSWORD)
        .get("/api/me")
        .ok(200);
    node.stop();
}

#[test]
fn reset_password_refuses_bad_input() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    // No registry there yet: nothing to reset, and nothing is created.
    let line = refused(&run(
        reset_password(&dir, "admin"),
        &format!("{NEW_PASSWORD}\n"),
    ));
    assert!(
        line.contains(&dir.display().to_string()),
        "names the data dir: {line}"
    );
    assert!(
        !dir.join("registry.db").exists(),
        "an admin command must not initialise a data dir"
    );

    // A first start creates the registry. The request makes sure the node is fully up before it
    // is stopped (stopping right at the ready line is lifecycle.rs's business).
    let node = Node::start(&dir);
    Api::anon(&node).get("/readyz").ok(200);
    node.stop();
    let line = refused(&run(
        reset_password(&dir, "nobody"),
        &format!("{NEW_PASSWORD}\n"),
    ));
    assert!(line.contains("nobody"), "names the user: {line}");
    let line = refused(&run(reset_password(&dir, "admin"), "short\n"));
    assert!(
        line.to_lowercase().contains("password"),
        "says what is wrong: {line}"
    );

    let node = Node::start(&dir);
    Api::login(&node, "admin", ADMIN_PASSWORD)
        .get("/api/me")
        .ok(200);
    node.stop();
}
