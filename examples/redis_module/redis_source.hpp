// examples/redis_module/redis_source.hpp — vindex's KeyValueSource over the Redis keyspace.
//
// Scans go through the server's own `SCAN cursor COUNT n` (so vindex's numeric cursor is Redis's
// cursor, with SCAN's guarantee: every key present for the whole scan is returned at least once);
// point reads open the key and fetch hash fields with `HashGet`, binary-safe. Keys that are not
// hashes read as absent. Every call needs the context of the server callback it runs in: set it
// with `ContextScope` around each call into vindex. Main thread only. Next: index_registry.hpp.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "module_api.hpp"
#include "vindex/source/key_value_source.hpp"

namespace vindex_redis {

/// The keyspace of database 0 as a vindex KeyValueSource.
class RedisSource final : public vindex::KeyValueSource {
 public:
  vindex::Cursor scan(vindex::Cursor cursor, std::size_t budget, const ScanVisitor& visit) override;
  bool read(vindex::KeyView key, const ReadVisitor& visit) override;
  std::size_t approximate_count() const override;

  /// Reads one field of `key` (nullopt when the key is not a hash or lacks the field).
  std::optional<std::string> read_field(vindex::KeyView key, std::string_view field);
  /// The values of `fields` in hash `key` (one open of the key); nullopt when the key is not a hash,
  /// and a nullopt element for each field it lacks.
  std::optional<std::vector<std::optional<std::string>>> read_fields(vindex::KeyView key,
                                                                     const std::vector<std::string>& fields);
  /// Every field and value of hash `key` (empty when absent), read with one open of the key.
  /// `before_read(n)`, when given, is told the field count first and may throw to refuse the read.
  std::vector<std::pair<std::string, std::string>> read_all(
      vindex::KeyView key, const std::function<void(std::size_t)>& before_read = {});

  /// The context calls are made with; null outside a ContextScope.
  rm::Ctx* context() const noexcept { return ctx_; }

  /// Sets the context for the duration of a scope (nestable).
  class ContextScope {
   public:
    ContextScope(RedisSource& source, rm::Ctx* ctx) : source_(source), saved_(source.ctx_) { source.ctx_ = ctx; }
    ~ContextScope() { source_.ctx_ = saved_; }
    ContextScope(const ContextScope&) = delete;
    ContextScope& operator=(const ContextScope&) = delete;

   private:
    RedisSource& source_;
    rm::Ctx* saved_;
  };

 private:
  rm::Ctx* checked_context() const;
  rm::Ctx* ctx_ = nullptr;
};

/// The module's single source (all indexes read database 0 through it).
RedisSource& keyspace();

}  // namespace vindex_redis
