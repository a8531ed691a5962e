// bench_churn — does an HNSW index that lives through hours of upserts and deletes stay as good as a
// fresh build of what it ends up holding, and how long does one write take while it maintains itself?
//
// Keys 0..K-1 start with K distinct base rows of a real dataset; then `--writes` random writes: a
// present key is deleted with probability `--delete-percent`, otherwise the key (present or not)
// gets a base row no other key holds (so every vector is distinct and updates move keys far). With
// `--tick N` a host timer is simulated: every N writes, `maintain_for(--budget-us)` runs (when the
// index has it). Afterwards the churned index and a fresh build of the final key → row set (same
// parameters and seed, keys inserted in ascending order) are measured at each `--ef`:
//   own-vector top-10: the share of live keys whose own vector returns them in the top 10;
//   recall@10: the dataset's queries against the exact top 10 of the final set (FlatIndex).
// Prints the write-time distribution (longest single write, p99.9, mean), the maintenance time per
// write (inside writes and in maintain calls, from maintenance_stats() when the index has it), and
// the table. A measurement, not a test.
//
//   bench_churn [--dataset siftsmall|fashion-mnist|glove-100|gaussian] [--keys K] [--writes W]
//               [--delete-percent 25] [--ef 10,50,200] [--queries 1000] [--sample 10000]
//               [--m 16] [--ef-construction 200] [--seed 1] [--tick 0] [--budget-us 1000]
//               [--rows R]   (use only the first R base rows; 0 = all; gaussian: 100,000 rows)
//               [--dim 64]   (gaussian only: standard normal vectors, like the Redis module's tests)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ann_data.hpp"
#include "vindex/vindex.hpp"
#include "vindex_datasets.hpp"

namespace {

struct Options {
  std::string dataset = "siftsmall";
  std::size_t keys = 0, writes = 0, delete_percent = 25, queries = 1000, sample = 10000;
  std::size_t m = 16, ef_construction = 200, seed = 1, tick = 0, budget_us = 1000, rows = 0, dim = 64;
  std::vector<std::size_t> efs = {10, 50, 200};
};

Options parse(int argc, char** argv) {
  Options o;
  const std::pair<const char*, std::size_t*> flags[] = {
      {"--keys", &o.keys},       {"--writes", &o.writes}, {"--delete-percent", &o.delete_percent},
      {"--queries", &o.queries}, {"--sample", &o.sample}, {"--m", &o.m},
      {"--ef-construction", &o.ef_construction},         {"--seed", &o.seed},
      {"--tick", &o.tick},       {"--budget-us", &o.budget_us}, {"--rows", &o.rows},
      {"--dim", &o.dim}};
  for (int i = 1; i < argc; ++i) {
    bool known = false;
    if (i + 1 < argc && std::strcmp(argv[i], "--dataset") == 0) {
      o.dataset = argv[++i];
      known = true;
    } else if (i + 1 < argc && std::strcmp(argv[i], "--ef") == 0) {
      o.efs.clear();
      for (const char* p = argv[++i]; *p;) {
        char* end;
        o.efs.push_back(std::strtoull(p, &end, 10));
        p = *end == ',' ? end + 1 : end;
        if (end == p && *p) break;
      }
      known = true;
    }
    for (const auto& [name, value] : flags)
      if (!known && std::strcmp(argv[i], name) == 0 && i + 1 < argc) {
        *value = std::strtoull(argv[++i], nullptr, 10);
        known = true;
      }
    if (!known) {
      std::fprintf(stderr, "unknown or incomplete option %s\n", argv[i]);
      std::exit(2);
    }
  }
  return o;
}

struct Data {
  std::size_t dim = 0, n = 0, nq = 0;
  std::vector<float> base, queries;
  vindex::Metric metric = vindex::Metric::kL2;
};

Data load(const Options& o) {
  Data d;
  std::filesystem::path b, q;
  if (o.dataset == "gaussian") {  // the Redis module tests' data: standard normal vectors
    d.dim = o.dim, d.n = o.rows ? o.rows : 100000, d.nq = o.queries;
    std::mt19937 rng(12345);
    std::normal_distribution<float> g;
    d.base.resize(d.n * d.dim);
    d.queries.resize(d.nq * d.dim);
    for (float& x : d.base) x = g(rng);
    for (float& x : d.queries) x = g(rng);
    return d;
  }
  if (o.dataset == "siftsmall") {
    const auto dir = vindex_support::siftsmall_dir();
    if (!dir) throw std::runtime_error("siftsmall not found (VINDEX_DATASETS or ../shared/datasets)");
    b = *dir / "siftsmall_base.fvecs", q = *dir / "siftsmall_query.fvecs";
  } else {
    const auto dir = vindex_bench::cache_dir() / o.dataset;
    if (!std::filesystem::exists(dir / ".complete"))
      throw std::runtime_error(o.dataset + " not in " + dir.string() + ": run benchmarks/fetch_datasets.sh " + o.dataset);
    b = dir / "base.fvecs", q = dir / "query.fvecs";
    std::ifstream metric_file(dir / "metric");
    std::string metric;
    metric_file >> metric;
    d.metric = vindex::parse_metric(metric).value_or(vindex::Metric::kL2);
  }
  auto bm = vindex_support::read_vecs<float>(b, o.rows);
  auto qm = vindex_support::read_vecs<float>(q, o.queries);
  d.dim = bm.dim, d.n = bm.rows, d.nq = qm.rows;
  d.base = std::move(bm.data), d.queries = std::move(qm.data);
  return d;
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::string key_name(std::size_t k) { return "k:" + std::to_string(k); }

std::vector<char> g_written;  // per key: written (upserted) during the churn

struct Quality {
  std::vector<double> own, recall;
  std::vector<double> own_written, own_untouched;  // own-vector rate split by g_written
  double degree = 0;  // mean live layer-0 out-degree
  double in_written = 0, in_untouched = 0;  // mean layer-0 in-degree of written / untouched keys
};

template <class Index, class MetricT>
Quality measure(const Index& index, const Data& d, const Options& o, const std::vector<std::pair<std::size_t, std::size_t>>& live,
                const std::vector<std::vector<std::string>>& truth) {
  Quality q;
  std::mt19937 rng(7);
  std::vector<std::pair<std::size_t, std::size_t>> sample = live;
  std::shuffle(sample.begin(), sample.end(), rng);
  if (sample.size() > o.sample) sample.resize(o.sample);
  for (std::size_t ef : o.efs) {
    std::size_t found = 0, written = 0, found_written = 0;
    for (const auto& [key, row] : sample) {
      const auto hits = index.search(std::span<const float>(d.base.data() + row * d.dim, d.dim), 10, {.ef = ef});
      const std::string name = key_name(key);
      const bool hit = std::any_of(hits.begin(), hits.end(), [&](const vindex::SearchResult& h) { return h.key == name; });
      found += hit;
      written += g_written[key] != 0;
      found_written += hit && g_written[key];
    }
    q.own.push_back(static_cast<double>(found) / static_cast<double>(sample.size()));
    q.own_written.push_back(written ? static_cast<double>(found_written) / static_cast<double>(written) : 0);
    q.own_untouched.push_back(sample.size() > written ? static_cast<double>(found - found_written) /
                                                            static_cast<double>(sample.size() - written)
                                                      : 0);
    std::size_t hit = 0, want = 0;
    for (std::size_t i = 0; i < d.nq; ++i) {
      const auto hits = index.search(std::span<const float>(d.queries.data() + i * d.dim, d.dim), 10, {.ef = ef});
      const std::set<std::string> t(truth[i].begin(), truth[i].end());
      for (const auto& h : hits) hit += t.count(h.key);
      want += t.size();
    }
    q.recall.push_back(static_cast<double>(hit) / static_cast<double>(std::max<std::size_t>(want, 1)));
  }
  std::size_t links = 0, nodes = 0;
  std::vector<std::size_t> in_degree;
  std::vector<std::pair<vindex::Id, std::size_t>> key_of_id;  // id -> key number
  index.export_graph([&](const vindex::HnswNodeData& n) {
    links += n.links[0].size();
    ++nodes;
    for (vindex::Id to : n.links[0]) {
      if (to >= in_degree.size()) in_degree.resize(to + 1, 0);
      ++in_degree[to];
    }
    key_of_id.emplace_back(n.id, std::stoul(n.key.substr(2)));
  });
  q.degree = nodes ? static_cast<double>(links) / static_cast<double>(nodes) : 0;
  double sum[2] = {0, 0}, count[2] = {0, 0};
  for (const auto& [id, key] : key_of_id) {
    const int w = g_written[key] ? 0 : 1;
    sum[w] += id < in_degree.size() ? static_cast<double>(in_degree[id]) : 0;
    ++count[w];
  }
  q.in_written = count[0] ? sum[0] / count[0] : 0;
  q.in_untouched = count[1] ? sum[1] / count[1] : 0;
  return q;
}

template <class MetricT>
int run(const Data& d, Options o) {
  using Index = vindex::HnswIndex<float, MetricT>;
  if (o.keys == 0) o.keys = d.n / 2;
  if (o.writes == 0) o.writes = 5 * o.keys;
  if (o.keys >= d.n) {
    std::fprintf(stderr, "--keys must be below the %zu base rows\n", d.n);
    return 2;
  }
  const vindex::VectorSchema schema{static_cast<std::uint32_t>(d.dim), vindex::ElementType::kFloat32, MetricT::kind};
  const vindex::HnswParams params{.m = o.m, .ef_construction = o.ef_construction, .seed = o.seed};
  std::printf("%s: %zu rows x %zu, %zu queries; %zu keys, %zu writes (%zu%% deletes of present keys), M %zu, "
              "EF_CONSTRUCTION %zu, seed %zu, %s\n",
              o.dataset.c_str(), d.n, d.dim, d.nq, o.keys, o.writes, o.delete_percent, o.m, o.ef_construction,
              o.seed, o.tick ? ("maintain_for(" + std::to_string(o.budget_us) + " us) every " + std::to_string(o.tick) +
                                " writes").c_str()
                             : "no maintain calls (writes only)");
  auto row = [&](std::size_t r) { return std::span<const float>(d.base.data() + r * d.dim, d.dim); };

  std::mt19937_64 rng(o.seed);
  std::vector<std::size_t> perm(d.n);
  for (std::size_t i = 0; i < d.n; ++i) perm[i] = i;
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<std::ptrdiff_t> row_of(o.keys, -1);
  g_written.assign(o.keys, 0);
  std::vector<std::size_t> free_rows(perm.begin() + static_cast<std::ptrdiff_t>(o.keys), perm.end());

  Index index(schema, params);
  double t0 = now_s();
  for (std::size_t k = 0; k < o.keys; ++k) {
    row_of[k] = static_cast<std::ptrdiff_t>(perm[k]);
    index.upsert(key_name(k), row(perm[k]));
  }
  std::printf("initial build: %.1f s\n", now_s() - t0);

  std::vector<double> write_us;
  write_us.reserve(o.writes);
  double maintain_s = 0;
  std::size_t maintain_calls = 0, deletes = 0, updates = 0, inserts = 0;
  std::uniform_int_distribution<std::size_t> key_of(0, o.keys - 1);
  std::uniform_int_distribution<int> percent(0, 99);
  t0 = now_s();
  for (std::size_t w = 0; w < o.writes; ++w) {
    const std::size_t k = key_of(rng);
    const std::string name = key_name(k);
    double start;
    if (row_of[k] >= 0 && static_cast<std::size_t>(percent(rng)) < o.delete_percent) {
      free_rows.push_back(static_cast<std::size_t>(row_of[k]));
      row_of[k] = -1;
      start = now_s();
      index.erase(name);
      ++deletes;
    } else {
      std::uniform_int_distribution<std::size_t> pick(0, free_rows.size() - 1);
      const std::size_t at = pick(rng);
      const std::size_t r = free_rows[at];
      free_rows[at] = free_rows.back();
      free_rows.pop_back();
      (row_of[k] >= 0 ? updates : inserts)++;
      if (row_of[k] >= 0) free_rows.push_back(static_cast<std::size_t>(row_of[k]));
      row_of[k] = static_cast<std::ptrdiff_t>(r);
      g_written[k] = 1;
      start = now_s();
      index.upsert(name, row(r));
    }
    write_us.push_back((now_s() - start) * 1e6);
    if (o.tick && w % o.tick == o.tick - 1) {
      if constexpr (requires { index.maintain_for(std::chrono::microseconds(1)); }) {
        const double s = now_s();
        index.maintain_for(std::chrono::microseconds(o.budget_us));
        maintain_s += now_s() - s;
        ++maintain_calls;
      }
    }
  }
  const double churn_s = now_s() - t0;
  std::vector<double> sorted = write_us;
  std::sort(sorted.begin(), sorted.end());
  double total_us = 0;
  for (double x : write_us) total_us += x;
  auto pct = [&](double p) { return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())))]; };
  std::printf("churn: %zu writes (%zu updates, %zu inserts, %zu deletes) in %.1f s\n", o.writes, updates, inserts,
              deletes, churn_s);
  std::printf("write time: longest %.0f us, p99.9 %.0f us, p99 %.0f us, median %.0f us, mean %.0f us\n",
              sorted.back(), pct(0.999), pct(0.99), pct(0.5), total_us / static_cast<double>(o.writes));
  std::printf("maintain calls: %zu, %.1f us per write\n", maintain_calls,
              maintain_s * 1e6 / static_cast<double>(o.writes));
  if constexpr (requires { index.maintenance_stats(); }) {
    const auto s = index.maintenance_stats();
    std::printf("maintenance: %.1f us per write inside writes (longest %.0f us), %.1f us per write in maintain; "
                "%.0f work units per write (%zu at most inside one); %llu rounds, %llu lists repaired, %llu links "
                "back, %llu nodes relinked, %llu tombstones freed, %zu pending\n",
                static_cast<double>(s.write_ns) / 1e3 / static_cast<double>(o.writes),
                static_cast<double>(s.longest_write_ns) / 1e3,
                static_cast<double>(s.maintain_ns) / 1e3 / static_cast<double>(o.writes),
                static_cast<double>(s.work) / static_cast<double>(o.writes), index.maintenance_work_per_write(),
                static_cast<unsigned long long>(s.rounds), static_cast<unsigned long long>(s.lists_repaired),
                static_cast<unsigned long long>(s.back_links), static_cast<unsigned long long>(s.nodes_relinked),
                static_cast<unsigned long long>(s.tombstones_freed), s.pending_tombstones);
  }

  // The final set and its exact top 10 per query.
  std::vector<std::pair<std::size_t, std::size_t>> live;
  for (std::size_t k = 0; k < o.keys; ++k)
    if (row_of[k] >= 0) live.emplace_back(k, static_cast<std::size_t>(row_of[k]));
  if (index.size() != live.size()) {
    std::printf("ERROR: index holds %zu entries, the model %zu\n", index.size(), live.size());
    return 1;
  }
  vindex::FlatIndex<float, MetricT> flat(schema);
  for (const auto& [k, r] : live) flat.upsert(key_name(k), row(r));
  std::vector<std::vector<std::string>> truth(d.nq);
  for (std::size_t i = 0; i < d.nq; ++i)
    for (const auto& h : flat.search(std::span<const float>(d.queries.data() + i * d.dim, d.dim), 10))
      truth[i].push_back(h.key);

  t0 = now_s();
  Index fresh(schema, params);
  for (const auto& [k, r] : live) fresh.upsert(key_name(k), row(r));
  const double fresh_s = now_s() - t0;
  const Quality a = measure<Index, MetricT>(index, d, o, live, truth);
  const Quality b = measure<Index, MetricT>(fresh, d, o, live, truth);
  index.sweep_tombstones();
  const Quality c = measure<Index, MetricT>(index, d, o, live, truth);
  std::printf("final set: %zu keys; fresh build %.1f s; mean live layer-0 degree: churned %.2f, after sweep %.2f, "
              "fresh %.2f\n",
              live.size(), fresh_s, a.degree, c.degree, b.degree);
  std::printf("| ef | own-vector top-10: churned | after sweep | fresh | churned - fresh | recall@10: churned | "
              "after sweep | fresh | churned - fresh |\n|---|---|---|---|---|---|---|---|---|\n");
  for (std::size_t i = 0; i < o.efs.size(); ++i)
    std::printf("| %zu | %.4f | %.4f | %.4f | %+.4f | %.4f | %.4f | %.4f | %+.4f |\n", o.efs[i], a.own[i], c.own[i],
                b.own[i], a.own[i] - b.own[i], a.recall[i], c.recall[i], b.recall[i], a.recall[i] - b.recall[i]);
  for (std::size_t i = 0; i < o.efs.size(); ++i)
    std::printf("ef %zu own-vector top-10, keys written during the churn / untouched: churned %.4f / %.4f, "
                "fresh %.4f / %.4f\n",
                o.efs[i], a.own_written[i], a.own_untouched[i], b.own_written[i], b.own_untouched[i]);
  std::printf("mean layer-0 in-degree, keys written during the churn / untouched: churned %.2f / %.2f, fresh %.2f / %.2f\n",
              a.in_written, a.in_untouched, b.in_written, b.in_untouched);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const Data d = load(o);
  switch (d.metric) {
    case vindex::Metric::kL2: return run<vindex::metric::L2>(d, o);
    case vindex::Metric::kCosine: return run<vindex::metric::Cosine>(d, o);
    case vindex::Metric::kIP: return run<vindex::metric::InnerProduct>(d, o);
  }
  return 2;
}
