// Specification of the distance layer: SIMD kernels agree with the scalar reference.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

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
