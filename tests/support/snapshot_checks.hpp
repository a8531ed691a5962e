// snapshot_checks.hpp — doctest checks the snapshot specifications share (snapshot_support.hpp
// holds the helpers that need no test framework: the fuzz targets and the sample writer use it too).
#pragma once

#include <doctest/doctest.h>

#include "vindex/vindex.hpp"

namespace vindex_test {

/// Checks that `load()` throws vindex::Error(kCorruptData).
template <class Load>
void check_corrupt(Load&& load) {
  try {
    load();
    FAIL("a damaged snapshot loaded");
  } catch (const vindex::Error& e) {
    CHECK(e.code() == vindex::ErrorCode::kCorruptData);
  }
}

}  // namespace vindex_test
