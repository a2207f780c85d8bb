//! Feeds arbitrary bytes to the thing-model parser and, when a model parses, checks that it
//! survives its own serialisation and that value validation never panics.
#![no_main]

use kaiwu_model::{DeviceType, validate_value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dt) = DeviceType::from_json(data) else {
        return;
    };
    let back = serde_json::to_vec(&dt).expect("a parsed model serialises");
    let again = DeviceType::from_json(&back).expect("a serialised model parses");
    assert_eq!(again, dt);
    let probes = [
        serde_json::json!(1),
        serde_json::json!(1.5),
        serde_json::json!("x"),
        serde_json::json!(true),
        serde_json::json!(null),
        serde_json::json!({"a": [1]}),
    ];
    for p in &dt.properties {
        for v in &probes {
            let _ = validate_value(p, v);
        }
    }
});
