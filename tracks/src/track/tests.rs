//! Tests of the track model and its lap queries.
use super::*;
use std::f64::consts::{PI, TAU};

fn circle(r: f64, n: usize, width: f64) -> Track {
    let wp: Vec<DVec2> = (0..n).map(|i| DVec2::from_angle(TAU * i as f64 / n as f64) * r).collect();
    Track::new("circle", wp, vec![width; n], true).unwrap()
}

#[test]
fn projection_on_a_circle() {
    let r = 3.0;
    let n = 400;
    let t = circle(r, n, 1.0);
    // The polygon's length is a hair short of the circle's.
    assert!((t.length() - TAU * r).abs() < 1e-3);
    for k in 0..50 {
        let angle = 0.1 + TAU * k as f64 / 50.0 * 0.999;
        for radial in [2.6, 3.0, 3.3, 5.0] {
            let p = DVec2::from_angle(angle) * radial;
            let pr = t.project(p, None);
            // Left of a counter-clockwise loop is inside: lateral = R - r.
            assert!((pr.lateral - (r - radial)).abs() < 2e-3, "{angle} {radial}: {}", pr.lateral);
            assert_eq!(pr.is_left_of_centre(), radial < r);
            // Off the centre line, a chord's foot point shifts by up to (radial/R - 1) * half a segment.
            assert!((pr.progress - 100.0 * angle / TAU).abs() < 0.1, "{} vs {}", pr.progress, angle);
            // Tangent of the circle at the projected point.
            let heading = wrap_angle(TAU * pr.s / t.length() + PI / 2.0);
            assert!(wrap_angle(pr.heading - heading).abs() < 1e-3);
            assert!((pr.half_width - 0.5).abs() < 1e-12);
            assert_eq!(pr.next_waypoint, (pr.prev_waypoint + 1) % n);
            assert_eq!(t.is_on_track(p), (radial - r).abs() <= 0.5);
            let hinted = t.project(p, Some((pr.segment + 5) % n));
            assert_eq!(hinted.segment, pr.segment);
            assert!((hinted.s - pr.s).abs() < 1e-12);
        }
    }
}

#[test]
fn hinted_and_global_projection_agree_along_a_lap() {
    let t = Track::builtin("technical").unwrap();
    let mut hint = None;
    let mut s = 0.0;
    while s < t.length() {
        let (c, h) = t.pose_at(s);
        let p = c + DVec2::from_angle(h).perp() * (0.4 * (s * 1.3).sin());
        let global = t.project(p, None);
        let local = t.project(p, hint);
        assert_eq!(global.segment, local.segment, "s={s}");
        assert!((global.s - local.s).abs() < 1e-9);
        assert!((global.s - s).abs() < 0.05 || (global.s - s).abs() > t.length() - 0.05, "s={s}: {}", global.s);
        hint = Some(local.segment);
        s += 0.07;
    }
    // A hint far from the point (a reset) still finds the right place.
    let p = t.waypoints()[100];
    assert_eq!(t.project(p, Some(0)).s, t.waypoint_s()[100]);
    // An out-of-range hint is ignored rather than trusted.
    assert_eq!(t.project(p, Some(1_000_000)).s, t.waypoint_s()[100]);
}

#[test]
fn grid_search_matches_brute_force() {
    let t = Track::builtin("random:7").unwrap();
    let (lo, hi) = t.bounds();
    let mut state = 12345u64;
    let mut rnd = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for _ in 0..3000 {
        // Points inside the bounds and well outside them.
        let p = lo - (hi - lo) * 0.5 + (hi - lo) * 2.0 * DVec2::new(rnd(), rnd());
        let best = (0..t.segment_count()).map(|i| t.seg_dist2(i, p).1).fold(f64::INFINITY, f64::min);
        let pr = t.project(p, None);
        assert!((pr.lateral.abs() - best.sqrt()).abs() < 1e-9, "{p}: {} vs {}", pr.lateral, best.sqrt());
        let on = (0..t.segment_count()).any(|i| {
            let (s, d2) = t.seg_dist2(i, p);
            let hw = 0.5 * (t.widths[i] + (t.widths[t.next(i)] - t.widths[i]) * s);
            d2 <= hw * hw
        });
        assert_eq!(t.is_on_track(p), on, "{p}");
    }
}

#[test]
fn queries_far_away_and_nan_do_not_panic() {
    let t = Track::builtin("oval").unwrap();
    let far = t.project(DVec2::new(1e6, -3e5), None);
    assert!(far.lateral.abs() > 1e5);
    assert!(!t.is_on_track(DVec2::new(1e6, 0.0)));
    let _ = t.project(DVec2::NAN, None);
    let _ = t.project(DVec2::NAN, Some(3));
    assert!(!t.is_on_track(DVec2::NAN));
    let _ = t.pose_at(f64::NAN);
    let _ = t.curvature_at(f64::INFINITY);
}

#[test]
fn pose_and_curvature_on_a_circle() {
    let r = 2.0;
    let t = circle(r, 300, 1.0);
    for k in 0..40 {
        let s = t.length() * k as f64 / 40.0;
        let (p, h) = t.pose_at(s);
        assert!((p.length() - r).abs() < 1e-3);
        assert!(wrap_angle(h - (p.to_angle() + PI / 2.0)).abs() < 0.02);
        assert!((t.curvature_at(s) - 1.0 / r).abs() < 0.005, "{}", t.curvature_at(s));
    }
    // Wraps around a closed lap.
    assert!(t.pose_at(t.length() + 1.0).0.distance(t.pose_at(1.0).0) < 1e-9);
    assert!(t.pose_at(-1.0).0.distance(t.pose_at(t.length() - 1.0).0) < 1e-9);
    assert!((t.min_turn_radius() - r).abs() < 0.01);
}

#[test]
fn open_track_queries() {
    let wp: Vec<DVec2> = (0..11).map(|i| DVec2::new(i as f64 * 0.5, 0.0)).collect();
    let t = Track::new("straight", wp, vec![0.6; 11], false).unwrap();
    assert!(!t.is_closed());
    assert_eq!(t.segment_count(), 10);
    assert!((t.length() - 5.0).abs() < 1e-12);
    let pr = t.project(DVec2::new(5.0, -0.2), None);
    assert!((pr.progress - 100.0).abs() < 1e-9);
    assert!((pr.lateral + 0.2).abs() < 1e-12);
    assert_eq!((pr.prev_waypoint, pr.next_waypoint), (9, 10));
    assert_eq!(t.pose_at(99.0).0, DVec2::new(5.0, 0.0));
    assert_eq!(t.pose_at(-1.0).0, DVec2::ZERO);
    assert_eq!(t.curvature_at(2.5), 0.0);
    assert!(t.is_on_track(DVec2::new(2.0, 0.29)));
    assert!(!t.is_on_track(DVec2::new(2.0, 0.31)));
    let (lo, hi) = t.bounds();
    assert_eq!((lo, hi), (DVec2::new(0.0, -0.3), DVec2::new(5.0, 0.3)));
    assert_eq!(t.left_border()[3], DVec2::new(1.5, 0.3));
    assert_eq!(t.right_border()[3], DVec2::new(1.5, -0.3));
}

#[test]
fn reversed_track_runs_the_other_way_with_the_same_rows() {
    let t = Track::resolve("circuit").unwrap();
    let r = t.reversed();
    assert!(r.is_reversed() && !r.reversed().is_reversed());
    assert!((r.length() - t.length()).abs() < 1e-9);
    let p = t.pose_at(3.0).0 + DVec2::new(0.0, 0.05);
    let (a, b) = (t.project(p, None), r.project(p, None));
    assert!((a.lateral + b.lateral).abs() < 1e-9, "left becomes right");
    assert!((a.progress + b.progress - 100.0).abs() < 1e-6, "progress counts the other way");
    assert_eq!(r.waypoints()[0], t.waypoints()[0], "the start line stays");
    let heading_change = (a.heading - b.heading).rem_euclid(std::f64::consts::TAU);
    assert!((heading_change - std::f64::consts::PI).abs() < 1e-6);
    for i in 0..r.waypoints().len() {
        assert_eq!(r.source_waypoints()[r.source_index(i)], r.waypoints()[i]);
    }
}

#[test]
fn duplicates_are_dropped_but_source_rows_are_kept() {
    let p = DVec2::new;
    let wp = vec![p(0., 0.), p(1., 0.), p(1., 0.), p(1., 1.), p(0., 1.), p(0., 0.)];
    let t = Track::new("square", wp, vec![0.2; 6], true).unwrap();
    assert_eq!(t.waypoints(), &[p(0., 0.), p(1., 0.), p(1., 1.), p(0., 1.)]);
    assert_eq!(t.widths().len(), 4);
    assert!((t.length() - 4.0).abs() < 1e-12);
    // DeepRacer's params index the rows as given.
    assert_eq!(t.source_waypoints().len(), 6);
    let rows: Vec<usize> = (0..4).map(|i| t.source_index(i)).collect();
    assert_eq!(rows, vec![0, 1, 3, 4]);
    let pr = t.project(p(1.0, 0.5), None);
    assert_eq!((t.source_index(pr.prev_waypoint), t.source_index(pr.next_waypoint)), (1, 3));
}

fn message(r: Result<Track, TrackError>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn validation_errors_say_what_is_wrong() {
    let p = DVec2::new;
    let sq = || vec![p(0., 0.), p(1., 0.), p(1., 1.), p(0., 1.)];
    let m = message(Track::new("t", sq(), vec![0.2, 0.2, -0.1, 0.2], true));
    assert!(m.contains("width at waypoint 2 is -0.1"), "{m}");
    let m = message(Track::new("t", sq(), vec![0.2, f64::NAN, 0.2, 0.2], true));
    assert!(m.contains("waypoint 1"), "{m}");
    let mut bad = sq();
    bad[3].y = f64::INFINITY;
    let m = message(Track::new("t", bad, vec![0.2; 4], true));
    assert!(m.contains("waypoint 3 is not a finite point"), "{m}");
    let m = message(Track::new("t", sq(), vec![0.2; 3], true));
    assert!(m.contains("4 waypoints but 3 widths"), "{m}");
    let m = message(Track::new("t", vec![p(0., 0.), p(1., 0.), p(1., 0.)], vec![0.2; 3], true));
    assert!(m.contains("at least 3 distinct waypoints, got 2"), "{m}");
    let m = message(Track::new("t", vec![p(0., 0.)], vec![0.2], false));
    assert!(m.contains("at least 2"), "{m}");
    let m = message(Track::new("t", vec![p(0., 0.), p(1., 0.), p(0.5, 0.)], vec![0.2; 3], false));
    assert!(m.contains("doubles back on itself at waypoint 1"), "{m}");
    assert!(m.starts_with("track 't' is invalid"), "{m}");
}

#[test]
fn crossings_are_detected_and_can_be_allowed() {
    // A figure-eight: the loop's two lobes cross at the origin.
    let n = 200;
    let wp: Vec<DVec2> = (0..n)
        .map(|i| {
            let a = TAU * i as f64 / n as f64 + 0.01;
            DVec2::new(3.0 * a.sin(), 1.5 * (2.0 * a).sin())
        })
        .collect();
    let m = message(Track::new("eight", wp.clone(), vec![0.5; n], true));
    assert!(m.contains("crosses itself: segment"), "{m}");
    assert!(m.contains("crosses segment"), "{m}");
    let t = Track::new_allowing_crossings("eight", wp, vec![0.5; n], true).unwrap();
    assert_eq!(t.crossings(), 1);
    assert!(t.allows_crossings());
    // At the crossing, the hint keeps the projection on the branch being driven.
    let s1 = t.length() * 0.5 - 0.2;
    let (p1, _) = t.pose_at(s1);
    let seg = t.project(p1, None).segment;
    let (c, _) = t.pose_at(t.length() * 0.5 - 0.01 / TAU * t.length());
    let pr = t.project(c, Some(seg));
    assert!((pr.s - s1).abs() < 0.5, "{} vs {}", pr.s, s1);
    // Ordinary tracks have none.
    assert_eq!(Track::builtin("circuit").unwrap().crossings(), 0);
}

#[test]
fn unknown_names_list_the_known_ones() {
    for bad in ["nope", "random:x", "random:-1", "file.txt"] {
        match Track::resolve(bad) {
            Err(TrackError::UnknownTrack { name, known }) => {
                assert_eq!(name, bad);
                assert_eq!(known, "oval, circuit, technical");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    let m = Track::builtin("nope").unwrap_err().to_string();
    assert!(m.contains("oval, circuit, technical") && m.contains("random:SEED"), "{m}");
    match Track::resolve("/no/such/file.json") {
        Err(TrackError::Io { path, .. }) => {
            assert_eq!(path, std::path::Path::new("/no/such/file.json"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn widths_and_description() {
    let p = DVec2::new;
    let t = Track::new("t", vec![p(0., 0.), p(2., 0.), p(2., 2.), p(0., 2.)], vec![0.5, 1.0, 1.0, 0.5], true).unwrap().with_description("d");
    assert_eq!(t.description(), "d");
    assert_eq!(t.min_width(), 0.5);
    assert!((t.mean_width() - 0.75).abs() < 1e-12);
    assert!((t.width_at(1.0) - 0.75).abs() < 1e-12);
    assert!((t.project(p(1.0, 0.1), None).half_width - 0.375).abs() < 1e-12);
}
