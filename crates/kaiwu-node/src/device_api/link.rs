//! The management API's view of connected devices: presence, desired attributes pushed on
//! `v1/devices/me/attributes`, and commands as ThingsBoard server-side RPC. A device behind a
//! gateway gets both through its gateway's connection on the `v1/gateway/...` topics.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kaiwu_api::{CommandError, DeviceLink, Presence};
use kaiwu_mqtt::codec::QoS;
use kaiwu_mqtt::payload;
use serde_json::{Map, Value};

use super::DeviceHooks;

/// [`DeviceLink`] over the embedded broker.
pub(crate) struct MqttLink(pub(crate) Arc<DeviceHooks>);

#[async_trait::async_trait]
impl DeviceLink for MqttLink {
    fn presence(&self, tenant: &str, device: &str) -> Presence {
        self.0.presence.get(tenant, device)
    }

    async fn push_attributes(&self, tenant: &str, device: &str, changed: &Map<String, Value>) {
        let (Some(b), Some(route)) = (self.0.broker.get(), self.0.presence.route(tenant, device))
        else {
            return;
        };
        let (topic, body) = if route.via_gateway {
            (
                "v1/gateway/attributes",
                payload::encode_gateway_attribute_update(device, changed),
            )
        } else {
            (
                "v1/devices/me/attributes",
                payload::encode_attribute_update(changed),
            )
        };
        let r = b
            .deliver(
                &route.client_id,
                topic,
                Bytes::from(body),
                QoS::AtLeastOnce,
                false,
            )
            .await;
        if let Err(e) = r {
            tracing::info!(tenant, device, error = %e, "desired attributes not pushed; kept in the shadow");
        }
    }

    async fn command(
        &self,
        tenant: &str,
        device: &str,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CommandError> {
        if let Some(r) = self.0.spb_command(tenant, device, method, &params).await {
            return r;
        }
        let offline = || CommandError::Offline(device.to_owned());
        let b = self.0.broker.get().ok_or_else(offline)?;
        let route = self.0.presence.route(tenant, device).ok_or_else(offline)?;
        // Gateway answers name the device and echo the id, so one waiter table serves both.
        let (id, rx) = self.0.rpc.start(tenant, device);
        let (topic, body) = if route.via_gateway {
            (
                "v1/gateway/rpc".to_owned(),
                payload::encode_gateway_rpc_request(device, id, method, &params),
            )
        } else {
            (
                payload::rpc_request_topic(id),
                payload::encode_rpc_request(method, &params),
            )
        };
        let sent = b
            .deliver(
                &route.client_id,
                &topic,
                Bytes::from(body),
                QoS::AtLeastOnce,
                false,
            )
            .await;
        if let Err(e) = sent {
            self.0.rpc.cancel(tenant, device, id);
            tracing::info!(tenant, device, gateway = route.via_gateway, error = %e, "command not delivered");
            return Err(offline());
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(CommandError::Failed("command abandoned".into())),
            Err(_) => {
                self.0.rpc.cancel(tenant, device, id);
                Err(CommandError::Timeout {
                    device: device.to_owned(),
                    ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                })
            }
        }
    }
}
