// vindex/distance/half.hpp — distance kernels between a float query and a vector stored as 16-bit
// elements (Float16 or BFloat16, core/element.hpp), widening the stored elements in registers as
// they are read: the stored vector is never widened into memory first.
//
// Instruction sets, chosen when the translation unit is compiled: AVX-512F (16 lanes; FLOAT16 with
// vcvtph2ps, BFLOAT16 by a 16-bit shift), else AVX2 with F16C and FMA (8 lanes), else a portable
// loop (also under VINDEX_NO_SIMD); the loop itself is distance/widening_kernel.hpp's. Every path
// widens exactly, so all compute the same sums up to float rounding in a different order.
// `half_kernels_name()` says which one this build uses.
// Pure functions; thread-safe. Next: distance/byte.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "vindex/core/element.hpp"
#include "vindex/distance/widening_kernel.hpp"

#if !defined(VINDEX_NO_SIMD) && defined(__AVX512F__)
#define VINDEX_HALF_AVX512 1
#include <immintrin.h>
#elif !defined(VINDEX_NO_SIMD) && defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#define VINDEX_HALF_AVX2 1
#include <immintrin.h>
#endif

namespace vindex {

/// The instruction set the 16-bit element kernels of this build use ("avx512f", "avx2+f16c",
/// "scalar").
inline std::string_view half_kernels_name() noexcept {
#if defined(VINDEX_HALF_AVX512)
  return "avx512f";
#elif defined(VINDEX_HALF_AVX2)
  return "avx2+f16c";
#else
  return "scalar";
#endif
}

namespace detail {

// Widens Float16 / BFloat16 elements (see widening_kernel): FLOAT16 with vcvtph2ps, BFLOAT16 by a
// 16-bit shift.
template <class T>
struct HalfWidener {
  using Storage = std::uint16_t;
  static float to_float(std::uint16_t h) noexcept { return T::to_float(h); }
#if defined(VINDEX_HALF_AVX512)
  static constexpr bool kLanes16 = true;
  static __m512 lanes16(const std::uint16_t* v) noexcept {
    // The zero-masked forms: g++ 12 warns (maybe-uninitialized) on the plain ones' undefined inputs.
    constexpr __mmask16 kAll = 0xffff;
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v));
    if constexpr (std::is_same_v<T, Float16>) {
      return _mm512_maskz_cvtph_ps(kAll, h);
    } else {
      return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll, _mm512_maskz_cvtepu16_epi32(kAll, h), 16));
    }
  }
#else
  static constexpr bool kLanes16 = false;
#endif
#if defined(VINDEX_HALF_AVX2)
  static constexpr bool kLanes8 = true;
  static __m256 lanes8(const std::uint16_t* v) noexcept {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v));
    if constexpr (std::is_same_v<T, Float16>) {
      return _mm256_cvtph_ps(h);
    } else {
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
  }
#else
  static constexpr bool kLanes8 = false;  // AVX2 without F16C: the portable loop
#endif
};

}  // namespace detail

/// Widens the `n` elements of type `T` at `v` into the floats at `out` (exact).
template <class T>
inline void widen_half(const std::uint16_t* v, float* out, std::size_t n) noexcept {
  detail::widen_all<detail::HalfWidener<T>>(v, out, n);
}

/// Squared Euclidean distance between the float vector `q` and the `dim` elements of type `T`
/// (Float16 or BFloat16) at `v`.
template <class T>
inline float l2_squared_half(const float* q, const std::uint16_t* v, std::size_t dim) noexcept {
  return detail::widening_kernel<detail::HalfWidener<T>, true, false>(q, v, dim, nullptr);
}
/// l2_squared_half that also starts loading the `dim` elements at `next` into cache.
template <class T>
inline float l2_squared_half_fetching(const float* q, const std::uint16_t* v, std::size_t dim,
                                      const std::uint16_t* next) noexcept {
  return detail::widening_kernel<detail::HalfWidener<T>, true, true>(q, v, dim, next);
}
/// Dot product of the float vector `q` and the `dim` elements of type `T` at `v`.
template <class T>
inline float dot_half(const float* q, const std::uint16_t* v, std::size_t dim) noexcept {
  return detail::widening_kernel<detail::HalfWidener<T>, false, false>(q, v, dim, nullptr);
}
/// dot_half that also starts loading the `dim` elements at `next` into cache.
template <class T>
inline float dot_half_fetching(const float* q, const std::uint16_t* v, std::size_t dim,
                               const std::uint16_t* next) noexcept {
  return detail::widening_kernel<detail::HalfWidener<T>, false, true>(q, v, dim, next);
}

}  // namespace vindex
