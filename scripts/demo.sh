#!/usr/bin/env bash
# Builds and runs the main demo (examples/quickstart.cpp), installing missing packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
[ -d build ] || meson setup build -Dnative=true >/dev/null
ninja -C build examples/quickstart >/dev/null
./build/examples/quickstart
