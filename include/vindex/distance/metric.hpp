// vindex/distance/metric.hpp — metric policies that indexes take as a template parameter.
//
// Each policy names its runtime `Metric` code, computes a distance between a stored vector and a
// prepared query, and says whether vectors are normalised on the way in (COSINE). Policies are
// stateless, so the hot loop has no virtual call and no pointer to chase. Thread-safe.
// Next: distance/batch_dot.hpp.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>

#include "vindex/core/schema.hpp"
#include "vindex/core/types.hpp"
#include "vindex/distance/scalar.hpp"
#include "vindex/distance/simd.hpp"

namespace vindex::metric {

/// Squared Euclidean distance.
struct L2 {
  static constexpr Metric kind = Metric::kL2;
  static constexpr bool kNormalizes = false;
  /// Distance between two prepared vectors.
  static Distance distance(const float* a, const float* b, std::size_t dim) noexcept {
    return l2_squared(a, b, dim);
  }
  /// distance(a, b, dim), also starting to load `next` (dim floats) into cache.
  static Distance distance_fetching(const float* a, const float* b, std::size_t dim, const float* next) noexcept {
    return l2_squared_fetching(a, b, dim, next);
  }
  /// distance(a, b, dim) when below `bound`; otherwise some value >= bound, found reading less of
  /// `b` (see l2_squared_within_fetching). Also starts loading `next` (dim floats) into cache.
  static Distance distance_within_fetching(const float* a, const float* b, std::size_t dim, Distance bound,
                                           const float* next) noexcept {
    return l2_squared_within_fetching(a, b, dim, bound, next);
  }
  /// distance_within_fetching without the fetching.
  static Distance distance_within(const float* a, const float* b, std::size_t dim, Distance bound) noexcept {
    return l2_squared_within(a, b, dim, bound);
  }
  /// The same in double precision with plain loops (test reference).
  static double reference(const float* a, const float* b, std::size_t dim) noexcept {
    return scalar::l2_squared(a, b, dim);
  }
};

/// Inner product as a distance: 1 − dot(a, b).
struct InnerProduct {
  static constexpr Metric kind = Metric::kIP;
  static constexpr bool kNormalizes = false;
  /// Distance between two prepared vectors.
  static Distance distance(const float* a, const float* b, std::size_t dim) noexcept {
    return 1.0f - dot(a, b, dim);
  }
  /// distance(a, b, dim), also starting to load `next` (dim floats) into cache.
  static Distance distance_fetching(const float* a, const float* b, std::size_t dim, const float* next) noexcept {
    return 1.0f - dot_fetching(a, b, dim, next);
  }
  /// distance_fetching(a, b, dim, next): a dot product has no partial sum that bounds it, so
  /// `bound` is not used (the interface of L2::distance_within_fetching).
  static Distance distance_within_fetching(const float* a, const float* b, std::size_t dim, Distance /*bound*/,
                                           const float* next) noexcept {
    return 1.0f - dot_fetching(a, b, dim, next);
  }
  /// distance(a, b, dim); `bound` is not used.
  static Distance distance_within(const float* a, const float* b, std::size_t dim, Distance /*bound*/) noexcept {
    return 1.0f - dot(a, b, dim);
  }
  /// The same in double precision with plain loops (test reference).
  static double reference(const float* a, const float* b, std::size_t dim) noexcept {
    return 1.0 - scalar::dot(a, b, dim);
  }
};

/// Cosine distance 1 − cos(a, b); vectors and queries are normalised first, so it is 1 − dot.
struct Cosine {
  static constexpr Metric kind = Metric::kCosine;
  static constexpr bool kNormalizes = true;
  /// Distance between two prepared (normalised) vectors.
  static Distance distance(const float* a, const float* b, std::size_t dim) noexcept {
    return 1.0f - dot(a, b, dim);
  }
  /// distance(a, b, dim), also starting to load `next` (dim floats) into cache.
  static Distance distance_fetching(const float* a, const float* b, std::size_t dim, const float* next) noexcept {
    return 1.0f - dot_fetching(a, b, dim, next);
  }
  /// distance_fetching(a, b, dim, next): a dot product has no partial sum that bounds it, so
  /// `bound` is not used (the interface of L2::distance_within_fetching).
  static Distance distance_within_fetching(const float* a, const float* b, std::size_t dim, Distance /*bound*/,
                                           const float* next) noexcept {
    return 1.0f - dot_fetching(a, b, dim, next);
  }
  /// distance(a, b, dim); `bound` is not used.
  static Distance distance_within(const float* a, const float* b, std::size_t dim, Distance /*bound*/) noexcept {
    return 1.0f - dot(a, b, dim);
  }
  /// 1 − cos(a, b) of raw (not necessarily normalised) vectors, in double precision (test reference).
  static double reference(const float* a, const float* b, std::size_t dim) noexcept {
    const double na = std::sqrt(scalar::dot(a, a, dim)), nb = std::sqrt(scalar::dot(b, b, dim));
    return 1.0 - scalar::dot(a, b, dim) / (na * nb);
  }
};

/// Scales `v` to unit length in place and returns its original magnitude (0 leaves it unchanged).
inline float normalize(std::span<float> v) noexcept {
  const double norm = std::sqrt(scalar::dot(v.data(), v.data(), v.size()));
  if (norm > 0) {
    const double inv = 1.0 / norm;
    for (float& x : v) x = static_cast<float>(x * inv);
  }
  return static_cast<float>(norm);
}

/// Makes a vector ready for the metric: normalises it under COSINE, leaves it otherwise.
/// Returns the original magnitude (1 for metrics that do not normalise).
template <class MetricT>
float prepare(std::span<float> v) noexcept {
  if constexpr (MetricT::kNormalizes) {
    return normalize(v);
  } else {
    return 1.0f;
  }
}

}  // namespace vindex::metric
