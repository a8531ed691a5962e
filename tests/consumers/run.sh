#!/usr/bin/env bash
# Builds and runs the consumer projects of tests/consumers/ against this checkout, each with g++ and
# clang++ at -std=c++20 -Wall -Wextra -Werror. Every one compiles app.cpp (builds Flat and HNSW
# indexes, searches them, checks the answer and the version) and second_tu.cpp (vindex.hpp again, in
# a second translation unit, so a non-inline definition in a header fails the link):
#   meson-wrap    meson/ with subprojects/vindex.wrap, a wrap-git at this checkout's HEAD commit
#   meson-subdir  meson/ with this working tree copied to subprojects/vindex (the git-submodule case)
#   pkgconfig     `meson install` into a temporary prefix, then pkgconfig/build.sh (pkg-config --cflags)
#   cmake         cmake/: find_package(vindex 0.1 CONFIG REQUIRED) against the same prefix
#   plain         plain/build.sh: -I include plus the system's xsimd
# and checks the install itself: the installed headers are exactly the files under include/vindex/,
# all of them compile from the prefix alone, the pkg-config and CMake files carry meson.build's
# version, and CMake refuses a newer minor version than installed.
# Ends with meson-test-style "Ok:" / "Fail:" lines (.ci/run counts them); exit status 0 when all pass.
# Usage: tests/consumers/run.sh [--keep]   (--keep: leave the temporary folder for inspection)
set -uo pipefail
cd "$(dirname "$0")/../.."
src=$(pwd)
here="$src/tests/consumers"
start=$(date +%s)
scripts/deps.sh cmake clang git || exit 1
work=$(mktemp -d "${TMPDIR:-/tmp}/vindex-consumers.XXXXXX")
[ "${1:-}" = "--keep" ] && echo "consumers: work folder $work (kept)" || trap 'rm -rf "$work"' EXIT
version=$(meson introspect --projectinfo meson.build 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
compilers=(g++ clang++)
passed=0
failed=0
skipped=0

# report NAME STATUS: prints PASS (with the seconds since the step began) or FAIL and the log's tail.
report() {
  local name=$1 rc=$2
  if [ "$rc" -eq 0 ]; then
    echo "PASS $name ($(( $(date +%s) - step_start )) s)"
    passed=$((passed + 1))
  else
    echo "FAIL $name (log: $work/$name.log)"
    tail -n 25 "$work/$name.log" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
}
# check NAME CMD...: runs CMD in a subshell, its output in $work/NAME.log.
check() {
  local name=$1
  shift
  step_start=$(date +%s)
  ("$@") >"$work/$name.log" 2>&1
  report "$name" $?
}
# per_compiler NAME FUNCTION: FUNCTION DIR CXX for g++ and clang++, both at once (one job each, so
# the stage uses two cores), each in a fresh copy of app.cpp and second_tu.cpp.
per_compiler() {
  local name=$1 fn=$2 cxx pids=()
  step_start=$(date +%s)
  for cxx in "${compilers[@]}"; do
    mkdir -p "$work/$name-$cxx"
    cp "$here/app.cpp" "$here/second_tu.cpp" "$work/$name-$cxx/"
    ( cd "$work/$name-$cxx" && "$fn" "$work/$name-$cxx" "$cxx" ) >"$work/$name-$cxx.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}"
    report "$name-${compilers[$i]}" $?
  done
}

# --- The install: headers, pkg-config and CMake files into a temporary prefix.
prefix="$work/prefix"
install_vindex() {
  meson setup "$work/build" --prefix="$prefix" -Dtests=false -Dexamples=false -Dbenchmarks=disabled &&
    meson install -C "$work/build"
}
check install install_vindex
pc_dir=$(dirname "$(find "$prefix" -name vindex.pc | head -n 1)")
export PKG_CONFIG_PATH="$pc_dir"

installed_headers_match() {  # the installed set equals include/vindex/**, file for file
  diff <(cd include && find vindex -type f | sort) <(cd "$prefix/include" && find vindex -type f | sort) &&
    echo "$(cd include && find vindex -type f | wc -l) files, same set"
}
check install-headers-match installed_headers_match

installed_versions() {  # pkg-config and CMake files say meson.build's version
  echo "meson.build: $version"
  test "$(pkg-config --modversion vindex)" = "$version" &&
    grep -q "PACKAGE_VERSION \"$version\"" "$prefix"/share/cmake/vindex/vindexConfigVersion.cmake &&
    grep -q "VINDEX_VERSION_STRING \"$version\"" "$prefix/include/vindex/version.hpp"
}
check install-version installed_versions

# Every installed header, included from the prefix alone (the checkout's include/ is not on the
# path): a header that includes one the install left out fails here. (That each header compiles on
# its own is tests/meson.build's header-alone check.)
all_headers() {  # DIR CXX
  (cd "$prefix/include" && find vindex -name '*.hpp' | sort | sed 's/.*/#include <&>/') >all_headers.cpp
  "$2" -std=c++20 -Wall -Wextra -Werror $(pkg-config --cflags vindex) -fsyntax-only all_headers.cpp &&
    echo "$(wc -l <all_headers.cpp) installed headers compile together from $prefix/include"
}
per_compiler install-headers-compile all_headers

# --- The consumers.
meson_consumer() {  # DIR CXX: the Meson project, subprojects/ prepared by the caller
  cp "$here/meson/meson.build" . &&
    CXX=$2 meson setup build --force-fallback-for=vindex | tee setup.log &&
    grep -q 'Executing subproject vindex' setup.log &&
    ninja -C build -j 1 &&
    build/app
}
meson_wrap() {
  mkdir -p subprojects
  printf '[wrap-git]\nurl = %s\nrevision = %s\n\n[provide]\nvindex = vindex_dep\n' "$src" "$head" \
    >subprojects/vindex.wrap
  cat subprojects/vindex.wrap
  meson_consumer "$@" && test -f subprojects/vindex/include/vindex/vindex.hpp
}
if head=$(git rev-parse HEAD 2>/dev/null); then
  if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    echo "note: meson-wrap builds commit $head; uncommitted changes are only in meson-subdir"
  fi
  per_compiler meson-wrap meson_wrap
else
  echo "SKIP meson-wrap: $src is not a git checkout, so a wrap-git cannot point at it"
  skipped=$((skipped + 1))
fi

meson_subdir() {  # the working tree, as a submodule would put it: tracked and untracked-not-ignored files
  mkdir -p subprojects/vindex
  if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
      tar --null -T - --ignore-failed-read -cf -) | tar -xf - -C subprojects/vindex
  else
    (cd "$src" && tar --exclude='./build*' -cf - .) | tar -xf - -C subprojects/vindex
  fi
  meson_consumer "$@"
}
per_compiler meson-subdir meson_subdir

pkgconfig_consumer() {  # DIR CXX
  cp "$here/pkgconfig/build.sh" . && CXX=$2 sh build.sh && ./app
}
per_compiler pkgconfig pkgconfig_consumer

cmake_consumer() {  # DIR CXX
  cp "$here/cmake/CMakeLists.txt" . &&
    cmake -S . -B build -G Ninja -DCMAKE_CXX_COMPILER="$2" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" &&
    cmake --build build -j 1 &&
    build/app
}
per_compiler cmake cmake_consumer

cmake_refuses_newer() {  # a minor version above the installed one must not be found
  local newer
  newer=$(echo "$version" | awk -F. '{print $1 "." $2 + 1}')
  mkdir -p "$work/cmake-newer" && cd "$work/cmake-newer" || return 1
  printf 'cmake_minimum_required(VERSION 3.16)\nproject(newer NONE)\nfind_package(vindex %s CONFIG REQUIRED)\n' \
    "$newer" >CMakeLists.txt
  if cmake -S . -B build -DCMAKE_PREFIX_PATH="$prefix" >configure.log 2>&1; then
    echo "find_package(vindex $newer) succeeded against $version"
    return 1
  fi
  cat configure.log
  grep -q "with requested version \"$newer\"" configure.log
}
check cmake-refuses-newer-version cmake_refuses_newer

plain_consumer() {  # DIR CXX
  cp "$here/plain/build.sh" . && CXX=$2 VINDEX_SOURCE="$src" sh build.sh && ./app
}
per_compiler plain plain_consumer

echo "consumers: $passed passed, $failed failed, $skipped skipped in $(( $(date +%s) - start )) s"
echo "Ok:                 $passed"
echo "Fail:               $failed"
[ "$failed" -eq 0 ]
