//! The compressors against the embedded kaiwu-mqtt broker with hooks that play the
//! platform's device API: token login, telemetry and RPC responses consumed, RPC requests
//! delivered to one device. Also: devices reconnect after the broker restarts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kaiwu_mqtt::broker::{
    Broker, BrokerConfig, ConnectInfo, DisconnectCause, Hooks, PublishOutcome,
};
use kaiwu_mqtt::codec::{Publish, QoS, ReasonCode};
use kaiwu_sim::{MqttTarget, Plant, PlantOptions};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const DEVICES: [(&str, &str); 2] = [("compressor-01", "token-1"), ("compressor-02", "token-2")];

/// Forwards every publish as (token, topic, JSON) to the test.
struct Platform {
    tx: mpsc::UnboundedSender<(String, String, Value)>,
}

#[async_trait::async_trait]
impl Hooks for Platform {
    type Client = String;

    async fn authenticate(&self, info: &ConnectInfo) -> Result<String, ReasonCode> {
        match &info.username {
            Some(token) if DEVICES.iter().any(|(_, t)| t == token) => Ok(token.clone()),
            _ => Err(ReasonCode::BadUserNameOrPassword),
        }
    }

    fn authorize_publish(&self, _: &String, _: &str) -> bool {
        true
    }

    fn authorize_subscribe(&self, _: &String, _: &str) -> bool {
        true
    }

    async fn on_publish(&self, token: &String, topic: &str, publish: &Publish) -> PublishOutcome {
        let json = serde_json::from_slice(&publish.payload).unwrap_or(Value::Null);
        let _ = self.tx.send((token.clone(), topic.to_owned(), json));
        PublishOutcome::Consumed
    }

    async fn on_connected(&self, _: &String, _: &ConnectInfo) {}

    async fn on_disconnected(&self, _: &String, _: &DisconnectCause) {}
}

async fn start_broker(
    addr: SocketAddr,
) -> (
    Broker<Platform>,
    SocketAddr,
    mpsc::UnboundedReceiver<(String, String, Value)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let broker = Broker::open(BrokerConfig::default(), Arc::new(Platform { tx })).expect("broker");
    let listener = TcpListener::bind(addr).await.expect("bind broker");
    let addr = listener.local_addr().expect("local addr");
    let serving = broker.clone();
    tokio::spawn(async move { serving.serve(listener).await });
    (broker, addr, rx)
}

/// Next message matching `pred`, within ten seconds.
async fn next_matching(
    rx: &mut mpsc::UnboundedReceiver<(String, String, Value)>,
    pred: impl Fn(&str, &str, &Value) -> bool,
) -> Value {
    let wait = async {
        loop {
            let (token, topic, json) = rx.recv().await.expect("broker hooks alive");
            if pred(&token, &topic, &json) {
                return json;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("message within 10 s")
}

async fn wait_subscribed(broker: &Broker<Platform>, client_id: &str) {
    for _ in 0..200 {
        if broker
            .subscriptions(client_id)
            .is_some_and(|s| s.iter().any(|(f, _)| f == "v1/devices/me/rpc/request/+"))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{client_id} never subscribed to rpc requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressors_publish_answer_rpc_and_reconnect() {
    let (broker, addr, mut rx) = start_broker(SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let pki = tempfile::tempdir().expect("tempdir");
    let mut opts = PlantOptions::local(pki.path());
    opts.tick_ms = 50;
    opts.mqtt = Some(MqttTarget {
        addr: addr.to_string(),
        devices: DEVICES
            .iter()
            .map(|(d, t)| ((*d).to_owned(), (*t).to_owned()))
            .collect(),
    });
    let plant = Plant::start(opts).await.expect("plant starts");

    for (_, token) in DEVICES {
        let t = next_matching(&mut rx, |tok, topic, _| {
            tok == token && topic == "v1/devices/me/telemetry"
        })
        .await;
        let pressure = t["pressure"].as_f64().expect("pressure");
        assert!((6.0..=8.0).contains(&pressure), "{t}");
        assert!(
            t["flow"].as_f64().is_some() && t["motor_temp"].as_f64().is_some(),
            "{t}"
        );
        assert_eq!(t["running"], Value::Bool(true), "{t}");
    }

    wait_subscribed(&broker, "compressor-02").await;
    let request = Bytes::from_static(br#"{"method":"unload","params":{}}"#);
    broker
        .deliver(
            "compressor-02",
            "v1/devices/me/rpc/request/7",
            request,
            QoS::AtLeastOnce,
            false,
        )
        .await
        .expect("deliver");
    let reply = next_matching(&mut rx, |tok, topic, _| {
        tok == "token-2" && topic == "v1/devices/me/rpc/response/7"
    })
    .await;
    assert_eq!(reply, serde_json::json!({"ok": true}));
    next_matching(&mut rx, |tok, topic, t| {
        tok == "token-2" && topic.ends_with("telemetry") && t["running"] == false
    })
    .await;
    // The other compressor is unaffected.
    let other = next_matching(&mut rx, |tok, topic, _| {
        tok == "token-1" && topic.ends_with("telemetry")
    })
    .await;
    assert_eq!(other["running"], Value::Bool(true));

    // Broker restart on the same port: both devices come back by themselves.
    broker.shutdown().await;
    drop(rx);
    let (broker, _, mut rx) = start_broker(addr).await;
    for (_, token) in DEVICES {
        next_matching(&mut rx, |tok, topic, _| {
            tok == token && topic.ends_with("telemetry")
        })
        .await;
    }
    plant.stop().await;
    broker.shutdown().await;
}
