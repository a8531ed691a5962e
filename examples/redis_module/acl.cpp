// examples/redis_module/acl.cpp — prefix permissions from the user's ACL key patterns.
#include "acl.hpp"

#include <map>
#include <optional>
#include <strings.h>
#include <utility>

#include "command_util.hpp"
#include "vindex/core/error.hpp"

namespace vindex_redis {
namespace {

// ---- glob patterns ------------------------------------------------------------------------------

// One element of a Redis glob: a byte, `?`, `*` or a `[…]` class.
struct Token {
  enum class Kind { kByte, kAny, kStar, kClass } kind = Kind::kByte;
  unsigned char byte = 0;
  bool negate = false;
  std::vector<std::pair<unsigned char, unsigned char>> ranges;  // kClass: inclusive byte ranges

  bool matches(unsigned char c) const {
    switch (kind) {
      case Kind::kByte: return c == byte;
      case Kind::kAny: return true;
      case Kind::kStar: return true;
      case Kind::kClass: {
        bool in = false;
        for (const auto& [lo, hi] : ranges) in = in || (c >= lo && c <= hi);
        return in != negate;
      }
    }
    return false;
  }
};

// Tokens of `pattern` as Redis's stringmatchlen reads it (case-sensitive); nullopt for an
// unterminated class, whose meaning is murky enough to refuse.
std::optional<std::vector<Token>> tokenize(std::string_view p) {
  std::vector<Token> out;
  for (std::size_t i = 0; i < p.size(); ++i) {
    Token t;
    const auto c = static_cast<unsigned char>(p[i]);
    if (c == '*') {
      t.kind = Token::Kind::kStar;
    } else if (c == '?') {
      t.kind = Token::Kind::kAny;
    } else if (c == '\\' && i + 1 < p.size()) {
      t.byte = static_cast<unsigned char>(p[++i]);
    } else if (c == '[') {
      t.kind = Token::Kind::kClass;
      std::size_t j = i + 1;
      if (j < p.size() && p[j] == '^') {
        t.negate = true;
        ++j;
      }
      bool closed = false;
      for (; j < p.size(); ++j) {
        auto a = static_cast<unsigned char>(p[j]);
        if (a == ']') {
          closed = true;
          break;
        }
        if (a == '\\' && j + 1 < p.size()) {
          a = static_cast<unsigned char>(p[++j]);
          t.ranges.emplace_back(a, a);
        } else if (j + 2 < p.size() && p[j + 1] == '-') {
          auto b = static_cast<unsigned char>(p[j + 2]);
          if (a > b) std::swap(a, b);
          t.ranges.emplace_back(a, b);
          j += 2;
        } else {
          t.ranges.emplace_back(a, a);
        }
      }
      if (!closed) return std::nullopt;
      i = j;
    } else {
      t.byte = c;
    }
    out.push_back(std::move(t));
  }
  return out;
}

// ---- the user's patterns and the verdict cache -----------------------------------------------

// The key patterns of a user that grant read access; `known` is false when ACL GETUSER's reply
// could not be read unambiguously (then nothing is granted).
struct ReadPatterns {
  bool known = false;
  std::vector<std::string> patterns;
};

std::map<std::string, ReadPatterns, std::less<>> g_users;                 // by user name
std::map<std::pair<std::string, std::string>, bool> g_verdicts;           // (user, prefix) → allowed

void forget_all() {
  g_users.clear();
  g_verdicts.clear();
}

std::string_view view(rm::String* s) {
  std::size_t length = 0;
  const char* data = rm::StringPtrLen(s, &length);
  return {data, length};
}

// Parses the "keys" rule text of ACL GETUSER (7.0: "~a* %R~b* %W~c"). A token that does not start
// with `~` or `%…~` means a pattern held a blank and the split is ambiguous: nothing is granted.
ReadPatterns parse_keys_rule(std::string_view rule) {
  ReadPatterns out;
  std::size_t i = 0;
  while (i < rule.size()) {
    while (i < rule.size() && rule[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < rule.size() && rule[i] != ' ') ++i;
    const std::string_view token = rule.substr(start, i - start);
    if (token.empty()) continue;
    if (token.front() == '~') {
      out.patterns.emplace_back(token.substr(1));
      continue;
    }
    const std::size_t tilde = token.find('~');
    if (token.front() != '%' || tilde == std::string_view::npos) return {};
    const std::string_view access = token.substr(1, tilde - 1);
    if (access.find_first_not_of("RW") != std::string_view::npos) return {};
    if (access.find('R') != std::string_view::npos) out.patterns.emplace_back(token.substr(tilde + 1));
  }
  out.known = true;
  return out;
}

// The user's read patterns, from the cache or ACL GETUSER.
const ReadPatterns& read_patterns(rm::Ctx* ctx, rm::String* user_name) {
  const std::string_view name = view(user_name);
  if (auto it = g_users.find(name); it != g_users.end()) return it->second;
  ReadPatterns found;
  rm::ReplyPtr reply(rm::Call(ctx, "ACL", "cs", "GETUSER", user_name));
  if (reply && rm::CallReplyType(reply.get()) == rm::kReplyArray) {
    const std::size_t n = rm::CallReplyLength(reply.get());
    for (std::size_t i = 0; i + 1 < n; i += 2) {
      std::size_t length = 0;
      const char* field = rm::CallReplyStringPtr(rm::CallReplyArrayElement(reply.get(), i), &length);
      if (!field || std::string_view(field, length) != "keys") continue;
      rm::CallReply* value = rm::CallReplyArrayElement(reply.get(), i + 1);
      if (rm::CallReplyType(value) != rm::kReplyString) break;
      const char* rule = rm::CallReplyStringPtr(value, &length);
      found = parse_keys_rule(rule ? std::string_view(rule, length) : std::string_view());
    }
  }
  return g_users.emplace(std::string(name), std::move(found)).first->second;
}

// Whether the calling client is one whose key permissions Redis itself would check.
bool checked_client(rm::Ctx* ctx) {
  const int flags = rm::GetContextFlags(ctx);
  // Replicated from a master (no user: it may do anything) or loaded from an RDB/AOF.
  if (flags & (rm::kCtxFlagReplicated | rm::kCtxFlagLoading)) return false;
  // A script runs as the user that called it.
  if (flags & rm::kCtxFlagLua) return true;
  // A connected client; a call from another module (a client the server does not list) runs as root.
  const unsigned long long id = rm::GetClientId(ctx);
  return id != 0 && rm::GetClientInfoById(nullptr, id) == rm::kOk;
}

void on_command(rm::CommandFilterCtx* filter) {
  if (g_users.empty() && g_verdicts.empty()) return;
  if (rm::CommandFilterArgsCount(filter) < 1) return;
  const std::string_view name = view(rm::CommandFilterArgGet(filter, 0));
  // ACL SETUSER / DELUSER / LOAD … change rules now; EXEC may run a queued ACL command.
  if ((name.size() == 3 && strncasecmp(name.data(), "acl", 3) == 0) ||
      (name.size() == 4 && strncasecmp(name.data(), "exec", 4) == 0))
    forget_all();
}

// Owns a module string.
struct OwnedString {
  rm::Ctx* ctx;
  rm::String* s;
  ~OwnedString() {
    if (s) rm::FreeString(ctx, s);
  }
};

// Owns a module user handle.
struct OwnedUser {
  rm::User* u;
  ~OwnedUser() {
    if (u) rm::FreeModuleUser(u);
  }
};

}  // namespace

bool pattern_covers_prefix(std::string_view pattern, std::string_view prefix) {
  const auto tokens = tokenize(pattern);
  if (!tokens || tokens->empty() || tokens->back().kind != Token::Kind::kStar) return false;
  std::size_t n = tokens->size();
  while (n > 0 && (*tokens)[n - 1].kind == Token::Kind::kStar) --n;  // Q: the pattern less its trailing stars
  // Simulate Q over `prefix`; covered as soon as Q has matched a leading part of it.
  std::vector<char> at(n + 1, 0), next(n + 1, 0);
  auto close = [&](std::vector<char>& set) {  // a star may match nothing
    for (std::size_t i = 0; i < n; ++i)
      if (set[i] && (*tokens)[i].kind == Token::Kind::kStar) set[i + 1] = 1;
  };
  at[0] = 1;
  close(at);
  if (at[n]) return true;
  for (const char ch : prefix) {
    const auto c = static_cast<unsigned char>(ch);
    std::fill(next.begin(), next.end(), 0);
    bool any = false;
    for (std::size_t i = 0; i < n; ++i) {
      if (!at[i]) continue;
      const Token& t = (*tokens)[i];
      if (t.kind == Token::Kind::kStar) next[i] = 1;
      if (t.matches(c)) next[i + 1] = 1;
      any = true;
    }
    if (!any) return false;
    close(next);
    at.swap(next);
    if (at[n]) return true;
  }
  return false;
}

bool authorize_prefixes(rm::Ctx* ctx, const std::vector<std::string>& prefixes, std::string_view command,
                        std::string_view index) {
  if (!checked_client(ctx)) return true;
  OwnedString user_name{ctx, rm::GetCurrentUserName(ctx)};
  if (!user_name.s) return true;
  const std::vector<std::string> all_keys{std::string()};
  const std::vector<std::string>& wanted = prefixes.empty() ? all_keys : prefixes;
  const std::string name(view(user_name.s));
  for (const std::string& prefix : wanted) {
    auto verdict = g_verdicts.find({name, prefix});
    if (verdict == g_verdicts.end()) {
      const ReadPatterns& rules = read_patterns(ctx, user_name.s);
      bool allowed = false;
      if (rules.known)
        for (const std::string& pattern : rules.patterns) allowed = allowed || pattern_covers_prefix(pattern, prefix);
      if (allowed) {  // cross-check with the server's own matcher on the bare prefix
        OwnedUser user{rm::GetModuleUserFromUserName(user_name.s)};
        OwnedString key{ctx, rm::CreateString(ctx, prefix.data(), prefix.size())};
        allowed = user.u && rm::ACLCheckKeyPermissions(user.u, key.s, rm::kCmdKeyAccess) == rm::kOk;
      }
      verdict = g_verdicts.emplace(std::make_pair(name, prefix), allowed).first;
    }
    if (verdict->second) continue;
    const std::string object = prefix + "*";
    OwnedUser user{rm::GetModuleUserFromUserName(user_name.s)};
    if (user.u) {
      OwnedString logged{ctx, rm::CreateString(ctx, object.data(), object.size())};
      rm::ACLAddLogEntry(ctx, user.u, logged.s, rm::kAclLogKey);
    }
    reply_error_code(ctx, "NOPERM",
                     "this user has no permissions to read the keys " + vindex::printable_key(object) + " that " +
                         std::string(command) + " on index " + vindex::printable_key(index) +
                         " needs (every prefix of the index must be readable)");
    return false;
  }
  return true;
}

bool register_acl(rm::Ctx* ctx) { return rm::RegisterCommandFilter(ctx, on_command, rm::kCmdFilterNoSelf) != nullptr; }

}  // namespace vindex_redis
