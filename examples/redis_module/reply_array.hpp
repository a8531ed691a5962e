// examples/redis_module/reply_array.hpp — array replies that count their own elements.
//
// A reply written as nested arrays with lengths counted by hand ("hnsw ? 26 : 18") goes wrong
// silently when a field is added or made conditional: the client then reads the next reply's bytes
// as this one's. `ReplyArray` opens each array with a postponed length and sets it when the array
// closes, counting what was added; nested arrays close in order because `array` takes a function
// that fills them. Main thread only (it writes to a command's reply). Next: info_reply.hpp.
#pragma once

#include <string_view>
#include <utility>

#include "command_util.hpp"
#include "module_api.hpp"

namespace vindex_redis {

/// An array reply being written; its length is set, to the elements added, when it is destroyed.
class ReplyArray {
 public:
  /// Opens an array reply on `ctx` with its length postponed.
  explicit ReplyArray(rm::Ctx* ctx) : ctx_(ctx) { rm::ReplyWithArray(ctx, rm::kPostponedArrayLength); }
  ReplyArray(const ReplyArray&) = delete;
  ReplyArray& operator=(const ReplyArray&) = delete;
  /// Closes the array: sets its length to the number of elements added.
  ~ReplyArray() { rm::ReplySetArrayLength(ctx_, count_); }

  /// Adds a bulk string.
  ReplyArray& str(std::string_view s) {
    reply_str(ctx_, s);
    ++count_;
    return *this;
  }
  /// Adds an integer.
  ReplyArray& num(long long v) {
    rm::ReplyWithLongLong(ctx_, v);
    ++count_;
    return *this;
  }
  /// Adds a double as its shortest round-tripping text (RediSearch's FT.INFO sends numbers so).
  ReplyArray& real(double v) { return str(format_double(v)); }
  /// Adds a nested array, which `fill(ReplyArray&)` fills and which closes before this one goes on.
  template <class Fill>
  ReplyArray& array(Fill&& fill) {
    ++count_;
    ReplyArray inner(ctx_);
    std::forward<Fill>(fill)(inner);
    return *this;
  }
  /// Elements added so far.
  long count() const noexcept { return count_; }

 private:
  rm::Ctx* ctx_;
  long count_ = 0;
};

}  // namespace vindex_redis
