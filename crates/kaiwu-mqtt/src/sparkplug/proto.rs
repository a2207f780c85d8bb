//! The Sparkplug B payload schema (Eclipse Tahu `sparkplug_b.proto`, package
//! `org.eclipse.tahu.protobuf`, proto2), written as prost derives because there is no protoc
//! here. Field numbers and wire types follow the `.proto` exactly; the nested messages of
//! `Payload` are flattened to module level (`Payload.Metric` is [`Metric`], `Payload.DataSet.Row`
//! is [`DataSetRow`]). proto2 `optional` scalars are `Option`s, so "absent" and "zero" stay
//! distinct (a `seq` of 0 is not a missing `seq`).
//!
//! The `*Extension` messages of the schema carry only proto2 extension ranges; they all decode
//! to the empty [`Extension`] (extension contents are skipped, like other unknown fields).

/// A Sparkplug B message body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    /// Publish time, epoch milliseconds (UTC).
    #[prost(uint64, optional, tag = "1")]
    pub timestamp: Option<u64>,
    /// The metrics.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    /// Message sequence number, 0..=255; absent in NDEATH, NCMD and DCMD.
    #[prost(uint64, optional, tag = "3")]
    pub seq: Option<u64>,
    /// Schema or encoding identifier for `body`.
    #[prost(string, optional, tag = "4")]
    pub uuid: Option<String>,
    /// Custom binary body.
    #[prost(bytes = "vec", optional, tag = "5")]
    pub body: Option<Vec<u8>>,
}

/// One tag: name (births) or alias (data, commands), type, value and flags.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    /// Slash-separated name, e.g. `Inputs/A`.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Numeric alias bound to the name by the birth.
    #[prost(uint64, optional, tag = "2")]
    pub alias: Option<u64>,
    /// Acquisition time, epoch milliseconds.
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: Option<u64>,
    /// A [`super::DataType`] number.
    #[prost(uint32, optional, tag = "4")]
    pub datatype: Option<u32>,
    /// Historical (store-and-forward) value: not the current one.
    #[prost(bool, optional, tag = "5")]
    pub is_historical: Option<bool>,
    /// Not to be historised.
    #[prost(bool, optional, tag = "6")]
    pub is_transient: Option<bool>,
    /// The value is null (the `value` field is then usually absent).
    #[prost(bool, optional, tag = "7")]
    pub is_null: Option<bool>,
    /// Metadata for bytes, files and multi-part values.
    #[prost(message, optional, tag = "8")]
    pub metadata: Option<MetaData>,
    /// Custom properties (e.g. `Quality`, engineering units).
    #[prost(message, optional, tag = "9")]
    pub properties: Option<PropertySet>,
    /// The value.
    #[prost(
        oneof = "metric::Value",
        tags = "10, 11, 12, 13, 14, 15, 16, 17, 18, 19"
    )]
    pub value: Option<metric::Value>,
}

/// The value oneof of [`Metric`].
pub mod metric {
    /// `Payload.Metric.value`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// 8-, 16- and 32-bit integers (signed ones in two's complement).
        #[prost(uint32, tag = "10")]
        IntValue(u32),
        /// 64-bit integers and DateTime.
        #[prost(uint64, tag = "11")]
        LongValue(u64),
        /// Float.
        #[prost(float, tag = "12")]
        FloatValue(f32),
        /// Double.
        #[prost(double, tag = "13")]
        DoubleValue(f64),
        /// Boolean.
        #[prost(bool, tag = "14")]
        BooleanValue(bool),
        /// String, Text, UUID.
        #[prost(string, tag = "15")]
        StringValue(String),
        /// Bytes, File and the packed array types.
        #[prost(bytes = "vec", tag = "16")]
        BytesValue(Vec<u8>),
        /// DataSet.
        #[prost(message, tag = "17")]
        DatasetValue(super::DataSet),
        /// Template.
        #[prost(message, tag = "18")]
        TemplateValue(super::Template),
        /// Third-party extension.
        #[prost(message, tag = "19")]
        ExtensionValue(super::Extension),
    }
}

/// `Payload.MetaData`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetaData {
    /// Part of a multi-part value.
    #[prost(bool, optional, tag = "1")]
    pub is_multi_part: Option<bool>,
    /// Media type.
    #[prost(string, optional, tag = "2")]
    pub content_type: Option<String>,
    /// Size of the value in bytes.
    #[prost(uint64, optional, tag = "3")]
    pub size: Option<u64>,
    /// Part number of a multi-part value.
    #[prost(uint64, optional, tag = "4")]
    pub seq: Option<u64>,
    /// File name.
    #[prost(string, optional, tag = "5")]
    pub file_name: Option<String>,
    /// File type.
    #[prost(string, optional, tag = "6")]
    pub file_type: Option<String>,
    /// MD5 of the data.
    #[prost(string, optional, tag = "7")]
    pub md5: Option<String>,
    /// Free-form description.
    #[prost(string, optional, tag = "8")]
    pub description: Option<String>,
}

/// `Payload.PropertySet`: parallel arrays of keys and values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertySet {
    /// Property names.
    #[prost(string, repeated, tag = "1")]
    pub keys: Vec<String>,
    /// Property values, same length as `keys`.
    #[prost(message, repeated, tag = "2")]
    pub values: Vec<PropertyValue>,
}

/// `Payload.PropertySetList`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertySetList {
    /// The sets.
    #[prost(message, repeated, tag = "1")]
    pub propertyset: Vec<PropertySet>,
}

/// `Payload.PropertyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertyValue {
    /// A [`super::DataType`] number.
    #[prost(uint32, optional, tag = "1")]
    pub r#type: Option<u32>,
    /// The value is null.
    #[prost(bool, optional, tag = "2")]
    pub is_null: Option<bool>,
    /// The value.
    #[prost(oneof = "property_value::Value", tags = "3, 4, 5, 6, 7, 8, 9, 10, 11")]
    pub value: Option<property_value::Value>,
}

/// The value oneof of [`PropertyValue`].
pub mod property_value {
    /// `Payload.PropertyValue.value`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// Up to 32-bit integers.
        #[prost(uint32, tag = "3")]
        IntValue(u32),
        /// 64-bit integers, DateTime.
        #[prost(uint64, tag = "4")]
        LongValue(u64),
        /// Float.
        #[prost(float, tag = "5")]
        FloatValue(f32),
        /// Double.
        #[prost(double, tag = "6")]
        DoubleValue(f64),
        /// Boolean.
        #[prost(bool, tag = "7")]
        BooleanValue(bool),
        /// String, Text.
        #[prost(string, tag = "8")]
        StringValue(String),
        /// Nested set.
        #[prost(message, tag = "9")]
        PropertysetValue(super::PropertySet),
        /// List of sets.
        #[prost(message, tag = "10")]
        PropertysetsValue(super::PropertySetList),
        /// Third-party extension.
        #[prost(message, tag = "11")]
        ExtensionValue(super::Extension),
    }
}

/// `Payload.DataSet`: a typed table.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DataSet {
    /// Number of columns.
    #[prost(uint64, optional, tag = "1")]
    pub num_of_columns: Option<u64>,
    /// Column names.
    #[prost(string, repeated, tag = "2")]
    pub columns: Vec<String>,
    /// Column [`super::DataType`] numbers.
    #[prost(uint32, repeated, packed = "false", tag = "3")]
    pub types: Vec<u32>,
    /// Rows.
    #[prost(message, repeated, tag = "4")]
    pub rows: Vec<DataSetRow>,
}

/// `Payload.DataSet.Row`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DataSetRow {
    /// One element per column.
    #[prost(message, repeated, tag = "1")]
    pub elements: Vec<DataSetValue>,
}

/// `Payload.DataSet.DataSetValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DataSetValue {
    /// The value.
    #[prost(oneof = "data_set_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<data_set_value::Value>,
}

/// The value oneof of [`DataSetValue`].
pub mod data_set_value {
    /// `Payload.DataSet.DataSetValue.value`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// Up to 32-bit integers.
        #[prost(uint32, tag = "1")]
        IntValue(u32),
        /// 64-bit integers, DateTime.
        #[prost(uint64, tag = "2")]
        LongValue(u64),
        /// Float.
        #[prost(float, tag = "3")]
        FloatValue(f32),
        /// Double.
        #[prost(double, tag = "4")]
        DoubleValue(f64),
        /// Boolean.
        #[prost(bool, tag = "5")]
        BooleanValue(bool),
        /// String, Text.
        #[prost(string, tag = "6")]
        StringValue(String),
        /// Third-party extension.
        #[prost(message, tag = "7")]
        ExtensionValue(super::Extension),
    }
}

/// `Payload.Template`: a user-defined type (definition) or an instance of one.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Template {
    /// Definition version.
    #[prost(string, optional, tag = "1")]
    pub version: Option<String>,
    /// Member metrics.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    /// Parameters.
    #[prost(message, repeated, tag = "3")]
    pub parameters: Vec<TemplateParameter>,
    /// For an instance, the name of its definition.
    #[prost(string, optional, tag = "4")]
    pub template_ref: Option<String>,
    /// A definition rather than an instance.
    #[prost(bool, optional, tag = "5")]
    pub is_definition: Option<bool>,
}

/// `Payload.Template.Parameter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TemplateParameter {
    /// Name.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// A [`super::DataType`] number.
    #[prost(uint32, optional, tag = "2")]
    pub r#type: Option<u32>,
    /// The value.
    #[prost(oneof = "template_parameter::Value", tags = "3, 4, 5, 6, 7, 8, 9")]
    pub value: Option<template_parameter::Value>,
}

/// The value oneof of [`TemplateParameter`].
pub mod template_parameter {
    /// `Payload.Template.Parameter.value`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// Up to 32-bit integers.
        #[prost(uint32, tag = "3")]
        IntValue(u32),
        /// 64-bit integers, DateTime.
        #[prost(uint64, tag = "4")]
        LongValue(u64),
        /// Float.
        #[prost(float, tag = "5")]
        FloatValue(f32),
        /// Double.
        #[prost(double, tag = "6")]
        DoubleValue(f64),
        /// Boolean.
        #[prost(bool, tag = "7")]
        BooleanValue(bool),
        /// String, Text.
        #[prost(string, tag = "8")]
        StringValue(String),
        /// Third-party extension.
        #[prost(message, tag = "9")]
        ExtensionValue(super::Extension),
    }
}

/// Any of the schema's `*Extension` messages: nothing but an extension range.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Extension {}
