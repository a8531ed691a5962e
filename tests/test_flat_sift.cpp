// FlatIndex on real data: siftsmall's official ground truth.
#include <doctest/doctest.h>

#include <set>

#include "vindex/vindex.hpp"
#include "vindex_datasets.hpp"

using namespace vindex;

TEST_CASE("FlatIndex top-100 on siftsmall equals the official ground truth, allowing only ties") {
  const auto dir = vindex_support::siftsmall_dir();
  if (!dir) {
    MESSAGE("siftsmall not found (set VINDEX_DATASETS or place ../shared/datasets): skipped");
    return;
  }
  const auto base = vindex_support::read_vecs<float>(*dir / "siftsmall_base.fvecs");
  const auto queries = vindex_support::read_vecs<float>(*dir / "siftsmall_query.fvecs");
  const auto truth = vindex_support::read_vecs<std::int32_t>(*dir / "siftsmall_groundtruth.ivecs");
  REQUIRE(base.rows == 10000);
  REQUIRE(base.dim == 128);
  REQUIRE(queries.rows == 100);
  REQUIRE(truth.dim == 100);

  FlatIndex<float, metric::L2> index(VectorSchema{128});
  for (std::size_t i = 0; i < base.rows; ++i)
    index.upsert(std::to_string(i), std::span<const float>(base.row(i), 128));

  const auto batch = index.search_batch(queries.data, 100);
  std::size_t exact_positions = 0;
  for (std::size_t q = 0; q < queries.rows; ++q) {
    const std::span<const float> query(queries.row(q), 128);
    const auto hits = index.search(query, 100);
    REQUIRE(hits.size() == 100);
    CHECK(batch[q] == hits);
    for (std::size_t r = 0; r < 100; ++r) {
      const auto want = static_cast<std::size_t>(truth.row(q)[r]);
      if (hits[r].key == std::to_string(want)) {
        ++exact_positions;
        continue;
      }
      // A different id at this rank is only allowed when it ties with the ground truth's distance.
      const float want_distance = l2_squared(query.data(), base.row(want), 128);
      CHECK(hits[r].distance == want_distance);
    }
  }
  MESSAGE("ids identical at " << exact_positions << " of 10000 ranks; the rest are exact ties");
  CHECK(exact_positions >= 9900);
}
