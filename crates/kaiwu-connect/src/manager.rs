//! The supervisor: one task per enabled connector, replaced when its configuration changes.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kaiwu_ingest::Ingest;
use kaiwu_registry::Registry;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::{ConnectorConfig, Kind, Spec, parse};
use crate::ctx::{Control, Ctx};
use crate::status::{State, Status, StatusDoc};
use crate::{Error, Result};

/// The built-in command that writes property values through a connector.
pub const WRITE_COMMAND: &str = "write";

/// Requests queued for one connector before callers are told it is busy.
const CONTROL_QUEUE: usize = 64;
/// Longest wait for a connector to answer a write or browse.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);

struct Running {
    kind: Kind,
    status: Arc<Status>,
    ctl: Option<mpsc::Sender<Control>>,
    task: Option<JoinHandle<()>>,
    devices: HashSet<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// All connectors of the node.
pub struct Connectors {
    registry: Arc<Registry>,
    ingest: Arc<Ingest>,
    pki_dir: PathBuf,
    running: Mutex<HashMap<(String, String), Running>>,
}

impl std::fmt::Debug for Connectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connectors").finish_non_exhaustive()
    }
}

impl Connectors {
    /// A supervisor writing through `ingest`; OPC UA keeps its PKI under `pki_dir`.
    pub fn new(registry: Arc<Registry>, ingest: Arc<Ingest>, pki_dir: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            registry,
            ingest,
            pki_dir,
            running: Mutex::new(HashMap::new()),
        })
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start every stored connector (call inside the runtime). Returns how many run.
    pub fn start_all(&self) -> Result<usize> {
        let mut n = 0;
        for c in self.registry.connectors(None)? {
            match parse(&c.doc) {
                Ok(cfg) => {
                    n += usize::from(cfg.enabled);
                    self.start(&c.tenant, cfg);
                }
                Err(e) => {
                    tracing::error!(tenant = %c.tenant, connector = %c.id, errors = ?e, "stored connector no longer valid; not started")
                }
            }
        }
        Ok(n)
    }

    /// Apply the stored state of one connector: restart it with its new configuration, stop it
    /// when it was deleted or disabled.
    pub fn reload(&self, tenant: &str, id: &str) -> Result<()> {
        self.map().remove(&(tenant.to_owned(), id.to_owned()));
        match self.registry.connector(tenant, id) {
            Ok(c) => {
                let cfg = parse(&c.doc).map_err(Error::Invalid)?;
                self.start(tenant, cfg);
                Ok(())
            }
            Err(kaiwu_registry::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn start(&self, tenant: &str, cfg: ConnectorConfig) {
        let state = if cfg.enabled {
            State::Connecting
        } else {
            State::Disabled
        };
        let status = Arc::new(Status::new(&cfg.id, cfg.kind.as_str(), state));
        let mut run = Running {
            kind: cfg.kind,
            status: status.clone(),
            ctl: None,
            task: None,
            devices: cfg.devices(),
        };
        if cfg.enabled {
            let ctx = Ctx {
                tenant: tenant.to_owned(),
                id: cfg.id.clone(),
                ingest: self.ingest.clone(),
                registry: self.registry.clone(),
                status,
                pki_dir: self.pki_dir.clone(),
            };
            let (tx, rx) = mpsc::channel(CONTROL_QUEUE);
            let span = tracing::info_span!("connector", tenant, connector = %cfg.id);
            let task = match cfg.spec {
                Spec::Modbus(c) => tokio::spawn(tracing::Instrument::instrument(
                    crate::modbus::run(ctx, c, cfg.kind == Kind::ModbusRtu, rx),
                    span,
                )),
                Spec::Opcua(c) => tokio::spawn(tracing::Instrument::instrument(
                    crate::opcua::run(ctx, c, rx),
                    span,
                )),
                Spec::Bridge(c) => tokio::spawn(tracing::Instrument::instrument(
                    crate::bridge::run(ctx, c, rx),
                    span,
                )),
            };
            run.ctl = Some(tx);
            run.task = Some(task);
            tracing::info!(tenant, connector = %cfg.id, kind = cfg.kind.as_str(), "connector started");
        }
        self.map().insert((tenant.to_owned(), cfg.id), run);
    }

    /// Status of one connector (`None`: no such connector).
    pub fn status(&self, tenant: &str, id: &str) -> Option<StatusDoc> {
        self.map()
            .get(&(tenant.to_owned(), id.to_owned()))
            .map(|r| r.status.doc())
    }

    /// Whether a connector reads or writes `device`.
    pub fn serves(&self, tenant: &str, device: &str) -> bool {
        self.map()
            .iter()
            .any(|((t, _), r)| t == tenant && r.devices.contains(device))
    }

    /// Presence of a connector-attached device: online while its connector is connected and
    /// its last read succeeded; last seen at the connector's last success. `None` when no
    /// connector serves the device.
    pub fn presence(&self, tenant: &str, device: &str) -> Option<(bool, i64)> {
        let map = self.map();
        let mut found = None;
        for ((t, _), r) in map.iter() {
            if t != tenant || !r.devices.contains(device) {
                continue;
            }
            let online =
                r.status.state() == State::Connected && r.status.device(device) == Some(true);
            let seen = r.status.last_success().unwrap_or(0);
            let (o, s) = found.unwrap_or((false, 0));
            found = Some((o || online, s.max(seen)));
        }
        found
    }

    fn control_for(&self, tenant: &str, device: &str) -> Option<(String, mpsc::Sender<Control>)> {
        self.map().iter().find_map(|((t, id), r)| {
            let writes = matches!(r.kind, Kind::ModbusTcp | Kind::ModbusRtu | Kind::Opcua);
            (t == tenant && writes && r.devices.contains(device))
                .then(|| r.ctl.clone().map(|c| (id.clone(), c)))
                .flatten()
        })
    }

    /// Write property values of a connector-attached device (a command or desired values).
    pub async fn write(
        &self,
        tenant: &str,
        device: &str,
        values: Map<String, Value>,
    ) -> Result<()> {
        let (id, ctl) = self
            .control_for(tenant, device)
            .ok_or_else(|| Error::NotRunning(format!("for device {device}")))?;
        let (reply, rx) = oneshot::channel();
        let req = Control::Write {
            device: device.to_owned(),
            values,
            reply,
        };
        ask(&id, &ctl, req, rx).await
    }

    /// Run a command on a connector-attached device: `write` writes its params as property
    /// values (answering `{"written": [...]}`); other commands are OPC UA method calls where the
    /// connector maps one.
    pub async fn command(
        &self,
        tenant: &str,
        device: &str,
        command: &str,
        params: Value,
    ) -> Result<Value> {
        if command == WRITE_COMMAND {
            let values = match params {
                Value::Object(m) if !m.is_empty() => m,
                _ => {
                    return Err(Error::Refused(
                        "`write` takes the property values to write as its params".into(),
                    ));
                }
            };
            let written: Vec<Value> = values.keys().cloned().map(Value::String).collect();
            self.write(tenant, device, values).await?;
            return Ok(serde_json::json!({ "written": written }));
        }
        let (id, ctl) = self
            .control_for(tenant, device)
            .ok_or_else(|| Error::NotRunning(format!("for device {device}")))?;
        let (reply, rx) = oneshot::channel();
        let req = Control::Call {
            device: device.to_owned(),
            command: command.to_owned(),
            params,
            reply,
        };
        ask(&id, &ctl, req, rx).await
    }

    /// Browse an OPC UA connector's server (`node`: `None` for the Objects folder).
    pub async fn browse(
        &self,
        tenant: &str,
        id: &str,
        node: Option<String>,
    ) -> Result<Vec<kaiwu_opcua::BrowseEntry>> {
        let ctl = {
            let map = self.map();
            let r = map
                .get(&(tenant.to_owned(), id.to_owned()))
                .ok_or_else(|| Error::NotRunning(id.to_owned()))?;
            if r.kind != Kind::Opcua {
                return Err(Error::Unsupported(format!(
                    "connector {id} is {}; only opcua connectors browse",
                    r.kind.as_str()
                )));
            }
            r.ctl
                .clone()
                .ok_or_else(|| Error::NotRunning(id.to_owned()))?
        };
        let (reply, rx) = oneshot::channel();
        ask(id, &ctl, Control::Browse { node, reply }, rx).await
    }

    /// Stop every connector.
    pub fn shutdown(&self) {
        self.map().clear();
    }
}

async fn ask<T>(
    id: &str,
    ctl: &mpsc::Sender<Control>,
    req: Control,
    rx: oneshot::Receiver<Result<T>>,
) -> Result<T> {
    ctl.try_send(req)
        .map_err(|_| Error::Device(format!("connector {id} is busy or stopping")))?;
    match tokio::time::timeout(CONTROL_TIMEOUT, rx).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err(Error::Device(format!("connector {id} stopped"))),
        Err(_) => Err(Error::Device(format!(
            "connector {id} did not answer in time"
        ))),
    }
}
