use kaiwu_core::Batch;
use kaiwu_model::{BatchBuilder, DeviceType};

pub(crate) fn model() -> DeviceType {
    DeviceType::from_json(br#"{"id":"m","properties":[{"id":"v","type":"float","max":100}]}"#)
        .unwrap()
}

/// A batch of type `m` with one float property `v`.
pub(crate) fn batch(tenant: &str, rows: &[(&str, i64, f64)]) -> Batch {
    let dt = model();
    let mut b = BatchBuilder::new(tenant, &dt);
    for (d, ts, v) in rows {
        let mut m = serde_json::Map::new();
        m.insert("v".into(), (*v).into());
        b.push_json(d, *ts, &m).unwrap();
    }
    b.finish().unwrap()
}
