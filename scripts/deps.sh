#!/usr/bin/env bash
# Installs the Debian packages vindex needs to build, test and benchmark, when any is missing.
# Usage: scripts/deps.sh [extra-package ...]
set -euo pipefail
packages=(g++ meson ninja-build pkg-config libxsimd-dev doctest-dev "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "vindex: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
