// examples/redis_module/events.cpp — from server notifications to vindex hooks.
#include "events.hpp"

#include <cstring>
#include <string_view>

#include "cluster.hpp"
#include "expiry.hpp"
#include "index_registry.hpp"
#include "redis_source.hpp"

namespace vindex_redis {
namespace {

// Events after which the key no longer exists (under this name).
bool is_removal(std::string_view event) {
  return event == "del" || event == "expired" || event == "evicted" || event == "rename_from" ||
         event == "move_from";
}

int on_keyspace_event(rm::Ctx* ctx, int, const char* event, rm::String* key) {
  Registry& reg = registry();
  if (reg.loading() || reg.all().empty() || rm::GetSelectedDb(ctx) != 0) return rm::kOk;
  std::size_t length = 0;
  const char* data = rm::StringPtrLen(key, &length);
  const std::string_view name(data, length);
  const std::string_view what(event);
  // EXPIRE / PERSIST (and GETEX, SET … KEEPTTL's relatives) change only the TTL: nothing an index
  // holds, so only the expiry tracker learns of it. Re-writing the key into an HNSW index would
  // re-link it: 20,000 PERSISTs made KNN 10 four times slower.
  if (what == "expire" || what == "persist") {
    refresh_key_ttl(ctx, name);
    return rm::kOk;
  }
  const bool removal = is_removal(event);
  if (removal) expiring_keys().forget(name);
  reg.key_changed(ctx, name, removal);
  return rm::kOk;
}

void on_flush(rm::Ctx* ctx, rm::Event, std::uint64_t subevent, void* data) {
  if (subevent != rm::kSubeventFlushDbStart) return;
  const auto* info = static_cast<const rm::FlushInfo*>(data);
  if (info && info->dbnum != -1 && info->dbnum != 0) return;  // another database
  expiring_keys().clear();
  registry().reset_all();
  registry().schedule(ctx);
}

// SWAPDB 0 n (after the swap): database 0 now holds other keys. Every index is rebuilt from them by
// a backfill, like after a flush; until it completes, queries see the keys scanned so far, and never
// a key of the database that moved away.
void on_swapdb(rm::Ctx* ctx, rm::Event, std::uint64_t, void* data) {
  const auto* info = static_cast<const rm::SwapDbInfo*>(data);
  if (!info || info->dbnum_first == info->dbnum_second || (info->dbnum_first != 0 && info->dbnum_second != 0))
    return;
  expiring_keys().clear();
  registry().reset_all();
  registry().schedule(ctx);
}

void on_loading(rm::Ctx* ctx, rm::Event, std::uint64_t subevent, void*) {
  switch (subevent) {
    case rm::kSubeventLoadingRdbStart:
    case rm::kSubeventLoadingAofStart:
    case rm::kSubeventLoadingReplStart:
      expiring_keys().clear();
      registry().loading_started();
      break;
    case rm::kSubeventLoadingEnded:
    case rm::kSubeventLoadingFailed:
      registry().loading_ended(ctx);
      cluster_loading_ended(ctx);
      break;
    default: break;
  }
}

}  // namespace

bool subscribe_events(rm::Ctx* ctx) {
  const int types = rm::kNotifyGeneric | rm::kNotifyString | rm::kNotifyList | rm::kNotifySet |
                    rm::kNotifyHash | rm::kNotifyZset | rm::kNotifyExpired | rm::kNotifyEvicted |
                    rm::kNotifyStream | rm::kNotifyModule;
  return rm::SubscribeToKeyspaceEvents(ctx, types, on_keyspace_event) == rm::kOk &&
         rm::SubscribeToServerEvent(ctx, rm::kEventFlushDb, on_flush) == rm::kOk &&
         rm::SubscribeToServerEvent(ctx, rm::kEventLoading, on_loading) == rm::kOk &&
         rm::SubscribeToServerEvent(ctx, rm::kEventSwapDb, on_swapdb) == rm::kOk;
}

}  // namespace vindex_redis
