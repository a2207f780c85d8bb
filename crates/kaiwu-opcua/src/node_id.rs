//! Node id strings: `[ns=<u16>;]i=<u32>`, `s=<text>`, `g=<guid>`, `b=<base64>`.

use opcua::types::NodeId;

use crate::error::{Error, Result};

/// Checks a node id string; the error says which part is malformed.
pub fn parse_node_id(s: &str) -> Result<()> {
    to_node_id(s).map(|_| ())
}

pub(crate) fn to_node_id(s: &str) -> Result<NodeId> {
    let bad = |reason: &str| Error::InvalidNodeId {
        input: s.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = match s.strip_prefix("ns=") {
        Some(after) => {
            let (ns, rest) = after
                .split_once(';')
                .ok_or_else(|| bad("`ns=` must be followed by `<index>;`"))?;
            if ns.is_empty() || !ns.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("namespace index must be a number"));
            }
            ns.parse::<u16>()
                .map_err(|_| bad("namespace index must be at most 65535"))?;
            rest
        }
        None => s,
    };
    let (kind, value) = rest
        .split_once('=')
        .ok_or_else(|| bad("expected one of i=, s=, g=, b= after the namespace"))?;
    if value.is_empty() {
        return Err(bad(&format!("empty `{kind}=` identifier")));
    }
    match kind {
        "i" => {
            if !value.bytes().all(|b| b.is_ascii_digit()) || value.parse::<u32>().is_err() {
                return Err(bad("numeric identifier must be an unsigned 32-bit number"));
            }
        }
        "s" => {}
        "g" => {
            if !is_guid(value) {
                return Err(bad(
                    "guid identifier must look like 72962b91-fa75-4ae6-8d28-b404dc7daf63",
                ));
            }
        }
        "b" => {
            if !is_base64(value) {
                return Err(bad("opaque identifier must be base64"));
            }
        }
        other => {
            return Err(bad(&format!(
                "unknown identifier type `{other}=`; expected i=, s=, g= or b="
            )));
        }
    }
    s.parse::<NodeId>()
        .map_err(|code| bad(&format!("rejected by the opc ua parser ({code})")))
}

fn is_guid(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    parts.len() == lens.len()
        && parts
            .iter()
            .zip(lens)
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_base64(v: &str) -> bool {
    let body = v.trim_end_matches('=');
    v.len().is_multiple_of(4)
        && v.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests {
    use super::parse_node_id;

    #[test]
    fn accepts_all_forms() {
        for s in [
            "i=85",
            "ns=0;i=2253",
            "s=Mill1.Speed",
            "ns=2;s=Mill1.Speed",
            "ns=2;s=a=b;c",
            "g=72962b91-fa75-4ae6-8d28-b404dc7daf63",
            "ns=3;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63",
            "b=aGVsbG8=",
            "ns=1;b=AAEC",
        ] {
            assert!(
                parse_node_id(s).is_ok(),
                "{s} should parse: {:?}",
                parse_node_id(s)
            );
        }
    }

    #[test]
    fn refuses_malformed() {
        for (s, why) in [
            ("", "expected one of"),
            ("ns=x;i=1", "namespace index must be a number"),
            ("ns=x;i=", "namespace index must be a number"),
            ("ns=2;i=", "empty `i=`"),
            ("ns=70000;i=1", "at most 65535"),
            ("ns=2", "must be followed"),
            ("ns=2;x=1", "unknown identifier type"),
            ("i=abc", "unsigned 32-bit"),
            ("i=-1", "unsigned 32-bit"),
            ("i=4294967296", "unsigned 32-bit"),
            ("ns=2;s=", "empty `s=`"),
            ("g=1234", "guid"),
            ("b=!!", "base64"),
            ("Mill1.Speed", "expected one of"),
        ] {
            let err = parse_node_id(s).expect_err(s).to_string();
            assert!(err.contains(why), "{s}: {err}");
        }
    }
}
