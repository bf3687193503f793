//! Track files: our JSON format and DeepRacer `.npy` routes.
use std::path::Path;

use serde::Deserialize;

use crate::{DVec2, Track, TrackError};

pub(crate) const FORMAT: &str = "paddock-track";
pub(crate) const VERSION: u64 = 1;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackFile {
    #[allow(dead_code)]
    format: String,
    #[allow(dead_code)]
    version: u64,
    name: String,
    #[serde(default)]
    description: String,
    closed: bool,
    #[serde(default)]
    allow_crossings: bool,
    waypoints: Vec<[f64; 3]>,
}

pub(crate) fn parse_json(json: &str, path: &Path) -> Result<Track, TrackError> {
    let err = |message: String| TrackError::Json { path: path.to_path_buf(), message };
    // Check format and version first, so a newer file gets a version message rather than
    // complaints about fields this version does not know.
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| err(e.to_string()))?;
    let Some(obj) = value.as_object() else {
        return Err(err("expected a JSON object at the top level".into()));
    };
    match obj.get("format") {
        Some(serde_json::Value::String(f)) if f == FORMAT => {}
        Some(other) => return Err(err(format!("\"format\" must be \"{FORMAT}\", found {other}"))),
        None => return Err(err(format!("missing \"format\": \"{FORMAT}\""))),
    }
    match obj.get("version") {
        Some(v) if v.as_u64() == Some(VERSION) => {}
        Some(v) => {
            return Err(err(format!("unsupported \"version\" {v}: this build of Paddock reads version {VERSION}")));
        }
        None => return Err(err(format!("missing \"version\" (this build reads version {VERSION})"))),
    }
    let file: TrackFile = serde_json::from_str(json).map_err(|e| err(e.to_string()))?;
    let waypoints = file.waypoints.iter().map(|w| DVec2::new(w[0], w[1])).collect();
    let widths = file.waypoints.iter().map(|w| w[2]).collect();
    let track = if file.allow_crossings {
        Track::new_allowing_crossings(&file.name, waypoints, widths, file.closed)
    } else {
        Track::new(&file.name, waypoints, widths, file.closed)
    };
    track.map(|t| t.with_description(&file.description)).map_err(|e| in_file(e, path))
}

/// Adds the file to a validation error, so the user knows which file to fix.
fn in_file(e: TrackError, path: &Path) -> TrackError {
    match e {
        TrackError::Invalid { name, message } => TrackError::Invalid { name, message: format!("{message} (in {})", path.display()) },
        other => other,
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Rust prints the shortest decimal that reads back to the same f64, so this round-trips.
fn json_number(x: f64) -> String {
    format!("{x}")
}

pub(crate) fn to_json(track: &Track) -> String {
    let mut out = String::with_capacity(64 + 40 * track.waypoints().len());
    out.push_str("{\n");
    out.push_str(&format!("  \"format\": \"{FORMAT}\",\n  \"version\": {VERSION},\n"));
    out.push_str(&format!("  \"name\": {},\n", json_string(track.name())));
    out.push_str(&format!("  \"description\": {},\n", json_string(track.description())));
    out.push_str(&format!("  \"closed\": {},\n", track.is_closed()));
    out.push_str(&format!("  \"allow_crossings\": {},\n", track.allows_crossings()));
    out.push_str("  \"waypoints\": [\n");
    let n = track.waypoints().len();
    for (i, (p, w)) in track.waypoints().iter().zip(track.widths()).enumerate() {
        out.push_str(&format!("    [{}, {}, {}]{}\n", json_number(p.x), json_number(p.y), json_number(*w), if i + 1 < n { "," } else { "" }));
    }
    out.push_str("  ]\n}\n");
    out
}

const NPY_COLUMNS: [&str; 6] = ["center_x", "center_y", "inner_x", "inner_y", "outer_x", "outer_y"];

/// Rows of a DeepRacer route: N x 6 float64.
fn npy_rows(bytes: &[u8]) -> Result<Vec<[f64; 6]>, String> {
    let npy = npyz::NpyFile::new(bytes).map_err(|e| format!("not a readable .npy file: {e}"))?;
    match npy.dtype() {
        npyz::DType::Plain(ts) if ts.type_char() == npyz::TypeChar::Float && ts.size_field() == 8 => {}
        other => return Err(format!("expected float64 values, found dtype {}", other.descr())),
    }
    let shape = npy.shape().to_vec();
    if shape.len() != 2 || shape[1] != 6 {
        return Err(format!("expected an N x 6 array (center, inner, outer x/y per row), found shape {shape:?}"));
    }
    let fortran = npy.order() == npyz::Order::Fortran;
    let n = shape[0] as usize;
    let data: Vec<f64> = npy.into_vec::<f64>().map_err(|e| format!("cannot read the values: {e}"))?;
    if n.checked_mul(6) != Some(data.len()) {
        return Err(format!("expected 6 values per row for shape {shape:?}, found {}", data.len()));
    }
    let mut rows = Vec::with_capacity(n);
    for r in 0..n {
        let mut row = [0.0; 6];
        for (c, v) in row.iter_mut().enumerate() {
            *v = if fortran { data[c * n + r] } else { data[r * 6 + c] };
            if !v.is_finite() {
                return Err(format!("row {r}, column {c} ({}) is {v}, not a finite number", NPY_COLUMNS[c]));
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

pub(crate) fn read_npy(path: &Path) -> Result<Track, TrackError> {
    let bytes = std::fs::read(path).map_err(|source| TrackError::Io { path: path.to_path_buf(), source })?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "track".into());
    parse_npy(&bytes, &name, path)
}

/// A DeepRacer route from its bytes; `path` names it in errors and the description.
pub(crate) fn parse_npy(bytes: &[u8], name: &str, path: &Path) -> Result<Track, TrackError> {
    let err = |message: String| TrackError::Npy { path: path.to_path_buf(), message };
    let mut rows = npy_rows(bytes).map_err(err)?;
    if rows.len() < 2 {
        return Err(err(format!("has {} rows; a route needs at least 2 (3 for a loop)", rows.len())));
    }
    let centre = |r: &[f64; 6]| DVec2::new(r[0], r[1]);
    // DeepRacer closes a loop by repeating the first row at the end.
    let closed = rows.len() > 2 && centre(&rows[0]).distance(centre(&rows[rows.len() - 1])) <= 1e-3;
    if closed {
        rows.pop();
        if rows.len() < 3 {
            return Err(err(format!("a loop needs at least 3 distinct rows, found {}", rows.len())));
        }
    }
    let waypoints = rows.iter().map(centre).collect();
    let widths = rows.iter().map(|r| DVec2::new(r[2], r[3]).distance(DVec2::new(r[4], r[5]))).collect();
    Track::new_allowing_crossings(name, waypoints, widths, closed)
        .map(|t| t.with_description(&format!("DeepRacer route imported from {}", path.display())))
        .map_err(|e| in_file(e, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_err(json: &str) -> String {
        match Track::from_json_str(json) {
            Ok(_) => panic!("expected an error for {json}"),
            Err(e) => e.to_string(),
        }
    }

    const TRIANGLE: &str = r#"{"format": "paddock-track", "version": 1, "name": "tri", "closed": true,
        "waypoints": [[0, 0, 1.0], [4, 0, 1.0], [2, 3, 1.2]]}"#;

    #[test]
    fn json_round_trip() {
        for name in Track::builtin_names() {
            let t = Track::builtin(name).unwrap();
            let back = Track::from_json_str(&t.to_json_string()).unwrap();
            assert_eq!(back.name(), t.name());
            assert_eq!(back.description(), t.description());
            assert_eq!(back.is_closed(), t.is_closed());
            assert_eq!(back.waypoints(), t.waypoints());
            assert_eq!(back.widths(), t.widths());
            assert_eq!(back.to_json_string(), t.to_json_string());
        }
        // Awkward numbers and strings survive too.
        let p = DVec2::new;
        let wp = vec![p(0.1 + 0.2, -0.0), p(1e-7, 12345.678901234567), p(-3.0, 1e10 / 3.0)];
        let t = Track::new("quote \" and \\ and ü\n", wp, vec![0.3, 1.0 / 3.0, 2.5e-3], false).unwrap().with_description("tab\there");
        let back = Track::from_json_str(&t.to_json_string()).unwrap();
        assert_eq!(back.waypoints(), t.waypoints());
        assert_eq!(back.widths(), t.widths());
        assert_eq!(back.name(), t.name());
        assert_eq!(back.description(), t.description());
        assert!(!back.is_closed());
        let t = Track::from_json_str(TRIANGLE).unwrap();
        assert_eq!(t.description(), "");
        assert!(!t.allows_crossings());
    }

    #[test]
    fn malformed_json_is_explained() {
        let m = json_err("{\"format\": ");
        assert!(m.contains("<inline JSON>") && m.contains("not valid JSON"), "{m}");
        let m = json_err("[1, 2]");
        assert!(m.contains("JSON object"), "{m}");
        let m = json_err(&TRIANGLE.replace("\"version\": 1", "\"version\": 2"));
        assert!(m.contains("unsupported \"version\" 2") && m.contains("reads version 1"), "{m}");
        let m = json_err(&TRIANGLE.replace("\"version\": 1,", ""));
        assert!(m.contains("missing \"version\""), "{m}");
        let m = json_err(&TRIANGLE.replace("paddock-track", "deepracer"));
        assert!(m.contains("\"format\" must be \"paddock-track\""), "{m}");
        let m = json_err(&TRIANGLE.replace("\"closed\"", "\"colour\": 3, \"closed\""));
        assert!(m.contains("unknown field `colour`"), "{m}");
        let m = json_err(&TRIANGLE.replace("[2, 3, 1.2]", "[2, 3]"));
        assert!(m.contains("invalid length 2"), "{m}");
        let m = json_err(&TRIANGLE.replace("[2, 3, 1.2]", "[2, 3, -1.2]"));
        assert!(m.contains("width at waypoint 2 is -1.2") && m.contains("track 'tri' is invalid"), "{m}");
        let m = json_err(&TRIANGLE.replace("[2, 3, 1.2]", "[2, NaN, 1.2]"));
        assert!(m.contains("not valid JSON"), "{m}");
        let m = json_err(&TRIANGLE.replace("\"name\": \"tri\",", ""));
        assert!(m.contains("missing field `name`"), "{m}");
        // A bow tie: crossing needs the explicit flag.
        let bow = r#"{"format": "paddock-track", "version": 1, "name": "bow", "closed": true,
            "waypoints": [[0, 0, 0.3], [2, 2, 0.3], [2, 0, 0.3], [0, 2, 0.3]]}"#;
        let m = json_err(bow);
        assert!(m.contains("segment 0 (waypoints 0-1) crosses segment 2 (waypoints 2-3)"), "{m}");
        let t = Track::from_json_str(&bow.replace("\"closed\"", "\"allow_crossings\": true, \"closed\"")).unwrap();
        assert_eq!(t.crossings(), 1);
        assert!(Track::from_json_str(&t.to_json_string()).is_ok());
    }

    #[test]
    fn json_files_name_the_file() {
        let dir = std::env::temp_dir().join(format!("paddock-tracks-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.json");
        std::fs::write(&path, TRIANGLE.replace("1.2]", "0]")).unwrap();
        let m = Track::resolve(path.to_str().unwrap()).unwrap_err().to_string();
        assert!(m.contains("bad.json") && m.contains("width at waypoint 2 is 0"), "{m}");
        let path = dir.join("good.json");
        std::fs::write(&path, TRIANGLE).unwrap();
        assert_eq!(Track::resolve(path.to_str().unwrap()).unwrap().name(), "tri");
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Writes a version 1.0 .npy file by hand (npyz would refuse the malformed ones we want).
    fn npy_bytes(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn f64_bytes(values: &[f64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn npy_err(name: &str, bytes: Vec<u8>) -> String {
        let dir = std::env::temp_dir().join(format!("paddock-npy-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.npy"));
        std::fs::write(&path, bytes).unwrap();
        let r = Track::from_npy_file(&path);
        std::fs::remove_dir_all(&dir).ok();
        match r {
            Ok(_) => panic!("{name}: expected an error"),
            Err(e) => e.to_string(),
        }
    }

    fn square_rows() -> Vec<f64> {
        let mut v = Vec::new();
        for (x, y) in [(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0), (0.0, 0.0)] {
            v.extend_from_slice(&[x, y, x, y + 0.3, x, y - 0.3]);
        }
        v
    }

    #[test]
    fn npy_errors_are_explained() {
        let ok = npy_bytes("<f8", "(5, 6)", &f64_bytes(&square_rows()));
        let dir = std::env::temp_dir().join(format!("paddock-npy-ok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("square.npy");
        std::fs::write(&path, &ok).unwrap();
        let t = Track::from_npy_file(&path).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(t.name(), "square");
        assert!(t.is_closed());
        assert_eq!(t.waypoints().len(), 4);
        assert!((t.widths()[1] - 0.6).abs() < 1e-12);

        let m = npy_err("f4", npy_bytes("<f4", "(5, 6)", &[0u8; 120]));
        assert!(m.contains("expected float64") && m.contains("<f4") && m.contains("f4.npy"), "{m}");
        let m = npy_err("shape", npy_bytes("<f8", "(6, 5)", &f64_bytes(&square_rows())));
        assert!(m.contains("N x 6") && m.contains("[6, 5]"), "{m}");
        let m = npy_err("flat", npy_bytes("<f8", "(30,)", &f64_bytes(&square_rows())));
        assert!(m.contains("N x 6"), "{m}");
        let mut rows = square_rows();
        rows[2 * 6 + 3] = f64::NAN;
        let m = npy_err("nan", npy_bytes("<f8", "(5, 6)", &f64_bytes(&rows)));
        assert!(m.contains("row 2, column 3 (inner_y) is NaN"), "{m}");
        let m = npy_err("one", npy_bytes("<f8", "(1, 6)", &f64_bytes(&square_rows()[..6])));
        assert!(m.contains("has 1 rows"), "{m}");
        let m = npy_err("short", npy_bytes("<f8", "(5, 6)", &f64_bytes(&square_rows()[..24])));
        assert!(m.contains("cannot read") || m.contains("expected 30 values"), "{m}");
        let m = npy_err("text", b"center_x,center_y\n1,2\n".to_vec());
        assert!(m.contains("not a readable .npy file"), "{m}");
        let mut rows = square_rows();
        rows[6 * 2 + 2..6 * 2 + 6].copy_from_slice(&[2.0, 2.0, 2.0, 2.0]);
        let m = npy_err("zero_width", npy_bytes("<f8", "(5, 6)", &f64_bytes(&rows)));
        assert!(m.contains("width at waypoint 2 is 0") && m.contains("zero_width.npy"), "{m}");
    }
    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        /// A valid route to mutate: the square loop as DeepRacer writes it.
        fn valid_npy() -> Vec<u8> {
            npy_bytes("<f8", "(5, 6)", &f64_bytes(&square_rows()))
        }

        fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
            for &(at, byte) in edits {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] = byte;
                }
            }
            if let Some(n) = cut {
                bytes.truncate(n % (bytes.len() + 1));
            }
            bytes
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

            /// Mutated DeepRacer files: a track or a clear error, never a panic.
            #[test]
            fn mutated_npy_files_parse_or_are_refused(edits in prop::collection::vec((0usize..400, any::<u8>()), 0..8), cut in prop::option::of(0usize..400)) {
                let bytes = mutate(valid_npy(), &edits, cut);
                if let Err(e) = Track::from_npy_bytes(&bytes, "fuzz") {
                    prop_assert!(!e.to_string().is_empty());
                }
            }

            /// Any bytes at all as a .npy.
            #[test]
            fn random_bytes_as_npy_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
                prop_assert!(Track::from_npy_bytes(&bytes, "fuzz").is_err() || bytes.starts_with(b"\x93NUMPY"));
            }

            /// Mutated JSON tracks (text edits of a real one) and arbitrary text.
            #[test]
            fn mutated_json_tracks_parse_or_are_refused(edits in prop::collection::vec((0usize..4000, 32u8..127), 0..6), cut in prop::option::of(0usize..4000), text in "\\PC{0,200}") {
                let json = Track::resolve("oval").unwrap().to_json_string().into_bytes();
                let bytes = mutate(json, &edits, cut);
                if let Ok(s) = std::str::from_utf8(&bytes) {
                    if let Err(e) = Track::from_json_str(s) {
                        prop_assert!(!e.to_string().is_empty());
                    }
                }
                let _ = Track::from_json_str(&text);
            }
        }
    }
}

/// The real DeepRacer routes in `../shared/tracks` (test data, not part of this repository).
#[cfg(test)]
mod deepracer_files {
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/tracks");

    fn files() -> Vec<std::path::PathBuf> {
        let entries = std::fs::read_dir(DIR)
            .unwrap_or_else(|e| panic!("DeepRacer test tracks not found at {DIR} ({e}); the tests need the shared/tracks folder beside the repository"));
        let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "npy")).collect();
        files.sort();
        assert!(files.len() >= 10, "expected the DeepRacer .npy files in {DIR}, found {}", files.len());
        files
    }

    /// Centre-line length straight from the raw rows, independent of the Track code.
    fn raw_length(path: &Path) -> f64 {
        let bytes = std::fs::read(path).unwrap();
        let rows: Vec<f64> = npyz::NpyFile::new(&bytes[..]).unwrap().into_vec().unwrap();
        rows.chunks(6).collect::<Vec<_>>().windows(2).map(|w| (w[1][0] - w[0][0]).hypot(w[1][1] - w[0][1])).sum()
    }

    #[test]
    fn every_deepracer_route_imports() {
        for path in files() {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let t = Track::from_npy_file(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(t.name(), stem);
            assert_eq!(t.is_closed(), stem != "Straight_track", "{stem}");
            // None of these centre lines crosses itself. Bowtie_track is pinched in the middle
            // (a bow-tie outline) but its centre line stays >= 0.85 m from its other parts: a
            // brute-force check of all segment pairs agrees. Crossings are still allowed on
            // import, and tested on a synthetic figure-eight.
            assert_eq!(t.crossings(), 0, "{stem}");
            assert!(t.allows_crossings());
            let raw = raw_length(&path);
            assert!((t.length() - raw).abs() < 0.01 * raw, "{stem}: {} vs raw {raw}", t.length());
            // Every waypoint projects back onto its own arc length.
            let mut hint = None;
            for (i, (&p, &s)) in t.waypoints().iter().zip(t.waypoint_s()).enumerate() {
                let local = t.project(p, hint);
                let gap = (local.s - s).abs();
                assert!(gap < 1e-9 || (t.is_closed() && (gap - t.length()).abs() < 1e-9), "{stem} waypoint {i}: {} vs {s}", local.s);
                assert!(local.lateral.abs() < 1e-12);
                assert!(t.is_on_track(p));
                if t.crossings() == 0 {
                    let global = t.project(p, None);
                    let gap = (global.s - s).abs();
                    assert!(gap < 1e-9 || (t.is_closed() && (gap - t.length()).abs() < 1e-9), "{stem} waypoint {i}");
                }
                hint = Some(local.segment);
            }
            eprintln!(
                "{stem}: {} waypoints, {:.2} m, width {:.3}-{:.3} m, closed {}, crossings {}",
                t.waypoints().len(),
                t.length(),
                t.min_width(),
                t.widths().iter().copied().fold(0.0, f64::max),
                t.is_closed(),
                t.crossings()
            );
        }
    }

    #[test]
    fn documented_lengths_and_widths() {
        for (stem, length, width) in [("reinvent_base", 17.7, 0.76), ("reInvent2019_track", 23.1, 1.07), ("2022_summit_speedway", 25.0, 1.07)] {
            let t = Track::resolve(&format!("{DIR}/{stem}.npy")).unwrap();
            assert!((t.length() - length).abs() < 0.01 * length, "{stem}: length {}", t.length());
            assert!((t.mean_width() - width).abs() < 0.02, "{stem}: width {}", t.mean_width());
            assert!(t.is_closed());
        }
    }
}
