#!/usr/bin/env bash
# Install Salon's wheel into a fresh virtual environment: the install step of the Docker image,
# and of a bare-metal install. CI runs this same script on every submission (.ci/wheel-demo).
#
#   deploy/install-salon.sh PREFIX WHEEL [pip options...]
#
# Without options pip resolves every dependency; torch then comes from PyPI's default build,
# which on Linux is the CUDA one. Pass `--constraint constraints/cpu.txt` for a CPU-only box.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 PREFIX WHEEL [pip options...]" >&2
    exit 2
fi
prefix=$1
wheel=$2
shift 2
python3 -m venv "$prefix"
"$prefix/bin/python" -m pip install --quiet "$@" "$wheel"
echo "installed $(basename "$wheel") into $prefix; run $prefix/bin/python -m bot --help"
