//! A borrowed view of what properties and fields have in common, so validation, value checks and
//! the WoT mapping are written once for both.

use std::collections::BTreeMap;

use crate::{DataType, Field, Property};

pub(crate) struct Schema<'a> {
    pub(crate) id: &'a str,
    pub(crate) name: Option<&'a str>,
    pub(crate) description: Option<&'a str>,
    pub(crate) ty: DataType,
    pub(crate) unit: Option<&'a str>,
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
    pub(crate) values: Option<&'a BTreeMap<String, String>>,
}

impl<'a> From<&'a Property> for Schema<'a> {
    fn from(p: &'a Property) -> Self {
        Schema {
            id: &p.id,
            name: p.name.as_deref(),
            description: p.description.as_deref(),
            ty: p.r#type,
            unit: p.unit.as_deref(),
            min: p.min,
            max: p.max,
            values: p.values.as_ref(),
        }
    }
}

impl<'a> From<&'a Field> for Schema<'a> {
    fn from(f: &'a Field) -> Self {
        Schema {
            id: &f.id,
            name: f.name.as_deref(),
            description: f.description.as_deref(),
            ty: f.r#type,
            unit: f.unit.as_deref(),
            min: f.min,
            max: f.max,
            values: f.values.as_ref(),
        }
    }
}

/// The integer an enum key stands for, if it is written canonically (`"7"`, `"-1"`, not `"07"`
/// or `"+1"`), so that keys and the integers devices send correspond one to one.
pub(crate) fn enum_key(k: &str) -> Option<i64> {
    k.parse::<i64>().ok().filter(|n| n.to_string() == k)
}

/// At most `max` characters of `s`, for quoting user input in messages.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(max).collect();
        c.push('…');
        c
    }
}
