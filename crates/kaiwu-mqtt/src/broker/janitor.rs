//! Timed work: publishing delayed wills (a heap of deadlines; whoever schedules just sends
//! to it) and expiring offline sessions (a periodic sweep, so a client that reconnects
//! often leaves no trail of timers behind).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::message::now_ms;
use super::session::Session;
use super::sync::{lock, read};
use super::{Hooks, Inner, registry, route};
use crate::codec::Will;

/// A will waiting for its delay (spec 3.1.3.2.2).
pub(crate) struct PendingWill<C> {
    pub(crate) will: Will,
    pub(crate) client: Arc<C>,
    /// Matches the timer that publishes it; a newer will for the client id replaces it.
    pub(crate) token: u64,
}

/// How often offline sessions are checked for expiry.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

pub(crate) enum TimerKind {
    Will { client_id: Arc<str>, token: u64 },
}

struct Entry {
    at: u64,
    seq: u64,
    kind: TimerKind,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Scheduling side; buffers until the janitor task starts.
pub(crate) struct Timers {
    tx: mpsc::UnboundedSender<(u64, TimerKind)>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<(u64, TimerKind)>>>,
    tokens: AtomicU64,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        let (tx, rx) = mpsc::unbounded_channel();
        Timers {
            tx,
            rx: Mutex::new(Some(rx)),
            tokens: AtomicU64::new(1),
        }
    }

    /// Runs `kind` at wall-clock `at_ms` (or at once if that passed).
    pub(crate) fn schedule(&self, at_ms: u64, kind: TimerKind) {
        let _ = self.tx.send((at_ms, kind));
    }

    pub(crate) fn token(&self) -> u64 {
        self.tokens.fetch_add(1, AtomicOrdering::Relaxed)
    }
}

/// Starts the janitor task (once; later calls find the receiver gone).
pub(crate) fn start<H: Hooks>(inner: Arc<Inner<H>>) {
    let Some(rx) = lock(&inner.timers.rx).take() else {
        return;
    };
    tokio::spawn(run(inner, rx));
}

async fn run<H: Hooks>(inner: Arc<Inner<H>>, mut rx: mpsc::UnboundedReceiver<(u64, TimerKind)>) {
    let mut heap: BinaryHeap<Reverse<Entry>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut stop = inner.shutdown.subscribe();
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let now = now_ms();
        while heap.peek().is_some_and(|Reverse(e)| e.at <= now) {
            if let Some(Reverse(e)) = heap.pop() {
                fire(&inner, e.kind).await;
            }
        }
        let wait = heap.peek().map_or(Duration::from_secs(3600), |Reverse(e)| {
            Duration::from_millis(e.at.saturating_sub(now))
        });
        tokio::select! {
            () = stopped(&mut stop) => return,
            t = rx.recv() => match t {
                Some((at, kind)) => {
                    seq += 1;
                    heap.push(Reverse(Entry { at, seq, kind }));
                }
                None => return,
            },
            _ = tokio::time::sleep(wait) => {}
            _ = sweep.tick() => expire_sessions(&inner).await,
        }
    }
}

/// Completes when shutdown starts. (The guard `wait_for` returns must not live in the
/// select's output across the handlers' awaits: it is not `Send`.)
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Ends offline sessions whose expiry passed.
async fn expire_sessions<H: Hooks>(inner: &Inner<H>) {
    let now = now_ms();
    let sessions: Vec<Arc<Session>> = read(&inner.sessions).values().cloned().collect();
    for session in sessions {
        let due = {
            let st = session.lock();
            st.link.is_none() && st.expires_at().is_some_and(|at| at <= now)
        };
        if !due || !registry::expire(inner, &session) {
            continue;
        }
        // The session ended before its will delay did: the will goes now.
        let pending = lock(&inner.wills).remove(&session.client_id);
        if let Some(p) = pending {
            route::publish_will(inner, &p.client, &session.client_id, p.will).await;
        }
    }
}

async fn fire<H: Hooks>(inner: &Inner<H>, kind: TimerKind) {
    match kind {
        TimerKind::Will { client_id, token } => {
            let pending = {
                let mut wills = lock(&inner.wills);
                match wills.get(&client_id) {
                    Some(p) if p.token == token => wills.remove(&client_id),
                    _ => None,
                }
            };
            if let Some(p) = pending {
                route::publish_will(inner, &p.client, &client_id, p.will).await;
            }
        }
    }
}
