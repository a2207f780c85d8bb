//! Property changes between two versions of a device type.

use std::collections::HashMap;

use serde::Serialize;

use crate::{DataType, DeviceType};

/// How the properties (table columns) change from one version to the next, by property id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SchemaChange {
    /// Ids in the old version only, in old order.
    pub removed: Vec<String>,
    /// `(id, old type, new type)` for ids whose type changed, in new order.
    pub retyped: Vec<(String, DataType, DataType)>,
    /// Ids in the new version only, in new order.
    pub added: Vec<String>,
}

impl SchemaChange {
    /// No property was removed, retyped or added.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.retyped.is_empty() && self.added.is_empty()
    }

    /// Removes or retypes a property, which would orphan stored data.
    pub fn is_breaking(&self) -> bool {
        !self.removed.is_empty() || !self.retyped.is_empty()
    }
}

/// Compares the properties of two versions by id (exactly; a change of case is a removal plus an
/// addition). Other changes (names, ranges, enum labels) are not schema changes.
pub fn diff(old: &DeviceType, new: &DeviceType) -> SchemaChange {
    let before: HashMap<&str, DataType> = old
        .properties
        .iter()
        .map(|p| (p.id.as_str(), p.r#type))
        .collect();
    let after: HashMap<&str, DataType> = new
        .properties
        .iter()
        .map(|p| (p.id.as_str(), p.r#type))
        .collect();
    let mut change = SchemaChange::default();
    for p in &old.properties {
        if !after.contains_key(p.id.as_str()) {
            change.removed.push(p.id.clone());
        }
    }
    for p in &new.properties {
        match before.get(p.id.as_str()) {
            None => change.added.push(p.id.clone()),
            Some(&t) if t != p.r#type => change.retyped.push((p.id.clone(), t, p.r#type)),
            Some(_) => {}
        }
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Property;

    fn dt(props: &[(&str, DataType)]) -> DeviceType {
        DeviceType {
            id: "t".into(),
            name: "t".into(),
            version: 1,
            description: None,
            properties: props.iter().map(|(id, t)| Property::new(*id, *t)).collect(),
            events: vec![],
            commands: vec![],
            extensible: false,
        }
    }

    #[test]
    fn removed_retyped_added() {
        let old = dt(&[
            ("a", DataType::Int),
            ("b", DataType::Float),
            ("c", DataType::Bool),
        ]);
        let new = dt(&[
            ("c", DataType::String),
            ("a", DataType::Int),
            ("d", DataType::Json),
        ]);
        let d = diff(&old, &new);
        assert_eq!(d.removed, vec!["b".to_owned()]);
        assert_eq!(
            d.retyped,
            vec![("c".to_owned(), DataType::Bool, DataType::String)]
        );
        assert_eq!(d.added, vec!["d".to_owned()]);
        assert!(d.is_breaking() && !d.is_empty());
    }

    #[test]
    fn unchanged_and_case() {
        let a = dt(&[("speed", DataType::Float)]);
        assert!(diff(&a, &a).is_empty());
        let b = dt(&[("Speed", DataType::Float)]);
        let d = diff(&a, &b);
        assert_eq!((d.removed.len(), d.added.len()), (1, 1));
        let grow = dt(&[("speed", DataType::Float), ("x", DataType::Int)]);
        assert!(!diff(&a, &grow).is_breaking());
    }
}
