//! The heads-up display: lap, lap time, last and best lap against the track's minimum, resets,
//! speed, the simulator's rate; what the model sees (the camera frame or stereo pair) and what
//! it chose; the keys; and, when something could not open, why.

use bevy::asset::RenderAssetUsages;
use bevy::diagnostic::{DiagnosticsStore, FrameTimeDiagnosticsPlugin};
use bevy::image::ImageSampler;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use paddock_sim::{ObsBuffer, Sensor};

use crate::app::{Failure, Title};
use crate::inset::gray_to_rgba;
use crate::sim::Sim;
use crate::view::ViewMode;

/// The stats panel's text.
#[derive(Component)]
struct Stats;

/// The model's choice, under the inset.
#[derive(Component)]
struct Choice;

/// A panel over the 3D view.
#[derive(Component)]
pub struct Panel;

/// The picture of what the camera sees.
#[derive(Component)]
pub struct Inset;

#[derive(Component)]
struct FailureText;

/// The inset's image and the step it shows.
#[derive(Resource)]
struct InsetImage {
    handle: Handle<Image>,
    step: Option<u64>,
    shown: bool,
}

/// On-screen size of the inset, pixels: twice the camera's 160x120 (per camera of a pair).
pub const INSET_SCALE: f32 = 2.0;
/// Distance of the panels from the window's edges, pixels.
pub const MARGIN: f32 = 12.0;

pub struct HudPlugin;

impl Plugin for HudPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(FrameTimeDiagnosticsPlugin::default())
            .add_systems(Startup, (spawn_panels, spawn_inset.run_if(resource_exists::<Sim>)))
            .add_systems(Update, (quit, show_failure, (update_stats, update_inset).run_if(resource_exists::<Sim>)));
    }
}

fn panel_text(size: f32) -> (TextFont, TextColor) {
    (TextFont { font_size: FontSize::Px(size), ..default() }, TextColor(Color::WHITE))
}

fn panel() -> (Node, BackgroundColor, Panel) {
    (Node { position_type: PositionType::Absolute, padding: UiRect::all(px(8)), ..default() }, BackgroundColor(Color::srgba(0.0, 0.0, 0.0, 0.55)), Panel)
}

fn spawn_panels(mut commands: Commands, title: Res<Title>) {
    let (mut node, bg, p) = panel();
    node.top = px(MARGIN);
    node.left = px(MARGIN);
    commands.spawn((node, bg, p, children![(Stats, Text::new(title.0.clone()), panel_text(17.0))]));
    let (mut node, bg, p) = panel();
    node.bottom = px(MARGIN);
    node.left = px(MARGIN);
    let help = "arrows/WASD drive   1-4 or C camera   Q/E orbit   L racing line   T path   V camera view   P pause   Esc quit";
    commands.spawn((node, bg, p, children![(Text::new(help), panel_text(14.0))]));
}

fn spawn_inset(mut commands: Commands, sim: Res<Sim>, mut images: ResMut<Assets<Image>>) {
    let cam = &sim.session.runner().env().config().car.camera;
    let frames = if sim.session.model_sensor() == Some(Sensor::Stereo) { 2 } else { 1 };
    let (w, h) = (cam.width_px * frames, cam.height_px);
    let mut image = Image::new(
        Extent3d { width: w, height: h, depth_or_array_layers: 1 },
        TextureDimension::D2,
        vec![0u8; (w * h * 4) as usize],
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::default(),
    );
    image.sampler = ImageSampler::nearest();
    let handle = images.add(image);
    // A lidar or state model sees no picture; a person driving gets the car's camera.
    let shown = !matches!(sim.session.model_sensor(), Some(Sensor::Lidar | Sensor::State));
    commands.insert_resource(InsetImage { handle: handle.clone(), step: None, shown });
    let (mut node, bg, p) = panel();
    node.top = px(MARGIN);
    node.right = px(MARGIN);
    node.flex_direction = FlexDirection::Column;
    node.row_gap = px(6);
    let size = Node { width: px(w as f32 * INSET_SCALE), height: px(h as f32 * INSET_SCALE), ..default() };
    let visibility = if shown { Visibility::Inherited } else { Visibility::Hidden };
    commands.spawn((node, bg, p, children![(Inset, ImageNode::new(handle), size, visibility), (Choice, Text::new(""), panel_text(15.0))]));
}

fn quit(keys: Res<ButtonInput<KeyCode>>, mut exit: MessageWriter<AppExit>) {
    if keys.just_pressed(KeyCode::Escape) {
        exit.write(AppExit::Success);
    }
}

fn show_failure(mut commands: Commands, failure: Option<Res<Failure>>, shown: Query<(), With<FailureText>>) {
    let Some(failure) = failure else { return };
    if !shown.is_empty() {
        return;
    }
    let message = format!("Paddock could not go on:\n\n{}\n\nEsc quits.", failure.0);
    commands.spawn((
        Node { width: percent(100), height: percent(100), justify_content: JustifyContent::Center, align_items: AlignItems::Center, ..default() },
        children![(
            Node { max_width: px(900), padding: UiRect::all(px(24)), ..default() },
            BackgroundColor(Color::srgba(0.35, 0.02, 0.02, 0.92)),
            children![(FailureText, Text::new(message), panel_text(20.0))],
        )],
    ));
}

/// Minutes and seconds, as lap timers show them.
pub fn lap_clock(seconds: f64) -> String {
    let m = (seconds / 60.0).floor();
    format!("{}:{:05.2}", m as u64, seconds - m * 60.0)
}

fn update_stats(
    sim: Res<Sim>,
    title: Res<Title>,
    view: Res<ViewMode>,
    diagnostics: Res<DiagnosticsStore>,
    mut stats: Query<&mut Text, (With<Stats>, Without<Choice>)>,
    mut choice: Query<&mut Text, (With<Choice>, Without<Stats>)>,
) {
    let s = &sim.session;
    let runner = s.runner();
    let lap = runner.current();
    let min = runner.min_lap_time_s();
    let mut text = format!("{}\nLap {}   {}   {:.0} %", title.0, lap.lap, lap_clock(s.lap_time_s()), lap.progress);
    if let Some(last) = runner.laps().last() {
        let how = if last.completed { String::new() } else { "  (not finished)".into() };
        text += &format!("\nLast  {}{how}", lap_clock(last.time_s));
    }
    match s.best_lap() {
        Some(best) => text += &format!("\nBest  {}   {:.2} x the minimum {:.2} s", lap_clock(best.time_s), best.time_s / min, min),
        None => text += &format!("\nBest  -   minimum lap time {:.2} s", min),
    }
    text += &format!("\nResets this lap: off track {}, collisions {}", lap.off_tracks, lap.collisions);
    let speed = runner.env().params().speed;
    let d = &s.decision().action;
    text += &format!("\nSpeed {speed:.2} m/s   asks {:.2} m/s, steering {:+.1} deg", d.speed, d.steering_angle);
    let fps = diagnostics.get(&FrameTimeDiagnosticsPlugin::FPS).and_then(|d| d.smoothed()).unwrap_or(0.0);
    let capacity = sim.capacity_steps_per_s().map(|c| format!(" (could run {c:.0}/s)")).unwrap_or_default();
    text += &format!("\nSim 15 steps/s{capacity}   {fps:.1} fps   view: {}", view.label());
    if sim.paused {
        text += "\nPAUSED (P)";
    }
    if let Ok(mut t) = stats.single_mut() {
        t.0 = text;
    }
    if let (Ok(mut t), Some(sensor)) = (choice.single_mut(), s.model_sensor()) {
        let dec = s.decision();
        let mut out = format!("Model ({sensor:?}): steering {:+.1} deg, speed {:.2} m/s", dec.action.steering_angle, dec.action.speed);
        if let paddock_vehicle::action::ActionSpace::Discrete(list) = &runner.env().config().action_space {
            for (i, (a, p)) in list.iter().zip(&dec.probabilities).enumerate() {
                let bar = "#".repeat((p * 20.0).round() as usize);
                let mark = if dec.chosen == Some(i) { '>' } else { ' ' };
                out += &format!("\n{mark} {:+5.1} deg {:.1} m/s {:>4.0} % {bar}", a.steering_angle, a.speed, p * 100.0);
            }
        }
        t.0 = out;
    }
}

fn update_inset(
    keys: Res<ButtonInput<KeyCode>>,
    sim: Res<Sim>,
    mut inset: ResMut<InsetImage>,
    mut images: ResMut<Assets<Image>>,
    mut node: Query<&mut Visibility, With<Inset>>,
) {
    if keys.just_pressed(KeyCode::KeyV) {
        inset.shown = !inset.shown;
        if let Ok(mut v) = node.single_mut() {
            *v = if inset.shown { Visibility::Inherited } else { Visibility::Hidden };
        }
    }
    let step = sim.session.steps();
    if !inset.shown || inset.step == Some(step) {
        return;
    }
    inset.step = Some(step);
    let env = sim.session.runner().env();
    let cam = &env.config().car.camera;
    let (w, h) = (cam.width_px as usize, cam.height_px as usize);
    let (pixels, frames) = match (sim.session.model_sensor(), sim.session.observation()) {
        (Some(Sensor::Camera), Some(ObsBuffer::U8(p))) => (p.clone(), 1),
        (Some(Sensor::Stereo), Some(ObsBuffer::U8(p))) => (p.clone(), 2),
        _ => {
            // Driving by hand: what the car's camera would see, from the simulator's renderer.
            let mut frame = vec![0u8; w * h];
            paddock_sim::sensors::Camera::new(cam, 0.0).render(env.scene(), &env.pose(), env.obstacles(), &mut frame);
            (frame, 1)
        }
    };
    let (_, _, rgba) = gray_to_rgba(&pixels, w, h, frames);
    if let Some(mut image) = images.get_mut(&inset.handle) {
        image.data = Some(rgba);
    }
}
