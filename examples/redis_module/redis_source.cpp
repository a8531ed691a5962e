// examples/redis_module/redis_source.cpp — SCAN and HashGet behind vindex's KeyValueSource.
#include "redis_source.hpp"

#include <charconv>
#include <string>

#include "expiry.hpp"
#include "vindex/core/error.hpp"

namespace vindex_redis {
namespace {

// Owns the module strings created or returned during one key's visit and frees them afterwards.
class StringPool {
 public:
  explicit StringPool(rm::Ctx* ctx) : ctx_(ctx) {}
  StringPool(const StringPool&) = delete;
  StringPool& operator=(const StringPool&) = delete;
  ~StringPool() {
    for (rm::String* s : strings_) rm::FreeString(ctx_, s);
  }
  rm::String* make(std::string_view bytes) { return keep(rm::CreateString(ctx_, bytes.data(), bytes.size())); }
  rm::String* keep(rm::String* s) {
    if (s) strings_.push_back(s);
    return s;
  }
  rm::Ctx* ctx() const noexcept { return ctx_; }

 private:
  rm::Ctx* ctx_;
  std::vector<rm::String*> strings_;
};

std::string_view view(const rm::String* s) {
  std::size_t length = 0;
  const char* data = rm::StringPtrLen(s, &length);
  return {data, length};
}

// An open hash key; fields are fetched on demand and stay valid while the reader lives.
class HashReader final : public vindex::FieldReader {
 public:
  HashReader(StringPool& pool, rm::Key* key) : pool_(pool), key_(key) {}
  std::optional<std::string_view> field(std::string_view name) const override {
    rm::String* value = nullptr;
    rm::HashGet(key_, rm::kHashNone, pool_.make(name), &value, nullptr);
    if (!value) return std::nullopt;
    pool_.keep(value);
    return view(value);
  }

 private:
  StringPool& pool_;
  rm::Key* key_;
};

// Opens `name` for reading; null unless it is a hash.
struct OpenHash {
  OpenHash(rm::Ctx* ctx, rm::String* name)
      : key(static_cast<rm::Key*>(rm::OpenKey(ctx, name, rm::kRead))) {}
  // Tells the expiry tracker whether the key (read for an index) has a TTL.
  void note_ttl(std::string_view name) const {
    note_key_ttl(name, is_hash() ? rm::GetExpire(key) : rm::kNoExpire);
  }
  ~OpenHash() {
    if (key) rm::CloseKey(key);
  }
  OpenHash(const OpenHash&) = delete;
  OpenHash& operator=(const OpenHash&) = delete;
  bool is_hash() const { return key && rm::KeyType(key) == rm::kKeyTypeHash; }
  rm::Key* key;
};

}  // namespace

rm::Ctx* RedisSource::checked_context() const {
  if (!ctx_) throw vindex::Error(vindex::ErrorCode::kSourceFailure, "no server context for a keyspace read");
  return ctx_;
}

vindex::Cursor RedisSource::scan(vindex::Cursor cursor, std::size_t budget, const ScanVisitor& visit) {
  rm::Ctx* ctx = checked_context();
  const std::string cursor_text = std::to_string(cursor);
  const std::string count_text = std::to_string(budget == 0 ? 1 : budget);
  rm::ReplyPtr reply(rm::Call(ctx, "SCAN", "ccc", cursor_text.c_str(), "COUNT", count_text.c_str()));
  if (!reply || rm::CallReplyType(reply.get()) != rm::kReplyArray || rm::CallReplyLength(reply.get()) != 2)
    throw vindex::Error(vindex::ErrorCode::kSourceFailure, "SCAN " + cursor_text + " failed");
  std::size_t length = 0;
  const char* next_text = rm::CallReplyStringPtr(rm::CallReplyArrayElement(reply.get(), 0), &length);
  vindex::Cursor next = 0;
  if (!next_text || std::from_chars(next_text, next_text + length, next).ec != std::errc())
    throw vindex::Error(vindex::ErrorCode::kSourceFailure, "SCAN returned a bad cursor");
  rm::CallReply* keys = rm::CallReplyArrayElement(reply.get(), 1);
  const std::size_t n = rm::CallReplyLength(keys);
  for (std::size_t i = 0; i < n; ++i) {
    const char* key_data = rm::CallReplyStringPtr(rm::CallReplyArrayElement(keys, i), &length);
    if (!key_data) continue;
    const std::string_view key(key_data, length);
    StringPool pool(ctx);
    OpenHash open(ctx, pool.make(key));
    open.note_ttl(key);
    if (!open.is_hash()) continue;
    HashReader reader(pool, open.key);
    visit(key, reader);
  }
  return next;
}

bool RedisSource::read(vindex::KeyView key, const ReadVisitor& visit) {
  rm::Ctx* ctx = checked_context();
  StringPool pool(ctx);
  OpenHash open(ctx, pool.make(key));
  open.note_ttl(key);
  if (!open.is_hash()) return false;
  HashReader reader(pool, open.key);
  visit(reader);
  return true;
}

std::size_t RedisSource::approximate_count() const {
  return static_cast<std::size_t>(rm::DbSize(checked_context()));
}

std::optional<std::string> RedisSource::read_field(vindex::KeyView key, std::string_view field) {
  std::optional<std::string> out;
  read(key, [&](const vindex::FieldReader& fields) {
    if (auto value = fields.field(field)) out = std::string(*value);
  });
  return out;
}

std::optional<std::vector<std::optional<std::string>>> RedisSource::read_fields(
    vindex::KeyView key, const std::vector<std::string>& fields) {
  std::optional<std::vector<std::optional<std::string>>> out;
  read(key, [&](const vindex::FieldReader& reader) {
    out.emplace();
    out->reserve(fields.size());
    for (const std::string& f : fields) {
      auto value = reader.field(f);
      out->push_back(value ? std::optional<std::string>(std::string(*value)) : std::nullopt);
    }
  });
  return out;
}

std::vector<std::pair<std::string, std::string>> RedisSource::read_all(
    vindex::KeyView key, const std::function<void(std::size_t)>& before_read) {
  rm::Ctx* ctx = checked_context();
  StringPool pool(ctx);
  std::vector<std::pair<std::string, std::string>> out;
  OpenHash open(ctx, pool.make(key));
  if (!open.is_hash()) return out;
  const std::size_t n = rm::ValueLength(open.key);
  if (before_read) before_read(n);
  out.reserve(n);
  // ScanKey walks the hash in place (no command call, no reply protocol to parse): one callback per
  // field, in the hash's own order.
  struct Cursor {
    rm::ScanCursor* c = rm::ScanCursorCreate();
    ~Cursor() { rm::ScanCursorDestroy(c); }
  } cursor;
  auto visit = [](rm::Key*, rm::String* field, rm::String* value, void* privdata) {
    auto* rows = static_cast<std::vector<std::pair<std::string, std::string>>*>(privdata);
    rows->emplace_back(std::string(view(field)), std::string(view(value)));
  };
  while (rm::ScanKey(open.key, cursor.c, visit, &out)) {
  }
  return out;
}

RedisSource& keyspace() {
  static RedisSource source;
  return source;
}

}  // namespace vindex_redis
