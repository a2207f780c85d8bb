//! The `devices` table: the tenant's devices, read from the catalog when a query scans it.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::DeviceInfo;
use crate::error::to_df;
use crate::session::Tenant;

/// Name of the table.
pub(crate) const DEVICES_TABLE: &str = "devices";

pub(crate) struct DevicesTable {
    tenant: Arc<Tenant>,
    schema: SchemaRef,
}

impl fmt::Debug for DevicesTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevicesTable")
            .field("tenant", &self.tenant.id)
            .finish()
    }
}

impl DevicesTable {
    pub(crate) fn new(tenant: Arc<Tenant>) -> Self {
        let text = |n: &str, null| Field::new(n, DataType::Utf8, null);
        let schema = Arc::new(Schema::new(vec![
            text("id", false),
            text("type", false),
            text("name", false),
            text("asset", true),
            // JSON object text: queryable with string functions, no nested types needed.
            text("labels", false),
        ]));
        DevicesTable { tenant, schema }
    }
}

#[async_trait]
impl TableProvider for DevicesTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let devices = self
            .tenant
            .call("devices", |c, t| c.devices(t))
            .await
            .map_err(to_df)?;
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns(&devices))?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            Arc::clone(&self.schema),
            projection.cloned(),
        )?)
    }
}

fn columns(devices: &[DeviceInfo]) -> Vec<ArrayRef> {
    let col = |f: fn(&DeviceInfo) -> Option<String>| -> ArrayRef {
        Arc::new(devices.iter().map(f).collect::<StringArray>())
    };
    vec![
        col(|d| Some(d.id.clone())),
        col(|d| Some(d.device_type.clone())),
        col(|d| Some(d.name.clone())),
        col(|d| d.asset.clone()),
        col(|d| serde_json::to_string(&d.labels).ok()),
    ]
}
