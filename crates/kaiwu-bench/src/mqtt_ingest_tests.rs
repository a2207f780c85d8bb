//! Tests of the MQTT ingest scenario's tables and goals.
use super::*;

fn run(acked: u64, secs: f64, p99: u64, stored: Option<u64>) -> Run {
    Run {
        load: LoadResult {
            acked_in_window: acked,
            acked_total: acked,
            window_seconds: secs,
            p50_us: Some(p99 / 2),
            p99_us: Some(p99),
            broker_cpu: Some(secs),
            ..LoadResult::default()
        },
        paced: None,
        peak_rss_kib: Some(10_240),
        stored,
    }
}

#[test]
fn table_and_goals_show_rates_ratio_and_counts() {
    let k = [run(1_000_000, 10.0, 5_000, Some(1_000_000))];
    let p = [run(500_000, 10.0, 1_000, None)];
    let t = table(&k, &p, "Mosquitto", None, 500);
    assert!(
        t.contains("| 100.0 k | 300.0 k | 1.00 (reference) |"),
        "{t}"
    );
    assert!(t.contains("| 2.00x |"), "{t}");
    assert!(t.contains("1000000 / 1000000"), "{t}");
    let g = goals(&k);
    assert!(g.contains("reached 300.0 k data points/s (met)"), "{g}");
    assert!(g.contains("counted by SQL afterwards: yes"), "{g}");
    assert!(g.contains("reached 5.00 ms (met)"), "{g}");
    let mut with_paced = run(1_000_000, 10.0, 500_000, Some(1_100_000));
    with_paced.paced = Some(LoadResult {
        acked_in_window: 100_000,
        acked_total: 100_000,
        window_seconds: 5.0,
        p50_us: Some(2_000),
        p99_us: Some(8_000),
        max_us: Some(9_000),
        offered_per_s: Some(20_000.0),
        broker_cpu: Some(2.5),
        ..LoadResult::default()
    });
    let pt = paced_table(std::slice::from_ref(&with_paced), &[], "Mosquitto");
    assert!(
        pt.contains("| 20.0 k | 60.0 k | 20.0 k | 2.00 ms | 8.00 ms | 9.00 ms | 0 | 50 % |"),
        "{pt}"
    );
    let g = goals(std::slice::from_ref(&with_paced));
    assert!(
        g.contains("8.00 ms at 60.0 k data points/s offered (NOT met)"),
        "{g}"
    );
    assert!(g.contains("afterwards: yes"), "{g}");
    let bad = goals(&[run(10, 1.0, 30_000, Some(9))]);
    assert!(
        bad.contains("NOT met") && bad.contains("afterwards: NO"),
        "{bad}"
    );
}
