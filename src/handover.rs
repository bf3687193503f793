//! Commands that other binaries run: `paddock train` and `paddock bench train` hand over to
//! `paddock-train`, the one binary that links libtorch, so every other command runs on a machine
//! without PyTorch; `paddock gui` to `paddock-gui`, so bevy is built only where it is wanted.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, Result};

/// A binary installed beside `paddock`.
struct Companion {
    name: &'static str,
    /// Overrides where it is.
    env: &'static str,
    /// How to get it, for the error when it is missing.
    install: &'static str,
}

const TRAINER: Companion = Companion {
    name: "paddock-train",
    env: "PADDOCK_TRAIN_BIN",
    install: "training needs paddock-train (the trainer, which links libtorch); install it with `cargo install --path trainer` \
              or build it with `cargo build --release -p paddock-trainer` (scripts/setup-libtorch.sh first)",
};

const GUI: Companion = Companion {
    name: "paddock-gui",
    env: "PADDOCK_GUI_BIN",
    install: "the desktop simulator is paddock-gui; install it with `cargo install --path gui` or build it with \
              `cargo build --release -p paddock-gui` (scripts/setup-gui.sh first)",
};

/// Replaces this process with `paddock-train SUBCOMMAND ARGS...`: its output, exit status and
/// signals are the command's own.
pub fn to_trainer(subcommand: &str, args: &[OsString]) -> Result<()> {
    exec(&TRAINER, Some(subcommand), args)
}

/// Replaces this process with `paddock-gui ARGS...`.
pub fn to_gui(args: &[OsString]) -> Result<()> {
    exec(&GUI, None, args)
}

fn exec(companion: &Companion, subcommand: Option<&str>, args: &[OsString]) -> Result<()> {
    let binary = find(companion)?;
    let error = Command::new(&binary).args(subcommand).args(args).exec();
    Err(anyhow!("cannot run {}: {error}", binary.display()))
}

/// The companion's environment variable, or the binary beside this program.
fn find(companion: &Companion) -> Result<PathBuf> {
    if let Some(b) = std::env::var_os(companion.env) {
        return Ok(PathBuf::from(b));
    }
    let exe = std::env::current_exe().map_err(|e| anyhow!("cannot locate this program: {e}"))?;
    let beside = exe.parent().unwrap_or(Path::new(".")).join(companion.name);
    if beside.is_file() {
        return Ok(beside);
    }
    Err(anyhow!("{} beside {}, or set {}", companion.install, exe.display(), companion.env))
}
