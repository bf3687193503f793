#!/usr/bin/env bash
# The whole test suite: installs libtorch for the trainer and QEMU plus a guest kernel for the
# microVM workers, PostgreSQL and Chromium for the race server when missing, checks the format and
# lints, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-libtorch.sh
./scripts/setup-microvm.sh
./scripts/setup-race.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
