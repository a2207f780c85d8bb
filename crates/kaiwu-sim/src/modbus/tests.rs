use std::collections::{HashMap, HashSet};

use super::*;
use crate::signals::{CncMill, EnergyMeter, MillConfig, MillState};

#[test]
fn layout_has_unique_points_and_no_overlaps() {
    let (tcp, rtu) = modbus_layout();
    for layout in [&tcp, &rtu] {
        let mut names = HashSet::new();
        // (unit, area, register or bit address) -> owner; bit fields share their register.
        let mut used: HashMap<(u8, Area, usize), (&str, Option<u8>)> = HashMap::new();
        let mut bits: HashSet<(u8, usize, u8)> = HashSet::new();
        for p in layout.iter() {
            assert!(names.insert((p.device, p.property)), "duplicate {p:?}");
            assert!(Order::parse(p.order).is_ok(), "{p:?}");
            assert!(p.scale != 0.0);
            assert!(
                !p.writable || matches!(p.area, Area::Coil | Area::Holding),
                "{p:?}"
            );
            assert!(p.bit.is_none() || p.encoding.registers() == 1, "{p:?}");
            for r in span(p) {
                assert!(r < BANK_SIZE, "{p:?} beyond bank");
                if let Some((owner, bit)) = used.insert((p.unit, p.area, r), (p.property, p.bit)) {
                    assert!(
                        bit.is_some() && p.bit.is_some(),
                        "{} overlaps {owner}",
                        p.property
                    );
                }
            }
            if let Some(b) = p.bit {
                assert!(bits.insert((p.unit, usize::from(p.address), b)), "{p:?}");
            }
        }
    }
    assert!(tcp.iter().all(|p| MILLS.contains(&(p.device, p.unit))));
    assert!(rtu.iter().all(|p| (p.device, p.unit) == METER));
    // Every encoding and order appears, so a connector exercises them all.
    let all: Vec<_> = tcp.iter().chain(&rtu).collect();
    for e in [
        Encoding::U16,
        Encoding::I16,
        Encoding::U32,
        Encoding::I32,
        Encoding::F32,
        Encoding::F64,
        Encoding::Bool,
    ] {
        assert!(all.iter().any(|p| p.encoding == e), "{e:?} unused");
    }
    for o in ["ABCD", "CDAB", "BADC", "DCBA"] {
        assert!(
            all.iter()
                .any(|p| p.order == o && p.encoding.registers() > 1),
            "{o}"
        );
    }
}

fn assert_close(p: &ModbusPoint, want: PointValue, got: PointValue) {
    match (want, got) {
        (PointValue::Bool(a), PointValue::Bool(b)) => assert_eq!(a, b, "{p:?}"),
        (PointValue::Num(a), PointValue::Num(b)) => {
            let tol = match p.encoding {
                Encoding::F32 => a.abs() * 1e-6,
                Encoding::F64 => 0.0,
                _ => p.scale / 2.0 + 1e-9,
            };
            assert!((a - b).abs() <= tol, "{}: wrote {a}, read {b}", p.property);
        }
        (a, b) => panic!("{}: wrote {a:?}, read {b:?}", p.property),
    }
}

#[test]
fn every_point_decodes_back_to_the_model_value() {
    let (tcp, rtu) = modbus_layout();
    let mut mill = CncMill::new(MillConfig {
        seed: 1,
        bearing_fault: true,
        fault_growth: 30.0,
    });
    let mut meter = EnergyMeter::new(1);
    let mut bank = Bank::new(BANK_SIZE);
    let mut meter_bank = Bank::new(BANK_SIZE);
    let mut seen_states = HashSet::new();
    for i in 0..4000 {
        let s = mill.step(1.0);
        let m = meter.step(1.0, 40.0);
        if i % 7 != 0 {
            continue;
        }
        seen_states.insert(s.state as u8);
        let values = mill_values(&s);
        store_all(&mut bank, &tcp, "mill-01", &values).expect("store mill");
        for (prop, want) in &values {
            let p = point(&tcp, "mill-01", prop).expect("point in layout");
            assert_close(p, *want, load(&bank, p).expect("load"));
        }
        let values = meter_values(&m);
        store_all(&mut meter_bank, &rtu, METER.0, &values).expect("store meter");
        for (prop, want) in &values {
            let p = point(&rtu, METER.0, prop).expect("point in layout");
            assert_close(p, *want, load(&meter_bank, p).expect("load"));
        }
    }
    assert!(
        seen_states.contains(&(MillState::Running as u8))
            && seen_states.contains(&(MillState::Idle as u8))
    );
    // Each model property has a point and each read-only point has a model value.
    let props: HashSet<_> = mill_values(&mill.sample())
        .iter()
        .map(|(p, _)| *p)
        .collect();
    for p in tcp.iter().filter(|p| p.device == "mill-01" && !p.writable) {
        assert!(
            props.contains(p.property),
            "{} has no model value",
            p.property
        );
    }
}

#[test]
fn status_bits_are_independent_and_integers_saturate() {
    let (tcp, _) = modbus_layout();
    let mut bank = Bank::new(BANK_SIZE);
    let fault = point(&tcp, "mill-01", "fault_active").expect("point");
    let vib = point(&tcp, "mill-01", "vibration_alarm").expect("point");
    store(&mut bank, fault, PointValue::Bool(true)).expect("store");
    store(&mut bank, vib, PointValue::Bool(true)).expect("store");
    store(&mut bank, fault, PointValue::Bool(false)).expect("store");
    assert_eq!(bank.input[7], 0b100);
    let temp = point(&tcp, "mill-01", "temperature").expect("point");
    store(&mut bank, temp, PointValue::Num(-40.04)).expect("store");
    assert_eq!(bank.input[4], (-400i16) as u16);
    store(&mut bank, temp, PointValue::Num(1e9)).expect("store");
    assert_eq!(bank.input[4], i16::MAX as u16);
    let feed = point(&tcp, "mill-01", "feed_override").expect("point");
    store(&mut bank, feed, PointValue::Num(f64::NAN)).expect("store");
    assert_eq!(load(&bank, feed).expect("load"), PointValue::Num(0.0));
}
