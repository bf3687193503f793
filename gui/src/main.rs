//! `paddock-gui`: the desktop simulator's command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use paddock_gui::app::{self, Launch, Mode};
use paddock_gui::script::Script;
use paddock_gui::session::HumanInput;
use paddock_gui::view::ViewMode;
use paddock_sim::EnvConfig;

#[derive(Parser)]
#[command(name = "paddock-gui", version, about = "Paddock's desktop simulator: drive the car, or watch a model drive it.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    window: WindowArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Drive the car with the keyboard (arrows or WASD) or a gamepad.
    Drive {
        /// A bundled track, random:SEED, or a .json/.npy file.
        #[arg(long, default_value = "circuit")]
        track: String,
        /// Drive the track clockwise.
        #[arg(long)]
        reverse: bool,
        /// Boxes on the track (object avoidance).
        #[arg(long, default_value_t = 0)]
        obstacles: usize,
        /// Bot cars on the track (head-to-bot).
        #[arg(long, default_value_t = 0)]
        bot_cars: usize,
        /// Speed of the bot cars, m/s.
        #[arg(long, default_value_t = 0.5)]
        bot_speed: f32,
    },
    /// Watch a model drive: a model file, or a run folder (its model or newest checkpoint, on
    /// the run's track and environment).
    Watch {
        model: PathBuf,
        /// Another track than the run's.
        #[arg(long)]
        track: Option<String>,
        #[arg(long)]
        reverse: bool,
    },
}

#[derive(Args)]
struct WindowArgs {
    /// Window size, pixels.
    #[arg(long, global = true, default_value = "1280x720", value_parser = parse_size)]
    size: (u32, u32),
    /// The camera to start with.
    #[arg(long, global = true, value_enum, default_value_t = ViewMode::Chase)]
    view: ViewMode,
    /// Render this many frames at a fixed 1/30 s each, save a screenshot to --screenshot (and
    /// where things are on it to the same name with .json), then exit. For tests.
    #[arg(long, global = true, requires = "screenshot")]
    frames: Option<u32>,
    #[arg(long, global = true, requires = "frames")]
    screenshot: Option<PathBuf>,
    /// With --frames: a fixed throttle (0..1) and steering (-1 right..1 left) instead of the keys.
    #[arg(long, global = true, requires = "frames", value_parser = parse_input)]
    input: Option<HumanInput>,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or("expected WIDTHxHEIGHT, like 1280x720")?;
    let n = |v: &str| v.parse::<u32>().ok().filter(|n| (64..=8192).contains(n)).ok_or(format!("'{v}' is not a size in pixels (64..8192)"));
    Ok((n(w)?, n(h)?))
}

fn parse_input(s: &str) -> Result<HumanInput, String> {
    let (t, st) = s.split_once(',').ok_or("expected THROTTLE,STEER, like 0.5,0")?;
    let f = |v: &str, lo: f32| v.trim().parse::<f32>().ok().filter(|x| (lo..=1.0).contains(x)).ok_or(format!("'{v}' is outside {lo}..1"));
    Ok(HumanInput { throttle: f(t, 0.0)?, steer: f(st, -1.0)? })
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let mode = match cli.command {
        Command::Drive { track, reverse, obstacles, bot_cars, bot_speed } => {
            let env = EnvConfig { obstacles, bot_cars, bot_car_speed_mps: bot_speed, ..EnvConfig::default() };
            if let Err(e) = env.validate() {
                eprintln!("paddock-gui: {e}");
                return std::process::ExitCode::from(2);
            }
            Mode::Drive { track, reverse, env }
        }
        Command::Watch { model, track, reverse } => Mode::Watch { path: model, track, reverse },
    };
    let w = cli.window;
    let script = match (w.frames, w.screenshot) {
        (Some(frames), Some(screenshot)) => Some(Script { frames, screenshot, input: w.input }),
        _ => None,
    };
    let launch = Launch { mode, width: w.size.0, height: w.size.1, view: w.view, script };
    match app::build(launch).run() {
        bevy::app::AppExit::Success => std::process::ExitCode::SUCCESS,
        bevy::app::AppExit::Error(code) => std::process::ExitCode::from(code.get()),
    }
}
