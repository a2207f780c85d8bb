//! Native JSON in: parse with paths, then validate.

use crate::{DeviceType, Error, Result};

impl DeviceType {
    /// Parses the native JSON form and validates it. Syntax errors are [`Error::Syntax`], shape
    /// errors (wrong type, unknown or missing field) [`Error::Parse`] with the path, rule
    /// violations [`Error::Invalid`] with all of them.
    pub fn from_json(bytes: &[u8]) -> Result<DeviceType> {
        // Syntax first: a truncated document must be reported as such, not as whatever shape
        // error the streaming parse happens to meet before the truncation.
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| Error::Syntax {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let dt: DeviceType = serde_path_to_error::deserialize(&mut de).map_err(Error::from_json)?;
        // Trailing data after the document is a syntax error too.
        de.end().map_err(|e| Error::Syntax {
            line: e.line(),
            column: e.column(),
            message: "trailing characters after the document".to_owned(),
        })?;
        dt.validate()?;
        Ok(dt)
    }

    /// As [`DeviceType::from_json`], from an already parsed document.
    pub fn from_value(v: serde_json::Value) -> Result<DeviceType> {
        let dt: DeviceType = serde_path_to_error::deserialize(v).map_err(Error::from_json)?;
        dt.validate()?;
        Ok(dt)
    }
}
