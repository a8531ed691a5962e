#!/bin/sh
# The checkout's include/ on the include path, plus xsimd from the system; CXX and VINDEX_SOURCE
# from run.sh.
set -eu
"$CXX" -std=c++20 -Wall -Wextra -Werror -I "$VINDEX_SOURCE/include" app.cpp second_tu.cpp -o app
