// vindex/core/blob.hpp — turning host bytes into validated vectors, and back.
//
// A host hands vectors over as byte strings (`HSET doc:1 vec <blob>`). `decode_blob` checks the
// length against the schema, converts little-endian elements to float, and rejects NaN/Inf and, under
// COSINE, the zero vector. Each rejection has its own `VectorFailure` so a host can count reasons.
// Pure functions; thread-safe. Next: distance/scalar.hpp.
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "vindex/core/error.hpp"
#include "vindex/core/element.hpp"
#include "vindex/core/schema.hpp"

namespace vindex {

/// Why a vector was not indexed. Codes are frozen (snapshots store failure counters by code).
enum class VectorFailure : std::uint8_t {
  kNone = 0,        ///< the vector is valid
  kWrongSize = 1,   ///< blob length differs from dim × element size
  kNonFinite = 2,   ///< an element is NaN or ±Inf
  kZeroVector = 3,  ///< all zeros under COSINE: no direction
  kOutOfRange = 4,  ///< squared length above kMaxSquaredNorm: its distances could overflow float
};

/// Number of distinct VectorFailure codes, for counter arrays.
inline constexpr std::size_t kVectorFailureCount = 5;

/// Largest squared Euclidean length (computed in double) a vector or query may have: 2^124, i.e. a
/// length up to 2^62 ≈ 4.6e18. Every distance between two such vectors then stays finite in float:
/// an L2 distance is at most (|a| + |b|)² ≤ 4 · 2^124 = 2^126 (float reaches 2^128), a dot product
/// at most |a|·|b| ≤ 2^124, and so is every partial sum a SIMD kernel forms. Finite components alone
/// are not enough: components near ±3e38 are finite, yet their squares overflow to +inf, which makes
/// every distance +inf and the graph's ordering meaningless. Real embeddings are many orders of
/// magnitude below the bound.
inline constexpr double kMaxSquaredNorm = 0x1p124;

/// Human-readable reason ("wrong size", …).
constexpr std::string_view to_string(VectorFailure failure) noexcept {
  switch (failure) {
    case VectorFailure::kNone: return "ok";
    case VectorFailure::kWrongSize: return "wrong size";
    case VectorFailure::kNonFinite: return "NaN or Inf element";
    case VectorFailure::kZeroVector: return "zero vector under COSINE";
    case VectorFailure::kOutOfRange: return "magnitude out of range";
  }
  return "?";
}

namespace detail {
constexpr std::uint32_t byteswap32(std::uint32_t u) noexcept {
  return (u >> 24) | ((u >> 8) & 0xff00u) | ((u << 8) & 0xff0000u) | (u << 24);
}
inline std::uint16_t load_le16(const unsigned char* p) noexcept {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
}  // namespace detail

/// Checks a float vector against a schema: length, finite elements, squared length at most
/// kMaxSquaredNorm, and non-zero under COSINE.
inline VectorFailure check_vector(const VectorSchema& schema, std::span<const float> v) noexcept {
  if (v.size() != schema.dim) return VectorFailure::kWrongSize;
  bool any_nonzero = false;
  double squared_norm = 0;  // cannot overflow: at most 32768 × (3.4e38)² ≈ 3.8e81
  for (float x : v) {
    if (!std::isfinite(x)) return VectorFailure::kNonFinite;
    any_nonzero |= (x != 0.0f);
    squared_norm += double(x) * double(x);
  }
  if (squared_norm > kMaxSquaredNorm) return VectorFailure::kOutOfRange;
  if (schema.metric == Metric::kCosine && !any_nonzero) return VectorFailure::kZeroVector;
  return VectorFailure::kNone;
}

/// Decodes `blob` into `out` (which must hold schema.dim floats) and validates it.
/// Returns kNone on success; on failure `out` may be partly written.
inline VectorFailure decode_blob(const VectorSchema& schema, std::string_view blob,
                                 std::span<float> out) noexcept {
  if (blob.size() != schema.blob_bytes() || out.size() != schema.dim)
    return VectorFailure::kWrongSize;
  const auto* bytes = reinterpret_cast<const unsigned char*>(blob.data());
  switch (schema.type) {
    case ElementType::kFloat32:
      if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(out.data(), bytes, blob.size());
      } else {
        for (std::size_t i = 0; i < out.size(); ++i) {
          std::uint32_t u;
          std::memcpy(&u, bytes + 4 * i, 4);
          out[i] = std::bit_cast<float>(detail::byteswap32(u));
        }
      }
      break;
    case ElementType::kFloat16:
      for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = Float16::to_float(detail::load_le16(bytes + 2 * i));
      break;
    case ElementType::kBFloat16:
      for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = BFloat16::to_float(detail::load_le16(bytes + 2 * i));
      break;
    case ElementType::kInt8:
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(static_cast<std::int8_t>(bytes[i]));
      break;
    case ElementType::kUint8:
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(bytes[i]);
      break;
  }
  return check_vector(schema, out);
}

/// Makes the valid vector `v` one an index storing elements of `T` holds exactly: each element
/// rounded to the nearest T (Float16, BFloat16, Int8, UInt8; floats are left as they are). Returns
/// kNonFinite when an element is beyond a 16-bit type's range, kOutOfRange when it is beyond an 8-bit
/// type's, kZeroVector when under COSINE every element rounds to zero; `v` may then be partly
/// rounded.
template <class T>
VectorFailure narrow_to(const VectorSchema& schema, std::span<float> v) noexcept {
  if constexpr (is_narrow_element_v<T>) {
    bool any_nonzero = false;
    for (float& x : v) {
      if (!T::holds(x)) return is_half_element_v<T> ? VectorFailure::kNonFinite : VectorFailure::kOutOfRange;
      x = T::to_float(T::from_float(x));
      any_nonzero |= (x != 0.0f);
    }
    if (schema.metric == Metric::kCosine && !any_nonzero) return VectorFailure::kZeroVector;
  }
  return VectorFailure::kNone;
}

/// Encodes floats as a little-endian FLOAT32 blob, the bytes numpy's `tobytes()` writes.
inline std::string to_float32_blob(std::span<const float> v) {
  std::string blob(v.size() * 4, '\0');
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(blob.data(), v.data(), blob.size());
  } else {
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::uint32_t u = detail::byteswap32(std::bit_cast<std::uint32_t>(v[i]));
      std::memcpy(blob.data() + 4 * i, &u, 4);
    }
  }
  return blob;
}

/// Throws the Error matching a failure (kSchemaMismatch for size, kInvalidVector otherwise),
/// naming the key and sizes involved. Does nothing for kNone.
inline void throw_if_failed(VectorFailure failure, const VectorSchema& schema, std::string_view key,
                            std::size_t got_size, bool got_bytes) {
  switch (failure) {
    case VectorFailure::kNone: return;
    case VectorFailure::kWrongSize:
      throw Error(ErrorCode::kSchemaMismatch,
                  "vector for key " + printable_key(key) + " has " + std::to_string(got_size) +
                      (got_bytes ? " bytes, expected " + std::to_string(schema.blob_bytes()) +
                                       " (DIM " + std::to_string(schema.dim) + " × " +
                                       std::string(to_string(schema.type)) + ")"
                                 : " elements, expected DIM " + std::to_string(schema.dim)));
    case VectorFailure::kNonFinite:
      throw Error(ErrorCode::kInvalidVector,
                  "vector for key " + printable_key(key) + " has a NaN or Inf element");
    case VectorFailure::kZeroVector:
      throw Error(ErrorCode::kInvalidVector,
                  "vector for key " + printable_key(key) + " is all zeros under COSINE");
    case VectorFailure::kOutOfRange:
      throw Error(ErrorCode::kInvalidVector,
                  "vector for key " + printable_key(key) +
                      " is too long: its squared length exceeds 2^124, so its distances could overflow");
  }
}

}  // namespace vindex
