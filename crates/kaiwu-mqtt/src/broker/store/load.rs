//! Schema, row formats and loading at startup.
//!
//! Format version 1 (`PRAGMA user_version`): messages and retained messages are stored as
//! the MQTT 5 encoding of the PUBLISH that would deliver them (QoS and retain flag as sent,
//! forwarded properties and subscription identifiers included, packet id a placeholder), so
//! no second serialisation of properties exists. Expiry and delivery state are columns.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rusqlite::{Connection, params};

use super::store;
use crate::broker::error::{Error, Result};
use crate::broker::message::{Message, Queued};
use crate::broker::session::{Inflight, NEVER_EXPIRES};
use crate::broker::tree::Sub;
use crate::codec::{
    self, Packet, Properties, Protocol, Publish, QoS, RetainHandling, SubscriptionOptions,
};

const VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE sessions (
    client_id TEXT PRIMARY KEY,
    expiry INTEGER NOT NULL,
    disconnected_at INTEGER
);
CREATE TABLE subscriptions (
    client_id TEXT NOT NULL,
    filter TEXT NOT NULL,
    options INTEGER NOT NULL,
    sub_id INTEGER,
    PRIMARY KEY (client_id, filter)
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL,
    packet_id INTEGER,
    rel_sent INTEGER NOT NULL,
    expires_at INTEGER,
    packet BLOB NOT NULL
);
CREATE INDEX messages_client ON messages (client_id, id);
CREATE TABLE retained (
    topic TEXT PRIMARY KEY,
    expires_at INTEGER,
    packet BLOB NOT NULL
);
";

/// A persistent session as stored.
#[derive(Debug, Default)]
pub(crate) struct LoadedSession {
    pub(crate) client_id: String,
    pub(crate) expiry: u32,
    pub(crate) disconnected_at: u64,
    pub(crate) subs: Vec<(String, Sub)>,
    pub(crate) queue: Vec<Queued>,
    pub(crate) inflight: Vec<Inflight>,
}

/// Everything the store held at startup.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub(crate) sessions: Vec<LoadedSession>,
    pub(crate) retained: Vec<Message>,
    /// First free message id.
    pub(crate) next_id: u64,
}

pub(super) fn init(conn: &Connection) -> Result<()> {
    // WAL + NORMAL: a commit survives a crash of the process (the data is in the OS); an
    // fsync per group commit is not worth it for a broker's session state.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(store("set journal mode"))?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(store("set synchronous"))?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(store("read version"))?;
    match version {
        0 => {
            conn.execute_batch(SCHEMA).map_err(store("create schema"))?;
            conn.pragma_update(None, "user_version", VERSION)
                .map_err(store("set version"))
        }
        VERSION => Ok(()),
        v => Err(Error::Corrupt(format!(
            "mqtt.db has format version {v}, this build reads {VERSION}"
        ))),
    }
}

pub(super) fn load(conn: &mut Connection, now_ms: u64) -> Result<Loaded> {
    let tx = conn.transaction().map_err(store("begin load"))?;
    // Sessions still marked connected belonged to a broker that stopped without shutting
    // down: they count as disconnected now.
    tx.execute(
        "UPDATE sessions SET disconnected_at = ?1 WHERE disconnected_at IS NULL",
        [to_i64(now_ms)],
    )
    .map_err(store("mark sessions offline"))?;
    let mut sessions: HashMap<String, LoadedSession> = HashMap::new();
    let mut expired = Vec::new();
    {
        let mut stmt = tx
            .prepare("SELECT client_id, expiry, disconnected_at FROM sessions")
            .map_err(store("read sessions"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(store("read sessions"))?;
        for row in rows {
            let (client_id, expiry, at) = row.map_err(store("read sessions"))?;
            let at = u64::try_from(at).unwrap_or(0);
            let ends = at.saturating_add(u64::from(expiry) * 1000);
            if expiry != NEVER_EXPIRES && ends <= now_ms {
                expired.push(client_id);
            } else {
                let s = LoadedSession {
                    client_id: client_id.clone(),
                    expiry,
                    disconnected_at: at,
                    ..LoadedSession::default()
                };
                sessions.insert(client_id, s);
            }
        }
    }
    for id in &expired {
        for sql in [
            "DELETE FROM messages WHERE client_id = ?1",
            "DELETE FROM subscriptions WHERE client_id = ?1",
            "DELETE FROM sessions WHERE client_id = ?1",
        ] {
            tx.execute(sql, [id])
                .map_err(store("drop expired session"))?;
        }
    }
    load_subs(&tx, &mut sessions)?;
    let next_id = load_messages(&tx, &mut sessions, now_ms)?;
    let retained = load_retained(&tx, now_ms)?;
    tx.commit().map_err(store("commit load"))?;
    let mut sessions: Vec<LoadedSession> = sessions.into_values().collect();
    sessions.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    Ok(Loaded {
        sessions,
        retained,
        next_id,
    })
}

fn load_subs(tx: &Connection, sessions: &mut HashMap<String, LoadedSession>) -> Result<()> {
    let mut stmt = tx
        .prepare("SELECT client_id, filter, options, sub_id FROM subscriptions")
        .map_err(store("read subscriptions"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u8>(2)?,
                r.get::<_, Option<u32>>(3)?,
            ))
        })
        .map_err(store("read subscriptions"))?;
    for row in rows {
        let (client_id, filter, options, id) = row.map_err(store("read subscriptions"))?;
        if let Some(s) = sessions.get_mut(&client_id) {
            let opts = options_from_byte(options)
                .ok_or_else(|| Error::Corrupt(format!("subscription options {options:#04x}")))?;
            s.subs.push((filter, Sub { opts, id }));
        }
    }
    Ok(())
}

/// Loads queued and in-flight messages (dropping expired and orphaned rows); returns the
/// first free message id.
fn load_messages(
    tx: &Connection,
    sessions: &mut HashMap<String, LoadedSession>,
    now_ms: u64,
) -> Result<u64> {
    let mut next_id = 1u64;
    let mut stale = Vec::new();
    {
        let mut stmt = tx
            .prepare(
                "SELECT id, client_id, packet_id, rel_sent, expires_at, packet
                 FROM messages ORDER BY id",
            )
            .map_err(store("read messages"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<u16>>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                ))
            })
            .map_err(store("read messages"))?;
        for row in rows {
            let (id, client_id, packet_id, rel_sent, expires_at, blob) =
                row.map_err(store("read messages"))?;
            let id = u64::try_from(id).unwrap_or(0);
            next_id = next_id.max(id + 1);
            let expires_at = expires_at.and_then(|t| u64::try_from(t).ok());
            let session = sessions.get_mut(&client_id);
            let (Some(session), Some(p)) = (session, decode_publish(&blob)) else {
                stale.push(id);
                continue;
            };
            let q = queued_from(p, id, expires_at);
            if q.msg.expired(now_ms) {
                stale.push(id);
                continue;
            }
            match packet_id {
                Some(packet_id) if packet_id != 0 => session.inflight.push(Inflight {
                    packet_id,
                    q,
                    rel_sent,
                }),
                _ => session.queue.push(q),
            }
        }
    }
    for id in stale {
        tx.execute("DELETE FROM messages WHERE id = ?1", [to_i64(id)])
            .map_err(store("drop stale message"))?;
    }
    Ok(next_id)
}

fn load_retained(tx: &Connection, now_ms: u64) -> Result<Vec<Message>> {
    let mut out = Vec::new();
    let mut stale = Vec::new();
    {
        let mut stmt = tx
            .prepare("SELECT topic, expires_at, packet FROM retained")
            .map_err(store("read retained"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .map_err(store("read retained"))?;
        for row in rows {
            let (topic, expires_at, blob) = row.map_err(store("read retained"))?;
            let expires_at = expires_at.and_then(|t| u64::try_from(t).ok());
            match decode_publish(&blob) {
                Some(p) if expires_at.is_none_or(|t| t > now_ms) => {
                    let mut msg = message_from(p, expires_at);
                    msg.retain = true;
                    out.push(msg);
                }
                _ => stale.push(topic),
            }
        }
    }
    for topic in stale {
        tx.execute("DELETE FROM retained WHERE topic = ?1", params![topic])
            .map_err(store("drop stale retained"))?;
    }
    Ok(out)
}

/// Stored form of a session's message.
pub(super) fn encode_queued(q: &Queued) -> Option<Vec<u8>> {
    encode(&q.msg, q.qos, q.retain, &q.sub_ids)
}

/// Stored form of a retained message.
pub(super) fn encode_retained(m: &Message) -> Option<Vec<u8>> {
    encode(m, m.qos, true, &[])
}

fn encode(m: &Message, qos: QoS, retain: bool, sub_ids: &[u32]) -> Option<Vec<u8>> {
    let mut properties = m.props.as_deref().cloned().unwrap_or_default();
    properties.subscription_identifiers = sub_ids.to_vec();
    let p = Packet::Publish(Publish {
        dup: false,
        qos,
        retain,
        topic: m.topic.clone(),
        packet_id: (qos != QoS::AtMostOnce).then_some(1),
        properties,
        payload: m.payload.clone(),
    });
    let mut out = BytesMut::new();
    match p.encode(Protocol::V5, &mut out) {
        Ok(()) => Some(out.to_vec()),
        Err(e) => {
            tracing::error!(topic = %m.topic, error = %e, "mqtt message not stored");
            None
        }
    }
}

fn decode_publish(blob: &[u8]) -> Option<Publish> {
    let mut buf = BytesMut::from(blob);
    match codec::decode(&mut buf, Some(Protocol::V5), usize::MAX) {
        Ok(Some(Packet::Publish(p))) if buf.is_empty() => Some(p),
        other => {
            tracing::warn!(result = ?other.map(|p| p.map(|p| p.name())), "unreadable stored mqtt message dropped");
            None
        }
    }
}

fn message_from(p: Publish, expires_at: Option<u64>) -> Message {
    let mut props = p.properties;
    props.subscription_identifiers.clear();
    props.message_expiry_interval = None;
    Message {
        topic: p.topic,
        payload: Bytes::clone(&p.payload),
        qos: p.qos,
        retain: p.retain,
        props: (props != Properties::default()).then(|| Box::new(props)),
        expires_at,
        origin: None,
    }
}

fn queued_from(mut p: Publish, id: u64, expires_at: Option<u64>) -> Queued {
    let sub_ids = std::mem::take(&mut p.properties.subscription_identifiers);
    let (qos, retain) = (p.qos, p.retain);
    Queued {
        msg: Arc::new(message_from(p, expires_at)),
        qos,
        retain,
        sub_ids,
        id,
        persisted: true,
    }
}

pub(super) fn options_byte(o: &SubscriptionOptions) -> u8 {
    o.qos.as_u8()
        | u8::from(o.no_local) << 2
        | u8::from(o.retain_as_published) << 3
        | (o.retain_handling as u8) << 4
}

fn options_from_byte(b: u8) -> Option<SubscriptionOptions> {
    Some(SubscriptionOptions {
        qos: QoS::from_u8(b & 0b11)?,
        no_local: b & 0b100 != 0,
        retain_as_published: b & 0b1000 != 0,
        retain_handling: match (b >> 4) & 0b11 {
            0 => RetainHandling::OnSubscribe,
            1 => RetainHandling::OnNewSubscribe,
            2 => RetainHandling::Never,
            _ => return None,
        },
    })
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
