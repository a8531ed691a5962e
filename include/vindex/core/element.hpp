// vindex/core/element.hpp — the narrow element types an index can store vectors in (16-bit floats,
// 8-bit integers), and their conversions to and from float.
//
// `Float16` (IEEE-754 binary16), `BFloat16` (the upper half of a binary32), `Int8` and `UInt8` hold
// one element as FT.CREATE's TYPE FLOAT16 / BFLOAT16 / INT8 / UINT8 blobs carry it (`Storage`).
// Widening to float is exact; narrowing rounds to nearest, ties to even; `holds(x)` says whether x
// narrows to a value of the type (16-bit: finite after rounding; 8-bit: within its integer range
// after rounding). `element_type_v<T>` names the schema TYPE an index storing T takes. Pure
// functions; thread-safe. Next: core/blob.hpp.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "vindex/core/schema.hpp"

namespace vindex {

/// One IEEE-754 binary16 element (its bits).
struct Float16 {
  /// How one element is stored.
  using Storage = std::uint16_t;
  std::uint16_t bits = 0;

  /// Whether `x` narrows to a finite binary16 (NaN and ±Inf do not; nor does anything that rounds
  /// past ±65504).
  static bool holds(float x) noexcept { return std::isfinite(to_float(from_float(x))); }

  /// The element's value (exact).
  static float to_float(std::uint16_t h) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    std::uint32_t exponent = (h >> 10) & 0x1fu;
    std::uint32_t mantissa = h & 0x3ffu;
    std::uint32_t bits;
    if (exponent == 0x1f) {
      bits = sign | 0x7f800000u | (mantissa << 13);  // Inf or NaN
    } else if (exponent != 0) {
      bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal half: renormalise
      exponent = 113;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
    }
    return std::bit_cast<float>(bits);
  }

  /// The binary16 nearest to `x` (ties to even; ±Inf past ±65504 after rounding; NaN stays NaN).
  static std::uint16_t from_float(float x) noexcept {
    const std::uint32_t f = std::bit_cast<std::uint32_t>(x);
    const std::uint16_t sign = static_cast<std::uint16_t>((f >> 16) & 0x8000u);
    const std::uint32_t magnitude = f & 0x7fffffffu;
    if (magnitude >= 0x7f800000u)  // Inf or NaN (a quiet NaN keeps a mantissa bit)
      return static_cast<std::uint16_t>(sign | 0x7c00u | (magnitude > 0x7f800000u ? 0x200u : 0u));
    if (magnitude >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds past 65504
    if (magnitude < 0x38800000u) {  // below the smallest normal half: subnormal or zero
      if (magnitude < 0x33000000u) return sign;  // under half the smallest subnormal: ±0
      // The value in units of 2^-24 (the subnormal step), rounded to nearest even.
      const std::uint32_t exponent = magnitude >> 23;
      const std::uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
      const std::uint32_t shift = 126 - exponent;  // 14..24
      const std::uint32_t kept = mantissa >> shift;
      const std::uint32_t rest = mantissa & ((1u << shift) - 1);
      const std::uint32_t half = 1u << (shift - 1);
      const std::uint32_t rounded = kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
      return static_cast<std::uint16_t>(sign | rounded);
    }
    // Normal: rebias the exponent, round the 13 dropped mantissa bits to nearest even (a carry into
    // the exponent is the right result).
    const std::uint32_t rebiased = magnitude - (112u << 23);
    const std::uint32_t kept = rebiased >> 13;
    const std::uint32_t rest = rebiased & 0x1fffu;
    const std::uint32_t rounded = kept + ((rest > 0x1000u || (rest == 0x1000u && (kept & 1u))) ? 1u : 0u);
    return static_cast<std::uint16_t>(sign | rounded);
  }
};

/// One bfloat16 element (its bits: the upper half of a binary32).
struct BFloat16 {
  /// How one element is stored.
  using Storage = std::uint16_t;
  std::uint16_t bits = 0;

  /// Whether `x` narrows to a finite bfloat16.
  static bool holds(float x) noexcept { return std::isfinite(to_float(from_float(x))); }

  /// The element's value (exact).
  static float to_float(std::uint16_t b) noexcept { return std::bit_cast<float>(std::uint32_t{b} << 16); }

  /// The bfloat16 nearest to `x` (ties to even; ±Inf past its range; NaN stays NaN).
  static std::uint16_t from_float(float x) noexcept {
    const std::uint32_t f = std::bit_cast<std::uint32_t>(x);
    if ((f & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((f >> 16) | 0x40u);  // quiet NaN
    const std::uint32_t rounded = f + 0x7fffu + ((f >> 16) & 1u);
    return static_cast<std::uint16_t>(rounded >> 16);
  }
};

namespace detail {
// An 8-bit integer element type: values kMin..kMax of the integer S.
template <class S>
struct ByteElement {
  /// How one element is stored.
  using Storage = S;
  S bits = 0;
  static constexpr float kMin = static_cast<float>(std::numeric_limits<S>::min());
  static constexpr float kMax = static_cast<float>(std::numeric_limits<S>::max());

  /// The element's value (exact).
  static float to_float(S b) noexcept { return static_cast<float>(b); }
  /// The integer nearest to `x` (ties to even), clamped to the type's range; NaN gives 0.
  static S from_float(float x) noexcept {
    if (std::isnan(x)) return 0;
    return static_cast<S>(std::clamp(std::nearbyint(x), kMin, kMax));
  }
  /// Whether `x` rounds to an integer within the type's range.
  static bool holds(float x) noexcept {
    const float r = std::nearbyint(x);
    return r >= kMin && r <= kMax;
  }
};
}  // namespace detail

/// One signed 8-bit integer element (TYPE INT8: -128..127).
struct Int8 : detail::ByteElement<std::int8_t> {};
/// One unsigned 8-bit integer element (TYPE UINT8: 0..255).
struct UInt8 : detail::ByteElement<std::uint8_t> {};

/// Whether `T` is a 16-bit element type of this header.
template <class T>
inline constexpr bool is_half_element_v = std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;
/// Whether `T` is an 8-bit element type of this header.
template <class T>
inline constexpr bool is_byte_element_v = std::is_same_v<T, Int8> || std::is_same_v<T, UInt8>;
/// Whether `T` is an element type narrower than float (16- or 8-bit).
template <class T>
inline constexpr bool is_narrow_element_v = is_half_element_v<T> || is_byte_element_v<T>;

/// The schema TYPE of vectors an index storing elements of `T` takes.
template <class T>
inline constexpr ElementType element_type_v = std::is_same_v<T, Float16>    ? ElementType::kFloat16
                                              : std::is_same_v<T, BFloat16> ? ElementType::kBFloat16
                                              : std::is_same_v<T, Int8>     ? ElementType::kInt8
                                              : std::is_same_v<T, UInt8>    ? ElementType::kUint8
                                                                            : ElementType::kFloat32;

/// Whether every element of `v` (finite floats) narrows to a value of `T` (see T::holds).
template <class T>
bool fits(const float* v, std::size_t dim) noexcept {
  if constexpr (is_narrow_element_v<T>) {
    for (std::size_t i = 0; i < dim; ++i)
      if (!T::holds(v[i])) return false;
  }
  return true;
}

}  // namespace vindex
