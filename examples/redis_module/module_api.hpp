// examples/redis_module/module_api.hpp — the slice of the Redis module API this module uses.
//
// Our own declarations, written for this module (not Redis's header): opaque handle types, the
// constants we pass or compare, the callback signatures, the type-methods layout for auxiliary RDB
// data, and one function-pointer variable per API function. `rm::init` fills the pointers through
// the server's `RedisModule_GetApi` (the first word of the context handed to `RedisModule_OnLoad`).
// Values follow the Redis 7.0 module ABI. Everything here is called from the server's main thread
// only. Next: module.cpp (OnLoad), index_registry.hpp (the indexes).
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {
struct RedisModuleCtx;
struct RedisModuleKey;
struct RedisModuleString;
struct RedisModuleCallReply;
struct RedisModuleIO;
struct RedisModuleType;
struct RedisModuleDigest;
struct RedisModuleUser;
struct RedisModuleCommandFilter;
struct RedisModuleCommandFilterCtx;
struct RedisModuleScanCursor;
}

namespace rm {

using Ctx = RedisModuleCtx;
using Key = RedisModuleKey;
using String = RedisModuleString;
using CallReply = RedisModuleCallReply;
using IO = RedisModuleIO;
using Type = RedisModuleType;
using TimerId = std::uint64_t;
using User = RedisModuleUser;
using CommandFilter = RedisModuleCommandFilter;
using CommandFilterCtx = RedisModuleCommandFilterCtx;
using ScanCursor = RedisModuleScanCursor;

// Status codes and the API version.
inline constexpr int kOk = 0;
inline constexpr int kErr = 1;
inline constexpr int kApiVersion1 = 1;

// OpenKey modes, and the 7.0 flag that leaves the key's LRU/LFU untouched.
inline constexpr int kRead = 1 << 0;
inline constexpr int kWrite = 1 << 1;
inline constexpr int kOpenKeyNoTouch = 1 << 16;

// GetExpire's "no TTL".
inline constexpr long long kNoExpire = -1;

// GetContextFlags bits.
inline constexpr int kCtxFlagLua = 1 << 0;
inline constexpr int kCtxFlagMulti = 1 << 1;
inline constexpr int kCtxFlagReplicated = 1 << 12;
inline constexpr int kCtxFlagLoading = 1 << 13;

// Key-spec flags, as ACLCheckKeyPermissions takes them: read access to a key's data.
inline constexpr int kCmdKeyAccess = 1 << 4;

// ACLAddLogEntry reasons.
inline constexpr int kAclLogKey = 2;

// RegisterCommandFilter: do not filter the module's own Call()s.
inline constexpr int kCmdFilterNoSelf = 1 << 0;

// Module config flags (Register*Config): numeric values may be written as memory sizes ("64mb").
inline constexpr unsigned kConfigDefault = 0;
inline constexpr unsigned kConfigMemory = 1u << 7;

// ReplyWithArray length to be set later with ReplySetArrayLength.
inline constexpr long kPostponedArrayLength = -1;

// KeyType results.
inline constexpr int kKeyTypeEmpty = 0;
inline constexpr int kKeyTypeHash = 3;

// HashGet flags: field names given as C strings, or only test existence.
inline constexpr int kHashNone = 0;
inline constexpr int kHashCFields = 1 << 2;

// Call reply types.
inline constexpr int kReplyString = 0;
inline constexpr int kReplyError = 1;
inline constexpr int kReplyInteger = 2;
inline constexpr int kReplyArray = 3;

// Keyspace notification classes (SubscribeToKeyspaceEvents).
inline constexpr int kNotifyGeneric = 1 << 2;
inline constexpr int kNotifyString = 1 << 3;
inline constexpr int kNotifyList = 1 << 4;
inline constexpr int kNotifySet = 1 << 5;
inline constexpr int kNotifyHash = 1 << 6;
inline constexpr int kNotifyZset = 1 << 7;
inline constexpr int kNotifyExpired = 1 << 8;
inline constexpr int kNotifyEvicted = 1 << 9;
inline constexpr int kNotifyStream = 1 << 10;
inline constexpr int kNotifyModule = 1 << 13;

// Aux data triggers and module options.
inline constexpr int kAuxBeforeRdb = 1 << 0;
inline constexpr int kAuxAfterRdb = 1 << 1;
inline constexpr int kOptionHandleIoErrors = 1 << 0;

// Server events (SubscribeToServerEvent) and the sub-events we act on.
struct Event {
  std::uint64_t id;
  std::uint64_t dataver;
};
inline constexpr Event kEventFlushDb{2, 1};
inline constexpr Event kEventLoading{3, 1};
inline constexpr Event kEventSwapDb{11, 1};
/// What a SWAPDB event carries: the two databases swapped.
struct SwapDbInfo {
  std::uint64_t version;
  std::int32_t dbnum_first;
  std::int32_t dbnum_second;
};
inline constexpr std::uint64_t kSubeventFlushDbStart = 0;
/// What a FLUSHDB / FLUSHALL event carries: the database flushed, -1 for all.
struct FlushInfo {
  std::uint64_t version;
  std::int32_t sync;
  std::int32_t dbnum;
};
inline constexpr std::uint64_t kSubeventLoadingRdbStart = 0;
inline constexpr std::uint64_t kSubeventLoadingAofStart = 1;
inline constexpr std::uint64_t kSubeventLoadingReplStart = 2;
inline constexpr std::uint64_t kSubeventLoadingEnded = 3;
inline constexpr std::uint64_t kSubeventLoadingFailed = 4;

// Callback signatures.
using CommandFunc = int (*)(Ctx*, String** argv, int argc);
using NotificationFunc = int (*)(Ctx*, int type, const char* event, String* key);
using TimerProc = void (*)(Ctx*, void* data);
using EventCallback = void (*)(Ctx*, Event event, std::uint64_t subevent, void* data);
using AuxLoadFunc = int (*)(IO*, int encver, int when);
using AuxSaveFunc = void (*)(IO*, int when);
using CommandFilterFunc = void (*)(CommandFilterCtx*);
using ScanKeyFunc = void (*)(Key*, String* field, String* value, void* privdata);
using ConfigGetNumericFunc = long long (*)(const char* name, void* privdata);
using ConfigSetNumericFunc = int (*)(const char* name, long long value, void* privdata, String** err);
using ConfigGetEnumFunc = int (*)(const char* name, void* privdata);
using ConfigSetEnumFunc = int (*)(const char* name, int value, void* privdata, String** err);
using ConfigApplyFunc = int (*)(Ctx*, void* privdata, String** err);

// Layout of the data-type methods table. The server reads the fields that `version` says exist;
// version 5 adds aux_save2 (Redis 7.2+: an aux callback that writes nothing leaves no trace in the
// RDB); older servers ignore the fields they do not know.
struct TypeMethods {
  std::uint64_t version;
  void* rdb_load;
  void* rdb_save;
  void* aof_rewrite;
  void* mem_usage;
  void* digest;
  void* free;
  AuxLoadFunc aux_load;
  AuxSaveFunc aux_save;
  int aux_save_triggers;
  void* free_effort;
  void* unlink;
  void* copy;
  void* defrag;
  void* mem_usage2;
  void* free_effort2;
  void* unlink2;
  void* copy2;
  AuxSaveFunc aux_save2;
};
inline constexpr std::uint64_t kTypeMethodsVersion = 5;

// The API functions, filled by init().
extern int (*GetApi)(const char* name, void* out);
extern void (*SetModuleAttribs)(Ctx*, const char* name, int version, int api_version);
extern int (*IsModuleNameBusy)(const char* name);
extern int (*CreateCommand)(Ctx*, const char* name, CommandFunc, const char* flags, int first_key,
                            int last_key, int key_step);
extern void (*Log)(Ctx*, const char* level, const char* fmt, ...);
extern int (*WrongArity)(Ctx*);
extern int (*ReplyWithLongLong)(Ctx*, long long);
extern int (*ReplyWithDouble)(Ctx*, double);
extern int (*ReplyWithError)(Ctx*, const char* message);
extern int (*ReplyWithSimpleString)(Ctx*, const char*);
extern int (*ReplyWithArray)(Ctx*, long length);
extern int (*ReplyWithStringBuffer)(Ctx*, const char* data, std::size_t length);
extern int (*ReplyWithString)(Ctx*, String*);
extern int (*ReplyWithNull)(Ctx*);
extern const char* (*StringPtrLen)(const String*, std::size_t* length);
extern String* (*CreateString)(Ctx*, const char* data, std::size_t length);
extern void (*FreeString)(Ctx*, String*);
extern void* (*OpenKey)(Ctx*, String* name, int mode);
extern void (*CloseKey)(Key*);
extern int (*KeyType)(Key*);
extern int (*HashGet)(Key*, int flags, ...);
extern CallReply* (*Call)(Ctx*, const char* command, const char* fmt, ...);
extern void (*FreeCallReply)(CallReply*);
extern int (*CallReplyType)(CallReply*);
extern std::size_t (*CallReplyLength)(CallReply*);
extern CallReply* (*CallReplyArrayElement)(CallReply*, std::size_t index);
extern const char* (*CallReplyStringPtr)(CallReply*, std::size_t* length);
extern unsigned long long (*DbSize)(Ctx*);
extern int (*SubscribeToKeyspaceEvents)(Ctx*, int types, NotificationFunc);
extern int (*SubscribeToServerEvent)(Ctx*, Event, EventCallback);
extern TimerId (*CreateTimer)(Ctx*, long long period_ms, TimerProc, void* data);
extern int (*StopTimer)(Ctx*, TimerId, void** data);
extern Type* (*CreateDataType)(Ctx*, const char* name, int encver, void* methods);
extern void (*SetModuleOptions)(Ctx*, int options);
extern void (*SaveUnsigned)(IO*, std::uint64_t);
extern std::uint64_t (*LoadUnsigned)(IO*);
extern void (*SaveStringBuffer)(IO*, const char* data, std::size_t length);
extern char* (*LoadStringBuffer)(IO*, std::size_t* length);
extern int (*IsIOError)(IO*);
extern void* (*Alloc)(std::size_t bytes);
extern void (*Free)(void*);
extern Ctx* (*GetContextFromIO)(IO*);
extern int (*GetSelectedDb)(Ctx*);
extern int (*SelectDb)(Ctx*, int db);
extern int (*ReplicateVerbatim)(Ctx*);
extern void (*ReplySetArrayLength)(Ctx*, long length);
extern int (*GetContextFlags)(Ctx*);
extern unsigned long long (*GetClientId)(Ctx*);
extern int (*GetClientInfoById)(void* info, std::uint64_t id);
extern String* (*GetCurrentUserName)(Ctx*);
extern User* (*GetModuleUserFromUserName)(String* name);
extern int (*FreeModuleUser)(User*);
extern int (*ACLCheckKeyPermissions)(User*, String* key, int flags);
extern int (*ACLAddLogEntry)(Ctx*, User*, String* object, int reason);
extern CommandFilter* (*RegisterCommandFilter)(Ctx*, CommandFilterFunc, int flags);
extern int (*CommandFilterArgsCount)(CommandFilterCtx*);
extern String* (*CommandFilterArgGet)(CommandFilterCtx*, int pos);
extern long long (*GetExpire)(Key*);
extern long long (*Milliseconds)();
extern std::size_t (*ValueLength)(Key*);
extern ScanCursor* (*ScanCursorCreate)();
extern void (*ScanCursorDestroy)(ScanCursor*);
extern int (*ScanKey)(Key*, ScanCursor*, ScanKeyFunc, void* privdata);
extern int (*RegisterNumericConfig)(Ctx*, const char* name, long long default_value, unsigned flags,
                                    long long min, long long max, ConfigGetNumericFunc, ConfigSetNumericFunc,
                                    ConfigApplyFunc, void* privdata);
extern int (*RegisterEnumConfig)(Ctx*, const char* name, int default_value, unsigned flags,
                                 const char** names, const int* values, int count, ConfigGetEnumFunc,
                                 ConfigSetEnumFunc, ConfigApplyFunc, void* privdata);
extern int (*LoadConfigs)(Ctx*);

/// Fills every function pointer above from the server behind `ctx`; false when one is missing.
bool init(Ctx* ctx, const char* module_name, int module_version);

/// RAII owner of a call reply.
class ReplyPtr {
 public:
  explicit ReplyPtr(CallReply* reply) noexcept : reply_(reply) {}
  ReplyPtr(const ReplyPtr&) = delete;
  ReplyPtr& operator=(const ReplyPtr&) = delete;
  ~ReplyPtr() {
    if (reply_) FreeCallReply(reply_);
  }
  CallReply* get() const noexcept { return reply_; }
  explicit operator bool() const noexcept { return reply_ != nullptr; }

 private:
  CallReply* reply_;
};

}  // namespace rm
