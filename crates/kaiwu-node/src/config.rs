//! Node configuration: defaults < TOML file < `KAIWU_*` environment < command-line flags.
//! Unknown keys are an error at every layer, so a typo never silently falls back to a default.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Sections whose keys appear in the environment as `KAIWU_<SECTION>_<KEY>`.
const SECTIONS: &[&str] = &["http", "mqtt", "mqtts", "tsdb"];
/// `KAIWU_*` variables that are not configuration keys.
const NOT_KEYS: &[&str] = &["admin_password", "config"];

/// The whole node configuration (`config/kaiwu.example.toml` documents every key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the node keeps everything it stores.
    pub data_dir: PathBuf,
    /// Log filter in `tracing` syntax, e.g. `info` or `info,kaiwu_api=debug`.
    pub log: String,
    /// `text` or `json` log lines on stderr.
    pub log_format: LogFormat,
    /// HTTP listener and API limits.
    pub http: HttpConfig,
    /// Plain MQTT listener.
    pub mqtt: MqttConfig,
    /// MQTT over TLS listener (off unless an address is set).
    pub mqtts: MqttsConfig,
    /// Time-series storage.
    pub tsdb: TsdbConfig,
}

/// `[tsdb]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TsdbConfig {
    /// `fsync` (acknowledge after fsync) or `interval:<ms>` (acknowledge once written to the
    /// OS, fsync at least every <ms>: survives a process crash, may lose that much on power loss).
    pub durability: String,
    /// Flush memory to Parquet at this many rows ...
    pub flush_rows: usize,
    /// ... or when the oldest row in memory is this old (seconds).
    pub flush_interval_secs: u64,
    /// Width of a time partition in hours.
    pub partition_hours: u64,
}

impl Default for TsdbConfig {
    fn default() -> Self {
        Self {
            durability: "fsync".into(),
            flush_rows: 500_000,
            flush_interval_secs: 60,
            partition_hours: 24,
        }
    }
}

impl TsdbConfig {
    /// Engine options.
    pub fn options(&self) -> Result<kaiwu_tsdb::TsdbOptions> {
        let durability = self
            .durability
            .parse()
            .map_err(|e| Error::Config(format!("tsdb.durability: {e}")))?;
        Ok(kaiwu_tsdb::TsdbOptions {
            durability,
            flush_rows: self.flush_rows,
            flush_interval: std::time::Duration::from_secs(self.flush_interval_secs),
            window: std::time::Duration::from_secs(self.partition_hours * 3600),
        })
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address; port 0 picks a free port.
    pub addr: String,
    /// Largest accepted request body, bytes.
    pub max_body_bytes: usize,
    /// Lifetime of login tokens, seconds.
    pub token_ttl_secs: i64,
}

/// `[mqtt]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Listen address; port 0 picks a free port.
    pub addr: String,
    /// Largest MQTT packet accepted, bytes; larger ones end the connection (MQTT 5 reason 0x95).
    pub max_packet_size: usize,
}

/// `[mqtts]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MqttsConfig {
    /// Listen address; unset means no TLS listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// Server certificate chain (PEM); with `key`. Unset: a self-signed pair generated into
    /// `<data-dir>/tls/` on first start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// Private key of `cert` (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./kaiwu-data"),
            log: "info".into(),
            log_format: LogFormat::Text,
            http: HttpConfig::default(),
            mqtt: MqttConfig::default(),
            mqtts: MqttsConfig::default(),
            tsdb: TsdbConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            addr: "[::]:8080".into(),
            max_body_bytes: 1 << 20,
            token_ttl_secs: 12 * 3600,
        }
    }
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            addr: "[::]:1883".into(),
            max_packet_size: 1 << 20,
        }
    }
}

/// Values given on the command line; they override every other layer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--http`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<String>,
    /// `--mqtt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtt_addr: Option<String>,
    /// `--mqtts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtts_addr: Option<String>,
}

/// Map `KAIWU_HTTP_ADDR` (already stripped and lowercased to `http_addr`) onto `http.addr`.
fn env_key(k: &str) -> String {
    let k = k.to_ascii_lowercase();
    for s in SECTIONS {
        if let Some(rest) = k.strip_prefix(s).and_then(|r| r.strip_prefix('_')) {
            return format!("{s}.{rest}");
        }
    }
    k
}

impl Config {
    /// Load and check the layered configuration.
    pub fn load(file: Option<&Path>, flags: &Overrides) -> Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.is_file() {
                return Err(Error::Config(format!(
                    "config file {} does not exist",
                    f.display()
                )));
            }
            fig = fig.merge(Toml::file_exact(f));
        }
        check_env_names(std::env::vars_os().map(|(k, _)| k.to_string_lossy().into_owned()))?;
        let env = Env::prefixed("KAIWU_")
            .ignore(NOT_KEYS)
            .map(|k| env_key(k.as_str()).into());
        fig = fig.merge(env);
        let mut flat = serde_json::Map::new();
        if let Some(d) = &flags.data_dir {
            flat.insert("data_dir".into(), d.display().to_string().into());
        }
        for (section, v) in [
            ("http", &flags.http_addr),
            ("mqtt", &flags.mqtt_addr),
            ("mqtts", &flags.mqtts_addr),
        ] {
            if let Some(v) = v {
                flat.insert(section.into(), serde_json::json!({ "addr": v }));
            }
        }
        fig = fig.merge(Serialized::defaults(serde_json::Value::Object(flat)));
        let cfg: Config = fig.extract().map_err(|e| {
            let msgs: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
            Error::Config(msgs.join("; "))
        })?;
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> Result<()> {
        self.http_addr()?;
        self.mqtt_addr()?;
        self.mqtts_addr()?;
        if self.http.max_body_bytes < 1024 {
            return Err(Error::Config(
                "http.max_body_bytes must be at least 1024".into(),
            ));
        }
        if !(1024..=268_435_455).contains(&self.mqtt.max_packet_size) {
            return Err(Error::Config(
                "mqtt.max_packet_size must be 1024 to 268435455 (the MQTT maximum)".into(),
            ));
        }
        if !(60..=30 * 24 * 3600).contains(&self.http.token_ttl_secs) {
            return Err(Error::Config(
                "http.token_ttl_secs must be 60 to 2592000".into(),
            ));
        }
        self.tsdb.options()?;
        if self.tsdb.flush_rows == 0 || self.tsdb.flush_interval_secs == 0 {
            return Err(Error::Config(
                "tsdb.flush_rows and tsdb.flush_interval_secs must be positive".into(),
            ));
        }
        if !(1..=24 * 366).contains(&self.tsdb.partition_hours) {
            return Err(Error::Config(
                "tsdb.partition_hours must be 1 to 8784".into(),
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log)
            .map_err(|e| Error::Config(format!("log filter `{}`: {e}", self.log)))?;
        Ok(())
    }

    /// The HTTP listen address.
    pub fn http_addr(&self) -> Result<SocketAddr> {
        parse_addr("http.addr", &self.http.addr)
    }

    /// The MQTT listen address.
    pub fn mqtt_addr(&self) -> Result<SocketAddr> {
        parse_addr("mqtt.addr", &self.mqtt.addr)
    }

    /// The MQTT/TLS listen address, if configured.
    pub fn mqtts_addr(&self) -> Result<Option<SocketAddr>> {
        self.mqtts
            .addr
            .as_deref()
            .map(|a| parse_addr("mqtts.addr", a))
            .transpose()
    }
}

/// Every configuration key in dotted form (`http.addr`), for naming bad environment variables.
fn known_keys() -> Vec<String> {
    let mut full = Config::default();
    full.mqtts.addr = Some(String::new());
    full.mqtts.cert = Some(PathBuf::new());
    full.mqtts.key = Some(PathBuf::new());
    let mut keys = Vec::new();
    if let Ok(serde_json::Value::Object(top)) = serde_json::to_value(&full) {
        for (k, v) in top {
            match v {
                serde_json::Value::Object(inner) => {
                    keys.extend(inner.keys().map(|i| format!("{k}.{i}")));
                }
                _ => keys.push(k),
            }
        }
    }
    keys
}

/// Refuse a `KAIWU_*` variable that maps to no key, naming the variable itself: that is what
/// the user has to find and fix.
fn check_env_names(vars: impl Iterator<Item = String>) -> Result<()> {
    let known = known_keys();
    for var in vars {
        let Some(rest) = var.strip_prefix("KAIWU_") else {
            continue;
        };
        let key = env_key(rest);
        if NOT_KEYS.contains(&key.as_str()) || known.contains(&key) {
            continue;
        }
        return Err(Error::Config(format!(
            "unknown environment variable {var}: no configuration key `{key}` \
             (config/kaiwu.example.toml lists them all)"
        )));
    }
    Ok(())
}

fn parse_addr(key: &str, v: &str) -> Result<SocketAddr> {
    v.parse().map_err(|_| {
        Error::Config(format!(
            "{key} `{v}` is not a socket address (expected e.g. [::]:8080 or 127.0.0.1:8080)"
        ))
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
