//! The ThingsBoard gateway API (`v1/gateway/...`): one gateway connection speaks for many child
//! devices, each named in the payload. A gateway is a device labelled `gateway=true`; its
//! children are devices labelled `gateway=<gateway id>`, created on their first
//! `v1/gateway/connect`. The device name in every payload is the child's device id.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use kaiwu_ingest::{Error as IngestError, Row};
use kaiwu_mqtt::broker::PublishOutcome;
use kaiwu_mqtt::codec::{Publish, ReasonCode};
use kaiwu_mqtt::payload::{self, DeviceTopic};
use kaiwu_registry::{Device, Error as RegError, NewDevice, Registry};
use serde_json::Map;

use super::hooks::{DeviceClient, DeviceHooks, refuse};
use super::presence::Live;

/// The label that makes a device a gateway (value `true`) and names a child's gateway.
pub(crate) const GATEWAY_LABEL: &str = "gateway";
/// The gateway label naming the device type of children whose `type` is missing or unknown.
pub(crate) const DEFAULT_TYPE_LABEL: &str = "gateway_default_type";
/// Topics a gateway subscribes to for what the platform sends its children.
pub(crate) const GATEWAY_SUBSCRIPTIONS: [&str; 3] = [
    "v1/gateway/attributes",
    "v1/gateway/attributes/response",
    "v1/gateway/rpc",
];

/// A refusal: the MQTT 5 reason code and the reason string.
type Refusal = (ReasonCode, String);

/// Gateway state of one connection: the children it connected, kept per connection so that
/// the connection's end takes exactly those children offline.
#[derive(Debug)]
pub(crate) struct GatewayConn {
    /// Type of created children when the connect message names no existing type.
    default_type: String,
    children: Mutex<HashMap<String, Arc<Live>>>,
}

impl GatewayConn {
    /// The gateway state for `dev`, or `None` when the device is not a gateway.
    pub(crate) fn for_device(dev: &Device) -> Option<Self> {
        (dev.labels.get(GATEWAY_LABEL).map(String::as_str) == Some("true")).then(|| Self {
            default_type: dev
                .labels
                .get(DEFAULT_TYPE_LABEL)
                .cloned()
                .unwrap_or_else(|| dev.device_type.clone()),
            children: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Live>>> {
        self.children.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether a gateway may publish to this topic (it never publishes the platform's answers).
pub(crate) fn gateway_publishes(t: DeviceTopic) -> bool {
    matches!(
        t,
        DeviceTopic::GatewayConnect
            | DeviceTopic::GatewayDisconnect
            | DeviceTopic::GatewayTelemetry
            | DeviceTopic::GatewayAttributes
            | DeviceTopic::GatewayAttributeRequest
            | DeviceTopic::GatewayRpc
    )
}

impl DeviceHooks {
    /// A publish of a gateway on a `v1/gateway/...` topic.
    pub(crate) async fn gateway_publish(
        &self,
        c: &DeviceClient,
        gw: &GatewayConn,
        t: DeviceTopic,
        p: &Publish,
    ) -> PublishOutcome {
        let r = match t {
            DeviceTopic::GatewayConnect => self.gw_connect(c, gw, p).await,
            DeviceTopic::GatewayDisconnect => gw_disconnect(c, gw, p),
            DeviceTopic::GatewayTelemetry => self.gw_telemetry(c, gw, p).await,
            DeviceTopic::GatewayAttributes => self.gw_attributes(c, gw, p).await,
            DeviceTopic::GatewayAttributeRequest => self.gw_attribute_request(c, gw, p).await,
            DeviceTopic::GatewayRpc => self.gw_rpc_response(c, gw, p).await,
            _ => Err((
                ReasonCode::TopicNameInvalid,
                "topic is not published by gateways".to_owned(),
            )),
        };
        match r {
            Ok(()) => PublishOutcome::Consumed,
            Err((code, why)) => refuse(c, code, why),
        }
    }

    /// Takes the children of a closed gateway connection offline, found by presence rather
    /// than by this connection's set: a session taken over leaves its children to its successor.
    pub(crate) fn gateway_gone(&self, c: &DeviceClient, gw: &GatewayConn) {
        gw.lock().clear();
        for child in self
            .presence
            .disconnect_via(&c.tenant, &c.device, &c.client_id)
        {
            tracing::info!(tenant = %c.tenant, device = %child, gateway = %c.device, "gateway child offline with its gateway");
        }
    }

    async fn gw_connect(
        &self,
        c: &DeviceClient,
        gw: &GatewayConn,
        p: &Publish,
    ) -> Result<(), Refusal> {
        let msg = payload::decode_gateway_connect(&p.payload).map_err(invalid)?;
        self.child(c, gw, &msg.device, Some(msg.device_type)).await
    }

    async fn gw_telemetry(
        &self,
        c: &DeviceClient,
        gw: &GatewayConn,
        p: &Publish,
    ) -> Result<(), Refusal> {
        let per_device = payload::decode_gateway_telemetry(&p.payload).map_err(invalid)?;
        // (device, index of its first row in `rows`) to name the device in ingest errors.
        let mut spans = Vec::with_capacity(per_device.len());
        let mut rows = Vec::new();
        for (device, dev_rows) in per_device {
            self.child(c, gw, &device, None).await?;
            spans.push((device.clone(), rows.len()));
            rows.extend(dev_rows.into_iter().map(|r| Row {
                device: device.clone(),
                ts: r.ts,
                values: r.values,
            }));
        }
        match self.ingest.write_coalesced(&c.tenant, rows).await {
            Ok(_) => Ok(()),
            Err(IngestError::Invalid(errs)) => {
                let first = errs
                    .first()
                    .map(|e| format!("{}: {}", device_path(&spans, &e.path), e.message))
                    .unwrap_or_default();
                Err((
                    ReasonCode::PayloadFormatInvalid,
                    format!(
                        "{} telemetry row(s) refused; nothing was stored: {first}",
                        errs.len()
                    ),
                ))
            }
            // Not durable: never acknowledged as success.
            Err(e) => Err((ReasonCode::ImplementationSpecificError, e.to_string())),
        }
    }

    async fn gw_attributes(
        &self,
        c: &DeviceClient,
        gw: &GatewayConn,
        p: &Publish,
    ) -> Result<(), Refusal> {
        let per_device = payload::decode_gateway_attributes(&p.payload).map_err(invalid)?;
        // Every device is checked before any shadow changes.
        for (device, _) in &per_device {
            self.child(c, gw, device, None).await?;
        }
        for (device, attrs) in per_device {
            let (t, d) = (c.tenant.clone(), device.clone());
            self.db(move |r| r.merge_shadow(&t, &d, false, &attrs))
                .await
                .map_err(|e| (ReasonCode::PayloadFormatInvalid, format!("{device}: {e}")))?;
        }
        Ok(())
    }

    async fn gw_attribute_request(
        &self,
        c: &DeviceClient,
        gw: &GatewayConn,
        p: &Publish,
    ) -> Result<(), Refusal> {
        let req = payload::decode_gateway_attribute_request(&p.payload).map_err(invalid)?;
        self.child(c, gw, &req.device, None).await?;
        let (t, d) = (c.tenant.clone(), req.device.clone());
        let shadow = self
            .db(move |r| r.shadow(&t, &d))
            .await
            .map_err(|e| (ReasonCode::ImplementationSpecificError, e))?;
        let mut values = Map::new();
        for (keys, side) in [
            (&req.client_keys, &shadow.reported),
            (&req.shared_keys, &shadow.desired),
        ] {
            for k in keys {
                if let Some(v) = side.get(k) {
                    values.insert(k.clone(), v.clone());
                }
            }
        }
        let body = payload::encode_gateway_attribute_response(&req, &values);
        self.send(c, "v1/gateway/attributes/response", body).await;
        Ok(())
    }

    async fn gw_rpc_response(
        &self,
        c: &DeviceClient,
        gw: &GatewayConn,
        p: &Publish,
    ) -> Result<(), Refusal> {
        let r = payload::decode_gateway_rpc_response(&p.payload).map_err(invalid)?;
        // Only a device of this gateway: ids alone would let it answer any device's command.
        self.child(c, gw, &r.device, None).await?;
        if !self.rpc.answer(&c.tenant, &r.device, r.id, r.data) {
            tracing::info!(tenant = %c.tenant, device = %r.device, gateway = %c.device, id = r.id, "rpc answer nobody waits for (late or unknown id)");
        }
        Ok(())
    }

    /// Makes sure `name` is a connected child of this gateway. A device it connected before
    /// passes at once; a device labelled as its child is (re)attached; with `connect`
    /// (`v1/gateway/connect`, carrying the optional type) a missing device is created.
    async fn child(
        &self,
        c: &DeviceClient,
        gw: &GatewayConn,
        name: &str,
        connect: Option<Option<String>>,
    ) -> Result<(), Refusal> {
        if let Some(live) = gw.lock().get(name) {
            live.touch();
            return Ok(());
        }
        kaiwu_core::validate_device_id(name).map_err(|e| {
            (
                ReasonCode::PayloadFormatInvalid,
                format!("device name `{name}` is not a valid device id: {e}"),
            )
        })?;
        let creating = connect.is_some();
        let want = NewChild {
            tenant: c.tenant.clone(),
            gateway: c.device.clone(),
            name: name.to_owned(),
            wanted_type: connect.flatten(),
            default_type: gw.default_type.clone(),
        };
        let reg = self.registry.clone();
        let created = tokio::task::spawn_blocking(move || want.resolve(&reg, creating))
            .await
            .map_err(|e| {
                (
                    ReasonCode::ImplementationSpecificError,
                    format!("registry task failed: {e}"),
                )
            })??;
        if let Some(ty) = created {
            tracing::info!(tenant = %c.tenant, device = %name, gateway = %c.device, device_type = %ty, "gateway child created");
        }
        let live = self.presence.entry(&c.tenant, name);
        live.connect(&c.client_id, Some(&c.device));
        gw.lock().insert(name.to_owned(), live);
        tracing::info!(tenant = %c.tenant, device = %name, gateway = %c.device, "gateway child connected");
        Ok(())
    }
}

fn gw_disconnect(c: &DeviceClient, gw: &GatewayConn, p: &Publish) -> Result<(), Refusal> {
    let name = payload::decode_gateway_disconnect(&p.payload).map_err(invalid)?;
    // Unknown names are ignored as ThingsBoard does: the device is offline either way.
    if let Some(live) = gw.lock().remove(&name) {
        live.disconnect_if(&c.client_id, Some(&c.device));
        tracing::info!(tenant = %c.tenant, device = %name, gateway = %c.device, "gateway child disconnected");
    }
    Ok(())
}

/// A child to look up, and to create when it does not exist yet.
struct NewChild {
    tenant: String,
    gateway: String,
    name: String,
    wanted_type: Option<String>,
    default_type: String,
}

impl NewChild {
    /// `Ok(Some(type))` when the device was created, `Ok(None)` when it already was a child.
    fn resolve(&self, reg: &Registry, create: bool) -> Result<Option<String>, Refusal> {
        match reg.device(&self.tenant, &self.name) {
            Ok(dev) => self.check_owner(&dev).map(|()| None),
            Err(RegError::NotFound { .. }) if create => self.create(reg).map(Some),
            Err(RegError::NotFound { .. }) => Err((
                ReasonCode::NotAuthorized,
                format!(
                    "device `{}` is not connected through gateway `{}`; publish v1/gateway/connect first",
                    self.name, self.gateway
                ),
            )),
            Err(e) => Err(registry_failed(&e)),
        }
    }

    fn check_owner(&self, dev: &Device) -> Result<(), Refusal> {
        if dev.labels.get(GATEWAY_LABEL) == Some(&self.gateway) {
            return Ok(());
        }
        Err((
            ReasonCode::NotAuthorized,
            format!(
                "device `{}` is not a child of gateway `{}` (its label `{GATEWAY_LABEL}` does not name the gateway)",
                self.name, self.gateway
            ),
        ))
    }

    fn create(&self, reg: &Registry) -> Result<String, Refusal> {
        let ty = match &self.wanted_type {
            Some(t) if reg.device_type(&self.tenant, t).is_ok() => t.clone(),
            _ => self.default_type.clone(),
        };
        let new = NewDevice {
            id: self.name.clone(),
            device_type: ty.clone(),
            name: None,
            asset: None,
            labels: BTreeMap::from([(GATEWAY_LABEL.to_owned(), self.gateway.clone())]),
        };
        // Children log in only through their gateway; the token exists because every device
        // has one, and is never shown (an admin can rotate it to take the device direct).
        match reg.create_device(&self.tenant, new, &kaiwu_auth::random_token(32)) {
            Ok(_) => Ok(ty),
            // Created meanwhile (another message of the same gateway, or an admin).
            Err(RegError::Conflict(_)) => match reg.device(&self.tenant, &self.name) {
                Ok(dev) => self.check_owner(&dev).map(|()| ty),
                Err(e) => Err(registry_failed(&e)),
            },
            Err(e @ RegError::Db(_)) => Err(registry_failed(&e)),
            Err(e) => Err((
                ReasonCode::PayloadFormatInvalid,
                format!("cannot create device `{}` of type `{ty}`: {e}", self.name),
            )),
        }
    }
}

fn registry_failed(e: &RegError) -> Refusal {
    (
        ReasonCode::ImplementationSpecificError,
        format!("registry: {e}"),
    )
}

fn invalid(e: payload::PayloadError) -> Refusal {
    (ReasonCode::PayloadFormatInvalid, e.to_string())
}

/// Rewrites an ingest path of the combined rows (`[7].values.temp`) into the device's own
/// (`Device B[2].values.temp`).
fn device_path(spans: &[(String, usize)], path: &str) -> String {
    let parsed = path
        .strip_prefix('[')
        .and_then(|p| p.split_once(']'))
        .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, rest)));
    let Some((i, rest)) = parsed else {
        return path.to_owned();
    };
    match spans.iter().rev().find(|(_, start)| *start <= i) {
        Some((device, start)) => format!("{device}[{}]{rest}", i - start),
        None => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_paths_name_the_device_and_its_own_row() {
        let spans = vec![("a".to_owned(), 0), ("b".to_owned(), 2)];
        assert_eq!(device_path(&spans, "[0].values.x"), "a[0].values.x");
        assert_eq!(device_path(&spans, "[3].values.x"), "b[1].values.x");
        assert_eq!(device_path(&spans, "[2]"), "b[0]");
        assert_eq!(device_path(&spans, "values"), "values");
    }

    #[test]
    fn only_devices_labelled_true_are_gateways() {
        let mut d = Device {
            id: "gw".into(),
            device_type: "edge".into(),
            name: "gw".into(),
            asset: None,
            labels: BTreeMap::new(),
            created_ms: 0,
            updated_ms: 0,
        };
        assert!(GatewayConn::for_device(&d).is_none());
        d.labels.insert(GATEWAY_LABEL.into(), "yes".into());
        assert!(GatewayConn::for_device(&d).is_none());
        d.labels.insert(GATEWAY_LABEL.into(), "true".into());
        assert_eq!(GatewayConn::for_device(&d).unwrap().default_type, "edge");
        d.labels.insert(DEFAULT_TYPE_LABEL.into(), "sensor".into());
        assert_eq!(GatewayConn::for_device(&d).unwrap().default_type, "sensor");
    }
}
