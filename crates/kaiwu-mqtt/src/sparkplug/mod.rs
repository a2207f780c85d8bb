//! Sparkplug B (Eclipse Sparkplug 3.0): the protobuf payload, topic parsing, conversion of
//! metrics to Kaiwu values, the host-side edge node session state machine, and the messages a
//! host sends (NCMD/DCMD, rebirth requests, STATE).
//!
//! Pure code: no I/O, no storage. The broker decodes a publish with [`decode_payload`], feeds
//! it to the edge node's [`NodeSession`], and acts on the [`SessionEvent`]s.

mod arrays;
mod command;
mod datatype;
mod error;
mod proto;
mod session;
mod topic;
mod value;
mod wire;

pub use command::{HostState, command_metric, command_payload, rebirth_payload};
pub use datatype::{DataType, datatype_to_property_type};
pub use error::{Result, SparkplugError};
pub use proto::{
    DataSet, DataSetRow, DataSetValue, Extension, MetaData, Metric, Payload, PropertySet,
    PropertySetList, PropertyValue, Template, TemplateParameter, data_set_value, metric,
    property_value, template_parameter,
};
pub use session::{
    BD_SEQ_METRIC, MAX_DEVICES, NodeSession, REBIRTH_METRIC, RebirthReason, ResolvedMetric,
    SessionEvent,
};
pub use topic::{EdgeTopic, MessageKind, NAMESPACE, SparkplugTopic, state_topic};
pub use value::{metric_quality, metric_value};
pub use wire::{MAX_METRICS, decode_payload, encode_payload};
