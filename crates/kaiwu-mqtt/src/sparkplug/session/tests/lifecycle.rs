//! Sequence numbers, deaths, rebirths, commands and bounds.

use super::*;

#[test]
fn seq_wraps_from_255_to_0() {
    let mut s = born(); // last seq 1
    for seq in 2..=255 {
        let ev = handle(
            &mut s,
            "spBv1.0/g/NDATA/n",
            data(seq, &[(2, metric::Value::FloatValue(1.0))]),
        );
        assert!(
            !ev.iter().any(|e| matches!(e, SessionEvent::SeqGap { .. })),
            "seq {seq}"
        );
    }
    let ev = handle(
        &mut s,
        "spBv1.0/g/NDATA/n",
        data(0, &[(2, metric::Value::FloatValue(1.0))]),
    );
    assert_eq!(ev.len(), 1, "no gap at the wrap: {ev:?}");
    let ev = handle(
        &mut s,
        "spBv1.0/g/DDATA/n/d",
        data(1, &[(10, metric::Value::IntValue(1))]),
    );
    assert_eq!(ev.len(), 1, "{ev:?}");
}

#[test]
fn seq_gap_lists_expected_and_got_and_resynchronises() {
    let mut s = born(); // last seq 1
    let ev = handle(
        &mut s,
        "spBv1.0/g/NDATA/n",
        data(5, &[(2, metric::Value::FloatValue(1.0))]),
    );
    assert_eq!(
        ev[0],
        SessionEvent::SeqGap {
            expected: 2,
            got: Some(5)
        }
    );
    assert!(
        matches!(ev[1], SessionEvent::Metrics { .. }),
        "data is still delivered"
    );
    let ev = handle(
        &mut s,
        "spBv1.0/g/NDATA/n",
        data(6, &[(2, metric::Value::FloatValue(1.0))]),
    );
    assert_eq!(ev.len(), 1, "back in step after the gap: {ev:?}");

    // A missing or oversized seq is one gap, not one per following message.
    let ev = handle(&mut s, "spBv1.0/g/NDATA/n", data(300, &[]));
    assert_eq!(
        ev,
        [SessionEvent::SeqGap {
            expected: 7,
            got: Some(300)
        }]
    );
    let ev = handle(&mut s, "spBv1.0/g/NDATA/n", data(8, &[]));
    assert!(ev.is_empty(), "{ev:?}");
    let mut p = data(0, &[]);
    p.seq = None;
    assert_eq!(
        handle(&mut s, "spBv1.0/g/NDATA/n", p),
        [SessionEvent::SeqGap {
            expected: 9,
            got: None
        }]
    );
}

#[test]
fn ndeath_with_matching_bd_seq_takes_node_and_devices_offline() {
    let mut s = born();
    handle(&mut s, "spBv1.0/g/DBIRTH/n/a", dbirth(2));
    let ev = handle(&mut s, "spBv1.0/g/NDEATH/n", ndeath(3));
    assert_eq!(
        ev,
        [SessionEvent::NodeOffline {
            devices: vec!["a".into(), "d".into()]
        }]
    );
    assert!(!s.is_online());
    assert!(!s.device_online("d"));
    assert_eq!(s.metric_name(None, 2), None);
    let ev = handle(
        &mut s,
        "spBv1.0/g/NDATA/n",
        data(4, &[(2, metric::Value::FloatValue(1.0))]),
    );
    assert_eq!(
        ev,
        [SessionEvent::RebirthNeeded(RebirthReason::NodeNotBorn)]
    );
}

#[test]
fn stale_ndeath_is_ignored() {
    // The will of the previous connection (bdSeq 2) arrives after the new NBIRTH (bdSeq 3).
    let mut s = born();
    let ev = handle(&mut s, "spBv1.0/g/NDEATH/n", ndeath(2));
    assert_eq!(
        ev,
        [SessionEvent::StaleDeath {
            current: Some(3),
            got: Some(2)
        }]
    );
    assert!(s.is_online());
    assert!(s.device_online("d"));
    let ev = handle(&mut s, "spBv1.0/g/NDEATH/n", seq_only(0));
    assert_eq!(
        ev,
        [SessionEvent::StaleDeath {
            current: Some(3),
            got: None
        }]
    );
    let mut fresh = NodeSession::new();
    let ev = handle(&mut fresh, "spBv1.0/g/NDEATH/n", ndeath(0));
    assert_eq!(
        ev,
        [SessionEvent::StaleDeath {
            current: None,
            got: Some(0)
        }]
    );
}

#[test]
fn ddeath_takes_one_device_offline() {
    let mut s = born();
    let ev = handle(&mut s, "spBv1.0/g/DDEATH/n/d", seq_only(2));
    assert_eq!(ev, [SessionEvent::DeviceOffline { device: "d".into() }]);
    assert!(!s.device_online("d"));
    assert!(s.is_online());
    let ev = handle(
        &mut s,
        "spBv1.0/g/DDATA/n/d",
        data(3, &[(10, metric::Value::IntValue(1))]),
    );
    assert_eq!(
        ev,
        [SessionEvent::RebirthNeeded(RebirthReason::DeviceNotBorn(
            "d".into()
        ))]
    );
    // A DDEATH for an unknown device only advances seq.
    assert!(handle(&mut s, "spBv1.0/g/DDEATH/n/x", seq_only(4)).is_empty());
}

#[test]
fn rebirth_replaces_the_alias_tables() {
    let mut s = born();
    let mut p = nbirth(4);
    p.metrics[2].alias = Some(20);
    handle(&mut s, "spBv1.0/g/NBIRTH/n", p);
    assert_eq!(s.bd_seq(), Some(4));
    assert_eq!(s.metric_name(None, 2), None);
    assert_eq!(s.metric_name(None, 20), Some("Supply Voltage"));
    assert!(
        !s.device_online("d"),
        "devices must be reborn after an NBIRTH"
    );
}

#[test]
fn malformed_births_are_errors() {
    let mut s = NodeSession::new();
    let mut p = nbirth(1);
    p.metrics.remove(0);
    let e = s
        .handle(&topic("spBv1.0/g/NBIRTH/n"), p)
        .expect_err("no bdSeq");
    assert_eq!(e, SparkplugError::MissingBdSeq("NBIRTH"));
    assert!(!s.is_online());

    let mut p = nbirth(1);
    p.metrics[2].alias = Some(1);
    let e = s
        .handle(&topic("spBv1.0/g/NBIRTH/n"), p)
        .expect_err("duplicate alias");
    assert_eq!(
        e.to_string(),
        r#"alias 1 is used by both "Node Control/Rebirth" and "Supply Voltage""#
    );
    assert!(!s.is_online(), "a bad NBIRTH leaves the node offline");

    let mut s = born();
    let mut p = dbirth(2);
    p.metrics[0].name = None;
    let e = s
        .handle(&topic("spBv1.0/g/DBIRTH/n/d2"), p)
        .expect_err("unnamed");
    assert_eq!(e.to_string(), "DBIRTH metric #0 has no name");

    let p = Payload {
        seq: Some(3),
        metrics: vec![Metric::default()],
        ..Payload::default()
    };
    let e = s
        .handle(&topic("spBv1.0/g/DDATA/n/d"), p)
        .expect_err("anonymous");
    assert_eq!(e.to_string(), "DDATA metric #0 has no name or alias");
}

#[test]
fn commands_change_nothing() {
    let mut s = born();
    let ev = handle(
        &mut s,
        "spBv1.0/g/NCMD/n",
        crate::sparkplug::rebirth_payload(1),
    );
    assert!(ev.is_empty());
    let ev = handle(&mut s, "spBv1.0/g/NDATA/n", data(2, &[]));
    assert!(ev.is_empty(), "seq unaffected by the command: {ev:?}");
}

#[test]
fn command_metrics_use_birth_alias_and_type() {
    let s = born();
    let m = s
        .command_metric(Some("d"), "Inputs/A", &Value::Int(-1))
        .expect("known metric");
    assert_eq!(m.name, None);
    assert_eq!(m.alias, Some(10));
    assert_eq!(m.datatype, Some(DataType::Int16.as_u32()));
    assert_eq!(m.value, Some(metric::Value::IntValue(0xFFFF_FFFF)));
    let e = s
        .command_metric(None, "Nope", &Value::Int(1))
        .expect_err("unknown");
    assert_eq!(e, SparkplugError::UnknownMetric("Nope".into()));
    let e = s
        .command_metric(Some("d"), "Inputs/A", &Value::Int(40_000))
        .expect_err("range");
    assert!(matches!(e, SparkplugError::NotRepresentable { .. }));
}

#[test]
fn device_count_is_bounded() {
    let mut s = born();
    for i in 1..MAX_DEVICES {
        let t =
            EdgeTopic::new("g", MessageKind::DBirth, "n", Some(&format!("d{i}"))).expect("topic");
        s.handle(&t, dbirth(u64::try_from(i + 1).expect("small") % 256))
            .expect("within bound");
    }
    let t = topic("spBv1.0/g/DBIRTH/n/one-too-many");
    let e = s.handle(&t, dbirth(0)).expect_err("over the bound");
    assert_eq!(e, SparkplugError::TooManyDevices { limit: MAX_DEVICES });
}

#[test]
fn topic_and_device_must_agree() {
    let mut s = born();
    let mut t = topic("spBv1.0/g/DDATA/n/d");
    t.device = None;
    let e = s
        .handle(&t, data(2, &[]))
        .expect_err("device message without device");
    assert!(matches!(e, SparkplugError::Topic { .. }), "{e}");
}

#[test]
fn error_kinds() {
    use kaiwu_core::ErrorKind;
    let wrapped = SparkplugError::Metric {
        name: "m".into(),
        source: Box::new(SparkplugError::TooManyMetrics { limit: 1 }),
    };
    assert_eq!(wrapped.kind(), ErrorKind::TooLarge);
    assert_eq!(
        SparkplugError::UnknownMetric("m".into()).kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        SparkplugError::BadState(String::new()).kind(),
        ErrorKind::BadRequest
    );
    assert_eq!(
        SparkplugError::MissingBdSeq("NBIRTH").kind(),
        ErrorKind::Invalid
    );
}
