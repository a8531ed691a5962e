// examples/redis_module/module_api_cluster.hpp — the module API cluster mode needs on top of
// module_api.hpp: more context flags, blocked clients, the cluster bus and node table, replication of
// internal commands and INFO sections. Same conventions as
// module_api.hpp (our own declarations, Redis 7.0 ABI values, main thread only); kept apart so the
// single-node module's API list stays as it was. `rm::init_cluster_api` fills the pointers.
// Next: cluster_topology.hpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "module_api.hpp"

extern "C" {
struct RedisModuleBlockedClient;
struct RedisModuleInfoCtx;
}

namespace rm {

using BlockedClient = RedisModuleBlockedClient;
using InfoCtx = RedisModuleInfoCtx;

// GetContextFlags bits.
inline constexpr int kCtxLua = 1 << 0;
inline constexpr int kCtxMulti = 1 << 1;
inline constexpr int kCtxMaster = 1 << 2;
inline constexpr int kCtxSlave = 1 << 3;
inline constexpr int kCtxCluster = 1 << 5;
inline constexpr int kCtxReplicated = 1 << 12;
inline constexpr int kCtxLoading = 1 << 13;
inline constexpr int kCtxDenyBlocking = 1 << 21;

// Cluster node flags (GetClusterNodeInfo) and the node id length.
inline constexpr int kNodeMyself = 1 << 0;
inline constexpr int kNodeMaster = 1 << 1;
inline constexpr int kNodeSlave = 1 << 2;
inline constexpr int kNodePfail = 1 << 3;
inline constexpr int kNodeFail = 1 << 4;
inline constexpr std::size_t kNodeIdLength = 40;

// Call reply type of a null reply.
inline constexpr int kReplyNull = 4;

// Server events used in cluster mode.
inline constexpr Event kEventReplicationRoleChanged{0, 1};

using ClusterMessageReceiver = void (*)(Ctx*, const char* sender_id, std::uint8_t type, const unsigned char* payload,
                                        std::uint32_t length);
using DisconnectFunc = void (*)(Ctx*, BlockedClient*);
using FreePrivdataFunc = void (*)(Ctx*, void*);
using InfoFunc = void (*)(InfoCtx*, int for_crash_report);

extern BlockedClient* (*BlockClient)(Ctx*, CommandFunc reply_callback, CommandFunc timeout_callback,
                                     FreePrivdataFunc free_privdata, long long timeout_ms);
extern int (*UnblockClient)(BlockedClient*, void* privdata);
extern void* (*GetBlockedClientPrivateData)(Ctx*);
extern BlockedClient* (*GetBlockedClientHandle)(Ctx*);
extern void (*SetDisconnectCallback)(BlockedClient*, DisconnectFunc);
extern void (*RegisterClusterMessageReceiver)(Ctx*, std::uint8_t type, ClusterMessageReceiver);
extern int (*SendClusterMessage)(Ctx*, const char* target_id, std::uint8_t type, const char* payload,
                                 std::uint32_t length);
extern int (*GetClusterNodeInfo)(Ctx*, const char* id, char* ip, char* master_id, int* port, int* flags);
extern const char* (*GetMyClusterID)();
extern std::size_t (*GetClusterSize)();
extern int (*Replicate)(Ctx*, const char* command, const char* fmt, ...);
extern long long (*CallReplyInteger)(CallReply*);
extern int (*RegisterInfoFunc)(Ctx*, InfoFunc);
extern int (*InfoAddSection)(InfoCtx*, const char* name);
extern int (*InfoAddFieldLongLong)(InfoCtx*, const char* field, long long value);
extern int (*InfoAddFieldCString)(InfoCtx*, const char* field, const char* value);
extern void (*GetRandomBytes)(unsigned char* out, std::size_t length);

/// Fills the pointers above; false when one is missing (a server older than 7.0).
bool init_cluster_api();

}  // namespace rm
