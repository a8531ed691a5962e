#!/usr/bin/env bash
# Builds vindex with warnings as errors and runs every test, installing missing packages first.
# Usage: scripts/test.sh [build-dir [extra meson setup options...]]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
dir="${1:-build-test}"
shift || true
[ -d "$dir" ] || meson setup "$dir" -Dnative=true --werror -Dbenchmarks=disabled "$@"
ninja -C "$dir"
meson test -C "$dir" --print-errorlogs --num-processes 2
