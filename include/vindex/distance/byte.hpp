// vindex/distance/byte.hpp — distance kernels between a float query and a vector stored as 8-bit
// integer elements (Int8 or UInt8, core/element.hpp), widening the stored elements in registers as
// they are read: the stored vector is never widened into memory first.
//
// Instruction sets, chosen when the translation unit is compiled: AVX-512F (16 lanes: vpmovsxbd /
// vpmovzxbd, then vcvtdq2ps), else AVX2 with FMA (8 lanes, the same conversions), else a portable
// loop (also under VINDEX_NO_SIMD); the loop itself is distance/widening_kernel.hpp's. Every integer widens to float exactly, so all paths compute the
// same sums up to float rounding in a different order. `byte_kernels_name()` says which one this
// build uses. Pure functions; thread-safe. Next: distance/vector_codec.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "vindex/core/element.hpp"
#include "vindex/distance/widening_kernel.hpp"

#if !defined(VINDEX_NO_SIMD) && defined(__AVX512F__)
#define VINDEX_BYTE_AVX512 1
#include <immintrin.h>
#elif !defined(VINDEX_NO_SIMD) && defined(__AVX2__) && defined(__FMA__)
#define VINDEX_BYTE_AVX2 1
#include <immintrin.h>
#endif

namespace vindex {

/// The instruction set the 8-bit element kernels of this build use ("avx512f", "avx2", "scalar").
inline std::string_view byte_kernels_name() noexcept {
#if defined(VINDEX_BYTE_AVX512)
  return "avx512f";
#elif defined(VINDEX_BYTE_AVX2)
  return "avx2";
#else
  return "scalar";
#endif
}

namespace detail {

// Widens Int8 / UInt8 elements (see widening_kernel): sign- or zero-extension to 32 bits, then
// vcvtdq2ps.
template <class T>
struct ByteWidener {
  using Storage = typename T::Storage;
  static float to_float(Storage b) noexcept { return T::to_float(b); }
#if defined(VINDEX_BYTE_AVX512)
  static constexpr bool kLanes16 = true;
  static __m512 lanes16(const Storage* v) noexcept {
    constexpr __mmask16 kAll = 0xffff;  // the zero-masked forms, as in half.hpp (g++ 12 warnings)
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v));
    if constexpr (std::is_same_v<T, Int8>) {
      return _mm512_maskz_cvtepi32_ps(kAll, _mm512_maskz_cvtepi8_epi32(kAll, b));
    } else {
      return _mm512_maskz_cvtepi32_ps(kAll, _mm512_maskz_cvtepu8_epi32(kAll, b));
    }
  }
#else
  static constexpr bool kLanes16 = false;
#endif
#if defined(VINDEX_BYTE_AVX2)
  static constexpr bool kLanes8 = true;
  static __m256 lanes8(const Storage* v) noexcept {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(v));
    if constexpr (std::is_same_v<T, Int8>) {
      return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
    } else {
      return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
    }
  }
#else
  static constexpr bool kLanes8 = false;
#endif
};

}  // namespace detail

/// Widens the `n` elements of type `T` (Int8 or UInt8) at `v` into the floats at `out` (exact).
template <class T>
inline void widen_byte(const typename T::Storage* v, float* out, std::size_t n) noexcept {
  detail::widen_all<detail::ByteWidener<T>>(v, out, n);
}

/// Squared Euclidean distance between the float vector `q` and the `dim` elements of type `T`
/// (Int8 or UInt8) at `v`.
template <class T>
inline float l2_squared_byte(const float* q, const typename T::Storage* v, std::size_t dim) noexcept {
  return detail::widening_kernel<detail::ByteWidener<T>, true, false>(q, v, dim, nullptr);
}
/// l2_squared_byte that also starts loading the `dim` elements at `next` into cache.
template <class T>
inline float l2_squared_byte_fetching(const float* q, const typename T::Storage* v, std::size_t dim,
                                      const typename T::Storage* next) noexcept {
  return detail::widening_kernel<detail::ByteWidener<T>, true, true>(q, v, dim, next);
}
/// Dot product of the float vector `q` and the `dim` elements of type `T` at `v`.
template <class T>
inline float dot_byte(const float* q, const typename T::Storage* v, std::size_t dim) noexcept {
  return detail::widening_kernel<detail::ByteWidener<T>, false, false>(q, v, dim, nullptr);
}
/// dot_byte that also starts loading the `dim` elements at `next` into cache.
template <class T>
inline float dot_byte_fetching(const float* q, const typename T::Storage* v, std::size_t dim,
                               const typename T::Storage* next) noexcept {
  return detail::widening_kernel<detail::ByteWidener<T>, false, true>(q, v, dim, next);
}

}  // namespace vindex
