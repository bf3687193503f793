//! Scripted runs for tests and benchmarks: the clock advances a fixed 1/30 s a frame (two frames a
//! control step, whatever the renderer's speed), the car gets a fixed input, and after a number
//! of frames the app saves a screenshot with bevy's own API, writes beside it where things are on
//! screen (`.json`: the car, the track's centre line, the camera inset, any failure), and exits.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bevy::diagnostic::FrameCount;
use bevy::prelude::*;
use bevy::render::view::screenshot::{save_to_disk, Screenshot, ScreenshotCaptured};
use bevy::time::TimeUpdateStrategy;
use bevy::ui::{ComputedNode, UiGlobalTransform};
use serde::Serialize;

use crate::app::{point, Failure};
use crate::hud::{Inset, Panel};
use crate::session::HumanInput;
use crate::sim::Sim;
use crate::view::MainCamera;

#[derive(Debug, Clone)]
pub struct Script {
    /// Frames to render before the screenshot.
    pub frames: u32,
    pub screenshot: PathBuf,
    /// A person's fixed input (when nobody is at the keyboard); `None` leaves the keys.
    pub input: Option<HumanInput>,
}

/// What the screenshot shows where, in its pixels (x right, y down).
#[derive(Debug, Serialize)]
struct Layout {
    width: u32,
    height: u32,
    frames: u32,
    /// Control steps simulated.
    steps: u64,
    /// Wall-clock frames per second of the whole run.
    fps: f64,
    /// The car's centre, when in view.
    car: Option<[f32; 2]>,
    /// Points of the centre line, when in view.
    centre_line: Vec<[f32; 2]>,
    /// The camera inset: left, top, width, height.
    inset: Option<[f32; 4]>,
    /// Every panel drawn over the 3D view (the inset's among them), the same way.
    panels: Vec<[f32; 4]>,
    failure: Option<String>,
}

#[derive(Resource)]
struct ScriptState {
    script: Script,
    started: Option<Instant>,
    shot: bool,
}

pub struct ScriptPlugin(pub Script);

impl Plugin for ScriptPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(1.0 / 30.0)))
            .insert_resource(ScriptState { script: self.0.clone(), started: None, shot: false })
            .add_systems(Startup, take_the_wheel)
            .add_systems(Last, shoot);
    }
}

fn take_the_wheel(state: Res<ScriptState>, sim: Option<ResMut<Sim>>) {
    if let (Some(mut sim), Some(input)) = (sim, state.script.input) {
        sim.scripted = Some(input);
    }
}

#[allow(clippy::too_many_arguments)]
fn shoot(
    mut commands: Commands,
    frames: Res<FrameCount>,
    mut state: ResMut<ScriptState>,
    sim: Option<Res<Sim>>,
    fixed: Res<Time<Fixed>>,
    failure: Option<Res<Failure>>,
    window: Query<&Window>,
    camera: Query<(&Camera, &GlobalTransform), With<MainCamera>>,
    inset: Query<(&ComputedNode, &UiGlobalTransform, &InheritedVisibility), With<Inset>>,
    panels: Query<(&ComputedNode, &UiGlobalTransform, &InheritedVisibility), With<Panel>>,
) {
    let started = *state.started.get_or_insert_with(Instant::now);
    if state.shot || frames.0 < state.script.frames {
        return;
    }
    state.shot = true;
    let Ok(window) = window.single() else { return };
    let on_screen = |x: f32, y: f32, z: f32| {
        let (cam, at) = camera.single().ok()?;
        let p = cam.world_to_viewport(at, point(x, y, z)).ok()?;
        (p.x >= 0.0 && p.y >= 0.0 && p.x < window.width() && p.y < window.height()).then_some([p.x, p.y])
    };
    let (car, centre_line, steps) = match &sim {
        Some(sim) => {
            // Where the car is drawn this frame, between two control steps.
            let pose = sim.session.pose_between(fixed.overstep_fraction());
            let centre = sim.session.track().waypoints().iter().filter_map(|w| on_screen(w.x as f32, w.y as f32, 0.0)).collect();
            (on_screen(pose.position.x, pose.position.y, 0.05), centre, sim.session.steps())
        }
        None => (None, Vec::new(), 0),
    };
    let rect = |(node, at, _): (&ComputedNode, &UiGlobalTransform, &InheritedVisibility)| {
        let c = at.translation;
        [c.x - node.size.x / 2.0, c.y - node.size.y / 2.0, node.size.x, node.size.y]
    };
    let inset = inset.single().ok().filter(|(_, _, v)| v.get()).map(rect);
    let panels = panels.iter().filter(|(_, _, v)| v.get()).map(rect).collect();
    let layout = Layout {
        width: window.physical_width(),
        height: window.physical_height(),
        frames: frames.0,
        steps,
        fps: frames.0 as f64 / started.elapsed().as_secs_f64().max(1e-9),
        car,
        centre_line,
        inset,
        panels,
        failure: failure.map(|f| f.0.clone()),
    };
    let path = state.script.screenshot.clone();
    let json = path.with_extension("json");
    if let Err(e) = std::fs::write(&json, serde_json::to_string_pretty(&layout).unwrap_or_default()) {
        error!("writing {}: {e}", json.display());
    }
    commands.spawn(Screenshot::primary_window()).observe(move |captured: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| {
        save_to_disk(path.clone())(captured);
        exit.write(AppExit::Success);
    });
}
