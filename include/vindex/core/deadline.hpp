// vindex/core/deadline.hpp — when a piece of work must stop.
//
// A host that serves clients bounds the time one request may take (a Redis module's TIMEOUT). A
// `Deadline` names that moment; the long loops of a search (filter evaluation, the graph walk, the
// exact scan) look at it every few hundred microseconds of work at most, so a check costs a clock read
// per batch of work, not per step. A default-constructed Deadline never passes. Plain value type;
// thread-safe. Next: core/executor.hpp.
#pragma once

#include <chrono>
#include <string>

#include "vindex/core/error.hpp"

namespace vindex {

/// A moment after which work stops (or never).
class Deadline {
 public:
  /// The clock deadlines are measured on.
  using Clock = std::chrono::steady_clock;

  /// No deadline: passed() is always false.
  Deadline() = default;
  /// Work stops at `at`.
  explicit Deadline(Clock::time_point at) noexcept : at_(at) {}
  /// Work stops `budget` from now.
  static Deadline after(Clock::duration budget) noexcept { return Deadline(Clock::now() + budget); }

  /// True unless this is the "never" deadline.
  bool is_set() const noexcept { return at_ != Clock::time_point::max(); }
  /// True once the moment has come (reads the clock when set).
  bool passed() const noexcept { return is_set() && Clock::now() >= at_; }
  /// The moment (Clock::time_point::max() for never).
  Clock::time_point at() const noexcept { return at_; }

 private:
  Clock::time_point at_ = Clock::time_point::max();
};

/// The error a search throws when its deadline passes: ErrorCode::kTimeout naming what stopped.
inline Error timeout_error(const std::string& what) {
  return Error(ErrorCode::kTimeout, what + " stopped at its deadline");
}

}  // namespace vindex
