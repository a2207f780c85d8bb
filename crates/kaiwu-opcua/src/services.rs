//! Read, browse, write and call on a connected [`Client`].

use opcua::types::{
    Argument, AttributeId, BrowseDescription, BrowseDirection, BrowsePath, BrowseResultMask,
    CallMethodRequest, DataValue, NodeClass, NodeId, NumericRange, ObjectId, QualifiedName,
    ReadValueId, ReferenceDescription, ReferenceTypeId, RelativePath, RelativePathElement,
    StatusCode, TimestampsToReturn, Variant, WriteValue,
};

use crate::{
    client::Client,
    convert::{
        data_type_name, data_type_of, from_variant, natural_variant, sample, status_name, text,
        to_variant, ua_string,
    },
    error::{Error, Result},
    node_id::to_node_id,
    types::{BrowseEntry, DataType, Sample, Val},
};

// Bounds browse paging so a misbehaving server cannot loop us forever.
const MAX_BROWSE_PAGES: usize = 100;

pub(crate) fn attr_read(node_id: NodeId, attr: AttributeId) -> ReadValueId {
    ReadValueId {
        node_id,
        attribute_id: attr as u32,
        index_range: NumericRange::None,
        data_encoding: QualifiedName::null(),
    }
}

fn bad(op: &'static str, node: &str, code: StatusCode) -> Error {
    Error::BadStatus {
        op,
        node: node.to_owned(),
        status: status_name(code),
        code: code.bits(),
    }
}

impl Client {
    /// Reads the Value attribute of each node (polling mode). Per-node failures
    /// come back as samples with a Bad status, not as an Err.
    pub async fn read(&self, nodes: &[String]) -> Result<Vec<Sample>> {
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let reads = nodes
            .iter()
            .map(|n| to_node_id(n).map(|id| attr_read(id, AttributeId::Value)))
            .collect::<Result<Vec<_>>>()?;
        let values = self
            .request(
                "read",
                self.session.read(&reads, TimestampsToReturn::Both, 0.0),
            )
            .await?;
        Ok(nodes
            .iter()
            .zip(values)
            .map(|(n, dv)| sample(n, dv))
            .collect())
    }

    /// Hierarchical children of `node` (None = the Objects folder), with the
    /// data type of each variable.
    pub async fn browse(&self, node: Option<&str>) -> Result<Vec<BrowseEntry>> {
        let (start, label) = match node {
            Some(n) => (to_node_id(n)?, n.to_owned()),
            None => (ObjectId::ObjectsFolder.into(), "Objects".to_owned()),
        };
        let refs = self.browse_refs(start, &label).await?;
        let mut entries: Vec<BrowseEntry> = refs
            .iter()
            .map(|r| BrowseEntry {
                node_id: r.node_id.node_id.to_string(),
                browse_name: ua_string(&r.browse_name.name),
                display_name: text(&r.display_name),
                node_class: format!("{:?}", r.node_class),
                data_type: None,
            })
            .collect();
        let vars: Vec<usize> = (0..refs.len())
            .filter(|&i| refs[i].node_class == NodeClass::Variable)
            .collect();
        if vars.is_empty() {
            return Ok(entries);
        }
        let reads: Vec<ReadValueId> = vars
            .iter()
            .map(|&i| attr_read(refs[i].node_id.node_id.clone(), AttributeId::DataType))
            .collect();
        let types = self
            .request(
                "read data types",
                self.session.read(&reads, TimestampsToReturn::Neither, 0.0),
            )
            .await?;
        for (&i, dv) in vars.iter().zip(types) {
            if let Some(Variant::NodeId(id)) = dv.value {
                entries[i].data_type = Some(data_type_name(&id));
            }
        }
        Ok(entries)
    }

    async fn browse_refs(&self, start: NodeId, label: &str) -> Result<Vec<ReferenceDescription>> {
        let desc = BrowseDescription {
            node_id: start,
            browse_direction: BrowseDirection::Forward,
            reference_type_id: ReferenceTypeId::HierarchicalReferences.into(),
            include_subtypes: true,
            node_class_mask: 0,
            result_mask: BrowseResultMask::All as u32,
        };
        let mut page = self
            .request("browse", self.session.browse(&[desc], 0, None))
            .await?
            .pop()
            .ok_or_else(|| bad("browse", label, StatusCode::BadUnexpectedError))?;
        let mut refs = Vec::new();
        for _ in 0..MAX_BROWSE_PAGES {
            if page.status_code.is_bad() {
                return Err(bad("browse", label, page.status_code));
            }
            refs.extend(page.references.take().unwrap_or_default());
            if page.continuation_point.is_null_or_empty() {
                return Ok(refs);
            }
            let cp = std::slice::from_ref(&page.continuation_point);
            page = self
                .request("browse next", self.session.browse_next(false, cp))
                .await?
                .pop()
                .ok_or_else(|| bad("browse", label, StatusCode::BadUnexpectedError))?;
        }
        Ok(refs)
    }

    /// Writes `value`, converted to the node's DataType (read first).
    pub async fn write(&self, node: &str, value: Val) -> Result<()> {
        let id = to_node_id(node)?;
        let dt = self
            .request(
                "read data type",
                self.session.read(
                    &[attr_read(id.clone(), AttributeId::DataType)],
                    TimestampsToReturn::Neither,
                    0.0,
                ),
            )
            .await?
            .pop()
            .unwrap_or_default();
        if let Some(code) = dt.status.filter(|c| c.is_bad()) {
            return Err(bad("write", node, code));
        }
        let variant = match dt.value {
            Some(Variant::NodeId(dt_id)) => convert_for(node, &value, &dt_id)?,
            _ => natural_variant(&value),
        };
        if matches!(variant, Variant::Empty) {
            return Err(Error::Conversion {
                node: node.to_owned(),
                value: value.to_string(),
                data_type: "a value".into(),
            });
        }
        let write = WriteValue {
            node_id: id,
            attribute_id: AttributeId::Value as u32,
            index_range: NumericRange::None,
            value: DataValue {
                value: Some(variant),
                ..Default::default()
            },
        };
        let codes = self.request("write", self.session.write(&[write])).await?;
        match codes.first() {
            Some(c) if !c.is_bad() => Ok(()),
            Some(c) => Err(bad("write", node, *c)),
            None => Err(bad("write", node, StatusCode::BadUnexpectedError)),
        }
    }

    /// Calls `method` on `object`. Arguments are converted to the method's
    /// declared input types when it publishes InputArguments.
    pub async fn call(&self, object: &str, method: &str, args: Vec<Val>) -> Result<Vec<Val>> {
        let object_id = to_node_id(object)?;
        let method_id = to_node_id(method)?;
        let types = self.input_types(&method_id).await;
        let inputs = args
            .iter()
            .enumerate()
            .map(|(i, a)| match types.get(i) {
                Some(Some(t)) => to_variant(a, *t).ok_or_else(|| Error::Conversion {
                    node: format!("{method} argument {i}"),
                    value: a.to_string(),
                    data_type: t.to_string(),
                }),
                _ => Ok(natural_variant(a)),
            })
            .collect::<Result<Vec<_>>>()?;
        let req = CallMethodRequest {
            object_id,
            method_id,
            input_arguments: Some(inputs),
        };
        let res = self.request("call", self.session.call_one(req)).await?;
        if res.status_code.is_bad() {
            return Err(bad("call", method, res.status_code));
        }
        Ok(res
            .output_arguments
            .unwrap_or_default()
            .iter()
            .map(from_variant)
            .collect())
    }

    /// Declared input types; empty when the method does not publish them.
    async fn input_types(&self, method: &NodeId) -> Vec<Option<DataType>> {
        let path = BrowsePath {
            starting_node: method.clone(),
            relative_path: RelativePath {
                elements: Some(vec![RelativePathElement {
                    reference_type_id: ReferenceTypeId::HasProperty.into(),
                    is_inverse: false,
                    include_subtypes: true,
                    target_name: QualifiedName::new(0, "InputArguments"),
                }]),
            },
        };
        let paths = [path];
        let fut = self.session.translate_browse_paths_to_node_ids(&paths);
        let Ok(found) = self.request("find input arguments", fut).await else {
            return Vec::new();
        };
        let Some(target) = found
            .into_iter()
            .next()
            .and_then(|r| r.targets)
            .and_then(|t| t.into_iter().next())
        else {
            return Vec::new();
        };
        let reads = [attr_read(target.target_id.node_id, AttributeId::Value)];
        let fut = self.session.read(&reads, TimestampsToReturn::Neither, 0.0);
        let Ok(values) = self.request("read input arguments", fut).await else {
            return Vec::new();
        };
        let Some(Some(Variant::Array(arr))) = values.into_iter().next().map(|dv| dv.value) else {
            return Vec::new();
        };
        arr.values
            .iter()
            .map(|v| match v {
                Variant::ExtensionObject(eo) => eo
                    .inner_as::<Argument>()
                    .and_then(|a| data_type_of(&a.data_type)),
                _ => None,
            })
            .collect()
    }
}

fn convert_for(node: &str, value: &Val, dt_id: &NodeId) -> Result<Variant> {
    match data_type_of(dt_id) {
        Some(t) => to_variant(value, t).ok_or_else(|| Error::Conversion {
            node: node.to_owned(),
            value: value.to_string(),
            data_type: t.to_string(),
        }),
        // Types we do not model (enums in other namespaces, structures): let the server judge.
        None => Ok(natural_variant(value)),
    }
}
