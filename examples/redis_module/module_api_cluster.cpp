// examples/redis_module/module_api_cluster.cpp — definitions of the cluster API pointers.
#include "module_api_cluster.hpp"

namespace rm {

BlockedClient* (*BlockClient)(Ctx*, CommandFunc, CommandFunc, FreePrivdataFunc, long long) = nullptr;
int (*UnblockClient)(BlockedClient*, void*) = nullptr;
void* (*GetBlockedClientPrivateData)(Ctx*) = nullptr;
BlockedClient* (*GetBlockedClientHandle)(Ctx*) = nullptr;
void (*SetDisconnectCallback)(BlockedClient*, DisconnectFunc) = nullptr;
void (*RegisterClusterMessageReceiver)(Ctx*, std::uint8_t, ClusterMessageReceiver) = nullptr;
int (*SendClusterMessage)(Ctx*, const char*, std::uint8_t, const char*, std::uint32_t) = nullptr;
int (*GetClusterNodeInfo)(Ctx*, const char*, char*, char*, int*, int*) = nullptr;
const char* (*GetMyClusterID)() = nullptr;
std::size_t (*GetClusterSize)() = nullptr;
int (*Replicate)(Ctx*, const char*, const char*, ...) = nullptr;
long long (*CallReplyInteger)(CallReply*) = nullptr;
int (*RegisterInfoFunc)(Ctx*, InfoFunc) = nullptr;
int (*InfoAddSection)(InfoCtx*, const char*) = nullptr;
int (*InfoAddFieldLongLong)(InfoCtx*, const char*, long long) = nullptr;
int (*InfoAddFieldCString)(InfoCtx*, const char*, const char*) = nullptr;
void (*GetRandomBytes)(unsigned char*, std::size_t) = nullptr;

namespace {
template <class F>
bool load(const char* name, F& out) {
  return GetApi(name, reinterpret_cast<void*>(&out)) == kOk && out != nullptr;
}
}  // namespace

bool init_cluster_api() {
  return load("RedisModule_BlockClient", BlockClient) &&
         load("RedisModule_UnblockClient", UnblockClient) &&
         load("RedisModule_GetBlockedClientPrivateData", GetBlockedClientPrivateData) &&
         load("RedisModule_GetBlockedClientHandle", GetBlockedClientHandle) &&
         load("RedisModule_SetDisconnectCallback", SetDisconnectCallback) &&
         load("RedisModule_RegisterClusterMessageReceiver", RegisterClusterMessageReceiver) &&
         load("RedisModule_SendClusterMessage", SendClusterMessage) &&
         load("RedisModule_GetClusterNodeInfo", GetClusterNodeInfo) &&
         load("RedisModule_GetMyClusterID", GetMyClusterID) &&
         load("RedisModule_GetClusterSize", GetClusterSize) && load("RedisModule_Replicate", Replicate) &&
         load("RedisModule_CallReplyInteger", CallReplyInteger) &&
         load("RedisModule_RegisterInfoFunc", RegisterInfoFunc) &&
         load("RedisModule_InfoAddSection", InfoAddSection) &&
         load("RedisModule_InfoAddFieldLongLong", InfoAddFieldLongLong) &&
         load("RedisModule_InfoAddFieldCString", InfoAddFieldCString) &&
         load("RedisModule_GetRandomBytes", GetRandomBytes);
}

}  // namespace rm
