// vindex/distance/batch_dot.hpp — a register-blocked kernel for many dot products at once.
//
// Batched exact search needs the dot product of every query with every stored vector: a matrix
// product. This kernel computes a block of kRows queries × (panels × kCols) stored vectors with the
// accumulators held in registers, after the stored vectors are packed into column panels (for each
// panel, element k of its kCols vectors side by side), so each step is one broadcast and a few FMAs.
// Shapes follow the build's SIMD width and register count (xsimd), with a scalar fallback.
// Pure functions; thread-safe. Next: distance/widening_kernel.hpp.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>

#include "vindex/distance/simd.hpp"

namespace vindex {

/// Block shape of `dot_block` for this build: kRows queries × kCols packed vectors per panel.
struct BatchDotShape {
#if !defined(VINDEX_NO_SIMD)
  static constexpr std::size_t kLanes = detail::kHasSimd ? xsimd::batch<float, detail::simd_arch>::size : 1;
#else
  static constexpr std::size_t kLanes = 1;
#endif
  static constexpr std::size_t kCols = kLanes == 1 ? 4 : 2 * kLanes;
  // 2 × kRows accumulators + 2 panel registers + 1 broadcast must fit the register file:
  // 32 vector registers with AVX-512, 16 otherwise.
  static constexpr std::size_t kRows = kLanes >= 16 ? 12 : (kLanes == 1 ? 4 : 6);
};

/// A 64-byte-aligned float buffer, as `dot_block`'s packed panels need.
class AlignedFloats {
 public:
  /// `count` uninitialised floats.
  explicit AlignedFloats(std::size_t count)
      : data_(static_cast<float*>(::operator new(count * sizeof(float), std::align_val_t{64}))) {}
  /// First element.
  float* data() noexcept { return data_.get(); }

 private:
  struct Free {
    void operator()(float* p) const noexcept { ::operator delete(p, std::align_val_t{64}); }
  };
  std::unique_ptr<float, Free> data_;
};

/// Packs `count` vectors (row-major, `dim` floats each, `stride` floats apart) into column panels
/// of BatchDotShape::kCols vectors; a short last panel is zero-padded. `out` must hold
/// ceil(count / kCols) × kCols × dim floats.
inline void pack_panels(const float* rows, std::size_t count, std::size_t dim, std::size_t stride,
                        float* out) noexcept {
  constexpr std::size_t c = BatchDotShape::kCols;
  for (std::size_t p0 = 0; p0 < count; p0 += c) {
    const std::size_t width = count - p0 < c ? count - p0 : c;
    for (std::size_t k = 0; k < dim; ++k) {
      float* dst = out + p0 * dim + k * c;
      for (std::size_t j = 0; j < width; ++j) dst[j] = rows[(p0 + j) * stride + k];
      for (std::size_t j = width; j < c; ++j) dst[j] = 0.0f;
    }
  }
}

/// out[i × out_stride + j] = dot(query i, packed vector j) for i < kRows and j < panels × kCols.
/// `queries` holds kRows rows of `dim` floats, contiguous (pad missing rows with anything finite).
inline void dot_block(const float* queries, const float* packed, std::size_t panels, std::size_t dim,
                      float* out, std::size_t out_stride) noexcept {
  constexpr std::size_t r = BatchDotShape::kRows;
  constexpr std::size_t c = BatchDotShape::kCols;
#if !defined(VINDEX_NO_SIMD)
  if constexpr (detail::kHasSimd) {
    using batch = xsimd::batch<float, detail::simd_arch>;
    constexpr std::size_t w = batch::size;
    for (std::size_t p = 0; p < panels; ++p) {
      const float* panel = packed + p * c * dim;
      batch acc0[r], acc1[r];
#pragma GCC unroll 16
      for (std::size_t i = 0; i < r; ++i) acc0[i] = acc1[i] = batch(0.0f);
      for (std::size_t k = 0; k < dim; ++k) {
        const batch b0 = batch::load_aligned(panel + k * c);
        const batch b1 = batch::load_aligned(panel + k * c + w);
#pragma GCC unroll 16
        for (std::size_t i = 0; i < r; ++i) {
          const batch a(queries[i * dim + k]);
          acc0[i] = xsimd::fma(a, b0, acc0[i]);
          acc1[i] = xsimd::fma(a, b1, acc1[i]);
        }
      }
#pragma GCC unroll 16
      for (std::size_t i = 0; i < r; ++i) {
        acc0[i].store_unaligned(out + i * out_stride + p * c);
        acc1[i].store_unaligned(out + i * out_stride + p * c + w);
      }
    }
    return;
  }
#endif
  for (std::size_t p = 0; p < panels; ++p) {
    const float* panel = packed + p * c * dim;
    for (std::size_t i = 0; i < r; ++i)
      for (std::size_t j = 0; j < c; ++j) {
        float sum = 0;
        for (std::size_t k = 0; k < dim; ++k) sum += queries[i * dim + k] * panel[k * c + j];
        out[i * out_stride + p * c + j] = sum;
      }
  }
}

}  // namespace vindex
