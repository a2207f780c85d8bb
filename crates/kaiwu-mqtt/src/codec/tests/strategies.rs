//! Proptest generators for valid packets of either protocol.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::option::of as opt;
use proptest::prelude::*;
use proptest::sample::select;

use crate::codec::packet::PacketType;
use crate::codec::properties::*;
use crate::codec::reason::ALL;
use crate::codec::*;

fn text() -> impl Strategy<Value = String> {
    // Multi-byte characters check that lengths are counted in bytes.
    "[a-zA-Z0-9 _/é€😀-]{0,12}"
}

fn topic_name() -> impl Strategy<Value = String> {
    "(\\$SYS/)?[a-z0-9é]{1,6}(/[a-z0-9]{0,6}){0,3}"
}

fn topic_filter() -> impl Strategy<Value = String> {
    let level = prop_oneof![Just("+".to_owned()), "[a-z0-9]{0,5}"];
    let plain = (vec(level, 1..4), any::<bool>()).prop_map(|(levels, hash)| {
        let mut f = levels.join("/");
        if hash {
            f.push_str("/#");
        } else if f.is_empty() {
            f.push('e');
        }
        f
    });
    prop_oneof![
        4 => plain.clone(),
        1 => Just("#".to_owned()),
        1 => ("[a-z]{1,4}", plain).prop_map(|(g, f)| format!("$share/{g}/{f}")),
    ]
}

fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn packet_id() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

/// Every property set at random, later cut down to what a packet allows.
fn any_properties() -> impl Strategy<Value = Properties> {
    let a = (
        opt(any::<bool>()),
        opt(any::<u32>()),
        opt(text()),
        opt(topic_name()),
        opt(binary()),
        vec(1..=MAX_VARINT, 0..3),
        opt(any::<u32>()),
        opt(text()),
        opt(any::<u16>()),
        opt(text()),
    );
    let b = (
        opt(binary()),
        opt(any::<bool>()),
        opt(any::<u32>()),
        opt(any::<bool>()),
        opt(text()),
        opt(text()),
        opt(text()),
        opt(1..=u16::MAX),
        opt(any::<u16>()),
        opt(1..=u16::MAX),
    );
    let c = (
        opt(prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce)]),
        opt(any::<bool>()),
        vec((text(), text()), 0..3),
        opt(1..=u32::MAX),
        opt(any::<bool>()),
        opt(any::<bool>()),
        opt(any::<bool>()),
    );
    (a, b, c).prop_map(|(a, b, c)| Properties {
        payload_format_indicator: a.0,
        message_expiry_interval: a.1,
        content_type: a.2,
        response_topic: a.3,
        correlation_data: a.4,
        subscription_identifiers: a.5,
        session_expiry_interval: a.6,
        assigned_client_identifier: a.7,
        server_keep_alive: a.8,
        authentication_method: a.9,
        authentication_data: b.0,
        request_problem_information: b.1,
        will_delay_interval: b.2,
        request_response_information: b.3,
        response_information: b.4,
        server_reference: b.5,
        reason_string: b.6,
        receive_maximum: b.7,
        topic_alias_maximum: b.8,
        topic_alias: b.9,
        maximum_qos: c.0,
        retain_available: c.1,
        user_properties: c.2,
        maximum_packet_size: c.3,
        wildcard_subscription_available: c.4,
        subscription_identifiers_available: c.5,
        shared_subscription_available: c.6,
    })
}

/// Clears what `ctx` does not allow, so the result is valid there.
fn restrict(mut p: Properties, ctx: Ctx) -> Properties {
    fn keep<T>(slot: &mut Option<T>, id: u8, ctx: Ctx) {
        if !allowed(id, ctx) {
            *slot = None;
        }
    }
    keep(
        &mut p.payload_format_indicator,
        PAYLOAD_FORMAT_INDICATOR,
        ctx,
    );
    keep(&mut p.message_expiry_interval, MESSAGE_EXPIRY_INTERVAL, ctx);
    keep(&mut p.content_type, CONTENT_TYPE, ctx);
    keep(&mut p.response_topic, RESPONSE_TOPIC, ctx);
    keep(&mut p.correlation_data, CORRELATION_DATA, ctx);
    match ctx {
        Ctx::Packet(PacketType::Publish) => {}
        Ctx::Packet(PacketType::Subscribe) => p.subscription_identifiers.truncate(1),
        _ => p.subscription_identifiers.clear(),
    }
    keep(&mut p.session_expiry_interval, SESSION_EXPIRY_INTERVAL, ctx);
    keep(
        &mut p.assigned_client_identifier,
        ASSIGNED_CLIENT_IDENTIFIER,
        ctx,
    );
    keep(&mut p.server_keep_alive, SERVER_KEEP_ALIVE, ctx);
    keep(&mut p.authentication_method, AUTHENTICATION_METHOD, ctx);
    keep(&mut p.authentication_data, AUTHENTICATION_DATA, ctx);
    if p.authentication_method.is_none() {
        p.authentication_data = None;
    }
    keep(
        &mut p.request_problem_information,
        REQUEST_PROBLEM_INFORMATION,
        ctx,
    );
    keep(&mut p.will_delay_interval, WILL_DELAY_INTERVAL, ctx);
    keep(
        &mut p.request_response_information,
        REQUEST_RESPONSE_INFORMATION,
        ctx,
    );
    keep(&mut p.response_information, RESPONSE_INFORMATION, ctx);
    keep(&mut p.server_reference, SERVER_REFERENCE, ctx);
    keep(&mut p.reason_string, REASON_STRING, ctx);
    keep(&mut p.receive_maximum, RECEIVE_MAXIMUM, ctx);
    keep(&mut p.topic_alias_maximum, TOPIC_ALIAS_MAXIMUM, ctx);
    keep(&mut p.topic_alias, TOPIC_ALIAS, ctx);
    keep(&mut p.maximum_qos, MAXIMUM_QOS, ctx);
    keep(&mut p.retain_available, RETAIN_AVAILABLE, ctx);
    keep(&mut p.maximum_packet_size, MAXIMUM_PACKET_SIZE, ctx);
    keep(
        &mut p.wildcard_subscription_available,
        WILDCARD_SUBSCRIPTION_AVAILABLE,
        ctx,
    );
    let sub_ids = SUBSCRIPTION_IDENTIFIER_AVAILABLE;
    keep(&mut p.subscription_identifiers_available, sub_ids, ctx);
    keep(
        &mut p.shared_subscription_available,
        SHARED_SUBSCRIPTION_AVAILABLE,
        ctx,
    );
    p
}

/// Properties valid in `ctx` for MQTT 5 (often empty, to hit the short packet forms);
/// always empty for 3.1.1.
fn properties(ctx: Ctx, protocol: Protocol) -> BoxedStrategy<Properties> {
    match protocol {
        Protocol::V311 => Just(Properties::default()).boxed(),
        Protocol::V5 => prop_oneof![
            1 => Just(Properties::default()),
            2 => any_properties().prop_map(move |p| restrict(p, ctx)),
        ]
        .boxed(),
    }
}

fn packet_props(kind: PacketType, protocol: Protocol) -> BoxedStrategy<Properties> {
    properties(Ctx::Packet(kind), protocol)
}

/// Reason codes valid in `kind` for `protocol`.
fn reason(kind: PacketType, protocol: Protocol) -> BoxedStrategy<ReasonCode> {
    let codes: Vec<ReasonCode> = match (protocol, kind) {
        (Protocol::V5, _) => ALL.into_iter().filter(|c| c.allowed_in(kind)).collect(),
        (Protocol::V311, PacketType::ConnAck) => {
            (0..=5).filter_map(ReasonCode::from_v311_connack).collect()
        }
        (Protocol::V311, PacketType::SubAck) => vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ],
        (Protocol::V311, _) => vec![ReasonCode::Success],
    };
    select(codes).boxed()
}

fn will(protocol: Protocol) -> impl Strategy<Value = Will> {
    let props = properties(Ctx::Will, protocol);
    (topic_name(), binary(), qos(), any::<bool>(), props).prop_map(
        |(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        },
    )
}

fn connect(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let props = packet_props(PacketType::Connect, protocol);
    let login = (opt(text()), opt(binary())).prop_map(move |(user, pass)| match protocol {
        // 3.1.1 has no password without a user name.
        Protocol::V311 if user.is_none() => (None, None),
        _ => (user, pass),
    });
    (
        text(),
        any::<bool>(),
        any::<u16>(),
        login,
        opt(will(protocol)),
        props,
    )
        .prop_map(
            move |(client_id, clean_start, keep_alive, (username, password), will, properties)| {
                Packet::Connect(Box::new(Connect {
                    protocol,
                    client_id,
                    clean_start,
                    keep_alive,
                    username,
                    password,
                    will,
                    properties,
                }))
            },
        )
}

fn connack(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let kind = PacketType::ConnAck;
    (
        any::<bool>(),
        reason(kind, protocol),
        packet_props(kind, protocol),
    )
        .prop_map(|(present, reason, properties)| {
            Packet::ConnAck(ConnAck {
                session_present: present && reason == ReasonCode::Success,
                reason,
                properties,
            })
        })
}

fn publish(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let props = packet_props(PacketType::Publish, protocol);
    let header = (qos(), any::<bool>(), any::<bool>(), packet_id());
    (header, topic_name(), props, binary(), any::<bool>()).prop_map(
        move |((qos, dup, retain, id), topic, properties, payload, drop_topic)| {
            let aliased = protocol == Protocol::V5 && properties.topic_alias.is_some();
            let qos0 = qos == QoS::AtMostOnce;
            Packet::Publish(Publish {
                dup: dup && !qos0,
                qos,
                retain,
                topic: if aliased && drop_topic {
                    String::new()
                } else {
                    topic
                },
                packet_id: (!qos0).then_some(id),
                properties,
                payload,
            })
        },
    )
}

fn ack(kind: PacketType, protocol: Protocol) -> impl Strategy<Value = Packet> {
    (
        packet_id(),
        reason(kind, protocol),
        packet_props(kind, protocol),
    )
        .prop_map(move |(packet_id, reason, properties)| {
            let a = Ack {
                packet_id,
                reason,
                properties,
            };
            match kind {
                PacketType::PubAck => Packet::PubAck(a),
                PacketType::PubRec => Packet::PubRec(a),
                PacketType::PubRel => Packet::PubRel(a),
                _ => Packet::PubComp(a),
            }
        })
}

fn subscribe(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let v5 = protocol == Protocol::V5;
    let rh = select(vec![
        RetainHandling::OnSubscribe,
        RetainHandling::OnNewSubscribe,
        RetainHandling::Never,
    ]);
    let options = (qos(), any::<bool>(), any::<bool>(), rh);
    let entry = (topic_filter(), options).prop_map(move |(filter, (qos, nl, rap, rh))| {
        let shared = filter.starts_with("$share/");
        let options = match v5 {
            true => SubscriptionOptions {
                qos,
                no_local: nl && !shared,
                retain_as_published: rap,
                retain_handling: rh,
            },
            false => SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            },
        };
        SubscribeFilter { filter, options }
    });
    let props = packet_props(PacketType::Subscribe, protocol);
    (packet_id(), vec(entry, 1..4), props).prop_map(|(packet_id, filters, properties)| {
        Packet::Subscribe(Subscribe {
            packet_id,
            filters,
            properties,
        })
    })
}

fn suback(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let kind = PacketType::SubAck;
    let reasons = vec(reason(kind, protocol), 1..4);
    (packet_id(), reasons, packet_props(kind, protocol)).prop_map(
        |(packet_id, reasons, properties)| {
            Packet::SubAck(SubAck {
                packet_id,
                reasons,
                properties,
            })
        },
    )
}

fn unsubscribe(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let props = packet_props(PacketType::Unsubscribe, protocol);
    (packet_id(), vec(topic_filter(), 1..4), props).prop_map(|(packet_id, filters, properties)| {
        Packet::Unsubscribe(Unsubscribe {
            packet_id,
            filters,
            properties,
        })
    })
}

fn unsuback(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let kind = PacketType::UnsubAck;
    let reasons = match protocol {
        Protocol::V311 => Just(Vec::new()).boxed(),
        Protocol::V5 => vec(reason(kind, protocol), 1..4).boxed(),
    };
    (packet_id(), reasons, packet_props(kind, protocol)).prop_map(
        |(packet_id, reasons, properties)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                reasons,
                properties,
            })
        },
    )
}

fn disconnect(protocol: Protocol) -> impl Strategy<Value = Packet> {
    let kind = PacketType::Disconnect;
    (reason(kind, protocol), packet_props(kind, protocol))
        .prop_map(|(reason, properties)| Packet::Disconnect(Disconnect { reason, properties }))
}

fn auth() -> impl Strategy<Value = Packet> {
    let kind = PacketType::Auth;
    (reason(kind, Protocol::V5), packet_props(kind, Protocol::V5))
        .prop_map(|(reason, properties)| Packet::Auth(Auth { reason, properties }))
}

/// Any valid packet of `protocol`.
pub(super) fn packet(protocol: Protocol) -> BoxedStrategy<Packet> {
    let common = prop_oneof![
        connect(protocol),
        connack(protocol),
        publish(protocol),
        ack(PacketType::PubAck, protocol),
        ack(PacketType::PubRec, protocol),
        ack(PacketType::PubRel, protocol),
        ack(PacketType::PubComp, protocol),
        subscribe(protocol),
        suback(protocol),
        unsubscribe(protocol),
        unsuback(protocol),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        disconnect(protocol),
    ];
    match protocol {
        Protocol::V311 => common.boxed(),
        Protocol::V5 => prop_oneof![14 => common, 1 => auth()].boxed(),
    }
}

/// Any valid packet except CONNECT, for streams after the handshake.
pub(super) fn session_packet(protocol: Protocol) -> BoxedStrategy<Packet> {
    packet(protocol)
        .prop_filter("CONNECT only starts a stream", |p| {
            !matches!(p, Packet::Connect(_))
        })
        .boxed()
}
