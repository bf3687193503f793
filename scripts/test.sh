#!/usr/bin/env bash
# The whole test suite: installs libtorch for the trainer and QEMU plus a guest kernel for the
# microVM workers, PostgreSQL and Chromium for the race server, a virtual display and software
# Vulkan for the desktop simulator when missing, checks the format and lints, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-libtorch.sh
./scripts/setup-microvm.sh
./scripts/setup-race.sh
./scripts/setup-gui.sh
cargo fmt --all --check
# clippy's lints, warnings denied, on every target of the workspace's crates, as the tests build
# (see scripts/lint-rustc): one build of the dependencies instead of a check and a build.
export RUSTC_WORKSPACE_WRAPPER="$PWD/scripts/lint-rustc"
cargo test --workspace --all-targets --no-run
cargo test --workspace
