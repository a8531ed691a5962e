// vindex/distance/scalar.hpp — plain-loop reference kernels.
//
// The obvious double-accumulating loops, used as the reference the SIMD kernels are tested against
// and as the brute-force oracle in tests. Pure functions; thread-safe. Next: distance/simd.hpp.
#pragma once

#include <cstddef>

namespace vindex::scalar {

/// Squared Euclidean distance, accumulated in double.
inline double l2_squared(const float* a, const float* b, std::size_t dim) noexcept {
  double sum = 0;
  for (std::size_t i = 0; i < dim; ++i) {
    const double d = double(a[i]) - double(b[i]);
    sum += d * d;
  }
  return sum;
}

/// Dot product, accumulated in double.
inline double dot(const float* a, const float* b, std::size_t dim) noexcept {
  double sum = 0;
  for (std::size_t i = 0; i < dim; ++i) sum += double(a[i]) * double(b[i]);
  return sum;
}

}  // namespace vindex::scalar
