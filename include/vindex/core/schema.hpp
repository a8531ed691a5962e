// vindex/core/schema.hpp — what a vector is: its dimension, element type and metric.
//
// `VectorSchema` is the single description shared by blob decoding, the distance kernels and the
// snapshot format. The numeric values of `ElementType` and `Metric` are frozen: snapshots store them.
// Plain value type. Next: core/element.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vindex/core/error.hpp"
#include "vindex/core/limits.hpp"

namespace vindex {

/// Element type of a vector blob (the TYPE of a schema). Codes are frozen.
enum class ElementType : std::uint8_t {
  kFloat32 = 1,   ///< IEEE-754 binary32, little-endian (numpy float32 `tobytes()`)
  kFloat16 = 2,   ///< IEEE-754 binary16, little-endian
  kBFloat16 = 3,  ///< bfloat16 (upper half of a binary32), little-endian
  kInt8 = 4,      ///< signed 8-bit integers (numpy int8)
  kUint8 = 5,     ///< unsigned 8-bit integers (numpy uint8)
};

/// Distance metric (DISTANCE_METRIC). Codes are frozen. Smaller distance is always closer.
enum class Metric : std::uint8_t {
  kL2 = 1,      ///< squared Euclidean distance
  kIP = 2,      ///< 1 − dot(a, b)
  kCosine = 3,  ///< 1 − cos(a, b); vectors are stored normalised
};

/// Bytes one element of `type` takes in a blob.
constexpr std::size_t element_bytes(ElementType type) noexcept {
  switch (type) {
    case ElementType::kFloat32: return 4;
    case ElementType::kFloat16:
    case ElementType::kBFloat16: return 2;
    case ElementType::kInt8:
    case ElementType::kUint8: return 1;
  }
  return 4;
}

/// Redis-style name of an element type ("FLOAT32", …).
constexpr std::string_view to_string(ElementType type) noexcept {
  switch (type) {
    case ElementType::kFloat32: return "FLOAT32";
    case ElementType::kFloat16: return "FLOAT16";
    case ElementType::kBFloat16: return "BFLOAT16";
    case ElementType::kInt8: return "INT8";
    case ElementType::kUint8: return "UINT8";
  }
  return "?";
}

/// Redis-style name of a metric ("L2", "IP", "COSINE").
constexpr std::string_view to_string(Metric metric) noexcept {
  switch (metric) {
    case Metric::kL2: return "L2";
    case Metric::kIP: return "IP";
    case Metric::kCosine: return "COSINE";
  }
  return "?";
}

/// True when `a` and `b` are equal ignoring ASCII case, the way Redis compares keywords ("hnsw" = "HNSW").
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 32);
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 32);
    if (x != y) return false;
  }
  return true;
}

/// Parses "FLOAT32" / "FLOAT16" / "BFLOAT16" / "INT8" / "UINT8" (any case); nullopt for anything else.
inline std::optional<ElementType> parse_element_type(std::string_view text) noexcept {
  for (auto t : {ElementType::kFloat32, ElementType::kFloat16, ElementType::kBFloat16, ElementType::kInt8,
                 ElementType::kUint8})
    if (iequals(text, to_string(t))) return t;
  return std::nullopt;
}

/// Parses "L2" / "IP" / "COSINE" (any case); nullopt for anything else.
inline std::optional<Metric> parse_metric(std::string_view text) noexcept {
  for (auto m : {Metric::kL2, Metric::kIP, Metric::kCosine})
    if (iequals(text, to_string(m))) return m;
  return std::nullopt;
}

/// The shape of every vector in one index.
struct VectorSchema {
  std::uint32_t dim = 0;                         ///< number of elements, 1..Limits::max_dim
  ElementType type = ElementType::kFloat32;      ///< how blobs encode elements
  Metric metric = Metric::kL2;                   ///< how distances are measured

  /// Exact length in bytes a blob of this schema must have.
  std::size_t blob_bytes() const noexcept { return std::size_t{dim} * element_bytes(type); }

  /// Throws kInvalidArgument when dim, type or metric is out of range.
  void validate(const Limits& limits = {}) const {
    if (dim < 1 || dim > limits.max_dim)
      throw Error(ErrorCode::kInvalidArgument, "DIM = " + std::to_string(dim) +
                                                   " is outside 1.." +
                                                   std::to_string(limits.max_dim));
    if (to_string(type) == "?")
      throw Error(ErrorCode::kInvalidArgument,
                  "unknown element type code " + std::to_string(static_cast<int>(type)));
    if (to_string(metric) == "?")
      throw Error(ErrorCode::kInvalidArgument,
                  "unknown metric code " + std::to_string(static_cast<int>(metric)));
  }

  friend bool operator==(const VectorSchema&, const VectorSchema&) = default;
};

}  // namespace vindex
