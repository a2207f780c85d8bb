//! Kaiwu's own Modbus implementation: a bounded frame codec ([`frame`]), value encodings
//! ([`decode`], [`encode`]), read planning ([`plan_reads`]), an async [`Client`] used by the
//! Modbus connector and an async [`Server`] used by the plant simulator and benchmarks.
//!
//! Both Modbus TCP (MBAP header) and RTU framing over a byte stream ([`Framing::RtuOverTcp`])
//! are supported, and RTU on a host serial line ([`SerialPort`], [`Client::open_serial`]).
//! Every parser checks length fields before slicing and never panics.

mod client;
mod error;
pub mod frame;
mod plan;
pub mod serial;
mod server;
mod value;

pub use client::Client;
pub use error::{
    Error, GATEWAY_TARGET_FAILED, ILLEGAL_DATA_ADDRESS, ILLEGAL_DATA_VALUE, ILLEGAL_FUNCTION,
    Result, exception_name,
};
pub use plan::{MAX_READ_BITS, MAX_READ_REGISTERS, ReadRequest, plan_reads};
pub use serial::{Parity, SerialPort, SerialSettings};
pub use server::{Bank, Server, SharedBank};
pub use value::{Area, Encoding, Order, Raw, decode, encode};

/// How Modbus frames are delimited on a byte stream.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// Modbus TCP: MBAP header (transaction id, protocol 0, length, unit) before the PDU.
    #[default]
    Tcp,
    /// RTU frames (unit, PDU, CRC16) carried over TCP or another byte stream.
    RtuOverTcp,
}
