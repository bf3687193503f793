//! The cameras: chase (smooth, see [`crate::chase`]), orbit round the car, top-down over the
//! whole track, and the car's own (its camera mount and field of view).

use bevy::camera::PerspectiveProjection;
use bevy::prelude::*;

use crate::app::point;
use crate::chase::Chase;
use crate::sim::Sim;

#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ViewMode {
    #[default]
    Chase,
    Orbit,
    TopDown,
    /// The car's camera: what a camera model sees, in colour and at the window's size.
    Car,
}

impl ViewMode {
    pub fn label(self) -> &'static str {
        match self {
            ViewMode::Chase => "chase",
            ViewMode::Orbit => "orbit",
            ViewMode::TopDown => "top-down",
            ViewMode::Car => "car camera",
        }
    }

    fn next(self) -> ViewMode {
        match self {
            ViewMode::Chase => ViewMode::Orbit,
            ViewMode::Orbit => ViewMode::TopDown,
            ViewMode::TopDown => ViewMode::Car,
            ViewMode::Car => ViewMode::Chase,
        }
    }
}

/// The one 3D camera.
#[derive(Component)]
pub struct MainCamera;

#[derive(Resource, Default)]
struct CameraState {
    chase: Chase,
    /// Orbit angle round the car, radians.
    orbit: f32,
}

pub struct ViewPlugin;

impl Plugin for ViewPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<CameraState>().add_systems(Startup, spawn_camera).add_systems(Update, (pick_view, aim.run_if(resource_exists::<Sim>)).chain());
    }
}

fn spawn_camera(mut commands: Commands) {
    commands.spawn((
        MainCamera,
        Camera3d::default(),
        Projection::from(PerspectiveProjection { fov: 55f32.to_radians(), near: 0.02, far: 400.0, ..default() }),
        Transform::from_xyz(0.0, 5.0, 5.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));
}

fn pick_view(keys: Res<ButtonInput<KeyCode>>, mut mode: ResMut<ViewMode>) {
    let chosen =
        [(KeyCode::Digit1, ViewMode::Chase), (KeyCode::Digit2, ViewMode::Orbit), (KeyCode::Digit3, ViewMode::TopDown), (KeyCode::Digit4, ViewMode::Car)]
            .into_iter()
            .find(|(k, _)| keys.just_pressed(*k))
            .map(|(_, m)| m);
    if let Some(m) = chosen {
        *mode = m;
    } else if keys.just_pressed(KeyCode::KeyC) {
        *mode = mode.next();
    }
}

// A system takes what it reads as parameters; bevy gives no lighter way to read eight things.
#[allow(clippy::too_many_arguments)]
fn aim(
    mode: Res<ViewMode>,
    time: Res<Time>,
    fixed: Res<Time<Fixed>>,
    keys: Res<ButtonInput<KeyCode>>,
    mut sim: ResMut<Sim>,
    mut state: ResMut<CameraState>,
    window: Query<&Window>,
    mut camera: Query<(&mut Transform, &mut Projection), With<MainCamera>>,
) {
    let Ok((mut t, mut projection)) = camera.single_mut() else { return };
    let aspect = window.single().map(|w| w.width() / w.height().max(1.0)).unwrap_or(16.0 / 9.0);
    let dt = time.delta_secs();
    let pose = sim.session.pose_between(fixed.overstep_fraction());
    let car = pose.position;
    if std::mem::take(&mut sim.jumped) {
        state.chase.jump();
    }
    let mut fov = 55f32.to_radians();
    let up = point(0.0, 0.0, 1.0);
    *t = match *mode {
        ViewMode::Chase => {
            let v = state.chase.follow(car, pose.yaw(), dt);
            Transform::from_translation(point(v.eye.x, v.eye.y, v.eye.z)).looking_at(point(v.target.x, v.target.y, v.target.z), up)
        }
        ViewMode::Orbit => {
            let turn = keys.pressed(KeyCode::KeyE) as i32 as f32 - keys.pressed(KeyCode::KeyQ) as i32 as f32;
            state.orbit += dt * (0.25 + 1.5 * turn);
            let (r, h) = (1.6, 0.8);
            let eye = point(car.x + r * state.orbit.cos(), car.y + r * state.orbit.sin(), h);
            Transform::from_translation(eye).looking_at(point(car.x, car.y, 0.05), up)
        }
        ViewMode::TopDown => {
            let (lo, hi) = sim.session.track().bounds();
            let c = (lo + hi) / 2.0;
            let (w, h) = ((hi.x - lo.x) as f32 + 1.0, (hi.y - lo.y) as f32 + 1.0);
            // High enough that the whole track fits both ways, looking straight down, +y up.
            let half = (fov / 2.0).tan();
            let height = (h / 2.0 / half).max(w / 2.0 / (half * aspect));
            Transform::from_translation(point(c.x as f32, c.y as f32, height)).looking_at(point(c.x as f32, c.y as f32, 0.0), point(0.0, 1.0, 0.0))
        }
        ViewMode::Car => {
            let mount = sim.session.runner().env().config().car.camera.clone();
            let eye = pose.to_world(glam::Vec3::new(mount.x_m, 0.0, mount.z_m));
            let (s, c) = mount.pitch_down_rad.sin_cos();
            let ahead = pose.to_world(glam::Vec3::new(mount.x_m + c, 0.0, mount.z_m - s));
            // The same horizontal field of view as the car's camera, whatever the window's shape.
            fov = 2.0 * ((mount.hfov_rad / 2.0).tan() / aspect).atan();
            let roof = pose.rotation * glam::Vec3::Z;
            Transform::from_translation(point(eye.x, eye.y, eye.z)).looking_at(point(ahead.x, ahead.y, ahead.z), point(roof.x, roof.y, roof.z))
        }
    };
    if let Projection::Perspective(p) = projection.as_mut() {
        p.fov = fov;
    }
}
