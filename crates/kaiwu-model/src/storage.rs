//! The thing model as Arrow: the storage schema of a device type, and a builder that validates
//! telemetry rows against the model and appends them column by column into a `Batch`.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder, UInt8Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType as ArrowType, Field as ArrowField, Schema, SchemaRef, TimeUnit};
use kaiwu_core::batch::{DEVICE, TS, quality_code, quality_column};
use kaiwu_core::{Batch, Quality, Value};

use crate::{DataType, DeviceType, Error, Result, validate_value};

/// Arrow type of a property type. Enums store their integer key, json its text.
pub fn arrow_type(t: DataType) -> ArrowType {
    match t {
        DataType::Bool => ArrowType::Boolean,
        DataType::Int | DataType::Enum => ArrowType::Int64,
        DataType::Float => ArrowType::Float64,
        DataType::String | DataType::Json => ArrowType::Utf8,
        DataType::Timestamp => ArrowType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
    }
}

/// Storage schema of a device type (see `kaiwu_core::batch`).
pub fn storage_schema(dt: &DeviceType) -> SchemaRef {
    let mut fields = Vec::with_capacity(2 + 2 * dt.properties.len());
    fields.push(ArrowField::new(TS, arrow_type(DataType::Timestamp), false));
    fields.push(ArrowField::new(DEVICE, ArrowType::Utf8, false));
    for p in &dt.properties {
        fields.push(ArrowField::new(&p.id, arrow_type(p.r#type), true));
    }
    for p in &dt.properties {
        fields.push(ArrowField::new(
            quality_column(&p.id),
            ArrowType::UInt8,
            true,
        ));
    }
    Arc::new(Schema::new(fields))
}

enum Col {
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Str(StringBuilder),
    Ts(TimestampMillisecondBuilder),
}

impl Col {
    fn new(t: DataType, rows: usize) -> Self {
        match t {
            DataType::Bool => Col::Bool(BooleanBuilder::with_capacity(rows)),
            DataType::Int | DataType::Enum => Col::Int(Int64Builder::with_capacity(rows)),
            DataType::Float => Col::Float(Float64Builder::with_capacity(rows)),
            DataType::String | DataType::Json => {
                Col::Str(StringBuilder::with_capacity(rows, rows * 16))
            }
            DataType::Timestamp => {
                Col::Ts(TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC"))
            }
        }
    }

    fn push(&mut self, v: Option<&Value>) {
        match (self, v) {
            (Col::Bool(b), Some(Value::Bool(x))) => b.append_value(*x),
            (Col::Int(b), Some(Value::Int(x))) => b.append_value(*x),
            (Col::Float(b), Some(Value::Float(x))) => b.append_value(*x),
            (Col::Str(b), Some(Value::String(x))) => b.append_value(x),
            (Col::Str(b), Some(Value::Json(x))) => b.append_value(x.to_string()),
            (Col::Ts(b), Some(Value::Timestamp(x))) => b.append_value(*x),
            (Col::Bool(b), _) => b.append_null(),
            (Col::Int(b), _) => b.append_null(),
            (Col::Float(b), _) => b.append_null(),
            (Col::Str(b), _) => b.append_null(),
            (Col::Ts(b), _) => b.append_null(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Col::Bool(mut b) => Arc::new(b.finish()),
            Col::Int(mut b) => Arc::new(b.finish()),
            Col::Float(mut b) => Arc::new(b.finish()),
            Col::Str(mut b) => Arc::new(b.finish()),
            Col::Ts(mut b) => Arc::new(b.finish()),
        }
    }
}

/// Builds one `Batch` of a device type from validated rows.
pub struct BatchBuilder<'a> {
    tenant: String,
    dt: &'a DeviceType,
    schema: SchemaRef,
    ts: TimestampMillisecondBuilder,
    device: StringBuilder,
    cols: Vec<Col>,
    quals: Vec<UInt8Builder>,
    row: Vec<Option<(Value, Quality)>>,
    uncertain: usize,
}

impl std::fmt::Debug for BatchBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchBuilder")
            .field("device_type", &self.dt.id)
            .field("rows", &self.ts.len())
            .finish_non_exhaustive()
    }
}

impl<'a> BatchBuilder<'a> {
    /// An empty batch of `dt` for `tenant`.
    pub fn new(tenant: &str, dt: &'a DeviceType) -> Self {
        Self::with_schema(tenant, dt, storage_schema(dt), 16)
    }

    /// An empty batch of `dt` with its storage schema already at hand (callers that write the
    /// same type often keep it: one schema object also lets later stages compare by pointer),
    /// sized for `rows` rows. Arrow's default builder capacity is 1024 values per column,
    /// which for a wide type and a batch of a few rows would allocate megabytes never used.
    pub fn with_schema(tenant: &str, dt: &'a DeviceType, schema: SchemaRef, rows: usize) -> Self {
        let rows = rows.max(1);
        Self {
            tenant: tenant.to_owned(),
            dt,
            schema,
            ts: TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC"),
            device: StringBuilder::with_capacity(rows, rows * 16),
            cols: dt
                .properties
                .iter()
                .map(|p| Col::new(p.r#type, rows))
                .collect(),
            quals: dt
                .properties
                .iter()
                .map(|_| UInt8Builder::with_capacity(rows))
                .collect(),
            row: vec![None; dt.properties.len()],
            uncertain: 0,
        }
    }

    /// Validate one row of JSON values and append it. All or nothing: on any unknown key or
    /// wrong type, nothing of the row is appended and the error names the property.
    pub fn push_json(
        &mut self,
        device: &str,
        ts: i64,
        values: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        self.row.iter_mut().for_each(|v| *v = None);
        for (k, v) in values {
            let i = self
                .dt
                .properties
                .iter()
                .position(|p| p.id == *k)
                .ok_or_else(|| Error::Value {
                    property: k.chars().take(64).collect(),
                    reason: format!(
                        "`{}` is not a property of device type {}",
                        k.chars().take(64).collect::<String>(),
                        self.dt.id
                    ),
                })?;
            self.row[i] = Some(validate_value(&self.dt.properties[i], v)?);
        }
        self.append_row(device, ts);
        Ok(())
    }

    /// Append a row of already validated values, indexed like the type's properties.
    pub fn push_values(&mut self, device: &str, ts: i64, values: &[Option<(Value, Quality)>]) {
        self.append(device, ts, values, &[]);
    }

    /// Append a row that records `props` (indices into the type's properties) as unreadable:
    /// null values with quality `bad`, e.g. while a connector cannot reach the device.
    pub fn push_bad(&mut self, device: &str, ts: i64, props: &[usize]) {
        self.row.iter_mut().for_each(|v| *v = None);
        self.append_row_marking(device, ts, props);
    }

    fn append_row(&mut self, device: &str, ts: i64) {
        self.append_row_marking(device, ts, &[]);
    }

    /// Append `self.row`; absent values whose index is in `bad` get quality `bad`.
    fn append_row_marking(&mut self, device: &str, ts: i64, bad: &[usize]) {
        let row = std::mem::take(&mut self.row);
        self.append(device, ts, &row, bad);
        self.row = row;
    }

    /// Append `row` (missing trailing values count as absent); absent values whose index is in
    /// `bad` get quality `bad`.
    fn append(&mut self, device: &str, ts: i64, row: &[Option<(Value, Quality)>], bad: &[usize]) {
        self.ts.append_value(ts);
        self.device.append_value(device);
        let values = row
            .iter()
            .map(Option::as_ref)
            .chain(std::iter::repeat(None));
        let cols = self.cols.iter_mut().zip(&mut self.quals).zip(values);
        for (i, ((col, q), v)) in cols.enumerate() {
            col.push(v.map(|(v, _)| v));
            match v {
                Some((_, qual)) => {
                    if *qual == Quality::Uncertain {
                        self.uncertain += 1;
                    }
                    q.append_value(quality_code(*qual));
                }
                None if bad.contains(&i) => q.append_value(quality_code(Quality::Bad)),
                None => q.append_null(),
            }
        }
    }

    /// Rows so far.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether no row was appended.
    pub fn is_empty(&self) -> bool {
        self.ts.len() == 0
    }

    /// Values stored with quality `uncertain` (outside their declared range) so far.
    pub fn uncertain(&self) -> usize {
        self.uncertain
    }

    /// The finished batch.
    pub fn finish(mut self) -> Result<Batch> {
        let mut cols: Vec<ArrayRef> =
            vec![Arc::new(self.ts.finish()), Arc::new(self.device.finish())];
        cols.extend(self.cols.into_iter().map(Col::finish));
        cols.extend(
            self.quals
                .iter_mut()
                .map(|q| Arc::new(q.finish()) as ArrayRef),
        );
        let rows = RecordBatch::try_new(self.schema, cols).map_err(|e| Error::Value {
            property: String::new(),
            reason: format!("internal: batch does not match its schema: {e}"),
        })?;
        Ok(Batch {
            tenant: self.tenant,
            device_type: self.dt.id.clone(),
            type_version: self.dt.version,
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type, UInt8Type};

    fn dt() -> DeviceType {
        DeviceType::from_json(
            br#"{"id":"m","properties":[
              {"id":"speed","type":"float","min":0,"max":100},
              {"id":"state","type":"enum","values":{"0":"idle","1":"run"}},
              {"id":"note","type":"string"}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn rows_become_columns_with_quality() {
        let t = dt();
        let mut b = BatchBuilder::new("t", &t);
        let row = |s: &str| serde_json::from_str::<serde_json::Map<_, _>>(s).unwrap();
        b.push_json("d1", 1000, &row(r#"{"speed": 50, "state": "run"}"#))
            .unwrap();
        b.push_json("d1", 2000, &row(r#"{"speed": 150}"#)).unwrap();
        let err = b
            .push_json("d1", 3000, &row(r#"{"speed": 1, "bogus": 2}"#))
            .unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
        assert!(
            b.push_json("d1", 3000, &row(r#"{"speed": "fast"}"#))
                .is_err()
        );
        assert_eq!(b.uncertain(), 1);
        let batch = b.finish().unwrap();
        assert_eq!(batch.num_rows(), 2, "rejected rows leave nothing behind");
        assert_eq!(batch.num_points(), 3);
        let r = &batch.rows;
        let speed = r
            .column_by_name("speed")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!(speed.value(1), 150.0);
        let state = r
            .column_by_name("state")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(state.value(0), 1);
        assert!(state.is_null(1));
        let q = r
            .column_by_name("__q_speed")
            .unwrap()
            .as_primitive::<UInt8Type>();
        assert_eq!((q.value(0), q.value(1)), (0, 1));
        assert!(r.column_by_name("__q_note").unwrap().is_null(0));
        assert_eq!(r.schema(), storage_schema(&t));
    }
}
