//! Bad configuration stops the node before it does anything, with one clear message on stderr
//! and a non-zero exit; good configuration layers file < environment < flags.

use std::net::TcpListener;

use serde_json::json;

use crate::common::{
    ADMIN_PASSWORD, Api, Node, data_dir, expect_start_failure, kaiwu, one_error_line, serve_cmd,
    tempdir,
};

/// `kaiwu serve` on `dir` with the given listen addresses (clap refuses a repeated flag).
fn serve_on(dir: &std::path::Path, http: &str, mqtt: &str) -> std::process::Command {
    let mut cmd = kaiwu();
    cmd.arg("serve").arg("--data-dir").arg(dir);
    cmd.args(["--http", http, "--mqtt", mqtt]);
    cmd
}

/// For errors found while reading configuration, the message is all there is on stderr.
fn only_line(f: &crate::common::Finished) -> String {
    let line = one_error_line(f);
    assert_eq!(f.stderr.trim_end(), line, "nothing but the error on stderr");
    line
}

#[test]
fn unknown_key_in_config_file_is_refused() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    for (name, toml, key) in [
        (
            "section.toml",
            "[http]\naddr = \"[::1]:0\"\nmax_body_bytez = 4096\n",
            "max_body_bytez",
        ),
        (
            "top.toml",
            "data_dir = \"/tmp/x\"\ncolour = \"red\"\n",
            "colour",
        ),
        ("table.toml", "[mqttt]\naddr = \"[::1]:0\"\n", "mqttt"),
    ] {
        let file = tmp.path().join(name);
        std::fs::write(&file, toml).unwrap();
        let mut cmd = serve_cmd(&dir);
        cmd.arg("--config").arg(&file);
        let line = only_line(&expect_start_failure(cmd));
        assert!(
            line.contains(key),
            "the message names the key `{key}`: {line}"
        );
        assert!(line.contains(name), "the message names the file: {line}");
    }
    assert!(
        !dir.exists(),
        "a refused configuration must not create the data dir"
    );
}

#[test]
fn unknown_kaiwu_env_var_is_refused() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    // A typo in a section key too; the user must be able to find the variable by its name.
    for var in ["KAIWU_BOGUS", "KAIWU_HTTP_ADDRESS"] {
        let mut cmd = serve_cmd(&dir);
        cmd.env(var, "[::1]:0");
        let line = only_line(&expect_start_failure(cmd));
        assert!(line.contains(var), "the message names {var}: {line}");
    }
    assert!(
        !dir.exists(),
        "a refused configuration must not create the data dir"
    );
}

#[test]
fn unusable_addresses_are_refused() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    for (http, mqtt, value) in [
        ("nonsense", "[::1]:0", "nonsense"),
        ("[::1]:0", "[::1]:99999", "[::1]:99999"),
        ("localhost", "[::1]:0", "localhost"),
    ] {
        let line = only_line(&expect_start_failure(serve_on(&dir, http, mqtt)));
        assert!(line.contains(value), "the message names `{value}`: {line}");
    }
    assert!(
        !dir.exists(),
        "a refused configuration must not create the data dir"
    );
}

#[test]
fn ports_in_use_are_refused() {
    let tmp = tempdir();
    let taken = TcpListener::bind("[::1]:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for (what, http, mqtt) in [
        ("http", addr.as_str(), "[::1]:0"),
        ("mqtt", "[::1]:0", addr.as_str()),
    ] {
        let f = expect_start_failure(serve_on(&data_dir(&tmp), http, mqtt));
        let line = one_error_line(&f);
        assert!(
            line.contains(&addr) && line.contains(what),
            "names the listener and address: {line}"
        );
        assert!(line.to_lowercase().contains("in use"), "says why: {line}");
        assert_eq!(line.matches("in use").count(), 1, "says it once: {line}");
    }
}

#[test]
fn unwritable_data_dir_is_refused() {
    let tmp = tempdir();
    // Tests run as root, so permissions cannot stop writes; a path below a file can't be made.
    let file = tmp.path().join("plain-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let dir = file.join("data");
    let f = expect_start_failure(serve_cmd(&dir));
    let line = one_error_line(&f);
    assert!(
        line.contains(&dir.display().to_string()),
        "names the data dir: {line}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"not a directory");
}

#[test]
fn second_node_on_the_same_data_dir_is_refused() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    let first = Node::start(&dir);
    let endpoints = std::fs::read(dir.join("endpoints.json")).unwrap();
    let f = expect_start_failure(serve_cmd(&dir));
    let line = one_error_line(&f);
    assert!(
        line.contains(&dir.display().to_string()) && line.contains("in use"),
        "{line}"
    );
    // The refused node touched nothing the first one owns.
    assert_eq!(
        std::fs::read(dir.join("endpoints.json")).unwrap(),
        endpoints
    );
    Api::anon(&first).get("/readyz").ok(200);
    Api::login(&first, "admin", ADMIN_PASSWORD)
        .get("/api/me")
        .ok(200);
    first.stop();
}

#[test]
fn example_config_file_starts_a_node() {
    let tmp = tempdir();
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/kaiwu.example.toml"
    );
    let mut cmd = serve_cmd(&data_dir(&tmp));
    cmd.arg("--config").arg(example);
    let node = Node::start_cmd(cmd);
    Api::anon(&node).get("/healthz").ok(200);
    node.stop();
}

#[test]
fn flags_beat_environment_which_beats_the_file() {
    let tmp = tempdir();
    let file = tmp.path().join("kaiwu.toml");
    let toml = "[http]\naddr = \"nonsense\"\nmax_body_bytes = 2048\n[mqtt]\naddr = \"nonsense\"\n";
    std::fs::write(&file, toml).unwrap();
    let mut cmd = serve_cmd(&data_dir(&tmp));
    cmd.arg("--config").arg(&file);
    cmd.env("KAIWU_HTTP_MAX_BODY_BYTES", "8192");
    cmd.env("KAIWU_HTTP_ADDR", "also nonsense");
    // serve_cmd's --http/--mqtt flags must win over both bad addresses.
    let node = Node::start_cmd(cmd);
    let admin = Api::login(&node, "admin", ADMIN_PASSWORD);
    // 4 KiB: over the file's limit, under the environment's.
    let name = "n".repeat(4000);
    let r = admin.post("/api/tenants", &json!({"id": "t1", "name": name}));
    assert_ne!(
        r.status, 413,
        "the environment's body limit must beat the file's"
    );
    let r = admin.post(
        "/api/tenants",
        &json!({"id": "t2", "name": "n".repeat(9000)}),
    );
    r.problem(413);
    node.stop();
}
