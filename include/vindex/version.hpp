// vindex/version.hpp — the library's version, as macros (for #if) and as constants.
//
// One source of truth: meson.build's project version. This header is checked in (so plain
// `-I include` and git-submodule users, who never run Meson, have it), and `meson setup` refuses to
// configure when the two disagree. The installed pkg-config and CMake package files carry the same
// version. vindex is 0.x: a minor version may break the API, so CMake's `find_package(vindex 0.1)`
// accepts 0.1.x only.
#pragma once

#include <compare>
#include <string_view>

#define VINDEX_VERSION_MAJOR 0
#define VINDEX_VERSION_MINOR 1
#define VINDEX_VERSION_PATCH 0
#define VINDEX_VERSION_STRING "0.1.0"
/// MAJOR * 10000 + MINOR * 100 + PATCH, e.g. `#if VINDEX_VERSION >= 100` for 0.1.0 and later.
#define VINDEX_VERSION (VINDEX_VERSION_MAJOR * 10000 + VINDEX_VERSION_MINOR * 100 + VINDEX_VERSION_PATCH)

namespace vindex {

/// A version triple; ordered, so `vindex::version >= vindex::Version{0, 1, 0}` works.
struct Version {
  int major;
  int minor;
  int patch;
  friend constexpr auto operator<=>(const Version&, const Version&) = default;
};

/// The version of these headers.
inline constexpr Version version{VINDEX_VERSION_MAJOR, VINDEX_VERSION_MINOR, VINDEX_VERSION_PATCH};
/// The same as text, "MAJOR.MINOR.PATCH".
inline constexpr std::string_view version_string = VINDEX_VERSION_STRING;

namespace detail {
constexpr Version parse_version(std::string_view s) {
  int part[3] = {0, 0, 0};
  int i = 0;
  for (char c : s) {
    if (c == '.') ++i;
    else if (i < 3) part[i] = part[i] * 10 + (c - '0');
  }
  return {part[0], part[1], part[2]};
}
}  // namespace detail
static_assert(detail::parse_version(version_string) == version,
              "VINDEX_VERSION_STRING disagrees with VINDEX_VERSION_MAJOR/MINOR/PATCH");

}  // namespace vindex
