#!/usr/bin/env bash
# Sets Paddock up on a fresh machine and runs the main job.
# Today the main job is the simulator's: build, inspect the bundled circuit, render what the car's
# camera sees, and drive an evaluated lap with the scripted baseline driver. (Training arrives
# with the trainer; this script will then end with a trained policy's evaluated lap.)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "Paddock needs Rust (cargo): install it with rustup, then run this again." >&2
  exit 1
fi

cargo build --release --bin paddock
paddock=target/release/paddock
mkdir -p out
"$paddock" tracks list
"$paddock" tracks info circuit
"$paddock" tracks show circuit --png out/circuit.png
"$paddock" sim render --track circuit --progress 5 --out out/camera.png
"$paddock" sim render --track circuit --progress 5 --sensor lidar --out out/lidar.png
"$paddock" sim drive --track circuit --speed 2.0 --png out/lap.png
