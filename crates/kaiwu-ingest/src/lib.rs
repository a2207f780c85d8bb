//! Ingest: decoded telemetry rows -> resolve each device in the caller's tenant -> validate
//! against its thing model -> one `Batch` per device type -> the time-series engine. Shared by
//! every protocol (HTTP now; MQTT and the southbound drivers later), so they all validate alike.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kaiwu_core::{Quality, Value, now_ms};
use kaiwu_model::{BatchBuilder, DataType, DeviceType, Property};
use kaiwu_registry::Registry;
use kaiwu_tsdb::Tsdb;
use serde::Serialize;

mod coalesce;
mod types;

use types::{TypeEntry, Types};

/// One telemetry row as a protocol decoded it.
#[derive(Debug, Clone)]
pub struct Row {
    /// Device id within the tenant.
    pub device: String,
    /// Epoch ms; `None` means "now" (the time of arrival).
    pub ts: Option<i64>,
    /// Property values by property id.
    pub values: serde_json::Map<String, serde_json::Value>,
}

/// Why one row was refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowError {
    /// JSON path of the offending part, e.g. `[3].values.speed`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Ingest failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Rows that do not fit their devices' models; nothing was stored.
    #[error("{} telemetry row(s) refused; nothing was stored: {}", .0.len(), .0.first().map(|e| format!("{}: {}", e.path, e.message)).unwrap_or_default())]
    Invalid(Vec<RowError>),
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] kaiwu_registry::Error),
    /// Storage failed; the rows were not acknowledged.
    #[error(transparent)]
    Storage(#[from] kaiwu_tsdb::Error),
    /// A background task died.
    #[error("ingest task failed: {0}")]
    Task(String),
}

impl Error {
    /// The shared error class.
    pub fn kind(&self) -> kaiwu_core::ErrorKind {
        match self {
            Error::Invalid(_) => kaiwu_core::ErrorKind::Invalid,
            Error::Registry(e) => e.kind(),
            Error::Storage(e) => e.kind(),
            Error::Task(_) => kaiwu_core::ErrorKind::Internal,
        }
    }
}

/// What was stored.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Accepted {
    /// Rows stored.
    pub rows: usize,
    /// Property values stored.
    pub points: usize,
    /// Values stored with quality `uncertain` (outside their declared range).
    pub uncertain: usize,
}

/// The ingest service.
pub struct Ingest {
    registry: Arc<Registry>,
    tsdb: Arc<Tsdb>,
    /// Devices and their types as the registry has them.
    types: Arc<Types>,
    /// Messages waiting to be written together (`write_coalesced`).
    queue: Mutex<coalesce::Queue>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").finish_non_exhaustive()
    }
}

/// Rows of one device type, validated.
struct Planned {
    ty: Arc<TypeEntry>,
    rows: Vec<Valid>,
}

/// A row whose values passed validation, placed by the index of their property in the type.
struct Valid {
    device: String,
    ts: Option<i64>,
    values: Vec<Option<(Value, Quality)>>,
}

impl Ingest {
    /// Ingest over a registry and an engine.
    pub fn new(registry: Arc<Registry>, tsdb: Arc<Tsdb>) -> Self {
        Self {
            registry,
            tsdb,
            types: Arc::default(),
            queue: Mutex::new(coalesce::Queue::default()),
        }
    }

    /// Validate every row, then store them all; returns once they are durable. All or nothing
    /// with respect to validation: one bad row and nothing is stored.
    pub async fn write(&self, tenant: &str, rows: Vec<Row>) -> Result<Accepted, Error> {
        let (reg, types) = (self.registry.clone(), self.types.clone());
        let t = tenant.to_owned();
        let plans = tokio::task::spawn_blocking(move || plan(&reg, &types, &t, rows))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        self.store_plans(tenant, plans, false).await
    }

    /// One batch per planned type into the engine; returns once durable. With `skip_empty`,
    /// rows left without values (all refused) are not stored.
    async fn store_plans(
        &self,
        tenant: &str,
        plans: Vec<Planned>,
        skip_empty: bool,
    ) -> Result<Accepted, Error> {
        let mut acc = Accepted::default();
        let now = now_ms();
        for p in plans {
            let mut b =
                BatchBuilder::with_schema(tenant, &p.ty.dt, p.ty.schema.clone(), p.rows.len());
            for r in &p.rows {
                if !skip_empty || r.values.iter().any(Option::is_some) {
                    b.push_values(&r.device, r.ts.unwrap_or(now), &r.values);
                }
            }
            if b.is_empty() {
                continue;
            }
            acc.uncertain += b.uncertain();
            let batch = b.finish().map_err(|e| Error::Task(e.to_string()))?;
            acc.rows += batch.num_rows();
            acc.points += batch.num_points();
            self.mark_used(tenant, &p).await?;
            self.tsdb.write(batch).await?;
        }
        metrics::counter!("kaiwu_ingest_uncertain_total").increment(acc.uncertain as u64);
        Ok(acc)
    }

    /// As [`Ingest::write`], but values the thing model refuses (and rows of unknown devices)
    /// are left out instead of refusing everything: for connectors, where one odd value from a
    /// PLC must not cost the poll's others. Returns what was stored and what was refused.
    pub async fn write_lenient(
        &self,
        tenant: &str,
        rows: Vec<Row>,
    ) -> Result<(Accepted, Vec<RowError>), Error> {
        let (reg, types) = (self.registry.clone(), self.types.clone());
        let t = tenant.to_owned();
        let (plans, mut refused) =
            tokio::task::spawn_blocking(move || plan_lenient(&reg, &types, &t, rows))
                .await
                .map_err(|e| Error::Task(e.to_string()))??;
        let acc = self.store_plans(tenant, plans, true).await?;
        refused.sort_by(|a, b| a.path.cmp(&b.path));
        Ok((acc, refused))
    }

    /// Record `properties` of `device` as unreadable at `ts` (null values, quality `bad`), as
    /// a connector does when its device stops answering. Returns once durable.
    pub async fn write_bad(
        &self,
        tenant: &str,
        device: &str,
        properties: &[String],
        ts: i64,
    ) -> Result<(), Error> {
        let (reg, types) = (self.registry.clone(), self.types.clone());
        let (t, d) = (tenant.to_owned(), device.to_owned());
        let ty = tokio::task::spawn_blocking(move || {
            let ty = types.device_type_of(&reg, &t, &d)?.ok_or_else(|| {
                kaiwu_registry::Error::NotFound {
                    what: "device",
                    id: d.clone(),
                }
            })?;
            types.entry(&reg, &t, &ty)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
        let ix: Vec<usize> = properties.iter().filter_map(|p| ty.position(p)).collect();
        if ix.is_empty() {
            return Ok(());
        }
        let mut b = BatchBuilder::with_schema(tenant, &ty.dt, ty.schema.clone(), 1);
        b.push_bad(device, ts, &ix);
        let batch = b.finish().map_err(|e| Error::Task(e.to_string()))?;
        self.tsdb.write(batch).await?;
        Ok(())
    }

    /// Record in the registry, once per property, that the properties `p` carries have data
    /// (a type change may not retype or silently drop them afterwards).
    async fn mark_used(&self, tenant: &str, p: &Planned) -> Result<(), Error> {
        let ty = &p.ty;
        let mut seen = vec![false; ty.dt.properties.len()];
        for r in &p.rows {
            for (ix, v) in r.values.iter().enumerate() {
                if v.is_some() && !ty.is_used(ix) {
                    seen[ix] = true;
                }
            }
        }
        let new: Vec<usize> = (0..seen.len()).filter(|ix| seen[*ix]).collect();
        if new.is_empty() {
            return Ok(());
        }
        let reg = self.registry.clone();
        let (t, tyid) = (tenant.to_owned(), ty.dt.id.clone());
        let props: Vec<String> = new
            .iter()
            .map(|ix| ty.dt.properties[*ix].id.clone())
            .collect();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = props.iter().map(String::as_str).collect();
            reg.mark_properties_used(&t, &tyid, &refs)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
        for ix in new {
            ty.set_used(ix);
        }
        Ok(())
    }
}

/// Resolve devices and types, extend extensible types with unknown keys, validate every value.
fn plan(
    reg: &Registry,
    types: &Types,
    tenant: &str,
    rows: Vec<Row>,
) -> Result<Vec<Planned>, Error> {
    let (plans, mut errors) = plan_lenient(reg, types, tenant, rows)?;
    if errors.is_empty() {
        Ok(plans)
    } else {
        errors.sort_by(|a, b| a.path.cmp(&b.path));
        Err(Error::Invalid(errors))
    }
}

/// Validate every row; refused values (and rows of unknown devices) are left out of the plans
/// and reported.
fn plan_lenient(
    reg: &Registry,
    types: &Types,
    tenant: &str,
    rows: Vec<Row>,
) -> Result<(Vec<Planned>, Vec<RowError>), Error> {
    let mut errors = Vec::new();
    let mut device_types: types::FastMap<String, Option<String>> = types::FastMap::default();
    // Most messages hold rows of one device: the previous row's answer is checked first.
    let mut last: Option<(String, Option<String>)> = None;
    let mut by_type: BTreeMap<String, Vec<(usize, Row)>> = BTreeMap::new();
    for (i, r) in rows.into_iter().enumerate() {
        let known = match &last {
            Some((d, t)) if *d == r.device => Some(t.clone()),
            _ => device_types.get(&r.device).cloned(),
        };
        let ty = match known {
            Some(t) => t,
            None => {
                let t = types.device_type_of(reg, tenant, &r.device)?;
                if let Some((d, t)) = last.replace((r.device.clone(), t.clone())) {
                    device_types.insert(d, t);
                }
                t
            }
        };
        match ty {
            Some(t) => by_type.entry(t).or_default().push((i, r)),
            None => errors.push(RowError {
                path: format!("[{i}].device"),
                message: format!(
                    "device `{}` not found",
                    r.device.chars().take(128).collect::<String>()
                ),
            }),
        }
    }
    let mut plans = Vec::new();
    for (ty, rows) in by_type {
        let mut entry = types.entry(reg, tenant, &ty)?;
        if entry.dt.extensible
            && let Some(dt) = extend(reg, tenant, &entry, &rows)?
        {
            entry = Arc::new(TypeEntry::new(dt));
        }
        let dt = &entry.dt;
        let mut valid = Vec::with_capacity(rows.len());
        for (i, r) in rows {
            let mut values = vec![None; dt.properties.len()];
            for (k, v) in &r.values {
                let res = match entry.position(k) {
                    Some(ix) => kaiwu_model::validate_value(&dt.properties[ix], v)
                        .map(|ok| values[ix] = Some(ok)),
                    None => Err(kaiwu_model::Error::Value {
                        property: k.clone(),
                        reason: format!("`{k}` is not a property of device type {}", dt.id),
                    }),
                };
                if let Err(e) = res {
                    errors.push(RowError {
                        path: format!("[{i}].values.{k}"),
                        message: e.to_string(),
                    });
                }
            }
            valid.push(Valid {
                device: r.device,
                ts: r.ts,
                values,
            });
        }
        plans.push(Planned {
            ty: entry,
            rows: valid,
        });
    }
    Ok((plans, errors))
}

/// An extensible type learns unknown keys as new properties of the inferred type. Returns the
/// new version, or `None` when the rows hold nothing new.
fn extend(
    reg: &Registry,
    tenant: &str,
    cur: &TypeEntry,
    rows: &[(usize, Row)],
) -> Result<Option<DeviceType>, Error> {
    // Cloned only once a key is new: most messages bring none.
    let mut next: Option<DeviceType> = None;
    let mut added = Vec::new();
    for (_, r) in rows {
        for (k, v) in &r.values {
            if cur.position(k).is_none() && !v.is_null() && kaiwu_model::is_member_id(k) {
                let dt = next.get_or_insert_with(|| cur.dt.clone());
                if dt.property(k).is_none() {
                    let t = DataType::infer(v);
                    dt.properties.push(Property::new(k, t));
                    added.push(format!("{k}:{t}"));
                }
            }
        }
    }
    let Some(dt) = next else {
        return Ok(None);
    };
    let id = dt.id.clone();
    let dt = reg.update_device_type(tenant, &id, dt, false)?;
    tracing::info!(tenant, device_type = %id, added = %added.join(","), version = dt.version, "extensible device type learned new properties");
    Ok(Some(dt))
}

#[cfg(test)]
mod tests;
