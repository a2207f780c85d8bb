//! The Sparkplug 3.0 array types: little-endian packed elements in `bytes_value`.
//!
//! The specification's text (little-endian) is followed where its FloatArray/DoubleArray
//! examples show big-endian bytes.

use serde_json::Value as Json;

use super::DataType;
use super::error::{Result, SparkplugError};

/// Decodes a packed array of type `dt` into a JSON array.
pub(super) fn decode_array(dt: DataType, b: &[u8]) -> Result<Json> {
    use DataType::*;
    match dt {
        Int8Array => Ok(b
            .iter()
            .map(|&x| Json::from(i8::from_le_bytes([x])))
            .collect()),
        UInt8Array => Ok(b.iter().map(|&x| Json::from(x)).collect()),
        Int16Array => fixed(dt, b, |c: [u8; 2]| Json::from(i16::from_le_bytes(c))),
        UInt16Array => fixed(dt, b, |c: [u8; 2]| Json::from(u16::from_le_bytes(c))),
        Int32Array => fixed(dt, b, |c: [u8; 4]| Json::from(i32::from_le_bytes(c))),
        UInt32Array => fixed(dt, b, |c: [u8; 4]| Json::from(u32::from_le_bytes(c))),
        Int64Array | DateTimeArray => fixed(dt, b, |c: [u8; 8]| Json::from(i64::from_le_bytes(c))),
        UInt64Array => fixed(dt, b, |c: [u8; 8]| Json::from(u64::from_le_bytes(c))),
        FloatArray => fixed(dt, b, |c: [u8; 4]| float(f64::from(f32::from_le_bytes(c)))),
        DoubleArray => fixed(dt, b, |c: [u8; 8]| float(f64::from_le_bytes(c))),
        BooleanArray => booleans(b),
        StringArray => strings(b),
        _ => Err(SparkplugError::ValueMismatch {
            datatype: dt,
            found: "bytes_value",
        }),
    }
}

fn float(f: f64) -> Json {
    serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
}

fn bad(datatype: DataType, b: &[u8], reason: &'static str) -> SparkplugError {
    SparkplugError::BadArray {
        datatype,
        len: b.len(),
        reason,
    }
}

fn fixed<const N: usize>(dt: DataType, b: &[u8], f: impl Fn([u8; N]) -> Json) -> Result<Json> {
    if !b.len().is_multiple_of(N) {
        return Err(bad(dt, b, "length is not a multiple of the element size"));
    }
    let items = b.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        f(a)
    });
    Ok(Json::Array(items.collect()))
}

/// A u32 count, then `ceil(count / 8)` bytes, most significant bit first.
fn booleans(b: &[u8]) -> Result<Json> {
    let dt = DataType::BooleanArray;
    let Some((count, bits)) = b.split_first_chunk::<4>() else {
        return Err(bad(dt, b, "shorter than its 4-byte count"));
    };
    let count = usize::try_from(u32::from_le_bytes(*count)).unwrap_or(usize::MAX);
    if bits.len() != count.div_ceil(8) {
        return Err(bad(dt, b, "byte count does not match the element count"));
    }
    let items = (0..count).map(|i| Json::Bool(bits[i / 8] & (0x80 >> (i % 8)) != 0));
    Ok(Json::Array(items.collect()))
}

/// NUL-terminated UTF-8 strings.
fn strings(b: &[u8]) -> Result<Json> {
    let dt = DataType::StringArray;
    let Some(body) = b.strip_suffix(&[0]) else {
        return if b.is_empty() {
            Ok(Json::Array(Vec::new()))
        } else {
            Err(bad(dt, b, "last string is not NUL-terminated"))
        };
    };
    body.split(|&c| c == 0)
        .map(|s| {
            std::str::from_utf8(s)
                .map(Json::from)
                .map_err(|_| bad(dt, b, "a string is not valid UTF-8"))
        })
        .collect::<Result<Vec<_>>>()
        .map(Json::Array)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use DataType::*;

    fn ok(dt: DataType, b: &[u8]) -> Json {
        decode_array(dt, b).expect("valid array")
    }

    #[test]
    fn specification_examples() {
        // The specification prints this example as [-23, 123], but 0xEF is -17.
        assert_eq!(ok(Int8Array, &[0xEF, 0x7B]), json!([-17, 123]));
        assert_eq!(
            ok(
                Int32Array,
                &[0x15, 0xCD, 0x5B, 0x07, 0xB1, 0x68, 0xDE, 0x3A]
            ),
            json!([123_456_789, 987_654_321])
        );
        assert_eq!(
            ok(BooleanArray, &[0x0C, 0x00, 0x00, 0x00, 0x34, 0xD0]),
            json!([
                false, false, true, true, false, true, false, false, true, true, false, true
            ])
        );
        assert_eq!(
            ok(
                StringArray,
                &[0x41, 0x42, 0x43, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00]
            ),
            json!(["ABC", "hello"])
        );
    }

    #[test]
    fn widths_and_signs() {
        assert_eq!(ok(UInt8Array, &[0xFF]), json!([255]));
        assert_eq!(ok(Int16Array, &[0xFF, 0xFF, 0x02, 0x01]), json!([-1, 258]));
        assert_eq!(ok(UInt16Array, &[0xFF, 0xFF]), json!([65535]));
        assert_eq!(ok(UInt32Array, &[0xFF; 4]), json!([4_294_967_295u32]));
        assert_eq!(ok(Int64Array, &[0xFF; 8]), json!([-1]));
        assert_eq!(ok(UInt64Array, &[0xFF; 8]), json!([u64::MAX]));
        assert_eq!(
            ok(DateTimeArray, &1_700_000_000_000i64.to_le_bytes()),
            json!([1_700_000_000_000i64])
        );
        assert_eq!(ok(FloatArray, &1.5f32.to_le_bytes()), json!([1.5]));
        assert_eq!(ok(DoubleArray, &f64::NAN.to_le_bytes()), json!([null]));
        assert_eq!(ok(Int32Array, &[]), json!([]));
        assert_eq!(ok(StringArray, &[]), json!([]));
        assert_eq!(ok(StringArray, &[0]), json!([""]));
        assert_eq!(ok(BooleanArray, &[0, 0, 0, 0]), json!([]));
    }

    #[test]
    fn malformed() {
        for (dt, b) in [
            (Int16Array, &[1u8][..]),
            (DoubleArray, &[0; 7][..]),
            (BooleanArray, &[1, 0, 0][..]),
            (BooleanArray, &[9, 0, 0, 0, 0xFF][..]),
            (BooleanArray, &[1, 0, 0, 0, 0x80, 0][..]),
            (BooleanArray, &[0xFF, 0xFF, 0xFF, 0xFF][..]),
            (StringArray, b"abc"),
            (StringArray, &[0xFF, 0][..]),
        ] {
            let e = decode_array(dt, b).expect_err("malformed");
            assert!(matches!(e, SparkplugError::BadArray { .. }), "{dt}: {e}");
        }
        assert!(matches!(
            decode_array(Int32, &[]),
            Err(SparkplugError::ValueMismatch { .. })
        ));
    }
}
