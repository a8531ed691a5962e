// vindex/distance/code_dot.hpp — the integer kernel SQ8 codes are measured with: Σ c·w over 8-bit
// unsigned codes c and 8-bit signed weights w (a query quantized to integers, see
// distance/sq8_codec.hpp), summed exactly in 32-bit integers.
//
// Instruction sets, chosen when the translation unit is compiled: AVX-512 VNNI (vpdpbusd on 256-bit
// registers: 32 products a step, no widening), else AVX-512BW (codes and weights widened to 16 bits,
// vpmaddwd: 32 a step), else AVX2 (the same, 16 a step), else a portable loop (also under
// VINDEX_NO_SIMD).
// Integer sums are exact and no step saturates (|c·w| ≤ 255·127; pairs and quadruples of them fit
// 32 bits, and so does a sum over any DIM up to 65,000), so every path returns the same value bit
// for bit. `code_dot_kernels_name()` says which one this build uses. Pure functions; thread-safe.
// Next: distance/sq8_codec.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vindex/distance/widening_kernel.hpp"  // fetch_bytes

#if !defined(VINDEX_NO_SIMD) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__)
#define VINDEX_CODE_DOT_VNNI 1
#include <immintrin.h>
#elif !defined(VINDEX_NO_SIMD) && defined(__AVX512BW__)
#define VINDEX_CODE_DOT_AVX512BW 1
#include <immintrin.h>
#elif !defined(VINDEX_NO_SIMD) && defined(__AVX2__)
#define VINDEX_CODE_DOT_AVX2 1
#include <immintrin.h>
#endif

namespace vindex {

/// The instruction set code_dot uses in this build ("avx512vnni", "avx512bw", "avx2", "scalar").
inline std::string_view code_dot_kernels_name() noexcept {
#if defined(VINDEX_CODE_DOT_VNNI)
  return "avx512vnni";
#elif defined(VINDEX_CODE_DOT_AVX512BW)
  return "avx512bw";
#elif defined(VINDEX_CODE_DOT_AVX2)
  return "avx2";
#else
  return "scalar";
#endif
}

namespace detail {

// From this DIM on, the VNNI path reads 64 codes a load (see code_dot_kernel).
inline constexpr std::size_t kWideCodeDot = 256;

#if defined(VINDEX_CODE_DOT_VNNI) || defined(VINDEX_CODE_DOT_AVX2)
// Sum of the 8 lanes.
inline std::int32_t sum8(__m256i s) noexcept {
  __m128i b = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  b = _mm_add_epi32(b, _mm_shuffle_epi32(b, 0x4e));
  b = _mm_add_epi32(b, _mm_shuffle_epi32(b, 0xb1));
  return _mm_cvtsi128_si32(b);
}
#endif

#if defined(VINDEX_CODE_DOT_AVX512BW)
// Sum of the 16 lanes, halving the register each step (zero-masked extracts: g++ 12 warns about the
// undefined source of the plain extract and of the cast, as in half.hpp). Summing through memory
// instead stalls on store forwarding: it made SQ8 FLAT scans 1.5× slower at DIM 100.
inline std::int32_t sum16(__m512i s) noexcept {
  const __m256i a =
      _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(0xff, s, 0), _mm512_maskz_extracti64x4_epi64(0xff, s, 1));
  __m128i b = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  b = _mm_add_epi32(b, _mm_shuffle_epi32(b, 0x4e));
  b = _mm_add_epi32(b, _mm_shuffle_epi32(b, 0xb1));
  return _mm_cvtsi128_si32(b);
}
#endif

// Σ c[i]·w[i] over i < dim; `next` (with kFetch): the codes measured after these, fetched as these
// are read.
template <bool kFetch>
inline std::int32_t code_dot_kernel(const std::uint8_t* c, const std::int8_t* w, std::size_t dim,
                                    const std::uint8_t* next) noexcept {
  std::size_t i = 0;
  std::int32_t sum = 0;
#if defined(VINDEX_CODE_DOT_VNNI)
  // Long vectors 64 codes a load; short ones 32: a 64-byte load of a graph node's codes, which start
  // anywhere in a line, nearly always splits across two lines, and that cost 10 % of HNSW q/s at
  // DIM 100 (at DIM 784 the wide loads gain 10 % over narrow ones).
  __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
  if (dim >= kWideCodeDot) {
    __m512i z0 = _mm512_setzero_si512(), z1 = _mm512_setzero_si512();
    for (; i + 128 <= dim; i += 128) {
      fetch_bytes<kFetch>(next, i, i + 128);
      z0 = _mm512_dpbusd_epi32(z0, _mm512_loadu_si512(c + i), _mm512_loadu_si512(w + i));
      z1 = _mm512_dpbusd_epi32(z1, _mm512_loadu_si512(c + i + 64), _mm512_loadu_si512(w + i + 64));
    }
    const __m512i z = _mm512_add_epi32(z0, z1);
    s0 = _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(0xff, z, 0), _mm512_maskz_extracti64x4_epi64(0xff, z, 1));
  }
  for (; i + 64 <= dim; i += 64) {
    fetch_bytes<kFetch>(next, i, i + 64);
    s0 = _mm256_dpbusd_epi32(s0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i)),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i)));
    s1 = _mm256_dpbusd_epi32(s1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i + 32)),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i + 32)));
  }
  for (; i + 32 <= dim; i += 32) {
    fetch_bytes<kFetch>(next, i, i + 32);
    s0 = _mm256_dpbusd_epi32(s0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i)),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i)));
  }
  if (i < dim) {  // the tail, masked: lanes past dim read nothing and add 0
    fetch_bytes<kFetch>(next, i, dim);
    const __mmask32 m = ~std::uint32_t{0} >> (32 - (dim - i));
    s1 = _mm256_dpbusd_epi32(s1, _mm256_maskz_loadu_epi8(m, c + i), _mm256_maskz_loadu_epi8(m, w + i));
    i = dim;
  }
  sum = sum8(_mm256_add_epi32(s0, s1));
#elif defined(VINDEX_CODE_DOT_AVX512BW)
  __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
  for (; i + 64 <= dim; i += 64) {
    fetch_bytes<kFetch>(next, i, i + 64);
    const __m256i c0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i));
    const __m256i c1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i + 32));
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i + 32));
    s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(_mm512_cvtepu8_epi16(c0), _mm512_cvtepi8_epi16(w0)));
    s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(_mm512_cvtepu8_epi16(c1), _mm512_cvtepi8_epi16(w1)));
  }
  for (; i + 32 <= dim; i += 32) {
    fetch_bytes<kFetch>(next, i, i + 32);
    const __m256i c0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i));
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i));
    s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(_mm512_cvtepu8_epi16(c0), _mm512_cvtepi8_epi16(w0)));
  }
  sum = sum16(_mm512_add_epi32(s0, s1));
#elif defined(VINDEX_CODE_DOT_AVX2)
  __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
  for (; i + 32 <= dim; i += 32) {
    fetch_bytes<kFetch>(next, i, i + 32);
    const __m128i c0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i));
    const __m128i c1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i + 16));
    const __m128i w0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i));
    const __m128i w1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i + 16));
    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_cvtepu8_epi16(c0), _mm256_cvtepi8_epi16(w0)));
    s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_cvtepu8_epi16(c1), _mm256_cvtepi8_epi16(w1)));
  }
  for (; i + 16 <= dim; i += 16) {
    fetch_bytes<kFetch>(next, i, i + 16);
    const __m128i c0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i));
    const __m128i w0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i));
    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_cvtepu8_epi16(c0), _mm256_cvtepi8_epi16(w0)));
  }
  sum = sum8(_mm256_add_epi32(s0, s1));
#endif
  fetch_bytes<kFetch>(next, i, dim);
  for (; i < dim; ++i) sum += static_cast<std::int32_t>(c[i]) * w[i];
  return sum;
}

}  // namespace detail

/// Σ c[i]·w[i] over the `dim` codes at `c` and weights at `w`, exact.
inline std::int32_t code_dot(const std::uint8_t* c, const std::int8_t* w, std::size_t dim) noexcept {
  return detail::code_dot_kernel<false>(c, w, dim, nullptr);
}
/// code_dot that also starts loading the `dim` codes at `next` into cache.
inline std::int32_t code_dot_fetching(const std::uint8_t* c, const std::int8_t* w, std::size_t dim,
                                      const std::uint8_t* next) noexcept {
  return detail::code_dot_kernel<true>(c, w, dim, next);
}

}  // namespace vindex
