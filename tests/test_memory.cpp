// Specification of memory: the host's memory resource, MemoryAccount (counts, limits, chaining),
// exact memory_bytes(), lazy capacity and bounded blocks, and what running out of memory does to
// every write path: an upsert, a batch, a keyspace hook or scan step, a snapshot load that fails at
// any one of its allocations leaves its index exactly as it was and gives back every byte it took.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory_resource>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "vindex/vindex.hpp"
#include "support/snapshot_checks.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

using namespace vindex;

namespace {

// A host memory resource for the tests: operator new underneath, every allocation checked on its way
// back (same size and alignment, not freed twice), and optionally the n-th allocation from now
// refused with std::bad_alloc (once; later ones succeed).
class TestResource final : public std::pmr::memory_resource {
 public:
  std::size_t in_use() const {
    std::lock_guard lock(mutex_);
    return in_use_;
  }
  std::size_t allocations() const {
    std::lock_guard lock(mutex_);
    return allocations_;
  }
  std::size_t live() const {
    std::lock_guard lock(mutex_);
    return live_.size();
  }
  bool mismatched() const {
    std::lock_guard lock(mutex_);
    return mismatched_;
  }
  // Refuses the n-th allocation from now (n >= 1); 0 disarms.
  void fail_nth(std::size_t n) {
    std::lock_guard lock(mutex_);
    countdown_ = n;
    failed_ = false;
  }
  // True once the armed failure happened.
  bool failed() const {
    std::lock_guard lock(mutex_);
    return failed_;
  }
  ~TestResource() override {
    for (const auto& [p, size_align] : live_) ::operator delete(p, std::align_val_t{size_align.second});
  }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    std::lock_guard lock(mutex_);
    ++allocations_;
    if (countdown_ != 0 && --countdown_ == 0) {
      failed_ = true;
      throw std::bad_alloc();
    }
    void* p = ::operator new(bytes, std::align_val_t{alignment});
    live_[p] = {bytes, alignment};
    in_use_ += bytes;
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    std::lock_guard lock(mutex_);
    auto it = live_.find(p);
    if (it == live_.end() || it->second != std::pair{bytes, alignment}) {
      mismatched_ = true;
      return;
    }
    live_.erase(it);
    in_use_ -= bytes;
    ::operator delete(p, std::align_val_t{alignment});
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }

  mutable std::mutex mutex_;
  std::map<void*, std::pair<std::size_t, std::size_t>> live_;
  std::size_t in_use_ = 0;
  std::size_t allocations_ = 0;
  std::size_t countdown_ = 0;
  bool failed_ = false;
  bool mismatched_ = false;
};

std::vector<float> random_vector(std::mt19937& rng, std::size_t dim) {
  std::normal_distribution<float> g;
  std::vector<float> v(dim);
  for (float& x : v) x = g(rng);
  return v;
}

// Keys short (inline in the key map) and long (an allocation of their own), alternately.
std::string key_of(int i) { return i % 2 ? "k" + std::to_string(i) : "a long key, stored out of line, #" + std::to_string(i); }

// Everything a FlatIndex shows: entries by id, size, memory.
template <class Index>
auto flat_state(const Index& index) {
  std::vector<std::tuple<std::string, Id, std::vector<float>>> entries;
  index.for_each([&](KeyView key, Id id, std::span<const float> v) { entries.emplace_back(key, id, std::vector<float>(v.begin(), v.end())); });
  return std::tuple(entries, index.size(), index.memory_bytes(), index.deleted_memory_bytes());
}

// Everything an HnswIndex shows: its graph as exported (ids, keys, vectors, links per layer, entry
// point, level generator), size, memory.
struct GraphState {
  HnswGraphInfo info;
  std::vector<std::tuple<Id, std::string, std::vector<float>, float, std::vector<std::vector<Id>>>> nodes;
  std::size_t size = 0, memory = 0, deleted = 0;
  friend bool operator==(const GraphState& a, const GraphState& b) {
    return a.info.entry_point == b.info.entry_point && a.info.max_level == b.info.max_level &&
           a.info.level_generator_state == b.info.level_generator_state && a.nodes == b.nodes && a.size == b.size &&
           a.memory == b.memory && a.deleted == b.deleted;
  }
};
template <class Index>
GraphState graph_state(const Index& index) {
  GraphState s;
  s.info = index.export_graph([&](const HnswNodeData& n) { s.nodes.emplace_back(n.id, n.key, n.vector, n.magnitude, n.links); });
  s.size = index.size();
  s.memory = index.memory_bytes();
  s.deleted = index.deleted_memory_bytes();
  return s;
}

template <class Fn>
bool runs_out_of_memory(Fn&& fn) {
  try {
    fn();
  } catch (const std::bad_alloc&) {
    return true;
  }
  return false;
}

using FlatL2 = FlatIndex<float, metric::L2>;
using FlatCos = FlatIndex<float, metric::Cosine>;
using HnswL2 = HnswIndex<float, metric::L2>;
using HnswCos = HnswIndex<float, metric::Cosine>;

// The parameter struct of an index type, with small blocks.
template <class Index>
auto small_blocks() {
  if constexpr (requires { typename Index::BatchItem; }) {
    return HnswParams{.m = 4, .ef_construction = 16, .block_size = 8};
  } else {
    return FlatParams{.block_size = 8};
  }
}

}  // namespace

// ---- MemoryAccount and resources ----------------------------------------------------------------

TEST_CASE("RecordArray: records by id in any block size; a growth that fails or is dropped gives back every byte") {
  for (const std::size_t block_slots : {std::size_t{1}, std::size_t{3}, std::size_t{8}}) {
    CAPTURE(block_slots);
    TestResource resource;
    {
      RecordArray records(12, block_slots, &resource);
      CHECK(records.capacity_slots() == 0);
      CHECK(resource.in_use() == 0);
      records.grow(10).commit();
      CHECK(records.capacity_slots() >= 10);
      CHECK(records.capacity_slots() < 10 + block_slots);
      for (std::size_t i = 0; i < 10; ++i) std::memset(records.record(i), static_cast<int>(i), 12);
      for (std::size_t i = 0; i < 10; ++i) {
        CHECK(records.record(i)[0] == std::byte(i));
        CHECK(records.record(i)[11] == std::byte(i));
        if (i % block_slots != 0) CHECK(records.record(i) == records.record(i - 1) + 12);  // within a block
      }
      CHECK(records.memory_bytes() == resource.in_use());
      // Dropped without commit: back to exactly the bytes before, records untouched.
      const std::size_t before = resource.in_use();
      { auto dropped = records.grow(40); }
      CHECK(resource.in_use() == before);
      CHECK(records.capacity_slots() < 10 + block_slots);
      for (std::size_t i = 0; i < 10; ++i) CHECK(records.record(i)[5] == std::byte(i));
      // Each allocation of a growth refused in turn: nothing changes, nothing leaks.
      for (std::size_t n = 1;; ++n) {
        resource.fail_nth(n);
        try {
          records.grow(100).commit();
        } catch (const std::bad_alloc&) {
          CHECK(resource.in_use() == before);
          for (std::size_t i = 0; i < 10; ++i) CHECK(records.record(i)[7] == std::byte(i));
          continue;
        }
        resource.fail_nth(0);
        break;
      }
      CHECK(records.capacity_slots() >= 100);
      for (std::size_t i = 0; i < 10; ++i) CHECK(records.record(i)[3] == std::byte(i));
      records.shrink_slots(10);
      CHECK(records.capacity_slots() < 10 + block_slots);
      records.clear();
      CHECK(records.capacity_slots() == 0);
      CHECK(resource.in_use() == 0);
    }
    CHECK(resource.in_use() == 0);
    CHECK_FALSE(resource.mismatched());
  }
}


namespace {

// The VmFlags of the mapping holding `p`, from /proc/self/smaps ("" when not found or not Linux).
std::string vm_flags_of(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    unsigned long long from = 0, to = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx ", &from, &to) == 2 && line.find('-') < line.find(' ')) {
      inside = from <= at && at < to;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}

}  // namespace

TEST_CASE("huge pages: the whole huge pages inside blocks of 2 MiB or more are advised; smaller blocks, and a host's memory, are not") {
  TestResource resource;
  {
    RecordArray big(4096, 1024, &resource, true);  // 4 MiB blocks: each holds a whole huge page
    CHECK(big.huge_page_blocks());
    big.grow(1500).commit();  // two blocks
    CHECK(big.memory_bytes() == resource.in_use());  // no padding: blocks keep the allocator's alignment
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    // The advice is a VMA flag ("hg" in smaps) whenever the kernel has transparent huge pages
    // (whatever its THP setting); a kernel without them refuses madvise, so look only when it takes it.
    void* probe = ::mmap(nullptr, 2 * kHugePageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(probe != MAP_FAILED);
    const bool kernel_takes_advice = advise_huge_pages(probe, 2 * kHugePageBytes) >= kHugePageBytes;
    ::munmap(probe, 2 * kHugePageBytes);
    if (kernel_takes_advice) {
      for (const std::size_t slot : {std::size_t{0}, std::size_t{1024}}) {
        const auto start = reinterpret_cast<std::uintptr_t>(big.block_of(slot));
        const auto page = (start + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;  // inside the block
        const std::string flags = vm_flags_of(reinterpret_cast<const void*>(page));
        CHECK_MESSAGE(flags.find(" hg") != std::string::npos, flags);
      }
    }
#endif
    RecordArray small(4096, 256, &resource, true);  // 1 MiB blocks: no whole huge page
    CHECK_FALSE(small.huge_page_blocks());
    RecordArray plain(4096, 1024, &resource, false);
    CHECK_FALSE(plain.huge_page_blocks());
  }
  CHECK(resource.in_use() == 0);
  CHECK_FALSE(resource.mismatched());

  // HnswIndex: node blocks of 1024 × (2048 + 128) bytes. Advised only when the index owns its
  // memory; a host's resource (operator new's, given explicitly, included) keeps its own policy.
  const VectorSchema wide{512, ElementType::kFloat32, Metric::kL2};
  HnswIndex<float, metric::L2> own(wide, HnswParams{.m = 16});
  HnswIndex<float, metric::L2> hosted(wide, HnswParams{.m = 16}, Limits{}, std::pmr::new_delete_resource());
  HnswIndex<float, metric::L2> narrow(VectorSchema{16, ElementType::kFloat32, Metric::kL2}, HnswParams{.m = 16});
  CHECK(own.huge_page_nodes());
  CHECK_FALSE(hosted.huge_page_nodes());
  CHECK_FALSE(narrow.huge_page_nodes());
  std::vector<float> v(512, 0.5f);
  own.upsert("a", v);
  v[0] = 2;
  own.upsert("b", v);
  const auto hits = own.search(v, 1);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].key == "b");
}
TEST_CASE("MemoryAccount counts the bytes in use and their peak, and refuses past its limit with a bad_alloc naming it") {
  TestResource host;
  MemoryAccount account(&host, 1000, "index 'idx'");
  void* a = account.allocate(600, 8);
  CHECK(account.in_use() == 600);
  CHECK(host.in_use() == 600);
  try {
    (void)account.allocate(500, 8);
    FAIL("expected MemoryLimitExceeded");
  } catch (const MemoryLimitExceeded& e) {
    const std::string what = e.what();
    CHECK(what.find("index 'idx'") != std::string::npos);
    CHECK(what.find("limit of 1000 bytes") != std::string::npos);
    CHECK(e.requested() == 500);
    CHECK(e.in_use() == 600);
    CHECK(e.limit() == 1000);
  }
  CHECK(runs_out_of_memory([&] { (void)account.allocate(401, 8); }));  // it is a std::bad_alloc
  CHECK(account.refused() == 2);
  CHECK(account.in_use() == 600);  // a refusal takes nothing
  void* b = account.allocate(400, 8);  // exactly up to the limit
  CHECK(account.peak() == 1000);
  account.deallocate(a, 600, 8);
  account.deallocate(b, 400, 8);
  CHECK(account.in_use() == 0);
  CHECK(account.peak() == 1000);
  account.reset_peak();
  CHECK(account.peak() == 0);
  CHECK(host.in_use() == 0);
  CHECK_FALSE(host.mismatched());
}

TEST_CASE("chained accounts: an index account charges the module account, and either limit refuses") {
  TestResource host;
  MemoryAccount module(&host, 1000, "all indexes");
  MemoryAccount a(&module, 700, "index a"), b(&module, 700, "index b");
  void* p = a.allocate(600, 8);
  CHECK(module.in_use() == 600);
  try {
    (void)b.allocate(500, 8);  // within b's limit, past the module's
    FAIL("expected MemoryLimitExceeded");
  } catch (const MemoryLimitExceeded& e) {
    CHECK(std::string(e.what()).find("all indexes") != std::string::npos);
  }
  CHECK(b.in_use() == 0);  // the refusal upstream took nothing here either
  CHECK(runs_out_of_memory([&] { (void)a.allocate(200, 8); }));  // within the module's, past a's
  void* q = b.allocate(400, 8);
  CHECK(module.in_use() == 1000);
  a.deallocate(p, 600, 8);
  b.deallocate(q, 400, 8);
  CHECK(module.in_use() == 0);
  CHECK(host.in_use() == 0);
}

TEST_CASE("the uncapped view of an account charges it and its parents but is never refused") {
  MemoryAccount module(nullptr, 100, "module");
  MemoryAccount index(&module, 50, "index");
  std::pmr::memory_resource* bookkeeping = uncapped(&index);
  CHECK(bookkeeping == index.uncapped());
  void* p = bookkeeping->allocate(300, 8);
  CHECK(index.in_use() == 300);
  CHECK(module.in_use() == 300);
  CHECK(runs_out_of_memory([&] { (void)index.allocate(1, 1); }));  // now over: capped ones are refused
  bookkeeping->deallocate(p, 300, 8);
  CHECK(module.in_use() == 0);
  CHECK(uncapped(std::pmr::new_delete_resource()) == std::pmr::new_delete_resource());
}

namespace {
std::size_t malloc_calls = 0;
void* counting_malloc(std::size_t n) {
  ++malloc_calls;
  return std::malloc(n);
}
}  // namespace

TEST_CASE("MallocResource serves an index from malloc-style functions, 64-byte aligned blocks included") {
  MallocResource host(counting_malloc, std::free);
  MemoryAccount account(&host);
  std::mt19937 rng(1);
  {
    HnswL2 index(VectorSchema{16}, {.m = 4, .ef_construction = 16, .block_size = 8}, {}, &account);
    for (int i = 0; i < 100; ++i) index.upsert(key_of(i), random_vector(rng, 16));
    CHECK(index.memory_bytes() == account.in_use());
    CHECK(index.search(random_vector(rng, 16), 5).size() == 5);
    for (int i = 0; i < 100; i += 3) index.erase(key_of(i));
    index.compact();
    CHECK(index.memory_bytes() == account.in_use());
  }
  CHECK(malloc_calls > 0);
  CHECK(account.in_use() == 0);
  void* p = host.allocate(100, 256);
  CHECK(reinterpret_cast<std::uintptr_t>(p) % 256 == 0);
  host.deallocate(p, 100, 256);
}

// ---- memory_bytes() is what the resource holds --------------------------------------------------

TEST_CASE_TEMPLATE("FlatIndex::memory_bytes() equals what its resource holds, after inserts, erases, compact, clear and a load",
                   Index, FlatL2, FlatCos) {
  TestResource host;
  std::mt19937 rng(2);
  const VectorSchema schema{12, ElementType::kFloat32, Index::Metric::kind};
  Index index(schema, {.initial_cap = 1000000, .block_size = 16}, {}, &host);
  CHECK(host.in_use() == 0);  // nothing until the first insert, whatever INITIAL_CAP says
  for (int i = 0; i < 300; ++i) index.upsert(key_of(i), random_vector(rng, 12));
  CHECK(index.memory_bytes() == host.in_use());
  for (int i = 0; i < 300; i += 2) index.erase(key_of(i));
  CHECK(index.memory_bytes() == host.in_use());
  for (int i = 300; i < 350; ++i) index.upsert(key_of(i), random_vector(rng, 12));
  CHECK(index.memory_bytes() == host.in_use());
  const std::size_t before = index.memory_bytes();
  index.compact();
  CHECK(index.memory_bytes() == host.in_use());
  CHECK(index.memory_bytes() < before);
  MemorySerializer out;
  save(index, out);
  {
    TestResource other;
    LoadOptions options;
    options.memory = &other;
    MemoryDeserializer in(out.bytes());
    auto loaded = load_flat<typename Index::Metric>(in, options);
    CHECK(loaded->memory_bytes() == other.in_use());
    CHECK(loaded->memory_resource() == &other);
    CHECK(loaded->size() == index.size());
    loaded.reset();
    CHECK(other.in_use() == 0);
  }
  index.clear();
  CHECK(index.memory_bytes() == 0);
  CHECK(host.in_use() == 0);
  CHECK_FALSE(host.mismatched());
}

TEST_CASE_TEMPLATE("HnswIndex::memory_bytes() equals what its resource holds, and memory_breakdown() splits exactly that",
                   Index, HnswL2, HnswCos) {
  TestResource host;
  std::mt19937 rng(3);
  const VectorSchema schema{12, ElementType::kFloat32, Index::Metric::kind};
  Index index(schema, {.m = 4, .ef_construction = 24, .initial_cap = 1000000, .block_size = 16}, {}, &host);
  CHECK(host.in_use() == 0);
  auto check = [&] {
    CHECK(index.memory_bytes() == host.in_use());
    const HnswMemory m = index.memory_breakdown();
    CHECK(m.total() == index.memory_bytes());
    CHECK(m.vectors >= index.size() * 12 * sizeof(float));
  };
  for (int i = 0; i < 300; ++i) index.upsert(key_of(i), random_vector(rng, 12));
  check();
  std::vector<std::string> keys;
  std::vector<std::vector<float>> vectors;
  for (int i = 300; i < 500; ++i) keys.push_back(key_of(i)), vectors.push_back(random_vector(rng, 12));
  std::vector<typename Index::BatchItem> items;
  for (std::size_t i = 0; i < keys.size(); ++i) items.emplace_back(keys[i], vectors[i]);
  index.insert_batch(items, 2);
  check();
  for (int i = 0; i < 500; i += 3) index.erase(key_of(i));  // tombstones, then sweeps
  check();
  for (int i = 1; i < 100; i += 3) index.upsert(key_of(i), random_vector(rng, 12));  // replacements
  check();
  index.compact();
  check();
  MemorySerializer out;
  save(index, out);
  {
    TestResource other;
    LoadOptions options;
    options.memory = &other;
    MemoryDeserializer in(out.bytes());
    auto loaded = load_hnsw<typename Index::Metric>(in, options);
    CHECK(loaded->memory_bytes() == other.in_use());
    loaded.reset();
    CHECK(other.in_use() == 0);
  }
  index.clear();
  CHECK(index.memory_bytes() == 0);
  CHECK(host.in_use() == 0);
  CHECK_FALSE(host.mismatched());
}

namespace {
IndexDefinition keyspace_definition() {
  return {{"doc:"}, "vec", {{"genre", AttributeType::kTag}, {"year", AttributeType::kNumeric}}};
}
FieldMap doc_fields(std::mt19937& rng, std::uint32_t dim) {
  static const char* genres[] = {"jazz", "rock", "pop,jazz", "folk, rock, blues"};
  FieldMap f;
  f["vec"] = to_float32_blob(random_vector(rng, dim));
  f["genre"] = genres[rng() % 4];
  f["year"] = std::to_string(1950 + rng() % 70);
  return f;
}
std::string doc_key(int i) { return i % 2 ? "doc:" + std::to_string(i) : "doc:a long key, out of line, #" + std::to_string(i); }
}  // namespace

TEST_CASE_TEMPLATE("KeyspaceIndex::memory_bytes() is what the resource holds for vectors, attributes and bookkeeping",
                   Index, FlatL2, HnswL2) {
  TestResource host;
  std::mt19937 rng(4);
  MemorySource source;
  for (int i = 0; i < 200; ++i) source.set(doc_key(i), doc_fields(rng, 8));
  source.set("doc:bad", {{"vec", "short"}, {"year", "1999"}});  // a failing key: bookkeeping
  KeyspaceIndex<Index> ks(keyspace_definition(), source, std::make_unique<Index>(VectorSchema{8}, small_blocks<Index>(), Limits{}, &host));
  auto check = [&] {
    CHECK(ks.memory_bytes() == host.in_use());
    const KeyspaceMemory m = ks.memory_breakdown();
    CHECK(m.index == ks.index().memory_bytes());
    CHECK(m.total() == ks.memory_bytes());
    CHECK(ks.attribute_memory_bytes() == m.attributes + m.bookkeeping);
  };
  ks.start_backfill();
  ks.step(50);
  check();
  while (ks.step(50) == BackfillState::kBackfilling) {}
  check();
  CHECK(ks.memory_breakdown().attributes > 0);
  CHECK(ks.memory_breakdown().bookkeeping > 0);  // the failing key
  for (int i = 0; i < 200; i += 3) {
    source.del(doc_key(i));
    ks.on_delete(doc_key(i));
  }
  for (int i = 1; i < 200; i += 5) {
    source.set(doc_key(i), doc_fields(rng, 8));
    ks.on_write(doc_key(i));
  }
  check();
  ks.start_reconcile();
  ks.step(64);
  const std::size_t mid_scan = ks.memory_breakdown().bookkeeping;  // the keys the reconcile has seen
  check();
  while (ks.step(64) == BackfillState::kBackfilling) {}
  check();
  CHECK(ks.memory_breakdown().bookkeeping < mid_scan);
  MemorySerializer out;
  save(ks, out);
  {
    TestResource other;
    LoadOptions options;
    options.memory = &other;
    MemoryDeserializer in(out.bytes());
    auto loaded = load_keyspace<Index>(in, source, options);
    CHECK(loaded->memory_bytes() == other.in_use());
    CHECK(loaded->size() == ks.size());
    loaded.reset();
    CHECK(other.in_use() == 0);
  }
  CHECK_FALSE(host.mismatched());
}

// ---- lazy capacity and bounded blocks ------------------------------------------------------------

TEST_CASE("INITIAL_CAP 2^32 and one insert allocate one block, not 2^32 slots") {
  const std::size_t cap = std::size_t{1} << 32;
  std::mt19937 rng(5);
  // The key map's first id block (8 KiB) and table, block directories: a few KiB besides the block.
  constexpr std::size_t kSmall = 16 * 1024;
  {
    TestResource host;
    FlatL2 index(VectorSchema{128}, {.initial_cap = cap, .block_size = 1024}, {}, &host);
    index.upsert("doc:1", random_vector(rng, 128));
    CHECK(host.in_use() <= 1024 * 128 * sizeof(float) + kSmall);
    CHECK(index.params().initial_cap == cap);  // kept and reported
  }
  {
    TestResource host;
    HnswL2 index(VectorSchema{128}, {.m = 16, .initial_cap = cap, .block_size = 1024}, {}, &host);
    index.upsert("doc:1", random_vector(rng, 128));
    CHECK(host.in_use() <= 1024 * (128 * sizeof(float) + 32 * sizeof(Id)) + kSmall);
    index.upsert("doc:2", random_vector(rng, 128));
    std::vector<std::vector<float>> v(3, random_vector(rng, 128));
    const std::vector<HnswL2::BatchItem> items{{"a", v[0]}, {"b", v[1]}, {"c", v[2]}};
    index.insert_batch(items, 2);  // a batch reserves for its entries, then gives back what it did not use
    CHECK(host.in_use() <= 1024 * (128 * sizeof(float) + 32 * sizeof(Id)) + kSmall);
  }
}

TEST_CASE("BLOCK_SIZE × entry bytes above Limits::max_block_bytes is clamped to a power of two that fits, reported by params()") {
  Limits limits;
  CHECK(limits.max_block_bytes == 16u << 20);
  CHECK(limits.effective_block_size(1024, 128 * 4) == 1024);         // 512 KiB blocks: as asked
  CHECK(limits.effective_block_size(1024, 32768 * 4) == 128);        // 128 MiB asked: 16 MiB
  CHECK(limits.effective_block_size(1000, 32768 * 4 + 128) == 64);   // HNSW node at DIM 32768, M 16
  CHECK(limits.effective_block_size(7, 1u << 30) == 1);              // at least one entry per block
  std::mt19937 rng(6);
  {
    TestResource host;
    FlatL2 index(VectorSchema{32768}, {}, {}, &host);  // FT.CREATE defaults at the largest DIM
    CHECK(index.params().block_size == 128);
    index.upsert("doc:1", random_vector(rng, 32768));
    CHECK(host.in_use() <= (16u << 20) + 16 * 1024);  // was 128 MiB, zero-filled
  }
  {
    HnswL2 index(VectorSchema{32768}, {}, {});
    CHECK(index.params().block_size == 64);
  }
  Limits small;
  small.max_block_bytes = 4096;
  FlatL2 index(VectorSchema{4}, {.block_size = 1000}, small);
  CHECK(index.params().block_size == 256);
}

TEST_CASE("a snapshot of an index with larger blocks loads, its blocks clamped to the loader's limit") {
  Limits roomy;
  roomy.max_block_bytes = std::uint64_t{1} << 30;
  std::mt19937 rng(7);
  FlatL2 big(VectorSchema{64}, {.block_size = 1024}, roomy);  // 256 KiB blocks
  HnswL2 big_graph(VectorSchema{64}, {.m = 4, .ef_construction = 16, .block_size = 1024}, roomy);
  for (int i = 0; i < 50; ++i) {
    const auto v = random_vector(rng, 64);
    big.upsert(key_of(i), v);
    big_graph.upsert(key_of(i), v);
  }
  MemorySerializer flat_bytes, graph_bytes;
  save(big, flat_bytes);
  save(big_graph, graph_bytes);
  LoadOptions options;
  options.limits.max_block_bytes = 64 * 1024;
  MemoryDeserializer flat_in(flat_bytes.bytes()), graph_in(graph_bytes.bytes());
  auto flat = load_flat<metric::L2>(flat_in, options);
  auto graph = load_hnsw<metric::L2>(graph_in, options);
  CHECK(flat->params().block_size == 256);
  CHECK(graph->params().block_size == 128);  // 64·4 + 8·4 = 288 bytes a node
  const auto q = random_vector(rng, 64);
  CHECK(flat->search(q, 10) == big.search(q, 10));
  // The same keys at the same distances; the snapshot numbered the nodes in graph order.
  vindex_test::check_same_answers(*graph, big_graph, q, 64, {.ef = 50});
}

// ---- running out of memory at any allocation ----------------------------------------------------

TEST_CASE_TEMPLATE("a FlatIndex upsert that fails at any one allocation leaves the index exactly as before and gives back every byte",
                   Index, FlatL2, FlatCos) {
  std::mt19937 rng(8);
  const VectorSchema schema{8, ElementType::kFloat32, Index::Metric::kind};
  for (const int prefill : {0, 16, 17}) {  // empty; 4 full blocks and a full directory; mid-block
    CAPTURE(prefill);
    TestResource host;
    Index index(schema, {.initial_cap = 1u << 20, .block_size = 4}, {}, &host);
    for (int i = 0; i < prefill; ++i) index.upsert(key_of(i), random_vector(rng, 8));
    const auto before = flat_state(index);
    const std::size_t bytes = host.in_use();
    const auto v = random_vector(rng, 8);
    std::size_t n = 1;
    for (;; ++n) {
      host.fail_nth(n);
      const bool failed = runs_out_of_memory([&] { index.upsert("a new key, long enough to be stored apart", v); });
      REQUIRE(failed == host.failed());
      host.fail_nth(0);
      if (!failed) break;
      CHECK(flat_state(index) == before);
      CHECK(host.in_use() == bytes);
    }
    CHECK(n > 1);
    CHECK(index.contains("a new key, long enough to be stored apart"));
    CHECK(index.memory_bytes() == host.in_use());
    CHECK_FALSE(host.mismatched());
  }
}

TEST_CASE_TEMPLATE("an HnswIndex upsert or replace that fails at any one allocation leaves graph, keys and generator exactly as before",
                   Index, HnswL2, HnswCos) {
  std::mt19937 rng(9);
  const VectorSchema schema{8, ElementType::kFloat32, Index::Metric::kind};
  const HnswParams params{.m = 4, .ef_construction = 16, .initial_cap = 1u << 20, .block_size = 16};
  for (const int prefill : {0, 1, 64}) {  // empty; one node; 4 full blocks and a full directory
    for (const bool replace : {false, true}) {
      if (replace && prefill == 0) continue;
      CAPTURE(prefill);
      CAPTURE(replace);
      std::vector<std::vector<float>> vectors;
      for (int i = 0; i < prefill; ++i) vectors.push_back(random_vector(rng, 8));
      TestResource host;
      Index index(schema, params, {}, &host);
      for (int i = 0; i < prefill; ++i) index.upsert(key_of(i), vectors[static_cast<std::size_t>(i)]);
      const GraphState before = graph_state(index);
      const std::size_t bytes = host.in_use();
      const std::string key = replace ? key_of(0) : "a new key, long enough to be stored apart";
      const auto v = random_vector(rng, 8);
      std::size_t n = 1;
      for (;; ++n) {
        host.fail_nth(n);
        const bool failed = runs_out_of_memory([&] { index.upsert(key, v); });
        REQUIRE(failed == host.failed());
        host.fail_nth(0);
        if (!failed) break;
        CHECK(graph_state(index) == before);
        CHECK(host.in_use() == bytes);
      }
      CHECK(n > 1);
      CHECK(index.memory_bytes() == host.in_use());
      // The failed attempts left no trace: the same writes into an index that never failed give the
      // same graph (level generator included) and the same memory.
      TestResource clean_host;
      Index clean(schema, params, {}, &clean_host);
      for (int i = 0; i < prefill; ++i) clean.upsert(key_of(i), vectors[static_cast<std::size_t>(i)]);
      clean.upsert(key, v);
      CHECK(graph_state(index) == graph_state(clean));
      CHECK_FALSE(host.mismatched());
    }
  }
}

TEST_CASE("HnswIndex insert_batch that fails at any one allocation changes nothing; one that fits inserts everything") {
  std::mt19937 rng(10);
  for (const unsigned threads : {1u, 2u}) {
    CAPTURE(threads);
    TestResource host;
    HnswL2 index(VectorSchema{8}, {.m = 4, .ef_construction = 16, .block_size = 16}, {}, &host);
    for (int i = 0; i < 40; ++i) index.upsert(key_of(i), random_vector(rng, 8));
    for (int i = 0; i < 40; i += 4) index.erase(key_of(i));
    // New short and long keys, replacements of live keys, and keys erased before.
    std::vector<std::string> keys;
    std::vector<std::vector<float>> vectors;
    for (int i = 20; i < 70; ++i) keys.push_back(key_of(i)), vectors.push_back(random_vector(rng, 8));
    std::vector<HnswL2::BatchItem> items;
    for (std::size_t i = 0; i < keys.size(); ++i) items.emplace_back(keys[i], vectors[i]);
    const GraphState before = graph_state(index);
    const std::size_t bytes = host.in_use();
    std::size_t n = 1;
    for (;; ++n) {
      host.fail_nth(n);
      const bool failed = runs_out_of_memory([&] { index.insert_batch(items, threads); });
      REQUIRE(failed == host.failed());
      host.fail_nth(0);
      if (!failed) break;
      CHECK(graph_state(index) == before);
      CHECK(host.in_use() == bytes);
    }
    CHECK(n > 1);
    for (std::size_t i = 0; i < keys.size(); ++i) CHECK(index.get_vector(keys[i]) == vectors[i]);
    CHECK(index.memory_bytes() == host.in_use());
    CHECK_FALSE(host.mismatched());
  }
}

TEST_CASE("HnswIndex try_upsert_blobs under a limit inserts what fits and reports the rest as kOutOfMemory") {
  std::mt19937 rng(11);
  MemoryAccount account(nullptr, 48 * 1024, "index");
  HnswL2 index(VectorSchema{16}, {.m = 4, .ef_construction = 16, .block_size = 32}, {}, &account);
  std::vector<std::string> keys, blobs;
  for (int i = 0; i < 400; ++i) keys.push_back(key_of(i)), blobs.push_back(to_float32_blob(random_vector(rng, 16)));
  std::vector<HnswL2::BlobItem> items;
  for (std::size_t i = 0; i < keys.size(); ++i) items.emplace_back(keys[i], blobs[i]);
  std::vector<UpsertResult> results(items.size());
  auto spawn = [](std::function<void()> task) { std::thread(std::move(task)).detach(); };
  index.try_upsert_blobs(items, results, 2, spawn);
  std::size_t inserted = 0, refused = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (results[i].outcome == UpsertOutcome::kInserted) {
      ++inserted;
      CHECK(index.contains(keys[i]));
    } else {
      REQUIRE(results[i].outcome == UpsertOutcome::kOutOfMemory);
      ++refused;
      CHECK_FALSE(index.contains(keys[i]));
    }
  }
  CHECK(inserted > 0);
  CHECK(refused > 0);
  CHECK(index.size() == inserted);
  CHECK(index.memory_bytes() == account.in_use());
  CHECK(account.in_use() <= account.limit());
  CHECK(index.search(random_vector(rng, 16), 5).size() == 5);
  index.clear();
  CHECK(account.in_use() == 0);
}

TEST_CASE("a limit per index and one shared by all indexes: inserts past either are refused, the index unchanged, erases still work") {
  std::mt19937 rng(12);
  MemoryAccount module(nullptr, 200 * 1024, "all indexes");
  MemoryAccount a_account(&module, 150 * 1024, "index 'a'"), b_account(&module, 150 * 1024, "index 'b'");
  FlatL2 a(VectorSchema{32}, {.block_size = 64}, {}, &a_account);
  HnswL2 b(VectorSchema{32}, {.m = 8, .ef_construction = 16, .block_size = 64}, {}, &b_account);
  int i = 0;
  std::string refusal;
  for (;; ++i) {
    const auto state = flat_state(a);
    try {
      a.upsert(key_of(i), random_vector(rng, 32));
    } catch (const MemoryLimitExceeded& e) {
      refusal = e.what();
      CHECK(flat_state(a) == state);
      break;
    }
  }
  CHECK(refusal.find("index 'a'") != std::string::npos);
  CHECK(a.memory_bytes() <= 150 * 1024);
  CHECK(a.memory_bytes() == a_account.in_use());
  // b fits its own limit but not what is left of the module's.
  for (int j = 0;; ++j) {
    const GraphState state = graph_state(b);
    try {
      b.upsert(key_of(j), random_vector(rng, 32));
    } catch (const MemoryLimitExceeded& e) {
      CHECK(std::string(e.what()).find("all indexes") != std::string::npos);
      CHECK(graph_state(b) == state);
      break;
    }
  }
  CHECK(module.in_use() == a.memory_bytes() + b.memory_bytes());
  CHECK(module.in_use() <= module.limit());
  // At the limit, erasing works (HNSW tombstones are charged uncapped) and frees room after compact.
  for (int j = 0; j < i; j += 2) CHECK(a.erase(key_of(j)));
  for (int j = 0; j < static_cast<int>(b.size()); j += 2) b.erase(key_of(j));
  a.compact();
  b.compact();
  a.upsert("fits again", random_vector(rng, 32));
  b.upsert("fits again", random_vector(rng, 32));
}

// ---- the keyspace: out of memory is a failure of the key ------------------------------------------

namespace {
template <class Index>
struct KeyspaceFixture {
  TestResource host;
  MemorySource source;
  std::unique_ptr<KeyspaceIndex<Index>> ks;
  KeyspaceFixture(std::mt19937& rng, int docs, decltype(small_blocks<Index>()) params) {
    for (int i = 0; i < docs; ++i) source.set(doc_key(i), doc_fields(rng, 8));
    ks = std::make_unique<KeyspaceIndex<Index>>(keyspace_definition(), source,
                                                std::make_unique<Index>(VectorSchema{8}, params, Limits{}, &host));
  }
};

// What a keyspace index shows: its state (attributes, failures, scan), its vectors, its memory split.
template <class Index>
auto keyspace_state(const KeyspaceIndex<Index>& ks) {
  KeyspaceState s = ks.export_state();
  std::map<std::string, std::vector<float>> vectors;
  ks.index().for_each([&](KeyView key, Id, std::span<const float> v) { vectors[std::string(key)].assign(v.begin(), v.end()); });
  const KeyspaceMemory m = ks.memory_breakdown();
  return std::tuple(s.attributes, s.failing, s.failure_events, s.checkpoint, vectors, m.index, m.attributes);
}
}  // namespace

TEST_CASE_TEMPLATE("a keyspace write that fails at any one allocation is a kOutOfMemory failure of that key, and changes nothing else",
                   Index, FlatL2, HnswL2) {
  std::mt19937 rng(13);
  const auto params = small_blocks<Index>();
  for (const bool replace : {false, true}) {
    CAPTURE(replace);
    KeyspaceFixture<Index> f(rng, 24, params);
    f.ks->start_backfill();
    while (f.ks->step(100) == BackfillState::kBackfilling) {}
    const std::string key = replace ? doc_key(3) : doc_key(1001);
    const FieldMap fields = doc_fields(rng, 8);
    f.source.set(key, fields);
    auto before = keyspace_state(*f.ks);
    std::size_t n = 1;
    for (;; ++n) {
      f.host.fail_nth(n);
      const EntryOutcome outcome = f.ks->on_write(key);
      const bool failed = f.host.failed();
      f.host.fail_nth(0);
      if (!failed) {
        CHECK((outcome == EntryOutcome::kInserted || (replace && n == 1 && outcome == EntryOutcome::kUpdated)));
        break;
      }
      REQUIRE(outcome == EntryOutcome::kFailed);
      CHECK(f.ks->failure_of(key) == IndexingFailure::kOutOfMemory);
      CHECK(f.ks->failures()[IndexingFailure::kOutOfMemory] == 1);
      CHECK(f.ks->failure_events()[IndexingFailure::kOutOfMemory] == n);
      CHECK_FALSE(f.ks->contains(key));
      CHECK(f.ks->memory_bytes() == f.host.in_use());
      // Everything but this key is as it was; a new key leaves no trace in the vector and
      // attribute indexes (the failure record is bookkeeping).
      auto after = keyspace_state(*f.ks);
      auto& [attributes, failing, events, checkpoint, vectors, index_bytes, attribute_bytes] = after;
      auto& [attributes0, failing0, events0, checkpoint0, vectors0, index_bytes0, attribute_bytes0] = before;
      CHECK(checkpoint == checkpoint0);
      if (!replace) {
        CHECK(attributes == attributes0);
        CHECK(vectors == vectors0);
        CHECK(index_bytes == index_bytes0);
        CHECK(attribute_bytes == attribute_bytes0);
      } else {
        vectors0.erase(key);  // a failing key is not indexed: its old vector and attributes are gone
        std::erase_if(attributes0, [&](const auto& row) { return row.first == key; });
        CHECK(attributes == attributes0);
        CHECK(vectors == vectors0);
        before = keyspace_state(*f.ks);  // the next attempts start from here
      }
    }
    CHECK(n > 1);
    CHECK(f.ks->contains(key));
    CHECK_FALSE(f.ks->failure_of(key).has_value());
    CHECK(f.ks->failures().total() == 0);
    CHECK(f.ks->memory_bytes() == f.host.in_use());
    CHECK_FALSE(f.host.mismatched());
  }
}

TEST_CASE_TEMPLATE("a backfill step that fails at any one allocation fails only that key, and equals a backfill without it",
                   Index, FlatL2, HnswL2) {
  std::mt19937 rng(14);
  const auto params = small_blocks<Index>();
  constexpr int kDocs = 20;
  std::size_t n = 1;
  for (;; ++n) {
    CAPTURE(n);
    KeyspaceFixture<Index> f(rng, kDocs, params);
    f.ks->start_backfill();
    f.host.fail_nth(n);
    const BackfillState state = f.ks->step(kDocs + 1);
    const bool failed = f.host.failed();
    f.host.fail_nth(0);
    REQUIRE(state == BackfillState::kReady);  // never a failed scan
    if (!failed) break;
    REQUIRE(f.ks->failures()[IndexingFailure::kOutOfMemory] == 1);
    std::string lost;
    f.source.for_each([&](const std::string& key, const FieldMap&) {
      if (f.ks->failure_of(key)) lost = key;
    });
    REQUIRE(!lost.empty());
    CHECK(f.ks->size() == kDocs - 1);
    CHECK(f.ks->memory_bytes() == f.host.in_use());
    // A backfill of the same keyspace without that key builds the same index, memory included.
    MemorySource without;
    f.source.for_each([&](const std::string& key, const FieldMap& fields) {
      if (key != lost) without.set(key, fields);
    });
    TestResource clean_host;
    KeyspaceIndex<Index> clean(keyspace_definition(), without,
                               std::make_unique<Index>(VectorSchema{8}, params, Limits{}, &clean_host));
    clean.start_backfill();
    while (clean.step(kDocs) == BackfillState::kBackfilling) {}
    const auto [attributes, failing, events, checkpoint, vectors, index_bytes, attribute_bytes] = keyspace_state(*f.ks);
    const auto [attributes0, failing0, events0, checkpoint0, vectors0, index_bytes0, attribute_bytes0] = keyspace_state(clean);
    CHECK(attributes == attributes0);
    CHECK(vectors == vectors0);
    CHECK(index_bytes == index_bytes0);
    CHECK(attribute_bytes == attribute_bytes0);
    if constexpr (std::is_same_v<Index, HnswL2>) {
      GraphState a = graph_state(f.ks->index()), b = graph_state(clean.index());
      CHECK(a.nodes == b.nodes);  // the same graph: a failed key left no trace, not even in the levels
    }
    // Writing the key again once memory is there indexes it.
    CHECK(f.ks->on_write(lost) == EntryOutcome::kInserted);
    CHECK(f.ks->failures().total() == 0);
  }
  CHECK(n > 10);
}

TEST_CASE("a multi-threaded HNSW step under a limit: keys that do not fit fail as kOutOfMemory, the scan completes, memory is exact") {
  std::mt19937 rng(15);
  MemorySource source;
  for (int i = 0; i < 300; ++i) source.set(doc_key(i), doc_fields(rng, 8));
  MemoryAccount account(nullptr, 64 * 1024, "index");
  KeyspaceIndex<HnswL2> ks(keyspace_definition(), source,
                           std::make_unique<HnswL2>(VectorSchema{8}, HnswParams{.m = 4, .ef_construction = 16, .block_size = 32},
                                                    Limits{}, &account));
  Executor executor = [](std::function<void()> task) { std::thread(std::move(task)).detach(); };
  ks.start_backfill();
  while (ks.step(64, executor, 2) == BackfillState::kBackfilling) {}
  CHECK(ks.state() == BackfillState::kReady);
  const std::size_t failing = ks.failures()[IndexingFailure::kOutOfMemory];
  CHECK(failing > 0);
  CHECK(ks.size() + failing == 300);
  CHECK(ks.memory_bytes() == account.in_use());
  source.for_each([&](const std::string& key, const FieldMap&) {
    CHECK((ks.contains(key) != ks.failure_of(key).has_value()));
  });
  // Deletes work at the limit; afterwards, with room again, the failing keys go in on their next write.
  for (int i = 0; i < 300; i += 2) {
    source.del(doc_key(i));
    ks.on_delete(doc_key(i));
  }
  account.set_limit(MemoryAccount::kUnlimited);
  for (int i = 1; i < 300; i += 2) ks.on_write(doc_key(i));
  CHECK(ks.failures().total() == 0);
  CHECK(ks.size() == 150);
  CHECK(ks.memory_bytes() == account.in_use());
}

// ---- snapshot loads ------------------------------------------------------------------------------

TEST_CASE("a snapshot load that fails at any one allocation, or at a limit, builds nothing and gives back every byte") {
  std::mt19937 rng(16);
  MemorySource source;
  for (int i = 0; i < 30; ++i) source.set(doc_key(i), doc_fields(rng, 8));
  KeyspaceIndex<HnswL2> ks(keyspace_definition(), source,
                           std::make_unique<HnswL2>(VectorSchema{8}, HnswParams{.m = 4, .ef_construction = 16, .block_size = 8}));
  ks.start_backfill();
  while (ks.step(100) == BackfillState::kBackfilling) {}
  MemorySerializer out;
  save(ks, out);
  TestResource host;
  LoadOptions options;
  options.memory = &host;
  std::size_t n = 1;
  for (;; ++n) {
    host.fail_nth(n);
    MemoryDeserializer in(out.bytes());
    std::unique_ptr<KeyspaceIndex<HnswL2>> loaded;
    const bool failed = runs_out_of_memory([&] { loaded = load_keyspace<HnswL2>(in, source, options); });
    REQUIRE(failed == host.failed());
    host.fail_nth(0);
    if (!failed) {
      CHECK(loaded->size() == ks.size());
      CHECK(loaded->memory_bytes() == host.in_use());
      break;
    }
    CHECK(host.in_use() == 0);
  }
  CHECK(n > 10);
  MemoryAccount small(nullptr, 4096, "index");
  options.memory = &small;
  MemoryDeserializer in(out.bytes());
  CHECK_THROWS_AS(load_keyspace<HnswL2>(in, source, options), MemoryLimitExceeded);
  CHECK(small.in_use() == 0);
  CHECK_FALSE(host.mismatched());
}
