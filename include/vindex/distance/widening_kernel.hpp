// vindex/distance/widening_kernel.hpp — the loop every narrow-element distance kernel shares: a
// float query against stored elements that are widened to float in registers as they are read.
//
// A widener `W` says how its elements are stored (`W::Storage`), widens one (`W::to_float`) and,
// where the build target allows, 16 of them into an AVX-512 register (`W::kLanes16`, `W::lanes16`)
// or 8 into an AVX2 one (`W::kLanes8`, `W::lanes8`). distance/half.hpp (Float16, BFloat16) and
// distance/byte.hpp (Int8, UInt8) provide the wideners and the public kernels. Every path widens
// exactly, so all compute the same sums up to float rounding in a different order. Pure functions;
// thread-safe. Next: distance/half.hpp.
#pragma once

#include <cstddef>

#include "vindex/distance/simd.hpp"  // multiply_add

#if !defined(VINDEX_NO_SIMD) && (defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__)))
#include <immintrin.h>
#endif

namespace vindex::detail {

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

#if !defined(VINDEX_NO_SIMD) && !defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
inline float sum8(__m256 s) noexcept {
  const __m128 r = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  const __m128 r2 = _mm_add_ps(r, _mm_movehl_ps(r, r));
  return _mm_cvtss_f32(_mm_add_ss(r2, _mm_shuffle_ps(r2, r2, 1)));
}
#endif

// kL2: Σ (q − v)²; else Σ q·v, over the `dim` elements at `v` widened by W. `next` (with kFetch):
// the stored vector measured after this one, fetched as this one is read.
template <class W, bool kL2, bool kFetch>
inline float widening_kernel(const float* q, const typename W::Storage* v, std::size_t dim,
                             const typename W::Storage* next) noexcept {
  constexpr std::size_t kBytes = sizeof(typename W::Storage);
  std::size_t i = 0;
  float sum = 0;
#if !defined(VINDEX_NO_SIMD) && defined(__AVX512F__)
  if constexpr (W::kLanes16) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    for (; i + 32 <= dim; i += 32) {
      fetch_bytes<kFetch>(next, kBytes * i, kBytes * (i + 32));
      const __m512 a0 = _mm512_loadu_ps(q + i), a1 = _mm512_loadu_ps(q + i + 16);
      const __m512 b0 = W::lanes16(v + i), b1 = W::lanes16(v + i + 16);
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
      const __m512 a = _mm512_loadu_ps(q + i), b = W::lanes16(v + i);
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
  }
#elif !defined(VINDEX_NO_SIMD) && defined(__AVX2__) && defined(__FMA__)
  if constexpr (W::kLanes8) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    for (; i + 16 <= dim; i += 16) {
      fetch_bytes<kFetch>(next, kBytes * i, kBytes * (i + 16));
      const __m256 a0 = _mm256_loadu_ps(q + i), a1 = _mm256_loadu_ps(q + i + 8);
      const __m256 b0 = W::lanes8(v + i), b1 = W::lanes8(v + i + 8);
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
      const __m256 a = _mm256_loadu_ps(q + i), b = W::lanes8(v + i);
      if constexpr (kL2) {
        const __m256 d = _mm256_sub_ps(a, b);
        s0 = _mm256_fmadd_ps(d, d, s0);
      } else {
        s0 = _mm256_fmadd_ps(a, b, s0);
      }
    }
    sum = sum8(_mm256_add_ps(s0, s1));
  }
#endif
  fetch_bytes<kFetch>(next, kBytes * i, kBytes * dim);
  for (; i < dim; ++i) {  // (multiply_add: see distance/simd.hpp)
    const float b = W::to_float(v[i]);
    const float x = kL2 ? q[i] - b : q[i];
    sum = multiply_add(x, kL2 ? x : b, sum);
  }
  return sum;
}

// Widens the `n` elements at `v` into the floats at `out` (exact).
template <class W>
inline void widen_all(const typename W::Storage* v, float* out, std::size_t n) noexcept {
  std::size_t i = 0;
#if !defined(VINDEX_NO_SIMD) && defined(__AVX512F__)
  if constexpr (W::kLanes16)
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, W::lanes16(v + i));
#elif !defined(VINDEX_NO_SIMD) && defined(__AVX2__) && defined(__FMA__)
  if constexpr (W::kLanes8)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, W::lanes8(v + i));
#endif
  for (; i < n; ++i) out[i] = W::to_float(v[i]);
}

}  // namespace vindex::detail
