//! The rules of the thing model. Every rule reports a [`Violation`]; all are collected.

use std::collections::{BTreeMap, HashMap};

use kaiwu_core::validate_type_id;

use crate::schema::{Schema, clip, enum_key};
use crate::{
    CommandDef, DataType, DeviceType, Error, EventDef, Field, Property, Result, Violation,
};

/// Most properties a device type may have.
pub const MAX_PROPERTIES: usize = 1024;
/// Most events a device type may have.
pub const MAX_EVENTS: usize = 256;
/// Most commands a device type may have.
pub const MAX_COMMANDS: usize = 256;
/// Most fields in one list (event fields, command params, command result).
pub const MAX_FIELDS: usize = 256;
/// Most entries in an enum's `values`.
pub const MAX_ENUM_VALUES: usize = 1024;

/// Property ids that are columns of every device type table (SQL is case-insensitive).
/// Device type ids that name the built-in SQL tables and schemas, so a type can never hide one.
pub const RESERVED_TYPE_IDS: [&str; 5] = [
    "telemetry",
    "devices",
    "alarms",
    "events",
    "information_schema",
];

pub const RESERVED_PROPERTY_IDS: [&str; 7] = [
    "ts",
    "device",
    "device_type",
    "tenant",
    "key",
    "value",
    "quality",
];

const ID_RULE: &str = "must match [A-Za-z][A-Za-z0-9_]{0,62}";
const MAX_NAME: usize = 128;
const MAX_DESCRIPTION: usize = 1024;
const MAX_UNIT: usize = 32;

/// `[A-Za-z][A-Za-z0-9_]{0,62}`: ids of properties, events, commands and fields.
pub fn is_member_id(s: &str) -> bool {
    let b = s.as_bytes();
    match b.split_first() {
        Some((f, rest)) => {
            b.len() <= 63
                && f.is_ascii_alphabetic()
                && rest.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        }
        None => false,
    }
}

impl DeviceType {
    /// Checks every rule; [`Error::Invalid`] lists all violations.
    pub fn validate(&self) -> Result<()> {
        let mut out = Out(Vec::new());
        out.device_type(self);
        if out.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(out.0))
        }
    }
}

struct Out(Vec<Violation>);

impl Out {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Violation {
            path: path.into(),
            message: message.into(),
        });
    }

    fn device_type(&mut self, dt: &DeviceType) {
        if let Err(e) = validate_type_id(&dt.id) {
            self.add("id", e.to_string());
        } else if RESERVED_TYPE_IDS.contains(&dt.id.as_str()) {
            self.add(
                "id",
                format!("`{}` is reserved for a built-in SQL table", dt.id),
            );
        }
        if dt.version < 1 {
            self.add("version", "version must be at least 1, got 0");
        }
        self.name("name", &dt.name);
        self.description("description", dt.description.as_deref());
        if self.within("properties", dt.properties.len(), MAX_PROPERTIES) {
            let ids: Vec<&str> = dt.properties.iter().map(|p| p.id.as_str()).collect();
            self.ids("properties", "property", &ids, true);
            for (i, p) in dt.properties.iter().enumerate() {
                self.property(&format!("properties[{i}]"), p);
            }
        }
        if self.within("events", dt.events.len(), MAX_EVENTS) {
            let ids: Vec<&str> = dt.events.iter().map(|e| e.id.as_str()).collect();
            self.ids("events", "event", &ids, false);
            for (i, e) in dt.events.iter().enumerate() {
                self.event(&format!("events[{i}]"), e);
            }
        }
        if self.within("commands", dt.commands.len(), MAX_COMMANDS) {
            let ids: Vec<&str> = dt.commands.iter().map(|c| c.id.as_str()).collect();
            self.ids("commands", "command", &ids, false);
            for (i, c) in dt.commands.iter().enumerate() {
                self.command(&format!("commands[{i}]"), c);
            }
        }
    }

    /// Reports an over-long list; its items are then skipped to keep the work bounded.
    fn within(&mut self, path: &str, len: usize, max: usize) -> bool {
        if len > max {
            self.add(
                path,
                format!("{path} has {len} entries, at most {max} allowed"),
            );
        }
        len <= max
    }

    /// Syntax and uniqueness of the ids of one list. `columns`: property ids, which are also
    /// SQL columns, so reserved names and ids differing only by case are refused too.
    fn ids(&mut self, list: &str, what: &str, ids: &[&str], columns: bool) {
        let mut exact: HashMap<&str, usize> = HashMap::new();
        let mut folded: HashMap<String, usize> = HashMap::new();
        for (i, id) in ids.iter().copied().enumerate() {
            let path = format!("{list}[{i}].id");
            let shown = clip(id, 64);
            if !is_member_id(id) {
                self.add(&path, format!("invalid {what} id `{shown}`: {ID_RULE}"));
            }
            if columns
                && RESERVED_PROPERTY_IDS
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(id))
            {
                let msg = format!("property id `{shown}` is reserved (a column of every table)");
                self.add(&path, msg);
            }
            let lower = id.to_ascii_lowercase();
            if let Some(j) = exact.get(id) {
                self.add(
                    &path,
                    format!("duplicate {what} id `{shown}` (first at {list}[{j}])"),
                );
            } else if let Some(&j) = folded.get(&lower).filter(|_| columns) {
                let other = clip(ids[j], 64);
                let msg = format!(
                    "property id `{shown}` differs only by case from `{other}` at {list}[{j}] \
                     (SQL column names ignore case)"
                );
                self.add(&path, msg);
            }
            exact.entry(id).or_insert(i);
            folded.entry(lower).or_insert(i);
        }
    }

    fn property(&mut self, path: &str, p: &Property) {
        self.member_text(path, p.name.as_deref(), p.description.as_deref());
        self.schema(path, &Schema::from(p));
        if let Some(c) = p.classification
            && !(1..=3).contains(&c)
        {
            let msg = format!("classification must be 1, 2 or 3, got {c}");
            self.add(format!("{path}.classification"), msg);
        }
    }

    fn event(&mut self, path: &str, e: &EventDef) {
        self.member_text(path, e.name.as_deref(), e.description.as_deref());
        self.fields(&format!("{path}.fields"), &e.fields);
    }

    fn command(&mut self, path: &str, c: &CommandDef) {
        self.member_text(path, c.name.as_deref(), c.description.as_deref());
        self.fields(&format!("{path}.params"), &c.params);
        self.fields(&format!("{path}.result"), &c.result);
    }

    fn fields(&mut self, path: &str, fields: &[Field]) {
        if !self.within(path, fields.len(), MAX_FIELDS) {
            return;
        }
        let ids: Vec<&str> = fields.iter().map(|f| f.id.as_str()).collect();
        self.ids(path, "field", &ids, false);
        for (i, f) in fields.iter().enumerate() {
            let fp = format!("{path}[{i}]");
            self.member_text(&fp, f.name.as_deref(), f.description.as_deref());
            self.schema(&fp, &Schema::from(f));
        }
    }

    fn member_text(&mut self, path: &str, name: Option<&str>, description: Option<&str>) {
        if let Some(n) = name {
            self.name(&format!("{path}.name"), n);
        }
        self.description(&format!("{path}.description"), description);
    }

    fn name(&mut self, path: &str, s: &str) {
        let n = s.chars().count();
        if n == 0 {
            self.add(path, "name must not be empty");
        } else if n > MAX_NAME {
            self.add(
                path,
                format!(
                    "name `{}` has {n} characters, at most {MAX_NAME} allowed",
                    clip(s, 32)
                ),
            );
        }
        if s.chars().any(char::is_control) {
            self.add(
                path,
                format!(
                    "name `{}` must not contain control characters",
                    clip(s, 32).escape_debug()
                ),
            );
        }
    }

    fn description(&mut self, path: &str, s: Option<&str>) {
        let n = s.map_or(0, |s| s.chars().count());
        if n > MAX_DESCRIPTION {
            let msg = format!("description has {n} characters, at most {MAX_DESCRIPTION} allowed");
            self.add(path, msg);
        }
    }

    fn schema(&mut self, path: &str, s: &Schema<'_>) {
        if let Some(u) = s.unit {
            self.unit(&format!("{path}.unit"), u, s.ty);
        }
        self.bound(path, "min", s.min, s.ty);
        self.bound(path, "max", s.max, s.ty);
        if let (Some(lo), Some(hi)) = (s.min, s.max)
            && lo > hi
        {
            self.add(
                format!("{path}.min"),
                format!("min {lo} is greater than max {hi}"),
            );
        }
        self.values(&format!("{path}.values"), s.ty, s.values);
    }

    fn unit(&mut self, path: &str, u: &str, ty: DataType) {
        let shown = clip(u, 40);
        if !ty.takes_unit() {
            self.add(
                path,
                format!("unit `{shown}` is only allowed for int and float, not {ty}"),
            );
            return;
        }
        let n = u.chars().count();
        if n == 0 || n > MAX_UNIT {
            self.add(
                path,
                format!("unit `{shown}` must have 1 to {MAX_UNIT} characters, has {n}"),
            );
        }
        if u.chars().any(char::is_control) {
            let msg = format!(
                "unit `{}` must not contain control characters",
                shown.escape_debug()
            );
            self.add(path, msg);
        } else if u.trim() != u {
            self.add(
                path,
                format!("unit `{shown}` must not start or end with whitespace"),
            );
        }
    }

    fn bound(&mut self, path: &str, which: &str, v: Option<f64>, ty: DataType) {
        let Some(x) = v else { return };
        let path = format!("{path}.{which}");
        if !ty.takes_range() {
            let msg = format!("{which} is only allowed for int, float and timestamp, not {ty}");
            self.add(path, msg);
        } else if !x.is_finite() {
            self.add(path, format!("{which} must be a finite number, got {x}"));
        } else if ty.is_integral() && x.fract() != 0.0 {
            self.add(
                path,
                format!("{which} must be an integer for {ty}, got {x}"),
            );
        }
    }

    fn values(&mut self, path: &str, ty: DataType, values: Option<&BTreeMap<String, String>>) {
        let v = match (ty, values) {
            (DataType::Enum, None) => {
                return self.add(path, "values (integer key -> label) are required for enum");
            }
            (DataType::Enum, Some(v)) if v.is_empty() => {
                return self.add(path, "values must not be empty for enum");
            }
            (DataType::Enum, Some(v)) => v,
            (_, None) => return,
            (ty, Some(_)) => {
                return self.add(path, format!("values are only allowed for enum, not {ty}"));
            }
        };
        if !self.within(path, v.len(), MAX_ENUM_VALUES) {
            return;
        }
        let mut labels: HashMap<&str, &str> = HashMap::new();
        for (k, label) in v {
            let kp = format!("{path}.{k}");
            let shown = clip(k, 32);
            if enum_key(k).is_none() {
                let msg = format!("enum key `{shown}` must be an integer such as \"0\" or \"-1\"");
                self.add(&kp, msg);
            }
            let n = label.chars().count();
            if n == 0 || n > MAX_NAME {
                let msg = format!(
                    "label of enum key `{shown}` must have 1 to {MAX_NAME} characters, has {n}"
                );
                self.add(&kp, msg);
            } else if label.chars().any(char::is_control) {
                self.add(
                    &kp,
                    format!("label of enum key `{shown}` must not contain control characters"),
                );
            }
            if let Some(first) = labels.get(label.as_str()) {
                let msg = format!(
                    "enum label `{}` is used by keys `{first}` and `{shown}`",
                    clip(label, 32)
                );
                self.add(&kp, msg);
            } else {
                labels.insert(label, k);
            }
        }
    }
}

#[cfg(test)]
mod tests;
