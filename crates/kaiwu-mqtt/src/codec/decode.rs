//! Packet decoding: fixed header checks first (before buffering a body), then one function per
//! packet type over a bounds-checked [`Reader`].

use bytes::{Bytes, BytesMut};

use super::packet::PacketType;
use super::properties::{Ctx, decode_properties};
use super::read::Reader;
use super::topic::{split_shared, valid_topic_filter, valid_topic_name};
use super::*;

/// Decodes one packet from the front of `buf` if it is complete, advancing `buf` past it;
/// `Ok(None)` if more bytes are needed (`buf` is then unchanged).
///
/// `protocol` is `None` until CONNECT has been accepted: only a CONNECT is decoded then, and a
/// CONNECT is refused afterwards. The whole packet size (fixed header included) is checked
/// against `max_packet_size` as soon as the fixed header is complete, before the body is
/// waited for. Payloads and binary fields are zero-copy slices of `buf`'s storage.
pub fn decode(
    buf: &mut BytesMut,
    protocol: Option<Protocol>,
    max_packet_size: usize,
) -> Result<Option<Packet>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let kind = check_first_byte(first, protocol)?;
    let Some((header_len, remaining)) = remaining_length(buf)? else {
        return Ok(None);
    };
    let size = header_len + remaining;
    if size > max_packet_size {
        return Err(DecodeError::PacketTooLarge {
            size,
            max: max_packet_size,
        });
    }
    if buf.len() < size {
        return Ok(None);
    }
    let frame = buf.split_to(size).freeze();
    decode_frame(kind, first & 0x0F, &frame, header_len, protocol).map(Some)
}

/// Validates the packet type and its flag nibble, so garbage fails on its first byte.
fn check_first_byte(first: u8, protocol: Option<Protocol>) -> Result<PacketType, DecodeError> {
    let nibble = first >> 4;
    let kind = PacketType::from_nibble(nibble).ok_or(DecodeError::ReservedPacketType(nibble))?;
    match protocol {
        None if kind != PacketType::Connect => {
            return Err(DecodeError::FirstPacketNotConnect {
                packet: kind.name(),
            });
        }
        Some(_) if kind == PacketType::Connect => return Err(DecodeError::UnexpectedConnect),
        // Type 15 is reserved in 3.1.1.
        Some(Protocol::V311) if kind == PacketType::Auth => {
            return Err(DecodeError::ReservedPacketType(nibble));
        }
        _ => {}
    }
    let flags = first & 0x0F;
    if kind == PacketType::Publish {
        let qos = (flags >> 1) & 0b11;
        if qos == 3 {
            return Err(DecodeError::Malformed("PUBLISH with QoS 3"));
        }
        if qos == 0 && flags & 0b1000 != 0 {
            return Err(DecodeError::Malformed("DUP flag set on a QoS 0 PUBLISH"));
        }
    } else if flags != kind.fixed_flags() {
        return Err(DecodeError::InvalidFlags {
            packet: kind.name(),
            flags,
        });
    }
    Ok(kind)
}

/// Header length and remaining length, or `None` while the length bytes are incomplete.
fn remaining_length(buf: &[u8]) -> Result<Option<(usize, usize)>, DecodeError> {
    let mut value = 0usize;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else {
            return Ok(None);
        };
        value |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((2 + i, value)));
        }
    }
    Err(DecodeError::RemainingLengthTooLong)
}

fn decode_frame(
    kind: PacketType,
    flags: u8,
    frame: &Bytes,
    start: usize,
    protocol: Option<Protocol>,
) -> Result<Packet, DecodeError> {
    let mut r = Reader::new(frame, start, kind.name());
    let v5 = protocol == Some(Protocol::V5);
    let packet = match kind {
        PacketType::Connect => Packet::Connect(Box::new(connect(&mut r)?)),
        PacketType::ConnAck => Packet::ConnAck(connack(&mut r, v5)?),
        PacketType::Publish => Packet::Publish(publish(&mut r, flags, v5)?),
        PacketType::PubAck => Packet::PubAck(ack(&mut r, kind, v5)?),
        PacketType::PubRec => Packet::PubRec(ack(&mut r, kind, v5)?),
        PacketType::PubRel => Packet::PubRel(ack(&mut r, kind, v5)?),
        PacketType::PubComp => Packet::PubComp(ack(&mut r, kind, v5)?),
        PacketType::Subscribe => Packet::Subscribe(subscribe(&mut r, v5)?),
        PacketType::SubAck => Packet::SubAck(suback(&mut r, v5)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(unsubscribe(&mut r, v5)?),
        PacketType::UnsubAck => Packet::UnsubAck(unsuback(&mut r, v5)?),
        PacketType::PingReq => Packet::PingReq,
        PacketType::PingResp => Packet::PingResp,
        PacketType::Disconnect => {
            let (reason, properties) = reason_and_properties(&mut r, kind, v5)?;
            Packet::Disconnect(Disconnect { reason, properties })
        }
        PacketType::Auth => {
            let (reason, properties) = reason_and_properties(&mut r, kind, v5)?;
            Packet::Auth(Auth { reason, properties })
        }
    };
    r.finish()?;
    Ok(packet)
}

fn connect(r: &mut Reader<'_>) -> Result<Connect, DecodeError> {
    let name_len = usize::from(r.u16("protocol name")?);
    let name = r.take(name_len, "protocol name")?;
    let level = r.u8("protocol level")?;
    let protocol = match (name, level) {
        (b"MQTT", 4) => Protocol::V311,
        (b"MQTT", 5) => Protocol::V5,
        // MQIsdp is MQTT 3.1's name.
        (b"MQTT" | b"MQIsdp", level) => {
            return Err(DecodeError::UnsupportedProtocolVersion { level });
        }
        _ => return Err(DecodeError::UnsupportedProtocolName),
    };
    let v5 = protocol == Protocol::V5;
    let flags = r.u8("connect flags")?;
    if flags & 0b1 != 0 {
        return Err(DecodeError::Malformed("reserved CONNECT flag is set"));
    }
    let has_will = flags & 0b100 != 0;
    let will_qos = QoS::from_u8((flags >> 3) & 0b11)
        .ok_or(DecodeError::Malformed("will QoS 3 in CONNECT flags"))?;
    let will_retain = flags & 0b10_0000 != 0;
    if !has_will && (will_qos != QoS::AtMostOnce || will_retain) {
        return Err(DecodeError::Malformed(
            "will QoS or retain set without a will",
        ));
    }
    let has_password = flags & 0b100_0000 != 0;
    let has_username = flags & 0b1000_0000 != 0;
    if !v5 && has_password && !has_username {
        return Err(DecodeError::Malformed(
            "password without a user name in MQTT 3.1.1",
        ));
    }
    let keep_alive = r.u16("keep alive")?;
    let properties = props(r, Ctx::Packet(PacketType::Connect), v5)?;
    let client_id = r.string("client identifier")?;
    let will = if has_will {
        let properties = props(r, Ctx::Will, v5)?;
        let topic = r.string("will topic")?;
        if !valid_topic_name(&topic) {
            return Err(DecodeError::InvalidTopicName(
                "will topic is empty or has wildcards",
            ));
        }
        let payload = r.binary("will payload")?;
        Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = has_username.then(|| r.string("user name")).transpose()?;
    let password = has_password.then(|| r.binary("password")).transpose()?;
    Ok(Connect {
        protocol,
        client_id,
        clean_start: flags & 0b10 != 0,
        keep_alive,
        username,
        password,
        will,
        properties,
    })
}

fn connack(r: &mut Reader<'_>, v5: bool) -> Result<ConnAck, DecodeError> {
    let flags = r.u8("acknowledge flags")?;
    if flags & !1 != 0 {
        return Err(DecodeError::Malformed(
            "reserved CONNACK acknowledge flags are set",
        ));
    }
    let session_present = flags == 1;
    let code = r.u8("reason code")?;
    let reason = if v5 {
        ReasonCode::from_u8(code).filter(|c| c.allowed_in(PacketType::ConnAck))
    } else {
        ReasonCode::from_v311_connack(code)
    }
    .ok_or(DecodeError::InvalidReasonCode {
        packet: r.packet(),
        code,
    })?;
    if session_present && reason != ReasonCode::Success {
        return Err(DecodeError::ProtocolViolation(
            "session present on a refused connection",
        ));
    }
    let properties = props(r, Ctx::Packet(PacketType::ConnAck), v5)?;
    Ok(ConnAck {
        session_present,
        reason,
        properties,
    })
}

fn publish(r: &mut Reader<'_>, flags: u8, v5: bool) -> Result<Publish, DecodeError> {
    // QoS 3 was rejected with the first byte.
    let qos = QoS::from_u8((flags >> 1) & 0b11).unwrap_or(QoS::AtMostOnce);
    let topic = r.string("topic name")?;
    let packet_id = match qos {
        QoS::AtMostOnce => None,
        _ => Some(packet_id(r)?),
    };
    let properties = props(r, Ctx::Packet(PacketType::Publish), v5)?;
    if topic.is_empty() {
        // MQTT 5 lets a topic alias stand in for the name.
        if properties.topic_alias.is_none() {
            return Err(DecodeError::InvalidTopicName("empty topic name"));
        }
    } else if topic.contains(['+', '#']) {
        return Err(DecodeError::InvalidTopicName("wildcard in a topic name"));
    }
    Ok(Publish {
        dup: flags & 0b1000 != 0,
        qos,
        retain: flags & 0b1 != 0,
        topic,
        packet_id,
        properties,
        payload: r.rest(),
    })
}

fn ack(r: &mut Reader<'_>, kind: PacketType, v5: bool) -> Result<Ack, DecodeError> {
    let packet_id = packet_id(r)?;
    // MQTT 5 omits the reason code when it is success and there are no properties, and the
    // property block when there are none.
    let (reason, properties) = reason_and_properties(r, kind, v5)?;
    Ok(Ack {
        packet_id,
        reason,
        properties,
    })
}

/// Optional reason code then optional properties, as in MQTT 5 acks, DISCONNECT and AUTH;
/// nothing in 3.1.1.
fn reason_and_properties(
    r: &mut Reader<'_>,
    kind: PacketType,
    v5: bool,
) -> Result<(ReasonCode, Properties), DecodeError> {
    if !v5 || r.is_empty() {
        return Ok((ReasonCode::Success, Properties::default()));
    }
    let reason = reason_code(r, kind)?;
    let properties = match r.is_empty() {
        true => Properties::default(),
        false => decode_properties(r, Ctx::Packet(kind))?,
    };
    Ok((reason, properties))
}

fn subscribe(r: &mut Reader<'_>, v5: bool) -> Result<Subscribe, DecodeError> {
    let packet_id = packet_id(r)?;
    let properties = props(r, Ctx::Packet(PacketType::Subscribe), v5)?;
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = r.string("topic filter")?;
        let options = subscription_options(r.u8("subscription options")?, v5)?;
        if !valid_topic_filter(&filter) {
            return Err(DecodeError::InvalidTopicFilter);
        }
        if options.no_local && split_shared(&filter).is_some() {
            return Err(DecodeError::ProtocolViolation(
                "no local on a shared subscription",
            ));
        }
        filters.push(SubscribeFilter { filter, options });
    }
    if filters.is_empty() {
        return Err(DecodeError::ProtocolViolation(
            "SUBSCRIBE without topic filters",
        ));
    }
    Ok(Subscribe {
        packet_id,
        filters,
        properties,
    })
}

fn subscription_options(byte: u8, v5: bool) -> Result<SubscriptionOptions, DecodeError> {
    let reserved = if v5 { 0b1100_0000 } else { 0b1111_1100 };
    if byte & reserved != 0 {
        return Err(DecodeError::Malformed(
            "reserved subscription option bits are set",
        ));
    }
    let qos =
        QoS::from_u8(byte & 0b11).ok_or(DecodeError::Malformed("QoS 3 in subscription options"))?;
    let retain_handling = match (byte >> 4) & 0b11 {
        0 => RetainHandling::OnSubscribe,
        1 => RetainHandling::OnNewSubscribe,
        2 => RetainHandling::Never,
        _ => return Err(DecodeError::ProtocolViolation("retain handling 3")),
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: byte & 0b100 != 0,
        retain_as_published: byte & 0b1000 != 0,
        retain_handling,
    })
}

fn suback(r: &mut Reader<'_>, v5: bool) -> Result<SubAck, DecodeError> {
    let packet_id = packet_id(r)?;
    let properties = props(r, Ctx::Packet(PacketType::SubAck), v5)?;
    let mut reasons = Vec::with_capacity(r.remaining());
    while !r.is_empty() {
        let reason = if v5 {
            reason_code(r, PacketType::SubAck)?
        } else {
            match r.u8("return code")? {
                0 => ReasonCode::GRANTED_QOS_0,
                1 => ReasonCode::GrantedQoS1,
                2 => ReasonCode::GrantedQoS2,
                0x80 => ReasonCode::UnspecifiedError,
                code => {
                    return Err(DecodeError::InvalidReasonCode {
                        packet: r.packet(),
                        code,
                    });
                }
            }
        };
        reasons.push(reason);
    }
    if reasons.is_empty() {
        return Err(DecodeError::ProtocolViolation(
            "SUBACK without return codes",
        ));
    }
    Ok(SubAck {
        packet_id,
        reasons,
        properties,
    })
}

fn unsubscribe(r: &mut Reader<'_>, v5: bool) -> Result<Unsubscribe, DecodeError> {
    let packet_id = packet_id(r)?;
    let properties = props(r, Ctx::Packet(PacketType::Unsubscribe), v5)?;
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = r.string("topic filter")?;
        if !valid_topic_filter(&filter) {
            return Err(DecodeError::InvalidTopicFilter);
        }
        filters.push(filter);
    }
    if filters.is_empty() {
        return Err(DecodeError::ProtocolViolation(
            "UNSUBSCRIBE without topic filters",
        ));
    }
    Ok(Unsubscribe {
        packet_id,
        filters,
        properties,
    })
}

fn unsuback(r: &mut Reader<'_>, v5: bool) -> Result<UnsubAck, DecodeError> {
    let packet_id = packet_id(r)?;
    if !v5 {
        return Ok(UnsubAck {
            packet_id,
            ..UnsubAck::default()
        });
    }
    let properties = decode_properties(r, Ctx::Packet(PacketType::UnsubAck))?;
    let mut reasons = Vec::with_capacity(r.remaining());
    while !r.is_empty() {
        reasons.push(reason_code(r, PacketType::UnsubAck)?);
    }
    if reasons.is_empty() {
        return Err(DecodeError::ProtocolViolation(
            "UNSUBACK without reason codes",
        ));
    }
    Ok(UnsubAck {
        packet_id,
        reasons,
        properties,
    })
}

/// Property block in MQTT 5; 3.1.1 has none.
fn props(r: &mut Reader<'_>, ctx: Ctx, v5: bool) -> Result<Properties, DecodeError> {
    match v5 {
        true => decode_properties(r, ctx),
        false => Ok(Properties::default()),
    }
}

fn packet_id(r: &mut Reader<'_>) -> Result<u16, DecodeError> {
    match r.u16("packet identifier")? {
        0 => Err(DecodeError::ZeroPacketId { packet: r.packet() }),
        id => Ok(id),
    }
}

fn reason_code(r: &mut Reader<'_>, kind: PacketType) -> Result<ReasonCode, DecodeError> {
    let code = r.u8("reason code")?;
    ReasonCode::from_u8(code)
        .filter(|c| c.allowed_in(kind))
        .ok_or(DecodeError::InvalidReasonCode {
            packet: kind.name(),
            code,
        })
}
