//! Device login by client certificate on the mqtts listener: a CSR made with the openssl CLI is
//! signed by the tenant's CA through the API, mosquitto_pub presents the certificate without
//! any user name, and its telemetry is stored; a replaced certificate and one from a foreign CA
//! are refused.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use crate::common::{Node, data_dir, tempdir};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A key and a CSR named `<name>.key` / `<name>.csr` in `dir`.
fn key_and_csr(dir: &Path, name: &str) -> String {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            "/CN=asked-for-anything",
        ],
    );
    std::fs::read_to_string(dir.join(format!("{name}.csr"))).unwrap()
}

#[test]
fn devices_log_in_with_certificates_signed_by_their_tenant_ca() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    let mut cmd = crate::common::serve_cmd(&dir);
    cmd.args(["--mqtts", "127.0.0.1:0"]);
    let node = Node::start_cmd(cmd);
    let port = node
        .ready_line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("mqtts="))
        .expect("ready line names the mqtts address")
        .rsplit_once(':')
        .unwrap()
        .1
        .to_owned();
    let admin = crate::mqtt::fixture(&node);
    let work = tmp.path();
    let server_ca = dir.join("tls/mqtt-cert.pem");

    let csr = key_and_csr(work, "dev1");
    let issued = admin
        .post(
            "/api/devices/m1/credentials",
            &json!({"kind": "x509", "csr": csr}),
        )
        .ok(200);
    assert_eq!(issued["kind"], "x509");
    std::fs::write(
        work.join("dev1.crt"),
        issued["certificate"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(work.join("tenant-ca.pem"), issued["ca"].as_str().unwrap()).unwrap();
    // The certificate names the device, whatever the CSR asked for.
    let subject = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-in"])
        .arg(work.join("dev1.crt"))
        .output()
        .unwrap();
    let subject = String::from_utf8_lossy(&subject.stdout).to_string();
    assert!(
        subject.contains("CN = m1") || subject.contains("CN=m1"),
        "{subject}"
    );
    let verify = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(work.join("tenant-ca.pem"))
        .arg(work.join("dev1.crt"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    let publish = |name: &str, value: i64| -> Output {
        Command::new("mosquitto_pub")
            .current_dir(work)
            .args([
                "-h",
                "localhost",
                "-p",
                &port,
                "-V",
                "mqttv311",
                "-q",
                "1",
                "-i",
                name,
            ])
            .arg("--cafile")
            .arg(&server_ca)
            .args([
                "--cert",
                &format!("{name}.crt"),
                "--key",
                &format!("{name}.key"),
            ])
            .args([
                "-t",
                "v1/devices/me/telemetry",
                "-m",
                &format!(r#"{{"state": {value}}}"#),
            ])
            .output()
            .expect("mosquitto_pub runs")
    };
    let out = publish("dev1", 1);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        admin.get("/api/devices/m1/latest").ok(200)["state"]["value"],
        1
    );

    // A new certificate replaces the old one at once.
    let csr = key_and_csr(work, "dev2");
    let issued = admin
        .post(
            "/api/devices/m1/credentials",
            &json!({"kind": "x509", "csr": csr}),
        )
        .ok(200);
    std::fs::write(
        work.join("dev2.crt"),
        issued["certificate"].as_str().unwrap(),
    )
    .unwrap();
    let out = publish("dev1", 2);
    assert!(
        !out.status.success(),
        "a replaced certificate must be refused"
    );
    let out = publish("dev2", 2);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        admin.get("/api/devices/m1/latest").ok(200)["state"]["value"],
        2
    );

    // A certificate of another CA does not get through the handshake.
    openssl(
        work,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "rogue.key",
            "-out",
            "rogue.crt",
            "-days",
            "1",
            "-subj",
            "/CN=m1",
        ],
    );
    let out = publish("rogue", 3);
    assert!(
        !out.status.success(),
        "a certificate of a foreign CA must be refused"
    );
    assert_eq!(
        admin.get("/api/devices/m1/latest").ok(200)["state"]["value"],
        2
    );

    // Bad requests name what is wrong.
    let p = admin
        .post(
            "/api/devices/m1/credentials",
            &json!({"kind": "x509", "csr": "not a csr"}),
        )
        .problem(422);
    assert!(p["detail"].as_str().unwrap().starts_with("csr"), "{p}");
    admin
        .post("/api/devices/m1/credentials", &json!({"kind": "x509"}))
        .problem(422);
    admin
        .post(
            "/api/devices/nope/credentials",
            &json!({"kind": "x509", "csr": csr}),
        )
        .problem(404);
    node.stop();
}
