// vindex/distance/vector_codec.hpp — how an index stores a vector of element type `T` in bytes and
// measures it under a metric: the one seam through which the HNSW graph reads vector bytes.
//
// `VectorCodec<T, MetricT>` says how many bytes a stored vector takes, writes a prepared vector
// (index/front_end.hpp prepares queries and vectors: normalised under COSINE) into those bytes,
// reads it back, and measures distances: from a prepared float query to stored bytes (the hot loop),
// and between two stored vectors (the neighbour heuristic, repairs). A walk that starts from a
// stored node asks for `Query`, a float query made from its bytes. The graph code (index/hnsw/)
// touches vector bytes only through these functions, so a codec of another element type, or of
// quantized codes, plugs in without a change to it. A new vector, not stored yet, is compared with
// stored ones in its `Encoded` form.
//
// Stored bytes carry no alignment promise beyond the record's (index/hnsw/graph.hpp places a vector
// at the start of its record, which is 4-byte aligned). Stateless and pure; thread-safe.
// Next: quantize/scalar_quantizer.hpp (SQ8), then distance/sq8_codec.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "vindex/core/element.hpp"
#include "vindex/core/types.hpp"
#include "vindex/distance/byte.hpp"
#include "vindex/distance/half.hpp"
#include "vindex/distance/metric.hpp"

namespace vindex::detail {

/// How vectors of element type `T` are stored and measured under `MetricT`; specialised per type.
template <class T, class MetricT>
struct VectorCodec;

/// 32-bit floats, stored as prepared (COSINE: unit length; the magnitude is the index's to keep).
template <class MetricT>
struct VectorCodec<float, MetricT> {
  using Element = float;
  using Metric = MetricT;

  /// A float query made from a stored vector: for floats, a view of the stored bytes.
  class Query {
   public:
    /// The prepared floats.
    const float* data() const noexcept { return p_; }

   private:
    friend struct VectorCodec;
    explicit Query(const float* p) noexcept : p_(p) {}
    const float* p_;
  };

  /// Bytes one stored vector of `dim` elements takes.
  static constexpr std::size_t bytes(std::size_t dim) noexcept { return dim * sizeof(float); }

  /// Whether the prepared vector `v` (with `magnitude`, the length it had before COSINE
  /// normalised it) can be stored: for floats, always.
  static bool fits(const float* /*v*/, float /*magnitude*/, std::size_t /*dim*/) noexcept { return true; }
  /// Writes the prepared vector `v` into `out` (bytes(dim) of them); the magnitude is the index's.
  static void encode(const float* v, float /*magnitude*/, std::byte* out, std::size_t dim) noexcept {
    std::copy_n(v, dim, floats(out));
  }
  /// Reads the stored vector at `v` into `out` (dim floats, prepared form).
  static void decode(const std::byte* v, float* out, std::size_t dim) noexcept { std::copy_n(floats(v), dim, out); }
  /// Reads the stored vector at `v` into `out` as it was given (COSINE: times `magnitude`).
  static void decode_given(const std::byte* v, float magnitude, float* out, std::size_t dim) noexcept {
    decode(v, out, dim);
    if constexpr (MetricT::kNormalizes)
      for (std::size_t i = 0; i < dim; ++i) out[i] *= magnitude;
  }
  /// The stored vector at `v` as a query.
  static Query query(const std::byte* v, std::size_t /*dim*/) noexcept { return Query(floats(v)); }
  /// A prepared vector in stored form: for floats, a view of the vector itself.
  class Encoded {
   public:
    /// The stored bytes.
    const std::byte* data() const noexcept { return p_; }

   private:
    friend struct VectorCodec;
    explicit Encoded(const float* v) noexcept : p_(reinterpret_cast<const std::byte*>(v)) {}
    const std::byte* p_;
  };
  /// The prepared vector `v` in stored form (what a vector not in the index yet is compared by).
  static Encoded encoded(const float* v, float /*magnitude*/, std::size_t /*dim*/) noexcept { return Encoded(v); }
  /// Whether the stored vector at `v` equals the prepared vector `q` exactly (the magnitude is
  /// the index's to compare).
  static bool equals(const float* q, float /*magnitude*/, const std::byte* v, std::size_t dim) noexcept {
    return std::equal(q, q + dim, floats(v));
  }

  /// Distance from the prepared query `q` to the stored vector at `v`.
  static Distance distance(const float* q, const std::byte* v, std::size_t dim) noexcept {
    return MetricT::distance(q, floats(v), dim);
  }
  /// distance(q, v, dim), also starting to load the stored vector at `next` into cache.
  static Distance distance_fetching(const float* q, const std::byte* v, std::size_t dim,
                                    const std::byte* next) noexcept {
    return MetricT::distance_fetching(q, floats(v), dim, floats(next));
  }
  /// Distance between two stored vectors.
  static Distance between(const std::byte* a, const std::byte* b, std::size_t dim) noexcept {
    return MetricT::distance(floats(a), floats(b), dim);
  }
  /// between(a, b, dim) when below `bound`; otherwise some value >= bound (see distance_within).
  static Distance between_within(const std::byte* a, const std::byte* b, std::size_t dim, Distance bound) noexcept {
    return MetricT::distance_within(floats(a), floats(b), dim, bound);
  }
  /// distance(q, v, dim) when below `bound`; otherwise some value >= bound, found reading less of
  /// the vector where the metric allows (L2). Also starts loading the vector at `next` into cache.
  static Distance distance_within_fetching(const float* q, const std::byte* v, std::size_t dim, Distance bound,
                                           const std::byte* next) noexcept {
    return MetricT::distance_within_fetching(q, floats(v), dim, bound, floats(next));
  }
  /// distance_within_fetching without the fetching.
  static Distance distance_within(const float* q, const std::byte* v, std::size_t dim, Distance bound) noexcept {
    return MetricT::distance_within(q, floats(v), dim, bound);
  }

 private:
  static const float* floats(const std::byte* v) noexcept { return reinterpret_cast<const float*>(v); }
  static float* floats(std::byte* v) noexcept { return reinterpret_cast<float*>(v); }
};


/// Narrow elements (Float16, BFloat16, Int8, UInt8), stored as given: record = [dim elements of
/// T::Storage, padded to 4 bytes] and, under COSINE, [1/|v| as a float]. A COSINE vector is not
/// stored normalised (that would round the normalised values to the narrow type): its given elements
/// are kept, so every distance is measured on exactly the values the host stored, and the kernel
/// scales the dot product by 1/|v|. The kernels (distance/half.hpp, distance/byte.hpp) widen the
/// stored elements in registers.
template <class T, class MetricT>
  requires is_narrow_element_v<T>
struct VectorCodec<T, MetricT> {
  using Element = T;
  using Metric = MetricT;
  using Storage = typename T::Storage;

  /// A float query made from a stored vector: its prepared (COSINE: normalised) floats.
  class Query {
   public:
    /// The prepared floats.
    const float* data() const noexcept { return v_.data(); }

   private:
    friend struct VectorCodec;
    std::vector<float> v_;
  };
  /// A prepared vector in stored form.
  class Encoded {
   public:
    /// The stored bytes.
    const std::byte* data() const noexcept { return b_.data(); }

   private:
    friend struct VectorCodec;
    std::vector<std::byte> b_;
  };

  /// Bytes of the elements of a vector of `dim` (padded, so that what follows stays 4-byte aligned).
  static constexpr std::size_t element_bytes(std::size_t dim) noexcept {
    return (sizeof(Storage) * dim + 3) / 4 * 4;
  }
  /// Bytes one stored vector of `dim` elements takes.
  static constexpr std::size_t bytes(std::size_t dim) noexcept {
    return element_bytes(dim) + (MetricT::kNormalizes ? sizeof(float) : 0);
  }

  /// Whether the prepared vector `v` (with `magnitude`) narrows to values of T (see T::holds) and,
  /// under COSINE, not to the zero vector (tiny values can round to 0; such a vector would not load).
  static bool fits(const float* v, float magnitude, std::size_t dim) noexcept {
    bool nonzero = !MetricT::kNormalizes;
    for (std::size_t i = 0; i < dim; ++i) {
      const float x = given(v[i], magnitude);
      if (!T::holds(x)) return false;
      if (!nonzero && T::to_float(T::from_float(x)) != 0.0f) nonzero = true;
    }
    return nonzero;
  }
  /// Writes the prepared vector `v` into `out`: its given elements (COSINE: `v` × `magnitude`,
  /// which rounds back to the given narrow values exactly) narrowed to T, then under COSINE
  /// 1/magnitude.
  static void encode(const float* v, float magnitude, std::byte* out, std::size_t dim) noexcept {
    for (std::size_t i = 0; i < dim; ++i) {
      const Storage e = T::from_float(given(v[i], magnitude));
      std::memcpy(out + sizeof(Storage) * i, &e, sizeof(Storage));
    }
    std::memset(out + sizeof(Storage) * dim, 0, element_bytes(dim) - sizeof(Storage) * dim);
    if constexpr (MetricT::kNormalizes) {
      const float inverse = magnitude > 0 ? 1.0f / magnitude : 0.0f;
      std::memcpy(out + element_bytes(dim), &inverse, sizeof inverse);
    }
  }
  /// Reads the stored vector at `v` into `out` (dim floats, prepared form: COSINE normalised).
  static void decode(const std::byte* v, float* out, std::size_t dim) noexcept {
    widen(elements(v), out, dim);
    if constexpr (MetricT::kNormalizes) {
      const float scale = inverse_magnitude(v, dim);
      for (std::size_t i = 0; i < dim; ++i) out[i] *= scale;
    }
  }
  /// Reads the stored vector at `v` into `out` as it was given (exact).
  static void decode_given(const std::byte* v, float /*magnitude*/, float* out, std::size_t dim) noexcept {
    widen(elements(v), out, dim);
  }
  /// The stored vector at `v` as a query.
  static Query query(const std::byte* v, std::size_t dim) {
    Query q;
    q.v_.resize(dim);
    decode(v, q.v_.data(), dim);
    return q;
  }
  /// The prepared vector `v` in stored form.
  static Encoded encoded(const float* v, float magnitude, std::size_t dim) {
    Encoded e;
    e.b_.resize(bytes(dim));
    encode(v, magnitude, e.b_.data(), dim);
    return e;
  }
  /// Whether the stored vector at `v` equals the prepared vector `q` (with `magnitude`) once stored.
  static bool equals(const float* q, float magnitude, const std::byte* v, std::size_t dim) noexcept {
    for (std::size_t i = 0; i < dim; ++i)
      if (T::from_float(given(q[i], magnitude)) != elements(v)[i]) return false;
    return true;
  }

  /// Distance from the prepared query `q` to the stored vector at `v`.
  static Distance distance(const float* q, const std::byte* v, std::size_t dim) noexcept {
    if constexpr (MetricT::kind == vindex::Metric::kL2) {
      return l2_kernel(q, elements(v), dim);
    } else {
      return 1.0f - dot_kernel(q, elements(v), dim) * inverse_magnitude(v, dim);
    }
  }
  /// distance(q, v, dim), also starting to load the stored vector at `next` into cache.
  static Distance distance_fetching(const float* q, const std::byte* v, std::size_t dim,
                                    const std::byte* next) noexcept {
    if constexpr (MetricT::kind == vindex::Metric::kL2) {
      return l2_kernel_fetching(q, elements(v), dim, elements(next));
    } else {
      return 1.0f - dot_kernel_fetching(q, elements(v), dim, elements(next)) * inverse_magnitude(v, dim);
    }
  }
  /// distance_fetching(q, v, dim, next); `bound` is not used (these kernels run to the end).
  static Distance distance_within_fetching(const float* q, const std::byte* v, std::size_t dim, Distance /*bound*/,
                                           const std::byte* next) noexcept {
    return distance_fetching(q, v, dim, next);
  }
  /// distance(q, v, dim); `bound` is not used.
  static Distance distance_within(const float* q, const std::byte* v, std::size_t dim, Distance /*bound*/) noexcept {
    return distance(q, v, dim);
  }
  /// between(a, b, dim); `bound` is not used.
  static Distance between_within(const std::byte* a, const std::byte* b, std::size_t dim, Distance /*bound*/) noexcept {
    return between(a, b, dim);
  }
  /// Distance between two stored vectors: the first is widened a chunk at a time on the stack.
  static Distance between(const std::byte* a, const std::byte* b, std::size_t dim) noexcept {
    constexpr std::size_t kChunk = 256;
    float widened[kChunk];
    float sum = 0;
    for (std::size_t from = 0; from < dim; from += kChunk) {
      const std::size_t n = std::min(kChunk, dim - from);
      widen(elements(a) + from, widened, n);
      if constexpr (MetricT::kind == vindex::Metric::kL2) {
        sum += l2_kernel(widened, elements(b) + from, n);
      } else {
        sum += dot_kernel(widened, elements(b) + from, n);
      }
    }
    if constexpr (MetricT::kind == vindex::Metric::kL2) {
      return sum;
    } else {
      return 1.0f - sum * inverse_magnitude(a, dim) * inverse_magnitude(b, dim);
    }
  }

 private:
  static float given(float prepared, float magnitude) noexcept {
    return MetricT::kNormalizes ? prepared * magnitude : prepared;
  }
  static const Storage* elements(const std::byte* v) noexcept { return reinterpret_cast<const Storage*>(v); }
  // The kernels of T's width.
  static void widen(const Storage* v, float* out, std::size_t n) noexcept {
    if constexpr (is_half_element_v<T>) widen_half<T>(v, out, n);
    else widen_byte<T>(v, out, n);
  }
  static float l2_kernel(const float* q, const Storage* v, std::size_t dim) noexcept {
    if constexpr (is_half_element_v<T>) return l2_squared_half<T>(q, v, dim);
    else return l2_squared_byte<T>(q, v, dim);
  }
  static float dot_kernel(const float* q, const Storage* v, std::size_t dim) noexcept {
    if constexpr (is_half_element_v<T>) return dot_half<T>(q, v, dim);
    else return dot_byte<T>(q, v, dim);
  }
  static float l2_kernel_fetching(const float* q, const Storage* v, std::size_t dim, const Storage* next) noexcept {
    if constexpr (is_half_element_v<T>) return l2_squared_half_fetching<T>(q, v, dim, next);
    else return l2_squared_byte_fetching<T>(q, v, dim, next);
  }
  static float dot_kernel_fetching(const float* q, const Storage* v, std::size_t dim, const Storage* next) noexcept {
    if constexpr (is_half_element_v<T>) return dot_half_fetching<T>(q, v, dim, next);
    else return dot_byte_fetching<T>(q, v, dim, next);
  }
  static float inverse_magnitude(const std::byte* v, std::size_t dim) noexcept {
    if constexpr (MetricT::kNormalizes) {
      float inverse;
      std::memcpy(&inverse, v + element_bytes(dim), sizeof inverse);
      return inverse;
    } else {
      return 1.0f;
    }
  }
};

}  // namespace vindex::detail
