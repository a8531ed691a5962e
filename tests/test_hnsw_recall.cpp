// HnswIndex recall on real data (siftsmall, 10k × 128, L2): against the official ground truth, under
// churn, with filters of every selectivity, and when built by several threads.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "vindex/vindex.hpp"
#include "vindex_datasets.hpp"

using namespace vindex;

namespace {

using Index = HnswIndex<float, metric::L2>;
constexpr std::size_t kDim = 128;
constexpr std::size_t kEf = 64;

struct Sift {
  vindex_support::Matrix<float> base, queries;
  vindex_support::Matrix<std::int32_t> truth;
};

const Sift* sift() {
  static const std::unique_ptr<Sift> data = []() -> std::unique_ptr<Sift> {
    const auto dir = vindex_support::siftsmall_dir();
    if (!dir) return nullptr;
    auto s = std::make_unique<Sift>();
    s->base = vindex_support::read_vecs<float>(*dir / "siftsmall_base.fvecs");
    s->queries = vindex_support::read_vecs<float>(*dir / "siftsmall_query.fvecs");
    s->truth = vindex_support::read_vecs<std::int32_t>(*dir / "siftsmall_groundtruth.ivecs");
    return s;
  }();
  if (!data) MESSAGE("siftsmall not found (set VINDEX_DATASETS or place ../shared/datasets): skipped");
  return data.get();
}

std::span<const float> row(const vindex_support::Matrix<float>& m, std::size_t i) { return {m.row(i), m.dim}; }

// Fraction of the true top-10 keys found in the returned top-10.
double recall_at_10(const std::vector<SearchResult>& got, const std::vector<std::string>& truth) {
  std::size_t hit = 0;
  for (std::size_t i = 0; i < std::min<std::size_t>(10, truth.size()); ++i)
    for (const auto& r : got)
      if (r.key == truth[i]) ++hit;
  return truth.empty() ? 1.0 : double(hit) / double(std::min<std::size_t>(10, truth.size()));
}

std::unique_ptr<Index> build(const Sift& s, unsigned threads = 1) {
  auto index = std::make_unique<Index>(VectorSchema{kDim}, HnswParams{.m = 16, .ef_construction = 200});
  if (threads == 1) {
    for (std::size_t i = 0; i < s.base.rows; ++i) index->upsert(std::to_string(i), row(s.base, i));
  } else {
    std::vector<std::string> keys(s.base.rows);
    std::vector<Index::BatchItem> items;
    for (std::size_t i = 0; i < s.base.rows; ++i) {
      keys[i] = std::to_string(i);
      items.emplace_back(keys[i], row(s.base, i));
    }
    CHECK(index->insert_batch(items, threads) == s.base.rows);
  }
  return index;
}

// Mean recall@10 over the queries against exact top-10 keys.
double mean_recall(const Index& index, const Sift& s, const std::vector<std::vector<std::string>>& truth,
                   std::size_t ef = kEf) {
  double sum = 0;
  for (std::size_t q = 0; q < s.queries.rows; ++q) sum += recall_at_10(index.search(row(s.queries, q), 10, {.ef = ef}), truth[q]);
  return sum / double(s.queries.rows);
}

std::vector<std::vector<std::string>> official_truth(const Sift& s) {
  std::vector<std::vector<std::string>> out(s.queries.rows);
  for (std::size_t q = 0; q < s.queries.rows; ++q)
    for (std::size_t r = 0; r < 10; ++r) out[q].push_back(std::to_string(s.truth.row(q)[r]));
  return out;
}

std::vector<std::vector<std::string>> exact_truth(const FlatIndex<float, metric::L2>& flat, const Sift& s,
                                                  const Filter* filter = nullptr) {
  std::vector<std::vector<std::string>> out(s.queries.rows);
  for (std::size_t q = 0; q < s.queries.rows; ++q)
    for (const auto& r : flat.search(row(s.queries, q), 10, {.filter = filter})) out[q].push_back(r.key);
  return out;
}

}  // namespace

TEST_CASE("siftsmall: recall@10 >= 0.99 at ef = 64 with M = 16, EF_CONSTRUCTION = 200") {
  const Sift* s = sift();
  if (!s) return;
  const auto index = build(*s);
  const double recall = mean_recall(*index, *s, official_truth(*s));
  MESSAGE("siftsmall recall@10 at ef=64: " << recall);
  CHECK(recall >= 0.99);
  for (std::size_t ef : {10u, 32u, 128u})
    MESSAGE("  ef=" << ef << ": " << mean_recall(*index, *s, official_truth(*s), ef));
}

TEST_CASE("a parallel build reaches the single-threaded recall within 0.005") {
  const Sift* s = sift();
  if (!s) return;
  const auto truth = official_truth(*s);
  const double single = mean_recall(*build(*s, 1), *s, truth, 32);
  const auto parallel = build(*s, 2);
  CHECK(parallel->size() == s->base.rows);
  const double two = mean_recall(*parallel, *s, truth, 32);
  MESSAGE("recall@10 at ef=32: single thread " << single << ", two threads " << two);
  CHECK(two >= single - 0.005);
}

TEST_CASE("churn: deleting and re-inserting half keeps recall within 0.01 of a fresh build") {
  const Sift* s = sift();
  if (!s) return;
  const std::size_t n = s->base.rows;
  auto index = build(*s);
  // Final data: every key; a quarter of them get a perturbed vector, a quarter are erased and
  // re-inserted unchanged, in one random interleaving; the rest stay.
  std::mt19937 rng(2024);
  std::vector<std::size_t> keys(n);
  for (std::size_t i = 0; i < n; ++i) keys[i] = i;
  std::shuffle(keys.begin(), keys.end(), rng);
  std::vector<float> final_data(s->base.data);
  std::normal_distribution<float> noise(0.0f, 4.0f);
  struct Op {
    std::size_t key;
    int kind;  // 0 erase, 1 re-insert, 2 replace
  };
  std::vector<Op> ops;
  for (std::size_t j = 0; j < n / 2; ++j) {
    if (j % 2 == 0) {
      ops.push_back({keys[j], 2});
      for (std::size_t d = 0; d < kDim; ++d) final_data[keys[j] * kDim + d] += noise(rng);
    } else {
      ops.push_back({keys[j], 0});
    }
  }
  std::shuffle(ops.begin(), ops.end(), rng);
  // Each erase is followed, some random time later, by its re-insert.
  std::vector<Op> sequence;
  std::vector<Op> pending;
  for (const Op& op : ops) {
    sequence.push_back(op);
    if (op.kind == 0) pending.push_back({op.key, 1});
    if (!pending.empty() && rng() % 2 == 0) {
      const std::size_t at = rng() % pending.size();
      sequence.push_back(pending[at]);
      pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(at));
    }
  }
  sequence.insert(sequence.end(), pending.begin(), pending.end());

  std::unordered_set<std::string> erased;
  std::size_t searches = 0, leaked = 0;
  for (std::size_t t = 0; t < sequence.size(); ++t) {
    const Op& op = sequence[t];
    const std::string key = std::to_string(op.key);
    const std::span<const float> v(final_data.data() + op.key * kDim, kDim);
    if (op.kind == 0) {
      CHECK(index->erase(key));
      erased.insert(key);
    } else {
      index->upsert(key, v);
      erased.erase(key);
    }
    if (t % 50 == 0) {
      ++searches;
      for (const auto& r : index->search(row(s->queries, t % s->queries.rows), 10, {.ef = kEf}))
        leaked += erased.count(r.key);
    }
  }
  CHECK(leaked == 0);
  CHECK(searches > 100);
  CHECK(index->size() == n);

  FlatIndex<float, metric::L2> flat(VectorSchema{kDim});
  Index fresh(VectorSchema{kDim}, HnswParams{.m = 16, .ef_construction = 200});
  for (std::size_t i = 0; i < n; ++i) {
    const std::span<const float> v(final_data.data() + i * kDim, kDim);
    flat.upsert(std::to_string(i), v);
    fresh.upsert(std::to_string(i), v);
  }
  const auto truth = exact_truth(flat, *s);
  const double churned = mean_recall(*index, *s, truth), rebuilt = mean_recall(fresh, *s, truth);
  MESSAGE("recall@10 at ef=64 after churn: " << churned << ", fresh build: " << rebuilt
                                             << "; deleted memory now " << index->deleted_memory_bytes() << " B");
  CHECK(churned >= rebuilt - 0.01);
  // Bounded: tombstones wait for a sweep once they reach 1/16 of the entries, plus block granularity.
  CHECK(index->memory_bytes() <= fresh.memory_bytes() * 12 / 10);
}

TEST_CASE("filters at 50 %, 10 %, 1 % and 0.1 % selectivity: recall@10 >= 0.95, never a non-match") {
  const Sift* s = sift();
  if (!s) return;
  const auto index = build(*s);
  FlatIndex<float, metric::L2> flat(VectorSchema{kDim});
  for (std::size_t i = 0; i < s->base.rows; ++i) flat.upsert(std::to_string(i), row(s->base, i));
  // Which keys match is decided by a hash of the key, so matches are scattered over the data.
  auto matches = [](KeyView key, std::size_t per_mille) {
    return std::hash<KeyView>{}(key) % 1000 < per_mille;
  };
  for (std::size_t per_mille : {500u, 100u, 10u, 1u}) {
    for (bool claim_unselective : {false, true}) {
      // The honest filter lets the index pick its strategy; the second one claims to match
      // everything, which forces the filtered graph walk even when few entries match.
      const auto filter = Filter::by_predicate([&](KeyView key, Id) { return matches(key, per_mille); },
                                               claim_unselective ? std::optional<std::size_t>(s->base.rows)
                                                                 : std::nullopt);
      const auto truth = exact_truth(flat, *s, &filter);
      double sum = 0;
      std::size_t wrong = 0, short_lists = 0;
      for (std::size_t q = 0; q < s->queries.rows; ++q) {
        const auto got = index->search(row(s->queries, q), 10, {.ef = kEf, .filter = &filter});
        for (const auto& r : got) wrong += matches(r.key, per_mille) ? 0 : 1;
        short_lists += got.size() < std::min<std::size_t>(10, truth[q].size()) ? 1 : 0;
        sum += recall_at_10(got, truth[q]);
      }
      const double recall = sum / double(s->queries.rows);
      MESSAGE("selectivity " << per_mille / 10.0 << " %" << std::string(claim_unselective ? " (graph walk forced)" : "")
                             << ": recall@10 " << recall << ", matches " << truth[0].size() << "+");
      CHECK(wrong == 0);
      CHECK(short_lists == 0);
      CHECK(recall >= 0.95);
    }
  }
}
