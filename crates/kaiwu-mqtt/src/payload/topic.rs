//! Which device-API topic a concrete topic name is.

/// A topic of the device API (interfaces.md section 4). Request ids are ThingsBoard's
/// `$request_id`: decimal digits only, at most `u64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceTopic {
    /// `v1/devices/me/telemetry`.
    Telemetry,
    /// `v1/devices/me/attributes`: reported (device -> platform) or desired (platform -> device).
    Attributes,
    /// `v1/devices/me/attributes/request/{n}`: a device asks for attribute values.
    AttributeRequest(u64),
    /// `v1/devices/me/attributes/response/{n}`: the platform's answer.
    AttributeResponse(u64),
    /// `v1/devices/me/rpc/request/{n}`: published by a device, a client-side RPC call; published
    /// by the platform, a server-side command.
    RpcRequest(u64),
    /// `v1/devices/me/rpc/response/{n}`: the answer to either kind of call.
    RpcResponse(u64),
    /// `v1/gateway/connect`.
    GatewayConnect,
    /// `v1/gateway/disconnect`.
    GatewayDisconnect,
    /// `v1/gateway/telemetry`.
    GatewayTelemetry,
    /// `v1/gateway/attributes`: reported by the gateway, or desired pushed to it.
    GatewayAttributes,
    /// `v1/gateway/attributes/request`.
    GatewayAttributeRequest,
    /// `v1/gateway/attributes/response`.
    GatewayAttributeResponse,
    /// `v1/gateway/rpc`: commands to the gateway and its answers.
    GatewayRpc,
    /// Anything under `spBv1.0/`; parse it with [`crate::sparkplug::SparkplugTopic::parse`],
    /// which explains what is wrong with a malformed one.
    Sparkplug,
}

/// Classifies a concrete topic name (no wildcards); `None` for topics outside the device API.
pub fn classify(topic: &str) -> Option<DeviceTopic> {
    use DeviceTopic as T;
    if topic.starts_with("spBv1.0/") {
        return Some(T::Sparkplug);
    }
    if let Some(rest) = topic.strip_prefix("v1/devices/me/") {
        return match rest {
            "telemetry" => Some(T::Telemetry),
            "attributes" => Some(T::Attributes),
            _ => with_id(rest, "attributes/request/", T::AttributeRequest)
                .or_else(|| with_id(rest, "attributes/response/", T::AttributeResponse))
                .or_else(|| with_id(rest, "rpc/request/", T::RpcRequest))
                .or_else(|| with_id(rest, "rpc/response/", T::RpcResponse)),
        };
    }
    match topic.strip_prefix("v1/gateway/")? {
        "connect" => Some(T::GatewayConnect),
        "disconnect" => Some(T::GatewayDisconnect),
        "telemetry" => Some(T::GatewayTelemetry),
        "attributes" => Some(T::GatewayAttributes),
        "attributes/request" => Some(T::GatewayAttributeRequest),
        "attributes/response" => Some(T::GatewayAttributeResponse),
        "rpc" => Some(T::GatewayRpc),
        _ => None,
    }
}

fn with_id(rest: &str, prefix: &str, make: fn(u64) -> DeviceTopic) -> Option<DeviceTopic> {
    let id = rest.strip_prefix(prefix)?;
    // `u64::from_str` alone would also take a leading `+`.
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok().map(make)
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeviceTopic as T;

    #[test]
    fn every_topic_of_the_table() {
        let cases = [
            ("v1/devices/me/telemetry", T::Telemetry),
            ("v1/devices/me/attributes", T::Attributes),
            ("v1/devices/me/attributes/request/1", T::AttributeRequest(1)),
            (
                "v1/devices/me/attributes/response/22",
                T::AttributeResponse(22),
            ),
            ("v1/devices/me/rpc/request/0", T::RpcRequest(0)),
            ("v1/devices/me/rpc/response/007", T::RpcResponse(7)),
            ("v1/gateway/connect", T::GatewayConnect),
            ("v1/gateway/disconnect", T::GatewayDisconnect),
            ("v1/gateway/telemetry", T::GatewayTelemetry),
            ("v1/gateway/attributes", T::GatewayAttributes),
            ("v1/gateway/attributes/request", T::GatewayAttributeRequest),
            (
                "v1/gateway/attributes/response",
                T::GatewayAttributeResponse,
            ),
            ("v1/gateway/rpc", T::GatewayRpc),
            ("spBv1.0/plant/NDATA/edge1", T::Sparkplug),
            ("spBv1.0/STATE/host", T::Sparkplug),
        ];
        for (topic, want) in cases {
            assert_eq!(classify(topic), Some(want), "{topic}");
        }
    }

    #[test]
    fn unknown_and_malformed() {
        for topic in [
            "",
            "v1/devices/me",
            "v1/devices/me/",
            "v1/devices/me/telemetry/",
            "v1/devices/other/telemetry",
            "v1/devices/me/rpc/request/",
            "v1/devices/me/rpc/request/+",
            "v1/devices/me/rpc/request/-1",
            "v1/devices/me/rpc/request/+1",
            "v1/devices/me/rpc/request/1/2",
            "v1/devices/me/rpc/request/18446744073709551616",
            "v1/devices/me/attributes/request/x",
            "v1/gateway/",
            "v1/gateway/rpc/1",
            "V1/devices/me/telemetry",
            "spBv1.0",
            "spAv1.0/g/NDATA/n",
        ] {
            assert_eq!(classify(topic), None, "{topic}");
        }
    }
}
