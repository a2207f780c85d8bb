use std::time::Duration;

use serde_json::json;

use super::{ACME, fixture, query};
use crate::{Error, QueryLimits};

/// Never finishes: 10^2 x 10^12 rows (a small left side keeps each step of the join short).
const ENDLESS: &str = "SELECT count(*) FROM generate_series(1, 100) a \
                       CROSS JOIN generate_series(1, 1000000000000) b WHERE a.value + b.value < 0";

#[tokio::test]
async fn timeout_cancels_the_query_and_spares_others() {
    let fx = fixture();
    let e = fx.engine_with(QueryLimits {
        timeout: Duration::from_secs(2),
        ..QueryLimits::default()
    });
    let (slow, fast) = tokio::join!(
        e.sql(ACME, ENDLESS),
        e.sql(ACME, "SELECT count(*) FROM cnc")
    );
    let err = slow.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("time limit of 2 s"), "{err}");
    assert_eq!(err.kind(), kaiwu_core::ErrorKind::Invalid);
    assert_eq!(super::json_rows(&fast.unwrap()), vec![json!([10])]);
    // The engine is still usable after a cancelled query.
    assert_eq!(
        query(&e, "SELECT count(*) FROM pump").await,
        vec![json!([3])]
    );
}

#[tokio::test]
async fn timeout_answers_even_when_an_operator_does_not_yield() {
    // Each step of this join pairs 10^5 rows with a batch: seconds between two yields.
    let sql = "SELECT count(*) FROM generate_series(1, 100000) a \
               CROSS JOIN generate_series(1, 1000000000) b WHERE a.value + b.value < 0";
    let fx = fixture();
    let e = fx.engine_with(QueryLimits {
        timeout: Duration::from_millis(300),
        ..QueryLimits::default()
    });
    let err = e.sql(ACME, sql).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn memory_limit_is_enforced() {
    let fx = fixture();
    let e = fx.engine_with(QueryLimits {
        memory_bytes: 1 << 20,
        ..QueryLimits::default()
    });
    let err = e
        .sql(
            ACME,
            "SELECT value FROM generate_series(1, 5000000) ORDER BY value DESC",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ResourcesExhausted(_)), "{err:?}");
    assert!(err.to_string().contains("memory limit of 1 MiB"), "{err}");
    assert_eq!(err.kind(), kaiwu_core::ErrorKind::TooLarge);
    // Small queries still fit.
    assert_eq!(
        query(&e, "SELECT count(*) FROM cnc").await,
        vec![json!([10])]
    );
}

#[tokio::test]
async fn long_sql_text_is_refused() {
    let fx = fixture();
    let e = fx.engine();
    let sql = format!("SELECT 1 {}", " ".repeat(crate::MAX_SQL_BYTES));
    let err = e.sql(ACME, &sql).await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn deep_sql_is_refused_without_crashing() {
    let fx = fixture();
    let e = fx.engine();
    let chain = |n: usize, op: &str| format!("SELECT 1{}", op.repeat(n));
    for sql in [
        format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000)),
        // Deep enough to overflow the stack if planned; few enough tokens to be parsed.
        chain(24_000, " + 1"),
        chain(5000, " UNION ALL SELECT 1"),
        chain(300_000, "+1"),
        format!("SELECT 1 FROM cnc{}", " JOIN pump ON true".repeat(1200)),
        format!("SELECT named_struct('a', 1){}", "['a']".repeat(2000)),
    ] {
        let err = e.sql(ACME, &sql).await.unwrap_err();
        assert!(matches!(err, Error::Sql(_)), "{}: {err:?}", &sql[..40]);
    }
    // Long but reasonable chains still run.
    assert_eq!(query(&e, &chain(300, " + 1")).await, vec![json!([301])]);
    let ors = (0..300)
        .map(|i| format!("device = 'd{i}'"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let sql = format!("SELECT count(*) FROM cnc WHERE {ors} OR device = 'm1'");
    assert_eq!(query(&e, &sql).await, vec![json!([7])]);
}

#[tokio::test]
async fn the_collected_result_counts_against_the_memory_limit() {
    let fx = fixture();
    let e = fx.engine_with(QueryLimits {
        memory_bytes: 1 << 20,
        ..QueryLimits::default()
    });
    let err = e
        .sql(ACME, "SELECT value FROM generate_series(1, 1000000)")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ResourcesExhausted(_)), "{err:?}");
}

#[test]
fn engine_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let fx = fixture();
    let e = fx.engine();
    send(&e);
    send(&e.sql(ACME, "SELECT 1"));
    send(&e.history(ACME, "m1", crate::HistoryRequest::default()));
}
