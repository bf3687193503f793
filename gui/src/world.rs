//! The 3D scene, built from the track's geometry: the floor, the road with its white borders and
//! dashed yellow centre line, the car, boxes and bot cars; and the overlays drawn over it (the
//! racing line, the lidar's rays, the lap's driven path).

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use paddock_sim::Sensor;

use crate::app::{point, to_bevy, TRACK_TO_BEVY};
use crate::geometry::{self, Shape};
use crate::sim::Sim;

/// Overlays the user switches on and off.
#[derive(Resource, Debug, Clone, Copy)]
pub struct Overlays {
    pub racing_line: bool,
    pub path: bool,
}

impl Default for Overlays {
    fn default() -> Self {
        Overlays { racing_line: true, path: true }
    }
}

/// The car's body; its transform follows the simulated car between control steps.
#[derive(Component)]
pub struct Car;

/// A box or bot car: index into the simulator's obstacles.
#[derive(Component)]
struct Obstacle(usize);

/// The root of everything built in the track frame.
#[derive(Component)]
struct TrackRoot;

pub struct WorldPlugin;

impl Plugin for WorldPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Overlays>()
            .insert_resource(GlobalAmbientLight { color: Color::WHITE, brightness: 600.0, ..default() })
            .add_systems(Startup, (light, build_track.run_if(resource_exists::<Sim>)))
            .add_systems(Update, (toggle_overlays, (place_car, place_obstacles, draw_overlays).run_if(resource_exists::<Sim>)));
    }
}

fn light(mut commands: Commands) {
    commands.spawn((
        DirectionalLight { illuminance: 9000.0, shadow_maps_enabled: false, ..default() },
        Transform::from_xyz(3.0, 10.0, 4.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));
}

fn mesh(shape: &Shape) -> Mesh {
    let normals = vec![[0.0f32, 0.0, 1.0]; shape.positions.len()];
    Mesh::new(PrimitiveTopology::TriangleList, RenderAssetUsages::RENDER_WORLD)
        .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, shape.positions.clone())
        .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, normals)
        .with_inserted_indices(Indices::U32(shape.indices.clone()))
}

fn flat(color: Color) -> StandardMaterial {
    StandardMaterial { base_color: color, perceptual_roughness: 0.95, metallic: 0.0, ..default() }
}

/// Colours of the scene, picked to read as the simulator's gray levels do.
pub mod colour {
    use bevy::prelude::Color;
    pub const FLOOR: Color = Color::srgb(0.36, 0.42, 0.36);
    pub const ROAD: Color = Color::srgb(0.13, 0.13, 0.14);
    pub const BORDER: Color = Color::srgb(0.95, 0.95, 0.95);
    pub const CENTRE: Color = Color::srgb(0.95, 0.78, 0.1);
    pub const CAR: Color = Color::srgb(0.85, 0.1, 0.08);
    pub const BOX: Color = Color::srgb(0.75, 0.55, 0.3);
    pub const BOT: Color = Color::srgb(0.1, 0.3, 0.85);
}

fn build_track(mut commands: Commands, sim: Res<Sim>, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<StandardMaterial>>) {
    let track = sim.session.track();
    let (lo, hi) = track.bounds();
    let (centre, size) = ((lo + hi) / 2.0, (hi - lo) + paddock_tracks::DVec2::splat(8.0));
    let root = commands.spawn((TrackRoot, Transform::from_rotation(TRACK_TO_BEVY), Visibility::default())).id();
    let floor = Shape {
        positions: [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)]
            .iter()
            .map(|(u, v)| [(centre.x + u * size.x) as f32, (centre.y + v * size.y) as f32, 0.0])
            .collect(),
        indices: vec![0, 1, 2, 0, 2, 3],
    };
    let layers = [
        (floor, colour::FLOOR),
        (geometry::road(track), colour::ROAD),
        (geometry::border_lines(track), colour::BORDER),
        (geometry::centre_dashes(track), colour::CENTRE),
    ];
    for (shape, c) in layers {
        let child = commands.spawn((Mesh3d(meshes.add(mesh(&shape))), MeshMaterial3d(materials.add(flat(c))), Transform::default())).id();
        commands.entity(root).add_child(child);
    }

    // The car: a body on four wheels with the camera on its nose, in the car's frame (x forward,
    // y left, z up, origin on the ground between the axles).
    let spec = &sim.session.runner().env().config().car;
    let (l, w) = (spec.length_m, spec.width_m);
    let body = meshes.add(Cuboid::new(l, w * 0.8, 0.07));
    let wheel = meshes.add(Cylinder::new(0.033, 0.03));
    let black = materials.add(flat(Color::srgb(0.05, 0.05, 0.05)));
    let red = materials.add(flat(colour::CAR));
    let car = commands.spawn((Car, to_bevy(sim.session.pose_between(1.0)), Visibility::default())).id();
    let mut parts = vec![commands.spawn((Mesh3d(body), MeshMaterial3d(red), Transform::from_xyz(0.0, 0.0, 0.07))).id()];
    for (x, y) in [(0.4, 0.5), (0.4, -0.5), (-0.4, 0.5), (-0.4, -0.5)] {
        // A cylinder's axis is its local y: across the car, as an axle is.
        parts.push(commands.spawn((Mesh3d(wheel.clone()), MeshMaterial3d(black.clone()), Transform::from_xyz(x * l * 0.8, y * w, 0.033))).id());
    }
    let cam = &spec.camera;
    parts.push(commands.spawn((Mesh3d(meshes.add(Cuboid::new(0.03, 0.05, 0.03))), MeshMaterial3d(black), Transform::from_xyz(cam.x_m, 0.0, cam.z_m))).id());
    commands.entity(car).add_children(&parts);

    let box_mat = materials.add(flat(colour::BOX));
    let bot_mat = materials.add(flat(colour::BOT));
    let boxes = sim.session.runner().env().config().obstacles;
    for (i, o) in sim.session.runner().env().obstacles().iter().enumerate() {
        let e = o.half_extents * 2.0;
        let mat = if i < boxes { box_mat.clone() } else { bot_mat.clone() };
        let child = commands.spawn((Obstacle(i), Mesh3d(meshes.add(Cuboid::new(e.x, e.y, e.z))), MeshMaterial3d(mat), Transform::default())).id();
        commands.entity(root).add_child(child);
    }
}

fn place_car(sim: Res<Sim>, fixed: Res<Time<Fixed>>, mut car: Query<&mut Transform, With<Car>>) {
    let pose = sim.session.pose_between(fixed.overstep_fraction());
    for mut t in &mut car {
        *t = to_bevy(pose);
    }
}

fn place_obstacles(sim: Res<Sim>, mut q: Query<(&Obstacle, &mut Transform)>) {
    let obstacles = sim.session.runner().env().obstacles();
    for (Obstacle(i), mut t) in &mut q {
        if let Some(o) = obstacles.get(*i) {
            // Children of the track root: in the track frame.
            t.translation = Vec3::new(o.centre.x, o.centre.y, o.half_extents.z);
            t.rotation = Quat::from_rotation_z(o.yaw);
        }
    }
}

fn toggle_overlays(keys: Res<ButtonInput<KeyCode>>, mut overlays: ResMut<Overlays>) {
    if keys.just_pressed(KeyCode::KeyL) {
        overlays.racing_line = !overlays.racing_line;
    }
    if keys.just_pressed(KeyCode::KeyT) {
        overlays.path = !overlays.path;
    }
}

fn draw_overlays(sim: Res<Sim>, overlays: Res<Overlays>, fixed: Res<Time<Fixed>>, mut gizmos: Gizmos) {
    let session = &sim.session;
    if overlays.racing_line {
        let line = geometry::lifted(session.racing_points(), 0.01);
        let closed = session.track().is_closed().then(|| line.first().copied()).flatten();
        gizmos.linestrip(line.iter().chain(closed.iter()).map(|p| point(p[0], p[1], p[2])), Color::srgb(0.2, 0.9, 1.0));
    }
    if overlays.path {
        let trace = &session.runner().current().trace;
        let from = trace.len().saturating_sub(600);
        gizmos.linestrip(trace[from..].iter().map(|p| point(p.x, p.y, 0.012)), Color::srgb(1.0, 0.35, 0.9));
    }
    // The lidar's rays from where the car is drawn, as far as each reached.
    if let (Some(Sensor::Lidar), Some(paddock_sim::ObsBuffer::F32(ranges))) = (session.model_sensor(), session.observation()) {
        let mount = &session.runner().env().config().car.lidar;
        let lidar = paddock_sim::sensors::Lidar::new(mount);
        let pose = session.pose_between(fixed.overstep_fraction());
        let origin = pose.to_world(glam::Vec3::new(mount.x_m, 0.0, mount.z_m));
        for (a, r) in lidar.angles().iter().zip(ranges.iter()) {
            let yaw = pose.yaw() + a;
            let end = origin + glam::Vec3::new(yaw.cos() * r, yaw.sin() * r, 0.0);
            let hit = *r < mount.max_range_m - 1e-3;
            let c = if hit { Color::srgb(1.0, 0.2, 0.2) } else { Color::srgba(1.0, 1.0, 1.0, 0.25) };
            gizmos.line(point(origin.x, origin.y, origin.z), point(end.x, end.y, origin.z), c);
        }
    }
}
