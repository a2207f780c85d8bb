use super::*;

fn spans(plan: &[ReadRequest]) -> Vec<(Area, u16, u16)> {
    plan.iter().map(|r| (r.area, r.start, r.count)).collect()
}

#[test]
fn neighbours_coalesce_and_areas_stay_apart() {
    let points = [
        (Area::Holding, 10, 2),
        (Area::Holding, 0, 1),
        (Area::Input, 0, 1),
        (Area::Holding, 12, 1),
        (Area::Coil, 5, 1),
        (Area::Coil, 3, 1),
    ];
    let plan = plan_reads(&points, 10);
    assert_eq!(
        spans(&plan),
        [
            (Area::Coil, 3, 3),
            (Area::Input, 0, 1),
            (Area::Holding, 0, 13),
        ]
    );
    assert_eq!(plan[0].points, [5, 4]);
    assert_eq!(plan[2].points, [1, 0, 3]);
}

#[test]
fn max_gap_decides_joining() {
    let points = [(Area::Holding, 0, 1), (Area::Holding, 5, 1)];
    // Hole of 4 registers (1..=4).
    assert_eq!(plan_reads(&points, 4).len(), 1);
    assert_eq!(plan_reads(&points, 3).len(), 2);
    // Adjacent points join even with max_gap 0; overlapping ones too.
    let adjacent = [
        (Area::Input, 0, 2),
        (Area::Input, 2, 2),
        (Area::Input, 3, 1),
    ];
    assert_eq!(spans(&plan_reads(&adjacent, 0)), [(Area::Input, 0, 4)]);
}

#[test]
fn register_limit_is_125_and_points_are_not_split() {
    let points: Vec<_> = (0..200).map(|a| (Area::Holding, a, 1)).collect();
    assert_eq!(
        spans(&plan_reads(&points, 0)),
        [(Area::Holding, 0, 125), (Area::Holding, 125, 75)]
    );
    // A 2-register point at 124..126 would cross the limit: it starts the next request.
    let points = [(Area::Holding, 0, 124), (Area::Holding, 124, 2)];
    let plan = plan_reads(&points, 0);
    assert_eq!(
        spans(&plan),
        [(Area::Holding, 0, 124), (Area::Holding, 124, 2)]
    );
    let points = [(Area::Holding, 0, 123), (Area::Holding, 123, 2)];
    assert_eq!(spans(&plan_reads(&points, 0)), [(Area::Holding, 0, 125)]);
}

#[test]
fn bit_limit_is_2000() {
    let points: Vec<_> = (0..2500).map(|a| (Area::Discrete, a, 1)).collect();
    let plan = plan_reads(&points, 0);
    assert_eq!(
        spans(&plan),
        [(Area::Discrete, 0, 2000), (Area::Discrete, 2000, 500)]
    );
    assert_eq!(plan[0].points.len(), 2000);
}

#[test]
fn plans_are_deterministic_and_cover_every_point_once() {
    let points: Vec<_> = (0..300u16)
        .map(|i| (Area::Holding, i.wrapping_mul(7919) % 1000, 1 + i % 4))
        .collect();
    let a = plan_reads(&points, 3);
    assert_eq!(a, plan_reads(&points, 3));
    let mut seen: Vec<usize> = a.iter().flat_map(|r| r.points.clone()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..300).collect::<Vec<_>>());
    for r in &a {
        assert!(r.count <= MAX_READ_REGISTERS);
        for &p in &r.points {
            let (_, addr, w) = points[p];
            assert!(addr >= r.start && addr + w <= r.start + r.count);
        }
    }
}

#[test]
fn edge_cases() {
    assert!(plan_reads(&[], 5).is_empty());
    // Wider than one read: a request of its own, left for the client to reject.
    let plan = plan_reads(&[(Area::Holding, 0, 1), (Area::Holding, 1, 200)], 0);
    assert_eq!(
        spans(&plan),
        [(Area::Holding, 0, 1), (Area::Holding, 1, 200)]
    );
    // Near the top of the address space nothing overflows.
    let plan = plan_reads(
        &[(Area::Input, 65535, 1), (Area::Input, 65534, 1)],
        u16::MAX,
    );
    assert_eq!(spans(&plan), [(Area::Input, 65534, 2)]);
}
