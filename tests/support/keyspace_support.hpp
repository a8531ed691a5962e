// keyspace_support.hpp — helpers for the source-layer tests: an independent oracle of what a
// KeyspaceIndex should hold for a given MemorySource, and drivers for scans.
#pragma once

#include <doctest/doctest.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "vindex/vindex.hpp"

namespace vindex_test {

using FlatL2 = vindex::FlatIndex<float, vindex::metric::L2>;
using FlatCos = vindex::FlatIndex<float, vindex::metric::Cosine>;

/// What the index should hold for one key.
struct Expected {
  std::vector<float> vector;
  vindex::AttributeRow row;
};

/// The oracle: indexed entries and failing keys a correct index holds for `source`, computed with
/// plain code from the rules in keyspace_index.hpp (NUMERIC checked first, then the vector).
struct ExpectedState {
  std::map<std::string, Expected> indexed;
  std::map<std::string, vindex::IndexingFailure> failing;
  vindex::FailureCounts failures;
};

inline std::optional<std::vector<float>> decode_f32(std::string_view blob, std::uint32_t dim) {
  if (blob.size() != dim * 4) return std::nullopt;
  std::vector<float> v(dim);
  std::memcpy(v.data(), blob.data(), blob.size());
  return v;
}

/// NUMERIC parsing per the documented rule (blanks around, optional '+', decimal/exponent, inf),
/// written with strtod rather than from_chars.
inline std::optional<double> oracle_numeric(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  text = text.substr(i);
  if (!text.empty() && text[0] == '+') {
    text = text.substr(1);
    if (!text.empty() && text[0] == '-') return std::nullopt;
  }
  if (text.empty() || text.find_first_of("xX") != std::string::npos || std::isspace(static_cast<unsigned char>(text[0])))
    return std::nullopt;
  char* end = nullptr;
  const double x = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || std::isnan(x) || (std::isinf(x) && text.find_first_of("iI") == std::string::npos))
    return std::nullopt;
  return x;
}

inline ExpectedState expected_state(const vindex::MemorySource& source,
                                    const vindex::IndexDefinition& def,
                                    const vindex::VectorSchema& schema) {
  using namespace vindex;
  ExpectedState out;
  source.for_each([&](const std::string& key, const FieldMap& fields) {
    bool prefix_ok = def.prefixes.empty();
    for (const auto& p : def.prefixes) prefix_ok |= key.compare(0, p.size(), p) == 0;
    if (!prefix_ok) return;
    auto vf = fields.find(def.vector_field);
    if (vf == fields.end()) return;
    std::optional<IndexingFailure> failure;
    AttributeRow row(def.attributes.size());
    for (std::size_t i = 0; i < def.attributes.size(); ++i) {
      auto f = fields.find(def.attributes[i].name);
      if (f == fields.end()) continue;
      if (def.attributes[i].type == AttributeType::kTag) {
        row[i].present = true;
        row[i].tags = parse_tags(f->second, def.attributes[i]);
      } else {
        const bool ok = oracle_numeric(f->second).has_value();
        const double x = ok ? *oracle_numeric(f->second) : 0;
        if (!ok && !failure) failure = IndexingFailure::kBadNumeric;
        row[i].present = ok;
        row[i].number = ok ? x : 0;
      }
    }
    std::vector<float> v;
    if (!failure) {
      auto decoded = decode_f32(vf->second, schema.dim);
      if (!decoded) {
        failure = IndexingFailure::kWrongSize;
      } else {
        v = *decoded;
        bool all_zero = true;
        long double squared_length = 0;
        for (float x : v) {
          if (!std::isfinite(x)) failure = IndexingFailure::kNonFinite;
          all_zero &= x == 0;
          squared_length += static_cast<long double>(x) * x;
        }
        // Documented bound: squared length above 2^124 could overflow a float distance.
        if (!failure && squared_length > std::ldexp(1.0L, 124)) failure = IndexingFailure::kOutOfRange;
        if (!failure && all_zero && schema.metric == Metric::kCosine)
          failure = IndexingFailure::kZeroVector;
      }
    }
    if (failure) {
      out.failing[key] = *failure;
      ++out.failures[*failure];
    } else {
      out.indexed[key] = {v, row};
    }
  });
  return out;
}

/// Checks that `ks` holds exactly `want`: keys, vectors (within float rounding), attributes and
/// failure counters.
template <class KS>
void check_holds(const KS& ks, const ExpectedState& want) {
  REQUIRE(ks.size() == want.indexed.size());
  for (const auto& entry : want.indexed) {
    const std::string& key = entry.first;
    const Expected& e = entry.second;
    INFO("key " << key);
    const auto got = ks.index().get_vector(key);
    REQUIRE(got.has_value());
    REQUIRE(got->size() == e.vector.size());
    for (std::size_t i = 0; i < e.vector.size(); ++i)
      CHECK(std::abs((*got)[i] - e.vector[i]) <= 1e-5f * std::max(1.0f, std::abs(e.vector[i])));
    if (!ks.definition().attributes.empty()) {
      const auto row = ks.attributes(key);
      REQUIRE(row.has_value());
      CHECK(*row == e.row);
    }
  }
  CHECK(ks.failures() == want.failures);
  for (const auto& failing : want.failing) {
    INFO("key " << failing.first);
    CHECK(ks.failure_of(failing.first) == std::optional<vindex::IndexingFailure>(failing.second));
  }
}

/// Steps until the scan leaves kBackfilling; returns the final state.
template <class KS>
vindex::BackfillState run_scan(KS& ks, std::size_t batch = 17) {
  vindex::BackfillState s;
  while ((s = ks.step(batch)) == vindex::BackfillState::kBackfilling) {
  }
  return s;
}

/// An executor that runs each task on a new std::thread; join() waits for all of them.
struct ThreadExecutor {
  std::vector<std::thread> threads;
  vindex::Executor executor() {
    return [this](std::function<void()> task) { threads.emplace_back(std::move(task)); };
  }
  void join() {
    for (auto& t : threads) t.join();
    threads.clear();
  }
  ~ThreadExecutor() { join(); }
};

inline std::string blob_of(const std::vector<float>& v) { return vindex::to_float32_blob(v); }

}  // namespace vindex_test
