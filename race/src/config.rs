//! A race's rules (`race.toml`, or the web form): what is driven, how it is ranked, who may
//! submit how often. [`RaceConfig::check`] refuses anything that would break the race, with a
//! message naming the setting, before a race exists.

use paddock_eval::EvalOptions;
use paddock_sim::{lap_limits, EnvConfig};
use paddock_tracks::{RacingLine, Track};
use paddock_vehicle::CarSpec;
use serde::{Deserialize, Serialize};

use crate::RaceError;

/// Most laps an evaluation may drive.
pub const MAX_LAPS: u32 = 100;
/// Most hidden tracks a race may keep for its private leaderboard.
pub const MAX_HIDDEN_TRACKS: usize = 5;
/// Largest track file a race accepts, bytes.
pub const MAX_TRACK_BYTES: usize = 4 << 20;

/// The rules, as written in `race.toml`. Every field but `name` has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaceConfig {
    pub name: String,
    /// A bundled track, `random:SEED`, or (from the command line) a `.npy` or `.json` file,
    /// sent to the server as its JSON.
    pub track: String,
    pub direction: Direction,
    pub race_type: RaceType,
    /// Boxes on the track (object avoidance).
    pub obstacles: u32,
    pub obstacle_placement: Placement,
    /// Bot cars (head-to-bot) and their speed, m/s.
    pub bot_cars: u32,
    pub bot_car_speed_mps: f32,
    pub ranking: Ranking,
    /// Laps averaged for `ranking = "best_average"`.
    pub average_laps: u32,
    /// Laps driven in each evaluation, one after the other without stopping.
    pub laps: u32,
    /// Laps completed in a row from the start that an evaluation needs to be ranked.
    pub min_consecutive_laps: u32,
    /// A lap that takes longer than this, seconds, is abandoned.
    pub lap_time_cap_s: f64,
    /// Seconds added per reset after leaving the track.
    pub off_track_penalty_s: f64,
    /// Seconds added per collision with an obstacle or bot car.
    pub collision_penalty_s: f64,
    /// A lap with more resets than this is abandoned.
    pub max_resets_per_lap: u32,
    /// Submissions a racer may make per day (UTC) and in all.
    pub submissions_per_day: u32,
    pub submissions_total: u32,
    /// Largest model file accepted, MB.
    pub max_model_mb: u32,
    /// RFC 3339 times (`2026-12-08T17:00:00Z`); empty: open now, close in a week.
    pub opens_at: String,
    pub closes_at: String,
    /// Tracks for the private leaderboard, shown only after the close (bundled or `random:SEED`).
    pub hidden_tracks: Vec<String>,
}

impl Default for RaceConfig {
    fn default() -> Self {
        RaceConfig {
            name: String::new(),
            track: "circuit".into(),
            direction: Direction::Counterclockwise,
            race_type: RaceType::TimeTrial,
            obstacles: 0,
            obstacle_placement: Placement::Fixed,
            bot_cars: 0,
            bot_car_speed_mps: 1.0,
            ranking: Ranking::BestLap,
            average_laps: 3,
            laps: 3,
            min_consecutive_laps: 1,
            lap_time_cap_s: 120.0,
            off_track_penalty_s: 2.0,
            collision_penalty_s: 5.0,
            max_resets_per_lap: 10,
            submissions_per_day: 10,
            submissions_total: 50,
            max_model_mb: 32,
            opens_at: String::new(),
            closes_at: String::new(),
            hidden_tracks: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Counterclockwise,
    Clockwise,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaceType {
    TimeTrial,
    ObjectAvoidance,
    HeadToBot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// The same lanes for every lap of every evaluation.
    Fixed,
    /// Drawn again for every lap (from the race's seed: the same for every racer).
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ranking {
    /// The fastest lap, penalties included.
    BestLap,
    /// The fastest average of `average_laps` laps in a row.
    BestAverage,
    /// All laps' times added up (every lap must be completed).
    TotalTime,
}

/// A checked race: the rules and what they resolved to.
#[derive(Debug, Clone)]
pub struct CheckedRace {
    pub config: RaceConfig,
    /// The public track, turned for the direction, in Paddock's JSON.
    pub track_json: String,
    /// Hidden tracks `(name, JSON)`.
    pub hidden: Vec<(String, String)>,
    /// Unix milliseconds.
    pub opens_at_ms: i64,
    pub closes_at_ms: i64,
}

impl RaceConfig {
    /// Parses `race.toml`; unknown keys are errors (a typo would otherwise be silently ignored).
    pub fn from_toml(text: &str) -> Result<RaceConfig, RaceError> {
        toml::from_str(text).map_err(|e| RaceError::Config(e.message().to_string()))
    }

    /// Checks every setting and resolves the tracks. `track_json` is an uploaded track (our JSON)
    /// that replaces `track`; `now_ms` fills empty open and close times.
    pub fn check(&self, track_json: Option<&str>, now_ms: i64) -> Result<CheckedRace, RaceError> {
        let bad = |field: &str, why: String| Err(RaceError::Config(format!("{field}: {why}")));
        let name = self.name.trim();
        if name.is_empty() {
            return bad("name", "give the race a name".into());
        }
        if name.chars().count() > 80 || name.chars().any(char::is_control) {
            return bad("name", "at most 80 characters, no control characters".into());
        }
        if !(1..=MAX_LAPS).contains(&self.laps) {
            return bad("laps", format!("{} laps: give 1 to {MAX_LAPS}", self.laps));
        }
        if self.min_consecutive_laps == 0 || self.min_consecutive_laps > self.laps {
            return bad("min_consecutive_laps", format!("{} with {} laps per evaluation: give 1 to {}", self.min_consecutive_laps, self.laps, self.laps));
        }
        if self.ranking == Ranking::BestAverage && (self.average_laps == 0 || self.average_laps > self.laps) {
            return bad("average_laps", format!("{} with {} laps per evaluation: give 1 to {}", self.average_laps, self.laps, self.laps));
        }
        for (field, v, max) in [
            ("off_track_penalty_s", self.off_track_penalty_s, 60.0),
            ("collision_penalty_s", self.collision_penalty_s, 60.0),
            ("lap_time_cap_s", self.lap_time_cap_s, 1200.0),
        ] {
            if !(0.0..=max).contains(&v) {
                return bad(field, format!("{v}: give 0 to {max} seconds"));
            }
        }
        if self.lap_time_cap_s < 5.0 {
            return bad("lap_time_cap_s", format!("{} s: no lap can be driven that fast; give at least 5", self.lap_time_cap_s));
        }
        if self.max_resets_per_lap > 100 {
            return bad("max_resets_per_lap", format!("{}: give 0 to 100", self.max_resets_per_lap));
        }
        if self.submissions_per_day == 0 || self.submissions_total == 0 {
            return bad("submissions_per_day", "limits must allow at least one submission".into());
        }
        if !(1..=256).contains(&self.max_model_mb) {
            return bad("max_model_mb", format!("{}: give 1 to 256", self.max_model_mb));
        }
        match self.race_type {
            RaceType::TimeTrial if self.obstacles > 0 || self.bot_cars > 0 => {
                return bad("race_type", "a time trial has no obstacles or bot cars; use object_avoidance or head_to_bot".into());
            }
            RaceType::ObjectAvoidance if !(1..=12).contains(&self.obstacles) => {
                return bad("obstacles", format!("{} for object avoidance: give 1 to 12", self.obstacles));
            }
            RaceType::HeadToBot if !(1..=6).contains(&self.bot_cars) => {
                return bad("bot_cars", format!("{} for head-to-bot: give 1 to 6", self.bot_cars));
            }
            _ => {}
        }
        if self.race_type == RaceType::HeadToBot && !(0.1..=4.0).contains(&self.bot_car_speed_mps) {
            return bad("bot_car_speed_mps", format!("{} m/s: give 0.1 to 4", self.bot_car_speed_mps));
        }
        let opens_at_ms = if self.opens_at.trim().is_empty() { now_ms } else { parse_time("opens_at", &self.opens_at)? };
        let closes_at_ms = if self.closes_at.trim().is_empty() { opens_at_ms + 7 * 24 * 3600 * 1000 } else { parse_time("closes_at", &self.closes_at)? };
        if closes_at_ms <= opens_at_ms {
            return bad("closes_at", "the race must close after it opens".into());
        }
        let track = match track_json {
            Some(json) if json.len() > MAX_TRACK_BYTES => return bad("track", format!("the track file is larger than {} MB", MAX_TRACK_BYTES >> 20)),
            Some(json) => Track::from_json_str(json).map_err(|e| RaceError::Config(format!("track: {e}")))?,
            None => resolve_named("track", &self.track)?,
        };
        let track = self.turn(track);
        check_drivable("track", &track, self)?;
        if self.hidden_tracks.len() > MAX_HIDDEN_TRACKS {
            return bad("hidden_tracks", format!("{} tracks: give at most {MAX_HIDDEN_TRACKS}", self.hidden_tracks.len()));
        }
        let mut hidden = Vec::new();
        for (i, name) in self.hidden_tracks.iter().enumerate() {
            if self.hidden_tracks[..i].iter().any(|n| n.trim() == name.trim()) {
                return bad("hidden_tracks", format!("'{}' is given twice", name.trim()));
            }
            let t = self.turn(resolve_named("hidden_tracks", name)?);
            check_drivable("hidden_tracks", &t, self)?;
            hidden.push((name.clone(), t.to_json_string()));
        }
        let config = RaceConfig { name: name.to_string(), ..self.clone() };
        Ok(CheckedRace { config, track_json: track.to_json_string(), hidden, opens_at_ms, closes_at_ms })
    }

    /// The track turned to run in this race's direction.
    fn turn(&self, track: Track) -> Track {
        let counterclockwise = signed_area(&track) > 0.0;
        if counterclockwise == (self.direction == Direction::Counterclockwise) {
            track
        } else {
            track.reversed()
        }
    }

    /// How every evaluation in this race drives, with the race's own seed.
    pub fn eval_options(&self, seed: u64) -> EvalOptions {
        let env = EnvConfig {
            obstacles: if self.race_type == RaceType::ObjectAvoidance { self.obstacles as usize } else { 0 },
            bot_cars: if self.race_type == RaceType::HeadToBot { self.bot_cars as usize } else { 0 },
            bot_car_speed_mps: self.bot_car_speed_mps,
            ..Default::default()
        };
        EvalOptions {
            laps: self.laps as usize,
            continuous: true,
            off_track_penalty_s: self.off_track_penalty_s,
            collision_penalty_s: self.collision_penalty_s,
            max_resets_per_lap: self.max_resets_per_lap as usize,
            max_lap_time_s: self.lap_time_cap_s,
            camera_every: 0,
            seed,
            env: Some(env),
            redraw_obstacles_each_lap: self.obstacle_placement == Placement::Random,
        }
    }

    /// The rules in a sentence or two, for the race page.
    pub fn summary(&self) -> Vec<String> {
        let kind = match self.race_type {
            RaceType::TimeTrial => "Time trial".to_string(),
            RaceType::ObjectAvoidance => {
                format!("Object avoidance: {} boxes, {}", self.obstacles, if self.obstacle_placement == Placement::Fixed { "fixed" } else { "moved every lap" })
            }
            RaceType::HeadToBot => format!("Head-to-bot: {} bot cars at {:.1} m/s", self.bot_cars, self.bot_car_speed_mps),
        };
        let ranking = match self.ranking {
            Ranking::BestLap => "ranked by best lap".to_string(),
            Ranking::BestAverage => format!("ranked by the best average of {} laps in a row", self.average_laps),
            Ranking::TotalTime => format!("ranked by the total time of all {} laps", self.laps),
        };
        vec![
            format!("{kind}, {}, {ranking}.", if self.direction == Direction::Clockwise { "clockwise" } else { "counterclockwise" }),
            format!(
                "{} continuous laps per evaluation; {} in a row to be ranked; a lap is abandoned after {:.0} s or {} resets.",
                self.laps, self.min_consecutive_laps, self.lap_time_cap_s, self.max_resets_per_lap
            ),
            format!("Penalties: {:.1} s per off-track, {:.1} s per collision.", self.off_track_penalty_s, self.collision_penalty_s),
            format!("Up to {} submissions a day, {} in all; models up to {} MB.", self.submissions_per_day, self.submissions_total, self.max_model_mb),
        ]
    }
}

fn parse_time(field: &str, text: &str) -> Result<i64, RaceError> {
    let t = humantime::parse_rfc3339_weak(text.trim())
        .map_err(|e| RaceError::Config(format!("{field}: '{text}' is not a time like 2026-12-08T17:00:00Z ({e})")))?;
    let ms = t.duration_since(std::time::UNIX_EPOCH).map_err(|_| RaceError::Config(format!("{field}: before 1970")))?.as_millis();
    i64::try_from(ms).map_err(|_| RaceError::Config(format!("{field}: too far ahead")))
}

/// Bundled tracks and `random:SEED` only: a server never reads a path a web form names.
fn resolve_named(field: &str, name: &str) -> Result<Track, RaceError> {
    let name = name.trim();
    let known = Track::builtin_names().contains(&name) || name.strip_prefix("random:").is_some_and(|s| s.parse::<u64>().is_ok());
    if !known {
        return Err(RaceError::Config(format!(
            "{field}: '{name}' is not a bundled track ({}) or random:SEED; upload a track file instead",
            Track::builtin_names().join(", ")
        )));
    }
    Track::resolve(name).map_err(|e| RaceError::Config(format!("{field}: {e}")))
}

/// A loop the car can lap, with room for the obstacles.
fn check_drivable(field: &str, track: &Track, config: &RaceConfig) -> Result<(), RaceError> {
    if !track.is_closed() {
        return Err(RaceError::Config(format!("{field}: '{}' is not a loop; races drive continuous laps", track.name())));
    }
    RacingLine::compute(track, &lap_limits(&CarSpec::deepracer())).map_err(|e| RaceError::Config(format!("{field}: no racing line: {e}")))?;
    let per_object = track.length() / (config.obstacles.max(config.bot_cars) as f64 + 1.0);
    if per_object < 2.0 {
        return Err(RaceError::Config(format!("{field}: '{}' ({:.1} m) is too short for that many obstacles or bots", track.name(), track.length())));
    }
    Ok(())
}

/// Twice the signed area enclosed by the centre line: positive when it runs counterclockwise.
fn signed_area(track: &Track) -> f64 {
    let w = track.waypoints();
    (0..w.len()).map(|i| w[i].perp_dot(w[(i + 1) % w.len()])).sum()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn named(name: &str) -> RaceConfig {
        RaceConfig { name: name.into(), ..Default::default() }
    }

    fn refused(config: &RaceConfig) -> String {
        match config.check(None, 0) {
            Ok(_) => panic!("expected {config:?} to be refused"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_defaults_with_a_name_make_a_race_open_for_a_week() {
        let race = named("Week 1").check(None, 1_000).unwrap();
        assert_eq!(race.opens_at_ms, 1_000);
        assert_eq!(race.closes_at_ms, 1_000 + 7 * 24 * 3600 * 1000);
        assert!(Track::from_json_str(&race.track_json).unwrap().is_closed());
    }

    #[test]
    fn each_bad_setting_is_refused_naming_it() {
        assert!(refused(&named(" ")).contains("name"));
        assert!(refused(&RaceConfig { laps: 0, ..named("r") }).contains("laps"));
        assert!(refused(&RaceConfig { laps: 3, min_consecutive_laps: 4, ..named("r") }).contains("min_consecutive_laps"));
        assert!(refused(&RaceConfig { ranking: Ranking::BestAverage, average_laps: 5, ..named("r") }).contains("average_laps"));
        assert!(refused(&RaceConfig { off_track_penalty_s: -1.0, ..named("r") }).contains("off_track_penalty_s"));
        assert!(refused(&RaceConfig { collision_penalty_s: f64::NAN, ..named("r") }).contains("collision_penalty_s"));
        assert!(refused(&RaceConfig { obstacles: 3, ..named("r") }).contains("time trial"));
        assert!(refused(&RaceConfig { race_type: RaceType::ObjectAvoidance, obstacles: 0, ..named("r") }).contains("obstacles"));
        assert!(refused(&RaceConfig { race_type: RaceType::HeadToBot, bot_cars: 2, bot_car_speed_mps: 9.0, ..named("r") }).contains("bot_car_speed_mps"));
        assert!(refused(&RaceConfig { track: "/etc/passwd".into(), ..named("r") }).contains("not a bundled track"));
        let line = Track::new("line", (0..20).map(|i| glam::DVec2::new(i as f64, 0.0)).collect(), vec![1.0; 20], false).unwrap();
        let e = named("r").check(Some(&line.to_json_string()), 0).unwrap_err().to_string();
        assert!(e.contains("not a loop"), "{e}");
        let e = named("r").check(Some("{\"waypoints\": 3}"), 0).unwrap_err().to_string();
        assert!(e.starts_with("race config: track:"), "{e}");
        assert!(refused(&RaceConfig { opens_at: "2026-12-08T00:00:00Z".into(), closes_at: "2026-12-01T00:00:00Z".into(), ..named("r") }).contains("closes_at"));
        assert!(refused(&RaceConfig { closes_at: "next tuesday".into(), ..named("r") }).contains("closes_at"));
        assert!(refused(&RaceConfig { hidden_tracks: vec!["nowhere".into()], ..named("r") }).contains("hidden_tracks"));
        assert!(refused(&RaceConfig { hidden_tracks: vec!["oval".into(), " oval".into()], ..named("r") }).contains("given twice"));
        assert!(refused(&RaceConfig { submissions_per_day: 0, ..named("r") }).contains("at least one"));
    }

    #[test]
    fn unknown_keys_in_race_toml_are_errors() {
        let e = RaceConfig::from_toml("name = \"x\"\nlapz = 3\n").unwrap_err().to_string();
        assert!(e.contains("lapz"), "{e}");
        let c = RaceConfig::from_toml("name = \"x\"\nranking = \"best_average\"\naverage_laps = 2\n").unwrap();
        assert_eq!(c.ranking, Ranking::BestAverage);
    }

    #[test]
    fn clockwise_drives_the_other_way_round() {
        let ccw = named("r").check(None, 0).unwrap();
        let cw = RaceConfig { direction: Direction::Clockwise, ..named("r") }.check(None, 0).unwrap();
        let area = |json: &str| signed_area(&Track::from_json_str(json).unwrap());
        assert!(area(&ccw.track_json) > 0.0);
        assert!(area(&cw.track_json) < 0.0);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// Any text as race.toml: parsed or refused, never a panic.
        #[test]
        fn any_toml_parses_or_is_refused(text in "\\PC{0,300}") {
            if let Ok(config) = RaceConfig::from_toml(&text) {
                let _ = config.check(None, 0);
            }
        }

        /// Plausible configs with random values: checked or refused with a reason.
        #[test]
        fn random_settings_are_checked_or_refused(
            laps in 0u32..120, consecutive in 0u32..120, average in 0u32..120, penalty in -5.0f64..100.0,
            cap in -1.0f64..2000.0, obstacles in 0u32..20, bots in 0u32..10, kind in 0usize..3, speed in -1.0f32..6.0,
        ) {
            let race_type = [RaceType::TimeTrial, RaceType::ObjectAvoidance, RaceType::HeadToBot][kind];
            let config = RaceConfig {
                laps, min_consecutive_laps: consecutive, average_laps: average, off_track_penalty_s: penalty, lap_time_cap_s: cap,
                obstacles, bot_cars: bots, race_type, bot_car_speed_mps: speed, track: "oval".into(), ..named("r")
            };
            match config.check(None, 0) {
                Ok(race) => prop_assert!(race.config.laps >= race.config.min_consecutive_laps),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
