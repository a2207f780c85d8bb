//! What a running connector reports: its state, last error, counters and per-device health.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use kaiwu_core::now_ms;
use serde::Serialize;

/// Connection state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Trying to (re)connect.
    Connecting,
    /// Connected and working.
    Connected,
    /// The last attempt failed; retrying after a backoff.
    Error,
    /// Configured but not enabled.
    Disabled,
}

/// Counters of one connector.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) request_errors: AtomicU64,
    pub(crate) points: AtomicU64,
    pub(crate) rows: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) write_errors: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) messages: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    state: State,
    since_ms: i64,
    last_error: Option<String>,
    last_error_ms: Option<i64>,
    last_success_ms: Option<i64>,
    /// Device -> whether its last read succeeded.
    devices: BTreeMap<String, bool>,
}

/// Shared status of one connector, updated by its task.
#[derive(Debug)]
pub(crate) struct Status {
    id: String,
    kind: &'static str,
    inner: Mutex<Inner>,
    pub(crate) counters: Counters,
}

/// The status document of `GET /api/connectors/{id}/status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusDoc {
    /// Connector id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// connected, connecting, error or disabled.
    pub state: State,
    /// Since when it is in this state, epoch ms.
    pub since_ms: i64,
    /// Last failure, if any.
    pub last_error: Option<String>,
    /// When it happened, epoch ms.
    pub last_error_ms: Option<i64>,
    /// Last successful read or message, epoch ms.
    pub last_success_ms: Option<i64>,
    /// Counters since the connector (re)started.
    pub counters: BTreeMap<&'static str, u64>,
    /// Devices and whether their values are current (`good`) or not (`bad`).
    pub devices: BTreeMap<String, &'static str>,
}

impl Status {
    pub(crate) fn new(id: &str, kind: &'static str, state: State) -> Self {
        Self {
            id: id.to_owned(),
            kind,
            inner: Mutex::new(Inner {
                state,
                since_ms: now_ms(),
                last_error: None,
                last_error_ms: None,
                last_success_ms: None,
                devices: BTreeMap::new(),
            }),
            counters: Counters::default(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn set_state(&self, state: State) {
        self.with(|i| {
            if i.state != state {
                i.state = state;
                i.since_ms = now_ms();
            }
        });
        if state == State::Connected {
            self.counters.connects.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn state(&self) -> State {
        self.with(|i| i.state)
    }

    pub(crate) fn error(&self, msg: impl Into<String>) {
        let msg = msg.into();
        tracing::warn!(connector = %self.id, kind = self.kind, error = %msg, "connector error");
        self.with(|i| {
            i.last_error = Some(msg);
            i.last_error_ms = Some(now_ms());
        });
    }

    pub(crate) fn success(&self) {
        self.with(|i| i.last_success_ms = Some(now_ms()));
    }

    /// Record a device's health; returns whether it changed.
    pub(crate) fn set_device(&self, device: &str, good: bool) -> bool {
        self.with(|i| i.devices.insert(device.to_owned(), good) != Some(good))
    }

    /// Whether `device`'s last read succeeded (None: not yet read).
    pub(crate) fn device(&self, device: &str) -> Option<bool> {
        self.with(|i| i.devices.get(device).copied())
    }

    pub(crate) fn last_success(&self) -> Option<i64> {
        self.with(|i| i.last_success_ms)
    }

    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn doc(&self) -> StatusDoc {
        let c = &self.counters;
        let counters = [
            ("requests", &c.requests),
            ("request_errors", &c.request_errors),
            ("points", &c.points),
            ("rows", &c.rows),
            ("rejected", &c.rejected),
            ("writes", &c.writes),
            ("write_errors", &c.write_errors),
            ("connects", &c.connects),
            ("messages", &c.messages),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.load(Ordering::Relaxed)))
        .collect();
        self.with(|i| StatusDoc {
            id: self.id.clone(),
            kind: self.kind.to_owned(),
            state: i.state,
            since_ms: i.since_ms,
            last_error: i.last_error.clone(),
            last_error_ms: i.last_error_ms,
            last_success_ms: i.last_success_ms,
            counters,
            devices: i
                .devices
                .iter()
                .map(|(d, g)| (d.clone(), if *g { "good" } else { "bad" }))
                .collect(),
        })
    }
}
