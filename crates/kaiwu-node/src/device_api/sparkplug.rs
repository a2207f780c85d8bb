//! Sparkplug B edge nodes (`spBv1.0/...`). An edge node logs in like a device (access token as
//! username) and its Sparkplug edge node id must be its device id. Births declare the metrics:
//! node metrics become properties of the node device's own type, device metrics properties of
//! the type `spb_<group>_<node>` (created extensible, shared by the node's devices), and each
//! Sparkplug device becomes the device `<node>.<device>`. Data messages resolve aliases through
//! the connection's `NodeSession` and go through ingest like any telemetry.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use kaiwu_ingest::Row;
use kaiwu_model::{DataType as PropType, DeviceType, Property, RESERVED_PROPERTY_IDS, slug};
use kaiwu_mqtt::broker::PublishOutcome;
use kaiwu_mqtt::codec::{Publish, QoS, ReasonCode};
use kaiwu_mqtt::sparkplug::{
    self, BD_SEQ_METRIC, DataType, EdgeTopic, HostState, ResolvedMetric, SessionEvent,
    SparkplugTopic,
};
use kaiwu_registry::{Error as RegError, NewDevice, Registry};
use serde_json::{Map, Value};

use super::hooks::{DeviceClient, DeviceHooks, refuse};
use super::presence::Live;

/// The primary host id Kaiwu announces on `spBv1.0/STATE/<id>`.
pub(crate) const HOST_ID: &str = "kaiwu";
/// The label naming the edge node of a device created from a DBIRTH.
pub(crate) const NODE_LABEL: &str = "sparkplug_node";

type Refusal = (ReasonCode, String);
/// A property a metric needs: id and thing-model type.
type PropDef = (String, &'static str);
/// Values of one timestamp (`None`: time of arrival).
type TsValues = (Option<i64>, Map<String, Value>);

/// Sparkplug state of one connection: a session per group, and the devices it brought online.
#[derive(Debug, Default)]
pub(crate) struct SpbConn {
    sessions: super::spb_command::Sessions,
    devices: Mutex<HashMap<String, Arc<Live>>>,
}

/// The edge topic a client may publish: its own node (the node id is its device id), never the
/// host's commands.
pub(crate) fn may_publish(c: &DeviceClient, topic: &str) -> bool {
    use sparkplug::MessageKind as K;
    matches!(SparkplugTopic::parse(topic), Ok(SparkplugTopic::Edge(t))
        if t.edge_node == c.device && !matches!(t.kind, K::NCmd | K::DCmd))
}

/// What an edge node subscribes to: its commands and the host STATE.
pub(crate) fn may_subscribe(c: &DeviceClient, filter: &str) -> bool {
    let l: Vec<&str> = filter.split('/').collect();
    match l.as_slice() {
        ["spBv1.0", "STATE", _] => true,
        ["spBv1.0", g, "NCMD", n] => !g.contains('#') && *n == c.device,
        ["spBv1.0", g, "DCMD", n, d] => !g.contains('#') && *n == c.device && !d.contains('#'),
        _ => false,
    }
}

/// The device id of a Sparkplug device, and the type id of a node's devices.
fn device_id(node: &str, device: &str) -> String {
    format!("{node}.{device}")
}

fn device_type_id(group: &str, node: &str) -> String {
    slug(&format!("spb {group} {node}"))
}

/// A property id for a metric name: `slug` (`Motor/RPM` -> `motor_rpm`), reserved SQL column
/// names get an `m_` prefix. Two names with one slug share the property.
pub(super) fn property_id(name: &str) -> String {
    let id = slug(name);
    if RESERVED_PROPERTY_IDS.contains(&id.as_str()) {
        format!("m_{id}")
    } else {
        id
    }
}

/// Metrics that are session machinery, not measurements.
fn is_control(name: &str) -> bool {
    name == BD_SEQ_METRIC
        || name.starts_with("Node Control/")
        || name.starts_with("Device Control/")
        || name.starts_with("Properties/")
}

/// The properties and rows a list of metrics makes: (property id, type) and rows by timestamp.
fn convert(metrics: &[ResolvedMetric]) -> (Vec<PropDef>, Vec<TsValues>) {
    let mut props = Vec::new();
    let mut rows: BTreeMap<Option<i64>, Map<String, Value>> = BTreeMap::new();
    for m in metrics.iter().filter(|m| !is_control(&m.name)) {
        let ty = m
            .metric
            .datatype
            .and_then(|d| DataType::try_from(d).ok())
            .and_then(sparkplug::datatype_to_property_type);
        let Some(ty) = ty else { continue };
        let id = property_id(&m.name);
        props.push((id.clone(), ty));
        if let Ok(Some(v)) = m.value() {
            let ts = m.timestamp.and_then(|t| i64::try_from(t).ok());
            let v = serde_json::to_value(v).unwrap_or(Value::Null);
            rows.entry(ts).or_default().insert(id, v);
        }
    }
    (props, rows.into_iter().collect())
}

impl DeviceHooks {
    /// Announces Kaiwu as primary host (retained STATE), once per process.
    pub(crate) async fn announce_host(&self) {
        if self
            .host_announced
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let Some(b) = self.broker.get() else { return };
        let Ok(topic) = sparkplug::state_topic(HOST_ID) else {
            return;
        };
        let state = HostState {
            online: true,
            timestamp: u64::try_from(self.started_ms).unwrap_or(0),
        };
        let r = b
            .publish(&topic, Bytes::from(state.to_json()), QoS::AtLeastOnce, true)
            .await;
        if let Err(e) = r {
            tracing::warn!(topic, error = %e, "sparkplug host STATE not published");
        }
    }

    /// A publish on `spBv1.0/...` by an edge node.
    pub(crate) async fn sparkplug_publish(
        &self,
        c: &DeviceClient,
        topic: &str,
        p: &Publish,
    ) -> PublishOutcome {
        match self.spb_message(c, topic, p).await {
            Ok(()) => PublishOutcome::Consumed,
            Err((code, why)) => refuse(c, code, why),
        }
    }

    /// Takes the Sparkplug devices of a closed connection offline.
    pub(crate) fn sparkplug_gone(&self, c: &DeviceClient) {
        self.spb_targets.remove_client(&c.client_id);
        let devices: Vec<_> = c
            .spb
            .devices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .collect();
        for (device, live) in devices {
            live.disconnect_if(&c.client_id, None);
            tracing::info!(tenant = %c.tenant, device = %device, node = %c.device, "sparkplug device offline with its node");
        }
    }

    async fn spb_message(&self, c: &DeviceClient, topic: &str, p: &Publish) -> Result<(), Refusal> {
        let t = match SparkplugTopic::parse(topic) {
            Ok(SparkplugTopic::Edge(t)) => t,
            Ok(SparkplugTopic::State { .. }) => {
                return Err((
                    ReasonCode::NotAuthorized,
                    "STATE is published by the host".into(),
                ));
            }
            Err(e) => return Err((ReasonCode::TopicNameInvalid, e.to_string())),
        };
        let payload = sparkplug::decode_payload(&p.payload)
            .map_err(|e| (ReasonCode::PayloadFormatInvalid, e.to_string()))?;
        let events = {
            let mut sessions = c
                .spb
                .sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            sessions
                .entry(t.group.clone())
                .or_default()
                .handle(&t, payload)
        }
        .map_err(|e| (ReasonCode::PayloadFormatInvalid, e.to_string()))?;
        let mut rebirth = false;
        for ev in events {
            match ev {
                SessionEvent::NodeOnline { bd_seq } => {
                    c.live.connect(&c.client_id, None);
                    tracing::info!(tenant = %c.tenant, device = %c.device, group = %t.group, bd_seq, "sparkplug node born");
                }
                SessionEvent::Metrics {
                    device,
                    birth,
                    metrics,
                } => {
                    self.spb_metrics(c, &t, device.as_deref(), birth, &metrics)
                        .await?;
                }
                SessionEvent::SeqGap { expected, got } => {
                    tracing::warn!(tenant = %c.tenant, device = %c.device, group = %t.group, expected, got = ?got, "sparkplug seq gap; asking for a rebirth");
                    rebirth = true;
                }
                SessionEvent::RebirthNeeded(why) => {
                    tracing::warn!(tenant = %c.tenant, device = %c.device, group = %t.group, reason = ?why, "sparkplug message out of session; asking for a rebirth");
                    rebirth = true;
                }
                SessionEvent::NodeOffline { devices } => {
                    c.live.disconnect_if(&c.client_id, None);
                    for d in devices {
                        self.spb_offline(c, &device_id(&c.device, &d));
                    }
                }
                SessionEvent::DeviceOffline { device } => {
                    self.spb_offline(c, &device_id(&c.device, &device));
                }
                SessionEvent::DeviceOnline { .. } | SessionEvent::StaleDeath { .. } => {}
            }
        }
        if rebirth {
            self.spb_rebirth(c, &t).await;
        }
        Ok(())
    }

    async fn spb_metrics(
        &self,
        c: &DeviceClient,
        t: &EdgeTopic,
        device: Option<&str>,
        birth: bool,
        metrics: &[ResolvedMetric],
    ) -> Result<(), Refusal> {
        let (props, rows) = convert(metrics);
        let id = device.map_or_else(|| c.device.clone(), |d| device_id(&c.device, d));
        if birth {
            let b = Birth {
                tenant: c.tenant.clone(),
                node: c.device.clone(),
                device: device.map(|_| id.clone()),
                type_id: device_type_id(&t.group, &c.device),
                props,
            };
            let reg = self.registry.clone();
            tokio::task::spawn_blocking(move || b.apply(&reg))
                .await
                .map_err(|e| {
                    (
                        ReasonCode::ImplementationSpecificError,
                        format!("registry task failed: {e}"),
                    )
                })?
                .map_err(|e| (ReasonCode::PayloadFormatInvalid, e))?;
            self.spb_targets.insert(
                &c.tenant,
                &id,
                super::spb_command::SpbTarget {
                    client_id: c.client_id.clone(),
                    group: t.group.clone(),
                    node: c.device.clone(),
                    device: device.map(str::to_owned),
                    sessions: c.spb.sessions.clone(),
                },
            );
            if device.is_some() {
                let live = self.presence.entry(&c.tenant, &id);
                live.connect(&c.client_id, None);
                c.spb
                    .devices
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(id.clone(), live);
            }
        }
        let rows: Vec<Row> = rows
            .into_iter()
            .map(|(ts, values)| Row {
                device: id.clone(),
                ts,
                values,
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        self.ingest
            .write_coalesced(&c.tenant, rows)
            .await
            .map(|_| ())
            .map_err(|e| (ReasonCode::PayloadFormatInvalid, format!("{id}: {e}")))
    }

    fn spb_offline(&self, c: &DeviceClient, id: &str) {
        let live = c
            .spb
            .devices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        if let Some(live) = live {
            live.disconnect_if(&c.client_id, None);
            tracing::info!(tenant = %c.tenant, device = %id, node = %c.device, "sparkplug device offline");
        }
    }

    /// Sends `Node Control/Rebirth` to the node (it subscribes to its NCMD topic).
    async fn spb_rebirth(&self, c: &DeviceClient, t: &EdgeTopic) {
        let Some(b) = self.broker.get() else { return };
        let topic = format!("spBv1.0/{}/NCMD/{}", t.group, t.edge_node);
        let now = u64::try_from(kaiwu_core::now_ms()).unwrap_or(0);
        let body = sparkplug::encode_payload(&sparkplug::rebirth_payload(now));
        if let Err(e) = b
            .deliver(
                &c.client_id,
                &topic,
                Bytes::from(body),
                QoS::AtMostOnce,
                false,
            )
            .await
        {
            tracing::info!(tenant = %c.tenant, device = %c.device, error = %e, "rebirth request not delivered");
        }
    }
}

/// What a birth changes in the registry.
struct Birth {
    tenant: String,
    node: String,
    /// `None` for an NBIRTH (the node's own device and type).
    device: Option<String>,
    type_id: String,
    props: Vec<PropDef>,
}

impl Birth {
    fn apply(&self, reg: &Registry) -> Result<(), String> {
        match &self.device {
            None => {
                let node = reg
                    .device(&self.tenant, &self.node)
                    .map_err(|e| e.to_string())?;
                self.add_properties(reg, &node.device_type, false)
            }
            Some(id) => {
                self.add_properties(reg, &self.type_id, true)?;
                self.ensure_device(reg, id)
            }
        }
    }

    /// Adds the birth's metrics missing from `type_id` as properties; creates the type
    /// (extensible) when `create` and it does not exist.
    fn add_properties(&self, reg: &Registry, type_id: &str, create: bool) -> Result<(), String> {
        let mut dt = match reg.device_type(&self.tenant, type_id) {
            Ok(dt) => dt,
            Err(RegError::NotFound { .. }) if create => {
                let doc = serde_json::json!({"id": type_id, "name": type_id, "extensible": true,
                    "description": format!("Sparkplug B devices of edge node {}", self.node)});
                let dt: DeviceType = serde_json::from_value(doc).map_err(|e| e.to_string())?;
                match reg.create_device_type(&self.tenant, dt) {
                    Ok(dt) => dt,
                    // Created meanwhile by another birth.
                    Err(RegError::Conflict(_)) => reg
                        .device_type(&self.tenant, type_id)
                        .map_err(|e| e.to_string())?,
                    Err(e) => return Err(format!("cannot create device type `{type_id}`: {e}")),
                }
            }
            Err(e) => return Err(e.to_string()),
        };
        let mut changed = false;
        for (id, ty) in &self.props {
            if dt.properties.iter().any(|p| p.id.eq_ignore_ascii_case(id)) {
                continue;
            }
            let ty: PropType =
                serde_json::from_value(Value::from(*ty)).map_err(|e| e.to_string())?;
            dt.properties.push(Property::new(id.clone(), ty));
            changed = true;
        }
        if changed {
            reg.update_device_type(&self.tenant, type_id, dt, false)
                .map_err(|e| {
                    format!("cannot add the birth's metrics to device type `{type_id}`: {e}")
                })?;
            tracing::info!(tenant = %self.tenant, device = %self.node, device_type = %type_id, "device type learned sparkplug metrics");
        }
        Ok(())
    }

    fn ensure_device(&self, reg: &Registry, id: &str) -> Result<(), String> {
        let owned = |labels: &BTreeMap<String, String>| labels.get(NODE_LABEL) == Some(&self.node);
        match reg.device(&self.tenant, id) {
            Ok(d) if owned(&d.labels) => return Ok(()),
            Ok(_) => {
                return Err(format!(
                    "device `{id}` exists and is not labelled {NODE_LABEL}={}",
                    self.node
                ));
            }
            Err(RegError::NotFound { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
        let new = NewDevice {
            id: id.to_owned(),
            device_type: self.type_id.clone(),
            name: None,
            asset: None,
            labels: BTreeMap::from([(NODE_LABEL.to_owned(), self.node.clone())]),
        };
        // Sparkplug devices speak only through their node; the token is never shown.
        match reg.create_device(&self.tenant, new, &kaiwu_auth::random_token(32)) {
            Ok(_) | Err(RegError::Conflict(_)) => Ok(()),
            Err(e) => Err(format!("cannot create device `{id}`: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_stable() {
        assert_eq!(device_type_id("Plant 1", "edge-a"), "spb_plant_1_edge_a");
        assert_eq!(property_id("Motor/RPM"), "motor_rpm");
        assert_eq!(property_id("ts"), "m_ts");
        assert!(kaiwu_core::validate_device_id(&device_id("edge-a", "pump1")).is_ok());
        assert!(is_control("Node Control/Rebirth") && is_control("bdSeq") && !is_control("temp"));
    }
}
