//! `paddock train` and `paddock bench train` hand over to `paddock-train`, the one binary that
//! links libtorch, so every other command runs on a machine without PyTorch.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, Result};

/// Replaces this process with `paddock-train SUBCOMMAND ARGS...`: its output, exit status and
/// signals are the command's own.
pub fn to_trainer(subcommand: &str, args: &[OsString]) -> Result<()> {
    let binary = trainer_binary()?;
    let error = Command::new(&binary).arg(subcommand).args(args).exec();
    Err(anyhow!("cannot run {}: {error}", binary.display()))
}

/// `PADDOCK_TRAIN_BIN`, or `paddock-train` beside this program.
fn trainer_binary() -> Result<PathBuf> {
    if let Some(b) = std::env::var_os("PADDOCK_TRAIN_BIN") {
        return Ok(PathBuf::from(b));
    }
    let exe = std::env::current_exe().map_err(|e| anyhow!("cannot locate this program: {e}"))?;
    let beside = exe.parent().unwrap_or(Path::new(".")).join("paddock-train");
    if beside.is_file() {
        return Ok(beside);
    }
    Err(anyhow!(
        "training needs paddock-train (the trainer, which links libtorch) beside {}; install it with \
         `cargo install --path trainer` or build it with `cargo build --release -p paddock-trainer` \
         (scripts/setup-libtorch.sh first), or set PADDOCK_TRAIN_BIN",
        exe.display()
    ))
}
