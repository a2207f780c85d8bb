//! The OPC UA driver: one session, a subscription for `subscribe` nodes, reads for `poll`
//! nodes, writes and method calls; on any failure the session is dropped and rebuilt, with its
//! subscription, after a backoff.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use kaiwu_ingest::Row;
use kaiwu_opcua::{Client, ClientOptions, Identity, Monitored, Sample, Security, Val};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::config::{Mode, OpcuaConfig, SecurityName};
use crate::ctx::{Backoff, Control, Ctx, check_write};
use crate::status::{State, Status};
use crate::{Error, Result};

/// Samples taken off the subscription channel per batch written.
const BATCH: usize = 4096;
/// How long samples are gathered before they are stored (a closed channel is seen on the
/// next receive).
const GATHER: Duration = Duration::from_millis(100);
/// How often a quiet session is checked for a dead server.
const LIVENESS: Duration = Duration::from_secs(1);

struct Driver {
    ctx: Ctx,
    cfg: OpcuaConfig,
    /// node id -> (device, property)
    by_node: HashMap<String, (String, String)>,
    types: HashMap<String, kaiwu_model::DeviceType>,
    /// Newest source timestamp stored per node: a re-created subscription reports current
    /// values again, and those must not be stored twice.
    last_ts: std::sync::Mutex<HashMap<String, i64>>,
}

/// Run an OPC UA connector until its control channel closes.
pub(crate) async fn run(ctx: Ctx, cfg: OpcuaConfig, mut ctl: mpsc::Receiver<Control>) {
    let by_node = cfg
        .nodes
        .iter()
        .map(|n| (n.node_id.clone(), (n.device.clone(), n.property.clone())))
        .collect();
    let devices = cfg.nodes.iter().map(|n| n.device.clone()).collect();
    let types = ctx.types(devices).await;
    let d = Driver {
        ctx,
        cfg,
        by_node,
        types,
        last_ts: std::sync::Mutex::new(HashMap::new()),
    };
    let mut backoff = Backoff::new();
    loop {
        d.ctx.status.set_state(State::Connecting);
        let err = match d.connect().await {
            Ok((client, rx)) => {
                d.ctx.status.set_state(State::Connected);
                backoff.reset();
                let r = d.session(&client, rx, &mut ctl).await;
                client.disconnect().await;
                match r {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        d.ctx.status.error(err);
        d.ctx.status.set_state(State::Error);
        d.all_bad().await;
        let refusal = || Error::Device(format!("connector {} is not connected", d.ctx.id));
        if !d.ctx.back_off(&mut backoff, &mut ctl, refusal).await {
            return;
        }
    }
}

impl Driver {
    async fn connect(&self) -> Result<(Client, mpsc::Receiver<Sample>), String> {
        let identity = match &self.cfg.credentials {
            Some(c) => Identity::UserPassword {
                user: c.username.clone(),
                password: c.password.clone().unwrap_or_default(),
            },
            None => Identity::Anonymous,
        };
        let opts = ClientOptions {
            endpoint: self.cfg.endpoint.clone(),
            security: match self.cfg.security {
                SecurityName::None => Security::None,
                SecurityName::Sign => Security::Sign,
                SecurityName::SignAndEncrypt => Security::SignAndEncrypt,
            },
            identity,
            pki_dir: self.ctx.pki_dir.clone(),
            trust_server_certs: self.cfg.trust_server,
            timeout: Duration::from_millis(self.cfg.timeout_ms),
            application_name: format!("Kaiwu connector {}", self.ctx.id),
        };
        let client = Client::connect(opts)
            .await
            .map_err(|e| format!("connect to {}: {e}", self.cfg.endpoint))?;
        let items: Vec<Monitored> = self
            .cfg
            .nodes
            .iter()
            .filter(|n| n.mode == Mode::Subscribe)
            .map(|n| Monitored {
                node: n.node_id.clone(),
                sampling_ms: n.sampling_ms.unwrap_or(self.cfg.publishing_ms as f64),
                deadband_abs: n.deadband,
            })
            .collect();
        let (tx, rx) = mpsc::channel(BATCH * 4);
        if !items.is_empty()
            && let Err(e) = client
                .subscribe(self.cfg.publishing_ms as f64, &items, tx)
                .await
        {
            // Close the session: left open, every retry would hold one more on the server
            // until it refuses new ones (BadTooManySessions).
            client.disconnect().await;
            return Err(format!("subscribe at {}: {e}", self.cfg.endpoint));
        }
        Ok((client, rx))
    }

    async fn session(
        &self,
        client: &Client,
        mut rx: mpsc::Receiver<Sample>,
        ctl: &mut mpsc::Receiver<Control>,
    ) -> Result<(), String> {
        let polled: Vec<String> = self
            .cfg
            .nodes
            .iter()
            .filter(|n| n.mode == Mode::Poll)
            .map(|n| n.node_id.clone())
            .collect();
        let subscribed = polled.len() < self.cfg.nodes.len();
        let mut poll = tokio::time::interval(Duration::from_millis(self.cfg.poll_ms));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut alive = tokio::time::interval(LIVENESS);
        let mut buf = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut buf, BATCH), if subscribed => {
                    if n == 0 {
                        return Err(format!("subscription at {} ended", self.cfg.endpoint));
                    }
                    // Samples trickle through the channel one by one while every store writes
                    // a row per device (as wide as its type): gather for a moment so a
                    // publish's samples share rows instead of each making near-empty ones.
                    let until = tokio::time::Instant::now() + GATHER;
                    while buf.len() < BATCH {
                        let room = BATCH - buf.len();
                        match tokio::time::timeout_at(until, rx.recv_many(&mut buf, room)).await {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        }
                    }
                    self.store(std::mem::take(&mut buf)).await;
                }
                _ = poll.tick(), if !polled.is_empty() => {
                    Status::add(&self.ctx.status.counters.requests, 1);
                    match client.read(&polled).await {
                        Ok(samples) => self.store(samples).await,
                        Err(e) => {
                            Status::add(&self.ctx.status.counters.request_errors, 1);
                            return Err(format!("read at {}: {e}", self.cfg.endpoint));
                        }
                    }
                }
                _ = alive.tick() => {
                    if !client.is_connected() {
                        return Err(format!("session to {} lost", self.cfg.endpoint));
                    }
                }
                c = ctl.recv() => match c {
                    None => return Ok(()),
                    Some(c) => self.control(client, c).await,
                },
            }
        }
    }

    async fn control(&self, client: &Client, c: Control) {
        match c {
            Control::Write {
                device,
                values,
                reply,
            } => {
                let r = self.write(client, &device, &values).await;
                let _ = reply.send(r);
            }
            Control::Browse { node, reply } => {
                let r = client
                    .browse(node.as_deref())
                    .await
                    .map_err(|e| Error::Device(format!("browse: {e}")));
                let _ = reply.send(r);
            }
            Control::Call {
                device,
                command,
                params,
                reply,
            } => {
                let r = self.call(client, &device, &command, params).await;
                let _ = reply.send(r);
            }
        }
    }

    async fn write(
        &self,
        client: &Client,
        device: &str,
        values: &Map<String, Value>,
    ) -> Result<()> {
        let dt = self
            .types
            .get(device)
            .ok_or_else(|| Error::Refused(format!("device {device} has no thing model")))?;
        let mut plan = Vec::new();
        for (prop, v) in values {
            let node = self
                .cfg
                .nodes
                .iter()
                .find(|n| n.device == device && n.property == *prop && n.write)
                .ok_or_else(|| {
                    Error::Refused(format!(
                        "no node of connector {} writes {device}.{prop}",
                        self.ctx.id
                    ))
                })?;
            check_write(dt, prop, v)?;
            plan.push((node.node_id.clone(), to_val(v)));
        }
        for (node, v) in plan {
            Status::add(&self.ctx.status.counters.writes, 1);
            if let Err(e) = client.write(&node, v).await {
                Status::add(&self.ctx.status.counters.write_errors, 1);
                return Err(Error::Device(format!("write {node}: {e}")));
            }
        }
        Ok(())
    }

    async fn call(
        &self,
        client: &Client,
        device: &str,
        command: &str,
        params: Value,
    ) -> Result<Value> {
        let m = self
            .cfg
            .methods
            .iter()
            .find(|m| m.device == device && m.command == command)
            .ok_or_else(|| {
                Error::Unsupported(format!("{device} has no method for command {command}"))
            })?;
        // Arguments in the order the thing model declares the command's parameters.
        let declared: Vec<String> = self
            .types
            .get(device)
            .and_then(|dt| dt.commands.iter().find(|c| c.id == command))
            .map(|c| c.params.iter().map(|p| p.id.clone()).collect())
            .unwrap_or_default();
        let obj = params.as_object().cloned().unwrap_or_default();
        let args: Vec<Val> = if declared.is_empty() {
            obj.values().map(to_val).collect()
        } else {
            declared
                .iter()
                .map(|p| obj.get(p).map_or(Val::Null, to_val))
                .collect()
        };
        let out = client
            .call(&m.object_id, &m.method_id, args)
            .await
            .map_err(|e| Error::Device(format!("call {}: {e}", m.method_id)))?;
        let mut out: Vec<Value> = out.into_iter().map(from_val).collect();
        Ok(if out.len() == 1 {
            out.remove(0)
        } else {
            Value::Array(out)
        })
    }

    /// Samples -> rows (one per device and timestamp); bad samples mark their property bad.
    async fn store(&self, samples: Vec<Sample>) {
        let mut rows: BTreeMap<(String, i64), Map<String, Value>> = BTreeMap::new();
        let mut bad: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let now = kaiwu_core::now_ms();
        for s in samples {
            let Some((device, prop)) = self.by_node.get(&s.node) else {
                continue;
            };
            if s.status == kaiwu_opcua::Status::Bad || matches!(s.value, Val::Null) {
                bad.entry(device.clone()).or_default().push(prop.clone());
                continue;
            }
            let ts = s.source_ts_ms.or(s.server_ts_ms).unwrap_or(now);
            if s.source_ts_ms.is_some() {
                let mut last = self.last_ts.lock().unwrap_or_else(|e| e.into_inner());
                match last.get(&s.node) {
                    Some(&t) if t >= ts => continue,
                    _ => {
                        last.insert(s.node.clone(), ts);
                    }
                }
            }
            rows.entry((device.clone(), ts))
                .or_default()
                .insert(prop.clone(), from_val(s.value));
        }
        let rows: Vec<Row> = rows
            .into_iter()
            .map(|((device, ts), values)| Row {
                device,
                ts: Some(ts),
                values,
            })
            .collect();
        self.ctx.finish_cycle(rows, &bad).await;
    }

    async fn all_bad(&self) {
        let nodes = self.cfg.nodes.iter();
        self.ctx
            .mark_all_bad(nodes.map(|n| (n.device.as_str(), n.property.as_str())))
            .await;
    }
}

fn to_val(v: &Value) -> Val {
    match v {
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Val::Int(i),
            None => Val::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Val::String(s.clone()),
        Value::Null => Val::Null,
        other => Val::String(other.to_string()),
    }
}

fn from_val(v: Val) -> Value {
    match v {
        Val::Bool(b) => Value::Bool(b),
        Val::Int(i) => Value::from(i),
        Val::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        Val::String(s) => Value::String(s),
        Val::Null => Value::Null,
    }
}
