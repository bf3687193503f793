//! One car, one episode at a time: DeepRacer's training loop as an environment.

use std::sync::Arc;

use glam::{DVec2, Vec2, Vec3};
use paddock_tracks::Projection;
pub use paddock_vehicle::sensor::{ObsMut, Sensor, STATE_LEN};
use paddock_vehicle::CarSpec;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use crate::action::{Action, ActionSpace};
use crate::params::RewardParams;
use crate::physics::{CarPhysics, DEFAULT_PHYSICS_HZ};
use crate::reward::RewardFunction;
use crate::sensors::{Camera, Lidar, StereoCamera};
use crate::{CarPose, Obstacle, SimError, TrackScene};

/// Control rate, Hz: DeepRacer acts 15 times a second.
pub const CONTROL_HZ: f32 = 15.0;

/// Distances ahead (metres) at which the state observation samples the track's curvature.
const LOOKAHEAD_M: [f64; 8] = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0];

/// How an episode ended, in DeepRacer's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeStatus {
    InProgress,
    LapComplete,
    OffTrack,
    Crashed,
    /// Driving the wrong way along the track.
    Reversed,
    /// No progress for a while (DeepRacer's `immobilized`).
    Immobilized,
    TimeUp,
}

impl EpisodeStatus {
    pub fn is_done(&self) -> bool {
        *self != EpisodeStatus::InProgress
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            EpisodeStatus::InProgress => "in_progress",
            EpisodeStatus::LapComplete => "lap_complete",
            EpisodeStatus::OffTrack => "off_track",
            EpisodeStatus::Crashed => "crashed",
            EpisodeStatus::Reversed => "reversed",
            EpisodeStatus::Immobilized => "immobilized",
            EpisodeStatus::TimeUp => "time_up",
        }
    }
}

/// Environment settings. Defaults are DeepRacer's where it has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvConfig {
    pub observation: Sensor,
    pub action_space: ActionSpace,
    /// Episode step limit (15 steps a second).
    pub max_steps: u32,
    /// Physics steps per second; a multiple of 15 keeps control steps whole.
    pub physics_hz: u32,
    /// Start positions move this fraction of the lap further between episodes
    /// (DeepRacer's `round_robin_advance_dist`).
    pub round_robin_advance: f64,
    /// Random start offsets: up to this many metres across the track and a tenth of a radian
    /// of heading (0 starts on the centre line, as DeepRacer does).
    pub start_jitter_m: f64,
    /// Boxes on the track for object avoidance, placed evenly around the lap in random lanes
    /// (DeepRacer's object avoidance).
    pub obstacles: usize,
    /// Other cars driving the lap at a steady speed, each in a random lane (DeepRacer's
    /// head-to-bot racing). Hitting one is a crash.
    pub bot_cars: usize,
    /// Speed of the bot cars, m/s.
    pub bot_car_speed_mps: f32,
    /// Steps without new progress before the episode ends as immobilized.
    pub immobilized_steps: u32,
    /// How far (metres) the car may fall back behind its best progress before it counts as
    /// reversed.
    pub reversed_m: f64,
    pub car: CarSpec,
}

impl Default for EnvConfig {
    fn default() -> Self {
        EnvConfig {
            observation: Sensor::Camera,
            action_space: ActionSpace::deepracer_default_discrete(),
            max_steps: 3000,
            physics_hz: DEFAULT_PHYSICS_HZ,
            round_robin_advance: 0.05,
            start_jitter_m: 0.0,
            obstacles: 0,
            bot_cars: 0,
            bot_car_speed_mps: 0.5,
            immobilized_steps: 45,
            reversed_m: 0.5,
            car: CarSpec::deepracer(),
        }
    }
}

impl EnvConfig {
    /// Checks the settings before any episode runs.
    pub fn validate(&self) -> Result<(), SimError> {
        let car = &self.car;
        self.action_space.validate(car.max_steering_rad.to_degrees(), car.min_speed_mps, car.max_speed_mps)?;
        let bad = |m: String| Err(SimError::Config(m));
        if self.max_steps == 0 {
            return bad("max_steps must be at least 1".into());
        }
        if !(15..=2000).contains(&self.physics_hz) {
            return bad(format!("physics_hz {} is outside 15..2000", self.physics_hz));
        }
        if !(0.0..1.0).contains(&self.round_robin_advance) {
            return bad(format!("round_robin_advance {} must be in [0, 1)", self.round_robin_advance));
        }
        if !(0.0..=0.5).contains(&self.start_jitter_m) {
            return bad(format!("start_jitter_m {} must be in [0, 0.5]", self.start_jitter_m));
        }
        if self.obstacles > 32 {
            return bad(format!("{} obstacles is too many (at most 32)", self.obstacles));
        }
        if self.bot_cars > 8 {
            return bad(format!("{} bot cars is too many (at most 8)", self.bot_cars));
        }
        let (lo, hi) = (self.car.min_speed_mps, self.car.max_speed_mps);
        if !(lo..=hi).contains(&self.bot_car_speed_mps) {
            return bad(format!("bot_car_speed_mps {} is outside the car's {lo}..{hi} m/s", self.bot_car_speed_mps));
        }
        Ok(())
    }
}

/// Where the next episode starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Start {
    /// The next round-robin position.
    Next,
    /// A given point: `progress` percent of the lap from waypoint 0, `lateral_m` left of centre,
    /// heading `heading_offset_rad` from the track's direction.
    At { progress: f64, lateral_m: f64, heading_offset_rad: f64 },
}

/// What one step produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepResult {
    pub reward: f32,
    pub status: EpisodeStatus,
}

/// Totals of a finished (or running) episode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpisodeSummary {
    pub steps: u32,
    /// Percent of the lap completed, 0-100.
    pub progress: f32,
    pub total_reward: f32,
    pub status: EpisodeStatus,
    /// Simulated seconds driven.
    pub time_s: f32,
    /// Where the episode started, percent of the lap from waypoint 0.
    pub start_progress: f32,
}

enum SensorRig {
    Camera(Camera),
    Stereo(StereoCamera),
    Lidar(Lidar),
    State,
}

/// One car on one track.
pub struct Env {
    config: Arc<EnvConfig>,
    scene: Arc<TrackScene>,
    sensor: SensorRig,
    reward_fn: Box<dyn RewardFunction>,
    physics: CarPhysics,
    rng: Pcg64Mcg,
    /// Boxes first, then the bot cars (whose entries move every step).
    obstacles: Vec<Obstacle>,
    bots: Vec<Bot>,
    /// Offset of this env's first start, fraction of the lap (spreads a VecEnv around the lap).
    start_offset: f64,
    episodes: u64,
    // Episode state.
    steps: u32,
    /// Where the car is on the track after the latest step (or reset).
    proj: Projection,
    last_s: f64,
    /// Metres driven along the track since the start (negative when going backwards).
    travelled_m: f64,
    best_m: f64,
    steps_since_best: u32,
    start_progress: f64,
    total_reward: f64,
    status: EpisodeStatus,
    params: RewardParams,
}

impl Env {
    /// An environment ready to run; call [`Env::reset`] before the first step.
    pub fn new(config: Arc<EnvConfig>, scene: Arc<TrackScene>, reward_fn: Box<dyn RewardFunction>, seed: u64) -> Result<Env, SimError> {
        config.validate()?;
        let car = &config.car;
        let sensor = match config.observation {
            Sensor::Camera => SensorRig::Camera(Camera::new(&car.camera, 0.0)),
            Sensor::Stereo => SensorRig::Stereo(StereoCamera::new(car)),
            Sensor::Lidar => SensorRig::Lidar(Lidar::new(&car.lidar)),
            Sensor::State => SensorRig::State,
        };
        let track = scene.track();
        let params = RewardParams {
            track_length: track.length() as f32,
            waypoints: Arc::new(track.source_waypoints().iter().map(|p| (p.x as f32, p.y as f32)).collect()),
            ..Default::default()
        };
        let physics = CarPhysics::new(car, config.physics_hz, 0.0, 0.0, 0.0, &[]);
        let proj = track.project(DVec2::ZERO, None);
        let mut env = Env {
            config,
            scene,
            sensor,
            reward_fn,
            physics,
            rng: Pcg64Mcg::seed_from_u64(seed),
            obstacles: Vec::new(),
            bots: Vec::new(),
            start_offset: 0.0,
            episodes: 0,
            steps: 0,
            proj,
            last_s: 0.0,
            travelled_m: 0.0,
            best_m: 0.0,
            steps_since_best: 0,
            start_progress: 0.0,
            total_reward: 0.0,
            status: EpisodeStatus::InProgress,
            params,
        };
        env.reset(seed, Start::At { progress: 0.0, lateral_m: 0.0, heading_offset_rad: 0.0 });
        env.episodes = 0;
        Ok(env)
    }

    /// Spreads this env's round-robin starts: its first episode starts `fraction` of a lap on.
    pub fn set_start_offset(&mut self, fraction: f64) {
        self.start_offset = fraction.rem_euclid(1.0);
    }

    pub fn config(&self) -> &EnvConfig {
        &self.config
    }
    pub fn scene(&self) -> &Arc<TrackScene> {
        &self.scene
    }

    /// Starts a new episode. The same seed and start give the same episode, whatever ran before.
    pub fn reset(&mut self, seed: u64, start: Start) {
        self.rng = Pcg64Mcg::seed_from_u64(seed);
        let scene = self.scene.clone();
        let track = scene.track();
        let length = track.length();
        let (start_s, mut lateral, mut heading_offset) = match start {
            Start::Next => {
                let f = self.start_offset + self.episodes as f64 * self.config.round_robin_advance;
                (f.rem_euclid(1.0) * length, 0.0, 0.0)
            }
            Start::At { progress, lateral_m, heading_offset_rad } => ((progress / 100.0).rem_euclid(1.0) * length, lateral_m, heading_offset_rad),
        };
        if self.config.start_jitter_m > 0.0 {
            lateral += self.rng.random_range(-1.0..=1.0) * self.config.start_jitter_m;
            heading_offset += self.rng.random_range(-0.1..=0.1);
        }
        let (centre, heading) = track.pose_at(start_s);
        let normal = DVec2::new(-heading.sin(), heading.cos());
        let p = centre + normal * lateral;
        self.place_obstacles(start_s);
        let boxes = self.obstacles.len();
        self.place_bots(start_s);
        self.physics = CarPhysics::with_movers(
            &self.config.car,
            self.config.physics_hz,
            p.x as f32,
            p.y as f32,
            (heading + heading_offset) as f32,
            &self.obstacles[..boxes],
            &self.obstacles[boxes..],
        );
        let proj = track.project(p, None);
        self.episodes += 1;
        self.steps = 0;
        self.proj = proj;
        self.last_s = proj.s;
        self.travelled_m = 0.0;
        self.best_m = 0.0;
        self.steps_since_best = 0;
        self.start_progress = proj.progress;
        self.total_reward = 0.0;
        self.status = EpisodeStatus::InProgress;
        self.reward_fn.reset();
        self.fill_object_params();
        self.update_params();
    }

    /// After a completed lap of a loop, goes on into the next lap without stopping the car (the
    /// continuous laps of a race): progress and the step count start again, the car, the
    /// obstacles and the bots stay where they are. Returns false (and does nothing) unless the
    /// last step completed a lap of a closed track.
    pub fn continue_lap(&mut self) -> bool {
        let track = self.scene.track();
        if self.status != EpisodeStatus::LapComplete || !track.is_closed() {
            return false;
        }
        let length = track.length();
        self.travelled_m -= length;
        self.best_m = self.travelled_m.max(0.0);
        self.steps = 0;
        self.steps_since_best = 0;
        self.start_progress = self.proj.progress;
        self.total_reward = 0.0;
        self.status = EpisodeStatus::InProgress;
        self.update_params();
        true
    }

    /// Boxes evenly spaced around the lap from the start line, each in a random lane (from the
    /// episode's seed); one that would stand within 0.6 m of the car's start moves 2 m further on.
    fn place_obstacles(&mut self, start_s: f64) {
        self.obstacles.clear();
        let n = self.config.obstacles;
        if n == 0 {
            return;
        }
        let scene = self.scene.clone();
        let track = scene.track();
        let length = track.length();
        for i in 0..n {
            let mut s = length * (i as f64 + 0.5) / n as f64;
            let ahead_of_start = (s - start_s).rem_euclid(length);
            if ahead_of_start < 0.6 || ahead_of_start > length - 0.5 {
                s = start_s + 2.0;
            }
            let (c, heading) = track.pose_at(s);
            let half_width = track.project(c, None).half_width;
            let side = if self.rng.random_bool(0.5) { 1.0 } else { -1.0 };
            let normal = DVec2::new(-heading.sin(), heading.cos());
            let p = c + normal * side * half_width * 0.5;
            self.obstacles.push(Obstacle::deepracer_box(Vec2::new(p.x as f32, p.y as f32), heading as f32));
        }
    }

    /// Bot cars evenly spaced around the lap, starting a third of the spacing ahead of the car,
    /// each in a random lane; appended to `obstacles`.
    fn place_bots(&mut self, start_s: f64) {
        self.bots.clear();
        let n = self.config.bot_cars;
        if n == 0 {
            return;
        }
        let scene = self.scene.clone();
        let track = scene.track();
        let gap = track.length() / n as f64;
        for i in 0..n {
            let s = start_s + gap * (i as f64 + 1.0 / 3.0);
            let half_width = track.width_at(s) / 2.0;
            let lateral = if self.rng.random_bool(0.5) { 0.5 } else { -0.5 } * half_width;
            let bot = Bot { s, lateral };
            self.obstacles.push(bot.body(track, &self.config.car));
            self.bots.push(bot);
        }
    }

    /// Applies one action for one control step (1/15 s) and judges the result.
    pub fn step(&mut self, action: Action) -> Result<StepResult, SimError> {
        if self.status.is_done() {
            return Err(SimError::EpisodeOver(self.status.as_str()));
        }
        let a = self.config.action_space.resolve(action)?;
        let substeps = (self.config.physics_hz as f32 / CONTROL_HZ).round().max(1.0) as usize;
        let boxes = self.obstacles.len() - self.bots.len();
        let scene = self.scene.clone();
        for _ in 0..substeps {
            let ds = self.config.bot_car_speed_mps as f64 * self.physics.dt() as f64;
            for (i, bot) in self.bots.iter_mut().enumerate() {
                bot.s += ds;
                let o = bot.body(scene.track(), &self.config.car);
                self.physics.move_mover(i, o.centre.x, o.centre.y, o.yaw);
                self.obstacles[boxes + i] = o;
            }
            self.physics.step(a.steering_angle.to_radians(), a.speed);
        }
        self.steps += 1;
        self.update_progress();
        self.update_params();
        self.status = self.judge();
        let reward = self.reward_fn.reward(&self.params)?;
        let reward = if reward.is_finite() { reward } else { 0.0 };
        self.total_reward += reward as f64;
        Ok(StepResult { reward, status: self.status })
    }

    fn update_progress(&mut self) {
        let track = self.scene.track();
        let pose = self.physics.pose();
        let p = DVec2::new(pose.position.x as f64, pose.position.y as f64);
        let proj = track.project(p, Some(self.proj.segment));
        self.proj = proj;
        let mut ds = proj.s - self.last_s;
        if track.is_closed() {
            let length = track.length();
            ds -= (ds / length).round() * length;
        }
        self.last_s = proj.s;
        self.travelled_m += ds;
        if self.travelled_m > self.best_m + 0.005 {
            self.best_m = self.travelled_m;
            self.steps_since_best = 0;
        } else {
            self.steps_since_best += 1;
        }
    }

    fn update_params(&mut self) {
        let track = self.scene.track();
        let pose = self.physics.pose();
        let proj = self.proj;
        let wheels_on = self.physics.wheel_contacts().iter().filter(|w| self.wheel_on_track(**w)).count();
        let length = track.length();
        let progress = if track.is_closed() { (100.0 * self.travelled_m / length).clamp(0.0, 100.0) } else { (100.0 * proj.s / length).clamp(0.0, 100.0) };
        let p_out = &mut self.params;
        p_out.x = pose.position.x;
        p_out.y = pose.position.y;
        p_out.heading = pose.yaw().to_degrees();
        p_out.speed = self.physics.forward_speed();
        p_out.steering_angle = self.physics.steering_rad().to_degrees();
        p_out.progress = progress as f32;
        p_out.steps = self.steps;
        p_out.distance_from_center = proj.distance_from_centre() as f32;
        p_out.is_left_of_center = proj.is_left_of_centre();
        p_out.track_width = (2.0 * proj.half_width) as f32;
        p_out.closest_waypoints = [track.source_index(proj.prev_waypoint), track.source_index(proj.next_waypoint)];
        p_out.all_wheels_on_track = wheels_on == 4;
        p_out.is_offtrack = wheels_on == 0;
        p_out.is_crashed = self.physics.crashed();
        p_out.is_reversed = track.is_reversed();
        self.update_closest_objects(proj.s);
    }

    /// The objects' params: they stand still, so once per episode.
    fn fill_object_params(&mut self) {
        let p = &mut self.params;
        let track = self.scene.track();
        p.objects_distance.clear();
        p.objects_heading.clear();
        p.objects_left_of_center.clear();
        p.objects_location.clear();
        p.objects_speed.clear();
        for o in &self.obstacles {
            let proj = track.project(DVec2::new(o.centre.x as f64, o.centre.y as f64), None);
            p.objects_distance.push(proj.s as f32);
            p.objects_heading.push(o.yaw.to_degrees());
            p.objects_left_of_center.push(proj.is_left_of_centre());
            p.objects_location.push((o.centre.x, o.centre.y));
            p.objects_speed.push(0.0);
        }
        let boxes = self.obstacles.len() - self.bots.len();
        for speed in &mut p.objects_speed[boxes..] {
            *speed = self.config.bot_car_speed_mps;
        }
    }

    fn update_closest_objects(&mut self, car_s: f64) {
        let track = self.scene.track();
        let length = track.length();
        let p = &mut self.params;
        let boxes = self.obstacles.len() - self.bots.len();
        for (i, bot) in self.bots.iter().enumerate() {
            let o = &self.obstacles[boxes + i];
            p.objects_distance[boxes + i] = bot.s.rem_euclid(length) as f32;
            p.objects_heading[boxes + i] = o.yaw.to_degrees();
            p.objects_left_of_center[boxes + i] = bot.lateral > 0.0;
            p.objects_location[boxes + i] = (o.centre.x, o.centre.y);
        }
        let (mut behind, mut ahead) = ((f64::MAX, 0), (f64::MAX, 0));
        for (i, &s) in p.objects_distance.iter().enumerate() {
            let gap_ahead = (s as f64 - car_s).rem_euclid(length);
            let gap_behind = (car_s - s as f64).rem_euclid(length);
            if gap_ahead < ahead.0 {
                ahead = (gap_ahead, i);
            }
            if gap_behind < behind.0 {
                behind = (gap_behind, i);
            }
        }
        p.closest_objects = [behind.1, ahead.1];
    }

    fn wheel_on_track(&self, w: Vec2) -> bool {
        let proj = self.scene.track().project(DVec2::new(w.x as f64, w.y as f64), Some(self.proj.segment));
        proj.lateral.abs() <= proj.half_width
    }

    fn judge(&self) -> EpisodeStatus {
        let track = self.scene.track();
        let finished = if track.is_closed() { self.travelled_m >= track.length() } else { self.params.progress >= 99.9 };
        if finished {
            EpisodeStatus::LapComplete
        } else if self.params.is_crashed {
            EpisodeStatus::Crashed
        } else if self.params.is_offtrack {
            EpisodeStatus::OffTrack
        } else if self.travelled_m < self.best_m - self.config.reversed_m {
            EpisodeStatus::Reversed
        } else if self.steps_since_best >= self.config.immobilized_steps {
            EpisodeStatus::Immobilized
        } else if self.steps >= self.config.max_steps {
            EpisodeStatus::TimeUp
        } else {
            EpisodeStatus::InProgress
        }
    }

    /// Writes what the car's sensor sees now into `out` (sized by [`Sensor::len`]).
    pub fn observe(&self, out: ObsMut<'_>) -> Result<(), SimError> {
        let pose = self.physics.pose();
        let want = self.config.observation.len(&self.config.car);
        match (&self.sensor, out) {
            (SensorRig::Camera(c), ObsMut::U8(buf)) if buf.len() == want => c.render(&self.scene, &pose, &self.obstacles, buf),
            (SensorRig::Stereo(c), ObsMut::U8(buf)) if buf.len() == want => c.render(&self.scene, &pose, &self.obstacles, buf),
            (SensorRig::Lidar(l), ObsMut::F32(buf)) if buf.len() == want => l.scan(&self.scene, &pose, &self.obstacles, buf),
            (SensorRig::State, ObsMut::F32(buf)) if buf.len() == want => self.state_observation(buf),
            (_, out) => {
                let (kind, len) = match out {
                    ObsMut::U8(b) => ("u8", b.len()),
                    ObsMut::F32(b) => ("f32", b.len()),
                };
                return Err(SimError::Config(format!(
                    "observation buffer of {len} {kind} does not fit a {:?} observation ({want} {})",
                    self.config.observation,
                    if self.config.observation.is_image() { "u8" } else { "f32" }
                )));
            }
        }
        Ok(())
    }

    fn state_observation(&self, out: &mut [f32]) {
        let car = &self.config.car;
        let track = self.scene.track();
        let pose = self.physics.pose();
        let proj = self.proj;
        let heading_error = pose.yaw() - proj.heading as f32;
        out[0] = self.physics.forward_speed() / car.max_speed_mps;
        out[1] = self.physics.steering_rad() / car.max_steering_rad;
        out[2] = (proj.lateral / proj.half_width) as f32;
        out[3] = heading_error.sin();
        out[4] = heading_error.cos();
        out[5] = self.physics.yaw_rate() / 5.0;
        for (i, d) in LOOKAHEAD_M.iter().enumerate() {
            // Curvature 2 /m (a 0.5 m radius) maps to 1.
            out[6 + i] = (0.5 * track.curvature_at(proj.s + d)) as f32;
        }
        out[14] = if self.params.all_wheels_on_track { 1.0 } else { 0.0 };
        out[15] = self.params.progress / 100.0;
    }

    /// DeepRacer's `params` for the latest step.
    pub fn params(&self) -> &RewardParams {
        &self.params
    }
    /// Where the car is on the track (closest centre-line point, offset, heading).
    pub fn projection(&self) -> &Projection {
        &self.proj
    }
    pub fn status(&self) -> EpisodeStatus {
        self.status
    }
    pub fn pose(&self) -> CarPose {
        self.physics.pose()
    }
    pub fn physics(&self) -> &CarPhysics {
        &self.physics
    }
    pub fn obstacles(&self) -> &[Obstacle] {
        &self.obstacles
    }
    /// Totals of the current (or just finished) episode.
    pub fn summary(&self) -> EpisodeSummary {
        EpisodeSummary {
            steps: self.steps,
            progress: self.params.progress,
            total_reward: self.total_reward as f32,
            status: self.status,
            time_s: self.steps as f32 / CONTROL_HZ,
            start_progress: self.start_progress as f32,
        }
    }
    /// Position of the camera lens in the world, for viewers.
    pub fn camera_position(&self) -> Vec3 {
        let c = &self.config.car.camera;
        self.physics.pose().to_world(Vec3::new(c.x_m, 0.0, c.z_m))
    }
}

#[cfg(test)]
#[path = "env_tests.rs"]
mod tests;

/// A bot car: where it is along the lap and across the track.
#[derive(Debug, Clone, Copy)]
struct Bot {
    /// Metres along the centre line (grows past the lap length; wrapped when used).
    s: f64,
    /// Metres left of the centre line.
    lateral: f64,
}

impl Bot {
    fn body(&self, track: &paddock_tracks::Track, car: &CarSpec) -> Obstacle {
        let (c, heading) = track.pose_at(self.s);
        let p = c + DVec2::new(-heading.sin(), heading.cos()) * self.lateral;
        Obstacle {
            centre: Vec2::new(p.x as f32, p.y as f32),
            yaw: heading as f32,
            half_extents: Vec3::new(car.length_m / 2.0, car.width_m / 2.0, 0.06),
            shade: 60,
        }
    }
}
