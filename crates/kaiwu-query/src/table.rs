//! One device type's rows as a DataFusion table: Parquet segments through DataFusion's own
//! Parquet scan (pruned by time range and statistics) united with the rows still in memory.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch, new_null_array};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{Schema, SchemaRef, TimestampMillisecondType};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::DFSchema;
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::object_store::path::Path as StorePath;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;
use kaiwu_core::batch::{QUALITY_PREFIX, TS};
use kaiwu_model::{DeviceType, storage_schema};
use kaiwu_tsdb::{SegmentFile, TableSnapshot, TimeRange};
use tokio::sync::Mutex;

use crate::error::to_df;
use crate::range::time_range;
use crate::session::Tenant;
use crate::{Error, Result};

/// A device type's table: the wide SQL table (no quality columns) or, for the telemetry view,
/// the full storage schema.
pub(crate) struct TypeTable {
    tenant: Arc<Tenant>,
    type_id: String,
    schema: SchemaRef,
    /// Snapshots already taken by this query, so the telemetry view's many branches over one
    /// type ask the catalog once per range.
    snapshots: Mutex<Vec<(TimeRange, TableSnapshot)>>,
}

impl fmt::Debug for TypeTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypeTable")
            .field("tenant", &self.tenant.id)
            .field("type", &self.type_id)
            .finish_non_exhaustive()
    }
}

impl TypeTable {
    /// `ts`, `device` and one column per property.
    pub(crate) fn wide(tenant: Arc<Tenant>, dt: &DeviceType) -> Self {
        let full = storage_schema(dt);
        let fields: Vec<_> = full
            .fields()
            .iter()
            .filter(|f| !f.name().starts_with(QUALITY_PREFIX))
            .cloned()
            .collect();
        Self::new(tenant, dt, Arc::new(Schema::new(fields)))
    }

    /// The storage schema, quality columns included.
    pub(crate) fn storage(tenant: Arc<Tenant>, dt: &DeviceType) -> Self {
        Self::new(tenant, dt, storage_schema(dt))
    }

    fn new(tenant: Arc<Tenant>, dt: &DeviceType, schema: SchemaRef) -> Self {
        TypeTable {
            tenant,
            type_id: dt.id.clone(),
            schema,
            snapshots: Mutex::new(Vec::new()),
        }
    }

    async fn snapshot(&self, range: TimeRange) -> Result<TableSnapshot> {
        // Held across the call: branches are planned concurrently and must share one answer.
        let mut cache = self.snapshots.lock().await;
        if let Some((_, s)) = cache.iter().find(|(r, _)| *r == range) {
            return Ok(s.clone());
        }
        let ty = self.type_id.clone();
        let snap = self
            .tenant
            .call("snapshot", move |c, t| c.snapshot(t, &ty, range))
            .await?;
        cache.push((range, snap.clone()));
        Ok(snap)
    }

    fn parquet_exec(
        &self,
        state: &dyn Session,
        files: &[SegmentFile],
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut source = ParquetSource::new(Arc::clone(&self.schema));
        if let Some(p) = self.predicate(state, filters) {
            // Row-group and page pruning by statistics.
            source = source.with_predicate(p);
        }
        let n = state.config().target_partitions().clamp(1, files.len());
        let mut groups = vec![Vec::new(); n];
        for (i, f) in files.iter().enumerate() {
            let location = StorePath::from_absolute_path(&f.path).map_err(|e| {
                to_df(Error::Internal(format!(
                    "segment path {}: {e}",
                    f.path.display()
                )))
            })?;
            let mut file = PartitionedFile::new("", f.bytes);
            file.object_meta.location = location;
            groups[i % n].push(file);
        }
        let config =
            FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
                .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
                .with_projection_indices(projection.cloned())?
                .build();
        Ok(DataSourceExec::from_data_source(config))
    }

    /// The pushed-down filters as one physical predicate over the table schema; `None` when
    /// any part cannot be converted (pruning is an optimisation, never required).
    fn predicate(&self, state: &dyn Session, filters: &[Expr]) -> Option<Arc<dyn PhysicalExpr>> {
        let expr = conjunction(filters.iter().cloned())?;
        let schema = DFSchema::try_from(self.schema.as_ref().clone()).ok()?;
        state.create_physical_expr(expr, &schema).ok()
    }
}

#[async_trait]
impl TableProvider for TypeTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let range = time_range(filters);
        let snap = self.snapshot(range).await.map_err(to_df)?;
        // The catalog should only return overlapping segments; checked again so that a file
        // outside the range is never opened.
        let files: Vec<SegmentFile> = snap
            .files
            .into_iter()
            .filter(|f| range.overlaps(f.min_ts, f.max_ts))
            .collect();
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        if !files.is_empty() {
            inputs.push(self.parquet_exec(state, &files, projection, filters)?);
        }
        let mut batches = Vec::with_capacity(snap.batches.len());
        for b in &snap.batches {
            let b = adapt(b, &self.schema, range)?;
            if b.num_rows() > 0 {
                batches.push(b);
            }
        }
        if !batches.is_empty() || inputs.is_empty() {
            inputs.push(MemorySourceConfig::try_new_exec(
                &[batches],
                Arc::clone(&self.schema),
                projection.cloned(),
            )?);
        }
        UnionExec::try_new(inputs)
    }
}

/// An in-memory batch in `schema` (columns added later to the type read as NULL), keeping only
/// rows inside `range`.
fn adapt(batch: &RecordBatch, schema: &SchemaRef, range: TimeRange) -> DfResult<RecordBatch> {
    let own = batch.schema();
    let cols = if own.fields() == schema.fields() {
        batch.columns().to_vec()
    } else {
        let by_name = kaiwu_core::batch::column_positions(&own);
        let mut cols = Vec::with_capacity(schema.fields().len());
        for f in schema.fields() {
            cols.push(
                match by_name.get(f.name().as_str()).map(|i| batch.column(*i)) {
                    Some(c) if c.data_type() == f.data_type() => Arc::clone(c),
                    Some(c) => cast(c, f.data_type())?,
                    None => new_null_array(f.data_type(), batch.num_rows()),
                },
            );
        }
        cols
    };
    let adapted = RecordBatch::try_new(Arc::clone(schema), cols)?;
    if range == TimeRange::ALL {
        return Ok(adapted);
    }
    let ts = adapted
        .column(schema.index_of(TS)?)
        .as_primitive::<TimestampMillisecondType>();
    let keep: BooleanArray = (0..ts.len())
        .map(|i| Some(ts.is_valid(i) && range.contains(ts.value(i))))
        .collect();
    Ok(filter_record_batch(&adapted, &keep)?)
}
