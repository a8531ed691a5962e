// vindex/distance/byte.hpp — distance kernels between a float query and a vector stored as 8-bit
// integer elements (Int8 or UInt8, core/element.hpp), widening the stored elements in registers as
// they are read: the stored vector is never widened into memory first.
//
// Instruction sets, chosen when the translation unit is compiled: AVX-512F (16 lanes: vpmovsxbd /
// vpmovzxbd, then vcvtdq2ps), else AVX2 with FMA (8 lanes, the same conversions), else a portable
// loop (also under VINDEX_NO_SIMD). Every integer widens to float exactly, so all paths compute the
// same sums up to float rounding in a different order. `byte_kernels_name()` says which one this
// build uses. Pure functions; thread-safe. Next: distance/vector_codec.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "vindex/core/element.hpp"
#include "vindex/distance/half.hpp"

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

#if defined(VINDEX_BYTE_AVX512)
// The 16 elements at `v` as floats.
template <class T>
inline __m512 widen_bytes16(const typename T::Storage* v) noexcept {
  constexpr __mmask16 kAll = 0xffff;  // the zero-masked forms, as in half.hpp (g++ 12 warnings)
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v));
  if constexpr (std::is_same_v<T, Int8>) {
    return _mm512_maskz_cvtepi32_ps(kAll, _mm512_maskz_cvtepi8_epi32(kAll, b));
  } else {
    return _mm512_maskz_cvtepi32_ps(kAll, _mm512_maskz_cvtepu8_epi32(kAll, b));
  }
}
#elif defined(VINDEX_BYTE_AVX2)
// The 8 elements at `v` as floats.
template <class T>
inline __m256 widen_bytes8(const typename T::Storage* v) noexcept {
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(v));
  if constexpr (std::is_same_v<T, Int8>) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
  } else {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
  }
}
inline float sum8_floats(__m256 s) noexcept {
  const __m128 r = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  const __m128 r2 = _mm_add_ps(r, _mm_movehl_ps(r, r));
  return _mm_cvtss_f32(_mm_add_ss(r2, _mm_shuffle_ps(r2, r2, 1)));
}
#endif

// kL2: Σ (q − v)²; else Σ q·v. `next` (with kFetch): the stored vector measured after this one.
template <class T, bool kL2, bool kFetch>
inline float byte_kernel(const float* q, const typename T::Storage* v, std::size_t dim,
                         const typename T::Storage* next) noexcept {
  std::size_t i = 0;
  float sum = 0;
#if defined(VINDEX_BYTE_AVX512)
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  for (; i + 32 <= dim; i += 32) {
    if (i % 64 == 0) fetch_bytes<kFetch>(next, i, i + 64);
    const __m512 a0 = _mm512_loadu_ps(q + i), a1 = _mm512_loadu_ps(q + i + 16);
    const __m512 b0 = widen_bytes16<T>(v + i), b1 = widen_bytes16<T>(v + i + 16);
    if constexpr (kL2) {
      const __m512 d0 = _mm512_sub_ps(a0, b0), d1 = _mm512_sub_ps(a1, b1);
      s0 = _mm512_fmadd_ps(d0, d0, s0);
      s1 = _mm512_fmadd_ps(d1, d1, s1);
    } else {
      s0 = _mm512_fmadd_ps(a0, b0, s0);
      s1 = _mm512_fmadd_ps(a1, b1, s1);
    }
  }
  for (; i + 16 <= dim; i += 16) {
    const __m512 a = _mm512_loadu_ps(q + i), b = widen_bytes16<T>(v + i);
    if constexpr (kL2) {
      const __m512 d = _mm512_sub_ps(a, b);
      s0 = _mm512_fmadd_ps(d, d, s0);
    } else {
      s0 = _mm512_fmadd_ps(a, b, s0);
    }
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, _mm512_add_ps(s0, s1));
  for (std::size_t l = 0; l < 8; ++l) lanes[l] += lanes[l + 8];
  for (std::size_t l = 0; l < 4; ++l) lanes[l] += lanes[l + 4];
  sum = (lanes[0] + lanes[2]) + (lanes[1] + lanes[3]);
#elif defined(VINDEX_BYTE_AVX2)
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (; i + 16 <= dim; i += 16) {
    if (i % 64 == 0) fetch_bytes<kFetch>(next, i, i + 64);
    const __m256 a0 = _mm256_loadu_ps(q + i), a1 = _mm256_loadu_ps(q + i + 8);
    const __m256 b0 = widen_bytes8<T>(v + i), b1 = widen_bytes8<T>(v + i + 8);
    if constexpr (kL2) {
      const __m256 d0 = _mm256_sub_ps(a0, b0), d1 = _mm256_sub_ps(a1, b1);
      s0 = _mm256_fmadd_ps(d0, d0, s0);
      s1 = _mm256_fmadd_ps(d1, d1, s1);
    } else {
      s0 = _mm256_fmadd_ps(a0, b0, s0);
      s1 = _mm256_fmadd_ps(a1, b1, s1);
    }
  }
  for (; i + 8 <= dim; i += 8) {
    const __m256 a = _mm256_loadu_ps(q + i), b = widen_bytes8<T>(v + i);
    if constexpr (kL2) {
      const __m256 d = _mm256_sub_ps(a, b);
      s0 = _mm256_fmadd_ps(d, d, s0);
    } else {
      s0 = _mm256_fmadd_ps(a, b, s0);
    }
  }
  sum = sum8_floats(_mm256_add_ps(s0, s1));
#endif
  fetch_bytes<kFetch>(next, i / 64 * 64, dim);
  for (; i < dim; ++i) {
    const float b = T::to_float(v[i]);
    if constexpr (kL2) {
      const float d = q[i] - b;
      sum += d * d;
    } else {
      sum += q[i] * b;
    }
  }
  return sum;
}

}  // namespace detail

/// Widens the `n` elements of type `T` (Int8 or UInt8) at `v` into the floats at `out` (exact).
template <class T>
inline void widen_byte(const typename T::Storage* v, float* out, std::size_t n) noexcept {
  std::size_t i = 0;
#if defined(VINDEX_BYTE_AVX512)
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, detail::widen_bytes16<T>(v + i));
#elif defined(VINDEX_BYTE_AVX2)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, detail::widen_bytes8<T>(v + i));
#endif
  for (; i < n; ++i) out[i] = T::to_float(v[i]);
}

/// Squared Euclidean distance between the float vector `q` and the `dim` elements of type `T`
/// (Int8 or UInt8) at `v`.
template <class T>
inline float l2_squared_byte(const float* q, const typename T::Storage* v, std::size_t dim) noexcept {
  return detail::byte_kernel<T, true, false>(q, v, dim, nullptr);
}
/// l2_squared_byte that also starts loading the `dim` elements at `next` into cache.
template <class T>
inline float l2_squared_byte_fetching(const float* q, const typename T::Storage* v, std::size_t dim,
                                      const typename T::Storage* next) noexcept {
  return detail::byte_kernel<T, true, true>(q, v, dim, next);
}
/// Dot product of the float vector `q` and the `dim` elements of type `T` at `v`.
template <class T>
inline float dot_byte(const float* q, const typename T::Storage* v, std::size_t dim) noexcept {
  return detail::byte_kernel<T, false, false>(q, v, dim, nullptr);
}
/// dot_byte that also starts loading the `dim` elements at `next` into cache.
template <class T>
inline float dot_byte_fetching(const float* q, const typename T::Storage* v, std::size_t dim,
                               const typename T::Storage* next) noexcept {
  return detail::byte_kernel<T, false, true>(q, v, dim, next);
}

}  // namespace vindex
