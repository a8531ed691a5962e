// examples/redis_module/events.hpp — keyspace and server events that keep the indexes current.
//
// Keyspace events (hash writes, DEL, UNLINK, expiry, eviction, RENAME, type changes) become
// vindex's `on_write` / `on_delete` hooks for every index whose prefixes match the key (database 0
// only). FLUSHALL / FLUSHDB empties every index, and a SWAPDB involving database 0 rebuilds every
// index from the keys db 0 holds after the swap; RDB and AOF loading pause the hooks, and when
// loading ends every index reconciles against the loaded keyspace. Main thread only.
// Next: persistence.hpp.
#pragma once

#include "module_api.hpp"

namespace vindex_redis {

/// Subscribes to the events; false when the server refused.
bool subscribe_events(rm::Ctx* ctx);

}  // namespace vindex_redis
