#!/bin/sh
# An installed vindex through pkg-config (PKG_CONFIG_PATH=<prefix>/.../pkgconfig); CXX from run.sh.
set -eu
"$CXX" -std=c++20 -Wall -Wextra -Werror $(pkg-config --cflags vindex) \
  -DEXPECTED_VINDEX_VERSION="\"$(pkg-config --modversion vindex)\"" app.cpp second_tu.cpp -o app
