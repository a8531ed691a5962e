// vindex/distance/simd.hpp — the SIMD distance kernels (xsimd), with a scalar fallback.
//
// Kernels are compiled for the instruction set the translation unit targets: a default build uses
// the baseline of the target (SSE2 on x86-64), a build with `-march=native` (the `native` Meson
// option) uses AVX2 or AVX-512 where the compiler enables them. `simd_arch_name()` says which one
// this build uses. Defining VINDEX_NO_SIMD forces the scalar loops. Pure functions; thread-safe.
// Next: distance/metric.hpp.
#pragma once

#include <cmath>
#include <cstddef>
#include <string_view>

#if !defined(VINDEX_NO_SIMD)
#include <xsimd/xsimd.hpp>
#endif

namespace vindex {

#if !defined(VINDEX_NO_SIMD)
namespace detail {
using simd_arch = xsimd::default_arch;
inline constexpr bool kHasSimd = !std::is_same_v<simd_arch, xsimd::unavailable>;
}  // namespace detail
#else
namespace detail {
inline constexpr bool kHasSimd = false;
}  // namespace detail
#endif

/// Name of the instruction set the distance kernels of this build use ("avx512bw", "sse2", "scalar"…).
inline std::string_view simd_arch_name() noexcept {
#if !defined(VINDEX_NO_SIMD)
  if constexpr (detail::kHasSimd) return detail::simd_arch::name();
#endif
  return "scalar";
}

namespace detail {

// sum + x·y for the scalar parts of the kernels: one fused multiply-add where the target has a fast
// one, else a multiply and an add. Left to the compiler, whether `sum += x * y` is fused depends on
// where the kernel is inlined, and a FLAT scan must give bit for bit the distance search_batch
// re-ranks with.
inline float multiply_add(float x, float y, float sum) noexcept {
#if defined(FP_FAST_FMAF)
  return std::fma(x, y, sum);
#else
  const float product = x * y;
  return sum + product;
#endif
}

inline float l2_squared_tail(const float* a, const float* b, std::size_t from,
                             std::size_t dim) noexcept {
  float sum = 0;
  for (std::size_t i = from; i < dim; ++i) {
    const float d = a[i] - b[i];
    sum = multiply_add(d, d, sum);
  }
  return sum;
}

inline float dot_tail(const float* a, const float* b, std::size_t from, std::size_t dim) noexcept {
  float sum = 0;
  for (std::size_t i = from; i < dim; ++i) sum = multiply_add(a[i], b[i], sum);
  return sum;
}

}  // namespace detail

namespace detail {

// Starts loading next[from, to) into cache, one request per 64-byte line (when kFetch).
template <bool kFetch>
inline void fetch_lines(const float* next, std::size_t from, std::size_t to) noexcept {
#if defined(__GNUC__)
  if constexpr (kFetch) {
    constexpr std::size_t kLineFloats = 64 / sizeof(float);
    for (std::size_t f = from; f < to; f += kLineFloats) __builtin_prefetch(next + f, 0, 3);
  }
#else
  (void)next;
  (void)from;
  (void)to;
#endif
}

// Σ (a − b)², fetching `next` as it goes (kFetch). With kBounded it gives up once the distance is
// known to be at least `bound`: every kCheckFloats elements it sums the accumulators with the same
// reduction as the end does, and returns that partial sum when it is >= bound. Each accumulator
// only grows (squares are >= 0 and rounding is monotone), so the full result is >= any such partial
// sum; a distance below `bound` is therefore always computed to the end, bit-identical to the
// unbounded kernel.
template <bool kFetch, bool kBounded>
inline float l2_squared_impl(const float* a, const float* b, std::size_t dim, float bound, const float* next) noexcept {
  constexpr std::size_t kCheckFloats = 64;  // 256 bytes: four cache lines between checks
#if !defined(VINDEX_NO_SIMD)
  if constexpr (kHasSimd) {
    using batch = xsimd::batch<float, simd_arch>;
    constexpr std::size_t w = batch::size;
    static_assert(kCheckFloats % (4 * w) == 0);
    std::size_t i = 0;
    // Four independent accumulators hide the FMA latency.
    batch s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
    for (; i + 4 * w <= dim; i += 4 * w) {
      fetch_lines<kFetch>(next, i, i + 4 * w);
      const batch d0 = batch::load_unaligned(a + i) - batch::load_unaligned(b + i);
      const batch d1 = batch::load_unaligned(a + i + w) - batch::load_unaligned(b + i + w);
      const batch d2 = batch::load_unaligned(a + i + 2 * w) - batch::load_unaligned(b + i + 2 * w);
      const batch d3 = batch::load_unaligned(a + i + 3 * w) - batch::load_unaligned(b + i + 3 * w);
      s0 = xsimd::fma(d0, d0, s0);
      s1 = xsimd::fma(d1, d1, s1);
      s2 = xsimd::fma(d2, d2, s2);
      s3 = xsimd::fma(d3, d3, s3);
      if constexpr (kBounded) {
        if ((i + 4 * w) % kCheckFloats == 0) {
          const float partial = xsimd::hadd((s0 + s1) + (s2 + s3));
          if (partial >= bound) return partial;
        }
      }
    }
    fetch_lines<kFetch>(next, i, dim);
    for (; i + w <= dim; i += w) {
      const batch d = batch::load_unaligned(a + i) - batch::load_unaligned(b + i);
      s0 = xsimd::fma(d, d, s0);
    }
    return xsimd::hadd((s0 + s1) + (s2 + s3)) + l2_squared_tail(a, b, i, dim);
  }
#endif
  fetch_lines<kFetch>(next, 0, dim);
  if constexpr (!kBounded) {
    return l2_squared_tail(a, b, 0, dim);
  } else {  // the same sum as l2_squared_tail, looked at every kCheckFloats elements
    float sum = 0;
    for (std::size_t i = 0; i < dim; ++i) {
      const float d = a[i] - b[i];
      sum = multiply_add(d, d, sum);
      if ((i + 1) % kCheckFloats == 0 && sum >= bound) return sum;
    }
    return sum;
  }
}

template <bool kFetch>
inline float dot_impl(const float* a, const float* b, std::size_t dim, const float* next) noexcept {
#if !defined(VINDEX_NO_SIMD)
  if constexpr (kHasSimd) {
    using batch = xsimd::batch<float, simd_arch>;
    constexpr std::size_t w = batch::size;
    std::size_t i = 0;
    batch s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
    for (; i + 4 * w <= dim; i += 4 * w) {
      fetch_lines<kFetch>(next, i, i + 4 * w);
      s0 = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), s0);
      s1 = xsimd::fma(batch::load_unaligned(a + i + w), batch::load_unaligned(b + i + w), s1);
      s2 = xsimd::fma(batch::load_unaligned(a + i + 2 * w), batch::load_unaligned(b + i + 2 * w), s2);
      s3 = xsimd::fma(batch::load_unaligned(a + i + 3 * w), batch::load_unaligned(b + i + 3 * w), s3);
    }
    fetch_lines<kFetch>(next, i, dim);
    for (; i + w <= dim; i += w)
      s0 = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), s0);
    return xsimd::hadd((s0 + s1) + (s2 + s3)) + dot_tail(a, b, i, dim);
  }
#endif
  fetch_lines<kFetch>(next, 0, dim);
  return dot_tail(a, b, 0, dim);
}

}  // namespace detail

/// l2_squared(a, b, dim) when that is below `bound`, bit-identical; otherwise some value >= bound
/// (a partial sum: the kernel stops early, reading less of `b`). For a search that only keeps
/// distances below a bound. Also starts loading the `dim` floats at `next` into cache as it goes.
inline float l2_squared_within_fetching(const float* a, const float* b, std::size_t dim, float bound,
                                        const float* next) noexcept {
  return detail::l2_squared_impl<true, true>(a, b, dim, bound, next);
}

/// l2_squared_within_fetching without the fetching.
inline float l2_squared_within(const float* a, const float* b, std::size_t dim, float bound) noexcept {
  return detail::l2_squared_impl<false, true>(a, b, dim, bound, nullptr);
}

/// Squared Euclidean distance between two float vectors of `dim` elements (no alignment needed).
inline float l2_squared(const float* a, const float* b, std::size_t dim) noexcept {
  return detail::l2_squared_impl<false, false>(a, b, dim, 0.0f, nullptr);
}

/// l2_squared(a, b, dim) that, as it goes, also starts loading the `dim` floats at `next` into
/// cache: a graph search measures the neighbours of a node one after another, and fetching the next
/// ones while this one is measured keeps a steady number of loads in flight. The result is
/// bit-identical to l2_squared.
inline float l2_squared_fetching(const float* a, const float* b, std::size_t dim, const float* next) noexcept {
  return detail::l2_squared_impl<true, false>(a, b, dim, 0.0f, next);
}

/// Dot product of two float vectors of `dim` elements (no alignment needed).
inline float dot(const float* a, const float* b, std::size_t dim) noexcept {
  return detail::dot_impl<false>(a, b, dim, nullptr);
}

/// dot(a, b, dim) that also starts loading the `dim` floats at `next` into cache (see
/// l2_squared_fetching). Bit-identical to dot.
inline float dot_fetching(const float* a, const float* b, std::size_t dim, const float* next) noexcept {
  return detail::dot_impl<true>(a, b, dim, next);
}

/// First index i in [from, n) with bias[i] + scale × score[i] <= limit, or n when there is none.
/// Scans candidate scores from a matrix product for the few that can enter a top-k list.
inline std::size_t find_first_at_most(const float* bias, const float* score, float scale, float limit,
                                      std::size_t from, std::size_t n) noexcept {
  std::size_t i = from;
#if !defined(VINDEX_NO_SIMD)
  if constexpr (detail::kHasSimd) {
    using batch = xsimd::batch<float, detail::simd_arch>;
    constexpr std::size_t w = batch::size;
    const batch vscale(scale), vlimit(limit);
    // Scalar until aligned to a batch boundary of the row, so batches are whole.
    for (; i < n && i % w != 0; ++i)
      if (bias[i] + scale * score[i] <= limit) return i;
    for (; i + w <= n; i += w) {
      const batch v = xsimd::fma(vscale, batch::load_unaligned(score + i), batch::load_unaligned(bias + i));
      if (xsimd::any(v <= vlimit)) {
        for (std::size_t j = i; j < i + w; ++j)
          if (bias[j] + scale * score[j] <= limit) return j;
      }
    }
  }
#endif
  for (; i < n; ++i)
    if (bias[i] + scale * score[i] <= limit) return i;
  return n;
}

}  // namespace vindex
