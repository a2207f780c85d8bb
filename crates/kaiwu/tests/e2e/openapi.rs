//! `/api/openapi.json`: a valid OpenAPI 3.1 document (checked by the third-party
//! openapi-spec-validator) that describes every route the suite uses, and whose every described
//! route is really served.

use reqwest::Method;
use serde_json::Value;

use crate::common::{Api, Node, ROUTES, data_dir, matches_template, tempdir};

/// The Python with openapi-spec-validator, installed by scripts/test.
fn validator_python() -> String {
    match std::env::var("KW_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "KW_TEST_PYTHON is not set: run the tests through scripts/test, which installs \
             openapi-spec-validator in a virtual environment and points KW_TEST_PYTHON at it"
        ),
    }
}

/// (method, path) of every operation in the document.
fn operations(doc: &Value) -> Vec<(String, String)> {
    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "patch", "head", "options", "trace",
    ];
    let paths = doc["paths"].as_object().expect("document has paths");
    let mut ops = Vec::new();
    for (path, item) in paths {
        for m in METHODS {
            if item.get(*m).is_some() {
                ops.push((m.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[test]
fn document_is_valid_openapi_3_1() {
    let python = validator_python();
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let r = Api::anon(&node).get("/api/openapi.json");
    let doc = r.ok(200);
    assert!(r.header("content-type").starts_with("application/json"));
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3.1."),
        "openapi: {}",
        doc["openapi"]
    );
    let file = tmp.path().join("openapi.json");
    std::fs::write(&file, &r.body).unwrap();
    let out = std::process::Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; run scripts/test to install it"));
    assert!(
        out.status.success(),
        "openapi-spec-validator rejects /api/openapi.json:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    node.stop();
}

#[test]
fn document_lists_every_route_the_tests_use() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let doc = Api::anon(&node).get("/api/openapi.json").ok(200);
    let ops = operations(&doc);
    let missing: Vec<String> = ROUTES
        .iter()
        .filter(|(m, p)| !ops.iter().any(|(om, op)| om == m && op == p))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes missing from /api/openapi.json: {missing:?}"
    );
    // The interface contract's operations endpoints are part of "every route".
    for ops_path in ["/healthz", "/readyz", "/metrics", "/api/openapi.json"] {
        assert!(
            ops.iter().any(|(m, p)| m == "GET" && p == ops_path),
            "{ops_path} undocumented"
        );
    }
    // Every operation names a response and a tag, so clients can be generated from it.
    for (m, p) in &ops {
        let op = &doc["paths"][p][m.to_ascii_lowercase()];
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{m} {p}: no responses"
        );
    }
    node.stop();
}

#[test]
fn every_documented_route_is_served() {
    let tmp = tempdir();
    let node = Node::start(&data_dir(&tmp));
    let anon = Api::anon(&node);
    let doc = anon.get("/api/openapi.json").ok(200);
    // The router's own refusals for unknown paths and methods, to tell them from a handler's.
    let unknown_path = anon.send_unlisted(Method::GET, "/api/no-such-route", None, Vec::new());
    let no_route = unknown_path.problem(404)["detail"].clone();
    for (m, template) in operations(&doc) {
        let path: String = template
            .split('/')
            .map(|s| if s.starts_with('{') { "x1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        assert!(matches_template(&template, &path));
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        let r = anon.send_unlisted(method, &path, Some("application/json"), b"{}".to_vec());
        assert_ne!(
            r.status,
            405,
            "{m} {template} is documented but not routed: {}",
            r.text()
        );
        if r.status == 404 {
            let p = r.problem(404);
            assert_ne!(
                p["detail"], no_route,
                "{m} {template} is documented but not routed"
            );
        }
    }
    node.stop();
}
