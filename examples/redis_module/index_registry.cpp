// examples/redis_module/index_registry.cpp — index bookkeeping and the timer-driven scans.
#include "index_registry.hpp"

#include <algorithm>
#include <exception>

#include "module_memory.hpp"
#include "redis_source.hpp"

namespace vindex_redis {
namespace {

bool scanning(const AnyIndex& index) {
  return index.progress().state == vindex::BackfillState::kBackfilling;
}

void on_timer(rm::Ctx* ctx, void*) { registry().tick(ctx); }

}  // namespace

IndexEntry* Registry::find(std::string_view name) {
  auto it = indexes_.find(name);
  return it == indexes_.end() ? nullptr : &it->second;
}

IndexEntry& Registry::add(IndexEntry entry) {
  std::string name = entry.spec.name;
  auto [it, inserted] = indexes_.insert_or_assign(std::move(name), std::move(entry));
  return it->second;
}

IndexEntry& Registry::create(rm::Ctx* ctx, IndexSpec spec) {
  IndexEntry entry;
  entry.memory = new_index_account(spec.name);
  entry.index = make_index(spec, keyspace(), entry.memory);
  if (spec.skip_initial_scan) {
  } else if (loading()) {
    entry.after_load = AfterLoad::kBackfill;
  } else {
    entry.index->start_backfill();
  }
  entry.spec = std::move(spec);
  IndexEntry& added = add(std::move(entry));
  schedule(ctx);
  return added;
}

bool Registry::drop(std::string_view name) {
  auto it = indexes_.find(name);
  if (it == indexes_.end()) return false;
  indexes_.erase(it);
  return true;
}

void Registry::reset_all() {
  for (auto& [name, entry] : indexes_) {
    entry.index = make_index(entry.spec, keyspace(), entry.memory);
    entry.snapshot = {};
    // The keyspace is empty right after a flush; a scan marks the index ready at its first step.
    entry.index->start_backfill();
  }
}

void Registry::loading_ended(rm::Ctx* ctx) {
  loading_ = false;
  for (auto& [name, entry] : indexes_) {
    if (entry.after_load == AfterLoad::kReconcile) entry.index->start_reconcile();
    if (entry.after_load == AfterLoad::kBackfill) entry.index->start_backfill();
    entry.after_load = AfterLoad::kNothing;
  }
  schedule(ctx);
}

void Registry::schedule(rm::Ctx* ctx) {
  if (timer_armed_ || loading_) return;
  for (auto& [name, entry] : indexes_) {
    if (scanning(*entry.index) || entry.index->maintenance_pending()) {
      rm::CreateTimer(ctx, 1, on_timer, nullptr);
      timer_armed_ = true;
      return;
    }
  }
}

void Registry::key_changed(rm::Ctx* ctx, std::string_view key, bool removal) {
  if (busy_ > 0) {
    deferred_.emplace_back(std::string(key), removal);
    return;
  }
  {
    Busy busy(*this, ctx);
    apply(ctx, key, removal);
  }
  schedule(ctx);  // the write may have left maintenance for the timer
}

void Registry::apply(rm::Ctx* ctx, std::string_view key, bool removal) {
  RedisSource::ContextScope scope(keyspace(), ctx);
  for (auto& [name, entry] : indexes_) {
    if (!entry.spec.definition.matches_key(key)) continue;
    try {
      if (removal) {
        entry.index->on_delete(key);
      } else {
        entry.index->on_write(key);
      }
    } catch (const std::exception& e) {
      rm::Log(ctx, "warning", "vindex: index '%s' could not apply a change of a key: %s", name.c_str(), e.what());
    }
  }
}

std::size_t Registry::reconcile_keys(rm::Ctx* ctx, const std::function<bool(std::string_view)>& pick) {
  if (loading_) return 0;
  Busy busy(*this, ctx);
  RedisSource::ContextScope scope(keyspace(), ctx);
  std::size_t removed = 0;
  for (auto& [name, entry] : indexes_) {
    for (const std::string& key : entry.index->keys_where(pick)) {
      try {
        if (entry.index->on_write(key) == vindex::EntryOutcome::kRemoved) ++removed;
      } catch (const std::exception& e) {
        rm::Log(ctx, "warning", "vindex: index '%s' could not re-read a key: %s", name.c_str(), e.what());
      }
    }
  }
  return removed;
}

Registry::Busy::~Busy() {
  if (--registry_.busy_ > 0 || registry_.deferred_.empty()) return;
  ++registry_.busy_;  // changes made while draining are queued behind the current ones
  while (!registry_.deferred_.empty()) {
    auto [key, removal] = std::move(registry_.deferred_.front());
    registry_.deferred_.pop_front();
    registry_.apply(ctx_, key, removal);
  }
  --registry_.busy_;
}

void Registry::tick(rm::Ctx* ctx) {
  timer_armed_ = false;
  if (loading_) return;
  rm::SelectDb(ctx, 0);  // the timer runs in the database of whoever armed it; indexes cover db 0
  Busy busy(*this, ctx);
  RedisSource::ContextScope scope(keyspace(), ctx);
  std::size_t active = 0, maintaining = 0;
  for (auto& [name, entry] : indexes_) {
    active += scanning(*entry.index) ? 1 : 0;
    maintaining += entry.index->maintenance_pending() ? 1 : 0;
  }
  if (active > 0) {
    const auto share = std::chrono::duration_cast<std::chrono::nanoseconds>(kTickBudget) /
                       static_cast<long>(active);
    for (auto& [name, entry] : indexes_) {
      if (!scanning(*entry.index)) continue;
      try {
        const vindex::BackfillState state = entry.index->step_for(share, kStepKeys);
        if (state == vindex::BackfillState::kFailed)
          rm::Log(ctx, "warning", "vindex: scan of index '%s' failed: %s", name.c_str(),
                  entry.index->progress().error.c_str());
      } catch (const std::exception& e) {
        rm::Log(ctx, "warning", "vindex: scan of index '%s' stopped: %s", name.c_str(), e.what());
      }
    }
  }
  if (maintaining > 0) {
    // Graph maintenance (it reads no keys and changes no key's membership) runs here, between
    // commands, instead of inside the writes that left it. Catching up (tombstones at 1/32 of the
    // entries, half way to where writes start helping) gets the backfill's budget instead.
    bool behind = false;
    for (auto& [name, entry] : indexes_)
      if (const auto m = entry.index->maintenance_stats())
        behind |= m->pending_tombstones * 32 >= std::max<std::size_t>(entry.index->size(), 512);
    const auto share = std::chrono::duration_cast<std::chrono::nanoseconds>(behind ? kTickBudget : kMaintainBudget) /
                       static_cast<long>(maintaining);
    for (auto& [name, entry] : indexes_) {
      try {
        if (entry.index->maintenance_pending()) entry.index->maintain_for(share);
      } catch (const std::exception& e) {
        rm::Log(ctx, "warning", "vindex: maintenance of index '%s' stopped: %s", name.c_str(), e.what());
      }
    }
  }
  schedule(ctx);
}

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace vindex_redis
