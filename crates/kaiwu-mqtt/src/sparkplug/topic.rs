//! The Sparkplug B topic namespace: `spBv1.0/{group}/{type}/{edge_node}[/{device}]` and
//! `spBv1.0/STATE/{host_id}`.

use std::fmt;

use super::error::{Result, SparkplugError};

/// The first topic level of every Sparkplug B topic.
pub const NAMESPACE: &str = "spBv1.0";

/// The message type level of an edge node or device topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Edge node birth certificate.
    NBirth,
    /// Edge node data.
    NData,
    /// Edge node death certificate.
    NDeath,
    /// Command to an edge node.
    NCmd,
    /// Device birth certificate.
    DBirth,
    /// Device data.
    DData,
    /// Device death certificate.
    DDeath,
    /// Command to a device.
    DCmd,
}

impl MessageKind {
    /// The topic level, e.g. `NBIRTH`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::NBirth => "NBIRTH",
            MessageKind::NData => "NDATA",
            MessageKind::NDeath => "NDEATH",
            MessageKind::NCmd => "NCMD",
            MessageKind::DBirth => "DBIRTH",
            MessageKind::DData => "DDATA",
            MessageKind::DDeath => "DDEATH",
            MessageKind::DCmd => "DCMD",
        }
    }

    /// Whether the topic names a device (the `D*` types).
    pub fn is_device(self) -> bool {
        matches!(
            self,
            MessageKind::DBirth | MessageKind::DData | MessageKind::DDeath | MessageKind::DCmd
        )
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "NBIRTH" => MessageKind::NBirth,
            "NDATA" => MessageKind::NData,
            "NDEATH" => MessageKind::NDeath,
            "NCMD" => MessageKind::NCmd,
            "DBIRTH" => MessageKind::DBirth,
            "DDATA" => MessageKind::DData,
            "DDEATH" => MessageKind::DDeath,
            "DCMD" => MessageKind::DCmd,
            _ => return None,
        })
    }
}

/// An edge node or device topic. `device` is `Some` exactly for the `D*` kinds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EdgeTopic {
    /// The group id.
    pub group: String,
    /// The message type.
    pub kind: MessageKind,
    /// The edge node id.
    pub edge_node: String,
    /// The device id, for device messages.
    pub device: Option<String>,
}

impl EdgeTopic {
    /// Builds a topic, checking the ids and that `device` is given exactly for `D*` kinds.
    pub fn new(
        group: &str,
        kind: MessageKind,
        edge_node: &str,
        device: Option<&str>,
    ) -> Result<Self> {
        let topic = || format!("{NAMESPACE}/{group}/{}/{edge_node}", kind.as_str());
        for id in [Some(group), Some(edge_node), device].into_iter().flatten() {
            check_id(id).map_err(|reason| invalid(&topic(), reason))?;
        }
        match (kind.is_device(), device) {
            (true, None) => Err(invalid(&topic(), "device message without a device id")),
            (false, Some(_)) => Err(invalid(&topic(), "edge node message with a device id")),
            _ => Ok(EdgeTopic {
                group: group.to_owned(),
                kind,
                edge_node: edge_node.to_owned(),
                device: device.map(str::to_owned),
            }),
        }
    }
}

impl fmt::Display for EdgeTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{NAMESPACE}/{}/{}/{}",
            self.group,
            self.kind.as_str(),
            self.edge_node
        )?;
        match &self.device {
            Some(d) => write!(f, "/{d}"),
            None => Ok(()),
        }
    }
}

/// A parsed Sparkplug B topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SparkplugTopic {
    /// An edge node or device message.
    Edge(EdgeTopic),
    /// A primary host application's STATE (`spBv1.0/STATE/{host_id}`).
    State {
        /// The host application id.
        host_id: String,
    },
}

impl SparkplugTopic {
    /// Parses a concrete topic name, explaining what is wrong with a malformed one.
    pub fn parse(topic: &str) -> Result<Self> {
        let mut levels = topic.split('/');
        if levels.next() != Some(NAMESPACE) {
            return Err(invalid(topic, "does not start with spBv1.0/"));
        }
        let levels: Vec<&str> = levels.collect();
        if levels.first() == Some(&"STATE") {
            return match levels[..] {
                [_, host_id] => check_id(host_id)
                    .map(|()| SparkplugTopic::State {
                        host_id: host_id.to_owned(),
                    })
                    .map_err(|reason| invalid(topic, reason)),
                _ => Err(invalid(topic, "a STATE topic is spBv1.0/STATE/{host_id}")),
            };
        }
        let (group, kind, node, device) = match levels[..] {
            [group, kind, node] => (group, kind, node, None),
            [group, kind, node, device] => (group, kind, node, Some(device)),
            _ => {
                return Err(invalid(
                    topic,
                    "expected spBv1.0/{group}/{type}/{edge_node}[/{device}]",
                ));
            }
        };
        let kind =
            MessageKind::parse(kind).ok_or_else(|| invalid(topic, "unknown message type"))?;
        EdgeTopic::new(group, kind, node, device)
            .map(SparkplugTopic::Edge)
            .map_err(|e| match e {
                SparkplugError::Topic { reason, .. } => invalid(topic, reason),
                other => other,
            })
    }
}

impl fmt::Display for SparkplugTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SparkplugTopic::Edge(t) => t.fmt(f),
            SparkplugTopic::State { host_id } => write!(f, "{NAMESPACE}/STATE/{host_id}"),
        }
    }
}

/// `spBv1.0/STATE/{host_id}`, where a primary host publishes its [`super::HostState`].
pub fn state_topic(host_id: &str) -> Result<String> {
    let topic = format!("{NAMESPACE}/STATE/{host_id}");
    check_id(host_id).map_err(|reason| invalid(&topic, reason))?;
    Ok(topic)
}

/// An id level: non-empty UTF-8 without the MQTT reserved `/`, `+`, `#`.
fn check_id(id: &str) -> std::result::Result<(), &'static str> {
    if id.is_empty() {
        Err("an id level is empty")
    } else if id.contains(['/', '+', '#']) {
        Err("an id contains one of / + #")
    } else {
        Ok(())
    }
}

fn invalid(topic: &str, reason: &'static str) -> SparkplugError {
    let topic = match topic.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &topic[..cut]),
        None => topic.to_owned(),
    };
    SparkplugError::Topic { topic, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(topic: &str) -> EdgeTopic {
        match SparkplugTopic::parse(topic).expect("valid topic") {
            SparkplugTopic::Edge(t) => t,
            other => panic!("not an edge topic: {other:?}"),
        }
    }

    #[test]
    fn edge_and_device_topics() {
        let t = edge("spBv1.0/Sparkplug B Devices/NBIRTH/Raspberry Pi");
        assert_eq!(t.group, "Sparkplug B Devices");
        assert_eq!(t.kind, MessageKind::NBirth);
        assert_eq!(t.edge_node, "Raspberry Pi");
        assert_eq!(t.device, None);
        let t = edge("spBv1.0/g/DDATA/n/Pibrella");
        assert_eq!(t.kind, MessageKind::DData);
        assert_eq!(t.device.as_deref(), Some("Pibrella"));
        for kind in ["NBIRTH", "NDATA", "NDEATH", "NCMD"] {
            let s = format!("spBv1.0/g/{kind}/n");
            assert_eq!(edge(&s).to_string(), s);
        }
        for kind in ["DBIRTH", "DDATA", "DDEATH", "DCMD"] {
            let s = format!("spBv1.0/g/{kind}/n/d");
            assert_eq!(edge(&s).to_string(), s);
        }
    }

    #[test]
    fn state_topic_round_trip() {
        assert_eq!(
            SparkplugTopic::parse("spBv1.0/STATE/scada-1").expect("valid"),
            SparkplugTopic::State {
                host_id: "scada-1".to_owned()
            }
        );
        assert_eq!(state_topic("kaiwu").expect("valid"), "spBv1.0/STATE/kaiwu");
        assert!(state_topic("a/b").is_err());
        assert!(state_topic("").is_err());
    }

    #[test]
    fn invalid_topics_say_why() {
        let cases = [
            ("spAv1.0/g/NDATA/n", "does not start with spBv1.0/"),
            ("spBv1.0", "expected spBv1.0/{group}"),
            ("spBv1.0/g/NDATA", "expected spBv1.0/{group}"),
            ("spBv1.0/g/NDATA/n/d/x", "expected spBv1.0/{group}"),
            ("spBv1.0/g/NFOO/n", "unknown message type"),
            ("spBv1.0/g/ndata/n", "unknown message type"),
            ("spBv1.0/g/NDATA/n/d", "edge node message with a device id"),
            ("spBv1.0/g/DDATA/n", "device message without a device id"),
            ("spBv1.0//NDATA/n", "an id level is empty"),
            ("spBv1.0/g/NDATA/", "an id level is empty"),
            ("spBv1.0/g/DDATA/n/", "an id level is empty"),
            ("spBv1.0/g+/NDATA/n", "an id contains one of / + #"),
            ("spBv1.0/g/NDATA/#", "an id contains one of / + #"),
            ("spBv1.0/STATE", "a STATE topic is"),
            ("spBv1.0/STATE/h/x", "a STATE topic is"),
            ("spBv1.0/STATE/", "an id level is empty"),
        ];
        for (topic, want) in cases {
            match SparkplugTopic::parse(topic) {
                Err(SparkplugError::Topic { topic: t, reason }) => {
                    assert_eq!(t, topic);
                    assert!(reason.starts_with(want), "{topic}: {reason}");
                }
                other => panic!("{topic}: {other:?}"),
            }
        }
    }

    #[test]
    fn builder_checks_ids() {
        let t = EdgeTopic::new("g", MessageKind::DCmd, "n", Some("d")).expect("valid");
        assert_eq!(t.to_string(), "spBv1.0/g/DCMD/n/d");
        assert!(EdgeTopic::new("g", MessageKind::NCmd, "n", Some("d")).is_err());
        assert!(EdgeTopic::new("g/h", MessageKind::NCmd, "n", None).is_err());
    }
}
