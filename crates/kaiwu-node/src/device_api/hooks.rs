//! The broker's hooks: a device logs in with its access token as the MQTT username and may use
//! only its own `v1/devices/me/...` topics. Telemetry goes through ingest (validated against the
//! thing model, durable before the PUBACK); attributes into the shadow; RPC answers to the
//! command waiting for them. Gateways (`v1/gateway/...`, gateway.rs) and Sparkplug B edge nodes
//! (`spBv1.0/...`, sparkplug.rs) are dispatched from here.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use kaiwu_ingest::{Error as IngestError, Ingest, Row};
use kaiwu_mqtt::broker::{Broker, ConnectInfo, DisconnectCause, Hooks, PublishOutcome};
use kaiwu_mqtt::codec::{Publish, QoS, ReasonCode};
use kaiwu_mqtt::payload::{self, DeviceTopic};
use kaiwu_registry::Registry;

use super::gateway::{GATEWAY_SUBSCRIPTIONS, GatewayConn, gateway_publishes};
use super::presence::{Live, PresenceMap};
use super::rpc::RpcWaiters;
use super::sparkplug::{self, SpbConn};

/// One authenticated device connection.
pub(crate) struct DeviceClient {
    pub(crate) tenant: String,
    pub(crate) device: String,
    pub(super) client_id: String,
    pub(super) live: Arc<Live>,
    /// Set when the device is a gateway (label `gateway=true`, read at login).
    gateway: Option<GatewayConn>,
    /// Sparkplug sessions, when the device is an edge node.
    pub(super) spb: SpbConn,
}

/// The platform side of the embedded broker.
pub(crate) struct DeviceHooks {
    pub(crate) registry: Arc<Registry>,
    pub(crate) ingest: Arc<Ingest>,
    pub(crate) presence: PresenceMap,
    pub(crate) rpc: RpcWaiters,
    /// Set right after the broker opens (the broker owns the hooks, the hooks answer through it).
    pub(crate) broker: OnceLock<Broker<DeviceHooks>>,
    /// Whether the Sparkplug host STATE went out (on the first connection: the broker is
    /// handed the hooks only after it opens).
    pub(super) host_announced: AtomicBool,
    /// The STATE timestamp.
    pub(super) started_ms: i64,
    /// Where commands to Sparkplug devices go.
    pub(super) spb_targets: super::spb_command::SpbTargets,
}

impl DeviceHooks {
    pub(crate) fn new(registry: Arc<Registry>, ingest: Arc<Ingest>) -> Self {
        Self {
            registry,
            ingest,
            presence: PresenceMap::default(),
            rpc: RpcWaiters::default(),
            broker: OnceLock::new(),
            host_announced: AtomicBool::new(false),
            started_ms: kaiwu_core::now_ms(),
            spb_targets: Default::default(),
        }
    }

    pub(super) async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Registry) -> kaiwu_registry::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let reg = self.registry.clone();
        tokio::task::spawn_blocking(move || f(&reg))
            .await
            .map_err(|e| format!("registry task failed: {e}"))?
            .map_err(|e| e.to_string())
    }

    async fn telemetry(&self, c: &DeviceClient, p: &Publish) -> PublishOutcome {
        let rows = match payload::decode_telemetry(&p.payload) {
            Ok(r) => r,
            Err(e) => return refuse(c, ReasonCode::PayloadFormatInvalid, e.to_string()),
        };
        let rows = rows
            .into_iter()
            .map(|r| Row {
                device: c.device.clone(),
                ts: r.ts,
                values: r.values,
            })
            .collect();
        match self.ingest.write_coalesced(&c.tenant, rows).await {
            Ok(_) => PublishOutcome::Consumed,
            Err(e @ IngestError::Invalid(_)) => {
                refuse(c, ReasonCode::PayloadFormatInvalid, e.to_string())
            }
            // Not durable: never acknowledged as success.
            Err(e) => refuse(c, ReasonCode::ImplementationSpecificError, e.to_string()),
        }
    }

    async fn attributes(&self, c: &DeviceClient, p: &Publish) -> PublishOutcome {
        let attrs = match payload::decode_attributes(&p.payload) {
            Ok(a) => a,
            Err(e) => return refuse(c, ReasonCode::PayloadFormatInvalid, e.to_string()),
        };
        let (t, d) = (c.tenant.clone(), c.device.clone());
        match self
            .db(move |r| r.merge_shadow(&t, &d, false, &attrs))
            .await
        {
            Ok(_) => PublishOutcome::Consumed,
            Err(e) => refuse(c, ReasonCode::PayloadFormatInvalid, e),
        }
    }

    async fn attribute_request(&self, c: &DeviceClient, n: u64, p: &Publish) -> PublishOutcome {
        let req = match payload::decode_attribute_request(&p.payload) {
            Ok(r) => r,
            Err(e) => return refuse(c, ReasonCode::PayloadFormatInvalid, e.to_string()),
        };
        let (t, d) = (c.tenant.clone(), c.device.clone());
        let shadow = match self.db(move |r| r.shadow(&t, &d)).await {
            Ok(s) => s,
            Err(e) => return refuse(c, ReasonCode::ImplementationSpecificError, e),
        };
        let (client, shared) = req.select(&shadow.reported, &shadow.desired);
        let body = payload::encode_attribute_response(&client, &shared);
        self.send(c, &payload::attribute_response_topic(n), body)
            .await;
        PublishOutcome::Consumed
    }

    fn rpc_response(&self, c: &DeviceClient, n: u64, p: &Publish) -> PublishOutcome {
        let v = match payload::decode_rpc_response(&p.payload) {
            Ok(v) => v,
            Err(e) => return refuse(c, ReasonCode::PayloadFormatInvalid, e.to_string()),
        };
        if !self.rpc.answer(&c.tenant, &c.device, n, v) {
            tracing::info!(tenant = %c.tenant, device = %c.device, id = n, "rpc answer nobody waits for (late or unknown id)");
        }
        PublishOutcome::Consumed
    }

    async fn client_rpc(&self, c: &DeviceClient, n: u64, p: &Publish) -> PublishOutcome {
        if let Err(e) = payload::decode_rpc_request(&p.payload) {
            return refuse(c, ReasonCode::PayloadFormatInvalid, e.to_string());
        }
        // No rule engine yet to serve client-side calls: answer at once instead of leaving the
        // device waiting for a timeout.
        let body = payload::encode_rpc_response(
            &serde_json::json!({"error": "no handler for client-side rpc"}),
        );
        self.send(c, &payload::rpc_response_topic(n), body).await;
        PublishOutcome::Consumed
    }

    pub(super) async fn send(&self, c: &DeviceClient, topic: &str, body: Vec<u8>) {
        let Some(b) = self.broker.get() else { return };
        let r = b
            .deliver(
                &c.client_id,
                topic,
                Bytes::from(body),
                QoS::AtLeastOnce,
                false,
            )
            .await;
        if let Err(e) = r {
            tracing::info!(tenant = %c.tenant, device = %c.device, topic, error = %e, "could not answer device");
        }
    }
}

pub(super) fn refuse(c: &DeviceClient, code: ReasonCode, why: String) -> PublishOutcome {
    tracing::warn!(tenant = %c.tenant, device = %c.device, reason = %why, "device message refused");
    metrics::counter!("kaiwu_mqtt_refused_total").increment(1);
    PublishOutcome::Rejected(code, why)
}

/// Topics a device may subscribe to: where the platform answers it.
fn may_subscribe(filter: &str) -> bool {
    matches!(
        filter,
        "v1/devices/me/attributes"
            | "v1/devices/me/attributes/response/+"
            | "v1/devices/me/rpc/request/+"
            | "v1/devices/me/rpc/response/+"
    )
}

#[async_trait::async_trait]
impl Hooks for DeviceHooks {
    type Client = DeviceClient;

    async fn authenticate(&self, info: &ConnectInfo) -> Result<DeviceClient, ReasonCode> {
        // A client certificate the TLS layer verified identifies the device; the user name
        // is then ignored (ThingsBoard X.509 devices send none or their own).
        let found = if let Some(fp) = info.tls_identity.clone() {
            let found = self.db(move |r| r.device_by_cert(&fp)).await.map_err(|e| {
                tracing::error!(error = %e, "device login failed inside the registry");
                ReasonCode::ServerUnavailable
            })?;
            if found.is_none() {
                tracing::info!(peer = %info.peer, client_id = %info.client_id, "mqtt login with a certificate no device holds (replaced or deleted)");
                return Err(ReasonCode::NotAuthorized);
            }
            found
        } else {
            let Some(token) = info.username.clone().filter(|u| !u.is_empty()) else {
                return Err(ReasonCode::BadUserNameOrPassword);
            };
            self.db(move |r| r.device_by_token(&token))
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "device login failed inside the registry");
                    ReasonCode::ServerUnavailable
                })?
        };
        let Some((tenant, dev)) = found else {
            tracing::info!(peer = %info.peer, client_id = %info.client_id, "mqtt login with an unknown access token");
            return Err(ReasonCode::BadUserNameOrPassword);
        };
        let live = self.presence.entry(&tenant, &dev.id);
        let gateway = GatewayConn::for_device(&dev);
        Ok(DeviceClient {
            tenant,
            device: dev.id,
            client_id: info.client_id.clone(),
            live,
            gateway,
            spb: SpbConn::default(),
        })
    }

    fn authorize_publish(&self, c: &DeviceClient, topic: &str) -> bool {
        match payload::classify(topic) {
            Some(
                DeviceTopic::Telemetry
                | DeviceTopic::Attributes
                | DeviceTopic::AttributeRequest(_)
                | DeviceTopic::RpcRequest(_)
                | DeviceTopic::RpcResponse(_),
            ) => true,
            Some(DeviceTopic::Sparkplug) => sparkplug::may_publish(c, topic),
            Some(t) => c.gateway.is_some() && gateway_publishes(t),
            None => false,
        }
    }

    fn authorize_subscribe(&self, c: &DeviceClient, filter: &str) -> bool {
        may_subscribe(filter)
            || (c.gateway.is_some() && GATEWAY_SUBSCRIPTIONS.contains(&filter))
            || sparkplug::may_subscribe(c, filter)
    }

    async fn on_publish(&self, c: &DeviceClient, topic: &str, p: &Publish) -> PublishOutcome {
        c.live.touch();
        match payload::classify(topic) {
            Some(DeviceTopic::Telemetry) => self.telemetry(c, p).await,
            Some(DeviceTopic::Attributes) => self.attributes(c, p).await,
            Some(DeviceTopic::AttributeRequest(n)) => self.attribute_request(c, n, p).await,
            Some(DeviceTopic::RpcResponse(n)) => self.rpc_response(c, n, p),
            Some(DeviceTopic::RpcRequest(n)) => self.client_rpc(c, n, p).await,
            Some(DeviceTopic::Sparkplug) => self.sparkplug_publish(c, topic, p).await,
            Some(t) if gateway_publishes(t) => match &c.gateway {
                Some(gw) => self.gateway_publish(c, gw, t, p).await,
                None => refuse(
                    c,
                    ReasonCode::NotAuthorized,
                    format!("{topic} is for gateways (devices labelled gateway=true)"),
                ),
            },
            _ => refuse(
                c,
                ReasonCode::TopicNameInvalid,
                format!("topic {topic} is not part of the device api"),
            ),
        }
    }

    async fn on_connected(&self, c: &DeviceClient, info: &ConnectInfo) {
        self.announce_host().await;
        c.live.connect(&info.client_id, None);
        tracing::info!(tenant = %c.tenant, device = %c.device, client_id = %info.client_id, gateway = c.gateway.is_some(), "device connected");
    }

    async fn on_disconnected(&self, c: &DeviceClient, cause: &DisconnectCause) {
        // A session taken over stays online under the new connection.
        if *cause != DisconnectCause::SessionTakenOver {
            c.live
                .online
                .store(false, std::sync::atomic::Ordering::Relaxed);
            if let Some(gw) = &c.gateway {
                self.gateway_gone(c, gw);
            }
            self.sparkplug_gone(c);
        }
        tracing::info!(tenant = %c.tenant, device = %c.device, cause = ?cause, "device disconnected");
    }
}
