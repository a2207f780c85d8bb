//! Demo content for `kaiwu demo`: thing models of a small plant, its ISA-95 tree and devices.
//! Seeding is idempotent, so restarting the demo on the same data dir keeps what is there.

use std::collections::BTreeMap;

use kaiwu_model::DeviceType;
use kaiwu_registry::{AssetKind, NewAsset, NewDevice, Registry};

use crate::Result;

pub(crate) const TENANT: &str = "default";

const TYPES: &[&str] = &[
    r#"{"id": "cnc_mill", "name": "CNC milling machine", "properties": [
        {"id": "spindle_speed", "name": "主轴转速", "type": "float", "unit": "r/min", "min": 0, "max": 24000, "access": "read", "classification": 1},
        {"id": "spindle_load", "name": "主轴负载", "type": "float", "unit": "%", "min": 0, "max": 150, "access": "read"},
        {"id": "temperature", "name": "主轴温度", "type": "float", "unit": "Cel", "min": -20, "max": 120, "access": "read"},
        {"id": "vibration", "name": "振动", "type": "float", "unit": "mm/s", "min": 0, "max": 50, "access": "read"},
        {"id": "state", "type": "enum", "values": {"0": "idle", "1": "running", "2": "fault"}, "access": "read"},
        {"id": "running", "type": "bool", "access": "read"},
        {"id": "fault_active", "type": "bool", "access": "read"},
        {"id": "vibration_alarm", "type": "bool", "access": "read"},
        {"id": "temperature_alarm", "type": "bool", "access": "read"},
        {"id": "part_count", "name": "加工件数", "type": "int", "min": 0, "access": "read"},
        {"id": "tool_breaks", "type": "int", "min": 0, "access": "read"},
        {"id": "feed_override", "name": "进给倍率", "type": "int", "unit": "%", "min": 0, "max": 150, "access": "read_write"},
        {"id": "program_enable", "type": "bool", "access": "read_write"}],
     "events": [{"id": "tool_break", "severity": "critical", "fields": [{"id": "tool", "type": "int"}]}],
     "commands": [{"id": "stop", "params": [], "result": [{"id": "ok", "type": "bool"}]}]}"#,
    r#"{"id": "packaging_line", "name": "Packaging line", "properties": [
        {"id": "good_count", "name": "合格数", "type": "int", "min": 0, "access": "read"},
        {"id": "reject_count", "name": "废品数", "type": "int", "min": 0, "access": "read"},
        {"id": "line_speed", "name": "设定速度", "type": "float", "unit": "/min", "min": 0, "max": 600, "access": "read_write"},
        {"id": "actual_speed", "name": "实际速度", "type": "float", "unit": "/min", "min": 0, "max": 600, "access": "read"},
        {"id": "state", "type": "enum", "values": {"0": "stopped", "1": "running", "2": "blocked", "3": "starved"}, "access": "read"}],
     "commands": [{"id": "start", "params": [], "result": [{"id": "ok", "type": "bool"}]}]}"#,
    r#"{"id": "energy_meter", "name": "Three-phase energy meter", "properties": [
        {"id": "active_power", "name": "有功功率", "type": "float", "unit": "kW", "min": 0, "max": 2000, "access": "read"},
        {"id": "reactive_power", "name": "无功功率", "type": "float", "unit": "kvar", "access": "read"},
        {"id": "energy", "name": "有功电能", "type": "float", "unit": "kWh", "min": 0, "access": "read", "classification": 2},
        {"id": "voltage", "type": "float", "unit": "V", "min": 0, "max": 500, "access": "read"},
        {"id": "current", "type": "float", "unit": "A", "min": 0, "access": "read"},
        {"id": "power_factor", "type": "float", "min": -1, "max": 1, "access": "read"}]}"#,
    r#"{"id": "air_compressor", "name": "Screw air compressor", "properties": [
        {"id": "pressure", "name": "排气压力", "type": "float", "unit": "bar", "min": 0, "max": 16, "access": "read"},
        {"id": "flow", "type": "float", "unit": "m3/min", "min": 0, "max": 60, "access": "read"},
        {"id": "motor_temp", "type": "float", "unit": "Cel", "min": -20, "max": 150, "access": "read"},
        {"id": "running", "type": "bool", "access": "read"},
        {"id": "loaded", "name": "加载", "type": "bool", "access": "read"}],
     "commands": [{"id": "load", "params": [], "result": [{"id": "ok", "type": "bool"}]},
                  {"id": "unload", "params": [], "result": [{"id": "ok", "type": "bool"}]}]}"#,
];

const ASSETS: &[(&str, AssetKind, &str, Option<&str>)] = &[
    ("acme", AssetKind::Enterprise, "ACME Manufacturing", None),
    ("plant1", AssetKind::Site, "Suzhou plant", Some("acme")),
    (
        "machining",
        AssetKind::Area,
        "Machining workshop",
        Some("plant1"),
    ),
    (
        "line1",
        AssetKind::Line,
        "Machining line 1",
        Some("machining"),
    ),
    (
        "packing",
        AssetKind::Area,
        "Packing workshop",
        Some("plant1"),
    ),
    (
        "line2",
        AssetKind::Line,
        "Packaging line 2",
        Some("packing"),
    ),
];

const DEVICES: &[(&str, &str, &str, &str)] = &[
    ("mill-01", "cnc_mill", "CNC mill 01", "line1"),
    ("mill-02", "cnc_mill", "CNC mill 02", "line1"),
    ("packer-01", "packaging_line", "Packaging line 2", "line2"),
    ("meter-01", "energy_meter", "Main incomer meter", "plant1"),
    (
        "compressor-01",
        "air_compressor",
        "Air compressor 1",
        "plant1",
    ),
    (
        "compressor-02",
        "air_compressor",
        "Air compressor 2",
        "plant1",
    ),
];

/// Counts of what the demo holds.
#[derive(Debug)]
pub(crate) struct Seeded {
    pub(crate) types: usize,
    pub(crate) assets: usize,
    pub(crate) devices: usize,
}

/// Create whatever of the demo content is missing.
pub(crate) fn seed(reg: &Registry) -> Result<Seeded> {
    for doc in TYPES {
        let dt = DeviceType::from_json(doc.as_bytes()).map_err(kaiwu_registry::Error::from)?;
        if reg.device_type(TENANT, &dt.id).is_err() {
            reg.create_device_type(TENANT, dt)?;
        }
    }
    for (id, kind, name, parent) in ASSETS {
        if reg.asset(TENANT, id).is_err() {
            reg.create_asset(
                TENANT,
                NewAsset {
                    id: (*id).into(),
                    kind: *kind,
                    name: Some((*name).into()),
                    parent: parent.map(Into::into),
                    description: None,
                },
            )?;
        }
    }
    for (id, ty, name, asset) in DEVICES {
        if reg.device(TENANT, id).is_err() {
            let d = NewDevice {
                id: (*id).into(),
                device_type: (*ty).into(),
                name: Some((*name).into()),
                asset: Some((*asset).into()),
                labels: BTreeMap::from([("demo".into(), "true".into())]),
            };
            reg.create_device(TENANT, d, &kaiwu_auth::random_token(32))?;
        }
    }
    Ok(Seeded {
        types: TYPES.len(),
        assets: ASSETS.len(),
        devices: DEVICES.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn seeding_is_idempotent() {
        let reg = Registry::open_in_memory(Arc::new(kaiwu_bus::MemoryBus::new())).unwrap();
        reg.create_tenant(TENANT, "Default").unwrap();
        seed(&reg).unwrap();
        let s = seed(&reg).unwrap();
        assert_eq!(reg.device_types(TENANT).unwrap().len(), s.types);
        assert_eq!(reg.assets(TENANT, None).unwrap().len(), s.assets);
        let n = reg.count_devices(TENANT, &Default::default()).unwrap();
        assert_eq!(n, s.devices);
    }
}
