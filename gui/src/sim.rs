//! The simulation in the app: the [`Session`] stepped at 15 Hz in `FixedUpdate` (the control
//! rate of training and of the car), with the keyboard or a gamepad, or a script, driving.

use std::time::{Duration, Instant};

use bevy::prelude::*;

use crate::app::Failure;
use crate::controls::{gamepad_input, KeyControls, Keys};
use crate::session::{HumanInput, Session};

/// The session and what drives it.
#[derive(Resource)]
pub struct Sim {
    pub session: Session,
    keys: KeyControls,
    /// The input of the next step.
    pub input: HumanInput,
    /// A script's fixed input instead of the keyboard's.
    pub scripted: Option<HumanInput>,
    pub paused: bool,
    /// Compute time of the steps so far, for the steps/s the simulator could run.
    pub step_time: Duration,
    /// The chase camera should jump (a reset or a new lap moved the car).
    pub jumped: bool,
}

impl Sim {
    pub fn new(session: Session) -> Sim {
        Sim { session, keys: KeyControls::default(), input: HumanInput::default(), scripted: None, paused: false, step_time: Duration::ZERO, jumped: false }
    }

    /// Steps per second the simulator manages on this machine (control steps, physics and
    /// sensors and the model included), from the steps so far.
    pub fn capacity_steps_per_s(&self) -> Option<f64> {
        let s = self.step_time.as_secs_f64();
        (self.session.steps() > 0 && s > 0.0).then(|| self.session.steps() as f64 / s)
    }
}

pub struct SimPlugin;

impl Plugin for SimPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, read_input.run_if(resource_exists::<Sim>))
            .add_systems(FixedUpdate, step.run_if(resource_exists::<Sim>).run_if(not(resource_exists::<Failure>)));
    }
}

fn read_input(keys: Res<ButtonInput<KeyCode>>, gamepads: Query<&Gamepad>, time: Res<Time>, mut sim: ResMut<Sim>) {
    if keys.just_pressed(KeyCode::KeyP) {
        sim.paused = !sim.paused;
    }
    if let Some(input) = sim.scripted {
        sim.input = input;
        return;
    }
    let held = |a: KeyCode, b: KeyCode| keys.pressed(a) || keys.pressed(b);
    let k = Keys {
        left: held(KeyCode::ArrowLeft, KeyCode::KeyA),
        right: held(KeyCode::ArrowRight, KeyCode::KeyD),
        accelerate: held(KeyCode::ArrowUp, KeyCode::KeyW),
        brake: held(KeyCode::ArrowDown, KeyCode::KeyS),
    };
    let from_keys = sim.keys.update(k, time.delta_secs());
    // A gamepad in use wins over idle keys.
    let pad = gamepads.iter().map(|g| {
        let stick = g.left_stick();
        gamepad_input(stick.x, stick.y, g.get(GamepadButton::RightTrigger2).unwrap_or(0.0))
    });
    let pad = pad.max_by(|a, b| (a.steer.abs() + a.throttle).total_cmp(&(b.steer.abs() + b.throttle)));
    sim.input = match pad {
        Some(p) if k == Keys::default() && (p.steer != 0.0 || p.throttle != 0.0) => p,
        _ => from_keys,
    };
}

fn step(mut sim: ResMut<Sim>, mut commands: Commands) {
    if sim.paused {
        return;
    }
    let input = sim.input;
    let started = Instant::now();
    let result = sim.session.step(input);
    sim.step_time += started.elapsed();
    match result {
        Ok(step) => sim.jumped |= step.teleported,
        Err(e) => {
            commands.insert_resource(Failure(format!("the simulation stopped: {e}")));
        }
    }
}
