// examples/redis_module/module.cpp — the module's entry point.
//
// `redis-server --loadmodule vindex_redis.so` calls RedisModule_OnLoad: it binds the module API,
// registers the vindex.* configs and the FT.* commands, subscribes to keyspace and server events,
// and registers the auxiliary RDB data type that carries the indexes across restarts.
#include "cluster.hpp"
#include "acl.hpp"
#include "commands.hpp"
#include "events.hpp"
#include "module_api.hpp"
#include "module_api_cluster.hpp"
#include "module_config.hpp"
#include "persistence.hpp"

extern "C" __attribute__((visibility("default"))) int RedisModule_OnLoad(RedisModuleCtx* ctx, RedisModuleString**, int) {
  if (!rm::init(ctx, "vindex", 1) || !rm::init_cluster_api()) return rm::kErr;
  if (!vindex_redis::register_config(ctx)) return rm::kErr;
  if (!vindex_redis::register_persistence(ctx)) {
    rm::Log(ctx, "warning", "vindex: could not register the RDB aux data type");
    return rm::kErr;
  }
  if (!vindex_redis::register_commands(ctx)) return rm::kErr;
  if (!vindex_redis::register_acl(ctx)) return rm::kErr;
  if (!vindex_redis::subscribe_events(ctx)) return rm::kErr;
  if (!vindex_redis::register_cluster(ctx)) {
    rm::Log(ctx, "warning", "vindex: could not set up cluster mode");
    return rm::kErr;
  }
  return rm::kOk;
}
