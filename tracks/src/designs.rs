//! The bundled tracks: our own designs, stored as JSON in `tracks/data/` and regenerated from
//! the control points below by the ignored test `regenerate_bundled_data`.
#[cfg(test)]
use crate::DVec2;

pub(crate) const BUILTIN_NAMES: &[&str] = &["oval", "circuit", "technical"];

pub(crate) fn builtin_json(name: &str) -> Option<&'static str> {
    match name {
        "oval" => Some(include_str!("../data/oval.json")),
        "circuit" => Some(include_str!("../data/circuit.json")),
        "technical" => Some(include_str!("../data/technical.json")),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) struct Design {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) width: f64,
    pub(crate) spacing: f64,
    /// Counter-clockwise control points, metres; waypoint 0 is the first. Laid out as
    /// straights and circular arcs (points every ~1.2 m and every <= 45 degrees), which the
    /// spline then rounds off.
    pub(crate) control: &'static [(f64, f64)],
}

#[cfg(test)]
impl Design {
    pub(crate) fn control_points(&self) -> Vec<DVec2> {
        self.control.iter().map(|&(x, y)| DVec2::new(x, y)).collect()
    }
}

#[cfg(test)]
pub(crate) const DESIGNS: &[Design] = &[
    Design {
        name: "oval",
        description: "A stadium oval: two 2.6 m straights joined by half circles of 1.5 m radius.",
        width: 1.07,
        spacing: 0.15,
        control: &[
            (0.000, 0.000), (1.300, 0.000), (2.050, 0.201), (2.599, 0.750), (2.800, 1.500), (2.599, 2.250),
            (2.050, 2.799), (1.300, 3.000), (0.000, 3.000), (-1.300, 3.000), (-2.182, 2.714),
            (-2.727, 1.964), (-2.727, 1.036), (-2.182, 0.286), (-1.300, 0.000),
        ],
    },
    Design {
        name: "circuit",
        description: "In the spirit of the re:Invent tracks: a long straight, two sweeping left-handers, a chicane-like kink, a tight left-hander (0.7 m radius), an inward right-hander and a long sweeper back onto the straight.",
        width: 0.9,
        spacing: 0.15,
        control: &[
            (0.000, 0.000), (1.500, 0.000), (3.000, 0.000), (3.650, 0.174), (4.126, 0.650), (4.300, 1.300),
            (4.300, 2.310), (4.300, 3.320), (4.072, 4.170), (3.450, 4.792), (2.600, 5.020), (1.800, 5.020),
            (1.300, 4.886), (0.800, 4.752), (0.000, 4.886), (-0.500, 5.020), (-1.300, 5.020),
            (-1.676, 4.910), (-1.934, 4.616), (-1.994, 4.228), (-1.836, 3.870), (-1.515, 3.487),
            (-1.281, 2.844), (-1.515, 2.201), (-1.978, 1.357), (-1.876, 0.693), (-1.433, 0.188),
            (-0.788, -0.000),
        ],
    },
    Design {
        name: "technical",
        description: "Technical: long straights, two narrow fingers ending in hairpins (0.7 m radius) and a run of 90-degree corners.",
        width: 1.07,
        spacing: 0.15,
        control: &[
            (0.000, 0.000), (1.250, 0.000), (2.500, 0.000), (3.750, 0.000), (5.000, 0.000), (5.750, 0.201),
            (6.299, 0.750), (6.500, 1.500), (6.500, 2.833), (6.500, 4.167), (6.500, 5.500), (6.339, 6.100),
            (5.900, 6.539), (5.300, 6.700), (4.400, 6.700), (3.500, 6.700), (3.100, 6.593), (2.807, 6.300),
            (2.700, 5.900), (2.700, 4.767), (2.700, 3.633), (2.700, 2.500), (2.566, 2.089), (2.216, 1.834),
            (1.784, 1.834), (1.434, 2.089), (1.300, 2.500), (1.300, 3.633), (1.300, 4.767), (1.300, 5.900),
            (1.193, 6.300), (0.900, 6.593), (0.500, 6.700), (-0.625, 6.700), (-1.750, 6.700),
            (-2.875, 6.700), (-4.000, 6.700), (-4.600, 6.539), (-5.039, 6.100), (-5.200, 5.500),
            (-5.093, 4.900), (-4.800, 4.607), (-4.400, 4.500), (-3.050, 4.500), (-1.700, 4.500),
            (-1.289, 4.366), (-1.034, 4.016), (-1.034, 3.584), (-1.289, 3.234), (-1.700, 3.100),
            (-3.050, 3.100), (-4.400, 3.100), (-4.800, 2.993), (-5.093, 2.700), (-5.200, 2.300),
            (-5.200, 1.000), (-5.066, 0.500), (-4.700, 0.134), (-4.200, -0.000), (-3.150, -0.000),
            (-2.100, -0.000), (-1.050, 0.000),
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Track;

    fn generate(d: &Design) -> Track {
        Track::from_control_points(d.name, &d.control_points(), d.width, d.spacing)
            .unwrap_or_else(|e| panic!("{}: {e}", d.name))
            .with_description(d.description)
    }

    fn svg(t: &Track, line: &crate::RacingLine, path: &str) {
        let (lo, hi) = t.bounds();
        let sc = 80.0;
        let tx = |p: DVec2| ((p.x - lo.x) * sc + 10.0, (hi.y - p.y) * sc + 10.0);
        let poly = |pts: &[DVec2], col: &str, closed: bool| {
            let mut d = String::new();
            for (i, p) in pts.iter().enumerate() {
                let (x, y) = tx(*p);
                d.push_str(&format!("{}{x:.1},{y:.1} ", if i == 0 { "M" } else { "L" }));
            }
            if closed {
                d.push('Z');
            }
            format!("<path d=\"{d}\" fill=\"none\" stroke=\"{col}\" stroke-width=\"1.5\"/>\n")
        };
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0}\" height=\"{:.0}\"><rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
            (hi.x - lo.x) * sc + 20.0,
            (hi.y - lo.y) * sc + 20.0
        );
        out += &poly(t.left_border(), "black", true);
        out += &poly(t.right_border(), "black", true);
        out += &poly(t.waypoints(), "#bbb", true);
        out += &poly(&line.points, "red", true);
        let (x, y) = tx(t.waypoints()[0]);
        out += &format!("<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"green\"/>\n</svg>\n");
        std::fs::write(path, out).unwrap();
    }

    /// Prints figures of each design and draws it to /tmp/track_NAME.svg (design aid).
    #[test]
    #[ignore]
    fn design_report() {
        let limits = crate::LapLimits { top_speed: 4.0, max_lateral_accel: 6.0, max_accel: 3.0, max_brake: 4.0, border_margin: 0.12 };
        for d in DESIGNS {
            let t = generate(d);
            let line = crate::RacingLine::compute(&t, &limits).unwrap();
            let centre = crate::RacingLine::along_centre(&t, &limits).unwrap();
            eprintln!(
                "{}: length {:.2} m, {} waypoints, min radius {:.2} m, layout {:?}, area {:.1}, lap {:.2} s (centre {:.2} s), line {:.2} m",
                d.name,
                t.length(),
                t.waypoints().len(),
                t.min_turn_radius(),
                crate::generate::layout_problem(&t, 0.0, 0.0),
                crate::geometry::signed_area2(t.waypoints()) / 2.0,
                line.lap_time,
                centre.lap_time,
                line.length
            );
            svg(&t, &line, &format!("/tmp/track_{}.svg", d.name));
        }
    }

    #[test]
    #[ignore]
    fn draw_random() {
        let limits = crate::LapLimits { top_speed: 4.0, max_lateral_accel: 6.0, max_accel: 3.0, max_brake: 4.0, border_margin: 0.12 };
        for name in ["random:1", "random:2", "random:3", "random:4"] {
            let t = Track::resolve(name).unwrap();
            let line = crate::RacingLine::compute(&t, &limits).unwrap();
            svg(&t, &line, &format!("/tmp/track_{}.svg", name.replace(':', "_")));
        }
    }

    #[test]
    fn bundled_data_matches_the_designs() {
        assert_eq!(BUILTIN_NAMES.len(), DESIGNS.len());
        for d in DESIGNS {
            let fresh = generate(d);
            let stored = Track::builtin(d.name).unwrap();
            assert_eq!(stored.name(), d.name);
            assert_eq!(stored.description(), d.description);
            assert_eq!(stored.waypoints().len(), fresh.waypoints().len(), "{}: regenerate the data", d.name);
            for (a, b) in stored.waypoints().iter().zip(fresh.waypoints()) {
                assert!(a.distance(*b) < 1e-3, "{}: data differs from design; regenerate it", d.name);
            }
            assert_eq!(stored.widths(), fresh.widths());
        }
    }

    #[test]
    fn bundled_tracks_meet_their_specs() {
        // (name, length range, width, smallest turn radius)
        let specs = [("oval", 12.0..16.0, 1.07, 1.0), ("circuit", 17.0..25.0, 0.9, 0.6), ("technical", 45.0..60.0, 1.07, 0.6)];
        for (name, lengths, width, radius) in specs {
            let t = Track::resolve(name).unwrap();
            assert!(lengths.contains(&t.length()), "{name}: {}", t.length());
            assert!(t.widths().iter().all(|&w| w == width), "{name}");
            assert!(t.min_turn_radius() >= radius, "{name}: {}", t.min_turn_radius());
            assert!(t.is_closed() && t.crossings() == 0, "{name}");
            assert!(crate::geometry::signed_area2(t.waypoints()) > 0.0, "{name} must run counter-clockwise");
            assert!(crate::generate::layout_problem(&t, radius, 0.15).is_none(), "{name}");
            let n = t.waypoints().len();
            for i in 0..n {
                let gap = t.waypoints()[i].distance(t.waypoints()[(i + 1) % n]);
                assert!((0.05..=0.2).contains(&gap), "{name}: waypoint spacing {gap}");
            }
        }
        // The technical track has (at least) two hairpins: turns of ~180 degrees within 3 m.
        let t = Track::builtin("technical").unwrap();
        let mut hairpins = 0;
        let mut s = 0.0;
        while s < t.length() {
            let turn = crate::geometry::wrap_angle(t.pose_at(s + 3.0).1 - t.pose_at(s).1).abs();
            if turn > 0.95 * std::f64::consts::PI {
                hairpins += 1;
                s += 3.0;
            } else {
                s += 0.05;
            }
        }
        assert!(hairpins >= 2, "{hairpins} hairpins");
    }

    /// Writes `tracks/data/*.json` from the designs:
    /// `cargo test -p paddock-tracks -- --ignored regenerate_bundled_data`.
    #[test]
    #[ignore]
    fn regenerate_bundled_data() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
        for d in DESIGNS {
            let path = format!("{dir}/{}.json", d.name);
            std::fs::write(&path, generate(d).to_json_string()).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    }
}
