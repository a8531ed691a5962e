// bench_util.hpp — shared pieces of the benchmark programs: timing, data, machine limits, options.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <xsimd/xsimd.hpp>

namespace vindex_bench {

/// Seconds since an arbitrary epoch, monotonic.
inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// `--name=value` option lookup with a default.
inline long option(int argc, char** argv, const char* name, long fallback) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) return std::atol(argv[i] + prefix.size());
  return fallback;
}

/// The 1-minute load average from /proc/loadavg (-1 when unavailable).
inline double load_average() {
  std::ifstream in("/proc/loadavg");
  double v = -1;
  in >> v;
  return v;
}

/// The CPU model name from /proc/cpuinfo ("unknown CPU" when absent).
inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown CPU";
}

/// Gaussian clusters: `clusters` centres in [-1,1]^dim, points spread 0.15 around them. Deterministic.
inline std::vector<float> clustered(std::size_t n, std::size_t dim, std::size_t clusters, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::normal_distribution<float> g(0, 0.15f);
  std::vector<float> centres(clusters * dim);
  for (float& c : centres) c = u(rng);
  std::vector<float> data(n * dim);
  for (std::size_t i = 0; i < n; ++i) {
    const float* c = centres.data() + (rng() % clusters) * dim;
    for (std::size_t j = 0; j < dim; ++j) data[i * dim + j] = c[j] + g(rng);
  }
  return data;
}

/// Single-thread sequential read bandwidth over a `bytes` array, GB/s (best of `reps`).
inline double measure_read_bandwidth_gbs(std::size_t bytes = std::size_t{1} << 30, int reps = 3) {
  using batch = xsimd::batch<float>;
  const std::size_t n = bytes / sizeof(float);
  std::vector<float> a(n, 1.0f);
  double best = 0;
  volatile float sink = 0;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_s();
    batch s0(0.f), s1(0.f), s2(0.f), s3(0.f);
    const std::size_t w = batch::size;
    for (std::size_t i = 0; i + 4 * w <= n; i += 4 * w) {
      s0 += batch::load_unaligned(&a[i]);
      s1 += batch::load_unaligned(&a[i + w]);
      s2 += batch::load_unaligned(&a[i + 2 * w]);
      s3 += batch::load_unaligned(&a[i + 3 * w]);
    }
    sink = sink + xsimd::hadd(s0 + s1 + s2 + s3);
    best = std::max(best, double(bytes) / (now_s() - t0) / 1e9);
  }
  return best;
}

/// Single-thread FP32 FMA peak in GFLOP/s (2 flops per lane per FMA), from independent FMA chains.
inline double measure_fma_peak_gflops() {
  using batch = xsimd::batch<float>;
  constexpr int kChains = 12;
  batch acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = batch(float(c) * 1e-3f);
  const batch x(0.999999f), y(1e-7f);
  const long iters = 20'000'000;
  double best = 0;
  for (int r = 0; r < 3; ++r) {
    const double t0 = now_s();
    for (long i = 0; i < iters; ++i) {
      for (int c = 0; c < kChains; ++c) acc[c] = xsimd::fma(acc[c], x, y);
    }
    best = std::max(best, 2.0 * batch::size * kChains * iters / (now_s() - t0) / 1e9);
  }
  float s = 0;
  for (int c = 0; c < kChains; ++c) s += xsimd::hadd(acc[c]);
  if (s == 12345.f) std::printf(" ");
  return best;
}

}  // namespace vindex_bench
