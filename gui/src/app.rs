//! The bevy app: one plugin per concern, as Bevy's own are.
//!
//! - [`SimPlugin`](crate::sim::SimPlugin): the session stepped at 15 Hz in `FixedUpdate`, input.
//! - [`WorldPlugin`](crate::world::WorldPlugin): the track, car, boxes and overlays in 3D.
//! - [`ViewPlugin`](crate::view::ViewPlugin): the cameras (chase, orbit, top-down, the car's own).
//! - [`HudPlugin`](crate::hud::HudPlugin): lap times, what the model sees and chose, help.
//! - [`ScriptPlugin`](crate::script::ScriptPlugin): fixed frames, then a screenshot (tests).
//!
//! Bevy's axes are y up; the track frame is z up. Everything is built in the track frame under
//! one root rotated onto bevy's axes ([`TRACK_TO_BEVY`]), so no coordinate is converted by hand.

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::render::settings::{Backends, WgpuSettings};
use bevy::render::RenderPlugin;
use bevy::window::WindowResolution;
use bevy::winit::WinitSettings;
use paddock_sim::EnvConfig;

use crate::script::Script;
use crate::session::Session;
use crate::{hud, load, script, sim, view, world};

/// The track frame (x, y on the ground, z up) onto bevy's (y up): a quarter turn about x.
pub const TRACK_TO_BEVY: Quat = Quat::from_xyzw(-std::f32::consts::FRAC_1_SQRT_2, 0.0, 0.0, std::f32::consts::FRAC_1_SQRT_2);

/// A point of the track frame in bevy's world.
pub fn to_bevy(p: paddock_sim::pose::CarPose) -> Transform {
    let [x, y, z] = p.position.to_array();
    let [qx, qy, qz, qw] = p.rotation.to_array();
    Transform { translation: TRACK_TO_BEVY * Vec3::new(x, y, z), rotation: TRACK_TO_BEVY * Quat::from_xyzw(qx, qy, qz, qw), scale: Vec3::ONE }
}

/// A point of the track frame (metres, z up) in bevy's world.
pub fn point(x: f32, y: f32, z: f32) -> Vec3 {
    TRACK_TO_BEVY * Vec3::new(x, y, z)
}

/// What to open.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Drive by hand on a track (a bundled name, `random:SEED`, a `.json` or `.npy` file).
    Drive { track: String, reverse: bool, env: EnvConfig },
    /// A model (file or run folder) drives.
    Watch { path: PathBuf, track: Option<String>, reverse: bool },
}

/// How to start.
#[derive(Debug, Clone)]
pub struct Launch {
    pub mode: Mode,
    /// Window size, physical pixels.
    pub width: u32,
    pub height: u32,
    pub view: view::ViewMode,
    pub script: Option<Script>,
}

/// The session the mode opened, or why it could not open.
fn open(mode: &Mode) -> Result<(Session, String), String> {
    match mode {
        Mode::Drive { track, reverse, env } => {
            let t = load::track(track, *reverse).map_err(|e| e.to_string())?;
            let session = Session::drive(t, track, env.clone()).map_err(|e| format!("track '{track}': {e}"))?;
            Ok((session, format!("Drive - {track}")))
        }
        Mode::Watch { path, track, reverse } => {
            let w = load::watched(path, track.as_deref(), *reverse).map_err(|e| e.to_string())?;
            let name = w.model_path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let title = format!("Watch {name} - {}", w.track_name);
            let session = Session::watch(w.track, &w.track_name, w.env, w.policy).map_err(|e| format!("{}: {e}", w.model_path.display()))?;
            Ok((session, title))
        }
    }
}

/// Why the app shows no race: said on screen, in words.
#[derive(Resource, Debug, Clone)]
pub struct Failure(pub String);

/// What the window title and the heads-up display call this session.
#[derive(Resource, Debug, Clone)]
pub struct Title(pub String);

/// Builds the app for `launch`; `App::run` runs it.
pub fn build(launch: Launch) -> App {
    let mut app = App::new();
    let opened = open(&launch.mode);
    let title = match &opened {
        Ok((_, t)) => t.clone(),
        Err(_) => "Paddock".to_string(),
    };
    // Vulkan, Metal or DX12 unless WGPU_BACKEND says otherwise: the GL path fails under Xvfb.
    let backends = Backends::from_env().unwrap_or(Backends::PRIMARY);
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: format!("Paddock - {title}"),
                    resolution: WindowResolution::new(launch.width, launch.height).with_scale_factor_override(1.0),
                    ..default()
                }),
                ..default()
            })
            .set(RenderPlugin { render_creation: WgpuSettings { backends: Some(backends), ..default() }.into(), ..default() }),
    )
    // Keep simulating when the window is not focused (a second screen, a virtual display).
    .insert_resource(WinitSettings::continuous())
    .insert_resource(Time::<Fixed>::from_hz(paddock_sim::env::CONTROL_HZ as f64))
    .insert_resource(ClearColor(Color::srgb(0.62, 0.72, 0.82)))
    .insert_resource(Title(title))
    .insert_resource(launch.view);
    match opened {
        Ok((session, _)) => {
            app.insert_resource(sim::Sim::new(session));
        }
        Err(message) => {
            app.insert_resource(Failure(message));
        }
    }
    app.add_plugins((sim::SimPlugin, world::WorldPlugin, view::ViewPlugin, hud::HudPlugin));
    if let Some(s) = launch.script {
        app.add_plugins(script::ScriptPlugin(s));
    }
    app
}
