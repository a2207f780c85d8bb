//! `kaiwu sim`: only the simulated plant, for a platform running elsewhere.

use std::net::SocketAddr;
use std::path::PathBuf;

use kaiwu_sim::{MqttTarget, Plant, PlantOptions};

use crate::serve::{announce, shutdown_signal};
use crate::{Error, Result};

/// Where the simulated plant listens and publishes.
#[derive(Debug, Clone)]
pub struct SimSettings {
    /// Modbus TCP server of the mills.
    pub modbus_tcp: SocketAddr,
    /// Modbus RTU-over-TCP server of the energy meter.
    pub modbus_rtu: SocketAddr,
    /// OPC UA server of the packaging line.
    pub opcua: SocketAddr,
    /// The platform's MQTT listener (`mqtt://host:port` or `host:port`) for the compressors.
    pub platform: Option<String>,
    /// `(device, access token)` of each MQTT compressor.
    pub devices: Vec<(String, String)>,
    /// Seed of the signal models.
    pub seed: u64,
    /// Model step, ms.
    pub tick_ms: u64,
    /// Speed-up of the developing bearing fault.
    pub fault_growth: f64,
    /// OPC UA server certificate and trust store.
    pub pki_dir: PathBuf,
}

/// Run the plant until SIGINT/SIGTERM.
pub async fn run_sim(s: SimSettings) -> Result<()> {
    let mut opts = PlantOptions::local(s.pki_dir);
    opts.modbus_tcp = s.modbus_tcp;
    opts.modbus_rtu = s.modbus_rtu;
    opts.opcua = s.opcua;
    opts.seed = s.seed;
    opts.tick_ms = s.tick_ms;
    opts.fault_growth = s.fault_growth;
    if let Some(p) = s.platform {
        let addr = p
            .strip_prefix("mqtt://")
            .unwrap_or(&p)
            .trim_end_matches('/')
            .to_owned();
        opts.mqtt = Some(MqttTarget {
            addr,
            devices: s.devices,
        });
    }
    let stop = shutdown_signal()?;
    let plant = Plant::start(opts)
        .await
        .map_err(|e| Error::Config(format!("simulated plant: {e}")))?;
    announce(&format!(
        "kaiwu sim ready modbus_tcp={} modbus_rtu={} opcua={}",
        plant.modbus_tcp_addr(),
        plant.modbus_rtu_addr(),
        plant.opcua_endpoint()
    ));
    stop.await;
    plant.stop().await;
    Ok(())
}
