//! Kaiwu's view of OPC UA values, options and results; no async-opcua types leak from here.

use std::{fmt, path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

/// Message security. `Sign` and `SignAndEncrypt` use the Basic256Sha256 policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Security {
    #[default]
    None,
    Sign,
    SignAndEncrypt,
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Security::None => "None",
            Security::Sign => "Basic256Sha256/Sign",
            Security::SignAndEncrypt => "Basic256Sha256/SignAndEncrypt",
        })
    }
}

/// Who the client logs in as.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Identity {
    #[default]
    Anonymous,
    UserPassword {
        user: String,
        password: String,
    },
}

// Hand-written so passwords never reach logs.
impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Anonymous => f.write_str("Anonymous"),
            Identity::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", &"***")
                .finish(),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Anonymous => f.write_str("anonymous"),
            Identity::UserPassword { user, .. } => write!(f, "user {user:?}"),
        }
    }
}

/// How to reach and authenticate to a server.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `opc.tcp://host:port/path`.
    pub endpoint: String,
    pub security: Security,
    pub identity: Identity,
    /// Own certificate and key are generated here on first use (`own/cert.der`,
    /// `private/private.pem`); `trusted/` and `rejected/` are the trust store.
    pub pki_dir: PathBuf,
    /// Auto-accept unknown server certificates into `trusted/` (simulator, demo).
    /// When false an unknown certificate lands in `rejected/` and connect fails.
    pub trust_server_certs: bool,
    /// Bound for connect and for each request.
    pub timeout: Duration,
    pub application_name: String,
}

/// Our value view of an OPC UA Variant. Integers of every width map to `Int`,
/// Float and Double to `Float`; other types become their string form.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Val {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    #[default]
    Null,
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Bool(b) => write!(f, "{b}"),
            Val::Int(i) => write!(f, "{i}"),
            Val::Float(x) => write!(f, "{x}"),
            Val::String(s) => write!(f, "{s:?}"),
            Val::Null => f.write_str("null"),
        }
    }
}

impl From<bool> for Val {
    fn from(v: bool) -> Self {
        Val::Bool(v)
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}

impl From<i32> for Val {
    fn from(v: i32) -> Self {
        Val::Int(v.into())
    }
}

impl From<f64> for Val {
    fn from(v: f64) -> Self {
        Val::Float(v)
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::String(v.to_owned())
    }
}

impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::String(v)
    }
}

/// Quality class from the severity bits of an OPC UA StatusCode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    Good,
    Uncertain,
    Bad,
}

impl Status {
    /// Severity of a raw StatusCode: top two bits 00 good, 01 uncertain, else bad.
    pub fn from_code(code: u32) -> Status {
        match code >> 30 {
            0 => Status::Good,
            1 => Status::Uncertain,
            _ => Status::Bad,
        }
    }
}

/// One value of one node, from a read or a data change.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The node id string as the caller gave it.
    pub node: String,
    pub value: Val,
    pub status: Status,
    /// Raw StatusCode.
    pub code: u32,
    pub source_ts_ms: Option<i64>,
    pub server_ts_ms: Option<i64>,
}

/// One reference found by browsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowseEntry {
    /// e.g. `ns=2;s=Mill1.Speed`, `i=2253`.
    pub node_id: String,
    /// Name part of the browse name (without the namespace index).
    pub browse_name: String,
    pub display_name: String,
    /// `Object`, `Variable`, `Method`, ...
    pub node_class: String,
    /// For variables: `Double`, `Int32`, ... or the data type node id when not built in.
    pub data_type: Option<String>,
}

/// A node to watch in a subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitored {
    pub node: String,
    pub sampling_ms: f64,
    /// Absolute deadband; only changes larger than this are reported.
    pub deadband_abs: Option<f64>,
}

/// Built-in scalar data types the simulator can declare and writes convert to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataType {
    Boolean,
    SByte,
    Byte,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Float,
    Double,
    String,
    /// Any type (`BaseDataType`): values keep their natural type.
    Any,
}

impl DataType {
    /// The natural type for a value: Int64, Double, Boolean, String, or Any for Null.
    pub fn of(v: &Val) -> DataType {
        match v {
            Val::Bool(_) => DataType::Boolean,
            Val::Int(_) => DataType::Int64,
            Val::Float(_) => DataType::Double,
            Val::String(_) => DataType::String,
            Val::Null => DataType::Any,
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_serde_names() {
        for (s, json) in [
            (Security::None, "\"None\""),
            (Security::Sign, "\"Sign\""),
            (Security::SignAndEncrypt, "\"SignAndEncrypt\""),
        ] {
            assert_eq!(serde_json::to_string(&s).expect("ser"), json);
            assert_eq!(serde_json::from_str::<Security>(json).expect("de"), s);
        }
    }

    #[test]
    fn val_serde_is_plain_json() {
        let vals: Vec<Val> = serde_json::from_str(r#"[true, 3, 2.5, "x", null]"#).expect("de");
        assert_eq!(
            vals,
            vec![
                Val::Bool(true),
                Val::Int(3),
                Val::Float(2.5),
                Val::String("x".into()),
                Val::Null
            ]
        );
    }

    #[test]
    fn password_not_in_debug() {
        let id = Identity::UserPassword {
            user: "op".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{id:?}").contains("hunter2"));
    }
}
