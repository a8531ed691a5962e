// vindex/core/executor.hpp — running work on threads the host lends: the `Executor` type and the
// one fan-out helper every parallel path uses (a batch insert's workers, a backfill step's tasks).
//
// vindex starts no thread of its own where a host lends them: a host passes an Executor that runs a
// task on its pool. The fan-out is where exceptions and a refusing executor must be handled right,
// so it is written once. Thread-safety: run_tasks is called by one thread; its tasks run wherever
// the executor puts them. Next: core/schema.hpp.
#pragma once

#include <cstddef>
#include <functional>
#include <latch>
#include <type_traits>
#include <utility>

namespace vindex {

/// Runs a task on some thread the host owns (a pool, `std::thread`, or inline). It must run every
/// task it accepts exactly once; if it throws, the task is run inline instead.
using Executor = std::function<void(std::function<void()>)>;

/// Runs `task(i)` for every i in [0, count) as one task each on `spawn` (an Executor, or any
/// callable taking a `std::function<void()>`); a task `spawn` refuses by throwing (or that cannot
/// be wrapped for lack of memory), or every task when `spawn` is an empty Executor, runs inline at
/// once. Then runs `meanwhile()` on this thread and
/// returns when every task has finished. `task` must not throw: it catches and records its own
/// errors, since a task runs on a thread that cannot hand an exception back; nor may `meanwhile`
/// (the tasks refer to this call's frame until they finish: noexcept ends the process instead).
template <class Spawn, class Task, class Meanwhile>
void run_tasks(Spawn&& spawn, std::size_t count, Task&& task, Meanwhile&& meanwhile) noexcept {
  std::latch done(static_cast<std::ptrdiff_t>(count));
  for (std::size_t i = 0; i < count; ++i) {
    bool submitted = false;
    bool can_spawn = true;
    if constexpr (std::is_constructible_v<bool, const Spawn&>) can_spawn = static_cast<bool>(spawn);
    if (can_spawn) {
      try {  // wrapping the task may allocate: a failure runs it inline like a refusal
        spawn(std::function<void()>([&task, &done, i] {
          task(i);
          done.count_down();
        }));
        submitted = true;
      } catch (...) {
      }
    }
    if (!submitted) {
      task(i);
      done.count_down();
    }
  }
  meanwhile();
  done.wait();
}

/// run_tasks with nothing to do meanwhile: this thread only waits.
template <class Spawn, class Task>
void run_tasks(Spawn&& spawn, std::size_t count, Task&& task) noexcept {
  run_tasks(std::forward<Spawn>(spawn), count, std::forward<Task>(task), [] {});
}

}  // namespace vindex
