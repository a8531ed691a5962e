// examples/redis_module/expiry.cpp — the TTL tracker and the liveness check.
#include "expiry.hpp"

#include "index_registry.hpp"

namespace vindex_redis {

ExpiryTracker& expiring_keys() {
  static ExpiryTracker tracker;
  return tracker;
}

void note_key_ttl(std::string_view key, long long ttl_ms) {
  ExpiryTracker& tracker = expiring_keys();
  if (ttl_ms == rm::kNoExpire) {
    tracker.forget(key);
    return;
  }
  for (const auto& [name, entry] : registry().all()) {
    if (entry.spec.definition.matches_key(key)) {
      tracker.note(key, rm::Milliseconds() + ttl_ms);
      return;
    }
  }
}

void refresh_key_ttl(rm::Ctx* ctx, std::string_view key) {
  rm::String* name = rm::CreateString(ctx, key.data(), key.size());
  auto* open = static_cast<rm::Key*>(rm::OpenKey(ctx, name, rm::kRead | rm::kOpenKeyNoTouch));
  note_key_ttl(key, open && rm::KeyType(open) == rm::kKeyTypeHash ? rm::GetExpire(open) : rm::kNoExpire);
  if (open) rm::CloseKey(open);
  rm::FreeString(ctx, name);
}

bool key_alive(rm::Ctx* ctx, std::string_view key) {
  rm::String* name = rm::CreateString(ctx, key.data(), key.size());
  auto* open = static_cast<rm::Key*>(rm::OpenKey(ctx, name, rm::kRead | rm::kOpenKeyNoTouch));
  const bool alive = open != nullptr && rm::KeyType(open) != rm::kKeyTypeEmpty;
  if (open) rm::CloseKey(open);
  rm::FreeString(ctx, name);
  return alive;
}

}  // namespace vindex_redis
