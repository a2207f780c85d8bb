//! The ThingsBoard-compatible device API over the embedded MQTT broker (interfaces.md section 4):
//! access-token login, the `v1/devices/me/...` topics, the gateway API, Sparkplug B edge nodes,
//! presence, shadows and commands. The broker (`kaiwu-mqtt`) knows MQTT only; this is where its
//! hooks meet the registry and ingest.

mod gateway;
mod hooks;
mod link;
mod presence;
mod rpc;
mod sparkplug;
mod spb_command;

pub(crate) use hooks::DeviceHooks;
pub(crate) use link::MqttLink;
