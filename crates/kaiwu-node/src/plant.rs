//! The simulated plant of `kaiwu demo`, connected the way a real one would be: its Modbus and
//! OPC UA servers through connectors stored in the registry, its MQTT devices through the
//! node's own broker with their access tokens.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use kaiwu_modbus::{Area, Encoding};
use kaiwu_registry::Registry;
use kaiwu_sim::{MqttTarget, Plant, PlantOptions};
use serde_json::{Value, json};

use crate::demo::TENANT;
use crate::{Error, Result};

/// Devices of the plant that publish over MQTT.
const MQTT_DEVICES: [&str; 2] = ["compressor-01", "compressor-02"];

/// Start the plant on free loopback ports and point the demo connectors at it.
pub(crate) async fn start(reg: &Arc<Registry>, data_dir: &Path, mqtt: SocketAddr) -> Result<Plant> {
    // The demo's MQTT devices get fresh tokens each start: the registry keeps only hashes.
    let mut devices = Vec::new();
    for d in MQTT_DEVICES {
        let token = kaiwu_auth::random_token(32);
        reg.set_device_token(TENANT, d, &token)?;
        devices.push((d.to_owned(), token));
    }
    let mut opts = PlantOptions::local(data_dir.join("sim").join("pki"));
    opts.mqtt = Some(MqttTarget {
        addr: loopback(mqtt).to_string(),
        devices,
    });
    // The bearing fault of one mill develops over minutes instead of hours.
    opts.fault_growth = 60.0;
    let plant = Plant::start(opts)
        .await
        .map_err(|e| Error::Config(format!("simulated plant: {e}")))?;
    let (tcp, rtu) = kaiwu_sim::modbus_layout();
    let docs = [
        modbus_doc("demo-mills", "modbus_tcp", plant.modbus_tcp_addr(), &tcp),
        modbus_doc("demo-meter", "modbus_rtu", plant.modbus_rtu_addr(), &rtu),
        opcua_doc("demo-packer", &plant.opcua_endpoint()),
    ];
    for doc in docs {
        upsert(reg, &doc)?;
    }
    Ok(plant)
}

/// Where a local client reaches a listener: a wildcard listener is dual-stack, so IPv4 loopback.
fn loopback(listener: SocketAddr) -> SocketAddr {
    match listener.ip() {
        ip if ip.is_unspecified() => SocketAddr::new([127, 0, 0, 1].into(), listener.port()),
        _ => listener,
    }
}

fn upsert(reg: &Registry, doc: &Value) -> Result<()> {
    let cfg = kaiwu_connect::validate(reg, TENANT, doc).map_err(|e| {
        Error::Config(format!(
            "demo connector {}: {}",
            doc["id"],
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?;
    match reg.connector(TENANT, &cfg.id) {
        Ok(_) => reg.update_connector(TENANT, &cfg.id, cfg.enabled, doc)?,
        Err(_) => reg.create_connector(TENANT, &cfg.id, cfg.kind.as_str(), cfg.enabled, doc)?,
    };
    Ok(())
}

fn modbus_doc(id: &str, kind: &str, addr: SocketAddr, points: &[kaiwu_sim::ModbusPoint]) -> Value {
    let points: Vec<Value> = points
        .iter()
        .map(|p| {
            let mut v = json!({
                "device": p.device, "property": p.property, "unit_id": p.unit,
                "area": area(p.area), "address": p.address, "order": p.order,
                "scale": p.scale, "offset": p.offset, "write": p.writable,
            });
            if !matches!(p.area, Area::Coil | Area::Discrete) {
                v["encoding"] = json!(encoding(p.encoding));
            }
            if let Some(b) = p.bit {
                v["bit"] = json!(b);
                v["encoding"] = json!("u16");
            }
            v
        })
        .collect();
    json!({"id": id, "kind": kind, "enabled": true, "name": "Simulated plant (demo)",
           "address": addr.to_string(), "poll_ms": 1000, "timeout_ms": 1000, "points": points})
}

fn opcua_doc(id: &str, endpoint: &str) -> Value {
    let nodes: Vec<Value> = kaiwu_sim::opcua_layout()
        .iter()
        .map(|p| {
            json!({"device": p.device, "property": p.property, "node_id": p.node,
                        "mode": "subscribe", "sampling_ms": 500.0, "write": p.writable})
        })
        .collect();
    json!({"id": id, "kind": "opcua", "enabled": true, "name": "Simulated packaging line (demo)",
           "endpoint": endpoint, "security": "None", "trust_server": true,
           "publishing_ms": 500, "nodes": nodes})
}

fn area(a: Area) -> &'static str {
    match a {
        Area::Coil => "coil",
        Area::Discrete => "discrete",
        Area::Input => "input",
        Area::Holding => "holding",
    }
}

fn encoding(e: Encoding) -> &'static str {
    match e {
        Encoding::U16 => "u16",
        Encoding::I16 => "i16",
        Encoding::U32 => "u32",
        Encoding::I32 => "i32",
        Encoding::F32 => "f32",
        Encoding::F64 => "f64",
        Encoding::Bool => "bool",
    }
}
