// vindex/distance/half.hpp — distance kernels between a float query and a vector stored as 16-bit
// elements (Float16 or BFloat16, core/element.hpp), widening the stored elements in registers as
// they are read: the stored vector is never widened into memory first.
//
// Instruction sets, chosen when the translation unit is compiled: AVX-512F (16 lanes; FLOAT16 with
// vcvtph2ps, BFLOAT16 by a 16-bit shift), else AVX2 with F16C and FMA (8 lanes), else a portable
// loop (also under VINDEX_NO_SIMD). Every path widens exactly, so all compute the same sums up to
// float rounding in a different order. `half_kernels_name()` says which one this build uses.
// Pure functions; thread-safe. Next: distance/byte.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "vindex/core/element.hpp"

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

// Starts loading the `bytes` at `next` into cache, one request per 64-byte line (when kFetch).
template <bool kFetch>
inline void fetch_bytes(const void* next, std::size_t from, std::size_t to) noexcept {
#if defined(__GNUC__)
  if constexpr (kFetch)
    for (std::size_t b = from; b < to; b += 64) __builtin_prefetch(static_cast<const char*>(next) + b, 0, 3);
#else
  (void)next;
  (void)from;
  (void)to;
#endif
}

#if defined(VINDEX_HALF_AVX512)
template <class T>
inline __m512 widen16(const std::uint16_t* v) noexcept {
  // The zero-masked forms: g++ 12 warns (maybe-uninitialized) on the plain ones' undefined inputs.
  constexpr __mmask16 kAll = 0xffff;
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v));
  if constexpr (std::is_same_v<T, Float16>) {
    return _mm512_maskz_cvtph_ps(kAll, h);
  } else {
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll, _mm512_maskz_cvtepu16_epi32(kAll, h), 16));
  }
}
#elif defined(VINDEX_HALF_AVX2)
template <class T>
inline __m256 widen8(const std::uint16_t* v) noexcept {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v));
  if constexpr (std::is_same_v<T, Float16>) {
    return _mm256_cvtph_ps(h);
  } else {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}
inline float sum8(__m256 s) noexcept {
  const __m128 r = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  const __m128 r2 = _mm_add_ps(r, _mm_movehl_ps(r, r));
  return _mm_cvtss_f32(_mm_add_ss(r2, _mm_shuffle_ps(r2, r2, 1)));
}
#endif

// kL2: Σ (q − v)²; else Σ q·v. `next` (with kFetch): the stored vector measured after this one.
template <class T, bool kL2, bool kFetch>
inline float half_kernel(const float* q, const std::uint16_t* v, std::size_t dim, const std::uint16_t* next) noexcept {
  std::size_t i = 0;
  float sum = 0;
#if defined(VINDEX_HALF_AVX512)
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  for (; i + 32 <= dim; i += 32) {
    fetch_bytes<kFetch>(next, 2 * i, 2 * i + 64);
    const __m512 a0 = _mm512_loadu_ps(q + i), a1 = _mm512_loadu_ps(q + i + 16);
    const __m512 b0 = widen16<T>(v + i), b1 = widen16<T>(v + i + 16);
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
    const __m512 a = _mm512_loadu_ps(q + i), b = widen16<T>(v + i);
    if constexpr (kL2) {
      const __m512 d = _mm512_sub_ps(a, b);
      s0 = _mm512_fmadd_ps(d, d, s0);
    } else {
      s0 = _mm512_fmadd_ps(a, b, s0);
    }
  }
  // Through memory: g++ 12's _mm512_reduce_add_ps trips its own uninitialized warnings.
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, _mm512_add_ps(s0, s1));
  for (std::size_t l = 0; l < 8; ++l) lanes[l] += lanes[l + 8];
  for (std::size_t l = 0; l < 4; ++l) lanes[l] += lanes[l + 4];
  sum = (lanes[0] + lanes[2]) + (lanes[1] + lanes[3]);
#elif defined(VINDEX_HALF_AVX2)
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (; i + 16 <= dim; i += 16) {
    fetch_bytes<kFetch>(next, 2 * i, 2 * i + 32);
    const __m256 a0 = _mm256_loadu_ps(q + i), a1 = _mm256_loadu_ps(q + i + 8);
    const __m256 b0 = widen8<T>(v + i), b1 = widen8<T>(v + i + 8);
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
    const __m256 a = _mm256_loadu_ps(q + i), b = widen8<T>(v + i);
    if constexpr (kL2) {
      const __m256 d = _mm256_sub_ps(a, b);
      s0 = _mm256_fmadd_ps(d, d, s0);
    } else {
      s0 = _mm256_fmadd_ps(a, b, s0);
    }
  }
  sum = sum8(_mm256_add_ps(s0, s1));
#endif
  fetch_bytes<kFetch>(next, 2 * i, 2 * dim);
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

/// Widens the `n` elements of type `T` at `v` into the floats at `out` (exact).
template <class T>
inline void widen_half(const std::uint16_t* v, float* out, std::size_t n) noexcept {
  std::size_t i = 0;
#if defined(VINDEX_HALF_AVX512)
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, detail::widen16<T>(v + i));
#elif defined(VINDEX_HALF_AVX2)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, detail::widen8<T>(v + i));
#endif
  for (; i < n; ++i) out[i] = T::to_float(v[i]);
}

/// Squared Euclidean distance between the float vector `q` and the `dim` elements of type `T`
/// (Float16 or BFloat16) at `v`.
template <class T>
inline float l2_squared_half(const float* q, const std::uint16_t* v, std::size_t dim) noexcept {
  return detail::half_kernel<T, true, false>(q, v, dim, nullptr);
}
/// l2_squared_half that also starts loading the `dim` elements at `next` into cache.
template <class T>
inline float l2_squared_half_fetching(const float* q, const std::uint16_t* v, std::size_t dim,
                                      const std::uint16_t* next) noexcept {
  return detail::half_kernel<T, true, true>(q, v, dim, next);
}
/// Dot product of the float vector `q` and the `dim` elements of type `T` at `v`.
template <class T>
inline float dot_half(const float* q, const std::uint16_t* v, std::size_t dim) noexcept {
  return detail::half_kernel<T, false, false>(q, v, dim, nullptr);
}
/// dot_half that also starts loading the `dim` elements at `next` into cache.
template <class T>
inline float dot_half_fetching(const float* q, const std::uint16_t* v, std::size_t dim,
                               const std::uint16_t* next) noexcept {
  return detail::half_kernel<T, false, true>(q, v, dim, next);
}

}  // namespace vindex
