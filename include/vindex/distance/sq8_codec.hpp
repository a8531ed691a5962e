// vindex/distance/sq8_codec.hpp — the SQ8 codec: an HNSW graph walked on 8-bit codes, with the
// float vectors kept beside them for exact re-ranking and for choosing links.
//
// `Sq8Codec<MetricT>` has the interface of distance/vector_codec.hpp's codecs, plus a trained state
// (quantize/scalar_quantizer.hpp), so the graph holds it as a member rather than calling it
// statically. A vector is stored in two places the graph keeps apart: its code slot
//     [dim codes, padded to 4 bytes][L2 only: n(c) as a float]
// in the node record beside the layer-0 list (`bytes`, the part the walk reads), and its dim
// prepared floats in a separate array (`float_bytes`), so the records the walk reads stay small
// (glove-100: 228 bytes a node instead of 628). Each function says which of the two it is given:
//   * the walk (distance*, with a query in this codec's `Query` form): the code slot, once trained;
//     before training, the floats (exact), so an index that has not yet held enough vectors to
//     train on is simply a float index;
//   * stored-to-stored distances (the neighbour heuristic, repairs) and `exact`: the floats, so the
//     lists are chosen on exact distances and the caller is given exact distances;
//   * decode, equals, snapshots' given vectors: the floats.
// Once released (re-ranking from the host) there are no floats: those read the code slot.
// A `Query` is Sq8Codes' query form: the query's weights against the codes are rounded to 8-bit
// integers, so a code distance is one exact integer sum (distance/code_dot.hpp) and a scale.
//
// When it trains is the index's rule (index/hnsw_index.hpp); this codec only says whether a
// training is due (`training_due`) and counts the vectors it encoded since the last one and the
// elements it had to clamp (drift). Thread-safety: the const functions may run concurrently with each
// other; train, encode and encode_codes are the writer's (the index calls them under its exclusive
// lock). Next: storage/growth.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "vindex/core/element.hpp"
#include "vindex/core/types.hpp"
#include "vindex/distance/code_dot.hpp"
#include "vindex/distance/metric.hpp"
#include "vindex/distance/vector_codec.hpp"
#include "vindex/quantize/scalar_quantizer.hpp"

namespace vindex {

/// Compression tag: vectors stored as given (HnswIndex's default).
struct Uncompressed {};

/// Compression tag: SQ8 codes walked, exact floats kept for re-ranking (detail::Sq8Codec).
struct Sq8 {
  /// Live vectors an index needs before it first trains its quantizer.
  static constexpr std::size_t kTrainAt = 1024;
  /// At most this many floats (vectors × dim) are sampled for one training.
  static constexpr std::size_t kSampleFloats = std::size_t{1} << 22;
  /// The index trains again each time its live vectors reach this multiple of the last sample,
  /// until the sample reaches its cap; after that only compact() and retrain_quantizer() do.
  static constexpr std::size_t kRetrainGrowth = 4;
  /// Re-ranking factor when a query does not give one: the kDefaultRerank·k closest candidates by
  /// code distance are measured exactly.
  static constexpr std::size_t kDefaultRerank = 2;
  /// Largest re-ranking factor a query may ask for.
  static constexpr std::size_t kMaxRerank = 256;
  /// Vectors one training samples from `live` (at most kSampleFloats / dim, at least kTrainAt).
  static std::size_t sample_size(std::size_t live, std::size_t dim) noexcept {
    return std::min(live, std::max(kTrainAt, kSampleFloats / std::max<std::size_t>(dim, 1)));
  }
};

/// What an SQ8 index's quantizer was trained on and how well the data still fits it.
struct QuantizerStats {
  bool trained = false;            ///< whether the codes are in use
  std::size_t trained_on = 0;      ///< vectors in the last training sample
  std::size_t encoded_since = 0;   ///< vectors encoded since then (retraining re-encodes all)
  std::size_t clamped_since = 0;   ///< of their elements, how many fell outside the trained range
};

/// A quantizer as saved and restored with an index: untrained when there was none.
struct SavedQuantizer {
  ScalarQuantizer quantizer;   ///< the ranges
  std::size_t trained_on = 0;  ///< vectors in its training sample (steers the next retraining)
};

namespace detail {

/// Whether a codec's distances are approximate (it then also has `exact` and re-ranks).
template <class Codec>
inline constexpr bool is_approximate_codec_v = requires { requires Codec::kApproximate; };

/// One vector's SQ8 codes, stored apart from its floats, and the quantizer they are read with: the
/// part of Sq8Codec the walk reads, and the whole of FlatIndex<float, M, Sq8>'s code store. A code
/// slot is [dim codes, padded to 4 bytes][L2 only: n(c) as a float].
///
/// A query form is one float buffer [K][s][δ][the prepared query: dim][w: dim][w8: dim bytes]. The
/// distance to the vector the codes c decode to is K + n(c) + Σ w·c (ScalarQuantizer::query_form);
/// the weights are then rounded to integers, w ≈ s·w8 with |w8| ≤ 127, so that the code distance is
/// K + n(c) + s·Σ w8·c with an exact integer sum (distance/code_dot.hpp), and it differs from the
/// distance to the decoded vector by at most δ = 255·Σ|w − s·w8|.
template <class MetricT>
class Sq8Codes {
 public:
  /// Bytes of the codes of a slot (padded to 4).
  static constexpr std::size_t code_bytes(std::size_t dim) noexcept { return (dim + 3) / 4 * 4; }
  /// Bytes of one code slot.
  static constexpr std::size_t bytes(std::size_t dim) noexcept { return code_bytes(dim) + (kL2 ? sizeof(float) : 0); }
  /// Floats of a query form.
  static constexpr std::size_t form_floats(std::size_t dim) noexcept { return kHead + 2 * dim + (dim + 3) / 4; }
  /// The prepared query inside the query form `q`.
  static const float* prepared(const float* q, std::size_t /*dim*/) noexcept { return q + kHead; }
  /// δ of the query form `q`: how far a code distance may be from the distance to the decoded vector.
  static float rounding_bound(const float* q) noexcept { return q[2]; }

  /// Whether the codes are in use.
  bool trained() const noexcept { return trained_; }
  /// The quantizer (untrained before the first training).
  const ScalarQuantizer& quantizer() const noexcept { return quantizer_; }
  /// What the quantizer was trained on and the drift since.
  QuantizerStats stats() const noexcept { return {trained_, trained_on_, encoded_since_, clamped_since_}; }
  /// Whether an index holding `live` vectors should train now (see Sq8's constants).
  bool training_due(std::size_t live, std::size_t dim) const noexcept {
    if (!trained_) return live >= Sq8::kTrainAt;
    return trained_on_ < Sq8::sample_size(live, dim) && live >= Sq8::kRetrainGrowth * trained_on_;
  }
  /// Whether growth will never train it again (its last sample reached Sq8::sample_size's cap): only
  /// compact() and retrain_quantizer() would.
  bool training_final(std::size_t dim) const noexcept {
    return trained_ && trained_on_ >= Sq8::sample_size(static_cast<std::size_t>(-1), dim);
  }
  /// Trains on `count` prepared vectors (see ScalarQuantizer::train; on a throw nothing changed).
  /// The caller then re-encodes every stored vector.
  void train(std::span<const float> sample, std::size_t count, std::size_t dim) {
    quantizer_.train(sample, count, dim);
    trained_ = true;
    trained_on_ = count;
    encoded_since_ = clamped_since_ = 0;
  }
  /// Takes a saved quantizer (trained); the caller then re-encodes every stored vector.
  void restore(const SavedQuantizer& saved) {
    quantizer_ = saved.quantizer;
    trained_ = true;
    trained_on_ = saved.trained_on;
    encoded_since_ = clamped_since_ = 0;
  }
  /// Back to untrained (an emptied index).
  void reset() noexcept {
    quantizer_ = ScalarQuantizer();
    trained_ = false;
    trained_on_ = encoded_since_ = clamped_since_ = 0;
  }

  /// Writes the prepared query `q` in query form to `out` (form_floats(dim) floats; all but the
  /// query are zeros before training).
  void form(const float* q, float* out, std::size_t dim) const noexcept {
    std::fill_n(out, form_floats(dim), 0.0f);
    std::copy_n(q, dim, out + kHead);
    if (!trained_) return;
    float* w = out + kHead + dim;
    out[0] = quantizer_.query_form(q, w, kL2);
    float largest = 0;
    for (std::size_t i = 0; i < dim; ++i) largest = std::max(largest, std::abs(w[i]));
    if (!(largest > 0)) return;  // no weight: the sum is 0 and exact
    const float s = largest / kMaxWeight;
    auto* w8 = reinterpret_cast<std::int8_t*>(w + dim);
    double error = 0;
    for (std::size_t i = 0; i < dim; ++i) {
      const float r = std::clamp(std::nearbyint(w[i] / s), -kMaxWeight, kMaxWeight);
      w8[i] = static_cast<std::int8_t>(r);
      error += std::abs(static_cast<double>(w[i]) - static_cast<double>(s) * r);
    }
    out[1] = s;
    out[2] = static_cast<float>(255.0 * error);
  }
  /// Writes the codes of the prepared vector `v` to the slot at `out` (zeros before training).
  void encode(const float* v, std::byte* out, std::size_t dim) noexcept {
    auto* c = reinterpret_cast<std::uint8_t*>(out);
    std::memset(c, 0, code_bytes(dim));
    float offset = 0;
    if (trained_) {
      clamped_since_ += quantizer_.encode(v, c);
      ++encoded_since_;
      if constexpr (kL2) offset = quantizer_.squared_offset(c);
    }
    if constexpr (kL2) std::memcpy(out + code_bytes(dim), &offset, sizeof offset);
  }
  /// encode(v, out, dim) of a trained quantizer, counting nothing (a vector compared, not stored).
  void encode_quietly(const float* v, std::byte* out, std::size_t dim) const noexcept {
    auto* c = reinterpret_cast<std::uint8_t*>(out);
    std::memset(c, 0, code_bytes(dim));
    quantizer_.encode(v, c);
    if constexpr (kL2) {
      const float offset = quantizer_.squared_offset(c);
      std::memcpy(out + code_bytes(dim), &offset, sizeof offset);
    }
  }
  /// The distance between the vectors the slots at `a` and `b` decode to (trained only): what an
  /// index that keeps no floats chooses its links by. Sums in kLanes independent lanes, so that the
  /// compiler vectorises the loop without reordering a single sum (one running sum made inserts
  /// after the release 1.9× slower: fashion-mnist's 15,001st to 20,000th insert, 3.09 s against 1.62).
  Distance between(const std::byte* a, const std::byte* b, std::size_t dim) const noexcept {
    const std::uint8_t* ca = codes(a);
    const std::uint8_t* cb = codes(b);
    const float* step = quantizer_.steps();
    const float* low = quantizer_.lows();
    constexpr std::size_t kLanes = 16;
    float lane[kLanes] = {};
    auto term = [&](std::size_t i) {
      if constexpr (kL2) {
        const float d = step[i] * (static_cast<float>(ca[i]) - static_cast<float>(cb[i]));
        return d * d;
      } else {
        return (low[i] + step[i] * static_cast<float>(ca[i])) * (low[i] + step[i] * static_cast<float>(cb[i]));
      }
    };
    std::size_t i = 0;
    for (; i + kLanes <= dim; i += kLanes)
      for (std::size_t j = 0; j < kLanes; ++j) lane[j] += term(i + j);
    for (std::size_t j = 0; i < dim; ++i, ++j) lane[j] += term(i);
    float sum = 0;
    for (const float x : lane) sum += x;
    if constexpr (kL2) return sum;
    else return 1.0f - sum;
  }
  /// Whether the prepared vector `v` encodes to the codes of the slot at `c` (trained only; counts
  /// nothing). Throws std::bad_alloc.
  bool encodes_to(const float* v, const std::byte* c, std::size_t dim) const {
    std::vector<std::uint8_t> mine(dim);
    quantizer_.encode(v, mine.data());
    return std::memcmp(mine.data(), c, dim) == 0;
  }
  /// Writes the vector the slot at `c` decodes to (dim floats; trained only) to `out`.
  void decode(const std::byte* c, float* out, std::size_t /*dim*/) const noexcept { quantizer_.decode(codes(c), out); }
  /// Code distance from the query form `q` to the slot at `c` (trained only).
  static Distance distance(const float* q, const std::byte* c, std::size_t dim) noexcept {
    return from_dot(q, c, dim, code_dot(codes(c), weights(q, dim), dim));
  }
  /// distance(q, c, dim), also starting to load the slot at `next`.
  static Distance distance_fetching(const float* q, const std::byte* c, std::size_t dim, const std::byte* next) noexcept {
    return from_dot(q, c, dim, code_dot_fetching(codes(c), weights(q, dim), dim, codes(next)));
  }
  /// The radius a scan on codes must reach so that every vector within exact distance `r` of the
  /// query form `q` is within it by code distance, for values inside the trained range (see
  /// ScalarQuantizer::error_bound, e): L2 (√r + e)² + δ, IP r + ‖q‖·e + δ, COSINE r + e + δ.
  Distance approximate_radius(const float* q, Distance r, std::size_t dim) const noexcept {
    if (!trained_) return r;
    const double e = quantizer_.error_bound();
    const double delta = rounding_bound(q);
    if constexpr (kL2) {
      const double s = std::sqrt(std::max<double>(r, 0)) + e;
      return static_cast<Distance>(s * s + delta);
    } else {
      const float* p = prepared(q, dim);
      double norm = 0;
      for (std::size_t i = 0; i < dim; ++i) norm += static_cast<double>(p[i]) * p[i];
      return static_cast<Distance>(r + std::sqrt(norm) * e + delta);
    }
  }
  /// Heap bytes held by the quantizer.
  std::size_t memory_bytes() const noexcept { return quantizer_.memory_bytes(); }

 private:
  static constexpr bool kL2 = MetricT::kind == vindex::Metric::kL2;
  static constexpr std::size_t kHead = 3;   // K, s, δ
  static constexpr float kMaxWeight = 127;  // |w8|

  static const std::uint8_t* codes(const std::byte* c) noexcept { return reinterpret_cast<const std::uint8_t*>(c); }
  static const std::int8_t* weights(const float* q, std::size_t dim) noexcept {
    return reinterpret_cast<const std::int8_t*>(q + kHead + 2 * dim);
  }
  static Distance from_dot(const float* q, const std::byte* c, std::size_t dim, std::int32_t dot) noexcept {
    const float sum = q[0] + q[1] * static_cast<float>(dot);
    if constexpr (kL2) {
      float offset;
      std::memcpy(&offset, c + code_bytes(dim), sizeof offset);
      return sum + offset;
    } else {
      return sum;
    }
  }

  ScalarQuantizer quantizer_;
  bool trained_ = false;
  std::size_t trained_on_ = 0, encoded_since_ = 0, clamped_since_ = 0;
};

/// A training sample of an index's live vectors at evenly spread ids: Sq8::sample_size of them, each
/// written by `decode(id, out)` (dim floats); `keys` is the index's KeyMap. Throws std::bad_alloc.
template <class Keys, class Decode>
std::vector<float> training_sample(const Keys& keys, std::size_t dim, Decode&& decode) {
  const std::size_t live = keys.size();
  const std::size_t count = Sq8::sample_size(live, dim);
  std::vector<float> sample(count * dim);
  std::size_t taken = 0, seen = 0;
  for (std::size_t i = 0; i < keys.id_bound() && taken < count; ++i) {
    const auto id = static_cast<Id>(i);
    if (!keys.is_live(id)) continue;
    const std::size_t j = seen++;  // the j-th live vector is taken when j·count/live steps up
    if ((j * count) / live != ((j + 1) * count) / live) decode(id, sample.data() + dim * taken++);
  }
  sample.resize(taken * dim);
  return sample;
}

/// SQ8 codes walked, prepared floats kept apart; see the header comment. Once `release()`d (an index
/// that re-ranks from the host, its training final) there are no floats, and everything that read
/// them reads the code slot: stored-to-stored distances are those between the decoded
/// vectors, `exact` is the code distance (the index re-ranks on the host's vectors), decode gives
/// the decoded vector.
template <class MetricT>
class Sq8Codec {
  using Codes = Sq8Codes<MetricT>;

 public:
  using Element = float;
  using Metric = MetricT;
  /// Distances from distance* are approximate once trained; `exact` is not (until released).
  static constexpr bool kApproximate = true;

  /// A query in this codec's form (Sq8Codes' query form).
  class Query {
   public:
    /// The form's floats.
    const float* data() const noexcept { return v_.data(); }
    /// How far a code distance may be from the distance to the decoded vector (Sq8Codes' δ).
    float rounding_bound() const noexcept { return Codes::rounding_bound(v_.data()); }

   private:
    friend class Sq8Codec;
    std::vector<float> v_;
  };
  /// A prepared vector as stored-to-stored distances read it: its floats, or once released, its code
  /// slot.
  class Encoded {
   public:
    /// The stored form's bytes.
    const std::byte* data() const noexcept { return codes_.empty() ? p_ : codes_.data(); }

   private:
    friend class Sq8Codec;
    const std::byte* p_ = nullptr;
    std::vector<std::byte> codes_;
  };

  /// Bytes of one vector's floats (kept apart from the node record).
  static constexpr std::size_t float_bytes(std::size_t dim) noexcept { return dim * sizeof(float); }
  /// Bytes of one vector's code slot (in the node record).
  static constexpr std::size_t bytes(std::size_t dim) noexcept { return Codes::bytes(dim); }

  /// Whether the codes are in use.
  bool trained() const noexcept { return codes_.trained(); }
  /// Whether records hold codes only (see release()).
  bool released() const noexcept { return released_; }
  /// From now on there are no floats: the owner frees them right after. Trained only.
  void release() noexcept { released_ = true; }
  /// The quantizer (untrained before the first training).
  const ScalarQuantizer& quantizer() const noexcept { return codes_.quantizer(); }
  /// What the quantizer was trained on and the drift since.
  QuantizerStats stats() const noexcept { return codes_.stats(); }
  /// Whether an index holding `live` vectors should train now (see Sq8's constants).
  bool training_due(std::size_t live, std::size_t dim) const noexcept { return codes_.training_due(live, dim); }
  /// Whether growth will never train it again (Sq8Codes::training_final).
  bool training_final(std::size_t dim) const noexcept { return codes_.training_final(dim); }
  /// Trains on `count` prepared vectors (see ScalarQuantizer::train; on a throw nothing changed).
  /// The caller then re-encodes every stored record (encode_codes).
  void train(std::span<const float> sample, std::size_t count, std::size_t dim) { codes_.train(sample, count, dim); }
  /// Takes a saved quantizer (trained); the caller then re-encodes every stored record.
  void restore(const SavedQuantizer& saved) { codes_.restore(saved); }
  /// Takes the quantizer of `other` (a retraining done aside), keeping this one's release.
  void take_quantizer(const Codes& other) { codes_ = other; }
  /// Back to untrained, floats kept (an emptied index).
  void reset() noexcept {
    codes_.reset();
    released_ = false;
  }

  /// The prepared query `q` in this codec's form.
  Query form(const float* q, std::size_t dim) const {
    Query f;
    f.v_.resize(Codes::form_floats(dim));
    codes_.form(q, f.v_.data(), dim);
    return f;
  }
  /// The vector whose floats are at `v` as a query (once released, `v` is a code slot: the vector
  /// its codes decode to).
  Query query(const std::byte* v, std::size_t dim) const {
    if (!released_) return form(floats(v), dim);
    std::vector<float> decoded(dim);
    codes_.decode(v, decoded.data(), dim);
    return form(decoded.data(), dim);
  }

  /// Every prepared vector can be stored.
  static bool fits(const float* /*v*/, float /*magnitude*/, std::size_t /*dim*/) noexcept { return true; }
  /// Writes the codes of the prepared vector `v` into the code slot at `out` (zeros before
  /// training); the owner keeps the floats themselves.
  void encode(const float* v, float /*magnitude*/, std::byte* out, std::size_t dim) noexcept {
    codes_.encode(v, out, dim);
  }
  /// Reads the vector at `v` (its floats; once released, its code slot) in prepared form: the
  /// floats, or the vector the codes decode to.
  void decode(const std::byte* v, float* out, std::size_t dim) const noexcept {
    if (released_) return codes_.decode(v, out, dim);
    std::copy_n(floats(v), dim, out);
  }
  /// Reads the vector at `v` (as decode) as it was given (COSINE: times `magnitude`).
  void decode_given(const std::byte* v, float magnitude, float* out, std::size_t dim) const noexcept {
    decode(v, out, dim);
    if constexpr (MetricT::kNormalizes)
      for (std::size_t i = 0; i < dim; ++i) out[i] *= magnitude;
  }
  /// The prepared vector `v` as stored-to-stored distances read it (once released, its codes: this
  /// allocates, and throws std::bad_alloc).
  Encoded encoded(const float* v, float /*magnitude*/, std::size_t dim) const {
    Encoded e;
    e.p_ = reinterpret_cast<const std::byte*>(v);
    if (released_) {
      e.codes_.resize(Codes::bytes(dim));
      codes_.encode_quietly(v, e.codes_.data(), dim);
    }
    return e;
  }
  /// Whether the floats at `v` are exactly the prepared vector `q` (once released, `v` is a code
  /// slot: whether `q` encodes to it, the host holding the vector itself). Throws std::bad_alloc once
  /// released.
  bool equals(const float* q, float /*magnitude*/, const std::byte* v, std::size_t dim) const {
    if (released_) return codes_.encodes_to(q, v, dim);
    return std::equal(q, q + dim, floats(v));
  }

  /// Distance from the query form `q` to the vector at `v`: once trained `v` is its code slot, and
  /// before, its floats.
  Distance distance(const float* q, const std::byte* v, std::size_t dim) const noexcept {
    if (!trained()) return MetricT::distance(prepared(q, dim), floats(v), dim);
    return codes_.distance(q, v, dim);
  }
  /// distance(q, v, dim), also starting to load the vector at `next` (the same kind as `v`).
  Distance distance_fetching(const float* q, const std::byte* v, std::size_t dim,
                             const std::byte* next) const noexcept {
    if (!trained()) return MetricT::distance_fetching(prepared(q, dim), floats(v), dim, floats(next));
    return codes_.distance_fetching(q, v, dim, next);
  }
  /// distance_fetching; `bound` lets the float kernel stop early before training (see
  /// VectorCodec<float>::distance_within_fetching) and is not used on codes.
  Distance distance_within_fetching(const float* q, const std::byte* v, std::size_t dim, Distance bound,
                                    const std::byte* next) const noexcept {
    if (!trained()) return MetricT::distance_within_fetching(prepared(q, dim), floats(v), dim, bound, floats(next));
    return codes_.distance_fetching(q, v, dim, next);
  }
  /// distance_within_fetching without the fetching.
  Distance distance_within(const float* q, const std::byte* v, std::size_t dim, Distance bound) const noexcept {
    if (!trained()) return MetricT::distance_within(prepared(q, dim), floats(v), dim, bound);
    return distance(q, v, dim);
  }
  /// The exact distance from the query form `q` to the vector whose floats are at `v`; once released
  /// (`v` a code slot), the code distance (the index re-ranks on the host's vectors).
  Distance exact(const float* q, const std::byte* v, std::size_t dim) const noexcept {
    if (released_) return codes_.distance(q, v, dim);
    return MetricT::distance(prepared(q, dim), floats(v), dim);
  }
  /// exact(q, v, dim), also starting to load the vector at `next` into cache.
  Distance exact_fetching(const float* q, const std::byte* v, std::size_t dim, const std::byte* next) const noexcept {
    if (released_) return codes_.distance_fetching(q, v, dim, next);
    return MetricT::distance_fetching(prepared(q, dim), floats(v), dim, floats(next));
  }
  /// See Sq8Codes::approximate_radius (the radius itself before training).
  Distance approximate_radius(const float* q, Distance r, std::size_t dim) const noexcept {
    return codes_.approximate_radius(q, r, dim);
  }
  /// Exact distance between two vectors given by their floats; once released (given by their code
  /// slots), between what their codes decode to.
  Distance between(const std::byte* a, const std::byte* b, std::size_t dim) const noexcept {
    if (released_) return codes_.between(a, b, dim);
    return MetricT::distance(floats(a), floats(b), dim);
  }
  /// between(a, b, dim) when below `bound`; otherwise some value >= bound.
  Distance between_within(const std::byte* a, const std::byte* b, std::size_t dim, Distance bound) const noexcept {
    if (released_) return codes_.between(a, b, dim);
    return MetricT::distance_within(floats(a), floats(b), dim, bound);
  }

  /// Heap bytes held by the quantizer.
  std::size_t memory_bytes() const noexcept { return codes_.memory_bytes(); }

 private:
  static const float* prepared(const float* q, std::size_t dim) noexcept { return Codes::prepared(q, dim); }
  static const float* floats(const std::byte* v) noexcept { return reinterpret_cast<const float*>(v); }

  Codes codes_;
  bool released_ = false;
};

/// The codec HnswIndex<T, MetricT, Compression> stores vectors with.
template <class T, class MetricT, class Compression>
struct CodecFor {
  using type = VectorCodec<T, MetricT>;
};
/// SQ8 over float vectors.
template <class MetricT>
struct CodecFor<float, MetricT, Sq8> {
  using type = Sq8Codec<MetricT>;
};

}  // namespace detail
}  // namespace vindex
