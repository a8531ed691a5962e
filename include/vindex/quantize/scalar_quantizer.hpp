// vindex/quantize/scalar_quantizer.hpp — SQ8: an 8-bit scalar quantizer trained per dimension.
//
// `ScalarQuantizer` maps each element x_i of a vector to a code c_i in 0..255 with its own
// dimension's range: x_i ≈ low_i + step_i · c_i, step_i = (high_i − low_i) / 255. Training takes the
// range of each dimension from a sample of vectors; with 128 or more of them it leaves out the most
// extreme 0.1 % at each end (at least one value) so that one outlier does not spread the codes of a
// whole dimension over empty space. A value outside the range is clamped to the nearest end (the
// encoder counts how many were, so a caller sees the data drifting away from what it was trained
// on). A dimension that is constant in the sample gets step 0: every value of it decodes to that
// constant.
//
// Distances are measured asymmetrically (a float query against codes, as FAISS's SQ and usearch's
// i8 do): `QueryForm` turns a prepared float query into weights w and a constant K so that the
// distance to the decoded vector is K + n(c) + Σ w_i·c_i, one dot product of floats with widened
// bytes (distance/byte.hpp's UInt8 kernel) per stored vector:
//   L2:        w_i = −2·step_i·(q_i − low_i),  K = Σ (q_i − low_i)²,  n(c) = Σ (step_i·c_i)²
//              (n(c) depends on the stored vector only: the codec stores it beside the codes);
//   IP/COSINE: w_i = −step_i·q_i,              K = 1 − Σ q_i·low_i,   n(c) = 0.
// Pure values; a trained quantizer is immutable and may be read from any number of threads.
// Next: distance/sq8_codec.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vindex/core/error.hpp"

namespace vindex {

/// Per-dimension 8-bit scalar quantizer (SQ8); see the header comment.
class ScalarQuantizer {
 public:
  /// Largest code.
  static constexpr int kMaxCode = 255;
  /// Fraction of a training sample's values left out at each end of a dimension's range (with at
  /// least kClipMinimumSample vectors; at least one value then).
  static constexpr double kClipFraction = 0.001;
  /// Smallest sample whose extremes are left out.
  static constexpr std::size_t kClipMinimumSample = 128;

  /// An untrained quantizer.
  ScalarQuantizer() = default;

  /// Whether train() has succeeded.
  bool trained() const noexcept { return !low_.empty(); }
  /// Elements per vector (0 before training).
  std::size_t dim() const noexcept { return low_.size(); }
  /// Lower end of dimension i's range.
  float low(std::size_t i) const noexcept { return low_[i]; }
  /// Value of one code step in dimension i (0 for a constant dimension).
  float step(std::size_t i) const noexcept { return step_[i]; }
  /// The dim() lower ends, one after another.
  const float* lows() const noexcept { return low_.data(); }
  /// The dim() code steps, one after another.
  const float* steps() const noexcept { return step_.data(); }

  /// Trains on `count` vectors of `dim` floats stored one after another in `vectors`. Throws
  /// kInvalidArgument for an empty sample, a size mismatch or a value that is not finite; the
  /// quantizer is then as before (also when allocation fails).
  void train(std::span<const float> vectors, std::size_t count, std::size_t dim) {
    if (count == 0 || dim == 0) throw Error(ErrorCode::kInvalidArgument, "SQ8 training needs at least one vector");
    if (vectors.size() != count * dim)
      throw Error(ErrorCode::kInvalidArgument, "SQ8 training sample of " + std::to_string(vectors.size()) +
                                                   " floats is not " + std::to_string(count) + " vectors of " +
                                                   std::to_string(dim));
    for (const float x : vectors)
      if (!std::isfinite(x)) throw Error(ErrorCode::kInvalidArgument, "SQ8 training sample holds a NaN or Inf");
    const std::size_t clip =
        count < kClipMinimumSample
            ? 0
            : std::max<std::size_t>(1, static_cast<std::size_t>(kClipFraction * static_cast<double>(count)));
    std::vector<float> low(dim), step(dim), column(count);
    for (std::size_t i = 0; i < dim; ++i) {
      for (std::size_t r = 0; r < count; ++r) column[r] = vectors[r * dim + i];
      std::nth_element(column.begin(), column.begin() + static_cast<std::ptrdiff_t>(clip), column.end());
      const float lo = column[clip];
      std::nth_element(column.begin(), column.end() - 1 - static_cast<std::ptrdiff_t>(clip), column.end());
      const float hi = column[count - 1 - clip];
      low[i] = lo;
      // In double: hi − lo may exceed the float range; the step itself always fits.
      step[i] = static_cast<float>((static_cast<double>(hi) - static_cast<double>(lo)) / kMaxCode);
    }
    low_.swap(low);
    step_.swap(step);
  }

  /// A trained quantizer with the given ranges (a saved one). Throws kInvalidArgument unless both
  /// have the same length >= 1, every value is finite, every step >= 0 and every range's top
  /// (low + 255·step) is finite.
  static ScalarQuantizer from_parts(std::vector<float> low, std::vector<float> step) {
    if (low.empty() || low.size() != step.size())
      throw Error(ErrorCode::kInvalidArgument, "SQ8 ranges need as many steps as lows, at least one");
    for (std::size_t i = 0; i < low.size(); ++i)
      if (!std::isfinite(low[i]) || !std::isfinite(step[i]) || !(step[i] >= 0) ||
          !std::isfinite(low[i] + kMaxCode * step[i]))
        throw Error(ErrorCode::kInvalidArgument, "SQ8 range of dimension " + std::to_string(i) +
                                                     " is not finite or has a negative step");
    ScalarQuantizer q;
    q.low_ = std::move(low);
    q.step_ = std::move(step);
    return q;
  }

  /// Writes the codes of the dim() floats at `v` to `out` (nearest code, ties to even; values
  /// outside a dimension's range are clamped) and returns how many were clamped.
  std::size_t encode(const float* v, std::uint8_t* out) const noexcept {
    std::size_t clamped = 0;
    for (std::size_t i = 0; i < low_.size(); ++i) {
      if (step_[i] == 0) {
        out[i] = 0;
        clamped += v[i] != low_[i];
        continue;
      }
      double c = std::nearbyint((static_cast<double>(v[i]) - low_[i]) / step_[i]);
      if (!(c >= 0)) {  // also NaN, which a caller should not pass
        ++clamped;
        c = 0;
      } else if (c > kMaxCode) {
        ++clamped;
        c = kMaxCode;
      }
      out[i] = static_cast<std::uint8_t>(c);
    }
    return clamped;
  }

  /// Writes the values the dim() codes at `c` stand for to `out`.
  void decode(const std::uint8_t* c, float* out) const noexcept {
    for (std::size_t i = 0; i < low_.size(); ++i) out[i] = low_[i] + step_[i] * static_cast<float>(c[i]);
  }

  /// Σ (step_i · c_i)²: the per-vector term n(c) of the L2 distance (see the header comment).
  float squared_offset(const std::uint8_t* c) const noexcept {
    double sum = 0;
    for (std::size_t i = 0; i < low_.size(); ++i) {
      const double x = static_cast<double>(step_[i]) * c[i];
      sum += x * x;
    }
    return static_cast<float>(sum);
  }

  /// Fills `weights` (dim() floats) with w for the prepared query `q` and returns K, for L2 when
  /// `l2`, else for a dot-product metric (IP, COSINE); see the header comment.
  float query_form(const float* q, float* weights, bool l2) const noexcept {
    double constant = l2 ? 0.0 : 1.0;
    for (std::size_t i = 0; i < low_.size(); ++i) {
      if (l2) {
        const double u = static_cast<double>(q[i]) - low_[i];
        weights[i] = static_cast<float>(-2.0 * step_[i] * u);
        constant += u * u;
      } else {
        weights[i] = -step_[i] * q[i];
        constant -= static_cast<double>(q[i]) * low_[i];
      }
    }
    return static_cast<float>(constant);
  }

  /// An upper bound on |x_i − decode(encode(x))_i| summed in quadrature over the dimensions, for
  /// values inside the trained range: ‖step‖ / 2 (a range search widens its walk by it).
  double error_bound() const noexcept {
    double sum = 0;
    for (const float s : step_) sum += static_cast<double>(s) * s;
    return std::sqrt(sum) / 2;
  }

  /// Heap bytes held.
  std::size_t memory_bytes() const noexcept { return (low_.capacity() + step_.capacity()) * sizeof(float); }

 private:
  std::vector<float> low_, step_;
};

}  // namespace vindex
