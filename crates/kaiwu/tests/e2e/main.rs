//! End-to-end tests: each test starts the real `kaiwu` binary on free ports with its own data
//! dir and talks to it as a user would, over HTTP and the command line.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is how a check fails"
)]

mod admin;
mod api;
mod bad_input;
mod bridge;
mod common;
mod config;
mod crash;
mod demo;
mod device_http;
mod isolation;
mod lifecycle;
mod modbus;
mod mqtt;
mod mqtt_crash;
mod mqtt_gateway;
mod mtls;
mod opcua;
mod openapi;
mod roles;
mod shadow;
mod sql;
mod telemetry;
