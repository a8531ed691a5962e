// examples/redis_module/events.cpp — from server notifications to vindex hooks.
#include "events.hpp"

#include <cstring>
#include <string_view>

#include "cluster.hpp"
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
  reg.key_changed(ctx, std::string_view(data, length), is_removal(event));
  return rm::kOk;
}

void on_flush(rm::Ctx* ctx, rm::Event, std::uint64_t subevent, void* data) {
  if (subevent != rm::kSubeventFlushDbStart) return;
  const auto* info = static_cast<const rm::FlushInfo*>(data);
  if (info && info->dbnum != -1 && info->dbnum != 0) return;  // another database
  registry().reset_all();
  registry().schedule(ctx);
}

void on_loading(rm::Ctx* ctx, rm::Event, std::uint64_t subevent, void*) {
  switch (subevent) {
    case rm::kSubeventLoadingRdbStart:
    case rm::kSubeventLoadingAofStart:
    case rm::kSubeventLoadingReplStart: registry().loading_started(); break;
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
         rm::SubscribeToServerEvent(ctx, rm::kEventLoading, on_loading) == rm::kOk;
}

}  // namespace vindex_redis
