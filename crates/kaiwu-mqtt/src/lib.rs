//! Device access over MQTT: the packet codec (MQTT 3.1.1 and 5), Sparkplug B payloads,
//! ThingsBoard-compatible payload decoding, and (built on those) the embedded broker.
//! Protocol only: storage and the registry are reached through traits the node implements.

pub mod broker;
pub mod client;
pub mod codec;
pub mod payload;
pub mod sparkplug;
