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
// Next: storage/growth.hpp.
#pragma once

#include <algorithm>
#include <cstddef>

#include "vindex/core/types.hpp"
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

  /// Writes the prepared vector `v` into `out` (bytes(dim) of them).
  static void encode(const float* v, std::byte* out, std::size_t dim) noexcept { std::copy_n(v, dim, floats(out)); }
  /// Reads the stored vector at `v` into `out` (dim floats, prepared form).
  static void decode(const std::byte* v, float* out, std::size_t dim) noexcept { std::copy_n(floats(v), dim, out); }
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
  static Encoded encoded(const float* v, std::size_t /*dim*/) noexcept { return Encoded(v); }
  /// Whether the stored vector at `v` equals the prepared vector `q` exactly.
  static bool equals(const float* q, const std::byte* v, std::size_t dim) noexcept {
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

 private:
  static const float* floats(const std::byte* v) noexcept { return reinterpret_cast<const float*>(v); }
  static float* floats(std::byte* v) noexcept { return reinterpret_cast<float*>(v); }
};


}  // namespace vindex::detail
