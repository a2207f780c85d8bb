//! Packet encoding in two passes: `plan` validates the packet and computes every length, then
//! the write pass appends bytes and cannot fail, so `out` is untouched when encoding fails.

use bytes::{BufMut, BytesMut};

use super::packet::PacketType;
use super::properties::Ctx;
use super::topic::{split_shared, valid_topic_filter, valid_topic_name};
use super::write::{binary_len, put_binary, put_string, put_varint, string_len, varint_len};
use super::*;

/// Lengths computed by the validating pass.
#[derive(Default)]
struct Plan {
    remaining: usize,
    /// Property block body of the packet (0 when empty or 3.1.1).
    props: usize,
    /// Will property block body (CONNECT only).
    will_props: usize,
}

impl Packet {
    /// Appends the encoded packet to `out`. Fields MQTT 3.1.1 cannot carry (properties,
    /// most reason codes, subscription options beyond QoS) are left out for `Protocol::V311`.
    pub fn encode(&self, protocol: Protocol, out: &mut BytesMut) -> Result<(), EncodeError> {
        let plan = self.plan(protocol)?;
        out.reserve(1 + varint_len(plan.remaining) + plan.remaining);
        out.put_u8(self.first_byte());
        put_varint(out, plan.remaining);
        self.write_body(protocol == Protocol::V5, &plan, out);
        Ok(())
    }

    /// Bytes [`Packet::encode`] would append, e.g. to honour a peer's maximum packet size.
    pub fn encoded_len(&self, protocol: Protocol) -> Result<usize, EncodeError> {
        let plan = self.plan(protocol)?;
        Ok(1 + varint_len(plan.remaining) + plan.remaining)
    }

    fn first_byte(&self) -> u8 {
        let kind = self.packet_type();
        let flags = match self {
            Packet::Publish(p) => u8::from(p.dup) << 3 | p.qos.as_u8() << 1 | u8::from(p.retain),
            _ => kind.fixed_flags(),
        };
        (kind as u8) << 4 | flags
    }

    fn plan(&self, protocol: Protocol) -> Result<Plan, EncodeError> {
        let v5 = protocol == Protocol::V5;
        let kind = self.packet_type();
        let mut plan = Plan::default();
        let remaining = match self {
            Packet::Connect(c) => connect_len(c, protocol, &mut plan)?,
            Packet::ConnAck(c) => {
                if v5 && !c.reason.allowed_in(kind) {
                    return Err(not_allowed(c.reason, kind));
                }
                2 + props_block(&c.properties, kind, v5, &mut plan)?
            }
            Packet::Publish(p) => publish_len(p, v5, &mut plan)?,
            Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
                check_packet_id(a.packet_id, kind)?;
                2 + tail_len(a.reason, &a.properties, kind, v5, &mut plan)?
            }
            Packet::Subscribe(s) => subscribe_len(s, v5, &mut plan)?,
            Packet::SubAck(s) => {
                check_packet_id(s.packet_id, kind)?;
                check_reasons(&s.reasons, kind, v5)?;
                2 + props_block(&s.properties, kind, v5, &mut plan)? + s.reasons.len()
            }
            Packet::Unsubscribe(u) => {
                check_packet_id(u.packet_id, kind)?;
                let filters = filters_len(u.filters.iter().map(String::as_str), kind)?;
                2 + props_block(&u.properties, kind, v5, &mut plan)? + filters
            }
            Packet::UnsubAck(u) if v5 => {
                check_packet_id(u.packet_id, kind)?;
                check_reasons(&u.reasons, kind, v5)?;
                2 + props_block(&u.properties, kind, v5, &mut plan)? + u.reasons.len()
            }
            Packet::UnsubAck(u) => {
                check_packet_id(u.packet_id, kind)?;
                2
            }
            Packet::PingReq | Packet::PingResp => 0,
            Packet::Disconnect(d) => tail_len(d.reason, &d.properties, kind, v5, &mut plan)?,
            Packet::Auth(_) if !v5 => {
                return Err(EncodeError::Invalid("AUTH does not exist in MQTT 3.1.1"));
            }
            Packet::Auth(a) => tail_len(a.reason, &a.properties, kind, v5, &mut plan)?,
        };
        if remaining > MAX_REMAINING_LENGTH {
            return Err(EncodeError::PacketTooLarge { size: remaining });
        }
        plan.remaining = remaining;
        Ok(plan)
    }

    fn write_body(&self, v5: bool, plan: &Plan, out: &mut BytesMut) {
        match self {
            Packet::Connect(c) => write_connect(c, plan, out),
            Packet::ConnAck(c) => {
                let code = match v5 {
                    true => c.reason.as_u8(),
                    false => c.reason.to_v311_connack(),
                };
                out.put_u8(u8::from(c.session_present && code == 0));
                out.put_u8(code);
                write_props(&c.properties, v5, plan.props, out);
            }
            Packet::Publish(p) => {
                put_string(out, &p.topic);
                if let Some(id) = p.packet_id {
                    out.put_u16(id);
                }
                write_props(&p.properties, v5, plan.props, out);
                out.put_slice(&p.payload);
            }
            Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
                out.put_u16(a.packet_id);
                write_tail(a.reason, &a.properties, v5, plan.props, out);
            }
            Packet::Subscribe(s) => {
                out.put_u16(s.packet_id);
                write_props(&s.properties, v5, plan.props, out);
                for f in &s.filters {
                    put_string(out, &f.filter);
                    out.put_u8(options_byte(&f.options, v5));
                }
            }
            Packet::SubAck(s) => {
                out.put_u16(s.packet_id);
                write_props(&s.properties, v5, plan.props, out);
                for &r in &s.reasons {
                    out.put_u8(if v5 {
                        r.as_u8()
                    } else {
                        v311_suback(r).unwrap_or(0x80)
                    });
                }
            }
            Packet::Unsubscribe(u) => {
                out.put_u16(u.packet_id);
                write_props(&u.properties, v5, plan.props, out);
                for f in &u.filters {
                    put_string(out, f);
                }
            }
            Packet::UnsubAck(u) => {
                out.put_u16(u.packet_id);
                if v5 {
                    write_props(&u.properties, v5, plan.props, out);
                    for &r in &u.reasons {
                        out.put_u8(r.as_u8());
                    }
                }
            }
            Packet::PingReq | Packet::PingResp => {}
            Packet::Disconnect(d) => write_tail(d.reason, &d.properties, v5, plan.props, out),
            Packet::Auth(a) => write_tail(a.reason, &a.properties, v5, plan.props, out),
        }
    }
}

fn connect_len(c: &Connect, protocol: Protocol, plan: &mut Plan) -> Result<usize, EncodeError> {
    if c.protocol != protocol {
        return Err(EncodeError::Invalid(
            "CONNECT encoded with a protocol other than its own",
        ));
    }
    let v5 = protocol == Protocol::V5;
    if !v5 && c.password.is_some() && c.username.is_none() {
        return Err(EncodeError::Invalid(
            "password without a user name in MQTT 3.1.1",
        ));
    }
    // Protocol name "MQTT", level, flags, keep alive.
    let mut len = 6 + 1 + 1 + 2;
    len += props_block(&c.properties, PacketType::Connect, v5, plan)?;
    len += string_len(&c.client_id, "client identifier")?;
    if let Some(w) = &c.will {
        len += string_len(&w.topic, "will topic")?;
        if !valid_topic_name(&w.topic) {
            return Err(EncodeError::InvalidTopicName);
        }
        if v5 {
            plan.will_props = w.properties.body_len(Ctx::Will)?;
            len += varint_len(plan.will_props) + plan.will_props;
        }
        len += binary_len(&w.payload, "will payload")?;
    }
    if let Some(u) = &c.username {
        len += string_len(u, "user name")?;
    }
    if let Some(p) = &c.password {
        len += binary_len(p, "password")?;
    }
    Ok(len)
}

fn write_connect(c: &Connect, plan: &Plan, out: &mut BytesMut) {
    let v5 = c.protocol == Protocol::V5;
    put_string(out, "MQTT");
    out.put_u8(c.protocol.level());
    let mut flags = u8::from(c.clean_start) << 1;
    if let Some(w) = &c.will {
        flags |= 0b100 | w.qos.as_u8() << 3 | u8::from(w.retain) << 5;
    }
    flags |= u8::from(c.password.is_some()) << 6 | u8::from(c.username.is_some()) << 7;
    out.put_u8(flags);
    out.put_u16(c.keep_alive);
    write_props(&c.properties, v5, plan.props, out);
    put_string(out, &c.client_id);
    if let Some(w) = &c.will {
        write_props(&w.properties, v5, plan.will_props, out);
        put_string(out, &w.topic);
        put_binary(out, &w.payload);
    }
    if let Some(u) = &c.username {
        put_string(out, u);
    }
    if let Some(p) = &c.password {
        put_binary(out, p);
    }
}

fn publish_len(p: &Publish, v5: bool, plan: &mut Plan) -> Result<usize, EncodeError> {
    let mut len = string_len(&p.topic, "topic name")?;
    let aliased = v5 && p.topic.is_empty() && p.properties.topic_alias.is_some();
    if !aliased && !valid_topic_name(&p.topic) {
        return Err(EncodeError::InvalidTopicName);
    }
    match (p.qos, p.packet_id) {
        (QoS::AtMostOnce, None) if p.dup => {
            return Err(EncodeError::Invalid("DUP flag on a QoS 0 PUBLISH"));
        }
        (QoS::AtMostOnce, None) => {}
        (QoS::AtMostOnce, Some(_)) => {
            return Err(EncodeError::Invalid("packet identifier on a QoS 0 PUBLISH"));
        }
        (_, id) => {
            check_packet_id(id.unwrap_or(0), PacketType::Publish)?;
            len += 2;
        }
    }
    len += props_block(&p.properties, PacketType::Publish, v5, plan)?;
    Ok(len + p.payload.len())
}

fn subscribe_len(s: &Subscribe, v5: bool, plan: &mut Plan) -> Result<usize, EncodeError> {
    let kind = PacketType::Subscribe;
    check_packet_id(s.packet_id, kind)?;
    if v5
        && s.filters
            .iter()
            .any(|f| f.options.no_local && split_shared(&f.filter).is_some())
    {
        return Err(EncodeError::Invalid("no local on a shared subscription"));
    }
    let filters = filters_len(s.filters.iter().map(|f| f.filter.as_str()), kind)?;
    // One options byte per filter.
    Ok(2 + props_block(&s.properties, kind, v5, plan)? + filters + s.filters.len())
}

/// Total size of a non-empty list of valid topic filters.
fn filters_len<'a>(
    filters: impl Iterator<Item = &'a str>,
    kind: PacketType,
) -> Result<usize, EncodeError> {
    let mut len = 0;
    let mut count = 0;
    for f in filters {
        if !valid_topic_filter(f) {
            return Err(EncodeError::InvalidTopicFilter {
                packet: kind.name(),
            });
        }
        len += string_len(f, "topic filter")?;
        count += 1;
    }
    if count == 0 {
        return Err(EncodeError::Invalid(
            "SUBSCRIBE and UNSUBSCRIBE need a topic filter",
        ));
    }
    Ok(len)
}

fn options_byte(o: &SubscriptionOptions, v5: bool) -> u8 {
    let mut b = o.qos.as_u8();
    if v5 {
        b |= u8::from(o.no_local) << 2
            | u8::from(o.retain_as_published) << 3
            | (o.retain_handling as u8) << 4;
    }
    b
}

/// Validates a SUBACK or UNSUBACK reason list.
fn check_reasons(reasons: &[ReasonCode], kind: PacketType, v5: bool) -> Result<(), EncodeError> {
    if reasons.is_empty() {
        return Err(EncodeError::Invalid(
            "SUBACK and UNSUBACK need a reason code",
        ));
    }
    for &r in reasons {
        let ok = match v5 {
            true => r.allowed_in(kind),
            false => v311_suback(r).is_some(),
        };
        if !ok {
            return Err(not_allowed(r, kind));
        }
    }
    Ok(())
}

/// 3.1.1 SUBACK return code: the granted QoS, or 0x80 for any failure.
fn v311_suback(r: ReasonCode) -> Option<u8> {
    match r {
        ReasonCode::Success | ReasonCode::GrantedQoS1 | ReasonCode::GrantedQoS2 => Some(r.as_u8()),
        r if r.is_error() => Some(0x80),
        _ => None,
    }
}

/// Size of the optional reason code + properties tail (MQTT 5 acks, DISCONNECT, AUTH).
fn tail_len(
    reason: ReasonCode,
    props: &Properties,
    kind: PacketType,
    v5: bool,
    plan: &mut Plan,
) -> Result<usize, EncodeError> {
    if !v5 {
        return Ok(0);
    }
    if !reason.allowed_in(kind) {
        return Err(not_allowed(reason, kind));
    }
    plan.props = props.body_len(Ctx::Packet(kind))?;
    Ok(match (plan.props, reason) {
        (0, ReasonCode::Success) => 0,
        (0, _) => 1,
        (n, _) => 1 + varint_len(n) + n,
    })
}

fn write_tail(reason: ReasonCode, props: &Properties, v5: bool, body: usize, out: &mut BytesMut) {
    if !v5 || (body == 0 && reason == ReasonCode::Success) {
        return;
    }
    out.put_u8(reason.as_u8());
    if body > 0 {
        props.write(body, out);
    }
}

/// Size of a mandatory property block (length prefix included); nothing in 3.1.1.
fn props_block(
    props: &Properties,
    kind: PacketType,
    v5: bool,
    plan: &mut Plan,
) -> Result<usize, EncodeError> {
    if !v5 {
        return Ok(0);
    }
    plan.props = props.body_len(Ctx::Packet(kind))?;
    Ok(varint_len(plan.props) + plan.props)
}

fn write_props(props: &Properties, v5: bool, body: usize, out: &mut BytesMut) {
    if v5 {
        props.write(body, out);
    }
}

fn check_packet_id(id: u16, kind: PacketType) -> Result<(), EncodeError> {
    match id {
        0 => Err(EncodeError::InvalidPacketId {
            packet: kind.name(),
        }),
        _ => Ok(()),
    }
}

fn not_allowed(code: ReasonCode, kind: PacketType) -> EncodeError {
    EncodeError::ReasonCodeNotAllowed {
        code,
        packet: kind.name(),
    }
}
