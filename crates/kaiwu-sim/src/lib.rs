//! The simulated plant behind `kaiwu demo` and `kaiwu sim`: Modbus and OPC UA servers and
//! MQTT devices exposing realistic, seeded signals, so the platform's real connectors poll
//! and subscribe to something that behaves like equipment.
//!
//! - [`signals`]: pure, seeded, time-stepped models (CNC mill, packaging line, energy
//!   meter, air compressor); deterministic for a seed and a sequence of steps.
//! - [`plant::Plant`]: starts everything and steps the models every `tick_ms`, reading back
//!   what clients wrote to writable points first.
//! - [`modbus::modbus_layout`], [`opcua::opcua_layout`]: the point tables as data, so the
//!   demo builds its connector configuration from what the simulator really serves.
//!
//! # Modbus TCP server: `mill-01` (unit 1), `mill-02` (unit 2)
//!
//! Both mills have the same layout. Value = raw × scale + offset (offset is 0 throughout).
//! One mill, chosen by the seed, develops a bearing fault whose vibration grows with running
//! hours × `fault_growth`.
//!
//! | property          | area     | addr | encoding | order | bit | scale | unit    | rw |
//! |-------------------|----------|------|----------|-------|-----|-------|---------|----|
//! | spindle_speed     | input    | 0    | f32      | ABCD  |     | 1     | r/min   |    |
//! | spindle_load      | input    | 2    | f32      | BADC  |     | 1     | %       |    |
//! | temperature       | input    | 4    | i16      | ABCD  |     | 0.1   | °C      |    |
//! | vibration         | input    | 5    | u16      | ABCD  |     | 0.01  | mm/s    |    |
//! | state             | input    | 6    | u16      | ABCD  |     | 1     | 0 idle, 1 running, 2 fault | |
//! | fault_active      | input    | 7    | bool     | ABCD  | 1   | 1     |         |    |
//! | vibration_alarm   | input    | 7    | bool     | ABCD  | 2   | 1     | ≥ 4.5 mm/s |  |
//! | temperature_alarm | input    | 7    | bool     | ABCD  | 3   | 1     | ≥ 70 °C |    |
//! | part_count        | input    | 8    | u32      | CDAB  |     | 1     | parts   |    |
//! | tool_breaks       | input    | 10   | u16      | ABCD  |     | 1     | count   |    |
//! | feed_override     | holding  | 0    | u16      | ABCD  |     | 1     | % (0–150, default 100) | rw |
//! | program_enable    | coil     | 0    | bool     |       |     | 1     | start new programs (default on) | rw |
//! | running           | discrete | 0    | bool     |       |     | 1     |         |    |
//!
//! Input register 7 is a status word: bit 0 running, 1 fault, 2 vibration alarm,
//! 3 over-temperature. A written feed override above 150 is clamped and the clamped value
//! written back; it scales spindle load and how fast programs finish.
//!
//! # Modbus RTU-over-TCP server: `meter-01` (unit 1)
//!
//! | property       | area  | addr | encoding | order | scale | unit |
//! |----------------|-------|------|----------|-------|-------|------|
//! | active_power   | input | 0    | f32      | CDAB  | 1     | kW   |
//! | reactive_power | input | 2    | i32      | ABCD  | 0.01  | kvar |
//! | voltage        | input | 4    | u16      | ABCD  | 0.1   | V    |
//! | power_factor   | input | 5    | i16      | BADC  | 0.001 |      |
//! | current        | input | 6    | f32      | DCBA  | 1     | A    |
//! | energy         | input | 8    | f64      | ABCD  | 1     | kWh  |
//!
//! Active power is the base load plus the draw of the mills, the line and the compressors.
//!
//! # OPC UA server: `packer-01`
//!
//! Namespace `urn:kaiwu:sim` (index 2), folder `Packer01` under Objects. Anonymous and
//! `operator` / `kaiwu-sim` ([`opcua::OPCUA_USER`]) logins; security None and
//! Basic256Sha256 Sign / SignAndEncrypt.
//!
//! | property     | node                          | type   | unit       | rw |
//! |--------------|-------------------------------|--------|------------|----|
//! | good_count   | `ns=2;s=Packer01.GoodCount`   | UInt32 | packs      |    |
//! | reject_count | `ns=2;s=Packer01.RejectCount` | UInt32 | packs      |    |
//! | line_speed   | `ns=2;s=Packer01.LineSpeed`   | Double | packs/min (0–300, default 120) | rw |
//! | actual_speed | `ns=2;s=Packer01.ActualSpeed` | Double | packs/min  |    |
//! | state        | `ns=2;s=Packer01.State`       | UInt16 | 0 stopped, 1 running, 2 blocked, 3 starved | |
//!
//! Source timestamps are the tick time.
//!
//! # MQTT devices: compressors
//!
//! One per `(device id, token)` of [`plant::MqttTarget`], connecting with the token as
//! username and the device id as client id. Every tick each publishes, at QoS 1, to
//! `v1/devices/me/telemetry`:
//! `{"pressure": bar, "flow": m³/min, "motor_temp": °C, "running": bool, "loaded": bool}`.
//! It answers RPC requests on `v1/devices/me/rpc/request/{n}` with method `unload` (stop)
//! or `load` (run) by `{"ok":true}` on `v1/devices/me/rpc/response/{n}`, and reconnects
//! with backoff (0.5 s doubling to 30 s) when the connection is lost.

pub mod error;
pub mod modbus;
pub mod mqtt;
pub mod opcua;
pub mod plant;
pub mod signals;

pub use error::{Error, Result};
pub use modbus::{ModbusPoint, modbus_layout};
pub use opcua::{OpcuaPoint, opcua_layout};
pub use plant::{MqttTarget, Plant, PlantOptions};
