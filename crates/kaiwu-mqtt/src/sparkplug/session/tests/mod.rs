use super::*;
use crate::sparkplug::SparkplugTopic;

fn topic(s: &str) -> EdgeTopic {
    match SparkplugTopic::parse(s).expect("valid topic") {
        SparkplugTopic::Edge(t) => t,
        SparkplugTopic::State { .. } => panic!("state topic"),
    }
}

fn metric(name: Option<&str>, alias: Option<u64>, dt: DataType, v: metric::Value) -> Metric {
    Metric {
        name: name.map(str::to_owned),
        alias,
        datatype: Some(dt.as_u32()),
        value: Some(v),
        ..Metric::default()
    }
}

fn bd_seq_metric(n: u64) -> Metric {
    metric(
        Some(BD_SEQ_METRIC),
        None,
        DataType::Int64,
        metric::Value::LongValue(n),
    )
}

fn nbirth(bd: u64) -> Payload {
    Payload {
        timestamp: Some(1000),
        seq: Some(0),
        metrics: vec![
            bd_seq_metric(bd),
            metric(
                Some(REBIRTH_METRIC),
                Some(1),
                DataType::Boolean,
                metric::Value::BooleanValue(false),
            ),
            metric(
                Some("Supply Voltage"),
                Some(2),
                DataType::Float,
                metric::Value::FloatValue(12.1),
            ),
        ],
        ..Payload::default()
    }
}

fn dbirth(seq: u64) -> Payload {
    Payload {
        timestamp: Some(1001),
        seq: Some(seq),
        metrics: vec![metric(
            Some("Inputs/A"),
            Some(10),
            DataType::Int16,
            metric::Value::IntValue(1),
        )],
        ..Payload::default()
    }
}

/// A data payload addressing metrics by alias, without datatypes (as Sparkplug allows).
fn data(seq: u64, aliases: &[(u64, metric::Value)]) -> Payload {
    Payload {
        timestamp: Some(2000),
        seq: Some(seq),
        metrics: aliases
            .iter()
            .map(|(a, v)| Metric {
                alias: Some(*a),
                value: Some(v.clone()),
                ..Metric::default()
            })
            .collect(),
        ..Payload::default()
    }
}

fn ndeath(bd: u64) -> Payload {
    Payload {
        timestamp: Some(3000),
        metrics: vec![bd_seq_metric(bd)],
        ..Payload::default()
    }
}

fn seq_only(seq: u64) -> Payload {
    Payload {
        timestamp: Some(4000),
        seq: Some(seq),
        ..Payload::default()
    }
}

fn handle(s: &mut NodeSession, t: &str, p: Payload) -> Vec<SessionEvent> {
    s.handle(&topic(t), p).expect("well-formed message")
}

/// A session after NBIRTH (bdSeq 3) and a DBIRTH of device `d` (seq 1).
fn born() -> NodeSession {
    let mut s = NodeSession::new();
    handle(&mut s, "spBv1.0/g/NBIRTH/n", nbirth(3));
    handle(&mut s, "spBv1.0/g/DBIRTH/n/d", dbirth(1));
    s
}

mod lifecycle;

#[test]
fn nbirth_and_dbirth_bring_node_and_device_online() {
    let mut s = NodeSession::new();
    assert!(!s.is_online());
    let ev = handle(&mut s, "spBv1.0/g/NBIRTH/n", nbirth(3));
    assert_eq!(ev[0], SessionEvent::NodeOnline { bd_seq: 3 });
    let SessionEvent::Metrics {
        device: None,
        birth: true,
        metrics,
    } = &ev[1]
    else {
        panic!("{ev:?}");
    };
    assert_eq!(metrics.len(), 3);
    assert_eq!(metrics[2].name, "Supply Voltage");
    assert_eq!(metrics[2].timestamp, Some(1000));
    assert_eq!(
        metrics[2].value(),
        Ok(Some(Value::Float(f64::from(12.1f32))))
    );
    assert!(s.is_online());
    assert_eq!(s.bd_seq(), Some(3));

    let ev = handle(&mut s, "spBv1.0/g/DBIRTH/n/d", dbirth(1));
    assert_eq!(ev[0], SessionEvent::DeviceOnline { device: "d".into() });
    assert!(
        matches!(&ev[1], SessionEvent::Metrics { device: Some(d), birth: true, .. } if d == "d")
    );
    assert!(s.device_online("d"));
    assert_eq!(s.devices().collect::<Vec<_>>(), ["d"]);
}

#[test]
fn aliases_resolve_to_names_and_birth_datatypes() {
    let mut s = born();
    assert_eq!(s.metric_name(None, 2), Some("Supply Voltage"));
    assert_eq!(s.alias_of(Some("d"), "Inputs/A"), Some(10));
    assert_eq!(s.metric_name(Some("d"), 2), None, "aliases are per scope");
    assert_eq!(s.datatype_of(Some("d"), "Inputs/A"), Some(DataType::Int16));

    let ev = handle(
        &mut s,
        "spBv1.0/g/NDATA/n",
        data(2, &[(2, metric::Value::FloatValue(12.5))]),
    );
    let [
        SessionEvent::Metrics {
            device: None,
            birth: false,
            metrics,
        },
    ] = &ev[..]
    else {
        panic!("{ev:?}");
    };
    assert_eq!(metrics[0].name, "Supply Voltage");
    assert_eq!(metrics[0].timestamp, Some(2000));
    assert_eq!(metrics[0].metric.datatype, Some(DataType::Float.as_u32()));
    assert_eq!(metrics[0].value(), Ok(Some(Value::Float(12.5))));

    // The device's Int16 type from DBIRTH makes 0xFFFF read as -1.
    let ev = handle(
        &mut s,
        "spBv1.0/g/DDATA/n/d",
        data(3, &[(10, metric::Value::IntValue(0xFFFF))]),
    );
    let [
        SessionEvent::Metrics {
            device: Some(_),
            metrics,
            ..
        },
    ] = &ev[..]
    else {
        panic!("{ev:?}");
    };
    assert_eq!(metrics[0].name, "Inputs/A");
    assert_eq!(metrics[0].value(), Ok(Some(Value::Int(-1))));
}

#[test]
fn data_by_name_works_without_aliases() {
    let mut s = born();
    let p = Payload {
        seq: Some(2),
        metrics: vec![Metric {
            name: Some("Supply Voltage".into()),
            value: Some(metric::Value::FloatValue(1.0)),
            ..Metric::default()
        }],
        ..Payload::default()
    };
    let ev = handle(&mut s, "spBv1.0/g/NDATA/n", p);
    assert!(
        matches!(&ev[..], [SessionEvent::Metrics { metrics, .. }] if metrics[0].metric.datatype == Some(9))
    );
}

#[test]
fn unknown_alias_or_name_asks_for_rebirth_but_keeps_the_rest() {
    let mut s = born();
    let mut p = data(
        2,
        &[
            (2, metric::Value::FloatValue(1.0)),
            (99, metric::Value::IntValue(1)),
        ],
    );
    p.metrics.push(Metric {
        name: Some("Nope".into()),
        ..Metric::default()
    });
    let ev = handle(&mut s, "spBv1.0/g/NDATA/n", p);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(matches!(&ev[0], SessionEvent::Metrics { metrics, .. } if metrics.len() == 1));
    assert_eq!(
        ev[1],
        SessionEvent::RebirthNeeded(RebirthReason::UnknownAlias {
            device: None,
            alias: 99
        })
    );
    let p = Payload {
        seq: Some(3),
        metrics: vec![Metric {
            name: Some("Nope".into()),
            ..Metric::default()
        }],
        ..Payload::default()
    };
    let ev = handle(&mut s, "spBv1.0/g/DDATA/n/d", p);
    assert_eq!(
        ev,
        [SessionEvent::RebirthNeeded(RebirthReason::UnknownMetric {
            device: Some("d".into()),
            name: "Nope".into()
        })]
    );
}

#[test]
fn data_before_birth_needs_rebirth() {
    let mut s = NodeSession::new();
    for t in [
        "spBv1.0/g/NDATA/n",
        "spBv1.0/g/DDATA/n/d",
        "spBv1.0/g/DBIRTH/n/d",
    ] {
        let ev = handle(&mut s, t, data(5, &[(1, metric::Value::IntValue(1))]));
        assert_eq!(
            ev,
            [SessionEvent::RebirthNeeded(RebirthReason::NodeNotBorn)],
            "{t}"
        );
    }
    let mut s = born();
    let ev = handle(
        &mut s,
        "spBv1.0/g/DDATA/n/other",
        data(2, &[(10, metric::Value::IntValue(1))]),
    );
    assert_eq!(
        ev,
        [SessionEvent::RebirthNeeded(RebirthReason::DeviceNotBorn(
            "other".into()
        ))]
    );
}
