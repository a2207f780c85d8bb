//! The Sparkplug 3.0 `DataType` enumeration and its mapping to thing-model property types.

use std::fmt;

use super::error::SparkplugError;

/// A Sparkplug B datatype (`DataType` enum of `sparkplug_b.proto`, Sparkplug 3.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum DataType {
    /// Placeholder; some publishers send it when the type is implied by the value field.
    Unknown = 0,
    /// Signed 8-bit, in `int_value`.
    Int8 = 1,
    /// Signed 16-bit, in `int_value`.
    Int16 = 2,
    /// Signed 32-bit, in `int_value`.
    Int32 = 3,
    /// Signed 64-bit, in `long_value`.
    Int64 = 4,
    /// Unsigned 8-bit, in `int_value`.
    UInt8 = 5,
    /// Unsigned 16-bit, in `int_value`.
    UInt16 = 6,
    /// Unsigned 32-bit, in `int_value` (some publishers use `long_value`).
    UInt32 = 7,
    /// Unsigned 64-bit, in `long_value`.
    UInt64 = 8,
    /// 32-bit float.
    Float = 9,
    /// 64-bit float.
    Double = 10,
    /// Boolean.
    Boolean = 11,
    /// UTF-8 string.
    String = 12,
    /// Epoch milliseconds, in `long_value`.
    DateTime = 13,
    /// UTF-8 text.
    Text = 14,
    /// UUID as a string.
    Uuid = 15,
    /// A table.
    DataSet = 16,
    /// Raw bytes.
    Bytes = 17,
    /// A file's bytes.
    File = 18,
    /// A user-defined type.
    Template = 19,
    /// Property values only.
    PropertySet = 20,
    /// Property values only.
    PropertySetList = 21,
    /// Packed little-endian i8s.
    Int8Array = 22,
    /// Packed little-endian i16s.
    Int16Array = 23,
    /// Packed little-endian i32s.
    Int32Array = 24,
    /// Packed little-endian i64s.
    Int64Array = 25,
    /// Packed u8s.
    UInt8Array = 26,
    /// Packed little-endian u16s.
    UInt16Array = 27,
    /// Packed little-endian u32s.
    UInt32Array = 28,
    /// Packed little-endian u64s.
    UInt64Array = 29,
    /// Packed little-endian f32s.
    FloatArray = 30,
    /// Packed little-endian f64s.
    DoubleArray = 31,
    /// A little-endian u32 count, then the booleans packed most significant bit first.
    BooleanArray = 32,
    /// NUL-terminated UTF-8 strings, back to back.
    StringArray = 33,
    /// Packed little-endian i64 epoch milliseconds.
    DateTimeArray = 34,
}

const ALL: [DataType; 35] = {
    use DataType::*;
    [
        Unknown,
        Int8,
        Int16,
        Int32,
        Int64,
        UInt8,
        UInt16,
        UInt32,
        UInt64,
        Float,
        Double,
        Boolean,
        String,
        DateTime,
        Text,
        Uuid,
        DataSet,
        Bytes,
        File,
        Template,
        PropertySet,
        PropertySetList,
        Int8Array,
        Int16Array,
        Int32Array,
        Int64Array,
        UInt8Array,
        UInt16Array,
        UInt32Array,
        UInt64Array,
        FloatArray,
        DoubleArray,
        BooleanArray,
        StringArray,
        DateTimeArray,
    ]
};

impl DataType {
    /// The wire number.
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// The name used by the specification, e.g. `UInt16`.
    pub fn name(self) -> &'static str {
        use DataType::*;
        match self {
            Unknown => "Unknown",
            Int8 => "Int8",
            Int16 => "Int16",
            Int32 => "Int32",
            Int64 => "Int64",
            UInt8 => "UInt8",
            UInt16 => "UInt16",
            UInt32 => "UInt32",
            UInt64 => "UInt64",
            Float => "Float",
            Double => "Double",
            Boolean => "Boolean",
            String => "String",
            DateTime => "DateTime",
            Text => "Text",
            Uuid => "UUID",
            DataSet => "DataSet",
            Bytes => "Bytes",
            File => "File",
            Template => "Template",
            PropertySet => "PropertySet",
            PropertySetList => "PropertySetList",
            Int8Array => "Int8Array",
            Int16Array => "Int16Array",
            Int32Array => "Int32Array",
            Int64Array => "Int64Array",
            UInt8Array => "UInt8Array",
            UInt16Array => "UInt16Array",
            UInt32Array => "UInt32Array",
            UInt64Array => "UInt64Array",
            FloatArray => "FloatArray",
            DoubleArray => "DoubleArray",
            BooleanArray => "BooleanArray",
            StringArray => "StringArray",
            DateTimeArray => "DateTimeArray",
        }
    }

    /// Width in bits and signedness of the scalar integer types.
    pub(super) fn int_shape(self) -> Option<(u32, bool)> {
        use DataType::*;
        match self {
            Int8 => Some((8, true)),
            Int16 => Some((16, true)),
            Int32 => Some((32, true)),
            Int64 => Some((64, true)),
            UInt8 => Some((8, false)),
            UInt16 => Some((16, false)),
            UInt32 => Some((32, false)),
            UInt64 => Some((64, false)),
            _ => None,
        }
    }
}

impl TryFrom<u32> for DataType {
    type Error = SparkplugError;

    fn try_from(n: u32) -> Result<Self, Self::Error> {
        usize::try_from(n)
            .ok()
            .and_then(|i| ALL.get(i).copied())
            .ok_or(SparkplugError::UnknownDataType(n))
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The thing-model property type (`bool`, `int`, `float`, `string`, `timestamp`, `json`) a
/// metric of this datatype becomes, or `None` when [`super::metric_value`] cannot convert it
/// (Bytes, File, the property-only types, Unknown).
///
/// All integer widths map to `int` (i64); a UInt64 above `i64::MAX` is rejected per value.
/// DataSets, Templates and arrays map to `json`.
pub fn datatype_to_property_type(dt: DataType) -> Option<&'static str> {
    use DataType::*;
    Some(match dt {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => "int",
        Float | Double => "float",
        Boolean => "bool",
        String | Text | Uuid => "string",
        DateTime => "timestamp",
        DataSet | Template | Int8Array | Int16Array | Int32Array | Int64Array | UInt8Array
        | UInt16Array | UInt32Array | UInt64Array | FloatArray | DoubleArray | BooleanArray
        | StringArray | DateTimeArray => "json",
        Unknown | Bytes | File | PropertySet | PropertySetList => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_specification() {
        for (i, dt) in ALL.iter().enumerate() {
            assert_eq!(dt.as_u32() as usize, i);
            assert_eq!(DataType::try_from(dt.as_u32()).expect("known"), *dt);
        }
        assert_eq!(DataType::Int8.as_u32(), 1);
        assert_eq!(DataType::Template.as_u32(), 19);
        assert_eq!(DataType::Int8Array.as_u32(), 22);
        assert_eq!(DataType::DateTimeArray.as_u32(), 34);
        assert_eq!(
            DataType::try_from(35),
            Err(SparkplugError::UnknownDataType(35))
        );
        assert_eq!(
            DataType::try_from(u32::MAX),
            Err(SparkplugError::UnknownDataType(u32::MAX))
        );
        assert_eq!(DataType::Uuid.to_string(), "UUID");
    }

    #[test]
    fn property_types() {
        use DataType::*;
        let cases = [
            (Int8, Some("int")),
            (UInt64, Some("int")),
            (Float, Some("float")),
            (Double, Some("float")),
            (Boolean, Some("bool")),
            (String, Some("string")),
            (Text, Some("string")),
            (Uuid, Some("string")),
            (DateTime, Some("timestamp")),
            (DataSet, Some("json")),
            (Template, Some("json")),
            (BooleanArray, Some("json")),
            (Bytes, None),
            (File, None),
            (PropertySet, None),
            (Unknown, None),
        ];
        for (dt, want) in cases {
            assert_eq!(datatype_to_property_type(dt), want, "{dt}");
        }
    }
}
