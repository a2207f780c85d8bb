//! The Modbus driver: poll groups (points of one unit and interval) read through as few
//! requests as the protocol allows, writes range-checked against the thing model, and
//! reconnection with backoff after any outage.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use kaiwu_ingest::Row;
use kaiwu_modbus::{Area, Client, Encoding, Framing, Order, Raw, ReadRequest};
use kaiwu_model::{DeviceType, Property};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::config::{AreaName, EncodingName, ModbusConfig, ModbusPoint};
use crate::ctx::{Backoff, Control, Ctx, bit_json, check_write, number_json};
use crate::status::{State, Status};
use crate::{Error, Result};

/// A point resolved for the wire.
struct Point {
    cfg: ModbusPoint,
    area: Area,
    enc: Encoding,
    order: Order,
    unit: u8,
    /// Its property in the device's type (`None` if the device or property is gone).
    prop: Option<Property>,
}

/// Points of one unit and interval, and their planned reads.
struct Group {
    unit: u8,
    period: Duration,
    reads: Vec<ReadRequest>,
    /// Global point index of each planned point index.
    points: Vec<usize>,
    due: Instant,
}

struct Driver {
    ctx: Ctx,
    cfg: ModbusConfig,
    framing: Framing,
    points: Vec<Point>,
    groups: Vec<Group>,
    types: HashMap<String, DeviceType>,
    regs: Vec<u16>,
    bits: Vec<bool>,
}

/// Run a Modbus connector until its control channel closes.
pub(crate) async fn run(ctx: Ctx, cfg: ModbusConfig, rtu: bool, mut ctl: mpsc::Receiver<Control>) {
    let framing = if rtu {
        Framing::RtuOverTcp
    } else {
        Framing::Tcp
    };
    let mut d = match Driver::new(ctx, cfg, framing).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "modbus connector cannot start");
            return;
        }
    };
    let mut backoff = Backoff::new();
    loop {
        d.ctx.status.set_state(State::Connecting);
        let timeout = Duration::from_millis(d.cfg.timeout_ms);
        let client = match &d.cfg.serial_port {
            Some(port) => Client::open_serial(port, &d.cfg.serial.unwrap_or_default(), timeout),
            None => Client::connect(&d.cfg.address, d.framing, timeout).await,
        };
        let err = match client {
            Ok(mut client) => {
                d.ctx.status.set_state(State::Connected);
                backoff.reset();
                match d.session(&mut client, &mut ctl).await {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
            Err(e) => format!("connect to {}: {e}", d.cfg.endpoint()),
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

fn area(a: AreaName) -> Area {
    match a {
        AreaName::Coil => Area::Coil,
        AreaName::Discrete => Area::Discrete,
        AreaName::Input => Area::Input,
        AreaName::Holding => Area::Holding,
    }
}

fn encoding(e: EncodingName) -> Encoding {
    match e {
        EncodingName::U16 => Encoding::U16,
        EncodingName::I16 => Encoding::I16,
        EncodingName::U32 => Encoding::U32,
        EncodingName::I32 => Encoding::I32,
        EncodingName::F32 => Encoding::F32,
        EncodingName::F64 => Encoding::F64,
        EncodingName::Bool => Encoding::Bool,
    }
}

impl Driver {
    async fn new(ctx: Ctx, cfg: ModbusConfig, framing: Framing) -> Result<Self> {
        let mut points = Vec::with_capacity(cfg.points.len());
        for p in &cfg.points {
            let order = Order::parse(&p.order).map_err(|e| Error::Refused(e.to_string()))?;
            let enc = if p.bit.is_some() {
                Encoding::U16
            } else {
                encoding(p.encoding)
            };
            points.push(Point {
                area: area(p.area),
                enc,
                order,
                unit: p.unit_id.unwrap_or(cfg.unit_id),
                cfg: p.clone(),
                prop: None,
            });
        }
        let mut by_group: BTreeMap<(u8, u64), Vec<usize>> = BTreeMap::new();
        for (i, p) in points.iter().enumerate() {
            let ms = p.cfg.poll_ms.unwrap_or(cfg.poll_ms);
            by_group.entry((p.unit, ms)).or_default().push(i);
        }
        let now = Instant::now();
        let groups = by_group
            .into_iter()
            .map(|((unit, ms), idx)| {
                let spec: Vec<(Area, u16, u16)> = idx
                    .iter()
                    .map(|&i| (points[i].area, points[i].cfg.address, points[i].cfg.width()))
                    .collect();
                Group {
                    unit,
                    period: Duration::from_millis(ms),
                    reads: kaiwu_modbus::plan_reads(&spec, cfg.max_gap),
                    points: idx,
                    due: now,
                }
            })
            .collect();
        let devices = points.iter().map(|p| p.cfg.device.clone()).collect();
        let types = ctx.types(devices).await;
        for p in &mut points {
            p.prop = types
                .get(&p.cfg.device)
                .and_then(|t| t.property(&p.cfg.property))
                .cloned();
        }
        Ok(Self {
            ctx,
            cfg,
            framing,
            points,
            groups,
            types,
            regs: Vec::with_capacity(125),
            bits: Vec::with_capacity(2000),
        })
    }

    /// Poll and serve writes until the connection fails (Err) or the connector stops (Ok).
    async fn session(
        &mut self,
        client: &mut Client,
        ctl: &mut mpsc::Receiver<Control>,
    ) -> Result<(), String> {
        loop {
            let Some(gi) = (0..self.groups.len()).min_by_key(|&g| self.groups[g].due) else {
                return Ok(());
            };
            let due = self.groups[gi].due;
            tokio::select! {
                () = tokio::time::sleep_until(due) => {
                    self.poll(client, gi).await?;
                    let g = &mut self.groups[gi];
                    g.due += g.period;
                    // After a slow poll, skip the missed slots rather than polling in a burst.
                    let now = Instant::now();
                    if g.due < now {
                        g.due = now + g.period;
                    }
                }
                c = ctl.recv() => match c {
                    None => return Ok(()),
                    Some(Control::Write { device, values, reply }) => {
                        let r = self.write(client, &device, &values).await;
                        let lost = matches!(&r, Err(WriteFail::Connection(_)));
                        let answer = r.map_err(|e| match e {
                            WriteFail::Refused(m) => Error::Refused(m),
                            WriteFail::Device(m) | WriteFail::Connection(m) => Error::Device(m),
                        });
                        let _ = reply.send(answer);
                        if lost {
                            return Err(format!("connection lost while writing to {device}"));
                        }
                    }
                    Some(c) => c.refuse(|| Error::Unsupported("Modbus devices take only `write` commands".into())),
                },
            }
        }
    }

    async fn poll(&mut self, client: &mut Client, gi: usize) -> Result<(), String> {
        let ts = kaiwu_core::now_ms();
        let unit = self.groups[gi].unit;
        let mut values: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        let mut failed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for ri in 0..self.groups[gi].reads.len() {
            let (area, start, count) = {
                let r = &self.groups[gi].reads[ri];
                (r.area, r.start, r.count)
            };
            Status::add(&self.ctx.status.counters.requests, 1);
            match self.read(client, unit, area, start, count).await {
                Ok(()) => {
                    let g = &self.groups[gi];
                    for &pi in &g.reads[ri].points {
                        let p = &self.points[g.points[pi]];
                        if let Some(v) = self.value(p, start) {
                            values
                                .entry(p.cfg.device.clone())
                                .or_default()
                                .insert(p.cfg.property.clone(), v);
                        }
                    }
                }
                Err(e) if e.is_connection() => return Err(format!("{}: {e}", self.cfg.endpoint())),
                Err(e) => {
                    // The device answered but refused (e.g. illegal data address): the points
                    // of this request are bad, the connection and the other requests are fine.
                    Status::add(&self.ctx.status.counters.request_errors, 1);
                    let g = &self.groups[gi];
                    for &pi in &g.reads[ri].points {
                        let p = &self.points[g.points[pi]].cfg;
                        failed
                            .entry(p.device.clone())
                            .or_default()
                            .push(p.property.clone());
                    }
                    if self.ctx.status.state() == State::Connected {
                        self.ctx
                            .status
                            .error(format!("unit {unit} {area:?} {start}+{count}: {e}"));
                    }
                }
            }
        }
        let rows: Vec<Row> = values
            .into_iter()
            .map(|(device, values)| Row {
                device,
                ts: Some(ts),
                values,
            })
            .collect();
        self.ctx.finish_cycle(rows, &failed).await;
        Ok(())
    }

    /// One read, retried on timeout up to the configured count.
    async fn read(
        &mut self,
        client: &mut Client,
        unit: u8,
        area: Area,
        start: u16,
        count: u16,
    ) -> kaiwu_modbus::Result<()> {
        let mut attempt = 0;
        loop {
            let r = if area.is_bit() {
                client
                    .read_bits(unit, area, start, count, &mut self.bits)
                    .await
            } else {
                client
                    .read_registers(unit, area, start, count, &mut self.regs)
                    .await
            };
            match r {
                // A late answer to a timed-out RTU request would be taken for the retry's
                // answer; TCP's transaction ids rule that out, so only TCP retries in place.
                Err(kaiwu_modbus::Error::Timeout(_))
                    if attempt < self.cfg.retries && self.framing == Framing::Tcp =>
                {
                    attempt += 1;
                    Status::add(&self.ctx.status.counters.request_errors, 1);
                }
                r => return r,
            }
        }
    }

    /// The JSON value of a point out of the last read that started at `start`.
    fn value(&self, p: &Point, start: u16) -> Option<Value> {
        let prop = p.prop.as_ref()?;
        let off = usize::from(p.cfg.address - start);
        if p.area.is_bit() {
            return self.bits.get(off).map(|b| bit_json(prop, *b));
        }
        let regs = self.regs.get(off..)?;
        match kaiwu_modbus::decode(regs, p.enc, p.order, p.cfg.bit).ok()? {
            Raw::Bool(b) => Some(bit_json(prop, b)),
            Raw::Int(i) => Some(number_json(prop, i as f64 * p.cfg.scale + p.cfg.offset)),
            Raw::Float(f) => Some(number_json(prop, f * p.cfg.scale + p.cfg.offset)),
        }
    }

    async fn all_bad(&self) {
        let points = self.points.iter();
        self.ctx
            .mark_all_bad(points.map(|p| (p.cfg.device.as_str(), p.cfg.property.as_str())))
            .await;
    }
}

enum WriteFail {
    Refused(String),
    Device(String),
    Connection(String),
}

impl Driver {
    async fn write(
        &mut self,
        client: &mut Client,
        device: &str,
        values: &Map<String, Value>,
    ) -> Result<(), WriteFail> {
        let dt = self
            .types
            .get(device)
            .ok_or_else(|| WriteFail::Refused(format!("device {device} has no thing model")))?;
        // Check everything before anything is sent: a refused value must not leave a partial write.
        let mut plan = Vec::with_capacity(values.len());
        for (prop, v) in values {
            let pi = self
                .points
                .iter()
                .position(|p| p.cfg.device == device && p.cfg.property == *prop && p.cfg.write)
                .ok_or_else(|| {
                    WriteFail::Refused(format!(
                        "no point of connector {} writes {device}.{prop}",
                        self.ctx.id
                    ))
                })?;
            check_write(dt, prop, v).map_err(|e| WriteFail::Refused(e.to_string()))?;
            plan.push((pi, wire_value(&self.points[pi], v)?));
        }
        for (pi, w) in plan {
            let p = &self.points[pi];
            Status::add(&self.ctx.status.counters.writes, 1);
            let r = match w {
                Wire::Bit(b) => client.write_coil(p.unit, p.cfg.address, b).await,
                Wire::Regs(r) if r.len() == 1 => {
                    client.write_register(p.unit, p.cfg.address, r[0]).await
                }
                Wire::Regs(r) => client.write_registers(p.unit, p.cfg.address, &r).await,
            };
            if let Err(e) = r {
                Status::add(&self.ctx.status.counters.write_errors, 1);
                let msg = format!("write {device}.{}: {e}", p.cfg.property);
                return Err(match e.is_connection() {
                    true => WriteFail::Connection(msg),
                    false => WriteFail::Device(msg),
                });
            }
            tracing::info!(connector = %self.ctx.id, device, property = %p.cfg.property, "modbus write");
        }
        // Show the written values soon: poll every group at once.
        let now = Instant::now();
        self.groups.iter_mut().for_each(|g| g.due = g.due.min(now));
        Ok(())
    }
}

enum Wire {
    Bit(bool),
    Regs(Vec<u16>),
}

/// The registers (or coil state) that make `v` appear on the point: raw = (v - offset) / scale.
fn wire_value(p: &Point, v: &Value) -> Result<Wire, WriteFail> {
    let refused = |m: String| WriteFail::Refused(format!("{}: {m}", p.cfg.property));
    if p.area == Area::Coil {
        return match v {
            Value::Bool(b) => Ok(Wire::Bit(*b)),
            Value::Number(n) => Ok(Wire::Bit(n.as_f64().unwrap_or(0.0) != 0.0)),
            _ => Err(refused(format!("{v} is not a coil state"))),
        };
    }
    let x = match v {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        _ => return Err(refused(format!("{v} is not a number"))),
    };
    let raw = (x - p.cfg.offset) / p.cfg.scale;
    let raw = match p.enc {
        Encoding::F32 | Encoding::F64 => Raw::Float(raw),
        _ => {
            let r = raw.round();
            if (r - raw).abs() > 1e-6 * raw.abs().max(1.0) {
                return Err(refused(format!(
                    "{x} is not representable with scale {} and offset {}",
                    p.cfg.scale, p.cfg.offset
                )));
            }
            Raw::Int(r as i64)
        }
    };
    kaiwu_modbus::encode(raw, p.enc, p.order)
        .map(Wire::Regs)
        .map_err(|e| refused(e.to_string()))
}
