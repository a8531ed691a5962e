// examples/redis_module/persistence.hpp — the indexes in the RDB, through RDB aux data.
//
// Before the keyspace section of every RDB (and of an AOF's RDB preamble) the module writes, for each
// index, its FT.CREATE arguments and a vindex snapshot of its vectors, streamed through vindex's
// Serializer in bounded chunks. On load it rebuilds each index from them (vindex validates the
// snapshot before trusting it) and, once the keyspace has loaded, reconciles it against the keys.
// An index whose snapshot cannot be read is rebuilt by a backfill instead. Main thread only.
// Next: module.cpp.
#pragma once

#include "module_api.hpp"

namespace vindex_redis {

/// Registers the aux data type; false when the server refused.
bool register_persistence(rm::Ctx* ctx);

}  // namespace vindex_redis
