// snapshot_checks.hpp — doctest checks the snapshot specifications share (snapshot_support.hpp
// holds the helpers that need no test framework: the fuzz targets and the sample writer use it too).
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <span>
#include <vector>

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

/// Checks that two saved SQ8 quantizers are the same: trained, the same training sample size, the
/// same ranges.
inline void check_same_quantizer(const vindex::SavedQuantizer& a, const vindex::SavedQuantizer& b) {
  REQUIRE(a.quantizer.trained());
  REQUIRE(b.quantizer.trained());
  REQUIRE(a.quantizer.dim() == b.quantizer.dim());
  CHECK(b.trained_on == a.trained_on);
  for (std::size_t i = 0; i < a.quantizer.dim(); ++i) {
    CHECK(b.quantizer.low(i) == a.quantizer.low(i));
    CHECK(b.quantizer.step(i) == a.quantizer.step(i));
  }
}

/// Checks that `a` and `b` answer every query (the rows of `queries`, `dim` floats each) with the
/// same keys and bit-identical distances: k 10, `options`.
template <class IndexA, class IndexB>
void check_same_answers(const IndexA& a, const IndexB& b, const std::vector<float>& queries, std::size_t dim,
                        const vindex::SearchOptions& options = {}) {
  for (std::size_t q = 0; q + dim <= queries.size(); q += dim) {
    const std::span<const float> query(queries.data() + q, dim);
    const auto x = a.search(query, 10, options), y = b.search(query, 10, options);
    REQUIRE(x.size() == y.size());
    for (std::size_t r = 0; r < x.size(); ++r) {
      CHECK(x[r].key == y[r].key);
      CHECK(x[r].distance == y[r].distance);
    }
  }
}

}  // namespace vindex_test
