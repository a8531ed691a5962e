// examples/redis_module/module_config.cpp — registration of the vindex.* module configs.
#include "module_config.hpp"

#include <cstddef>

#include "module_memory.hpp"

namespace vindex_redis {
namespace {

ModuleConfig g_config;

// One numeric setting: its config name (after "vindex."), the field it sets and its range.
struct Numeric {
  const char* name;
  long long ModuleConfig::*field;
  long long min;
  long long max;
  unsigned flags;
};

// The ranges' upper ends that are not arbitrary come from the library: an index checks KNN k against
// its own vindex::Limits::max_k (10000) and evaluates at most Limits::max_filter_depth (128) levels.
const Numeric kNumerics[] = {
    {"search-timeout-ms", &ModuleConfig::search_timeout_ms, 1, 3600000, rm::kConfigDefault},
    {"search-timeout-max-ms", &ModuleConfig::search_timeout_max_ms, 1, 3600000, rm::kConfigDefault},
    {"filter-max-depth", &ModuleConfig::filter_max_depth, 1, vindex::Limits{}.max_filter_depth, rm::kConfigDefault},
    {"filter-max-terms", &ModuleConfig::filter_max_terms, 1, 1000000, rm::kConfigDefault},
    {"filter-max-bytes", &ModuleConfig::filter_max_bytes, 1, 64ll << 20, rm::kConfigMemory},
    {"knn-max-k", &ModuleConfig::knn_max_k, 1, vindex::Limits{}.max_k, rm::kConfigDefault},
    {"reply-max-fields", &ModuleConfig::reply_max_fields, 1, 1ll << 40, rm::kConfigDefault},
    {"reply-max-bytes", &ModuleConfig::reply_max_bytes, 1024, 1ll << 40, rm::kConfigMemory},
    {"max-indexes", &ModuleConfig::max_indexes, 1, 1000000, rm::kConfigDefault},
    {"cluster-timeout-ms", &ModuleConfig::cluster_timeout_ms, 1, 3600000, rm::kConfigDefault},
    {"cluster-digest-interval-ms", &ModuleConfig::cluster_digest_interval_ms, 50, 600000, rm::kConfigDefault},
    // Index memory (module_memory.hpp): 0 is no limit; applied to the existing accounts at once.
    {"max-memory", &ModuleConfig::max_memory, 0, 1ll << 50, rm::kConfigMemory},
    {"index-max-memory", &ModuleConfig::index_max_memory, 0, 1ll << 50, rm::kConfigMemory},
};

long long get_numeric(const char*, void* privdata) {
  return g_config.*(static_cast<const Numeric*>(privdata)->field);
}

int set_numeric(const char*, long long value, void* privdata, rm::String**) {
  const auto field = static_cast<const Numeric*>(privdata)->field;
  g_config.*field = value;  // the server checked the range
  if (field == &ModuleConfig::max_memory || field == &ModuleConfig::index_max_memory) apply_memory_limits();
  return rm::kOk;
}

const char* kOnTimeoutNames[] = {"fail", "return"};
const int kOnTimeoutValues[] = {static_cast<int>(OnTimeout::kFail), static_cast<int>(OnTimeout::kReturn)};

int get_on_timeout(const char*, void*) { return static_cast<int>(g_config.on_timeout); }

int set_on_timeout(const char*, int value, void*, rm::String**) {
  g_config.on_timeout = static_cast<OnTimeout>(value);
  return rm::kOk;
}

}  // namespace

const ModuleConfig& config() { return g_config; }

bool register_config(rm::Ctx* ctx) {
  const ModuleConfig defaults;
  for (const Numeric& n : kNumerics) {
    if (rm::RegisterNumericConfig(ctx, n.name, defaults.*(n.field), n.flags, n.min, n.max, get_numeric, set_numeric,
                                  nullptr, const_cast<Numeric*>(&n)) != rm::kOk) {
      rm::Log(ctx, "warning", "vindex: could not register config vindex.%s", n.name);
      return false;
    }
  }
  if (rm::RegisterEnumConfig(ctx, "on-timeout", static_cast<int>(defaults.on_timeout), rm::kConfigDefault,
                             kOnTimeoutNames, kOnTimeoutValues, 2, get_on_timeout, set_on_timeout, nullptr,
                             nullptr) != rm::kOk) {
    rm::Log(ctx, "warning", "vindex: could not register config vindex.on-timeout");
    return false;
  }
  if (rm::LoadConfigs(ctx) != rm::kOk) {
    rm::Log(ctx, "warning", "vindex: the vindex.* values given at load time were refused");
    return false;
  }
  return true;
}

}  // namespace vindex_redis
