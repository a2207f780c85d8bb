//! Kaiwu's OPC UA layer over [async-opcua](https://crates.io/crates/async-opcua)
//! (MPL-2.0, pure-Rust crypto, no OpenSSL). The rest of the platform uses only
//! the types here and never names async-opcua.
//!
//! - [`Client`]: connect with None / Basic256Sha256 Sign / SignAndEncrypt and
//!   anonymous or user/password, then read, browse, subscribe, write, call.
//! - [`SimServer`]: a server for the plant simulator and tests.
//! - [`parse_node_id`]: validates `[ns=<u16>;]<i|s|g|b>=<value>` strings.
//!
//! # Reconnection
//!
//! async-opcua would normally retry a lost session forever in the background,
//! which hides an outage. Here its retries are off (`session_retry_limit(0)`,
//! `Session::disable_reconnects`) and our own task drives the session event
//! loop. The session counts as dead when the transport closes (server killed,
//! port closed: noticed at once) or when three keep-alive reads in a row fail
//! (a hung server or a silent network: keep-alive every `timeout` clamped to
//! 1..=5 s, each read bounded by `timeout`, so roughly 3 x `timeout` plus an
//! interval). Then the loop is dropped (closing the socket),
//! [`Client::is_connected`] turns false, every subscription's forwarding task
//! drops its clone of the caller's `tx`, and later requests fail with
//! [`Error::NotConnected`]. The caller (the platform connector) drops the
//! client and calls [`Client::connect`] and [`Client::subscribe`] again with
//! its own backoff.
//!
//! # Certificates
//!
//! Each side keeps a PKI folder: `own/cert.der` and `private/private.pem` are
//! generated on first use, `trusted/` and `rejected/` form the trust store.
//! The simulator accepts every client certificate.

mod client;
mod convert;
mod error;
mod node_id;
mod server;
mod services;
mod subscription;
mod types;

pub use client::Client;
pub use error::{Error, Result};
pub use node_id::parse_node_id;
pub use server::{MethodSpec, ServerOptions, SimServer, VarSpec};
pub use subscription::{ITEMS_PER_CALL, ITEMS_PER_SUBSCRIPTION};
pub use types::{
    BrowseEntry, ClientOptions, DataType, Identity, Monitored, Sample, Security, Status, Val,
};
