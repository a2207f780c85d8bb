//! Feeds arbitrary JSON documents to the WoT Thing Description importer; an imported model must
//! be valid and export again.
#![no_main]

use kaiwu_model::DeviceType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(td) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(dt) = DeviceType::from_wot(&td, None) {
        dt.validate().expect("an imported model is valid");
        let _ = dt.to_wot();
    }
});
