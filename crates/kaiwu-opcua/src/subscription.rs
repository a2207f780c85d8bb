//! Subscriptions: data changes are forwarded to the caller's channel until the session ends.

use std::{collections::HashMap, sync::atomic::Ordering, time::Duration};

use opcua::{
    client::{MonitoredItem, OnSubscriptionNotification},
    types::{
        AttributeId, DataChangeFilter, DataChangeTrigger, DataValue, DeadbandType, ExtensionObject,
        MonitoredItemCreateRequest, MonitoringMode, MonitoringParameters, TimestampsToReturn,
    },
};
use tokio::sync::mpsc;

use crate::{
    client::Client,
    convert::{sample, status_name},
    error::Result,
    node_id::to_node_id,
    services::attr_read,
    types::{Monitored, Sample, Status},
};

/// Lifetime and keep-alive counts in publishing intervals (lifetime must be >= 3x keep-alive).
const KEEP_ALIVE_COUNT: u32 = 10;
const LIFETIME_COUNT: u32 = 30;

/// Runs inside async-opcua's event loop, so it only hands samples on, never blocks.
struct Forward {
    nodes: HashMap<u32, String>,
    tx: mpsc::Sender<Sample>,
    /// Samples dropped because the backlog was full.
    dropped: u64,
}

impl OnSubscriptionNotification for Forward {
    fn on_data_value(&mut self, value: DataValue, item: &MonitoredItem) {
        let Some(node) = self.nodes.get(&item.client_handle()) else {
            return;
        };
        // The notification callback cannot wait, so a consumer that falls behind costs
        // samples (counted, logged) rather than memory without bound.
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(sample(node, value)) {
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                tracing::warn!(node = %node, dropped = self.dropped, backlog = SAMPLE_BACKLOG, "opc ua samples dropped: the consumer is behind");
            }
        }
    }
}

/// Samples of one subscription waiting for the consumer.
const SAMPLE_BACKLOG: usize = 100_000;

/// Most monitored items put in one subscription.
pub const ITEMS_PER_SUBSCRIPTION: usize = 1000;
/// Most monitored items created by one service call.
pub const ITEMS_PER_CALL: usize = 500;
/// Notifications the server may put in one publish response; it sends more responses for
/// the rest.
const MAX_NOTIFICATIONS_PER_PUBLISH: u32 = 1000;

impl Client {
    /// Creates subscriptions watching `items`; every data change becomes a
    /// [`Sample`] on `tx`. The initial value of each item arrives first.
    ///
    /// Items the server refuses (unknown node, ...) are reported once on `tx`
    /// as a Bad sample with the server's code, the others keep working.
    /// When the session ends the forwarding task drops its clone of `tx`, so
    /// the receiver sees the channel close once every other sender is gone.
    ///
    /// Servers limit items per subscription and per call (1000 is common), so large lists are
    /// spread over subscriptions of [`ITEMS_PER_SUBSCRIPTION`] items, created
    /// [`ITEMS_PER_CALL`] at a time.
    pub async fn subscribe(
        &self,
        publishing_ms: f64,
        items: &[Monitored],
        tx: mpsc::Sender<Sample>,
    ) -> Result<()> {
        if items.is_empty() {
            return self.subscribe_one(publishing_ms, items, tx).await;
        }
        for chunk in items.chunks(ITEMS_PER_SUBSCRIPTION) {
            self.subscribe_one(publishing_ms, chunk, tx.clone()).await?;
        }
        Ok(())
    }

    async fn subscribe_one(
        &self,
        publishing_ms: f64,
        items: &[Monitored],
        tx: mpsc::Sender<Sample>,
    ) -> Result<()> {
        let mut requests = Vec::with_capacity(items.len());
        let mut nodes = HashMap::new();
        for item in items {
            let handle = self.next_handle.fetch_add(1, Ordering::Relaxed);
            requests.push(create_request(item, handle)?);
            nodes.insert(handle, item.node.clone());
        }
        let (inner_tx, inner_rx) = mpsc::channel(SAMPLE_BACKLOG);
        let forward = Forward {
            nodes,
            tx: inner_tx.clone(),
            dropped: 0,
        };
        let interval = Duration::from_secs_f64(publishing_ms.max(1.0) / 1000.0);
        let fut = self.session.create_subscription(
            interval,
            LIFETIME_COUNT,
            KEEP_ALIVE_COUNT,
            // Bounded publish responses: 1000 items sampled 5x per publishing interval would
            // otherwise make one response too large for the channel's message size.
            MAX_NOTIFICATIONS_PER_PUBLISH,
            0,
            true,
            forward,
        );
        let sub_id = self.request("create subscription", fut).await?;
        // Start forwarding before items exist so no initial value is lost.
        tokio::spawn(pump(inner_rx, tx, self.shared.dead.subscribe()));
        if requests.is_empty() {
            return Ok(());
        }
        let mut created = Vec::with_capacity(requests.len());
        let mut requests = requests.into_iter().peekable();
        while requests.peek().is_some() {
            let batch: Vec<_> = requests.by_ref().take(ITEMS_PER_CALL).collect();
            let fut = self
                .session
                .create_monitored_items(sub_id, TimestampsToReturn::Both, batch);
            created.extend(self.request("create monitored items", fut).await?);
        }
        for (item, c) in items.iter().zip(created) {
            let code = c.result.status_code;
            if code.is_bad() {
                tracing::warn!(node = %item.node, status = %status_name(code), "opc ua monitored item refused");
                let _ = inner_tx.try_send(Sample {
                    node: item.node.clone(),
                    value: crate::types::Val::Null,
                    status: Status::Bad,
                    code: code.bits(),
                    source_ts_ms: None,
                    server_ts_ms: None,
                });
            }
        }
        Ok(())
    }
}

fn create_request(item: &Monitored, handle: u32) -> Result<MonitoredItemCreateRequest> {
    let node_id = to_node_id(&item.node)?;
    let filter = match item.deadband_abs {
        Some(d) if d > 0.0 => ExtensionObject::from_message(DataChangeFilter {
            trigger: DataChangeTrigger::StatusValue,
            deadband_type: DeadbandType::Absolute as u32,
            deadband_value: d,
        }),
        _ => ExtensionObject::null(),
    };
    Ok(MonitoredItemCreateRequest {
        item_to_monitor: attr_read(node_id, AttributeId::Value),
        monitoring_mode: MonitoringMode::Reporting,
        requested_parameters: MonitoringParameters {
            client_handle: handle,
            sampling_interval: item.sampling_ms,
            filter,
            queue_size: 10,
            discard_oldest: true,
        },
    })
}

/// Moves samples to the caller's bounded channel; ends (dropping `tx`) when
/// the session dies or the caller hangs up.
async fn pump(
    mut rx: mpsc::Receiver<Sample>,
    tx: mpsc::Sender<Sample>,
    mut dead: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let next = tokio::select! {
            s = rx.recv() => s,
            _ = dead.wait_for(|d| *d) => None,
        };
        let Some(s) = next else { return };
        tokio::select! {
            r = tx.send(s) => if r.is_err() { return },
            _ = dead.wait_for(|d| *d) => return,
        }
    }
}
