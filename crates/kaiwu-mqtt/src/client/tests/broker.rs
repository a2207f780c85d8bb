//! Against our own embedded broker: login refusals and a device's view (access token as user
//! name, telemetry consumed by the platform, commands delivered to it).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use super::*;
use crate::broker::{Broker, BrokerConfig, ConnectInfo, DisconnectCause, Hooks, PublishOutcome};
use crate::codec::{Publish, ReasonCode};

const TELEMETRY: &str = "v1/devices/me/telemetry";

/// User "token" is a device; "forbidden" is not authorised; anyone else has a bad password.
/// Telemetry is consumed and recorded; `reject/...` is refused with 0x99.
#[derive(Default)]
struct TestHooks {
    telemetry: Mutex<Vec<Bytes>>,
}

#[async_trait::async_trait]
impl Hooks for TestHooks {
    type Client = ();

    async fn authenticate(&self, info: &ConnectInfo) -> Result<(), ReasonCode> {
        match info.username.as_deref() {
            Some("token") => Ok(()),
            Some("forbidden") => Err(ReasonCode::NotAuthorized),
            _ => Err(ReasonCode::BadUserNameOrPassword),
        }
    }

    fn authorize_publish(&self, _: &(), _: &str) -> bool {
        true
    }

    fn authorize_subscribe(&self, _: &(), _: &str) -> bool {
        true
    }

    async fn on_publish(&self, _: &(), topic: &str, p: &Publish) -> PublishOutcome {
        if topic == TELEMETRY {
            self.telemetry.lock().unwrap().push(p.payload.clone());
            return PublishOutcome::Consumed;
        }
        if topic.starts_with("reject/") {
            return PublishOutcome::Rejected(ReasonCode::PayloadFormatInvalid, "bad".into());
        }
        PublishOutcome::Route
    }

    async fn on_connected(&self, _: &(), _: &ConnectInfo) {}

    async fn on_disconnected(&self, _: &(), _: &DisconnectCause) {}
}

async fn start() -> (Broker<TestHooks>, Arc<TestHooks>, SocketAddr) {
    let hooks = Arc::new(TestHooks::default());
    let broker = Broker::open(BrokerConfig::default(), hooks.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let b = broker.clone();
    tokio::spawn(async move { b.serve(listener).await });
    (broker, hooks, addr)
}

fn opts(addr: SocketAddr, user: &str, protocol: Protocol) -> ClientOptions {
    let mut o = ClientOptions::new(addr.to_string(), unique("dev"));
    o.username = Some(user.to_owned());
    o.password = Some(b"secret".to_vec());
    o.protocol = protocol;
    o
}

#[tokio::test]
async fn refused_logins_carry_the_connack_code() {
    let (broker, _, addr) = start().await;
    for protocol in [Protocol::V311, Protocol::V5] {
        for (user, code) in [
            ("wrong", ReasonCode::BadUserNameOrPassword),
            ("forbidden", ReasonCode::NotAuthorized),
        ] {
            match Client::connect(opts(addr, user, protocol)).await {
                Err(Error::Refused(got, _)) => assert_eq!(got, code, "{user} {protocol:?}"),
                other => panic!("{user} {protocol:?}: expected a refusal, got {other:?}"),
            }
        }
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn device_publishes_telemetry_and_receives_commands() {
    let (broker, hooks, addr) = start().await;
    for protocol in [Protocol::V311, Protocol::V5] {
        let o = opts(addr, "token", protocol);
        let client_id = o.client_id.clone();
        let (c, mut rx) = Client::connect(o).await.unwrap();
        let rpc = "v1/devices/me/rpc/request/+";
        assert_eq!(
            c.subscribe(&[(rpc, QoS::AtLeastOnce)]).await.unwrap(),
            vec![1]
        );
        c.publish(TELEMETRY, r#"{"t":21.5}"#, QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert!(
            hooks
                .telemetry
                .lock()
                .unwrap()
                .iter()
                .any(|p| p == r#"{"t":21.5}"#)
        );
        broker
            .deliver(
                &client_id,
                "v1/devices/me/rpc/request/7",
                "{}".into(),
                QoS::AtLeastOnce,
                false,
            )
            .await
            .unwrap();
        let m = recv(&mut rx).await;
        assert_eq!(m.topic, "v1/devices/me/rpc/request/7");
        assert_eq!(m.qos, QoS::AtLeastOnce);
        c.disconnect().await.unwrap();
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn v5_puback_failure_is_rejected_and_the_connection_stays() {
    let (broker, _, addr) = start().await;
    let (c, _rx) = Client::connect(opts(addr, "token", Protocol::V5))
        .await
        .unwrap();
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        match c.publish("reject/x", "?", qos, false).await {
            Err(Error::Rejected { code, reason }) => {
                assert_eq!(code, ReasonCode::PayloadFormatInvalid);
                assert_eq!(reason, "bad");
            }
            other => panic!("{qos:?}: expected a rejection, got {other:?}"),
        }
    }
    assert!(c.is_connected());
    c.publish("ok/x", "fine", QoS::ExactlyOnce, false)
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    broker.shutdown().await;
}
