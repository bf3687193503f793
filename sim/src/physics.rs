//! The car in a rapier3d world.
//!
//! The chassis is one dynamic rigid body carried by four ray-cast wheels
//! (`DynamicRayCastVehicleController`: spring-damper suspension and a friction circle per tyre).
//! Front wheels steer with Ackermann geometry behind a rate-limited servo; all four are driven
//! (DeepRacer is 4WD) by a motor whose force comes from a speed controller, so an action's speed
//! is a target, as on the real car.
//!
//! Lateral tyre grip is ours, not the controller's: rapier's side-friction impulse is scaled for
//! full-size cars and, on a 2 kg car with a small moment of inertia, cancels well under 1 % of
//! the sideways slip per step, so the car slid into a spiral. [`CarPhysics::apply_tyre_grip`]
//! solves the four no-slip constraints exactly (sequential impulses), each capped by its tyre's
//! friction limit.
//!
//! Frames: the track plane is rapier's x-y plane, z up; the chassis' local x is forward, y left.

use glam::{Quat, Vec2, Vec3};
use paddock_vehicle::CarSpec;
use rapier3d::control::{DynamicRayCastVehicleController, WheelTuning};
use rapier3d::prelude::*;

use crate::{CarPose, Obstacle};

/// Rate of the physics step, Hz. Four steps per 15 Hz control step.
pub const DEFAULT_PHYSICS_HZ: u32 = 60;

/// Gain of the motor's speed controller: commanded acceleration per m/s of speed error, 1/s.
const SPEED_GAIN: f32 = 6.0;
/// Suspension rest length, metres.
const SUSPENSION_REST_M: f32 = 0.02;

/// One car in its own physics world.
pub struct CarPhysics {
    spec: CarSpec,
    world: PhysicsWorld,
    vehicle: DynamicRayCastVehicleController,
    chassis: RigidBodyHandle,
    chassis_collider: ColliderHandle,
    obstacle_colliders: Vec<ColliderHandle>,
    /// Kinematic bodies of the moving obstacles (bot cars), in the order they were given.
    movers: Vec<RigidBodyHandle>,
    dt: f32,
    /// Current steering angle of the bicycle-model front wheel, radians (positive left).
    steering_rad: f32,
    crashed: bool,
}

impl CarPhysics {
    /// A car at rest at (x, y) metres heading `yaw` radians, with obstacles as fixed boxes.
    pub fn new(spec: &CarSpec, physics_hz: u32, x: f32, y: f32, yaw: f32, obstacles: &[Obstacle]) -> CarPhysics {
        CarPhysics::with_movers(spec, physics_hz, x, y, yaw, obstacles, &[])
    }

    /// Like [`CarPhysics::new`], plus boxes that move (other cars): kinematic bodies placed
    /// each step by [`CarPhysics::move_mover`].
    pub fn with_movers(spec: &CarSpec, physics_hz: u32, x: f32, y: f32, yaw: f32, obstacles: &[Obstacle], movers: &[Obstacle]) -> CarPhysics {
        let mut world = PhysicsWorld::new();
        world.gravity = Vec3::new(0.0, 0.0, -9.81);
        let dt = 1.0 / physics_hz.max(15) as f32;
        world.integration_parameters.dt = dt;
        // One dynamic body and rare contacts: one solver iteration is plenty.
        world.integration_parameters.num_solver_iterations = 1;

        // The ground: a large fixed slab whose top face is z = 0.
        world.insert_collider(ColliderBuilder::cuboid(1000.0, 1000.0, 0.5).translation(Vec3::new(0.0, 0.0, -0.5)).friction(0.9), None);

        // The body rides so that the wheels touch z = 0 at their rest suspension length; the
        // collider's centre is the centre of mass.
        let half = Vec3::new(spec.length_m / 2.0, spec.width_m / 2.0, 0.025);
        let body = RigidBodyBuilder::dynamic().pose(Pose::from_parts(Vec3::new(x, y, 0.0), Quat::from_rotation_z(yaw))).can_sleep(false);
        let chassis = world.insert_body(body);
        let chassis_collider = world.insert_collider(
            ColliderBuilder::cuboid(half.x, half.y, half.z)
                .translation(Vec3::new(0.0, 0.0, spec.cg_height_m))
                .mass(spec.mass_kg)
                .active_events(ActiveEvents::COLLISION_EVENTS),
            Some(chassis),
        );

        let mut obstacle_colliders = Vec::with_capacity(obstacles.len());
        for o in obstacles {
            let collider = ColliderBuilder::cuboid(o.half_extents.x, o.half_extents.y, o.half_extents.z)
                .position(Pose::from_parts(Vec3::new(o.centre.x, o.centre.y, o.half_extents.z), Quat::from_rotation_z(o.yaw)))
                .friction(0.5);
            obstacle_colliders.push(world.insert_collider(collider, None));
        }
        let mut mover_bodies = Vec::with_capacity(movers.len());
        for o in movers {
            let body = RigidBodyBuilder::kinematic_position_based()
                .pose(Pose::from_parts(Vec3::new(o.centre.x, o.centre.y, o.half_extents.z), Quat::from_rotation_z(o.yaw)));
            let handle = world.insert_body(body);
            let collider = world.insert_collider(ColliderBuilder::cuboid(o.half_extents.x, o.half_extents.y, o.half_extents.z).friction(0.5), Some(handle));
            obstacle_colliders.push(collider);
            mover_bodies.push(handle);
        }

        let mut vehicle = DynamicRayCastVehicleController::new(chassis);
        vehicle.index_up_axis = 2;
        vehicle.index_forward_axis = 0;
        let tuning = WheelTuning {
            // Per unit of chassis mass: four springs give a 6 Hz bounce and 6 mm of sag.
            suspension_stiffness: 400.0,
            suspension_compression: 12.0,
            suspension_damping: 14.0,
            max_suspension_travel: 0.015,
            side_friction_stiffness: 0.0,
            friction_slip: spec.tyre_mu,
            max_suspension_force: 200.0,
        };
        let hx = spec.wheelbase_m / 2.0;
        let hy = spec.track_width_m / 2.0;
        let hard_point_z = spec.wheel_radius_m + SUSPENSION_REST_M;
        // Front left, front right, rear left, rear right. The axle points right (-y) so that
        // the wheel's rolling direction (normal x axle) is +x.
        for (wx, wy) in [(hx, hy), (hx, -hy), (-hx, hy), (-hx, -hy)] {
            vehicle.add_wheel(
                Vec3::new(wx, wy, hard_point_z),
                Vec3::new(0.0, 0.0, -1.0),
                Vec3::new(0.0, -1.0, 0.0),
                SUSPENSION_REST_M,
                spec.wheel_radius_m,
                &tuning,
            );
        }

        CarPhysics {
            spec: spec.clone(),
            world,
            vehicle,
            chassis,
            chassis_collider,
            obstacle_colliders,
            movers: mover_bodies,
            dt,
            steering_rad: 0.0,
            crashed: false,
        }
    }

    /// Physics step length, seconds.
    pub fn dt(&self) -> f32 {
        self.dt
    }

    /// Gives the car a forward speed, m/s (for starts at speed and tests).
    pub fn set_forward_speed(&mut self, speed: f32) {
        let body = &mut self.world.bodies[self.chassis];
        let forward = *body.rotation() * Vec3::X;
        body.set_linvel(forward * speed, true);
    }

    /// Where moving obstacle `i` will be at the end of the next physics step: (x, y) metres on
    /// the track plane, heading radians.
    pub fn move_mover(&mut self, i: usize, x: f32, y: f32, yaw: f32) {
        let Some(&handle) = self.movers.get(i) else { return };
        let body = &mut self.world.bodies[handle];
        let z = body.translation().z;
        body.set_next_kinematic_position(Pose::from_parts(Vec3::new(x, y, z), Quat::from_rotation_z(yaw)));
    }

    /// Advances `duration` seconds in physics steps, steering towards `steering_rad` (bicycle
    /// model, positive left) and driving towards `target_speed` m/s.
    pub fn advance(&mut self, steering_rad: f32, target_speed: f32, duration: f32) {
        let steps = (duration / self.dt).round().max(1.0) as usize;
        for _ in 0..steps {
            self.step(steering_rad, target_speed);
        }
    }

    /// One physics step.
    pub fn step(&mut self, steering_rad: f32, target_speed: f32) {
        let spec = &self.spec;
        let max_turn = spec.steering_rate_radps * self.dt;
        let goal = steering_rad.clamp(-spec.max_steering_rad, spec.max_steering_rad);
        self.steering_rad += (goal - self.steering_rad).clamp(-max_turn, max_turn);
        let (left, right) = spec.ackermann_angles(self.steering_rad);

        // Speed controller: the motor pushes or brakes within the car's limits.
        let speed = self.forward_speed();
        let accel = (SPEED_GAIN * (target_speed - speed)).clamp(-spec.max_brake_mps2, spec.max_accel_mps2);
        let force_per_wheel = spec.mass_kg * accel / 4.0;
        let wheels = self.vehicle.wheels_mut();
        wheels[0].steering = left;
        wheels[1].steering = right;
        for w in wheels.iter_mut() {
            w.engine_force = force_per_wheel;
        }

        let world = &mut self.world;
        let queries = world.broad_phase.as_query_pipeline_mut(
            world.narrow_phase.query_dispatcher(),
            &mut world.bodies,
            &mut world.colliders,
            QueryFilter::default().exclude_rigid_body(self.chassis),
        );
        self.vehicle.update_vehicle(self.dt, queries);
        self.apply_tyre_grip();
        self.world.step();
        let world = &mut self.world;

        if !self.crashed && !self.obstacle_colliders.is_empty() {
            let chassis = self.chassis_collider;
            self.crashed = self.obstacle_colliders.iter().any(|&o| world.narrow_phase.contact_pair(chassis, o).is_some_and(|p| p.has_any_active_contact()));
        }
    }

    /// Sideways grip: impulses at the tyres that cancel their sideways slip, each limited to the
    /// tyre's friction `mu x load x dt`, solved over the four wheels a few times so the
    /// constraints agree. Applied at the height of the centre of mass, as ray-cast vehicles
    /// usually do, so cornering does not roll the light body over.
    fn apply_tyre_grip(&mut self) {
        let body = &mut self.world.bodies[self.chassis];
        let inv_mass = body.mass_properties().local_mprops.inv_mass;
        let inv_inertia = body.mass_properties().effective_world_inv_inertia;
        let mu = self.spec.tyre_mu;
        let mut total = [0.0f32; 4];
        for _ in 0..4 {
            for (i, w) in self.vehicle.wheels().iter().enumerate() {
                let info = w.raycast_info();
                if !info.is_in_contact {
                    continue;
                }
                let n = info.contact_normal_ws;
                let axle = (w.axle() - n * w.axle().dot(n)).normalize_or_zero();
                let com = body.center_of_mass();
                let point = Vec3::new(info.contact_point_ws.x, info.contact_point_ws.y, com.z);
                let slip = body.velocity_at_point(point).dot(axle);
                let arm = (point - com).cross(axle);
                let effective = inv_mass + arm.dot(inv_inertia * arm);
                let limit = mu * w.wheel_suspension_force.min(w.max_suspension_force) * self.dt;
                let wanted = (total[i] - slip / effective).clamp(-limit, limit);
                let impulse = wanted - total[i];
                total[i] = wanted;
                body.apply_impulse_at_point(axle * impulse, point, false);
            }
        }
    }

    /// Pose of the car origin (ground level, midway between the axles).
    pub fn pose(&self) -> CarPose {
        let body = &self.world.bodies[self.chassis];
        CarPose { position: body.translation(), rotation: *body.rotation() }
    }

    /// Speed along the car's heading, m/s (negative when rolling backwards).
    pub fn forward_speed(&self) -> f32 {
        let body = &self.world.bodies[self.chassis];
        body.linvel().dot(*body.rotation() * Vec3::X)
    }

    /// Yaw rate, radians per second (positive turning left).
    pub fn yaw_rate(&self) -> f32 {
        self.world.bodies[self.chassis].angvel().z
    }

    /// Current steering angle (bicycle model), radians.
    pub fn steering_rad(&self) -> f32 {
        self.steering_rad
    }

    /// Where each tyre meets the ground (front left, front right, rear left, rear right), in the
    /// track plane, metres. A wheel in the air reports the point under its hub.
    pub fn wheel_contacts(&self) -> [Vec2; 4] {
        let wheels = self.vehicle.wheels();
        std::array::from_fn(|i| {
            let p = wheels[i].raycast_info().contact_point_ws;
            Vec2::new(p.x, p.y)
        })
    }

    /// Whether the body has touched an obstacle or another car since the world was made.
    pub fn crashed(&self) -> bool {
        self.crashed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn car() -> (CarSpec, CarPhysics) {
        let spec = CarSpec::deepracer();
        let physics = CarPhysics::new(&spec, DEFAULT_PHYSICS_HZ, 0.0, 0.0, 0.0, &[]);
        (spec, physics)
    }

    #[test]
    fn settles_on_its_wheels_at_rest() {
        let (_, mut car) = car();
        car.advance(0.0, 0.0, 2.0);
        let pose = car.pose();
        assert!(pose.position.z.abs() < 0.01, "car origin {} m off the ground", pose.position.z);
        assert!(car.forward_speed().abs() < 0.01);
        assert!(pose.position.truncate().length() < 0.01, "drifted {:?}", pose.position);
    }

    #[test]
    fn reaches_and_holds_commanded_speed() {
        for target in [0.5f32, 1.5, 3.0, 4.0] {
            let (_, mut car) = car();
            car.advance(0.0, target, 3.0);
            let mut worst = 0.0f32;
            for _ in 0..60 {
                car.step(0.0, target);
                worst = worst.max((car.forward_speed() - target).abs());
            }
            assert!(worst < 0.03 * target, "target {target} m/s: off by up to {worst} m/s");
            let pose = car.pose();
            assert!(pose.position.y.abs() < 0.02, "drove straight: y = {}", pose.position.y);
        }
    }

    /// At low speed the tyres barely slip, so the rear axle follows the circle of radius
    /// wheelbase / tan(steering) that the bicycle model predicts.
    #[test]
    fn circles_on_the_radius_geometry_predicts() {
        for steer_deg in [10.0f32, 20.0, 30.0] {
            let (spec, mut car) = car();
            let steer = steer_deg.to_radians();
            let speed = 0.4;
            car.advance(steer, speed, 3.0);
            // Rear-axle midpoint sampled over two laps; fit the circle by its centroid.
            let mut points = Vec::new();
            let lap_time = 2.0 * std::f32::consts::PI * spec.turn_radius_m(steer) / speed;
            let steps = (2.0 * lap_time / car.dt()) as usize;
            for _ in 0..steps {
                car.step(steer, speed);
                let pose = car.pose();
                let rear = pose.to_world(Vec3::new(-spec.wheelbase_m / 2.0, 0.0, 0.0));
                points.push(rear.truncate());
            }
            let centre = points.iter().copied().sum::<Vec2>() / points.len() as f32;
            let radius = points.iter().map(|p| p.distance(centre)).sum::<f32>() / points.len() as f32;
            let expected = spec.turn_radius_m(steer);
            let error = (radius - expected).abs() / expected;
            assert!(error < 0.03, "steering {steer_deg} deg: radius {radius:.4} m, geometry {expected:.4} m");
            // Turning left: the centre is to the car's left.
            let pose = car.pose();
            let to_centre = centre - pose.position.truncate();
            let left = (pose.rotation * Vec3::Y).truncate();
            assert!(to_centre.dot(left) > 0.0);
        }
    }

    /// Fast and at full lock the tyres saturate: the car slides wide, and its lateral
    /// acceleration v * yaw rate stays at or below what friction allows (mu g).
    #[test]
    fn grip_limits_cornering_at_speed() {
        let (spec, mut car) = car();
        car.advance(0.0, 3.0, 2.0);
        car.advance(spec.max_steering_rad, 3.0, 2.0);
        let lateral = car.forward_speed() * car.yaw_rate();
        let limit = spec.max_lateral_accel_mps2();
        assert!(lateral <= limit * 1.05, "lateral {lateral} m/s^2 beyond grip {limit}");
        assert!(lateral >= limit * 0.6, "lateral {lateral} m/s^2: the tyres should be near their limit");
        let radius = car.forward_speed() / car.yaw_rate();
        assert!(radius > 2.0 * spec.turn_radius_m(spec.max_steering_rad), "slid wide: radius {radius} m");
    }

    #[test]
    fn hitting_a_box_is_a_crash() {
        let spec = CarSpec::deepracer();
        let boxes = [Obstacle::deepracer_box(Vec2::new(1.0, 0.0), 0.0)];
        let mut car = CarPhysics::new(&spec, DEFAULT_PHYSICS_HZ, 0.0, 0.0, 0.0, &boxes);
        car.advance(0.0, 1.0, 0.5);
        assert!(!car.crashed());
        car.advance(0.0, 1.0, 2.0);
        assert!(car.crashed());
        assert!(car.pose().position.x < 1.0, "the box stopped the car");
    }

    #[test]
    fn same_inputs_same_trajectory() {
        let run = || {
            let (_, mut car) = car();
            for i in 0..200 {
                car.step(((i as f32) * 0.05).sin() * 0.5, 2.0);
            }
            car.pose()
        };
        assert_eq!(run(), run());
    }
}
