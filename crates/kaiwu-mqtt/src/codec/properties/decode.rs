//! Property block decoding. Rejects properties not allowed in the packet (malformed) and
//! repeated single-valued ones (protocol error), and caps user properties, so a flood of
//! properties fails early instead of growing memory.

use super::*;
use crate::codec::read::Reader;
use crate::codec::topic::valid_topic_name;
use crate::codec::{DecodeError, MAX_USER_PROPERTIES};

/// Reads a property length and the block it announces.
pub(in crate::codec) fn decode_properties(
    outer: &mut Reader<'_>,
    ctx: Ctx,
) -> Result<Properties, DecodeError> {
    let len = outer.varint("property length")?;
    let mut p = Properties::default();
    if len == 0 {
        // The common case for PUBLISH: skip the block machinery.
        return Ok(p);
    }
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let mut r = outer.sub(len, "properties")?;
    while !r.is_empty() {
        let id = r.u8("property identifier")?;
        if !allowed(id, ctx) {
            return Err(DecodeError::InvalidProperty {
                packet: ctx.name(),
                id,
            });
        }
        read_one(&mut r, id, ctx, &mut p)?;
    }
    if p.authentication_data.is_some() && p.authentication_method.is_none() {
        return Err(DecodeError::ProtocolViolation(
            "authentication data without an authentication method",
        ));
    }
    Ok(p)
}

fn read_one(r: &mut Reader<'_>, id: u8, ctx: Ctx, p: &mut Properties) -> Result<(), DecodeError> {
    let name = property_name(id);
    match id {
        PAYLOAD_FORMAT_INDICATOR => set(&mut p.payload_format_indicator, id, flag(r, id)?),
        MESSAGE_EXPIRY_INTERVAL => set(&mut p.message_expiry_interval, id, r.u32(name)?),
        CONTENT_TYPE => set(&mut p.content_type, id, r.string(name)?),
        RESPONSE_TOPIC => {
            let topic = r.string(name)?;
            if !valid_topic_name(&topic) {
                return Err(DecodeError::ProtocolViolation(
                    "response topic is not a valid topic name",
                ));
            }
            set(&mut p.response_topic, id, topic)
        }
        CORRELATION_DATA => set(&mut p.correlation_data, id, r.binary(name)?),
        SUBSCRIPTION_IDENTIFIER => {
            let v = r.varint(name)?;
            if v == 0 {
                return Err(DecodeError::InvalidPropertyValue {
                    property: name,
                    value: 0,
                });
            }
            // PUBLISH may carry one per matching subscription; SUBSCRIBE only one.
            let single = ctx == Ctx::Packet(PacketType::Subscribe);
            if single && !p.subscription_identifiers.is_empty() {
                return Err(DecodeError::DuplicateProperty { property: name });
            }
            p.subscription_identifiers.push(v);
            Ok(())
        }
        SESSION_EXPIRY_INTERVAL => set(&mut p.session_expiry_interval, id, r.u32(name)?),
        ASSIGNED_CLIENT_IDENTIFIER => set(&mut p.assigned_client_identifier, id, r.string(name)?),
        SERVER_KEEP_ALIVE => set(&mut p.server_keep_alive, id, r.u16(name)?),
        AUTHENTICATION_METHOD => set(&mut p.authentication_method, id, r.string(name)?),
        AUTHENTICATION_DATA => set(&mut p.authentication_data, id, r.binary(name)?),
        REQUEST_PROBLEM_INFORMATION => set(&mut p.request_problem_information, id, flag(r, id)?),
        WILL_DELAY_INTERVAL => set(&mut p.will_delay_interval, id, r.u32(name)?),
        REQUEST_RESPONSE_INFORMATION => set(&mut p.request_response_information, id, flag(r, id)?),
        RESPONSE_INFORMATION => set(&mut p.response_information, id, r.string(name)?),
        SERVER_REFERENCE => set(&mut p.server_reference, id, r.string(name)?),
        REASON_STRING => set(&mut p.reason_string, id, r.string(name)?),
        RECEIVE_MAXIMUM => set(&mut p.receive_maximum, id, nonzero_u16(r, id)?),
        TOPIC_ALIAS_MAXIMUM => set(&mut p.topic_alias_maximum, id, r.u16(name)?),
        TOPIC_ALIAS => set(&mut p.topic_alias, id, nonzero_u16(r, id)?),
        MAXIMUM_QOS => {
            let qos = match flag(r, id)? {
                false => QoS::AtMostOnce,
                true => QoS::AtLeastOnce,
            };
            set(&mut p.maximum_qos, id, qos)
        }
        RETAIN_AVAILABLE => set(&mut p.retain_available, id, flag(r, id)?),
        USER_PROPERTY => {
            if p.user_properties.len() >= MAX_USER_PROPERTIES {
                return Err(DecodeError::TooManyUserProperties {
                    max: MAX_USER_PROPERTIES,
                });
            }
            let key = r.string("user property name")?;
            let value = r.string("user property value")?;
            p.user_properties.push((key, value));
            Ok(())
        }
        MAXIMUM_PACKET_SIZE => {
            let v = r.u32(name)?;
            if v == 0 {
                return Err(DecodeError::InvalidPropertyValue {
                    property: name,
                    value: 0,
                });
            }
            set(&mut p.maximum_packet_size, id, v)
        }
        WILDCARD_SUBSCRIPTION_AVAILABLE => {
            set(&mut p.wildcard_subscription_available, id, flag(r, id)?)
        }
        SUBSCRIPTION_IDENTIFIER_AVAILABLE => {
            set(&mut p.subscription_identifiers_available, id, flag(r, id)?)
        }
        SHARED_SUBSCRIPTION_AVAILABLE => {
            set(&mut p.shared_subscription_available, id, flag(r, id)?)
        }
        _ => Err(DecodeError::InvalidProperty {
            packet: ctx.name(),
            id,
        }),
    }
}

/// Stores a single-valued property; a second occurrence is a protocol error.
fn set<T>(slot: &mut Option<T>, id: u8, value: T) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::DuplicateProperty {
            property: property_name(id),
        });
    }
    *slot = Some(value);
    Ok(())
}

/// A byte property whose only valid values are 0 and 1.
fn flag(r: &mut Reader<'_>, id: u8) -> Result<bool, DecodeError> {
    let property = property_name(id);
    match r.u8(property)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(DecodeError::InvalidPropertyValue {
            property,
            value: u32::from(v),
        }),
    }
}

fn nonzero_u16(r: &mut Reader<'_>, id: u8) -> Result<u16, DecodeError> {
    let property = property_name(id);
    match r.u16(property)? {
        0 => Err(DecodeError::InvalidPropertyValue { property, value: 0 }),
        v => Ok(v),
    }
}
