#!/usr/bin/env bash
# Sets Paddock up on a fresh machine and runs the main job: a short lidar PPO training run on the
# bundled circuit (it stops once the policy drives three clean laps; a few minutes at most), then
# a DeepRacer-style evaluation of the trained model, whose laps it prints.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "Paddock needs Rust (cargo): install it with rustup, then run this again." >&2
  exit 1
fi

./scripts/setup-libtorch.sh
cargo build --release -p paddock -p paddock-trainer   # paddock, and paddock-train (the trainer, linking libtorch) beside it
paddock=target/release/paddock
mkdir -p out runs
"$paddock" tracks info circuit
"$paddock" sim render --track circuit --progress 5 --out out/camera.png
run="runs/quickstart-$(date +%Y%m%d-%H%M%S)"
"$paddock" train --config examples/lidar-circuit.toml --out "$run"
"$paddock" eval "$run" --laps 3 --png out/eval.png --gif out/eval.gif
echo "Run folder: $run (metrics.jsonl, simtrace.csv, model.safetensors); laps drawn in out/eval.png, camera in out/eval.gif"
