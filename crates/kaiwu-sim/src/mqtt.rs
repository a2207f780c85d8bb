//! MQTT devices: air compressors that publish telemetry through the platform's
//! ThingsBoard-style device API (access token as username) and answer `load` / `unload`
//! RPCs. Each device keeps its own connection and reconnects with backoff, since the
//! client does not.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kaiwu_mqtt::client::{Client, ClientOptions, Error as MqttError, Message};
use kaiwu_mqtt::codec::QoS;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::signals::{AirCompressor, CompressorSample};

/// Topic devices publish telemetry to.
pub const TELEMETRY_TOPIC: &str = "v1/devices/me/telemetry";
/// Filter of the RPC requests a device answers.
pub const RPC_REQUEST_FILTER: &str = "v1/devices/me/rpc/request/+";
const RPC_REQUEST_PREFIX: &str = "v1/devices/me/rpc/request/";
const RPC_RESPONSE_PREFIX: &str = "v1/devices/me/rpc/response/";

const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The compressors shared by the plant task (which steps them) and the device tasks (whose
/// RPCs switch them). Held only for a step or a switch, never across an await.
pub(crate) type Compressors = Arc<Mutex<Vec<AirCompressor>>>;

/// One simulated MQTT device: where it connects and which compressor it is.
#[derive(Debug, Clone)]
pub(crate) struct DeviceConn {
    pub(crate) addr: String,
    pub(crate) device: String,
    pub(crate) token: String,
    pub(crate) index: usize,
}

/// Starts a device task that publishes each sample sent on `samples` until its sender is
/// dropped, then disconnects cleanly.
pub(crate) fn spawn_device(
    conn: DeviceConn,
    compressors: Compressors,
    samples: watch::Receiver<Option<CompressorSample>>,
) -> JoinHandle<()> {
    tokio::spawn(run_device(conn, compressors, samples))
}

async fn run_device(
    conn: DeviceConn,
    compressors: Compressors,
    mut samples: watch::Receiver<Option<CompressorSample>>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match session(&conn, &compressors, &mut samples, &mut backoff).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(device = %conn.device, %error, retry_in = ?backoff, "mqtt device connection lost");
            }
        }
        // Wait out the backoff, but leave at once when the plant stops.
        let sleep = tokio::time::sleep(backoff);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                changed = samples.changed() => if changed.is_err() { return },
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection: subscribe, then publish samples and answer RPCs until it breaks
/// (`Err`) or the plant stops (`Ok`).
async fn session(
    conn: &DeviceConn,
    compressors: &Compressors,
    samples: &mut watch::Receiver<Option<CompressorSample>>,
    backoff: &mut Duration,
) -> Result<(), MqttError> {
    let mut opts = ClientOptions::new(conn.addr.clone(), conn.device.clone());
    opts.username = Some(conn.token.clone());
    opts.keep_alive_secs = 15;
    let (client, mut inbox) = Client::connect(opts).await?;
    client
        .subscribe(&[(RPC_REQUEST_FILTER, QoS::AtLeastOnce)])
        .await?;
    tracing::info!(device = %conn.device, addr = %conn.addr, "mqtt device connected");
    *backoff = MIN_BACKOFF;
    loop {
        tokio::select! {
            changed = samples.changed() => {
                if changed.is_err() {
                    // Best effort: the server may be gone as well.
                    let _ = client.disconnect().await;
                    return Ok(());
                }
                let sample = *samples.borrow_and_update();
                if let Some(s) = sample {
                    let payload = telemetry(&s).to_string();
                    client.publish(TELEMETRY_TOPIC, payload, QoS::AtLeastOnce, false).await?;
                }
            }
            msg = inbox.recv() => match msg {
                Some(msg) => answer_rpc(conn, compressors, &client, &msg).await?,
                None => return Err(MqttError::Disconnected),
            },
        }
    }
}

/// The telemetry JSON of a sample, rounded like a device's firmware would send it.
pub(crate) fn telemetry(s: &CompressorSample) -> Value {
    let r = |v: f64, digits: i32| {
        let f = 10f64.powi(digits);
        (v * f).round() / f
    };
    json!({
        "pressure": r(s.pressure, 3),
        "flow": r(s.flow, 3),
        "motor_temp": r(s.motor_temp, 1),
        "running": s.running,
        "loaded": s.loaded,
    })
}

async fn answer_rpc(
    conn: &DeviceConn,
    compressors: &Compressors,
    client: &Client,
    msg: &Message,
) -> Result<(), MqttError> {
    let Some(id) = msg.topic.strip_prefix(RPC_REQUEST_PREFIX) else {
        return Ok(());
    };
    let reply = rpc_reply(compressors, conn.index, &msg.payload);
    tracing::info!(device = %conn.device, request = id, %reply, "mqtt device rpc");
    let topic = format!("{RPC_RESPONSE_PREFIX}{id}");
    client
        .publish(&topic, reply.to_string(), QoS::AtLeastOnce, false)
        .await
}

/// Applies an RPC request payload (`{"method": "load" | "unload", "params": ...}`) to
/// compressor `index` and returns the reply.
pub(crate) fn rpc_reply(compressors: &Compressors, index: usize, payload: &[u8]) -> Value {
    let method = serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| v.get("method").and_then(Value::as_str).map(str::to_owned));
    let running = match method.as_deref() {
        Some("load") => true,
        Some("unload") => false,
        Some(other) => return json!({"ok": false, "error": format!("unknown method {other:?}")}),
        None => return json!({"ok": false, "error": "request without a method"}),
    };
    let mut list = compressors.lock().unwrap_or_else(PoisonError::into_inner);
    match list.get_mut(index) {
        Some(c) => {
            c.set_running(running);
            json!({"ok": true})
        }
        None => json!({"ok": false, "error": "no such compressor"}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_switches_the_compressor() {
        let list: Compressors = Arc::new(Mutex::new(vec![
            AirCompressor::new(1),
            AirCompressor::new(2),
        ]));
        assert_eq!(
            rpc_reply(&list, 1, br#"{"method":"unload","params":{}}"#),
            json!({"ok": true})
        );
        let running = |i: usize| list.lock().map(|l| l[i].running()).unwrap_or(true);
        assert!(running(0) && !running(1));
        assert_eq!(
            rpc_reply(&list, 1, br#"{"method":"load"}"#),
            json!({"ok": true})
        );
        assert!(running(1));
        assert_eq!(
            rpc_reply(&list, 0, br#"{"method":"explode"}"#)["ok"],
            json!(false)
        );
        assert_eq!(rpc_reply(&list, 0, b"not json")["ok"], json!(false));
        assert_eq!(
            rpc_reply(&list, 5, br#"{"method":"load"}"#)["ok"],
            json!(false)
        );
    }

    #[test]
    fn telemetry_has_the_documented_keys() {
        let mut c = AirCompressor::new(3);
        let t = telemetry(&c.step(1.0));
        for k in ["pressure", "flow", "motor_temp", "running", "loaded"] {
            assert!(t.get(k).is_some(), "{k} missing in {t}");
        }
        assert!(
            t["pressure"]
                .as_f64()
                .is_some_and(|p| (6.0..8.0).contains(&p))
        );
    }
}
