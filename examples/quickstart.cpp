// quickstart — vindex over a host's hash store, the way a Redis-style database keeps vectors.
//
// The "host" here is an in-memory hash store: key → {field → bytes}. Each document holds its vector
// as FLOAT32 bytes in the field "vec" (what `HSET doc:1 vec <blob>` stores) and a "genre" tag. We
// build a FlatIndex over those blobs, then run a KNN query and a filtered KNN query.
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "vindex/vindex.hpp"

namespace {

using Fields = std::map<std::string, std::string>;
using HashStore = std::map<std::string, Fields>;

}  // namespace

int main() {
  constexpr std::uint32_t kDim = 8;
  const char* genres[] = {"jazz", "rock", "folk"};

  // 1. The host's data: 1,000 documents, each with a FLOAT32 blob and a tag.
  HashStore store;
  std::mt19937 rng(7);
  std::normal_distribution<float> gauss;
  for (int i = 0; i < 1000; ++i) {
    std::vector<float> v(kDim);
    for (float& x : v) x = gauss(rng);
    store["doc:" + std::to_string(i)] = {{"vec", vindex::to_float32_blob(v)},
                                         {"genre", genres[i % 3]}};
  }
  store["doc:bad"] = {{"vec", "too short"}, {"genre", "jazz"}};  // a blob of the wrong size

  // 2. An index with the schema DIM 8, TYPE FLOAT32, DISTANCE_METRIC COSINE.
  vindex::VectorSchema schema{kDim, vindex::ElementType::kFloat32, vindex::Metric::kCosine};
  vindex::FlatIndex<float, vindex::metric::Cosine> index(schema);
  std::size_t failures = 0;
  for (const auto& [key, fields] : store) {
    const auto result = index.try_upsert_blob(key, fields.at("vec"));
    if (result.outcome == vindex::UpsertOutcome::kRejected) {
      ++failures;
      std::printf("not indexed: %s (%s)\n", key.c_str(),
                  std::string(vindex::to_string(result.failure)).c_str());
    }
  }
  std::printf("indexed %zu documents, %zu indexing failure(s), %zu bytes, SIMD: %s\n\n",
              index.size(), failures, index.memory_bytes(),
              std::string(vindex::simd_arch_name()).c_str());

  // 3. KNN: the 5 documents closest to doc:42's vector.
  std::vector<float> query(kDim);
  std::memcpy(query.data(), store["doc:42"]["vec"].data(), kDim * sizeof(float));
  auto print = [&](const char* title, const std::vector<vindex::SearchResult>& hits) {
    std::printf("%s\n  %-10s %-8s %s\n", title, "key", "genre", "distance");
    for (const auto& h : hits)
      std::printf("  %-10s %-8s %.6f\n", h.key.c_str(), store[h.key]["genre"].c_str(), h.distance);
    std::printf("\n");
  };
  print("KNN k=5 near doc:42", index.search(query, 5));

  // 4. Filtered KNN: only "folk" documents (a predicate over the host's own fields).
  auto folk = vindex::Filter::by_predicate(
      [&](vindex::KeyView key, vindex::Id) { return store.at(std::string(key)).at("genre") == "folk"; });
  print("KNN k=5 near doc:42 where genre = folk", index.search(query, 5, {.filter = &folk}));
  return 0;
}
