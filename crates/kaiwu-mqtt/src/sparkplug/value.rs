//! From Sparkplug metrics to Kaiwu values.

use kaiwu_core::{Quality, Value};
use serde_json::{Map, Value as Json};

use super::DataType;
use super::arrays::decode_array;
use super::error::{Result, SparkplugError};
use super::proto::{
    DataSet, Metric, Template, data_set_value, metric, property_value, template_parameter,
};

/// A scalar as found in any of the schema's value oneofs.
#[derive(Clone, Copy)]
pub(super) enum Scalar<'a> {
    Int(u32),
    Long(u64),
    Float(f32),
    Double(f64),
    Bool(bool),
    Str(&'a str),
    Extension,
}

impl Scalar<'_> {
    fn field(self) -> &'static str {
        match self {
            Scalar::Int(_) => "int_value",
            Scalar::Long(_) => "long_value",
            Scalar::Float(_) => "float_value",
            Scalar::Double(_) => "double_value",
            Scalar::Bool(_) => "boolean_value",
            Scalar::Str(_) => "string_value",
            Scalar::Extension => "extension_value",
        }
    }
}

/// The Kaiwu value of a metric; `None` when `is_null` is set.
///
/// Every integer type becomes `Int`: signed types are read as two's complement of their width
/// (from either `int_value` or `long_value`, since publishers differ), unsigned ones must fit
/// their width and i64. Float/Double become `Float`, Boolean `Bool`, String/Text/UUID
/// `String`, DateTime `Timestamp`; DataSet, Template and the array types become `Json`.
/// Bytes and File are unsupported. A metric without a datatype (allowed in data messages,
/// though the session fills it in from the birth) is typed by its value field.
pub fn metric_value(m: &Metric) -> Result<Option<Value>> {
    if m.is_null == Some(true) {
        return Ok(None);
    }
    let dt = match m.datatype {
        Some(n) => DataType::try_from(n)?,
        None => DataType::Unknown,
    };
    let Some(v) = &m.value else {
        return Err(SparkplugError::MissingValue(dt));
    };
    use metric::Value as V;
    let scalar = match v {
        V::IntValue(x) => Scalar::Int(*x),
        V::LongValue(x) => Scalar::Long(*x),
        V::FloatValue(x) => Scalar::Float(*x),
        V::DoubleValue(x) => Scalar::Double(*x),
        V::BooleanValue(x) => Scalar::Bool(*x),
        V::StringValue(x) => Scalar::Str(x),
        V::ExtensionValue(_) => Scalar::Extension,
        V::BytesValue(b) => return bytes_value(dt, b).map(Some),
        V::DatasetValue(ds) if matches!(dt, DataType::DataSet | DataType::Unknown) => {
            return dataset_json(ds).map(|j| Some(Value::Json(j)));
        }
        V::TemplateValue(t) if matches!(dt, DataType::Template | DataType::Unknown) => {
            return template_json(t).map(|j| Some(Value::Json(j)));
        }
        V::DatasetValue(_) => return Err(mismatch(dt, "dataset_value")),
        V::TemplateValue(_) => return Err(mismatch(dt, "template_value")),
    };
    scalar_value(dt, scalar).map(Some)
}

fn bytes_value(dt: DataType, b: &[u8]) -> Result<Value> {
    use DataType::*;
    match dt {
        Bytes | File | Unknown => Err(SparkplugError::Unsupported(if dt == Unknown {
            Bytes
        } else {
            dt
        })),
        Int8Array | Int16Array | Int32Array | Int64Array | UInt8Array | UInt16Array
        | UInt32Array | UInt64Array | FloatArray | DoubleArray | BooleanArray | StringArray
        | DateTimeArray => decode_array(dt, b).map(Value::Json),
        _ => Err(mismatch(dt, "bytes_value")),
    }
}

fn mismatch(datatype: DataType, found: &'static str) -> SparkplugError {
    SparkplugError::ValueMismatch { datatype, found }
}

/// Converts a scalar of declared type `dt` (shared by metrics, DataSet cells and template
/// parameters).
pub(super) fn scalar_value(dt: DataType, s: Scalar<'_>) -> Result<Value> {
    use DataType::*;
    if let Some((bits, signed)) = dt.int_shape() {
        return int_value(dt, bits, signed, s).map(Value::Int);
    }
    match (dt, s) {
        (Float | Double, Scalar::Float(f)) => Ok(Value::Float(f64::from(f))),
        (Float | Double, Scalar::Double(f)) => Ok(Value::Float(f)),
        (Boolean, Scalar::Bool(b)) => Ok(Value::Bool(b)),
        (String | Text | Uuid, Scalar::Str(s)) => Ok(Value::String(s.to_owned())),
        (DateTime, Scalar::Int(_) | Scalar::Long(_)) => int_value(UInt64, 64, false, s)
            .map(Value::Timestamp)
            .map_err(|_| out_of_range(DateTime, s)),
        (Unknown, _) => inferred(s),
        _ => Err(mismatch(dt, s.field())),
    }
}

/// A value typed only by its field, for datatype `Unknown`.
fn inferred(s: Scalar<'_>) -> Result<Value> {
    match s {
        Scalar::Int(x) => Ok(Value::Int(i64::from(x))),
        Scalar::Long(x) => i64::try_from(x)
            .map(Value::Int)
            .map_err(|_| out_of_range(DataType::Unknown, s)),
        Scalar::Float(f) => Ok(Value::Float(f64::from(f))),
        Scalar::Double(f) => Ok(Value::Float(f)),
        Scalar::Bool(b) => Ok(Value::Bool(b)),
        Scalar::Str(s) => Ok(Value::String(s.to_owned())),
        Scalar::Extension => Err(SparkplugError::Unsupported(DataType::Unknown)),
    }
}

/// Reads an integer of `bits` width from a 32-bit (`int_value`) or 64-bit (`long_value`) field.
fn int_value(dt: DataType, bits: u32, signed: bool, s: Scalar<'_>) -> Result<i64> {
    let (raw, src_bits) = match s {
        Scalar::Int(v) => (u64::from(v), 32),
        Scalar::Long(v) => (v, 64),
        other => return Err(mismatch(dt, other.field())),
    };
    if signed {
        let w = bits.min(src_bits);
        let shift = 64 - w;
        // Two's complement reinterpretation is the point here.
        let v = ((raw << shift) as i64) >> shift;
        // Accept the value zero-extended from its width or sign-extended to the field's width
        // (both occur in the wild); anything else has stray high bits.
        let zero_extended = w == 64 || raw >> w == 0;
        let sign_extended = (v as u64) & mask(src_bits) == raw;
        if zero_extended || sign_extended {
            Ok(v)
        } else {
            Err(out_of_range(dt, s))
        }
    } else if bits < 64 && raw > mask(bits) {
        Err(out_of_range(dt, s))
    } else {
        i64::try_from(raw).map_err(|_| out_of_range(dt, s))
    }
}

fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    }
}

fn out_of_range(datatype: DataType, s: Scalar<'_>) -> SparkplugError {
    let value = match s {
        Scalar::Int(v) => v.to_string(),
        Scalar::Long(v) => v.to_string(),
        _ => s.field().to_owned(),
    };
    SparkplugError::OutOfRange { datatype, value }
}

/// A Kaiwu value as JSON (non-finite floats become `null`, as JSON has no NaN).
pub(super) fn to_json(v: &Value) -> Json {
    match v {
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) | Value::Timestamp(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.clone()),
        Value::Json(j) => j.clone(),
    }
}

/// `{"columns":[..],"types":["Int32",..],"rows":[[..],..]}`; cells typed by their column.
fn dataset_json(ds: &DataSet) -> Result<Json> {
    let types: Vec<DataType> = ds
        .types
        .iter()
        .map(|&t| DataType::try_from(t))
        .collect::<Result<_>>()?;
    let mut rows = Vec::with_capacity(ds.rows.len());
    for row in &ds.rows {
        let mut cells = Vec::with_capacity(row.elements.len());
        for (i, cell) in row.elements.iter().enumerate() {
            let dt = types.get(i).copied().unwrap_or(DataType::Unknown);
            use data_set_value::Value as V;
            let s = match &cell.value {
                None => {
                    cells.push(Json::Null);
                    continue;
                }
                Some(V::IntValue(x)) => Scalar::Int(*x),
                Some(V::LongValue(x)) => Scalar::Long(*x),
                Some(V::FloatValue(x)) => Scalar::Float(*x),
                Some(V::DoubleValue(x)) => Scalar::Double(*x),
                Some(V::BooleanValue(x)) => Scalar::Bool(*x),
                Some(V::StringValue(x)) => Scalar::Str(x),
                Some(V::ExtensionValue(_)) => Scalar::Extension,
            };
            cells.push(to_json(&scalar_value(dt, s)?));
        }
        rows.push(Json::Array(cells));
    }
    let mut out = Map::new();
    out.insert("columns".to_owned(), Json::from(ds.columns.clone()));
    let names: Vec<Json> = types.iter().map(|t| Json::from(t.name())).collect();
    out.insert("types".to_owned(), Json::Array(names));
    out.insert("rows".to_owned(), Json::Array(rows));
    Ok(Json::Object(out))
}

/// `{"template_ref":..,"version":..,"is_definition":..,"parameters":{..},"metrics":{..}}`,
/// leaving out absent fields; member metrics are converted recursively (prost's decode depth
/// limit bounds the recursion).
fn template_json(t: &Template) -> Result<Json> {
    let mut out = Map::new();
    if let Some(r) = &t.template_ref {
        out.insert("template_ref".to_owned(), Json::from(r.as_str()));
    }
    if let Some(v) = &t.version {
        out.insert("version".to_owned(), Json::from(v.as_str()));
    }
    if let Some(d) = t.is_definition {
        out.insert("is_definition".to_owned(), Json::Bool(d));
    }
    let mut params = Map::new();
    for (i, p) in t.parameters.iter().enumerate() {
        let dt = DataType::try_from(p.r#type.unwrap_or(0))?;
        use template_parameter::Value as V;
        let value = match &p.value {
            None => Json::Null,
            Some(v) => {
                let s = match v {
                    V::IntValue(x) => Scalar::Int(*x),
                    V::LongValue(x) => Scalar::Long(*x),
                    V::FloatValue(x) => Scalar::Float(*x),
                    V::DoubleValue(x) => Scalar::Double(*x),
                    V::BooleanValue(x) => Scalar::Bool(*x),
                    V::StringValue(x) => Scalar::Str(x),
                    V::ExtensionValue(_) => Scalar::Extension,
                };
                to_json(&scalar_value(dt, s)?)
            }
        };
        params.insert(member_name(p.name.as_deref(), i), value);
    }
    if !params.is_empty() {
        out.insert("parameters".to_owned(), Json::Object(params));
    }
    let mut metrics = Map::new();
    for (i, m) in t.metrics.iter().enumerate() {
        let name = member_name(m.name.as_deref(), i);
        let value = match metric_value(m) {
            Ok(v) => v.as_ref().map_or(Json::Null, to_json),
            Err(e) => {
                return Err(SparkplugError::Metric {
                    name,
                    source: Box::new(e),
                });
            }
        };
        metrics.insert(name, value);
    }
    out.insert("metrics".to_owned(), Json::Object(metrics));
    Ok(Json::Object(out))
}

fn member_name(name: Option<&str>, index: usize) -> String {
    name.map_or_else(|| format!("#{index}"), str::to_owned)
}

/// The metric's quality from its `Quality` property (Sparkplug codes: 0 bad, 192 good, 500
/// stale); stale maps to `Uncertain`, and a missing or unrecognised code means `Good`.
pub fn metric_quality(m: &Metric) -> Quality {
    let Some(props) = &m.properties else {
        return Quality::Good;
    };
    let Some(i) = props.keys.iter().position(|k| k == "Quality") else {
        return Quality::Good;
    };
    let code = match props.values.get(i).and_then(|v| v.value.as_ref()) {
        Some(property_value::Value::IntValue(c)) => u64::from(*c),
        Some(property_value::Value::LongValue(c)) => *c,
        _ => return Quality::Good,
    };
    match code {
        0 => Quality::Bad,
        500 => Quality::Uncertain,
        _ => Quality::Good,
    }
}

#[cfg(test)]
mod tests;
