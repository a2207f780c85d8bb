//! Server-side RPC bookkeeping: each command gets a request id per device; the device's answer
//! on `v1/devices/me/rpc/response/{id}` completes the waiting HTTP call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use serde_json::Value;
use tokio::sync::oneshot;

type Key = (String, String, u64);

/// Commands waiting for their answer.
#[derive(Debug, Default)]
pub(crate) struct RpcWaiters {
    next: AtomicU64,
    waiting: Mutex<HashMap<Key, oneshot::Sender<Value>>>,
}

impl RpcWaiters {
    /// Register a new request of `device`; returns its id and where the answer will arrive.
    pub(crate) fn start(&self, tenant: &str, device: &str) -> (u64, oneshot::Receiver<Value>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        self.lock()
            .insert((tenant.to_owned(), device.to_owned(), id), tx);
        (id, rx)
    }

    /// Forget a request (answered elsewhere, timed out or never sent).
    pub(crate) fn cancel(&self, tenant: &str, device: &str, id: u64) {
        self.lock()
            .remove(&(tenant.to_owned(), device.to_owned(), id));
    }

    /// Deliver an answer; false when nobody waits for it (late, unknown or foreign id).
    pub(crate) fn answer(&self, tenant: &str, device: &str, id: u64, v: Value) -> bool {
        let tx = self
            .lock()
            .remove(&(tenant.to_owned(), device.to_owned(), id));
        tx.is_some_and(|tx| tx.send(v).is_ok())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, oneshot::Sender<Value>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_reach_only_their_own_waiter() {
        let w = RpcWaiters::default();
        let (a, mut ra) = w.start("t", "d1");
        let (b, _rb) = w.start("t", "d2");
        assert_ne!(a, b);
        assert!(
            !w.answer("t", "d2", a, Value::Bool(true)),
            "another device's id"
        );
        assert!(!w.answer("u", "d1", a, Value::Bool(true)), "another tenant");
        assert!(w.answer("t", "d1", a, Value::from(7)));
        assert_eq!(ra.try_recv().unwrap(), Value::from(7));
        assert!(!w.answer("t", "d1", a, Value::Null), "answered once");
        w.cancel("t", "d2", b);
        assert!(!w.answer("t", "d2", b, Value::Null));
    }
}
