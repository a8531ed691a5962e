// examples/redis_module/command_util.hpp — helpers every FT.* command uses.
//
// Argument text, error and string replies, number formatting, and `guarded`, which turns any
// exception a command body throws into an error reply so nothing escapes into the server. Main
// thread only. Next: commands.cpp, ft_search.hpp.
#pragma once

#include <algorithm>
#include <charconv>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "module_api.hpp"
#include "vindex/core/error.hpp"

namespace vindex_redis {

/// The bytes of a module string.
inline std::string text(rm::String* s) {
  std::size_t length = 0;
  const char* data = rm::StringPtrLen(s, &length);
  return std::string(data, length);
}

/// argv[first..argc) as strings.
inline std::vector<std::string> texts(rm::String** argv, int first, int argc) {
  std::vector<std::string> out;
  for (int i = first; i < argc; ++i) out.push_back(text(argv[i]));
  return out;
}

/// An error reply `<code> <message>` on one line (line breaks in vindex's messages become blanks).
inline int reply_error_code(rm::Ctx* ctx, std::string_view code, const std::string& message) {
  std::string line = std::string(code) + " " + message;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::replace(line.begin(), line.end(), '\r', ' ');
  return rm::ReplyWithError(ctx, line.c_str());
}

/// An `ERR …` reply.
inline int reply_error(rm::Ctx* ctx, const std::string& message) { return reply_error_code(ctx, "ERR", message); }

/// A bulk string reply.
inline int reply_str(rm::Ctx* ctx, std::string_view s) { return rm::ReplyWithStringBuffer(ctx, s.data(), s.size()); }

/// Shortest text that reads back as `x`.
inline std::string format_double(double x) {
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, x);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(x);
}

/// Shortest text that reads back as `x`.
inline std::string format_float(float x) {
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, x);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(x);
}

/// Runs a command body; any exception becomes an error reply.
template <class Body>
int guarded(rm::Ctx* ctx, Body&& body) {
  try {
    return body();
  } catch (const vindex::Error& e) {
    return reply_error(ctx, e.what());
  } catch (const std::bad_alloc&) {
    return reply_error(ctx, "vindex: out of memory");
  } catch (const std::exception& e) {
    return reply_error(ctx, std::string("vindex: ") + e.what());
  }
}

}  // namespace vindex_redis
