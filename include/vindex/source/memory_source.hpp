// vindex/source/memory_source.hpp — a reference in-memory KeyValueSource, with fault injection.
//
// `MemorySource` is a small hash store (key → {field → bytes}) for examples, tests and hosts that
// keep their data in memory anyway. Its scan walks a slot table in order: a key keeps its slot for
// as long as it exists, so a key present for a whole scan is always visited; freed slots are reused
// by new keys, which a running scan may therefore miss (allowed: they did not exist throughout).
//
// Fault injection for tests: `set_duplicates` makes every scan call re-visit a few entries before
// its cursor and repeat random entries (as Redis SCAN may during a rehash); `throw_after` makes the
// scan throw once after visiting a given number of further entries, and `throw_on_read` makes the
// next point reads throw.
//
// Thread-safety: every member function takes an internal mutex, so a host thread may write while
// another thread scans. Callbacks run under that mutex and must not call back into the source.
// Next: source/filter_expression.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/core/types.hpp"
#include "vindex/source/key_value_source.hpp"

namespace vindex {

/// A hash's fields: name → value bytes.
using FieldMap = std::map<std::string, std::string, std::less<>>;

/// Reference in-memory KeyValueSource.
class MemorySource final : public KeyValueSource {
 public:
  /// Thrown by injected faults.
  struct InjectedFault : std::runtime_error {
    using std::runtime_error::runtime_error;
  };

  /// Sets field `field` of `key` to `value`, creating the key when needed.
  void hset(std::string_view key, std::string_view field, std::string_view value) {
    std::lock_guard lock(mutex_);
    slot_for(key).fields.insert_or_assign(std::string(field), std::string(value));
  }

  /// Replaces every field of `key` (creating it when needed).
  void set(std::string_view key, FieldMap fields) {
    std::lock_guard lock(mutex_);
    slot_for(key).fields = std::move(fields);
  }

  /// Removes field `field` of `key`; a key left without fields is deleted (as in Redis).
  /// Returns true when the field existed.
  bool hdel(std::string_view key, std::string_view field) {
    std::lock_guard lock(mutex_);
    auto it = where_.find(std::string(key));
    if (it == where_.end()) return false;
    FieldMap& fields = slots_[it->second].fields;
    auto f = fields.find(field);
    if (f == fields.end()) return false;
    fields.erase(f);
    if (fields.empty()) release(it);
    return true;
  }

  /// Deletes `key`; returns true when it existed.
  bool del(std::string_view key) {
    std::lock_guard lock(mutex_);
    auto it = where_.find(std::string(key));
    if (it == where_.end()) return false;
    release(it);
    return true;
  }

  /// A copy of `key`'s fields, or nullopt when absent.
  std::optional<FieldMap> get(std::string_view key) const {
    std::lock_guard lock(mutex_);
    auto it = where_.find(std::string(key));
    if (it == where_.end()) return std::nullopt;
    return slots_[it->second].fields;
  }

  /// Calls `visit(key, fields)` for every entry, in slot order.
  void for_each(const std::function<void(const std::string&, const FieldMap&)>& visit) const {
    std::lock_guard lock(mutex_);
    for (const Slot& s : slots_)
      if (s.live) visit(s.key, s.fields);
  }

  /// Number of entries.
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return where_.size();
  }

  /// Fault injection: each scan call first re-visits the `rewind` slots before its cursor (entries
  /// the previous call returned; outside the budget), and each visited entry is visited a second time with probability
  /// `repeat_probability` (deterministic for a given `seed`). Zeros switch it off.
  void set_duplicates(std::size_t rewind, double repeat_probability, std::uint64_t seed = 1) {
    std::lock_guard lock(mutex_);
    rewind_ = rewind;
    repeat_probability_ = repeat_probability;
    rng_.seed(seed);
  }

  /// Fault injection: the scan throws InjectedFault once, when about to visit its (entries + 1)-th
  /// entry from now (0: before the next visit). The entries visited before the throw were delivered.
  void throw_after(std::size_t entries) {
    std::lock_guard lock(mutex_);
    throw_after_ = entries;
  }

  /// Fault injection: the next `reads` point reads throw InjectedFault.
  void throw_on_read(std::size_t reads) {
    std::lock_guard lock(mutex_);
    failing_reads_ = reads;
  }

  /// Disarms every injected failure (duplicates stay as set).
  void clear_faults() {
    std::lock_guard lock(mutex_);
    throw_after_.reset();
    failing_reads_ = 0;
  }

  /// Number of scan calls served (for cost checks in tests).
  std::size_t scan_calls() const {
    std::lock_guard lock(mutex_);
    return scan_calls_;
  }
  /// Number of point reads served.
  std::size_t read_calls() const {
    std::lock_guard lock(mutex_);
    return read_calls_;
  }

  /// Visits up to `budget` live slots from slot `cursor` on (plus injected duplicates); returns the
  /// next slot, or 0 after the last one.
  Cursor scan(Cursor cursor, std::size_t budget, const ScanVisitor& visit) override {
    std::lock_guard lock(mutex_);
    ++scan_calls_;
    const std::size_t start = std::min<std::size_t>(static_cast<std::size_t>(cursor), slots_.size());
    std::bernoulli_distribution repeat(repeat_probability_ > 0 ? repeat_probability_ : 0.0);
    auto visit_slot = [&](const Slot& s) {
      const int times = (repeat_probability_ > 0 && repeat(rng_)) ? 2 : 1;
      for (int t = 0; t < times; ++t) {
        maybe_throw_in_scan();
        const Reader reader(s.fields);
        visit(s.key, reader);
      }
    };
    // Injected duplicates: re-visit the slots just before the cursor, outside the budget.
    for (std::size_t at = start > rewind_ ? start - rewind_ : 0; cursor != 0 && at < start; ++at)
      if (slots_[at].live) visit_slot(slots_[at]);
    std::size_t at = start;
    for (std::size_t visited = 0; at < slots_.size() && visited < std::max<std::size_t>(budget, 1);) {
      const Slot& s = slots_[at++];
      if (!s.live) continue;
      visit_slot(s);
      ++visited;
    }
    return at >= slots_.size() ? 0 : static_cast<Cursor>(at);
  }

  /// Point read of one key (may throw an injected fault).
  bool read(KeyView key, const ReadVisitor& visit) override {
    std::lock_guard lock(mutex_);
    ++read_calls_;
    if (failing_reads_ > 0) {
      --failing_reads_;
      throw InjectedFault("injected read failure for key " + printable_key(key));
    }
    auto it = where_.find(std::string(key));
    if (it == where_.end()) return false;
    const Reader reader(slots_[it->second].fields);
    visit(reader);
    return true;
  }

  /// The exact number of entries.
  std::size_t approximate_count() const override { return size(); }

 private:
  struct Slot {
    std::string key;
    FieldMap fields;
    bool live = false;
  };

  class Reader final : public FieldReader {
   public:
    explicit Reader(const FieldMap& fields) : fields_(fields) {}
    std::optional<std::string_view> field(std::string_view name) const override {
      auto it = fields_.find(name);
      if (it == fields_.end()) return std::nullopt;
      return std::string_view(it->second);
    }

   private:
    const FieldMap& fields_;
  };

  Slot& slot_for(std::string_view key) {
    auto it = where_.find(std::string(key));
    if (it != where_.end()) return slots_[it->second];
    std::size_t at;
    if (!free_.empty()) {
      at = free_.back();
      free_.pop_back();
    } else {
      at = slots_.size();
      slots_.emplace_back();
    }
    slots_[at] = Slot{std::string(key), {}, true};
    where_.emplace(std::string(key), at);
    return slots_[at];
  }

  void release(std::unordered_map<std::string, std::size_t>::iterator it) {
    slots_[it->second] = Slot{};
    free_.push_back(it->second);
    where_.erase(it);
  }

  void maybe_throw_in_scan() {
    if (!throw_after_) return;
    if (*throw_after_ == 0) {
      throw_after_.reset();
      throw InjectedFault("injected scan failure");
    }
    --*throw_after_;
  }

  mutable std::mutex mutex_;
  std::vector<Slot> slots_;
  std::vector<std::size_t> free_;
  std::unordered_map<std::string, std::size_t> where_;
  std::size_t rewind_ = 0;
  double repeat_probability_ = 0;
  std::mt19937_64 rng_{1};
  std::optional<std::size_t> throw_after_;
  std::size_t failing_reads_ = 0;
  std::size_t scan_calls_ = 0;
  std::size_t read_calls_ = 0;
};

}  // namespace vindex
