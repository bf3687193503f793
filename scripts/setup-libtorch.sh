#!/usr/bin/env bash
# Installs libtorch for the trainer crate (tch) into a project-local virtual environment, once.
#
# tch 0.26 builds against PyTorch 2.13.0; the PyPI wheel ships libtorch (with CUDA libraries, so
# the same build uses a GPU where there is one). Prints the environment the build needs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
torch_version="2.13.0"

if ! "$venv/bin/python" -W ignore -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$torch_version')" 2>/dev/null; then
    echo "setup-libtorch: installing torch==$torch_version into $venv (about a minute, 4.7 GB)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "torch==$torch_version"
fi

# A fixed path for .cargo/config.toml's LIBTORCH, whatever the Python version.
torch_dir="$("$venv/bin/python" -W ignore -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
ln -sfn "$(realpath --relative-to="$venv" "$torch_dir")" "$venv/libtorch"
