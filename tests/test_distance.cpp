// Specification of the distance layer: SIMD kernels agree with the scalar reference.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "vindex/distance/batch_dot.hpp"
#include "vindex/distance/metric.hpp"

using namespace vindex;

namespace {
void check_kernels_at(std::size_t dim, std::size_t offset_a, std::size_t offset_b, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-10, 10);
  std::vector<float> a(dim + 8), b(dim + 8);
  for (float& x : a) x = u(rng);
  for (float& x : b) x = u(rng);
  const float* pa = a.data() + offset_a;  // deliberately unaligned starts
  const float* pb = b.data() + offset_b;
  const double l2 = scalar::l2_squared(pa, pb, dim);
  const double ip = scalar::dot(pa, pb, dim);
  // Float accumulation error grows with dim and magnitude: bound it by the absolute sum.
  double abs_l2 = 0, abs_ip = 0;
  for (std::size_t i = 0; i < dim; ++i) {
    abs_l2 += (double(pa[i]) - pb[i]) * (double(pa[i]) - pb[i]);
    abs_ip += std::abs(double(pa[i]) * pb[i]);
  }
  const double tol = 4e-6 * std::sqrt(double(dim) + 1);
  CHECK(std::abs(l2_squared(pa, pb, dim) - l2) <= tol * abs_l2 + 1e-6);
  CHECK(std::abs(dot(pa, pb, dim) - ip) <= tol * abs_ip + 1e-6);
  CHECK(std::abs(metric::L2::distance(pa, pb, dim) - metric::L2::reference(pa, pb, dim)) <= tol * abs_l2 + 1e-6);
  CHECK(std::abs(metric::InnerProduct::distance(pa, pb, dim) - metric::InnerProduct::reference(pa, pb, dim)) <=
        tol * abs_ip + 1e-6);
}
}  // namespace

TEST_CASE("SIMD kernels equal the scalar reference for every dim 1..300, aligned or not") {
  INFO("kernels use " << simd_arch_name());
  std::mt19937 rng(1);
  for (std::size_t dim = 1; dim <= 300; ++dim)
    for (std::size_t off : {0, 1, 3}) check_kernels_at(dim, off, (off * 5) % 7, rng);
}

TEST_CASE("SIMD kernels equal the scalar reference at large dims") {
  std::mt19937 rng(2);
  for (std::size_t dim : {511u, 512u, 1000u, 1536u, 4097u, 32768u}) check_kernels_at(dim, 1, 2, rng);
}

TEST_CASE("identical vectors have zero L2 distance, and kernels are exact on small integers") {
  std::vector<float> a(77), b(77);
  for (std::size_t i = 0; i < a.size(); ++i) {
    a[i] = float(i % 13) - 6;
    b[i] = float(i % 5);
  }
  CHECK(l2_squared(a.data(), a.data(), a.size()) == 0.0f);
  CHECK(l2_squared(a.data(), b.data(), a.size()) == float(scalar::l2_squared(a.data(), b.data(), a.size())));
  CHECK(dot(a.data(), b.data(), a.size()) == float(scalar::dot(a.data(), b.data(), a.size())));
}

TEST_CASE("cosine: normalize keeps the magnitude and makes 1 - dot equal the cosine distance") {
  std::vector<float> a = {3, 4, 0}, b = {0, 5, 12};
  const double expected = metric::Cosine::reference(a.data(), b.data(), 3);
  CHECK(metric::normalize(a) == doctest::Approx(5.0));
  CHECK(metric::normalize(b) == doctest::Approx(13.0));
  CHECK(metric::Cosine::distance(a.data(), b.data(), 3) == doctest::Approx(expected).epsilon(1e-6));
  CHECK(expected == doctest::Approx(1.0 - 20.0 / 65.0));
}

TEST_CASE("simd_arch_name names an instruction set") {
  CHECK_FALSE(simd_arch_name().empty());
}

TEST_CASE("dot_block over packed panels equals the scalar dot products, with ragged tails") {
  constexpr std::size_t r = BatchDotShape::kRows, c = BatchDotShape::kCols;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (std::size_t dim : {1u, 3u, 16u, 19u, 128u, 301u}) {
    for (std::size_t count : {std::size_t{1}, c - 1, c, 3 * c + 5}) {
      std::vector<float> rows(count * dim), queries(r * dim);
      for (float& x : rows) x = u(rng);
      for (float& x : queries) x = u(rng);
      const std::size_t panels = (count + c - 1) / c;
      AlignedFloats packed(panels * c * dim);
      pack_panels(rows.data(), count, dim, dim, packed.data());
      std::vector<float> out(r * panels * c, -1.0f);
      dot_block(queries.data(), packed.data(), panels, dim, out.data(), panels * c);
      for (std::size_t i = 0; i < r; ++i) {
        for (std::size_t j = 0; j < count; ++j) {
          const double want = scalar::dot(queries.data() + i * dim, rows.data() + j * dim, dim);
          CHECK(std::abs(out[i * panels * c + j] - want) <= 1e-5 * (dim + 1));
        }
        for (std::size_t j = count; j < panels * c; ++j) CHECK(out[i * panels * c + j] == 0.0f);  // padding
      }
    }
  }
}

TEST_CASE("find_first_at_most finds every qualifying position in order") {
  std::vector<float> bias(70), score(70);
  for (std::size_t i = 0; i < 70; ++i) {
    bias[i] = float(i % 7);
    score[i] = float(i % 3);
  }
  for (float limit : {-1.0f, 0.0f, 2.5f, 10.0f}) {
    std::vector<std::size_t> want, got;
    for (std::size_t i = 0; i < 70; ++i)
      if (bias[i] - 2 * score[i] <= limit) want.push_back(i);
    for (std::size_t i = find_first_at_most(bias.data(), score.data(), -2, limit, 0, 70); i < 70;
         i = find_first_at_most(bias.data(), score.data(), -2, limit, i + 1, 70))
      got.push_back(i);
    CHECK(got == want);
  }
}

TEST_CASE("l2_squared_within: exact below the bound, at least the bound otherwise, for every dim 1..400") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-10, 10);
  std::uniform_real_distribution<float> fraction(0.0f, 1.6f);
  std::size_t stopped_early = 0, exact = 0;
  for (std::size_t dim = 1; dim <= 400; ++dim) {
    std::vector<float> a(dim + 1), b(dim + 1), next(dim + 1);
    for (int trial = 0; trial < 8; ++trial) {
      for (float& x : a) x = u(rng);
      for (float& x : b) x = u(rng);
      const float* pa = a.data() + trial % 2;  // unaligned starts too
      const float* pb = b.data();
      const float full = l2_squared(pa, pb, dim);
      // Bounds around the distance, plus the edges: 0, the distance itself, just above, infinity.
      const float bounds[] = {full * fraction(rng), full * fraction(rng), 0.0f, full,
                              std::nextafter(full, INFINITY), INFINITY};
      for (const float bound : bounds) {
        const float within = l2_squared_within(pa, pb, dim, bound);
        const float fetching = l2_squared_within_fetching(pa, pb, dim, bound, next.data());
        CHECK(std::memcmp(&within, &fetching, sizeof(float)) == 0);
        if (full < bound) {
          CHECK(std::memcmp(&within, &full, sizeof(float)) == 0);  // bit-identical
          ++exact;
        } else {
          CHECK(within >= bound);
          CHECK(within <= full);
          if (within < full) ++stopped_early;
        }
        CHECK(metric::L2::distance_within(pa, pb, dim, bound) == within);
        CHECK(metric::InnerProduct::distance_within(pa, pb, dim, bound) == metric::InnerProduct::distance(pa, pb, dim));
      }
    }
  }
  CHECK(exact > 0);
  // From 64 elements on, a bound far below the distance stops the kernel before the end.
  CHECK(stopped_early > 1000);
}
