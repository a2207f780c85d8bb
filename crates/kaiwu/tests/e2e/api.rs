//! HTTP side of the harness: a client acting as one caller, answers read in full with problem+json
//! checks, the list of routes the suite uses, and fixtures built through the API.

use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::common::{Node, PATIENCE};

/// Every (method, path template) the suite sends. Requests go through [`Api`], which refuses any
/// path not listed here, so the OpenAPI test can check that each one is documented.
pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/connectors"),
    ("POST", "/api/connectors"),
    ("GET", "/api/connectors/{id}"),
    ("PUT", "/api/connectors/{id}"),
    ("DELETE", "/api/connectors/{id}"),
    ("GET", "/api/connectors/{id}/status"),
    ("GET", "/api/connectors/{id}/browse"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("POST", "/api/auth/login"),
    ("GET", "/api/me"),
    ("PATCH", "/api/me"),
    ("GET", "/api/tenants"),
    ("POST", "/api/tenants"),
    ("GET", "/api/tenants/{id}"),
    ("PATCH", "/api/tenants/{id}"),
    ("DELETE", "/api/tenants/{id}"),
    ("GET", "/api/users"),
    ("POST", "/api/users"),
    ("GET", "/api/users/{username}"),
    ("PATCH", "/api/users/{username}"),
    ("DELETE", "/api/users/{username}"),
    ("GET", "/api/api-keys"),
    ("POST", "/api/api-keys"),
    ("GET", "/api/api-keys/{id}"),
    ("DELETE", "/api/api-keys/{id}"),
    ("GET", "/api/device-types"),
    ("POST", "/api/device-types"),
    ("POST", "/api/device-types/import"),
    ("GET", "/api/device-types/{id}"),
    ("PUT", "/api/device-types/{id}"),
    ("DELETE", "/api/device-types/{id}"),
    ("GET", "/api/device-types/{id}/wot"),
    ("GET", "/api/device-types/{id}/versions/{version}"),
    ("GET", "/api/assets"),
    ("POST", "/api/assets"),
    ("GET", "/api/assets/{id}"),
    ("PATCH", "/api/assets/{id}"),
    ("DELETE", "/api/assets/{id}"),
    ("GET", "/api/devices"),
    ("POST", "/api/devices"),
    ("GET", "/api/devices/{id}"),
    ("PATCH", "/api/devices/{id}"),
    ("DELETE", "/api/devices/{id}"),
    ("POST", "/api/devices/{id}/credentials"),
    ("POST", "/api/telemetry"),
    ("GET", "/api/devices/{id}/latest"),
    ("GET", "/api/devices/{id}/telemetry"),
    ("GET", "/api/devices/{id}/shadow"),
    ("PATCH", "/api/devices/{id}/shadow"),
    ("POST", "/api/devices/{id}/commands/{command}"),
    ("POST", "/api/v1/{token}/telemetry"),
    ("GET", "/api/v1/{token}/attributes"),
    ("POST", "/api/v1/{token}/attributes"),
    ("GET", "/api/v1/{token}/rpc"),
    ("POST", "/api/v1/{token}/rpc/{id}"),
    ("POST", "/api/query"),
    ("GET", "/api/retention"),
    ("PUT", "/api/retention"),
];

/// Whether a concrete path (query ignored) matches a template such as `/api/devices/{id}`.
pub(crate) fn matches_template(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| {
            if t.starts_with('{') && t.ends_with('}') {
                !p.is_empty()
            } else {
                t == p
            }
        })
}

/// An HTTP client acting as one caller (or anonymously).
#[derive(Clone)]
pub(crate) struct Api {
    client: Client,
    base: String,
    token: Option<String>,
}

/// An answer, read in full.
#[derive(Debug)]
pub(crate) struct Resp {
    /// `METHOD path` of the request, for messages.
    pub(crate) what: String,
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Api {
    /// No credentials.
    pub(crate) fn anon(node: &Node) -> Api {
        let client = Client::builder()
            .no_proxy()
            .timeout(PATIENCE)
            .build()
            .unwrap();
        Api {
            client,
            base: node.base(),
            token: None,
        }
    }

    /// Log in (asserting success) and act as that user.
    pub(crate) fn login(node: &Node, username: &str, password: &str) -> Api {
        let anon = Api::anon(node);
        let r = anon.post(
            "/api/auth/login",
            &json!({"username": username, "password": password}),
        );
        let v = r.ok(200);
        let token = v["token"].as_str().expect("login answer has a token");
        assert!(v["expires_at"].is_i64(), "login answer has expires_at: {v}");
        anon.bearer(token)
    }

    /// The same server with another bearer token (a login token or an API key).
    pub(crate) fn bearer(&self, token: &str) -> Api {
        Api {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    /// The same caller, asking for another representation (`Accept`).
    pub(crate) fn client_with_accept(&self, accept: &str) -> Api {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::ACCEPT, accept.parse().unwrap());
        let client = Client::builder()
            .no_proxy()
            .timeout(PATIENCE)
            .default_headers(h)
            .build()
            .unwrap();
        Api {
            client,
            ..self.clone()
        }
    }

    pub(crate) fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, Vec::new())
    }

    pub(crate) fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, None, Vec::new())
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> Resp {
        self.send_json(Method::POST, path, body)
    }

    pub(crate) fn put(&self, path: &str, body: &Value) -> Resp {
        self.send_json(Method::PUT, path, body)
    }

    pub(crate) fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send_json(Method::PATCH, path, body)
    }

    fn send_json(&self, m: Method, path: &str, body: &Value) -> Resp {
        self.send(
            m,
            path,
            Some("application/json"),
            serde_json::to_vec(body).unwrap(),
        )
    }

    /// Any request to a listed route ([`ROUTES`]), with raw body bytes.
    pub(crate) fn send(
        &self,
        m: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Resp {
        assert!(
            ROUTES
                .iter()
                .any(|(rm, t)| *rm == m.as_str() && matches_template(t, path)),
            "{m} {path} is not in common::ROUTES; add it so the OpenAPI test checks it"
        );
        self.send_unlisted(m, path, content_type, body)
    }

    /// A request to any path, for probing routes the suite does not otherwise use.
    pub(crate) fn send_unlisted(
        &self,
        m: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Resp {
        let what = format!("{m} {path}");
        let mut rb = self.client.request(m, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(ct) = content_type {
            rb = rb.header("content-type", ct);
        }
        if !body.is_empty() {
            rb = rb.body(body);
        }
        let r = rb.send().unwrap_or_else(|e| panic!("{what}: {e}"));
        Resp {
            what,
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.bytes().unwrap().to_vec(),
        }
    }
}

impl Resp {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    /// Assert the status; then the body as JSON (`null` when empty).
    pub(crate) fn ok(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "{}: unexpected status; body: {}",
            self.what,
            self.text()
        );
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{}: body is not JSON ({e}): {}", self.what, self.text()))
    }

    /// Assert an RFC 9457 problem answer with this status; returns its body.
    pub(crate) fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "{}: unexpected status; body: {}",
            self.what,
            self.text()
        );
        let ct = self.header("content-type");
        assert_eq!(
            ct, "application/problem+json",
            "{}: content type of a {status}",
            self.what
        );
        let p: Value = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{}: problem is not JSON ({e}): {}", self.what, self.text())
        });
        for key in ["type", "title", "detail"] {
            let ok = p[key].as_str().is_some_and(|s| !s.is_empty());
            assert!(ok, "{}: problem lacks a `{key}` string: {p}", self.what);
        }
        assert_eq!(
            p["status"],
            json!(status),
            "{}: problem status: {p}",
            self.what
        );
        p
    }
}

/// The password the fixtures give `username`.
pub(crate) fn password_of(username: &str) -> String {
    format!("{username}-secret-pw")
}

/// Create a tenant (as a platform admin).
pub(crate) fn create_tenant(api: &Api, id: &str) {
    let t = api
        .post(
            "/api/tenants",
            &json!({"id": id, "name": format!("Tenant {id}")}),
        )
        .ok(201);
    assert_eq!(t["id"], id);
}

/// Create a user with [`password_of`]; `tenant` None means the caller's.
pub(crate) fn create_user(
    api: &Api,
    username: &str,
    tenant: Option<&str>,
    roles: &[&str],
) -> Value {
    let mut body = json!({"username": username, "password": password_of(username), "roles": roles});
    if let Some(t) = tenant {
        body["tenant"] = json!(t);
    }
    let u = api.post("/api/users", &body).ok(201);
    assert_eq!(u["username"], username);
    u
}

/// Log in a fixture user.
pub(crate) fn login(node: &Node, username: &str) -> Api {
    Api::login(node, username, &password_of(username))
}

/// Logs in the admin and creates device type `press`, enterprise asset `plant` and device
/// `press-1` under it, in tenant `default`.
pub(crate) fn press_fixture(node: &Node) -> Api {
    let admin = Api::login(node, "admin", crate::common::ADMIN_PASSWORD);
    admin.post("/api/device-types", &cnc_type("press")).ok(201);
    admin
        .post("/api/assets", &json!({"id": "plant", "kind": "enterprise"}))
        .ok(201);
    admin
        .post(
            "/api/devices",
            &json!({"id": "press-1", "type": "press", "asset": "plant"}),
        )
        .ok(201);
    admin
}

/// The example thing model of interfaces.md section 3, under another id.
pub(crate) fn cnc_type(id: &str) -> Value {
    json!({"id": id, "name": "CNC milling machine", "version": 1,
     "properties": [
       {"id": "spindle_speed", "name": "主轴转速", "type": "float", "unit": "r/min", "min": 0, "max": 24000, "access": "read", "classification": 1},
       {"id": "state", "type": "enum", "values": {"0": "idle", "1": "running", "2": "fault"}, "access": "read"},
       {"id": "feed_override", "type": "int", "unit": "%", "min": 0, "max": 150, "access": "read_write"}],
     "events": [{"id": "tool_break", "severity": "critical", "fields": [{"id": "tool", "type": "int"}]}],
     "commands": [{"id": "stop", "params": [], "result": [{"id": "ok", "type": "bool"}]}]})
}

/// How much a tenant holds, as its caller sees it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) device_types: usize,
    pub(crate) assets: usize,
    pub(crate) devices: usize,
    pub(crate) users: Option<usize>,
}

fn len(v: &Value) -> usize {
    v.as_array()
        .map_or_else(|| panic!("expected a JSON array, got {v}"), Vec::len)
}

/// Count what the caller's tenant holds (users only when the caller may list them).
pub(crate) fn counts(api: &Api) -> Counts {
    let devices = api.get("/api/devices?limit=10000");
    let list = devices.ok(200);
    let total: usize = devices
        .header("x-total-count")
        .parse()
        .expect("X-Total-Count");
    assert_eq!(total, len(&list), "X-Total-Count disagrees with the list");
    let users = api.get("/api/users");
    Counts {
        device_types: len(&api.get("/api/device-types").ok(200)),
        assets: len(&api.get("/api/assets").ok(200)),
        devices: total,
        users: (users.status == 200).then(|| len(&users.ok(200))),
    }
}

/// The ids in a JSON list of objects (`key` names the id field).
pub(crate) fn ids(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected a JSON array, got {list}"))
        .iter()
        .map(|o| {
            o[key]
                .as_str()
                .unwrap_or_else(|| panic!("no `{key}` in {o}"))
                .to_owned()
        })
        .collect()
}
