use super::*;

fn mill(seed: u64, bearing_fault: bool, fault_growth: f64) -> CncMill {
    CncMill::new(MillConfig {
        seed,
        bearing_fault,
        fault_growth,
    })
}

fn run(m: &mut CncMill, secs: usize) -> Vec<MillSample> {
    (0..secs).map(|_| m.step(1.0)).collect()
}

#[test]
fn deterministic_for_seed_and_steps() {
    let a = run(&mut mill(11, true, 10.0), 3000);
    let b = run(&mut mill(11, true, 10.0), 3000);
    assert_eq!(a, b);
    let c = run(&mut mill(12, true, 10.0), 3000);
    assert_ne!(a, c);
}

#[test]
fn signals_stay_in_plausible_ranges() {
    let mut m = mill(3, false, 1.0);
    let samples = run(&mut m, 4 * 3600);
    let (mut running, mut light) = (0, 0);
    for s in &samples {
        assert!((0.0..=12_200.0).contains(&s.spindle_speed), "{s:?}");
        assert!((0.0..=150.0).contains(&s.spindle_load), "{s:?}");
        assert!((15.0..=80.0).contains(&s.temperature), "{s:?}");
        assert!((0.0..4.0).contains(&s.vibration), "{s:?}");
        if s.state == MillState::Running && s.spindle_speed > 7900.0 {
            running += 1;
            // Only while spinning down after a program is a fast spindle not cutting.
            light += usize::from(s.spindle_load < 10.0);
        }
        if s.state == MillState::Idle {
            assert!(s.spindle_speed == 0.0 && s.vibration < 0.1, "{s:?}");
        }
    }
    assert!(light * 50 < running, "{light} of {running}");
    // Mostly producing, with idle gaps between parts.
    assert!(running > samples.len() / 3, "{running}");
    assert!(samples.iter().any(|s| s.state == MillState::Idle));
    let parts = samples.last().map(|s| s.part_count).unwrap_or(0);
    assert!(parts > 20, "{parts}");
    assert!(
        samples
            .windows(2)
            .all(|w| w[1].part_count >= w[0].part_count)
    );
}

#[test]
fn temperature_follows_load() {
    let mut m = mill(5, false, 1.0);
    let samples = run(&mut m, 2 * 3600);
    let hot = samples.iter().map(|s| s.temperature).fold(0.0, f64::max);
    assert!(hot > AMBIENT_C + 10.0, "{hot}");
}

#[test]
fn feed_override_raises_load_and_is_clamped() {
    let mut slow = mill(9, false, 1.0);
    let mut fast = mill(9, false, 1.0);
    assert_eq!(slow.set_feed_override(50), 50);
    assert_eq!(fast.set_feed_override(1000), FEED_OVERRIDE_MAX);
    let mean_load = |m: &mut CncMill| {
        let cutting: Vec<f64> = run(m, 3600)
            .iter()
            .filter(|s| s.spindle_speed > 7900.0)
            .map(|s| s.spindle_load)
            .collect();
        cutting.iter().sum::<f64>() / cutting.len().max(1) as f64
    };
    let (l_slow, l_fast) = (mean_load(&mut slow), mean_load(&mut fast));
    assert!(l_fast > l_slow * 1.5, "{l_slow} {l_fast}");
}

#[test]
fn bearing_fault_grows_and_trips() {
    let mut healthy = mill(21, false, 20.0);
    let mut worn = mill(21, true, 20.0);
    // Mean running vibration in the first and the fifth ten minutes.
    let mean_running = |s: &[MillSample]| {
        let v: Vec<f64> = s
            .iter()
            .filter(|s| s.spindle_speed > 7900.0)
            .map(|s| s.vibration)
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let h = run(&mut healthy, 3000);
    let w = run(&mut worn, 3000);
    assert!(mean_running(&h[2400..]) < 2.0);
    let (early, late) = (mean_running(&w[..600]), mean_running(&w[2400..]));
    assert!(early < 2.5 && late > early + 1.0, "{early} {late}");
    let w2 = run(&mut worn, 3000);
    assert!(w2.iter().any(|s| s.state == MillState::Fault));
    assert!(w2.iter().any(|s| s.status_word() & 0b100 != 0));
}

#[test]
fn fault_episodes_are_rare_but_happen() {
    let mut m = mill(4, false, 1.0);
    let samples = run(&mut m, 24 * 3600);
    let faulted = samples
        .iter()
        .filter(|s| s.state == MillState::Fault)
        .count();
    assert!(faulted > 0 && faulted < samples.len() / 20, "{faulted}");
}

#[test]
fn disabled_mill_finishes_and_stays_idle() {
    let mut m = mill(8, false, 1.0);
    m.set_enabled(false);
    let samples = run(&mut m, 600);
    assert!(samples[300..].iter().all(|s| s.state == MillState::Idle));
}
