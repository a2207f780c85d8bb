//! The whole simulated plant: starts the protocol servers and MQTT devices, then one task
//! steps every model each tick and copies the samples out, after reading back what clients
//! wrote to writable points.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kaiwu_modbus::SharedBank;
use kaiwu_opcua::SimServer;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::Result;
use crate::modbus::{self, MILLS, ModbusPoint, ModbusServers, PointValue};
use crate::mqtt::{self, Compressors, DeviceConn};
use crate::opcua;
use crate::signals::{
    AirCompressor, CncMill, CompressorSample, EnergyMeter, MillConfig, PackagingLine,
    line_power_kw, mill_power_kw,
};

/// Where the MQTT devices connect, and as whom.
#[derive(Debug, Clone)]
pub struct MqttTarget {
    /// `host:port` of the platform's MQTT listener.
    pub addr: String,
    /// `(device id, access token)` per compressor; the token is the MQTT username.
    pub devices: Vec<(String, String)>,
}

/// How to run the plant.
#[derive(Debug, Clone)]
pub struct PlantOptions {
    /// Seed of every model: the same seed gives the same signals for the same ticks.
    pub seed: u64,
    /// Model step and publishing interval, ms (default 1000).
    pub tick_ms: u64,
    /// Modbus TCP server of the mills (port 0 picks a free port).
    pub modbus_tcp: SocketAddr,
    /// RTU-over-TCP server of the energy meter.
    pub modbus_rtu: SocketAddr,
    /// OPC UA server of the packaging line.
    pub opcua: SocketAddr,
    /// OPC UA server certificate and trust store.
    pub pki_dir: PathBuf,
    /// MQTT compressors; none without a target.
    pub mqtt: Option<MqttTarget>,
    /// Speed-up of the bearing fault (1.0 = hours; 60.0 = minutes).
    pub fault_growth: f64,
}

impl PlantOptions {
    /// Defaults on 127.0.0.1 with free ports, seed 42, 1 s ticks, no MQTT.
    pub fn local(pki_dir: impl Into<PathBuf>) -> PlantOptions {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        PlantOptions {
            seed: 42,
            tick_ms: 1000,
            modbus_tcp: any,
            modbus_rtu: any,
            opcua: any,
            pki_dir: pki_dir.into(),
            mqtt: None,
            fault_growth: 1.0,
        }
    }
}

/// A running simulated plant. Dropping it aborts everything without waiting; [`Plant::stop`]
/// also lets the MQTT devices disconnect cleanly.
#[derive(Debug)]
pub struct Plant {
    modbus: ModbusServers,
    /// `None` only once [`Plant::stop`] took it.
    opcua: Option<Arc<SimServer>>,
    opcua_endpoint: String,
    ticker: JoinHandle<()>,
    devices: Vec<JoinHandle<()>>,
}

impl Plant {
    /// Starts the servers, the devices and the tick task. The first tick has run when this
    /// returns, so every register holds a value.
    pub async fn start(opts: PlantOptions) -> Result<Plant> {
        let mills: Vec<CncMill> = (0..MILLS.len() as u64)
            .map(|i| {
                CncMill::new(MillConfig {
                    seed: opts.seed.wrapping_add(i),
                    // One machine, chosen by the seed, has a developing bearing fault.
                    bearing_fault: opts.seed % MILLS.len() as u64 == i,
                    fault_growth: opts.fault_growth,
                })
            })
            .collect();
        let defaults: Vec<(&str, &str, PointValue)> = MILLS
            .iter()
            .flat_map(|(d, _)| {
                [
                    ("feed_override", PointValue::Num(100.0)),
                    ("program_enable", PointValue::Bool(true)),
                ]
                .map(|(p, v)| (*d, p, v))
            })
            .collect();
        let servers = ModbusServers::start(opts.modbus_tcp, opts.modbus_rtu, &defaults).await?;
        let line = PackagingLine::new(opts.seed);
        let opcua = match opcua::start(opts.opcua, &opts.pki_dir, &line.sample()).await {
            Ok(s) => Arc::new(s),
            Err(e) => {
                servers.stop();
                return Err(e);
            }
        };
        let opcua_endpoint = opcua.endpoint_url();
        let targets = opts
            .mqtt
            .clone()
            .map(|t| t.devices.into_iter().map(move |d| (t.addr.clone(), d)));
        let targets: Vec<_> = targets.into_iter().flatten().collect();
        let compressors: Compressors = Arc::new(Mutex::new(
            (0..targets.len() as u64)
                .map(|i| AirCompressor::new(opts.seed.wrapping_add(100 + i)))
                .collect(),
        ));
        let mut senders = Vec::new();
        let mut devices = Vec::new();
        for (index, (addr, (device, token))) in targets.into_iter().enumerate() {
            let (tx, rx) = watch::channel(None);
            senders.push(tx);
            let conn = DeviceConn {
                addr,
                device,
                token,
                index,
            };
            devices.push(mqtt::spawn_device(conn, Arc::clone(&compressors), rx));
        }
        let (tcp_layout, rtu_layout) = modbus::modbus_layout();
        let mut ticker = Ticker {
            dt: opts.tick_ms.max(1) as f64 / 1000.0,
            tcp_layout,
            rtu_layout,
            mills,
            mill_banks: servers.mills.clone(),
            meter: EnergyMeter::new(opts.seed),
            meter_bank: Arc::clone(&servers.meter),
            line,
            opcua: Arc::clone(&opcua),
            compressors,
            senders,
        };
        ticker.tick(now_ms());
        let period = Duration::from_millis(opts.tick_ms.max(1));
        let ticker = tokio::spawn(async move {
            let mut interval =
                tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            // After a stall, keep the model's step regular instead of bursting to catch up.
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                ticker.tick(now_ms());
            }
        });
        Ok(Plant {
            modbus: servers,
            opcua: Some(opcua),
            opcua_endpoint,
            ticker,
            devices,
        })
    }

    /// Address of the Modbus TCP server (mills, units 1 and 2).
    pub fn modbus_tcp_addr(&self) -> SocketAddr {
        self.modbus.tcp_addr
    }

    /// Address of the Modbus RTU-over-TCP server (energy meter, unit 1).
    pub fn modbus_rtu_addr(&self) -> SocketAddr {
        self.modbus.rtu_addr
    }

    /// `opc.tcp://` endpoint URL of the OPC UA server (packaging line).
    pub fn opcua_endpoint(&self) -> String {
        self.opcua_endpoint.clone()
    }

    /// Stops the tick task, disconnects the MQTT devices and stops the servers.
    pub async fn stop(mut self) {
        self.ticker.abort();
        // Dropping the ticker drops the sample senders, which ends the device tasks.
        let _ = (&mut self.ticker).await;
        for d in std::mem::take(&mut self.devices) {
            let abort = d.abort_handle();
            if tokio::time::timeout(Duration::from_secs(3), d)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        self.modbus.stop();
        if let Some(server) = self.opcua.take() {
            match Arc::try_unwrap(server) {
                Ok(server) => server.stop().await,
                Err(_) => tracing::warn!("opc ua simulator still referenced; not stopped"),
            }
        }
    }
}

impl Drop for Plant {
    fn drop(&mut self) {
        // Detached tasks would otherwise keep serving after the plant is gone.
        self.ticker.abort();
        for d in &self.devices {
            d.abort();
        }
        self.modbus.stop();
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The models and the places their samples go.
struct Ticker {
    dt: f64,
    tcp_layout: Vec<ModbusPoint>,
    rtu_layout: Vec<ModbusPoint>,
    mills: Vec<CncMill>,
    mill_banks: Vec<SharedBank>,
    meter: EnergyMeter,
    meter_bank: SharedBank,
    line: PackagingLine,
    opcua: Arc<SimServer>,
    compressors: Compressors,
    senders: Vec<watch::Sender<Option<CompressorSample>>>,
}

impl Ticker {
    /// One step of every model. Failures are logged: one bad value must not stop the plant.
    fn tick(&mut self, ts_ms: i64) {
        if let Err(error) = self.read_back(ts_ms) {
            tracing::warn!(%error, "reading back written points failed");
        }
        let mut kw = 0.0;
        for (i, (mill, bank)) in self.mills.iter_mut().zip(&self.mill_banks).enumerate() {
            let s = mill.step(self.dt);
            kw += mill_power_kw(&s);
            let mut bank = bank.write().unwrap_or_else(PoisonError::into_inner);
            if let Err(error) = modbus::store_all(
                &mut bank,
                &self.tcp_layout,
                MILLS[i].0,
                &modbus::mill_values(&s),
            ) {
                tracing::warn!(%error, device = MILLS[i].0, "storing registers failed");
            }
        }
        let line = self.line.step(self.dt);
        kw += line_power_kw(&line);
        if let Err(error) = opcua::publish(&self.opcua, &line, ts_ms) {
            tracing::warn!(%error, device = opcua::PACKER, "publishing opc ua values failed");
        }
        let samples: Vec<CompressorSample> = {
            let mut list = self
                .compressors
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            list.iter_mut().map(|c| c.step(self.dt)).collect()
        };
        for (s, tx) in samples.iter().zip(&self.senders) {
            kw += s.power_kw();
            tx.send_replace(Some(*s));
        }
        let m = self.meter.step(self.dt, kw);
        let mut bank = self
            .meter_bank
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Err(error) = modbus::store_all(
            &mut bank,
            &self.rtu_layout,
            modbus::METER.0,
            &modbus::meter_values(&m),
        ) {
            tracing::warn!(%error, device = modbus::METER.0, "storing registers failed");
        }
    }

    /// Applies what clients wrote to writable points; values the model clamps are written
    /// back (under the same lock, so no client write in between is lost).
    fn read_back(&mut self, ts_ms: i64) -> Result<()> {
        for (i, (mill, bank)) in self.mills.iter_mut().zip(&self.mill_banks).enumerate() {
            let device = MILLS[i].0;
            let mut bank = bank.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(p) = modbus::point(&self.tcp_layout, device, "feed_override") {
                let written = modbus::load(&bank, p)?.as_f64();
                let effective =
                    mill.set_feed_override(written.clamp(0.0, f64::from(u16::MAX)) as u16);
                if f64::from(effective) != written {
                    modbus::store(&mut bank, p, PointValue::Num(f64::from(effective)))?;
                }
            }
            if let Some(p) = modbus::point(&self.tcp_layout, device, "program_enable") {
                mill.set_enabled(modbus::load(&bank, p)?.as_f64() != 0.0);
            }
        }
        if let Some(written) = opcua::written_line_speed(&self.opcua) {
            let effective = self.line.set_line_speed(written);
            if effective != written {
                opcua::set_line_speed(&self.opcua, effective, ts_ms)?;
            }
        }
        Ok(())
    }
}
