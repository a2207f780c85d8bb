//! Durable broker state in SQLite (`<state_dir>/mqtt.db`): persistent sessions, their
//! subscriptions and queued or unacknowledged messages, and retained messages.
//!
//! One writer thread owns the connection and applies operations in the order they were
//! sent, many per transaction (group commit). Callers that must not acknowledge before the
//! data is stored send [`Op::Sync`] after their operations and await it.

mod load;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

use rusqlite::{Connection, Statement, Transaction, params};
use tokio::sync::oneshot;

use super::error::{Error, Result};
use super::message::{Message, Queued};
use super::tree::Sub;

pub(crate) use load::Loaded;

/// Most operations applied in one transaction.
const BATCH: usize = 4096;

/// One change to the stored state.
#[derive(Debug)]
pub(crate) enum Op {
    /// Insert or update a persistent session.
    Session {
        client_id: Arc<str>,
        expiry: u32,
        disconnected_at: Option<u64>,
    },
    /// Delete a session with its subscriptions and messages.
    DropSession(Arc<str>),
    Subscribe {
        client_id: Arc<str>,
        filter: String,
        sub: Sub,
    },
    Unsubscribe {
        client_id: Arc<str>,
        filter: String,
    },
    /// Insert or replace a queued (`packet_id` None) or in-flight message.
    Message {
        client_id: Arc<str>,
        q: Queued,
        packet_id: Option<u16>,
        rel_sent: bool,
    },
    /// Delivery state of a stored message changed.
    Delivery {
        id: u64,
        packet_id: Option<u16>,
        rel_sent: bool,
    },
    /// A stored message was acknowledged (or dropped).
    Delete(u64),
    /// Set the retained message of its topic.
    Retain(Arc<Message>),
    Unretain(String),
    /// Answered with `true` once every earlier operation is committed (`false` if that
    /// failed).
    Sync(oneshot::Sender<bool>),
    /// Commit, close the database and stop the thread; answered when closed.
    Close(oneshot::Sender<()>),
}

/// Handle to the writer thread.
#[derive(Debug)]
pub(crate) struct Store {
    tx: mpsc::Sender<Op>,
}

impl Store {
    /// Opens (creating as needed) `dir/mqtt.db`, drops sessions that expired while the
    /// broker was down, loads the rest, and starts the writer thread.
    pub(crate) fn open(dir: &Path, now_ms: u64) -> Result<(Store, Loaded)> {
        std::fs::create_dir_all(dir).map_err(|source| Error::StateDir {
            path: dir.to_owned(),
            source,
        })?;
        let mut conn = Connection::open(dir.join("mqtt.db")).map_err(store("open"))?;
        load::init(&conn)?;
        let loaded = load::load(&mut conn, now_ms)?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("kaiwu-mqtt-store".into())
            .spawn(move || writer(conn, rx))
            .map_err(|source| Error::StateDir {
                path: dir.to_owned(),
                source,
            })?;
        Ok((Store { tx }, loaded))
    }

    /// Queues `op`; silently ignored after [`Op::Close`] (shutdown).
    pub(crate) fn send(&self, op: Op) {
        let _ = self.tx.send(op);
    }

    /// Waits until everything sent before is committed. `false` if it failed or the store
    /// is closed.
    pub(crate) async fn sync(&self) -> bool {
        self.sync_handle().await.unwrap_or(false)
    }

    /// Like [`Store::sync`], for callers that keep the wait in a queue.
    pub(crate) fn sync_handle(&self) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Sync(tx));
        rx
    }

    /// Commits outstanding work and closes the database.
    pub(crate) async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Op::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

pub(crate) fn store(op: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    move |source| Error::Store { op, source }
}

fn writer(mut conn: Connection, rx: mpsc::Receiver<Op>) {
    let mut batch = Vec::with_capacity(64);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut syncs = Vec::new();
        let mut close = None;
        let ok = match apply_batch(&mut conn, &mut batch, &mut syncs, &mut close) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "mqtt state store write failed");
                false
            }
        };
        batch.clear();
        for s in syncs {
            let _ = s.send(ok);
        }
        if let Some(done) = close {
            drop(conn);
            let _ = done.send(());
            return;
        }
    }
}

fn apply_batch(
    conn: &mut Connection,
    batch: &mut Vec<Op>,
    syncs: &mut Vec<oneshot::Sender<bool>>,
    close: &mut Option<oneshot::Sender<()>>,
) -> Result<()> {
    let tx = conn.transaction().map_err(store("begin"))?;
    {
        // Statements prepared once per batch (the crate's SQLite has no statement cache).
        let mut cache = HashMap::new();
        for op in batch.drain(..) {
            match op {
                Op::Sync(s) => syncs.push(s),
                Op::Close(c) => *close = Some(c),
                op => apply(&tx, &mut cache, op).map_err(store("write"))?,
            }
        }
    }
    tx.commit().map_err(store("commit"))
}

fn apply<'t>(
    tx: &'t Transaction<'_>,
    cache: &mut HashMap<&'static str, Statement<'t>>,
    op: Op,
) -> rusqlite::Result<()> {
    match op {
        Op::Session {
            client_id,
            expiry,
            disconnected_at,
        } => {
            stmt(
                cache,
                tx,
                "INSERT INTO sessions (client_id, expiry, disconnected_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (client_id) DO UPDATE SET expiry = ?2, disconnected_at = ?3",
            )?
            .execute(params![&*client_id, expiry, disconnected_at.map(to_i64)])?;
        }
        Op::DropSession(client_id) => {
            for sql in [
                "DELETE FROM messages WHERE client_id = ?1",
                "DELETE FROM subscriptions WHERE client_id = ?1",
                "DELETE FROM sessions WHERE client_id = ?1",
            ] {
                stmt(cache, tx, sql)?.execute([&*client_id])?;
            }
        }
        Op::Subscribe {
            client_id,
            filter,
            sub,
        } => {
            stmt(
                cache,
                tx,
                "INSERT OR REPLACE INTO subscriptions (client_id, filter, options, sub_id)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                &*client_id,
                filter,
                load::options_byte(&sub.opts),
                sub.id
            ])?;
        }
        Op::Unsubscribe { client_id, filter } => {
            stmt(
                cache,
                tx,
                "DELETE FROM subscriptions WHERE client_id = ?1 AND filter = ?2",
            )?
            .execute(params![&*client_id, filter])?;
        }
        Op::Message {
            client_id,
            q,
            packet_id,
            rel_sent,
        } => {
            let Some(blob) = load::encode_queued(&q) else {
                return Ok(());
            };
            stmt(
                cache,
                tx,
                "INSERT OR REPLACE INTO messages
                 (id, client_id, packet_id, rel_sent, expires_at, packet)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                to_i64(q.id),
                &*client_id,
                packet_id,
                rel_sent,
                q.msg.expires_at.map(to_i64),
                blob
            ])?;
        }
        Op::Delivery {
            id,
            packet_id,
            rel_sent,
        } => {
            stmt(
                cache,
                tx,
                "UPDATE messages SET packet_id = ?2, rel_sent = ?3 WHERE id = ?1",
            )?
            .execute(params![to_i64(id), packet_id, rel_sent])?;
        }
        Op::Delete(id) => {
            stmt(cache, tx, "DELETE FROM messages WHERE id = ?1")?.execute([to_i64(id)])?;
        }
        Op::Retain(msg) => {
            let Some(blob) = load::encode_retained(&msg) else {
                return Ok(());
            };
            stmt(
                cache,
                tx,
                "INSERT OR REPLACE INTO retained (topic, expires_at, packet) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![msg.topic, msg.expires_at.map(to_i64), blob])?;
        }
        Op::Unretain(topic) => {
            stmt(cache, tx, "DELETE FROM retained WHERE topic = ?1")?.execute([topic])?;
        }
        Op::Sync(_) | Op::Close(_) => {}
    }
    Ok(())
}

fn stmt<'c, 't>(
    cache: &'c mut HashMap<&'static str, Statement<'t>>,
    tx: &'t Transaction<'_>,
    sql: &'static str,
) -> rusqlite::Result<&'c mut Statement<'t>> {
    match cache.entry(sql) {
        Entry::Occupied(e) => Ok(e.into_mut()),
        Entry::Vacant(v) => Ok(v.insert(tx.prepare(sql)?)),
    }
}

/// SQLite integers are signed; ids and timestamps stay far below `i64::MAX`.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
