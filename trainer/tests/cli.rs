//! `paddock-train`, the binary `paddock train` and `paddock bench train` hand over to.

use std::process::{Command, Output};

fn paddock_train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paddock-train")).args(args).output().expect("run paddock-train")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn a_run_needs_a_config_or_a_folder_to_resume() {
    let o = paddock_train(&["run"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--config") && text(&o).contains("--resume"), "{}", text(&o));
}

#[test]
fn a_bad_config_is_named_before_any_work() {
    let dir = std::env::temp_dir().join(format!("paddock-train-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bad.toml");
    std::fs::write(&config, "[workers.microvm]\naccel = \"kvmm\"\n").unwrap();
    let out = dir.join("run");
    let o = paddock_train(&["run", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("kvmm") && text(&o).contains("tcg"), "{}", text(&o));
    assert!(!out.exists(), "a refused config made a run folder");
    std::fs::remove_dir_all(&dir).ok();
}
