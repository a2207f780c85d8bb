//! A query's result and its renderings: JSON for the API, CSV and Parquet for export.

use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::array::types;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::csv::writer::Terminator;
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use serde_json::{Map, Number, Value, json};

use crate::{Error, Result};

/// The rows of a query with their schema (present even when there are no rows).
#[derive(Debug, Clone)]
pub struct QueryOutput {
    /// Column names and types.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
}

impl QueryOutput {
    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// `{"columns":[{"name","type"}],"rows":[[...]]}`. Types are Arrow type names. Timestamps
    /// are epoch milliseconds (numbers), like every other timestamp of the API; numbers are
    /// numbers (NaN and infinities null), text is text, other types their display text.
    /// More than `max_rows` rows is [`Error::TooManyRows`].
    pub fn to_json(&self, max_rows: usize) -> Result<Value> {
        if self.num_rows() > max_rows {
            return Err(Error::TooManyRows { limit: max_rows });
        }
        let columns: Vec<Value> = self
            .schema
            .fields()
            .iter()
            .map(|f| json!({"name": f.name(), "type": f.data_type().to_string()}))
            .collect();
        let mut rows = Vec::with_capacity(self.num_rows());
        for batch in &self.batches {
            let mut cols = batch
                .columns()
                .iter()
                .map(json_values)
                .collect::<Result<Vec<_>>>()?;
            for i in 0..batch.num_rows() {
                rows.push(Value::Array(
                    cols.iter_mut().map(|c| std::mem::take(&mut c[i])).collect(),
                ));
            }
        }
        let mut out = Map::new();
        out.insert("columns".into(), Value::Array(columns));
        out.insert("rows".into(), Value::Array(rows));
        Ok(Value::Object(out))
    }

    /// CSV with a header row, RFC 4180 quoting and CRLF line ends; timestamps as RFC 3339
    /// text (CSV is read by people and spreadsheets), NULL as an empty field.
    pub fn write_csv(&self, w: impl Write) -> Result<()> {
        let mut writer = WriterBuilder::new()
            .with_header(true)
            .with_line_terminator(Terminator::CRLF)
            .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.3f%:z".into())
            .with_timestamp_format("%Y-%m-%dT%H:%M:%S%.3f".into())
            .build(w);
        // An empty batch first so that a result without rows still has its header.
        writer
            .write(&RecordBatch::new_empty(Arc::clone(&self.schema)))
            .map_err(csv_err)?;
        for b in &self.batches {
            writer.write(b).map_err(csv_err)?;
        }
        Ok(())
    }

    /// A Parquet file (zstd) of the result.
    pub fn write_parquet(&self, w: impl Write + Send) -> Result<()> {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let err = |e: datafusion::parquet::errors::ParquetError| {
            Error::Internal(format!("parquet export: {e}"))
        };
        let mut writer =
            ArrowWriter::try_new(w, Arc::clone(&self.schema), Some(props)).map_err(err)?;
        for b in &self.batches {
            writer.write(b).map_err(err)?;
        }
        writer.close().map_err(err)?;
        Ok(())
    }
}

fn csv_err(e: datafusion::arrow::error::ArrowError) -> Error {
    use datafusion::arrow::error::ArrowError as A;
    match e {
        A::IoError(..) | A::ExternalError(_) => Error::Internal(format!("csv export: {e}")),
        e => Error::Invalid(format!("the result cannot be written as CSV: {e}")),
    }
}

/// One column as JSON values (see [`QueryOutput::to_json`]).
pub(crate) fn json_values(col: &ArrayRef) -> Result<Vec<Value>> {
    let n = col.len();
    let each = |f: &dyn Fn(usize) -> Value| -> Vec<Value> {
        (0..n)
            .map(|i| if col.is_null(i) { Value::Null } else { f(i) })
            .collect()
    };
    macro_rules! prim {
        ($t:ty) => {{
            let a = col.as_primitive::<$t>();
            each(&|i| Value::from(a.value(i)))
        }};
    }
    Ok(match col.data_type() {
        DataType::Null => vec![Value::Null; n],
        DataType::Boolean => {
            let a = col.as_boolean();
            each(&|i| Value::Bool(a.value(i)))
        }
        DataType::Int8 => prim!(types::Int8Type),
        DataType::Int16 => prim!(types::Int16Type),
        DataType::Int32 => prim!(types::Int32Type),
        DataType::Int64 => prim!(types::Int64Type),
        DataType::UInt8 => prim!(types::UInt8Type),
        DataType::UInt16 => prim!(types::UInt16Type),
        DataType::UInt32 => prim!(types::UInt32Type),
        DataType::UInt64 => prim!(types::UInt64Type),
        DataType::Float32 => {
            let a = col.as_primitive::<types::Float32Type>();
            each(&|i| float(f64::from(a.value(i))))
        }
        DataType::Float64 => {
            let a = col.as_primitive::<types::Float64Type>();
            each(&|i| float(a.value(i)))
        }
        DataType::Utf8 => {
            let a = col.as_string::<i32>();
            each(&|i| Value::from(a.value(i)))
        }
        DataType::LargeUtf8 => {
            let a = col.as_string::<i64>();
            each(&|i| Value::from(a.value(i)))
        }
        DataType::Utf8View => {
            let a = col.as_string_view();
            each(&|i| Value::from(a.value(i)))
        }
        DataType::Timestamp(unit, _) => {
            let (a, per_ms) = timestamp_values(col, *unit);
            each(&|i| Value::from(a[i].div_euclid(per_ms)))
        }
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..)
        | DataType::Float16 => {
            let text = display(col)?;
            text.into_iter()
                .map(|t| match t {
                    Value::String(s) => s.parse::<f64>().map(float).unwrap_or(Value::String(s)),
                    other => other,
                })
                .collect()
        }
        _ => display(col)?,
    })
}

/// Raw values of a timestamp column and how many of its units make a millisecond (a second
/// has 1000 ms: handled by scaling up instead).
fn timestamp_values(col: &ArrayRef, unit: TimeUnit) -> (Vec<i64>, i64) {
    match unit {
        TimeUnit::Second => {
            let a = col.as_primitive::<types::TimestampSecondType>();
            (
                a.values().iter().map(|s| s.saturating_mul(1000)).collect(),
                1,
            )
        }
        TimeUnit::Millisecond => {
            let a = col.as_primitive::<types::TimestampMillisecondType>();
            (a.values().to_vec(), 1)
        }
        TimeUnit::Microsecond => {
            let a = col.as_primitive::<types::TimestampMicrosecondType>();
            (a.values().to_vec(), 1000)
        }
        TimeUnit::Nanosecond => {
            let a = col.as_primitive::<types::TimestampNanosecondType>();
            (a.values().to_vec(), 1_000_000)
        }
    }
}

pub(crate) fn float(x: f64) -> Value {
    Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Display text of each value (dates, intervals, lists, ...).
fn display(col: &ArrayRef) -> Result<Vec<Value>> {
    let f = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())
        .map_err(|e| Error::Internal(format!("formatting {}: {e}", col.data_type())))?;
    Ok((0..col.len())
        .map(|i| {
            if col.is_null(i) {
                Value::Null
            } else {
                Value::String(f.value(i).to_string())
            }
        })
        .collect())
}
