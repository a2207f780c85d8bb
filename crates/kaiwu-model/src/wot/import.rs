//! Thing Description -> DeviceType.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};

use super::{TD_CONTEXT_10, TD_CONTEXT_11};
use crate::schema::clip;
use crate::validate::is_member_id;
use crate::{
    Access, CommandDef, DataType, DeviceType, Error, EventDef, Field, Property, Result, Severity,
    slug,
};

type Obj = Map<String, Value>;

pub(super) fn thing(td: &Value, id: Option<&str>) -> Result<DeviceType> {
    let td = td
        .as_object()
        .ok_or_else(|| wot("$", "a thing description must be a json object"))?;
    context(td.get("@context"))?;
    let title = match td.get("title") {
        Some(Value::String(t)) => t,
        Some(_) => return Err(wot("title", "must be a string")),
        None => {
            return Err(wot(
                "title",
                "is missing; a thing description must have a title",
            ));
        }
    };
    let dt = DeviceType {
        id: id.map_or_else(|| slug(title), str::to_owned),
        name: title.clone(),
        version: version(td),
        description: text(td, "$", "description")?,
        properties: affordances(td, "properties", property)?,
        events: affordances(td, "events", event)?,
        commands: affordances(td, "actions", command)?,
        extensible: flag(td, "$", "kaiwu:extensible")?.unwrap_or(false),
    };
    dt.validate()?;
    Ok(dt)
}

fn context(c: Option<&Value>) -> Result<()> {
    let is_td = |v: &Value| matches!(v.as_str(), Some(TD_CONTEXT_11 | TD_CONTEXT_10));
    let ok = match c {
        Some(Value::Array(a)) => a.iter().any(is_td),
        Some(v) => is_td(v),
        None => false,
    };
    if ok {
        Ok(())
    } else {
        let msg = format!("must be or contain \"{TD_CONTEXT_11}\" or \"{TD_CONTEXT_10}\"");
        Err(wot("@context", msg))
    }
}

/// `version.instance` when it is a positive integer; TDs often carry semantic versions, which
/// have no counterpart in the native integer version.
fn version(td: &Obj) -> u32 {
    td.get("version")
        .and_then(|v| v.get("instance"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<u32>().ok())
        .filter(|v| *v >= 1)
        .unwrap_or(1)
}

fn affordances<T>(td: &Obj, key: &str, f: fn(&str, &str, &Obj) -> Result<T>) -> Result<Vec<T>> {
    let Some(v) = td.get(key) else {
        return Ok(Vec::new());
    };
    let map = v
        .as_object()
        .ok_or_else(|| wot(key, "must be an object of affordances by name"))?;
    map.iter()
        .map(|(name, a)| {
            let path = format!("{key}.{name}");
            named(&path, name)?;
            let a = a
                .as_object()
                .ok_or_else(|| wot(&path, "must be an object"))?;
            f(&path, name, a)
        })
        .collect()
}

fn property(path: &str, id: &str, a: &Obj) -> Result<Property> {
    let s = schema(path, a)?;
    let read_only = flag(a, path, "readOnly")?.unwrap_or(false);
    let classification = match a.get("kaiwu:classification") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| wot(&format!("{path}.kaiwu:classification"), "must be 1, 2 or 3"))?,
        ),
    };
    Ok(Property {
        id: id.to_owned(),
        name: s.name,
        r#type: s.ty,
        unit: s.unit,
        min: s.min,
        max: s.max,
        values: s.values,
        access: if read_only {
            Access::Read
        } else {
            Access::ReadWrite
        },
        classification,
        description: s.description,
    })
}

fn command(path: &str, id: &str, a: &Obj) -> Result<CommandDef> {
    Ok(CommandDef {
        id: id.to_owned(),
        name: text(a, path, "title")?,
        params: fields(&format!("{path}.input"), a.get("input"))?,
        result: fields(&format!("{path}.output"), a.get("output"))?,
        description: text(a, path, "description")?,
    })
}

fn event(path: &str, id: &str, a: &Obj) -> Result<EventDef> {
    let severity = match text(a, path, "kaiwu:severity")? {
        None => Severity::Info,
        Some(s) => Severity::from_name(&s).ok_or_else(|| {
            let msg = format!(
                "unknown severity {:?} (info, warning, minor, major, critical)",
                clip(&s, 32)
            );
            wot(&format!("{path}.kaiwu:severity"), msg)
        })?,
    };
    Ok(EventDef {
        id: id.to_owned(),
        name: text(a, path, "title")?,
        severity,
        fields: fields(&format!("{path}.data"), a.get("data"))?,
        description: text(a, path, "description")?,
    })
}

/// An object schema with `properties` gives one field per property; any other schema one field
/// named `value`.
fn fields(path: &str, schema: Option<&Value>) -> Result<Vec<Field>> {
    let Some(v) = schema else {
        return Ok(Vec::new());
    };
    let m = v
        .as_object()
        .ok_or_else(|| wot(path, "must be a data schema object"))?;
    let object = match m.get("type") {
        Some(t) => t.as_str() == Some("object"),
        None => true,
    };
    if let Some(props) = m
        .get("properties")
        .filter(|_| object && !m.contains_key("kaiwu:type"))
    {
        let props = props
            .as_object()
            .ok_or_else(|| wot(&format!("{path}.properties"), "must be an object"))?;
        return props
            .iter()
            .map(|(name, s)| {
                let fp = format!("{path}.properties.{name}");
                named(&fp, name)?;
                let s = s
                    .as_object()
                    .ok_or_else(|| wot(&fp, "must be a data schema object"))?;
                field(&fp, name, s)
            })
            .collect();
    }
    Ok(vec![field(path, "value", m)?])
}

fn field(path: &str, id: &str, m: &Obj) -> Result<Field> {
    let s = schema(path, m)?;
    Ok(Field {
        id: id.to_owned(),
        name: s.name,
        r#type: s.ty,
        unit: s.unit,
        min: s.min,
        max: s.max,
        values: s.values,
        description: s.description,
    })
}

/// What a TD data schema says about a property or field.
struct Parsed {
    name: Option<String>,
    description: Option<String>,
    ty: DataType,
    unit: Option<String>,
    min: Option<f64>,
    max: Option<f64>,
    values: Option<BTreeMap<String, String>>,
}

fn schema(path: &str, m: &Obj) -> Result<Parsed> {
    let values = enum_values(path, m)?;
    let ty = match m.get("kaiwu:type") {
        Some(Value::String(t)) => DataType::from_name(t).ok_or_else(|| {
            wot(
                &format!("{path}.kaiwu:type"),
                format!("unknown type {:?}", clip(t, 32)),
            )
        })?,
        Some(_) => return Err(wot(&format!("{path}.kaiwu:type"), "must be a string")),
        None if values.is_some() => DataType::Enum,
        None => json_type(path, m.get("type"))?,
    };
    let min = number(m, path, "minimum")?.filter(|_| ty.takes_range());
    let max = number(m, path, "maximum")?.filter(|_| ty.takes_range());
    Ok(Parsed {
        name: text(m, path, "title")?,
        description: text(m, path, "description")?,
        ty,
        unit: text(m, path, "unit")?.filter(|_| ty.takes_unit()),
        min,
        max,
        values: values.filter(|_| ty == DataType::Enum),
    })
}

fn json_type(path: &str, t: Option<&Value>) -> Result<DataType> {
    let Some(t) = t else {
        return Ok(DataType::Json);
    };
    let p = format!("{path}.type");
    match t.as_str() {
        Some("boolean") => Ok(DataType::Bool),
        Some("integer") => Ok(DataType::Int),
        Some("number") => Ok(DataType::Float),
        Some("string") => Ok(DataType::String),
        Some("object" | "array") => Ok(DataType::Json),
        Some(other) => Err(wot(&p, format!("unsupported type {:?}", clip(other, 32)))),
        None => Err(wot(&p, "must be a string")),
    }
}

/// `oneOf` of `const`s or `enum`: integer consts keep their value as the key, string consts are
/// numbered in order and become the labels (what devices send).
fn enum_values(path: &str, m: &Obj) -> Result<Option<BTreeMap<String, String>>> {
    if let Some(one_of) = m.get("oneOf") {
        let p = format!("{path}.oneOf");
        let items = one_of
            .as_array()
            .ok_or_else(|| wot(&p, "must be an array"))?;
        let consts: Option<Vec<(&Value, Option<&str>)>> = items
            .iter()
            .map(|e| Some((e.get("const")?, e.get("title").and_then(Value::as_str))))
            .collect();
        // A oneOf of alternative schemas, not of values, is no enum.
        if let Some(consts) = consts.filter(|c| !c.is_empty()) {
            return enumeration(&p, &consts).map(Some);
        }
    }
    if let Some(e) = m.get("enum") {
        let p = format!("{path}.enum");
        let items = e.as_array().ok_or_else(|| wot(&p, "must be an array"))?;
        let consts: Vec<(&Value, Option<&str>)> = items.iter().map(|v| (v, None)).collect();
        return enumeration(&p, &consts).map(Some);
    }
    Ok(None)
}

fn enumeration(path: &str, consts: &[(&Value, Option<&str>)]) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    if consts.iter().all(|(v, _)| v.as_i64().is_some()) {
        for (v, title) in consts {
            let key = v.to_string();
            let label = title.map_or_else(|| key.clone(), str::to_owned);
            if values.insert(key.clone(), label).is_some() {
                return Err(wot(path, format!("duplicate enum value {key}")));
            }
        }
    } else if consts.iter().all(|(v, _)| v.is_string()) {
        let mut seen = HashSet::new();
        for (i, (v, _)) in consts.iter().enumerate() {
            let label = v.as_str().unwrap_or_default();
            if !seen.insert(label) {
                return Err(wot(path, format!("duplicate enum value {v}")));
            }
            values.insert(i.to_string(), label.to_owned());
        }
    } else {
        return Err(wot(path, "enum values must be all integers or all strings"));
    }
    Ok(values)
}

/// The TD name of an affordance or field must already be a valid id: renaming would silently
/// break whatever addresses it by that name.
fn named(path: &str, name: &str) -> Result<()> {
    if is_member_id(name) {
        return Ok(());
    }
    let msg = format!(
        "name `{}` is not a valid kaiwu id (must match [A-Za-z][A-Za-z0-9_]{{0,62}}); \
         rename it in the thing description",
        clip(name, 64)
    );
    Err(wot(path, msg))
}

fn text(m: &Obj, path: &str, key: &str) -> Result<Option<String>> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wot(&join(path, key), "must be a string")),
    }
}

fn number(m: &Obj, path: &str, key: &str) -> Result<Option<f64>> {
    match m.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| wot(&join(path, key), "must be a number")),
    }
}

fn flag(m: &Obj, path: &str, key: &str) -> Result<Option<bool>> {
    match m.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| wot(&join(path, key), "must be a boolean")),
    }
}

fn join(path: &str, key: &str) -> String {
    if path == "$" {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn wot(path: &str, message: impl std::fmt::Display) -> Error {
    Error::Wot {
        path: path.to_owned(),
        message: message.to_string(),
    }
}
