//! Commands to Sparkplug B devices: `POST /api/devices/{id}/commands/{cmd}` becomes an NCMD (the
//! edge node's own device) or DCMD (a device behind it) writing metrics, with the datatype and
//! alias the birth declared. Sparkplug has no command replies: the answer says what was sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use kaiwu_api::CommandError;
use kaiwu_mqtt::codec::QoS;
use kaiwu_mqtt::sparkplug::{self, NodeSession};
use serde_json::{Map, Value, json};

use super::hooks::DeviceHooks;

/// Sessions of one connection, by Sparkplug group.
pub(crate) type Sessions = Arc<Mutex<HashMap<String, NodeSession>>>;

/// Where a Sparkplug device's commands go.
#[derive(Clone)]
pub(crate) struct SpbTarget {
    pub(crate) client_id: String,
    pub(crate) group: String,
    pub(crate) node: String,
    /// The Sparkplug device name; `None` for the edge node itself.
    pub(crate) device: Option<String>,
    pub(crate) sessions: Sessions,
}

/// Targets by (tenant, device id), registered at birth, dropped with the connection.
#[derive(Default)]
pub(crate) struct SpbTargets(Mutex<HashMap<(String, String), SpbTarget>>);

impl std::fmt::Debug for SpbTargets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpbTargets")
    }
}

impl SpbTargets {
    pub(crate) fn insert(&self, tenant: &str, device: &str, t: SpbTarget) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((tenant.to_owned(), device.to_owned()), t);
    }

    pub(crate) fn get(&self, tenant: &str, device: &str) -> Option<SpbTarget> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(tenant.to_owned(), device.to_owned()))
            .cloned()
    }

    /// Forget the targets reached through a closed connection.
    pub(crate) fn remove_client(&self, client_id: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, t| t.client_id != client_id);
    }
}

/// The metric values a command writes: `write` takes `{"<property>": value, ...}`; any other
/// command writes the metric of that name (or property id) with `params.value`.
fn wanted(method: &str, params: &Value) -> Result<Map<String, Value>, CommandError> {
    if method == "write" {
        return match params {
            Value::Object(m) if !m.is_empty() => Ok(m.clone()),
            _ => Err(CommandError::Invalid(
                "`write` takes the metric values to write as its params".into(),
            )),
        };
    }
    let v = params
        .get("value")
        .cloned()
        .ok_or_else(|| CommandError::Invalid(format!("command {method} needs params.value")))?;
    Ok(Map::from_iter([(method.to_owned(), v)]))
}

fn core_value(v: &Value) -> Result<kaiwu_core::Value, CommandError> {
    Ok(match v {
        Value::Bool(b) => kaiwu_core::Value::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => kaiwu_core::Value::Int(i),
            None => kaiwu_core::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => kaiwu_core::Value::String(s.clone()),
        other => {
            return Err(CommandError::Invalid(format!(
                "{other} cannot be written to a metric"
            )));
        }
    })
}

impl DeviceHooks {
    /// Send a command to a Sparkplug device; `None` when `device` is not one.
    pub(crate) async fn spb_command(
        &self,
        tenant: &str,
        device: &str,
        method: &str,
        params: &Value,
    ) -> Option<Result<Value, CommandError>> {
        let t = self.spb_targets.get(tenant, device)?;
        Some(self.spb_send(device, &t, method, params).await)
    }

    async fn spb_send(
        &self,
        device: &str,
        t: &SpbTarget,
        method: &str,
        params: &Value,
    ) -> Result<Value, CommandError> {
        let values = wanted(method, params)?;
        let metrics = {
            let sessions = t.sessions.lock().unwrap_or_else(PoisonError::into_inner);
            let s = sessions
                .get(&t.group)
                .ok_or_else(|| CommandError::Offline(device.to_owned()))?;
            let scope = t.device.as_deref();
            let names = s.metric_names(scope);
            let mut out = Vec::with_capacity(values.len());
            let mut sent = Vec::with_capacity(values.len());
            for (key, v) in &values {
                // A property id is the metric name's slug; the metric name itself works too.
                let name = names
                    .iter()
                    .find(|n| *n == key || super::sparkplug::property_id(n) == *key)
                    .ok_or_else(|| {
                        CommandError::Invalid(format!("{device} has no metric for `{key}`"))
                    })?;
                let m = s
                    .command_metric(scope, name, &core_value(v)?)
                    .map_err(|e| CommandError::Invalid(format!("{key}: {e}")))?;
                out.push(m);
                sent.push(Value::String(name.clone()));
            }
            (out, sent)
        };
        let (metrics, sent) = metrics;
        let topic = match &t.device {
            Some(d) => format!("spBv1.0/{}/DCMD/{}/{d}", t.group, t.node),
            None => format!("spBv1.0/{}/NCMD/{}", t.group, t.node),
        };
        let now = u64::try_from(kaiwu_core::now_ms()).unwrap_or(0);
        let body = sparkplug::encode_payload(&sparkplug::command_payload(now, metrics));
        let b = self
            .broker
            .get()
            .ok_or_else(|| CommandError::Offline(device.to_owned()))?;
        // Sparkplug sends commands at QoS 0; the node acts on them or reports through data.
        b.deliver(
            &t.client_id,
            &topic,
            Bytes::from(body),
            QoS::AtMostOnce,
            false,
        )
        .await
        .map_err(|_| CommandError::Offline(device.to_owned()))?;
        tracing::info!(device, topic = %topic, "sparkplug command sent");
        Ok(json!({ "sent": sent }))
    }
}
