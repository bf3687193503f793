#!/usr/bin/env bash
# The whole test suite: installs libtorch for the trainer when missing, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-libtorch.sh
cargo test --workspace
