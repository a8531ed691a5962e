// libFuzzer target for the snapshot loaders (FLAT and HNSW, of floats and of narrow elements; every
// input goes to each). Any input
// must either load or throw vindex::Error, and what loads must answer a query (through a stand-in
// host when it re-ranks from one) and save without an error:
// a crash, a sanitizer report, a leak, another exception or a giant allocation is a bug. An input
// that loads must also survive the round trip: saving it and loading the result gives the same
// bytes again, and loading it through small chunks (size unknown to the reader) agrees. Each input
// is tried twice: as it is, and with its checksums repaired, so that mutations reach the payload
// parsers instead of stopping at the first CRC.
// Build: CXX=clang++ meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
// Run:   build-fuzz/tests/fuzz/fuzz_snapshot_load -max_total_time=60 tests/fuzz/corpus
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <variant>
#include <vector>

#include "../support/snapshot_support.hpp"  // with_repaired_checksums
#include "vindex/vindex.hpp"

namespace {

vindex::LoadOptions options() {
  vindex::LoadOptions o;
  o.max_block_bytes = std::uint64_t{8} << 20;  // keep iterations fast; the limit itself is tested
  return o;
}

template <class Any>
std::vector<std::byte> save_any(const Any& any) {
  vindex::MemorySerializer out;
  std::visit([&](const auto& index) { vindex::save(*index, out); }, any);
  return out.take();
}

// The two loaders the target feeds.
struct FlatLoader {
  static vindex::AnyFlatIndex load(vindex::Deserializer& in) { return vindex::load_any_flat(in, options()); }
};
struct HnswLoader {
  static vindex::AnyHnswIndex load(vindex::Deserializer& in) { return vindex::load_any_hnsw(in, options()); }
};
// Narrow-element indexes (entries stored as their TYPE): the seeds hold an HNSW FLOAT16 COSINE and a
// FLAT UINT8 L2 index; other inputs are refused with kSchemaMismatch.
struct HnswFloat16Loader {
  static std::variant<std::unique_ptr<vindex::HnswIndex<vindex::Float16, vindex::metric::Cosine>>> load(
      vindex::Deserializer& in) {
    return vindex::load_hnsw<vindex::metric::Cosine, vindex::Float16>(in, options());
  }
};
struct FlatUInt8Loader {
  static std::variant<std::unique_ptr<vindex::FlatIndex<vindex::UInt8, vindex::metric::L2>>> load(
      vindex::Deserializer& in) {
    return vindex::load_flat<vindex::metric::L2, vindex::UInt8>(in, options());
  }
};

// HNSW with SQ8 codes: takes a seed's SQ8Q quantizer, or trains on the loaded vectors.
struct HnswSq8Loader {
  static std::variant<std::unique_ptr<vindex::HnswIndex<float, vindex::metric::L2, vindex::Sq8>>> load(
      vindex::Deserializer& in) {
    return vindex::load_hnsw<vindex::metric::L2, float, vindex::Sq8>(in, options());
  }
};

// FLAT with SQ8 codes: the same, over a scan instead of a graph.
struct FlatSq8Loader {
  static std::variant<std::unique_ptr<vindex::FlatIndex<float, vindex::metric::L2, vindex::Sq8>>> load(
      vindex::Deserializer& in) {
    return vindex::load_flat<vindex::metric::L2, float, vindex::Sq8>(in, options());
  }
};

[[noreturn]] void bug() { std::abort(); }

template <class Loader>
void check_one(std::span<const std::byte> bytes) {
  std::optional<decltype(Loader::load(std::declval<vindex::Deserializer&>()))> any;
  try {
    vindex::MemoryDeserializer in(bytes);
    any.emplace(Loader::load(in));
  } catch (const vindex::Error&) {
  }
  const bool loaded = any.has_value();
  // What loaded must answer a query and save; an Error here escapes and fails the target.
  std::vector<std::byte> saved;
  if (loaded) {
    std::visit(
        [](const auto& index) {
          const std::size_t dim = index->schema().dim;
          std::vector<float> query(dim, 0.5f);
          // An index that re-ranks from the host (EXACT_VECTORS 1) reads candidates through this
          // stand-in host: it holds a vector for keys of even length and none for the others.
          const vindex::HostVectorReader host = [dim](vindex::KeyView key, std::span<float> out) {
            if (key.size() % 2 != 0 || out.size() != dim) return false;
            std::fill(out.begin(), out.end(), 0.25f);
            return true;
          };
          vindex::SearchOptions search;
          search.host_vectors = &host;
          (void)index->search(query, 3, search);
        },
        *any);
    saved = save_any(*any);
  }

  // The same input read in 3-byte chunks, where the reader cannot know the remaining size.
  bool chunked_loaded = false;
  try {
    std::size_t at = 0;
    vindex::ChunkedDeserializer in([&]() -> std::span<const std::byte> {
      const std::size_t n = std::min<std::size_t>(3, bytes.size() - at);
      auto chunk = bytes.subspan(at, n);
      at += n;
      return chunk;
    });
    Loader::load(in);
    chunked_loaded = true;
  } catch (const vindex::Error&) {
  }
  if (loaded != chunked_loaded) bug();

  if (loaded) {
    vindex::MemoryDeserializer again(saved);
    if (save_any(Loader::load(again)) != saved) bug();
  }
}

void check_both(std::span<const std::byte> bytes) {
  check_one<FlatLoader>(bytes);
  check_one<HnswLoader>(bytes);
  check_one<HnswFloat16Loader>(bytes);
  check_one<FlatUInt8Loader>(bytes);
  check_one<HnswSq8Loader>(bytes);
  check_one<FlatSq8Loader>(bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span<const std::uint8_t>(data, size));
  check_both(bytes);
  check_both(vindex_test::with_repaired_checksums(bytes));
  return 0;
}
