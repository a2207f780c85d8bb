//! Client tests: against the Mosquitto running on 127.0.0.1:1883, against our own broker, and
//! against scripted fake servers for the failure paths. Waits are generous bounds, never
//! expectations of speed.

mod broker;
mod fake;
mod mosquitto;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc::Receiver;

use super::*;

const WAIT: Duration = Duration::from_secs(30);

/// A name no other test (or earlier run) uses.
fn unique(what: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{what}-{}-{nanos:x}-{n}", std::process::id())
}

async fn recv(rx: &mut Receiver<Message>) -> Message {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no message within the wait bound")
        .expect("message channel closed")
}

/// Waits until the channel is closed, discarding messages.
async fn wait_closed(rx: &mut Receiver<Message>) {
    let drain = async { while rx.recv().await.is_some() {} };
    tokio::time::timeout(WAIT, drain)
        .await
        .expect("message channel still open after the wait bound");
}
