//! DeviceType -> Thing Description.

use serde_json::{Map, Value, json};

use super::{KAIWU_NAMESPACE, TD_CONTEXT_11, TD_ID_PREFIX};
use crate::schema::{Schema, enum_key};
use crate::types::integral;
use crate::{Access, CommandDef, DataType, DeviceType, EventDef, Field, Property};

const SECURITY: &str = "bearer_sc";

pub(super) fn thing(dt: &DeviceType) -> Value {
    let mut td = Map::new();
    td.insert(
        "@context".into(),
        json!([TD_CONTEXT_11, {"kaiwu": KAIWU_NAMESPACE}]),
    );
    td.insert("id".into(), format!("{TD_ID_PREFIX}{}", dt.id).into());
    td.insert("title".into(), dt.name.clone().into());
    if let Some(d) = &dt.description {
        td.insert("description".into(), d.clone().into());
    }
    td.insert(
        "version".into(),
        json!({"instance": dt.version.to_string()}),
    );
    if dt.extensible {
        td.insert("kaiwu:extensible".into(), true.into());
    }
    td.insert(
        "securityDefinitions".into(),
        json!({SECURITY: {"scheme": "bearer", "in": "header", "format": "jwt"}}),
    );
    td.insert("security".into(), SECURITY.into());
    let props = dt.properties.iter().map(|p| (p.id.clone(), property(p)));
    td.insert("properties".into(), Value::Object(props.collect()));
    let actions = dt.commands.iter().map(|c| (c.id.clone(), action(c)));
    td.insert("actions".into(), Value::Object(actions.collect()));
    let events = dt.events.iter().map(|e| (e.id.clone(), event(e)));
    td.insert("events".into(), Value::Object(events.collect()));
    Value::Object(td)
}

fn property(p: &Property) -> Value {
    let mut m = data_schema(&Schema::from(p));
    m.insert("readOnly".into(), (p.access == Access::Read).into());
    if let Some(c) = p.classification {
        m.insert("kaiwu:classification".into(), c.into());
    }
    m.insert("uriVariables".into(), device_variable());
    let mut forms = vec![form("/api/devices/{device}/latest", "GET", "readproperty")];
    if p.access == Access::ReadWrite {
        forms.push(form(
            "/api/devices/{device}/shadow",
            "PATCH",
            "writeproperty",
        ));
    }
    m.insert("forms".into(), forms.into());
    Value::Object(m)
}

fn action(c: &CommandDef) -> Value {
    let mut m = titled(c.name.as_deref(), c.description.as_deref());
    if !c.params.is_empty() {
        m.insert("input".into(), object_schema(&c.params));
    }
    if !c.result.is_empty() {
        m.insert("output".into(), object_schema(&c.result));
    }
    m.insert("uriVariables".into(), device_variable());
    let href = format!("/api/devices/{{device}}/commands/{}", c.id);
    m.insert(
        "forms".into(),
        vec![form(&href, "POST", "invokeaction")].into(),
    );
    Value::Object(m)
}

fn event(e: &EventDef) -> Value {
    let mut m = titled(e.name.as_deref(), e.description.as_deref());
    m.insert("kaiwu:severity".into(), e.severity.as_str().into());
    if !e.fields.is_empty() {
        m.insert("data".into(), object_schema(&e.fields));
    }
    m.insert("uriVariables".into(), device_variable());
    // A WebSocket subscription: no HTTP method applies.
    let mut f = form("/api/stream", "GET", "subscribeevent");
    if let Some(f) = f.as_object_mut() {
        f.remove("htv:methodName");
    }
    m.insert("forms".into(), vec![f].into());
    Value::Object(m)
}

fn object_schema(fields: &[Field]) -> Value {
    let props = fields
        .iter()
        .map(|f| (f.id.clone(), Value::Object(data_schema(&Schema::from(f)))));
    json!({"type": "object", "properties": Value::Object(props.collect())})
}

fn data_schema(s: &Schema<'_>) -> Map<String, Value> {
    let mut m = titled(s.name, s.description);
    let ty = match s.ty {
        DataType::Bool => Some("boolean"),
        DataType::Int | DataType::Enum | DataType::Timestamp => Some("integer"),
        DataType::Float => Some("number"),
        DataType::String => Some("string"),
        // No `type`: a json value may be any JSON document, not only an object.
        DataType::Json => None,
    };
    if let Some(ty) = ty {
        m.insert("type".into(), ty.into());
    }
    if matches!(s.ty, DataType::Timestamp | DataType::Json) {
        m.insert("kaiwu:type".into(), s.ty.as_str().into());
    }
    if let Some(values) = s.values.filter(|_| s.ty == DataType::Enum) {
        m.insert("oneOf".into(), one_of(values.iter()));
    }
    if let Some(u) = s.unit {
        m.insert("unit".into(), u.into());
    }
    if let Some(x) = s.min {
        m.insert("minimum".into(), number(x));
    }
    if let Some(x) = s.max {
        m.insert("maximum".into(), number(x));
    }
    m
}

/// Enum entries ordered by key value (the native map orders keys as strings).
fn one_of<'a>(values: impl Iterator<Item = (&'a String, &'a String)>) -> Value {
    let mut entries: Vec<(Option<i64>, &String, &String)> =
        values.map(|(k, l)| (enum_key(k), k, l)).collect();
    entries.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let items = entries.into_iter().map(|(n, k, l)| {
        // An unvalidated model may hold a non-integer key; keep it visible rather than drop it.
        let c = n.map_or_else(|| Value::from(k.clone()), Value::from);
        json!({"const": c, "title": l})
    });
    Value::Array(items.collect())
}

fn titled(name: Option<&str>, description: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(n) = name {
        m.insert("title".into(), n.into());
    }
    if let Some(d) = description {
        m.insert("description".into(), d.into());
    }
    m
}

fn number(x: f64) -> Value {
    integral(x).map_or_else(|| Value::from(x), Value::from)
}

fn form(href: &str, method: &str, op: &str) -> Value {
    json!({"href": href, "contentType": "application/json", "htv:methodName": method, "op": [op]})
}

fn device_variable() -> Value {
    json!({"device": {"type": "string", "title": "device id"}})
}
