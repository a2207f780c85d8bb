//! Attributes of the device API: `v1/devices/me/attributes` (both directions) and the
//! request/response pair `v1/devices/me/attributes/{request,response}/{n}`.

use serde_json::{Map, Value};

use super::error::Result;
use super::json::{self, ROOT};

/// Decodes reported attributes: a non-empty flat object of key -> non-null value.
pub fn decode_attributes(bytes: &[u8]) -> Result<Map<String, Value>> {
    let obj = json::into_object(json::parse(bytes)?, ROOT)?;
    json::check_values(&obj, ROOT, "attributes")?;
    Ok(obj)
}

/// Encodes desired attributes pushed to a device on `v1/devices/me/attributes`: the flat map.
pub fn encode_attribute_update(attributes: &Map<String, Value>) -> Vec<u8> {
    json::to_bytes(&Value::Object(attributes.clone()))
}

/// An attribute read request, from `v1/devices/me/attributes/request/{n}`.
///
/// Both lists empty means "all attributes of both scopes", as in ThingsBoard.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttributeRequest {
    /// Keys of client-side (device-reported) attributes.
    pub client_keys: Vec<String>,
    /// Keys of shared (platform-desired) attributes.
    pub shared_keys: Vec<String>,
}

impl AttributeRequest {
    /// The asked-for keys of `reported` (client scope) and `desired` (shared scope); both lists
    /// empty selects everything.
    pub fn select(
        &self,
        reported: &Map<String, Value>,
        desired: &Map<String, Value>,
    ) -> (Map<String, Value>, Map<String, Value>) {
        let all = self.client_keys.is_empty() && self.shared_keys.is_empty();
        let pick = |m: &Map<String, Value>, keys: &[String]| -> Map<String, Value> {
            m.iter()
                .filter(|(k, _)| all || keys.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        (
            pick(reported, &self.client_keys),
            pick(desired, &self.shared_keys),
        )
    }
}

/// Decodes `{"clientKeys":"a,b","sharedKeys":"c"}`.
///
/// Each list may also be a JSON array of strings; blank entries of the comma form are
/// skipped; other fields are ignored. An empty payload asks for everything.
pub fn decode_attribute_request(bytes: &[u8]) -> Result<AttributeRequest> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(AttributeRequest::default());
    }
    let mut obj = json::into_object(json::parse(bytes)?, ROOT)?;
    let mut list = |field: &str| match obj.remove(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => json::key_list(v, &json::key_path(ROOT, field)),
    };
    Ok(AttributeRequest {
        client_keys: list("clientKeys")?,
        shared_keys: list("sharedKeys")?,
    })
}

/// The answer to an attribute read, `{"client":{..},"shared":{..}}`, leaving out a scope with
/// nothing to report (also what the HTTP device API returns).
pub fn attribute_response(client: &Map<String, Value>, shared: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    if !client.is_empty() {
        out.insert("client".to_owned(), Value::Object(client.clone()));
    }
    if !shared.is_empty() {
        out.insert("shared".to_owned(), Value::Object(shared.clone()));
    }
    Value::Object(out)
}

/// Encodes [`attribute_response`] for `v1/devices/me/attributes/response/{n}`.
pub fn encode_attribute_response(
    client: &Map<String, Value>,
    shared: &Map<String, Value>,
) -> Vec<u8> {
    json::to_bytes(&attribute_response(client, shared))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn attributes_are_a_flat_object() {
        let got = decode_attributes(br#"{"fw":"1.0","battery":87,"cfg":{"a":1}}"#).expect("valid");
        assert_eq!(got, map(json!({"fw":"1.0","battery":87,"cfg":{"a":1}})));
        for (input, want) in [
            ("[1]", "at $: expected object, found array"),
            ("{}", "at $: no attributes"),
            (r#"{"a":null}"#, "at a: null is not a valid value"),
            ("{", "payload is not valid json"),
        ] {
            let e = decode_attributes(input.as_bytes())
                .expect_err(input)
                .to_string();
            assert!(e.starts_with(want), "{input}: {e}");
        }
    }

    #[test]
    fn attribute_request_forms() {
        let r = decode_attribute_request(br#"{"clientKeys":"a, b,,c","sharedKeys":"s"}"#)
            .expect("valid");
        assert_eq!(r.client_keys, ["a", "b", "c"]);
        assert_eq!(r.shared_keys, ["s"]);
        let r = decode_attribute_request(br#"{"sharedKeys":["x","y"]}"#).expect("valid");
        assert!(r.client_keys.is_empty());
        assert_eq!(r.shared_keys, ["x", "y"]);
        assert_eq!(
            decode_attribute_request(b"").expect("empty"),
            AttributeRequest::default()
        );
        assert_eq!(
            decode_attribute_request(b"{}").expect("{}"),
            AttributeRequest::default()
        );
        let e = decode_attribute_request(br#"{"clientKeys":5}"#).expect_err("number");
        assert_eq!(
            e.to_string(),
            "at clientKeys: expected string or array of strings, found number"
        );
        let e = decode_attribute_request(br#"{"clientKeys":["a",1]}"#).expect_err("array item");
        assert_eq!(
            e.to_string(),
            "at clientKeys[1]: expected string, found number"
        );
    }

    #[test]
    fn attribute_response_omits_empty_scopes() {
        let client = map(json!({"a":1}));
        let out = encode_attribute_response(&client, &Map::new());
        assert_eq!(out, br#"{"client":{"a":1}}"#);
        let shared = map(json!({"s":"x"}));
        let out = encode_attribute_response(&client, &shared);
        assert_eq!(out, br#"{"client":{"a":1},"shared":{"s":"x"}}"#);
        assert_eq!(encode_attribute_update(&shared), br#"{"s":"x"}"#);
    }
}
