#!/usr/bin/env bash
# The benchmark suite of issue 6 in one command: installs the peers (hnswlib, FAISS with OpenBLAS) and
# gnuplot, fetches and converts the datasets into ~/.cache/vindex (outside the repository), builds
# build-bench with -Werror, runs benchmarks/bench_ann per dataset and renders the plots.
#
# Usage: scripts/bench_suite.sh [--out=DIR] [--no-peers] [dataset ...] [-- bench_ann options ...]
#   datasets: siftsmall fashion-mnist glove-100 (default: all three); clustered also works
#   --out=DIR     results folder (default bench-results/, gitignored)
#   --no-peers    build without hnswlib and FAISS (what a machine without them gets), in build-bench-solo
#   after --, options for bench_ann, e.g. -- --queries=500 --max-ef=256 (see benchmarks/bench_ann.cpp)
# Writes DIR/<dataset>.md (every table for the dataset, with date, CPU, kernels, command and threads),
# DIR/<dataset>.csv (the recall–q/s curves), DIR/<dataset>.png (the plot) and DIR/summary.md (all of
# them in one file, the plots linked). Exits non-zero when a dataset's ground truth fails its check.
set -euo pipefail
cd "$(dirname "$0")/.."
command_line="scripts/bench_suite.sh $*"
out=bench-results
build=build-bench
peers=enabled
datasets=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out=*) out="${1#--out=}" ;;
    --no-peers) peers=disabled; build=build-bench-solo ;;
    --) shift; extra=("$@"); break ;;
    -*) echo "unknown option $1 (bench_ann options go after --)" >&2; exit 2 ;;
    *) datasets+=("$1") ;;
  esac
  shift
done
[ ${#datasets[@]} -eq 0 ] && datasets=(siftsmall fashion-mnist glove-100)

if [ "$peers" = enabled ]; then
  scripts/deps.sh libhnswlib-dev libfaiss-dev libopenblas0-pthread gnuplot-nox
else
  scripts/deps.sh gnuplot-nox
fi
for d in "${datasets[@]}"; do
  case "$d" in
    fashion-mnist|glove-100) benchmarks/fetch_datasets.sh "$d" ;;
  esac
done

if [ -d "$build" ]; then
  meson configure "$build" -Dnative=true -Dbenchmarks=enabled -Dbench_peers="$peers" -Dwerror=true >/dev/null
else
  meson setup "$build" -Dnative=true -Dtests=false -Dexamples=false -Dbenchmarks=enabled \
    -Dbench_peers="$peers" --werror >/dev/null
fi
echo "building $build/benchmarks/bench_ann"
log=$(mktemp)
ninja -C "$build" benchmarks/bench_ann >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; exit 1; }
rm -f "$log"

mkdir -p "$out"
summary="$out/summary.md"
{
  echo "# vindex benchmark suite"
  echo
  echo "\`$command_line\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs."
  echo
} > "$summary"
status=0
for d in "${datasets[@]}"; do
  echo "== $d"
  start=$(date +%s)
  # Searches run on one thread: FAISS's OpenMP and OpenBLAS threads are set to 1, and OpenBLAS picks
  # its own kernel for this CPU (the CI environment's overrides are dropped).
  if env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
      VINDEX_BENCH_COMMAND="$command_line" \
      "$build/benchmarks/bench_ann" --dataset="$d" --out="$out" "${extra[@]}" > "$out/$d.md"; then
    echo "$d: $(( $(date +%s) - start )) s" >&2
  else
    status=$?
    echo "$d: bench_ann failed (exit $status); see $out/$d.md" >&2
    cat "$out/$d.md" >> "$summary"
    continue
  fi
  if command -v gnuplot >/dev/null; then
    (cd "$out" && gnuplot "$d.gnuplot") && rm -f "$out/$d.gnuplot"
  else
    echo "gnuplot not found: $out/$d.png not rendered (gnuplot script kept)" >&2
  fi
  cat "$out/$d.md" >> "$summary"
  echo "_(bench_ann for $d took $(( $(date +%s) - start )) s.)_" >> "$summary"
  echo >> "$summary"
done
echo "results: $out/ (summary.md, <dataset>.md, .csv, .png)"
exit $status
