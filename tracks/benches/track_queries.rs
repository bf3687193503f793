//! Query and racing-line speed on the bundled tracks.
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use paddock_tracks::{DVec2, LapLimits, RacingLine, Track};

const LIMITS: LapLimits = LapLimits { top_speed: 4.0, max_lateral_accel: 6.0, max_accel: 3.0, max_brake: 4.0, border_margin: 0.12 };

/// Points near the track, as a car would visit them: along the lap, weaving across it.
fn car_path(track: &Track, count: usize) -> Vec<DVec2> {
    (0..count)
        .map(|i| {
            let s = track.length() * i as f64 / count as f64;
            let (p, heading) = track.pose_at(s);
            p + DVec2::from_angle(heading).perp() * (0.6 * (i as f64 * 0.37).sin())
        })
        .collect()
}

fn queries(c: &mut Criterion) {
    let track = Track::builtin("circuit").expect("bundled track");
    let path = car_path(&track, 1000);
    c.bench_function("project with hint (circuit)", |b| {
        let mut i = 0;
        let mut hint = Some(0);
        b.iter(|| {
            let pr = track.project(black_box(path[i]), hint);
            hint = Some(pr.segment);
            i = (i + 1) % path.len();
            pr
        })
    });
    c.bench_function("project without hint (circuit)", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % path.len();
            track.project(black_box(path[i]), None)
        })
    });
    c.bench_function("is_on_track (circuit)", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % path.len();
            track.is_on_track(black_box(path[i]))
        })
    });
    c.bench_function("RacingLine::compute (circuit)", |b| b.iter(|| RacingLine::compute(black_box(&track), &LIMITS).expect("racing line")));
    let technical = Track::builtin("technical").expect("bundled track");
    c.bench_function("RacingLine::compute (technical, 50 m)", |b| b.iter(|| RacingLine::compute(black_box(&technical), &LIMITS).expect("racing line")));
}

criterion_group!(benches, queries);
criterion_main!(benches);
