//! Property block encoding: a validating size pass, then an infallible write pass.

use bytes::{BufMut, BytesMut};

use super::*;
use crate::codec::topic::valid_topic_name;
use crate::codec::write::{binary_len, put_binary, put_string, put_varint, string_len, varint_len};
use crate::codec::{EncodeError, MAX_VARINT};

/// Accumulates the block length while checking each present property against `ctx`.
struct Sizer {
    ctx: Ctx,
    len: usize,
}

impl Sizer {
    fn check(&self, id: u8) -> Result<(), EncodeError> {
        if allowed(id, self.ctx) {
            Ok(())
        } else {
            Err(EncodeError::PropertyNotAllowed {
                property: property_name(id),
                packet: self.ctx.name(),
            })
        }
    }

    fn fixed(&mut self, id: u8, present: bool, size: usize) -> Result<(), EncodeError> {
        if present {
            self.check(id)?;
            self.len += 1 + size;
        }
        Ok(())
    }

    fn string(&mut self, id: u8, s: Option<&str>) -> Result<(), EncodeError> {
        if let Some(s) = s {
            self.check(id)?;
            self.len += 1 + string_len(s, property_name(id))?;
        }
        Ok(())
    }

    fn binary(&mut self, id: u8, b: Option<&[u8]>) -> Result<(), EncodeError> {
        if let Some(b) = b {
            self.check(id)?;
            self.len += 1 + binary_len(b, property_name(id))?;
        }
        Ok(())
    }
}

fn invalid(id: u8) -> EncodeError {
    EncodeError::InvalidPropertyValue {
        property: property_name(id),
    }
}

impl Properties {
    /// True when no property is set (3.1.1 packets, and MQTT 5 ones that may omit the block).
    pub fn is_empty(&self) -> bool {
        *self == Properties::default()
    }

    /// Validates the properties for `ctx` and returns the size of the block without its
    /// length prefix.
    pub(in crate::codec) fn body_len(&self, ctx: Ctx) -> Result<usize, EncodeError> {
        let mut s = Sizer { ctx, len: 0 };
        s.fixed(
            PAYLOAD_FORMAT_INDICATOR,
            self.payload_format_indicator.is_some(),
            1,
        )?;
        s.fixed(
            MESSAGE_EXPIRY_INTERVAL,
            self.message_expiry_interval.is_some(),
            4,
        )?;
        s.string(CONTENT_TYPE, self.content_type.as_deref())?;
        if self
            .response_topic
            .as_deref()
            .is_some_and(|t| !valid_topic_name(t))
        {
            return Err(invalid(RESPONSE_TOPIC));
        }
        s.string(RESPONSE_TOPIC, self.response_topic.as_deref())?;
        s.binary(CORRELATION_DATA, self.correlation_data.as_deref())?;
        if ctx == Ctx::Packet(PacketType::Subscribe) && self.subscription_identifiers.len() > 1 {
            return Err(invalid(SUBSCRIPTION_IDENTIFIER));
        }
        for &id in &self.subscription_identifiers {
            if id == 0 || id > MAX_VARINT {
                return Err(invalid(SUBSCRIPTION_IDENTIFIER));
            }
            s.fixed(SUBSCRIPTION_IDENTIFIER, true, varint_len(id as usize))?;
        }
        s.fixed(
            SESSION_EXPIRY_INTERVAL,
            self.session_expiry_interval.is_some(),
            4,
        )?;
        s.string(
            ASSIGNED_CLIENT_IDENTIFIER,
            self.assigned_client_identifier.as_deref(),
        )?;
        s.fixed(SERVER_KEEP_ALIVE, self.server_keep_alive.is_some(), 2)?;
        s.string(AUTHENTICATION_METHOD, self.authentication_method.as_deref())?;
        if self.authentication_data.is_some() && self.authentication_method.is_none() {
            return Err(invalid(AUTHENTICATION_DATA));
        }
        s.binary(AUTHENTICATION_DATA, self.authentication_data.as_deref())?;
        let problem = self.request_problem_information.is_some();
        s.fixed(REQUEST_PROBLEM_INFORMATION, problem, 1)?;
        s.fixed(WILL_DELAY_INTERVAL, self.will_delay_interval.is_some(), 4)?;
        let response = self.request_response_information.is_some();
        s.fixed(REQUEST_RESPONSE_INFORMATION, response, 1)?;
        s.string(RESPONSE_INFORMATION, self.response_information.as_deref())?;
        s.string(SERVER_REFERENCE, self.server_reference.as_deref())?;
        s.string(REASON_STRING, self.reason_string.as_deref())?;
        if self.receive_maximum == Some(0) {
            return Err(invalid(RECEIVE_MAXIMUM));
        }
        s.fixed(RECEIVE_MAXIMUM, self.receive_maximum.is_some(), 2)?;
        s.fixed(TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum.is_some(), 2)?;
        if self.topic_alias == Some(0) {
            return Err(invalid(TOPIC_ALIAS));
        }
        s.fixed(TOPIC_ALIAS, self.topic_alias.is_some(), 2)?;
        if self.maximum_qos == Some(QoS::ExactlyOnce) {
            return Err(invalid(MAXIMUM_QOS));
        }
        s.fixed(MAXIMUM_QOS, self.maximum_qos.is_some(), 1)?;
        s.fixed(RETAIN_AVAILABLE, self.retain_available.is_some(), 1)?;
        for (k, v) in &self.user_properties {
            s.check(USER_PROPERTY)?;
            s.len += 1 + string_len(k, "user property name")?;
            s.len += string_len(v, "user property value")?;
        }
        if self.maximum_packet_size == Some(0) {
            return Err(invalid(MAXIMUM_PACKET_SIZE));
        }
        s.fixed(MAXIMUM_PACKET_SIZE, self.maximum_packet_size.is_some(), 4)?;
        let wildcard = self.wildcard_subscription_available.is_some();
        s.fixed(WILDCARD_SUBSCRIPTION_AVAILABLE, wildcard, 1)?;
        let sub_ids = self.subscription_identifiers_available.is_some();
        s.fixed(SUBSCRIPTION_IDENTIFIER_AVAILABLE, sub_ids, 1)?;
        let shared = self.shared_subscription_available.is_some();
        s.fixed(SHARED_SUBSCRIPTION_AVAILABLE, shared, 1)?;
        Ok(s.len)
    }

    /// Writes the length prefix and the block; `body_len` comes from [`Properties::body_len`].
    pub(in crate::codec) fn write(&self, body_len: usize, out: &mut BytesMut) {
        put_varint(out, body_len);
        put_u8(
            out,
            PAYLOAD_FORMAT_INDICATOR,
            self.payload_format_indicator.map(u8::from),
        );
        put_u32(out, MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        put_str(out, CONTENT_TYPE, self.content_type.as_deref());
        put_str(out, RESPONSE_TOPIC, self.response_topic.as_deref());
        put_bin(out, CORRELATION_DATA, self.correlation_data.as_deref());
        for &id in &self.subscription_identifiers {
            out.put_u8(SUBSCRIPTION_IDENTIFIER);
            put_varint(out, id as usize);
        }
        put_u32(out, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        put_str(
            out,
            ASSIGNED_CLIENT_IDENTIFIER,
            self.assigned_client_identifier.as_deref(),
        );
        put_u16(out, SERVER_KEEP_ALIVE, self.server_keep_alive);
        put_str(
            out,
            AUTHENTICATION_METHOD,
            self.authentication_method.as_deref(),
        );
        put_bin(
            out,
            AUTHENTICATION_DATA,
            self.authentication_data.as_deref(),
        );
        let problem = self.request_problem_information.map(u8::from);
        put_u8(out, REQUEST_PROBLEM_INFORMATION, problem);
        put_u32(out, WILL_DELAY_INTERVAL, self.will_delay_interval);
        let response = self.request_response_information.map(u8::from);
        put_u8(out, REQUEST_RESPONSE_INFORMATION, response);
        put_str(
            out,
            RESPONSE_INFORMATION,
            self.response_information.as_deref(),
        );
        put_str(out, SERVER_REFERENCE, self.server_reference.as_deref());
        put_str(out, REASON_STRING, self.reason_string.as_deref());
        put_u16(out, RECEIVE_MAXIMUM, self.receive_maximum);
        put_u16(out, TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        put_u16(out, TOPIC_ALIAS, self.topic_alias);
        put_u8(out, MAXIMUM_QOS, self.maximum_qos.map(QoS::as_u8));
        put_u8(out, RETAIN_AVAILABLE, self.retain_available.map(u8::from));
        for (k, v) in &self.user_properties {
            out.put_u8(USER_PROPERTY);
            put_string(out, k);
            put_string(out, v);
        }
        put_u32(out, MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        let wildcard = self.wildcard_subscription_available.map(u8::from);
        put_u8(out, WILDCARD_SUBSCRIPTION_AVAILABLE, wildcard);
        let sub_ids = self.subscription_identifiers_available.map(u8::from);
        put_u8(out, SUBSCRIPTION_IDENTIFIER_AVAILABLE, sub_ids);
        let shared = self.shared_subscription_available.map(u8::from);
        put_u8(out, SHARED_SUBSCRIPTION_AVAILABLE, shared);
    }
}

fn put_u8(out: &mut BytesMut, id: u8, v: Option<u8>) {
    if let Some(v) = v {
        out.put_u8(id);
        out.put_u8(v);
    }
}

fn put_u16(out: &mut BytesMut, id: u8, v: Option<u16>) {
    if let Some(v) = v {
        out.put_u8(id);
        out.put_u16(v);
    }
}

fn put_u32(out: &mut BytesMut, id: u8, v: Option<u32>) {
    if let Some(v) = v {
        out.put_u8(id);
        out.put_u32(v);
    }
}

fn put_str(out: &mut BytesMut, id: u8, v: Option<&str>) {
    if let Some(v) = v {
        out.put_u8(id);
        put_string(out, v);
    }
}

fn put_bin(out: &mut BytesMut, id: u8, v: Option<&[u8]>) {
    if let Some(v) = v {
        out.put_u8(id);
        put_binary(out, v);
    }
}
