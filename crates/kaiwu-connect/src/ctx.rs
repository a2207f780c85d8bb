//! What every driver shares: where its rows go, its status, its control channel, backoff.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kaiwu_ingest::{Ingest, Row};
use kaiwu_model::{DataType, DeviceType, Property};
use kaiwu_registry::Registry;
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use crate::status::Status;
use crate::{Error, Result};

/// A request to a running connector.
pub(crate) enum Control {
    /// Write property values of one device.
    Write {
        device: String,
        values: Map<String, Value>,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Run a command as a method call (OPC UA).
    Call {
        device: String,
        command: String,
        params: Value,
        reply: oneshot::Sender<Result<Value>>,
    },
    /// Browse the server's address space (OPC UA).
    Browse {
        node: Option<String>,
        reply: oneshot::Sender<Result<Vec<kaiwu_opcua::BrowseEntry>>>,
    },
}

impl Control {
    /// Answer a request this driver cannot serve right now.
    pub(crate) fn refuse(self, e: impl Fn() -> Error) {
        match self {
            Control::Write { reply, .. } => drop(reply.send(Err(e()))),
            Control::Browse { reply, .. } => drop(reply.send(Err(e()))),
            Control::Call { reply, .. } => drop(reply.send(Err(e()))),
        }
    }
}

/// A driver's handle on the platform.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) tenant: String,
    pub(crate) id: String,
    pub(crate) ingest: Arc<Ingest>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) status: Arc<Status>,
    /// Where OPC UA keeps its certificates and trust store.
    pub(crate) pki_dir: std::path::PathBuf,
}

impl Ctx {
    /// Device types of `devices` (repeats allowed: one per point, say), loaded once when the
    /// driver starts.
    pub(crate) async fn types(&self, devices: Vec<String>) -> HashMap<String, DeviceType> {
        let (reg, t) = (self.registry.clone(), self.tenant.clone());
        let devices: std::collections::BTreeSet<String> = devices.into_iter().collect();
        tokio::task::spawn_blocking(move || {
            devices
                .into_iter()
                .filter_map(|d| {
                    let dev = reg.device(&t, &d).ok()?;
                    Some((d, reg.device_type(&t, &dev.device_type).ok()?))
                })
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    /// Store rows; returns whether they were stored. Refusals are counted and logged with the
    /// device, never fatal to the connector.
    pub(crate) async fn store(&self, rows: Vec<Row>) -> bool {
        if rows.is_empty() {
            return true;
        }
        let first = rows[0].device.clone();
        match self.ingest.write_lenient(&self.tenant, rows).await {
            Ok((acc, refused)) => {
                for e in &refused {
                    tracing::warn!(connector = %self.id, path = %e.path, error = %e.message, "value refused by the thing model");
                }
                Status::add(&self.status.counters.rejected, refused.len() as u64);
                Status::add(&self.status.counters.rows, acc.rows as u64);
                Status::add(&self.status.counters.points, acc.points as u64);
                metrics::counter!("kaiwu_connector_points_total", "connector" => self.id.clone())
                    .increment(acc.points as u64);
                true
            }
            Err(e) => {
                tracing::warn!(connector = %self.id, device = %first, error = %e, "connector rows not stored");
                false
            }
        }
    }

    /// Mark a device unreachable: once per outage, its mapped properties are stored as `bad`.
    pub(crate) async fn mark_bad(&self, device: &str, properties: &[String]) {
        if !self.status.set_device(device, false) {
            return;
        }
        let ts = kaiwu_core::now_ms();
        if let Err(e) = self
            .ingest
            .write_bad(&self.tenant, device, properties, ts)
            .await
        {
            tracing::warn!(connector = %self.id, device, error = %e, "bad quality not recorded");
        }
    }

    /// After a failure: wait out the backoff, answering requests that arrive
    /// meanwhile with `refusal`. Returns false when the connector is being stopped.
    pub(crate) async fn back_off(
        &self,
        backoff: &mut Backoff,
        ctl: &mut tokio::sync::mpsc::Receiver<Control>,
        refusal: impl Fn() -> Error,
    ) -> bool {
        let wait = tokio::time::sleep(backoff.next_delay());
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => return true,
                c = ctl.recv() => match c {
                    Some(c) => c.refuse(&refusal),
                    None => return false,
                },
            }
        }
    }

    /// Mark every device of `points` (device, property) unreachable, e.g. on a lost connection.
    pub(crate) async fn mark_all_bad<'a>(&self, points: impl Iterator<Item = (&'a str, &'a str)>) {
        let mut by_device: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for (device, property) in points {
            by_device
                .entry(device)
                .or_default()
                .push(property.to_owned());
        }
        for (device, props) in by_device {
            self.mark_bad(device, &props).await;
        }
    }

    /// The end of one read cycle: devices in `bad` get their markers, the others of `rows`
    /// are good again, the rows are stored and a stored cycle counts as a success.
    pub(crate) async fn finish_cycle(
        &self,
        rows: Vec<Row>,
        bad: &std::collections::BTreeMap<String, Vec<String>>,
    ) {
        for (device, props) in bad {
            self.mark_bad(device, props).await;
        }
        for r in &rows {
            if !bad.contains_key(&r.device) {
                self.mark_good(&r.device);
            }
        }
        if self.store(rows).await {
            self.status.success();
        }
    }

    pub(crate) fn mark_good(&self, device: &str) {
        if self.status.set_device(device, true) {
            tracing::info!(connector = %self.id, device, "device readable again");
        }
    }
}

/// Exponential backoff with jitter, 0.5 s to 30 s.
pub(crate) struct Backoff {
    next: Duration,
    seed: u64,
}

const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

impl Backoff {
    pub(crate) fn new() -> Self {
        Self {
            next: BACKOFF_MIN,
            seed: kaiwu_core::now_ms().unsigned_abs() | 1,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }

    /// The next wait: the current step with up to 25% jitter, then double the step.
    pub(crate) fn next_delay(&mut self) -> Duration {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let base = self.next;
        let jitter = base.mul_f64((self.seed % 1000) as f64 / 4000.0);
        self.next = (self.next * 2).min(BACKOFF_MAX);
        base + jitter
    }
}

/// A number read from a device as the JSON its property takes: integral for int, enum and
/// timestamp properties (rounded), a float otherwise.
pub(crate) fn number_json(prop: &Property, v: f64) -> Value {
    match prop.r#type {
        DataType::Int | DataType::Enum | DataType::Timestamp => {
            Value::from(v.round().clamp(i64::MIN as f64, i64::MAX as f64) as i64)
        }
        DataType::Bool => Value::Bool(v != 0.0),
        _ => serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
    }
}

/// A bit as the JSON its property takes.
pub(crate) fn bit_json(prop: &Property, b: bool) -> Value {
    match prop.r#type {
        DataType::Bool => Value::Bool(b),
        _ => Value::from(i64::from(b)),
    }
}

/// Check a value to be written against the property (type, range, enum keys): the thing
/// model is the limit on what reaches a machine.
pub(crate) fn check_write(dt: &DeviceType, property: &str, v: &Value) -> Result<Property> {
    let prop = dt
        .properties
        .iter()
        .find(|p| p.id == property)
        .ok_or_else(|| Error::Refused(format!("`{property}` is not a property of {}", dt.id)))?;
    if prop.access != kaiwu_model::Access::ReadWrite {
        return Err(Error::Refused(format!(
            "property `{property}` of {} is read-only",
            dt.id
        )));
    }
    let (_, q) = kaiwu_model::validate_value(prop, v)
        .map_err(|e| Error::Refused(format!("{property}: {e}")))?;
    if q != kaiwu_core::Quality::Good {
        return Err(Error::Refused(format!(
            "{property}: {v} is outside the range the thing model declares ({}..{})",
            prop.min.map_or("-inf".into(), |m| m.to_string()),
            prop.max.map_or("inf".into(), |m| m.to_string()),
        )));
    }
    Ok(prop.clone())
}
