//! Broker settings. Plain values: the node maps its own (serde) configuration onto them.

use std::path::PathBuf;
use std::time::Duration;

use super::error::Error;
use crate::codec::MAX_REMAINING_LENGTH;

/// How the embedded broker behaves. [`BrokerConfig::default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Largest packet accepted from a client (fixed header included), advertised as MQTT 5
    /// Maximum Packet Size. Outbound packets honour the client's own (smaller) limit.
    /// Default 1 MiB.
    pub max_packet_size: usize,
    /// QoS 1/2 publishes a client may have in flight towards the broker (MQTT 5 Receive
    /// Maximum); also how many of one connection's publishes are processed concurrently.
    /// Default 64.
    pub receive_maximum: u16,
    /// QoS 1/2 publishes in flight towards one client, unless its MQTT 5 Receive Maximum is
    /// lower. Default 32.
    pub max_inflight_out: u16,
    /// Messages queued per session (connected or not) before messages are dropped, QoS 0
    /// first, counted in `kaiwu_mqtt_dropped_total`. Default 1000.
    pub max_queued: usize,
    /// Lifetime of a 3.1.1 persistent session (`clean_session = false`) after its client
    /// disconnects, and the cap on an MQTT 5 Session Expiry Interval. Default 7 days.
    pub default_session_expiry: Duration,
    /// The CONNECT must arrive within this time after the connection opens. Default 10 s.
    pub connect_timeout: Duration,
    /// `(n, window)`: after `n` failed logins from one IP address within `window`, further
    /// CONNECTs from it are refused (MQTT 5 0x9F, 3.1.1 code 3) until the window has passed
    /// over them. Default (10, 60 s).
    pub auth_failures: (u32, Duration),
    /// Directory holding `mqtt.db` (persistent sessions, their queued messages, retained
    /// messages). `None` keeps everything in memory.
    pub state_dir: Option<PathBuf>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            max_packet_size: 1 << 20,
            receive_maximum: 64,
            max_inflight_out: 32,
            max_queued: 1000,
            default_session_expiry: Duration::from_secs(7 * 24 * 3600),
            connect_timeout: Duration::from_secs(10),
            auth_failures: (10, Duration::from_secs(60)),
            state_dir: None,
        }
    }
}

impl BrokerConfig {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        // A packet of fewer bytes cannot carry a useful CONNECT; more than the varint can
        // express is not MQTT.
        if !(64..=MAX_REMAINING_LENGTH + 5).contains(&self.max_packet_size) {
            return Err(Error::Config(format!(
                "max_packet_size {} is outside 64..={}",
                self.max_packet_size,
                MAX_REMAINING_LENGTH + 5
            )));
        }
        if self.receive_maximum == 0 || self.max_inflight_out == 0 {
            return Err(Error::Config(
                "receive_maximum and max_inflight_out must be at least 1".into(),
            ));
        }
        if self.max_queued == 0 {
            return Err(Error::Config("max_queued must be at least 1".into()));
        }
        Ok(())
    }

    /// Session expiry cap in whole seconds, as MQTT carries it.
    pub(crate) fn session_expiry_cap(&self) -> u32 {
        u32::try_from(self.default_session_expiry.as_secs()).unwrap_or(u32::MAX)
    }
}
