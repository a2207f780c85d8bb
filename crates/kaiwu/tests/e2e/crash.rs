//! Durability under SIGKILL: writers ingest while the node is killed at pseudo-random moments,
//! many times over; afterwards every acknowledged point must be stored, and exactly once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::api::Api;
use crate::common::{ADMIN_PASSWORD, Node, data_dir, serve_cmd, tempdir};

const ROUNDS: u64 = 8;
const WRITERS: i64 = 4;
const ROWS_PER_REQUEST: i64 = 25;

/// A node on `dir` with small flushes and the durability mode of `round`.
pub(crate) fn start(dir: &std::path::Path, round: u64) -> Node {
    let mut cmd = serve_cmd(dir);
    // Small flushes so kills also land inside flushes and WAL truncation; alternate durability
    // modes (both must survive a process crash).
    cmd.env("KAIWU_TSDB_FLUSH_ROWS", "300");
    let durability = if round.is_multiple_of(2) {
        "fsync"
    } else {
        "interval:20"
    };
    cmd.env("KAIWU_TSDB_DURABILITY", durability);
    Node::start_cmd(cmd)
}

/// A writer: posts rows with globally unique ids until the node stops answering. Returns the
/// ids the node acknowledged.
fn writer(
    base: String,
    token: String,
    device: String,
    next: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
) -> Vec<i64> {
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut acked = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let first = next.fetch_add(ROWS_PER_REQUEST, Ordering::SeqCst);
        let ids: Vec<i64> = (first..first + ROWS_PER_REQUEST).collect();
        let rows: Vec<_> = ids
            .iter()
            .map(|id| json!({"device": device, "ts": 1_700_000_000_000_i64 + id, "values": {"v": *id as f64}}))
            .collect();
        let r = client
            .post(format!("{base}/api/telemetry"))
            .bearer_auth(&token)
            .json(&rows)
            .send();
        match r {
            Ok(r) if r.status().as_u16() == 200 => acked.extend(ids),
            // Killed mid-request or refused while shutting down: not acknowledged.
            _ => break,
        }
    }
    acked
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

#[test]
fn sigkill_during_ingest_loses_no_acknowledged_point() {
    let tmp = tempdir();
    let dir = data_dir(&tmp);
    {
        let node = start(&dir, 0);
        let admin = Api::login(&node, "admin", ADMIN_PASSWORD);
        admin
            .post(
                "/api/device-types",
                &json!({"id": "m", "properties": [{"id": "v", "type": "float"}]}),
            )
            .ok(201);
        for w in 0..WRITERS {
            admin
                .post("/api/devices", &json!({"id": format!("d{w}"), "type": "m"}))
                .ok(201);
        }
        node.stop();
    }
    let next = Arc::new(AtomicI64::new(0));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for round in 0..ROUNDS {
        let node = start(&dir, round);
        let token = token_of(&node);
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (base, token, next, stop, acked) = (
                    node.base(),
                    token.clone(),
                    next.clone(),
                    stop.clone(),
                    acked.clone(),
                );
                std::thread::spawn(move || {
                    let ids = writer(base, token, format!("d{w}"), next, stop);
                    acked.lock().unwrap().extend(ids);
                })
            })
            .collect();
        // The kill moment varies by round; it is not a timing assumption, only variety.
        seed = xorshift(seed);
        std::thread::sleep(Duration::from_millis(100 + seed % 700));
        drop(node); // SIGKILL
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.join().unwrap();
        }
    }

    let node = start(&dir, 0);
    let what = format!("{ROUNDS} SIGKILLs");
    assert_all_stored_once(&node, &acked.lock().unwrap(), &what);
    node.stop();
}

/// Every acknowledged id (the `v` values of table `m`) is stored, and none twice; prints
/// "<lost> of <acked> acknowledged points lost (<what>; ...)".
pub(crate) fn assert_all_stored_once(node: &Node, acked: &[i64], what: &str) {
    let admin = Api::login(node, "admin", ADMIN_PASSWORD);
    // Paged: a fast node stores more before the kill than one JSON answer may hold.
    const PAGE: usize = 50_000;
    let mut stored: Vec<i64> = Vec::new();
    loop {
        let sql = format!(
            "SELECT CAST(v AS BIGINT) AS id FROM m ORDER BY id LIMIT {PAGE} OFFSET {}",
            stored.len()
        );
        let out = admin.post("/api/query", &json!({ "sql": sql })).ok(200);
        let rows = out["rows"].as_array().unwrap();
        stored.extend(rows.iter().map(|r| r[0].as_i64().unwrap()));
        if rows.len() < PAGE {
            break;
        }
    }
    let unique: HashSet<i64> = stored.iter().copied().collect();
    let lost: Vec<i64> = acked
        .iter()
        .copied()
        .filter(|id| !unique.contains(id))
        .collect();
    println!(
        "{} of {} acknowledged points lost ({what}; {} points stored, {} duplicates)",
        lost.len(),
        acked.len(),
        stored.len(),
        stored.len() - unique.len()
    );
    assert!(!acked.is_empty(), "nothing was acknowledged");
    assert!(
        lost.is_empty(),
        "lost acknowledged points: {:?}",
        &lost[..lost.len().min(20)]
    );
    assert_eq!(stored.len(), unique.len(), "points stored twice");
}

/// A fresh bearer token for the admin.
fn token_of(node: &Node) -> String {
    let r = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{}/api/auth/login", node.base()))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .unwrap();
    let v: serde_json::Value = r.json().unwrap();
    v["token"].as_str().unwrap().to_owned()
}
