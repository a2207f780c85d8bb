//! The packaging line (`packer-01`) on the OPC UA simulator server: one variable per
//! property under the folder `Packer01`, namespace [`NAMESPACE_URI`] (index 2).

use std::net::SocketAddr;
use std::path::Path;

use kaiwu_opcua::{DataType, ServerOptions, SimServer, Val, VarSpec};

use crate::error::{Error, Result};
use crate::signals::LineSample;

/// Namespace of the simulator's nodes; the server registers it as index 2.
pub const NAMESPACE_URI: &str = "urn:kaiwu:sim";
/// The user (besides anonymous) the server accepts, for tests of secured logins.
pub const OPCUA_USER: &str = "operator";
/// Password of [`OPCUA_USER`].
pub const OPCUA_PASSWORD: &str = "kaiwu-sim";
/// Device name of the packaging line.
pub const PACKER: &str = "packer-01";
const FOLDER: &str = "Packer01";

/// One variable of a simulated device on the OPC UA server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpcuaPoint {
    pub device: &'static str,
    pub property: &'static str,
    /// Node id, `ns=2;s=Packer01.<Name>`.
    pub node: &'static str,
    /// A client may write it, and the simulator reads it back each tick.
    pub writable: bool,
}

/// The variables of the OPC UA server.
pub fn opcua_layout() -> Vec<OpcuaPoint> {
    let p = |property, node, writable| OpcuaPoint {
        device: PACKER,
        property,
        node,
        writable,
    };
    vec![
        p("good_count", "ns=2;s=Packer01.GoodCount", false),
        p("reject_count", "ns=2;s=Packer01.RejectCount", false),
        p("line_speed", "ns=2;s=Packer01.LineSpeed", true),
        p("actual_speed", "ns=2;s=Packer01.ActualSpeed", false),
        p("state", "ns=2;s=Packer01.State", false),
    ]
}

/// The value of each property of a line sample.
pub(crate) fn line_values(s: &LineSample) -> Vec<(&'static str, Val)> {
    vec![
        ("good_count", Val::Int(i64::from(s.good_count))),
        ("reject_count", Val::Int(i64::from(s.reject_count))),
        ("line_speed", Val::Float(s.line_speed)),
        (
            "actual_speed",
            Val::Float((s.actual_speed * 100.0).round() / 100.0),
        ),
        ("state", Val::Int(s.state as i64)),
    ]
}

/// The OPC UA data type of a property, as a PLC would declare it.
fn data_type(property: &str) -> DataType {
    match property {
        "good_count" | "reject_count" => DataType::UInt32,
        "state" => DataType::UInt16,
        _ => DataType::Double,
    }
}

/// The browse name of a node: the part after the folder.
fn browse_name(node: &str) -> &str {
    node.rsplit('.').next().unwrap_or(node)
}

/// Starts the server with every variable at its initial value.
pub(crate) async fn start(
    addr: SocketAddr,
    pki_dir: &Path,
    initial: &LineSample,
) -> Result<SimServer> {
    let opts = ServerOptions {
        addr,
        pki_dir: pki_dir.to_path_buf(),
        namespace_uri: NAMESPACE_URI.to_owned(),
        allow_anonymous: true,
        users: vec![(OPCUA_USER.to_owned(), OPCUA_PASSWORD.to_owned())],
        security_none: true,
    };
    let server = SimServer::start(opts, Vec::new()).await.map_err(opc_err)?;
    // The layout's node ids are fixed strings: they hold only if our namespace is index 2.
    if server.namespace_index() != 2 {
        let ns = server.namespace_index();
        server.stop().await;
        return Err(Error::Opcua(format!(
            "namespace {NAMESPACE_URI} got index {ns}, expected 2"
        )));
    }
    let values = line_values(initial);
    for p in opcua_layout() {
        let initial = values
            .iter()
            .find(|(k, _)| *k == p.property)
            .map_or(Val::Null, |(_, v)| v.clone());
        let var = VarSpec {
            node: p.node.to_owned(),
            browse_name: browse_name(p.node).to_owned(),
            parent_folder: FOLDER.to_owned(),
            initial,
            writable: p.writable,
        };
        if let Err(e) = server.add_variable(var, data_type(p.property)) {
            server.stop().await;
            return Err(opc_err(e));
        }
    }
    tracing::info!(endpoint = %server.endpoint_url(), "opc ua simulator listening");
    Ok(server)
}

fn opc_err(e: kaiwu_opcua::Error) -> Error {
    Error::Opcua(e.to_string())
}

/// Publishes a line sample with source timestamp `ts_ms`, except writable variables, which
/// belong to the clients between ticks.
pub(crate) fn publish(server: &SimServer, s: &LineSample, ts_ms: i64) -> Result<()> {
    let layout = opcua_layout();
    for (prop, v) in line_values(s) {
        if let Some(p) = layout.iter().find(|p| p.property == prop && !p.writable) {
            server.set(p.node, v, ts_ms).map_err(opc_err)?;
        }
    }
    Ok(())
}

/// The line speed a client wrote, if the variable holds a number.
pub(crate) fn written_line_speed(server: &SimServer) -> Option<f64> {
    let node = opcua_layout()
        .into_iter()
        .find(|p| p.property == "line_speed")?
        .node;
    match server.get(node)? {
        Val::Float(f) => Some(f),
        Val::Int(i) => Some(i as f64),
        _ => None,
    }
}

/// Sets the line speed variable (after the model clamped a written value).
pub(crate) fn set_line_speed(server: &SimServer, v: f64, ts_ms: i64) -> Result<()> {
    server
        .set("ns=2;s=Packer01.LineSpeed", Val::Float(v), ts_ms)
        .map_err(opc_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::PackagingLine;

    #[test]
    fn layout_nodes_are_unique_and_named_after_the_folder() {
        let layout = opcua_layout();
        let values = line_values(&PackagingLine::new(1).sample());
        for (i, p) in layout.iter().enumerate() {
            assert!(p.node.starts_with("ns=2;s=Packer01."), "{p:?}");
            assert!(
                layout[i + 1..]
                    .iter()
                    .all(|q| q.node != p.node && q.property != p.property)
            );
            assert!(
                values.iter().any(|(k, _)| *k == p.property),
                "{p:?} has no value"
            );
        }
        assert_eq!(
            layout
                .iter()
                .filter(|p| p.writable)
                .map(|p| p.property)
                .collect::<Vec<_>>(),
            ["line_speed"]
        );
        assert_eq!(browse_name("ns=2;s=Packer01.GoodCount"), "GoodCount");
    }
}
