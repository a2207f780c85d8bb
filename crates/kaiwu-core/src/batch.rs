//! `Batch`: the unit of telemetry everywhere after decoding. Columnar from the start (one device
//! type, many rows) so ingest, WAL, memtable and Parquet never convert row by row.
//!
//! Storage schema (built by `kaiwu_model::storage_schema`):
//! - `ts`: `Timestamp(Millisecond, "UTC")`, not null;
//! - `device`: `Utf8`, not null;
//! - one nullable column per property, named by its id;
//! - one nullable `UInt8` quality column per property, named `__q_<id>` (0 good, 1 uncertain,
//!   2 bad; null where the row carries no reading). Property ids cannot start with `_`, so the
//!   names never collide.

use arrow_array::RecordBatch;

use crate::Quality;

/// Name of the timestamp column.
pub const TS: &str = "ts";
/// Name of the device column.
pub const DEVICE: &str = "device";
/// Prefix of quality columns.
pub const QUALITY_PREFIX: &str = "__q_";

/// Quality column name for a property.
pub fn quality_column(property: &str) -> String {
    format!("{QUALITY_PREFIX}{property}")
}

/// Position of each column by name: wide device types have thousands of columns, and finding
/// them one by one (`column_by_name`) would cost a search per column.
pub fn column_positions(schema: &arrow_schema::Schema) -> std::collections::HashMap<&str, usize> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name().as_str(), i))
        .collect()
}

/// Quality as stored.
pub fn quality_code(q: Quality) -> u8 {
    match q {
        Quality::Good => 0,
        Quality::Uncertain => 1,
        Quality::Bad => 2,
    }
}

/// Quality from its stored code; unknown codes read as bad.
pub fn quality_from_code(c: u8) -> Quality {
    match c {
        0 => Quality::Good,
        1 => Quality::Uncertain,
        _ => Quality::Bad,
    }
}

/// Rows of one device type in one tenant.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Owning tenant.
    pub tenant: String,
    /// Device type id (also the SQL table name).
    pub device_type: String,
    /// Version of the device type the rows were validated against.
    pub type_version: u32,
    /// The rows, in the storage schema.
    pub rows: RecordBatch,
}

impl Batch {
    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.rows.num_rows()
    }

    /// Number of non-null property values (the "points" of the batch).
    pub fn num_points(&self) -> usize {
        self.rows
            .schema()
            .fields()
            .iter()
            .zip(self.rows.columns())
            .filter(|(f, _)| {
                let n = f.name();
                n != TS && n != DEVICE && !n.starts_with(QUALITY_PREFIX)
            })
            .map(|(_, c)| c.len() - c.null_count())
            .sum()
    }
}
