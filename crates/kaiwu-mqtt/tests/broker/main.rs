//! End-to-end tests of the embedded broker against real third-party clients:
//! `mosquitto_pub`/`mosquitto_sub` (MQTT 3.1.1 and 5) and Python paho-mqtt (through
//! `KW_TEST_PYTHON`, set by `scripts/test`), plus raw sockets for misbehaving peers.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is how a check fails"
)]

mod common;
mod load;
mod mosquitto;
mod paho;
mod raw;
