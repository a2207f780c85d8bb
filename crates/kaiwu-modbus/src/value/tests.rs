use proptest::prelude::*;

use super::*;

const ORDERS: [Order; 4] = [Order::ABCD, Order::CDAB, Order::BADC, Order::DCBA];

fn order() -> impl Strategy<Value = Order> {
    proptest::sample::select(ORDERS.to_vec())
}

/// A value representable in `enc`, as the Raw that decoding it gives back.
fn value_for(enc: Encoding) -> BoxedStrategy<Raw> {
    match enc {
        Encoding::U16 => any::<u16>().prop_map(|v| Raw::Int(v.into())).boxed(),
        Encoding::I16 => any::<i16>().prop_map(|v| Raw::Int(v.into())).boxed(),
        Encoding::U32 => any::<u32>().prop_map(|v| Raw::Int(v.into())).boxed(),
        Encoding::I32 => any::<i32>().prop_map(|v| Raw::Int(v.into())).boxed(),
        Encoding::F32 => any::<f32>()
            .prop_filter("NaN has no equality", |f| !f.is_nan())
            .prop_map(|v| Raw::Float(v.into()))
            .boxed(),
        Encoding::F64 => any::<f64>()
            .prop_filter("NaN has no equality", |f| !f.is_nan())
            .prop_map(Raw::Float)
            .boxed(),
        Encoding::Bool => any::<bool>().prop_map(Raw::Bool).boxed(),
    }
}

fn enc_and_value() -> impl Strategy<Value = (Encoding, Raw)> {
    use Encoding::*;
    proptest::sample::select(vec![U16, I16, U32, I32, F32, F64, Bool])
        .prop_flat_map(|enc| (Just(enc), value_for(enc)))
}

proptest! {
    #[test]
    fn encode_decode_round_trip((enc, raw) in enc_and_value(), order in order()) {
        let regs = encode(raw, enc, order).expect("in range");
        prop_assert_eq!(regs.len(), usize::from(enc.registers()));
        prop_assert_eq!(decode(&regs, enc, order, None).expect("decodes"), raw);
    }

    #[test]
    fn bit_extraction_matches_shift(reg in any::<u16>(), bit in 0u8..16) {
        let got = decode(&[reg], Encoding::Bool, Order::ABCD, Some(bit)).expect("decodes");
        prop_assert_eq!(got, Raw::Bool(reg >> bit & 1 == 1));
    }

    #[test]
    fn decode_never_panics(regs in proptest::collection::vec(any::<u16>(), 0..6),
                           bit in proptest::option::of(any::<u8>()), order in order()) {
        for enc in [Encoding::U16, Encoding::I16, Encoding::U32, Encoding::I32,
                    Encoding::F32, Encoding::F64, Encoding::Bool] {
            let _ = decode(&regs, enc, order, bit);
        }
    }
}

#[test]
fn orders_lay_out_bytes_as_named() {
    // 0x11223344 = bytes A B C D.
    let v = Raw::Int(0x1122_3344);
    let enc = Encoding::U32;
    assert_eq!(encode(v, enc, Order::ABCD).unwrap(), [0x1122, 0x3344]);
    assert_eq!(encode(v, enc, Order::CDAB).unwrap(), [0x3344, 0x1122]);
    assert_eq!(encode(v, enc, Order::BADC).unwrap(), [0x2211, 0x4433]);
    assert_eq!(encode(v, enc, Order::DCBA).unwrap(), [0x4433, 0x2211]);
    let f = encode(Raw::Float(1.0), Encoding::F64, Order::CDAB).unwrap();
    assert_eq!(f, [0, 0, 0, 0x3FF0]);
    assert_eq!(
        decode(&[0x3F80, 0], Encoding::F32, Order::ABCD, None).unwrap(),
        Raw::Float(1.0)
    );
    assert_eq!(
        decode(&[0xFFFF], Encoding::I16, Order::ABCD, None).unwrap(),
        Raw::Int(-1)
    );
}

#[test]
fn encode_checks_ranges_and_names_the_value() {
    let err = encode(Raw::Int(70000), Encoding::U16, Order::ABCD).unwrap_err();
    assert!(matches!(err, Error::Invalid(_)));
    assert!(err.to_string().contains("70000"), "{err}");
    assert!(encode(Raw::Int(-1), Encoding::U32, Order::ABCD).is_err());
    assert!(encode(Raw::Int(40000), Encoding::I16, Order::ABCD).is_err());
    assert!(encode(Raw::Float(1.5), Encoding::I32, Order::ABCD).is_err());
    assert!(encode(Raw::Float(1e39), Encoding::F32, Order::ABCD).is_err());
    assert!(encode(Raw::Int(2), Encoding::Bool, Order::ABCD).is_err());
    assert_eq!(
        encode(Raw::Float(7.0), Encoding::U16, Order::ABCD).unwrap(),
        [7]
    );
    assert_eq!(
        encode(Raw::Bool(true), Encoding::Bool, Order::ABCD).unwrap(),
        [1]
    );
}

#[test]
fn decode_rejects_short_input_and_bad_bits() {
    assert!(decode(&[1], Encoding::U32, Order::ABCD, None).is_err());
    assert!(decode(&[1], Encoding::U16, Order::ABCD, Some(16)).is_err());
    assert!(decode(&[1, 2], Encoding::U32, Order::ABCD, Some(0)).is_err());
    assert_eq!(
        decode(&[0x0100], Encoding::Bool, Order::BADC, Some(0)).unwrap(),
        Raw::Bool(true)
    );
}

#[test]
fn order_parses_and_serialises_as_strings() {
    for o in ORDERS {
        assert_eq!(Order::parse(o.as_str()).unwrap(), o);
        let json = serde_json::to_string(&o).unwrap();
        assert_eq!(serde_json::from_str::<Order>(&json).unwrap(), o);
    }
    assert_eq!(Order::default(), Order::ABCD);
    assert_eq!("cdab".parse::<Order>().unwrap(), Order::CDAB);
    assert!(Order::parse("ABDC").is_err());
    assert!(serde_json::from_str::<Order>("\"XYZ\"").is_err());
}

#[test]
fn enums_use_lowercase_names() {
    assert_eq!(
        serde_json::to_string(&Area::Holding).unwrap(),
        "\"holding\""
    );
    assert_eq!(
        serde_json::from_str::<Area>("\"coil\"").unwrap(),
        Area::Coil
    );
    assert_eq!(serde_json::to_string(&Encoding::F32).unwrap(), "\"f32\"");
    assert_eq!(
        serde_json::from_str::<Encoding>("\"bool\"").unwrap(),
        Encoding::Bool
    );
    let regs: Vec<u16> = [Encoding::U16, Encoding::I16, Encoding::U32, Encoding::I32]
        .iter()
        .chain(&[Encoding::F32, Encoding::F64, Encoding::Bool])
        .map(|e| e.registers())
        .collect();
    assert_eq!(regs, [1, 1, 2, 2, 2, 4, 1]);
}
