// examples/redis_module/persistence.hpp — the indexes in the RDB, through RDB aux data.
//
// Before the keyspace section of every RDB (and of an AOF's RDB preamble) the module writes, for each
// index, its FT.CREATE arguments and a vindex keyspace snapshot (vectors, HNSW graph, TAG/NUMERIC
// values, failing keys and counters), streamed through vindex's Serializer in bounded chunks. On load
// it restores each index from them without re-inserting anything (vindex validates the snapshot
// before trusting it) and, once the keyspace has loaded (RDB, or AOF preamble plus command tail),
// reconciles it against the keys. An index whose snapshot cannot be used (damaged, truncated, newer
// format, other definition) keeps its definition, logs a warning and is rebuilt by a backfill; the
// outcome shows in FT.INFO (snapshot_loaded, snapshot_load_error, reconcile_*). Main thread only.
// Next: module.cpp.
#pragma once

#include "module_api.hpp"

namespace vindex_redis {

/// Registers the aux data type; false when the server refused.
bool register_persistence(rm::Ctx* ctx);

}  // namespace vindex_redis
