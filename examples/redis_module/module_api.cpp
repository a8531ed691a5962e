// examples/redis_module/module_api.cpp — definitions of the API pointers and their loader.
#include "module_api.hpp"

namespace rm {

int (*GetApi)(const char*, void*) = nullptr;
void (*SetModuleAttribs)(Ctx*, const char*, int, int) = nullptr;
int (*IsModuleNameBusy)(const char*) = nullptr;
int (*CreateCommand)(Ctx*, const char*, CommandFunc, const char*, int, int, int) = nullptr;
void (*Log)(Ctx*, const char*, const char*, ...) = nullptr;
int (*WrongArity)(Ctx*) = nullptr;
int (*ReplyWithLongLong)(Ctx*, long long) = nullptr;
int (*ReplyWithDouble)(Ctx*, double) = nullptr;
int (*ReplyWithError)(Ctx*, const char*) = nullptr;
int (*ReplyWithSimpleString)(Ctx*, const char*) = nullptr;
int (*ReplyWithArray)(Ctx*, long) = nullptr;
int (*ReplyWithStringBuffer)(Ctx*, const char*, std::size_t) = nullptr;
int (*ReplyWithString)(Ctx*, String*) = nullptr;
int (*ReplyWithNull)(Ctx*) = nullptr;
const char* (*StringPtrLen)(const String*, std::size_t*) = nullptr;
String* (*CreateString)(Ctx*, const char*, std::size_t) = nullptr;
void (*FreeString)(Ctx*, String*) = nullptr;
void* (*OpenKey)(Ctx*, String*, int) = nullptr;
void (*CloseKey)(Key*) = nullptr;
int (*KeyType)(Key*) = nullptr;
int (*HashGet)(Key*, int, ...) = nullptr;
CallReply* (*Call)(Ctx*, const char*, const char*, ...) = nullptr;
void (*FreeCallReply)(CallReply*) = nullptr;
int (*CallReplyType)(CallReply*) = nullptr;
std::size_t (*CallReplyLength)(CallReply*) = nullptr;
CallReply* (*CallReplyArrayElement)(CallReply*, std::size_t) = nullptr;
const char* (*CallReplyStringPtr)(CallReply*, std::size_t*) = nullptr;
unsigned long long (*DbSize)(Ctx*) = nullptr;
int (*SubscribeToKeyspaceEvents)(Ctx*, int, NotificationFunc) = nullptr;
int (*SubscribeToServerEvent)(Ctx*, Event, EventCallback) = nullptr;
TimerId (*CreateTimer)(Ctx*, long long, TimerProc, void*) = nullptr;
int (*StopTimer)(Ctx*, TimerId, void**) = nullptr;
Type* (*CreateDataType)(Ctx*, const char*, int, void*) = nullptr;
void (*SetModuleOptions)(Ctx*, int) = nullptr;
void (*SaveUnsigned)(IO*, std::uint64_t) = nullptr;
std::uint64_t (*LoadUnsigned)(IO*) = nullptr;
void (*SaveStringBuffer)(IO*, const char*, std::size_t) = nullptr;
char* (*LoadStringBuffer)(IO*, std::size_t*) = nullptr;
int (*IsIOError)(IO*) = nullptr;
void* (*Alloc)(std::size_t) = nullptr;
void (*Free)(void*) = nullptr;
Ctx* (*GetContextFromIO)(IO*) = nullptr;
int (*GetSelectedDb)(Ctx*) = nullptr;
int (*SelectDb)(Ctx*, int) = nullptr;
int (*ReplicateVerbatim)(Ctx*) = nullptr;
void (*ReplySetArrayLength)(Ctx*, long) = nullptr;
int (*GetContextFlags)(Ctx*) = nullptr;
unsigned long long (*GetClientId)(Ctx*) = nullptr;
int (*GetClientInfoById)(void*, std::uint64_t) = nullptr;
String* (*GetCurrentUserName)(Ctx*) = nullptr;
User* (*GetModuleUserFromUserName)(String*) = nullptr;
int (*FreeModuleUser)(User*) = nullptr;
int (*ACLCheckKeyPermissions)(User*, String*, int) = nullptr;
int (*ACLAddLogEntry)(Ctx*, User*, String*, int) = nullptr;
CommandFilter* (*RegisterCommandFilter)(Ctx*, CommandFilterFunc, int) = nullptr;
int (*CommandFilterArgsCount)(CommandFilterCtx*) = nullptr;
String* (*CommandFilterArgGet)(CommandFilterCtx*, int) = nullptr;
long long (*GetExpire)(Key*) = nullptr;
long long (*Milliseconds)() = nullptr;
std::size_t (*ValueLength)(Key*) = nullptr;
ScanCursor* (*ScanCursorCreate)() = nullptr;
void (*ScanCursorDestroy)(ScanCursor*) = nullptr;
int (*ScanKey)(Key*, ScanCursor*, ScanKeyFunc, void*) = nullptr;
int (*RegisterNumericConfig)(Ctx*, const char*, long long, unsigned, long long, long long, ConfigGetNumericFunc,
                             ConfigSetNumericFunc, ConfigApplyFunc, void*) = nullptr;
int (*RegisterEnumConfig)(Ctx*, const char*, int, unsigned, const char**, const int*, int, ConfigGetEnumFunc,
                          ConfigSetEnumFunc, ConfigApplyFunc, void*) = nullptr;
int (*LoadConfigs)(Ctx*) = nullptr;

namespace {
template <class F>
bool load(const char* name, F& out) {
  return GetApi(name, reinterpret_cast<void*>(&out)) == kOk && out != nullptr;
}
}  // namespace

bool init(Ctx* ctx, const char* module_name, int module_version) {
  // The server passes its GetApi entry point as the first word of the OnLoad context.
  void* get_api = *reinterpret_cast<void**>(ctx);
  GetApi = reinterpret_cast<int (*)(const char*, void*)>(get_api);
  const bool ok =
      load("RedisModule_SetModuleAttribs", SetModuleAttribs) &&
      load("RedisModule_IsModuleNameBusy", IsModuleNameBusy) &&
      load("RedisModule_CreateCommand", CreateCommand) && load("RedisModule_Log", Log) &&
      load("RedisModule_WrongArity", WrongArity) &&
      load("RedisModule_ReplyWithLongLong", ReplyWithLongLong) &&
      load("RedisModule_ReplyWithDouble", ReplyWithDouble) &&
      load("RedisModule_ReplyWithError", ReplyWithError) &&
      load("RedisModule_ReplyWithSimpleString", ReplyWithSimpleString) &&
      load("RedisModule_ReplyWithArray", ReplyWithArray) &&
      load("RedisModule_ReplyWithStringBuffer", ReplyWithStringBuffer) &&
      load("RedisModule_ReplyWithString", ReplyWithString) &&
      load("RedisModule_ReplyWithNull", ReplyWithNull) &&
      load("RedisModule_StringPtrLen", StringPtrLen) &&
      load("RedisModule_CreateString", CreateString) &&
      load("RedisModule_FreeString", FreeString) && load("RedisModule_OpenKey", OpenKey) &&
      load("RedisModule_CloseKey", CloseKey) && load("RedisModule_KeyType", KeyType) &&
      load("RedisModule_HashGet", HashGet) && load("RedisModule_Call", Call) &&
      load("RedisModule_FreeCallReply", FreeCallReply) &&
      load("RedisModule_CallReplyType", CallReplyType) &&
      load("RedisModule_CallReplyLength", CallReplyLength) &&
      load("RedisModule_CallReplyArrayElement", CallReplyArrayElement) &&
      load("RedisModule_CallReplyStringPtr", CallReplyStringPtr) &&
      load("RedisModule_DbSize", DbSize) &&
      load("RedisModule_SubscribeToKeyspaceEvents", SubscribeToKeyspaceEvents) &&
      load("RedisModule_SubscribeToServerEvent", SubscribeToServerEvent) &&
      load("RedisModule_CreateTimer", CreateTimer) && load("RedisModule_StopTimer", StopTimer) &&
      load("RedisModule_CreateDataType", CreateDataType) &&
      load("RedisModule_SetModuleOptions", SetModuleOptions) &&
      load("RedisModule_SaveUnsigned", SaveUnsigned) &&
      load("RedisModule_LoadUnsigned", LoadUnsigned) &&
      load("RedisModule_SaveStringBuffer", SaveStringBuffer) &&
      load("RedisModule_LoadStringBuffer", LoadStringBuffer) &&
      load("RedisModule_IsIOError", IsIOError) && load("RedisModule_Alloc", Alloc) &&
      load("RedisModule_Free", Free) &&
      load("RedisModule_GetContextFromIO", GetContextFromIO) &&
      load("RedisModule_GetSelectedDb", GetSelectedDb) && load("RedisModule_SelectDb", SelectDb) &&
      load("RedisModule_ReplicateVerbatim", ReplicateVerbatim) &&
      load("RedisModule_ReplySetArrayLength", ReplySetArrayLength) &&
      load("RedisModule_GetContextFlags", GetContextFlags) &&
      load("RedisModule_GetClientId", GetClientId) &&
      load("RedisModule_GetClientInfoById", GetClientInfoById) &&
      load("RedisModule_GetCurrentUserName", GetCurrentUserName) &&
      load("RedisModule_GetModuleUserFromUserName", GetModuleUserFromUserName) &&
      load("RedisModule_FreeModuleUser", FreeModuleUser) &&
      load("RedisModule_ACLCheckKeyPermissions", ACLCheckKeyPermissions) &&
      load("RedisModule_ACLAddLogEntry", ACLAddLogEntry) &&
      load("RedisModule_RegisterCommandFilter", RegisterCommandFilter) &&
      load("RedisModule_CommandFilterArgsCount", CommandFilterArgsCount) &&
      load("RedisModule_CommandFilterArgGet", CommandFilterArgGet) &&
      load("RedisModule_GetExpire", GetExpire) && load("RedisModule_Milliseconds", Milliseconds) && load("RedisModule_ValueLength", ValueLength) &&
      load("RedisModule_ScanCursorCreate", ScanCursorCreate) &&
      load("RedisModule_ScanCursorDestroy", ScanCursorDestroy) && load("RedisModule_ScanKey", ScanKey) &&
      load("RedisModule_RegisterNumericConfig", RegisterNumericConfig) &&
      load("RedisModule_RegisterEnumConfig", RegisterEnumConfig) &&
      load("RedisModule_LoadConfigs", LoadConfigs);
  if (!ok) return false;
  if (IsModuleNameBusy(module_name)) return false;
  SetModuleAttribs(ctx, module_name, module_version, kApiVersion1);
  return true;
}

}  // namespace rm
