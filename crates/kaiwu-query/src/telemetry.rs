//! The narrow `telemetry` table: one row per stored property value, across all device types.
//!
//! A view: UNION ALL of one branch per (type, property) over the type's storage table. Filters
//! on `device_type` or `key` fold to constants in each branch, so the optimizer drops the
//! branches of other types and properties before any of their data is looked at; filters on
//! `ts` and `device` reach each type's scan and prune its segments.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::catalog::default_table_source::provider_as_source;
use datafusion::common::{ScalarValue, TableReference};
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::view::ViewTable;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    Expr, LogicalPlan, LogicalPlanBuilder, TableSource, Union, cast, ident, lit, when,
};
use kaiwu_core::batch::{DEVICE, TS, quality_column};
use kaiwu_model::{DataType as PropType, DeviceType, Property};

use crate::session::Tenant;
use crate::table::TypeTable;

/// Name of the narrow table.
pub(crate) const TELEMETRY_TABLE: &str = "telemetry";

/// The view over `types`.
pub(crate) fn telemetry_table<'a>(
    tenant: &Arc<Tenant>,
    types: impl Iterator<Item = &'a DeviceType>,
) -> DfResult<Arc<dyn TableProvider>> {
    let mut branches = Vec::new();
    for dt in types.filter(|t| !t.properties.is_empty()) {
        let source = provider_as_source(Arc::new(TypeTable::storage(Arc::clone(tenant), dt)));
        for p in &dt.properties {
            branches.push(Arc::new(branch(&dt.id, p, Arc::clone(&source))?));
        }
    }
    let plan = match branches.len() {
        0 => return Ok(Arc::new(EmptyTable::new(narrow_schema()))),
        1 => Arc::unwrap_or_clone(branches.remove(0)),
        _ => LogicalPlan::Union(Union::try_new_with_loose_types(branches)?),
    };
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// The rows of one property of one type.
fn branch(type_id: &str, p: &Property, source: Arc<dyn TableSource>) -> DfResult<LogicalPlan> {
    let v = ident(&p.id);
    let q = ident(quality_column(&p.id));
    LogicalPlanBuilder::scan(TableReference::bare(type_id), source, None)?
        // A null value with a quality is a marker of an unreadable point (quality bad).
        .filter(v.clone().is_not_null().or(q.clone().is_not_null()))?
        .project(vec![
            ident(TS),
            ident(DEVICE),
            lit(type_id).alias("device_type"),
            lit(p.id.as_str()).alias("key"),
            text(p.r#type, v.clone()).alias("value"),
            double(p.r#type, v).alias("value_double"),
            quality(q)?.alias("quality"),
        ])?
        .build()
}

/// The value as text; timestamps as epoch ms like everywhere else in the platform.
fn text(t: PropType, v: Expr) -> Expr {
    match t {
        PropType::Timestamp => cast(cast(v, DataType::Int64), DataType::Utf8),
        _ => cast(v, DataType::Utf8),
    }
}

/// The value as a number where it is one (bools as 0/1, enums as their key).
fn double(t: PropType, v: Expr) -> Expr {
    match t {
        PropType::Int | PropType::Float | PropType::Enum | PropType::Bool => {
            cast(v, DataType::Float64)
        }
        PropType::String | PropType::Json | PropType::Timestamp => lit(ScalarValue::Float64(None)),
    }
}

/// Quality code to its name (`kaiwu_core::batch::quality_from_code`: unknown codes are bad).
fn quality(q: Expr) -> DfResult<Expr> {
    when(q.clone().eq(lit(0u8)), lit("good"))
        .when(q.clone().eq(lit(1u8)), lit("uncertain"))
        .when(q.is_not_null(), lit("bad"))
        .end()
}

/// Schema of the narrow table.
fn narrow_schema() -> SchemaRef {
    let text = |n: &str, null| Field::new(n, DataType::Utf8, null);
    Arc::new(Schema::new(vec![
        Field::new(
            TS,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        text(DEVICE, false),
        text("device_type", false),
        text("key", false),
        text("value", true),
        Field::new("value_double", DataType::Float64, true),
        text("quality", true),
    ]))
}
