#!/usr/bin/env bash
# Builds the benchmarks with the peers (hnswlib, FAISS with OpenBLAS) and runs them, printing tables.
# Usage: scripts/bench.sh [program-name ...]   (default: every bench_* program)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh libhnswlib-dev libfaiss-dev libopenblas0-pthread
[ -d build-bench ] || meson setup build-bench -Dnative=true -Dtests=false -Dbenchmarks=enabled >/dev/null
ninja -C build-bench >/dev/null
programs=("$@")
[ ${#programs[@]} -eq 0 ] && programs=($(cd build-bench/benchmarks && ls bench_* | grep -v '\.p$'))
for p in "${programs[@]}"; do
  echo "== $p"
  # Peers run single-threaded; OpenBLAS picks its own kernel for this CPU.
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "build-bench/benchmarks/$p"
done
