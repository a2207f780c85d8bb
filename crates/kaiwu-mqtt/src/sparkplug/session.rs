//! The host-side view of one edge node's Sparkplug session: births, aliases, sequence numbers
//! and deaths. A pure state machine: messages in, [`SessionEvent`]s out.

use std::collections::{BTreeMap, HashMap};

use kaiwu_core::Value;

use super::DataType;
use super::command::command_metric;
use super::error::{Result, SparkplugError};
use super::proto::{Metric, Payload, metric};
use super::topic::{EdgeTopic, MessageKind};
use super::value::metric_value;

/// The NBIRTH/NDEATH metric that pairs a death with its birth.
pub const BD_SEQ_METRIC: &str = "bdSeq";

/// The node control metric a host sets to `true` in an NCMD to ask for a rebirth.
pub const REBIRTH_METRIC: &str = "Node Control/Rebirth";

/// Most devices one session tracks.
pub const MAX_DEVICES: usize = 10_000;

/// A metric of a birth or data message with its name resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedMetric {
    /// The name (from the metric, or from the birth via its alias).
    pub name: String,
    /// The metric's timestamp, else the payload's (epoch milliseconds).
    pub timestamp: Option<u64>,
    /// The metric as received, its `datatype` filled in from the birth when it was omitted.
    pub metric: Metric,
}

impl ResolvedMetric {
    /// The value ([`metric_value`]), errors naming the metric.
    pub fn value(&self) -> Result<Option<Value>> {
        metric_value(&self.metric).map_err(|e| SparkplugError::Metric {
            name: self.name.clone(),
            source: Box::new(e),
        })
    }
}

/// Why the host should send `Node Control/Rebirth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebirthReason {
    /// Data, DBIRTH or DDEATH from a node whose NBIRTH this session has not seen.
    NodeNotBorn,
    /// DDATA from a device whose DBIRTH this session has not seen.
    DeviceNotBorn(String),
    /// A data metric with an alias the birth did not define.
    UnknownAlias {
        /// The device, `None` for node metrics.
        device: Option<String>,
        /// The alias.
        alias: u64,
    },
    /// A data metric with a name the birth did not declare.
    UnknownMetric {
        /// The device, `None` for node metrics.
        device: Option<String>,
        /// The name.
        name: String,
    },
}

/// What a message did to the session, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// An NBIRTH: the node is online with this bdSeq; earlier devices are forgotten.
    NodeOnline {
        /// The birth/death sequence number.
        bd_seq: u64,
    },
    /// A DBIRTH: the device is online.
    DeviceOnline {
        /// The device id.
        device: String,
    },
    /// Metric values from a birth or data message, names resolved. A birth lists every
    /// metric, including `bdSeq` and the `Node Control/*` metrics.
    Metrics {
        /// The device, `None` for node metrics.
        device: Option<String>,
        /// From a birth certificate rather than a data message.
        birth: bool,
        /// The metrics.
        metrics: Vec<ResolvedMetric>,
    },
    /// The payload `seq` is not the successor (mod 256) of the previous message's: messages
    /// were lost or reordered. Hosts usually answer with a rebirth request.
    SeqGap {
        /// The seq that should have come.
        expected: u8,
        /// The seq that came (`None` if absent; it may exceed 255).
        got: Option<u64>,
    },
    /// The host should ask for a rebirth.
    RebirthNeeded(RebirthReason),
    /// An NDEATH matching the current bdSeq: the node and these (then online) devices are
    /// offline.
    NodeOffline {
        /// The devices that were online, sorted.
        devices: Vec<String>,
    },
    /// A DDEATH: the device is offline.
    DeviceOffline {
        /// The device id.
        device: String,
    },
    /// An NDEATH that does not match the current session (typically the late will message
    /// of an earlier connection): ignored.
    StaleDeath {
        /// The bdSeq of the current session, `None` if the node is offline.
        current: Option<u64>,
        /// The NDEATH's bdSeq.
        got: Option<u64>,
    },
}

/// What a birth declared about one metric.
#[derive(Debug, Clone)]
struct Def {
    alias: Option<u64>,
    datatype: Option<u32>,
}

/// The metrics of a node or one of its devices, by name and by alias.
#[derive(Debug, Clone, Default)]
struct Scope {
    defs: HashMap<String, Def>,
    by_alias: HashMap<u64, String>,
}

/// One edge node's session as seen by a host. Key sessions by (group, edge node).
#[derive(Debug, Clone, Default)]
pub struct NodeSession {
    online: bool,
    bd_seq: Option<u64>,
    last_seq: Option<u8>,
    node: Scope,
    /// Online devices only.
    devices: BTreeMap<String, Scope>,
}

impl NodeSession {
    /// A session for a node not seen yet (offline).
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one message published on `topic` (the caller has matched group and edge node).
    ///
    /// `Err` means a malformed birth or data message (no bdSeq, unnamed metric, duplicate
    /// alias, too many devices); a malformed NBIRTH leaves the node offline. NCMD and DCMD
    /// change nothing.
    pub fn handle(&mut self, topic: &EdgeTopic, payload: Payload) -> Result<Vec<SessionEvent>> {
        let device = match (topic.kind.is_device(), &topic.device) {
            (true, Some(d)) => Some(d.as_str()),
            (false, None) => None,
            _ => {
                return Err(SparkplugError::Topic {
                    topic: topic.to_string(),
                    reason: "device id does not match the message type",
                });
            }
        };
        match (topic.kind, device) {
            (MessageKind::NBirth, _) => self.nbirth(payload),
            (MessageKind::NDeath, _) => Ok(self.ndeath(&payload)),
            (MessageKind::NData, _) => self.data(None, payload),
            (MessageKind::DBirth, Some(d)) => self.dbirth(d, payload),
            (MessageKind::DData, Some(d)) => self.data(Some(d), payload),
            (MessageKind::DDeath, Some(d)) => Ok(self.ddeath(d, &payload)),
            _ => Ok(Vec::new()),
        }
    }

    /// Whether the node is between a valid NBIRTH and its NDEATH.
    pub fn is_online(&self) -> bool {
        self.online
    }

    /// The bdSeq of the current (or last) NBIRTH.
    pub fn bd_seq(&self) -> Option<u64> {
        self.bd_seq
    }

    /// Whether the device is online (born and not dead, node online).
    pub fn device_online(&self, device: &str) -> bool {
        self.devices.contains_key(device)
    }

    /// The online devices, sorted.
    pub fn devices(&self) -> impl Iterator<Item = &str> {
        self.devices.keys().map(String::as_str)
    }

    /// The name bound to `alias` by the node's (`device` `None`) or device's birth.
    pub fn metric_name(&self, device: Option<&str>, alias: u64) -> Option<&str> {
        self.scope(device)?.by_alias.get(&alias).map(String::as_str)
    }

    /// The alias the birth bound to `name`, if it used aliases.
    pub fn alias_of(&self, device: Option<&str>, name: &str) -> Option<u64> {
        self.scope(device)?.defs.get(name)?.alias
    }

    /// Names of the metrics the node's (`device` `None`) or device's birth declared.
    pub fn metric_names(&self, device: Option<&str>) -> Vec<String> {
        self.scope(device)
            .map(|s| s.defs.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The datatype the birth declared for `name`.
    pub fn datatype_of(&self, device: Option<&str>, name: &str) -> Option<DataType> {
        let dt = self.scope(device)?.defs.get(name)?.datatype?;
        DataType::try_from(dt).ok()
    }

    /// A command metric (for NCMD with `device` `None`, else DCMD) writing `value` to a metric
    /// of the birth, with its declared datatype, addressed by alias if the birth used one.
    pub fn command_metric(
        &self,
        device: Option<&str>,
        name: &str,
        value: &Value,
    ) -> Result<Metric> {
        let def = self
            .scope(device)
            .and_then(|s| s.defs.get(name))
            .ok_or_else(|| SparkplugError::UnknownMetric(name.to_owned()))?;
        let dt = match def.datatype {
            Some(n) => DataType::try_from(n)?,
            None => DataType::Unknown,
        };
        command_metric(name, def.alias, dt, value)
    }

    fn scope(&self, device: Option<&str>) -> Option<&Scope> {
        match device {
            None => self.online.then_some(&self.node),
            Some(d) => self.devices.get(d),
        }
    }

    fn go_offline(&mut self) {
        self.online = false;
        self.last_seq = None;
        self.node = Scope::default();
        self.devices.clear();
    }

    fn nbirth(&mut self, payload: Payload) -> Result<Vec<SessionEvent>> {
        self.go_offline();
        let bd_seq = bd_seq(&payload).ok_or(SparkplugError::MissingBdSeq("NBIRTH"))?;
        let node = Scope::from_birth("NBIRTH", &payload.metrics)?;
        self.online = true;
        self.bd_seq = Some(bd_seq);
        self.node = node;
        // The NBIRTH seq (0 by the specification) is the baseline for what follows.
        self.last_seq = payload.seq.and_then(|s| u8::try_from(s).ok());
        Ok(vec![
            SessionEvent::NodeOnline { bd_seq },
            birth_metrics(None, payload),
        ])
    }

    fn dbirth(&mut self, device: &str, payload: Payload) -> Result<Vec<SessionEvent>> {
        if !self.online {
            return Ok(vec![SessionEvent::RebirthNeeded(
                RebirthReason::NodeNotBorn,
            )]);
        }
        let mut events: Vec<SessionEvent> = self.check_seq(payload.seq).into_iter().collect();
        if !self.devices.contains_key(device) && self.devices.len() >= MAX_DEVICES {
            return Err(SparkplugError::TooManyDevices { limit: MAX_DEVICES });
        }
        let scope = Scope::from_birth("DBIRTH", &payload.metrics)?;
        self.devices.insert(device.to_owned(), scope);
        events.push(SessionEvent::DeviceOnline {
            device: device.to_owned(),
        });
        events.push(birth_metrics(Some(device), payload));
        Ok(events)
    }

    fn data(&mut self, device: Option<&str>, payload: Payload) -> Result<Vec<SessionEvent>> {
        if !self.online {
            return Ok(vec![SessionEvent::RebirthNeeded(
                RebirthReason::NodeNotBorn,
            )]);
        }
        let mut events: Vec<SessionEvent> = self.check_seq(payload.seq).into_iter().collect();
        let Some(scope) = self.scope(device) else {
            let d = device.unwrap_or_default().to_owned();
            events.push(SessionEvent::RebirthNeeded(RebirthReason::DeviceNotBorn(d)));
            return Ok(events);
        };
        let message = if device.is_some() { "DDATA" } else { "NDATA" };
        let owned_device = || device.map(str::to_owned);
        let mut metrics = Vec::with_capacity(payload.metrics.len());
        let mut rebirth = None;
        for (index, mut m) in payload.metrics.into_iter().enumerate() {
            let (name, def) = match (m.name.take(), m.alias) {
                (Some(name), _) => match scope.defs.get(&name) {
                    Some(def) => (name, def),
                    None => {
                        let device = owned_device();
                        rebirth.get_or_insert(RebirthReason::UnknownMetric { device, name });
                        continue;
                    }
                },
                (None, Some(alias)) => match scope.lookup_alias(alias) {
                    Some((name, def)) => (name.to_owned(), def),
                    None => {
                        let device = owned_device();
                        rebirth.get_or_insert(RebirthReason::UnknownAlias { device, alias });
                        continue;
                    }
                },
                (None, None) => {
                    return Err(SparkplugError::UnnamedMetric {
                        message,
                        index,
                        missing: "name or alias",
                    });
                }
            };
            if m.datatype.is_none() {
                m.datatype = def.datatype;
            }
            metrics.push(ResolvedMetric {
                name,
                timestamp: m.timestamp.or(payload.timestamp),
                metric: m,
            });
        }
        if !metrics.is_empty() {
            events.push(SessionEvent::Metrics {
                device: owned_device(),
                birth: false,
                metrics,
            });
        }
        events.extend(rebirth.map(SessionEvent::RebirthNeeded));
        Ok(events)
    }

    fn ndeath(&mut self, payload: &Payload) -> Vec<SessionEvent> {
        let got = bd_seq(payload);
        if self.online && got.is_some() && got == self.bd_seq {
            let devices = self.devices.keys().cloned().collect();
            self.go_offline();
            return vec![SessionEvent::NodeOffline { devices }];
        }
        vec![SessionEvent::StaleDeath {
            current: self.bd_seq.filter(|_| self.online),
            got,
        }]
    }

    fn ddeath(&mut self, device: &str, payload: &Payload) -> Vec<SessionEvent> {
        if !self.online {
            // Nothing is known about the device; the node's next NBIRTH/DBIRTH decides.
            return Vec::new();
        }
        let mut events: Vec<SessionEvent> = self.check_seq(payload.seq).into_iter().collect();
        if self.devices.remove(device).is_some() {
            events.push(SessionEvent::DeviceOffline {
                device: device.to_owned(),
            });
        }
        events
    }

    /// Checks `seq` against the previous message's and advances the baseline. A missing or
    /// out-of-range seq counts as having used the expected number, so one bad message yields
    /// one gap event, not one per following message.
    fn check_seq(&mut self, seq: Option<u64>) -> Option<SessionEvent> {
        let got = seq.and_then(|s| u8::try_from(s).ok());
        let Some(last) = self.last_seq else {
            self.last_seq = got;
            return None;
        };
        let expected = last.wrapping_add(1);
        self.last_seq = Some(got.unwrap_or(expected));
        (got != Some(expected)).then_some(SessionEvent::SeqGap { expected, got: seq })
    }
}

impl Scope {
    fn lookup_alias(&self, alias: u64) -> Option<(&str, &Def)> {
        let name = self.by_alias.get(&alias)?;
        Some((name, self.defs.get(name)?))
    }

    /// The name and alias tables of a birth; every metric must be named and aliases unique.
    fn from_birth(message: &'static str, metrics: &[Metric]) -> Result<Self> {
        let mut scope = Scope::default();
        for (index, m) in metrics.iter().enumerate() {
            let Some(name) = m.name.as_ref().filter(|n| !n.is_empty()) else {
                return Err(SparkplugError::UnnamedMetric {
                    message,
                    index,
                    missing: "name",
                });
            };
            if let Some(alias) = m.alias
                && let Some(first) = scope.by_alias.insert(alias, name.clone())
                && first != *name
            {
                return Err(SparkplugError::DuplicateAlias {
                    alias,
                    first,
                    second: name.clone(),
                });
            }
            let def = Def {
                alias: m.alias,
                datatype: m.datatype,
            };
            scope.defs.insert(name.clone(), def);
        }
        Ok(scope)
    }
}

/// The `bdSeq` metric's integer value.
fn bd_seq(payload: &Payload) -> Option<u64> {
    let m = payload
        .metrics
        .iter()
        .find(|m| m.name.as_deref() == Some(BD_SEQ_METRIC))?;
    match m.value {
        Some(metric::Value::IntValue(v)) => Some(u64::from(v)),
        Some(metric::Value::LongValue(v)) => Some(v),
        _ => None,
    }
}

fn birth_metrics(device: Option<&str>, payload: Payload) -> SessionEvent {
    let ts = payload.timestamp;
    let metrics = payload
        .metrics
        .into_iter()
        .map(|m| ResolvedMetric {
            // from_birth has checked that every birth metric is named.
            name: m.name.clone().unwrap_or_default(),
            timestamp: m.timestamp.or(ts),
            metric: m,
        })
        .collect();
    SessionEvent::Metrics {
        device: device.map(str::to_owned),
        birth: true,
        metrics,
    }
}

#[cfg(test)]
mod tests;
