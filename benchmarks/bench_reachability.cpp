// bench_reachability — does HNSW churn cut live entries off the graph between sweeps?
//
// The workload of the Redis module's load test: `--vectors` random Gaussian vectors, then `--writes`
// writes from three interleaved writers, each cycling over `--keys` keys of its own and deleting
// every seventh. Every `--every` writes, each live key is searched by its own vector with ef above
// the entry count (which walks everything reachable); a check "loses" a key that does not come back
// at distance 0. Prints, per seed and in total, how many checks lost a key. A measurement, not a
// test: the property test in tests/test_hnsw_property.cpp asserts the same on a small graph.
//
//   bench_reachability [--seeds 12] [--first-seed 1] [--dim 32] [--m 16] [--ef-construction 200]
//                      [--vectors 2000] [--writes 4500] [--keys 500] [--every 300]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "vindex/vindex.hpp"

namespace {

struct Options {
  std::size_t seeds = 12, first_seed = 1, dim = 32, m = 16, ef_construction = 200;
  std::size_t vectors = 2000, writes = 4500, keys = 500, every = 300;
};

Options parse(int argc, char** argv) {
  Options o;
  const std::pair<const char*, std::size_t*> flags[] = {
      {"--seeds", &o.seeds},   {"--first-seed", &o.first_seed}, {"--dim", &o.dim},
      {"--m", &o.m},           {"--ef-construction", &o.ef_construction}, {"--vectors", &o.vectors},
      {"--writes", &o.writes}, {"--keys", &o.keys},             {"--every", &o.every}};
  for (int i = 1; i < argc; ++i) {
    bool known = false;
    for (const auto& [name, value] : flags)
      if (std::strcmp(argv[i], name) == 0 && i + 1 < argc) {
        *value = std::strtoull(argv[++i], nullptr, 10);
        known = true;
      }
    if (!known) {
      std::fprintf(stderr, "unknown or incomplete option %s\n", argv[i]);
      std::exit(2);
    }
  }
  if (o.dim == 0 || o.keys == 0 || o.every == 0) {
    std::fprintf(stderr, "--dim, --keys and --every must be positive\n");
    std::exit(2);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  using Index = vindex::HnswIndex<float, vindex::metric::L2>;
  const Options o = parse(argc, argv);
  std::printf("dim %zu, M %zu, EF_CONSTRUCTION %zu: %zu vectors, then %zu writes over 3 x %zu keys, "
              "every key checked every %zu writes\n",
              o.dim, o.m, o.ef_construction, o.vectors, o.writes, o.keys, o.every);
  std::size_t all_checks = 0, all_failed = 0, all_lost = 0;
  for (std::size_t seed = o.first_seed; seed < o.first_seed + o.seeds; ++seed) {
    Index index(vindex::VectorSchema{static_cast<std::uint32_t>(o.dim)},
                vindex::HnswParams{.m = o.m, .ef_construction = o.ef_construction, .seed = seed});
    std::map<std::string, std::vector<float>> model;
    std::mt19937 rng(static_cast<unsigned>(seed));
    std::normal_distribution<float> gauss;
    auto write = [&](const std::string& key) {
      std::vector<float> v(o.dim);
      for (float& x : v) x = gauss(rng);
      index.upsert(key, v);
      model[key] = std::move(v);
    };
    std::size_t checks = 0, failed = 0, lost = 0;
    auto check = [&] {
      const vindex::SearchOptions exhaustive{.ef = index.size() + 1};
      std::size_t missing = 0;
      for (const auto& [key, v] : model) {
        const auto hits = index.search(v, 1, exhaustive);
        missing += hits.empty() || hits[0].key != key || hits[0].distance != 0;
      }
      ++checks;
      failed += missing > 0;
      lost += missing;
    };
    for (std::size_t i = 0; i < o.vectors; ++i) write("seed:" + std::to_string(i));
    std::size_t turn[3] = {0, 0, 0};
    for (std::size_t step = 0; step < o.writes; ++step) {
      const std::size_t w = step % 3, i = turn[w]++;
      const std::string key = "w" + std::to_string(w) + ":" + std::to_string(i % o.keys);
      if (i % 7 == 6) {
        index.erase(key);
        model.erase(key);
      } else {
        write(key);
      }
      if (step % o.every == 0) check();
    }
    check();
    std::printf("seed %3zu: %2zu of %2zu checks lost a key (%zu keys in all)\n", seed, failed, checks, lost);
    all_checks += checks;
    all_failed += failed;
    all_lost += lost;
  }
  std::printf("total: %zu of %zu checks lost a key (%zu keys in all)\n", all_failed, all_checks, all_lost);
}
