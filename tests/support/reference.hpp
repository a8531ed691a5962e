// reference.hpp — test oracles: brute-force search in double precision over a std::map model.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "vindex/vindex.hpp"

namespace vindex_test {

using Model = std::map<std::string, std::vector<float>>;

struct RefHit {
  std::string key;
  double distance;
};

/// Exact distance of the metric on raw (unnormalised) vectors, in double.
template <class MetricT>
double ref_distance(const std::vector<float>& q, const std::vector<float>& v) {
  return MetricT::reference(q.data(), v.data(), q.size());
}

/// Brute-force k nearest over the model, ties by key; `keep` filters.
template <class MetricT>
std::vector<RefHit> brute_force(const Model& model, const std::vector<float>& q, std::size_t k,
                                const std::function<bool(const std::string&)>& keep = {}) {
  std::vector<RefHit> all;
  for (const auto& [key, v] : model)
    if (!keep || keep(key)) all.push_back({key, ref_distance<MetricT>(q, v)});
  std::sort(all.begin(), all.end(), [](const RefHit& a, const RefHit& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.key < b.key;
  });
  if (all.size() > k) all.resize(k);
  return all;
}

/// Checks results against the reference: same length, distances agree rank by rank, and every
/// returned key is in the model with its true distance. Float rounding may swap near-ties, nothing
/// else.
template <class MetricT>
void check_same(const std::vector<vindex::SearchResult>& got, const std::vector<RefHit>& want,
                const Model& model, const std::vector<float>& q, double tol = 1e-4) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double scale = std::max(1.0, std::abs(want[i].distance));
    CHECK(std::abs(got[i].distance - want[i].distance) <= tol * scale);
    auto it = model.find(got[i].key);
    REQUIRE(it != model.end());
    CHECK(std::abs(got[i].distance - ref_distance<MetricT>(q, it->second)) <= tol * scale);
    if (i > 0) CHECK(got[i - 1].distance <= got[i].distance);
  }
}

inline std::vector<float> random_vector(std::mt19937& rng, std::size_t dim) {
  std::normal_distribution<float> g;
  std::vector<float> v(dim);
  for (float& x : v) x = g(rng);
  return v;
}

}  // namespace vindex_test
