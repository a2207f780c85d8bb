//! Commands for devices on the HTTP device API: such a device long-polls
//! `GET /api/v1/{token}/rpc`; a command finds the waiting poll, and the device's
//! `POST /api/v1/{token}/rpc/{id}` completes the command.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use tokio::sync::oneshot;

/// A command handed to a polling device.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HttpCommand {
    pub(crate) id: u64,
    pub(crate) method: String,
    pub(crate) params: Value,
}

type Device = (String, String);

/// Polls waiting for a command, and commands waiting for their answer.
#[derive(Debug, Default)]
pub(crate) struct HttpRpc {
    next: AtomicU64,
    polls: Mutex<HashMap<Device, VecDeque<oneshot::Sender<HttpCommand>>>>,
    answers: Mutex<HashMap<(String, String, u64), oneshot::Sender<Value>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl HttpRpc {
    /// A device starts polling; the receiver yields the next command for it.
    pub(crate) fn poll(&self, tenant: &str, device: &str) -> oneshot::Receiver<HttpCommand> {
        let (tx, rx) = oneshot::channel();
        lock(&self.polls)
            .entry((tenant.to_owned(), device.to_owned()))
            .or_default()
            .push_back(tx);
        rx
    }

    /// Hand a command to a polling device; `None` when none polls (the device is offline for
    /// HTTP). The receiver yields the device's answer.
    pub(crate) fn offer(
        &self,
        tenant: &str,
        device: &str,
        method: &str,
        params: Value,
    ) -> Option<(u64, oneshot::Receiver<Value>)> {
        let key = (tenant.to_owned(), device.to_owned());
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        lock(&self.answers).insert((key.0.clone(), key.1.clone(), id), tx);
        let cmd = HttpCommand {
            id,
            method: method.to_owned(),
            params,
        };
        let mut polls = lock(&self.polls);
        let queue = polls.get_mut(&key)?;
        // Polls whose client went away have dropped their receiver: skip them.
        while let Some(p) = queue.pop_front() {
            if p.send(cmd.clone()).is_ok() {
                return Some((id, rx));
            }
        }
        drop(polls);
        lock(&self.answers).remove(&(key.0, key.1, id));
        None
    }

    /// The device answered command `id`; false when nobody waits for it.
    pub(crate) fn answer(&self, tenant: &str, device: &str, id: u64, v: Value) -> bool {
        let tx = lock(&self.answers).remove(&(tenant.to_owned(), device.to_owned(), id));
        tx.is_some_and(|tx| tx.send(v).is_ok())
    }

    /// Forget a command that timed out.
    pub(crate) fn cancel(&self, tenant: &str, device: &str, id: u64) {
        lock(&self.answers).remove(&(tenant.to_owned(), device.to_owned(), id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_reach_live_polls_and_answers_their_own_command() {
        let r = HttpRpc::default();
        assert!(
            r.offer("t", "d", "stop", Value::Null).is_none(),
            "nobody polls"
        );
        let gone = r.poll("t", "d");
        drop(gone);
        let mut live = r.poll("t", "d");
        let (id, mut answer) = r.offer("t", "d", "stop", Value::from(1)).unwrap();
        let cmd = live.try_recv().unwrap();
        assert_eq!((cmd.id, cmd.method.as_str()), (id, "stop"));
        assert!(!r.answer("t", "other", id, Value::Null));
        assert!(r.answer("t", "d", id, Value::from("done")));
        assert_eq!(answer.try_recv().unwrap(), Value::from("done"));
        assert!(
            r.offer("t", "d", "stop", Value::Null).is_none(),
            "poll used up"
        );
    }
}
