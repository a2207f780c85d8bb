//! Coalesced writes for protocols that deliver many small messages at once (MQTT: thousands of
//! devices, one row each). Messages that arrive while a group is being written wait and form
//! the next group: one registry pass, one `Batch` per device type, one WAL record and one
//! memtable entry per group instead of per message. Each message keeps its own validation
//! outcome (one bad message never refuses another) and is answered only once durable.

use std::sync::{Arc, PoisonError};

use kaiwu_core::now_ms;
use kaiwu_model::BatchBuilder;
use tokio::sync::oneshot;

use crate::types::FastMap;
use crate::{Accepted, Error, Ingest, Planned, Row, TypeEntry, plan};

/// Most rows one group takes; the rest wait for the next group.
const MAX_GROUP_ROWS: usize = 50_000;
/// Groups in flight at once. Measured: two (one validated while the other waits for its
/// fsync) gave smaller groups and more CPU per point than one on 2 cores.
const DRAINERS: usize = 1;

pub(crate) struct Pending {
    tenant: String,
    rows: Vec<Row>,
    done: oneshot::Sender<Result<Accepted, Error>>,
}

/// Messages waiting for the running group to finish.
#[derive(Default)]
pub(crate) struct Queue {
    pending: Vec<Pending>,
    /// Drain tasks running; at `DRAINERS`, new messages only enqueue.
    draining: usize,
}

impl Ingest {
    /// As [`Ingest::write`] for one message, written together with whatever else arrives
    /// meanwhile. Returns once this message's rows are durable (or refused).
    pub async fn write_coalesced(
        self: &Arc<Self>,
        tenant: &str,
        rows: Vec<Row>,
    ) -> Result<Accepted, Error> {
        let (done, rx) = oneshot::channel();
        let start = {
            let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            q.pending.push(Pending {
                tenant: tenant.to_owned(),
                rows,
                done,
            });
            let start = q.draining < DRAINERS;
            q.draining += usize::from(start);
            start
        };
        if start {
            // A task of its own, so a caller that stops waiting cannot strand the queue.
            let me = Arc::clone(self);
            tokio::spawn(async move { me.drain().await });
        }
        rx.await
            .map_err(|_| Error::Task("ingest group abandoned".into()))?
    }

    async fn drain(self: Arc<Self>) {
        loop {
            let group = {
                let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                if q.pending.is_empty() {
                    q.draining -= 1;
                    return;
                }
                let mut rows = 0;
                let n = q
                    .pending
                    .iter()
                    .take_while(|p| {
                        rows += p.rows.len();
                        rows <= MAX_GROUP_ROWS
                    })
                    .count()
                    .max(1);
                q.pending.drain(..n).collect::<Vec<_>>()
            };
            self.write_group(group).await;
        }
    }

    async fn write_group(&self, group: Vec<Pending>) {
        let (reg, types) = (self.registry.clone(), self.types.clone());
        let (answers, work): (Vec<_>, Vec<_>) = group
            .into_iter()
            .map(|p| (p.done, (p.tenant, p.rows)))
            .unzip();
        let planned = tokio::task::spawn_blocking(move || {
            work.into_iter()
                .map(|(t, rows)| {
                    let p = plan(&reg, &types, &t, rows);
                    (t, p)
                })
                .collect::<Vec<_>>()
        })
        .await;
        let planned = match planned {
            Ok(p) => p,
            Err(e) => {
                for a in answers {
                    let _ = a.send(Err(Error::Task(e.to_string())));
                }
                return;
            }
        };
        let results = self.store(planned).await;
        for (a, r) in answers.into_iter().zip(results) {
            let _ = a.send(r);
        }
    }

    /// Write every valid message's rows, one batch per (tenant, type version); returns each
    /// message's outcome in order.
    async fn store(
        &self,
        planned: Vec<(String, Result<Vec<Planned>, Error>)>,
    ) -> Vec<Result<Accepted, Error>> {
        type Members = Vec<(usize, Vec<crate::Valid>)>;
        // One batch per cached type entry, found by its address: the cache hands out one entry
        // per (tenant, type version), so no key strings are built per message. (Two entries of
        // one version, across a cache reset, only make two batches.)
        let mut slots: FastMap<usize, usize> = FastMap::default();
        let mut groups: Vec<(String, Arc<TypeEntry>, Members)> = Vec::new();
        let mut out: Vec<Result<Accepted, Error>> = Vec::with_capacity(planned.len());
        for (i, (tenant, p)) in planned.into_iter().enumerate() {
            let plans = match p {
                Ok(p) => p,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            let mut acc = Accepted::default();
            let mut failed = None;
            for p in plans {
                if let Err(e) = self.mark_used(&tenant, &p).await {
                    failed = Some(e);
                    break;
                }
                for r in &p.rows {
                    for (_, q) in r.values.iter().flatten() {
                        acc.points += 1;
                        acc.uncertain += usize::from(*q == kaiwu_core::Quality::Uncertain);
                    }
                }
                acc.rows += p.rows.len();
                let g = *slots.entry(Arc::as_ptr(&p.ty) as usize).or_insert_with(|| {
                    groups.push((tenant.clone(), p.ty.clone(), Vec::new()));
                    groups.len() - 1
                });
                groups[g].2.push((i, p.rows));
            }
            out.push(match failed {
                Some(e) => Err(e),
                None => Ok(acc),
            });
        }
        let now = now_ms();
        for (tenant, ty, members) in groups {
            // A message refused meanwhile (usage bookkeeping failed) is not written.
            let live: Vec<_> = members
                .into_iter()
                .filter(|(i, _)| out[*i].is_ok())
                .collect();
            if live.is_empty() {
                continue;
            }
            let n = live.iter().map(|(_, rows)| rows.len()).sum();
            let mut b = BatchBuilder::with_schema(&tenant, &ty.dt, ty.schema.clone(), n);
            for (_, rows) in &live {
                for r in rows {
                    b.push_values(&r.device, r.ts.unwrap_or(now), &r.values);
                }
            }
            let r = match b.finish() {
                Ok(batch) => self
                    .tsdb
                    .write(batch)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = r {
                // Not durable: none of these messages may be acknowledged.
                for (i, _) in live {
                    out[i] = Err(Error::Task(format!("storage failed: {e}")));
                }
            }
        }
        let uncertain: usize = out.iter().flatten().map(|a| a.uncertain).sum();
        metrics::counter!("kaiwu_ingest_uncertain_total").increment(uncertain as u64);
        out
    }
}
