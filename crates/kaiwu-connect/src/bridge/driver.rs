//! The MQTT bridge: subscribe to an external broker, turn each message into a row of the device
//! its mapping names, reconnect with backoff forever.

use std::sync::Arc;

use kaiwu_ingest::Row;
use kaiwu_mqtt::client::{Client, ClientOptions, Message};
use kaiwu_mqtt::codec::topic::topic_matches;
use kaiwu_mqtt::codec::{Protocol, QoS};
use serde_json::{Map, Value};
use tokio::sync::{Semaphore, mpsc};

use super::config::{BridgeConfig, Mapping, device_for};
use crate::Error;
use crate::ctx::{Backoff, Control, Ctx};
use crate::status::{State, Status};

/// Messages being written at once; more wait (and the broker connection with them).
const IN_FLIGHT: usize = 256;

/// Run a bridge until its control channel closes.
pub(crate) async fn run(ctx: Ctx, cfg: BridgeConfig, mut ctl: mpsc::Receiver<Control>) {
    let cfg = Arc::new(cfg);
    let mut backoff = Backoff::new();
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        ctx.status.set_state(State::Connecting);
        let err = match connect(&ctx, &cfg).await {
            Ok((client, mut rx)) => {
                ctx.status.set_state(State::Connected);
                backoff.reset();
                loop {
                    tokio::select! {
                        m = rx.recv() => match m {
                            Some(m) => {
                                let Ok(permit) = slots.clone().acquire_owned().await else { return };
                                let (ctx, cfg) = (ctx.clone(), cfg.clone());
                                tokio::spawn(async move {
                                    handle(&ctx, &cfg, m).await;
                                    drop(permit);
                                });
                            }
                            None => break format!("connection to {} lost", cfg.url),
                        },
                        c = ctl.recv() => match c {
                            Some(c) => c.refuse(|| Error::Unsupported("an MQTT bridge only receives".into())),
                            None => {
                                let _ = client.disconnect().await;
                                return;
                            }
                        },
                    }
                }
            }
            Err(e) => e,
        };
        ctx.status.error(err);
        ctx.status.set_state(State::Error);
        let refusal = || Error::Unsupported("an MQTT bridge only receives".into());
        if !ctx.back_off(&mut backoff, &mut ctl, refusal).await {
            return;
        }
    }
}

async fn connect(
    ctx: &Ctx,
    cfg: &BridgeConfig,
) -> Result<(Client, mpsc::Receiver<Message>), String> {
    let client_id = cfg
        .client_id
        .clone()
        .unwrap_or_else(|| format!("kaiwu-{}", ctx.id));
    let mut opts = ClientOptions::new(cfg.host_port(), client_id);
    opts.keep_alive_secs = cfg.keep_alive_s;
    opts.protocol = if cfg.protocol == "5" {
        Protocol::V5
    } else {
        Protocol::V311
    };
    if let Some(c) = &cfg.credentials {
        opts.username = Some(c.username.clone());
        opts.password = c.password.clone().map(String::into_bytes);
    }
    let (client, rx) = Client::connect(opts)
        .await
        .map_err(|e| format!("connect to {}: {e}", cfg.url))?;
    let filters: Vec<(&str, QoS)> = cfg
        .mappings
        .iter()
        .map(|m| {
            (
                m.topic.as_str(),
                QoS::from_u8(m.qos).unwrap_or(QoS::AtLeastOnce),
            )
        })
        .collect();
    let granted = client
        .subscribe(&filters)
        .await
        .map_err(|e| format!("subscribe at {}: {e}", cfg.url))?;
    for ((f, _), g) in filters.iter().zip(&granted) {
        if *g >= 0x80 {
            ctx.status.error(format!(
                "{} refused the subscription to {f} (code {g:#04x})",
                cfg.url
            ));
        }
    }
    Ok((client, rx))
}

async fn handle(ctx: &Ctx, cfg: &BridgeConfig, m: Message) {
    Status::add(&ctx.status.counters.messages, 1);
    let Some(mapping) = cfg
        .mappings
        .iter()
        .find(|x| topic_matches(&x.topic, &m.topic))
    else {
        return;
    };
    let row = match to_row(mapping, &m) {
        Ok(r) => r,
        Err(e) => {
            Status::add(&ctx.status.counters.rejected, 1);
            tracing::warn!(connector = %ctx.id, topic = %m.topic, error = %e, "bridged message refused");
            return;
        }
    };
    let device = row.device.clone();
    match ctx.ingest.write_coalesced(&ctx.tenant, vec![row]).await {
        Ok(acc) => {
            Status::add(&ctx.status.counters.rows, acc.rows as u64);
            Status::add(&ctx.status.counters.points, acc.points as u64);
            ctx.status.success();
            ctx.mark_good(&device);
        }
        Err(e) => {
            Status::add(&ctx.status.counters.rejected, 1);
            tracing::warn!(connector = %ctx.id, device = %device, topic = %m.topic, error = %e, "bridged message not stored");
        }
    }
}

/// The row a message makes under its mapping.
pub(crate) fn to_row(m: &Mapping, msg: &Message) -> Result<Row, String> {
    let device =
        device_for(m, &msg.topic).ok_or_else(|| format!("no device for topic {}", msg.topic))?;
    let doc: Value =
        serde_json::from_slice(&msg.payload).map_err(|e| format!("payload is not JSON: {e}"))?;
    let values: Map<String, Value> = match &m.fields {
        Some(fields) => fields
            .iter()
            .filter_map(|(prop, path)| at(&doc, path).map(|v| (prop.clone(), v.clone())))
            .collect(),
        None => match &doc {
            Value::Object(o) => o.clone(),
            _ => return Err("payload is not a JSON object".into()),
        },
    };
    let mut values = values;
    if let Some(tf) = &m.ts_field {
        values.remove(tf);
    }
    if values.is_empty() {
        return Err("no mapped field in the payload".into());
    }
    let ts = match &m.ts_field {
        None => None,
        Some(p) => Some(
            at(&doc, p)
                .and_then(Value::as_i64)
                .ok_or_else(|| format!("`{p}` is missing or not epoch ms"))?,
        ),
    };
    Ok(Row { device, ts, values })
}

/// The value at a dotted path.
fn at<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, k| v.get(k))
}
