//! Publish/subscribe between Kaiwu's services.
//!
//! Subjects are NATS-style dot-separated tokens (`kaiwu.<tenant>.registry.device`), and patterns
//! use NATS wildcards (`*` one token, `>` the rest), so the JetStream backend that comes with
//! cluster mode maps one-to-one onto this trait: callers never change, only the `Bus` they hold.
//! Payloads are serde types: in process they travel as `Arc`s without encoding; across processes
//! they are encoded as JSON.

mod error;
mod memory;
mod message;
mod subject;

pub use error::{Error, Result};
pub use memory::MemoryBus;
pub use message::{Message, ObjectKind, Op, Payload, RegistryEvent};
pub use subject::{matches, validate_pattern, validate_subject};

use std::sync::Arc;
use tokio::sync::mpsc;

/// The publish/subscribe contract every backend implements.
///
/// `publish` never waits for subscribers: a slow subscriber loses messages (counted and logged)
/// instead of stalling the publisher. Durable, acknowledged delivery (for telemetry batches) is a
/// separate method that the storage issue adds.
pub trait Bus: Send + Sync + 'static {
    /// Publish one message; returns once it is handed to the backend.
    fn publish(&self, msg: Message) -> Result<()>;
    /// Receive every later message whose subject matches `pattern`.
    fn subscribe(&self, pattern: &str) -> Result<Subscription>;
}

/// A stream of messages matching one pattern. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    pattern: String,
    rx: mpsc::Receiver<Arc<Message>>,
}

impl Subscription {
    pub(crate) fn new(pattern: String, rx: mpsc::Receiver<Arc<Message>>) -> Self {
        Self { pattern, rx }
    }

    /// The pattern this subscription was made with.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The next message, or `None` once the bus is gone.
    pub async fn next(&mut self) -> Option<Arc<Message>> {
        self.rx.recv().await
    }

    /// A message if one is waiting, without blocking.
    pub fn try_next(&mut self) -> Option<Arc<Message>> {
        self.rx.try_recv().ok()
    }
}
