// examples/redis_module/persistence.cpp — RDB aux save/load of every index.
#include "persistence.hpp"

#include <cstddef>
#include <cstdint>
#include <chrono>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include "catalog.hpp"
#include "cluster.hpp"
#include "cluster_catalog.hpp"
#include "index_registry.hpp"
#include "module_memory.hpp"
#include "redis_source.hpp"
#include "vindex/persist/chunked_stream.hpp"

namespace vindex_redis {
namespace {

// Version of the aux layout below (not of vindex's snapshot format, which has its own). Version 2
// (written in cluster mode) appends the cluster catalog: versions and tombstones of every index name.
constexpr std::uint64_t kAuxVersion = 1;
constexpr std::uint64_t kAuxVersionWithCatalog = 2;
// Snapshot bytes go into the RDB as string buffers of at most this size.
constexpr std::size_t kChunkBytes = std::size_t{1} << 20;

rm::Type* g_type = nullptr;

std::string load_string(rm::IO* io) {
  std::size_t length = 0;
  char* data = rm::LoadStringBuffer(io, &length);
  if (!data) return {};
  std::string out(data, length);
  rm::Free(data);
  return out;
}

void save_string(rm::IO* io, std::string_view s) { rm::SaveStringBuffer(io, s.data(), s.size()); }

// Layout, per index: name, argument count, arguments, then the snapshot as a run of
// (1, chunk) pairs closed by 0. An index that cannot be snapshotted writes only the closing 0.
void aux_save(rm::IO* io, int when) {
  if (when != rm::kAuxBeforeRdb) return;
  auto& all = registry().all();
  const bool with_catalog = cluster_mode();
  rm::SaveUnsigned(io, with_catalog ? kAuxVersionWithCatalog : kAuxVersion);
  rm::SaveUnsigned(io, all.size());
  for (auto& [name, entry] : all) {
    save_string(io, name);
    rm::SaveUnsigned(io, entry.spec.arguments.size());
    for (const std::string& argument : entry.spec.arguments) save_string(io, argument);
    try {
      vindex::ChunkedSerializer out(kChunkBytes, [&](std::span<const std::byte> chunk) {
        rm::SaveUnsigned(io, 1);
        rm::SaveStringBuffer(io, reinterpret_cast<const char*>(chunk.data()), chunk.size());
      });
      entry.index->save(out);
      out.finish();
    } catch (const std::exception& e) {
      // Chunks already written stay; the loader then fails to read the snapshot and backfills.
      rm::Log(rm::GetContextFromIO(io), "warning", "vindex: saving index '%s' failed: %s", name.c_str(),
              e.what());
    }
    rm::SaveUnsigned(io, 0);
  }
  if (with_catalog) {
    const auto& entries = node_catalog().entries();
    rm::SaveUnsigned(io, entries.size());
    for (const auto& [name, entry] : entries) {
      BodyWriter w;
      encode_entry(w, entry);
      save_string(io, w.take());
    }
  }
}

int aux_load(rm::IO* io, int, int when) {
  if (when != rm::kAuxBeforeRdb) return rm::kOk;
  rm::Ctx* ctx = rm::GetContextFromIO(io);
  const std::uint64_t version = rm::LoadUnsigned(io);
  if (rm::IsIOError(io)) return rm::kErr;
  if (version != kAuxVersion && version != kAuxVersionWithCatalog) {
    rm::Log(ctx, "warning", "vindex: RDB aux data has version %llu, this module reads %llu and %llu",
            static_cast<unsigned long long>(version), static_cast<unsigned long long>(kAuxVersion),
            static_cast<unsigned long long>(kAuxVersionWithCatalog));
    return rm::kErr;
  }
  Registry& reg = registry();
  reg.clear();
  const std::uint64_t count = rm::LoadUnsigned(io);
  if (rm::IsIOError(io) || count > (1u << 20)) return rm::kErr;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::string name = load_string(io);
    const std::uint64_t nargs = rm::LoadUnsigned(io);
    if (rm::IsIOError(io) || nargs > (1u << 16)) return rm::kErr;
    std::vector<std::string> arguments;
    for (std::uint64_t a = 0; a < nargs; ++a) arguments.push_back(load_string(io));
    if (rm::IsIOError(io)) return rm::kErr;
    IndexEntry entry;
    try {
      entry.spec = parse_create(name, arguments);
    } catch (const std::exception& e) {
      rm::Log(ctx, "warning", "vindex: stored definition of index '%s' is invalid: %s", name.c_str(), e.what());
      return rm::kErr;
    }
    entry.memory = new_index_account(name);
    // Pull chunks lazily so a large snapshot is never held twice.
    bool ended = false;
    std::string chunk;
    std::uint64_t bytes = 0;
    auto next_chunk = [&]() -> std::span<const std::byte> {
      if (ended) return {};
      if (rm::LoadUnsigned(io) == 0 || rm::IsIOError(io)) {
        ended = true;
        return {};
      }
      chunk = load_string(io);
      bytes += chunk.size();
      return std::as_bytes(std::span<const char>(chunk));
    };
    // A snapshot that cannot be used (damaged, truncated, another format version, another
    // definition) costs a backfill, never the index: its definition was read above.
    std::string why;
    const auto started = std::chrono::steady_clock::now();
    try {
      vindex::ChunkedDeserializer in(next_chunk);
      entry.index = load_index(entry.spec, keyspace(), in, entry.memory);
      entry.after_load = AfterLoad::kReconcile;
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (!entry.index && bytes == 0 && ended) why = "no snapshot was saved";
    entry.snapshot.millis =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    while (!ended) next_chunk();  // skip what the loader did not read
    if (rm::IsIOError(io)) return rm::kErr;
    entry.snapshot.attempted = true;
    entry.snapshot.bytes = bytes;
    if (!entry.index) {
      rm::Log(ctx, "warning", "vindex: the snapshot of index '%s' could not be loaded (%s); rebuilding it by a backfill",
              name.c_str(), why.c_str());
      entry.index = make_index(entry.spec, keyspace(), entry.memory);
      entry.after_load = AfterLoad::kBackfill;
      entry.snapshot.loaded = false;
      entry.snapshot.error = why;
    } else {
      entry.snapshot.loaded = true;
      entry.snapshot.expiry_unknown = true;
      rm::Log(ctx, "notice", "vindex: index '%s' loaded from its snapshot (%zu entries, %llu bytes, %.1f ms)",
              name.c_str(), entry.index->size(), static_cast<unsigned long long>(bytes), entry.snapshot.millis);
    }
    reg.add(std::move(entry));
  }
  node_catalog().clear();
  if (version == kAuxVersionWithCatalog) {
    const std::uint64_t entries = rm::LoadUnsigned(io);
    if (rm::IsIOError(io) || entries > (1u << 20)) return rm::kErr;
    for (std::uint64_t i = 0; i < entries; ++i) {
      const std::string bytes = load_string(io);
      if (rm::IsIOError(io)) return rm::kErr;
      try {
        BodyReader in(bytes);
        CatalogEntry e = decode_entry(in);
        in.finish();
        node_catalog().put(std::move(e));
      } catch (const FrameError& e) {
        rm::Log(ctx, "warning", "vindex: a stored catalog entry is invalid: %s", e.what());
        return rm::kErr;
      }
    }
  }
  return rm::kOk;
}

// Redis 7.2+ calls this instead of aux_save: writing nothing when there is no index leaves no module
// data in the RDB, so a server without the module can still load it.
void aux_save_if_any(rm::IO* io, int when) {
  if (!registry().all().empty()) aux_save(io, when);
}

}  // namespace

bool register_persistence(rm::Ctx* ctx) {
  rm::TypeMethods methods{};
  methods.version = rm::kTypeMethodsVersion;
  methods.aux_load = aux_load;
  methods.aux_save = aux_save;
  methods.aux_save2 = aux_save_if_any;
  methods.aux_save_triggers = rm::kAuxBeforeRdb;
  g_type = rm::CreateDataType(ctx, "vindex-ix", 1, &methods);
  if (g_type) rm::SetModuleOptions(ctx, rm::kOptionHandleIoErrors);
  return g_type != nullptr;
}

}  // namespace vindex_redis
