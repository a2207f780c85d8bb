use serde_json::{Value, json};

use super::{ACME, fixture};
use crate::{Agg, Error, HistoryRequest, QueryEngine};

fn keys(k: &[&str]) -> Vec<String> {
    k.iter().map(|s| (*s).to_owned()).collect()
}

async fn history(e: &QueryEngine, device: &str, req: HistoryRequest) -> Value {
    let h = e.history(ACME, device, req).await.unwrap();
    serde_json::to_value(h).unwrap()
}

fn agg(k: &[&str], interval: i64, a: Agg) -> HistoryRequest {
    HistoryRequest {
        keys: keys(k),
        interval_ms: Some(interval),
        agg: Some(a),
        ..HistoryRequest::default()
    }
}

#[tokio::test]
async fn raw_values_newest_first() {
    let fx = fixture();
    let e = fx.engine();
    let h = history(
        &e,
        "m1",
        HistoryRequest {
            keys: keys(&["speed"]),
            limit: Some(3),
            ..HistoryRequest::default()
        },
    )
    .await;
    assert_eq!(
        h,
        json!({"speed": [{"ts": 7500, "value": 75.0}, {"ts": 7000, "value": 70.0},
                         {"ts": 4000, "value": 40.0}]})
    );
    let h = history(
        &e,
        "m1",
        HistoryRequest {
            from: Some(2000),
            to: Some(4000),
            ..HistoryRequest::default()
        },
    )
    .await;
    assert_eq!(
        h,
        json!({"speed": [{"ts": 3000, "value": 150.0}, {"ts": 2000, "value": 30.0}],
               "state": [{"ts": 2000, "value": 0}]})
    );
    let h = history(&e, "p1", HistoryRequest::default()).await;
    assert_eq!(
        h["on"],
        json!([{"ts": 2000, "value": false}, {"ts": 1000, "value": true}])
    );
    assert_eq!(h["cfg"], json!([{"ts": 1000, "value": {"a": 1}}]));
    assert_eq!(h["since"], json!([{"ts": 2000, "value": 1234}]));
    assert_eq!(h["flow"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn aggregated_buckets_ascending() {
    let fx = fixture();
    let e = fx.engine();
    let h = history(&e, "m1", agg(&["speed"], 3000, Agg::Avg)).await;
    assert_eq!(
        h,
        json!({"speed": [{"ts": 0, "value": 20.0}, {"ts": 3000, "value": 95.0},
                         {"ts": 6000, "value": 72.5}]})
    );
    let h = history(&e, "m1", agg(&["temp"], 5000, Agg::First)).await;
    assert_eq!(
        h,
        json!({"temp": [{"ts": 0, "value": 60}, {"ts": 5000, "value": 62}]})
    );
    let h = history(&e, "m1", agg(&["temp"], 5000, Agg::Last)).await;
    assert_eq!(
        h,
        json!({"temp": [{"ts": 0, "value": 60}, {"ts": 5000, "value": 63}]})
    );
    let h = history(&e, "m1", agg(&["state", "note"], 10_000, Agg::Count)).await;
    assert_eq!(
        h,
        json!({"note": [{"ts": 0, "value": 1}], "state": [{"ts": 0, "value": 2}]})
    );
    let h = history(&e, "m1", agg(&["speed"], 3000, Agg::Max)).await;
    assert_eq!(h["speed"][1], json!({"ts": 3000, "value": 150.0}));
    let h = history(&e, "m1", agg(&["temp"], 10_000, Agg::Sum)).await;
    assert_eq!(h, json!({"temp": [{"ts": 0, "value": 185}]}));
}

#[tokio::test]
async fn buckets_without_data_are_filled_when_the_range_is_closed() {
    let fx = fixture();
    let e = fx.engine();
    let h = history(
        &e,
        "m1",
        HistoryRequest {
            from: Some(1000),
            to: Some(15_000),
            ..agg(&["speed"], 3000, Agg::Min)
        },
    )
    .await;
    assert_eq!(
        h,
        json!({"speed": [{"ts": 0, "value": 10.0}, {"ts": 3000, "value": 40.0},
                         {"ts": 6000, "value": 70.0}, {"ts": 9000, "value": null},
                         {"ts": 12000, "value": null}]})
    );
    let h = history(
        &e,
        "m1",
        HistoryRequest {
            from: Some(20_000),
            to: Some(26_000),
            limit: Some(1),
            ..agg(&["speed"], 3000, Agg::Avg)
        },
    )
    .await;
    assert_eq!(h, json!({"speed": [{"ts": 18000, "value": null}]}));
}

#[tokio::test]
async fn bad_requests_are_refused() {
    let fx = fixture();
    let e = fx.engine();
    for device in ["nope", "s1"] {
        let err = e
            .history(ACME, device, HistoryRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    }
    let cases = [
        (
            HistoryRequest {
                keys: keys(&["speed", "bogus", "x"]),
                ..HistoryRequest::default()
            },
            "bogus, x",
        ),
        (
            HistoryRequest {
                interval_ms: Some(1000),
                ..HistoryRequest::default()
            },
            "together",
        ),
        (
            HistoryRequest {
                agg: Some(Agg::Avg),
                ..HistoryRequest::default()
            },
            "together",
        ),
        (agg(&["speed"], 0, Agg::Avg), "interval"),
        (
            agg(&["state", "speed", "note"], 1000, Agg::Avg),
            "not numeric: state, note",
        ),
        (
            HistoryRequest {
                from: Some(5),
                to: Some(5),
                ..HistoryRequest::default()
            },
            "before",
        ),
        (
            HistoryRequest {
                limit: Some(0),
                ..HistoryRequest::default()
            },
            "limit",
        ),
        (
            HistoryRequest {
                limit: Some(1_000_000),
                ..HistoryRequest::default()
            },
            "maximum",
        ),
        (
            HistoryRequest {
                from: Some(0),
                to: Some(1_000_000_000_000),
                ..agg(&["speed"], 1, Agg::Avg)
            },
            "buckets",
        ),
    ];
    for (req, needle) in cases {
        let err = e.history(ACME, "m1", req.clone()).await.unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(m) if m.contains(needle)),
            "{req:?}: {err:?}"
        );
    }
}

#[test]
fn agg_names() {
    for a in Agg::ALL {
        assert_eq!(a.as_str().parse::<Agg>().unwrap(), a);
    }
    assert!("AVG".parse::<Agg>().is_err());
    assert!("median".parse::<Agg>().is_err());
}
