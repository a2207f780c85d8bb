use serde::{Deserialize, Serialize};

/// Quality of a stored value (OPC UA's three classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// Trustworthy.
    #[default]
    Good,
    /// Stored but suspect, e.g. outside the property's declared range.
    Uncertain,
    /// Not usable, e.g. the source was unreachable.
    Bad,
}

impl Quality {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Uncertain => "uncertain",
            Quality::Bad => "bad",
        }
    }
}

/// A typed value after validation against the thing model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// `bool`.
    Bool(bool),
    /// `int` and `enum` (enum keys are integers).
    Int(i64),
    /// `float`.
    Float(f64),
    /// `string`.
    String(String),
    /// `timestamp`, epoch milliseconds. Serialises as a number, like `Int`.
    Timestamp(i64),
    /// `json`: any JSON document.
    Json(serde_json::Value),
}
