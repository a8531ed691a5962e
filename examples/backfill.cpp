// backfill — indexing what a host already stores, and keeping up with its writes.
//
// The "host" is vindex's reference in-memory hash store (MemorySource). It holds siftsmall's 10,000
// vectors (or generated ones when the dataset is absent) as FLOAT32 blobs in the field "vec", plus a
// TAG "genre" and a NUMERIC "year". A KeyspaceIndex over the prefix "doc:" backfills it in bounded
// steps, the way a database drives it from its event loop, drawing a progress bar; meanwhile the
// host keeps writing (updates, deletes, a bad blob), and each write goes through the hooks. Then a
// hybrid query: the 5 nearest jazz or blues documents from the 1990s.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "vindex/vindex.hpp"
#include "vindex_datasets.hpp"

namespace {

std::vector<std::vector<float>> load_vectors() {
  if (auto dir = vindex_support::siftsmall_dir()) {
    const auto m = vindex_support::read_vecs<float>(*dir / "siftsmall_base.fvecs");
    std::vector<std::vector<float>> out;
    for (std::size_t i = 0; i < m.rows; ++i) out.emplace_back(m.row(i), m.row(i) + m.dim);
    std::printf("vectors: siftsmall (%zu × %zu)\n", m.rows, m.dim);
    return out;
  }
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(0, 128);
  std::vector<std::vector<float>> out(10000, std::vector<float>(128));
  for (auto& v : out)
    for (float& x : v) x = u(rng);
  std::printf("vectors: generated (10000 × 128; siftsmall not found)\n");
  return out;
}

void draw(const vindex::BackfillProgress& p) {
  const int width = 40;
  const int filled = static_cast<int>(p.percent / 100.0 * width);
  std::printf("\r[%s%s] %5.1f%%  %-11s scanned %6llu  indexed %6llu  failures %llu",
              std::string(static_cast<std::size_t>(filled), '#').c_str(),
              std::string(static_cast<std::size_t>(width - filled), '.').c_str(), p.percent,
              std::string(to_string(p.state)).c_str(),
              static_cast<unsigned long long>(p.counts.keys_scanned),
              static_cast<unsigned long long>(p.entries_indexed),
              static_cast<unsigned long long>(p.failures.total()));
  std::fflush(stdout);
}

}  // namespace

int main() {
  using namespace vindex;
  const char* genres[] = {"jazz", "rock", "blues", "pop", "folk"};
  const auto vectors = load_vectors();
  const auto dim = static_cast<std::uint32_t>(vectors.front().size());

  // 1. The host's data, there before any index exists.
  MemorySource host;
  for (std::size_t i = 0; i < vectors.size(); ++i)
    host.set("doc:" + std::to_string(i), {{"vec", to_float32_blob(vectors[i])},
                                          {"genre", genres[i % 5]},
                                          {"year", std::to_string(1960 + (i * 7) % 60)}});
  host.set("session:1", {{"user", "alice"}});  // not covered by the prefix

  // 2. FT.CREATE idx PREFIX 1 doc: SCHEMA vec VECTOR FLAT … genre TAG year NUMERIC
  IndexDefinition definition{{"doc:"},
                             "vec",
                             {{"genre", AttributeType::kTag}, {"year", AttributeType::kNumeric}}};
  using Flat = FlatIndex<float, metric::L2>;
  KeyspaceIndex<Flat> index(definition, host,
                            std::make_unique<Flat>(VectorSchema{dim, ElementType::kFloat32, Metric::kL2}));

  // 3. Backfill in bounded steps from the "event loop"; the host writes between steps.
  index.start_backfill();
  std::mt19937 rng(7);
  const auto start = std::chrono::steady_clock::now();
  int tick = 0;
  while (index.step_for(std::chrono::microseconds(500), 64) == BackfillState::kBackfilling) {
    if (++tick % 4 == 0) {
      const std::string key = "doc:" + std::to_string(rng() % vectors.size());
      if (tick % 12 == 0) {
        host.del(key);  // DEL doc:N
        index.on_delete(key);
      } else {
        host.hset(key, "genre", "jazz");  // HSET doc:N genre jazz
        index.on_write(key);
      }
    }
    if (tick == 10) {
      host.hset("doc:broken", "vec", "not a vector");  // counted as a failure, not indexed
      index.on_write("doc:broken");
    }
    draw(index.progress());
  }
  draw(index.progress());
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  const auto p = index.progress();
  std::printf("\nbackfill done in %.1f ms: %llu entries, %llu skipped (already applied by hooks), failures: "
              "%llu wrong size\n\n",
              ms, static_cast<unsigned long long>(p.entries_indexed),
              static_cast<unsigned long long>(p.counts.skipped),
              static_cast<unsigned long long>(p.failures[IndexingFailure::kWrongSize]));

  // 4. Hybrid query: nearest jazz or blues documents from the 1990s.
  const char* filter = "@genre:{jazz | blues} @year:[1990 (2000]";
  const auto& q = vectors[42];
  std::printf("FT.SEARCH idx \"(%s)=>[KNN 5 @vec $q]\"  (%zu entries match the filter)\n", filter,
              index.count(parse_filter(filter)));
  for (const auto& hit : index.search(q, 5, filter)) {
    const auto row = *index.attributes(hit.key);
    std::printf("  %-10s genre=%-6s year=%.0f  distance %.0f\n", hit.key.c_str(), row[0].tags.front().c_str(),
                row[1].number, hit.distance);
  }
  return 0;
}
